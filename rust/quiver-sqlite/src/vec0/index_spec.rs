//! `indexed by ...` on a vector column: which index a column carries and its
//! parameters, sqlite-vec 0.1.10's syntax.
//!
//! ```text
//! emb float[768] indexed by rescore(quantizer=bit)
//! emb float[768] distance_metric=cosine indexed by rescore(quantizer=int8, oversample=16)
//! ```
//!
//! `rescore` keeps a quantized code of every vector (1 bit or 1 byte per dimension)
//! next to the float vectors; a KNN query scans the codes for `k * oversample`
//! candidates and rescores them exactly.
//!
//! ```text
//! emb float[768] indexed by ivf(nlist=256, nprobe=16)
//! ```
//!
//! `ivf` partitions the rows into `nlist` lists by k-means centroids (trained by the
//! `'compute-centroids'` command) and a query scans the `nprobe` lists nearest to it
//! (see `ivf.rs`). `diskann(...)` is refused with a message naming what works.

/// How a rescore index quantizes vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantizer {
    /// One sign bit per dimension, compared by Hamming distance.
    Bit,
    /// One byte per dimension with a per-vector scale, compared by int8 dot products.
    Int8,
}

impl Quantizer {
    pub fn name(self) -> &'static str {
        match self {
            Quantizer::Bit => "bit",
            Quantizer::Int8 => "int8",
        }
    }
}

/// `indexed by rescore(quantizer=..., oversample=...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rescore {
    pub quantizer: Quantizer,
    /// Candidates kept per result row before the exact rescoring.
    pub oversample: usize,
}

/// sqlite-vec's default oversample.
pub const DEFAULT_OVERSAMPLE: usize = 8;
/// The largest oversample a table declares (sqlite-vec refuses larger ones too); a
/// query may ask for up to [`MAX_QUERY_OVERSAMPLE`].
pub const MAX_OVERSAMPLE: usize = 128;
/// The largest per-query oversample.
pub const MAX_QUERY_OVERSAMPLE: usize = 1 << 16;

/// sqlite-vec's IVF defaults.
pub const DEFAULT_NLIST: usize = 128;
pub const DEFAULT_NPROBE: usize = 10;
/// sqlite-vec's largest nlist.
pub const MAX_NLIST: usize = 65536;

/// `indexed by ivf(nlist=..., nprobe=..., quantizer=none|int8|binary, oversample=...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ivf {
    pub nlist: usize,
    /// Lists a query probes unless the connection or the query says otherwise.
    pub nprobe: usize,
    /// How the lists hold their members' vectors: `None` as packed float32 copies
    /// (exact distances), else as codes scanned for a shortlist that is rescored
    /// exactly.
    pub quantizer: Option<Quantizer>,
    /// With a quantizer, candidates kept per result row before the exact rescoring
    /// (sqlite-vec's default 1); without one it changes nothing.
    pub oversample: usize,
}

/// The index a vector column declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexSpec {
    Rescore(Rescore),
    Ivf(Ivf),
}

/// Splits a column definition at `indexed by` (any case): the definition before it
/// and the index text after it.
pub fn split_indexed_by(arg: &str) -> (&str, Option<&str>) {
    let lower = arg.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("indexed") {
        let start = from + at;
        let rest = lower[start + "indexed".len()..].trim_start();
        let preceded = start == 0 || lower.as_bytes()[start - 1].is_ascii_whitespace();
        if preceded && rest.starts_with("by") {
            let by_at = lower.len() - rest.len();
            let after = arg[by_at + 2..].trim();
            return (arg[..start].trim_end(), Some(after));
        }
        from = start + 1;
    }
    (arg, None)
}

