//! The process-level cache of decoded vec0 tables, so repeated queries scan RAM.
//!
//! Keyed by database file (or connection, for in-memory databases), schema and table
//! name; shared by every connection of the process (the Python module and the SQLite
//! extension are one shared object). An entry is valid only for the `generation` token
//! it was built from: every write stores a fresh token in `{t}_info`, a ROLLBACK (or
//! ROLLBACK TO) restores the older token, and another connection's commit brings its own,
//! so a query that reads the token sees at once whether the entry still describes what
//! it sees. Tokens are never reused, so an old entry can never match a newer state.
//!
//! The cache holds at most [`budget`] bytes (default: half of the machine's RAM). The
//! least recently used tables are dropped to make room; a table too big for the budget
//! on its own keeps only its rowids and metadata in memory, and every query streams its
//! vectors from the chunks ([`VectorData::Streamed`], [`scan_streamed`]).
//!
//! A table is cached from the second query of a table state on, not the first: the
//! first query of a process (or after another connection's commit) streams the chunks
//! like sqlite-vec does, keeping only rowids and metadata ([`TableData::deferred`]).
//! Filling the cache means writing the whole table into memory the process has never
//! touched, and the kernel's zeroing of those pages made a cold query slower than
//! sqlite-vec's; a one-shot script never pays it, and a table that another process
//! rewrites between every two queries is never loaded in vain. Small tables (below
//! [`DEFER_MIN_BYTES`]) and tables with an index (whose answers come from its codes)
//! are loaded by their first query.

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use quiver_kernels::distance::norm_f32;
use rusqlite::types::Value;
use rusqlite::{Connection, Result};

use super::codes::Codes;
use super::config::VectorColumn;
use super::ivf_data::IvfData;
use super::memory::{range_of, Prefault, MIN_BYTES as DEFER_MIN_BYTES};
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
    /// Not held in memory (the table is above the cache budget): queries read the
    /// chunks from the database, one at a time ([`scan_streamed`]).
    Streamed,
}

impl VectorData {
    /// Room for `slots` zeroed vectors of `col`.
    fn zeroed(col: &VectorColumn, slots: usize) -> VectorData {
        match col.element {
            ElementType::Float32 => VectorData::Float32 {
                data: vec![0.0; slots * col.dims],
                norms: (col.metric == crate::vec::metric::Metric::Cosine).then(|| vec![0.0; slots]),
            },
            ElementType::Int8 => VectorData::Int8(vec![0; slots * col.dims]),
            ElementType::Bit => VectorData::Bit(vec![0; slots * col.bytes()]),
        }
    }

    /// Decodes `bytes` (stored vectors, back to back) into place from slot `first` on.
    fn decode(&mut self, first: usize, dims: usize, bytes: &[u8]) {
        match self {
            VectorData::Float32 { data, norms } => {
                let start = first * dims;
                let dst = &mut data[start..start + bytes.len() / 4];
                for (d, c) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
                    *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
                if let Some(norms) = norms {
                    for (i, x) in dst.chunks_exact(dims).enumerate() {
                        norms[first + i] = norm_f32(x);
                    }
                }
            }
            VectorData::Int8(data) => {
                let start = first * dims;
                for (d, &b) in data[start..start + bytes.len()].iter_mut().zip(bytes) {
                    *d = b as i8;
                }
            }
            VectorData::Bit(data) => {
                let start = first * (dims / 8);
                data[start..start + bytes.len()].copy_from_slice(bytes);
            }
            VectorData::Streamed => {}
        }
    }

    /// Bytes held.
    fn memory_bytes(&self) -> usize {
        match self {
            VectorData::Float32 { data, norms } => {
                data.capacity() * 4 + norms.as_ref().map_or(0, |n| n.capacity() * 4)
            }
            VectorData::Int8(d) => d.capacity(),
            VectorData::Bit(d) => d.capacity(),
            VectorData::Streamed => 0,
        }
    }
}

