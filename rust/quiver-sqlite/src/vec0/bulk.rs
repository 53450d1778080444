//! Whole-array paths for the Python API: insert many rows in one savepoint with one blob
//! write per chunk, and search many queries in one pass over the decoded table.

use std::cell::Cell;
use std::sync::Arc;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OptionalExtension};

use super::cache::{self, TableData};
use super::config::{module_args_from_sql, ColumnKind, TableConfig, VectorColumn};
use super::input;
use super::knn::{self, Filter, QueryVector, Target};
use super::rescore;
use super::shadow::Shadow;
use super::storage::{Contiguous, NewRow};
use crate::sqlite::constraint::Op;
use crate::sqlite::error::error_message;
use crate::sqlite::ident::quote_identifier;
use crate::vec::vector::ElementType;

/// Errors of the bulk paths: bad arguments (ValueError in Python) or SQL errors.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("{0}")]
    Argument(String),
    #[error("{0}")]
    Sql(String),
}

impl From<rusqlite::Error> for BulkError {
    fn from(e: rusqlite::Error) -> Self {
        BulkError::Sql(error_message(e))
    }
}

fn arg(msg: impl Into<String>) -> BulkError {
    BulkError::Argument(msg.into())
}

/// The vec0 table `table` (`name` or `schema.name`) of `conn`.
pub fn open(conn: &Connection, table: &str) -> Result<Shadow, BulkError> {
    let (schema, name) = match table.split_once('.') {
        Some((s, n)) => (s.to_string(), n.to_string()),
        None => ("main".to_string(), table.to_string()),
    };
    let sql: Option<(String, String)> = conn
        .query_row(
            &format!(
                "SELECT name, sql FROM {}.sqlite_schema WHERE type = 'table' AND name = ?1 \
                 COLLATE NOCASE",
                quote_identifier(&schema)
            ),
            [&name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((name, sql)) = sql else {
        return Err(arg(format!("no table named '{table}'")));
    };
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("using vec0") {
        return Err(arg(format!("'{table}' is not a vec0 table")));
    }
    let args = module_args_from_sql(&sql).ok_or_else(|| arg("cannot read the table definition"))?;
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let config = TableConfig::parse(&refs).map_err(BulkError::Sql)?;
    let mut shadow = Shadow {
        schema,
        name,
        config,
    };
    shadow.open_existing(conn)?;
    // Rows SQL INSERTs left in memory on this connection are written first.
    super::pending::settle(conn, &shadow)?;
    Ok(shadow)
}

/// The vector column `name` (or the first one): (its vector-slot index, definition).
pub fn vector_column(
    shadow: &Shadow,
    name: Option<&str>,
) -> Result<(usize, String, VectorColumn), BulkError> {
    let mut cols = shadow.config.vector_columns().enumerate();
    let found = match name {
        None => cols.next(),
        Some(n) => {
            cols.find(|(_, (ci, _))| shadow.config.columns[*ci].name.eq_ignore_ascii_case(n))
        }
    };
    found
        .map(|(slot, (ci, c))| (slot, shadow.config.columns[ci].name.clone(), c.clone()))
        .ok_or_else(|| {
            arg(match name {
                Some(n) => format!("no vector column '{n}' in '{}'", shadow.name),
                None => format!("'{}' has no vector column", shadow.name),
            })
        })
}

/// Identifiers for inserted rows.
pub enum Ids {
    None,
    Integer(Vec<i64>),
    Text(Vec<String>),
}

/// Inserts `n` rows whose first-vector-column values are `vectors` (`n * dims`
/// float32, row-major); `columns` gives other columns by name, one value per row.
/// All rows go in, or none (one savepoint).
#[allow(clippy::too_many_arguments)]
pub fn insert_f32(
    conn: &Connection,
    table: &str,
    vectors: &[f32],
    n: usize,
    dims: usize,
    ids: Ids,
    columns: Vec<(String, Vec<Value>)>,
    replace: bool,
) -> Result<Vec<i64>, BulkError> {
    let shadow = open(conn, table)?;
    let config = &shadow.config;
    let (_, vec_name, vcol) = vector_column(&shadow, None)?;
    if config.n_vectors() != 1 {
        return Err(arg(
            "insert_vectors supports tables with one vector column; use SQL for others",
        ));
    }
    if vcol.element != ElementType::Float32 {
        return Err(arg(format!(
            "column '{vec_name}' holds {} vectors; insert_vectors takes float32 arrays",
            vcol.element.name()
        )));
    }
    if dims != vcol.dims {
        return Err(arg(format!(
            "column '{vec_name}' holds {} dimensions, the array has {dims} columns",
            vcol.dims
        )));
    }
    let mut rows: Vec<NewRow> = (0..n).map(|_| NewRow::default()).collect();
    let text_key = config.text_key();
    match ids {
        Ids::None if text_key => {
            return Err(arg(
                "this table has a text primary key: pass ids=[...] as strings",
            ))
        }
        Ids::None => {}
        Ids::Integer(v) if !text_key => {
            if v.len() != n {
                return Err(arg(format!("{} ids for {n} vectors", v.len())));
            }
            for (r, id) in rows.iter_mut().zip(v) {
                r.rowid = Some(id);
            }
        }
        Ids::Text(v) if text_key => {
            if v.len() != n {
                return Err(arg(format!("{} ids for {n} vectors", v.len())));
            }
            for (r, id) in rows.iter_mut().zip(v) {
                r.text_id = Some(id);
            }
        }
        Ids::Integer(_) => {
            return Err(arg(
                "this table has a text primary key: ids must be strings",
            ))
        }
        Ids::Text(_) => return Err(arg("this table's ids are integers, got strings")),
    }
    // Scalar and auxiliary columns by name, in declaration order.
    let mut given: Vec<Option<Vec<Value>>> = vec![None; config.columns.len()];
    for (name, values) in columns {
        let ci = config
            .find(&name)
            .ok_or_else(|| arg(format!("no column '{name}' in '{}'", shadow.name)))?;
        if values.len() != n {
            return Err(arg(format!(
                "column '{name}' has {} values for {n} vectors",
                values.len()
            )));
        }
        given[ci] = Some(values);
    }
    for (ci, col) in config.columns.iter().enumerate() {
        let values = given[ci].take();
        match &col.kind {
            ColumnKind::Partition(ty) | ColumnKind::Metadata(ty) => {
                for (i, r) in rows.iter_mut().enumerate() {
                    let v = values.as_ref().map_or(Value::Null, |vs| vs[i].clone());
                    let checked = input::read_scalar(&col.name, *ty, value_ref(&v))
                        .map_err(|m| arg(format!("row {i}: {m}")))?;
                    r.scalars.push(checked);
                }
            }
            ColumnKind::Auxiliary(_) => {
                for (i, r) in rows.iter_mut().enumerate() {
                    r.aux
                        .push(values.as_ref().map_or(Value::Null, |vs| vs[i].clone()));
                }
            }
            _ => {
                if values.is_some() {
                    return Err(arg(format!(
                        "column '{}' cannot be given as a keyword (use ids= for keys)",
                        col.name
                    )));
                }
            }
        }
    }
    // Finiteness is checked run by run as the vectors are written (see `Contiguous`);
    // a failure rolls the savepoint back like any other error. Progress is reported
    // from there too (rows whose vectors are written).
    let not_finite: Cell<Option<String>> = Cell::new(None);
    let check = |r: std::ops::Range<usize>| -> rusqlite::Result<()> {
        let part = &vectors[r.start * dims..r.end * dims];
        match first_non_finite(part) {
            None => super::progress::report("insert", r.end, n),
            Some(i) => {
                let at = r.start * dims + i;
                let msg = format!(
                    "vectors must be finite: row {}, column {} is {}",
                    at / dims,
                    at % dims,
                    vectors[at]
                );
                not_finite.set(Some(msg.clone()));
                Err(crate::sqlite::error::sql_error(msg))
            }
        }
    };
    let bytes = f32_bytes(vectors);
    conn.execute_batch("SAVEPOINT quiver_bulk_insert")?;
    let result = shadow.check_keys(conn, &rows, replace).and_then(|_| {
        let contiguous = Contiguous {
            bytes: &bytes,
            check: &check,
        };
        shadow.insert_with(conn, &rows, Some(contiguous), replace)
    });
    match result {
        Ok(rowids) => {
            conn.execute_batch("RELEASE quiver_bulk_insert")?;
            Ok(rowids)
        }
        Err(e) => {
            let _ =
                conn.execute_batch("ROLLBACK TO quiver_bulk_insert; RELEASE quiver_bulk_insert");
            match not_finite.take() {
                Some(msg) => Err(arg(msg)),
                None => Err(e.into()),
            }
        }
    }
}

/// The index of the first NaN or infinity in `v`. Checks blocks with a branch-free
/// fold (vectorized), looking for the position only in a block that fails.
fn first_non_finite(v: &[f32]) -> Option<usize> {
    const BLOCK: usize = 4096;
    v.chunks(BLOCK).enumerate().find_map(|(b, block)| {
        let finite = block.iter().fold(true, |ok, x| ok & x.is_finite());
        if finite {
            None
        } else {
            block
                .iter()
                .position(|x| !x.is_finite())
                .map(|i| b * BLOCK + i)
        }
    })
}

/// The little-endian bytes of `v` (its memory as is, on little-endian targets).
fn f32_bytes(v: &[f32]) -> std::borrow::Cow<'_, [u8]> {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: f32 has no padding and u8 has alignment 1; the byte slice covers
        // exactly the memory of `v` and lives as long as it.
        std::borrow::Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v))
        })
    }
    #[cfg(not(target_endian = "little"))]
    {
        std::borrow::Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect())
    }
}

