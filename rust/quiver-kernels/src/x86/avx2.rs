//! AVX2 + FMA kernels.
//!
//! Each `unsafe fn` requires a CPU with AVX2 and FMA (the only safety
//! condition; slices are read through bounds-checked array chunks). All loads
//! are unaligned: SQLite blob memory has no alignment guarantee beyond the
//! element type. Remainders shorter than one vector go to the scalar kernels.

use std::arch::x86_64::*;

use crate::{common_prefix, scalar, I8_BLOCK};

/// Rows per tile of the block kernel: 4 queries x 3 rows = 12 accumulators,
/// plus three row vectors and one query vector, fill AVX2's 16 registers
/// (no spills); each row chunk loaded serves four queries. Measured faster
/// than 4 x 2 here (examples/kernel_bench.rs).
const TILE_R: usize = 3;

block_kernel!("avx2,fma", 8, _mm256_setzero_ps, _mm256_fmadd_ps);

/// The lane sums of a block kernel tile's accumulators.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn lane_sums<const NQ: usize, const NR: usize>(acc: &[[__m256; NR]; NQ]) -> [[f32; NR]; NQ] {
    let mut sums = [[0.0; NR]; NQ];
    for (sums, acc) in sums.iter_mut().zip(acc) {
        for (s, &a) in sums.iter_mut().zip(acc) {
            *s = hsum_ps(a);
        }
    }
    sums
}

/// Loads eight floats, unaligned.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn load_ps(v: &[f32; 8]) -> __m256 {
    // SAFETY: `v` is exactly 8 readable floats and `loadu` needs no alignment.
    unsafe { _mm256_loadu_ps(v.as_ptr()) }
}

/// Loads 32 bytes, unaligned.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn load_si256<T>(v: &[T; 32]) -> __m256i
where
    T: Copy + ByteSized,
{
    // SAFETY: `v` is exactly 32 readable bytes (`T` is one byte, see
    // `ByteSized`) and `loadu` needs no alignment.
    unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
}

/// Marker for the one-byte element types the byte loads accept.
trait ByteSized {}
impl ByteSized for i8 {}
impl ByteSized for u8 {}

/// Sign-extends 32 int8 values into two vectors of 16 int16 values.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn widen_i8(v: &[i8; 32]) -> (__m256i, __m256i) {
    let bytes = load_si256(v);
    let lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(bytes));
    let hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(bytes));
    (lo, hi)
}

/// Horizontal sum of eight floats.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

/// Horizontal sum of eight i32 lanes, widened to i64 first so it is exact.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum_epi32(v: __m256i) -> i64 {
    let lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v));
    let hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(v));
    hsum_epi64(_mm256_add_epi64(lo, hi))
}

/// Horizontal sum of four i64 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum_epi64(v: __m256i) -> i64 {
    _mm256_extract_epi64::<0>(v)
        + _mm256_extract_epi64::<1>(v)
        + _mm256_extract_epi64::<2>(v)
        + _mm256_extract_epi64::<3>(v)
}

/// Sum of squared differences: four FMA accumulators of 8 lanes each hide
/// the FMA latency; then single vectors; then the scalar tail.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn l2_squared_f32(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = common_prefix(a, b);
    let ((a8, a_tail), (b8, b_tail)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    let ((a32, a8), (b32, b8)) = (a8.as_chunks::<4>(), b8.as_chunks::<4>());
    let mut acc = [_mm256_setzero_ps(); 4];
    for (x, y) in a32.iter().zip(b32) {
        for k in 0..4 {
            let d = _mm256_sub_ps(load_ps(&x[k]), load_ps(&y[k]));
            acc[k] = _mm256_fmadd_ps(d, d, acc[k]);
        }
    }
    for (x, y) in a8.iter().zip(b8) {
        let d = _mm256_sub_ps(load_ps(x), load_ps(y));
        acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
    }
    let acc = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum_ps(acc) + scalar::l2_squared_f32(a_tail, b_tail)
}

