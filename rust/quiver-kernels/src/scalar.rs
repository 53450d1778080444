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

/// Columns per tile of [`dot_panel_with`]: two AVX-512 registers.
pub const PANEL_COLS: usize = 32;

/// `out[p * width + c] = points[p] · panel column c` (see `Kernels::dot_panel_f32`),
/// with plain multiply-adds.
pub(crate) fn dot_panel_f32(points: &[f32], panel: &[f32], dims: usize, out: &mut [f32]) {
    dot_panel_with::<4>(points, panel, dims, out, |a, b, c| a * b + c);
}

/// The panel kernel around a multiply-add `fma(a, b, c) = a·b + c`: tiles of `P`
/// points by [`PANEL_COLS`] columns accumulate in registers (an outer product per
/// dimension, no horizontal sums: small dimensions cost no more per multiply than
/// large ones). `P` is what the instruction set's registers hold (`P · 32` floats of
/// accumulators). The SIMD tables pass `f32::mul_add`, which their target features
/// turn into vector FMAs.
#[inline(always)]
pub(crate) fn dot_panel_with<const P: usize>(
    points: &[f32],
    panel: &[f32],
    dims: usize,
    out: &mut [f32],
    fma: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    if dims == 0 || panel.len() < dims {
        return;
    }
    let width = panel.len() / dims;
    let np = (points.len() / dims).min(out.len() / width);
    let full = width / PANEL_COLS * PANEL_COLS;
    for c0 in (0..full).step_by(PANEL_COLS) {
        let mut p = 0;
        while p + P <= np {
            panel_tile::<P>(points, panel, dims, width, (p, c0), out, fma);
            p += P;
        }
        while p < np {
            panel_tile::<1>(points, panel, dims, width, (p, c0), out, fma);
            p += 1;
        }
    }
    for p in 0..np {
        let x = &points[p * dims..(p + 1) * dims];
        for c in full..width {
            let dot = (0..dims).fold(0.0, |s, d| fma(x[d], panel[d * width + c], s));
            out[p * width + c] = dot;
        }
    }
}

/// One tile of [`dot_panel_with`]: points `p0..p0 + P` by columns `c0..c0 +
/// PANEL_COLS` (the caller keeps both in range).
#[inline(always)]
fn panel_tile<const P: usize>(
    points: &[f32],
    panel: &[f32],
    dims: usize,
    width: usize,
    (p0, c0): (usize, usize),
    out: &mut [f32],
    fma: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let mut acc = [[0f32; PANEL_COLS]; P];
    let xs: [&[f32]; P] = std::array::from_fn(|i| &points[(p0 + i) * dims..(p0 + i + 1) * dims]);
    for d in 0..dims {
        let start = d * width + c0;
        let Ok(col) = <&[f32; PANEL_COLS]>::try_from(&panel[start..start + PANEL_COLS]) else {
            return;
        };
        for (a, x) in acc.iter_mut().zip(&xs) {
            let x = x[d];
            for (a, &c) in a.iter_mut().zip(col) {
                *a = fma(x, c, *a);
            }
        }
    }
    for (i, a) in acc.iter().enumerate() {
        let start = (p0 + i) * width + c0;
        out[start..start + PANEL_COLS].copy_from_slice(a);
    }
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
