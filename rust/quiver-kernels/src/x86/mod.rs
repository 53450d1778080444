//! x86_64 SIMD paths and the only place their tables are handed out.
//!
//! The kernels in the `avx2` and `avx512` modules are `unsafe fn`s compiled for CPU
//! features the baseline x86_64 target lacks. The tables below wrap each one in
//! a safe `fn`; the tables are private, and `avx2()` / `avx512()` return
//! them only after detecting those features, so no safe caller can reach a
//! kernel on a CPU that cannot run it.
//!
//! Both modules build their many-queries kernel from one template,
//! `block_kernel!`, around their own vector width and lane sums.

/// Defines `dot_block_f32`, the table's many-queries kernel, for a module
/// whose vectors hold `$lanes` floats (`$zero`, its `load_ps` and `$fmadd`)
/// and whose `lane_sums` adds up each accumulator's lanes, compiled for
/// `$features`. Queries go four at a time (a smaller tile for the last few),
/// rows the module's `TILE_R` at a time, the last tile padded by repeating the
/// last row (its extra results are dropped). Each dot product has its own
/// `$lanes`-wide FMA chain, then its lane sum plus the scalar tail, so it
/// comes out the same whatever the tiling.
macro_rules! block_kernel {
    ($features:literal, $lanes:literal, $zero:ident, $fmadd:ident) => {
        /// Queries per tile; the `match` below has a tile for each remainder.
        const TILE_Q: usize = 4;

        /// `out[q * nr + r] = queries[q] · rows[r]` (shape as
        /// [`block_shape`](crate::block_shape)), tile by tile.
        #[target_feature(enable = $features)]
        pub(super) unsafe fn dot_block_f32(
            queries: &[f32],
            rows: &[f32],
            dims: usize,
            out: &mut [f32],
        ) {
            let (nq, nr) = crate::block_shape(queries.len(), rows.len(), dims, out.len());
            if nq == 0 || nr == 0 {
                return;
            }
            let queries = queries[..nq * dims].chunks(TILE_Q * dims);
            for (qs, out) in queries.zip(out.chunks_mut(TILE_Q * nr)) {
                match qs.len() / dims {
                    1 => rows_pass::<1>(qs, rows, dims, nr, out),
                    2 => rows_pass::<2>(qs, rows, dims, nr, out),
                    3 => rows_pass::<3>(qs, rows, dims, nr, out),
                    _ => rows_pass::<TILE_Q>(qs, rows, dims, nr, out),
                }
            }
        }

        /// `NQ` queries (`NQ * dims` floats) against all `nr` rows, into
        /// `out[q * nr + r]`.
        #[inline]
        #[target_feature(enable = $features)]
        fn rows_pass<const NQ: usize>(
            queries: &[f32],
            rows: &[f32],
            dims: usize,
            nr: usize,
            out: &mut [f32],
        ) {
            // Plain loops, not closures: measured, closures here were left
            // out of line, which keeps the tile from staying in registers.
            let mut qs: [&[f32]; NQ] = [&[]; NQ];
            for (q, v) in qs.iter_mut().zip(queries.chunks_exact(dims)) {
                *q = v;
            }
            for r0 in (0..nr).step_by(TILE_R) {
                let mut rs: [&[f32]; TILE_R] = [&[]; TILE_R];
                for (j, r) in rs.iter_mut().enumerate() {
                    *r = &rows[(r0 + j).min(nr - 1) * dims..][..dims];
                }
                let sums = tile::<NQ, TILE_R>(qs, rs, dims);
                let width = TILE_R.min(nr - r0);
                for (i, sums) in sums.iter().enumerate() {
                    let out = &mut out[i * nr + r0..];
                    if width == TILE_R {
                        // A fixed-length copy: plain stores, no `memcpy` call.
                        out[..TILE_R].copy_from_slice(sums);
                    } else {
                        for (o, &s) in out.iter_mut().zip(&sums[..width]) {
                            *o = s;
                        }
                    }
                }
            }
        }

        /// `NQ x NR` dot products of `NQ` queries and `NR` rows, each slice
        /// holding at least `dims` floats.
        #[inline]
        #[target_feature(enable = $features)]
        fn tile<const NQ: usize, const NR: usize>(
            queries: [&[f32]; NQ],
            rows: [&[f32]; NR],
            dims: usize,
        ) -> [[f32; NR]; NQ] {
            let n = dims / $lanes;
            let qs = super::chunks::<NQ, $lanes>(queries, n);
            let rs = super::chunks::<NR, $lanes>(rows, n);
            let mut acc = [[$zero(); NR]; NQ];
            for k in 0..n {
                let mut x = [$zero(); NR];
                for (x, r) in x.iter_mut().zip(&rs) {
                    *x = load_ps(&r[k]);
                }
                for (acc, q) in acc.iter_mut().zip(&qs) {
                    let q = load_ps(&q[k]);
                    for (a, &x) in acc.iter_mut().zip(&x) {
                        *a = $fmadd(q, x, *a);
                    }
                }
            }
            let mut sums = lane_sums(&acc);
            let tail = n * $lanes..dims;
            for (sums, q) in sums.iter_mut().zip(queries) {
                for (s, r) in sums.iter_mut().zip(rows) {
                    *s += scalar::dot_tail(&q[tail.clone()], &r[tail.clone()]);
                }
            }
            sums
        }
    };
}

mod avx2;
mod avx512;

use crate::kernels::Kernels;

detected_table!(AVX2, "avx2+fma", avx2);
detected_table!(AVX512, "avx512", avx512);

/// The AVX2+FMA table, if this CPU supports both.
pub(crate) fn avx2() -> Option<&'static Kernels> {
    let ok = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    ok.then_some(&AVX2)
}

/// The AVX-512 table, if this CPU supports AVX-512F and AVX-512BW (the kernels
/// also use AVX2/FMA instructions, which every such CPU has; checked anyway).
pub(crate) fn avx512() -> Option<&'static Kernels> {
    let ok = is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma");
    ok.then_some(&AVX512)
}

/// The first `n` chunks of `W` floats of each vector, for a block kernel's
/// tile.
#[inline(always)]
fn chunks<const N: usize, const W: usize>(vectors: [&[f32]; N], n: usize) -> [&[[f32; W]]; N] {
    let mut out: [&[[f32; W]]; N] = [&[]; N];
    for (o, v) in out.iter_mut().zip(vectors) {
        *o = &v.as_chunks::<W>().0[..n];
    }
    out
}