/// Parses the index text after `indexed by` for column `name`; `float32` says whether
/// the column holds float32 vectors, `dims` its dimensions.
pub fn parse_index(
    name: &str,
    text: &str,
    float32: bool,
    dims: usize,
) -> Result<IndexSpec, String> {
    let text = text.trim();
    let (kind, params) = match text.find('(') {
        Some(open) => {
            let Some(inner) = text[open + 1..].strip_suffix(')') else {
                return Err(format!(
                    "vec0: column '{name}': expected 'indexed by rescore(...)', got \
                     'indexed by {text}'"
                ));
            };
            (text[..open].trim().to_ascii_lowercase(), inner)
        }
        None => (text.to_ascii_lowercase(), ""),
    };
    match kind.as_str() {
        "rescore" => {}
        "ivf" => return parse_ivf(name, params, float32, dims).map(IndexSpec::Ivf),
        "diskann" => {
            return Err(format!(
                "vec0: column '{name}': 'indexed by {kind}' is not supported by sqlite-quiver; \
                 use 'indexed by ivf(nlist=N, nprobe=M)' for an approximate index, \
                 'indexed by rescore(quantizer=bit|int8, oversample=N)' for a quantized \
                 scan with exact rescoring, or no index for an exact scan"
            ))
        }
        other => {
            return Err(format!(
                "vec0: column '{name}': unknown index '{other}' (expected \
                 rescore(quantizer=bit|int8, oversample=N) or ivf(nlist=N, nprobe=M))"
            ))
        }
    }
    if !float32 {
        return Err(format!(
            "vec0: column '{name}': rescore indexes are only supported on float32 columns \
             (float[N]); int8 and bit vectors are already compact"
        ));
    }
    let mut quantizer = None;
    let mut oversample = DEFAULT_OVERSAMPLE;
    for param in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = param.split_once('=') else {
            return Err(format!(
                "vec0: column '{name}': rescore: expected key=value, got '{param}'"
            ));
        };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        let value = value.trim_matches(|c| c == '\'' || c == '"');
        match key.as_str() {
            "quantizer" => {
                quantizer = Some(match value.to_ascii_lowercase().as_str() {
                    "bit" | "binary" => Quantizer::Bit,
                    "int8" => Quantizer::Int8,
                    other => {
                        return Err(format!(
                            "vec0: column '{name}': rescore: unknown quantizer '{other}' \
                             (expected bit or int8)"
                        ))
                    }
                })
            }
            "oversample" => {
                oversample = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_OVERSAMPLE).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "vec0: column '{name}': rescore: oversample must be an integer \
                             between 1 and {MAX_OVERSAMPLE}, got '{value}'"
                        )
                    })?
            }
            other => {
                return Err(format!(
                    "vec0: column '{name}': rescore: unknown option '{other}' (expected \
                     quantizer or oversample)"
                ))
            }
        }
    }
    let Some(quantizer) = quantizer else {
        return Err(format!(
            "vec0: column '{name}': rescore: quantizer is required (quantizer=bit or \
             quantizer=int8)"
        ));
    };
    if quantizer == Quantizer::Bit && !dims.is_multiple_of(8) {
        return Err(format!(
            "vec0: column '{name}': rescore(quantizer=bit) needs a multiple of 8 \
             dimensions, got {dims}"
        ));
    }
    Ok(IndexSpec::Rescore(Rescore {
        quantizer,
        oversample,
    }))
}

