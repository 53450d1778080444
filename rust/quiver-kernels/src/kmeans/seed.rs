//! Initial centroids: k-means++ (D² sampling) or k distinct random points.

use super::assign::{split, thread_count};
use super::config::{KMeansConfig, Seeding};
use super::rng::SplitMix64;
use crate::kernels::Kernels;

/// `config.k` initial centroids (row-major, `k * dims` floats) drawn from
/// `points` as `config.seeding` says; spherical centroids are scaled to unit
/// norm. `points` holds at least `k` finite vectors (checked by the caller).
pub(crate) fn seed(
    kern: &Kernels,
    points: &[f32],
    dims: usize,
    config: &KMeansConfig,
    rng: &mut SplitMix64,
) -> Vec<f32> {
    let (n, k) = (points.len() / dims, config.k);
    let picked = match config.seeding {
        Seeding::Random => rng.distinct(n, k),
        Seeding::KMeansPlusPlus => plus_plus(kern, points, dims, k, config.threads, rng),
    };
    let mut centroids = Vec::with_capacity(k * dims);
    for i in picked {
        centroids.extend_from_slice(&points[i * dims..(i + 1) * dims]);
    }
    if config.spherical {
        for c in centroids.chunks_exact_mut(dims) {
            normalize(kern, c);
        }
    }
    centroids
}

/// Scales `v` to unit norm; a zero vector is left as it is.
pub(crate) fn normalize(kern: &Kernels, v: &mut [f32]) {
    let norm = (kern.dot_f32)(v, v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// k-means++ draws from at most this many points per centroid (an evenly strided
/// subset): each pick updates every candidate's distance, so seeding on the whole
/// training sample cost O(k · n) distances, as much as several Lloyd iterations,
/// for no better start (the iterations that follow see every point).
pub(crate) const SEED_POINTS_PER_CENTROID: usize = 16;

/// Indices of the k-means++ picks (into `points`), drawn from an evenly strided
/// subset of at most `SEED_POINTS_PER_CENTROID * k` points.
fn plus_plus(
    kern: &Kernels,
    points: &[f32],
    dims: usize,
    k: usize,
    threads: usize,
    rng: &mut SplitMix64,
) -> Vec<usize> {
    let all = points.len() / dims;
    let m = k.saturating_mul(SEED_POINTS_PER_CENTROID).max(k);
    // The rows drawn from (every row when there are few).
    let rows: Vec<usize> = if all > m {
        let step = all as f64 / m as f64;
        (0..m)
            .map(|i| ((i as f64 * step) as usize).min(all - 1))
            .collect()
    } else {
        (0..all).collect()
    };
    let subset;
    let points = if rows.len() < all {
        subset = rows
            .iter()
            .flat_map(|&r| &points[r * dims..(r + 1) * dims])
            .copied()
            .collect::<Vec<f32>>();
        &subset[..]
    } else {
        points
    };
    let n = rows.len();
    let mut picked = Vec::with_capacity(k);
    let mut mind = vec![f32::INFINITY; n];
    let threads = thread_count(threads, n, 4096);
    let mut next = rng.below(n);
    loop {
        picked.push(rows[next]);
        if picked.len() == k {
            return picked;
        }
        let c = &points[next * dims..(next + 1) * dims];
        lower_distances(kern, points, c, dims, threads, &mut mind);
        let total: f64 = mind.iter().map(|&d| f64::from(d)).sum();
        next = if total > 0.0 && total.is_finite() {
            draw(&mind, total * rng.next_f64())
        } else {
            // Every point sits on a centroid already: any point will do.
            rng.below(n)
        };
    }
}

/// The first index where the running sum of `weights` passes `target`.
fn draw(weights: &[f32], target: f64) -> usize {
    let mut acc = 0.0f64;
    for (i, &w) in weights.iter().enumerate() {
        acc += f64::from(w);
        if acc > target && w > 0.0 {
            return i;
        }
    }
    // Rounding left the target at the very end: the last point with weight.
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

/// `mind[i] = min(mind[i], ||points[i] - c||²)`.
fn lower_distances(
    kern: &Kernels,
    points: &[f32],
    c: &[f32],
    dims: usize,
    threads: usize,
    mind: &mut [f32],
) {
    let lower = |pts: &[f32], md: &mut [f32]| {
        for (p, m) in pts.chunks_exact(dims).zip(md) {
            let d = (kern.l2_squared_f32)(p, c);
            if d < *m {
                *m = d;
            }
        }
    };
    if threads <= 1 {
        lower(points, mind);
        return;
    }
    std::thread::scope(|scope| {
        let mut rest = mind;
        for range in split(rest.len(), threads, 1) {
            let (md, tail) = rest.split_at_mut(range.len());
            rest = tail;
            let pts = &points[range.start * dims..range.end * dims];
            scope.spawn(move || lower(pts, md));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_plus_picks_distinct_points_from_a_strided_subset() {
        // 3 well-separated blobs of 200 points each, k = 3: far more points than
        // SEED_POINTS_PER_CENTROID * k, so the picks come from the subset, map back to
        // indices of `points`, and land one per blob.
        let dims = 2;
        let mut points = Vec::new();
        for (b, center) in [(0.0f32, 0.0f32), (100.0, 0.0), (0.0, 100.0)]
            .iter()
            .enumerate()
        {
            for i in 0..200 {
                let jitter = ((i * 7 + b) % 11) as f32 * 0.01;
                points.extend_from_slice(&[center.0 + jitter, center.1 - jitter]);
            }
        }
        let kern = crate::dispatch::scalar();
        let mut rng = SplitMix64::new(3);
        let picked = plus_plus(kern, &points, dims, 3, 1, &mut rng);
        assert_eq!(picked.len(), 3);
        let mut blobs: Vec<usize> = picked.iter().map(|&i| i / 200).collect();
        blobs.sort_unstable();
        assert_eq!(blobs, [0, 1, 2], "{picked:?}");
        assert!(picked.iter().all(|&i| i < 600));
    }

    #[test]
    fn draw_follows_the_weights() {
        let w = [0.0, 1.0, 0.0, 3.0];
        assert_eq!(draw(&w, 0.0), 1);
        assert_eq!(draw(&w, 0.99), 1);
        assert_eq!(draw(&w, 1.0), 3);
        assert_eq!(draw(&w, 3.99), 3);
        assert_eq!(draw(&w, 4.0), 3);
    }
}
