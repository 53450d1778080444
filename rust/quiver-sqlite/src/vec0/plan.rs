//! xBestIndex for vec0: which WHERE terms are applied inside the table, and the refusal
//! of KNN queries with terms that could only be applied after the top-k.
//!
//! A KNN plan travels to xFilter in idxStr as comma-separated tokens (`Token`), one per
//! argv value in order: `m{vector}` MATCH, `k`, `l` LIMIT, `o` OFFSET, `d{op}` distance
//! bound, `r{op}` rowid, `t{op}` text primary key, `s{i}:{op}` partition/metadata column
//! `i`, `x{column}:{op}` a refused term. A trailing `*` marks an IN list handed over whole
//! (sqlite3_vtab_in). `encode` and `decode` below are the only code that reads or writes
//! this text.

use super::config::{ColumnKind, TableConfig};
use crate::sqlite::constraint::{op_name, Op, LIMIT, MATCH, OFFSET};

pub const IDX_SCAN: i32 = 0;
pub const IDX_ROWID: i32 = 1;
pub const IDX_TEXT_ID: i32 = 2;
pub const IDX_KNN: i32 = 3;

#[derive(Clone, Copy, Debug)]
pub struct Constraint {
    pub column: i32,
    pub op: u8,
    pub usable: bool,
    /// Whether this EQ is really an IN whose list can be handed over whole.
    pub is_in: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct OrderTerm {
    pub column: i32,
    pub desc: bool,
}

#[derive(Debug, Default)]
pub struct PlanOut {
    pub idx_num: i32,
    pub idx_str: String,
    /// Per constraint: (argvIndex, omit, take the IN list whole).
    pub usage: Vec<(i32, bool, bool)>,
    pub cost: f64,
    pub rows: i64,
    pub order_consumed: bool,
    pub unique: bool,
}

fn column_name(config: &TableConfig, column: i32) -> String {
    if column < 0 {
        "rowid".to_string()
    } else if column as usize == config.distance_column() {
        "distance".to_string()
    } else if column as usize == config.k_column() {
        "k".to_string()
    } else {
        config
            .columns
            .get(column as usize)
            .map_or_else(|| format!("column {column}"), |c| c.name.clone())
    }
}

/// `Ok(None)`: this combination of usable terms cannot run (SQLITE_CONSTRAINT; SQLite
/// tries another). `Err`: the query can never run as written.
pub fn plan(
    config: &TableConfig,
    table: &str,
    constraints: &[Constraint],
    order_by: &[OrderTerm],
) -> Result<Option<PlanOut>, String> {
    let n = constraints.len();
    let mut out = PlanOut {
        usage: vec![(0, false, false); n],
        ..Default::default()
    };
    let is_vector = |c: i32| {
        c >= 0
            && matches!(
                config.columns.get(c as usize).map(|c| &c.kind),
                Some(ColumnKind::Vector(_))
            )
    };
    let matches: Vec<usize> = (0..n)
        .filter(|&i| constraints[i].op == MATCH && is_vector(constraints[i].column))
        .collect();
    if matches.len() > 1 {
        return Err(format!(
            "vec0: {table}: a KNN query can MATCH one vector column only"
        ));
    }
    let Some(&mi) = matches.first() else {
        return plain_plan(config, table, constraints, out).map(Some);
    };
    if !constraints[mi].usable {
        return Ok(None);
    }
    let vector_slot = config.columns[constraints[mi].column as usize].slot;
    let mut tokens = vec![PlanToken {
        token: Token::Match(vector_slot),
        whole_in: false,
    }];
    out.usage[mi] = (1, true, false);
    let (mut has_k, mut has_limit) = (false, false);
    let mut refused = false;
    for (i, c) in constraints.iter().enumerate() {
        if i == mi {
            continue;
        }
        let token = if c.op == LIMIT {
            has_limit = true;
            Some(Token::Limit)
        } else if c.op == OFFSET {
            Some(Token::Offset)
        } else if c.column >= 0 && c.column as usize == config.k_column() {
            if Op::from_sqlite(c.op) == Some(Op::Eq) {
                has_k = true;
                Some(Token::K)
            } else {
                None
            }
        } else if c.column >= 0 && c.column as usize == config.distance_column() {
            match Op::from_sqlite(c.op) {
                Some(op @ (Op::Lt | Op::Le | Op::Gt | Op::Ge)) => Some(Token::Distance(op)),
                _ => None,
            }
        } else {
            filter_token(config, c)
        };
        if !c.usable {
            // The value comes from another table of a join: SQLite applies the term to
            // the KNN results afterwards, as a join condition (sqlite-vec's join forms).
            if token == Some(Token::K) {
                return Ok(None);
            }
            continue;
        }
        let Some(token) = token else {
            // Refused when this plan runs (xFilter), so SQLite can still prefer a plan
            // where the term is a join condition; for a constant term this is the only
            // plan and the query fails with the message.
            tokens.push(PlanToken {
                token: Token::Refused(c.column, c.op),
                whole_in: false,
            });
            out.usage[i] = (tokens.len() as i32, true, false);
            refused = true;
            continue;
        };
        let take_in = c.is_in;
        let omit = c.op != LIMIT && c.op != OFFSET;
        tokens.push(PlanToken {
            token,
            whole_in: take_in,
        });
        out.usage[i] = (tokens.len() as i32, omit, take_in);
    }
    let order_ok = match order_by {
        [] => true,
        [t] => t.column as usize == config.distance_column() && t.column >= 0 && !t.desc,
        _ => false,
    };
    if !(has_k || (has_limit && order_ok)) {
        return Err(format!(
            "A LIMIT or 'k = ?' constraint is required on vec0 knn queries. vec0: {table}: \
             a KNN query (MATCH on '{}') needs 'AND k = ?' or \
             'ORDER BY distance LIMIT ?' (SQLite hands a LIMIT to virtual tables only \
             from version 3.41, and only when every WHERE term is on this table)",
            column_name(config, constraints[mi].column)
        ));
    }
    out.idx_num = IDX_KNN;
    out.idx_str = encode(&tokens);
    out.order_consumed = order_ok && !order_by.is_empty();
    // A KNN query scans the table: a flat, high cost keeps it the outer loop of a join
    // (so join terms are join conditions, not per-row filters).
    out.cost = if refused { 1e15 } else { 1e6 };
    out.rows = 10;
    Ok(Some(out))
}

/// The message for a term that cannot be applied before the top-k.
pub fn refusal(config: &TableConfig, table: &str, column: i32, op: u8) -> String {
    format!(
        "vec0: {table}: the WHERE term on '{}' ({}) cannot be applied before the k \
         nearest neighbours are chosen, so the query could silently return fewer than k \
         rows; filter on partition key, metadata, rowid/primary key or distance columns, \
         or apply the term to the KNN results in an outer query over \
         'WITH knn AS MATERIALIZED (...)' (SQLite pushes outer terms into a plain CTE)",
        column_name(config, column),
        op_name(op)
    )
}

/// A filter token for a term on rowid / primary key / partition / metadata columns.
fn filter_token(config: &TableConfig, c: &Constraint) -> Option<Token> {
    let op = Op::from_sqlite(c.op)?;
    let range = matches!(
        op,
        Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Is | Op::IsNot
    );
    if c.column < 0 {
        return range.then_some(Token::Rowid(op));
    }
    match &config.columns.get(c.column as usize)?.kind {
        ColumnKind::IntegerKey => range.then_some(Token::Rowid(op)),
        ColumnKind::TextKey => range.then_some(Token::TextId(op)),
        ColumnKind::Partition(_) | ColumnKind::Metadata(_) => {
            let slot = config.columns[c.column as usize].slot;
            Some(Token::Scalar(slot, op))
        }
        _ => None,
    }
}

/// One argv value of a KNN plan: what it is and, for filters, the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// The MATCH query vector of vector column `slot` (its index among vector columns).
    Match(usize),
    K,
    Limit,
    Offset,
    /// A bound on the distance (`<`, `<=`, `>`, `>=`).
    Distance(Op),
    /// A term on the rowid or an integer primary key.
    Rowid(Op),
    /// A term on a text primary key.
    TextId(Op),
    /// A term on partition / metadata column `slot`.
    Scalar(usize, Op),
    /// A term on `column` that cannot be applied before the top-k: refused in xFilter
    /// (see `refusal`), so that SQLite may still prefer a plan where it is a join term.
    Refused(i32, u8),
}

