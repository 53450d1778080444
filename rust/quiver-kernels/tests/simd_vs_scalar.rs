//! Every kernel path this CPU can run must agree with the scalar reference:
//! bit-for-bit on int8 and bit vectors, within rounding on float32.
//!
//! Float bound: a sum of n terms computed in any order with any grouping
//! differs from the exact sum by at most about (terms per accumulator) · ε ·
//! Σ|term|, ε = 2⁻²⁴ ≈ 6e-8, and random rounding errors largely cancel, so on
//! random data both paths land within a few ε·√n of the exact sum. We allow
//! 1e-5 · Σ|term| (computed in f64), which is loose enough for every length
//! tested here (up to 4096) and still catches any missed or doubled element
//! (that changes the sum by a whole term, ≈ Σ|term| / n ≥ 2.4e-4 · Σ|term|).

use quiver_kernels::dispatch::{self, Kernels};

/// Dimensions beyond 1..=300 that real embeddings use.
const LARGE_DIMS: [usize; 5] = [512, 768, 1024, 1536, 4096];
const REL_TOLERANCE: f64 = 1e-5;

/// xorshift64*: small, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-scale, scale).
    fn f32(&mut self, scale: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (unit * 2.0 - 1.0) * scale
    }

    fn vec_f32(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.f32(scale)).collect()
    }

    fn vec_i8(&mut self, n: usize) -> Vec<i8> {
        (0..n)
            .map(|_| self.next_u64().to_le_bytes()[0] as i8)
            .collect()
    }

    fn vec_u8(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64().to_le_bytes()[0]).collect()
    }
}

fn simd_paths() -> Vec<&'static Kernels> {
    dispatch::available().into_iter().skip(1).collect()
}

fn dims() -> impl Iterator<Item = usize> {
    (1..=300).chain(LARGE_DIMS)
}

/// Offsets at which slices start inside their backing Vec, so 32- and
/// 64-byte vector loads see every alignment.
const OFFSETS: [(usize, usize); 4] = [(0, 0), (1, 2), (2, 3), (3, 1)];

fn assert_close(got: f32, want: f32, abs_terms: f64, what: &str) {
    let bound = REL_TOLERANCE * abs_terms + f64::from(f32::MIN_POSITIVE);
    let err = (f64::from(got) - f64::from(want)).abs();
    assert!(
        err <= bound,
        "{what}: got {got}, scalar {want}, error {err:e} > bound {bound:e}"
    );
}

#[test]
fn paths_are_listed_in_order() {
    let paths = dispatch::available();
    assert_eq!(paths[0].name, "scalar");
    assert_eq!(dispatch::scalar().name, "scalar");
    let last = paths.last().map(|k| k.name);
    assert_eq!(Some(dispatch::best().name), last);
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        assert!(paths.iter().any(|k| k.name == "avx2+fma"));
    }
    // Every test below runs every listed path, so this is what makes the
    // AVX-512 kernels tested wherever the CPU can run them.
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") {
        assert_eq!(dispatch::best().name, "avx512");
    }
    #[cfg(target_arch = "aarch64")]
    assert_eq!(dispatch::best().name, "neon");
    eprintln!(
        "kernel paths: {:?}",
        paths.iter().map(|k| k.name).collect::<Vec<_>>()
    );
}

#[test]
fn f32_kernels_match_scalar() {
    let scalar = dispatch::scalar();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for path in simd_paths() {
        for n in dims() {
            for scale in [1.0, 1000.0] {
                let a_buf = rng.vec_f32(n + 3, scale);
                let b_buf = rng.vec_f32(n + 3, scale);
                for (oa, ob) in OFFSETS {
                    let (a, b) = (&a_buf[oa..oa + n], &b_buf[ob..ob + n]);
                    check_f32(path, scalar, a, b);
                }
            }
        }
    }
}

