//! vec0 consistency between shadow tables (issue 16): what a damaged or hand-edited
//! file can make disagree, and where it is caught.
//!
//! * **Reused slots.** An INSERT takes free slots from the validity bitmaps of
//!   `{t}_chunks`. A bitmap marking a slot free while a `{t}_rows` row still points at
//!   it would let the insert overwrite that row's vector. Before the first slot of an
//!   existing chunk is reused, the chunk's `size` must equal its bitmap's population
//!   count, and the table's rows must agree with its bitmaps: checked once per state of
//!   the table (a full read of `{t}_rows`; also done by every cache load), remembered by
//!   generation token and carried over this process's own writes.
//! * **`integrity-check`.** `INSERT INTO t(t) VALUES ('integrity-check')` (as in FTS5;
//!   the hidden column is named like the table unless a column has that name) verifies
//!   every shadow table against the others; `sqlite_quiver.vectors.integrity_check`
//!   runs it from Python. Damage is an error `vec0: table 't' is corrupt: ...`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OptionalExtension, Result};

use super::shadow::Shadow;
use crate::sqlite::error::sql_error;
use crate::sqlite::ident::quote_identifier;
use crate::vec::vector::describe_value;

/// Tables (cache keys) whose rows were checked against their bitmaps, with the
/// generation token of the state checked.
fn verified() -> MutexGuard<'static, HashMap<String, i64>> {
    static VERIFIED: OnceLock<Mutex<HashMap<String, i64>>> = OnceLock::new();
    VERIFIED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Every command, for the message naming an unknown one (the index commands are
/// recognised before `Shadow::command` sees the rest).
const KNOWN_COMMANDS: &str = "'integrity-check'; with a rescore index 'oversample=N'; \
     with an ivf index 'compute-centroids', 'assign-vectors', 'clear-centroids', \
     'set-centroid:N', 'nprobe=N'";

impl Shadow {
    /// Index of the hidden command column (named like the table), unless a column has
    /// that name.
    pub fn command_column(&self) -> Option<usize> {
        let taken = self.config.find(&self.name).is_some()
            || ["distance", "k"]
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&self.name));
        (!taken).then(|| self.config.k_column() + 1)
    }

    /// The schema passed to sqlite3_declare_vtab, with the command column.
    pub fn declare_sql(&self) -> String {
        let sql = self.config.declare_sql();
        match (self.command_column(), sql.strip_suffix(')')) {
            (Some(_), Some(head)) => format!("{head}, {} HIDDEN)", quote_identifier(&self.name)),
            _ => sql,
        }
    }

    /// Runs the command written to the command column.
    pub fn command(&self, conn: &Connection, command: ValueRef<'_>) -> Result<()> {
        match command {
            ValueRef::Text(b"integrity-check") => self.integrity_check(conn),
            ValueRef::Text(t) => Err(sql_error(format!(
                "vec0: unknown command '{}' for table '{}' (known: {KNOWN_COMMANDS})",
                String::from_utf8_lossy(&t[..t.len().min(64)]),
                self.name
            ))),
            other => Err(sql_error(format!(
                "vec0: a command for table '{}' is text, got {} (known: {KNOWN_COMMANDS})",
                self.name,
                describe_value(other)
            ))),
        }
    }

    /// Checks an existing chunk before its free slots are handed out (see the module
    /// docs): its size against its bitmap, and, once per state of the table, every row
    /// against the bitmaps.
    /// Returns the chunk's size and bitmap.
    pub fn check_reused_chunk(
        &self,
        conn: &Connection,
        chunk_id: i64,
        size: &Value,
        validity: Value,
    ) -> Result<(usize, Vec<u8>)> {
        let used = self.check_chunk_row(chunk_id, size.into(), (&validity).into())?;
        let Value::Blob(validity) = validity else {
            // check_chunk_row accepts only a BLOB.
            return Err(self.corrupt(format!("{}_chunks: chunk {chunk_id}", self.name)));
        };
        let key = super::cache::key(conn, self);
        let token = self.generation(conn)?;
        if verified().get(&key) != Some(&token) {
            let (n_slots, bitmaps) = self.read_bitmaps(conn)?;
            let mut live = vec![false; n_slots];
            self.read_rows(conn, &mut live, &bitmaps)?;
            self.mark_verified(conn, token);
        }
        Ok((used as usize, validity))
    }

    /// Checks the shadow rows a DELETE or UPDATE of the row in `slot` reads and
    /// rewrites (its chunk's size and bitmap, which must mark the slot used, and its
    /// vector chunks), so damage there is a clear error, not "Query returned no rows".
    pub fn check_slot_for_write(&self, conn: &Connection, rowid: i64, slot: i64) -> Result<()> {
        let (chunk_id, offset) = self.chunk_of(slot);
        let row: Option<(Value, Value)> = conn
            .prepare_cached(&format!(
                "SELECT size, validity FROM {} WHERE chunk_id = ?1",
                self.table("chunks")
            ))?
            .query_row([chunk_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((size, validity)) = row else {
            return Err(self.corrupt(format!(
                "{}_rows: row {rowid} is in slot {slot}, whose chunk {chunk_id} is not in \
                 {}_chunks",
                self.name, self.name
            )));
        };
        self.check_chunk_row(chunk_id, (&size).into(), (&validity).into())?;
        if let Value::Blob(bits) = &validity {
            if bits[offset / 8] & (1 << (offset % 8)) == 0 {
                return Err(self.free_slot_in_use(rowid, slot as usize));
            }
        }
        for vec in 0..self.config.n_vectors() {
            let suffix = Shadow::vector_suffix(vec);
            let expected = (self.config.chunk_size * self.vector_bytes(vec)) as i64;
            let ok: Option<bool> = conn
                .prepare_cached(&format!(
                    "SELECT typeof(vectors) = 'blob' AND length(vectors) = ?2 FROM {} \
                     WHERE rowid = ?1",
                    self.table(&suffix)
                ))?
                .query_row([chunk_id, expected], |r| r.get(0))
                .optional()?;
            if ok != Some(true) {
                return Err(self.corrupt(format!(
                    "{}_{suffix} chunk {chunk_id} (of row {rowid}) is {}",
                    self.name,
                    if ok.is_none() {
                        "missing".to_string()
                    } else {
                        format!("not a BLOB of {expected} bytes")
                    }
                )));
            }
        }
        Ok(())
    }

    /// Called by a write of this process before it stores `new`: a table checked in
    /// the state just before this write stays checked (our writes keep rows and bitmaps
    /// in step). Returns what [`Shadow::carry_verified`] needs.
    pub fn verified_before_write(&self, conn: &Connection) -> Result<Option<String>> {
        let key = super::cache::key(conn, self);
        let Some(&token) = verified().get(&key) else {
            return Ok(None);
        };
        Ok((self.generation(conn)? == token).then_some(key))
    }

    pub fn carry_verified(&self, key: Option<String>, new: i64) {
        if let Some(key) = key {
            verified().insert(key, new);
        }
    }

    fn mark_verified(&self, conn: &Connection, token: i64) {
        verified().insert(super::cache::key(conn, self), token);
    }

    /// Called by the cache after it read `{t}_rows` into `live` (state `token`): every
    /// live slot must be marked used in its chunk's bitmap, and every used bit live.
    pub fn check_live_against_bitmaps(
        &self,
        conn: &Connection,
        live: &[bool],
        token: i64,
    ) -> Result<()> {
        let checked = self.read_bitmaps(conn).and_then(|(n_slots, used)| {
            if n_slots != live.len() {
                return Err(self.corrupt(format!(
                    "{}_chunks holds {n_slots} slots, {}_rows was read with {}",
                    self.name,
                    self.name,
                    live.len()
                )));
            }
            self.compare(live, &used)
        });
        match checked {
            Ok(()) => {
                self.mark_verified(conn, token);
                Ok(())
            }
            // Outside a statement (the Python bulk search) another connection may have
            // committed between the reads: not damage, and the load is not kept.
            Err(_) if self.generation(conn)? != token => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `size` and `validity` of chunk `chunk_id`, checked against each other.
    fn check_chunk_row(
        &self,
        chunk_id: i64,
        size: ValueRef<'_>,
        validity: ValueRef<'_>,
    ) -> Result<u32> {
        let cs = self.config.chunk_size;
        let ValueRef::Blob(bits) = validity else {
            return Err(self.corrupt(format!(
                "{}_chunks: chunk {chunk_id} has validity {}, expected a BLOB of {} bytes",
                self.name,
                describe_value(validity),
                cs / 8
            )));
        };
        if bits.len() != cs / 8 {
            return Err(self.corrupt(format!(
                "{}_chunks: chunk {chunk_id} has a validity bitmap of {} bytes, expected {}",
                self.name,
                bits.len(),
                cs / 8
            )));
        }
        let count: u32 = bits.iter().map(|b| b.count_ones()).sum();
        match size {
            ValueRef::Integer(s) if s == i64::from(count) => Ok(count),
            ValueRef::Integer(s) => Err(self.corrupt(format!(
                "{}_chunks: chunk {chunk_id} has size {s}, but its validity bitmap marks \
                 {count} slots used",
                self.name
            ))),
            other => Err(self.corrupt(format!(
                "{}_chunks: chunk {chunk_id} has size {}, expected an integer",
                self.name,
                describe_value(other)
            ))),
        }
    }

    /// The number of slots and the bitmap of used slots of every chunk (each chunk's
    /// size checked against its bitmap).
    fn read_bitmaps(&self, conn: &Connection) -> Result<(usize, Vec<u8>)> {
        let n_chunks = self.n_chunks(conn)?;
        let cs = self.config.chunk_size;
        let mut used = vec![0u8; n_chunks * cs / 8];
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT chunk_id, size, validity FROM {} ORDER BY chunk_id",
            self.table("chunks")
        ))?;
        let mut rows = stmt.query([])?;
        let mut seen = 0usize;
        while let Some(row) = rows.next()? {
            let chunk_id: i64 = row.get(0)?;
            self.check_chunk_row(chunk_id, row.get_ref(1)?, row.get_ref(2)?)?;
            let start = usize::try_from(chunk_id - 1)
                .ok()
                .filter(|&c| c < n_chunks)
                .ok_or_else(|| {
                    self.corrupt(format!(
                        "{}_chunks changed while it was read (chunk {chunk_id})",
                        self.name
                    ))
                })?
                * (cs / 8);
            if let ValueRef::Blob(bits) = row.get_ref(2)? {
                used[start..start + cs / 8].copy_from_slice(bits);
            }
            seen += 1;
        }
        if seen != n_chunks {
            return Err(self.corrupt(format!(
                "{}_chunks changed while it was read ({n_chunks} chunks, then {seen})",
                self.name
            )));
        }
        Ok((n_chunks * cs, used))
    }

    /// Reads every `{t}_rows` slot into `live` (checking range and uniqueness) and
    /// compares with the bitmaps; returns the number of rows.
    fn read_rows(&self, conn: &Connection, live: &mut [bool], used: &[u8]) -> Result<usize> {
        let mut stmt =
            conn.prepare_cached(&format!("SELECT rowid, slot FROM {}", self.table("rows")))?;
        let mut rows = stmt.query([])?;
        let mut n = 0usize;
        while let Some(row) = rows.next()? {
            let rowid: i64 = row.get(0)?;
            let slot = self.checked_slot(rowid, row.get_ref(1)?, Some(live.len()))? as usize;
            if live[slot] {
                return Err(self.corrupt(format!(
                    "{}_rows: row {rowid} is in slot {slot}, which another row is in",
                    self.name
                )));
            }
            live[slot] = true;
            if used[slot / 8] & (1 << (slot % 8)) == 0 {
                return Err(self.free_slot_in_use(rowid, slot));
            }
            n += 1;
        }
        self.compare(live, used)?;
        Ok(n)
    }

    fn free_slot_in_use(&self, rowid: i64, slot: usize) -> rusqlite::Error {
        let (chunk_id, offset) = self.chunk_of(slot as i64);
        self.corrupt(format!(
            "{}_rows: row {rowid} is in slot {slot}, which the validity bitmap of chunk \
             {chunk_id} marks free (bit {offset})",
            self.name
        ))
    }

    /// Every live slot used, every used slot live.
    fn compare(&self, live: &[bool], used: &[u8]) -> Result<()> {
        for (slot, &is_live) in live.iter().enumerate() {
            let is_used = used[slot / 8] & (1 << (slot % 8)) != 0;
            if is_live && !is_used {
                return Err(self.corrupt(format!(
                    "{}_rows: a row is in slot {slot}, which the validity bitmap of chunk \
                     {} marks free",
                    self.name,
                    self.chunk_of(slot as i64).0
                )));
            }
            if is_used && !is_live {
                return Err(self.corrupt(format!(
                    "{}_chunks: slot {slot} (chunk {}) is marked used, but no row of {}_rows \
                     is in it",
                    self.name,
                    self.chunk_of(slot as i64).0,
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// Verifies every shadow table against the others: the info values, chunk ids and
    /// vector chunk lengths, each chunk's size against its bitmap, every row's slot
    /// against the bitmaps, `{t}_free`, text ids, auxiliary rows, the largest rowid.
    pub fn integrity_check(&self, conn: &Connection) -> Result<()> {
        let mut copy = self.clone();
        copy.open_existing(conn)?;
        if copy.config.chunk_size != self.config.chunk_size {
            return Err(self.corrupt(format!(
                "{}_info.chunk_size changed to {} while the table is open with {}",
                self.name, copy.config.chunk_size, self.config.chunk_size
            )));
        }
        self.generation(conn)?;
        let (n_slots, used) = self.read_bitmaps(conn)?;
        let mut live = vec![false; n_slots];
        let n_rows = self.read_rows(conn, &mut live, &used)?;
        let n_chunks = (n_slots / self.config.chunk_size) as i64;
        let (bad_free,): (Option<i64>,) = conn
            .prepare_cached(&format!(
                "SELECT max(CASE WHEN typeof(chunk_id) != 'integer' OR chunk_id < 1 OR \
                 chunk_id > ?1 THEN chunk_id END) FROM {}",
                self.table("free")
            ))?
            .query_row([n_chunks], |r| Ok((r.get(0)?,)))?;
        if let Some(c) = bad_free {
            return Err(self.corrupt(format!(
                "{}_free lists chunk {c}, which {}_chunks does not hold",
                self.name, self.name
            )));
        }
        if self.config.text_key() {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT rowid, id FROM {}", self.table("rows")))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let rowid: i64 = row.get(0)?;
                if self.checked_text_id(rowid, row.get(1)?)?.is_none() {
                    return Err(self.corrupt(format!("{}_rows: row {rowid} has no id", self.name)));
                }
            }
        }
        if self.config.n_aux() > 0 {
            let (count, orphan): (i64, Option<i64>) = conn
                .prepare_cached(&format!(
                    "SELECT count(*), max(CASE WHEN r.rowid IS NULL THEN a.rowid END) \
                     FROM {} a LEFT JOIN {} r ON r.rowid = a.rowid",
                    self.table("auxiliary"),
                    self.table("rows")
                ))?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if let Some(rowid) = orphan {
                return Err(self.corrupt(format!(
                    "{}_auxiliary has row {rowid}, which {}_rows does not",
                    self.name, self.name
                )));
            }
            if count != n_rows as i64 {
                return Err(self.corrupt(format!(
                    "{}_auxiliary has {count} rows, {}_rows has {n_rows}",
                    self.name, self.name
                )));
            }
        }
        if let Some(max_ever) = self.max_rowid_ever(conn)? {
            let (max,): (Option<i64>,) = conn
                .prepare_cached(&format!("SELECT max(rowid) FROM {}", self.table("rows")))?
                .query_row([], |r| Ok((r.get(0)?,)))?;
            if max.is_some_and(|m| m > max_ever) {
                return Err(self.corrupt(format!(
                    "{}_info.max_rowid is {max_ever}, below the largest rowid {}",
                    self.name,
                    max.unwrap_or(0)
                )));
            }
        }
        for vi in self.ivf_columns() {
            self.check_ivf(conn, vi, n_chunks)?;
        }
        self.mark_verified(conn, self.generation(conn)?);
        Ok(())
    }

    /// The ivf shadow tables of vector column `vi`: centroids of the column's size with
    /// list ids below nlist; one lists BLOB of `chunk_size` u32 per existing chunk.
    fn check_ivf(&self, conn: &Connection, vi: usize, n_chunks: i64) -> Result<()> {
        let Some((_, col)) = self.config.vector_columns().nth(vi) else {
            return Ok(());
        };
        let nlist = col.ivf.map_or(0, |i| i.nlist) as i64;
        let centroids = format!("{}_{}", self.name, Self::ivf_centroids_suffix(vi));
        let (bad,): (Option<i64>,) = conn
            .prepare_cached(&format!(
                "SELECT max(CASE WHEN typeof(list_id) != 'integer' OR list_id < 0 OR \
                 list_id >= ?1 OR typeof(centroid) != 'blob' OR length(centroid) != ?2 \
                 THEN list_id END) FROM {}",
                self.table(&Self::ivf_centroids_suffix(vi))
            ))?
            .query_row([nlist, (col.dims * 4) as i64], |r| Ok((r.get(0)?,)))?;
        if let Some(id) = bad {
            return Err(self.corrupt(format!(
                "{centroids} list {id} is not a list below nlist {nlist} with a float32 \
                 centroid of {} dimensions",
                col.dims
            )));
        }
        let assign = format!("{}_{}", self.name, Self::ivf_assign_suffix(vi));
        let (bad,): (Option<i64>,) = conn
            .prepare_cached(&format!(
                "SELECT max(CASE WHEN typeof(chunk_id) != 'integer' OR chunk_id < 1 OR \
                 chunk_id > ?1 OR typeof(lists) != 'blob' OR length(lists) != ?2 \
                 THEN chunk_id END) FROM {}",
                self.table(&Self::ivf_assign_suffix(vi))
            ))?
            .query_row([n_chunks, (self.config.chunk_size * 4) as i64], |r| {
                Ok((r.get(0)?,))
            })?;
        if let Some(id) = bad {
            return Err(self.corrupt(format!(
                "{assign} has chunk {id}, which is not a chunk of the table with {} list \
                 numbers",
                self.config.chunk_size
            )));
        }
        Ok(())
    }
}
