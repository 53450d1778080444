//! A scan over an Arrow table: the rows of each chunk that pass the pushed filters,
//! within a rowid range, or every selected row in a sorted order.

use std::sync::Arc;

use rusqlite::ffi;

use crate::arrow::filter::Filter;
use crate::arrow::sort::Ordered;
use crate::arrow::table::ArrowTable;

/// The cursor SQLite holds (repr(C): the base struct first).
#[repr(C)]
pub(crate) struct Cursor {
    pub(crate) base: ffi::sqlite3_vtab_cursor,
    pub(crate) table: Arc<ArrowTable>,
    pub(crate) filters: Vec<Filter>,
    /// Rows of the current chunk that pass the filters (None: every row of the chunk).
    pub(crate) selection: Option<Vec<u32>>,
    pub(crate) batch: usize,
    /// The batch-local rows [chunk_lo, chunk_hi) being walked.
    pub(crate) chunk_lo: usize,
    pub(crate) chunk_hi: usize,
    /// Index into selection (or offset from chunk_lo when selection is None).
    pub(crate) pos: usize,
    /// Rowid range given by a rowid constraint.
    pub(crate) rowid_range: (usize, usize),
    pub(crate) empty: bool,
    /// For a sorted scan: every selected (batch, row), in order; pos indexes it.
    pub(crate) ordered: Option<Ordered>,
}

/// Rows filtered at a time: bounds the selection buffer and lets LIMIT stop early.
const CHUNK_ROWS: usize = 65_536;

impl Cursor {
    pub(crate) fn row(&self) -> usize {
        match &self.selection {
            Some(s) => s[self.pos] as usize,
            None => self.chunk_lo + self.pos,
        }
    }

    pub(crate) fn chunk_len(&self) -> usize {
        match &self.selection {
            Some(s) => s.len(),
            None => self.chunk_hi - self.chunk_lo,
        }
    }

    pub(crate) fn eof(&self) -> bool {
        match &self.ordered {
            Some(o) => self.empty || self.pos >= o.len(),
            None => self.empty || self.batch >= self.table.batches.len(),
        }
    }

    /// The (batch, batch-local row) the cursor is on.
    pub(crate) fn current(&self) -> (usize, usize) {
        match &self.ordered {
            Some(o) => o
                .get(self.pos)
                .map_or((usize::MAX, 0), |(b, r)| (b as usize, r as usize)),
            None => (self.batch, self.row()),
        }
    }

    /// Moves to the first selected row at or after (batch, chunk_lo).
    pub(crate) fn settle(&mut self) {
        while self.batch < self.table.batches.len() {
            let b = &self.table.batches[self.batch];
            let (lo, hi) = self.rowid_range;
            let local_lo = lo.saturating_sub(b.offset).min(b.len);
            let local_hi = hi.saturating_sub(b.offset).min(b.len);
            self.chunk_lo = self.chunk_lo.max(local_lo);
            if self.chunk_lo >= local_hi {
                self.batch += 1;
                self.chunk_lo = 0;
                continue;
            }
            if self.filters.is_empty() {
                self.chunk_hi = local_hi;
                self.selection = None;
            } else {
                self.chunk_hi = (self.chunk_lo + CHUNK_ROWS).min(local_hi);
                let mut sel = self.selection.take().unwrap_or_default();
                sel.clear();
                sel.extend(self.chunk_lo as u32..self.chunk_hi as u32);
                for f in &self.filters {
                    f.retain(&b.columns[f.column], &mut sel);
                    if sel.is_empty() {
                        break;
                    }
                }
                self.selection = Some(sel);
            }
            self.pos = 0;
            if self.chunk_len() > 0 {
                return;
            }
            self.chunk_lo = self.chunk_hi;
        }
    }

    /// Skips `n` selected rows (OFFSET): whole chunks at a time where possible.
    pub(crate) fn skip(&mut self, mut n: usize) {
        if let Some(ordered) = &mut self.ordered {
            self.pos = self.pos.saturating_add(n);
            ordered.prepare(self.pos);
            return;
        }
        while n > 0 && !self.eof() {
            let left = self.chunk_len() - self.pos;
            if n < left {
                self.pos += n;
                return;
            }
            n -= left;
            self.chunk_lo = self.chunk_hi;
            self.settle();
        }
    }

    pub(crate) fn advance(&mut self) {
        self.pos += 1;
        if let Some(ordered) = &mut self.ordered {
            // A lazily sorted scan sorts the next block when it gets there.
            ordered.prepare(self.pos);
            return;
        }
        if self.pos >= self.chunk_len() {
            self.chunk_lo = self.chunk_hi;
            self.settle();
        }
    }
}
