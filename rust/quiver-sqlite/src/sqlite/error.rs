//! SQL errors raised by quiver's functions and virtual tables.
//!
//! Everything becomes a plain `SQLITE_ERROR` with a message, so Python sees
//! `sqlite3.OperationalError` (as it does for sqlite-vec), not IntegrityError.

use rusqlite::ffi;

/// An `SQLITE_ERROR` carrying `message`.
pub fn sql_error(message: impl Into<String>) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_ERROR), Some(message.into()))
}

/// An error about argument `index` (0-based) of function `function`.
pub fn arg_error(function: &str, index: usize, message: impl std::fmt::Display) -> rusqlite::Error {
    sql_error(format!("{function}: argument {}: {message}", index + 1))
}
