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

/// The message of `e`: SQLite's own text for SQLite errors (without rusqlite's
/// decoration), else rusqlite's description.
pub fn error_message(e: rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m,
        other => other.to_string(),
    }
}