fn check_f32(path: &Kernels, scalar: &Kernels, a: &[f32], b: &[f32]) {
    let name = format!("{} n={}", path.name, a.len());
    let sum = |f: &dyn Fn(f64, f64) -> f64| -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f(f64::from(x), f64::from(y)).abs())
            .sum()
    };
    let l2_terms = sum(&|x, y| (x - y) * (x - y));
    let l1_terms = sum(&|x, y| x - y);
    let dot_terms = sum(&|x, y| x * y);
    let aa_terms = sum(&|x, _| x * x);
    let bb_terms = sum(&|_, y| y * y);

    let got = (path.l2_squared_f32)(a, b);
    assert_close(got, (scalar.l2_squared_f32)(a, b), l2_terms, &name);
    assert_close(got, l2_terms as f32, l2_terms, &format!("{name} vs f64"));
    let got = (path.l1_f32)(a, b);
    assert_close(got, (scalar.l1_f32)(a, b), l1_terms, &name);
    let got = (path.dot_f32)(a, b);
    assert_close(got, (scalar.dot_f32)(a, b), dot_terms, &name);

    let (ab, aa, bb) = (path.dot_and_norms_f32)(a, b);
    let (s_ab, s_aa, s_bb) = (scalar.dot_and_norms_f32)(a, b);
    assert_close(ab, s_ab, dot_terms, &format!("{name} dot_and_norms.0"));
    assert_close(aa, s_aa, aa_terms, &format!("{name} dot_and_norms.1"));
    assert_close(bb, s_bb, bb_terms, &format!("{name} dot_and_norms.2"));
    assert_close(s_ab, (scalar.dot_f32)(a, b), dot_terms, &name);
}

#[test]
fn i8_kernels_match_scalar_exactly() {
    let scalar = dispatch::scalar();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for path in simd_paths() {
        for n in dims().chain([65_536]) {
            let a_buf = rng.vec_i8(n + 3);
            let b_buf = rng.vec_i8(n + 3);
            for (oa, ob) in OFFSETS {
                check_i8(path, scalar, &a_buf[oa..oa + n], &b_buf[ob..ob + n]);
            }
        }
    }
}

fn check_i8(path: &Kernels, scalar: &Kernels, a: &[i8], b: &[i8]) {
    let name = format!("{} n={}", path.name, a.len());
    assert_eq!(
        (path.l2_squared_i8)(a, b),
        (scalar.l2_squared_i8)(a, b),
        "{name} l2"
    );
    assert_eq!((path.l1_i8)(a, b), (scalar.l1_i8)(a, b), "{name} l1");
    assert_eq!((path.dot_i8)(a, b), (scalar.dot_i8)(a, b), "{name} dot");
    assert_eq!(
        (path.dot_and_norms_i8)(a, b),
        (scalar.dot_and_norms_i8)(a, b),
        "{name} dot_and_norms"
    );
}

/// Extreme values. At the largest dimension the total overflows i32
/// (65 536 · 255² ≈ 4.3e9), so the lane sums must be widened before the
/// final reduction. The kernels themselves accept any length, and at 400 000
/// elements a single 8-lane i32 accumulator would overflow too (50 000 ·
/// 255² ≈ 3.3e9 per lane), so the periodic widening is exercised as well.
#[test]
fn i8_extremes_do_not_overflow() {
    for n in [quiver_kernels::MAX_DIMENSIONS, 400_000] {
        let lo = vec![-128i8; n];
        let hi = vec![127i8; n];
        let mut rng = Rng(7);
        let mixed: Vec<i8> = (0..n)
            .map(|_| if rng.next_u64() & 1 == 0 { -128 } else { 127 })
            .collect();
        let n = n as i64;
        for path in dispatch::available() {
            let name = path.name;
            assert_eq!((path.l2_squared_i8)(&lo, &hi), n * 255 * 255, "{name}");
            assert_eq!((path.l1_i8)(&lo, &hi), n * 255, "{name}");
            assert_eq!((path.dot_i8)(&lo, &lo), n * 128 * 128, "{name}");
            assert_eq!((path.dot_i8)(&lo, &hi), -n * 128 * 127, "{name}");
            assert_eq!(
                (path.dot_and_norms_i8)(&lo, &hi),
                (-n * 128 * 127, n * 128 * 128, n * 127 * 127),
                "{name}"
            );
            check_i8(path, dispatch::scalar(), &mixed, &lo);
            check_i8(path, dispatch::scalar(), &mixed, &hi);
        }
    }
}

