//! KNN on a column with `indexed by rescore(...)`: scan the cached codes (filters
//! applied first, so every passing row competes), keep `k * oversample` candidates by
//! the code distance, rescore them exactly from the float vectors and return the best
//! `k` in exact order.
//!
//! Code distances (smaller is closer):
//! * bit: Hamming distance between the sign codes of the query and the row;
//! * int8: the metric's estimate from `x·q ≈ sx·sq·(cx·cq)` (query quantized the same
//!   way), with the row's exact norm: L2 `|x|² - 2 x·q`, dot `-x·q`, cosine
//!   `1 - x·q / (|x||q|)`; L1 from the dequantized row.
//!
//! Results are never short: every filter is applied before the shortlist, and when
//! distance bounds leave fewer than `k` rows of a truncated shortlist, the query falls
//! back to the exact scan.

use quiver_kernels::dispatch::{self, Kernels};
use quiver_kernels::quant::{dot_i8_codes, dot_i8_rows, quantize_bit, quantize_int8, DotI8Rows};

use super::cache::TableData;
use super::codes::{as_i8, Codes};
use super::index_spec::{Quantizer, MAX_QUERY_OVERSAMPLE};
use super::knn::{self, Filter, Hit, KnnRequest, QueryVector, TopK};
use crate::vec::metric::Metric;

/// The query in code form.
enum QueryCode {
    Bit(Vec<u8>),
    Int8 {
        code: Vec<i8>,
        scale: f32,
        norm: f32,
        floats: Vec<f32>,
    },
}

/// Scores codes against one query.
pub(super) struct CodeScorer {
    query: QueryCode,
    metric: Metric,
    kernels: &'static Kernels,
    /// `dot_i8` for codes (AVX-512 VNNI where available).
    dot_i8: fn(&[i8], &[i8]) -> i64,
    /// The same over many codes in one call.
    dot_i8_rows: DotI8Rows,
}

impl CodeScorer {
    /// The scorer of query `q` for codes made by `quantizer`.
    pub(super) fn new(quantizer: Quantizer, metric: Metric, q: &[f32]) -> CodeScorer {
        let query = match quantizer {
            Quantizer::Bit => {
                let mut out = vec![0u8; quiver_kernels::quant::bit_code_bytes(q.len())];
                quantize_bit(q, &mut out);
                QueryCode::Bit(out)
            }
            Quantizer::Int8 => {
                let mut code = vec![0i8; q.len()];
                let scale = quantize_int8(q, &mut code);
                QueryCode::Int8 {
                    code,
                    scale,
                    norm: quiver_kernels::distance::norm_f32(q),
                    floats: q.to_vec(),
                }
            }
        };
        CodeScorer {
            query,
            metric,
            kernels: dispatch::best(),
            dot_i8: dot_i8_codes(),
            dot_i8_rows: dot_i8_rows(),
        }
    }

    /// The code distances of positions `0..n` of `codes` into `out` (replaced);
    /// `dots` is scratch. int8 codes go through one row-kernel call.
    pub(super) fn estimate_all(
        &self,
        codes: &Codes,
        n: usize,
        out: &mut Vec<f32>,
        dots: &mut Vec<i32>,
    ) {
        self.estimate_range(codes, 0..n, out, dots);
    }

    /// The code distances of positions `range` of `codes` into `out` (replaced, one
    /// per position in order); `dots` is scratch.
    pub(super) fn estimate_range(
        &self,
        codes: &Codes,
        range: std::ops::Range<usize>,
        out: &mut Vec<f32>,
        dots: &mut Vec<i32>,
    ) {
        out.clear();
        match &self.query {
            QueryCode::Int8 {
                code, scale, norm, ..
            } if self.metric != Metric::L1 => {
                dots.clear();
                dots.resize(range.len(), 0);
                let b = codes.code_bytes;
                let rows = &codes.data[range.start * b..range.end * b];
                (self.dot_i8_rows)(code, as_i8(rows), dots);
                let per_row = codes.scale[range.clone()].iter().zip(&codes.norm[range]);
                out.extend(
                    dots.iter().zip(per_row).map(|(&d, (&sx, &nx))| {
                        self.int8_distance(d as f32 * sx * scale, nx, *norm)
                    }),
                );
            }
            _ => out.extend(range.map(|i| self.estimate(codes, i))),
        }
    }

    /// The metric's estimate from an int8 dot product and the exact norms.
    #[inline]
    fn int8_distance(&self, dot: f32, nx: f32, nq: f32) -> f32 {
        match self.metric {
            Metric::L2 => nx * nx - 2.0 * dot,
            Metric::Cosine => {
                let denom = nx * nq;
                if denom == 0.0 {
                    1.0
                } else {
                    1.0 - dot / denom
                }
            }
            _ => -dot,
        }
    }

