//! The SQLite handle behind a Python connection object, for the Python-facing
//! functions that run SQL from Rust (bulk paths, Arrow, ML).
//!
//! Accepts a stdlib `sqlite3.Connection` (the `sqlite3 *` sits right after
//! `PyObject_HEAD`) or an `apsw.Connection` (`sqlite3pointer()`). sqlite-quiver must
//! already be loaded into it: that is what binds rusqlite to the host's SQLite API.

use std::ffi::c_void;
use std::ptr;

use pyo3::prelude::*;
use quiver_sqlite::ffi;
use rusqlite::Connection;

use crate::error::{Error, Result};

const NOT_LOADED: &str =
    "sqlite-quiver is not loaded into this connection: call sqlite_quiver.load(conn) first";

/// Whether `db` is a connection of the SQLite library sqlite-quiver's API table is
/// bound to. Each SQLite library keeps its VFS objects in its own statics, so a
/// connection's VFS (`pVfs`, the first field of `struct sqlite3` in every SQLite 3
/// release) is in the bound library's VFS list exactly when the connection belongs to
/// that library. Calling the bound API on another library's handle would crash.
///
/// # Safety
/// `db` must point to a live connection of some SQLite 3 library, and the API table
/// must be bound (`quiver_sqlite::sqlite::entry::is_bound()`).
unsafe fn of_bound_library(db: *mut ffi::sqlite3) -> bool {
    // SAFETY: per the contract db points to a struct sqlite3, whose first field is the
    // connection's sqlite3_vfs pointer; the API is bound, so vfs_find calls the bound
    // library. Registered VFS objects stay alive while registered, and the list is
    // only read.
    unsafe {
        let own = db.cast::<*mut ffi::sqlite3_vfs>().read();
        let mut vfs = ffi::sqlite3_vfs_find(ptr::null());
        while !vfs.is_null() {
            if vfs == own {
                return true;
            }
            vfs = (*vfs).pNext;
        }
    }
    false
}

/// The raw handle of `conn`, checked to be open and to have sqlite-quiver loaded.
pub fn db_handle(py: Python<'_>, conn: &Bound<'_, PyAny>) -> Result<*mut ffi::sqlite3> {
    // Array releases queued by threads without the GIL (see arrow_ffi) run here, where
    // the GIL is held and no SQLite mutex is.
    crate::arrow_ffi::release_deferred();
    let sqlite3_type = py.import("sqlite3")?.getattr("Connection")?;
    let db = if conn.is_instance(&sqlite3_type)? {
        // sqlite3's own checks, with its own ProgrammingError: the connection is open,
        // and this is the thread that created it unless check_same_thread=False
        // (Connection.cursor checks both; the base class's, not an override).
        sqlite3_type.getattr("cursor")?.call1((conn,))?;
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
    if !quiver_sqlite::sqlite::entry::is_bound() {
        return Err(Error::Value(NOT_LOADED.into()));
    }
    let db = db.cast::<ffi::sqlite3>();
    // SAFETY: db is the open handle of a live connection object; the API is bound.
    if !unsafe { of_bound_library(db) } {
        return Err(Error::Value(format!(
            "{NOT_LOADED} (and it cannot be: this connection uses another SQLite library \
             than the one sqlite-quiver is bound to in this process, e.g. apsw's own next \
             to the stdlib sqlite3 module's; use one SQLite library per process)"
        )));
    }
    Ok(db)
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