/// Slots `start..end` of vector column `column`, whose vectors sit in `vectors` from
/// slot `base` on: the table's own cached column (base 0), or one chunk decoded alone.
pub struct ChunkView<'a> {
    pub column: usize,
    pub vectors: &'a VectorData,
    pub base: usize,
    pub start: usize,
    pub end: usize,
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
    /// The IVF index of each vector column with `indexed by ivf(...)` (by vector
    /// column; `None` for other columns and for streamed tables).
    pub ivf: Vec<Option<IvfData>>,
    /// The vectors are streamed because this table state has been queried only once
    /// (the next query loads them), not because the table is above the budget.
    pub deferred: bool,
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
                VectorData::Streamed => {}
            }
        }
        for c in self.codes.iter_mut().flatten() {
            c.resize(n);
        }
        for i in self.ivf.iter_mut().flatten() {
            i.resize(n);
        }
        self.n_slots = n;
    }

    /// Stores vector column `vec` of `slot` from its stored bytes.
    pub fn set_vector(&mut self, vec: usize, slot: usize, bytes: &[u8]) {
        let dims = self.columns[vec].dims;
        let len = self.columns[vec].bytes();
        self.vectors[vec].decode(slot, dims, &bytes[..len.min(bytes.len())]);
        if let (Some(codes), VectorData::Float32 { data, .. }) =
            (&mut self.codes[vec], &self.vectors[vec])
        {
            codes.encode(slot, &data[slot * dims..(slot + 1) * dims]);
        }
        if let (Some(Some(ivf)), VectorData::Float32 { data, norms }) =
            (self.ivf.get_mut(vec), &self.vectors[vec])
        {
            let norm = norms.as_ref().map_or(0.0, |n| n[slot]);
            ivf.set(slot, &data[slot * dims..(slot + 1) * dims], norm);
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
        for ivf in self.ivf.iter_mut().flatten() {
            ivf.remove(slot);
        }
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
    /// Stored bytes of vector column `vec` at `slot`; `None` when the column is streamed
    /// (read it from the chunks).
    pub fn vector_bytes(&self, vec: usize, slot: usize) -> Option<Vec<u8>> {
        let dims = self.columns[vec].dims;
        Some(match &self.vectors[vec] {
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
            VectorData::Streamed => return None,
        })
    }

    /// Whether vector column `vec` is streamed from the chunks rather than held.
    pub fn is_streamed(&self, vec: usize) -> bool {
        matches!(self.vectors.get(vec), Some(VectorData::Streamed))
    }

    /// Whether vector column `vec` is streamed because the table is above the budget
    /// (rather than not loaded yet: see [`TableData::deferred`]).
    pub fn is_over_budget(&self, vec: usize) -> bool {
        self.is_streamed(vec) && !self.deferred
    }

    /// Bytes held, for the memory figure in benchmarks and the budget.
    pub fn memory_bytes(&self) -> usize {
        let n = self.live.capacity()
            + self.rowids.capacity() * 8
            + self.by_rowid.capacity() * 4
            + self
                .codes
                .iter()
                .flatten()
                .map(Codes::memory_bytes)
                .sum::<usize>()
            + self
                .ivf
                .iter()
                .flatten()
                .map(IvfData::memory_bytes)
                .sum::<usize>();
        n + self
            .vectors
            .iter()
            .map(VectorData::memory_bytes)
            .sum::<usize>()
            + self
                .scalars
                .iter()
                .map(|s| s.capacity() * 32)
                .sum::<usize>()
            + self.text_ids.capacity() * 24
    }
}

/// A cached table and when it was last used (for least-recently-used eviction).
struct Entry {
    data: Arc<TableData>,
    used: u64,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, Entry>,
    /// Ticks on every use: the order of `Entry::used`.
    clock: u64,
}

impl Entries {
    fn bytes(&self) -> usize {
        self.map.values().map(|e| e.data.memory_bytes()).sum()
    }

    /// Drops least recently used entries until `extra` more bytes fit in `budget`.
    fn make_room(&mut self, extra: usize, budget: usize) {
        let mut held = self.bytes();
        while held.saturating_add(extra) > budget {
            let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                return;
            };
            if let Some(e) = self.map.remove(&oldest) {
                held -= e.data.memory_bytes().min(held);
                EVICTIONS.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn entries() -> &'static Mutex<Entries> {
    static CACHE: OnceLock<Mutex<Entries>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Entries::default()))
}

fn lock() -> std::sync::MutexGuard<'static, Entries> {
    // A panic while holding the lock cannot leave an entry half-written (entries are
    // replaced whole), so a poisoned lock is still usable.
    entries().lock().unwrap_or_else(|e| e.into_inner())
}

