//! The SQL surface of sqlite-quiver: sqlite-vec's functions and tables on quiver's
//! kernels. `register(conn)` installs everything on one connection.

mod arrow_collect;
pub mod arrow_filter;
pub mod arrow_insert;
pub mod arrow_ipc;
pub mod arrow_query;
pub mod arrow_render;
pub mod arrow_sort;
pub mod arrow_table;
pub mod arrow_types;
mod big_vec;
pub mod errors;
pub mod ml;
pub mod nd_functions;
pub mod npy;
pub mod raw_value;
pub mod raw_vtab;
pub mod scalar_functions;
pub mod vec0;
pub mod vec_each;
pub mod vector;

#[cfg(feature = "loadable")]
pub mod entry;

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
    vec_each::load_module(conn)?;
    nd_functions::register(conn)?;
    ml::register(conn)?;
    vec0::load_module(conn)?;
    arrow_table::load_module(conn)?;
    arrow_ipc::load_module(conn)?;
    arrow_collect::register(conn)?;
    // Last: quiver_version() is the marker that the rest is in place.
    scalar_functions::register(conn)?;
    Ok(())
}
