//! The cached state of an `indexed by ivf(...)` column (see the `ivf` module): its centroids,
//! the list of every slot, and the inverted lists built from them on first use; and the
//! reads of that state from the shadow tables.

use std::sync::OnceLock;

use quiver_kernels::dispatch;
use quiver_kernels::kmeans::{self, CentroidPanels};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Result};

use super::codes::Codes;
use super::index_spec::{Ivf, Rescore};
use super::shadow::Shadow;
use crate::vec::metric::Metric;

/// A slot in no list.
pub const UNASSIGNED: u32 = u32::MAX;

/// Centroids as the index compares them: packed `m * dims` floats (unit norm for
/// cosine columns) and the list id of each.
#[derive(Clone, Default)]
pub struct Centroids {
    pub dims: usize,
    pub data: Vec<f32>,
    pub ids: Vec<u32>,
    /// The centroids as panels for ranking, built on first use.
    panels: OnceLock<CentroidPanels>,
}

/// The centroids in order of distance to one query, sorted only as far as a
/// search asks ([`Ranking::nearest`]): a query probes a few lists out of
/// thousands, and sorting them all cost more than scanning the lists.
pub struct Ranking {
    /// (squared distance up to a constant, centroid position).
    scored: Vec<(f32, u32)>,
    sorted: usize,
}

impl Ranking {
    pub fn len(&self) -> usize {
        self.scored.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scored.is_empty()
    }

    /// The `n` nearest centroid positions (at most all of them), nearest first,
    /// ties by position.
    pub fn nearest(&mut self, n: usize) -> impl Iterator<Item = u32> + '_ {
        let n = n.min(self.scored.len());
        if n > self.sorted {
            let order = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            let rest = &mut self.scored[self.sorted..];
            let want = n - self.sorted;
            if want < rest.len() {
                rest.select_nth_unstable_by(want - 1, order);
            }
            rest[..want].sort_unstable_by(order);
            self.sorted = n;
        }
        self.scored[..n].iter().map(|&(_, p)| p)
    }
}

impl Centroids {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The list of each vector in `xs` (`dims` floats each), [`UNASSIGNED`] when there
    /// are no centroids.
    pub fn assign(&self, xs: &[f32], metric: Metric, threads: usize) -> Vec<u32> {
        let n = xs.len() / self.dims.max(1);
        if self.is_empty() || self.dims == 0 {
            return vec![UNASSIGNED; n];
        }
        let prepared;
        let xs = if metric == Metric::Cosine {
            prepared = normalized(xs, self.dims);
            &prepared[..]
        } else {
            xs
        };
        // Non-finite vectors are refused on write; a failure here leaves rows unassigned
        // (scanned exactly), never wrong.
        match kmeans::assign(xs, &self.data, self.dims, threads.max(1)) {
            Ok(pos) => pos.into_iter().map(|p| self.ids[p as usize]).collect(),
            Err(_) => vec![UNASSIGNED; n],
        }
    }

    /// The centroids ranked by distance to `q` (by squared Euclidean distance, on
    /// unit vectors for cosine columns, as rows are assigned).
    pub(super) fn ranking(&self, q: &[f32], metric: Metric) -> Ranking {
        let q = if metric == Metric::Cosine {
            normalized(q, self.dims)
        } else {
            q.to_vec()
        };
        let kern = dispatch::best();
        let panels = self
            .panels
            .get_or_init(|| CentroidPanels::new(kern, &self.data, self.dims));
        let mut scores = Vec::new();
        panels.scores(kern, &q, &mut scores);
        let scored = scores.into_iter().zip(0..).collect();
        Ranking { scored, sorted: 0 }
    }
}

/// Rows scaled to unit norm (zero rows stay zero).
pub(super) fn normalized(xs: &[f32], dims: usize) -> Vec<f32> {
    let mut out = xs.to_vec();
    for row in out.chunks_exact_mut(dims.max(1)) {
        let n = quiver_kernels::distance::norm_f32(row);
        if n > 0.0 {
            row.iter_mut().for_each(|x| *x /= n);
        }
    }
    out
}

/// Little-endian float32 bytes to floats.
pub(super) fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// One inverted list: its member slots and a packed copy of their vectors (the
/// IVF-Flat layout), so a probe reads one contiguous run instead of slots scattered
/// over the table (random reads cost ~6x a sequential scan per vector); or, on a
/// quantized index, their codes in `slots` order.
#[derive(Default)]
pub struct List {
    pub slots: Vec<u32>,
    /// `dims` floats per member, in `slots` order (empty when the lists are not
    /// packed).
    pub vectors: Vec<f32>,
    /// Each member's norm (cosine columns only; empty otherwise).
    pub norms: Vec<f32>,
    /// The members' codes (quantized indexes only).
    pub codes: Option<Codes>,
}

impl List {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn bytes(&self) -> usize {
        let codes = self.codes.as_ref().map_or(0, Codes::memory_bytes);
        self.slots.capacity() * 4
            + self.vectors.capacity() * 4
            + self.norms.capacity() * 4
            + codes
            + 72
    }
}