/// Sum of absolute differences; `andnot(-0.0, d)` clears the sign bit.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = common_prefix(a, b);
    let ((a8, a_tail), (b8, b_tail)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    let ((a32, a8), (b32, b8)) = (a8.as_chunks::<4>(), b8.as_chunks::<4>());
    let sign = _mm256_set1_ps(-0.0);
    let mut acc = [_mm256_setzero_ps(); 4];
    for (x, y) in a32.iter().zip(b32) {
        for k in 0..4 {
            let d = _mm256_sub_ps(load_ps(&x[k]), load_ps(&y[k]));
            acc[k] = _mm256_add_ps(acc[k], _mm256_andnot_ps(sign, d));
        }
    }
    for (x, y) in a8.iter().zip(b8) {
        let d = _mm256_sub_ps(load_ps(x), load_ps(y));
        acc[0] = _mm256_add_ps(acc[0], _mm256_andnot_ps(sign, d));
    }
    let acc = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum_ps(acc) + scalar::l1_f32(a_tail, b_tail)
}

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = common_prefix(a, b);
    let ((a8, a_tail), (b8, b_tail)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    let ((a32, a8), (b32, b8)) = (a8.as_chunks::<4>(), b8.as_chunks::<4>());
    let mut acc = [_mm256_setzero_ps(); 4];
    for (x, y) in a32.iter().zip(b32) {
        for k in 0..4 {
            acc[k] = _mm256_fmadd_ps(load_ps(&x[k]), load_ps(&y[k]), acc[k]);
        }
    }
    for (x, y) in a8.iter().zip(b8) {
        acc[0] = _mm256_fmadd_ps(load_ps(x), load_ps(y), acc[0]);
    }
    let acc = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum_ps(acc) + scalar::dot_f32(a_tail, b_tail)
}

/// `(a·b, a·a, b·b)`: two accumulators per sum (six registers) is enough to
/// keep the FMA units busy without spilling the 16 ymm registers.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_and_norms_f32(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let (a, b) = common_prefix(a, b);
    let ((a8, a_tail), (b8, b_tail)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    let ((a16, a8), (b16, b8)) = (a8.as_chunks::<2>(), b8.as_chunks::<2>());
    let mut ab = [_mm256_setzero_ps(); 2];
    let mut aa = [_mm256_setzero_ps(); 2];
    let mut bb = [_mm256_setzero_ps(); 2];
    for (x, y) in a16.iter().zip(b16) {
        for k in 0..2 {
            let (x, y) = (load_ps(&x[k]), load_ps(&y[k]));
            ab[k] = _mm256_fmadd_ps(x, y, ab[k]);
            aa[k] = _mm256_fmadd_ps(x, x, aa[k]);
            bb[k] = _mm256_fmadd_ps(y, y, bb[k]);
        }
    }
    for (x, y) in a8.iter().zip(b8) {
        let (x, y) = (load_ps(x), load_ps(y));
        ab[0] = _mm256_fmadd_ps(x, y, ab[0]);
        aa[0] = _mm256_fmadd_ps(x, x, aa[0]);
        bb[0] = _mm256_fmadd_ps(y, y, bb[0]);
    }
    let (t_ab, t_aa, t_bb) = scalar::dot_and_norms_f32(a_tail, b_tail);
    (
        hsum_ps(_mm256_add_ps(ab[0], ab[1])) + t_ab,
        hsum_ps(_mm256_add_ps(aa[0], aa[1])) + t_aa,
        hsum_ps(_mm256_add_ps(bb[0], bb[1])) + t_bb,
    )
}

/// Sum of squared differences, exact. The int16 difference (at most 255 in
/// magnitude) is squared and pair-summed into i32 lanes by `madd`; each
/// [`I8_BLOCK`] of elements is then widened into the i64 total, long before an
/// i32 lane could overflow.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn l2_squared_i8(a: &[i8], b: &[i8]) -> i64 {
    let (a, b) = common_prefix(a, b);
    let ((a32, a_tail), (b32, b_tail)) = (a.as_chunks::<32>(), b.as_chunks::<32>());
    let mut total = 0i64;
    for (xs, ys) in a32.chunks(I8_BLOCK / 32).zip(b32.chunks(I8_BLOCK / 32)) {
        let mut acc = _mm256_setzero_si256();
        for (x, y) in xs.iter().zip(ys) {
            let ((xl, xh), (yl, yh)) = (widen_i8(x), widen_i8(y));
            let (dl, dh) = (_mm256_sub_epi16(xl, yl), _mm256_sub_epi16(xh, yh));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(dl, dl));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(dh, dh));
        }
        total += hsum_epi32(acc);
    }
    total + scalar::l2_squared_i8(a_tail, b_tail)
}

/// Sum of absolute differences, exact. Flipping the sign bit maps int8 onto
/// uint8 preserving differences (x ^ 0x80 == x + 128), so `sad_epu8` sums
/// eight |a - b| straight into 64-bit lanes, which cannot overflow.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn l1_i8(a: &[i8], b: &[i8]) -> i64 {
    let (a, b) = common_prefix(a, b);
    let ((a32, a_tail), (b32, b_tail)) = (a.as_chunks::<32>(), b.as_chunks::<32>());
    let flip = _mm256_set1_epi8(i8::MIN);
    let mut acc = _mm256_setzero_si256();
    for (x, y) in a32.iter().zip(b32) {
        let x = _mm256_xor_si256(load_si256(x), flip);
        let y = _mm256_xor_si256(load_si256(y), flip);
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(x, y));
    }
    hsum_epi64(acc) + scalar::l1_i8(a_tail, b_tail)
}

