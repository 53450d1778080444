//! query_arrow's fast path: the whole query runs inside one `sqlite3_step`.
//!
//! Stepping row by row costs a step call per row and, per cell, a column call that takes
//! the connection mutex. Instead the statement is wrapped as
//!
//! ```sql
//! WITH rows(c0, c1, ...) AS (<statement>)
//! SELECT quiver_arrow_collect(:sink, c0, c1, ...) FROM rows
//! ```
//!
//! and that aggregate appends each row to the `RowSink` it is handed through SQLite's
//! pointer-passing interface (a pointer no SQL text can forge). It is used only when
//! SQLite flattens the wrapper into the statement's own loop, so rows arrive in the
//! statement's order at no extra cost. Anything else (ORDER BY or LIMIT that needs a
//! co-routine, PRAGMA, a write with RETURNING, more columns than a function takes...) is
//! left to the caller, which steps the statement row by row.

use std::ffi::{c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use rusqlite::ffi;
use rusqlite::types::Value;
use rusqlite::Connection;

use crate::arrow::sink::{QueryError, RowSink};
use crate::sqlite::stmt::{bind_values, last_error, Stmt};

/// The aggregate that receives the rows (internal to query_arrow).
const FUNCTION: &CStr = c"quiver_arrow_collect";
/// The pointer type SQLite checks before handing the sink to the aggregate.
const POINTER_TYPE: &CStr = c"quiver_arrow_row_sink";
/// The wrapping CTE and its parameter: names no user query is expected to use.
const ROWS: &str = "quiver_arrow_rows_9c1e";
const SINK_PARAMETER: &str = ":quiver_arrow_sink_9c1e";

/// What the aggregate works on: the sink, and the first error it met (kept whole, so the
/// caller sees the column and message rather than SQLite's text of it).
struct Collecting<'a> {
    sink: &'a mut RowSink,
    error: Option<QueryError>,
}

/// Installs the collecting aggregate on `conn`.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    // SAFETY: a live connection; the callbacks match SQLite's signatures and the name is
    // a static C string.
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            conn.handle(),
            FUNCTION.as_ptr(),
            -1,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DIRECTONLY,
            std::ptr::null_mut(),
            None,
            Some(collect_step),
            Some(collect_final),
            None,
        )
    };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None))
    }
}

/// Runs `stmt` (prepared from `text`, bound to `params`) wrapped in the collecting
/// aggregate, appending its rows to `sink`. Returns false, having run nothing, when the
/// statement cannot be wrapped.
///
/// The caller holds the connection mutex.
pub(crate) fn collect(
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
    text: &str,
    params: &[Value],
    sink: &mut RowSink,
) -> Result<bool, QueryError> {
    let width = sink.width();
    // SAFETY: stmt is a live statement of db.
    let (readonly, explain, max_args) = unsafe {
        (
            ffi::sqlite3_stmt_readonly(stmt) != 0,
            ffi::sqlite3_stmt_isexplain(stmt) != 0,
            ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_FUNCTION_ARG, -1),
        )
    };
    if !readonly || explain || width == 0 || width + 1 > max_args.max(0) as usize {
        return Ok(false);
    }
    let body = text.trim_end();
    let body = body.strip_suffix(';').unwrap_or(body);
    let columns: Vec<String> = (0..width).map(|i| format!("c{i}")).collect();
    let columns = columns.join(", ");
    // The newlines end any `--` comment at the end of the statement.
    let wrapped = format!(
        "WITH {ROWS}({columns}) AS (\n{body}\n) \
         SELECT {}({SINK_PARAMETER}, {columns}) FROM {ROWS}",
        FUNCTION.to_str().unwrap_or_default()
    );
    if !flattened(db, &wrapped) {
        return Ok(false);
    }
    let Some(wrapped) = prepare(db, &wrapped) else {
        return Ok(false);
    };
    // SAFETY: both statements are live statements of db; wrapped.0 has the checked
    // number of parameters; the sink outlives the steps that use it.
    unsafe {
        if !same_parameters(stmt, wrapped.0, params.len()) {
            return Ok(false);
        }
        bind_values(db, wrapped.0, params)?;
        let mut collecting = Collecting { sink, error: None };
        let rc = ffi::sqlite3_bind_pointer(
            wrapped.0,
            (params.len() + 1) as c_int,
            (&mut collecting as *mut Collecting).cast::<c_void>(),
            POINTER_TYPE.as_ptr(),
            None,
        );
        if rc != ffi::SQLITE_OK {
            return Err(last_error(db, rc).into());
        }
        loop {
            match ffi::sqlite3_step(wrapped.0) {
                ffi::SQLITE_ROW => {}
                ffi::SQLITE_DONE => return Ok(true),
                rc => {
                    return Err(collecting
                        .error
                        .take()
                        .unwrap_or_else(|| last_error(db, rc).into()))
                }
            }
        }
    }
}

