//! What one connection knows about a vec0 table within its current transaction, and
//! the SQL INSERTs it has not written yet.
//!
//! Per-row costs of a single-row INSERT used to be ~9 statements (generation read and
//! bump, high-water mark read and write, free-chunk lookup, validity update, `_rows`
//! insert) plus an incremental-blob write that walks the chunk BLOB's overflow chain
//! (and compiles a small VDBE program in `sqlite3_blob_open`). Here an INSERT only
//! validates the row and copies it into the chunk being filled, in memory; the chunk is
//! written when it is full (one INSERT of the whole chunk BLOB for a new chunk, one blob
//! handle for the holes of an existing one, `_rows` records many per statement), and
//! before anything else touches the table:
//!
//! * before every read of the table (xFilter: KNN, point lookups, scans, count) and
//!   every UPDATE or DELETE, so reads see the rows and later writes find them;
//! * at xSavepoint (the state a savepoint restores holds every row written before it),
//!   so ROLLBACK TO, and a failed statement's rollback, only ever drop unwritten rows
//!   that were added after the savepoint: xRollbackTo / xRollback discard them;
//! * at xSync (commit), and before the Python bulk API reads or writes the table.
//!
//! Every value is checked in xUpdate before it is buffered, as before. A write that
//! fails while flushing (I/O, disk full) leaves the table refusing further use until
//! the transaction is rolled back (SQLite rolls back a failed commit itself).
//!
//! The generation token (see `cache.rs`) is bumped once per transaction level: the first
//! write after BEGIN, a SAVEPOINT, a ROLLBACK TO or the end of a transaction stores a
//! fresh token; later writes at the same level keep it, because a rollback to any
//! earlier level restores an older token, and this connection's cached entry is kept in
//! step with its own writes (`cache::apply`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Result};

use super::shadow::Shadow;
use super::storage::{NewRow, Tokens};
use crate::sqlite::error::sql_error;

/// The chunk INSERTs are filling.
struct OpenChunk {
    chunk_id: i64,
    size: usize,
    validity: Vec<u8>,
    first_open: usize,
    /// Created by this connection and not written yet: `bytes` holds its whole
    /// contents per vector column. Otherwise the rows' own bytes go into its holes.
    new: bool,
    bytes: Vec<Vec<u8>>,
}

/// One connection's transaction state of one table.
#[derive(Default)]
pub struct TxState {
    pub tokens: Tokens,
    /// The largest rowid ever used (buffered rows included), once read in this
    /// transaction; `Some(None)` for a table that never held a row.
    max_rowid: Option<Option<i64>>,
    /// The high-water mark stored in `_info`, as read.
    stored_max: Option<i64>,
    rows: Vec<NewRow>,
    slots: Vec<i64>,
    rowids: HashSet<i64>,
    text_ids: HashMap<String, i64>,
    chunk: Option<OpenChunk>,
    /// A flush failed part-way: refuse further use until rollback.
    broken: bool,
}

/// The outcome of a buffered INSERT.
pub enum Inserted {
    Rowid(i64),
    /// INSERT OR IGNORE of an existing key.
    Ignored,
}

impl TxState {
    /// Forgets what was read in this transaction (the buffer must be empty or dropped).
    fn forget(&mut self) {
        self.tokens = Tokens::default();
        self.max_rowid = None;
        self.stored_max = None;
    }

    /// An UPDATE moved a row to another rowid (and stored the high-water mark itself):
    /// the next INSERT reads the largest rowid and the stored mark again, so it never
    /// hands out the moved-to rowid nor writes back a lower mark.
    pub fn rowid_moved(&mut self) {
        self.max_rowid = None;
        self.stored_max = None;
    }

    /// Drops the unwritten rows and everything known (ROLLBACK, ROLLBACK TO, DROP).
    pub fn discard(&mut self) {
        self.rows.clear();
        self.slots.clear();
        self.rowids.clear();
        self.text_ids.clear();
        self.chunk = None;
        self.broken = false;
        self.forget();
    }

