//! x86_64 SIMD paths and the only place their tables are handed out.
//!
//! The kernels in the `avx2` and `avx512` modules are `unsafe fn`s compiled for CPU
//! features the baseline x86_64 target lacks. The tables below wrap each one in
//! a safe `fn`; the tables are private, and `avx2()` / `avx512()` return
//! them only after detecting those features, so no safe caller can reach a
//! kernel on a CPU that cannot run it.

mod avx2;
mod avx512;

use crate::kernels::Kernels;

detected_table!(AVX2, "avx2+fma", avx2);
detected_table!(AVX512, "avx512", avx512);

/// The AVX2+FMA table, if this CPU supports both.
pub(crate) fn avx2() -> Option<&'static Kernels> {
    let ok = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    ok.then_some(&AVX2)
}

/// The AVX-512 table, if this CPU supports AVX-512F and AVX-512BW (the kernels
/// also use AVX2/FMA instructions, which every such CPU has; checked anyway).
pub(crate) fn avx512() -> Option<&'static Kernels> {
    let ok = is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma");
    ok.then_some(&AVX512)
}
