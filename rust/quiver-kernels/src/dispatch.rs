//! Chooses the [`Kernels`] table once per process by run-time CPU feature
//! detection, among the scalar table and those the architecture modules hand
//! out. The checked entry points live in the `distance` module.

use std::sync::OnceLock;

pub use crate::kernels::Kernels;
use crate::scalar;

static SCALAR: Kernels = Kernels {
    name: "scalar",
    l2_squared_f32: scalar::l2_squared_f32,
    l1_f32: scalar::l1_f32,
    dot_f32: scalar::dot_f32,
    dot_and_norms_f32: scalar::dot_and_norms_f32,
    l2_squared_i8: scalar::l2_squared_i8,
    l1_i8: scalar::l1_i8,
    dot_i8: scalar::dot_i8,
    dot_and_norms_i8: scalar::dot_and_norms_i8,
    hamming: scalar::hamming,
    dot_block_f32: scalar::dot_block_f32,
    dot_panel_f32: scalar::dot_panel_f32,
};

/// The portable reference kernels; available everywhere.
pub fn scalar() -> &'static Kernels {
    &SCALAR
}

/// The fastest path this CPU supports, detected on first call and cached.
pub fn best() -> &'static Kernels {
    static BEST: OnceLock<&'static Kernels> = OnceLock::new();
    BEST.get_or_init(|| available().pop().unwrap_or(&SCALAR))
}

/// Every path this CPU can run, slowest first: scalar is always first and
/// the last entry is what [`best`] picks.
pub fn available() -> Vec<&'static Kernels> {
    let mut paths = vec![&SCALAR];
    #[cfg(target_arch = "x86_64")]
    {
        paths.extend(crate::x86::avx2());
        paths.extend(crate::x86::avx512());
    }
    #[cfg(target_arch = "aarch64")]
    paths.extend(crate::neon::neon());
    paths
}