/// A token and whether its IN list is handed over whole (sqlite3_vtab_in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanToken {
    pub token: Token,
    pub whole_in: bool,
}

impl Token {
    fn encode(self) -> String {
        match self {
            Token::Match(slot) => format!("m{slot}"),
            Token::K => "k".into(),
            Token::Limit => "l".into(),
            Token::Offset => "o".into(),
            Token::Distance(op) => format!("d{}", op.code()),
            Token::Rowid(op) => format!("r{}", op.code()),
            Token::TextId(op) => format!("t{}", op.code()),
            Token::Scalar(slot, op) => format!("s{slot}:{}", op.code()),
            Token::Refused(column, op) => format!("x{column}:{op}"),
        }
    }

    fn decode(s: &str) -> Option<Token> {
        let op = |code: &str| code.parse::<u8>().ok().and_then(Op::from_sqlite);
        let rest = s.get(1..)?;
        Some(match s.as_bytes().first()? {
            b'm' => Token::Match(rest.parse().ok()?),
            b'k' if rest.is_empty() => Token::K,
            b'l' if rest.is_empty() => Token::Limit,
            b'o' if rest.is_empty() => Token::Offset,
            b'd' => Token::Distance(op(rest)?),
            b'r' => Token::Rowid(op(rest)?),
            b't' => Token::TextId(op(rest)?),
            b's' => {
                let (slot, code) = rest.split_once(':')?;
                Token::Scalar(slot.parse().ok()?, op(code)?)
            }
            b'x' => {
                let (column, code) = rest.split_once(':')?;
                Token::Refused(column.parse().ok()?, code.parse().ok()?)
            }
            _ => return None,
        })
    }
}

