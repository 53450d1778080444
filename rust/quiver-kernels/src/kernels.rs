//! The kernel table type, and the macro that fills one from a SIMD module.
//!
//! This file imports no other module of the crate: the instruction-set
//! modules (`x86`, `neon`) build their tables from it, and `dispatch` only
//! chooses among them, so none of them imports another back.

/// One instruction-set path's kernels.
///
/// Every pointer is a safe function. The SIMD tables are built only by the
/// architecture modules, which hand them out only after detecting the CPU
/// features their kernels need, so holding a `&Kernels` is proof that its
/// functions may run on this CPU. The kernels read only the common prefix of
/// two slices of different lengths; they never panic.
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
    /// Dot products of many queries with many rows at once:
    /// `out[q * nr + r] = queries[q] · rows[r]` for the `nq = queries.len() /
    /// dims` and `nr = rows.len() / dims` vectors laid out row-major. A
    /// trailing partial vector is ignored, and only the queries whose results
    /// fit in `out` are computed; nothing is computed when `dims` is 0.
    pub dot_block_f32: fn(queries: &[f32], rows: &[f32], dims: usize, out: &mut [f32]),
    /// Dot products of many points with vectors stored column-wise (a "panel":
    /// `dims` rows of `width = panel.len() / dims` floats, vector `c` down column
    /// `c`): `out[p * width + c] = points[p] · column c`, for the points whose
    /// results fit in `out`. Fast when `width` is a multiple of 32 (pad with
    /// zeros); nothing is computed when `dims` is 0.
    pub dot_panel_f32: fn(points: &[f32], panel: &[f32], dims: usize, out: &mut [f32]),
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernels").field("name", &self.name).finish()
    }
}

/// Builds a private static table of safe wrappers around `$imp`'s kernels.
/// Contract: the table may be handed out only once the CPU has been seen to
/// support every feature `$imp` is compiled for.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! detected_table {
    ($table:ident, $name:literal, $imp:ident) => {
        static $table: Kernels = {
    detected_table!(@wrap $imp::l2_squared_f32(a: &[f32], b: &[f32]) -> f32);
    detected_table!(@wrap $imp::l1_f32(a: &[f32], b: &[f32]) -> f32);
    detected_table!(@wrap $imp::dot_f32(a: &[f32], b: &[f32]) -> f32);
    detected_table!(@wrap $imp::dot_and_norms_f32(a: &[f32], b: &[f32]) -> (f32, f32, f32));
    detected_table!(@wrap $imp::l2_squared_i8(a: &[i8], b: &[i8]) -> i64);
    detected_table!(@wrap $imp::l1_i8(a: &[i8], b: &[i8]) -> i64);
    detected_table!(@wrap $imp::dot_i8(a: &[i8], b: &[i8]) -> i64);
    detected_table!(@wrap $imp::dot_and_norms_i8(a: &[i8], b: &[i8]) -> (i64, i64, i64));
    detected_table!(@wrap $imp::hamming(a: &[u8], b: &[u8]) -> u64);
    detected_table!(@wrap $imp::dot_block_f32(q: &[f32], r: &[f32], dims: usize, out: &mut [f32]));
    detected_table!(@wrap $imp::dot_panel_f32(p: &[f32], c: &[f32], dims: usize, out: &mut [f32]));
            Kernels {
                name: $name,
                l2_squared_f32,
                l1_f32,
                dot_f32,
                dot_and_norms_f32,
                l2_squared_i8,
                l1_i8,
                dot_i8,
                dot_and_norms_i8,
                hamming,
                dot_block_f32,
                dot_panel_f32,
            }
        };
    };
    (@wrap $imp:ident :: $f:ident($($a:ident: $t:ty),*) $(-> $ret:ty)?) => {
        fn $f($($a: $t),*) $(-> $ret)? {
            // SAFETY: this wrapper is reachable only through its table, which
            // is handed out only after the required CPU features were
            // detected (see the accessor function next to the table).
            unsafe { $imp::$f($($a),*) }
        }
    };
}
