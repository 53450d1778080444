//! Checked distance functions, each running the fastest kernel for this CPU
//! (see [`crate::dispatch::best`]).
//!
//! Every two-vector function panics if the lengths differ: that is a caller
//! bug (the SQL layer validates dimensions before it gets here), and one
//! comparison per call costs nothing next to the loop.

use crate::dispatch::best;

#[inline]
fn check_lengths(a: usize, b: usize) {
    assert_eq!(a, b, "distance between vectors of different lengths");
}

/// Euclidean distance, `sqrt(Σ (a-b)²)`.
pub fn l2_f32(a: &[f32], b: &[f32]) -> f32 {
    l2_squared_f32(a, b).sqrt()
}

/// Squared Euclidean distance, `Σ (a-b)²`.
pub fn l2_squared_f32(a: &[f32], b: &[f32]) -> f32 {
    check_lengths(a.len(), b.len());
    (best().l2_squared_f32)(a, b)
}

/// Manhattan distance, `Σ |a-b|`.
pub fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    check_lengths(a.len(), b.len());
    (best().l1_f32)(a, b)
}

/// Manhattan distance summed in f64 like sqlite-vec's `vec_distance_l1`, so that a
/// sum beyond the float32 range (`[3e38, 3e38]` to `[-3e38, -3e38]` is 1.2e39) stays
/// finite. The SIMD float32 sum runs first; only a sum that overflowed (not finite)
/// is computed again in f64, so finite results cost nothing extra.
pub fn l1_f32_wide(a: &[f32], b: &[f32]) -> f64 {
    let fast = l1_f32(a, b);
    if fast.is_finite() {
        return f64::from(fast);
    }
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs())
        .sum()
}

/// Inner product, `Σ a·b`.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    check_lengths(a.len(), b.len());
    (best().dot_f32)(a, b)
}

/// Cosine distance, `1 - a·b / (|a|·|b|)`; `None` if either vector has zero
/// norm (the angle is undefined). The final division is done in f64 so that
/// `|a|·|b|` cannot overflow or lose precision.
pub fn cosine_f32(a: &[f32], b: &[f32]) -> Option<f32> {
    check_lengths(a.len(), b.len());
    let (ab, aa, bb) = (best().dot_and_norms_f32)(a, b);
    cosine_from_parts(f64::from(ab), f64::from(aa), f64::from(bb))
}

/// Euclidean norm, `sqrt(Σ a²)`.
pub fn norm_f32(a: &[f32]) -> f32 {
    (best().dot_f32)(a, a).sqrt()
}

/// Euclidean distance of int8 vectors: the square root of the exact integer
/// sum of squared differences.
pub fn l2_i8(a: &[i8], b: &[i8]) -> f32 {
    check_lengths(a.len(), b.len());
    ((best().l2_squared_i8)(a, b) as f64).sqrt() as f32
}

/// Squared Euclidean distance of int8 vectors (exact sum, rounded to f32).
pub fn l2_squared_i8(a: &[i8], b: &[i8]) -> f32 {
    check_lengths(a.len(), b.len());
    (best().l2_squared_i8)(a, b) as f32
}

/// Manhattan distance of int8 vectors (exact sum, rounded to f32).
pub fn l1_i8(a: &[i8], b: &[i8]) -> f32 {
    check_lengths(a.len(), b.len());
    (best().l1_i8)(a, b) as f32
}

/// Inner product of int8 vectors (exact sum, rounded to f32).
pub fn dot_i8(a: &[i8], b: &[i8]) -> f32 {
    check_lengths(a.len(), b.len());
    (best().dot_i8)(a, b) as f32
}

/// Cosine distance of int8 vectors from the exact integer dot product and
/// squared norms; `None` if either vector is all zeros.
pub fn cosine_i8(a: &[i8], b: &[i8]) -> Option<f32> {
    check_lengths(a.len(), b.len());
    let (ab, aa, bb) = (best().dot_and_norms_i8)(a, b);
    cosine_from_parts(ab as f64, aa as f64, bb as f64)
}

/// Number of differing bits between two bit vectors of equal byte length
/// (saturates at `u32::MAX`, which would take a 512 MiB vector).
pub fn hamming_bits(a: &[u8], b: &[u8]) -> u32 {
    check_lengths(a.len(), b.len());
    u32::try_from((best().hamming)(a, b)).unwrap_or(u32::MAX)
}

fn cosine_from_parts(ab: f64, aa: f64, bb: f64) -> Option<f32> {
    if aa == 0.0 || bb == 0.0 {
        return None;
    }
    Some((1.0 - ab / (aa.sqrt() * bb.sqrt())) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(l2_f32(&[1.0, 2.0], &[4.0, 6.0]), 5.0);
        assert_eq!(l2_squared_f32(&[1.0, 2.0], &[4.0, 6.0]), 25.0);
        assert_eq!(l1_f32(&[1.0, -2.0, 3.0], &[4.0, 6.0, 3.0]), 11.0);
        assert_eq!(dot_f32(&[1.0, -2.0, 3.0], &[4.0, 6.0, 0.5]), -6.5);
        assert_eq!(norm_f32(&[3.0, 4.0]), 5.0);
        assert_eq!(l2_i8(&[1, 2], &[4, 6]), 5.0);
        assert_eq!(l2_squared_i8(&[-128, 127], &[127, -128]), 130_050.0);
        assert_eq!(l1_i8(&[1, -2, 3], &[4, 6, 3]), 11.0);
        assert_eq!(dot_i8(&[1, -2, 3], &[4, 6, 5]), 7.0);
        assert_eq!(hamming_bits(&[0x0F], &[0xF0]), 8);
        assert_eq!(hamming_bits(&[0xFF, 0x01], &[0xFF, 0x00]), 1);
    }

    #[test]
    fn cosine() {
        assert_eq!(cosine_f32(&[0.0, 0.0], &[1.0, 2.0]), None);
        assert_eq!(cosine_f32(&[1.0, 2.0], &[0.0, 0.0]), None);
        assert_eq!(cosine_i8(&[0, 0], &[1, 2]), None);
        assert_eq!(cosine_f32(&[1.0, 0.0], &[0.0, 5.0]), Some(1.0));
        assert_eq!(cosine_f32(&[1.0, 1.0], &[-2.0, -2.0]), Some(2.0));
        assert_eq!(cosine_i8(&[3, 0], &[-7, 0]), Some(2.0));
        let same = cosine_f32(&[2.0, 3.0, 1.0], &[2.0, 3.0, 1.0]);
        assert!(same.is_some_and(|d| d.abs() < 1e-6), "{same:?}");
        let same = cosine_i8(&[2, 3, 1], &[4, 6, 2]);
        assert!(same.is_some_and(|d| d.abs() < 1e-6), "{same:?}");
    }

    #[test]
    #[should_panic(expected = "different lengths")]
    fn mismatched_lengths_panic() {
        l2_f32(&[1.0, 2.0], &[1.0]);
    }
}
