//! `indexed by ivf(nlist=N, nprobe=M)`: an inverted-file index kept in shadow tables.
//!
//! State (see `shadow`): the centroids in `{t}_ivf_centroidsNN` and the list of every
//! slot in `{t}_ivf_assignNN` (one u32 per slot, chunk-aligned beside the vector
//! chunks). Every path that writes a vector writes its slot's list in the same
//! transaction ([`Shadow::ivf_write_column`]: inserts, buffered inserts, UPDATE of the
//! vector, DELETE), so ROLLBACK and savepoints restore both together. A row written
//! while the index has no centroids is not assigned (`u32::MAX`) and every query scans
//! it exactly; `'assign-vectors'` assigns such rows.
//!
//! The cache (`cache.rs`) holds the centroids and the per-slot lists of each ivf column
//! ([`IvfData`]) and builds the inverted lists from them on first use: O(rows), each
//! list with a packed copy of its members' vectors (IVF-Flat layout: a probe reads
//! memory in order), kept up to date by every write to the cache after that.
//!
//! A query ranks the centroids, takes the `nprobe` nearest lists and computes exact
//! distances for their members and every unassigned row, every filter applied before
//! the top-k. When fewer than `k` rows pass, it probes more lists (doubling) until `k`
//! pass or every list was probed, so a query returns `k` rows whenever `k` rows match;
//! `nprobe = nlist` is the exact scan's answer. An untrained index is an exact scan.
//!
//! With `quantizer=int8|binary` the lists hold their members' codes (see `codes`)
//! instead of float copies: a probe scores codes into a `k * oversample` shortlist,
//! rescored exactly from the cached float vectors at the end.
//!
//! Lists are assigned by squared Euclidean distance to the centroids (vectors and
//! centroids normalized first for cosine columns, where training is spherical).
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use quiver_kernels::dispatch;
use quiver_kernels::kmeans::{self, KMeansConfig};
use rusqlite::{params, Connection, OptionalExtension, Result};

use super::cache::{self, TableData, VectorData};
use super::ivf_data::Centroids;
use super::ivf_data::{floats, normalized, IvfData, List, Lists, UNASSIGNED};
use super::knn::{self, Filter, Hit, KnnRequest, QueryVector, TopK};
use super::progress;
use super::rescore::{self, CodeScorer};
use super::shadow::{new_token, Shadow};
use super::storage::Tokens;
use crate::sqlite::error::sql_error;
use crate::vec::metric::Metric;

/// The most vectors k-means trains on (a deterministic sample of the rows).
const TRAIN_SAMPLE_PER_LIST: usize = 256;
const TRAIN_SAMPLE_MAX: usize = 200_000;
const TRAIN_MAX_ITER: usize = 20;

