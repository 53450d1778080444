//! What SQLite holds for a vec0 table and its cursors, and the guard every callback
//! body runs in (errors and panics become the table's zErrMsg).

use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use rusqlite::ffi;
use rusqlite::Connection;

use super::cache::TableData;
use super::knn::Hit;
use super::pending::Shared;
use super::shadow::Shadow;
use crate::sqlite::vtab::set_error;

#[repr(C)]
pub(super) struct Vec0Tab {
    pub(super) base: ffi::sqlite3_vtab,
    pub(super) db: *mut ffi::sqlite3,
    pub(super) conn: Connection,
    pub(super) shadow: Shadow,
    /// This connection's transaction state of the table (buffered INSERTs).
    pub(super) tx: Shared,
    /// The rescore oversample set by the `'oversample=N'` command on this connection's
    /// table (sqlite-vec's command); `None`: each column's declared one.
    pub(super) oversample: std::cell::Cell<Option<usize>>,
    /// The IVF nprobe set by the `'nprobe=N'` command on this connection's table;
    /// `None`: the column's declared one.
    pub(super) nprobe: std::cell::Cell<Option<usize>>,
}

/// Where the cursor's column values come from.
pub(super) enum Source {
    /// The decoded table (scans and KNN).
    Cached(Arc<TableData>),
    /// Straight from the shadow tables (point lookups, which must not decode the table).
    Direct,
}

#[repr(C)]
pub(super) struct Vec0Cursor {
    pub(super) base: ffi::sqlite3_vtab_cursor,
    pub(super) source: Source,
    pub(super) hits: Vec<Hit>,
    pub(super) pos: usize,
    pub(super) knn: bool,
}

/// Runs `f`, turning an error or a panic into SQLITE_ERROR with a message on `vtab`.
///
/// # Safety
/// `vtab` must be a live sqlite3_vtab.
pub(super) unsafe fn guard(
    vtab: *mut ffi::sqlite3_vtab,
    f: impl FnOnce() -> Result<c_int, String>,
) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(rc)) => rc,
        Ok(Err(message)) => {
            // SAFETY: per the contract.
            unsafe { set_error(vtab, &message) };
            ffi::SQLITE_ERROR
        }
        Err(_) => {
            // SAFETY: per the contract.
            unsafe { set_error(vtab, "vec0: internal error (panic)") };
            ffi::SQLITE_ERROR
        }
    }
}