/// Queries answered from a valid entry, tables loaded (decoded from the database), and
/// entries dropped to stay within the budget.
static HITS: AtomicU64 = AtomicU64::new(0);
static LOADS: AtomicU64 = AtomicU64::new(0);
static EVICTIONS: AtomicU64 = AtomicU64::new(0);

/// The budget in bytes; 0 until first read (then the default is computed).
static BUDGET: AtomicUsize = AtomicUsize::new(0);

/// Half of the machine's physical memory (4 GiB where it cannot be read).
fn default_budget() -> usize {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions; it returns -1 for unknown names.
        let (pages, size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && size > 0 {
            return (pages as usize).saturating_mul(size as usize) / 2;
        }
    }
    4 << 30
}

/// The most bytes the cache holds (decoded vectors, norms, rowids and metadata of every
/// cached table).
pub fn budget() -> usize {
    match BUDGET.load(Ordering::Relaxed) {
        0 => {
            let b = default_budget();
            // Another thread may have set a budget meanwhile: keep theirs.
            let _ = BUDGET.compare_exchange(0, b, Ordering::Relaxed, Ordering::Relaxed);
            BUDGET.load(Ordering::Relaxed)
        }
        b => b,
    }
}

/// Sets the budget (bytes, at least 1; `None` restores the default) and drops least
/// recently used tables until the cache fits. Returns the budget now in effect.
pub fn set_budget(bytes: Option<usize>) -> usize {
    let b = bytes.unwrap_or_else(default_budget).max(1);
    BUDGET.store(b, Ordering::Relaxed);
    lock().make_room(0, b);
    b
}

/// What the cache holds, as JSON text: `{"tables": n, "bytes": b, "budget": B,
/// "streamed": s, "hits": h, "loads": l, "evictions": e}` (bytes held by the cached
/// tables; streamed: tables above the budget, whose vectors are read from the chunks on
/// every query; hits, loads and evictions counted since the process started).
pub fn info_json() -> String {
    let map = lock();
    let streamed = map
        .map
        .values()
        .filter(|e| (0..e.data.columns.len()).any(|v| e.data.is_over_budget(v)))
        .count();
    serde_json::json!({
        "tables": map.map.len(),
        "bytes": map.bytes(),
        "budget": budget(),
        "streamed": streamed,
        "hits": HITS.load(Ordering::Relaxed),
        "loads": LOADS.load(Ordering::Relaxed),
        "evictions": EVICTIONS.load(Ordering::Relaxed),
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
        lock().map.remove(&key);
    }
}

/// Drops every entry (memory is given back; the next queries reload).
pub fn clear() {
    lock().map.clear();
}

/// Drops the entry of `shadow` (DROP TABLE, rename, bulk loads).
pub fn forget(conn: &Connection, shadow: &Shadow) {
    lock().map.remove(&key(conn, shadow));
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
    let Some(entry) = map.map.get_mut(&key) else {
        return;
    };
    if entry.data.token == old && old != CHANGING {
        if let Some(data) = Arc::get_mut(&mut entry.data) {
            // If `f` panics, the entry keeps the CHANGING token and is never used.
            data.token = CHANGING;
            f(data);
            data.token = new;
            // Grown past the budget: the next query reloads it (streamed if it is too
            // big on its own).
            if map.bytes() <= budget() {
                return;
            }
        }
    }
    map.map.remove(&key);
}

/// The decoded table as `conn` sees it now, from the cache or freshly loaded.
/// The vectors of a table above the budget are not read: see [`TableData::is_streamed`].
pub fn get(conn: &Connection, shadow: &Shadow) -> Result<Arc<TableData>> {
    Ok(get_or_load(conn, shadow, &mut |_, _| {})?.0)
}

/// Called once per decoded chunk of a vector column while a table is read, with the
/// partly loaded table (every row's rowid, key and metadata already in place) and the
/// chunk's slots and vectors.
pub type ChunkHook<'a> = dyn FnMut(&TableData, &ChunkView<'_>) + 'a;