#[test]
fn hamming_matches_scalar_exactly() {
    let scalar = dispatch::scalar();
    let mut rng = Rng(0xA076_1D64_78BD_642F);
    for path in simd_paths() {
        for n in dims().chain([65_536]) {
            let a_buf = rng.vec_u8(n + 3);
            let b_buf = rng.vec_u8(n + 3);
            for (oa, ob) in OFFSETS {
                let (a, b) = (&a_buf[oa..oa + n], &b_buf[ob..ob + n]);
                let name = format!("{} n={n}", path.name);
                assert_eq!((path.hamming)(a, b), (scalar.hamming)(a, b), "{name}");
            }
        }
    }
    for path in dispatch::available() {
        let (zeros, ones) = (vec![0u8; 65_536], vec![0xFFu8; 65_536]);
        assert_eq!((path.hamming)(&zeros, &ones), 65_536 * 8, "{}", path.name);
        assert_eq!((path.hamming)(&[0x0F], &[0xF0]), 8, "{}", path.name);
    }
}

/// The table's kernels are safe functions, so a mismatched pair must not
/// read out of bounds: every path uses the common prefix.
#[test]
fn mismatched_lengths_use_common_prefix() {
    let mut rng = Rng(99);
    let (a, b) = (rng.vec_f32(100, 1.0), rng.vec_f32(37, 1.0));
    let (x, y) = (rng.vec_i8(100), rng.vec_i8(37));
    let (p, q) = (rng.vec_u8(100), rng.vec_u8(37));
    for path in dispatch::available() {
        let name = path.name;
        let want = (dispatch::scalar().l2_squared_f32)(&a[..37], &b);
        assert_close((path.l2_squared_f32)(&a, &b), want, 1e3, name);
        assert_close(
            (path.dot_f32)(&b, &a),
            (path.dot_f32)(&b, &a[..37]),
            1e3,
            name,
        );
        assert_eq!((path.l1_i8)(&x, &y), (path.l1_i8)(&x[..37], &y), "{name}");
        assert_eq!((path.dot_i8)(&y, &x), (path.dot_i8)(&y, &x[..37]), "{name}");
        assert_eq!(
            (path.hamming)(&p, &q),
            (path.hamming)(&p[..37], &q),
            "{name}"
        );
        assert_eq!((path.l2_squared_f32)(&[], &a), 0.0, "{name}");
        assert_eq!((path.hamming)(&[], &[]), 0, "{name}");
    }
}

/// Query and row counts for the many-queries kernel: every remainder of its
/// 4-query x 3-row tiles, odd counts, and a single pair.
const BLOCK_SHAPES: [(usize, usize); 6] = [(1, 1), (3, 5), (4, 3), (5, 7), (2, 4), (9, 13)];

/// Every query x row result of every path's `dot_block_f32` matches the
/// scalar one-pair dot product (exactly on the scalar path), for every
/// dimension, at every alignment, and nothing past `nq * nr` is written.
#[test]
fn dot_block_matches_scalar() {
    let scalar = dispatch::scalar();
    let mut rng = Rng(0x5851_F42D_4C95_7F2D);
    for path in dispatch::available() {
        for n in dims() {
            // Two shapes per dimension, so every shape meets every remainder
            // of the vector width.
            for (nq, nr) in [BLOCK_SHAPES[n % 6], BLOCK_SHAPES[(n / 6 + 1) % 6]] {
                let q_buf = rng.vec_f32(nq * n + 3, 1.0);
                let r_buf = rng.vec_f32(nr * n + 3, 1.0);
                for (oq, or) in OFFSETS {
                    let (queries, rows) = (&q_buf[oq..oq + nq * n], &r_buf[or..or + nr * n]);
                    let mut out = vec![f32::NAN; nq * nr + 5];
                    (path.dot_block_f32)(queries, rows, n, &mut out);
                    for (i, q) in queries.chunks_exact(n).enumerate() {
                        for (j, r) in rows.chunks_exact(n).enumerate() {
                            let name = format!("{} n={n} {nq}x{nr} q{i} r{j}", path.name);
                            let (got, want) = (out[i * nr + j], (scalar.dot_f32)(q, r));
                            if path.name == "scalar" {
                                assert_eq!(got, want, "{name}");
                            }
                            let terms = q.iter().zip(r).map(|(&x, &y)| f64::from(x * y).abs());
                            assert_close(got, want, terms.sum(), &name);
                        }
                    }
                    assert!(out[nq * nr..].iter().all(|x| x.is_nan()), "{}", path.name);
                }
            }
        }
    }
}