fn value_ref(v: &Value) -> ValueRef<'_> {
    match v {
        Value::Null => ValueRef::Null,
        Value::Integer(i) => ValueRef::Integer(*i),
        Value::Real(r) => ValueRef::Real(*r),
        Value::Text(s) => ValueRef::Text(s.as_bytes()),
        Value::Blob(b) => ValueRef::Blob(b),
    }
}

/// Results of a batched search: `n_queries * k` entries, row-major, padded with
/// rowid -1 / distance +inf where fewer than k rows match.
pub struct SearchResult {
    pub rowids: Vec<i64>,
    pub distances: Vec<f32>,
    /// Text primary keys, for tables that have one.
    pub text_ids: Option<Vec<Option<String>>>,
}

/// Equality / IN filters by column name.
pub fn filters_for(
    shadow: &Shadow,
    filters: Vec<(String, Vec<Value>)>,
) -> Result<Vec<Filter>, BulkError> {
    let config = &shadow.config;
    filters
        .into_iter()
        .map(|(name, values)| {
            let target = if name.eq_ignore_ascii_case("rowid") {
                Target::Rowid
            } else {
                let ci = config
                    .find(&name)
                    .ok_or_else(|| arg(format!("no column '{name}' in '{}'", shadow.name)))?;
                let col = &config.columns[ci];
                match col.kind {
                    ColumnKind::IntegerKey => Target::Rowid,
                    ColumnKind::TextKey => Target::TextId,
                    ColumnKind::Partition(_) | ColumnKind::Metadata(_) => Target::Scalar(col.slot),
                    _ => {
                        return Err(arg(format!(
                            "column '{name}' cannot be filtered before the top-k (only partition \
                             keys, metadata and primary keys can)"
                        )))
                    }
                }
            };
            Ok(Filter {
                target,
                op: Op::Eq,
                values,
            })
        })
        .collect()
}