/// Where a slot in no list sits in [`Lists::place`].
const NOWHERE: (u32, u32) = (u32::MAX, u32::MAX);

/// The inverted lists of one column, built from the per-slot lists of live slots on
/// first use and then kept up to date by every write (see [`IvfData::set`] and
/// [`IvfData::remove`]).
pub struct Lists {
    /// By centroid position; one more at the end holds the live slots in no list (or
    /// in a list without a centroid), which every query scans.
    lists: Vec<List>,
    /// Per slot: (index in `lists`, position in it), [`NOWHERE`] when in none.
    place: Vec<(u32, u32)>,
    /// Centroid position of each list id ([`u32::MAX`] without a centroid).
    position_of: Vec<u32>,
    dims: usize,
    cosine: bool,
    /// Whether the lists hold packed copies of their vectors (else a probe reads
    /// each member's vector from the table by slot, or scans codes).
    packed: bool,
}

impl Lists {
    /// The members of the list of centroid position `p`.
    pub fn list(&self, p: usize) -> &List {
        &self.lists[p]
    }

    /// The live rows in no list.
    pub fn unassigned(&self) -> &List {
        &self.lists[self.lists.len() - 1]
    }

    /// Whether the lists hold packed copies of their members' vectors.
    pub fn is_packed(&self) -> bool {
        self.packed
    }

    /// Bytes of one member's code (0 unless quantized).
    pub fn code_bytes(&self) -> usize {
        self.lists
            .first()
            .and_then(|l| l.codes.as_ref())
            .map_or(0, |c| c.code_bytes)
    }

    /// Members per centroid position.
    pub fn sizes(&self) -> Vec<usize> {
        self.lists[..self.lists.len() - 1]
            .iter()
            .map(List::len)
            .collect()
    }

    fn index_of(&self, list_id: u32) -> usize {
        match self.position_of.get(list_id as usize) {
            Some(&p) if p != u32::MAX => p as usize,
            _ => self.lists.len() - 1,
        }
    }

    fn insert(&mut self, slot: usize, list_id: u32, x: &[f32], norm: f32) {
        let li = self.index_of(list_id);
        let list = &mut self.lists[li];
        if self.place.len() <= slot {
            self.place.resize(slot + 1, NOWHERE);
        }
        self.place[slot] = (li as u32, list.slots.len() as u32);
        list.slots.push(slot as u32);
        if let Some(codes) = &mut list.codes {
            let at = list.slots.len() - 1;
            codes.resize(at + 1);
            codes.encode(at, x);
        }
        if self.packed {
            list.vectors.extend_from_slice(x);
            if self.cosine {
                list.norms.push(norm);
            }
        }
    }

    /// Takes `slot` out of its list (the list's last member moves into its place).
    fn remove(&mut self, slot: usize) {
        let Some(&(li, at)) = self.place.get(slot).filter(|&&p| p != NOWHERE) else {
            return;
        };
        self.place[slot] = NOWHERE;
        let (d, at) = (self.dims, at as usize);
        let list = &mut self.lists[li as usize];
        let last = list.slots.len() - 1;
        list.slots.swap_remove(at);
        if at != last {
            self.place[list.slots[at] as usize] = (li, at as u32);
        }
        if let Some(codes) = &mut list.codes {
            if at != last {
                codes.copy_slot(last, at);
            }
            codes.resize(last);
        }
        if self.packed {
            if at != last {
                list.vectors.copy_within(last * d..(last + 1) * d, at * d);
            }
            list.vectors.truncate(last * d);
            if self.cosine {
                list.norms.swap_remove(at);
            }
        }
    }
}

/// The cached index of one ivf column.
pub struct IvfData {
    pub spec: Ivf,
    pub metric: Metric,
    pub centroids: Centroids,
    /// The list of every slot.
    pub assign: Vec<u32>,
    lists: OnceLock<Lists>,
}

impl IvfData {
    /// Grows to `n_slots` (new slots unassigned).
    pub fn resize(&mut self, n_slots: usize) {
        self.assign.resize(n_slots, UNASSIGNED);
    }

    /// Slot `slot` now holds `x` (of norm `norm`): assigned to its nearest list (as
    /// the write path stored it), and moved there in the built lists.
    pub fn set(&mut self, slot: usize, x: &[f32], norm: f32) {
        if slot >= self.assign.len() {
            self.resize(slot + 1);
        }
        let list = self.centroids.assign(x, self.metric, 1)[0];
        self.assign[slot] = list;
        if let Some(lists) = self.lists.get_mut() {
            lists.remove(slot);
            lists.insert(slot, list, x, norm);
        }
    }

    /// Slot `slot` no longer holds a row.
    pub fn remove(&mut self, slot: usize) {
        if let Some(lists) = self.lists.get_mut() {
            lists.remove(slot);
        }
    }

