//! vec0 writes: inserts, updates and deletes across the shadow tables (see `shadow`),
//! slot allocation in the chunks' validity bitmaps, and the cache kept in step.

use std::ffi::c_int;

use rusqlite::ffi;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Result};

use super::config::ColumnKind;
use super::shadow::Shadow;
use crate::sqlite::error::sql_error;
use crate::sqlite::stmt::{last_error, Stmt};

/// A row ready to be written (all values validated).
#[derive(Clone, Debug, Default)]
pub struct NewRow {
    pub rowid: Option<i64>,
    pub text_id: Option<String>,
    /// Stored bytes per vector column.
    pub vectors: Vec<Vec<u8>>,
    /// Per partition/metadata column.
    pub scalars: Vec<Value>,
    /// Per auxiliary column.
    pub aux: Vec<Value>,
}

/// The first vector column's bytes of every row of a bulk insert, row-major, with a
/// check of rows `i..j` that runs just before their bytes are written (while the
/// bytes are in cache: one pass over a large array instead of two).
pub struct Contiguous<'a> {
    pub bytes: &'a [u8],
    pub check: &'a dyn Fn(std::ops::Range<usize>) -> Result<()>,
}

/// The generation token this transaction level has already stored, if any (see
/// `pending`: a transaction level stores a fresh token with its first write only).
#[derive(Debug, Default)]
pub struct Tokens {
    known: Option<i64>,
}

impl Tokens {
    /// (token before the write, token after it): stores a fresh token unless this level
    /// already did.
    pub fn before_write(&mut self, shadow: &Shadow, conn: &Connection) -> Result<(i64, i64)> {
        match self.known {
            Some(t) => Ok((t, t)),
            None => {
                let old = shadow.generation(conn)?;
                let new = shadow.bump_generation(conn)?;
                self.known = Some(new);
                Ok((old, new))
            }
        }
    }
}

/// Parts of an UPDATE; `None` means unchanged.
#[derive(Debug, Default)]
pub struct RowChange {
    pub new_rowid: Option<i64>,
    pub text_id: Option<String>,
    pub vectors: Vec<Option<Vec<u8>>>,
    pub scalars: Vec<Option<Value>>,
    pub aux: Vec<Option<Value>>,
}

impl Shadow {
    /// Writes `bytes` into vector column `vec` at consecutive slots from `slot` (all in
    /// one chunk).
    pub(super) fn write_vectors(
        &self,
        conn: &Connection,
        vec: usize,
        slot: i64,
        bytes: &[u8],
    ) -> Result<()> {
        let (chunk_id, offset) = self.chunk_of(slot);
        let per = self.vector_bytes(vec);
        let mut blob = conn.blob_open(
            self.schema.as_str(),
            format!("{}_{}", self.name, Self::vector_suffix(vec)).as_str(),
            "vectors",
            chunk_id,
            false,
        )?;
        blob.write_at(bytes, offset * per)
    }

    /// Errors unless `rowid` is free; under REPLACE, deletes the row holding it.
    fn claim_rowid(&self, conn: &Connection, rowid: i64, replace: bool) -> Result<()> {
        if self.slot_of(conn, rowid)?.is_some() {
            if replace {
                self.delete(conn, rowid)?;
            } else {
                return Err(self.rowid_taken(rowid));
            }
        }
        Ok(())
    }

    /// The error for an INSERT of a rowid that a row holds.
    pub(super) fn rowid_taken(&self, rowid: i64) -> rusqlite::Error {
        sql_error(format!(
            "UNIQUE constraint failed on {0} primary key: {0}.rowid (a row with rowid \
             {rowid} already exists; use INSERT OR REPLACE or UPDATE)",
            self.name
        ))
    }

    /// The error for an INSERT of a text primary key that a row holds.
    pub(super) fn text_id_taken(&self, id: &str) -> rusqlite::Error {
        sql_error(format!(
            "UNIQUE constraint failed on {0} primary key: {0}.{1} (a row with id '{id}' \
             already exists)",
            self.name,
            self.key_name()
        ))
    }

