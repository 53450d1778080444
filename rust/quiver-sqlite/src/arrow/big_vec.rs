//! Growing the `Vec` buffers of large query results: capacity at least doubles (from
//! 16 KiB), so millions of rows cost a handful of reallocations.
//!
//! (Asking for transparent huge pages with `madvise(MADV_HUGEPAGE)` on these buffers
//! was tried: a few percent faster on an isolated 5M-row query, but no measurable gain
//! inside `benches/bench_arrow.py`, so it was left out as not worth the unsafe code.)

/// Grows `v` so that at least `extra` more items fit: at least doubling.
#[cold]
#[inline(never)]
pub(crate) fn grow<T>(v: &mut Vec<T>, extra: usize) {
    let item = std::mem::size_of::<T>().max(1);
    let want = (v.len() + extra)
        .max(v.capacity().saturating_mul(2))
        .max(16_384 / item);
    v.reserve_exact(want - v.len());
}

#[cfg(test)]
mod tests {
    #[test]
    fn grows_and_keeps_values() {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..3_000_000u64 {
            if v.len() == v.capacity() {
                super::grow(&mut v, 1);
            }
            v.push(i);
        }
        assert!(v.iter().enumerate().all(|(i, x)| *x == i as u64));
        let mut b: Vec<u8> = vec![1, 2, 3];
        super::grow(&mut b, 50_000_000);
        assert!(b.capacity() >= 50_000_003);
        assert_eq!(b, [1, 2, 3]);
    }
}
