//! aarch64 NEON path. NEON is part of the aarch64 baseline, but the table is
//! still handed out through a detection check, like the x86 ones, so the
//! safety argument is the same everywhere.

use crate::kernels::Kernels;

detected_table!(NEON, "neon", kernels);

/// The NEON table, if this CPU supports NEON (every aarch64 CPU Rust's
/// standard targets run on does).
pub(crate) fn neon() -> Option<&'static Kernels> {
    std::arch::is_aarch64_feature_detected!("neon").then_some(&NEON)
}

/// Each `unsafe fn` requires a CPU with NEON (the only safety condition;
/// slices are read through bounds-checked array chunks). `vld1q` loads have
/// no alignment requirement beyond the element type. Remainders shorter than
/// one vector go to the scalar kernels.
mod kernels {
    use std::arch::aarch64::*;

    use crate::{common_prefix, scalar, I8_BLOCK};

    #[inline]
    #[target_feature(enable = "neon")]
    fn load_f32(v: &[f32; 4]) -> float32x4_t {
        // SAFETY: `v` is exactly 4 readable floats.
        unsafe { vld1q_f32(v.as_ptr()) }
    }

    #[inline]
    #[target_feature(enable = "neon")]
    fn load_i8(v: &[i8; 16]) -> int8x16_t {
        // SAFETY: `v` is exactly 16 readable bytes.
        unsafe { vld1q_s8(v.as_ptr()) }
    }

    #[inline]
    #[target_feature(enable = "neon")]
    fn load_u8(v: &[u8; 16]) -> uint8x16_t {
        // SAFETY: `v` is exactly 16 readable bytes.
        unsafe { vld1q_u8(v.as_ptr()) }
    }

    /// Sum of four accumulators, then across lanes.
    #[inline]
    #[target_feature(enable = "neon")]
    fn hsum4(acc: [float32x4_t; 4]) -> f32 {
        vaddvq_f32(vaddq_f32(
            vaddq_f32(acc[0], acc[1]),
            vaddq_f32(acc[2], acc[3]),
        ))
    }

    #[target_feature(enable = "neon")]
    pub(super) unsafe fn l2_squared_f32(a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = common_prefix(a, b);
        let ((a4, a_tail), (b4, b_tail)) = (a.as_chunks::<4>(), b.as_chunks::<4>());
        let ((a16, a4), (b16, b4)) = (a4.as_chunks::<4>(), b4.as_chunks::<4>());
        let mut acc = [vdupq_n_f32(0.0); 4];
        for (x, y) in a16.iter().zip(b16) {
            for k in 0..4 {
                let d = vsubq_f32(load_f32(&x[k]), load_f32(&y[k]));
                acc[k] = vfmaq_f32(acc[k], d, d);
            }
        }
        for (x, y) in a4.iter().zip(b4) {
            let d = vsubq_f32(load_f32(x), load_f32(y));
            acc[0] = vfmaq_f32(acc[0], d, d);
        }
        hsum4(acc) + scalar::l2_squared_f32(a_tail, b_tail)
    }