/// Like [`get`], but when the table's vectors have to be read from the chunks (a load,
/// or a table above the budget, which is streamed on every query), `on_chunk` sees each
/// chunk of every vector column as it is decoded, so a query can be answered in the same
/// pass. The flag says whether that happened (`on_chunk` then saw every slot of every
/// vector column once) or the table came from memory (`on_chunk` was not called).
pub fn get_streaming(
    conn: &Connection,
    shadow: &Shadow,
    on_chunk: &mut ChunkHook<'_>,
) -> Result<(Arc<TableData>, bool)> {
    let (data, loaded) = get_or_load(conn, shadow, on_chunk)?;
    if data
        .vectors
        .iter()
        .any(|v| matches!(v, VectorData::Streamed))
    {
        scan_streamed(conn, shadow, &data, on_chunk)?;
        return Ok((data, true));
    }
    Ok((data, loaded))
}

/// The table from the cache, or loaded (`on_chunk` then sees every chunk of the vector
/// columns held in memory as they are decoded; streamed columns are not read).
fn get_or_load(
    conn: &Connection,
    shadow: &Shadow,
    on_chunk: &mut ChunkHook<'_>,
) -> Result<(Arc<TableData>, bool)> {
    let key = key(conn, shadow);
    let token = shadow.generation(conn)?;
    // Whether this table state was queried before (its entry waits for a full load).
    let mut seen = false;
    let cached = {
        let mut map = lock();
        map.clock += 1;
        let now = map.clock;
        match map.map.get_mut(&key) {
            Some(e) if e.data.token == token => {
                e.used = now;
                seen = e.data.deferred;
                (!seen).then(|| Arc::clone(&e.data))
            }
            _ => None,
        }
    };
    if let Some(data) = cached {
        HITS.fetch_add(1, Ordering::Relaxed);
        return Ok((data, false));
    }
    let budget = budget();
    let n_slots = shadow.n_chunks(conn)? * shadow.config.chunk_size;
    let vector_bytes = shadow
        .config
        .vector_columns()
        .map(|(_, c)| vector_memory(c, n_slots))
        .fold(0usize, usize::saturating_add);
    let over_budget = vector_bytes > budget;
    let defer = !over_budget
        && !seen
        && vector_bytes >= DEFER_MIN_BYTES
        && shadow
            .config
            .vector_columns()
            .all(|(_, c)| c.index.is_none() && c.ivf.is_none());
    if !over_budget && !defer {
        LOADS.fetch_add(1, Ordering::Relaxed);
        lock().make_room(vector_bytes, budget);
    }
    let mut table = load(conn, shadow, token, over_budget || defer, on_chunk)?;
    table.deferred = defer;
    let data = Arc::new(table);
    // Install only if nothing changed while loading (another connection's commit
    // between statements of an autocommit read): tokens are never reused.
    if shadow.generation(conn)? == token {
        let mut map = lock();
        map.make_room(data.memory_bytes(), budget);
        map.clock += 1;
        let used = map.clock;
        map.map.insert(
            key,
            Entry {
                data: Arc::clone(&data),
                used,
            },
        );
    }
    Ok((data, true))
}

