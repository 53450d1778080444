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

use std::collections::VecDeque;
use std::ffi::c_int;
use std::sync::{Arc, OnceLock};

use rusqlite::ffi;
use rusqlite::types::{Value, ValueRef};
use rusqlite::vtab::IndexInfo;
use rusqlite::{Connection, Result};

use super::functions::{ml_error, proba_json};
use super::model::Model;
use super::table_fn::{self, ChunkSource, Usage};
use super::{features, registry, MlError};
use crate::sqlite::error::sql_error;
use crate::sqlite::value::{owned, value_ref, ResultSlot};

const NAME: &str = "ml_predict_batch";
/// Rows per inference call.
pub const CHUNK_ROWS: usize = 4096;
const COLUMN_KEY: c_int = 0;
const COLUMN_PREDICTION: c_int = 1;
const COLUMN_PROBABILITIES: c_int = 2;

struct OutRow {
    key: Value,
    prediction: Value,
}

/// One scan of `ml_predict_batch`.
pub struct Predictions {
    model: Arc<Model>,
    rows: VecDeque<OutRow>,
    /// Probabilities of the rows in `rows` (row-major, `width` each), formatted as
    /// JSON only when the column is read.
    probabilities: VecDeque<f32>,
    width: usize,
    /// The pending chunk: keys and features.
    keys: Vec<Value>,
    features: Vec<f32>,
    /// Whether the probabilities column is read (else they are not computed).
    want_proba: bool,
    n_columns: c_int,
}

impl ChunkSource for Predictions {
    type Model = Model;
    const NAME: &'static str = NAME;
    const SCHEMA: &'static std::ffi::CStr =
        c"CREATE TABLE x(key, prediction, probabilities, model HIDDEN, sql HIDDEN)";
    const USAGE: Usage = Usage {
        name: NAME,
        example: "('churn', 'SELECT id, x1, x2 FROM t')",
        columns: "a key column and then the features",
    };
    const COLUMN_MODEL: c_int = 3;
    const COLUMN_SQL: c_int = 4;
    const CHUNK_ROWS: usize = CHUNK_ROWS;

    fn resolve(conn: &Connection, spec: &str) -> std::result::Result<Arc<Model>, MlError> {
        registry::resolve(conn, spec)
    }

    /// Bit 1: the probabilities column is read.
    fn plan_bits(info: &IndexInfo) -> c_int {
        if info.col_used() & (1 << COLUMN_PROBABILITIES) != 0 {
            2
        } else {
            0
        }
    }

    fn start(model: Arc<Model>, idx_num: c_int, n_columns: c_int) -> Self {
        Predictions {
            model,
            rows: VecDeque::new(),
            probabilities: VecDeque::new(),
            width: 0,
            keys: Vec::new(),
            features: Vec::new(),
            want_proba: idx_num & 2 != 0,
            n_columns,
        }
    }

    fn read_row(&mut self, stmt: *mut ffi::sqlite3_stmt, row: i64) -> Result<()> {
        let values: Vec<(ValueRef<'_>, u32)> = (1..self.n_columns)
            .map(|i| {
                // SAFETY: the row's column values stay valid until the next step; they
                // are converted to features before that.
                let v = unsafe { value_ref(ffi::sqlite3_column_value(stmt, i)) };
                (v, 0)
            })
            .collect();
        features::append_row(&values, self.model.n_features, 2, &mut self.features)
            .map_err(|m| sql_error(format!("{NAME}: row {row}: {m}")))?;
        // SAFETY: as above; the key is copied.
        let key = unsafe { value_ref(ffi::sqlite3_column_value(stmt, 0)) };
        self.keys.push(owned(key));
        Ok(())
    }

    fn pending(&self) -> usize {
        self.keys.len()
    }

    fn run(&mut self, _first: i64) -> Result<()> {
        let model = &self.model;
        let want_proba = self.want_proba && model.has_probabilities();
        let p = model
            .predict(&self.features, self.keys.len(), want_proba)
            .map_err(|e| ml_error(NAME, &e))?;
        self.features.clear();
        self.width = p.width;
        self.probabilities.extend(p.probabilities.iter().copied());
        for (key, prediction) in self.keys.drain(..).zip(p.labels) {
            self.rows.push_back(OutRow { key, prediction });
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn advance(&mut self) {
        self.rows.pop_front();
        let drop_n = self.width.min(self.probabilities.len());
        self.probabilities.drain(..drop_n);
    }

    fn column(&self, out: &mut ResultSlot, i: c_int) -> Result<()> {
        let Some(row) = self.rows.front() else {
            out.set(ValueRef::Null);
            return Ok(());
        };
        match i {
            COLUMN_KEY => out.set((&row.key).into()),
            COLUMN_PREDICTION => out.set((&row.prediction).into()),
            COLUMN_PROBABILITIES if self.width > 0 => {
                let (a, b) = self.probabilities.as_slices();
                let json = if a.len() >= self.width {
                    proba_json(&a[..self.width])
                } else {
                    let row: Vec<f32> =
                        a.iter().chain(b.iter()).take(self.width).copied().collect();
                    proba_json(&row)
                };
                out.set(ValueRef::Text(json.as_bytes()));
            }
            _ => out.set(ValueRef::Null),
        }
        Ok(())
    }
}

/// Registers `ml_predict_batch`.
pub fn load_module(conn: &Connection) -> Result<()> {
    static MODULE: OnceLock<ffi::sqlite3_module> = OnceLock::new();
    table_fn::register::<Predictions>(conn, c"ml_predict_batch", &MODULE)
}