    /// The code distance of position `i` of `codes` (smaller is closer).
    #[inline]
    pub(super) fn estimate(&self, codes: &Codes, i: usize) -> f32 {
        let c = codes.code(i);
        match &self.query {
            QueryCode::Bit(q) => (self.kernels.hamming)(q, c) as f32,
            QueryCode::Int8 {
                code,
                scale,
                norm,
                floats,
            } => {
                let sx = codes.scale[i];
                if self.metric == Metric::L1 {
                    return as_i8(c)
                        .iter()
                        .zip(floats)
                        .map(|(&v, &q)| (q - f32::from(v) * sx).abs())
                        .sum();
                }
                let dot = (self.dot_i8)(code, as_i8(c)) as f32 * sx * scale;
                self.int8_distance(dot, codes.norm[i], *norm)
            }
        }
    }
}

/// The shortlist size for `k` results: `k` times the query's oversample, else the
/// column's `declared` one.
pub(super) fn shortlist(k: usize, declared: usize, oversample: Option<usize>) -> usize {
    let os = oversample
        .unwrap_or(declared)
        .clamp(1, MAX_QUERY_OVERSAMPLE);
    k.saturating_mul(os)
}

/// Slots whose codes are scored in one kernel call (a few KB of estimates).
const CODE_BLOCK: usize = 1024;

/// Pushes the live slots of `start..end` that pass `filters` into `top` by code
/// distance, scoring a block of codes per kernel call; a slot's flags and filters are
/// read only when its estimate would make the top.
fn push_code_block(
    data: &TableData,
    codes: &Codes,
    sc: &CodeScorer,
    filters: &[Filter],
    (start, end): (usize, usize),
    top: &mut TopK,
    (estimates, dots): &mut (Vec<f32>, Vec<i32>),
) {
    sc.estimate_range(codes, start..end, estimates, dots);
    for (slot, &d) in (start..end).zip(estimates.iter()) {
        if !top.would_keep(d) || !data.live[slot] || !filters.iter().all(|f| f.accepts(data, slot))
        {
            continue;
        }
        top.push(Hit {
            distance: d,
            rowid: data.rowids[slot],
            slot: slot as u32,
        });
    }
}

/// The `n` passing rows with the smallest code distance.
fn scan_codes(
    data: &TableData,
    codes: &Codes,
    sc: &CodeScorer,
    filters: &[Filter],
    n: usize,
) -> Vec<Hit> {
    let scan = |(start, end): (usize, usize)| {
        let mut top = TopK::new(n);
        let mut scratch = (Vec::new(), Vec::new());
        let end = end.min(data.n_slots);
        for b in (start..end).step_by(CODE_BLOCK) {
            let block = (b, (b + CODE_BLOCK).min(end));
            push_code_block(data, codes, sc, filters, block, &mut top, &mut scratch);
        }
        top
    };
    let threads = knn::thread_count(data.n_slots, codes.code_bytes / 2, 1);
    knn::scan_parallel(data.n_slots, threads, scan, TopK::merge).finish()
}

/// The KNN of `req` through the rescore index of its column, or `None` when the
/// column has none (or the query is not float32): the caller scans exactly.
/// `oversample` overrides the column's for this query.
pub fn knn(data: &TableData, req: &KnnRequest<'_>, oversample: Option<usize>) -> Option<Vec<Hit>> {
    let codes = data.codes.get(req.vector_column)?.as_ref()?;
    let QueryVector::Float32(q) = req.query else {
        return None;
    };
    if req.k == 0 || data.n_slots == 0 {
        return Some(Vec::new());
    }
    let metric = data.columns[req.vector_column].metric;
    let sc = CodeScorer::new(codes.spec.quantizer, metric, q);
    let n = shortlist(req.k, codes.spec.oversample, oversample);
    let candidates = scan_codes(data, codes, &sc, req.filters, n);
    let complete = candidates.len() < n;
    Some(rescore_shortlist(data, req, &candidates, complete))
}

/// The best `req.k` of `candidates` (a shortlist by code distance) rescored exactly
/// from the float vectors, bounds applied. When the bounds leave fewer than `k` and
/// the shortlist is not `complete` (rows outside it may pass), the exact scan's answer.
pub(super) fn rescore_shortlist(
    data: &TableData,
    req: &KnnRequest<'_>,
    candidates: &[Hit],
    complete: bool,
) -> Vec<Hit> {
    let hits = knn::rescore_slots(
        data,
        req.vector_column,
        req.query,
        candidates.iter().map(|h| h.slot),
        req.k,
        req.bounds,
    );
    if hits.len() < req.k && !req.bounds.is_empty() && !complete {
        return knn::knn(data, req);
    }
    hits
}

