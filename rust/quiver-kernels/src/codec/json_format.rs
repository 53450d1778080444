//! JSON text output, matching sqlite-vec's `vec_to_json` exactly.

use std::fmt::Write;

/// `[a,b,...]` with each float printed as SQLite's own `printf("%f")` prints it
/// (sqlite-vec formats through `sqlite3_str_appendf`): six decimals, no exponent,
/// no sign on zero (SQLite tests `x < 0.0`, which is false for -0.0), and at most
/// 16 significant digits, later ones printed as `0`. NaN never reaches here from
/// the codecs; if one does it prints as `nan`.
pub fn format_json_f32(v: &[f32]) -> String {
    join(v, |out, &x| format_sqlite_f(out, f64::from(x)))
}

/// One value as SQLite's `%f` with the default precision of 6.
fn format_sqlite_f(out: &mut String, x: f64) -> std::fmt::Result {
    if x.is_nan() {
        return out.write_str("nan");
    }
    if x == 0.0 {
        return out.write_str("0.000000");
    }
    if x.abs() < 1e10 || x.is_infinite() {
        // At most 10 integer + 6 decimal digits: within SQLite's 16 significant.
        return write!(out, "{x:.6}");
    }
    // 16 significant digits, then zeros up to the decimal point.
    let sci = format!("{:.15e}", x.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: usize = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if x < 0.0 {
        out.push('-');
    }
    for i in 0..=exponent {
        out.push(digits.as_bytes().get(i).map_or('0', |&d| d as char));
    }
    out.write_str(".000000")
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
    fn f32_like_sqlite_printf() {
        // Seen from sqlite-vec 0.1.9 on SQLite 3.40.1.
        assert_eq!(
            format_json_f32(&[1e30, 1.5, -0.0, 123456789.0]),
            "[1000000015047466000000000000000.000000,1.500000,0.000000,123456792.000000]"
        );
        assert_eq!(
            format_json_f32(&[-1e-9, -2.5e10]),
            "[-0.000000,-24999999488.000000]"
        );
    }

    #[test]
    fn f32_like_printf() {
        let v = [2.0f32, 3.0, 1.0, -4.0];
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let unit: Vec<f32> = v.iter().map(|x| x / norm).collect();
        assert_eq!(
            format_json_f32(&unit),
            "[0.365148,0.547723,0.182574,-0.730297]"
        );
        // Expected strings are SQLite 3.40 printf("%f", (double)x).
        let cases: [(f32, &str); 12] = [
            (0.0, "0.000000"),
            (-0.0, "0.000000"),
            (-1e-9, "-0.000000"),
            (0.1, "0.100000"),
            (1.0 / 3.0, "0.333333"),
            (0.0078125, "0.007812"), // exact tie: round half to even
            (0.0234375, "0.023438"), // exact tie: round half to even
            (123_456.79, "123456.789062"),
            (1e30, "1000000015047466000000000000000.000000"),
            (f32::MAX, "340282346638528900000000000000000000000.000000"),
            (-16777217.0, "-16777216.000000"),
            (f32::MIN_POSITIVE, "0.000000"),
        ];
        for (x, want) in cases {
            assert_eq!(format_json_f32(&[x]), format!("[{want}]"), "{x:e}");
        }
        let odd = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        assert_eq!(format_json_f32(&odd), "[nan,inf,-inf]");
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
