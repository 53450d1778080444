//! Quantizers for `indexed by rescore(...)`: float32 vectors to compact codes that a
//! scan compares cheaply (popcount, int8 dot products) before an exact rescoring.
//!
//! * bit: one sign bit per dimension, LSB-first, as `vec_quantize_binary` (a dimension
//!   is 1 when its value is > 0); codes are compared by Hamming distance.
//! * int8: symmetric per-vector scale, `code[i] = round(x[i] / scale)` with
//!   `scale = max|x| / 127`. The scale is stored beside the code, so a write needs no
//!   global state (no training, no range that later rows could overflow) and every
//!   vector uses the full int8 range whatever its norm. `x·y ≈ sx·sy·(cx·cy)`.
//!
//! Both are pure functions of one vector; the distance kernels on codes are the
//! table's `hamming` and `dot_i8` (see [`crate::dispatch`]).

/// Bytes of one bit code of `dims` dimensions (rounded up to whole bytes).
pub fn bit_code_bytes(dims: usize) -> usize {
    dims.div_ceil(8)
}

/// Writes the sign-bit code of `x` into `out` (`bit_code_bytes(x.len())` bytes; extra
/// bytes of `out` are cleared, missing ones truncate the code).
pub fn quantize_bit(x: &[f32], out: &mut [u8]) {
    out.fill(0);
    for (byte, xs) in out.iter_mut().zip(x.chunks(8)) {
        let mut b = 0u8;
        for (i, &v) in xs.iter().enumerate() {
            if v > 0.0 {
                b |= 1 << i;
            }
        }
        *byte = b;
    }
}

/// Writes the int8 code of `x` into `out` and returns its scale (0 for an all-zero or
/// non-finite vector, whose code is all zeros).
pub fn quantize_int8(x: &[f32], out: &mut [i8]) -> f32 {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 || !max.is_finite() {
        out.fill(0);
        return 0.0;
    }
    let scale = max / 127.0;
    let inv = 1.0 / scale;
    for (o, &v) in out.iter_mut().zip(x) {
        // |v * inv| <= 127 up to rounding; the clamp keeps it exact at the edge.
        *o = (v * inv).round().clamp(-127.0, 127.0) as i8;
    }
    scale
}

/// The value the int8 code `c` with `scale` stands for, element by element
/// (for reference computations and L1 estimates).
pub fn dequantize_int8(c: &[i8], scale: f32, out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(c) {
        *o = f32::from(v) * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_codes_are_sign_bits_lsb_first() {
        let x = [1.0, -1.0, 0.0, 2.0, -0.5, 0.1, 0.0, -3.0, 5.0];
        let mut out = [0xffu8; 2];
        quantize_bit(&x, &mut out);
        assert_eq!(out, [0b0010_1001, 0b0000_0001]);
        assert_eq!(bit_code_bytes(9), 2);
        assert_eq!(bit_code_bytes(768), 96);
    }

    #[test]
    fn int8_codes_round_trip_within_half_a_step() {
        let x: Vec<f32> = (0..100)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let mut c = vec![0i8; 100];
        let s = quantize_int8(&x, &mut c);
        assert!((s - 50.0 / 7.0 / 127.0).abs() < 1e-6, "{s}");
        assert!(c.iter().any(|&v| v.abs() == 127));
        let mut back = vec![0f32; 100];
        dequantize_int8(&c, s, &mut back);
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() <= s * 0.5 + 1e-6, "{a} {b}");
        }
    }

    #[test]
    fn int8_of_zero_or_nan_is_zero() {
        let mut c = [5i8; 3];
        assert_eq!(quantize_int8(&[0.0; 3], &mut c), 0.0);
        assert_eq!(c, [0; 3]);
        let mut c = [5i8; 2];
        assert_eq!(quantize_int8(&[f32::NAN, f32::INFINITY], &mut c), 0.0);
        assert_eq!(c, [0; 2]);
    }
}

/// An exact int8 dot product kernel.
pub type DotI8 = fn(&[i8], &[i8]) -> i64;

/// `a · b` of two int8 codes, exact: AVX-512 VNNI (`vpdpbusd`) where the CPU has it,
/// otherwise the dispatched `dot_i8` kernel. Chosen once per process.
pub fn dot_i8_codes() -> DotI8 {
    use std::sync::OnceLock;
    static CHOSEN: OnceLock<DotI8> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if let Some(f) = vnni::detected() {
            return f;
        }
        crate::dispatch::best().dot_i8
    })
}

