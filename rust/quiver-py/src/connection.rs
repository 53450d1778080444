//! The SQLite handle behind a Python connection object, for the Python-facing
//! functions that run SQL from Rust (bulk paths, Arrow, ML).
//!
//! Accepts a stdlib `sqlite3.Connection` (the `sqlite3 *` sits right after
//! `PyObject_HEAD`) or an `apsw.Connection` (`sqlite3pointer()`). sqlite-quiver must
//! already be loaded into it: that is what binds rusqlite to the host's SQLite API.

use std::ffi::c_void;

use pyo3::prelude::*;
use quiver_sqlite::ffi;
use rusqlite::Connection;

use crate::error::{Error, Result};

const NOT_LOADED: &str =
    "sqlite-quiver is not loaded into this connection: call sqlite_quiver.load(conn) first";

/// The raw handle of `conn`, checked to be open and to have sqlite-quiver loaded.
pub fn db_handle(py: Python<'_>, conn: &Bound<'_, PyAny>) -> Result<*mut ffi::sqlite3> {
    let sqlite3_type = py.import("sqlite3")?.getattr("Connection")?;
    let db = if conn.is_instance(&sqlite3_type)? {
        // Raises ProgrammingError on a closed connection or from the wrong thread.
        conn.getattr("total_changes")?;
        // SAFETY: conn is a CPython sqlite3.Connection, whose struct starts with
        // PyObject_HEAD followed by the `sqlite3 *db` pointer.
        unsafe {
            conn.as_ptr()
                .cast::<u8>()
                .add(std::mem::size_of::<pyo3::ffi::PyObject>())
                .cast::<*mut c_void>()
                .read()
        }
    } else if conn.get_type().module()? == "apsw" {
        let address: usize = conn.call_method0("sqlite3pointer")?.extract()?;
        address as *mut c_void
    } else {
        return Err(Error::Type(format!(
            "expected a sqlite3.Connection or an apsw.Connection, got {}",
            conn.get_type().name()?
        )));
    };
    if db.is_null() {
        return Err(Error::Value("the connection is closed".into()));
    }
    if !quiver_sqlite::entry::is_bound() {
        return Err(Error::Value(NOT_LOADED.into()));
    }
    Ok(db.cast::<ffi::sqlite3>())
}

/// Runs `f` with a non-owning rusqlite `Connection` over `conn`'s handle.
///
/// The GIL stays held, so no other Python thread uses the connection meanwhile.
pub fn with_connection<T>(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let db = db_handle(py, conn)?;
    // SAFETY: db is a live, open connection (checked above) that outlives this call;
    // from_handle does not take ownership, so dropping it does not close the database.
    let connection =
        unsafe { Connection::from_handle(db) }.map_err(|e| Error::Value(e.to_string()))?;
    if !quiver_sqlite::is_registered(&connection) {
        return Err(Error::Value(NOT_LOADED.into()));
    }
    f(&connection)
}