impl Shadow {
    /// Stores the lists of ivf column `vi` for `slots` (each chunk's entries updated in
    /// its `_ivf_assign` row): slot `slots[i]` gets the nearest list of the float32
    /// vector `bytes(i)`, or none when that is `None` (a deleted row) or the index has
    /// no centroids.
    pub(super) fn ivf_write_column<'b>(
        &self,
        conn: &Connection,
        vi: usize,
        slots: &[i64],
        bytes: impl Fn(usize) -> Option<&'b [u8]>,
    ) -> Result<()> {
        let Some((_, metric, dims)) = self.ivf_spec(vi) else {
            return Ok(());
        };
        if slots.is_empty() {
            return Ok(());
        }
        let centroids = centroids_for_write(self, conn, vi, metric)?;
        let mut xs = Vec::with_capacity(slots.len() * dims);
        let mut has = Vec::with_capacity(slots.len());
        for i in 0..slots.len() {
            match bytes(i) {
                Some(b) if b.len() == dims * 4 => {
                    xs.extend(floats(b));
                    has.push(true);
                }
                _ => {
                    xs.extend(std::iter::repeat_n(0.0, dims));
                    has.push(false);
                }
            }
        }
        let threads = if slots.len() >= 4096 {
            knn::max_threads()
        } else {
            1
        };
        let lists = centroids.assign(&xs, metric, threads);
        let mut by_chunk: std::collections::BTreeMap<i64, Vec<(usize, u32)>> = Default::default();
        for (i, &slot) in slots.iter().enumerate() {
            let (chunk, offset) = self.chunk_of(slot);
            let list = if has[i] { lists[i] } else { UNASSIGNED };
            by_chunk.entry(chunk).or_default().push((offset, list));
        }
        let table = self.assign_table(vi);
        let cs = self.config.chunk_size;
        for (chunk, entries) in by_chunk {
            let stored: Option<Vec<u8>> = conn
                .prepare_cached(&format!("SELECT lists FROM {table} WHERE chunk_id = ?1"))?
                .query_row([chunk], |r| r.get(0))
                .optional()?;
            let existed = stored.is_some();
            let mut blob = stored
                .filter(|b| b.len() == cs * 4)
                .unwrap_or_else(|| vec![0xff; cs * 4]);
            for (offset, list) in entries {
                blob[offset * 4..offset * 4 + 4].copy_from_slice(&list.to_le_bytes());
            }
            if !existed && blob.iter().all(|&b| b == 0xff) {
                continue; // no row means every slot unassigned
            }
            conn.prepare_cached(&format!(
                "INSERT OR REPLACE INTO {table}(chunk_id, lists) VALUES (?1, ?2)"
            ))?
            .execute(params![chunk, blob])?;
        }
        Ok(())
    }

    /// [`Shadow::ivf_write_column`] for every ivf column, the bytes of row `i` of
    /// vector column `v` given by `bytes(i, v)`.
    pub(super) fn ivf_write_rows<'b>(
        &self,
        conn: &Connection,
        slots: &[i64],
        bytes: impl Fn(usize, usize) -> Option<&'b [u8]>,
    ) -> Result<()> {
        for vi in self.ivf_columns() {
            self.ivf_write_column(conn, vi, slots, |i| bytes(i, vi))?;
        }
        Ok(())
    }
}

/// The `{t}_info` key of ivf column `vi`'s centroid version: a fresh token stored by
/// every command that changes the centroids (a ROLLBACK restores the older one).
fn version_key(vi: usize) -> String {
    format!("ivf_version{vi:02}")
}

/// The centroids of ivf column `vi` for a write, kept per process by version so that
/// writes do not read `nlist * dims` floats from the database each time.
fn centroids_for_write(
    shadow: &Shadow,
    conn: &Connection,
    vi: usize,
    metric: Metric,
) -> Result<Arc<Centroids>> {
    type Versions = Mutex<HashMap<(String, usize, i64), Arc<Centroids>>>;
    static KNOWN: OnceLock<Versions> = OnceLock::new();
    let Some(version) = shadow.info_integer(conn, &version_key(vi))? else {
        return Ok(Arc::new(shadow.read_centroids(conn, vi, metric)?));
    };
    let key = (cache::key(conn, shadow), vi, version);
    let known = KNOWN.get_or_init(Default::default);
    if let Some(c) = known.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(Arc::clone(c));
    }
    let c = Arc::new(shadow.read_centroids(conn, vi, metric)?);
    let mut map = known.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= 32 {
        map.clear();
    }
    map.insert(key, Arc::clone(&c));
    Ok(c)
}

/// The ivf column commands are for: the first vector column with an ivf index.
fn ivf_column(shadow: &Shadow) -> Result<usize> {
    shadow.ivf_columns().first().copied().ok_or_else(|| {
        sql_error(format!(
            "vec0: table '{}' has no column with 'indexed by ivf(...)'",
            shadow.name
        ))
    })
}

/// An IVF command written to the command column: `Some(result)` if `command` is one
/// (`compute-centroids`, `assign-vectors`, `clear-centroids`, `set-centroid:N` with
/// `vector`, the ivf column's value), `None` otherwise. `nprobe=N` is read by
/// [`nprobe_command`].
pub fn command(
    shadow: &Shadow,
    conn: &Connection,
    tokens: &mut Tokens,
    command: &[u8],
    vector: Option<&[u8]>,
) -> Option<Result<()>> {
    let text = std::str::from_utf8(command).ok()?.trim();
    let mut run = |f: &mut dyn FnMut(usize) -> Result<()>| -> Result<()> {
        let vi = ivf_column(shadow)?;
        tokens.before_write(shadow, conn)?;
        shadow.set_info_integer(conn, &version_key(vi), new_token())?;
        let out = f(vi);
        // The cached entry may carry this level's token: drop it, the next query reloads.
        cache::forget(conn, shadow);
        out
    };
    Some(match text {
        "compute-centroids" => run(&mut |vi| compute_centroids(shadow, conn, vi)),
        "assign-vectors" => run(&mut |vi| assign_vectors(shadow, conn, vi, false)),
        "clear-centroids" => run(&mut |vi| clear_centroids(shadow, conn, vi)),
        _ => {
            let n = text.strip_prefix("set-centroid:")?;
            let id = n.trim().parse::<u32>().ok();
            run(&mut |vi| set_centroid(shadow, conn, vi, id, n, vector))
        }
    })
}

