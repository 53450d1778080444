//! AVX-512 (F + BW) kernels.
//!
//! Each `unsafe fn` requires a CPU with AVX-512F, AVX-512BW, AVX2 and FMA
//! (the only safety condition; slices are read through bounds-checked array
//! chunks). Same structure as the AVX2 kernels at twice the width; loads are
//! unaligned and remainders shorter than one vector go to the scalar kernels.

use std::arch::x86_64::*;

use crate::{common_prefix, scalar, I8_BLOCK};

/// Rows per tile of the block kernel: 4 queries x 3 rows, as for AVX2 but
/// 16 lanes wide. Measured on an AVX-512 AMD EPYC (examples/kernel_bench.rs),
/// 4 x 3 beat 4 x 2, 4 x 4 and 8 x 2, and beat AVX2's 4 x 3 by 4-17% at 128,
/// 768 and 1536 dimensions (about even at 100).
const TILE_R: usize = 3;

block_kernel!(
    "avx512f,avx512bw,avx2,fma",
    16,
    _mm512_setzero_ps,
    _mm512_fmadd_ps
);

/// The lane sums of a block kernel tile's accumulators, four rows at a time.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn lane_sums<const NQ: usize, const NR: usize>(acc: &[[__m512; NR]; NQ]) -> [[f32; NR]; NQ] {
    const { assert!(NR <= 4, "hsum4 sums four rows at a time") };
    let mut sums = [[0.0; NR]; NQ];
    for (sums, acc) in sums.iter_mut().zip(acc) {
        let v = [pick(acc, 0), pick(acc, 1), pick(acc, 2), pick(acc, 3)];
        for (s, lane_sum) in sums.iter_mut().zip(hsum4(v)) {
            *s = lane_sum;
        }
    }
    sums
}

/// The lane sums of four vectors through one shared shuffle tree, cheaper
/// than four full reductions (which matters when vectors are short).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn hsum4(v: [__m512; 4]) -> [f32; 4] {
    let h01 = _mm256_hadd_ps(fold_halves(v[0]), fold_halves(v[1]));
    let h23 = _mm256_hadd_ps(fold_halves(v[2]), fold_halves(v[3]));
    let h = _mm256_hadd_ps(h01, h23);
    let s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
    let mut out = [0.0; 4];
    // SAFETY: `out` is 4 writable floats and `storeu` needs no alignment.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), s) };
    out
}

/// `v[j]`, or zeros past the end (no closure, no copy through memory).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn pick<const N: usize>(v: &[__m512; N], j: usize) -> __m512 {
    if j < N {
        v[j]
    } else {
        _mm512_setzero_ps()
    }
}

/// The sum of a vector's lower and upper 256-bit halves.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn fold_halves(v: __m512) -> __m256 {
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    _mm256_add_ps(_mm512_castps512_ps256(v), hi)
}

/// Loads sixteen floats, unaligned.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn load_ps(v: &[f32; 16]) -> __m512 {
    // SAFETY: `v` is exactly 16 readable floats and `loadu` needs no alignment.
    unsafe { _mm512_loadu_ps(v.as_ptr()) }
}

/// Loads 64 bytes, unaligned.
#[inline]
/// The up to 15 floats of a vector's tail in the low lanes, zeros above: a masked
/// load (the lanes past the slice are never read), so a dimension like 50 needs no
/// scalar loop after the SIMD one.
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn load_tail(v: &[f32]) -> __m512 {
    let n = v.len().min(16);
    let mask = ((1u32 << n) - 1) as __mmask16;
    // SAFETY: the mask enables only the first `n <= v.len()` lanes, and masked-off
    // lanes are not accessed (AVX-512 masked loads do not fault on them).
    unsafe { _mm512_maskz_loadu_ps(mask, v.as_ptr()) }
}

#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn load_si512<T: ByteSized>(v: &[T; 64]) -> __m512i {
    // SAFETY: `v` is exactly 64 readable bytes (`T` is one byte, see
    // `ByteSized`) and `loadu` needs no alignment.
    unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
}

