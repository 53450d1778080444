//! xBestIndex for Arrow tables: which WHERE terms the table evaluates (and whether
//! exactly, so SQLite may skip its re-check), whether it produces the ORDER BY, whether
//! it takes LIMIT / OFFSET, and the idxStr that carries the plan to xFilter.
//!
//! idxStr is three `|`-separated sections: filters `column:op;` in argv order (`op` is
//! SQLite's constraint code, column -1 the rowid; `column:op*;` an IN list handed over
//! whole, SQLite 3.38+), order terms `column:d;` (d = 1
//! descending), then one letter per LIMIT (`l`) / OFFSET (`o`) argument after the
//! filters' arguments.

use rusqlite::types::ValueRef;

use crate::arrow::sort::{sortable, OrderTerm};
use crate::arrow::table::ArrowTable;
use crate::arrow::types::ColumnClass;
use crate::sqlite::constraint::{Op, LIMIT, OFFSET};

/// One WHERE term as xBestIndex sees it.
#[derive(Debug, Clone, Copy)]
pub struct Constraint {
    pub column: i32,
    pub op: u8,
    pub usable: bool,
    /// Whether the term compares with BINARY collation.
    pub binary: bool,
    /// Whether the term is `column IN (...)` that SQLite can hand over whole.
    pub is_in: bool,
}

/// One ORDER BY term as xBestIndex sees it.
#[derive(Debug, Clone, Copy)]
pub struct OrderBy {
    pub column: i32,
    pub desc: bool,
}

/// What xBestIndex answers.
#[derive(Debug, Default)]
pub struct Choice {
    /// Per constraint: (argvIndex, omit); argvIndex 0 leaves the term to SQLite.
    pub usage: Vec<(i32, bool)>,
    pub order_consumed: bool,
    pub rows: i64,
    pub cost: f64,
    /// The encoded plan, when there is anything for xFilter to do.
    pub idx_str: Option<String>,
    /// Constraints (by index) whose IN list xFilter takes whole (sqlite3_vtab_in).
    pub whole_in: Vec<usize>,
}

/// A LIMIT or OFFSET handed to xBestIndex (SQLite 3.38+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Limit,
    Offset,
}

impl Limit {
    fn from_sqlite(op: u8) -> Option<Limit> {
        match op {
            LIMIT => Some(Limit::Limit),
            OFFSET => Some(Limit::Offset),
            _ => None,
        }
    }

    fn code(self) -> char {
        match self {
            Limit::Limit => 'l',
            Limit::Offset => 'o',
        }
    }

    fn from_code(c: char) -> Option<Limit> {
        match c {
            'l' => Some(Limit::Limit),
            'o' => Some(Limit::Offset),
            _ => None,
        }
    }
}

/// One filter of a plan: `column op ?`, or `column IN (list)` when `whole_in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanFilter {
    pub column: i32,
    pub op: Op,
    pub whole_in: bool,
}

/// The plan xFilter runs: filters (one argv value each, in order), the order to produce,
/// and the LIMIT / OFFSET arguments that follow the filters' values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub filters: Vec<PlanFilter>,
    pub order: Vec<OrderTerm>,
    pub limits: Vec<Limit>,
}

impl Plan {
    pub fn encode(&self) -> String {
        let mut s = String::new();
        for f in &self.filters {
            let star = if f.whole_in { "*" } else { "" };
            s.push_str(&format!("{}:{}{star};", f.column, f.op.code()));
        }
        s.push('|');
        for t in &self.order {
            s.push_str(&format!("{}:{};", t.column, u8::from(t.desc)));
        }
        s.push('|');
        s.extend(self.limits.iter().map(|l| l.code()));
        s
    }

