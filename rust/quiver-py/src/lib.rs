//! `sqlite_quiver._quiver`: the Python module, which is also the SQLite extension
//! (entry point `sqlite3_quiver_init`), so caches are shared by Python and SQL.

mod arrow;
mod arrow_ffi;
pub mod connection;
mod error;
mod host_loader;
mod ml;
mod vec0;

use std::ffi::c_void;

use pyo3::prelude::*;

use crate::error::{Error, Result};

quiver_sqlite::export_entry_point!();

/// Loads the SQLite extension at `path` into a stdlib `sqlite3.Connection` through
/// the C API of the SQLite library at `host_library` (the `_sqlite3` module's file).
#[pyfunction]
#[pyo3(signature = (conn, path, entrypoint, host_library))]
fn load_extension_into(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    path: &str,
    entrypoint: Option<&str>,
    host_library: &str,
) -> Result<()> {
    let connection_type = py.import("sqlite3")?.getattr("Connection")?;
    if !conn.is_instance(&connection_type)? {
        return Err(Error::Type(format!(
            "expected a sqlite3.Connection, got {}",
            conn.get_type().name()?
        )));
    }
    // Raises ProgrammingError on a closed connection or from the wrong thread.
    let total_changes: i64 = conn.getattr("total_changes")?.extract()?;
    // SAFETY: conn is a CPython sqlite3.Connection (checked above), whose struct
    // starts with PyObject_HEAD followed by the `sqlite3 *db` pointer.
    let db = unsafe {
        conn.as_ptr()
            .cast::<u8>()
            .add(std::mem::size_of::<pyo3::ffi::PyObject>())
            .cast::<*mut c_void>()
            .read()
    };
    if db.is_null() {
        return Err(Error::Value("the connection is closed".into()));
    }
    let host = host_loader::host(host_library)?;
    // SAFETY: db was read from a live, open connection of this host library.
    if !unsafe { host.check_handle(db, total_changes) } {
        return Err(Error::Sql(
            "cannot locate the SQLite handle inside this sqlite3.Connection (unknown \
             object layout); use apsw, or a Python whose sqlite3 has enable_load_extension"
                .into(),
        ));
    }
    // SAFETY: db is live; the GIL is held, so no Python thread uses it meanwhile.
    Ok(unsafe { host.load(db, path, entrypoint) }?)
}

/// The host SQLite's version number (e.g. 3040001), read at run time.
#[pyfunction]
fn host_sqlite_version_number(host_library: &str) -> Result<i64> {
    let host = host_loader::host(host_library)?;
    // SAFETY: a plain getter of the host library.
    Ok(i64::from(unsafe { (host.libversion_number)() }))
}

/// The distance-kernel path this CPU uses ("avx2+fma", "avx512", "neon", "scalar").
#[pyfunction]
fn kernels() -> &'static str {
    quiver_kernels::dispatch::best().name
}

#[pymodule]
fn _quiver(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "VEC_VERSION",
        quiver_sqlite::vec::functions::vec_version_string(),
    )?;
    m.add_function(wrap_pyfunction!(load_extension_into, m)?)?;
    m.add_function(wrap_pyfunction!(host_sqlite_version_number, m)?)?;
    m.add_function(wrap_pyfunction!(kernels, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_set_dylib_path, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_settings, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_set_max_model_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_set_max_run_seconds, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_max_run_seconds, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_inspect, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_clear_cache, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_set_native, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_native_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_text_inspect, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_embed_texts, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_rerank_texts, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_text_preload, m)?)?;
    m.add_function(wrap_pyfunction!(ml::ml_tokenize_texts, m)?)?;
    m.add_function(wrap_pyfunction!(vec0::vec0_insert, m)?)?;
    m.add_function(wrap_pyfunction!(vec0::vec0_search, m)?)?;
    m.add_function(wrap_pyfunction!(vec0::vec0_ivf_command, m)?)?;
    m.add_function(wrap_pyfunction!(vec0::vec0_cache_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(vec0::vec0_integrity_check, m)?)?;
    m.add_function(wrap_pyfunction!(vec0::vec0_set_scan_threads, m)?)?;
    m.add_function(wrap_pyfunction!(vec0::vec0_clear_cache, m)?)?;
    m.add_function(wrap_pyfunction!(vec0::vec0_cache_info, m)?)?;
    m.add_function(wrap_pyfunction!(vec0::vec0_index_state, m)?)?;
    m.add_function(wrap_pyfunction!(vec0::vec0_set_cache_budget, m)?)?;
    m.add_class::<arrow::ArrowResult>()?;
    m.add_function(wrap_pyfunction!(arrow::register_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(arrow::unregister_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(arrow::query_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(arrow::insert_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(arrow::arrow_registry_len, m)?)?;
    m.add_function(wrap_pyfunction!(arrow::arrow_deferred_releases, m)?)?;
    Ok(())
}
