//! `query_arrow`: SQL results as Arrow record batches.
//!
//! The statement is prepared and bound here; its rows flow into a [`RowSink`] either
//! inside one `sqlite3_step` (see `collect`) or by stepping row by row.

use std::ffi::c_int;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use rusqlite::ffi;
use rusqlite::types::Value;
use rusqlite::Connection;

use super::sink::RowSink;
pub use super::sink::{QueryError, BATCH_ROWS};
use crate::sqlite::error::sql_error;
use crate::sqlite::stmt::{bind_values, last_error, DbLock, Stmt};

/// Runs `sql` with `params` and returns its rows as record batches of up to
/// `BATCH_ROWS` rows (at least one batch, possibly empty, so the schema is known).
///
/// Works on the raw statement: one `sqlite3_column_value` per cell instead of the
/// type / text / bytes calls that each take the connection mutex.
pub fn query(
    conn: &Connection,
    sql: &str,
    params: &[Value],
) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
    query_with_schema(conn, sql, params, None)
}

/// As `query`; `schema` fixes the types of the columns it names (bool, int64, float64,
/// utf8, binary, fixed_size_list<float32|int8>): no promotion, a value that does not fit
/// is an error.
///
/// The rows are collected inside one `sqlite3_step` when the statement can be wrapped
/// (see `arrow_collect`), else by stepping row by row.
pub fn query_with_schema(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    schema: Option<&Schema>,
) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
    // SAFETY: the handle of a live connection, used on this thread only.
    let db = unsafe { conn.handle() };
    let (stmt, statement_text) = prepare_one(db, sql)?;
    // SAFETY: stmt.0 is a live statement of db.
    unsafe { bind_params(db, stmt.0, params)? };
    // SAFETY: as above; column indexes are below the count SQLite reports.
    let mut sink = unsafe { RowSink::new(stmt.0, schema)? };
    // Hold the connection mutex for the whole query: the step / column calls below
    // then re-enter it (it is recursive) instead of locking it each time.
    let _lock = DbLock::new(db);
    if !crate::arrow::collect::collect(db, stmt.0, statement_text, params, &mut sink)? {
        // SAFETY: stmt.0 is a live, bound statement of db.
        unsafe { step_rows(db, stmt.0, &mut sink)? };
    }
    sink.finish()
}

/// Prepares the one statement of `sql`; returns it with its text (without what follows).
fn prepare_one(db: *mut ffi::sqlite3, sql: &str) -> Result<(Stmt, &str), QueryError> {
    if sql.contains('\0') {
        return Err(QueryError::Sqlite(sql_error(
            "the SQL text contains a NUL character",
        )));
    }
    if c_int::try_from(sql.len()).is_err() {
        return Err(QueryError::Sqlite(sql_error(format!(
            "the SQL text is too long ({} bytes; SQLite takes at most {} in one statement)",
            sql.len(),
            c_int::MAX
        ))));
    }
    let (rc, stmt, used) = Stmt::prepare(db, sql);
    if rc != ffi::SQLITE_OK {
        return Err(last_error(db, rc).into());
    }
    if stmt.0.is_null() {
        return Err(QueryError::Sqlite(sql_error("the SQL has no statement")));
    }
    let rest = sql.get(used..).unwrap_or("");
    if !rest.trim().trim_matches(';').trim().is_empty() && holds_statement(db, rest) {
        return Err(QueryError::Sqlite(sql_error(
            "give one SQL statement (more text follows the first)",
        )));
    }
    Ok((stmt, sql.get(..used).unwrap_or(sql)))
}

/// Whether `sql` holds a statement (or is not valid SQL), not only comments and `;`.
fn holds_statement(db: *mut ffi::sqlite3, sql: &str) -> bool {
    let (rc, stmt, _) = Stmt::prepare(db, sql);
    rc != ffi::SQLITE_OK || !stmt.0.is_null()
}

/// Binds `params` to `stmt` by position; their number must match the statement's.
///
/// # Safety
/// `stmt` must be a live statement of `db`.
unsafe fn bind_params(
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
    params: &[Value],
) -> Result<(), QueryError> {
    // SAFETY: per the contract.
    let expected = unsafe { ffi::sqlite3_bind_parameter_count(stmt) } as usize;
    if expected != params.len() {
        return Err(QueryError::Sqlite(sql_error(format!(
            "the SQL has {expected} parameters but {} were given",
            params.len()
        ))));
    }
    // SAFETY: per the contract.
    unsafe { bind_values(db, stmt, params) }.map_err(QueryError::from)
}

/// Steps `stmt` row by row into `sink`.
///
/// # Safety
/// `stmt` must be a live, bound statement of `db`.
unsafe fn step_rows(
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
    sink: &mut RowSink,
) -> Result<(), QueryError> {
    // SAFETY: per the contract; column values are read before the next step.
    unsafe {
        loop {
            match ffi::sqlite3_step(stmt) {
                ffi::SQLITE_ROW => {
                    sink.push_row(|i| ffi::sqlite3_column_value(stmt, i as c_int))?;
                }
                ffi::SQLITE_DONE => return Ok(()),
                rc => return Err(last_error(db, rc).into()),
            }
        }
    }
}
