//! vec0 reads: xFilter runs a KNN query, a key lookup or a scan into the cursor's
//! hits; xColumn reads their values from the cache or the shadow tables.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use rusqlite::ffi;
use rusqlite::types::{Value, ValueRef};

use super::cache::{self};
use super::config::ColumnKind;
use super::input;
use super::ivf;
use super::knn::{self, DistanceBounds, Filter, Hit, KnnRequest, Target, MAX_K};
use super::pending;
use super::plan::{self, PlanToken, Token};
use super::rescore;
use crate::sqlite::constraint::Op;
use crate::sqlite::error::error_message;
use crate::sqlite::host_api;
use crate::sqlite::value::{owned, value_ref};
use crate::vec::vector::describe_value;

use super::vtab::{guard, Source, Vec0Cursor, Vec0Tab};

pub(super) unsafe extern "C" fn x_open(
    _vtab: *mut ffi::sqlite3_vtab,
    pp_cursor: *mut *mut ffi::sqlite3_vtab_cursor,
) -> c_int {
    let cursor = Box::new(Vec0Cursor {
        // SAFETY: a plain C struct; SQLite fills pVtab.
        base: unsafe { std::mem::zeroed() },
        source: Source::Direct,
        hits: Vec::new(),
        pos: 0,
        knn: false,
    });
    // SAFETY: pp_cursor is writable; Vec0Cursor is repr(C) with the base first.
    unsafe { *pp_cursor = Box::into_raw(cursor).cast::<ffi::sqlite3_vtab_cursor>() };
    ffi::SQLITE_OK
}

pub(super) unsafe extern "C" fn x_close(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: made by Box::into_raw in x_open; closed once.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        drop(Box::from_raw(cursor.cast::<Vec0Cursor>()));
    }));
    ffi::SQLITE_OK
}

/// `k = ?` or the LIMIT of a KNN query: 0 (no rows, as in sqlite-vec) up to MAX_K.
fn knn_k(value: ValueRef<'_>, what: &str) -> Result<i64, String> {
    match value {
        ValueRef::Integer(k) if (0..=MAX_K).contains(&k) => Ok(k),
        ValueRef::Integer(k) if k > MAX_K => Err(format!(
            "vec0: {what} = {k} is too large (at most {MAX_K} rows per KNN query)"
        )),
        ValueRef::Integer(k) => Err(format!(
            "k value in knn queries must be greater than or equal to 0. vec0: {what} must be \
             0 or a positive integer, got {k}"
        )),
        other => Err(format!(
            "vec0: {what} must be 0 or a positive integer, got {}",
            describe_value(other)
        )),
    }
}

