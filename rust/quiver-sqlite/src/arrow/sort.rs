//! Sorted scans of Arrow tables: when SQLite asks for rows ordered by numeric or text
//! columns (ORDER BY, or GROUP BY, which SQLite passes the same way), the table sorts the
//! selected rows itself so SQLite can skip its sorter.
//!
//! The order is exactly SQLite's: NULL first ascending (last descending), numbers compared
//! as SQLite compares INTEGER and REAL, text by bytes (BINARY: SQLite only hands a
//! virtual table ORDER BY terms with the column's own collation, BINARY here).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::arrow::filter::cmp_num;
use crate::arrow::table::ArrowTable;
use crate::arrow::types::{ColumnClass, Num};

/// One ORDER BY term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderTerm {
    pub column: usize,
    pub desc: bool,
}

/// Whether a column can be sorted here.
pub fn sortable(class: ColumnClass) -> bool {
    matches!(class, ColumnClass::Numeric | ColumnClass::Text)
}

/// Keys of one column for the rows being sorted.
enum Keys<'a> {
    Num(Vec<Option<Num>>),
    /// Rank of the text among the distinct values (0 = NULL).
    Rank(Vec<u32>),
    Bytes(Vec<Option<&'a [u8]>>),
}

/// Distinct texts above which ranks are not computed.
const MAX_RANKED: usize = 1 << 16;

fn keys<'a>(table: &'a ArrowTable, rows: &[(u32, u32)], column: usize) -> Keys<'a> {
    let reader = |b: u32| &table.batches[b as usize].columns[column];
    if table.classes[column] == ColumnClass::Numeric {
        return Keys::Num(
            rows.iter()
                .map(|&(b, r)| reader(b).num(r as usize))
                .collect(),
        );
    }
    let texts: Vec<Option<&[u8]>> = rows
        .iter()
        .map(|&(b, r)| reader(b).text(r as usize))
        .collect();
    let mut distinct: HashMap<&[u8], u32, BuildHasherDefault<FxHasher>> = HashMap::default();
    for t in texts.iter().flatten() {
        if distinct.len() > MAX_RANKED {
            return Keys::Bytes(texts);
        }
        distinct.entry(t).or_insert(0);
    }
    let mut values: Vec<&[u8]> = distinct.keys().copied().collect();
    values.sort_unstable();
    for (i, v) in values.iter().enumerate() {
        distinct.insert(v, i as u32 + 1);
    }
    Keys::Rank(texts.iter().map(|t| t.map_or(0, |t| distinct[t])).collect())
}

impl Keys<'_> {
    #[inline]
    fn cmp(&self, a: usize, b: usize) -> Ordering {
        match self {
            Keys::Num(k) => match (k[a], k[b]) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => cmp_num(x, y),
            },
            Keys::Rank(k) => k[a].cmp(&k[b]),
            Keys::Bytes(k) => k[a].cmp(&k[b]),
        }
    }
}

