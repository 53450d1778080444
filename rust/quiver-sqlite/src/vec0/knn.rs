//! Exact k-nearest-neighbour scans over a decoded table: filters applied per slot
//! before any distance, SIMD distance kernels, top-k fused into the scan (a 2k buffer
//! compacted with select_nth), and threads over slot ranges.

use std::cmp::Ordering;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use quiver_kernels::dispatch::{self, Kernels};
use rusqlite::types::Value;

use super::cache::{ChunkView, TableData, VectorData};
use crate::sqlite::constraint::Op;
use crate::vec::metric::Metric;

/// Largest accepted k: results are materialized, so k is bounded, far above sqlite-vec's
/// 4096.
pub const MAX_K: i64 = 1 << 24;

/// Thread cap for scans (0 = all available cores).
static MAX_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the thread cap for scans (0 = all cores); returns the previous setting.
pub fn set_max_threads(n: usize) -> usize {
    MAX_THREADS.swap(n, AtomicOrdering::Relaxed)
}

pub fn max_threads() -> usize {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    match MAX_THREADS.load(AtomicOrdering::Relaxed) {
        0 => available,
        n => n.min(available),
    }
}

/// A query vector, converted to the column's element type.
#[derive(Clone, Debug)]
pub enum QueryVector {
    Float32(Vec<f32>),
    Int8(Vec<i8>),
    Bit(Vec<u8>),
}

/// What a filter compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Rowid,
    TextId,
    Scalar(usize),
}

/// One WHERE term applied before the top-k. `values` holds one value, or the list of
/// an IN.
#[derive(Clone, Debug)]
pub struct Filter {
    pub target: Target,
    pub op: Op,
    pub values: Vec<Value>,
}

/// SQLite's ordering of values: NULL < numbers < text < blob.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    fn class(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Integer(_) | Value::Real(_) => 1,
            Value::Text(_) => 2,
            Value::Blob(_) => 3,
        }
    }
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => Some(x.cmp(y)),
        (Value::Integer(x), Value::Real(y)) => (*x as f64).partial_cmp(y),
        (Value::Real(x), Value::Integer(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Real(x), Value::Real(y)) => x.partial_cmp(y),
        (Value::Text(x), Value::Text(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Blob(x), Value::Blob(y)) => Some(x.cmp(y)),
        _ => Some(class(a).cmp(&class(b))),
    }
}

impl Filter {
    #[inline]
    fn test(&self, v: &Value) -> bool {
        // The common case first: an integer column against one integer (`bucket < 10`,
        // `part = 3`), without the general comparison's type classes.
        if let ([Value::Integer(c)], Value::Integer(x)) = (self.values.as_slice(), v) {
            return self.op.holds(x.cmp(c));
        }
        let null = matches!(v, Value::Null);
        match self.op {
            Op::IsNull => null,
            Op::IsNotNull => !null,
            Op::Is => self
                .values
                .iter()
                .any(|x| compare(v, x) == Some(Ordering::Equal)),
            Op::IsNot => !self
                .values
                .iter()
                .any(|x| compare(v, x) == Some(Ordering::Equal)),
            _ => {
                if null {
                    return false;
                }
                self.values.iter().any(|x| {
                    if matches!(x, Value::Null) {
                        return false;
                    }
                    let Some(ord) = compare(v, x) else {
                        return false;
                    };
                    self.op.holds(ord)
                })
            }
        }
    }

    /// Whether the row in `slot` passes.
    pub fn accepts(&self, data: &TableData, slot: usize) -> bool {
        match self.target {
            Target::Rowid => self.test(&Value::Integer(data.rowids[slot])),
            Target::TextId => {
                let v = match data.text_ids.get(slot) {
                    Some(Some(s)) => Value::Text(s.clone()),
                    _ => Value::Null,
                };
                self.test(&v)
            }
            Target::Scalar(i) => self.test(&data.scalars[i][slot]),
        }
    }
}

