//! `ml_embed_batch(model, sql)`: embeds the text column of a query in batches.
//!
//! ```sql
//! INSERT INTO doc_vectors(rowid, embedding)
//!   SELECT key, embedding FROM ml_embed_batch('minilm', 'SELECT rowid, body FROM docs');
//! ```
//!
//! `sql` gives a key (returned unchanged, and as the rowid when it is an integer) and
//! the text; an optional third column is the
//! kind ('query' or 'document', the default). Rows are read in chunks of `CHUNK_ROWS`;
//! each chunk is tokenized, sorted by length and run in batches of similar lengths
//! (`text::BATCH_ROWS` texts, at most `text::BATCH_TOKENS` padded tokens), and comes
//! back in the order the query gave it. A NULL text gives a NULL embedding.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::ffi::{c_int, CStr};
use std::sync::Arc;

use rusqlite::ffi;
use rusqlite::types::{Value, ValueRef};
use rusqlite::vtab::{Context, Filters, IndexInfo, Module, VTab, VTabConnection, VTabCursor};
use rusqlite::{Connection, Result};

use super::batch::{db_message, guard, open_query, plan_model_sql, Usage};
use super::functions::ml_error;
use super::registry;
use super::text::{Kind, TextModel};
use crate::sqlite::error::sql_error;
use crate::sqlite::stmt::Stmt;
use crate::sqlite::value::{owned, value_ref};
use crate::vec::vector::describe_value;

const NAME: &str = "ml_embed_batch";
/// Rows read (and tokenized) per chunk.
pub const CHUNK_ROWS: usize = 1024;
const COLUMN_KEY: c_int = 0;
const COLUMN_EMBEDDING: c_int = 1;
const COLUMN_MODEL: c_int = 2;
const COLUMN_SQL: c_int = 3;

fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    guard(NAME, f)
}

#[repr(C)]
pub struct EmbedTab {
    base: ffi::sqlite3_vtab,
    db: *mut ffi::sqlite3,
}

// SAFETY: the table only holds the connection handle, used on SQLite's calling thread.
unsafe impl<'vtab> VTab<'vtab> for EmbedTab {
    type Aux = ();
    type Cursor = EmbedCursor;

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
            Cow::Borrowed(c"CREATE TABLE x(key, embedding, model HIDDEN, sql HIDDEN)"),
            EmbedTab {
                base: ffi::sqlite3_vtab::default(),
                db: handle,
            },
        ))
    }

    fn best_index(&self, info: &mut IndexInfo) -> Result<bool> {
        guarded(|| {
            plan_model_sql(info, COLUMN_MODEL, COLUMN_SQL)?;
            Ok(true)
        })
    }

    fn open(&'vtab mut self) -> Result<EmbedCursor> {
        Ok(EmbedCursor {
            base: ffi::sqlite3_vtab_cursor::default(),
            db: self.db,
            stmt: Stmt::none(),
            model: None,
            rows: VecDeque::new(),
            done: true,
            rowid: 0,
            n_columns: 0,
        })
    }
}

#[repr(C)]
pub struct EmbedCursor {
    base: ffi::sqlite3_vtab_cursor,
    db: *mut ffi::sqlite3,
    stmt: Stmt,
    model: Option<Arc<TextModel>>,
    /// (key, embedding BLOB or None for a NULL text) of the current chunk.
    rows: VecDeque<(Value, Option<Vec<u8>>)>,
    done: bool,
    rowid: i64,
    n_columns: c_int,
}

