//! k-means for training IVF centroids, on the crate's dispatched kernels.
//!
//! * [`train`]: k-means++ seeding (or random, for comparison) on a sample of
//!   the vectors drawn with a seed, then Lloyd iterations with blocked
//!   assignment until the inertia improves by less than a tolerance or an
//!   iteration cap is reached. Empty clusters are repaired by splitting the
//!   largest cluster: the empty centroid moves onto that cluster's point
//!   farthest from its centroid, which can only lower the inertia. The
//!   spherical variant keeps centroids at unit norm (cosine / angular data).
//! * [`assign`]: the nearest centroid of every vector (an IVF list number).
//! * [`nearest_lists`]: the `nprobe` lists a query should probe; a caller that
//!   probes many times keeps the [`CentroidPanels`] and ranks by their scores.
//!
//! Everything is deterministic for a given seed, whatever the thread count:
//! threads split the assignment by points, and the centroid sums are added
//! in point order on one thread.

mod assign;
mod config;
mod error;
mod panels;
mod rng;
mod seed;

#[cfg(test)]
mod tests;

pub use config::{KMeansConfig, Seeding};
pub use error::KMeansError;
pub use panels::CentroidPanels;

use assign::Assignment;

use crate::dispatch::best;
use crate::kernels::Kernels;
use rng::SplitMix64;

/// Trained centroids and how the training went.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    /// `k * dims` floats, row-major.
    pub centroids: Vec<f32>,
    pub dims: usize,
    pub k: usize,
    /// Sum of squared distances of the training vectors to their centroid,
    /// after each assignment (the last one belongs to `centroids`).
    pub inertia_history: Vec<f64>,
    /// Vectors trained on (the sample size).
    pub trained_on: usize,
}

impl KMeans {
    /// The final inertia on the training vectors.
    pub fn inertia(&self) -> f64 {
        self.inertia_history.last().copied().unwrap_or(0.0)
    }

    /// Assignments run (one per Lloyd iteration).
    pub fn iterations(&self) -> usize {
        self.inertia_history.len()
    }
}

