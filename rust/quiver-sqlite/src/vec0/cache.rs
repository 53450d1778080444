//! The process-level cache of decoded vec0 tables, so repeated queries scan RAM.
//!
//! Keyed by database file (or connection, for in-memory databases), schema and table
//! name; shared by every connection of the process (the Python module and the SQLite
//! extension are one shared object). An entry is valid only for the `generation` token
//! it was built from: every write stores a fresh token in `{t}_info`, a ROLLBACK (or
//! ROLLBACK TO) restores the older token, and another connection's commit brings its own,
//! so a query that reads the token sees at once whether the entry still describes what
//! it sees. Tokens are never reused, so an old entry can never match a newer state.

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use quiver_kernels::distance::norm_f32;
use rusqlite::types::Value;
use rusqlite::{Connection, Result};

use super::codes::Codes;
use super::config::VectorColumn;
use super::shadow::Shadow;
use crate::vec::vector::ElementType;

/// Decoded vectors of one vector column, `slots * dims` elements.
pub enum VectorData {
    Float32 {
        data: Vec<f32>,
        /// Per-slot norms, for cosine.
        norms: Option<Vec<f32>>,
    },
    Int8(Vec<i8>),
    Bit(Vec<u8>),
}

/// A decoded snapshot of one vec0 table.
pub struct TableData {
    pub token: i64,
    pub n_slots: usize,
    pub live: Vec<bool>,
    pub rowids: Vec<i64>,
    /// Text primary keys by slot (empty without a text key).
    pub text_ids: Vec<Option<String>>,
    /// Partition/metadata values: `scalars[column][slot]`.
    pub scalars: Vec<Vec<Value>>,
    pub vectors: Vec<VectorData>,
    pub columns: Vec<VectorColumn>,
    /// Live slots in rowid order.
    pub by_rowid: Vec<u32>,
    pub chunk_size: usize,
    pub text_key: bool,
    /// Quantized codes of each vector column with a rescore index (by vector column).
    pub codes: Vec<Option<Codes>>,
}

/// A token no write ever produces: marks an entry being changed.
const CHANGING: i64 = i64::MIN;

impl TableData {
    fn position(&self, rowid: i64) -> Result<usize, usize> {
        self.by_rowid
            .binary_search_by_key(&rowid, |&s| self.rowids[s as usize])
    }

    /// Grows every per-slot array to cover `slot` (whole chunks).
    fn ensure_slot(&mut self, slot: usize) {
        if slot < self.n_slots {
            return;
        }
        let n = (slot / self.chunk_size + 1) * self.chunk_size;
        // Capacity grows by at least 1/8: amortized O(1) per insert, at most 12.5%
        // spare memory.
        fn grow<T: Clone>(v: &mut Vec<T>, n: usize, fill: T) {
            if n > v.capacity() {
                let need = n - v.len();
                v.reserve_exact(need.max(v.len() / 8));
            }
            v.resize(n, fill);
        }
        grow(&mut self.live, n, false);
        grow(&mut self.rowids, n, 0);
        if self.text_key {
            grow(&mut self.text_ids, n, None);
        }
        for col in &mut self.scalars {
            grow(col, n, Value::Null);
        }
        for (v, c) in self.vectors.iter_mut().zip(&self.columns) {
            match v {
                VectorData::Float32 { data, norms } => {
                    grow(data, n * c.dims, 0.0);
                    if let Some(norms) = norms {
                        grow(norms, n, 0.0);
                    }
                }
                VectorData::Int8(d) => grow(d, n * c.dims, 0),
                VectorData::Bit(d) => grow(d, n * c.dims / 8, 0),
            }
        }
        for c in self.codes.iter_mut().flatten() {
            c.resize(n);
        }
        self.n_slots = n;
    }

    /// Stores vector column `vec` of `slot` from its stored bytes.
    pub fn set_vector(&mut self, vec: usize, slot: usize, bytes: &[u8]) {
        let dims = self.columns[vec].dims;
        match &mut self.vectors[vec] {
            VectorData::Float32 { data, norms } => {
                let dst = &mut data[slot * dims..(slot + 1) * dims];
                for (d, c) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
                    *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
                if let Some(norms) = norms {
                    norms[slot] = norm_f32(&data[slot * dims..(slot + 1) * dims]);
                }
                if let Some(codes) = &mut self.codes[vec] {
                    codes.encode(slot, &data[slot * dims..(slot + 1) * dims]);
                }
            }
            VectorData::Int8(data) => {
                for (d, &b) in data[slot * dims..(slot + 1) * dims].iter_mut().zip(bytes) {
                    *d = b as i8;
                }
            }
            VectorData::Bit(data) => {
                let b = dims / 8;
                data[slot * b..(slot + 1) * b].copy_from_slice(&bytes[..b]);
            }
        }
    }