/// Reads `'nprobe=N'`: `None` for another command, else N (an error below 1).
pub fn nprobe_command(command: &[u8]) -> Option<Result<usize, String>> {
    let value = command.strip_prefix(b"nprobe=")?;
    let text = String::from_utf8_lossy(value);
    Some(
        text.trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| {
                format!(
                    "nprobe must be >= 1 (vec0: 'nprobe=N' takes a positive integer, got \
                     '{text}')"
                )
            }),
    )
}

/// The float vectors of the table's live rows in vector column `vi` (the table must be
/// cached, not streamed).
fn cached_floats(
    shadow: &Shadow,
    conn: &Connection,
    vi: usize,
) -> Result<std::sync::Arc<TableData>> {
    let data = cache::get(conn, shadow)?;
    if !matches!(data.vectors.get(vi), Some(VectorData::Float32 { .. })) {
        return Err(sql_error(format!(
            "vec0: table '{}' is above the cache budget (its vectors are streamed): IVF \
             training and assignment need it cached; raise the budget \
             (quiver_cache_budget / sqlite_quiver.set_cache_budget)",
            shadow.name
        )));
    }
    Ok(data)
}

fn compute_centroids(shadow: &Shadow, conn: &Connection, vi: usize) -> Result<()> {
    let (spec, metric, dims) = shadow.ivf_spec(vi).expect("an ivf column");
    let data = cached_floats(shadow, conn, vi)?;
    let VectorData::Float32 { data: xs, .. } = &data.vectors[vi] else {
        unreachable!("checked by cached_floats")
    };
    let live: Vec<u32> = data.by_rowid.clone();
    if live.is_empty() {
        return Err(sql_error(format!(
            "vec0: 'compute-centroids' on table '{}': the table has no rows to train on; \
             insert rows first",
            shadow.name
        )));
    }
    let k = spec.nlist.min(live.len());
    // A deterministic sample in slot order: every step-th live row.
    let want = (k * TRAIN_SAMPLE_PER_LIST)
        .clamp(k, TRAIN_SAMPLE_MAX)
        .min(live.len());
    let mut slots = live;
    slots.sort_unstable();
    let step = slots.len() as f64 / want as f64;
    let mut sample = Vec::with_capacity(want * dims);
    for i in 0..want {
        let s = slots[((i as f64 * step) as usize).min(slots.len() - 1)] as usize;
        sample.extend_from_slice(&xs[s * dims..(s + 1) * dims]);
    }
    if metric == Metric::Cosine {
        sample = normalized(&sample, dims);
    }
    let mut config = KMeansConfig::new(k);
    config.max_iter = TRAIN_MAX_ITER;
    config.threads = knn::max_threads();
    config.spherical = metric == Metric::Cosine;
    // k-means cannot be stopped midway: a failed report (the callback raised) stops
    // the command once training returns.
    let mut stopped = None;
    let trained = kmeans::train(&sample, dims, &config, &mut |done, total| {
        if stopped.is_none() {
            stopped = progress::report("train", done, total).err();
        }
    })
    .map_err(|e| sql_error(format!("vec0: 'compute-centroids' failed: {e}")))?;
    if let Some(e) = stopped {
        return Err(e);
    }
    let table = shadow.centroids_table(vi);
    conn.execute(&format!("DELETE FROM {table}"), [])?;
    {
        let mut insert = conn.prepare_cached(&format!(
            "INSERT INTO {table}(list_id, centroid) VALUES (?1, ?2)"
        ))?;
        for (i, c) in trained.centroids.chunks_exact(dims).enumerate() {
            let bytes: Vec<u8> = c.iter().flat_map(|x| x.to_le_bytes()).collect();
            insert.execute(params![i as i64, bytes])?;
        }
    }
    drop(data);
    assign_vectors(shadow, conn, vi, true)
}

