//! The SQL surface of sqlite-quiver: sqlite-vec's functions and tables on quiver's
//! kernels, Arrow tables and ONNX inference. `register(conn)` installs everything on one
//! connection.
//!
//! Where each SQL name lives:
//!
//! | SQL name                                                   | file                        |
//! |------------------------------------------------------------|-----------------------------|
//! | `vec_f32`, `vec_int8`, `vec_bit`, `vec_length`, `vec_type`, `vec_to_json`, `vec_add`, `vec_sub`, `vec_normalize`, `vec_slice`, `vec_distance_*`, `vec_quantize_*`, `vec_version`, `vec_debug`, `quiver_version`, `quiver_kernels`, `quiver_cache_info` | `vec/functions.rs` |
//! | `vec_each`                                                 | `vec/each.rs`               |
//! | `vec0` (virtual table)                                     | `vec0/` (`vec0/table.rs`)   |
//! | `arrow` (virtual table behind `register_arrow`)            | `arrow/vtab.rs`             |
//! | `arrow_ipc` (virtual table over an Arrow IPC file), `arrow_ipc_trust` | `arrow/ipc.rs` |
//! | `quiver_arrow_collect` (internal aggregate of query_arrow) | `arrow/collect.rs`          |
//! | `nd_array`, `nd_shape`, `nd_dtype`, `nd_ndim`, `nd_size`, `nd_get`, `nd_reshape`, `nd_to_json`, `nd_from_vec` | `ml/nd_functions.rs` |
//! | `ml_predict`, `ml_predict_proba`, `ml_predict_proba_vec`, `ml_engine`, `ml_runtime_loaded` | `ml/functions.rs` |
//! | `ml_predict_batch` (table-valued)                          | `ml/batch.rs`               |
//!
//! Folders: `sqlite/` FFI helpers (entry point, errors, raw virtual-table helpers,
//! values, statements, host API), `vec/` vector values and functions, `vec0/` the vector
//! table, `arrow/` Arrow tables, query_arrow and insert_arrow, `ml/` arrays and models.

pub mod arrow;
pub mod ml;
pub mod sqlite;
pub mod vec;
pub mod vec0;

pub use rusqlite::ffi;
use rusqlite::{Connection, Result};

/// Whether quiver's functions are already installed on `conn` (loading twice is a no-op).
pub fn is_registered(conn: &Connection) -> bool {
    conn.prepare("SELECT quiver_version()").is_ok()
}

/// Installs every function and module on `conn`.
pub fn register(conn: &Connection) -> Result<()> {
    if is_registered(conn) {
        return Ok(());
    }
    vec::each::load_module(conn)?;
    ml::nd_functions::register(conn)?;
    ml::register(conn)?;
    vec0::load_module(conn)?;
    arrow::vtab::load_module(conn)?;
    arrow::ipc::load_module(conn)?;
    arrow::collect::register(conn)?;
    // Last: quiver_version() is the marker that the rest is in place.
    vec::functions::register(conn)?;
    Ok(())
}
