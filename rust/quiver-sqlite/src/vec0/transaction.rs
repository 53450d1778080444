//! The vec0 module's transaction callbacks: they flush or drop the INSERTs a
//! connection buffered (see `pending`) at the points SQLite defines.

use std::ffi::c_int;

use rusqlite::ffi;

use super::pending;
use super::vtab::{guard, Vec0Tab};
use crate::sqlite::error::error_message;

/// Runs `f` on the table's transaction state under the callback guard.
///
/// # Safety
/// `vtab` must be one of ours.
unsafe fn with_state(
    vtab: *mut ffi::sqlite3_vtab,
    f: impl FnOnce(&Vec0Tab, &mut pending::TxState) -> rusqlite::Result<()>,
) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        guard(vtab, || {
            let t = &*vtab.cast::<Vec0Tab>();
            let mut state = pending::lock(&t.tx);
            f(t, &mut state).map_err(error_message)?;
            Ok(ffi::SQLITE_OK)
        })
    }
}

pub(super) unsafe extern "C" fn x_begin(vtab: *mut ffi::sqlite3_vtab) -> c_int {
    // SAFETY: SQLite passes one of our tables.
    unsafe {
        with_state(vtab, |_, s| {
            s.discard();
            Ok(())
        })
    }
}

/// Commit, phase one: the buffered rows go into the shadow tables.
pub(super) unsafe extern "C" fn x_sync(vtab: *mut ffi::sqlite3_vtab) -> c_int {
    // SAFETY: SQLite passes one of our tables.
    unsafe { with_state(vtab, |t, s| s.flush(&t.shadow, &t.conn)) }
}

pub(super) unsafe extern "C" fn x_commit(vtab: *mut ffi::sqlite3_vtab) -> c_int {
    // SAFETY: SQLite passes one of our tables.
    unsafe {
        with_state(vtab, |_, s| {
            s.end();
            Ok(())
        })
    }
}

pub(super) unsafe extern "C" fn x_rollback(vtab: *mut ffi::sqlite3_vtab) -> c_int {
    // SAFETY: SQLite passes one of our tables.
    unsafe {
        with_state(vtab, |_, s| {
            s.discard();
            Ok(())
        })
    }
}

/// A savepoint (SQL SAVEPOINT, or a statement's own) begins: everything before it is
/// written, so rolling back to it drops only rows buffered after it.
pub(super) unsafe extern "C" fn x_savepoint(vtab: *mut ffi::sqlite3_vtab, _i: c_int) -> c_int {
    if pending::nested() {
        return ffi::SQLITE_OK; // a statement of vec0's own
    }
    // SAFETY: SQLite passes one of our tables.
    unsafe { with_state(vtab, |t, s| s.new_level(&t.shadow, &t.conn)) }
}

pub(super) unsafe extern "C" fn x_release(_vtab: *mut ffi::sqlite3_vtab, _i: c_int) -> c_int {
    ffi::SQLITE_OK
}

/// ROLLBACK TO: SQLite restores the shadow tables; the rows buffered since the latest
/// savepoint (all of them: each savepoint flushed the buffer) are dropped.
pub(super) unsafe extern "C" fn x_rollback_to(vtab: *mut ffi::sqlite3_vtab, _i: c_int) -> c_int {
    if pending::nested() {
        return ffi::SQLITE_OK; // a statement of vec0's own
    }
    // SAFETY: SQLite passes one of our tables.
    unsafe {
        with_state(vtab, |_, s| {
            s.discard();
            Ok(())
        })
    }
}
