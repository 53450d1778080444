//! The skeleton shared by the model table functions (`ml_predict_batch`,
//! `ml_embed_batch`): hidden `model` and `sql` arguments, the inner read-only query
//! stepped in chunks, the model run once per chunk, rows handed back in input order.
//! A `ChunkSource` says what a row is read into, how a chunk is run and what its
//! columns are.
//!
//! The module is rusqlite's, with `xColumn` replaced by a raw one: rusqlite's
//! virtual-table `Context` cannot set a subtype, and vector columns carry sqlite-vec's.

use std::borrow::Cow;
use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use rusqlite::ffi;
use rusqlite::vtab::{
    Context, Filters, IndexConstraintOp, IndexInfo, Module, VTab, VTabConnection, VTabCursor,
};
use rusqlite::{Connection, Result};

use super::functions::ml_error;
use super::MlError;
use crate::sqlite::error::{error_message, sql_error};
use crate::sqlite::stmt::Stmt;
use crate::sqlite::value::ResultSlot;

/// What one model table function does with the rows of its query.
pub(crate) trait ChunkSource: Sized {
    type Model;
    /// The SQL name.
    const NAME: &'static str;
    /// The declared table; the hidden `model` and `sql` columns come last.
    const SCHEMA: &'static CStr;
    const USAGE: Usage;
    const COLUMN_MODEL: c_int;
    const COLUMN_SQL: c_int;
    /// Query rows read per model run.
    const CHUNK_ROWS: usize;

    /// Finds the model in the registry (or the cache).
    fn resolve(conn: &Connection, spec: &str) -> std::result::Result<Arc<Self::Model>, MlError>;
    /// Bits the plan adds to idx_num (bit 0 is taken: the arguments are present).
    fn plan_bits(_info: &IndexInfo) -> c_int {
        0
    }
    /// A source for one scan of a query of `n_columns` columns.
    fn start(model: Arc<Self::Model>, idx_num: c_int, n_columns: c_int) -> Self;
    /// Takes the current row of `stmt` (row `row` of the query, from 1) into the pending
    /// chunk.
    fn read_row(&mut self, stmt: *mut ffi::sqlite3_stmt, row: i64) -> Result<()>;
    /// Rows read since the last run.
    fn pending(&self) -> usize;
    /// Runs the model on the pending rows (rows `first`.. of the query) and queues their
    /// output rows.
    fn run(&mut self, first: i64) -> Result<()>;
    /// No output row is queued.
    fn is_empty(&self) -> bool;
    /// Drops the front output row.
    fn advance(&mut self);
    /// Sets column `i` of the front output row.
    fn column(&self, out: &mut ResultSlot, i: c_int) -> Result<()>;
    /// The front row's rowid when the source has one (else its position in the query).
    fn rowid(&self) -> Option<i64> {
        None
    }
}

/// Runs `f`, turning a panic into an error of table function `name`.
pub(crate) fn guard<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(sql_error(format!("{name}: internal error (panic)"))))
}

#[repr(C)]
pub(crate) struct ChunkTab<S> {
    base: ffi::sqlite3_vtab,
    db: *mut ffi::sqlite3,
    source: PhantomData<S>,
}

// SAFETY: the table only holds the connection handle, used on SQLite's calling thread;
// it is repr(C) with the sqlite3_vtab first.
unsafe impl<'vtab, S: ChunkSource + 'vtab> VTab<'vtab> for ChunkTab<S> {
    type Aux = ();
    type Cursor = ChunkCursor<S>;

    fn connect(
        db: &mut VTabConnection,
        _aux: Option<&()>,
        _module: &[u8],
        _database: &[u8],
        _table: &[u8],
        _args: &[&[u8]],
    ) -> Result<(Cow<'static, CStr>, Self)> {
        // It runs SQL text it is given: not from triggers or views of a database file.
        db.config(rusqlite::vtab::VTabConfig::DirectOnly)?;
        // SAFETY: the handle is the live connection this table belongs to.
        let handle = unsafe { db.handle() };
        Ok((
            Cow::Borrowed(S::SCHEMA),
            ChunkTab {
                base: ffi::sqlite3_vtab::default(),
                db: handle,
                source: PhantomData,
            },
        ))
    }

    fn best_index(&self, info: &mut IndexInfo) -> Result<bool> {
        guard(S::NAME, || {
            if plan_model_sql(info, S::COLUMN_MODEL, S::COLUMN_SQL)? {
                info.set_idx_num(1 | S::plan_bits(info));
            }
            Ok(true)
        })
    }

    fn open(&'vtab mut self) -> Result<ChunkCursor<S>> {
        Ok(ChunkCursor {
            base: ffi::sqlite3_vtab_cursor::default(),
            db: self.db,
            stmt: Stmt::none(),
            source: None,
            done: true,
            rowid: 0,
        })
    }
}

