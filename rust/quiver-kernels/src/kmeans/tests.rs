use super::rng::SplitMix64;
use super::*;
use crate::dispatch;

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut SplitMix64) -> f32 {
    let u = rng.next_f64().max(1e-300);
    let v = rng.next_f64();
    ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
}

/// `sizes[i]` points around each of `sizes.len()` random centers spread with
/// standard deviation `spread`, noise `noise`; returns the points and each
/// point's true cluster.
fn mixture(
    seed: u64,
    dims: usize,
    sizes: &[usize],
    spread: f32,
    noise: f32,
) -> (Vec<f32>, Vec<usize>) {
    let mut rng = SplitMix64::new(seed);
    let centers: Vec<f32> = (0..sizes.len() * dims)
        .map(|_| spread * normal(&mut rng))
        .collect();
    let mut points = Vec::new();
    let mut truth = Vec::new();
    for (c, &size) in sizes.iter().enumerate() {
        for _ in 0..size {
            for d in 0..dims {
                points.push(centers[c * dims + d] + noise * normal(&mut rng));
            }
            truth.push(c);
        }
    }
    (points, truth)
}

fn quiet() -> impl FnMut(usize, usize) {
    |_, _| {}
}

fn brute_nearest(points: &[f32], centroids: &[f32], dims: usize) -> Vec<(u32, f32)> {
    let scalar = dispatch::scalar();
    points
        .chunks_exact(dims)
        .map(|p| {
            centroids
                .chunks_exact(dims)
                .enumerate()
                .map(|(c, cv)| (c as u32, (scalar.l2_squared_f32)(p, cv)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((0, f32::INFINITY))
        })
        .collect()
}

#[test]
fn recovers_well_separated_clusters() {
    let dims = 16;
    let (points, truth) = mixture(3, dims, &[150, 80, 200, 120, 60, 90, 110, 140], 10.0, 0.2);
    let mut config = KMeansConfig::new(8);
    config.seed = 11;
    let model = train(&points, dims, &config, &mut quiet()).expect("train");
    let labels = assign(&points, &model.centroids, dims, 1).expect("assign");
    // Each true cluster lands in exactly one centroid, and no two share one.
    let mut label_of = vec![None; 8];
    for (&t, &l) in truth.iter().zip(&labels) {
        match label_of[t] {
            None => label_of[t] = Some(l),
            Some(seen) => assert_eq!(seen, l, "cluster {t} split between centroids"),
        }
    }
    let mut used: Vec<u32> = label_of
        .iter()
        .map(|l| l.expect("every cluster seen"))
        .collect();
    used.sort_unstable();
    used.dedup();
    assert_eq!(used.len(), 8, "two clusters merged: {label_of:?}");
    // The inertia is the noise: about n * dims * noise².
    let expected = points.len() as f64 * 0.04;
    assert!(
        model.inertia() < 1.2 * expected,
        "{} vs {expected}",
        model.inertia()
    );
}

#[test]
fn inertia_never_increases() {
    let dims = 8;
    let (points, _) = mixture(5, dims, &[100; 12], 1.5, 1.0);
    for seeding in [Seeding::KMeansPlusPlus, Seeding::Random] {
        for spherical in [false, true] {
            let mut config = KMeansConfig::new(20);
            config.tolerance = 0.0;
            config.max_iter = 20;
            config.seeding = seeding;
            config.spherical = spherical;
            let model = train(&points, dims, &config, &mut quiet()).expect("train");
            assert!(model.iterations() > 3, "{seeding:?} {spherical}");
            for w in model.inertia_history.windows(2) {
                assert!(
                    w[1] <= w[0] * (1.0 + 1e-6),
                    "{seeding:?} spherical={spherical}: {:?}",
                    model.inertia_history
                );
            }
        }
    }
}

#[test]
fn empty_clusters_are_repaired() {
    // 200 copies of one point and 6 distinct others: random seeding puts
    // several centroids on the copies, which then all go to the first of them.
    let dims = 4;
    let mut points = vec![1.0f32; 200 * dims];
    for i in 0..6 {
        points.extend((0..dims).map(|d| (10 * i + d) as f32));
    }
    let mut config = KMeansConfig::new(7);
    config.seeding = Seeding::Random;
    config.seed = 2;
    config.tolerance = 0.0;
    let model = train(&points, dims, &config, &mut quiet()).expect("train");
    let labels = assign(&points, &model.centroids, dims, 1).expect("assign");
    let mut used = labels.clone();
    used.sort_unstable();
    used.dedup();
    assert_eq!(used.len(), 7, "an empty cluster was left: {labels:?}");
    assert!(model.inertia() < 1e-6, "{:?}", model.inertia_history);
    for w in model.inertia_history.windows(2) {
        assert!(w[1] <= w[0] * (1.0 + 1e-6), "{:?}", model.inertia_history);
    }
}

#[test]
fn plus_plus_beats_random_seeding_on_average() {
    let dims = 8;
    let sizes: Vec<usize> = (0..30).map(|i| 20 + 7 * (i % 9)).collect();
    let (points, _) = mixture(8, dims, &sizes, 6.0, 0.5);
    let mean_inertia = |seeding| {
        let runs = 6;
        let total: f64 = (0..runs)
            .map(|seed| {
                let mut config = KMeansConfig::new(30);
                config.seed = seed;
                config.seeding = seeding;
                config.max_iter = 5;
                train(&points, dims, &config, &mut quiet())
                    .expect("train")
                    .inertia()
            })
            .sum();
        total / runs as f64
    };
    let plus_plus = mean_inertia(Seeding::KMeansPlusPlus);
    let random = mean_inertia(Seeding::Random);
    assert!(
        plus_plus < 0.9 * random,
        "k-means++ {plus_plus} vs random {random}"
    );
}

#[test]
fn deterministic_with_a_seed_whatever_the_threads() {
    let dims = 12;
    let (points, _) = mixture(9, dims, &[500; 4], 2.0, 1.0);
    let mut config = KMeansConfig::new(16);
    config.seed = 42;
    config.sample_size = Some(1200);
    config.max_iter = 8;
    let a = train(&points, dims, &config, &mut quiet()).expect("train");
    let b = train(&points, dims, &config, &mut quiet()).expect("train");
    assert_eq!(a, b);
    assert_eq!(a.trained_on, 1200);
    config.threads = 4;
    let threaded = train(&points, dims, &config, &mut quiet()).expect("train");
    assert_eq!(a, threaded);
    config.seed = 43;
    let other = train(&points, dims, &config, &mut quiet()).expect("train");
    assert_ne!(a.centroids, other.centroids);
}

#[test]
fn spherical_centroids_have_unit_norm() {
    let dims = 10;
    let (mut points, truth) = mixture(4, dims, &[100; 5], 5.0, 0.1);
    for p in points.chunks_exact_mut(dims) {
        let norm = p.iter().map(|x| x * x).sum::<f32>().sqrt();
        p.iter_mut().for_each(|x| *x /= norm);
    }
    let mut config = KMeansConfig::new(5);
    config.spherical = true;
    let model = train(&points, dims, &config, &mut quiet()).expect("train");
    for c in model.centroids.chunks_exact(dims) {
        let norm = c.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }
    let labels = assign(&points, &model.centroids, dims, 1).expect("assign");
    for c in 0..5 {
        let mine: Vec<u32> = labels
            .iter()
            .zip(&truth)
            .filter(|(_, &t)| t == c)
            .map(|(&l, _)| l)
            .collect();
        assert!(mine.iter().all(|&l| l == mine[0]), "cluster {c} split");
    }
}

#[test]
fn blocked_assignment_matches_the_scalar_path() {
    // Enough centroids for several centroid blocks, and a ragged last block.
    let dims = 37;
    let (points, _) = mixture(12, dims, &[101, 90, 109], 1.0, 1.0);
    let (centroids, _) = mixture(13, dims, &[600], 1.0, 1.0);
    let expected = brute_nearest(&points, &centroids, dims);
    for kern in dispatch::available() {
        let got = assign_with(kern, &points, &centroids, dims, 3).expect("assign");
        for (i, (&label, &(want, want_d))) in got.iter().zip(&expected).enumerate() {
            if label != want {
                // A near tie: the chosen centroid must be as close.
                let p = &points[i * dims..(i + 1) * dims];
                let c = &centroids[label as usize * dims..(label as usize + 1) * dims];
                let d = (dispatch::scalar().l2_squared_f32)(p, c);
                assert!(
                    (d - want_d).abs() <= 1e-4 * want_d.max(1.0),
                    "{}: point {i} got centroid {label} at {d}, nearest {want} at {want_d}",
                    kern.name
                );
            }
        }
    }
}

#[test]
fn nearest_lists_ranks_like_brute_force() {
    let dims = 9;
    let (centroids, _) = mixture(21, dims, &[50], 1.0, 1.0);
    let (queries, _) = mixture(22, dims, &[20], 1.0, 1.0);
    let scalar = dispatch::scalar();
    for q in queries.chunks_exact(dims) {
        let mut want: Vec<(f32, u32)> = centroids
            .chunks_exact(dims)
            .enumerate()
            .map(|(c, cv)| ((scalar.l2_squared_f32)(q, cv), c as u32))
            .collect();
        want.sort_by(|a, b| a.0.total_cmp(&b.0));
        let got = nearest_lists(q, &centroids, dims, 7).expect("nearest");
        assert_eq!(got.len(), 7);
        assert_eq!(got[0], want[0].1);
        for (i, &c) in got.iter().enumerate() {
            let d = (scalar.l2_squared_f32)(q, &centroids[c as usize * dims..][..dims]);
            assert!(
                (d - want[i].0).abs() <= 1e-4 * want[i].0.max(1.0),
                "rank {i}"
            );
        }
        let mut all = nearest_lists(q, &centroids, dims, 50).expect("all");
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<u32>>());
    }
}

#[test]
fn panel_scores_are_squared_distances_less_the_query_norm() {
    // 200 dimensions make blocks of 160 columns: 400 centroids span three
    // blocks, the last one padded.
    for (dims, k) in [(200, 400), (50, 7), (3, 1)] {
        let (centroids, _) = mixture(31, dims, &[k], 1.0, 1.0);
        let (queries, _) = mixture(32, dims, &[5], 1.0, 1.0);
        let scalar = dispatch::scalar();
        for kern in dispatch::available() {
            let panels = CentroidPanels::new(kern, &centroids, dims);
            assert_eq!(panels.len(), k);
            let mut scores = vec![f32::NAN; 3];
            for q in queries.chunks_exact(dims) {
                panels.scores(kern, q, &mut scores);
                assert_eq!(scores.len(), k, "{}", kern.name);
                let qn = (scalar.dot_f32)(q, q);
                for (c, &s) in scores.iter().enumerate() {
                    let want = (scalar.l2_squared_f32)(q, &centroids[c * dims..][..dims]);
                    assert!(
                        (s + qn - want).abs() <= 1e-3 * want.max(qn).max(1.0),
                        "{} dims {dims} centroid {c}: {} vs {want}",
                        kern.name,
                        s + qn
                    );
                }
            }
            // A query of the wrong length scores nothing.
            panels.scores(kern, &queries[..dims - 1], &mut scores);
            assert!(scores.is_empty());
        }
    }
}

#[test]
fn progress_runs_from_seeding_to_done() {
    let dims = 4;
    let (points, _) = mixture(1, dims, &[100; 3], 3.0, 1.0);
    let mut calls = Vec::new();
    let mut config = KMeansConfig::new(3);
    config.max_iter = 5;
    train(&points, dims, &config, &mut |done, total| {
        calls.push((done, total))
    })
    .expect("train");
    assert_eq!(calls.first(), Some(&(1, 6)));
    assert_eq!(calls.last(), Some(&(6, 6)));
    assert!(calls
        .windows(2)
        .all(|w| w[0].0 <= w[1].0 && w[0].1 == w[1].1));
}

#[test]
fn errors_say_what_was_expected() {
    let v = [0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0];
    let cfg = |k| KMeansConfig::new(k);
    let err = |r: Result<KMeans, KMeansError>| r.expect_err("must fail");
    assert_eq!(
        err(train(&v, 2, &cfg(0), &mut quiet())),
        KMeansError::ZeroClusters
    );
    assert_eq!(
        err(train(&[], 2, &cfg(1), &mut quiet())),
        KMeansError::NoVectors
    );
    assert_eq!(
        err(train(&v, 2, &cfg(4), &mut quiet())),
        KMeansError::TooFewVectors { k: 4, n: 3 }
    );
    let mut sampled = cfg(3);
    sampled.sample_size = Some(2);
    assert_eq!(
        err(train(&v, 2, &sampled, &mut quiet())),
        KMeansError::TooFewVectors { k: 3, n: 2 }
    );
    assert_eq!(
        err(train(&v, 4, &cfg(1), &mut quiet())),
        KMeansError::Ragged {
            what: "vectors",
            len: 6,
            dims: 4
        }
    );
    assert_eq!(
        err(train(&v, 0, &cfg(1), &mut quiet())),
        KMeansError::ZeroDimensions
    );
    let bad = [0.0f32, 1.0, 2.0, f32::NAN];
    assert_eq!(
        err(train(&bad, 2, &cfg(1), &mut quiet())),
        KMeansError::NonFinite {
            what: "vectors",
            row: 1
        }
    );
    let inf = [f32::INFINITY, 1.0];
    assert_eq!(
        assign(&v, &inf, 2, 1),
        Err(KMeansError::NonFinite {
            what: "centroids",
            row: 0
        })
    );
    assert_eq!(assign(&v, &[], 2, 1), Err(KMeansError::ZeroClusters));
    assert_eq!(
        assign(&v, &[1.0, 2.0, 3.0], 2, 1),
        Err(KMeansError::Ragged {
            what: "centroids",
            len: 3,
            dims: 2
        })
    );
    assert_eq!(
        nearest_lists(&[1.0], &v, 2, 1),
        Err(KMeansError::DimensionMismatch {
            what: "query",
            expected: 2,
            got: 1
        })
    );
    assert_eq!(
        nearest_lists(&[1.0, 2.0], &v, 2, 0),
        Err(KMeansError::NprobeOutOfRange {
            nprobe: 0,
            nlist: 3
        })
    );
    assert_eq!(
        nearest_lists(&[1.0, 2.0], &v, 2, 4),
        Err(KMeansError::NprobeOutOfRange {
            nprobe: 4,
            nlist: 3
        })
    );
    // The messages name both sides.
    let msg = KMeansError::TooFewVectors { k: 4, n: 3 }.to_string();
    assert!(msg.contains("k = 4") && msg.contains("got 3"), "{msg}");
}
