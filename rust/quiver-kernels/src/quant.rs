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
        let x: Vec<f32> = (0..100).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
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