/// Assigns the rows in no list (`all`: every row) to their nearest list.
fn assign_vectors(shadow: &Shadow, conn: &Connection, vi: usize, all: bool) -> Result<()> {
    let (spec, metric, dims) = shadow.ivf_spec(vi).expect("an ivf column");
    let centroids = shadow.read_centroids(conn, vi, metric)?;
    if centroids.is_empty() {
        return Err(sql_error(format!(
            "vec0: 'assign-vectors' on table '{}': the index has no centroids; run \
             'compute-centroids' (or 'set-centroid:N') first",
            shadow.name
        )));
    }
    let data = cached_floats(shadow, conn, vi)?;
    let VectorData::Float32 { data: xs, .. } = &data.vectors[vi] else {
        unreachable!("checked by cached_floats")
    };
    let current = IvfData::load(conn, shadow, vi, spec, metric, data.n_slots)?;
    let cs = shadow.config.chunk_size;
    let table = shadow.assign_table(vi);
    let threads = knn::max_threads();
    let mut insert = conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {table}(chunk_id, lists) VALUES (?1, ?2)"
    ))?;
    let known: std::collections::HashSet<u32> = centroids.ids.iter().copied().collect();
    let n_chunks = data.n_slots / cs;
    for chunk in 0..n_chunks {
        progress::report("assign", chunk + 1, n_chunks)?;
        let range = chunk * cs..(chunk + 1) * cs;
        let todo: Vec<usize> = range
            .clone()
            .filter(|&s| data.live[s] && (all || !known.contains(&current.assign[s])))
            .collect();
        if todo.is_empty() && !all {
            continue;
        }
        let mut lists: Vec<u32> = current.assign[range.clone()].to_vec();
        if all {
            lists.fill(UNASSIGNED);
        }
        if !todo.is_empty() {
            let mut batch = Vec::with_capacity(todo.len() * dims);
            for &s in &todo {
                batch.extend_from_slice(&xs[s * dims..(s + 1) * dims]);
            }
            for (&s, l) in todo.iter().zip(centroids.assign(&batch, metric, threads)) {
                lists[s - chunk * cs] = l;
            }
        }
        let blob: Vec<u8> = lists.iter().flat_map(|l| l.to_le_bytes()).collect();
        insert.execute(params![(chunk + 1) as i64, blob])?;
    }
    Ok(())
}

fn clear_centroids(shadow: &Shadow, conn: &Connection, vi: usize) -> Result<()> {
    conn.execute(&format!("DELETE FROM {}", shadow.centroids_table(vi)), [])?;
    conn.execute(&format!("DELETE FROM {}", shadow.assign_table(vi)), [])?;
    Ok(())
}

fn set_centroid(
    shadow: &Shadow,
    conn: &Connection,
    vi: usize,
    id: Option<u32>,
    text: &str,
    vector: Option<&[u8]>,
) -> Result<()> {
    let (spec, _, dims) = shadow.ivf_spec(vi).expect("an ivf column");
    let Some(id) = id.filter(|&i| (i as usize) < spec.nlist) else {
        return Err(sql_error(format!(
            "vec0: 'set-centroid:N' takes a list number from 0 to {} (nlist - 1), got '{}'",
            spec.nlist - 1,
            text.trim()
        )));
    };
    let Some(bytes) = vector else {
        return Err(sql_error(
            "vec0: set-centroid requires vector: insert into t(t, emb) values \
             ('set-centroid:N', ?) with the centroid in the ivf column",
        ));
    };
    if bytes.len() != dims * 4 {
        return Err(sql_error(format!(
            "vec0: set-centroid: expected a float32 vector of {dims} dimensions"
        )));
    }
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {}(list_id, centroid) VALUES (?1, ?2)",
        shadow.centroids_table(vi)
    ))?
    .execute(params![i64::from(id), bytes])?;
    Ok(())
}