    /// The plan in `s` (an empty string is the plain scan); None when malformed.
    pub fn decode(s: &str) -> Option<Plan> {
        let mut sections = s.splitn(3, '|');
        let pairs = |section: &str| -> Option<Vec<(i32, u8, bool)>> {
            section
                .split(';')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (a, b) = p.split_once(':')?;
                    let (b, star) = b.strip_suffix('*').map_or((b, false), |b| (b, true));
                    Some((a.parse().ok()?, b.parse().ok()?, star))
                })
                .collect()
        };
        let filters = pairs(sections.next().unwrap_or(""))?
            .into_iter()
            .map(|(column, o, whole_in)| {
                Some(PlanFilter {
                    column,
                    op: Op::from_sqlite(o)?,
                    whole_in,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let order = pairs(sections.next().unwrap_or(""))?
            .into_iter()
            .map(|(c, d, _)| {
                Some(OrderTerm {
                    column: usize::try_from(c).ok()?,
                    desc: d == 1,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let limits = sections
            .next()
            .unwrap_or("")
            .chars()
            .map(Limit::from_code)
            .collect::<Option<Vec<_>>>()?;
        Some(Plan {
            filters,
            order,
            limits,
        })
    }
}

/// Chooses the plan for `table`. `limits_reliable`: whether this SQLite hands over
/// LIMIT / OFFSET only when the table may apply them (see `limits_are_reliable`).
pub fn choose(
    table: &ArrowTable,
    constraints: &[Constraint],
    order_by: &[OrderBy],
    limits_reliable: bool,
) -> Choice {
    let n = table.num_rows.max(1) as f64;
    let mut rows = n;
    let mut plan = Plan::default();
    let mut usage = vec![(0, false); constraints.len()];
    let mut argv = 0;
    let mut rowid_eq = false;
    // Whether every WHERE term is evaluated here exactly (SQLite re-checks nothing):
    // only then may LIMIT / OFFSET be applied by the table.
    let mut exact = true;
    let mut limits = Vec::new();
    let mut whole_in = Vec::new();
    for (i, c) in constraints.iter().enumerate() {
        if let Some(limit) = Limit::from_sqlite(c.op) {
            if c.usable {
                limits.push((i, limit));
            }
            continue;
        }
        // IS / IS NOT with a constant are left to SQLite (they match NULL).
        let op = Op::from_sqlite(c.op).filter(|o| !matches!(o, Op::Is | Op::IsNot));
        let (true, Some(op)) = (c.usable, op) else {
            exact = false;
            continue;
        };
        let column = c.column;
        if column < 0 && op != Op::Eq {
            exact = false;
            continue;
        }
        // SQLite passes a row-value comparison `(a, b) < (x, y)` as `a <= x` and
        // re-checks the whole term itself whatever omit says: a <= / >= term may be
        // weaker than the query's, so it rules LIMIT / OFFSET out.
        if matches!(op, Op::Le | Op::Ge) {
            exact = false;
        }
        let (class, nulls) = if column < 0 {
            (ColumnClass::Numeric, 0)
        } else {
            let col = column as usize;
            (table.classes[col], table.null_counts[col])
        };
        let (push, omit) = match op {
            Op::IsNull | Op::IsNotNull => (column >= 0, true),
            _ if column < 0 => (true, false),
            _ => match class {
                ColumnClass::Numeric => (true, true),
                ColumnClass::Text => (c.binary, false),
                ColumnClass::Other => (false, false),
            },
        };
        if !push {
            exact = false;
            continue;
        }
        exact &= omit;
        argv += 1;
        usage[i] = (argv, omit);
        // An IN list on a column is evaluated here in one pass (a hash set), instead of
        // one xFilter scan per value. Rowid IN lists stay per value (each a lookup).
        let take_in = c.is_in && op == Op::Eq && column >= 0;
        if take_in {
            whole_in.push(i);
        }
        plan.filters.push(PlanFilter {
            column,
            op,
            whole_in: take_in,
        });
        rows *= match op {
            Op::Eq if column < 0 => {
                rowid_eq = true;
                1.0 / n
            }
            Op::Eq => 0.05,
            Op::Ne => 0.9,
            Op::IsNull => (nulls as f64 / n).max(1.0 / n),
            Op::IsNotNull => ((n - nulls as f64) / n).max(1.0 / n),
            _ => 0.3,
        };
    }
    let rows = rows.max(1.0);
    // Rows come in rowid order; other orders (ORDER BY / GROUP BY on numeric or text
    // columns) are produced by sorting the selected rows.
    let mut order_consumed = false;
    let mut sort_cost = 0.0;
    let mut ordered_here = true;
    if !order_by.is_empty() {
        ordered_here = false;
        if order_by.len() == 1 && order_by[0].column < 0 && !order_by[0].desc {
            order_consumed = true;
            ordered_here = true;
        } else if order_by
            .iter()
            .all(|t| t.column >= 0 && sortable(table.classes[t.column as usize]))
        {
            plan.order = order_by
                .iter()
                .map(|t| OrderTerm {
                    column: t.column as usize,
                    desc: t.desc,
                })
                .collect();
            order_consumed = true;
            ordered_here = true;
            sort_cost = rows * rows.log2().max(1.0) * 0.05;
        }
    }
    // LIMIT / OFFSET (SQLite 3.38+ hands them over when the table is the only one in
    // the query and every WHERE term reaches it): taken when the rows come out filtered
    // and ordered here, so skipping OFFSET rows and sorting only the first
    // LIMIT + OFFSET is exactly what SQLite would do. SQLite still applies the LIMIT
    // itself; the OFFSET it leaves to the table (omit).
    if exact && ordered_here && limits_reliable {
        for (i, limit) in limits {
            argv += 1;
            usage[i] = (argv, limit == Limit::Offset);
            plan.limits.push(limit);
        }
    }
    // A scan costs about a tenth of a native-table row visit per row; rows handed to
    // SQLite cost one each. A rowid lookup is direct.
    let cost = if rowid_eq { 1.0 + rows } else { n * 0.1 + rows } + sort_cost;
    let idx_str = (plan != Plan::default()).then(|| plan.encode());
    Choice {
        usage,
        order_consumed,
        rows: rows as i64,
        cost,
        idx_str,
        whole_in,
    }
}

/// The integer value of a LIMIT / OFFSET argument (SQLite has made it an integer).
pub fn limit_value(value: ValueRef<'_>) -> Option<i64> {
    match value {
        ValueRef::Integer(n) => Some(n),
        ValueRef::Real(r) if r.fract() == 0.0 && r.abs() < 9.0e18 => Some(r as i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_round_trip() {
        let f = |column, op, whole_in| PlanFilter {
            column,
            op,
            whole_in,
        };
        let plan = Plan {
            filters: vec![
                f(0, Op::Eq, false),
                f(-1, Op::Eq, false),
                f(3, Op::IsNotNull, false),
                f(2, Op::Eq, true),
            ],
            order: vec![
                OrderTerm {
                    column: 2,
                    desc: false,
                },
                OrderTerm {
                    column: 0,
                    desc: true,
                },
            ],
            limits: vec![Limit::Limit, Limit::Offset],
        };
        assert_eq!(Plan::decode(&plan.encode()), Some(plan));
        assert_eq!(Plan::decode(""), Some(Plan::default()));
        assert_eq!(Plan::decode("||"), Some(Plan::default()));
        assert_eq!(Plan::decode("x:1;||"), None);
        assert_eq!(Plan::decode("0:3;||"), None, "3 is no comparison code");
        assert_eq!(Plan::decode("||lq"), None);
    }
}