/// The decoded table and the search inputs, prepared while holding the connection.
pub struct PreparedSearch {
    pub data: Arc<TableData>,
    pub vector_slot: usize,
    pub queries: Vec<QueryVector>,
    pub filters: Vec<Filter>,
    pub k: usize,
    pub text_key: bool,
    /// Overrides the rescore index's oversample for this search (set it after
    /// [`prepare_search`]); ignored on columns without one.
    pub oversample: Option<usize>,
    /// Overrides the ivf index's nprobe for this search; ignored on columns without one.
    pub nprobe: Option<usize>,
    /// The hits, already found while the chunks were read (a table above the cache
    /// budget is searched with the connection, in `prepare_search`).
    pub streamed_hits: Option<Vec<Vec<knn::Hit>>>,
}

#[allow(clippy::too_many_arguments)]
pub fn prepare_search(
    conn: &Connection,
    table: &str,
    column: Option<&str>,
    queries: &[f32],
    n: usize,
    dims: usize,
    k: i64,
    filters: Vec<(String, Vec<Value>)>,
) -> Result<PreparedSearch, BulkError> {
    let shadow = open(conn, table)?;
    let (vector_slot, name, col) = vector_column(&shadow, column)?;
    if k <= 0 || k > knn::MAX_K {
        return Err(arg(format!(
            "k must be between 1 and {}, got {k}",
            knn::MAX_K
        )));
    }
    if dims != col.dims {
        return Err(arg(format!(
            "column '{name}' holds {} dimensions, the queries have {dims}",
            col.dims
        )));
    }
    if let Some(bad) = queries.iter().position(|x| !x.is_finite()) {
        return Err(arg(format!(
            "queries must be finite: row {}, column {} is {}",
            bad / dims,
            bad % dims,
            queries[bad]
        )));
    }
    let queries: Vec<QueryVector> = (0..n)
        .map(|i| {
            let q = &queries[i * dims..(i + 1) * dims];
            match col.element {
                ElementType::Float32 => Ok(QueryVector::Float32(q.to_vec())),
                ElementType::Int8 => {
                    if q.iter()
                        .any(|&x| x.fract() != 0.0 || !(-128.0..=127.0).contains(&x))
                    {
                        Err(arg(format!(
                            "column '{name}' holds int8 vectors: query values must be integers \
                             in -128..=127"
                        )))
                    } else {
                        Ok(QueryVector::Int8(q.iter().map(|&x| x as i8).collect()))
                    }
                }
                ElementType::Bit => Err(arg(format!(
                    "column '{name}' holds bit vectors; search them with SQL"
                ))),
            }
        })
        .collect::<Result<_, _>>()?;
    let filters = filters_for(&shadow, filters)?;
    let data = cache::get(conn, &shadow)?;
    // Results are sized by the rows that exist, not by the k asked for: k = 2**24 on a
    // 10-row table allocates 10 results per query.
    let k = (k as usize).min(data.by_rowid.len());
    let streamed_hits = if data.is_streamed(vector_slot) {
        let mut scan = knn::BatchStreaming::new(vector_slot, &queries, k, &filters);
        cache::scan_streamed(conn, &shadow, &data, &mut |d, chunk| scan.chunk(d, chunk))?;
        Some(scan.finish(&data, k))
    } else {
        None
    };
    Ok(PreparedSearch {
        data,
        vector_slot,
        queries,
        filters,
        k,
        text_key: shadow.config.text_key(),
        oversample: None,
        nprobe: None,
        streamed_hits,
    })
}