    /// The end of a transaction (COMMIT): the buffer was flushed at xSync.
    pub fn end(&mut self) {
        self.discard();
    }

    /// A savepoint begins (flushed first) or the Python API writes on its own:
    /// the next write stores a fresh token, and counters are read again.
    pub fn new_level(&mut self, shadow: &Shadow, conn: &Connection) -> Result<()> {
        self.flush(shadow, conn)?;
        self.forget();
        Ok(())
    }

    fn check_usable(&self, shadow: &Shadow) -> Result<()> {
        if self.broken {
            return Err(sql_error(format!(
                "vec0: an earlier write to '{}' failed part-way in this transaction; \
                 ROLLBACK the transaction",
                shadow.name
            )));
        }
        Ok(())
    }

    fn load_max(&mut self, shadow: &Shadow, conn: &Connection) -> Result<Option<i64>> {
        if let Some(m) = self.max_rowid {
            return Ok(m);
        }
        let stored = shadow.max_rowid_ever(conn)?;
        let current: Option<i64> = conn
            .prepare_cached(&format!("SELECT max(rowid) FROM {}", shadow.table("rows")))?
            .query_row([], |r| r.get(0))?;
        let max = stored.max(current);
        self.stored_max = stored;
        self.max_rowid = Some(max);
        Ok(max)
    }

    /// The rowid of a row (written or buffered) holding `rowid`.
    fn rowid_held(&mut self, shadow: &Shadow, conn: &Connection, rowid: i64) -> Result<bool> {
        if self.load_max(shadow, conn)?.is_none_or(|m| rowid > m) {
            return Ok(false); // above every rowid ever used
        }
        Ok(self.rowids.contains(&rowid) || shadow.rowid_exists(conn, rowid)?)
    }

    fn text_id_held(&self, shadow: &Shadow, conn: &Connection, id: &str) -> Result<Option<i64>> {
        if let Some(&r) = self.text_ids.get(id) {
            return Ok(Some(r));
        }
        shadow.rowid_of_text_id(conn, id)
    }

    /// Buffers a validated row (INSERT, INSERT OR REPLACE, INSERT OR IGNORE).
    pub fn insert(
        &mut self,
        shadow: &Shadow,
        conn: &Connection,
        mut row: NewRow,
        replace: bool,
        ignore: bool,
    ) -> Result<Inserted> {
        self.check_usable(shadow)?;
        let by_text = match &row.text_id {
            Some(id) => self.text_id_held(shadow, conn, id)?,
            None => None,
        };
        let by_rowid = match row.rowid {
            Some(r) if self.rowid_held(shadow, conn, r)? => Some(r),
            _ => None,
        };
        if by_text.is_some() || by_rowid.is_some() {
            if ignore {
                return Ok(Inserted::Ignored);
            }
            if !replace {
                return Err(match (&row.text_id, by_text) {
                    (Some(id), Some(_)) => shadow.text_id_taken(id),
                    _ => shadow.rowid_taken(row.rowid.unwrap_or_default()),
                });
            }
            // REPLACE of an existing row: write the buffer, delete through the tables.
            self.flush(shadow, conn)?;
            for r in [by_text, by_rowid].into_iter().flatten() {
                shadow.delete_with(conn, r, &mut self.tokens)?;
            }
        }
        let max = self.load_max(shadow, conn)?;
        let rowid = shadow.rowid_for(row.rowid, max)?;
        let slot = self.next_slot(shadow, conn)?;
        self.max_rowid = Some(Some(max.map_or(rowid, |m| m.max(rowid))));
        row.rowid = Some(rowid);
        if let Some(chunk) = self.chunk.as_mut().filter(|c| c.new) {
            // A new chunk: the bytes go into its image; the row keeps none.
            let offset = (slot % shadow.config.chunk_size as i64) as usize;
            for (v, bytes) in std::mem::take(&mut row.vectors).into_iter().enumerate() {
                let per = bytes.len();
                chunk.bytes[v][offset * per..(offset + 1) * per].copy_from_slice(&bytes);
            }
        }
        self.rowids.insert(rowid);
        if let Some(id) = &row.text_id {
            self.text_ids.insert(id.clone(), rowid);
        }
        self.rows.push(row);
        self.slots.push(slot);
        if self
            .chunk
            .as_ref()
            .is_some_and(|c| c.size >= shadow.config.chunk_size)
        {
            self.flush(shadow, conn)?;
        }
        Ok(Inserted::Rowid(rowid))
    }