/// The idxStr of a KNN plan.
pub fn encode(tokens: &[PlanToken]) -> String {
    tokens
        .iter()
        .map(|t| {
            let mut s = t.token.encode();
            if t.whole_in {
                s.push('*');
            }
            s
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The tokens of a KNN plan's idxStr, one per argv value.
pub fn decode(idx_str: &str) -> Result<Vec<PlanToken>, String> {
    idx_str
        .split(',')
        .map(|s| {
            let (s, whole_in) = match s.strip_suffix('*') {
                Some(s) => (s, true),
                None => (s, false),
            };
            Token::decode(s)
                .map(|token| PlanToken { token, whole_in })
                .ok_or_else(|| format!("vec0: bad plan token '{s}'"))
        })
        .collect()
}

/// Plans without MATCH: a rowid / text key lookup, or a full scan that SQLite filters.
fn plain_plan(
    config: &TableConfig,
    table: &str,
    constraints: &[Constraint],
    mut out: PlanOut,
) -> Result<PlanOut, String> {
    for c in constraints {
        if c.column >= 0 && c.column as usize == config.k_column() {
            return Err(format!(
                "vec0: {table}: 'k = ?' needs a KNN query: add '<vector column> MATCH ?'"
            ));
        }
    }
    for (i, c) in constraints.iter().enumerate() {
        if !c.usable || Op::from_sqlite(c.op) != Some(Op::Eq) {
            continue;
        }
        let kind = if c.column < 0 {
            Some(IDX_ROWID)
        } else {
            match config.columns.get(c.column as usize).map(|c| &c.kind) {
                Some(ColumnKind::IntegerKey) => Some(IDX_ROWID),
                Some(ColumnKind::TextKey) => Some(IDX_TEXT_ID),
                _ => None,
            }
        };
        if let Some(kind) = kind {
            out.idx_num = kind;
            out.usage[i] = (1, true, false);
            out.cost = 1.0;
            out.rows = 1;
            out.unique = true;
            return Ok(out);
        }
    }
    out.idx_num = IDX_SCAN;
    out.cost = 1e6;
    out.rows = 100_000;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let tokens: Vec<PlanToken> = [
            Token::Match(1),
            Token::K,
            Token::Limit,
            Token::Offset,
            Token::Distance(Op::Le),
            Token::Rowid(Op::Eq),
            Token::TextId(Op::Ne),
            Token::Scalar(3, Op::IsNull),
            Token::Refused(-1, 65),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, token)| PlanToken {
            token,
            whole_in: i % 2 == 0,
        })
        .collect();
        assert_eq!(decode(&encode(&tokens)), Ok(tokens));
        assert!(decode("m").is_err());
        assert!(decode("s1:99").is_err(), "99 is no comparison code");
        assert!(decode("kk").is_err());
        assert!(decode("q1").is_err());
    }
}