/// The state of the index of vector column `column` (default: the first) of `table`,
/// as JSON text (see [`rescore::state_json`]); loads the table into the cache.
pub fn index_state(
    conn: &Connection,
    table: &str,
    column: Option<&str>,
) -> Result<String, BulkError> {
    let shadow = open(conn, table)?;
    let (slot, name, _) = vector_column(&shadow, column)?;
    let data = cache::get(conn, &shadow)?;
    if let Some(state) = super::ivf::state_json(&data, slot, &name, None) {
        return Ok(state);
    }
    Ok(rescore::state_json(&data, slot, &name))
}

/// Runs a prepared search (no SQLite calls: safe without the connection).
pub fn run_search(p: &PreparedSearch) -> SearchResult {
    let computed;
    let hits = match &p.streamed_hits {
        Some(hits) => hits,
        None => {
            computed = super::ivf::knn_batch(
                &p.data,
                p.vector_slot,
                &p.queries,
                p.k,
                &p.filters,
                (p.nprobe, p.oversample),
            )
            .or_else(|| {
                rescore::knn_batch(
                    &p.data,
                    p.vector_slot,
                    &p.queries,
                    p.k,
                    &p.filters,
                    p.oversample,
                )
            })
            .unwrap_or_else(|| knn::knn_batch(&p.data, p.vector_slot, &p.queries, p.k, &p.filters));
            &computed
        }
    };
    let total = p.queries.len() * p.k;
    let mut rowids = vec![-1i64; total];
    let mut distances = vec![f32::INFINITY; total];
    let mut text_ids = p.text_key.then(|| vec![None; total]);
    for (qi, hs) in hits.iter().enumerate() {
        for (j, h) in hs.iter().enumerate() {
            let at = qi * p.k + j;
            rowids[at] = h.rowid;
            distances[at] = h.distance;
            if let Some(t) = text_ids.as_mut() {
                t[at] = p.data.text_ids[h.slot as usize].clone();
            }
        }
    }
    SearchResult {
        rowids,
        distances,
        text_ids,
    }
}

/// Bytes the cache holds for `table` (after a search has loaded it).
pub fn cache_bytes(conn: &Connection, table: &str) -> Result<usize, BulkError> {
    let shadow = open(conn, table)?;
    Ok(cache::get(conn, &shadow)?.memory_bytes())
}