    /// The next free slot: in the open chunk, else the first chunk with a hole, else a
    /// new chunk.
    fn next_slot(&mut self, shadow: &Shadow, conn: &Connection) -> Result<i64> {
        let cs = shadow.config.chunk_size;
        loop {
            if let Some(c) = &mut self.chunk {
                if c.size < cs {
                    while c.first_open < c.validity.len() {
                        let byte = &mut c.validity[c.first_open];
                        if *byte != 0xff {
                            let bit = byte.trailing_ones() as usize;
                            *byte |= 1 << bit;
                            c.size += 1;
                            let offset = c.first_open * 8 + bit;
                            return Ok((c.chunk_id - 1) * cs as i64 + offset as i64);
                        }
                        c.first_open += 1;
                    }
                }
                // Full (or a size that disagrees with its bitmap): write it, move on.
                self.flush(shadow, conn)?;
                continue;
            }
            let chunks = shadow.table("chunks");
            let free = shadow.table("free");
            let next: Option<(i64, Value, Value)> = conn
                .prepare_cached(&format!(
                    "SELECT c.chunk_id, c.size, c.validity FROM {free} f JOIN {chunks} c \
                     ON c.chunk_id = f.chunk_id ORDER BY f.chunk_id LIMIT 1"
                ))?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            self.chunk = Some(match next {
                Some((chunk_id, size, validity)) => {
                    // Size against bitmap, and every row against the bitmaps once per
                    // state of the table: a damaged bitmap must not hand out a live slot.
                    let (size, validity) =
                        shadow.check_reused_chunk(conn, chunk_id, &size, validity)?;
                    if validity.iter().all(|&b| b == 0xff) {
                        // Listed as having room but has none: no longer free.
                        conn.prepare_cached(&format!("DELETE FROM {free} WHERE chunk_id = ?1"))?
                            .execute([chunk_id])?;
                        continue;
                    }
                    OpenChunk {
                        chunk_id,
                        size: size.min(cs),
                        validity,
                        first_open: 0,
                        new: false,
                        bytes: Vec::new(),
                    }
                }
                None => {
                    let last: Option<i64> = conn
                        .prepare_cached(&format!("SELECT max(chunk_id) FROM {chunks}"))?
                        .query_row([], |r| r.get(0))?;
                    let chunk_id = last.unwrap_or(0) + 1;
                    // A vector chunk the chunk list does not know of: damage, named now
                    // (its flush would fail later on a bare UNIQUE constraint).
                    for v in 0..shadow.config.n_vectors() {
                        let suffix = Shadow::vector_suffix(v);
                        let exists: Option<i64> = conn
                            .prepare_cached(&format!(
                                "SELECT 1 FROM {} WHERE rowid = ?1",
                                shadow.table(&suffix)
                            ))?
                            .query_row([chunk_id], |r| r.get(0))
                            .optional()?;
                        if exists.is_some() {
                            return Err(shadow.corrupt(format!(
                                "{}_{suffix} has chunk {chunk_id}, which {}_chunks does not list",
                                shadow.name, shadow.name
                            )));
                        }
                    }
                    let per: Vec<usize> = (0..shadow.config.n_vectors())
                        .map(|v| shadow.vector_bytes(v) * cs)
                        .collect();
                    OpenChunk {
                        chunk_id,
                        size: 0,
                        validity: vec![0u8; cs / 8],
                        first_open: 0,
                        new: true,
                        bytes: per.into_iter().map(|n| vec![0u8; n]).collect(),
                    }
                }
            });
        }
    }