/// Bounds on the distance (for pagination: `distance > ?last`).
#[derive(Clone, Copy, Debug, Default)]
pub struct DistanceBounds {
    pub lower: Option<(f64, bool)>,
    pub upper: Option<(f64, bool)>,
}

impl DistanceBounds {
    pub(super) fn accepts(&self, d: f64) -> bool {
        if let Some((v, inclusive)) = self.lower {
            if d < v || (!inclusive && d == v) {
                return false;
            }
        }
        if let Some((v, inclusive)) = self.upper {
            if d > v || (!inclusive && d == v) {
                return false;
            }
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.lower.is_none() && self.upper.is_none()
    }
}

/// A result row.
#[derive(Clone, Copy, Debug)]
pub struct Hit {
    pub distance: f32,
    pub rowid: i64,
    pub slot: u32,
}

fn hit_order(a: &Hit, b: &Hit) -> Ordering {
    a.distance
        .total_cmp(&b.distance)
        .then_with(|| a.rowid.cmp(&b.rowid))
}

/// A bounded top-k: candidates go into a buffer of up to 2k, compacted to the best k
/// when full; anything worse than the k-th best seen is dropped at once.
pub struct TopK {
    k: usize,
    buf: Vec<Hit>,
    threshold: f32,
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            buf: Vec::with_capacity((2 * k).min(1 << 16)),
            threshold: f32::INFINITY,
        }
    }

    #[inline]
    pub fn push(&mut self, hit: Hit) {
        if hit.distance > self.threshold {
            return;
        }
        self.buf.push(hit);
        if self.buf.len() >= 2 * self.k {
            self.compact();
        }
    }

    fn compact(&mut self) {
        if self.buf.len() > self.k {
            self.buf.select_nth_unstable_by(self.k - 1, hit_order);
            self.buf.truncate(self.k);
            self.threshold = self.buf[self.k - 1].distance;
            for h in &self.buf {
                if h.distance > self.threshold {
                    self.threshold = h.distance;
                }
            }
        }
    }

    /// Whether a hit at `distance` would be kept now (checked before building the
    /// hit saves reading its rowid, a random access, for the many that are not).
    #[inline]
    pub fn would_keep(&self, distance: f32) -> bool {
        distance <= self.threshold
    }

    /// Hits held, at most k.
    pub fn len(&self) -> usize {
        self.buf.len().min(self.k)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn merge(&mut self, other: TopK) {
        for h in other.buf {
            self.push(h);
        }
    }

    pub fn finish(mut self) -> Vec<Hit> {
        self.buf.sort_unstable_by(hit_order);
        self.buf.truncate(self.k);
        self.buf
    }
}

/// The distance of `q` to a stored vector, in a form whose order is the final order
/// (squared L2; `finalize` takes the root).
struct Scorer<'a> {
    kernels: &'static Kernels,
    metric: Metric,
    /// The vectors, from slot `base` on.
    data: &'a VectorData,
    base: usize,
    dims: usize,
    query: &'a QueryVector,
    query_norm: f32,
}

impl Scorer<'_> {
    #[inline]
    fn raw(&self, slot: usize) -> f32 {
        let k = self.kernels;
        let d = self.dims;
        let slot = slot - self.base;
        match (self.data, self.query) {
            (VectorData::Float32 { data, norms }, QueryVector::Float32(q)) => {
                let x = &data[slot * d..(slot + 1) * d];
                let n = norms.as_ref().map_or(0.0, |n| n[slot]);
                raw_f32(k, self.metric, q, self.query_norm, x, n)
            }
            (VectorData::Int8(data), QueryVector::Int8(q)) => {
                let x = &data[slot * d..(slot + 1) * d];
                match self.metric {
                    Metric::L2 => (k.l2_squared_i8)(q, x) as f32,
                    Metric::L1 => (k.l1_i8)(q, x) as f32,
                    Metric::Dot => -((k.dot_i8)(q, x) as f32),
                    Metric::Cosine => {
                        let (ab, aa, bb) = (k.dot_and_norms_i8)(q, x);
                        let denom = (aa as f64).sqrt() * (bb as f64).sqrt();
                        if denom == 0.0 {
                            1.0
                        } else {
                            (1.0 - ab as f64 / denom) as f32
                        }
                    }
                    Metric::Hamming => f32::INFINITY,
                }
            }
            (VectorData::Bit(data), QueryVector::Bit(q)) => {
                let b = d / 8;
                (k.hamming)(q, &data[slot * b..(slot + 1) * b]) as f32
            }
            _ => f32::INFINITY,
        }
    }

    #[inline]
    fn finalize(&self, raw: f32) -> f32 {
        finalize(self.metric, raw)
    }
}