/// Many queries through the rescore index (`None` without one): the codes are walked
/// in cache-sized blocks and every query scores a block before the next, so the codes
/// stream from memory once for all queries; then each query's shortlist is rescored.
pub fn knn_batch(
    data: &TableData,
    vector_column: usize,
    queries: &[QueryVector],
    k: usize,
    filters: &[Filter],
    oversample: Option<usize>,
) -> Option<Vec<Vec<Hit>>> {
    let codes = data.codes.get(vector_column)?.as_ref()?;
    let metric = data.columns[vector_column].metric;
    let scorers = queries
        .iter()
        .map(|q| match q {
            QueryVector::Float32(q) => Some(CodeScorer::new(codes.spec.quantizer, metric, q)),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    if k == 0 || data.n_slots == 0 {
        return Some(queries.iter().map(|_| Vec::new()).collect());
    }
    let n = shortlist(k, codes.spec.oversample, oversample);
    // Blocks that stay in the core's cache while every query scores them.
    let block = ((256 * 1024) / codes.code_bytes.max(1)).clamp(16, 4096);
    let scan = |(start, end): (usize, usize)| {
        let mut tops: Vec<TopK> = scorers.iter().map(|_| TopK::new(n)).collect();
        let mut scratch = (Vec::new(), Vec::new());
        let end = end.min(data.n_slots);
        for b in (start..end).step_by(block) {
            let e = (b + block).min(end);
            for (sc, top) in scorers.iter().zip(tops.iter_mut()) {
                for c in (b..e).step_by(CODE_BLOCK) {
                    let part = (c, (c + CODE_BLOCK).min(e));
                    push_code_block(data, codes, sc, filters, part, top, &mut scratch);
                }
            }
        }
        tops
    };
    let threads = knn::thread_count(data.n_slots, codes.code_bytes / 2, queries.len());
    let tops = knn::scan_parallel(data.n_slots, threads, scan, |a, b| {
        for (x, y) in a.iter_mut().zip(b) {
            x.merge(y);
        }
    });
    Some(
        tops.into_iter()
            .zip(queries)
            .map(|(top, query)| {
                let slots = top.finish();
                knn::rescore_slots(
                    data,
                    vector_column,
                    query,
                    slots.iter().map(|h| h.slot),
                    k,
                    Default::default(),
                )
            })
            .collect(),
    )
}

/// The state of vector column `column`'s index, as JSON text: `kind` ("rescore", or
/// "none" for an exact scan), quantizer, oversample, rows coded, bytes per code and
/// code bytes held.
pub fn state_json(data: &TableData, column: usize, name: &str) -> String {
    let rows = data.by_rowid.len();
    let streamed = data.is_over_budget(column);
    let Some(Some(codes)) = data.codes.get(column) else {
        // A streamed table (above the cache budget) keeps no codes: its queries scan
        // the chunks exactly.
        let declared = data.columns.get(column).and_then(|c| c.index);
        return match declared {
            Some(spec) => serde_json::json!({
                "column": name,
                "kind": "rescore",
                "quantizer": spec.quantizer.name(),
                "oversample": spec.oversample,
                "rows": rows,
                "rows_coded": 0,
                "streamed": streamed,
            }),
            None => serde_json::json!({
                "column": name, "kind": "none", "rows": rows, "streamed": streamed
            }),
        }
        .to_string();
    };
    serde_json::json!({
        "column": name,
        "kind": "rescore",
        "quantizer": codes.spec.quantizer.name(),
        "oversample": codes.spec.oversample,
        "rows": rows,
        "rows_coded": rows,
        "code_bytes_per_row": codes.code_bytes,
        "code_bytes": codes.memory_bytes(),
        "streamed": false,
    })
    .to_string()
}

/// Reads sqlite-vec's `'oversample=N'` command: `None` if `command` is another
/// command, the oversample otherwise (an error below 1 or above the query maximum).
pub fn oversample_command(command: &[u8]) -> Option<Result<usize, String>> {
    let value = command.strip_prefix(b"oversample=")?;
    let text = String::from_utf8_lossy(value);
    Some(
        text.trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_QUERY_OVERSAMPLE).contains(n))
            .ok_or_else(|| {
                format!(
                    "oversample must be >= 1 (vec0: 'oversample=N' takes an integer between 1 and {MAX_QUERY_OVERSAMPLE}, got '{text}')"
                )
            }),
    )
}