/// xFilter.
///
/// # Safety
/// `cursor` must be one of ours; `argv` live values; `idx_str` null or our idxStr.
unsafe fn filter(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    idx_num: c_int,
    idx_str: *const c_char,
    argv: &[*mut ffi::sqlite3_value],
) -> Result<c_int, String> {
    // SAFETY: cursor is ours; its pVtab is our table.
    let (c, t) = unsafe {
        let c = &mut *cursor.cast::<Vec0Cursor>();
        let t = &*c.base.pVtab.cast::<Vec0Tab>();
        (c, t)
    };
    c.hits.clear();
    c.pos = 0;
    c.knn = false;
    c.source = Source::Direct;
    let shadow = &t.shadow;
    // Rows this connection's INSERTs left in memory are written before any read.
    pending::lock(&t.tx)
        .flush(shadow, &t.conn)
        .map_err(error_message)?;
    // SAFETY: argv values are live for this call.
    let arg = |i: usize| unsafe { value_ref(argv[i]) };
    match idx_num {
        plan::IDX_ROWID | plan::IDX_TEXT_ID => {
            let rowid = if idx_num == plan::IDX_ROWID {
                match arg(0) {
                    ValueRef::Integer(r) => Some(r),
                    ValueRef::Real(r) if r.fract() == 0.0 => Some(r as i64),
                    _ => None,
                }
            } else {
                match arg(0) {
                    ValueRef::Text(s) => shadow
                        .rowid_of_text_id(&t.conn, &String::from_utf8_lossy(s))
                        .map_err(error_message)?,
                    _ => None,
                }
            };
            if let Some(rowid) = rowid {
                if let Some(slot) = shadow.slot_of(&t.conn, rowid).map_err(error_message)? {
                    c.hits.push(Hit {
                        distance: f32::NAN,
                        rowid,
                        slot: slot as u32,
                    });
                }
            }
            return Ok(ffi::SQLITE_OK);
        }
        plan::IDX_SCAN => {
            let data = cache::get(&t.conn, shadow).map_err(error_message)?;
            c.hits = data
                .by_rowid
                .iter()
                .map(|&s| Hit {
                    distance: f32::NAN,
                    rowid: data.rowids[s as usize],
                    slot: s,
                })
                .collect();
            c.source = Source::Cached(data);
            return Ok(ffi::SQLITE_OK);
        }
        _ => {}
    }
    // KNN.
    let idx = if idx_str.is_null() {
        ""
    } else {
        // SAFETY: our own idxStr, NUL-terminated.
        unsafe { CStr::from_ptr(idx_str) }.to_str().unwrap_or("")
    };
    let mut vector_column = None;
    let mut query = None;
    let (mut k, mut limit, mut offset) = (None, None, 0i64);
    let mut filters: Vec<Filter> = Vec::new();
    let mut bounds = DistanceBounds::default();
    let tokens = plan::decode(idx)?;
    if tokens.len() != argv.len() {
        return Err("vec0: plan and arguments disagree".to_string());
    }
    for (i, PlanToken { token, whole_in }) in tokens.into_iter().enumerate() {
        let values = || -> Result<Vec<Value>, String> {
            if whole_in {
                // SAFETY: this constraint was taken with sqlite3_vtab_in.
                unsafe { host_api::in_list_values(argv[i]) }.map_err(|m| format!("vec0: {m}"))
            } else {
                Ok(vec![owned(arg(i))])
            }
        };
        match token {
            Token::Match(slot) => {
                let (ci, col) = shadow
                    .config
                    .vector_columns()
                    .nth(slot)
                    .ok_or("vec0: bad plan column")?;
                let name = &shadow.config.columns[ci].name;
                // SAFETY: argv[i] is live.
                let subtype = unsafe { ffi::sqlite3_value_subtype(argv[i]) };
                let q = input::read_vector(name, col, arg(i), subtype, input::VectorUse::Query)
                    .map_err(|m| format!("{m} (the MATCH query vector)"))?;
                vector_column = Some(slot);
                query = Some(q);
            }
            Token::K => k = Some(knn_k(arg(i), "k")?),
            Token::Limit => limit = Some(knn_k(arg(i), "LIMIT")?),
            Token::Offset => {
                offset = match arg(i) {
                    ValueRef::Integer(o) if o >= 0 => o,
                    _ => 0,
                };
            }
            Token::Distance(op) => {
                let v = match arg(i) {
                    ValueRef::Integer(x) => x as f64,
                    ValueRef::Real(x) => x,
                    other => {
                        return Err(format!(
                            "vec0: distance bounds must be numbers, got {}",
                            describe_value(other)
                        ))
                    }
                };
                match op {
                    Op::Gt => bounds.lower = Some((v, false)),
                    Op::Ge => bounds.lower = Some((v, true)),
                    Op::Lt => bounds.upper = Some((v, false)),
                    Op::Le => bounds.upper = Some((v, true)),
                    _ => {}
                }
            }
            Token::Rowid(op) => filters.push(Filter {
                target: Target::Rowid,
                op,
                values: values()?,
            }),
            Token::TextId(op) => filters.push(Filter {
                target: Target::TextId,
                op,
                values: values()?,
            }),
            Token::Scalar(slot, op) => filters.push(Filter {
                target: Target::Scalar(slot),
                op,
                values: values()?,
            }),
            Token::Refused(column, op) => {
                return Err(plan::refusal(&shadow.config, &shadow.name, column, op));
            }
        }
    }
    let (Some(vector_column), Some(query)) = (vector_column, query) else {
        return Err("vec0: a KNN query needs '<vector column> MATCH ?'".to_string());
    };
    let k = match (k, limit) {
        (Some(k), _) => k,
        (None, Some(l)) => l.saturating_add(offset).min(MAX_K),
        (None, None) => {
            return Err(
                "A LIMIT or 'k = ?' constraint is required on vec0 knn queries. vec0: a KNN \
                 query needs 'AND k = ?' or 'ORDER BY distance LIMIT ?'"
                    .to_string(),
            )
        }
    };
    if k == 0 {
        c.hits = Vec::new();
        c.knn = true;
        return Ok(ffi::SQLITE_OK);
    }
    let req = KnnRequest {
        vector_column,
        query: &query,
        k: k as usize,
        filters: &filters,
        bounds,
    };
    // A cold cache is filled by this query, which is answered chunk by chunk as the
    // table is read; a warm one is scanned in memory on every core.
    let mut stream = knn::Streaming::new(&req);
    let (data, loaded) =
        cache::get_streaming(&t.conn, shadow, &mut |d, chunk| stream.chunk(d, chunk))
            .map_err(error_message)?;
    // A rescore index answers every query the same way, the first included (so a
    // query's rows do not depend on whether it filled the cache); without one, a query
    // that read the chunks has its exact answer already, else the cache is scanned.
    c.hits = if let Some(hits) = ivf::knn(&data, &req, t.nprobe.get(), t.oversample.get()) {
        // Likewise an ivf index: every query probes the lists.
        hits
    } else if let Some(hits) = rescore::knn(&data, &req, t.oversample.get()) {
        hits
    } else if loaded {
        stream.finish(&data)
    } else {
        knn::knn(&data, &req)
    };
    c.source = Source::Cached(data);
    c.knn = true;
    Ok(ffi::SQLITE_OK)
}

