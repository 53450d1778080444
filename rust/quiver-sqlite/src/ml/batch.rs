//! `ml_predict_batch(model, sql)`: the batch path. Runs `sql` on the same connection,
//! gathers its rows in chunks of `CHUNK_ROWS`, runs the model once per chunk and yields
//! one row per input row:
//!
//! ```sql
//! SELECT key, prediction, probabilities
//! FROM ml_predict_batch('churn', 'SELECT id, age, income, visits FROM customers');
//! ```
//!
//! The first column of `sql` comes back unchanged as `key` (join on it); the other
//! columns are the features, read as `ml_predict` reads its arguments (several numeric
//! columns, or one float32 vector BLOB, JSON array or `.npy` BLOB). `probabilities` is a
//! JSON array for classifiers and NULL for regressors. Rows come back in the order the
//! query gives them.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use rusqlite::ffi;
use rusqlite::types::{Value, ValueRef};
use rusqlite::vtab::{
    Context, Filters, IndexConstraintOp, IndexInfo, Module, VTab, VTabConnection, VTabCursor,
};
use rusqlite::{Connection, Result};

use super::functions::{ml_error, proba_json};
use super::model::Model;
use super::{features, registry};
use crate::sqlite::error::sql_error;
use crate::sqlite::stmt::Stmt;
use crate::sqlite::value::{owned, value_ref};

const NAME: &str = "ml_predict_batch";
/// Rows per inference call.
pub const CHUNK_ROWS: usize = 4096;
const COLUMN_KEY: c_int = 0;
const COLUMN_PREDICTION: c_int = 1;
const COLUMN_PROBABILITIES: c_int = 2;
const COLUMN_MODEL: c_int = 3;
const COLUMN_SQL: c_int = 4;

fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    guard(NAME, f)
}

/// Runs `f`, turning a panic into an error of table function `name`.
pub(crate) fn guard<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(sql_error(format!("{name}: internal error (panic)"))))
}

#[repr(C)]
pub struct BatchTab {
    base: ffi::sqlite3_vtab,
    db: *mut ffi::sqlite3,
}

// SAFETY: the table only holds the connection handle, used on SQLite's calling thread.
unsafe impl<'vtab> VTab<'vtab> for BatchTab {
    type Aux = ();
    type Cursor = BatchCursor;

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
            Cow::Borrowed(
                c"CREATE TABLE x(key, prediction, probabilities, model HIDDEN, sql HIDDEN)",
            ),
            BatchTab {
                base: ffi::sqlite3_vtab::default(),
                db: handle,
            },
        ))
    }

    fn best_index(&self, info: &mut IndexInfo) -> Result<bool> {
        guarded(|| {
            if plan_model_sql(info, COLUMN_MODEL, COLUMN_SQL)? {
                // Bit 1: arguments present; bit 2: the probabilities column is read.
                let proba_used = info.col_used() & (1 << COLUMN_PROBABILITIES) != 0;
                info.set_idx_num(if proba_used { 3 } else { 1 });
            }
            Ok(true)
        })
    }

    fn open(&'vtab mut self) -> Result<BatchCursor> {
        Ok(BatchCursor {
            base: ffi::sqlite3_vtab_cursor::default(),
            db: self.db,
            stmt: Stmt::none(),
            model: None,
            rows: VecDeque::new(),
            probabilities: VecDeque::new(),
            width: 0,
            keys: Vec::new(),
            features: Vec::new(),
            done: true,
            want_proba: true,
            rowid: 0,
            n_columns: 0,
        })
    }
}

struct OutRow {
    key: Value,
    prediction: Value,
}

#[repr(C)]
pub struct BatchCursor {
    base: ffi::sqlite3_vtab_cursor,
    db: *mut ffi::sqlite3,
    stmt: Stmt,
    model: Option<Arc<Model>>,
    rows: VecDeque<OutRow>,
    /// Probabilities of the rows in `rows` (row-major, `width` each), formatted as
    /// JSON only when the column is read.
    probabilities: VecDeque<f32>,
    width: usize,
    /// Reused buffers for one chunk.
    keys: Vec<Value>,
    features: Vec<f32>,
    /// The inner query has no more rows.
    done: bool,
    /// Whether the probabilities column is read (else they are not computed).
    want_proba: bool,
    rowid: i64,
    n_columns: c_int,
}

impl BatchCursor {
    fn finalize(&mut self) {
        // Dropping the old statement finalizes it.
        self.stmt = Stmt::none();
    }

    fn db_message(&self) -> String {
        db_message(self.db)
    }

