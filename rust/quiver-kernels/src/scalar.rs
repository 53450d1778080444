//! Portable reference kernels.
//!
//! These define the expected results: the SIMD paths are tested against them.
//! The float loops keep eight independent partial sums so the compiler can
//! map them onto vector registers without reassociating anything.

use crate::common_prefix;

/// Number of independent float accumulators.
const LANES: usize = 8;

/// Sums the eight partial sums in a fixed pairwise order.
#[inline(always)]
fn reduce(acc: [f32; LANES]) -> f32 {
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

/// Sums `term(a[i], b[i])` with [`LANES`] accumulators and a scalar tail.
#[inline(always)]
fn fold_f32(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f32 {
    let (a, b) = common_prefix(a, b);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += term(x, y);
        }
    }
    let mut sum = reduce(acc);
    for (&x, &y) in ra.iter().zip(rb) {
        sum += term(x, y);
    }
    sum
}

pub(crate) fn l2_squared_f32(a: &[f32], b: &[f32]) -> f32 {
    fold_f32(a, b, |x, y| (x - y) * (x - y))
}

pub(crate) fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    fold_f32(a, b, |x, y| (x - y).abs())
}

pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    fold_f32(a, b, |x, y| x * y)
}

pub(crate) fn dot_and_norms_f32(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let (a, b) = common_prefix(a, b);
    let mut ab = [0.0f32; LANES];
    let mut aa = [0.0f32; LANES];
    let mut bb = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            ab[i] += x[i] * y[i];
            aa[i] += x[i] * x[i];
            bb[i] += y[i] * y[i];
        }
    }
    let (mut ab, mut aa, mut bb) = (reduce(ab), reduce(aa), reduce(bb));
    for (&x, &y) in ra.iter().zip(rb) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    (ab, aa, bb)
}

/// Exact integer sum of `term(a[i], b[i])`; no i8 term exceeds 65 025, so an
/// i64 total cannot overflow for any slice that fits in memory.
#[inline(always)]
fn fold_i8(a: &[i8], b: &[i8], term: impl Fn(i32, i32) -> i32) -> i64 {
    let (a, b) = common_prefix(a, b);
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i64::from(term(i32::from(x), i32::from(y))))
        .sum()
}

pub(crate) fn l2_squared_i8(a: &[i8], b: &[i8]) -> i64 {
    fold_i8(a, b, |x, y| (x - y) * (x - y))
}

pub(crate) fn l1_i8(a: &[i8], b: &[i8]) -> i64 {
    fold_i8(a, b, |x, y| (x - y).abs())
}

pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i64 {
    fold_i8(a, b, |x, y| x * y)
}

pub(crate) fn dot_and_norms_i8(a: &[i8], b: &[i8]) -> (i64, i64, i64) {
    (dot_i8(a, b), dot_i8(a, a), dot_i8(b, b))
}

/// Population count of `a XOR b`, eight bytes at a time.
pub(crate) fn hamming(a: &[u8], b: &[u8]) -> u64 {
    let (a, b) = common_prefix(a, b);
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut total = 0u64;
    for (x, y) in ca.zip(cb) {
        total += u64::from((word(x) ^ word(y)).count_ones());
    }
    for (&x, &y) in ra.iter().zip(rb) {
        total += u64::from((x ^ y).count_ones());
    }
    total
}

/// Reads an 8-byte chunk as a u64 (byte order is irrelevant to a popcount).
#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(chunk);
    u64::from_ne_bytes(bytes)
}
