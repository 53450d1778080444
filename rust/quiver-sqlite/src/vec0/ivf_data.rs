//! The cached state of an `indexed by ivf(...)` column (see the `ivf` module): its centroids,
//! the list of every slot, and the inverted lists built from them on first use; and the
//! reads of that state from the shadow tables.

use std::sync::OnceLock;

use quiver_kernels::kmeans;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Result};

use super::index_spec::Ivf;
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

    /// Positions of all centroids, nearest to `q` first.
    pub(super) fn ranked(&self, q: &[f32], metric: Metric) -> Vec<u32> {
        let q = if metric == Metric::Cosine {
            normalized(q, self.dims)
        } else {
            q.to_vec()
        };
        kmeans::nearest_lists(&q, &self.data, self.dims, self.len())
            .unwrap_or_else(|_| (0..self.len() as u32).collect())
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

/// The inverted lists of one column, built from the per-slot lists of live slots.
pub struct Lists {
    /// Members (slots) by centroid position.
    pub(super) members: Vec<Vec<u32>>,
    /// Live slots in no list (or in a list without a centroid).
    pub(super) unassigned: Vec<u32>,
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

    /// Slot `slot` now holds `x`: assigned to its nearest list (as the write path
    /// stored it).
    pub fn set(&mut self, slot: usize, x: &[f32]) {
        if slot >= self.assign.len() {
            self.resize(slot + 1);
        }
        self.assign[slot] = self.centroids.assign(x, self.metric, 1)[0];
        self.lists = OnceLock::new();
    }

    pub(super) fn lists(&self, live: &[bool]) -> &Lists {
        self.lists.get_or_init(|| {
            let mut pos = vec![u32::MAX; self.spec.nlist];
            for (p, &id) in self.centroids.ids.iter().enumerate() {
                if let Some(slot) = pos.get_mut(id as usize) {
                    *slot = p as u32;
                }
            }
            let mut members: Vec<Vec<u32>> = vec![Vec::new(); self.centroids.len()];
            let mut unassigned = Vec::new();
            for (slot, &list) in self.assign.iter().enumerate() {
                if !live.get(slot).copied().unwrap_or(false) {
                    continue;
                }
                match pos.get(list as usize).copied().filter(|&p| p != u32::MAX) {
                    Some(p) => members[p as usize].push(slot as u32),
                    None => unassigned.push(slot as u32),
                }
            }
            Lists {
                members,
                unassigned,
            }
        })
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        let lists = self.lists.get().map_or(0, |l| {
            l.unassigned.capacity() * 4
                + l.members
                    .iter()
                    .map(|m| m.capacity() * 4 + 24)
                    .sum::<usize>()
        });
        self.assign.capacity() * 4
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