/// The int8 dot product kernels of this module that this CPU can run, with names:
/// the reference (scalar) first.
pub fn dot_i8_code_kernels() -> Vec<(&'static str, DotI8)> {
    let mut v: Vec<(&'static str, DotI8)> = vec![("scalar", crate::dispatch::scalar().dot_i8)];
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = vnni::detected() {
        v.push(("avx512vnni", f));
    }
    v
}

/// `out[r] = q · rows[r]` for int8 codes stored back to back (`q.len()` bytes each,
/// at most [`crate::MAX_DIMENSIONS`]), exact; `out` is cut to the rows present.
pub type DotI8Rows = fn(q: &[i8], rows: &[i8], out: &mut [i32]);

/// The [`DotI8Rows`] kernel for this CPU: AVX-512 VNNI where available (one masked
/// load and `vpdpbusd` per 64 bytes of a row, no call per row), else a loop over
/// the dispatched `dot_i8`. Chosen once per process.
pub fn dot_i8_rows() -> DotI8Rows {
    use std::sync::OnceLock;
    static CHOSEN: OnceLock<DotI8Rows> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if let Some(f) = vnni::detected_rows() {
            return f;
        }
        dot_i8_rows_pairwise
    })
}

/// The [`DotI8Rows`] kernels this CPU can run, with names: the reference first.
pub fn dot_i8_rows_kernels() -> Vec<(&'static str, DotI8Rows)> {
    let mut v: Vec<(&'static str, DotI8Rows)> = vec![("pairwise", dot_i8_rows_pairwise)];
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = vnni::detected_rows() {
        v.push(("avx512vnni", f));
    }
    v
}

/// [`DotI8Rows`] one pair at a time with the dispatched `dot_i8`.
fn dot_i8_rows_pairwise(q: &[i8], rows: &[i8], out: &mut [i32]) {
    if q.is_empty() {
        out.fill(0);
        return;
    }
    let dot = crate::dispatch::best().dot_i8;
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(q.len())) {
        // |q·x| <= 16384 * MAX_DIMENSIONS = 2^30 fits an i32.
        *o = dot(q, row) as i32;
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    /// The VNNI kernel, if this CPU runs it.
    pub(super) fn detected() -> Option<super::DotI8> {
        (is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni"))
        .then_some(dot as super::DotI8)
    }

    fn dot(a: &[i8], b: &[i8]) -> i64 {
        // SAFETY: `dot` is handed out by `detected` only after the features were seen.
        unsafe { dot_vnni(a, b) }
    }

    /// The row kernel, if this CPU runs it.
    pub(super) fn detected_rows() -> Option<super::DotI8Rows> {
        detected().map(|_| rows as super::DotI8Rows)
    }

    fn rows(q: &[i8], rows: &[i8], out: &mut [i32]) {
        if q.len() > crate::MAX_DIMENSIONS {
            return super::dot_i8_rows_pairwise(q, rows, out);
        }
        // SAFETY: handed out by `detected_rows` only after the features were seen.
        unsafe { rows_vnni(q, rows, out) }
    }

    /// As `dot_vnni`, but with the query as the unsigned side, `q·x = (q+128)·x -
    /// 128·Σx` (`Σx` from a second `vpdpbusd` against ones), both folded lane-wise
    /// before one horizontal sum per row. Each row's bytes are read by 64-byte
    /// loads, the last one masked; a lane gains at most 4·255·128 per load, so
    /// MAX_DIMENSIONS bytes (1,024 loads) stay far below i32 overflow.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn rows_vnni(q: &[i8], rows: &[i8], out: &mut [i32]) {
        let d = q.len();
        if d == 0 {
            out.fill(0);
            return;
        }
        let flip = _mm512_set1_epi8(i8::MIN);
        let ones = _mm512_set1_epi8(1);
        let chunks = d.div_ceil(64);
        let last_mask: __mmask64 = if d.is_multiple_of(64) {
            u64::MAX
        } else {
            (1u64 << (d % 64)) - 1
        };
        let mask = |c: usize| if c + 1 == chunks { last_mask } else { u64::MAX };
        // Four rows at a time: the query chunk is loaded once for the four, and their
        // four horizontal sums share one reduction (the per-row reduction was most of
        // the kernel's time on short codes).
        let n = out.len().min(rows.len() / d);
        let grouped = n / 4 * 4;
        for (o, group) in out[..grouped]
            .chunks_exact_mut(4)
            .zip(rows[..grouped * d].chunks_exact(4 * d))
        {
            let mut acc = [_mm512_setzero_si512(); 4];
            let mut sum = [_mm512_setzero_si512(); 4];
            for c in 0..chunks {
                let m = mask(c);
                // SAFETY: as below, for the query and each of the four rows.
                let qc = unsafe { _mm512_maskz_loadu_epi8(m, q.as_ptr().add(64 * c)) };
                let qf = _mm512_xor_si512(qc, flip);
                for r in 0..4 {
                    // SAFETY: row r of the group is `d` bytes from `r * d`.
                    let x =
                        unsafe { _mm512_maskz_loadu_epi8(m, group.as_ptr().add(r * d + 64 * c)) };
                    acc[r] = _mm512_dpbusd_epi32(acc[r], qf, x);
                    sum[r] = _mm512_dpbusd_epi32(sum[r], ones, x);
                }
            }
            let v: [__m512i; 4] =
                std::array::from_fn(|r| _mm512_sub_epi32(acc[r], _mm512_slli_epi32::<7>(sum[r])));
            let sums = reduce4(v);
            // SAFETY: `o` holds four i32s; unaligned store.
            unsafe { _mm_storeu_si128(o.as_mut_ptr().cast(), sums) };
        }
        for (o, row) in out[grouped..n]
            .iter_mut()
            .zip(rows[grouped * d..].chunks_exact(d))
        {
            let mut acc = _mm512_setzero_si512();
            let mut sum = _mm512_setzero_si512();
            for c in 0..chunks {
                let m = mask(c);
                // SAFETY: the mask covers bytes `64c..min(64c + 64, d)` of `q` and of
                // `row`, both `d` long; masked-out lanes are not read.
                let (qc, x) = unsafe {
                    (
                        _mm512_maskz_loadu_epi8(m, q.as_ptr().add(64 * c)),
                        _mm512_maskz_loadu_epi8(m, row.as_ptr().add(64 * c)),
                    )
                };
                // Masked-out bytes are 0 in `x`: they add nothing to either sum.
                acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(qc, flip), x);
                sum = _mm512_dpbusd_epi32(sum, ones, x);
            }
            *o = _mm512_reduce_add_epi32(_mm512_sub_epi32(acc, _mm512_slli_epi32::<7>(sum)));
        }
    }

    /// The lane sums of four vectors, as the four i32s of one 128-bit vector:
    /// pairs interleaved and added within each 128-bit lane, then the four lanes added.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn reduce4([a, b, c, d]: [__m512i; 4]) -> __m128i {
        // Per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3], likewise for c, d.
        let ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
        let cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
        // Per 128-bit lane: [a, b, c, d] partial sums.
        let abcd = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
        // Add the four 128-bit lanes: swap 256-bit halves, then 128-bit pairs.
        let x = _mm512_add_epi32(abcd, _mm512_shuffle_i64x2::<0b01_00_11_10>(abcd, abcd));
        let y = _mm512_add_epi32(x, _mm512_shuffle_i64x2::<0b10_11_00_01>(x, x));
        _mm512_castsi512_si128(y)
    }

    /// `vpdpbusd` multiplies unsigned by signed bytes: with `a + 128` (the sign bit
    /// flipped) as the unsigned side, `a·b = (a+128)·b - 128·Σb`, and `Σb` comes from a
    /// second `vpdpbusd` against ones. Per 64 bytes each i32 lane gains at most
    /// 4·255·128 < 2^18 (and 4·128 for the sum), so the lanes cannot overflow below
    /// 2^13 blocks (512 KiB of codes); longer inputs are summed in such blocks.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn dot_vnni(a: &[i8], b: &[i8]) -> i64 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let ((a64, a_tail), (b64, b_tail)) = (a.as_chunks::<64>(), b.as_chunks::<64>());
        let flip = _mm512_set1_epi8(i8::MIN);
        let ones = _mm512_set1_epi8(1);
        let mut total = 0i64;
        for (xs, ys) in a64.chunks(1 << 12).zip(b64.chunks(1 << 12)) {
            let mut acc = _mm512_setzero_si512();
            let mut sum = _mm512_setzero_si512();
            for (x, y) in xs.iter().zip(ys) {
                // SAFETY: 64 readable bytes each; unaligned loads.
                let (x, y) = unsafe {
                    (
                        _mm512_loadu_si512(x.as_ptr().cast()),
                        _mm512_loadu_si512(y.as_ptr().cast()),
                    )
                };
                acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(x, flip), y);
                sum = _mm512_dpbusd_epi32(sum, ones, y);
            }
            total += i64::from(_mm512_reduce_add_epi32(acc))
                - 128 * i64::from(_mm512_reduce_add_epi32(sum));
        }
        if a_tail.is_empty() {
            return total;
        }
        // The last `n % 64` bytes by one masked load each (short codes, like 50-d
        // ones, are all tail): masked-out bytes are 0 on both sides and add nothing.
        let mask: __mmask64 = (1u64 << a_tail.len()) - 1;
        // SAFETY: the mask covers `a_tail.len()` bytes, all readable in both tails
        // (same length); masked-out lanes are not read.
        let (x, y) = unsafe {
            (
                _mm512_maskz_loadu_epi8(mask, a_tail.as_ptr()),
                _mm512_maskz_loadu_epi8(mask, b_tail.as_ptr()),
            )
        };
        let acc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(x, flip), y);
        let sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, y);
        total + i64::from(_mm512_reduce_add_epi32(acc))
            - 128 * i64::from(_mm512_reduce_add_epi32(sum))
    }
}