/// The scan-form distance (see [`Scorer`]) of float32 `q` (of norm `q_norm`) to `x`
/// (of norm `x_norm`; both norms matter for cosine only). Every float32 path computes
/// it here, so the exact scan and the ivf lists give the same distances bit for bit.
#[inline]
pub(super) fn raw_f32(
    k: &Kernels,
    metric: Metric,
    q: &[f32],
    q_norm: f32,
    x: &[f32],
    x_norm: f32,
) -> f32 {
    match metric {
        Metric::L2 => (k.l2_squared_f32)(q, x),
        Metric::L1 => (k.l1_f32)(q, x),
        Metric::Dot | Metric::Cosine => raw_from_dot(metric, (k.dot_f32)(q, x), q_norm, x_norm),
        Metric::Hamming => f32::INFINITY,
    }
}

/// The scan-form distance for the dot and cosine metrics from the dot product.
#[inline]
pub(super) fn raw_from_dot(metric: Metric, dot: f32, q_norm: f32, x_norm: f32) -> f32 {
    if metric == Metric::Dot {
        return -dot;
    }
    let denom = f64::from(x_norm) * f64::from(q_norm);
    if denom == 0.0 {
        1.0
    } else {
        (1.0 - f64::from(dot) / denom) as f32
    }
}

/// The best hits of `top`, closest first, with final distances.
pub(super) fn finish_hits(top: TopK, metric: Metric) -> Vec<Hit> {
    let mut hits = top.finish();
    for h in &mut hits {
        h.distance = finalize(metric, h.distance);
    }
    hits
}

/// A distance in scan form (squared for L2) made final.
#[inline]
pub(super) fn finalize(metric: Metric, raw: f32) -> f32 {
    if metric == Metric::L2 {
        raw.sqrt()
    } else {
        raw
    }
}

pub struct KnnRequest<'a> {
    pub vector_column: usize,
    pub query: &'a QueryVector,
    pub k: usize,
    pub filters: &'a [Filter],
    pub bounds: DistanceBounds,
}

fn scorer<'a>(data: &'a TableData, column: usize, query: &'a QueryVector) -> Scorer<'a> {
    chunk_scorer(data, column, &data.vectors[column], 0, query)
}

fn chunk_scorer<'a>(
    data: &TableData,
    column: usize,
    vectors: &'a VectorData,
    base: usize,
    query: &'a QueryVector,
) -> Scorer<'a> {
    let col = &data.columns[column];
    let query_norm = match query {
        QueryVector::Float32(q) => quiver_kernels::distance::norm_f32(q),
        _ => 0.0,
    };
    Scorer {
        kernels: dispatch::best(),
        metric: col.metric,
        data: vectors,
        base,
        dims: col.dims,
        query,
        query_norm,
    }
}

/// Slots per thread below which a scan stays on one thread.
const MIN_ELEMENTS_PER_THREAD: usize = 1 << 18;

pub(crate) fn thread_count(n_slots: usize, dims: usize, work_factor: usize) -> usize {
    let work = n_slots
        .saturating_mul(dims)
        .saturating_mul(work_factor.max(1));
    (work / MIN_ELEMENTS_PER_THREAD).clamp(1, max_threads())
}

