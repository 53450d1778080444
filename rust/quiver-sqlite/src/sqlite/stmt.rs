//! Raw prepared statements for code that steps SQLite itself (query_arrow,
//! insert_arrow, the ML batch table, vec0 storage): a statement finalized on drop, the
//! connection mutex held for a scope, parameter binding and the connection's last error.

use std::ffi::{c_char, c_int, c_void, CStr};

use rusqlite::ffi;
use rusqlite::types::Value;

/// The connection's mutex, held while alive (a no-op when SQLite runs without mutexes).
pub(crate) struct DbLock(*mut ffi::sqlite3_mutex);

impl DbLock {
    pub(crate) fn new(db: *mut ffi::sqlite3) -> DbLock {
        // SAFETY: db is live; sqlite3_db_mutex returns its (recursive) mutex or null.
        let m = unsafe { ffi::sqlite3_db_mutex(db) };
        if !m.is_null() {
            // SAFETY: a valid mutex, left in Drop.
            unsafe { ffi::sqlite3_mutex_enter(m) };
        }
        DbLock(m)
    }
}

impl Drop for DbLock {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: entered in new() on this thread.
            unsafe { ffi::sqlite3_mutex_leave(self.0) };
        }
    }
}

/// A prepared statement, finalized on drop.
pub(crate) struct Stmt(pub(crate) *mut ffi::sqlite3_stmt);

impl Stmt {
    /// No statement (finalizing it is a no-op).
    pub(crate) fn none() -> Stmt {
        Stmt(std::ptr::null_mut())
    }

    /// Prepares the first statement of `sql`: SQLite's result code, the statement (null
    /// when `sql` holds only comments / whitespace, or on error) and the bytes of `sql`
    /// it used. Text longer than SQLite takes is SQLITE_TOOBIG.
    pub(crate) fn prepare(db: *mut ffi::sqlite3, sql: &str) -> (c_int, Stmt, usize) {
        let Ok(len) = c_int::try_from(sql.len()) else {
            return (ffi::SQLITE_TOOBIG, Stmt(std::ptr::null_mut()), 0);
        };
        let mut raw: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
        let mut tail: *const c_char = std::ptr::null();
        // SAFETY: sql is valid for len bytes; raw and tail are writable; the statement is
        // owned (finalized) by the returned Stmt.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(db, sql.as_ptr().cast::<c_char>(), len, &mut raw, &mut tail)
        };
        let used = if tail.is_null() {
            sql.len()
        } else {
            // SAFETY: tail points into sql (or its end).
            unsafe { tail.offset_from(sql.as_ptr().cast::<c_char>()) as usize }
        };
        (rc, Stmt(raw), used)
    }
}

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: a statement from sqlite3_prepare_v2 (or null), finalized once.
        unsafe { ffi::sqlite3_finalize(self.0) };
    }
}

/// The connection's current error as a rusqlite error carrying result code `rc`.
pub(crate) fn last_error(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: db is a live connection; errmsg is valid until the next API call.
    let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) }
        .to_string_lossy()
        .into_owned();
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), Some(message))
}

/// Binds `params` to parameters 1..=len of `stmt`.
///
/// # Safety
/// `stmt` must be a live statement of `db` with at least that many parameters.
pub(crate) unsafe fn bind_values(
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
    params: &[Value],
) -> rusqlite::Result<()> {
    // SAFETY: per the contract; text and blobs are copied by SQLite (TRANSIENT).
    unsafe {
        for (i, p) in params.iter().enumerate() {
            let idx = (i + 1) as c_int;
            let rc = match p {
                Value::Null => ffi::sqlite3_bind_null(stmt, idx),
                Value::Integer(v) => ffi::sqlite3_bind_int64(stmt, idx, *v),
                Value::Real(v) => ffi::sqlite3_bind_double(stmt, idx, *v),
                Value::Text(t) => ffi::sqlite3_bind_text64(
                    stmt,
                    idx,
                    t.as_ptr().cast::<c_char>(),
                    t.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                    ffi::SQLITE_UTF8 as u8,
                ),
                Value::Blob(b) => ffi::sqlite3_bind_blob64(
                    stmt,
                    idx,
                    b.as_ptr().cast::<c_void>(),
                    b.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                ),
            };
            if rc != ffi::SQLITE_OK {
                return Err(last_error(db, rc));
            }
        }
    }
    Ok(())
}