/// Marker for the one-byte element types the byte loads accept.
trait ByteSized {}
impl ByteSized for i8 {}
impl ByteSized for u8 {}

/// Sign-extends 64 int8 values into two vectors of 32 int16 values.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn widen_i8(v: &[i8; 64]) -> (__m512i, __m512i) {
    let bytes = load_si512(v);
    let lo = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(bytes));
    let hi = _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64::<1>(bytes));
    (lo, hi)
}

/// Horizontal sum of sixteen i32 lanes, widened to i64 first so it is exact.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn hsum_epi32(v: __m512i) -> i64 {
    let lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v));
    let hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(v));
    _mm512_reduce_add_epi64(_mm512_add_epi64(lo, hi))
}

#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub(super) unsafe fn l2_squared_f32(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = common_prefix(a, b);
    let ((a16, a_tail), (b16, b_tail)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
    let ((a64, a16), (b64, b16)) = (a16.as_chunks::<4>(), b16.as_chunks::<4>());
    let mut acc = [_mm512_setzero_ps(); 4];
    for (x, y) in a64.iter().zip(b64) {
        for k in 0..4 {
            let d = _mm512_sub_ps(load_ps(&x[k]), load_ps(&y[k]));
            acc[k] = _mm512_fmadd_ps(d, d, acc[k]);
        }
    }
    for (x, y) in a16.iter().zip(b16) {
        let d = _mm512_sub_ps(load_ps(x), load_ps(y));
        acc[0] = _mm512_fmadd_ps(d, d, acc[0]);
    }
    let (x, y) = (load_tail(a_tail), load_tail(b_tail));
    let d = _mm512_sub_ps(x, y);
    acc[1] = _mm512_fmadd_ps(d, d, acc[1]);
    let acc = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(acc)
}

#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub(super) unsafe fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = common_prefix(a, b);
    let ((a16, a_tail), (b16, b_tail)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
    let ((a64, a16), (b64, b16)) = (a16.as_chunks::<4>(), b16.as_chunks::<4>());
    let mut acc = [_mm512_setzero_ps(); 4];
    for (x, y) in a64.iter().zip(b64) {
        for k in 0..4 {
            let d = _mm512_sub_ps(load_ps(&x[k]), load_ps(&y[k]));
            acc[k] = _mm512_add_ps(acc[k], _mm512_abs_ps(d));
        }
    }
    for (x, y) in a16.iter().zip(b16) {
        let d = _mm512_sub_ps(load_ps(x), load_ps(y));
        acc[0] = _mm512_add_ps(acc[0], _mm512_abs_ps(d));
    }
    let acc = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(acc) + scalar::l1_f32(a_tail, b_tail)
}

#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub(super) unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = common_prefix(a, b);
    let ((a16, a_tail), (b16, b_tail)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
    let ((a64, a16), (b64, b16)) = (a16.as_chunks::<4>(), b16.as_chunks::<4>());
    let mut acc = [_mm512_setzero_ps(); 4];
    for (x, y) in a64.iter().zip(b64) {
        for k in 0..4 {
            acc[k] = _mm512_fmadd_ps(load_ps(&x[k]), load_ps(&y[k]), acc[k]);
        }
    }
    for (x, y) in a16.iter().zip(b16) {
        acc[0] = _mm512_fmadd_ps(load_ps(x), load_ps(y), acc[0]);
    }
    acc[1] = _mm512_fmadd_ps(load_tail(a_tail), load_tail(b_tail), acc[1]);
    let acc = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(acc)
}