pub(super) unsafe extern "C" fn x_filter(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    idx_num: c_int,
    idx_str: *const c_char,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) -> c_int {
    // SAFETY: cursor is ours; argv holds argc live values.
    unsafe {
        let vtab = (*cursor).pVtab;
        let args: &[*mut ffi::sqlite3_value] = if argc > 0 {
            std::slice::from_raw_parts(argv, argc as usize)
        } else {
            &[]
        };
        guard(vtab, || filter(cursor, idx_num, idx_str, args))
    }
}

pub(super) unsafe extern "C" fn x_next(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: cursor is ours.
    unsafe { (*cursor.cast::<Vec0Cursor>()).pos += 1 };
    ffi::SQLITE_OK
}

pub(super) unsafe extern "C" fn x_eof(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: cursor is ours.
    let c = unsafe { &*cursor.cast::<Vec0Cursor>() };
    c_int::from(c.pos >= c.hits.len())
}

pub(super) unsafe extern "C" fn x_rowid(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    rowid: *mut i64,
) -> c_int {
    // SAFETY: cursor is ours; rowid is writable.
    unsafe {
        let c = &*cursor.cast::<Vec0Cursor>();
        *rowid = c.hits.get(c.pos).map_or(0, |h| h.rowid);
    }
    ffi::SQLITE_OK
}

/// # Safety
/// `ctx` must be a live result context.
unsafe fn result_value(ctx: *mut ffi::sqlite3_context, v: &Value) {
    // SAFETY: per the contract; SQLITE_TRANSIENT makes SQLite copy the bytes.
    unsafe {
        match v {
            Value::Null => ffi::sqlite3_result_null(ctx),
            Value::Integer(i) => ffi::sqlite3_result_int64(ctx, *i),
            Value::Real(r) => ffi::sqlite3_result_double(ctx, *r),
            Value::Text(s) => ffi::sqlite3_result_text(
                ctx,
                s.as_ptr().cast::<c_char>(),
                s.len() as c_int,
                ffi::SQLITE_TRANSIENT(),
            ),
            Value::Blob(b) => ffi::sqlite3_result_blob(
                ctx,
                b.as_ptr().cast::<c_void>(),
                b.len() as c_int,
                ffi::SQLITE_TRANSIENT(),
            ),
        }
    }
}

