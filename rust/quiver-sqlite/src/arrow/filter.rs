//! Constraints pushed into Arrow tables, evaluated over Arrow memory.
//!
//! Numeric columns (declared INTEGER / REAL) compare exactly as SQLite does, including
//! numeric affinity applied to TEXT constants and int/real mixing, so those constraints
//! are omitted from SQLite's re-check. Text columns are filtered on TEXT constants with
//! BINARY collation only, and SQLite re-checks them.

use std::cmp::Ordering;
use std::collections::HashSet;

use arrow_array::Array;
use rusqlite::types::{Value, ValueRef};

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
    /// `IN (list)` on a numeric column: integral values (and reals equal to one) by
    /// integer, other reals by bit pattern.
    InNum {
        ints: HashSet<i64>,
        reals: HashSet<u64>,
    },
    /// `IN (list)` of TEXT values on a text column, BINARY collation.
    InText(HashSet<Vec<u8>>),
}

/// `r` as the integer it equals exactly, if any (SQLite's int/real equality).
fn exact_int(r: f64) -> Option<i64> {
    (r.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r))
        .then_some(r as i64)
}

/// Whether number `x` is in the set of an `InNum` target.
#[inline]
fn in_nums(ints: &HashSet<i64>, reals: &HashSet<u64>, x: Num) -> bool {
    match x {
        Num::Int(i) => ints.contains(&i),
        Num::Real(r) if r.is_nan() => false,
        Num::Real(r) => match exact_int(r) {
            Some(i) => ints.contains(&i),
            None => reals.contains(&r.to_bits()),
        },
    }
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

    /// `column IN (values)`, the list handed over whole: every value compared as `=`
    /// would compare it, in one pass over the rows.
    pub fn prepare_in(column: usize, class: ColumnClass, values: &[Value]) -> Prepared {
        let target = match class {
            ColumnClass::Numeric => {
                let (mut ints, mut reals) = (HashSet::new(), HashSet::new());
                for v in values {
                    let n = match v {
                        Value::Integer(i) => Num::Int(*i),
                        Value::Real(r) => Num::Real(*r),
                        Value::Text(t) => match text_to_num(t) {
                            Some(n) => n,
                            None => continue, // sorts above every number: never equal
                        },
                        Value::Null | Value::Blob(_) => continue,
                    };
                    match n {
                        Num::Int(i) => {
                            ints.insert(i);
                        }
                        Num::Real(r) if r.is_nan() => {}
                        Num::Real(r) => match exact_int(r) {
                            Some(i) => {
                                ints.insert(i);
                            }
                            None => {
                                reals.insert(r.to_bits());
                            }
                        },
                    }
                }
                if ints.is_empty() && reals.is_empty() {
                    return Prepared::Nothing;
                }
                Target::InNum { ints, reals }
            }
            ColumnClass::Text => {
                let mut set = HashSet::new();
                for v in values {
                    match v {
                        Value::Text(t) => {
                            set.insert(t.as_bytes().to_vec());
                        }
                        Value::Null => {}
                        // Other types compare under the column's affinity: SQLite
                        // decides (it re-checks text terms anyway).
                        _ => return Prepared::Everything,
                    }
                }
                if set.is_empty() {
                    return Prepared::Nothing;
                }
                Target::InText(set)
            }
            ColumnClass::Other => return Prepared::Everything,
        };
        Prepared::Filter(Filter {
            column,
            op: Op::Eq,
            target,
        })
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
            Target::InNum { ints, reals } => match reader {
                Reader::I64(a) if a.null_count() == 0 => {
                    let v = a.values();
                    sel.retain(|&r| ints.contains(&v[r as usize]));
                }
                _ => sel.retain(|&r| {
                    reader
                        .num(r as usize)
                        .is_some_and(|x| in_nums(ints, reals, x))
                }),
            },
            Target::InText(set) => {
                text_retain(reader, sel, |t| set.contains(t));
            }
            Target::Text(k) => text_retain(reader, sel, |t| op.holds(t.cmp(k.as_slice()))),
        }
    }
}

/// Keeps the rows of `sel` whose text passes `pass` (NULL never passes).
fn text_retain(reader: &Reader, sel: &mut Vec<u32>, pass: impl Fn(&[u8]) -> bool) {
    match reader {
        Reader::Dictionary {
            keys,
            nulls,
            values,
        } => {
            // Decide once per dictionary value.
            let decided: Vec<bool> = (0..values_len(values))
                .map(|i| values.text(i).is_some_and(&pass))
                .collect();
            sel.retain(|&r| {
                let r = r as usize;
                !nulls.as_ref().is_some_and(|b| b.is_null(r))
                    && decided.get(keys.get(r)).copied().unwrap_or(false)
            });
        }
        _ => sel.retain(|&r| reader.text(r as usize).is_some_and(&pass)),
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

    #[test]
    fn in_sets_compare_like_equals() {
        let values = [
            Value::Integer(3),
            Value::Real(2.0),
            Value::Real(2.5),
            Value::Text(" 7 ".to_string()),
            Value::Text("abc".to_string()),
            Value::Null,
            Value::Blob(vec![1]),
            Value::Real(1e19),
        ];
        let Prepared::Filter(Filter {
            target: Target::InNum { ints, reals },
            ..
        }) = Filter::prepare_in(0, ColumnClass::Numeric, &values)
        else {
            panic!("expected a numeric IN set");
        };
        let inside = |x| in_nums(&ints, &reals, x);
        assert!(inside(Num::Int(3)) && inside(Num::Real(3.0)));
        assert!(inside(Num::Int(2)) && inside(Num::Real(2.5)) && inside(Num::Int(7)));
        assert!(!inside(Num::Int(4)) && !inside(Num::Real(f64::NAN)));
        assert!(inside(Num::Real(1e19)) && !inside(Num::Int(i64::MAX)));
        assert!(matches!(
            Filter::prepare_in(0, ColumnClass::Numeric, &[Value::Null]),
            Prepared::Nothing
        ));
        assert!(matches!(
            Filter::prepare_in(
                0,
                ColumnClass::Text,
                &[Value::Text("a".into()), Value::Integer(1)]
            ),
            Prepared::Everything
        ));
    }
}
