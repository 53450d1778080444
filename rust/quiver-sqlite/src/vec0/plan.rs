//! xBestIndex for vec0: which WHERE terms are applied inside the table, and the refusal
//! of KNN queries with terms that could only be applied after the top-k.
//!
//! The plan travels to xFilter in idxStr as comma-separated tokens, one per argv value
//! in order: `m{vector}` MATCH, `k`, `l` LIMIT, `o` OFFSET, `d{op}` distance bound,
//! `r{op}` rowid, `t{op}` text primary key, `s{i}:{op}` partition/metadata column `i`.
//! A trailing `*` marks an IN list handed over whole (sqlite3_vtab_in).

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
    let mut tokens: Vec<String> = vec![format!("m{vector_slot}")];
    out.usage[mi] = (1, true, false);
    let (mut has_k, mut has_limit) = (false, false);
    let mut refused = false;
    for (i, c) in constraints.iter().enumerate() {
        if i == mi {
            continue;
        }
        let token = if c.op == LIMIT {
            has_limit = true;
            Some("l".to_string())
        } else if c.op == OFFSET {
            Some("o".to_string())
        } else if c.column >= 0 && c.column as usize == config.k_column() {
            if c.op as i32 == 2 {
                has_k = true;
                Some("k".to_string())
            } else {
                None
            }
        } else if c.column >= 0 && c.column as usize == config.distance_column() {
            match Op::from_sqlite(c.op) {
                Some(op @ (Op::Lt | Op::Le | Op::Gt | Op::Ge)) => Some(format!("d{}", op.code())),
                _ => None,
            }
        } else {
            filter_token(config, c)
        };
        if !c.usable {
            // The value comes from another table of a join: SQLite applies the term to
            // the KNN results afterwards, as a join condition (sqlite-vec's join forms).
            if token.as_deref() == Some("k") {
                return Ok(None);
            }
            continue;
        }
        let Some(token) = token else {
            // Refused when this plan runs (xFilter), so SQLite can still prefer a plan
            // where the term is a join condition; for a constant term this is the only
            // plan and the query fails with the message.
            tokens.push(format!("x{}:{}", c.column, c.op));
            out.usage[i] = (tokens.len() as i32, true, false);
            refused = true;
            continue;
        };
        let take_in = c.is_in;
        let omit = c.op != LIMIT && c.op != OFFSET;
        tokens.push(if take_in { format!("{token}*") } else { token });
        out.usage[i] = (tokens.len() as i32, omit, take_in);
    }
    let order_ok = match order_by {
        [] => true,
        [t] => t.column as usize == config.distance_column() && t.column >= 0 && !t.desc,
        _ => false,
    };
    if !(has_k || (has_limit && order_ok)) {
        return Err(format!(
            "vec0: {table}: a KNN query (MATCH on '{}') needs 'AND k = ?' or \
             'ORDER BY distance LIMIT ?' (SQLite hands a LIMIT to virtual tables only \
             from version 3.41, and only when every WHERE term is on this table)",
            column_name(config, constraints[mi].column)
        ));
    }
    out.idx_num = IDX_KNN;
    out.idx_str = tokens.join(",");
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
fn filter_token(config: &TableConfig, c: &Constraint) -> Option<String> {
    let op = Op::from_sqlite(c.op)?;
    let range = matches!(
        op,
        Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Is | Op::IsNot
    );
    if c.column < 0 {
        return range.then(|| format!("r{}", op.code()));
    }
    match &config.columns.get(c.column as usize)?.kind {
        ColumnKind::IntegerKey => range.then(|| format!("r{}", op.code())),
        ColumnKind::TextKey => range.then(|| format!("t{}", op.code())),
        ColumnKind::Partition(_) | ColumnKind::Metadata(_) => {
            let slot = config.columns[c.column as usize].slot;
            Some(format!("s{slot}:{}", op.code()))
        }
        _ => None,
    }
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
        if !c.usable || c.op as i32 != 2 {
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