#[cfg(test)]
mod kernel_tests {
    use super::*;

    /// Pseudo-random int8 values (an LCG's high byte) from `seed`.
    fn bytes(mut seed: u64) -> impl FnMut() -> i8 {
        move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 56) as u8 as i8
        }
    }

    #[test]
    fn every_row_kernel_matches_one_dot_per_row() {
        let mut next = bytes(7);
        for d in [1usize, 8, 50, 63, 64, 65, 128, 300, 768] {
            for n in [0usize, 1, 4, 5, 33] {
                let q: Vec<i8> = (0..d).map(|_| next()).collect();
                let rows: Vec<i8> = (0..n * d).map(|_| next()).collect();
                let want: Vec<i32> = rows
                    .chunks_exact(d)
                    .map(|r| {
                        q.iter()
                            .zip(r)
                            .map(|(&a, &b)| i32::from(a) * i32::from(b))
                            .sum()
                    })
                    .collect();
                for (name, f) in dot_i8_rows_kernels() {
                    let mut out = vec![i32::MIN; n];
                    f(&q, &rows, &mut out);
                    assert_eq!(out, want, "{name} d={d} n={n}");
                }
                // Extremes: the largest products, and a ragged tail row ignored.
                let lo = vec![i8::MIN; d];
                let mut rows_lo = vec![i8::MIN; 2 * d];
                rows_lo.push(5);
                for (name, f) in dot_i8_rows_kernels() {
                    let mut out = vec![0; 3];
                    f(&lo, &rows_lo, &mut out);
                    assert_eq!(out[..2], [16384 * d as i32; 2], "{name} d={d}");
                    if d > 1 {
                        assert_eq!(out[2], 0, "{name}: a partial row is no row");
                    }
                }
            }
        }
    }

    #[test]
    fn every_code_dot_kernel_matches_scalar() {
        let mut next = bytes(99);
        for n in [0usize, 1, 8, 50, 63, 64, 65, 127, 768, 1000, 300_000] {
            let a: Vec<i8> = (0..n).map(|_| next()).collect();
            let b: Vec<i8> = (0..n).map(|_| next()).collect();
            let want: i64 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| i64::from(x) * i64::from(y))
                .sum();
            for (name, f) in dot_i8_code_kernels() {
                assert_eq!(f(&a, &b), want, "{name} n={n}");
            }
            // Extremes: every product at its largest magnitude.
            let lo = vec![i8::MIN; n];
            assert_eq!(dot_i8_codes()(&lo, &lo), 16384 * n as i64, "n={n}");
            let hi = vec![i8::MAX; n];
            assert_eq!(dot_i8_codes()(&lo, &hi), -16256 * n as i64, "n={n}");
        }
    }
}