/// Whether SQLite flattens the wrapped statement into one loop over the original's rows.
///
/// Otherwise the rows come from a co-routine (ORDER BY, LIMIT, compound selects...) and
/// are copied once more, text and blobs included, on their way into the aggregate: then
/// stepping is faster. The query plan names the wrapping CTE only when it is not
/// flattened. (Only speed depends on this answer, never results.)
fn flattened(db: *mut ffi::sqlite3, wrapped: &str) -> bool {
    let Some(plan) = prepare(db, &format!("EXPLAIN QUERY PLAN {wrapped}")) else {
        return false;
    };
    loop {
        // SAFETY: a live statement; column 3 of a query plan row is its text, read
        // before the next step.
        unsafe {
            match ffi::sqlite3_step(plan.0) {
                ffi::SQLITE_ROW => {
                    let detail = ffi::sqlite3_column_text(plan.0, 3);
                    if !detail.is_null()
                        && CStr::from_ptr(detail.cast())
                            .to_string_lossy()
                            .contains(ROWS)
                    {
                        return false;
                    }
                }
                ffi::SQLITE_DONE => return true,
                _ => return false,
            }
        }
    }
}

/// Prepares `sql`, or None when SQLite refuses it.
fn prepare(db: *mut ffi::sqlite3, sql: &str) -> Option<Stmt> {
    let (rc, stmt, _) = Stmt::prepare(db, sql);
    (rc == ffi::SQLITE_OK && !stmt.0.is_null()).then_some(stmt)
}

/// Whether `wrapped` has `original`'s `n` parameters at the same positions with the
/// same names, then the sink's as the last one.
///
/// # Safety
/// Both must be live statements.
unsafe fn same_parameters(
    original: *mut ffi::sqlite3_stmt,
    wrapped: *mut ffi::sqlite3_stmt,
    n: usize,
) -> bool {
    let name = |stmt, i: usize| {
        // SAFETY: per the contract; names are NUL-terminated and live with the statement.
        let p = unsafe { ffi::sqlite3_bind_parameter_name(stmt, i as c_int) };
        // SAFETY: p is non-null here and NUL-terminated (see above).
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
    };
    // SAFETY: per the contract.
    let count = unsafe { ffi::sqlite3_bind_parameter_count(wrapped) } as usize;
    count == n + 1
        && name(wrapped, n + 1).as_deref() == Some(SINK_PARAMETER.as_bytes())
        && (1..=n).all(|i| name(original, i) == name(wrapped, i))
}

unsafe extern "C" fn collect_step(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes argc live values; the pointer, when SQLite hands it back
    // under our type name, is the `Collecting` bound by `collect`, alive for the step.
    unsafe {
        let state = if argc >= 1 {
            ffi::sqlite3_value_pointer(*argv, POINTER_TYPE.as_ptr()).cast::<Collecting>()
        } else {
            std::ptr::null_mut()
        };
        let Some(state) = state.as_mut() else {
            let message = c"quiver_arrow_collect is internal to query_arrow";
            ffi::sqlite3_result_error(ctx, message.as_ptr(), -1);
            return;
        };
        if argc as usize != state.sink.width() + 1 {
            let message = c"quiver_arrow_collect: wrong number of columns";
            ffi::sqlite3_result_error(ctx, message.as_ptr(), -1);
            return;
        }
        let pushed = catch_unwind(AssertUnwindSafe(|| {
            state.sink.push_row(|i| *argv.add(i + 1))
        }));
        let error = match pushed {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => QueryError::Column {
                column: String::new(),
                message: "internal error (panic) while reading a row".into(),
            },
        };
        let message = std::ffi::CString::new(format!("{error}")).unwrap_or_default();
        state.error = Some(error);
        ffi::sqlite3_result_error(ctx, message.as_ptr(), -1);
    }
}

unsafe extern "C" fn collect_final(ctx: *mut ffi::sqlite3_context) {
    // SAFETY: the context SQLite passed.
    unsafe { ffi::sqlite3_result_null(ctx) };
}
