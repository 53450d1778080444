//! The kernel table: one set of function pointers per instruction-set path,
//! chosen once per process by run-time CPU feature detection.
//!
//! Every pointer is a safe function. The SIMD tables are built only by the
//! architecture modules, which hand them out only after detecting the CPU
//! features their kernels need, so holding a `&Kernels` is proof that its
//! functions may run on this CPU.
//!
//! The kernels read only the common prefix of two slices of different lengths;
//! they never panic. The checked entry points live in [`crate::distance`].

use std::sync::OnceLock;

use crate::scalar;

/// One instruction-set path's kernels.
// The plain `fn` field types are the contract other crates code against;
// type aliases would only hide them.
#[allow(clippy::type_complexity)]
#[derive(Clone, Copy)]
pub struct Kernels {
    /// "scalar", "avx2+fma", "avx512" or "neon".
    pub name: &'static str,
    pub l2_squared_f32: fn(&[f32], &[f32]) -> f32,
    pub l1_f32: fn(&[f32], &[f32]) -> f32,
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    /// `(a·b, a·a, b·b)` in one pass, for cosine.
    pub dot_and_norms_f32: fn(&[f32], &[f32]) -> (f32, f32, f32),
    pub l2_squared_i8: fn(&[i8], &[i8]) -> i64,
    pub l1_i8: fn(&[i8], &[i8]) -> i64,
    pub dot_i8: fn(&[i8], &[i8]) -> i64,
    /// `(a·b, a·a, b·b)` exactly, for cosine.
    pub dot_and_norms_i8: fn(&[i8], &[i8]) -> (i64, i64, i64),
    /// Number of differing bits.
    pub hamming: fn(&[u8], &[u8]) -> u64,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernels").field("name", &self.name).finish()
    }
}

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