    /// A new live row.
    pub fn put(
        &mut self,
        slot: usize,
        rowid: i64,
        text_id: Option<String>,
        scalars: &[Value],
        vectors: &[&[u8]],
    ) {
        self.ensure_slot(slot);
        self.live[slot] = true;
        self.rowids[slot] = rowid;
        if self.text_key {
            self.text_ids[slot] = text_id;
        }
        for (col, v) in self.scalars.iter_mut().zip(scalars) {
            col[slot] = v.clone();
        }
        for (i, bytes) in vectors.iter().enumerate() {
            self.set_vector(i, slot, bytes);
        }
        let at = self.position(rowid).unwrap_or_else(|e| e);
        self.by_rowid.insert(at, slot as u32);
    }

    pub fn remove(&mut self, slot: usize) {
        if slot >= self.n_slots || !self.live[slot] {
            return;
        }
        if let Ok(at) = self.position(self.rowids[slot]) {
            self.by_rowid.remove(at);
        }
        self.live[slot] = false;
    }

    pub fn set_rowid(&mut self, slot: usize, rowid: i64) {
        if let Ok(at) = self.position(self.rowids[slot]) {
            self.by_rowid.remove(at);
        }
        self.rowids[slot] = rowid;
        let at = self.position(rowid).unwrap_or_else(|e| e);
        self.by_rowid.insert(at, slot as u32);
    }
}

impl TableData {
    /// Stored bytes of vector column `vec` at `slot`.
    pub fn vector_bytes(&self, vec: usize, slot: usize) -> Vec<u8> {
        let dims = self.columns[vec].dims;
        match &self.vectors[vec] {
            VectorData::Float32 { data, .. } => data[slot * dims..(slot + 1) * dims]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
            VectorData::Int8(data) => data[slot * dims..(slot + 1) * dims]
                .iter()
                .map(|&x| x as u8)
                .collect(),
            VectorData::Bit(data) => {
                let b = dims / 8;
                data[slot * b..(slot + 1) * b].to_vec()
            }
        }
    }

    /// Bytes held, for the memory figure in benchmarks.
    pub fn memory_bytes(&self) -> usize {
        let mut n =
            self.live.capacity() + self.rowids.capacity() * 8 + self.by_rowid.capacity() * 4;
        for v in &self.vectors {
            n += match v {
                VectorData::Float32 { data, norms } => {
                    data.capacity() * 4 + norms.as_ref().map_or(0, |n| n.capacity() * 4)
                }
                VectorData::Int8(d) => d.capacity(),
                VectorData::Bit(d) => d.capacity(),
            };
        }
        n += self
            .codes
            .iter()
            .flatten()
            .map(Codes::memory_bytes)
            .sum::<usize>();
        n + self
            .scalars
            .iter()
            .map(|s| s.capacity() * 32)
            .sum::<usize>()
            + self.text_ids.capacity() * 24
    }
}

type Entries = HashMap<String, Arc<TableData>>;

fn entries() -> &'static Mutex<Entries> {
    static CACHE: OnceLock<Mutex<Entries>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock() -> std::sync::MutexGuard<'static, Entries> {
    // A panic while holding the lock cannot leave an entry half-written (entries are
    // replaced whole), so a poisoned lock is still usable.
    entries().lock().unwrap_or_else(|e| e.into_inner())
}

/// Queries answered from a valid entry, and tables loaded (decoded from the database).
static HITS: AtomicU64 = AtomicU64::new(0);
static LOADS: AtomicU64 = AtomicU64::new(0);

/// What the cache holds, as JSON text: `{"tables": n, "bytes": b, "hits": h, "loads": l}`
/// (bytes held by the decoded tables; hits and loads counted since the process started).
pub fn info_json() -> String {
    let map = lock();
    let bytes: usize = map.values().map(|d| d.memory_bytes()).sum();
    serde_json::json!({
        "tables": map.len(),
        "bytes": bytes,
        "hits": HITS.load(Ordering::Relaxed),
        "loads": LOADS.load(Ordering::Relaxed),
    })
    .to_string()
}

