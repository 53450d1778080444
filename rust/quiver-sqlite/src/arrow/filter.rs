//! Constraints pushed into Arrow tables, evaluated over Arrow memory.
//!
//! Numeric columns (declared INTEGER / REAL) compare exactly as SQLite does, including
//! numeric affinity applied to TEXT constants and int/real mixing, so those constraints
//! are omitted from SQLite's re-check. Text columns are filtered on TEXT constants with
//! BINARY collation only, and SQLite re-checks them.

use std::cmp::Ordering;

use arrow_array::Array;
use rusqlite::types::ValueRef;

use crate::arrow::types::{ColumnClass, Num, Reader};
use crate::sqlite::constraint::Op;

#[derive(Debug, Clone)]
enum Target {
    Num(Num),
    /// A TEXT or BLOB constant against a numeric column: every number sorts before it.
    AboveNumbers,
    Text(Vec<u8>),
    Null,
    NotNull,
}

/// One pushed constraint with its constant.
#[derive(Debug, Clone)]
pub struct Filter {
    pub column: usize,
    op: Op,
    target: Target,
}

/// The outcome of preparing a constraint.
pub enum Prepared {
    Filter(Filter),
    /// No row can match (e.g. a comparison with NULL).
    Nothing,
    /// Not evaluated here; SQLite checks it.
    Everything,
}

/// SQLite's comparison of an INTEGER with a REAL (exact, like sqlite3IntFloatCompare).
pub fn cmp_int_real(i: i64, r: f64) -> Ordering {
    if r >= 9_223_372_036_854_775_808.0 {
        return Ordering::Less;
    }
    if r < -9_223_372_036_854_775_808.0 {
        return Ordering::Greater;
    }
    let t = r as i64; // truncation toward zero, exact here
    match i.cmp(&t) {
        Ordering::Equal => {
            // t as f64 is exact: either |t| < 2^53 or r has no fractional part.
            let frac = r - t as f64;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    }
}

#[inline]
pub fn cmp_num(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Real(x), Num::Real(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Num::Int(x), Num::Real(y)) => cmp_int_real(x, y),
        (Num::Real(x), Num::Int(y)) => cmp_int_real(y, x).reverse(),
    }
}

/// SQLite's numeric affinity applied to a TEXT value: a number when the text is a
/// well-formed integer or real literal (surrounding spaces allowed), else None.
pub fn text_to_num(text: &str) -> Option<Num> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body.is_empty() {
        return None;
    }
    if body.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = t.parse::<i64>() {
            return Some(Num::Int(i));
        }
        return t.parse::<f64>().ok().map(Num::Real);
    }
    // [digits][.digits][e[+-]digits] with at least one digit before the exponent.
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut digits = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    t.parse::<f64>().ok().map(Num::Real)
}

/// What a `rowid = value` constraint selects.
pub enum RowidTarget {
    Row(i64),
    Nothing,
    /// Left to SQLite.
    Unknown,
}

pub fn rowid_target(value: ValueRef<'_>) -> RowidTarget {
    match value {
        ValueRef::Null => RowidTarget::Nothing,
        ValueRef::Integer(i) => RowidTarget::Row(i),
        ValueRef::Real(r) if r.fract() == 0.0 && r.abs() < 9.0e15 => RowidTarget::Row(r as i64),
        ValueRef::Real(_) => RowidTarget::Nothing,
        _ => RowidTarget::Unknown,
    }
}

impl Filter {
    pub fn prepare(column: usize, op: Op, class: ColumnClass, value: ValueRef<'_>) -> Prepared {
        let target = match op {
            Op::IsNull => Target::Null,
            Op::IsNotNull => Target::NotNull,
            _ => match (class, value) {
                (_, ValueRef::Null) => return Prepared::Nothing,
                (ColumnClass::Numeric, ValueRef::Integer(i)) => Target::Num(Num::Int(i)),
                (ColumnClass::Numeric, ValueRef::Real(r)) => Target::Num(Num::Real(r)),
                (ColumnClass::Numeric, ValueRef::Text(t)) => {
                    match std::str::from_utf8(t).ok().and_then(text_to_num) {
                        Some(n) => Target::Num(n),
                        None => Target::AboveNumbers,
                    }
                }
                (ColumnClass::Numeric, ValueRef::Blob(_)) => Target::AboveNumbers,
                (ColumnClass::Text, ValueRef::Text(t)) => Target::Text(t.to_vec()),
                _ => return Prepared::Everything,
            },
        };
        Prepared::Filter(Filter { column, op, target })
    }

