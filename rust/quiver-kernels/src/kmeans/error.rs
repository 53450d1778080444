//! What can go wrong when training or using k-means centroids.

use thiserror::Error;

/// A k-means input that cannot be clustered; every variant says what was
/// expected and what came.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KMeansError {
    #[error("k-means needs at least one cluster: k = 0")]
    ZeroClusters,
    #[error("k-means needs at least one vector to train on, got none")]
    NoVectors,
    #[error("k-means needs at least k = {k} vectors to train on, got {n}")]
    TooFewVectors { k: usize, n: usize },
    #[error("vectors must have at least one dimension, got dims = 0")]
    ZeroDimensions,
    #[error(
        "{what} holds {len} floats, which is not a whole number of {dims}-dimensional vectors"
    )]
    Ragged {
        what: &'static str,
        len: usize,
        dims: usize,
    },
    #[error("{what} has {got} dimensions, expected {expected}")]
    DimensionMismatch {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{what} row {row} holds a non-finite value (NaN or infinity)")]
    NonFinite { what: &'static str, row: usize },
    #[error("nprobe must be between 1 and the number of centroids ({nlist}), got {nprobe}")]
    NprobeOutOfRange { nprobe: usize, nlist: usize },
}
