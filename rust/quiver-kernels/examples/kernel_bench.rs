//! Kernel micro-benchmarks for every path this CPU can run (scalar first, the
//! chosen best path last):
//!
//! * the one-pair kernels: nanoseconds per call at 768 dimensions;
//! * the many-queries kernel `dot_block_f32`: 64 queries against a whole
//!   table, walked in the cache-sized row blocks vec0's batched search uses,
//!   on one thread, next to the same path's `dot_f32` called for every pair.
//!   The table is timed in 20 segments; runs of all paths are interleaved,
//!   and a path's time is the sum over segments of its fastest run of each,
//!   so that load from other processes (which stretches some runs) hits all
//!   paths alike and mostly drops out.
//!
//! cargo run --release -p quiver-kernels --example kernel_bench

use std::hint::black_box;
use std::time::Instant;

use quiver_kernels::dispatch::{self, Kernels};

const DIM: usize = 768;
const CALLS: u32 = 200_000;

/// Average nanoseconds per call of `f`, after a short warm-up.
fn ns_per_call(mut f: impl FnMut() -> f64) -> f64 {
    let mut sink = 0.0;
    for _ in 0..CALLS / 10 {
        sink += f();
    }
    let start = Instant::now();
    for _ in 0..CALLS {
        sink += f();
    }
    let elapsed = start.elapsed();
    black_box(sink);
    elapsed.as_nanos() as f64 / f64::from(CALLS)
}

const QUERIES: usize = 64;
const RUNS: usize = 15;
const SEGMENTS: usize = 20;

/// Runs `kernel` over `rows` block by block, as vec0's batched search does,
/// and returns the milliseconds taken.
fn scan_ms(
    kernel: impl Fn(&[f32], &[f32], usize, &mut [f32]),
    queries: &[f32],
    rows: &[f32],
    dims: usize,
    out: &mut [f32],
) -> f64 {
    let block = ((128 * 1024) / (dims * 4)).clamp(8, 512);
    let start = Instant::now();
    for chunk in rows.chunks(block * dims) {
        kernel(black_box(queries), chunk, dims, out);
        black_box(&mut *out);
    }
    start.elapsed().as_secs_f64() * 1e3
}

/// The same products through the one-pair kernel.
fn pairwise(k: &Kernels) -> impl Fn(&[f32], &[f32], usize, &mut [f32]) + '_ {
    move |queries, rows, dims, out| {
        let nr = rows.len() / dims;
        for (q, out) in queries.chunks_exact(dims).zip(out.chunks_mut(nr)) {
            for (r, o) in rows.chunks_exact(dims).zip(out) {
                *o = (k.dot_f32)(q, r);
            }
        }
    }
}

/// The many-queries table, on data from `next`.
fn block_table(mut next: impl FnMut() -> f32) {
    let paths = dispatch::available();
    println!("\n{QUERIES} queries x table: fastest of {RUNS} runs per segment");
    println!(
        "{:<10} {:>14} {:>10} {:>9} {:>12} {:>9}",
        "path", "rows x dims", "block ms", "GFLOP/s", "pairwise ms", "speed-up"
    );
    for (n, dims) in [(10_000, 768), (100_000, 128), (20_000, 100), (5_000, 1536)] {
        let rows: Vec<f32> = (0..n * dims).map(|_| next()).collect();
        let queries: Vec<f32> = (0..QUERIES * dims).map(|_| next()).collect();
        let mut out = vec![0f32; QUERIES * 512];
        let segment = n.div_ceil(SEGMENTS) * dims;
        let mut best = vec![[(f64::MAX, f64::MAX); SEGMENTS]; paths.len()];
        for _ in 0..RUNS {
            for (k, best) in paths.iter().zip(&mut best) {
                for (rows, best) in rows.chunks(segment).zip(best) {
                    let block = scan_ms(k.dot_block_f32, &queries, rows, dims, &mut out);
                    let pairs = scan_ms(pairwise(k), &queries, rows, dims, &mut out);
                    *best = (best.0.min(block), best.1.min(pairs));
                }
            }
        }
        let best = best.iter().map(|segments| {
            let sum = |f: fn(&(f64, f64)) -> f64| segments.iter().map(f).sum::<f64>();
            (sum(|s| s.0), sum(|s| s.1))
        });
        for (k, (block, pairs)) in paths.iter().zip(best) {
            let gflops = 2.0 * (QUERIES * n * dims) as f64 / (block * 1e6);
            println!(
                "{:<10} {:>14} {:>10.2} {:>9.1} {:>12.2} {:>8.2}x",
                k.name,
                format!("{n} x {dims}"),
                block,
                gflops,
                pairs,
                pairs / block
            );
        }
    }
}

fn main() {
    // Deterministic pseudo-random data (no RNG dependency).
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let a: Vec<f32> = (0..DIM)
        .map(|_| (next() % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    let b: Vec<f32> = (0..DIM)
        .map(|_| (next() % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    let x: Vec<i8> = (0..DIM).map(|_| next().to_le_bytes()[0] as i8).collect();
    let y: Vec<i8> = (0..DIM).map(|_| next().to_le_bytes()[0] as i8).collect();
    let p: Vec<u8> = (0..DIM / 8).map(|_| next().to_le_bytes()[0]).collect();
    let q: Vec<u8> = (0..DIM / 8).map(|_| next().to_le_bytes()[0]).collect();

    println!("best path: {}", dispatch::best().name);
    println!(
        "{:<10} {:>12} {:>12} {:>12} {:>12} {:>14}",
        "path", "l2sq f32", "cosine f32", "l2sq i8", "dot i8", "hamming 768b"
    );
    for k in dispatch::available() {
        let k: &Kernels = k;
        let (a, b, x, y, p, q) = (&a[..], &b[..], &x[..], &y[..], &p[..], &q[..]);
        let l2 = ns_per_call(|| f64::from((k.l2_squared_f32)(black_box(a), black_box(b))));
        let cos = ns_per_call(|| f64::from((k.dot_and_norms_f32)(black_box(a), black_box(b)).0));
        let l2_i8 = ns_per_call(|| (k.l2_squared_i8)(black_box(x), black_box(y)) as f64);
        let dot_i8 = ns_per_call(|| (k.dot_i8)(black_box(x), black_box(y)) as f64);
        let ham = ns_per_call(|| (k.hamming)(black_box(p), black_box(q)) as f64);
        println!(
            "{:<10} {:>9.1} ns {:>9.1} ns {:>9.1} ns {:>9.1} ns {:>11.1} ns",
            k.name, l2, cos, l2_i8, dot_i8, ham
        );
    }
    block_table(|| (next() % 2000) as f32 / 1000.0 - 1.0);
}