    fn claim_text_id(&self, conn: &Connection, id: &str, replace: bool) -> Result<()> {
        if let Some(rowid) = self.rowid_of_text_id(conn, id)? {
            if replace {
                self.delete(conn, rowid)?;
            } else {
                return Err(self.text_id_taken(id));
            }
        }
        Ok(())
    }

    fn key_name(&self) -> String {
        self.config
            .columns
            .iter()
            .find(|c| matches!(c.kind, ColumnKind::IntegerKey | ColumnKind::TextKey))
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "rowid".to_string())
    }

    /// Checks that the rows' keys are free (or, under REPLACE, frees them), before any
    /// other write, so a refused row changes nothing.
    pub fn check_keys(&self, conn: &Connection, rows: &[NewRow], replace: bool) -> Result<()> {
        let mut seen_ids = std::collections::HashSet::new();
        let mut seen_rowids = std::collections::HashSet::new();
        for row in rows {
            if let Some(id) = &row.text_id {
                if !seen_ids.insert(id.clone()) && !replace {
                    return Err(sql_error(format!(
                        "UNIQUE constraint failed on {0} primary key: {0}.{1} (id '{id}' given twice)",
                        self.name,
                        self.key_name()
                    )));
                }
            }
            if let Some(r) = row.rowid {
                if !seen_rowids.insert(r) && !replace {
                    return Err(sql_error(format!(
                        "UNIQUE constraint failed on {0} primary key: {0}.{1} ({r} given twice)",
                        self.name,
                        self.key_name()
                    )));
                }
            }
        }
        if !replace {
            for row in rows {
                if let Some(id) = &row.text_id {
                    self.claim_text_id(conn, id, false)?;
                }
                if let Some(r) = row.rowid {
                    self.claim_rowid(conn, r, false)?;
                }
            }
        }
        Ok(())
    }

    /// Inserts validated rows; returns their rowids. Call `check_keys` first.
    pub fn insert(&self, conn: &Connection, rows: &[NewRow], replace: bool) -> Result<Vec<i64>> {
        self.insert_with(conn, rows, None, replace)
    }

    /// `insert`, with the first vector column's bytes for all rows given contiguously
    /// (`row.vectors` then holds the other columns only, or nothing).
    pub fn insert_with(
        &self,
        conn: &Connection,
        rows: &[NewRow],
        contiguous: Option<Contiguous<'_>>,
        replace: bool,
    ) -> Result<Vec<i64>> {
        let check = contiguous.as_ref().map(|c| c.check);
        let contiguous = contiguous.map(|c| c.bytes);
        if replace {
            for row in rows {
                if let Some(id) = &row.text_id {
                    self.claim_text_id(conn, id, true)?;
                }
                if let Some(r) = row.rowid {
                    self.claim_rowid(conn, r, true)?;
                }
            }
        }
        let old_token = self.generation(conn)?;
        // Rowids first: a refused rowid must not leave slots marked used with no row
        // (SQLite does not roll back a failed single-row vtab INSERT inside BEGIN).
        let rowids = self.assign_rowids(conn, rows)?;
        let mut alloc = Allocator::new(self);
        let mut slots = Vec::with_capacity(rows.len());
        for _ in rows {
            slots.push(alloc.next(conn)?);
        }
        let new_chunks = alloc.finish(conn)?;
        self.write_row_records(conn, rows, &slots, &rowids)?;
        // Vectors: one write per run of consecutive slots in one chunk. A chunk created
        // by this insert is written whole by one INSERT of its final bytes (no zeroblob
        // written first and overwritten after).
        for vec in 0..self.config.n_vectors() {
            let per = self.vector_bytes(vec);
            let chunk_bytes = self.config.chunk_size * per;
            let source = if vec == 0 { contiguous } else { None };
            let row_bytes = |r: usize| -> &[u8] {
                match source {
                    Some(b) => &b[r * per..(r + 1) * per],
                    None => &rows[r].vectors[vec - usize::from(contiguous.is_some())],
                }
            };
            let mut pending: std::collections::BTreeSet<i64> = new_chunks.iter().copied().collect();
            let mut i = 0;
            while i < rows.len() {
                let (chunk, offset) = self.chunk_of(slots[i]);
                let mut j = i + 1;
                while j < rows.len()
                    && slots[j] == slots[j - 1] + 1
                    && self.chunk_of(slots[j]).0 == chunk
                {
                    j += 1;
                }
                let run: std::borrow::Cow<'_, [u8]> = match source {
                    Some(b) => std::borrow::Cow::Borrowed(&b[i * per..j * per]),
                    None if j == i + 1 => std::borrow::Cow::Borrowed(row_bytes(i)),
                    None => std::borrow::Cow::Owned((i..j).flat_map(row_bytes).copied().collect()),
                };
                if let (Some(check), 0) = (check, vec) {
                    check(i..j)?;
                }
                if pending.remove(&chunk) {
                    if offset == 0 && run.len() == chunk_bytes {
                        self.insert_chunk(conn, vec, chunk, &run)?;
                    } else {
                        let mut whole = vec![0u8; chunk_bytes];
                        whole[offset * per..offset * per + run.len()].copy_from_slice(&run);
                        self.insert_chunk(conn, vec, chunk, &whole)?;
                    }
                } else {
                    self.write_vectors(conn, vec, slots[i], &run)?;
                }
                i = j;
            }
            for chunk in pending {
                self.insert_chunk(conn, vec, chunk, &vec![0u8; chunk_bytes])?;
            }
        }
        if !self.ivf_columns().is_empty() {
            self.ivf_write_rows(conn, &slots, |r, v| {
                Some(match (v, contiguous) {
                    (0, Some(b)) => {
                        let per = self.vector_bytes(0);
                        &b[r * per..(r + 1) * per]
                    }
                    _ => rows[r].vectors[v - usize::from(contiguous.is_some())].as_slice(),
                })
            })?;
        }
        let new_token = self.bump_generation(conn)?;
        if rows.len() > self.config.chunk_size {
            // Big batches: reload lazily (exact-size arrays) rather than grow in place.
            super::cache::forget(conn, self);
        } else {
            let n_vec = self.config.n_vectors();
            super::cache::apply(conn, self, old_token, new_token, |d| {
                for (r, row) in rows.iter().enumerate() {
                    let vecs: Vec<&[u8]> = (0..n_vec)
                        .map(|v| match (v, contiguous) {
                            (0, Some(b)) => {
                                let per = b.len() / rows.len().max(1);
                                &b[r * per..(r + 1) * per]
                            }
                            _ => row.vectors[v - usize::from(contiguous.is_some())].as_slice(),
                        })
                        .collect();
                    d.put(
                        slots[r] as usize,
                        rowids[r],
                        row.text_id.clone(),
                        &row.scalars,
                        &vecs,
                    );
                }
            });
        }
        Ok(rowids)
    }

    /// Rowids for `rows`, one INSERT at a time as SQLite's AUTOINCREMENT assigns them:
    /// a row without one gets 1 + the largest rowid the table ever held (the
    /// `max_rowid` high-water mark in `_info`, or the current largest rowid if that is
    /// larger), so an id is never handed out twice, also after the row holding the
    /// largest one was deleted. Records the new high-water mark.
    fn assign_rowids(&self, conn: &Connection, rows: &[NewRow]) -> Result<Vec<i64>> {
        let stored = self.max_rowid_ever(conn)?;
        let current: Option<i64> = conn
            .prepare_cached(&format!("SELECT max(rowid) FROM {}", self.table("rows")))?
            .query_row([], |r| r.get(0))?;
        let mut max = stored.max(current);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let r = self.rowid_for(row.rowid, max)?;
            max = Some(max.map_or(r, |m| m.max(r)));
            out.push(r);
        }
        if max > stored {
            if let Some(m) = max {
                self.set_max_rowid_ever(conn, m)?;
            }
        }
        Ok(out)
    }

    /// The rowid of a new row: `given`, or 1 + `max`, the largest rowid ever used.
    pub(super) fn rowid_for(&self, given: Option<i64>, max: Option<i64>) -> Result<i64> {
        match (given, max) {
            (Some(r), _) => Ok(r),
            (None, None) => Ok(1),
            (None, Some(i64::MAX)) => Err(sql_error(format!(
                "database or disk is full: vec0: {}: no automatic rowid left (rowid \
                 {} was used; automatic rowids are never reused): give rowids \
                 explicitly",
                self.name,
                i64::MAX
            ))),
            (None, Some(m)) => Ok((m + 1).max(1)),
        }
    }

    /// Writes the `_rows` (and `_auxiliary`) records of `rows` at `slots` with `rowids`.
    /// Many rows per INSERT statement: per-statement costs (statement journal, VDBE
    /// setup) dominate single-row inserts of these small records.
    pub(super) fn write_row_records(
        &self,
        conn: &Connection,
        rows: &[NewRow],
        slots: &[i64],
        rowids: &[i64],
    ) -> Result<()> {
        let n_scalars = self.n_scalars();
        let scalar_cols: String = (0..n_scalars).map(|i| format!(", s{i}")).collect();
        let per_row = 3 + n_scalars;
        // 999: the smallest host limit on bound parameters (SQLite before 3.32).
        let batch = (999 / per_row).clamp(1, 256);
        if rows.len() < batch {
            // Few rows: one INSERT per row.
            let placeholders: String = (0..n_scalars).map(|i| format!(", ?{}", i + 4)).collect();
            let mut insert_row = conn.prepare_cached(&format!(
                "INSERT INTO {}(rowid, id, slot{scalar_cols}) VALUES (?1, ?2, ?3{placeholders})",
                self.table("rows")
            ))?;
            for ((row, &slot), &rowid) in rows.iter().zip(slots).zip(rowids) {
                insert_row.raw_bind_parameter(1, rowid)?;
                insert_row.raw_bind_parameter(2, row.text_id.as_deref())?;
                insert_row.raw_bind_parameter(3, slot)?;
                for (i, v) in row.scalars.iter().enumerate() {
                    insert_row.raw_bind_parameter(4 + i, v)?;
                }
                insert_row.raw_execute()?;
            }
            drop(insert_row);
            return self.insert_aux_records(conn, rows, rowids);
        }
        let tuple = format!("({})", vec!["?"; per_row].join(", "));
        for (start, group) in (0..rows.len())
            .step_by(batch)
            .map(|s| (s, &rows[s..(s + batch).min(rows.len())]))
        {
            let sql = format!(
                "INSERT INTO {}(rowid, id, slot{scalar_cols}) VALUES {}",
                self.table("rows"),
                vec![tuple.as_str(); group.len()].join(", ")
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut p = 1;
            for (k, row) in group.iter().enumerate() {
                stmt.raw_bind_parameter(p, rowids[start + k])?;
                stmt.raw_bind_parameter(p + 1, row.text_id.as_deref())?;
                stmt.raw_bind_parameter(p + 2, slots[start + k])?;
                for (i, v) in row.scalars.iter().enumerate() {
                    stmt.raw_bind_parameter(p + 3 + i, v)?;
                }
                p += per_row;
            }
            stmt.raw_execute()?;
        }
        self.insert_aux_records(conn, rows, rowids)
    }

    /// The `_auxiliary` records of `rows`, many per INSERT.
    fn insert_aux_records(&self, conn: &Connection, rows: &[NewRow], rowids: &[i64]) -> Result<()> {
        let n_aux = self.config.n_aux();
        if n_aux == 0 {
            return Ok(());
        }
        let cols: String = (0..n_aux).map(|i| format!(", a{i}")).collect();
        let per_row = 1 + n_aux;
        let batch = (999 / per_row).clamp(1, 256);
        let tuple = format!("({})", vec!["?"; per_row].join(", "));
        for start in (0..rows.len()).step_by(batch) {
            let end = (start + batch).min(rows.len());
            let mut stmt = conn.prepare_cached(&format!(
                "INSERT INTO {}(rowid{cols}) VALUES {}",
                self.table("auxiliary"),
                vec![tuple.as_str(); end - start].join(", ")
            ))?;
            let mut p = 1;
            for (row, &rowid) in rows[start..end].iter().zip(&rowids[start..end]) {
                stmt.raw_bind_parameter(p, rowid)?;
                for (i, v) in row.aux.iter().enumerate() {
                    stmt.raw_bind_parameter(p + 1 + i, v)?;
                }
                p += per_row;
            }
            stmt.raw_execute()?;
        }
        Ok(())
    }

    /// Inserts the `_vector_chunksNN` row of a new chunk with its whole contents,
    /// bound without a copy (the bytes go straight into the database pages).
    pub(super) fn insert_chunk(
        &self,
        conn: &Connection,
        vec: usize,
        chunk_id: i64,
        bytes: &[u8],
    ) -> Result<()> {
        let len = c_int::try_from(bytes.len())
            .map_err(|_| sql_error(format!("vec0: a chunk of {} bytes is too big", bytes.len())))?;
        let sql = format!(
            "INSERT INTO {}(rowid, vectors) VALUES (?1, ?2)",
            self.table(&Self::vector_suffix(vec))
        );
        // SAFETY: the handle of a live connection, used on this thread for this call.
        let db = unsafe { conn.handle() };
        let (rc, stmt, _) = Stmt::prepare(db, &sql);
        if rc != ffi::SQLITE_OK {
            return Err(last_error(db, rc));
        }
        if stmt.0.is_null() {
            return Err(sql_error("vec0: the chunk insert prepared no statement"));
        }
        // SAFETY: stmt is live; the blob is bound SQLITE_STATIC, which is sound because
        // `bytes` outlives `stmt` (finalized when it drops at the end of this function)
        // and is not changed meanwhile.
        let rc = unsafe {
            let mut rc = ffi::sqlite3_bind_int64(stmt.0, 1, chunk_id);
            if rc == ffi::SQLITE_OK {
                rc = ffi::sqlite3_bind_blob(
                    stmt.0,
                    2,
                    bytes.as_ptr().cast(),
                    len,
                    ffi::SQLITE_STATIC(),
                );
            }
            if rc == ffi::SQLITE_OK {
                rc = ffi::sqlite3_step(stmt.0);
            }
            rc
        };
        match rc {
            ffi::SQLITE_DONE | ffi::SQLITE_OK => Ok(()),
            rc => Err(last_error(db, rc)),
        }
    }

    /// Deletes `rowid`; returns whether it existed.
    pub fn delete(&self, conn: &Connection, rowid: i64) -> Result<bool> {
        self.delete_with(conn, rowid, &mut Tokens::default())
    }

    /// `delete`, storing a fresh generation token only when `tokens` has none for this
    /// transaction level yet.
    pub fn delete_with(&self, conn: &Connection, rowid: i64, tokens: &mut Tokens) -> Result<bool> {
        let Some(slot) = self.slot_of(conn, rowid)? else {
            return Ok(false);
        };
        self.check_slot_for_write(conn, rowid, slot)?;
        let (old_token, new_token) = tokens.before_write(self, conn)?;
        conn.prepare_cached(&format!(
            "DELETE FROM {} WHERE rowid = ?1",
            self.table("rows")
        ))?
        .execute([rowid])?;
        if self.config.n_aux() > 0 {
            conn.prepare_cached(&format!(
                "DELETE FROM {} WHERE rowid = ?1",
                self.table("auxiliary")
            ))?
            .execute([rowid])?;
        }
        let (chunk_id, offset) = self.chunk_of(slot);
        let chunks = self.table("chunks");
        let validity: Vec<u8> = conn
            .prepare_cached(&format!(
                "SELECT validity FROM {chunks} WHERE chunk_id = ?1"
            ))?
            .query_row([chunk_id], |r| r.get(0))?;
        let mut validity = validity;
        if let Some(byte) = validity.get_mut(offset / 8) {
            *byte &= !(1u8 << (offset % 8));
        }
        conn.prepare_cached(&format!(
            "UPDATE {chunks} SET size = size - 1, validity = ?2 WHERE chunk_id = ?1"
        ))?
        .execute(params![chunk_id, validity])?;
        conn.prepare_cached(&format!(
            "INSERT OR IGNORE INTO {}(chunk_id) VALUES (?1)",
            self.table("free")
        ))?
        .execute([chunk_id])?;
        // Zero the freed vector bytes: a deleted embedding does not linger in the file.
        for vec in 0..self.config.n_vectors() {
            let zeros = vec![0u8; self.vector_bytes(vec)];
            self.write_vectors(conn, vec, slot, &zeros)?;
        }
        self.ivf_write_rows(conn, &[slot], |_, _| None)?;
        super::cache::apply(conn, self, old_token, new_token, |d| {
            d.remove(slot as usize)
        });
        Ok(true)
    }

    /// Applies an UPDATE to `rowid` (validated; the new rowid checked to be free),
    /// storing a fresh generation token only when `tokens` has none for this
    /// transaction level yet.
    pub fn update_with(
        &self,
        conn: &Connection,
        rowid: i64,
        change: &RowChange,
        tokens: &mut Tokens,
    ) -> Result<()> {
        let Some(slot) = self.slot_of(conn, rowid)? else {
            return Err(sql_error(format!(
                "vec0: no row with rowid {rowid} in {}",
                self.name
            )));
        };
        self.check_slot_for_write(conn, rowid, slot)?;
        let (old_token, new_token) = tokens.before_write(self, conn)?;
        let rows = self.table("rows");
        let mut target = rowid;
        if let Some(new) = change.new_rowid {
            if new != rowid {
                conn.execute(
                    &format!("UPDATE {rows} SET rowid = ?2 WHERE rowid = ?1"),
                    params![rowid, new],
                )?;
                if self.config.n_aux() > 0 {
                    conn.execute(
                        &format!(
                            "UPDATE {} SET rowid = ?2 WHERE rowid = ?1",
                            self.table("auxiliary")
                        ),
                        params![rowid, new],
                    )?;
                }
                // The moved-from id was used: never hand it out again; nor the new one.
                let used = rowid.max(new);
                if self.max_rowid_ever(conn)?.is_none_or(|m| m < used) {
                    self.set_max_rowid_ever(conn, used)?;
                }
                target = new;
            }
        }
        if let Some(id) = &change.text_id {
            conn.execute(
                &format!("UPDATE {rows} SET id = ?2 WHERE rowid = ?1"),
                params![target, id],
            )?;
        }
        for (i, v) in change.scalars.iter().enumerate() {
            if let Some(v) = v {
                conn.prepare_cached(&format!("UPDATE {rows} SET s{i} = ?2 WHERE rowid = ?1"))?
                    .execute(params![target, v])?;
            }
        }
        for (i, v) in change.aux.iter().enumerate() {
            if let Some(v) = v {
                conn.prepare_cached(&format!(
                    "UPDATE {} SET a{i} = ?2 WHERE rowid = ?1",
                    self.table("auxiliary")
                ))?
                .execute(params![target, v])?;
            }
        }
        for (i, v) in change.vectors.iter().enumerate() {
            if let Some(bytes) = v {
                self.write_vectors(conn, i, slot, bytes)?;
                if self.ivf_columns().contains(&i) {
                    // The row moves to the list of its new vector.
                    self.ivf_write_column(conn, i, &[slot], |_| Some(bytes.as_slice()))?;
                }
            }
        }
        super::cache::apply(conn, self, old_token, new_token, |d| {
            let s = slot as usize;
            if s >= d.n_slots || !d.live[s] {
                return;
            }
            if target != rowid {
                d.set_rowid(s, target);
            }
            if let Some(id) = &change.text_id {
                d.text_ids[s] = Some(id.clone());
            }
            for (i, v) in change.scalars.iter().enumerate() {
                if let Some(v) = v {
                    d.scalars[i][s] = v.clone();
                }
            }
            for (i, v) in change.vectors.iter().enumerate() {
                if let Some(bytes) = v {
                    d.set_vector(i, s, bytes);
                }
            }
        });
        Ok(())
    }

    pub fn rowid_exists(&self, conn: &Connection, rowid: i64) -> Result<bool> {
        Ok(self.slot_of(conn, rowid)?.is_some())
    }
}

