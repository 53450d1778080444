//! Nearest-centroid search for many vectors at once: a block of points against
//! each block of [`CentroidPanels`] through the outer-product kernel
//! `dot_panel_f32`, ranked by the norm trick `||c||² - 2 x·c`.
//! The chosen centroid's distance is then computed exactly with
//! `l2_squared_f32`, so the inertia does not carry the trick's rounding.

use std::ops::Range;

use super::panels::CentroidPanels;
use crate::kernels::Kernels;

/// Points per block: their dot products with one centroid block stay in L1.
const POINT_BLOCK: usize = 64;
/// At most this many threads, whatever the caller asks for.
pub(crate) const MAX_THREADS: usize = 64;

/// The threads worth starting for `items` units of work: at least one, at
/// most the request, the machine's cores and [`MAX_THREADS`], and no more
/// than one per `min_items`.
pub(crate) fn thread_count(requested: usize, items: usize, min_items: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    requested
        .min(cores)
        .min(MAX_THREADS)
        .min(items / min_items.max(1))
        .max(1)
}

/// Splits `0..n` into `parts` contiguous ranges whose starts are multiples of
/// `align` (the last range takes the rest).
pub(crate) fn split(n: usize, parts: usize, align: usize) -> Vec<Range<usize>> {
    let per = n.div_ceil(parts.max(1)).div_ceil(align) * align;
    (0..n)
        .step_by(per.max(1))
        .map(|s| s..(s + per).min(n))
        .collect()
}

/// Each point's nearest centroid and its squared distance to it.
pub(crate) struct Assignment {
    pub(crate) labels: Vec<u32>,
    pub(crate) dists: Vec<f32>,
}

impl Assignment {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            labels: vec![0; n],
            dists: vec![0.0; n],
        }
    }
}

/// Lanes of the running best centroid of one point: each lane keeps the best of
/// every 16th column, so the compare-and-select loop runs in SIMD registers (a
/// single running minimum would be a scalar loop as costly as the dot products
/// at 50 dimensions).
#[derive(Clone, Copy)]
struct Best {
    score: [f32; BEST_LANES],
    index: [u32; BEST_LANES],
}

const BEST_LANES: usize = 16;

impl Best {
    const EMPTY: Best = Best {
        score: [f32::INFINITY; BEST_LANES],
        index: [0; BEST_LANES],
    };

    /// Folds in the columns `first..` with their dot products `dots` and squared
    /// norms `norms` (both a multiple of [`BEST_LANES`] long), scored `norm - 2·dot`.
    #[inline]
    fn scan(&mut self, dots: &[f32], norms: &[f32], first: u32) {
        // Fixed-size arrays and locals: the loop compiles to a few vector ops per 16
        // columns (with slices and fields it stayed scalar, as costly as the dots).
        let (dots, _) = dots.as_chunks::<BEST_LANES>();
        let (norms, _) = norms.as_chunks::<BEST_LANES>();
        let (mut score, mut index) = (self.score, self.index);
        for (i, (dots, norms)) in dots.iter().zip(norms).enumerate() {
            let base = first + (i * BEST_LANES) as u32;
            for l in 0..BEST_LANES {
                let s = norms[l] - 2.0 * dots[l];
                let better = s < score[l];
                score[l] = if better { s } else { score[l] };
                index[l] = if better { base + l as u32 } else { index[l] };
            }
        }
        (self.score, self.index) = (score, index);
    }

    /// The best column: the lowest score, ties to the lower index (as a plain scan
    /// in column order keeps the first minimum).
    fn winner(&self) -> u32 {
        let mut best = (self.score[0], self.index[0]);
        for (&s, &i) in self.score.iter().zip(&self.index).skip(1) {
            if s < best.0 || (s == best.0 && i < best.1) {
                best = (s, i);
            }
        }
        best.1
    }
}

/// Fills `into` for every point, on up to `threads` threads. `panels` hold
/// `centroids`. Ties go to the lower centroid index.
pub(crate) fn nearest_all(
    kern: &Kernels,
    points: &[f32],
    centroids: &[f32],
    panels: &CentroidPanels,
    threads: usize,
    into: &mut Assignment,
) {
    let dims = panels.dims();
    let (labels, dists) = (&mut into.labels[..], &mut into.dists[..]);
    let n = labels.len().min(dists.len()).min(points.len() / dims);
    let threads = thread_count(threads, n, 4 * POINT_BLOCK);
    if threads <= 1 {
        nearest_range(kern, points, centroids, panels, labels, dists);
        return;
    }
    std::thread::scope(|scope| {
        let mut labels = &mut labels[..n];
        let mut dists = &mut dists[..n];
        for range in split(n, threads, POINT_BLOCK) {
            let (l, rest_l) = labels.split_at_mut(range.len());
            let (d, rest_d) = dists.split_at_mut(range.len());
            labels = rest_l;
            dists = rest_d;
            let pts = &points[range.start * dims..range.end * dims];
            scope.spawn(move || nearest_range(kern, pts, centroids, panels, l, d));
        }
    });
}

/// [`nearest_all`] on the calling thread.
fn nearest_range(
    kern: &Kernels,
    points: &[f32],
    centroids: &[f32],
    panels: &CentroidPanels,
    labels: &mut [u32],
    dists: &mut [f32],
) {
    let (dims, cb) = (panels.dims(), panels.width());
    let mut out = vec![0f32; POINT_BLOCK * cb];
    let mut best = [Best::EMPTY; POINT_BLOCK];
    let blocks = points
        .chunks(POINT_BLOCK * dims)
        .zip(labels.chunks_mut(POINT_BLOCK))
        .zip(dists.chunks_mut(POINT_BLOCK));
    for ((pblock, lblock), dblock) in blocks {
        let np = lblock.len().min(pblock.len() / dims);
        best[..np].fill(Best::EMPTY);
        for bi in 0..panels.blocks() {
            let first = bi * cb;
            let out = &mut out[..np * cb];
            (kern.dot_panel_f32)(&pblock[..np * dims], panels.block(bi), dims, out);
            for (row, b) in out.chunks_exact(cb).zip(&mut best[..np]) {
                b.scan(row, panels.block_norms(bi), first as u32);
            }
        }
        let best = best.map(|b| (0.0, b.winner()));
        for (p, (&(_, c), (label, dist))) in best[..np]
            .iter()
            .zip(lblock.iter_mut().zip(dblock.iter_mut()))
            .enumerate()
        {
            let c = c as usize;
            *label = c as u32;
            *dist = (kern.l2_squared_f32)(
                &pblock[p * dims..(p + 1) * dims],
                &centroids[c * dims..(c + 1) * dims],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_everything_once() {
        for (n, parts) in [(0, 3), (1, 4), (100, 3), (1000, 7), (64, 64)] {
            let ranges = split(n, parts, 8);
            let total: usize = ranges.iter().map(|r| r.len()).sum();
            assert_eq!(total, n, "{n} {parts}");
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
            assert!(ranges.iter().all(|r| r.start % 8 == 0));
            assert!(ranges.len() <= parts.max(1));
        }
    }

    #[test]
    fn thread_count_is_capped() {
        assert_eq!(thread_count(8, 10, 100), 1);
        assert_eq!(thread_count(0, 1_000_000, 1), 1);
        assert!(thread_count(1000, usize::MAX, 1) <= MAX_THREADS);
    }
}
