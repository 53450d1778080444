//! Nearest-centroid search for many vectors at once, blocked like vec0's
//! batched scan: a block of points against a cache-sized block of centroids
//! through the many-queries kernel `dot_block_f32`, ranked by the norm trick
//! `||c||² - 2 x·c` (the point's own norm is the same for every centroid).
//! The chosen centroid's distance is then computed exactly with
//! `l2_squared_f32`, so the inertia does not carry the trick's rounding.

use std::ops::Range;

use crate::kernels::Kernels;

/// Points per block: their dot products with one centroid block stay in L1.
const POINT_BLOCK: usize = 64;
/// At most this many threads, whatever the caller asks for.
pub(crate) const MAX_THREADS: usize = 64;

/// Centroids per block: about 128 KiB of them, as vec0's batched scan uses.
fn centroid_block(dims: usize) -> usize {
    ((128 * 1024) / (dims * 4)).clamp(8, 512)
}

/// `||c||²` for every centroid.
pub(crate) fn squared_norms(kern: &Kernels, centroids: &[f32], dims: usize) -> Vec<f32> {
    centroids
        .chunks_exact(dims)
        .map(|c| (kern.dot_f32)(c, c))
        .collect()
}

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

/// Fills `into` for every point, on up to `threads` threads. `cnorms` are the
/// centroids' squared norms. Ties go to the lower centroid index.
pub(crate) fn nearest_all(
    kern: &Kernels,
    points: &[f32],
    centroids: &[f32],
    cnorms: &[f32],
    dims: usize,
    threads: usize,
    into: &mut Assignment,
) {
    let (labels, dists) = (&mut into.labels[..], &mut into.dists[..]);
    let n = labels.len().min(dists.len()).min(points.len() / dims);
    let threads = thread_count(threads, n, 4 * POINT_BLOCK);
    if threads <= 1 {
        nearest_range(kern, points, centroids, cnorms, dims, labels, dists);
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
            scope.spawn(move || nearest_range(kern, pts, centroids, cnorms, dims, l, d));
        }
    });
}

/// [`nearest_all`] on the calling thread.
fn nearest_range(
    kern: &Kernels,
    points: &[f32],
    centroids: &[f32],
    cnorms: &[f32],
    dims: usize,
    labels: &mut [u32],
    dists: &mut [f32],
) {
    let cb = centroid_block(dims);
    let mut out = vec![0f32; POINT_BLOCK * cb];
    let mut best = [(f32::INFINITY, 0u32); POINT_BLOCK];
    let blocks = points
        .chunks(POINT_BLOCK * dims)
        .zip(labels.chunks_mut(POINT_BLOCK))
        .zip(dists.chunks_mut(POINT_BLOCK));
    for ((pblock, lblock), dblock) in blocks {
        let np = lblock.len().min(pblock.len() / dims);
        best[..np].fill((f32::INFINITY, 0));
        for (bi, cblock) in centroids.chunks(cb * dims).enumerate() {
            let nc = cblock.len() / dims;
            let first = bi * cb;
            let out = &mut out[..np * nc];
            (kern.dot_block_f32)(&pblock[..np * dims], cblock, dims, out);
            for (row, b) in out.chunks_exact(nc).zip(&mut best[..np]) {
                for ((c, &dot), &norm) in row.iter().enumerate().zip(&cnorms[first..first + nc]) {
                    let score = norm - 2.0 * dot;
                    if score < b.0 {
                        *b = (score, (first + c) as u32);
                    }
                }
            }
        }
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

/// The `nprobe` centroids nearest to `query`, nearest first (ties by index).
pub(crate) fn nearest_n(
    kern: &Kernels,
    query: &[f32],
    centroids: &[f32],
    dims: usize,
    nprobe: usize,
) -> Vec<u32> {
    let nlist = centroids.len() / dims;
    let mut dots = vec![0f32; nlist];
    (kern.dot_block_f32)(query, centroids, dims, &mut dots);
    let cnorms = squared_norms(kern, centroids, dims);
    let mut scored: Vec<(f32, u32)> = dots
        .iter()
        .zip(&cnorms)
        .enumerate()
        .map(|(c, (&dot, &norm))| (norm - 2.0 * dot, c as u32))
        .collect();
    let order = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    let nprobe = nprobe.min(scored.len());
    if nprobe < scored.len() && nprobe > 0 {
        scored.select_nth_unstable_by(nprobe - 1, order);
        scored.truncate(nprobe);
    }
    scored.sort_unstable_by(order);
    scored.into_iter().take(nprobe).map(|(_, c)| c).collect()
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