fn ranges(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let step = n.div_ceil(parts.max(1));
    (0..parts)
        .map(|i| (i * step, ((i + 1) * step).min(n)))
        .filter(|(a, b)| a < b)
        .collect()
}

/// Runs `scan` over the slots, split into contiguous ranges on `threads` scoped threads
/// when more than one, and folds the per-range results together with `merge`.
pub(crate) fn scan_parallel<T: Send>(
    n_slots: usize,
    threads: usize,
    scan: impl Fn((usize, usize)) -> T + Sync,
    merge: impl Fn(&mut T, T),
) -> T {
    if threads <= 1 {
        return scan((0, n_slots));
    }
    let parts = ranges(n_slots, threads);
    let scan = &scan;
    let mut results: Vec<T> = std::thread::scope(|s| {
        let handles: Vec<_> = parts.iter().map(|&r| s.spawn(move || scan(r))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut first = results.remove(0);
    for other in results {
        merge(&mut first, other);
    }
    first
}

/// Merges per-range top-k lists of many queries, query by query.
fn merge_query_tops(into: &mut [TopK], other: Vec<TopK>) {
    for (a, b) in into.iter_mut().zip(other) {
        a.merge(b);
    }
}

/// Pushes the live rows of `start..end` that pass every filter into `top` (distances
/// in scan form; [`finish`] turns them into results).
fn scan_range(
    data: &TableData,
    sc: &Scorer<'_>,
    req: &KnnRequest<'_>,
    range: (usize, usize),
    top: &mut TopK,
) {
    for slot in range.0..range.1.min(data.n_slots) {
        if !data.live[slot] || !req.filters.iter().all(|f| f.accepts(data, slot)) {
            continue;
        }
        let raw = sc.raw(slot);
        if !req.bounds.is_empty() && !req.bounds.accepts(f64::from(sc.finalize(raw))) {
            continue;
        }
        top.push(Hit {
            distance: raw,
            rowid: data.rowids[slot],
            slot: slot as u32,
        });
    }
}

fn finish(top: TopK, sc: &Scorer<'_>) -> Vec<Hit> {
    let mut hits = top.finish();
    for h in &mut hits {
        h.distance = sc.finalize(h.distance);
    }
    hits
}

/// The k nearest live rows that pass every filter, closest first, ties by rowid.
pub fn knn(data: &TableData, req: &KnnRequest<'_>) -> Vec<Hit> {
    if req.k == 0 || data.n_slots == 0 {
        return Vec::new();
    }
    let sc = scorer(data, req.vector_column, req.query);
    let scan = |range: (usize, usize)| {
        let mut top = TopK::new(req.k);
        scan_range(data, &sc, req, range, &mut top);
        top
    };
    let threads = thread_count(data.n_slots, sc.dims, 1);
    let top = scan_parallel(data.n_slots, threads, scan, TopK::merge);
    finish(top, &sc)
}

/// Exact distances of the candidate `slots` (a quantized scan's shortlist): the `k`
/// closest that pass `bounds`, closest first, ties by rowid, as [`knn`] orders them.
pub fn rescore_slots(
    data: &TableData,
    column: usize,
    query: &QueryVector,
    slots: impl Iterator<Item = u32>,
    k: usize,
    bounds: DistanceBounds,
) -> Vec<Hit> {
    let sc = scorer(data, column, query);
    let mut top = TopK::new(k.max(1));
    for slot in slots {
        let raw = sc.raw(slot as usize);
        if !bounds.is_empty() && !bounds.accepts(f64::from(sc.finalize(raw))) {
            continue;
        }
        top.push(Hit {
            distance: raw,
            rowid: data.rowids[slot as usize],
            slot,
        });
    }
    finish(top, &sc)
}

/// A KNN answered while the table is read chunk by chunk: [`Streaming::chunk`] scans
/// each chunk of the queried column as soon as it is decoded, keeping a running top-k,
/// so a cold query costs one pass over the chunks. Gives the same hits as [`knn`] over
/// the finished table.
pub struct Streaming<'a> {
    req: &'a KnnRequest<'a>,
    top: TopK,
}

impl<'a> Streaming<'a> {
    pub fn new(req: &'a KnnRequest<'a>) -> Streaming<'a> {
        Streaming {
            req,
            top: TopK::new(req.k.max(1)),
        }
    }

    /// Scans the slots of `chunk` (ignored unless it holds the queried column).
    pub fn chunk(&mut self, data: &TableData, chunk: &ChunkView<'_>) {
        if chunk.column != self.req.vector_column || self.req.k == 0 {
            return;
        }
        let sc = chunk_scorer(
            data,
            chunk.column,
            chunk.vectors,
            chunk.base,
            self.req.query,
        );
        scan_range(data, &sc, self.req, (chunk.start, chunk.end), &mut self.top);
    }

    /// The hits, closest first (their distances need no vector: the chunks may be gone).
    pub fn finish(self, data: &TableData) -> Vec<Hit> {
        if self.req.k == 0 || data.n_slots == 0 {
            return Vec::new();
        }
        finish_hits(self.top, data.columns[self.req.vector_column].metric)
    }
}

/// Many queries at once: the slots are walked in cache-sized blocks and every query
/// runs over a block before the next, so the data streams from memory once.
pub fn knn_batch(
    data: &TableData,
    vector_column: usize,
    queries: &[QueryVector],
    k: usize,
    filters: &[Filter],
) -> Vec<Vec<Hit>> {
    if k == 0 || data.n_slots == 0 || queries.is_empty() {
        return queries.iter().map(|_| Vec::new()).collect();
    }
    let scorers: Vec<Scorer<'_>> = queries
        .iter()
        .map(|q| scorer(data, vector_column, q))
        .collect();
    let dims = data.columns[vector_column].dims;
    let metric = data.columns[vector_column].metric;
    if let (VectorData::Float32 { data: xs, norms }, Metric::L2 | Metric::Dot | Metric::Cosine) =
        (&data.vectors[vector_column], metric)
    {
        if queries.iter().all(|q| matches!(q, QueryVector::Float32(_))) {
            return knn_batch_f32(
                data,
                xs,
                norms.as_deref(),
                metric,
                dims,
                &scorers,
                queries,
                k,
                filters,
            );
        }
    }
    let elem_bytes = match data.vectors[vector_column] {
        VectorData::Float32 { .. } => 4,
        _ => 1,
    };
    let block = ((256 * 1024) / (dims * elem_bytes).max(1)).clamp(16, 4096);
    let scan = |range: (usize, usize)| {
        let mut tops: Vec<TopK> = queries.iter().map(|_| TopK::new(k)).collect();
        scan_queries(data, &scorers, filters, range, block, &mut tops);
        tops
    };
    let threads = thread_count(data.n_slots, dims, queries.len());
    let tops = scan_parallel(data.n_slots, threads, scan, |a, b| merge_query_tops(a, b));
    tops.into_iter()
        .zip(&scorers)
        .map(|(t, sc)| {
            let mut hits = t.finish();
            for h in &mut hits {
                h.distance = sc.finalize(h.distance);
            }
            hits
        })
        .collect()
}

/// Pushes the live rows of `start..end` that pass every filter into each query's top-k,
/// walking the slots in blocks of `block` so that every query runs over a block while it
/// is in the CPU cache.
fn scan_queries(
    data: &TableData,
    scorers: &[Scorer<'_>],
    filters: &[Filter],
    (start, end): (usize, usize),
    block: usize,
    tops: &mut [TopK],
) {
    let mut live: Vec<usize> = Vec::with_capacity(block);
    let mut b = start;
    while b < end {
        let e = (b + block).min(end);
        live.clear();
        live.extend((b..e).filter(|&s| data.live[s] && filters.iter().all(|f| f.accepts(data, s))));
        for (sc, top) in scorers.iter().zip(tops.iter_mut()) {
            for &slot in &live {
                top.push(Hit {
                    distance: sc.raw(slot),
                    rowid: data.rowids[slot],
                    slot: slot as u32,
                });
            }
        }
        b = e;
    }
}

/// Many queries answered while the table is read chunk by chunk (a table above the
/// cache budget): like [`Streaming`], for [`knn_batch`].
pub struct BatchStreaming<'a> {
    vector_column: usize,
    queries: &'a [QueryVector],
    filters: &'a [Filter],
    tops: Vec<TopK>,
}

impl<'a> BatchStreaming<'a> {
    pub fn new(
        vector_column: usize,
        queries: &'a [QueryVector],
        k: usize,
        filters: &'a [Filter],
    ) -> BatchStreaming<'a> {
        BatchStreaming {
            vector_column,
            queries,
            filters,
            tops: queries.iter().map(|_| TopK::new(k.max(1))).collect(),
        }
    }

    /// Scans the slots of `chunk` (ignored unless it holds the queried column).
    pub fn chunk(&mut self, data: &TableData, chunk: &ChunkView<'_>) {
        if chunk.column != self.vector_column {
            return;
        }
        let scorers: Vec<Scorer<'_>> = self
            .queries
            .iter()
            .map(|q| chunk_scorer(data, chunk.column, chunk.vectors, chunk.base, q))
            .collect();
        let dims = data.columns[chunk.column].dims;
        let block = ((256 * 1024) / (dims * 4).max(1)).clamp(16, 4096);
        let range = (chunk.start, chunk.end.min(data.n_slots));
        scan_queries(data, &scorers, self.filters, range, block, &mut self.tops);
    }

    /// Each query's hits, closest first.
    pub fn finish(self, data: &TableData, k: usize) -> Vec<Vec<Hit>> {
        let metric = data.columns[self.vector_column].metric;
        self.tops
            .into_iter()
            .map(|t| {
                if k == 0 {
                    return Vec::new();
                }
                let mut hits = t.finish();
                for h in &mut hits {
                    h.distance = finalize(metric, h.distance);
                }
                hits
            })
            .collect()
    }
}