/// Bytes the decoded vectors of `col` take for `slots` slots.
fn vector_memory(col: &VectorColumn, slots: usize) -> usize {
    let norms = if col.element == ElementType::Float32
        && col.metric == crate::vec::metric::Metric::Cosine
    {
        4
    } else {
        0
    };
    slots.saturating_mul(col.bytes() + norms)
}

/// Reads the stored chunks of vector column `vi` (`n_chunks` of `cs` slots), calling
/// `f(chunk index, bytes)` for each in storage order, then `f(chunk, None)` for every
/// chunk without a stored row (it reads as zeros, as it does from the cache).
///
/// The chunks are read through one incremental-blob handle moved from row to row: the
/// bytes go from the file straight into one reused buffer, where a `SELECT` would first
/// assemble each value in SQLite's own memory (a second copy of the whole table).
fn for_each_chunk(
    conn: &Connection,
    shadow: &Shadow,
    vi: usize,
    n_chunks: usize,
    mut f: impl FnMut(usize, Option<&[u8]>),
) -> Result<()> {
    let cs = shadow.config.chunk_size;
    let expected = cs * shadow.vector_bytes(vi);
    let table = format!("{}_{}", shadow.name, Shadow::vector_suffix(vi));
    // Only the keys: the b-tree's leaf cells, not the chunks' overflow pages.
    let ids: Vec<i64> = conn
        .prepare_cached(&format!(
            "SELECT rowid FROM {}",
            shadow.table(&Shadow::vector_suffix(vi))
        ))?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_>>()?;
    let mut seen = vec![false; n_chunks];
    let mut buf = vec![0u8; expected];
    let mut blob: Option<rusqlite::blob::Blob<'_>> = None;
    for chunk_id in ids {
        // n_chunks() checked ids and lengths; checked again here, as the rows are read
        // in later statements.
        let chunk = usize::try_from(chunk_id.wrapping_sub(1)).unwrap_or(usize::MAX);
        if chunk >= n_chunks {
            return Err(shadow.corrupt(format!(
                "{table} has chunk {chunk_id}, beyond the {n_chunks} chunks of the table"
            )));
        }
        // A chunk that is not a BLOB cannot be opened (SQLITE_ERROR): damage, like a
        // wrong length. Other failures (I/O, locks) are passed on as they are.
        let unreadable = |e: rusqlite::Error| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_ERROR =>
            {
                shadow.corrupt(format!(
                    "{table} chunk {chunk_id} cannot be read ({})",
                    crate::sqlite::error::error_message(e)
                ))
            }
            other => other,
        };
        let handle = match blob.as_mut() {
            Some(b) => {
                b.reopen(chunk_id).map_err(unreadable)?;
                b
            }
            None => blob.insert(
                conn.blob_open(
                    shadow.schema.as_str(),
                    table.as_str(),
                    "vectors",
                    chunk_id,
                    true,
                )
                .map_err(unreadable)?,
            ),
        };
        if handle.len() != expected {
            return Err(shadow.corrupt(format!(
                "{table} chunk {chunk_id} has {} bytes, expected {expected}",
                handle.len()
            )));
        }
        handle.read_at_exact(&mut buf, 0)?;
        if !seen[chunk] {
            seen[chunk] = true;
            f(chunk, Some(&buf));
        }
    }
    for chunk in (0..n_chunks).filter(|&c| !seen[c]) {
        f(chunk, None);
    }
    Ok(())
}