impl EmbedCursor {
    /// Reads up to CHUNK_ROWS rows of the query and embeds them.
    fn fill(&mut self) -> Result<()> {
        let Some(model) = self.model.clone() else {
            return Ok(());
        };
        let mut keys = Vec::new();
        // (row index in the chunk, text, kind)
        let mut texts: Vec<(usize, String, Kind)> = Vec::new();
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
                        db_message(self.db)
                    )));
                }
            }
            let row = self.rowid + keys.len() as i64 + 1;
            // SAFETY: the row's column values stay valid until the next step; they are
            // copied before that.
            let column = |i: c_int| unsafe { value_ref(ffi::sqlite3_column_value(self.stmt.0, i)) };
            let kind = if self.n_columns >= 3 {
                match column(2) {
                    ValueRef::Null => Kind::Document,
                    ValueRef::Text(t) => {
                        Kind::parse(&String::from_utf8_lossy(t)).ok_or_else(|| {
                            sql_error(format!(
                                "{NAME}: row {row}: the kind (third column) must be 'query' or \
                             'document', got '{}'",
                                String::from_utf8_lossy(t)
                            ))
                        })?
                    }
                    other => {
                        return Err(sql_error(format!(
                            "{NAME}: row {row}: the kind (third column) must be 'query' or \
                             'document', got {}",
                            describe_value(other)
                        )))
                    }
                }
            } else {
                Kind::Document
            };
            match column(1) {
                ValueRef::Null => {}
                ValueRef::Text(t) => {
                    let text = std::str::from_utf8(t).map_err(|_| {
                        sql_error(format!("{NAME}: row {row}: the text is not valid UTF-8"))
                    })?;
                    texts.push((keys.len(), text.to_string(), kind));
                }
                other => {
                    return Err(sql_error(format!(
                        "{NAME}: row {row}: expected text in the second column, got {} \
                         (cast it with CAST(x AS TEXT) if that is meant)",
                        describe_value(other)
                    )))
                }
            }
            keys.push(owned(column(0)));
        }
        let mut embeddings: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        let d = model.dimension;
        for kind in [Kind::Document, Kind::Query] {
            let part: Vec<&(usize, String, Kind)> =
                texts.iter().filter(|(_, _, k)| *k == kind).collect();
            if part.is_empty() {
                continue;
            }
            let strings: Vec<&str> = part.iter().map(|(_, t, _)| t.as_str()).collect();
            let vectors = super::interrupt::watching(self.db, || model.embed(&strings, kind));
            let vectors = vectors.map_err(|e| {
                sql_error(format!(
                    "{NAME}: rows {}..{}: {}",
                    self.rowid + 1,
                    self.rowid + keys.len() as i64,
                    ml_error(NAME, &e)
                ))
            })?;
            for (k, (i, _, _)) in part.iter().enumerate() {
                embeddings[*i] = Some(quiver_kernels::codec::f32_to_blob(
                    &vectors[k * d..(k + 1) * d],
                ));
            }
        }
        self.rows.extend(keys.into_iter().zip(embeddings));
        Ok(())
    }
}

impl Drop for EmbedCursor {
    fn drop(&mut self) {
        self.stmt = Stmt::none();
    }
}

// SAFETY: EmbedCursor is repr(C) with the sqlite3_vtab_cursor first.
unsafe impl VTabCursor for EmbedCursor {
    fn filter(&mut self, idx_num: c_int, _idx_str: Option<&str>, args: &Filters<'_>) -> Result<()> {
        guarded(|| {
            self.stmt = Stmt::none();
            self.rows.clear();
            self.rowid = 0;
            self.done = true;
            let (model, stmt, n_columns) = open_query(
                self.db,
                idx_num,
                args,
                Usage {
                    name: NAME,
                    example: "('minilm', 'SELECT rowid, body FROM docs')",
                    columns:
                        "a key column and then the text (and optionally 'query' or 'document')",
                },
                registry::resolve_text,
            )?;
            self.stmt = stmt;
            self.n_columns = n_columns;
            self.model = Some(model);
            self.done = false;
            self.fill()
        })
    }

    fn next(&mut self) -> Result<()> {
        guarded(|| {
            self.rows.pop_front();
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
            let Some((key, embedding)) = self.rows.front() else {
                return ctx.set_result(&Value::Null);
            };
            match (i, embedding) {
                (COLUMN_KEY, _) => ctx.set_result(key),
                // A bare BLOB: vec0 and vec_distance_* read it as float32.
                (COLUMN_EMBEDDING, Some(blob)) => ctx.set_result(blob),
                _ => ctx.set_result(&Value::Null),
            }
        })
    }

    /// The key when it is an integer (so `SELECT rowid, embedding FROM
    /// ml_embed_batch(m, 'SELECT rowid, body FROM docs')` gives the docs' rowids), else
    /// the row's position.
    fn rowid(&self) -> Result<i64> {
        Ok(match self.rows.front() {
            Some((Value::Integer(k), _)) => *k,
            _ => self.rowid + 1,
        })
    }
}

/// Registers `ml_embed_batch`.
pub fn load_module(conn: &Connection) -> Result<()> {
    const MODULE: Module<EmbedTab> = Module::eponymous_only_module();
    conn.create_module(NAME, &MODULE, None)
}
