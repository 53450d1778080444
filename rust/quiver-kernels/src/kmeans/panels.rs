//! Centroids transposed for the outer-product kernel `dot_panel_f32`, shared by
//! k-means assignment (many points at once) and IVF probing (one query at a
//! time): distances to every centroid rank by the norm trick `||c||² - 2 x·c`
//! (the point's own norm is the same for every centroid).

use crate::kernels::Kernels;
use crate::PANEL_COLS;

/// Centroids per block: about 128 KiB of them, a whole number of panel tiles.
fn centroid_block(dims: usize) -> usize {
    ((128 * 1024) / (dims.max(1) * 4) / PANEL_COLS).clamp(1, 16) * PANEL_COLS
}

/// The centroids transposed into blocks: block `b` holds centroids `b * width ..`
/// as `dims` rows of `width` floats (the last one zero padded), so points meet
/// them as an outer product with no horizontal sums (dimensions like 50 waste
/// most of a pairwise dot kernel); plus every centroid's squared norm (+inf in
/// the padding, so a padding column never wins).
#[derive(Clone, Debug, Default)]
pub struct CentroidPanels {
    k: usize,
    dims: usize,
    width: usize,
    data: Vec<f32>,
    norms: Vec<f32>,
}

impl CentroidPanels {
    /// Panels of `centroids` (row-major, `dims` floats each; a ragged tail is
    /// ignored).
    pub fn new(kern: &Kernels, centroids: &[f32], dims: usize) -> Self {
        let dims = dims.max(1);
        let width = centroid_block(dims);
        let k = centroids.len() / dims;
        let blocks = k.div_ceil(width);
        let mut data = vec![0f32; blocks * dims * width];
        let mut norms = vec![f32::INFINITY; blocks * width];
        for (c, x) in centroids.chunks_exact(dims).enumerate() {
            let block = &mut data[(c / width) * dims * width..];
            for (d, &v) in x.iter().enumerate() {
                block[d * width + c % width] = v;
            }
            norms[c] = (kern.dot_f32)(x, x);
        }
        Self {
            k,
            dims,
            width,
            data,
            norms,
        }
    }

    /// The number of centroids.
    pub fn len(&self) -> usize {
        self.k
    }

    pub fn is_empty(&self) -> bool {
        self.k == 0
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        (self.data.capacity() + self.norms.capacity()) * 4
    }

    /// `out[c] = ||c||² - 2 query·c` for every centroid `c` (the squared distance
    /// less `||query||²`); `out` is resized to [`Self::len`].
    pub fn scores(&self, kern: &Kernels, query: &[f32], out: &mut Vec<f32>) {
        out.clear();
        if query.len() != self.dims {
            return;
        }
        out.resize(self.blocks() * self.width, 0.0);
        for (b, out) in out.chunks_exact_mut(self.width).enumerate() {
            (kern.dot_panel_f32)(query, self.block(b), self.dims, out);
            for (o, &n) in out.iter_mut().zip(self.block_norms(b)) {
                *o = n - 2.0 * *o;
            }
        }
        out.truncate(self.k);
    }

    pub(crate) fn dims(&self) -> usize {
        self.dims
    }

    /// Columns per block.
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    pub(crate) fn blocks(&self) -> usize {
        self.norms.len() / self.width
    }

    /// Block `b`: `dims` rows of [`Self::width`] floats.
    pub(crate) fn block(&self, b: usize) -> &[f32] {
        let size = self.dims * self.width;
        &self.data[b * size..(b + 1) * size]
    }

    /// The squared norms of block `b`'s columns.
    pub(crate) fn block_norms(&self, b: usize) -> &[f32] {
        &self.norms[b * self.width..(b + 1) * self.width]
    }
}
