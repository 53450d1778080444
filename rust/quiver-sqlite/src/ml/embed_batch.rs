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
//! back in the order the query gave it. A NULL text gives a NULL embedding; the
//! embedding column carries sqlite-vec's float32 subtype, as `ml_embed`'s result does.

use std::collections::VecDeque;
use std::ffi::c_int;
use std::sync::{Arc, OnceLock};

use rusqlite::ffi;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Result};

use super::functions::ml_error;
use super::table_fn::{self, ChunkSource, Usage};
use super::text::{Kind, TextModel};
use super::{registry, MlError};
use crate::sqlite::error::sql_error;
use crate::sqlite::value::{owned, value_ref, ResultSlot};
use crate::vec::vector::{describe_value, SUBTYPE_FLOAT32};

const NAME: &str = "ml_embed_batch";
/// Rows read (and tokenized) per chunk. Each chunk is sorted by length on its own, so
/// a larger chunk pads less: on 10,000 short documents, 1,024-row chunks ran 2.7% more
/// padded tokens than one sort of the whole input, 4,096-row chunks 0.6%.
pub const CHUNK_ROWS: usize = 4096;
const COLUMN_KEY: c_int = 0;
const COLUMN_EMBEDDING: c_int = 1;

/// One scan of `ml_embed_batch`.
pub struct Embeddings {
    model: Arc<TextModel>,
    /// (key, embedding BLOB or None for a NULL text) of the current chunk.
    rows: VecDeque<(Value, Option<Vec<u8>>)>,
    /// The pending chunk: keys, and (row index in the chunk, text, kind) of the
    /// non-NULL texts.
    keys: Vec<Value>,
    texts: Vec<(usize, String, Kind)>,
    n_columns: c_int,
}

impl ChunkSource for Embeddings {
    type Model = TextModel;
    const NAME: &'static str = NAME;
    const SCHEMA: &'static std::ffi::CStr =
        c"CREATE TABLE x(key, embedding, model HIDDEN, sql HIDDEN)";
    const USAGE: Usage = Usage {
        name: NAME,
        example: "('minilm', 'SELECT rowid, body FROM docs')",
        columns: "a key column and then the text (and optionally 'query' or 'document')",
    };
    const COLUMN_MODEL: c_int = 2;
    const COLUMN_SQL: c_int = 3;
    const CHUNK_ROWS: usize = CHUNK_ROWS;

    fn resolve(conn: &Connection, spec: &str) -> std::result::Result<Arc<TextModel>, MlError> {
        registry::resolve_text(conn, spec)
    }

    fn start(model: Arc<TextModel>, _idx_num: c_int, n_columns: c_int) -> Self {
        Embeddings {
            model,
            rows: VecDeque::new(),
            keys: Vec::new(),
            texts: Vec::new(),
            n_columns,
        }
    }

    fn read_row(&mut self, stmt: *mut ffi::sqlite3_stmt, row: i64) -> Result<()> {
        // SAFETY: the row's column values stay valid until the next step; they are
        // copied before that.
        let column = |i: c_int| unsafe { value_ref(ffi::sqlite3_column_value(stmt, i)) };
        let kind = if self.n_columns >= 3 {
            match column(2) {
                ValueRef::Null => Kind::Document,
                ValueRef::Text(t) => Kind::parse(&String::from_utf8_lossy(t)).ok_or_else(|| {
                    sql_error(format!(
                        "{NAME}: row {row}: the kind (third column) must be 'query' or \
                         'document', got '{}'",
                        String::from_utf8_lossy(t)
                    ))
                })?,
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
                self.texts.push((self.keys.len(), text.to_string(), kind));
            }
            other => {
                return Err(sql_error(format!(
                    "{NAME}: row {row}: expected text in the second column, got {} \
                     (cast it with CAST(x AS TEXT) if that is meant)",
                    describe_value(other)
                )))
            }
        }
        self.keys.push(owned(column(0)));
        Ok(())
    }

    fn pending(&self) -> usize {
        self.keys.len()
    }

    fn run(&mut self, first: i64) -> Result<()> {
        let keys = std::mem::take(&mut self.keys);
        let texts = std::mem::take(&mut self.texts);
        let mut embeddings: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        let d = self.model.dimension;
        for kind in [Kind::Document, Kind::Query] {
            let part: Vec<&(usize, String, Kind)> =
                texts.iter().filter(|(_, _, k)| *k == kind).collect();
            if part.is_empty() {
                continue;
            }
            let strings: Vec<&str> = part.iter().map(|(_, t, _)| t.as_str()).collect();
            let vectors = self.model.embed(&strings, kind).map_err(|e| {
                sql_error(format!(
                    "{NAME}: rows {first}..{}: {}",
                    first + keys.len() as i64 - 1,
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

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn advance(&mut self) {
        self.rows.pop_front();
    }

    fn column(&self, out: &mut ResultSlot, i: c_int) -> Result<()> {
        match (i, self.rows.front()) {
            (COLUMN_KEY, Some((key, _))) => out.set(key.into()),
            (COLUMN_EMBEDDING, Some((_, Some(blob)))) => out.set_vector(blob, SUBTYPE_FLOAT32),
            _ => out.set(ValueRef::Null),
        }
        Ok(())
    }

    /// The key when it is an integer (so `SELECT rowid, embedding FROM
    /// ml_embed_batch(m, 'SELECT rowid, body FROM docs')` gives the docs' rowids), else
    /// the row's position.
    fn rowid(&self) -> Option<i64> {
        match self.rows.front() {
            Some((Value::Integer(k), _)) => Some(*k),
            _ => None,
        }
    }
}

/// Registers `ml_embed_batch`.
pub fn load_module(conn: &Connection) -> Result<()> {
    static MODULE: OnceLock<ffi::sqlite3_module> = OnceLock::new();
    table_fn::register::<Embeddings>(conn, c"ml_embed_batch", &MODULE)
}