/// Reads the streamed vector columns of `data` chunk by chunk (one chunk in memory at a
/// time), showing each to `on_chunk`; columns held in memory are shown whole, as one
/// chunk, so `on_chunk` sees every slot of every column once.
pub fn scan_streamed(
    conn: &Connection,
    shadow: &Shadow,
    data: &TableData,
    on_chunk: &mut ChunkHook<'_>,
) -> Result<()> {
    let cs = data.chunk_size;
    for (vi, col) in data.columns.iter().enumerate() {
        if !data.is_streamed(vi) {
            on_chunk(
                data,
                &ChunkView {
                    column: vi,
                    vectors: &data.vectors[vi],
                    base: 0,
                    start: 0,
                    end: data.n_slots,
                },
            );
            continue;
        }
        let mut buf = VectorData::zeroed(col, cs);
        let zeros = vec![0u8; cs * col.bytes()];
        for_each_chunk(conn, shadow, vi, data.n_slots / cs, |chunk, blob| {
            buf.decode(0, col.dims, blob.unwrap_or(&zeros));
            on_chunk(
                data,
                &ChunkView {
                    column: vi,
                    vectors: &buf,
                    base: chunk * cs,
                    start: chunk * cs,
                    end: (chunk + 1) * cs,
                },
            );
        })?;
    }
    Ok(())
}

fn load(
    conn: &Connection,
    shadow: &Shadow,
    token: i64,
    streamed: bool,
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
        .map(|col| {
            if streamed {
                VectorData::Streamed
            } else {
                VectorData::zeroed(col, n_slots)
            }
        })
        .collect();
    let codes: Vec<Option<Codes>> = columns
        .iter()
        // A streamed table has no floats in memory to code (its queries scan exactly).
        .map(|c| {
            c.index
                .filter(|_| !streamed)
                .map(|spec| Codes::new(spec, c.dims, n_slots))
        })
        .collect();
    let mut ivf = Vec::with_capacity(columns.len());
    for (vi, c) in columns.iter().enumerate() {
        // A streamed table is scanned exactly (no index in memory).
        ivf.push(match c.ivf.filter(|_| !streamed) {
            Some(spec) => Some(IvfData::load(conn, shadow, vi, spec, c.metric, n_slots)?),
            None => None,
        });
    }
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
        ivf,
        deferred: false,
    };
    if streamed {
        return Ok(table);
    }
    // The pages of the fresh vectors are faulted in on a second thread meanwhile.
    let prefault = Prefault::new(table.vectors.iter().filter_map(|v| match v {
        VectorData::Float32 { data, .. } => Some(range_of(data)),
        VectorData::Int8(d) => Some(range_of(d)),
        VectorData::Bit(d) => Some(range_of(d)),
        VectorData::Streamed => None,
    }));
    std::thread::scope(|s| {
        if !prefault.is_empty() {
            s.spawn(|| prefault.run());
        }
        decode_vectors(conn, shadow, &mut table, on_chunk)
    })?;
    Ok(table)
}

/// Reads every chunk of every vector column into `table`, showing each chunk to
/// `on_chunk` as soon as it is decoded.
fn decode_vectors(
    conn: &Connection,
    shadow: &Shadow,
    table: &mut TableData,
    on_chunk: &mut ChunkHook<'_>,
) -> Result<()> {
    let cs = table.chunk_size;
    let n_chunks = table.n_slots / cs;
    for vi in 0..table.columns.len() {
        let dims = table.columns[vi].dims;
        // Decoded straight into place (no second copy of the table in memory). The
        // column is taken out of the table meanwhile, so the hook can see the table
        // beside it.
        let mut vectors = std::mem::replace(&mut table.vectors[vi], VectorData::Streamed);
        let read = for_each_chunk(conn, shadow, vi, n_chunks, |chunk, blob| {
            if let Some(blob) = blob {
                vectors.decode(chunk * cs, dims, blob);
                if let (Some(codes), VectorData::Float32 { data, .. }) =
                    (&mut table.codes[vi], &vectors)
                {
                    codes.encode_range(
                        chunk * cs,
                        &data[chunk * cs * dims..(chunk + 1) * cs * dims],
                    );
                }
            }
            on_chunk(
                table,
                &ChunkView {
                    column: vi,
                    vectors: &vectors,
                    base: 0,
                    start: chunk * cs,
                    end: (chunk + 1) * cs,
                },
            );
        });
        table.vectors[vi] = vectors;
        read?;
    }
    Ok(())
}