#[repr(C)]
pub(crate) struct ChunkCursor<S> {
    base: ffi::sqlite3_vtab_cursor,
    db: *mut ffi::sqlite3,
    stmt: Stmt,
    source: Option<S>,
    /// The inner query has no more rows.
    done: bool,
    /// Output rows consumed so far.
    rowid: i64,
}

impl<S: ChunkSource> ChunkCursor<S> {
    /// Steps the inner query for up to CHUNK_ROWS rows and runs the model on them.
    fn fill(&mut self) -> Result<()> {
        let Some(source) = self.source.as_mut() else {
            return Ok(());
        };
        let first = self.rowid + 1;
        while source.pending() < S::CHUNK_ROWS && !self.done {
            // SAFETY: stmt is a live prepared statement of this connection.
            match unsafe { ffi::sqlite3_step(self.stmt.0) } {
                ffi::SQLITE_ROW => {}
                ffi::SQLITE_DONE => {
                    self.done = true;
                    break;
                }
                _ => {
                    self.done = true;
                    return Err(sql_error(format!(
                        "{}: the query failed: {}",
                        S::NAME,
                        db_message(self.db)
                    )));
                }
            }
            source.read_row(self.stmt.0, first + source.pending() as i64)?;
        }
        if source.pending() == 0 {
            return Ok(());
        }
        super::interrupt::watching(self.db, || source.run(first))
    }
}

impl<S> Drop for ChunkCursor<S> {
    fn drop(&mut self) {
        // Dropping the statement finalizes it.
        self.stmt = Stmt::none();
    }
}

// SAFETY: ChunkCursor is repr(C) with the sqlite3_vtab_cursor first.
unsafe impl<S: ChunkSource> VTabCursor for ChunkCursor<S> {
    fn filter(&mut self, idx_num: c_int, _idx_str: Option<&str>, args: &Filters<'_>) -> Result<()> {
        guard(S::NAME, || {
            self.stmt = Stmt::none();
            self.source = None;
            self.rowid = 0;
            self.done = true;
            let (model, stmt, n_columns) =
                open_query(self.db, idx_num, args, S::USAGE, S::resolve)?;
            self.stmt = stmt;
            self.source = Some(S::start(model, idx_num, n_columns));
            self.done = false;
            self.fill()
        })
    }

    fn next(&mut self) -> Result<()> {
        guard(S::NAME, || {
            if let Some(source) = self.source.as_mut() {
                source.advance();
                self.rowid += 1;
                if source.is_empty() && !self.done {
                    self.fill()?;
                }
            }
            Ok(())
        })
    }

    fn eof(&self) -> bool {
        self.source.as_ref().is_none_or(S::is_empty)
    }

    /// Not called: the module's xColumn is `x_column` (see `register`).
    fn column(&self, _ctx: &mut Context, i: c_int) -> Result<()> {
        Err(sql_error(format!(
            "{}: column {i} read through the wrong callback",
            S::NAME
        )))
    }

    fn rowid(&self) -> Result<i64> {
        let own = self.source.as_ref().and_then(S::rowid);
        Ok(own.unwrap_or(self.rowid + 1))
    }
}

/// The module's xColumn: the source sets the cell through a raw result slot.
unsafe extern "C" fn x_column<S: ChunkSource>(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    ctx: *mut ffi::sqlite3_context,
    i: c_int,
) -> c_int {
    // SAFETY: SQLite passes a cursor this module opened (a ChunkCursor<S>, repr(C)
    // with the base first) and the live result context of this call.
    let (cursor, mut out) = unsafe { (&*cursor.cast::<ChunkCursor<S>>(), ResultSlot::new(ctx)) };
    let result = guard(S::NAME, || match cursor.source.as_ref() {
        Some(source) if !source.is_empty() => source.column(&mut out, i),
        _ => {
            out.set(rusqlite::types::ValueRef::Null);
            Ok(())
        }
    });
    match result {
        Ok(()) => ffi::SQLITE_OK,
        Err(e) => {
            let message = error_message(e);
            // SAFETY: ctx is live; SQLite copies the message (length given).
            unsafe {
                ffi::sqlite3_result_error(ctx, message.as_ptr().cast(), message.len() as c_int)
            };
            ffi::SQLITE_ERROR
        }
    }
}

/// Registers the table function of `S` as `name` on `conn`: rusqlite's eponymous-only
/// module with xColumn replaced by `x_column`, built once in `module`.
pub(crate) fn register<S: ChunkSource + 'static>(
    conn: &Connection,
    name: &CStr,
    module: &'static OnceLock<ffi::sqlite3_module>,
) -> Result<()> {
    let module = module.get_or_init(|| {
        let rusqlite_module = Module::<ChunkTab<S>>::eponymous_only_module();
        // SAFETY: rusqlite's Module is repr(transparent) over its sqlite3_module (the
        // other field is a zero-sized PhantomData), so the two have the same layout.
        let mut base: ffi::sqlite3_module = unsafe { std::mem::transmute(rusqlite_module) };
        base.xColumn = Some(x_column::<S>);
        base
    });
    crate::sqlite::vtab::create_module(conn, name, module)
}