/// xColumn.
///
/// # Safety
/// `ctx` must be the live result context of this xColumn call.
unsafe fn column(
    c: &Vec0Cursor,
    t: &Vec0Tab,
    ctx: *mut ffi::sqlite3_context,
    i: usize,
) -> Result<c_int, String> {
    let Some(hit) = c.hits.get(c.pos) else {
        // SAFETY: ctx is live.
        unsafe { ffi::sqlite3_result_null(ctx) };
        return Ok(ffi::SQLITE_OK);
    };
    let config = &t.shadow.config;
    let slot = hit.slot as usize;
    if i == config.distance_column() {
        // SAFETY: ctx is live.
        unsafe {
            if c.knn {
                ffi::sqlite3_result_double(ctx, f64::from(hit.distance));
            } else {
                ffi::sqlite3_result_null(ctx);
            }
        }
        return Ok(ffi::SQLITE_OK);
    }
    if i == config.k_column() {
        // sqlite-vec 0.1.9 returns NULL for k, in KNN queries too.
        // SAFETY: ctx is live.
        unsafe { ffi::sqlite3_result_null(ctx) };
        return Ok(ffi::SQLITE_OK);
    }
    let Some(col) = config.columns.get(i) else {
        // SAFETY: ctx is live.
        unsafe { ffi::sqlite3_result_null(ctx) };
        return Ok(ffi::SQLITE_OK);
    };
    let is_key = matches!(col.kind, ColumnKind::IntegerKey | ColumnKind::TextKey);
    // SAFETY: ctx is live. Unchanged columns of an UPDATE need no value.
    if !is_key && unsafe { ffi::sqlite3_vtab_nochange(ctx) } != 0 {
        return Ok(ffi::SQLITE_OK);
    }
    let value = match (&col.kind, &c.source) {
        (ColumnKind::IntegerKey, _) => Value::Integer(hit.rowid),
        (ColumnKind::TextKey, Source::Cached(d)) => {
            d.text_ids[slot].clone().map_or(Value::Null, Value::Text)
        }
        (ColumnKind::TextKey, Source::Direct) => t
            .shadow
            .text_id_of(&t.conn, hit.rowid)
            .map_err(error_message)?
            .map_or(Value::Null, Value::Text),
        (ColumnKind::Vector(v), src) => {
            let bytes = match src {
                Source::Cached(d) => match d.vector_bytes(col.slot, slot) {
                    Some(bytes) => bytes,
                    // Above the cache budget: read from the chunk.
                    None => t
                        .shadow
                        .read_vector(&t.conn, col.slot, slot as i64)
                        .map_err(error_message)?,
                },
                Source::Direct => t
                    .shadow
                    .read_vector(&t.conn, col.slot, slot as i64)
                    .map_err(error_message)?,
            };
            // SAFETY: ctx is live; SQLite copies the bytes.
            unsafe {
                ffi::sqlite3_result_blob(
                    ctx,
                    bytes.as_ptr().cast::<c_void>(),
                    bytes.len() as c_int,
                    ffi::SQLITE_TRANSIENT(),
                );
                // As sqlite-vec: every vector carries its element type's subtype.
                ffi::sqlite3_result_subtype(ctx, v.element.subtype());
            }
            return Ok(ffi::SQLITE_OK);
        }
        (ColumnKind::Partition(_) | ColumnKind::Metadata(_), Source::Cached(d)) => {
            d.scalars[col.slot][slot].clone()
        }
        (ColumnKind::Partition(_) | ColumnKind::Metadata(_), Source::Direct) => t
            .shadow
            .scalar_value(&t.conn, hit.rowid, col.slot)
            .map_err(error_message)?,
        (ColumnKind::Auxiliary(_), _) => t
            .shadow
            .aux_value(&t.conn, hit.rowid, col.slot)
            .map_err(error_message)?,
    };
    // SAFETY: ctx is live.
    unsafe { result_value(ctx, &value) };
    Ok(ffi::SQLITE_OK)
}

pub(super) unsafe extern "C" fn x_column(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    ctx: *mut ffi::sqlite3_context,
    i: c_int,
) -> c_int {
    // SAFETY: cursor is ours, its pVtab our table.
    unsafe {
        let vtab = (*cursor).pVtab;
        guard(vtab, || {
            let c = &*cursor.cast::<Vec0Cursor>();
            let t = &*vtab.cast::<Vec0Tab>();
            column(c, t, ctx, i.max(0) as usize)
        })
    }
}
