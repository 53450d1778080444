//! Portable reference kernels.
//!
//! These define the expected results: the SIMD paths are tested against them.
//! The float loops keep eight independent partial sums so the compiler can
//! map them onto vector registers without reassociating anything.

use crate::{block_shape, common_prefix, I8_BLOCK};

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
    let ((ca, ra), (cb, rb)) = (a.as_chunks::<LANES>(), b.as_chunks::<LANES>());
    let mut acc = [0.0f32; LANES];
    for (x, y) in ca.iter().zip(cb) {
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

/// Three vectorized passes: a single pass with three interleaved
/// accumulator sets defeats LLVM's auto-vectorizer and ends up slower.
pub(crate) fn dot_and_norms_f32(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let (a, b) = common_prefix(a, b);
    (dot_f32(a, b), dot_f32(a, a), dot_f32(b, b))
}

/// Exact integer sum of `term(a[i], b[i])`. Each block of [`I8_BLOCK`]
/// terms (each at most 65 025) is summed in i32, which the compiler vectorizes
/// well and which cannot overflow; the blocks are summed in i64.
#[inline(always)]
fn fold_i8(a: &[i8], b: &[i8], term: impl Fn(i32, i32) -> i32) -> i64 {
    let (a, b) = common_prefix(a, b);
    a.chunks(I8_BLOCK)
        .zip(b.chunks(I8_BLOCK))
        .map(|(xs, ys)| {
            let block: i32 = xs
                .iter()
                .zip(ys)
                .map(|(&x, &y)| term(i32::from(x), i32::from(y)))
                .sum();
            i64::from(block)
        })
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
    let ((ca, ra), (cb, rb)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    let mut total = 0u64;
    for (&x, &y) in ca.iter().zip(cb) {
        total += u64::from((u64::from_ne_bytes(x) ^ u64::from_ne_bytes(y)).count_ones());
    }
    for (&x, &y) in ra.iter().zip(rb) {
        total += u64::from((x ^ y).count_ones());
    }
    total
}

/// `Σ a[i]·b[i]` added in order from 0, for a block kernel's remainder shorter
/// than one vector (for one shorter than [`LANES`] this is exactly
/// [`dot_f32`]).
#[inline(always)]
pub(crate) fn dot_tail(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |s, (&x, &y)| s + x * y)
}

/// `out[q * nr + r] = queries[q] · rows[r]`, one pair at a time with [`dot_f32`]
/// (shape as [`block_shape`]).
pub(crate) fn dot_block_f32(queries: &[f32], rows: &[f32], dims: usize, out: &mut [f32]) {
    dot_block_pairwise(queries, rows, dims, out, dot_f32);
}

/// The pair loop of [`dot_block_f32`] around any one-pair `dot` kernel.
#[inline(always)]
pub(crate) fn dot_block_pairwise(
    queries: &[f32],
    rows: &[f32],
    dims: usize,
    out: &mut [f32],
    dot: impl Fn(&[f32], &[f32]) -> f32,
) {
    let (nq, nr) = block_shape(queries.len(), rows.len(), dims, out.len());
    if nr == 0 {
        return;
    }
    for (q, out) in queries
        .chunks_exact(dims)
        .take(nq)
        .zip(out.chunks_exact_mut(nr))
    {
        for (r, o) in rows.chunks_exact(dims).zip(out) {
            *o = dot(q, r);
        }
    }
}