/// The KNN of `req` through the ivf index of its column, or `None` when the column has
/// none, it is not trained, or the query is not float32 (the caller scans exactly).
/// `nprobe` (and, on a quantized index, `oversample`) override the column's for this
/// query.
pub fn knn(
    data: &TableData,
    req: &KnnRequest<'_>,
    nprobe: Option<usize>,
    oversample: Option<usize>,
) -> Option<Vec<Hit>> {
    let ivf = data.ivf.get(req.vector_column)?.as_ref()?;
    let QueryVector::Float32(q) = req.query else {
        return None;
    };
    if ivf.centroids.is_empty() {
        return None;
    }
    if req.k == 0 || data.n_slots == 0 {
        return Some(Vec::new());
    }
    Some(search_one(data, ivf, req, q, (nprobe, oversample)))
}

/// The column's float32 vectors and norms (cosine), `None` when not in memory.
fn floats_of(data: &TableData, column: usize) -> Option<(&[f32], Option<&[f32]>)> {
    match data.vectors.get(column)? {
        VectorData::Float32 { data, norms } => Some((data, norms.as_deref())),
        _ => None,
    }
}

/// The lists of `ivf`, packed when the table's float vectors take at most half the
/// cache budget (the copies double them); larger tables probe by slot.
fn lists_of<'a>(data: &TableData, ivf: &'a IvfData, column: usize) -> Option<&'a Lists> {
    let (vectors, norms) = floats_of(data, column)?;
    let pack = std::mem::size_of_val(vectors).saturating_mul(2) <= cache::budget();
    Some(ivf.lists(&data.live, vectors, norms, pack))
}

/// Whether `slot` holds a row (the lists hold live slots only; checked anyway, so a
/// stale entry can never surface) that passes every filter of `req`.
#[inline]
fn passes(data: &TableData, req: &KnnRequest<'_>, slot: usize) -> bool {
    data.live[slot] && req.filters.iter().all(|f| f.accepts(data, slot))
}

/// The loop shared by both list scans: pushes the members of `list` that are live,
/// pass every filter and whose distance (`distance(position in the list, slot)`)
/// passes `bounded`; returns how many passed the filters (the list's size without
/// filters). A filtered query counts the rows that pass (see `search_one`), so
/// it checks them first; otherwise a row's flags (a random read) are read only for rows
/// that would make the top-k.
fn scan_members(
    data: &TableData,
    req: &KnnRequest<'_>,
    list: &List,
    top: &mut TopK,
    mut distance: impl FnMut(usize, usize) -> f32,
    bounded: impl Fn(f32) -> bool,
) -> usize {
    let filtered = !req.filters.is_empty();
    let mut matched = 0;
    for (i, &s) in list.slots.iter().enumerate() {
        let slot = s as usize;
        if filtered {
            if !passes(data, req, slot) {
                continue;
            }
            matched += 1;
        }
        let d = distance(i, slot);
        if !top.would_keep(d) || (!filtered && !passes(data, req, slot)) || !bounded(d) {
            continue;
        }
        top.push(Hit {
            distance: d,
            rowid: data.rowids[slot],
            slot: s,
        });
    }
    if filtered {
        matched
    } else {
        list.len()
    }
}

/// Pushes the members of `list` that are live and pass every filter and bound, by
/// exact distance; returns how many passed the filters (see [`scan_members`]).
fn scan_list(
    data: &TableData,
    req: &KnnRequest<'_>,
    (q, q_norm): (&[f32], f32),
    (vectors, norms): (&[f32], Option<&[f32]>),
    list: &List,
    top: &mut TopK,
) -> usize {
    let kernels = dispatch::best();
    let metric = data.columns[req.vector_column].metric;
    let d = q.len();
    let packed = list.vectors.len() == list.slots.len() * d;
    let distance = |i: usize, slot: usize| {
        let (x, x_norm) = if packed {
            let norm = list.norms.get(i).copied().unwrap_or(0.0);
            (&list.vectors[i * d..(i + 1) * d], norm)
        } else {
            let norm = norms.map_or(0.0, |n| n[slot]);
            (&vectors[slot * d..(slot + 1) * d], norm)
        };
        knn::raw_f32(kernels, metric, q, q_norm, x, x_norm)
    };
    let bounded = |raw: f32| {
        req.bounds.is_empty() || req.bounds.accepts(f64::from(knn::finalize(metric, raw)))
    };
    scan_members(data, req, list, top, distance, bounded)
}

