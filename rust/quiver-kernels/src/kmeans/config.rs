//! The training settings of [`train`](super::train).

/// How the first centroids are picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Seeding {
    /// k-means++: each next centroid is a point drawn with probability
    /// proportional to its squared distance to the nearest centroid so far.
    #[default]
    KMeansPlusPlus,
    /// k distinct points drawn uniformly (the baseline k-means++ improves on).
    Random,
}

/// Training settings; [`KMeansConfig::new`] gives the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansConfig {
    /// Number of centroids.
    pub k: usize,
    /// Most Lloyd iterations (assignment + update); at least one assignment
    /// always runs.
    pub max_iter: usize,
    /// Stop once an iteration lowers the inertia by less than this fraction.
    pub tolerance: f64,
    /// Train on this many vectors drawn at random (all when `None` or when
    /// the table has fewer).
    pub sample_size: Option<usize>,
    /// Seed of the sampling and of the seeding.
    pub seed: u64,
    /// Threads for the assignment and the seeding (capped by the machine).
    pub threads: usize,
    /// Unit-norm centroids (cosine / angular data).
    pub spherical: bool,
    /// k-means++ (default) or random seeding.
    pub seeding: Seeding,
}

impl KMeansConfig {
    /// `k` clusters, 25 iterations, tolerance 1e-4, all vectors, seed 0, one
    /// thread, Euclidean, k-means++.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            max_iter: 25,
            tolerance: 1e-4,
            sample_size: None,
            seed: 0,
            threads: 1,
            spherical: false,
            seeding: Seeding::KMeansPlusPlus,
        }
    }
}
