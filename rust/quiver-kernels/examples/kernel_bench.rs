//! Tiny kernel micro-benchmark: nanoseconds per call at 768 dimensions for
//! every path this CPU can run (scalar first, the chosen best path last).
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
}