/// Pushes the members of quantized `list` that are live and pass every filter, by
/// their code distance (bounds are applied after the exact rescoring); returns how
/// many passed the filters (see [`scan_members`]).
fn scan_list_codes(
    data: &TableData,
    req: &KnnRequest<'_>,
    scorer: &CodeScorer,
    list: &List,
    top: &mut TopK,
    (estimates, dots): &mut (Vec<f32>, Vec<i32>),
) -> usize {
    let Some(codes) = &list.codes else {
        return 0;
    };
    // Every code of the list in one kernel call, read in order.
    scorer.estimate_all(codes, list.len(), estimates, dots);
    scan_members(data, req, list, top, |i, _| estimates[i], |_| true)
}

/// One query: the unassigned rows and the nearest lists, more lists while fewer than
/// `k` rows passed (with filters: while fewer passing rows were scored than an
/// unfiltered query scores, or the exact scan when that is cheaper).
/// `(nprobe, oversample)` override the column's.
fn search_one(
    data: &TableData,
    ivf: &IvfData,
    req: &KnnRequest<'_>,
    q: &[f32],
    (nprobe, oversample): (Option<usize>, Option<usize>),
) -> Vec<Hit> {
    let (Some(lists), Some(table)) = (
        lists_of(data, ivf, req.vector_column),
        floats_of(data, req.vector_column),
    ) else {
        return knn::knn(data, req);
    };
    let mut ranking = ivf.centroids.ranking(q, ivf.metric);
    let m = ranking.len();
    let mut probe = nprobe.unwrap_or(ivf.spec.nprobe).clamp(1, m.max(1));
    let q_norm = quiver_kernels::distance::norm_f32(q);
    // A quantized index keeps a shortlist by code distance, rescored exactly at the end.
    let quantized = ivf.spec.quantizer.map(|quantizer| {
        let n = rescore::shortlist(req.k, ivf.spec.oversample, oversample);
        (CodeScorer::new(quantizer, ivf.metric, q), n.max(1))
    });
    let mut scratch = (Vec::new(), Vec::new());
    let mut scan = |list: &List, top: &mut TopK| match &quantized {
        Some((scorer, _)) => scan_list_codes(data, req, scorer, list, top, &mut scratch),
        None => scan_list(data, req, (q, q_norm), table, list, top),
    };
    let mut top = TopK::new(quantized.as_ref().map_or(req.k.max(1), |&(_, n)| n));
    let (mut scanned, mut matched) = (lists.unassigned().len(), 0);
    matched += scan(lists.unassigned(), &mut top);
    // Rows an unfiltered query with this nprobe scores (set after the first round).
    let mut budget = None;
    let mut done = 0;
    loop {
        // Probe lists done..probe; the top-k runs over everything scanned so far.
        for p in ranking.nearest(probe).skip(done) {
            let list = lists.list(p as usize);
            scanned += list.len();
            matched += scan(list, &mut top);
        }
        done = probe;
        let budget = *budget.get_or_insert(scanned);
        if probe >= m {
            break;
        }
        if req.filters.is_empty() {
            if top.len() >= req.k {
                break;
            }
        } else {
            // A filtered query scores as many passing rows as an unfiltered one scores
            // rows, so its recall matches the unfiltered recall at this nprobe (the
            // nearest passing rows lie farther out). When that would reach half of the
            // table at the pass rate seen so far, the exact scan (filters first) is
            // cheaper and exact.
            if top.len() >= req.k && matched >= budget {
                break;
            }
            let projected = budget as f64 * scanned as f64 / matched.max(1) as f64;
            if projected >= data.by_rowid.len() as f64 / 2.0 {
                return knn::knn(data, req);
            }
        }
        probe = (probe * 2).min(m);
    }
    let Some((_, shortlist)) = quantized else {
        return knn::finish_hits(top, ivf.metric);
    };
    let candidates = top.finish();
    // Complete when every list was probed and every passing row made the shortlist.
    let complete = probe >= m && candidates.len() < shortlist;
    rescore::rescore_shortlist(data, req, &candidates, complete)
}