    /// Writes the buffered rows and the open chunk's state.
    pub fn flush(&mut self, shadow: &Shadow, conn: &Connection) -> Result<()> {
        self.check_usable(shadow)?;
        let Some(chunk) = self.chunk.take() else {
            return Ok(());
        };
        let result = self.write(shadow, conn, &chunk);
        let rows = std::mem::take(&mut self.rows);
        self.slots.clear();
        self.rowids.clear();
        self.text_ids.clear();
        if result.is_err() {
            self.broken = true;
        }
        drop(rows);
        result
    }

    fn write(&mut self, shadow: &Shadow, conn: &Connection, chunk: &OpenChunk) -> Result<()> {
        let cs = shadow.config.chunk_size;
        let chunks = shadow.table("chunks");
        let free = shadow.table("free");
        let (old, new) = self.tokens.before_write(shadow, conn)?;
        if chunk.new {
            conn.prepare_cached(&format!(
                "INSERT INTO {chunks}(chunk_id, size, validity) VALUES (?1, ?2, ?3)"
            ))?
            .execute(params![chunk.chunk_id, chunk.size as i64, chunk.validity])?;
            if chunk.size < cs {
                conn.prepare_cached(&format!(
                    "INSERT OR IGNORE INTO {free}(chunk_id) VALUES (?1)"
                ))?
                .execute([chunk.chunk_id])?;
            }
            for (v, bytes) in chunk.bytes.iter().enumerate() {
                shadow.insert_chunk(conn, v, chunk.chunk_id, bytes)?;
            }
        } else {
            conn.prepare_cached(&format!(
                "UPDATE {chunks} SET size = ?2, validity = ?3 WHERE chunk_id = ?1"
            ))?
            .execute(params![chunk.chunk_id, chunk.size as i64, chunk.validity])?;
            if chunk.size >= cs {
                conn.prepare_cached(&format!("DELETE FROM {free} WHERE chunk_id = ?1"))?
                    .execute([chunk.chunk_id])?;
            }
            for v in 0..shadow.config.n_vectors() {
                let per = shadow.vector_bytes(v);
                let mut blob = conn.blob_open(
                    shadow.schema.as_str(),
                    format!("{}_{}", shadow.name, Shadow::vector_suffix(v)).as_str(),
                    "vectors",
                    chunk.chunk_id,
                    false,
                )?;
                for (row, &slot) in self.rows.iter().zip(&self.slots) {
                    let offset = (slot % cs as i64) as usize;
                    blob.write_at(&row.vectors[v], offset * per)?;
                }
            }
        }
        let rowids: Vec<i64> = self.rows.iter().map(|r| r.rowid.unwrap_or(0)).collect();
        shadow.write_row_records(conn, &self.rows, &self.slots, &rowids)?;
        if !shadow.ivf_columns().is_empty() {
            shadow.ivf_write_rows(conn, &self.slots, |r, v| {
                Some(if chunk.new {
                    let per = shadow.vector_bytes(v);
                    let offset = (self.slots[r] % cs as i64) as usize;
                    &chunk.bytes[v][offset * per..(offset + 1) * per]
                } else {
                    self.rows[r].vectors[v].as_slice()
                })
            })?;
        }
        if let Some(Some(max)) = self.max_rowid {
            if self.stored_max.is_none_or(|s| s < max) {
                shadow.set_max_rowid_ever(conn, max)?;
                self.stored_max = Some(max);
            }
        }
        let n_vec = shadow.config.n_vectors();
        super::cache::apply(conn, shadow, old, new, |d| {
            for (row, &slot) in self.rows.iter().zip(&self.slots) {
                let offset = (slot % cs as i64) as usize;
                let vecs: Vec<&[u8]> = (0..n_vec)
                    .map(|v| {
                        if chunk.new {
                            let per = shadow.vector_bytes(v);
                            &chunk.bytes[v][offset * per..(offset + 1) * per]
                        } else {
                            row.vectors[v].as_slice()
                        }
                    })
                    .collect();
                d.put(
                    slot as usize,
                    row.rowid.unwrap_or(0),
                    row.text_id.clone(),
                    &row.scalars,
                    &vecs,
                );
            }
        });
        Ok(())
    }
}