    /// Steps the inner query for up to CHUNK_ROWS rows and predicts them.
    fn fill(&mut self) -> Result<()> {
        let Some(model) = self.model.clone() else {
            return Ok(());
        };
        let mut keys = std::mem::take(&mut self.keys);
        let mut feats = std::mem::take(&mut self.features);
        keys.clear();
        feats.clear();
        let mut values: Vec<(ValueRef<'_>, u32)> = Vec::with_capacity(self.n_columns as usize);
        while keys.len() < CHUNK_ROWS && !self.done {
            // SAFETY: stmt is a live prepared statement of this connection.
            let rc = unsafe { ffi::sqlite3_step(self.stmt.0) };
            match rc {
                ffi::SQLITE_ROW => {}
                ffi::SQLITE_DONE => {
                    self.done = true;
                    break;
                }
                _ => {
                    self.done = true;
                    return Err(sql_error(format!(
                        "{NAME}: the query failed: {}",
                        self.db_message()
                    )));
                }
            }
            values.clear();
            values.extend((1..self.n_columns).map(|i| {
                // SAFETY: the row's column values stay valid until the next step; they
                // are copied (key) or converted (features) before that.
                let v = unsafe { value_ref(ffi::sqlite3_column_value(self.stmt.0, i)) };
                (v, 0)
            }));
            features::append_row(&values, model.n_features, 2, &mut feats).map_err(|m| {
                sql_error(format!(
                    "{NAME}: row {}: {m}",
                    self.rowid + keys.len() as i64 + 1
                ))
            })?;
            // SAFETY: as above.
            let key = unsafe { value_ref(ffi::sqlite3_column_value(self.stmt.0, 0)) };
            keys.push(owned(key));
        }
        drop(values);
        if keys.is_empty() {
            self.keys = keys;
            self.features = feats;
            return Ok(());
        }
        let want_proba = self.want_proba && model.has_probabilities();
        let p =
            super::interrupt::watching(self.db, || model.predict(&feats, keys.len(), want_proba))
                .map_err(|e| ml_error(NAME, &e))?;
        self.width = p.width;
        self.probabilities.extend(p.probabilities.iter().copied());
        for (key, prediction) in keys.drain(..).zip(p.labels) {
            self.rows.push_back(OutRow { key, prediction });
        }
        self.keys = keys;
        self.features = feats;
        Ok(())
    }
}

impl Drop for BatchCursor {
    fn drop(&mut self) {
        self.finalize();
    }
}

// SAFETY: BatchCursor is repr(C) with the sqlite3_vtab_cursor first.
unsafe impl VTabCursor for BatchCursor {
    fn filter(&mut self, idx_num: c_int, _idx_str: Option<&str>, args: &Filters<'_>) -> Result<()> {
        guarded(|| {
            self.finalize();
            self.rows.clear();
            self.probabilities.clear();
            self.width = 0;
            self.rowid = 0;
            self.done = true;
            let (model, stmt, n_columns) = open_query(
                self.db,
                idx_num,
                args,
                Usage {
                    name: NAME,
                    example: "('churn', 'SELECT id, x1, x2 FROM t')",
                    columns: "a key column and then the features",
                },
                registry::resolve,
            )?;
            self.stmt = stmt;
            self.n_columns = n_columns;
            self.want_proba = idx_num & 2 != 0;
            self.model = Some(model);
            self.done = false;
            self.fill()
        })
    }

    fn next(&mut self) -> Result<()> {
        guarded(|| {
            self.rows.pop_front();
            let drop_n = self.width.min(self.probabilities.len());
            self.probabilities.drain(..drop_n);
            self.rowid += 1;
            if self.rows.is_empty() && !self.done {
                self.fill()?;
            }
            Ok(())
        })
    }

    fn eof(&self) -> bool {
        self.rows.is_empty()
    }

    fn column(&self, ctx: &mut Context, i: c_int) -> Result<()> {
        guarded(|| {
            let Some(row) = self.rows.front() else {
                return ctx.set_result(&Value::Null);
            };
            match i {
                COLUMN_KEY => ctx.set_result(&row.key),
                COLUMN_PREDICTION => ctx.set_result(&row.prediction),
                COLUMN_PROBABILITIES if self.width > 0 => {
                    let (a, b) = self.probabilities.as_slices();
                    let json = if a.len() >= self.width {
                        proba_json(&a[..self.width])
                    } else {
                        let row: Vec<f32> =
                            a.iter().chain(b.iter()).take(self.width).copied().collect();
                        proba_json(&row)
                    };
                    ctx.set_result(&json)
                }
                COLUMN_PROBABILITIES => ctx.set_result(&Value::Null),
                _ => ctx.set_result(&Value::Null),
            }
        })
    }

    fn rowid(&self) -> Result<i64> {
        Ok(self.rowid + 1)
    }
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
    resolve: fn(&Connection, &str) -> std::result::Result<Arc<T>, super::MlError>,
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

/// Registers `ml_predict_batch`.
pub fn load_module(conn: &Connection) -> Result<()> {
    const MODULE: Module<BatchTab> = Module::eponymous_only_module();
    conn.create_module(NAME, &MODULE, None)
}
