//! Distance metrics, as vec0's `distance_metric=` and the `vec_distance_*` functions
//! name them.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    L2,
    L1,
    Cosine,
    /// Negative inner product (smaller is closer), as `vec_distance_dot`.
    Dot,
    /// Differing bits, for bit vectors.
    Hamming,
}

impl Metric {
    /// The name in `distance_metric=...`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::L1 => "l1",
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
            Metric::Hamming => "hamming",
        }
    }

    /// The SQL function computing this distance.
    pub fn function_name(self) -> &'static str {
        match self {
            Metric::L2 => "vec_distance_l2",
            Metric::L1 => "vec_distance_l1",
            Metric::Cosine => "vec_distance_cosine",
            Metric::Dot => "vec_distance_dot",
            Metric::Hamming => "vec_distance_hamming",
        }
    }
}