    #[target_feature(enable = "neon")]
    pub(super) unsafe fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = common_prefix(a, b);
        let ((a4, a_tail), (b4, b_tail)) = (a.as_chunks::<4>(), b.as_chunks::<4>());
        let ((a16, a4), (b16, b4)) = (a4.as_chunks::<4>(), b4.as_chunks::<4>());
        let mut acc = [vdupq_n_f32(0.0); 4];
        for (x, y) in a16.iter().zip(b16) {
            for k in 0..4 {
                acc[k] = vaddq_f32(acc[k], vabdq_f32(load_f32(&x[k]), load_f32(&y[k])));
            }
        }
        for (x, y) in a4.iter().zip(b4) {
            acc[0] = vaddq_f32(acc[0], vabdq_f32(load_f32(x), load_f32(y)));
        }
        hsum4(acc) + scalar::l1_f32(a_tail, b_tail)
    }

    #[target_feature(enable = "neon")]
    pub(super) unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = common_prefix(a, b);
        let ((a4, a_tail), (b4, b_tail)) = (a.as_chunks::<4>(), b.as_chunks::<4>());
        let ((a16, a4), (b16, b4)) = (a4.as_chunks::<4>(), b4.as_chunks::<4>());
        let mut acc = [vdupq_n_f32(0.0); 4];
        for (x, y) in a16.iter().zip(b16) {
            for k in 0..4 {
                acc[k] = vfmaq_f32(acc[k], load_f32(&x[k]), load_f32(&y[k]));
            }
        }
        for (x, y) in a4.iter().zip(b4) {
            acc[0] = vfmaq_f32(acc[0], load_f32(x), load_f32(y));
        }
        hsum4(acc) + scalar::dot_f32(a_tail, b_tail)
    }

    #[target_feature(enable = "neon")]
    pub(super) unsafe fn dot_and_norms_f32(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
        let (a, b) = common_prefix(a, b);
        let ((a4, a_tail), (b4, b_tail)) = (a.as_chunks::<4>(), b.as_chunks::<4>());
        let mut ab = [vdupq_n_f32(0.0); 4];
        let mut aa = [vdupq_n_f32(0.0); 4];
        let mut bb = [vdupq_n_f32(0.0); 4];
        // One accumulator set per position modulo 4: twelve registers of
        // NEON's 32, enough to hide the FMA latency.
        for (i, (x, y)) in a4.iter().zip(b4).enumerate() {
            let (x, y, k) = (load_f32(x), load_f32(y), i % 4);
            ab[k] = vfmaq_f32(ab[k], x, y);
            aa[k] = vfmaq_f32(aa[k], x, x);
            bb[k] = vfmaq_f32(bb[k], y, y);
        }
        let (t_ab, t_aa, t_bb) = scalar::dot_and_norms_f32(a_tail, b_tail);
        (hsum4(ab) + t_ab, hsum4(aa) + t_aa, hsum4(bb) + t_bb)
    }

    /// Exact: widening subtract to int16 (|d| ≤ 255), widening multiply-add
    /// into int32 lanes, flushed to i64 every [`I8_BLOCK`] elements.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn l2_squared_i8(a: &[i8], b: &[i8]) -> i64 {
        let (a, b) = common_prefix(a, b);
        let ((a16, a_tail), (b16, b_tail)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
        let mut total = 0i64;
        for (xs, ys) in a16.chunks(I8_BLOCK / 16).zip(b16.chunks(I8_BLOCK / 16)) {
            let mut acc = vdupq_n_s32(0);
            for (x, y) in xs.iter().zip(ys) {
                let (x, y) = (load_i8(x), load_i8(y));
                let lo = vsubl_s8(vget_low_s8(x), vget_low_s8(y));
                let hi = vsubl_high_s8(x, y);
                acc = vmlal_s16(acc, vget_low_s16(lo), vget_low_s16(lo));
                acc = vmlal_high_s16(acc, lo, lo);
                acc = vmlal_s16(acc, vget_low_s16(hi), vget_low_s16(hi));
                acc = vmlal_high_s16(acc, hi, hi);
            }
            total += vaddlvq_s32(acc);
        }
        total + scalar::l2_squared_i8(a_tail, b_tail)
    }

    /// Exact: widening absolute difference to int16, pairwise add-accumulate
    /// into int32 lanes, flushed to i64 every [`I8_BLOCK`] elements.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn l1_i8(a: &[i8], b: &[i8]) -> i64 {
        let (a, b) = common_prefix(a, b);
        let ((a16, a_tail), (b16, b_tail)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
        let mut total = 0i64;
        for (xs, ys) in a16.chunks(I8_BLOCK / 16).zip(b16.chunks(I8_BLOCK / 16)) {
            let mut acc = vdupq_n_s32(0);
            for (x, y) in xs.iter().zip(ys) {
                let (x, y) = (load_i8(x), load_i8(y));
                acc = vpadalq_s16(acc, vabdl_s8(vget_low_s8(x), vget_low_s8(y)));
                acc = vpadalq_s16(acc, vabdl_high_s8(x, y));
            }
            total += vaddlvq_s32(acc);
        }
        total + scalar::l1_i8(a_tail, b_tail)
    }

    /// Exact: widening multiply to int16 (|x·y| ≤ 16 384 fits), pairwise
    /// add-accumulate into int32 lanes, flushed every [`I8_BLOCK`] elements.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn dot_i8(a: &[i8], b: &[i8]) -> i64 {
        let (a, b) = common_prefix(a, b);
        let ((a16, a_tail), (b16, b_tail)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
        let mut total = 0i64;
        for (xs, ys) in a16.chunks(I8_BLOCK / 16).zip(b16.chunks(I8_BLOCK / 16)) {
            let mut acc = vdupq_n_s32(0);
            for (x, y) in xs.iter().zip(ys) {
                let (x, y) = (load_i8(x), load_i8(y));
                acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
                acc = vpadalq_s16(acc, vmull_high_s8(x, y));
            }
            total += vaddlvq_s32(acc);
        }
        total + scalar::dot_i8(a_tail, b_tail)
    }

    /// `(a·b, a·a, b·b)`, exact, in one pass (same bounds as [`dot_i8`]).
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn dot_and_norms_i8(a: &[i8], b: &[i8]) -> (i64, i64, i64) {
        let (a, b) = common_prefix(a, b);
        let ((a16, a_tail), (b16, b_tail)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
        let (mut ab, mut aa, mut bb) = (0i64, 0i64, 0i64);
        for (xs, ys) in a16.chunks(I8_BLOCK / 16).zip(b16.chunks(I8_BLOCK / 16)) {
            let (mut acc_ab, mut acc_aa, mut acc_bb) =
                (vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0));
            for (x, y) in xs.iter().zip(ys) {
                let (x, y) = (load_i8(x), load_i8(y));
                let (xl, yl) = (vget_low_s8(x), vget_low_s8(y));
                acc_ab = vpadalq_s16(acc_ab, vmull_s8(xl, yl));
                acc_ab = vpadalq_s16(acc_ab, vmull_high_s8(x, y));
                acc_aa = vpadalq_s16(acc_aa, vmull_s8(xl, xl));
                acc_aa = vpadalq_s16(acc_aa, vmull_high_s8(x, x));
                acc_bb = vpadalq_s16(acc_bb, vmull_s8(yl, yl));
                acc_bb = vpadalq_s16(acc_bb, vmull_high_s8(y, y));
            }
            ab += vaddlvq_s32(acc_ab);
            aa += vaddlvq_s32(acc_aa);
            bb += vaddlvq_s32(acc_bb);
        }
        let (t_ab, t_aa, t_bb) = scalar::dot_and_norms_i8(a_tail, b_tail);
        (ab + t_ab, aa + t_aa, bb + t_bb)
    }

    /// Per-byte popcount (`vcnt`) of `a ^ b`, summed across the 16 lanes
    /// (at most 128, so the u8 lane sum cannot overflow).
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn hamming(a: &[u8], b: &[u8]) -> u64 {
        let (a, b) = common_prefix(a, b);
        let ((a16, a_tail), (b16, b_tail)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
        let mut total = 0u64;
        for (x, y) in a16.iter().zip(b16) {
            let counts = vcntq_u8(veorq_u8(load_u8(x), load_u8(y)));
            total += u64::from(vaddvq_u8(counts));
        }
        total + scalar::hamming(a_tail, b_tail)
    }

    /// One pair at a time with [`dot_f32`]; a register-blocked kernel like
    /// the x86 ones is left for when it can be measured on an aarch64 CPU.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn dot_block_f32(
        queries: &[f32],
        rows: &[f32],
        dims: usize,
        out: &mut [f32],
    ) {
        scalar::dot_block_pairwise(queries, rows, dims, out, |q, r| {
            // SAFETY: this function's caller guarantees NEON, as `dot_f32` needs.
            unsafe { dot_f32(q, r) }
        });
    }

    /// The panel kernel with fused multiply-adds (see `Kernels::dot_panel_f32`).
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn dot_panel_f32(
        points: &[f32],
        panel: &[f32],
        dims: usize,
        out: &mut [f32],
    ) {
        scalar::dot_panel_with::<2>(points, panel, dims, out, f32::mul_add);
    }
}