/// The state of a table on a connection, shared with the Python API (which reaches the
/// tables without going through SQLite's module callbacks).
pub type Shared = Arc<Mutex<TxState>>;

fn registry() -> &'static Mutex<HashMap<String, Weak<Mutex<TxState>>>> {
    static R: OnceLock<Mutex<HashMap<String, Weak<Mutex<TxState>>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

fn registry_key(conn: &Connection, schema: &str, name: &str) -> String {
    // SAFETY: only the handle's address is used, as an identity.
    let handle = unsafe { conn.handle() };
    format!(
        "{handle:p}\u{0}{}\u{0}{}",
        schema.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    )
}

thread_local! {
    /// How many table states this thread holds: the statements vec0 runs on its shadow
    /// tables while holding one (a multi-row INSERT opens a statement savepoint) make
    /// SQLite call xSavepoint / xRelease / xRollbackTo on every vec0 table of the
    /// transaction; those calls concern only that internal statement and are ignored.
    static HELD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// True inside a statement vec0 itself runs (see `HELD`).
pub fn nested() -> bool {
    HELD.with(|h| h.get() > 0)
}

/// A locked table state.
pub struct Held<'a>(MutexGuard<'a, TxState>);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        HELD.with(|h| h.set(h.get().saturating_sub(1)));
    }
}

impl std::ops::Deref for Held<'_> {
    type Target = TxState;
    fn deref(&self) -> &TxState {
        &self.0
    }
}

impl std::ops::DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut TxState {
        &mut self.0
    }
}

/// Locks a table's state (a panic elsewhere cannot leave it half-changed in a way that
/// matters more than the error it raised; the lock stays usable).
pub fn lock(state: &Shared) -> Held<'_> {
    let guard = state.lock().unwrap_or_else(|e| e.into_inner());
    HELD.with(|h| h.set(h.get() + 1));
    Held(guard)
}

/// A new state for `shadow` on `conn`, findable by the Python API.
pub fn register(conn: &Connection, shadow: &Shadow) -> Shared {
    let state: Shared = Arc::new(Mutex::new(TxState::default()));
    let key = registry_key(conn, &shadow.schema, &shadow.name);
    let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
    map.retain(|_, w| w.strong_count() > 0);
    map.insert(key, Arc::downgrade(&state));
    state
}

/// Forgets the registration of `shadow` on `conn` (disconnect, rename), when it is
/// `state`'s: a table reconnected by SQLite registers its new state under the same key
/// before the old one disconnects.
pub fn unregister(conn: &Connection, shadow: &Shadow, state: &Shared) {
    let key = registry_key(conn, &shadow.schema, &shadow.name);
    let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
    if map
        .get(&key)
        .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(state)))
    {
        map.remove(&key);
    }
}

/// Before the Python API reads or writes `shadow` on `conn`: writes the rows SQL
/// INSERTs left in memory, and makes the next SQL write read its counters again.
pub fn settle(conn: &Connection, shadow: &Shadow) -> Result<()> {
    let key = registry_key(conn, &shadow.schema, &shadow.name);
    let state = registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .and_then(Weak::upgrade);
    match state {
        Some(state) => lock(&state).new_level(shadow, conn),
        None => Ok(()),
    }
}
