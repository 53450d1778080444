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
//! {t}_ivf_centroidsNN(list_id PK, centroid)
//!                                         per `indexed by ivf(...)` column: the trained
//!                                         (or set) centroids, float32 BLOBs; none = not
//!                                         trained
//! {t}_ivf_assignNN(chunk_id PK, lists)    per ivf column, per chunk: the list of every
//!                                         slot, one little-endian u32 each (u32::MAX, or
//!                                         no row for the chunk: not assigned, scanned
//!                                         exactly by every query)
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

use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Result};

use super::config::{check_chunk_size, TableConfig, MAX_CHUNK_SIZE};
use crate::sqlite::error::sql_error;
use crate::sqlite::ident::quote_identifier;
use crate::vec::vector::describe_value;

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

    pub fn ivf_centroids_suffix(i: usize) -> String {
        format!("ivf_centroids{i:02}")
    }

    pub fn ivf_assign_suffix(i: usize) -> String {
        format!("ivf_assign{i:02}")
    }

    /// The vector columns (by vector index) with an `indexed by ivf(...)`.
    pub fn ivf_columns(&self) -> Vec<usize> {
        self.config
            .vector_columns()
            .enumerate()
            .filter(|(_, (_, c))| c.ivf.is_some())
            .map(|(i, _)| i)
            .collect()
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
        for i in self.ivf_columns() {
            s.push(Self::ivf_centroids_suffix(i));
            s.push(Self::ivf_assign_suffix(i));
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
        for i in self.ivf_columns() {
            sql.push_str(&format!(
                "CREATE TABLE {}(list_id INTEGER PRIMARY KEY, centroid BLOB NOT NULL);
                 CREATE TABLE {}(chunk_id INTEGER PRIMARY KEY, lists BLOB NOT NULL);",
                self.table(&Self::ivf_centroids_suffix(i)),
                self.table(&Self::ivf_assign_suffix(i)),
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
    /// differ between releases, so the stored size is the one the chunks have).
    pub fn open_existing(&mut self, conn: &Connection) -> Result<()> {
        self.check_format(conn)?;
        let chunk_size = match self.info_integer(conn, "chunk_size")? {
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|&n| check_chunk_size(n).is_ok())
                .ok_or_else(|| {
                    self.corrupt(format!(
                        "{}_info.chunk_size is {n}, expected a multiple of 8 between 8 and \
                         {MAX_CHUNK_SIZE}",
                        self.name
                    ))
                })?,
            None => return Err(self.corrupt(format!("{}_info has no chunk_size", self.name))),
        };
        self.config.chunk_size = chunk_size;
        Ok(())
    }

    /// The error for a shadow table whose contents this code never writes: a damaged
    /// or hand-edited file. Every value read from a shadow table is checked before it
    /// sizes, indexes or addresses anything, and a bad one ends here.
    pub fn corrupt(&self, what: impl std::fmt::Display) -> rusqlite::Error {
        sql_error(format!("vec0: table '{}' is corrupt: {what}", self.name))
    }

    /// The integer stored under `key` in `{t}_info`, or None when the key is absent.
    pub(super) fn info_integer(&self, conn: &Connection, key: &str) -> Result<Option<i64>> {
        let v: Option<Value> = conn
            .prepare_cached(&format!(
                "SELECT value FROM {} WHERE key = ?1",
                self.table("info")
            ))?
            .query_row([key], |r| r.get(0))
            .optional()?;
        match v {
            None => Ok(None),
            Some(Value::Integer(i)) => Ok(Some(i)),
            Some(other) => Err(self.corrupt(format!(
                "{}_info.{key} is {}, expected an integer",
                self.name,
                describe_value((&other).into())
            ))),
        }
    }

    /// Checks the stored format version.
    fn check_format(&self, conn: &Connection) -> Result<()> {
        match self.info_integer(conn, "format_version")? {
            Some(v) if READABLE_VERSIONS.contains(&v) => Ok(()),
            Some(v) => Err(sql_error(format!(
                "vec0: table '{}' has storage format version {v}; this sqlite-quiver reads \
                 versions {READABLE_VERSIONS:?}",
                self.name
            ))),
            None => Err(sql_error(format!(
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
        self.info_integer(conn, "generation")?
            .ok_or_else(|| self.corrupt(format!("{}_info has no generation", self.name)))
    }

    /// The largest rowid this table ever held, if recorded (older tables: `None`; the
    /// caller then relies on the current largest rowid).
    pub fn max_rowid_ever(&self, conn: &Connection) -> Result<Option<i64>> {
        self.info_integer(conn, "max_rowid")
    }

    pub fn set_max_rowid_ever(&self, conn: &Connection, rowid: i64) -> Result<()> {
        self.set_info_integer(conn, "max_rowid", rowid)
    }

    /// Stores `value` under `key` in `{t}_info`.
    pub(super) fn set_info_integer(&self, conn: &Connection, key: &str, value: i64) -> Result<()> {
        conn.prepare_cached(&format!(
            "INSERT OR REPLACE INTO {}(key, value) VALUES (?1, ?2)",
            self.table("info")
        ))?
        .execute(params![key, value])?;
        Ok(())
    }

    /// Marks a change: a fresh token that no cache has been built from; returns it.
    pub fn bump_generation(&self, conn: &Connection) -> Result<i64> {
        let verified = self.verified_before_write(conn)?;
        let token = new_token();
        conn.prepare_cached(&format!(
            "UPDATE {} SET value = ?1 WHERE key = 'generation'",
            self.table("info")
        ))?
        .execute([token])?;
        self.carry_verified(verified, token);
        Ok(token)
    }

    /// The number of chunks, after checking that `{t}_chunks` and every
    /// `{t}_vector_chunksNN` hold exactly the chunks 1..=n, each vector chunk a BLOB of
    /// `chunk_size` vectors. Reads only row ids and lengths (no vector bytes), and runs
    /// before anything is sized by n: a few bytes of a hand-edited file (chunk_id =
    /// 2**40) cannot make the cache allocate terabytes, and a missing vector chunk is
    /// an error instead of zero vectors.
    pub fn n_chunks(&self, conn: &Connection) -> Result<usize> {
        let (count, min, max): (i64, Option<i64>, Option<i64>) = conn
            .prepare_cached(&format!(
                "SELECT count(*), min(chunk_id), max(chunk_id) FROM {}",
                self.table("chunks")
            ))?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        if count > 0 && (min != Some(1) || max != Some(count)) {
            return Err(self.corrupt(format!(
                "{}_chunks holds chunk ids {} to {}, expected 1 to {count}",
                self.name,
                min.unwrap_or(0),
                max.unwrap_or(0)
            )));
        }
        let cs = self.config.chunk_size;
        // Slots are u32 in the cache and in query hits.
        let n = usize::try_from(count)
            .ok()
            .filter(|&n| n.checked_mul(cs).is_some_and(|s| s <= u32::MAX as usize))
            .ok_or_else(|| self.corrupt(format!("{}_chunks holds {count} chunks", self.name)))?;
        for vec in 0..self.config.n_vectors() {
            let suffix = Self::vector_suffix(vec);
            let expected = (cs * self.vector_bytes(vec)) as i64;
            let (vcount, vmin, vmax, bad): (i64, Option<i64>, Option<i64>, Option<i64>) = conn
                .prepare_cached(&format!(
                    "SELECT count(*), min(rowid), max(rowid), \
                     max(CASE WHEN typeof(vectors) != 'blob' OR length(vectors) != ?1 \
                     THEN rowid END) FROM {}",
                    self.table(&suffix)
                ))?
                .query_row([expected], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?;
            if vcount != count || (count > 0 && (vmin != Some(1) || vmax != Some(count))) {
                return Err(self.corrupt(format!(
                    "{}_{suffix} holds {vcount} chunks (ids {} to {}), {}_chunks holds \
                     {count}: a vector chunk is missing or extra",
                    self.name,
                    vmin.unwrap_or(0),
                    vmax.unwrap_or(0),
                    self.name
                )));
            }
            if let Some(chunk_id) = bad {
                return Err(self.corrupt(format!(
                    "{}_{suffix} chunk {chunk_id} is not a BLOB of {expected} bytes",
                    self.name
                )));
            }
        }
        Ok(n)
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

    /// The slot of `rowid`, checked to be a slot a table can have (0..=u32::MAX).
    pub fn slot_of(&self, conn: &Connection, rowid: i64) -> Result<Option<i64>> {
        let v: Option<Value> = conn
            .prepare_cached(&format!(
                "SELECT slot FROM {} WHERE rowid = ?1",
                self.table("rows")
            ))?
            .query_row([rowid], |r| r.get(0))
            .optional()?;
        v.map(|v| self.checked_slot(rowid, (&v).into(), None).map(i64::from))
            .transpose()
    }

    /// `value`, the stored slot of `rowid`, as a slot index below `n_slots` (or any
    /// u32 when the number of slots is not known here).
    pub fn checked_slot(
        &self,
        rowid: i64,
        value: ValueRef<'_>,
        n_slots: Option<usize>,
    ) -> Result<u32> {
        let limit = n_slots.unwrap_or(u32::MAX as usize + 1);
        match value {
            ValueRef::Integer(s) if s >= 0 && (s as u64) < limit as u64 => Ok(s as u32),
            other => Err(self.corrupt(format!(
                "{}_rows: row {rowid} has slot {}, expected an integer from 0 to {}",
                self.name,
                describe_value(other),
                limit - 1
            ))),
        }
    }

    pub fn text_id_of(&self, conn: &Connection, rowid: i64) -> Result<Option<String>> {
        let v: Option<Value> = conn
            .prepare_cached(&format!(
                "SELECT id FROM {} WHERE rowid = ?1",
                self.table("rows")
            ))?
            .query_row([rowid], |r| r.get(0))
            .optional()?;
        self.checked_text_id(rowid, v.unwrap_or(Value::Null))
    }

    /// A stored text primary key: TEXT, or NULL for none.
    pub fn checked_text_id(&self, rowid: i64, v: Value) -> Result<Option<String>> {
        match v {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s)),
            other => Err(self.corrupt(format!(
                "{}_rows: row {rowid} has id {}, expected text",
                self.name,
                describe_value((&other).into())
            ))),
        }
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
        let table = format!("{}_{}", self.name, Self::vector_suffix(vec));
        let blob = conn
            .blob_open(
                self.schema.as_str(),
                table.as_str(),
                "vectors",
                chunk_id,
                true,
            )
            .map_err(|e| {
                self.corrupt(format!(
                    "{table} has no chunk {chunk_id} for slot {slot} ({})",
                    crate::sqlite::error::error_message(e)
                ))
            })?;
        let expected = self.config.chunk_size * bytes;
        if blob.len() != expected {
            return Err(self.corrupt(format!(
                "{table} chunk {chunk_id} has {} bytes, expected {expected}",
                blob.len()
            )));
        }
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
