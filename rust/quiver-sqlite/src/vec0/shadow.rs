//! vec0 shadow tables: their names and layout, creation, format checks, and the reads
//! of single rows. Every byte of a vec0 table's state lives in them, so SQLite's own
//! transactions, savepoints and rollbacks cover it. Writes are in `storage`.
//!
//! ```text
//! {t}_info(key PRIMARY KEY, value)        format_version, chunk_size, generation,
//!                                         max_rowid (largest rowid ever used; absent in
//!                                         tables written before it existed)
//! {t}_chunks(chunk_id PK, size, validity) one row per chunk of `chunk_size` slots;
//!                                         validity = one bit per slot (LSB first)
//! {t}_free(chunk_id PK)                   the chunks with a free slot
//! {t}_rows(rowid PK, id, slot, s0, s1, ...)
//!                                         rowid -> slot, text primary key (id UNIQUE
//!                                         for text-key tables), partition and metadata
//!                                         values (s0.. in declaration order)
//! {t}_vector_chunksNN(rowid PK, vectors)  per vector column, one BLOB per chunk holding
//!                                         chunk_size packed vectors (rowid = chunk_id)
//! {t}_auxiliary(rowid PK, a0, a1, ...)    auxiliary columns, as given
//! ```
//!
//! A row lives in slot `(chunk_id - 1) * chunk_size + offset`; a deleted row's slot is
//! freed in its chunk's validity bitmap and reused by the next insert. Chunks are never
//! deleted, so chunk ids stay dense (1..=n) and slots index the in-memory cache directly.
//! An ANN index or quantized copies would be further `{t}_...` tables keyed by chunk_id
//! (or slot), next to `_vector_chunksNN`.
//!
//! `generation` is set to a fresh random token by every write; the process-level cache
//! of decoded vectors is valid only for the token it was built from (see `cache.rs`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Result};

use super::config::{check_chunk_size, TableConfig, MAX_CHUNK_SIZE};
use crate::sqlite::error::sql_error;
use crate::sqlite::ident::quote_identifier;

/// The format new tables are created in. Version 2 differs from version 1 only in
/// that `{t}_rows.id` is UNIQUE just for tables with a text primary key (elsewhere it is
/// always NULL, and the unique index cost an index insert per row); version 1 tables
/// are read and written as they are.
pub const FORMAT_VERSION: i64 = 2;

/// Every format version this code reads and writes.
const READABLE_VERSIONS: [i64; 2] = [1, 2];

/// Where a vec0 table's shadow tables live.
#[derive(Clone, Debug)]
pub struct Shadow {
    pub schema: String,
    pub name: String,
    pub config: TableConfig,
}

/// A fresh token, unique across processes and time with overwhelming probability.
pub fn new_token() -> i64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    match h.finish() as i64 {
        i64::MIN => i64::MIN + 1, // reserved by the cache for entries being changed
        t => t,
    }
}

impl Shadow {
    /// `"schema"."{name}_{suffix}"`.
    pub fn table(&self, suffix: &str) -> String {
        format!(
            "{}.{}",
            quote_identifier(&self.schema),
            quote_identifier(&format!("{}_{suffix}", self.name))
        )
    }

    pub fn vector_suffix(i: usize) -> String {
        format!("vector_chunks{i:02}")
    }

    /// Suffixes of every shadow table of this table.
    pub fn suffixes(&self) -> Vec<String> {
        let mut s = vec![
            "info".to_string(),
            "chunks".to_string(),
            "free".to_string(),
            "rows".to_string(),
        ];
        for i in 0..self.config.n_vectors() {
            s.push(Self::vector_suffix(i));
        }
        if self.config.n_aux() > 0 {
            s.push("auxiliary".to_string());
        }
        s
    }

    pub fn n_scalars(&self) -> usize {
        self.config.scalar_types().len()
    }