    /// The lists, built on first use from the live slots of `vectors` (the column's
    /// float32 vectors and, for cosine, norms), with packed copies of the vectors
    /// when `pack` (the caller decides whether the memory is there) and the index is
    /// not quantized (its lists hold codes instead).
    pub(super) fn lists(
        &self,
        live: &[bool],
        vectors: &[f32],
        norms: Option<&[f32]>,
        pack: bool,
    ) -> &Lists {
        self.lists.get_or_init(|| {
            let dims = self.centroids.dims;
            let mut position_of = vec![u32::MAX; self.spec.nlist];
            for (p, &id) in self.centroids.ids.iter().enumerate() {
                if let Some(slot) = position_of.get_mut(id as usize) {
                    *slot = p as u32;
                }
            }
            let cosine = self.metric == Metric::Cosine;
            let quantized = self.spec.quantizer.map(|quantizer| Rescore {
                quantizer,
                oversample: self.spec.oversample,
            });
            let mut lists = Lists {
                lists: (0..=self.centroids.len())
                    .map(|_| List {
                        codes: quantized.map(|q| Codes::new(q, dims, 0)),
                        ..List::default()
                    })
                    .collect(),
                place: vec![NOWHERE; self.assign.len()],
                position_of,
                dims,
                cosine,
                packed: pack && quantized.is_none(),
            };
            for (slot, &list) in self.assign.iter().enumerate() {
                if !live.get(slot).copied().unwrap_or(false) {
                    continue;
                }
                let Some(x) = vectors.get(slot * dims..(slot + 1) * dims) else {
                    continue;
                };
                let norm = norms.and_then(|n| n.get(slot).copied()).unwrap_or(0.0);
                lists.insert(slot, list, x, norm);
            }
            lists
        })
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        let lists = self.lists.get().map_or(0, |l| {
            l.place.capacity() * 8
                + l.position_of.capacity() * 4
                + l.lists.iter().map(List::bytes).sum::<usize>()
        });
        let panel = self
            .centroids
            .panels
            .get()
            .map_or(0, CentroidPanels::memory_bytes);
        self.assign.capacity() * 4
            + panel
            + self.centroids.data.capacity() * 4
            + self.centroids.ids.capacity() * 4
            + lists
    }

    /// Loads the index of vector column `vi` for `n_slots` slots.
    pub fn load(
        conn: &Connection,
        shadow: &Shadow,
        vi: usize,
        spec: Ivf,
        metric: Metric,
        n_slots: usize,
    ) -> Result<IvfData> {
        let centroids = shadow.read_centroids(conn, vi, metric)?;
        let cs = shadow.config.chunk_size;
        let mut assign = vec![UNASSIGNED; n_slots];
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT chunk_id, lists FROM {}",
            shadow.table(&Shadow::ivf_assign_suffix(vi))
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let chunk_id: i64 = row.get(0)?;
            let blob = match row.get_ref(1)? {
                ValueRef::Blob(b) => b,
                _ => &[],
            };
            let first = usize::try_from(chunk_id - 1).unwrap_or(usize::MAX);
            if blob.len() != cs * 4 || first.saturating_mul(cs) >= n_slots.max(1) {
                // A chunk that does not exist (or a bad blob): its rows, if any, are
                // scanned exactly.
                continue;
            }
            for (i, c) in blob.chunks_exact(4).enumerate() {
                assign[first * cs + i] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        Ok(IvfData {
            spec,
            metric,
            centroids,
            assign,
            lists: OnceLock::new(),
        })
    }
}

impl Shadow {
    pub(super) fn centroids_table(&self, vi: usize) -> String {
        self.table(&Self::ivf_centroids_suffix(vi))
    }

    pub(super) fn assign_table(&self, vi: usize) -> String {
        self.table(&Self::ivf_assign_suffix(vi))
    }

    pub(super) fn ivf_spec(&self, vi: usize) -> Option<(Ivf, Metric, usize)> {
        self.config
            .vector_columns()
            .nth(vi)
            .and_then(|(_, c)| c.ivf.map(|s| (s, c.metric, c.dims)))
    }

    /// The centroids of ivf column `vi` as queries compare them.
    pub fn read_centroids(
        &self,
        conn: &Connection,
        vi: usize,
        metric: Metric,
    ) -> Result<Centroids> {
        let dims = self.ivf_spec(vi).map_or(0, |s| s.2);
        let mut out = Centroids {
            dims,
            ..Default::default()
        };
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT list_id, centroid FROM {} ORDER BY list_id",
            self.centroids_table(vi)
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let blob = match row.get_ref(1)? {
                ValueRef::Blob(b) => b,
                _ => &[],
            };
            if blob.len() != dims * 4 || !(0..=i64::from(u32::MAX - 1)).contains(&id) {
                return Err(self.corrupt(format!(
                    "{}_{} list {id} is not a float32 BLOB of {dims} dimensions",
                    self.name,
                    Self::ivf_centroids_suffix(vi)
                )));
            }
            out.data.extend(floats(blob));
            out.ids.push(id as u32);
        }
        if metric == Metric::Cosine {
            out.data = normalized(&out.data, dims);
        }
        Ok(out)
    }
}