#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub(super) unsafe fn dot_and_norms_f32(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let (a, b) = common_prefix(a, b);
    let ((a16, a_tail), (b16, b_tail)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
    let ((a32, a16), (b32, b16)) = (a16.as_chunks::<2>(), b16.as_chunks::<2>());
    let mut ab = [_mm512_setzero_ps(); 2];
    let mut aa = [_mm512_setzero_ps(); 2];
    let mut bb = [_mm512_setzero_ps(); 2];
    for (x, y) in a32.iter().zip(b32) {
        for k in 0..2 {
            let (x, y) = (load_ps(&x[k]), load_ps(&y[k]));
            ab[k] = _mm512_fmadd_ps(x, y, ab[k]);
            aa[k] = _mm512_fmadd_ps(x, x, aa[k]);
            bb[k] = _mm512_fmadd_ps(y, y, bb[k]);
        }
    }
    for (x, y) in a16.iter().zip(b16) {
        let (x, y) = (load_ps(x), load_ps(y));
        ab[0] = _mm512_fmadd_ps(x, y, ab[0]);
        aa[0] = _mm512_fmadd_ps(x, x, aa[0]);
        bb[0] = _mm512_fmadd_ps(y, y, bb[0]);
    }
    let (t_ab, t_aa, t_bb) = scalar::dot_and_norms_f32(a_tail, b_tail);
    (
        _mm512_reduce_add_ps(_mm512_add_ps(ab[0], ab[1])) + t_ab,
        _mm512_reduce_add_ps(_mm512_add_ps(aa[0], aa[1])) + t_aa,
        _mm512_reduce_add_ps(_mm512_add_ps(bb[0], bb[1])) + t_bb,
    )
}

/// Exact; int16 differences squared and pair-summed into i32 lanes, widened
/// to i64 every [`I8_BLOCK`] elements (see its bound).
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub(super) unsafe fn l2_squared_i8(a: &[i8], b: &[i8]) -> i64 {
    let (a, b) = common_prefix(a, b);
    let ((a64, a_tail), (b64, b_tail)) = (a.as_chunks::<64>(), b.as_chunks::<64>());
    let mut total = 0i64;
    for (xs, ys) in a64.chunks(I8_BLOCK / 64).zip(b64.chunks(I8_BLOCK / 64)) {
        let mut acc = _mm512_setzero_si512();
        for (x, y) in xs.iter().zip(ys) {
            let ((xl, xh), (yl, yh)) = (widen_i8(x), widen_i8(y));
            let (dl, dh) = (_mm512_sub_epi16(xl, yl), _mm512_sub_epi16(xh, yh));
            acc = _mm512_add_epi32(acc, _mm512_madd_epi16(dl, dl));
            acc = _mm512_add_epi32(acc, _mm512_madd_epi16(dh, dh));
        }
        total += hsum_epi32(acc);
    }
    total + scalar::l2_squared_i8(a_tail, b_tail)
}

/// Exact; sign-flip to uint8 then `sad_epu8` into 64-bit lanes (see AVX2).
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub(super) unsafe fn l1_i8(a: &[i8], b: &[i8]) -> i64 {
    let (a, b) = common_prefix(a, b);
    let ((a64, a_tail), (b64, b_tail)) = (a.as_chunks::<64>(), b.as_chunks::<64>());
    let flip = _mm512_set1_epi8(i8::MIN);
    let mut acc = _mm512_setzero_si512();
    for (x, y) in a64.iter().zip(b64) {
        let x = _mm512_xor_si512(load_si512(x), flip);
        let y = _mm512_xor_si512(load_si512(y), flip);
        acc = _mm512_add_epi64(acc, _mm512_sad_epu8(x, y));
    }
    _mm512_reduce_add_epi64(acc) + scalar::l1_i8(a_tail, b_tail)
}

#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub(super) unsafe fn dot_i8(a: &[i8], b: &[i8]) -> i64 {
    let (a, b) = common_prefix(a, b);
    let ((a64, a_tail), (b64, b_tail)) = (a.as_chunks::<64>(), b.as_chunks::<64>());
    let mut total = 0i64;
    for (xs, ys) in a64.chunks(I8_BLOCK / 64).zip(b64.chunks(I8_BLOCK / 64)) {
        let mut acc = _mm512_setzero_si512();
        for (x, y) in xs.iter().zip(ys) {
            let ((xl, xh), (yl, yh)) = (widen_i8(x), widen_i8(y));
            acc = _mm512_add_epi32(acc, _mm512_madd_epi16(xl, yl));
            acc = _mm512_add_epi32(acc, _mm512_madd_epi16(xh, yh));
        }
        total += hsum_epi32(acc);
    }
    total + scalar::dot_i8(a_tail, b_tail)
}