    pub fn create(&self, conn: &Connection) -> Result<()> {
        let cs = self.config.chunk_size;
        let scalar_cols: String = (0..self.n_scalars()).map(|i| format!(", s{i}")).collect();
        let unique = if self.config.text_key() {
            " UNIQUE"
        } else {
            ""
        };
        let mut sql = format!(
            "CREATE TABLE {info}(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
             CREATE TABLE {chunks}(chunk_id INTEGER PRIMARY KEY, size INTEGER NOT NULL, validity BLOB NOT NULL);
             CREATE TABLE {free}(chunk_id INTEGER PRIMARY KEY);
             CREATE TABLE {rows}(rowid INTEGER PRIMARY KEY, id TEXT{unique}, slot INTEGER NOT NULL{scalar_cols});",
            info = self.table("info"),
            chunks = self.table("chunks"),
            free = self.table("free"),
            rows = self.table("rows"),
        );
        for i in 0..self.config.n_vectors() {
            sql.push_str(&format!(
                "CREATE TABLE {}(rowid INTEGER PRIMARY KEY, vectors BLOB NOT NULL);",
                self.table(&Self::vector_suffix(i))
            ));
        }
        let n_aux = self.config.n_aux();
        if n_aux > 0 {
            let cols: String = (0..n_aux).map(|i| format!(", a{i}")).collect();
            sql.push_str(&format!(
                "CREATE TABLE {}(rowid INTEGER PRIMARY KEY{cols});",
                self.table("auxiliary")
            ));
        }
        conn.execute_batch(&sql)?;
        let info = self.table("info");
        conn.execute(
            &format!("INSERT INTO {info}(key, value) VALUES ('format_version', ?1), ('chunk_size', ?2), ('generation', ?3)"),
            params![FORMAT_VERSION, cs as i64, new_token()],
        )?;
        Ok(())
    }

    /// On connect: checks the stored format version and takes the chunk size the table
    /// was created with (stored in `_info`: the default for the CREATE arguments may
    /// differ between releases).
    pub fn open_existing(&mut self, conn: &Connection) -> Result<()> {
        self.check_format(conn)?;
        let chunk_size = match self.info_value(conn, "chunk_size")? {
            Some(Value::Integer(n)) => usize::try_from(n)
                .ok()
                .filter(|&n| check_chunk_size(n).is_ok()),
            _ => None,
        };
        self.config.chunk_size = chunk_size.ok_or_else(|| {
            sql_error(format!(
                "vec0: table '{}' is corrupt: its {}_info table holds no valid chunk_size \
                 (a multiple of 8 between 8 and {MAX_CHUNK_SIZE})",
                self.name, self.name
            ))
        })?;
        Ok(())
    }

    /// The value stored under `key` in the `_info` table.
    fn info_value(&self, conn: &Connection, key: &str) -> Result<Option<Value>> {
        conn.query_row(
            &format!("SELECT value FROM {} WHERE key = ?1", self.table("info")),
            [key],
            |r| r.get(0),
        )
        .optional()
    }

    /// Checks the stored format version.
    fn check_format(&self, conn: &Connection) -> Result<()> {
        match self.info_value(conn, "format_version")? {
            Some(Value::Integer(v)) if READABLE_VERSIONS.contains(&v) => Ok(()),
            Some(Value::Integer(v)) => Err(sql_error(format!(
                "vec0: table '{}' has storage format version {v}; this sqlite-quiver reads \
                 versions {READABLE_VERSIONS:?}",
                self.name
            ))),
            _ => Err(sql_error(format!(
                "vec0: table '{}' has no format version in its {}_info table (not a \
                 sqlite-quiver vec0 table, or damaged)",
                self.name, self.name
            ))),
        }
    }

    pub fn drop_all(&self, conn: &Connection) -> Result<()> {
        let mut sql = String::new();
        for s in self.suffixes() {
            sql.push_str(&format!("DROP TABLE IF EXISTS {};", self.table(&s)));
        }
        conn.execute_batch(&sql)
    }

    pub fn rename(&self, conn: &Connection, new_name: &str) -> Result<()> {
        let mut sql = String::new();
        for s in self.suffixes() {
            sql.push_str(&format!(
                "ALTER TABLE {} RENAME TO {};",
                self.table(&s),
                quote_identifier(&format!("{new_name}_{s}"))
            ));
        }
        conn.execute_batch(&sql)
    }

    pub fn generation(&self, conn: &Connection) -> Result<i64> {
        conn.prepare_cached(&format!(
            "SELECT value FROM {} WHERE key = 'generation'",
            self.table("info")
        ))?
        .query_row([], |r| r.get(0))
    }

