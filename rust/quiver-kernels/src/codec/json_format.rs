//! JSON text output, matching sqlite-vec's `vec_to_json` exactly.

use std::fmt::Write;

/// `[a,b,...]` with each float printed like C's `printf("%f", (double)x)`:
/// six decimals, no exponent, `-0.000000` for negative zero. Rust's `{:.6}`
/// on the widened f64 prints the same digits (exact decimal expansion,
/// rounded half to even, sign kept for negative zero). The codecs never
/// produce NaN, but if one gets here it prints as C does: `nan` / `-nan`.
pub fn format_json_f32(v: &[f32]) -> String {
    join(v, |out, &x| match x {
        x if x.is_nan() && x.is_sign_negative() => out.write_str("-nan"),
        x if x.is_nan() => out.write_str("nan"),
        x => write!(out, "{:.6}", f64::from(x)),
    })
}

/// `[1,-2,3]`.
pub fn format_json_i8(v: &[i8]) -> String {
    join(v, |out, x| write!(out, "{x}"))
}

/// `[0,1,1,0,...]`: the first `n_bits` bits, least significant bit of each
/// byte first (sqlite-vec's bit order). `n_bits` beyond the bytes given is
/// clamped to `8 * bits.len()`.
pub fn format_json_bits(bits: &[u8], n_bits: usize) -> String {
    let n_bits = n_bits.min(bits.len().saturating_mul(8));
    let values: Vec<u8> = (0..n_bits).map(|i| (bits[i / 8] >> (i % 8)) & 1).collect();
    join(&values, |out, x| write!(out, "{x}"))
}

/// Writes `[`, the items separated by `,`, and `]`.
fn join<T>(items: &[T], mut item: impl FnMut(&mut String, &T) -> std::fmt::Result) -> String {
    let mut out = String::with_capacity(2 + items.len() * 10);
    out.push('[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Writing into a String cannot fail.
        let _ = item(&mut out, x);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::parse_json_f32;

    #[test]
    fn f32_like_printf() {
        let v = [2.0f32, 3.0, 1.0, -4.0];
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let unit: Vec<f32> = v.iter().map(|x| x / norm).collect();
        assert_eq!(
            format_json_f32(&unit),
            "[0.365148,0.547723,0.182574,-0.730297]"
        );
        // Expected strings were produced by glibc printf("%f", (double)x).
        let cases: [(f32, &str); 12] = [
            (0.0, "0.000000"),
            (-0.0, "-0.000000"),
            (-1e-9, "-0.000000"),
            (0.1, "0.100000"),
            (1.0 / 3.0, "0.333333"),
            (0.0078125, "0.007812"), // exact tie: round half to even
            (0.0234375, "0.023438"), // exact tie: round half to even
            (123_456.79, "123456.789062"),
            (1e30, "1000000015047466219876688855040.000000"),
            (f32::MAX, "340282346638528859811704183484516925440.000000"),
            (-16777217.0, "-16777216.000000"),
            (f32::MIN_POSITIVE, "0.000000"),
        ];
        for (x, want) in cases {
            assert_eq!(format_json_f32(&[x]), format!("[{want}]"), "{x:e}");
        }
        let odd = [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        assert_eq!(format_json_f32(&odd), "[nan,-nan,inf,-inf]");
    }

    #[test]
    fn f32_round_trip_through_text() {
        let v = [1.5f32, -2.25, 0.0, 100.125];
        let text = format_json_f32(&v);
        assert_eq!(text, "[1.500000,-2.250000,0.000000,100.125000]");
        assert_eq!(parse_json_f32(&text), Ok(v.to_vec()));
    }

    #[test]
    fn i8_and_bits() {
        assert_eq!(format_json_i8(&[1, -2, 3]), "[1,-2,3]");
        assert_eq!(format_json_i8(&[-128, 127]), "[-128,127]");
        assert_eq!(format_json_i8(&[]), "[]");
        assert_eq!(format_json_bits(&[0b0000_0110], 8), "[0,1,1,0,0,0,0,0]");
        assert_eq!(format_json_bits(&[0xFF, 0x01], 10), "[1,1,1,1,1,1,1,1,1,0]");
        assert_eq!(format_json_bits(&[0x01], 3), "[1,0,0]");
        assert_eq!(format_json_bits(&[0x80], 100), "[0,0,0,0,0,0,0,1]");
    }
}