/// Batched float32 search with the register-blocked dot kernel: distances from dot
/// products (`|x|² + |q|² - 2 q·x` for L2, then the final k re-scored exactly).
#[allow(clippy::too_many_arguments)]
fn knn_batch_f32(
    data: &TableData,
    xs: &[f32],
    norms: Option<&[f32]>,
    metric: Metric,
    dims: usize,
    scorers: &[Scorer<'_>],
    queries: &[QueryVector],
    k: usize,
    filters: &[Filter],
) -> Vec<Vec<Hit>> {
    let nq = queries.len();
    let mut qmat = Vec::with_capacity(nq * dims);
    for q in queries {
        if let QueryVector::Float32(v) = q {
            qmat.extend_from_slice(v);
        }
    }
    let kernels = dispatch::best();
    let qn2: Vec<f32> = (0..nq)
        .map(|q| {
            (kernels.dot_f32)(
                &qmat[q * dims..(q + 1) * dims],
                &qmat[q * dims..(q + 1) * dims],
            )
        })
        .collect();
    let block = ((128 * 1024) / (dims * 4).max(1)).clamp(8, 512);
    let scan = |(start, end): (usize, usize)| {
        let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
        let mut out = vec![0f32; nq * block];
        let mut b = start;
        while b < end {
            let e = (b + block).min(end);
            let nr = e - b;
            let pass: Vec<bool> = (b..e)
                .map(|s| data.live[s] && filters.iter().all(|f| f.accepts(data, s)))
                .collect();
            if pass.iter().any(|&p| p) {
                (kernels.dot_block_f32)(&qmat, &xs[b * dims..e * dims], dims, &mut out);
                for (ri, s) in (b..e).enumerate() {
                    if !pass[ri] {
                        continue;
                    }
                    let rowid = data.rowids[s];
                    let xn2 = if metric == Metric::L2 {
                        let x = &xs[s * dims..(s + 1) * dims];
                        (kernels.dot_f32)(x, x)
                    } else {
                        0.0
                    };
                    for (q, top) in tops.iter_mut().enumerate() {
                        let dot = out[q * nr + ri];
                        let distance = match metric {
                            Metric::L2 => (xn2 + qn2[q] - 2.0 * dot).max(0.0),
                            Metric::Dot => -dot,
                            _ => {
                                let denom = f64::from(norms.map_or(0.0, |n| n[s]))
                                    * f64::from(qn2[q]).sqrt();
                                if denom == 0.0 {
                                    1.0
                                } else {
                                    (1.0 - f64::from(dot) / denom) as f32
                                }
                            }
                        };
                        top.push(Hit {
                            distance,
                            rowid,
                            slot: s as u32,
                        });
                    }
                }
            }
            b = e;
        }
        tops
    };
    let threads = thread_count(data.n_slots, dims, nq);
    let tops = scan_parallel(data.n_slots, threads, scan, |a, b| merge_query_tops(a, b));
    tops.into_iter()
        .zip(scorers)
        .map(|(t, sc)| {
            let mut hits = t.finish();
            if metric == Metric::L2 {
                for h in &mut hits {
                    h.distance = sc.raw(h.slot as usize);
                }
                hits.sort_unstable_by(hit_order);
            }
            for h in &mut hits {
                h.distance = sc.finalize(h.distance);
            }
            hits
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_fast_path_agrees_with_the_general_comparison() {
        // An integer constant takes the fast path; the same number as a REAL takes
        // the general one (SQLite compares 3 and 3.0 as equal).
        let ops = [
            Op::Eq,
            Op::Ne,
            Op::Lt,
            Op::Le,
            Op::Gt,
            Op::Ge,
            Op::Is,
            Op::IsNot,
        ];
        let values = [
            Value::Integer(-5),
            Value::Integer(2),
            Value::Integer(3),
            Value::Integer(4),
            Value::Integer(i64::MAX),
            Value::Null,
            Value::Real(3.0),
            Value::Text("3".into()),
        ];
        for op in ops {
            let fast = Filter {
                target: Target::Rowid,
                op,
                values: vec![Value::Integer(3)],
            };
            let general = Filter {
                values: vec![Value::Real(3.0)],
                ..fast.clone()
            };
            for v in &values {
                assert_eq!(fast.test(v), general.test(v), "{op:?} {v:?}");
            }
        }
    }

    #[test]
    fn top_k_matches_a_full_sort_with_rowid_ties() {
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for k in [1usize, 3, 10, 100] {
            let hits: Vec<Hit> = (0..1000)
                .map(|i| Hit {
                    distance: (next() % 50) as f32,
                    rowid: 1000 - i,
                    slot: i as u32,
                })
                .collect();
            let mut top = TopK::new(k);
            for h in &hits {
                top.push(*h);
            }
            let got: Vec<i64> = top.finish().iter().map(|h| h.rowid).collect();
            let mut all = hits.clone();
            all.sort_by(hit_order);
            let want: Vec<i64> = all.iter().take(k).map(|h| h.rowid).collect();
            assert_eq!(got, want, "k={k}");
        }
    }

    #[test]
    fn filters_follow_sqlite_comparisons() {
        let f = |op, v: Value| Filter {
            target: Target::Rowid,
            op,
            values: vec![v],
        };
        assert!(f(Op::Eq, Value::Real(3.0)).test(&Value::Integer(3)));
        assert!(!f(Op::Eq, Value::Null).test(&Value::Null));
        assert!(f(Op::Is, Value::Null).test(&Value::Null));
        assert!(f(Op::Lt, Value::Text("a".into())).test(&Value::Integer(5)));
        assert!(!f(Op::Ne, Value::Integer(1)).test(&Value::Null));
        assert!(f(Op::IsNotNull, Value::Null).test(&Value::Text("x".into())));
    }
}