/// Uses the equality constraints on the hidden `model` and `sql` columns as arguments 1
/// and 2; whether both were there (else the plan is refused by its cost).
pub(crate) fn plan_model_sql(
    info: &mut IndexInfo,
    model_col: c_int,
    sql_col: c_int,
) -> Result<bool> {
    let mut model = None;
    let mut sql = None;
    for (i, c) in info.constraints().enumerate() {
        if !c.is_usable() || c.operator() != IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_EQ {
            continue;
        }
        match c.column() {
            c if c == model_col => model = Some(i),
            c if c == sql_col => sql = Some(i),
            _ => {}
        }
    }
    match (model, sql) {
        (Some(m), Some(s)) => {
            let mut u = info.constraint_usage(m);
            u.set_argv_index(1);
            u.set_omit(true);
            let mut u = info.constraint_usage(s);
            u.set_argv_index(2);
            u.set_omit(true);
            info.set_idx_num(1);
            info.set_estimated_cost(1e6);
            Ok(true)
        }
        _ => {
            info.set_idx_num(0);
            info.set_estimated_cost(1e300);
            Ok(false)
        }
    }
}

/// The message of the connection's last error.
pub(crate) fn db_message(db: *mut ffi::sqlite3) -> String {
    // SAFETY: db is a live connection; errmsg returns a NUL-terminated string.
    unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) }
        .to_string_lossy()
        .into_owned()
}

/// Prepares the read-only query `sql` (argument 2 of table function `name`) on `db`:
/// the statement and its column count.
pub(crate) fn prepare_query(db: *mut ffi::sqlite3, name: &str, sql: &str) -> Result<(Stmt, c_int)> {
    if sql.contains('\0') {
        return Err(sql_error(format!(
            "{name}: argument 2: the SQL contains a NUL"
        )));
    }
    let (rc, stmt, _) = Stmt::prepare(db, sql);
    if rc != ffi::SQLITE_OK || stmt.0.is_null() {
        let m = db_message(db);
        return Err(sql_error(format!("{name}: argument 2: {m}")));
    }
    // SAFETY: stmt.0 is the live statement stmt owns.
    let n_columns = unsafe { ffi::sqlite3_column_count(stmt.0) };
    // SAFETY: as above.
    if unsafe { ffi::sqlite3_stmt_readonly(stmt.0) } == 0 {
        return Err(sql_error(format!(
            "{name}: argument 2: expected a read-only SELECT"
        )));
    }
    Ok((stmt, n_columns))
}

/// How a batch table function is called, for its error messages.
pub(crate) struct Usage {
    pub name: &'static str,
    pub example: &'static str,
    /// What the query's columns are.
    pub columns: &'static str,
}

/// Checks a batch table function's arguments (model, sql), finds the model with
/// `resolve` and prepares the query, which must give a key and at least one more
/// column: the model, the statement and its column count.
pub(crate) fn open_query<T>(
    db: *mut ffi::sqlite3,
    idx_num: c_int,
    args: &Filters<'_>,
    usage: Usage,
    resolve: fn(&Connection, &str) -> std::result::Result<Arc<T>, MlError>,
) -> Result<(Arc<T>, Stmt, c_int)> {
    let Usage {
        name,
        example,
        columns,
    } = usage;
    if idx_num & 1 == 0 || args.len() != 2 {
        return Err(sql_error(format!(
            "{name}: expected {name}(model, sql), e.g. {name}{example}"
        )));
    }
    let spec = match args.get::<Option<String>>(0) {
        Ok(Some(s)) => s,
        _ => {
            return Err(sql_error(format!(
                "{name}: argument 1: expected a model name"
            )))
        }
    };
    let sql = match args.get::<Option<String>>(1) {
        Ok(Some(s)) => s,
        _ => {
            return Err(sql_error(format!(
                "{name}: argument 2: expected the text of a SELECT giving {columns}"
            )))
        }
    };
    // SAFETY: db is the table's live connection; the non-owning Connection only reads
    // the registry during this call.
    let conn = unsafe { Connection::from_handle(db) }?;
    let model = resolve(&conn, &spec).map_err(|e| ml_error(name, &e))?;
    drop(conn);
    let (stmt, n_columns) = prepare_query(db, name, &sql)?;
    if n_columns < 2 {
        return Err(sql_error(format!(
            "{name}: argument 2: the query must give {columns}, got {n_columns} column(s)"
        )));
    }
    Ok((model, stmt, n_columns))
}