/// The options of `ivf(...)`.
fn parse_ivf(name: &str, params: &str, float32: bool, dims: usize) -> Result<Ivf, String> {
    if !float32 {
        return Err(format!(
            "vec0: column '{name}': ivf indexes are only supported on float32 columns \
             (float[N])"
        ));
    }
    let mut nlist = DEFAULT_NLIST;
    let mut nprobe = None;
    let mut oversample = 1;
    let mut quantizer = None;
    for param in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = param.split_once('=') else {
            return Err(format!(
                "vec0: column '{name}': ivf: expected key=value, got '{param}'"
            ));
        };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        let value = value.trim_matches(|c| c == '\'' || c == '"');
        let number = |what: &str, lo: usize, hi: usize| {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or_else(|| {
                    format!(
                        "vec0: column '{name}': ivf: {what} must be an integer between {lo} \
                         and {hi}, got '{value}'"
                    )
                })
        };
        match key.as_str() {
            "nlist" => nlist = number("nlist", 1, MAX_NLIST)?,
            "nprobe" => nprobe = Some(number("nprobe", 1, MAX_NLIST)?),
            "oversample" => oversample = number("oversample", 1, MAX_OVERSAMPLE)?,
            "quantizer" => {
                quantizer = match value.to_ascii_lowercase().as_str() {
                    "none" => None,
                    "binary" | "bit" => Some(Quantizer::Bit),
                    "int8" => Some(Quantizer::Int8),
                    other => {
                        return Err(format!(
                            "vec0: column '{name}': ivf: unknown quantizer '{other}' \
                             (expected none, int8 or binary)"
                        ))
                    }
                }
            }
            other => {
                return Err(format!(
                    "vec0: column '{name}': ivf: unknown option '{other}' (expected nlist, \
                     nprobe, quantizer or oversample)"
                ))
            }
        }
    }
    let nprobe = match nprobe {
        Some(p) if p > nlist => {
            return Err(format!(
                "vec0: column '{name}': ivf: nprobe ({p}) must not exceed nlist ({nlist})"
            ))
        }
        Some(p) => p,
        None => DEFAULT_NPROBE.min(nlist),
    };
    if quantizer == Some(Quantizer::Bit) && !dims.is_multiple_of(8) {
        return Err(format!(
            "vec0: column '{name}': ivf(quantizer=binary) needs a multiple of 8 \
             dimensions, got {dims}"
        ));
    }
    Ok(Ivf {
        nlist,
        nprobe,
        quantizer,
        oversample,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_parses() {
        let (def, idx) = split_indexed_by(
            "e float[8] distance_metric=cosine INDEXED  BY rescore(quantizer=bit)",
        );
        assert_eq!(def, "e float[8] distance_metric=cosine");
        assert_eq!(idx, Some("rescore(quantizer=bit)"));
        assert_eq!(
            split_indexed_by("reindexed float[8]"),
            ("reindexed float[8]", None)
        );
        let r = parse_index("e", "rescore(quantizer=int8, oversample=16)", true, 8).unwrap();
        assert_eq!(
            r,
            IndexSpec::Rescore(Rescore {
                quantizer: Quantizer::Int8,
                oversample: 16
            })
        );
        let r = parse_index("e", "rescore(quantizer=bit)", true, 8).unwrap();
        assert!(matches!(r, IndexSpec::Rescore(r) if r.oversample == DEFAULT_OVERSAMPLE));
        let r = parse_index("e", "ivf(nlist=32, nprobe=4, quantizer=none)", true, 8).unwrap();
        assert!(matches!(
            r,
            IndexSpec::Ivf(Ivf {
                nlist: 32,
                nprobe: 4,
                ..
            })
        ));
        let r = parse_index("e", "ivf()", true, 8).unwrap();
        assert!(matches!(
            r,
            IndexSpec::Ivf(Ivf {
                nlist: 128,
                nprobe: 10,
                ..
            })
        ));
        let r = parse_index("e", "ivf(quantizer=int8, oversample=4)", true, 8).unwrap();
        assert!(matches!(
            r,
            IndexSpec::Ivf(Ivf {
                quantizer: Some(Quantizer::Int8),
                oversample: 4,
                ..
            })
        ));
        let r = parse_index("e", "ivf(quantizer=binary)", true, 16).unwrap();
        assert!(matches!(
            r,
            IndexSpec::Ivf(Ivf {
                quantizer: Some(Quantizer::Bit),
                oversample: 1,
                ..
            })
        ));
        let r = parse_index("e", "ivf(nlist=4)", true, 8).unwrap();
        assert!(matches!(
            r,
            IndexSpec::Ivf(Ivf {
                nlist: 4,
                nprobe: 4,
                ..
            })
        ));
    }

    #[test]
    fn refuses_bad_parameters() {
        for (text, float32, dims, needle) in [
            ("rescore(oversample=8)", true, 8, "quantizer is required"),
            ("rescore(quantizer=float)", true, 8, "unknown quantizer"),
            (
                "rescore(quantizer=bit, oversample=0)",
                true,
                8,
                "oversample must be",
            ),
            (
                "rescore(quantizer=bit, oversample=999)",
                true,
                8,
                "oversample must be",
            ),
            ("rescore(quantizer=bit, foo=1)", true, 8, "unknown option"),
            ("rescore(quantizer=bit)", true, 100, "multiple of 8"),
            ("rescore(quantizer=bit)", false, 8, "float32"),
            ("ivf(nlist=0)", true, 8, "nlist must be"),
            ("ivf(nlist=4, nprobe=5)", true, 8, "must not exceed nlist"),
            ("ivf(quantizer=pq)", true, 8, "unknown quantizer"),
            ("ivf(quantizer=binary)", true, 12, "multiple of 8"),
            ("ivf(foo=1)", true, 8, "unknown option"),
            ("ivf(nlist=4)", false, 8, "float32"),
            (
                "diskann(neighbor_quantizer=binary)",
                true,
                8,
                "use 'indexed by ivf",
            ),
            ("hnsw()", true, 8, "unknown index"),
        ] {
            let err = parse_index("e", text, float32, dims).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