/// Many queries through the ivf index (`None` without a trained one).
pub fn knn_batch(
    data: &TableData,
    vector_column: usize,
    queries: &[QueryVector],
    k: usize,
    filters: &[Filter],
    (nprobe, oversample): (Option<usize>, Option<usize>),
) -> Option<Vec<Vec<Hit>>> {
    let ivf = data.ivf.get(vector_column)?.as_ref()?;
    if ivf.centroids.is_empty() {
        return None;
    }
    let qs: Vec<&[f32]> = queries
        .iter()
        .map(|q| match q {
            QueryVector::Float32(q) => Some(q.as_slice()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    if k == 0 || data.n_slots == 0 {
        return Some(queries.iter().map(|_| Vec::new()).collect());
    }
    // Build the lists once before the threads share them.
    lists_of(data, ivf, vector_column)?;
    let request = |i: usize| KnnRequest {
        vector_column,
        query: &queries[i],
        k,
        filters,
        bounds: Default::default(),
    };
    // Queries `range`, into `out` (same length): unfiltered ones grouped by list (see
    // `search_grouped`), filtered ones one by one (each probes as far as its filter
    // needs).
    let run = |range: std::ops::Range<usize>, out: &mut [Vec<Hit>]| {
        if !filters.is_empty() {
            for (slot, i) in out.iter_mut().zip(range) {
                *slot = search_one(data, ivf, &request(i), qs[i], (nprobe, oversample));
            }
            return;
        }
        for (block, outs) in range
            .collect::<Vec<_>>()
            .chunks(GROUP_QUERIES)
            .zip(out.chunks_mut(GROUP_QUERIES))
        {
            let reqs: Vec<KnnRequest<'_>> = block.iter().map(|&i| request(i)).collect();
            let block_qs: Vec<&[f32]> = block.iter().map(|&i| qs[i]).collect();
            let hits = search_grouped(data, ivf, &reqs, &block_qs, (nprobe, oversample));
            for (slot, h) in outs.iter_mut().zip(hits) {
                *slot = h;
            }
        }
    };
    let mut out: Vec<Vec<Hit>> = vec![Vec::new(); queries.len()];
    let threads = knn::max_threads().min(queries.len()).max(1);
    if threads == 1 {
        run(0..queries.len(), &mut out);
        return Some(out);
    }
    let per = queries.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (t, part) in out.chunks_mut(per).enumerate() {
            let run = &run;
            let start = t * per;
            s.spawn(move || run(start..start + part.len(), part));
        }
    });
    Some(out)
}

/// Unfiltered queries searched together, at most this many at a time (their top-k
/// buffers stay small; each list is still shared by ~GROUP_QUERIES * nprobe / nlist
/// queries).
const GROUP_QUERIES: usize = 2048;

/// Unfiltered queries (`reqs`, float32 vectors `qs`) searched together: each query
/// picks its `nprobe` nearest lists, then every list is scanned once for all the
/// queries that probe it, so its members (codes or vectors) are read from memory once
/// and then from the core's cache, instead of once per query (the probes' loads were
/// most of a batched query's time). The same hits as [`search_one`] with the same
/// settings; a query left with fewer than `k` rows runs through `search_one`.
fn search_grouped(
    data: &TableData,
    ivf: &IvfData,
    reqs: &[KnnRequest<'_>],
    qs: &[&[f32]],
    (nprobe, oversample): (Option<usize>, Option<usize>),
) -> Vec<Vec<Hit>> {
    let (Some(lists), Some(table)) = (
        lists_of(data, ivf, reqs[0].vector_column),
        floats_of(data, reqs[0].vector_column),
    ) else {
        return reqs.iter().map(|r| knn::knn(data, r)).collect();
    };
    let m = ivf.centroids.len();
    let probe = nprobe.unwrap_or(ivf.spec.nprobe).clamp(1, m.max(1));
    // Which queries probe each list.
    let mut by_list: Vec<Vec<u32>> = vec![Vec::new(); m];
    for (i, q) in qs.iter().enumerate() {
        let mut ranking = ivf.centroids.ranking(q, ivf.metric);
        for p in ranking.nearest(probe) {
            by_list[p as usize].push(i as u32);
        }
    }
    let shortlist = |r: &KnnRequest<'_>| rescore::shortlist(r.k, ivf.spec.oversample, oversample);
    let scorers: Vec<Option<CodeScorer>> = qs
        .iter()
        .map(|q| {
            ivf.spec
                .quantizer
                .map(|quantizer| CodeScorer::new(quantizer, ivf.metric, q))
        })
        .collect();
    let norms: Vec<f32> = qs
        .iter()
        .map(|q| quiver_kernels::distance::norm_f32(q))
        .collect();
    let mut tops: Vec<TopK> = reqs
        .iter()
        .map(|r| {
            TopK::new(if ivf.spec.quantizer.is_some() {
                shortlist(r).max(1)
            } else {
                r.k.max(1)
            })
        })
        .collect();
    let mut scratch = (Vec::new(), Vec::new());
    let mut scan = |i: usize, list: &List, top: &mut TopK| match &scorers[i] {
        Some(scorer) => scan_list_codes(data, &reqs[i], scorer, list, top, &mut scratch),
        None => scan_list(data, &reqs[i], (qs[i], norms[i]), table, list, top),
    };
    for (i, top) in tops.iter_mut().enumerate() {
        scan(i, lists.unassigned(), top);
    }
    for (p, queries) in by_list.iter().enumerate() {
        let list = lists.list(p);
        for &i in queries {
            scan(i as usize, list, &mut tops[i as usize]);
        }
    }
    tops.into_iter()
        .enumerate()
        .map(|(i, top)| {
            let req = &reqs[i];
            if top.len() < req.k && probe < m {
                // Too few rows in the probed lists: probe more, as one query does.
                return search_one(data, ivf, req, qs[i], (nprobe, oversample));
            }
            if ivf.spec.quantizer.is_none() {
                return knn::finish_hits(top, ivf.metric);
            }
            let candidates = top.finish();
            let complete = probe >= m && candidates.len() < shortlist(req);
            rescore::rescore_shortlist(data, req, &candidates, complete)
        })
        .collect()
}

/// The state of ivf column `column` as JSON text, or `None` if it has no ivf index.
pub fn state_json(
    data: &TableData,
    column: usize,
    name: &str,
    nprobe: Option<usize>,
) -> Option<String> {
    let spec = data.columns.get(column)?.ivf?;
    let rows = data.by_rowid.len();
    let streamed = data.is_streamed(column);
    let Some(Some(ivf)) = data.ivf.get(column) else {
        return Some(
            serde_json::json!({
                "column": name,
                "kind": "ivf",
                "nlist": spec.nlist,
                "nprobe": nprobe.unwrap_or(spec.nprobe),
                "quantizer": spec.quantizer.map_or("none", |q| q.name()),
                "oversample": spec.oversample,
                "trained": false,
                "rows": rows,
                "rows_unassigned": rows,
                "streamed": streamed,
            })
            .to_string(),
        );
    };
    let lists = lists_of(data, ivf, column)?;
    let sizes = lists.sizes();
    let (min, max) = (
        sizes.iter().copied().min().unwrap_or(0),
        sizes.iter().copied().max().unwrap_or(0),
    );
    let mean = if sizes.is_empty() {
        0.0
    } else {
        sizes.iter().sum::<usize>() as f64 / sizes.len() as f64
    };
    Some(
        serde_json::json!({
            "column": name,
            "kind": "ivf",
            "nlist": spec.nlist,
            "nprobe": nprobe.unwrap_or(spec.nprobe),
            "trained": !ivf.centroids.is_empty(),
            "centroids": ivf.centroids.len(),
            "rows": rows,
            "rows_unassigned": lists.unassigned().len(),
            "list_sizes": sizes,
            "list_size_min": min,
            "list_size_max": max,
            "list_size_mean": mean,
            "memory_bytes": ivf.memory_bytes(),
            "lists_packed": lists.is_packed(),
            "quantizer": spec.quantizer.map_or("none", |q| q.name()),
            "oversample": spec.oversample,
            "code_bytes_per_row": lists.code_bytes(),
            "streamed": false,
        })
        .to_string(),
    )
}