/// Dot product, exact: products are at most 128² = 16 384, pair sums 32 768;
/// flushed to i64 per [`I8_BLOCK`] like [`l2_squared_i8`].
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_i8(a: &[i8], b: &[i8]) -> i64 {
    let (a, b) = common_prefix(a, b);
    let ((a32, a_tail), (b32, b_tail)) = (a.as_chunks::<32>(), b.as_chunks::<32>());
    let mut total = 0i64;
    for (xs, ys) in a32.chunks(I8_BLOCK / 32).zip(b32.chunks(I8_BLOCK / 32)) {
        let mut acc = _mm256_setzero_si256();
        for (x, y) in xs.iter().zip(ys) {
            let ((xl, xh), (yl, yh)) = (widen_i8(x), widen_i8(y));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xl, yl));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xh, yh));
        }
        total += hsum_epi32(acc);
    }
    total + scalar::dot_i8(a_tail, b_tail)
}

/// `(a·b, a·a, b·b)`, exact, in one pass (same bounds as [`dot_i8`]).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_and_norms_i8(a: &[i8], b: &[i8]) -> (i64, i64, i64) {
    let (a, b) = common_prefix(a, b);
    let ((a32, a_tail), (b32, b_tail)) = (a.as_chunks::<32>(), b.as_chunks::<32>());
    let (mut ab, mut aa, mut bb) = (0i64, 0i64, 0i64);
    for (xs, ys) in a32.chunks(I8_BLOCK / 32).zip(b32.chunks(I8_BLOCK / 32)) {
        let mut acc_ab = _mm256_setzero_si256();
        let mut acc_aa = _mm256_setzero_si256();
        let mut acc_bb = _mm256_setzero_si256();
        for (x, y) in xs.iter().zip(ys) {
            let ((xl, xh), (yl, yh)) = (widen_i8(x), widen_i8(y));
            acc_ab = _mm256_add_epi32(acc_ab, _mm256_madd_epi16(xl, yl));
            acc_ab = _mm256_add_epi32(acc_ab, _mm256_madd_epi16(xh, yh));
            acc_aa = _mm256_add_epi32(acc_aa, _mm256_madd_epi16(xl, xl));
            acc_aa = _mm256_add_epi32(acc_aa, _mm256_madd_epi16(xh, xh));
            acc_bb = _mm256_add_epi32(acc_bb, _mm256_madd_epi16(yl, yl));
            acc_bb = _mm256_add_epi32(acc_bb, _mm256_madd_epi16(yh, yh));
        }
        ab += hsum_epi32(acc_ab);
        aa += hsum_epi32(acc_aa);
        bb += hsum_epi32(acc_bb);
    }
    let (t_ab, t_aa, t_bb) = scalar::dot_and_norms_i8(a_tail, b_tail);
    (ab + t_ab, aa + t_aa, bb + t_bb)
}

/// Popcount of `a ^ b` by nibble table lookup (`shuffle_epi8` over a 16-entry
/// table in each 128-bit lane), then `sad_epu8` against zero to sum the byte
/// counts into 64-bit lanes.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn hamming(a: &[u8], b: &[u8]) -> u64 {
    let (a, b) = common_prefix(a, b);
    let ((a32, a_tail), (b32, b_tail)) = (a.as_chunks::<32>(), b.as_chunks::<32>());
    #[rustfmt::skip]
    let table = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
    );
    let low_nibble = _mm256_set1_epi8(0x0f);
    let mut acc = _mm256_setzero_si256();
    for (x, y) in a32.iter().zip(b32) {
        let v = _mm256_xor_si256(load_si256(x), load_si256(y));
        let lo = _mm256_and_si256(v, low_nibble);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low_nibble);
        let counts = _mm256_add_epi8(
            _mm256_shuffle_epi8(table, lo),
            _mm256_shuffle_epi8(table, hi),
        );
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(counts, _mm256_setzero_si256()));
    }
    // Each 64-bit lane holds a non-negative count, so the cast is lossless.
    hsum_epi64(acc) as u64 + scalar::hamming(a_tail, b_tail)
}

/// The panel kernel with fused multiply-adds (see `Kernels::dot_panel_f32`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_panel_f32(points: &[f32], panel: &[f32], dims: usize, out: &mut [f32]) {
    scalar::dot_panel_with::<4>(points, panel, dims, out, f32::mul_add);
}
