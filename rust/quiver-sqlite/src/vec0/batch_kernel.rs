//! Dot products of many queries against a block of rows at once, for batched searches.
//!
//! quiver-kernels has one-pair kernels; a batch is better served by a register-blocked
//! kernel that loads each row chunk once for several queries (4 queries x 2 rows per
//! step on AVX2+FMA), which roughly halves the loads per multiply-add. Other CPUs use
//! the one-pair kernels.

use quiver_kernels::dispatch;

/// `out[q * nr + r] = queries[q] · rows[r]` (queries `nq x dims`, rows `nr x dims`).
pub fn dot_block(
    queries: &[f32],
    nq: usize,
    rows: &[f32],
    nr: usize,
    dims: usize,
    out: &mut [f32],
) {
    assert!(queries.len() >= nq * dims && rows.len() >= nr * dims && out.len() >= nq * nr);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above); the slices
            // are long enough (asserted above).
            unsafe { avx2::dot_block(queries, nq, rows, nr, dims, out) };
            return;
        }
    }
    dot_block_portable(queries, nq, rows, nr, dims, out);
}

fn dot_block_portable(
    queries: &[f32],
    nq: usize,
    rows: &[f32],
    nr: usize,
    dims: usize,
    out: &mut [f32],
) {
    let dot = dispatch::best().dot_f32;
    for q in 0..nq {
        let qv = &queries[q * dims..(q + 1) * dims];
        for r in 0..nr {
            out[q * nr + r] = dot(qv, &rows[r * dims..(r + 1) * dims]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA; slices as asserted by the caller.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_block(
        queries: &[f32],
        nq: usize,
        rows: &[f32],
        nr: usize,
        dims: usize,
        out: &mut [f32],
    ) {
        let body = dims - dims % 8;
        let qp = queries.as_ptr();
        let rp = rows.as_ptr();
        let scalar_tail = |q: usize, r: usize| -> f32 {
            let mut s = 0.0f32;
            for d in body..dims {
                s += queries[q * dims + d] * rows[r * dims + d];
            }
            s
        };
        let mut q = 0;
        while q < nq {
            let nqb = (nq - q).min(4);
            let mut r = 0;
            while r < nr {
                let nrb = (nr - r).min(2);
                let mut acc = [[_mm256_setzero_ps(); 2]; 4];
                let mut d = 0;
                while d < body {
                    // SAFETY: q + i < nq, r + j < nr and d + 8 <= dims, so every load
                    // stays inside the slices (lengths asserted by the caller).
                    unsafe {
                        let x0 = _mm256_loadu_ps(rp.add(r * dims + d));
                        let x1 = if nrb > 1 {
                            _mm256_loadu_ps(rp.add((r + 1) * dims + d))
                        } else {
                            _mm256_setzero_ps()
                        };
                        for (i, a) in acc.iter_mut().enumerate().take(nqb) {
                            let qv = _mm256_loadu_ps(qp.add((q + i) * dims + d));
                            a[0] = _mm256_fmadd_ps(qv, x0, a[0]);
                            a[1] = _mm256_fmadd_ps(qv, x1, a[1]);
                        }
                    }
                    d += 8;
                }
                for (i, a) in acc.iter().enumerate().take(nqb) {
                    for (j, v) in a.iter().enumerate().take(nrb) {
                        out[(q + i) * nr + r + j] = hsum(*v) + scalar_tail(q + i, r + j);
                    }
                }
                r += nrb;
            }
            q += nqb;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_pairwise_dots() {
        for (nq, nr, dims) in [(1, 1, 1), (5, 7, 13), (4, 2, 8), (9, 3, 768), (3, 5, 17)] {
            let q: Vec<f32> = (0..nq * dims)
                .map(|i| ((i * 7) % 11) as f32 - 5.0)
                .collect();
            let x: Vec<f32> = (0..nr * dims)
                .map(|i| ((i * 5) % 13) as f32 - 6.0)
                .collect();
            let mut out = vec![0.0; nq * nr];
            dot_block(&q, nq, &x, nr, dims, &mut out);
            let mut want = vec![0.0; nq * nr];
            dot_block_portable(&q, nq, &x, nr, dims, &mut want);
            assert_eq!(out, want, "{nq} {nr} {dims}");
        }
    }
}