#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub(super) unsafe fn dot_and_norms_i8(a: &[i8], b: &[i8]) -> (i64, i64, i64) {
    let (a, b) = common_prefix(a, b);
    let ((a64, a_tail), (b64, b_tail)) = (a.as_chunks::<64>(), b.as_chunks::<64>());
    let (mut ab, mut aa, mut bb) = (0i64, 0i64, 0i64);
    for (xs, ys) in a64.chunks(I8_BLOCK / 64).zip(b64.chunks(I8_BLOCK / 64)) {
        let mut acc_ab = _mm512_setzero_si512();
        let mut acc_aa = _mm512_setzero_si512();
        let mut acc_bb = _mm512_setzero_si512();
        for (x, y) in xs.iter().zip(ys) {
            let ((xl, xh), (yl, yh)) = (widen_i8(x), widen_i8(y));
            acc_ab = _mm512_add_epi32(acc_ab, _mm512_madd_epi16(xl, yl));
            acc_ab = _mm512_add_epi32(acc_ab, _mm512_madd_epi16(xh, yh));
            acc_aa = _mm512_add_epi32(acc_aa, _mm512_madd_epi16(xl, xl));
            acc_aa = _mm512_add_epi32(acc_aa, _mm512_madd_epi16(xh, xh));
            acc_bb = _mm512_add_epi32(acc_bb, _mm512_madd_epi16(yl, yl));
            acc_bb = _mm512_add_epi32(acc_bb, _mm512_madd_epi16(yh, yh));
        }
        ab += hsum_epi32(acc_ab);
        aa += hsum_epi32(acc_aa);
        bb += hsum_epi32(acc_bb);
    }
    let (t_ab, t_aa, t_bb) = scalar::dot_and_norms_i8(a_tail, b_tail);
    (ab + t_ab, aa + t_aa, bb + t_bb)
}

/// Nibble-table popcount (AVX-512BW `shuffle_epi8` works per 128-bit lane,
/// so the 16-entry table is broadcast to all four), summed by `sad_epu8`.
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub(super) unsafe fn hamming(a: &[u8], b: &[u8]) -> u64 {
    let (a, b) = common_prefix(a, b);
    let ((a64, a_tail), (b64, b_tail)) = (a.as_chunks::<64>(), b.as_chunks::<64>());
    let table = _mm512_broadcast_i32x4(_mm_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
    ));
    let low_nibble = _mm512_set1_epi8(0x0f);
    let mut acc = _mm512_setzero_si512();
    for (x, y) in a64.iter().zip(b64) {
        let v = _mm512_xor_si512(load_si512(x), load_si512(y));
        let lo = _mm512_and_si512(v, low_nibble);
        let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(v), low_nibble);
        let counts = _mm512_add_epi8(
            _mm512_shuffle_epi8(table, lo),
            _mm512_shuffle_epi8(table, hi),
        );
        acc = _mm512_add_epi64(acc, _mm512_sad_epu8(counts, _mm512_setzero_si512()));
    }
    // Each 64-bit lane holds a non-negative count, so the cast is lossless.
    _mm512_reduce_add_epi64(acc) as u64 + scalar::hamming(a_tail, b_tail)
}

/// The panel kernel with fused multiply-adds (see `Kernels::dot_panel_f32`).
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub(super) unsafe fn dot_panel_f32(points: &[f32], panel: &[f32], dims: usize, out: &mut [f32]) {
    scalar::dot_panel_with::<8>(points, panel, dims, out, f32::mul_add);
}