/// The cache key of `shadow` as seen from `conn`.
pub fn key(conn: &Connection, shadow: &Shadow) -> String {
    let schema = std::ffi::CString::new(shadow.schema.as_str()).unwrap_or_default();
    // SAFETY: the handle is live; db_filename returns null or a NUL-terminated string
    // owned by SQLite, valid while the database stays attached; copied at once.
    let file = unsafe {
        let p = rusqlite::ffi::sqlite3_db_filename(conn.handle(), schema.as_ptr());
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    let place = if file.is_empty() {
        // SAFETY: only the handle's address is used, as an identity.
        let handle = unsafe { conn.handle() };
        format!("memory:{handle:p}:{}", shadow.schema)
    } else {
        format!("file:{file}")
    };
    format!("{place}\u{0}{}", shadow.name.to_ascii_lowercase())
}

/// Drops the entry of `shadow` if its database lives in memory (on disconnect: the
/// data goes away with the connection, and the key could be reused).
pub fn forget_if_memory(conn: &Connection, shadow: &Shadow) {
    let key = key(conn, shadow);
    if key.starts_with("memory:") {
        lock().remove(&key);
    }
}

/// Drops every entry (memory is given back; the next queries reload).
pub fn clear() {
    lock().clear();
}

/// Drops the entry of `shadow` (DROP TABLE, rename, bulk loads).
pub fn forget(conn: &Connection, shadow: &Shadow) {
    lock().remove(&key(conn, shadow));
}

/// Applies this connection's write to the cached entry, if the entry describes the
/// state just before it (`old` token); otherwise drops the entry (the next query
/// reloads). `new` is the token the write stored.
pub fn apply(
    conn: &Connection,
    shadow: &Shadow,
    old: i64,
    new: i64,
    f: impl FnOnce(&mut TableData),
) {
    let key = key(conn, shadow);
    let mut map = lock();
    let Some(entry) = map.get_mut(&key) else {
        return;
    };
    if entry.token == old && old != CHANGING {
        if let Some(data) = Arc::get_mut(entry) {
            // If `f` panics, the entry keeps the CHANGING token and is never used.
            data.token = CHANGING;
            f(data);
            data.token = new;
            return;
        }
    }
    map.remove(&key);
}

/// The decoded table as `conn` sees it now, from the cache or freshly loaded.
pub fn get(conn: &Connection, shadow: &Shadow) -> Result<Arc<TableData>> {
    Ok(get_streaming(conn, shadow, &mut |_, _, _, _| {})?.0)
}

/// Called once per decoded chunk of a vector column while a table loads:
/// `(partly loaded table, vector column, first slot, end slot)`. Every row's rowid, key
/// and metadata are already in place; the vectors of the given slots have just been
/// decoded (with their norms), the other chunks may still be zero.
pub type ChunkHook<'a> = dyn FnMut(&TableData, usize, usize, usize) + 'a;

/// Like [`get`], but when the table has to be loaded, `on_chunk` sees each chunk as it
/// is decoded (so a query can be answered in the same pass). The flag says whether the
/// table was loaded (`on_chunk` then saw every slot of every vector column once) or
/// came from the cache (`on_chunk` was not called).
pub fn get_streaming(
    conn: &Connection,
    shadow: &Shadow,
    on_chunk: &mut ChunkHook<'_>,
) -> Result<(Arc<TableData>, bool)> {
    let key = key(conn, shadow);
    let token = shadow.generation(conn)?;
    if let Some(data) = lock().get(&key) {
        if data.token == token {
            HITS.fetch_add(1, Ordering::Relaxed);
            return Ok((Arc::clone(data), false));
        }
    }
    LOADS.fetch_add(1, Ordering::Relaxed);
    let data = Arc::new(load(conn, shadow, token, on_chunk)?);
    // Install only if nothing changed while loading (another connection's commit
    // between statements of an autocommit read): tokens are never reused.
    if shadow.generation(conn)? == token {
        lock().insert(key, Arc::clone(&data));
    }
    Ok((data, true))
}

fn load(
    conn: &Connection,
    shadow: &Shadow,
    token: i64,
    on_chunk: &mut ChunkHook<'_>,
) -> Result<TableData> {
    let config = &shadow.config;
    let cs = config.chunk_size;
    let n_chunks = shadow.n_chunks(conn)?;
    let n_slots = n_chunks * cs;
    let n_scalars = shadow.n_scalars();
    let text_key = config.text_key();
    let mut live = vec![false; n_slots];
    let mut rowids = vec![0i64; n_slots];
    let mut text_ids: Vec<Option<String>> = if text_key {
        vec![None; n_slots]
    } else {
        Vec::new()
    };
    let mut scalars: Vec<Vec<Value>> = (0..n_scalars).map(|_| vec![Value::Null; n_slots]).collect();
    {
        let cols: String = (0..n_scalars).map(|i| format!(", s{i}")).collect();
        let mut stmt = conn.prepare(&format!(
            "SELECT rowid, slot, id{cols} FROM {}",
            shadow.table("rows")
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let rowid: i64 = row.get(0)?;
            let slot = shadow.checked_slot(rowid, row.get_ref(1)?, Some(n_slots))? as usize;
            if live[slot] {
                return Err(shadow.corrupt(format!(
                    "{}_rows: rows {} and {rowid} share slot {slot}",
                    shadow.name, rowids[slot]
                )));
            }
            live[slot] = true;
            rowids[slot] = rowid;
            if text_key {
                text_ids[slot] = shadow.checked_text_id(rowid, row.get(2)?)?;
            }
            for (i, col) in scalars.iter_mut().enumerate() {
                col[slot] = row.get(3 + i)?;
            }
        }
    }
    shadow.check_live_against_bitmaps(conn, &live, token)?;
    let columns: Vec<VectorColumn> = config.vector_columns().map(|(_, c)| c.clone()).collect();
    let vectors: Vec<VectorData> = columns
        .iter()
        .map(|col| match col.element {
            ElementType::Float32 => VectorData::Float32 {
                data: vec![0.0; n_slots * col.dims],
                norms: (col.metric == crate::vec::metric::Metric::Cosine)
                    .then(|| vec![0.0; n_slots]),
            },
            ElementType::Int8 => VectorData::Int8(vec![0; n_slots * col.dims]),
            ElementType::Bit => VectorData::Bit(vec![0; n_slots * col.bytes()]),
        })
        .collect();
    let codes: Vec<Option<Codes>> = columns
        .iter()
        .map(|c| c.index.map(|spec| Codes::new(spec, c.dims, n_slots)))
        .collect();
    let mut by_rowid: Vec<u32> = (0..n_slots as u32).filter(|&s| live[s as usize]).collect();
    by_rowid.sort_unstable_by_key(|&s| rowids[s as usize]);
    let mut table = TableData {
        token,
        n_slots,
        live,
        rowids,
        text_ids,
        scalars,
        vectors,
        columns,
        by_rowid,
        chunk_size: cs,
        text_key,
        codes,
    };
    for vi in 0..table.columns.len() {
        let dims = table.columns[vi].dims;
        let bytes = table.columns[vi].bytes();
        let total = n_slots * bytes;
        let mut seen = vec![false; n_chunks];
        let mut stmt = conn.prepare(&format!(
            "SELECT rowid, vectors FROM {}",
            shadow.table(&Shadow::vector_suffix(vi))
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let chunk_id: i64 = row.get(0)?;
            // n_chunks() checked ids and lengths; checked again here, as the rows are
            // read in a later statement.
            let blob = match row.get_ref(1)? {
                rusqlite::types::ValueRef::Blob(b) => b,
                _ => &[],
            };
            let start = usize::try_from(chunk_id.wrapping_sub(1))
                .unwrap_or(usize::MAX)
                .saturating_mul(cs * bytes);
            if blob.len() != cs * bytes || start >= total {
                return Err(shadow.corrupt(format!(
                    "{}_{} chunk {chunk_id} has {} bytes, expected {}",
                    shadow.name,
                    Shadow::vector_suffix(vi),
                    blob.len(),
                    cs * bytes
                )));
            }
            // Decoded straight into place: no second copy of the table in memory.
            match &mut table.vectors[vi] {
                VectorData::Float32 { data, norms } => {
                    let dst = &mut data[start / 4..(start + blob.len()) / 4];
                    for (d, c) in dst.iter_mut().zip(blob.chunks_exact(4)) {
                        *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    }
                    if let Some(norms) = norms {
                        let first = start / bytes;
                        for (i, x) in dst.chunks_exact(dims).enumerate() {
                            norms[first + i] = norm_f32(x);
                        }
                    }
                    if let Some(codes) = &mut table.codes[vi] {
                        codes.encode_range(start / bytes, dst);
                    }
                }
                VectorData::Int8(data) => {
                    for (d, &b) in data[start..start + blob.len()].iter_mut().zip(blob) {
                        *d = b as i8;
                    }
                }
                VectorData::Bit(data) => data[start..start + blob.len()].copy_from_slice(blob),
            }
            let chunk = start / (cs * bytes);
            if !seen[chunk] {
                seen[chunk] = true;
                on_chunk(&table, vi, chunk * cs, (chunk + 1) * cs);
            }
        }
        // A chunk without a stored row reads as zeros, as it does from the cache.
        for chunk in (0..n_chunks).filter(|&c| !seen[c]) {
            on_chunk(&table, vi, chunk * cs, (chunk + 1) * cs);
        }
    }
    Ok(table)
}
