//! Distance kernels and vector codecs for sqlite-quiver.
//!
//! * [`distance`] — the functions the rest of the project calls; each one
//!   forwards to the fastest kernel this CPU can run.
//! * [`kernels`] — the [`Kernels`](kernels::Kernels) table type: one set of
//!   function pointers per instruction-set path.
//! * [`dispatch`] — picks the table once at run time.
//! * [`codec`] — sqlite-vec compatible blob and JSON formats.
//! * [`kmeans`] — k-means (k-means++ seeding, blocked Lloyd iterations) for
//!   IVF centroids, and nearest-centroid assignment.
//! * [`quant`] — bit and int8 codes and their scans, for vec0's rescore index.
//!
//! Every SIMD kernel must return exactly what the scalar kernel returns for
//! integer inputs, and agree within float rounding for `f32` inputs; the
//! integration tests hold each path to that.

// Unsafe intrinsics calls stay visible (and commented) even inside
// `unsafe fn` bodies.
#![deny(unsafe_op_in_unsafe_fn)]

// First: its table macro must be defined before the modules that use it.
#[macro_use]
pub mod kernels;

pub mod codec;
pub mod dispatch;
pub mod distance;
pub mod kmeans;
pub mod quant;

mod scalar;

/// Columns per register tile of `Kernels::dot_panel_f32`: panels whose width is a
/// multiple of it run at full speed.
pub use scalar::PANEL_COLS;

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(target_arch = "aarch64")]
mod neon;

/// Largest vector dimension accepted anywhere (codecs, tables, queries).
pub const MAX_DIMENSIONS: usize = 65_536;

/// How many int8 elements a kernel may fold into 32-bit lanes before it
/// must widen them to 64 bits. The worst term is a squared difference,
/// 255² = 65 025; even if a whole block landed in a single i32 lane the sum is
/// 4096 · 65 025 ≈ 2.7e8, far below `i32::MAX` ≈ 2.1e9.
pub(crate) const I8_BLOCK: usize = 4096;

/// Cuts both slices to their common length. Kernels take `&[T]` pairs through
/// safe function pointers, so a mismatched pair must never read past the
/// shorter slice; the public [`distance`] functions reject mismatches earlier.
#[inline(always)]
pub(crate) fn common_prefix<'a, 'b, T>(a: &'a [T], b: &'b [T]) -> (&'a [T], &'b [T]) {
    let n = a.len().min(b.len());
    (&a[..n], &b[..n])
}

/// The shape a many-queries x many-rows kernel works on: `nq = queries / dims`
/// row-major queries and `nr = rows / dims` rows (a trailing partial vector is
/// ignored), cut to the queries whose `nr` results fit in `out`. Like
/// [`common_prefix`], it keeps the safe table kernels from reading or writing
/// out of bounds whatever lengths they get.
#[inline(always)]
pub(crate) fn block_shape(queries: usize, rows: usize, dims: usize, out: usize) -> (usize, usize) {
    let (Some(nq), Some(nr)) = (queries.checked_div(dims), rows.checked_div(dims)) else {
        return (0, 0);
    };
    (nq.min(out.checked_div(nr).unwrap_or(0)), nr)
}
