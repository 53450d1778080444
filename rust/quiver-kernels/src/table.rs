//! The macro that wraps a SIMD module's `unsafe fn` kernels into a
//! [`Kernels`](crate::dispatch::Kernels) table of safe functions.

/// Builds a private static table of safe wrappers around `$imp`'s kernels.
/// Contract: the table may be handed out only once the CPU has been seen to
/// support every feature `$imp` is compiled for.
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
            }
        };
    };
    (@wrap $imp:ident :: $f:ident($a:ident: $ta:ty, $b:ident: $tb:ty) -> $ret:ty) => {
        fn $f($a: $ta, $b: $tb) -> $ret {
            // SAFETY: this wrapper is reachable only through its table, which
            // is handed out only after the required CPU features were
            // detected (see the accessor function next to the table).
            unsafe { $imp::$f($a, $b) }
        }
    };
}