/// Hands out free slots: first the holes in existing chunks (lowest chunk first), then
/// slots in new chunks. New chunks get their `_chunks` and `_free` rows here; their
/// vector rows are written by the caller (`finish` lists them).
struct Allocator<'a> {
    shadow: &'a Shadow,
    current: Option<Current>,
    last_chunk: i64,
    new_chunks: Vec<i64>,
}

/// The chunk slots are being taken from.
struct Current {
    chunk_id: i64,
    size: usize,
    validity: Vec<u8>,
    changed: bool,
    /// Validity bytes before this one are full (bits are only set while allocating).
    first_open: usize,
}

impl<'a> Allocator<'a> {
    fn new(shadow: &'a Shadow) -> Self {
        Allocator {
            shadow,
            current: None,
            last_chunk: 0,
            new_chunks: Vec::new(),
        }
    }

    fn next(&mut self, conn: &Connection) -> Result<i64> {
        let cs = self.shadow.config.chunk_size;
        loop {
            if let Some(c) = &mut self.current {
                if c.size < cs {
                    while c.first_open < c.validity.len() {
                        let byte_i = c.first_open;
                        let byte = &mut c.validity[byte_i];
                        if *byte != 0xff {
                            let bit = byte.trailing_ones() as usize;
                            *byte |= 1 << bit;
                            c.size += 1;
                            c.changed = true;
                            let offset = byte_i * 8 + bit;
                            return Ok((c.chunk_id - 1) * cs as i64 + offset as i64);
                        }
                        c.first_open += 1;
                    }
                }
                self.flush(conn)?;
            }
            let chunks = self.shadow.table("chunks");
            let free = self.shadow.table("free");
            let next: Option<(i64, Value, Value)> = conn
                .prepare_cached(&format!(
                    "SELECT c.chunk_id, c.size, c.validity FROM {free} f JOIN {chunks} c \
                     ON c.chunk_id = f.chunk_id WHERE f.chunk_id > ?1 ORDER BY f.chunk_id LIMIT 1"
                ))?
                .query_row([self.last_chunk], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let (chunk_id, size, validity) = match next {
                Some((id, size, validity)) => {
                    let (size, validity) =
                        self.shadow.check_reused_chunk(conn, id, &size, validity)?;
                    (id, size, validity)
                }
                None => (self.new_chunk(conn)?, 0, vec![0u8; cs / 8]),
            };
            self.last_chunk = chunk_id;
            self.current = Some(Current {
                chunk_id,
                size,
                validity,
                changed: false,
                first_open: 0,
            });
        }
    }

    fn new_chunk(&mut self, conn: &Connection) -> Result<i64> {
        let cs = self.shadow.config.chunk_size;
        conn.prepare_cached(&format!(
            "INSERT INTO {}(size, validity) VALUES (0, zeroblob(?1))",
            self.shadow.table("chunks")
        ))?
        .execute([(cs / 8) as i64])?;
        let chunk_id = conn.last_insert_rowid();
        conn.prepare_cached(&format!(
            "INSERT OR IGNORE INTO {}(chunk_id) VALUES (?1)",
            self.shadow.table("free")
        ))?
        .execute([chunk_id])?;
        self.new_chunks.push(chunk_id);
        Ok(chunk_id)
    }

    fn flush(&mut self, conn: &Connection) -> Result<()> {
        if let Some(c) = self.current.take() {
            if c.changed {
                conn.prepare_cached(&format!(
                    "UPDATE {} SET size = ?2, validity = ?3 WHERE chunk_id = ?1",
                    self.shadow.table("chunks")
                ))?
                .execute(params![c.chunk_id, c.size as i64, c.validity])?;
                if c.size >= self.shadow.config.chunk_size {
                    conn.prepare_cached(&format!(
                        "DELETE FROM {} WHERE chunk_id = ?1",
                        self.shadow.table("free")
                    ))?
                    .execute([c.chunk_id])?;
                }
            }
        }
        Ok(())
    }

    /// Writes the last chunk's state; returns the chunks created (their vector rows
    /// are still to be inserted).
    fn finish(mut self, conn: &Connection) -> Result<Vec<i64>> {
        self.flush(conn)?;
        Ok(std::mem::take(&mut self.new_chunks))
    }
}