/// Trains `config.k` centroids on `vectors` (row-major, `dims` floats each).
/// `progress(done, total)` is called after the seeding and after every
/// iteration, and with `done == total` at the end.
pub fn train(
    vectors: &[f32],
    dims: usize,
    config: &KMeansConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<KMeans, KMeansError> {
    train_with(best(), vectors, dims, config, progress)
}

/// The nearest centroid of every vector, on up to `threads` threads.
pub fn assign(
    vectors: &[f32],
    centroids: &[f32],
    dims: usize,
    threads: usize,
) -> Result<Vec<u32>, KMeansError> {
    assign_with(best(), vectors, centroids, dims, threads)
}

/// The `nprobe` centroids nearest to `query` (by squared Euclidean distance,
/// which for unit-norm centroids ranks like cosine), nearest first.
pub fn nearest_lists(
    query: &[f32],
    centroids: &[f32],
    dims: usize,
    nprobe: usize,
) -> Result<Vec<u32>, KMeansError> {
    let nlist = check_rows("centroids", centroids, dims)?;
    if query.len() != dims {
        return Err(KMeansError::DimensionMismatch {
            what: "query",
            expected: dims,
            got: query.len(),
        });
    }
    check_finite("query", query, dims)?;
    if nprobe == 0 || nprobe > nlist {
        return Err(KMeansError::NprobeOutOfRange { nprobe, nlist });
    }
    let kern = best();
    let mut scores = Vec::new();
    CentroidPanels::new(kern, centroids, dims).scores(kern, query, &mut scores);
    let mut ranked: Vec<(f32, u32)> = scores.into_iter().zip(0..).collect();
    let order = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    if nprobe < ranked.len() {
        ranked.select_nth_unstable_by(nprobe - 1, order);
        ranked.truncate(nprobe);
    }
    ranked.sort_unstable_by(order);
    Ok(ranked.into_iter().map(|(_, c)| c).collect())
}

/// [`assign`] on the given kernel table.
pub(crate) fn assign_with(
    kern: &Kernels,
    vectors: &[f32],
    centroids: &[f32],
    dims: usize,
    threads: usize,
) -> Result<Vec<u32>, KMeansError> {
    let n = check_rows("vectors", vectors, dims)?;
    let k = check_rows("centroids", centroids, dims)?;
    if k == 0 {
        return Err(KMeansError::ZeroClusters);
    }
    check_finite("vectors", vectors, dims)?;
    check_finite("centroids", centroids, dims)?;
    let mut found = Assignment::new(n);
    let panels = CentroidPanels::new(kern, centroids, dims);
    assign::nearest_all(kern, vectors, centroids, &panels, threads, &mut found);
    Ok(found.labels)
}

/// [`train`] on the given kernel table.
pub(crate) fn train_with(
    kern: &Kernels,
    vectors: &[f32],
    dims: usize,
    config: &KMeansConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<KMeans, KMeansError> {
    let k = config.k;
    if k == 0 {
        return Err(KMeansError::ZeroClusters);
    }
    let n = check_rows("vectors", vectors, dims)?;
    if n == 0 {
        return Err(KMeansError::NoVectors);
    }
    check_finite("vectors", vectors, dims)?;
    let mut rng = SplitMix64::new(config.seed);
    let sampled;
    let points: &[f32] = match config.sample_size {
        Some(m) if m < n => {
            sampled = gather(vectors, dims, &rng.distinct(n, m));
            &sampled
        }
        _ => vectors,
    };
    let n = points.len() / dims;
    if k > n {
        return Err(KMeansError::TooFewVectors { k, n });
    }
    let max_iter = config.max_iter.max(1);
    let total = max_iter + 1;
    let mut centroids = seed::seed(kern, points, dims, config, &mut rng);
    progress(1, total);

    let mut found = Assignment::new(n);
    let mut history = Vec::with_capacity(max_iter);
    for iter in 0..max_iter {
        let panels = CentroidPanels::new(kern, &centroids, dims);
        assign::nearest_all(
            kern,
            points,
            &centroids,
            &panels,
            config.threads,
            &mut found,
        );
        let inertia: f64 = found.dists.iter().map(|&d| f64::from(d)).sum();
        let previous = history.last().copied();
        history.push(inertia);
        progress(iter + 2, total);
        let converged = previous
            .is_some_and(|p: f64| inertia == 0.0 || p - inertia <= config.tolerance * p.abs());
        if converged || iter + 1 == max_iter {
            break;
        }
        update(
            kern,
            points,
            dims,
            &mut found,
            &mut centroids,
            config.spherical,
        );
    }
    progress(total, total);
    Ok(KMeans {
        centroids,
        dims,
        k,
        inertia_history: history,
        trained_on: n,
    })
}

/// The update step: every centroid becomes the mean of its points (scaled to
/// unit norm when spherical), then the empty clusters are repaired.
fn update(
    kern: &Kernels,
    points: &[f32],
    dims: usize,
    found: &mut Assignment,
    centroids: &mut [f32],
    spherical: bool,
) {
    let k = centroids.len() / dims;
    let mut sums = vec![0f64; k * dims];
    let mut counts = vec![0usize; k];
    for (p, &label) in points.chunks_exact(dims).zip(&found.labels) {
        let c = label as usize;
        counts[c] += 1;
        for (s, &x) in sums[c * dims..(c + 1) * dims].iter_mut().zip(p) {
            *s += f64::from(x);
        }
    }
    for ((c, s), &count) in centroids
        .chunks_exact_mut(dims)
        .zip(sums.chunks_exact(dims))
        .zip(&counts)
    {
        if count == 0 {
            continue;
        }
        if spherical {
            let norm = s.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 0.0 {
                c.iter_mut()
                    .zip(s)
                    .for_each(|(c, &s)| *c = (s / norm) as f32);
            }
        } else {
            let count = count as f64;
            c.iter_mut()
                .zip(s)
                .for_each(|(c, &s)| *c = (s / count) as f32);
        }
    }
    repair_empty(kern, points, dims, found, centroids, &mut counts, spherical);
}

/// Moves each empty cluster's centroid onto the point of the currently
/// largest cluster that lies farthest from its centroid, and hands that
/// point over. Since `k <= n`, a cluster with two or more points exists
/// whenever one is empty.
fn repair_empty(
    kern: &Kernels,
    points: &[f32],
    dims: usize,
    found: &mut Assignment,
    centroids: &mut [f32],
    counts: &mut [usize],
    spherical: bool,
) {
    for empty in 0..counts.len() {
        if counts[empty] != 0 {
            continue;
        }
        let Some(largest) = (0..counts.len()).max_by_key(|&c| (counts[c], std::cmp::Reverse(c)))
        else {
            return;
        };
        if counts[largest] < 2 {
            return;
        }
        let farthest = found
            .labels
            .iter()
            .zip(&found.dists)
            .enumerate()
            .filter(|(_, (&l, _))| l as usize == largest)
            .max_by(|a, b| a.1 .1.total_cmp(b.1 .1).then(b.0.cmp(&a.0)))
            .map(|(i, _)| i);
        let Some(i) = farthest else { return };
        let c = &mut centroids[empty * dims..(empty + 1) * dims];
        c.copy_from_slice(&points[i * dims..(i + 1) * dims]);
        if spherical {
            seed::normalize(kern, c);
        }
        found.labels[i] = empty as u32;
        found.dists[i] = 0.0;
        counts[largest] -= 1;
        counts[empty] = 1;
    }
}

/// The rows of `vectors` at `rows`, packed.
fn gather(vectors: &[f32], dims: usize, rows: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * dims);
    for &r in rows {
        out.extend_from_slice(&vectors[r * dims..(r + 1) * dims]);
    }
    out
}

/// The number of `dims`-float rows in `data`, or why it is not whole.
fn check_rows(what: &'static str, data: &[f32], dims: usize) -> Result<usize, KMeansError> {
    if dims == 0 {
        return Err(KMeansError::ZeroDimensions);
    }
    if !data.len().is_multiple_of(dims) {
        return Err(KMeansError::Ragged {
            what,
            len: data.len(),
            dims,
        });
    }
    Ok(data.len() / dims)
}

/// The first row holding NaN or an infinity, as an error.
fn check_finite(what: &'static str, data: &[f32], dims: usize) -> Result<(), KMeansError> {
    match data.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(KMeansError::NonFinite {
            what,
            row: i / dims,
        }),
        None => Ok(()),
    }
}