    /// The largest rowid this table ever held, if recorded (older tables: `None`; the
    /// caller then relies on the current largest rowid).
    pub fn max_rowid_ever(&self, conn: &Connection) -> Result<Option<i64>> {
        conn.prepare_cached(&format!(
            "SELECT value FROM {} WHERE key = 'max_rowid'",
            self.table("info")
        ))?
        .query_row([], |r| r.get(0))
        .optional()
    }

    pub fn set_max_rowid_ever(&self, conn: &Connection, rowid: i64) -> Result<()> {
        conn.prepare_cached(&format!(
            "INSERT OR REPLACE INTO {}(key, value) VALUES ('max_rowid', ?1)",
            self.table("info")
        ))?
        .execute([rowid])?;
        Ok(())
    }

    /// Marks a change: a fresh token that no cache has been built from; returns it.
    pub fn bump_generation(&self, conn: &Connection) -> Result<i64> {
        let token = new_token();
        conn.prepare_cached(&format!(
            "UPDATE {} SET value = ?1 WHERE key = 'generation'",
            self.table("info")
        ))?
        .execute([token])?;
        Ok(token)
    }

    pub fn n_chunks(&self, conn: &Connection) -> Result<usize> {
        let n: Option<i64> = conn
            .prepare_cached(&format!(
                "SELECT max(chunk_id) FROM {}",
                self.table("chunks")
            ))?
            .query_row([], |r| r.get(0))?;
        Ok(n.unwrap_or(0).max(0) as usize)
    }

    /// The rowid holding text id `id`.
    pub fn rowid_of_text_id(&self, conn: &Connection, id: &str) -> Result<Option<i64>> {
        conn.prepare_cached(&format!(
            "SELECT rowid FROM {} WHERE id = ?1",
            self.table("rows")
        ))?
        .query_row([id], |r| r.get(0))
        .optional()
    }

    pub fn slot_of(&self, conn: &Connection, rowid: i64) -> Result<Option<i64>> {
        conn.prepare_cached(&format!(
            "SELECT slot FROM {} WHERE rowid = ?1",
            self.table("rows")
        ))?
        .query_row([rowid], |r| r.get(0))
        .optional()
    }

    pub fn text_id_of(&self, conn: &Connection, rowid: i64) -> Result<Option<String>> {
        let v: Option<Option<String>> = conn
            .prepare_cached(&format!(
                "SELECT id FROM {} WHERE rowid = ?1",
                self.table("rows")
            ))?
            .query_row([rowid], |r| r.get(0))
            .optional()?;
        Ok(v.flatten())
    }

    pub fn scalar_value(&self, conn: &Connection, rowid: i64, i: usize) -> Result<Value> {
        let v: Option<Value> = conn
            .prepare_cached(&format!(
                "SELECT s{i} FROM {} WHERE rowid = ?1",
                self.table("rows")
            ))?
            .query_row([rowid], |r| r.get(0))
            .optional()?;
        Ok(v.unwrap_or(Value::Null))
    }

    pub fn aux_value(&self, conn: &Connection, rowid: i64, aux: usize) -> Result<Value> {
        let v: Option<Value> = conn
            .prepare_cached(&format!(
                "SELECT a{aux} FROM {} WHERE rowid = ?1",
                self.table("auxiliary")
            ))?
            .query_row([rowid], |r| r.get(0))
            .optional()?;
        Ok(v.unwrap_or(Value::Null))
    }

    /// The stored bytes of vector column `vec` at `slot`.
    pub fn read_vector(&self, conn: &Connection, vec: usize, slot: i64) -> Result<Vec<u8>> {
        let (chunk_id, offset) = self.chunk_of(slot);
        let bytes = self.vector_bytes(vec);
        let blob = conn.blob_open(
            self.schema.as_str(),
            format!("{}_{}", self.name, Self::vector_suffix(vec)).as_str(),
            "vectors",
            chunk_id,
            true,
        )?;
        let mut buf = vec![0u8; bytes];
        blob.read_at_exact(&mut buf, offset * bytes)?;
        Ok(buf)
    }

    pub(super) fn vector_bytes(&self, vec: usize) -> usize {
        self.config
            .vector_columns()
            .nth(vec)
            .map(|(_, c)| c.bytes())
            .unwrap_or(0)
    }

    pub fn chunk_of(&self, slot: i64) -> (i64, usize) {
        let cs = self.config.chunk_size as i64;
        (slot / cs + 1, (slot % cs) as usize)
    }
}