/// `rows` (batch, row) reordered by `terms`; ties keep their rowid order.
///
/// With `first`, only the first `first` rows of that order are returned (a partial sort:
/// `ORDER BY ... LIMIT`).
pub fn sort_rows(
    table: &ArrowTable,
    rows: Vec<(u32, u32)>,
    terms: &[OrderTerm],
    first: Option<usize>,
) -> Vec<(u32, u32)> {
    let first = first.unwrap_or(usize::MAX).min(rows.len());
    let keys: Vec<(Keys<'_>, bool)> = terms
        .iter()
        .map(|t| (keys(table, &rows, t.column), t.desc))
        .collect();
    if let [(Keys::Rank(ranks), desc)] = keys.as_slice() {
        let mut sorted = counting_sort(rows, ranks, *desc);
        sorted.truncate(first);
        return sorted;
    }
    // Ties broken by position: a total order, so a partial sort gives exactly the first
    // rows of the full sort.
    let compare = |&a: &u32, &b: &u32| {
        for (k, desc) in &keys {
            let o = k.cmp(a as usize, b as usize);
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.cmp(&b)
    };
    if first == 0 {
        return Vec::new();
    }
    let mut positions = if first < rows.len() {
        smallest(rows.len(), first, compare)
    } else {
        (0..rows.len() as u32).collect()
    };
    positions.sort_unstable_by(compare);
    positions.into_iter().map(|p| rows[p as usize]).collect()
}

/// The `first` (>= 1) smallest of the positions 0..n under `compare` (a total order), in
/// no particular order. Candidates gather in a buffer of up to 2 * first and are cut back
/// to the best `first` when it fills; after a cut, a position not below the worst one
/// kept cannot be among the result and costs a single comparison.
fn smallest(n: usize, first: usize, compare: impl Fn(&u32, &u32) -> Ordering) -> Vec<u32> {
    let capacity = first.saturating_mul(2).min(n);
    let mut kept: Vec<u32> = Vec::with_capacity(capacity);
    let mut worst: Option<u32> = None;
    for p in 0..n as u32 {
        if worst.is_some_and(|w| compare(&p, &w) != Ordering::Less) {
            continue;
        }
        kept.push(p);
        if kept.len() == capacity && kept.len() > first {
            kept.select_nth_unstable_by(first - 1, &compare);
            kept.truncate(first);
            worst = Some(kept[first - 1]);
        }
    }
    if kept.len() > first {
        kept.select_nth_unstable_by(first - 1, &compare);
        kept.truncate(first);
    }
    kept
}

/// The selected rows of a sorted scan, in ORDER BY order.
pub enum Ordered {
    /// Every row, sorted.
    Sorted(Vec<(u32, u32)>),
    /// One numeric key, sorted on demand: the scan pays for the rows SQLite reads (a
    /// LIMIT that SQLite keeps to itself stops it early), not for sorting them all.
    Lazy(LazyOrder),
}

/// Rows ordered by one numeric key, sorted a growing block at a time.
pub struct LazyOrder {
    rows: Vec<(u32, u32)>,
    /// (order-preserving key, position in `rows`) of the non-NULL rows: `keys[..ready]`
    /// is sorted and final, the rest (all larger) is not sorted yet.
    keys: Vec<(u64, u32)>,
    ready: usize,
    /// Positions of the NULL rows (first ascending, last descending, as SQLite).
    nulls: Vec<u32>,
    desc: bool,
}

impl Ordered {
    /// The rows of `rows` in the order of `terms` (see `sort_rows`); `first` as there.
    pub fn new(
        table: &ArrowTable,
        rows: Vec<(u32, u32)>,
        terms: &[OrderTerm],
        first: Option<usize>,
    ) -> Ordered {
        if let [term] = terms {
            if table.classes[term.column] == ColumnClass::Numeric {
                let column = term.column;
                let num = |&(b, r): &(u32, u32)| {
                    table.batches[b as usize].columns[column].num(r as usize)
                };
                match LazyOrder::new(rows, num, term.desc) {
                    Ok(lazy) => {
                        return match first {
                            Some(first) => Ordered::Sorted(lazy.take_first(first)),
                            None => Ordered::Lazy(lazy),
                        }
                    }
                    Err(rows) => return Ordered::Sorted(sort_rows(table, rows, terms, first)),
                }
            }
        }
        Ordered::Sorted(sort_rows(table, rows, terms, first))
    }

    pub fn len(&self) -> usize {
        match self {
            Ordered::Sorted(rows) => rows.len(),
            Ordered::Lazy(lazy) => lazy.rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes the `i`-th row final (a no-op when it already is or is past the end).
    pub fn prepare(&mut self, i: usize) {
        if let Ordered::Lazy(lazy) = self {
            lazy.prepare(i);
        }
    }

    /// The `i`-th row; `prepare(i)` must have been called.
    pub fn get(&self, i: usize) -> Option<(u32, u32)> {
        match self {
            Ordered::Sorted(rows) => rows.get(i).copied(),
            Ordered::Lazy(lazy) => lazy.get(i),
        }
    }
}

impl LazyOrder {
    /// `rows` back when no exact order-preserving key exists: NaN, or integers beyond
    /// 2^53 among reals (those take the comparison sort).
    fn new(
        rows: Vec<(u32, u32)>,
        num: impl Fn(&(u32, u32)) -> Option<Num>,
        desc: bool,
    ) -> Result<LazyOrder, Vec<(u32, u32)>> {
        let all_int = rows.iter().all(|r| !matches!(num(r), Some(Num::Real(_))));
        let key = |n: Num| -> Option<u64> {
            match n {
                Num::Int(i) if all_int => Some((i as u64) ^ (1 << 63)),
                Num::Int(i) if i.unsigned_abs() <= 1 << 53 => Some(real_key(i as f64)),
                Num::Real(r) if !r.is_nan() => Some(real_key(r)),
                _ => None,
            }
        };
        let mut nulls = Vec::new();
        let mut keys = Vec::with_capacity(rows.len());
        for (p, row) in rows.iter().enumerate() {
            match num(row) {
                None => nulls.push(p as u32),
                Some(n) => {
                    let Some(k) = key(n) else {
                        return Err(rows);
                    };
                    keys.push((if desc { !k } else { k }, p as u32));
                }
            }
        }
        Ok(LazyOrder {
            rows,
            keys,
            ready: 0,
            nulls,
            desc,
        })
    }

    /// The first `first` rows of the order (a LIMIT known in advance).
    fn take_first(mut self, first: usize) -> Vec<(u32, u32)> {
        (0..first.min(self.rows.len()))
            .filter_map(|i| {
                self.prepare(i);
                self.get(i)
            })
            .collect()
    }

    fn prepare(&mut self, i: usize) {
        let nulls_before = if self.desc { 0 } else { self.nulls.len() };
        if i >= nulls_before {
            self.prepare_keys(i - nulls_before + 1);
        }
    }

    /// Sorts until at least `n` keys are final: the next block (twice the last, at
    /// least 1,024) is selected from the rest, then sorted.
    fn prepare_keys(&mut self, n: usize) {
        let n = n.min(self.keys.len());
        while self.ready < n {
            let rest = &mut self.keys[self.ready..];
            let block = self.ready.max(1_024).min(rest.len());
            if block < rest.len() {
                rest.select_nth_unstable(block - 1);
            }
            rest[..block].sort_unstable();
            self.ready += block;
        }
    }

    fn get(&self, i: usize) -> Option<(u32, u32)> {
        let nulls_before = if self.desc { 0 } else { self.nulls.len() };
        let position = if i < nulls_before {
            self.nulls[i]
        } else if i - nulls_before < self.keys.len() {
            let j = i - nulls_before;
            debug_assert!(j < self.ready, "row {i} read before prepare");
            self.keys.get(j)?.1
        } else {
            *self.nulls.get(i - nulls_before - self.keys.len())?
        };
        self.rows.get(position as usize).copied()
    }
}

/// A u64 whose unsigned order is the numeric order of `r` (not NaN); -0.0 maps as 0.0,
/// since SQLite compares them equal.
fn real_key(r: f64) -> u64 {
    let bits = if r == 0.0 { 0 } else { r.to_bits() };
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Stable bucket sort by rank (ties keep their order), O(n).
fn counting_sort(rows: Vec<(u32, u32)>, ranks: &[u32], desc: bool) -> Vec<(u32, u32)> {
    let buckets = ranks.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut starts = vec![0usize; buckets + 1];
    for &r in ranks {
        let b = if desc {
            buckets - 1 - r as usize
        } else {
            r as usize
        };
        starts[b + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut out = vec![(0u32, 0u32); rows.len()];
    for (row, &r) in rows.iter().zip(ranks) {
        let b = if desc {
            buckets - 1 - r as usize
        } else {
            r as usize
        };
        out[starts[b]] = *row;
        starts[b] += 1;
    }
    out
}

/// A small fast hasher for the distinct-text map (keys are not attacker-chosen across
/// processes; a bad distribution only costs time).
#[derive(Default)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sort_is_the_start_of_the_full_sort() {
        use arrow_array::{Float64Array, RecordBatch};
        use arrow_schema::{DataType, Field, Schema};
        use std::sync::Arc;
        // Many ties (values 0..9) and NULLs, so the rowid tie-break matters.
        let values: Vec<Option<f64>> = (0..500u32)
            .map(|i| (i % 13 != 0).then_some(f64::from(i * 7919 % 10)))
            .collect();
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, true)]));
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Float64Array::from(values))])
                .unwrap();
        let table = ArrowTable::new(schema, &[batch]).unwrap();
        let rows: Vec<(u32, u32)> = (0..500).map(|i| (0, i)).collect();
        for desc in [false, true] {
            let terms = [OrderTerm { column: 0, desc }];
            let full = sort_rows(&table, rows.clone(), &terms, None);
            assert_eq!(full.len(), 500);
            for first in [0, 1, 7, 38, 39, 250, 499, 500, 10_000] {
                let part = sort_rows(&table, rows.clone(), &terms, Some(first));
                assert_eq!(part, full[..first.min(500)], "first {first} desc {desc}");
            }
        }
    }

    /// Every row of a lazy order, read the way a cursor does.
    fn read_all(order: &mut Ordered) -> Vec<(u32, u32)> {
        (0..order.len())
            .map(|i| {
                order.prepare(i);
                order.get(i).unwrap()
            })
            .collect()
    }

    #[test]
    fn lazy_numeric_order_is_the_comparison_order() {
        let cases: Vec<Vec<Option<Num>>> = vec![
            (0..3000i64)
                .map(|i| (i % 7 != 0).then_some(Num::Int((i * 7919 % 601) - 300)))
                .collect(),
            (0..3000i64)
                .map(|i| {
                    (i % 5 != 0).then_some(match i % 4 {
                        0 => Num::Int(i % 50 - 25),
                        1 => Num::Real((i % 97) as f64 / 4.0 - 12.0),
                        2 => Num::Real(if i % 8 == 2 { -0.0 } else { f64::INFINITY }),
                        _ => Num::Real(f64::NEG_INFINITY),
                    })
                })
                .collect(),
            vec![
                Some(Num::Int(i64::MIN)),
                Some(Num::Int(i64::MAX)),
                None,
                Some(Num::Int(0)),
            ],
        ];
        for nums in cases {
            let rows: Vec<(u32, u32)> = (0..nums.len() as u32).map(|i| (7, i)).collect();
            for desc in [false, true] {
                let mut expected: Vec<u32> = (0..nums.len() as u32).collect();
                let keys = Keys::Num(nums.clone());
                expected.sort_by(|&a, &b| {
                    let o = keys.cmp(a as usize, b as usize);
                    (if desc { o.reverse() } else { o }).then(a.cmp(&b))
                });
                let expected: Vec<(u32, u32)> = expected.iter().map(|&p| (7, p)).collect();
                let num = |r: &(u32, u32)| nums[r.1 as usize];
                let lazy = LazyOrder::new(rows.clone(), num, desc).ok().unwrap();
                assert_eq!(read_all(&mut Ordered::Lazy(lazy)), expected, "desc {desc}");
                for first in [0, 1, 5, 400, 2999, 3000, 5000] {
                    let lazy = LazyOrder::new(rows.clone(), num, desc).ok().unwrap();
                    let got = lazy.take_first(first);
                    assert_eq!(got, expected[..first.min(expected.len())], "first {first}");
                }
            }
        }
        // No exact key: NaN, or a huge integer among reals.
        let nan = |_: &(u32, u32)| Some(Num::Real(f64::NAN));
        assert!(LazyOrder::new(vec![(0, 0)], nan, false).is_err());
        let mixed = |r: &(u32, u32)| Some([Num::Int(1 << 60), Num::Real(0.5)][r.1 as usize]);
        assert!(LazyOrder::new(vec![(0, 0), (0, 1)], mixed, false).is_err());
    }

    #[test]
    fn counting_sort_is_stable_both_ways() {
        let rows: Vec<(u32, u32)> = (0..6).map(|i| (0, i)).collect();
        let ranks = [2, 0, 1, 2, 0, 1];
        let asc: Vec<u32> = counting_sort(rows.clone(), &ranks, false)
            .iter()
            .map(|r| r.1)
            .collect();
        assert_eq!(asc, vec![1, 4, 2, 5, 0, 3]);
        let desc: Vec<u32> = counting_sort(rows, &ranks, true)
            .iter()
            .map(|r| r.1)
            .collect();
        assert_eq!(desc, vec![0, 3, 2, 5, 1, 4]);
    }
}