    /// Keeps the rows of `sel` (batch-local) that pass.
    pub fn retain(&self, reader: &Reader, sel: &mut Vec<u32>) {
        let op = self.op;
        match &self.target {
            Target::Null => sel.retain(|&r| reader.is_null(r as usize)),
            Target::NotNull => sel.retain(|&r| !reader.is_null(r as usize)),
            Target::AboveNumbers => {
                let pass = op.holds(Ordering::Less);
                sel.retain(|&r| pass && !reader.is_null(r as usize));
            }
            Target::Num(k) => match (reader, *k) {
                (Reader::I64(a), Num::Int(k)) if a.null_count() == 0 => {
                    let v = a.values();
                    sel.retain(|&r| op.holds(v[r as usize].cmp(&k)));
                }
                (Reader::F64(a), Num::Real(k)) if a.null_count() == 0 => {
                    let v = a.values();
                    sel.retain(|&r| {
                        let x = v[r as usize];
                        !x.is_nan() && op.holds(x.partial_cmp(&k).unwrap_or(Ordering::Equal))
                    });
                }
                (Reader::F64(a), Num::Int(k)) if a.null_count() == 0 => {
                    let v = a.values();
                    sel.retain(|&r| {
                        let x = v[r as usize];
                        !x.is_nan() && op.holds(cmp_int_real(k, x).reverse())
                    });
                }
                _ => sel.retain(|&r| match reader.num(r as usize) {
                    Some(x) => op.holds(cmp_num(x, *k)),
                    None => false,
                }),
            },
            Target::Text(k) => match reader {
                Reader::Dictionary {
                    keys,
                    nulls,
                    values,
                } => {
                    // Decide once per dictionary value.
                    let n = values_len(values);
                    let pass: Vec<bool> = (0..n)
                        .map(|i| {
                            values
                                .text(i)
                                .is_some_and(|t| op.holds(t.cmp(k.as_slice())))
                        })
                        .collect();
                    sel.retain(|&r| {
                        let r = r as usize;
                        !nulls.as_ref().is_some_and(|b| b.is_null(r))
                            && pass.get(keys.get(r)).copied().unwrap_or(false)
                    });
                }
                _ => sel.retain(|&r| {
                    reader
                        .text(r as usize)
                        .is_some_and(|t| op.holds(t.cmp(k.as_slice())))
                }),
            },
        }
    }
}

fn values_len(reader: &Reader) -> usize {
    match reader {
        Reader::Utf8(a) => a.len(),
        Reader::LargeUtf8(a) => a.len(),
        Reader::Utf8View(a) => a.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_real_compare_is_exact() {
        assert_eq!(cmp_int_real(1, 1.5), Ordering::Less);
        assert_eq!(cmp_int_real(2, 1.5), Ordering::Greater);
        assert_eq!(cmp_int_real(-1, -1.5), Ordering::Greater);
        assert_eq!(cmp_int_real(3, 3.0), Ordering::Equal);
        assert_eq!(
            cmp_int_real(i64::MAX, 9.223_372_036_854_776e18),
            Ordering::Less
        );
        assert_eq!(
            cmp_int_real(i64::MIN, -9.223_372_036_854_776e18),
            Ordering::Equal
        );
        assert_eq!(
            cmp_int_real(9007199254740993, 9007199254740992.0),
            Ordering::Greater
        );
    }

    #[test]
    fn numeric_affinity_on_text() {
        assert!(matches!(text_to_num(" 5 "), Some(Num::Int(5))));
        assert!(matches!(text_to_num("-2.5e1"), Some(Num::Real(r)) if r == -25.0));
        assert!(matches!(text_to_num(".5"), Some(Num::Real(r)) if r == 0.5));
        assert!(matches!(text_to_num("5."), Some(Num::Real(r)) if r == 5.0));
        assert!(text_to_num("abc").is_none());
        assert!(text_to_num("1e").is_none());
        assert!(text_to_num("0x10").is_none());
        assert!(text_to_num("inf").is_none());
        assert!(text_to_num("").is_none());
    }
}
