//! Growing large `Vec` buffers (query results of millions of rows) with fewer page
//! faults: capacity doubles, and on Linux a buffer of several MiB asks the kernel for
//! transparent huge pages (`madvise(MADV_HUGEPAGE)`; a hint, ignored where THP is off).
//! Only the process's own memory is touched, never a connection setting.

/// Below this a buffer stays on ordinary pages.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const HUGE_FROM: usize = 8 << 20;

/// Grows `v` so that at least `extra` more items fit: at least doubling.
#[cold]
#[inline(never)]
pub(crate) fn grow<T>(v: &mut Vec<T>, extra: usize) {
    let item = std::mem::size_of::<T>().max(1);
    let want = (v.len() + extra)
        .max(v.capacity().saturating_mul(2))
        .max(16_384 / item);
    v.reserve_exact(want - v.len());
    advise_huge(v.as_ptr() as usize, v.capacity() * item);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn advise_huge(addr: usize, len: usize) {
    if len < HUGE_FROM {
        return;
    }
    // glibc serves such sizes from a mapping of their own: a 16-byte chunk header at its
    // page-aligned start, then the usable bytes to its end. Advise exactly that mapping,
    // so it stays one area (a partial advice would split it, and realloc's mremap would
    // then fall back to copying). Anything else (another allocator's layout) is skipped.
    // SAFETY: addr is the live allocation of a Vec with alignment <= 16, i.e. a pointer
    // from malloc / realloc (Rust's System allocator).
    let usable = unsafe { libc::malloc_usable_size(addr as *mut libc::c_void) };
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let (Some(start), Some(end)) = (addr.checked_sub(16), addr.checked_add(usable)) else {
        return;
    };
    if usable < len || start % page != 0 || end % page != 0 {
        return;
    }
    // SAFETY: [start, end) is the allocation's own mapping (see above). MADV_HUGEPAGE
    // only changes how future faults are served, never the contents; an error is
    // ignored (it is a hint).
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn advise_huge(_addr: usize, _len: usize) {}
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
