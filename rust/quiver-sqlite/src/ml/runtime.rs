//! The process-wide ONNX Runtime: which shared library to load, the environment, and
//! settings (threads per session, model size limit).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

use super::MlError;

static DYLIB_PATH: Mutex<Option<PathBuf>> = Mutex::new(None);
static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();
static THREADS: AtomicUsize = AtomicUsize::new(1);
static NATIVE: AtomicBool = AtomicBool::new(true);
/// Bumped by every settings change that cached sessions depend on.
static SETTINGS_GENERATION: AtomicU64 = AtomicU64::new(0);
/// Default limit on a model's size: 256 MiB.
pub const DEFAULT_MAX_MODEL_BYTES: usize = 256 << 20;
static MAX_MODEL_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_MODEL_BYTES);

/// Sets the libonnxruntime file to load on first use (the Python package points it at
/// the one inside the `onnxruntime` wheel). Without it, `ORT_DYLIB_PATH` is used.
/// Has no effect once the runtime is loaded.
pub fn set_dylib_path(path: Option<PathBuf>) {
    if let Ok(mut p) = DYLIB_PATH.lock() {
        *p = path;
    }
}

/// Whether the runtime has been loaded successfully in this process.
pub fn is_loaded() -> bool {
    matches!(ENVIRONMENT.get(), Some(Ok(_)))
}

/// The shared library that is (or would be) loaded.
pub fn dylib_path() -> Option<PathBuf> {
    let configured = DYLIB_PATH.lock().ok().and_then(|p| p.clone());
    configured.or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from))
}

/// The environment, loading ONNX Runtime on first use.
pub fn environment() -> Result<&'static Environment, MlError> {
    let env = ENVIRONMENT.get_or_init(|| {
        let path = dylib_path().ok_or_else(|| {
            "the onnxruntime Python package was not found and ORT_DYLIB_PATH is not set".to_string()
        })?;
        if !path.exists() {
            return Err(format!("{} does not exist", path.display()));
        }
        // ort's loader panics on some failures (e.g. an incompatible API version):
        // keep panics from crossing into SQLite.
        std::panic::catch_unwind(|| {
            ort::init_from(&path)
                .map_err(|e| format!("cannot load {}: {e}", path.display()))?
                .with_name("sqlite-quiver")
                .with_telemetry(false)
                .build()
                .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", path.display()))
        })
        .unwrap_or_else(|_| Err(format!("cannot load {}", path.display())))
    });
    env.as_ref().map_err(|m| MlError::NoRuntime(m.clone()))
}

/// Inference threads per session (1 unless configured).
pub fn threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}

/// Sets the inference threads of sessions created from now on; cached sessions become
/// stale, so the next query uses the new setting.
pub fn set_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
    SETTINGS_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Changes whenever a setting that cached sessions were built with changes.
pub fn settings_generation() -> u64 {
    SETTINGS_GENERATION.load(Ordering::Relaxed)
}

/// Longest one ONNX Runtime run may take, in microseconds (0: no limit).
static MAX_RUN_MICROS: AtomicU64 = AtomicU64::new(0);

/// The time limit of one inference run, if any.
pub fn max_run_time() -> Option<std::time::Duration> {
    match MAX_RUN_MICROS.load(Ordering::Relaxed) {
        0 => None,
        us => Some(std::time::Duration::from_micros(us)),
    }
}

/// Sets (or with None removes) the time limit of every inference run from now on.
pub fn set_max_run_time(limit: Option<std::time::Duration>) {
    let us = limit.map_or(0, |d| {
        u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
    });
    MAX_RUN_MICROS.store(us, Ordering::Relaxed);
}

pub fn max_model_bytes() -> usize {
    MAX_MODEL_BYTES.load(Ordering::Relaxed)
}

pub fn set_max_model_bytes(n: usize) {
    MAX_MODEL_BYTES.store(n, Ordering::Relaxed);
}

/// Whether simple linear models may run on the native path (default true).
pub fn native_enabled() -> bool {
    NATIVE.load(Ordering::Relaxed)
}

/// Allows or forbids the native linear path for models loaded from now on; cached
/// sessions become stale.
pub fn set_native(enabled: bool) {
    NATIVE.store(enabled, Ordering::Relaxed);
    SETTINGS_GENERATION.fetch_add(1, Ordering::Relaxed);
}