/// The table's block kernel is safe, so odd lengths must not read or write
/// out of bounds: a trailing partial vector is ignored, only the queries whose
/// results fit in `out` are computed, and `dims == 0` computes nothing.
#[test]
fn dot_block_clamps_to_what_fits() {
    let mut rng = Rng(5);
    let (queries, rows) = (rng.vec_f32(5 * 8 + 3, 1.0), rng.vec_f32(7 * 8 + 5, 1.0));
    for path in dispatch::available() {
        let name = path.name;
        let mut full = vec![0.0; 5 * 7];
        (path.dot_block_f32)(&queries, &rows, 8, &mut full);
        let mut exact = vec![0.0; 5 * 7];
        (path.dot_block_f32)(&queries[..40], &rows[..56], 8, &mut exact);
        assert_eq!(full, exact, "{name}: partial vectors ignored");
        let mut short = vec![f32::NAN; 2 * 7 + 6];
        (path.dot_block_f32)(&queries, &rows, 8, &mut short);
        assert_eq!(short[..14], full[..14], "{name}: the two queries that fit");
        assert!(short[14..].iter().all(|x| x.is_nan()), "{name}");
        let mut none = vec![f32::NAN; 4];
        (path.dot_block_f32)(&queries, &rows, 0, &mut none);
        (path.dot_block_f32)(&queries, &rows[..7], 8, &mut none);
        (path.dot_block_f32)(&queries, &rows, 8, &mut []);
        assert!(none.iter().all(|x| x.is_nan()), "{name}");
    }
}

/// Every point x column result of every path's `dot_panel_f32` matches the
/// scalar dot product of the point with the column read down the panel, for
/// widths with and without a partial tile, every remainder of its 4-point
/// tiles, and nothing past `np * width` is written.
#[test]
fn dot_panel_matches_scalar() {
    let scalar = dispatch::scalar();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for path in dispatch::available() {
        for n in [1, 2, 7, 16, 50, 64, 100, 768] {
            for (np, width) in [(1, 32), (4, 32), (5, 64), (9, 40), (3, 7), (8, 96)] {
                let points = rng.vec_f32(np * n, 1.0);
                let panel = rng.vec_f32(n * width, 1.0);
                let mut out = vec![f32::NAN; np * width + 5];
                (path.dot_panel_f32)(&points, &panel, n, &mut out);
                for (p, x) in points.chunks_exact(n).enumerate() {
                    for c in 0..width {
                        let column: Vec<f32> = (0..n).map(|d| panel[d * width + c]).collect();
                        let name = format!("{} n={n} {np}x{width} p{p} c{c}", path.name);
                        let want = (scalar.dot_f32)(x, &column);
                        let terms = x.iter().zip(&column).map(|(&a, &b)| f64::from(a * b).abs());
                        assert_close(out[p * width + c], want, terms.sum(), &name);
                    }
                }
                assert!(
                    out[np * width..].iter().all(|x| x.is_nan()),
                    "{}",
                    path.name
                );
            }
        }
    }
}

/// The panel kernel computes only the points whose results fit in `out`, and
/// nothing for `dims == 0` or a panel shorter than one row.
#[test]
fn dot_panel_clamps_to_what_fits() {
    let mut rng = Rng(11);
    let (points, panel) = (rng.vec_f32(5 * 8, 1.0), rng.vec_f32(8 * 32, 1.0));
    for path in dispatch::available() {
        let name = path.name;
        let mut full = vec![0.0; 5 * 32];
        (path.dot_panel_f32)(&points, &panel, 8, &mut full);
        let mut short = vec![f32::NAN; 2 * 32 + 6];
        (path.dot_panel_f32)(&points, &panel, 8, &mut short);
        assert_eq!(short[..64], full[..64], "{name}: the two points that fit");
        assert!(short[64..].iter().all(|x| x.is_nan()), "{name}");
        let mut none = vec![f32::NAN; 40];
        (path.dot_panel_f32)(&points, &panel, 0, &mut none);
        (path.dot_panel_f32)(&points, &panel[..7], 8, &mut none);
        (path.dot_panel_f32)(&points, &panel, 8, &mut []);
        assert!(none.iter().all(|x| x.is_nan()), "{name}");
    }
}
