//! The vec0 virtual table on SQLite's raw module API (rusqlite's VTab does not expose
//! argument subtypes, IN lists, LIMIT constraints, nochange or xShadowName).
//!
//! Every callback body runs inside `catch_unwind`; errors become the table's zErrMsg.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

use rusqlite::ffi;
use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;

use super::cache::{self, TableData};
use super::config::{ColumnKind, TableConfig};
use super::input;
use super::knn::{self, DistanceBounds, Filter, Hit, KnnRequest, Target, MAX_K};
use super::plan::{self, Constraint, OrderTerm};
use super::shadow::Shadow;
use super::storage::{NewRow, RowChange};
use crate::sqlite::constraint::Op;
use crate::sqlite::error::error_message;
use crate::sqlite::value::{owned, value_ref};
use crate::sqlite::vtab::{connect_outcome, create_module, set_error, sqlite_string};
use crate::sqlite::{constraint, host_api};
use crate::vec::vector::{describe_value, ElementType};

#[repr(C)]
struct Vec0Tab {
    base: ffi::sqlite3_vtab,
    db: *mut ffi::sqlite3,
    conn: Connection,
    shadow: Shadow,
}

/// Where the cursor's column values come from.
enum Source {
    /// The decoded table (scans and KNN).
    Cached(Arc<TableData>),
    /// Straight from the shadow tables (point lookups, which must not decode the table).
    Direct,
}

#[repr(C)]
struct Vec0Cursor {
    base: ffi::sqlite3_vtab_cursor,
    source: Source,
    hits: Vec<Hit>,
    pos: usize,
    knn: bool,
    k: i64,
}

/// Runs `f`, turning an error or a panic into SQLITE_ERROR with a message on `vtab`.
///
/// # Safety
/// `vtab` must be a live sqlite3_vtab.
unsafe fn guard(vtab: *mut ffi::sqlite3_vtab, f: impl FnOnce() -> Result<c_int, String>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(rc)) => rc,
        Ok(Err(message)) => {
            // SAFETY: per the contract.
            unsafe { set_error(vtab, &message) };
            ffi::SQLITE_ERROR
        }
        Err(_) => {
            // SAFETY: per the contract.
            unsafe { set_error(vtab, "vec0: internal error (panic)") };
            ffi::SQLITE_ERROR
        }
    }
}

/// # Safety
/// `argv` must hold `argc` NUL-terminated strings.
unsafe fn args<'a>(argc: c_int, argv: *const *const c_char) -> Vec<&'a str> {
    (0..argc.max(0) as usize)
        .map(|i| {
            // SAFETY: per the contract, i < argc.
            unsafe { CStr::from_ptr(*argv.add(i)) }
                .to_str()
                .unwrap_or("")
        })
        .collect()
}

/// xCreate / xConnect.
///
/// # Safety
/// The arguments of xCreate / xConnect, as SQLite passes them.
unsafe fn init(
    db: *mut ffi::sqlite3,
    argc: c_int,
    argv: *const *const c_char,
    pp_vtab: *mut *mut ffi::sqlite3_vtab,
    pz_err: *mut *mut c_char,
    create: bool,
) -> c_int {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<Box<Vec0Tab>, String> {
        // SAFETY: SQLite passes argc strings: module, schema, table, then arguments.
        let a = unsafe { args(argc, argv) };
        if a.len() < 3 {
            return Err("vec0: bad module arguments".to_string());
        }
        let config = TableConfig::parse(&a[3..])?;
        let shadow = Shadow {
            schema: a[1].to_string(),
            name: a[2].to_string(),
            config,
        };
        // SAFETY: db is the live connection SQLite is creating the table on; the
        // Connection does not own it (from_handle) and lives no longer than the table.
        let conn = unsafe { Connection::from_handle(db) }.map_err(error_message)?;
        let declare = CString::new(shadow.config.declare_sql()).map_err(|e| e.to_string())?;
        // SAFETY: db is live; declare is NUL-terminated.
        let rc = unsafe { ffi::sqlite3_declare_vtab(db, declare.as_ptr()) };
        if rc != ffi::SQLITE_OK {
            return Err(format!(
                "vec0: could not declare the table schema (code {rc})"
            ));
        }
        if create {
            shadow.create(&conn).map_err(error_message)?;
        } else {
            shadow.check_format(&conn).map_err(error_message)?;
        }
        Ok(Box::new(Vec0Tab {
            // SAFETY: a plain C struct; SQLite fills it.
            base: unsafe { std::mem::zeroed() },
            db,
            conn,
            shadow,
        }))
    }));
    let result = result.map(|built| {
        built.map(|tab| {
            // SAFETY: pp_vtab is writable; Vec0Tab is repr(C) with the base first.
            unsafe { *pp_vtab = Box::into_raw(tab).cast::<ffi::sqlite3_vtab>() };
        })
    });
    // SAFETY: pz_err is SQLite's error slot for this call.
    unsafe { connect_outcome(result, "vec0", pz_err) }
}

unsafe extern "C" fn x_create(
    db: *mut ffi::sqlite3,
    _aux: *mut c_void,
    argc: c_int,
    argv: *const *const c_char,
    pp_vtab: *mut *mut ffi::sqlite3_vtab,
    pz_err: *mut *mut c_char,
) -> c_int {
    // SAFETY: forwarded from SQLite.
    unsafe { init(db, argc, argv, pp_vtab, pz_err, true) }
}

unsafe extern "C" fn x_connect(
    db: *mut ffi::sqlite3,
    _aux: *mut c_void,
    argc: c_int,
    argv: *const *const c_char,
    pp_vtab: *mut *mut ffi::sqlite3_vtab,
    pz_err: *mut *mut c_char,
) -> c_int {
    // SAFETY: forwarded from SQLite.
    unsafe { init(db, argc, argv, pp_vtab, pz_err, false) }
}

unsafe extern "C" fn x_disconnect(vtab: *mut ffi::sqlite3_vtab) -> c_int {
    // SAFETY: made by Box::into_raw in init; SQLite drops it once.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        ffi::sqlite3_free((*vtab).zErrMsg.cast::<c_void>());
        (*vtab).zErrMsg = ptr::null_mut();
        let t = Box::from_raw(vtab.cast::<Vec0Tab>());
        cache::forget_if_memory(&t.conn, &t.shadow);
        drop(t);
    }));
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_destroy(vtab: *mut ffi::sqlite3_vtab) -> c_int {
    // SAFETY: vtab is one of ours.
    let rc = unsafe {
        guard(vtab, || {
            let t = &*vtab.cast::<Vec0Tab>();
            t.conn.flush_prepared_statement_cache();
            cache::forget(&t.conn, &t.shadow);
            t.shadow.drop_all(&t.conn).map_err(error_message)?;
            Ok(ffi::SQLITE_OK)
        })
    };
    if rc == ffi::SQLITE_OK {
        // SAFETY: as in x_disconnect.
        unsafe { x_disconnect(vtab) };
    }
    rc
}

unsafe extern "C" fn x_rename(vtab: *mut ffi::sqlite3_vtab, new_name: *const c_char) -> c_int {
    // SAFETY: vtab is one of ours; new_name is a NUL-terminated string.
    unsafe {
        guard(vtab, || {
            let t = &mut *vtab.cast::<Vec0Tab>();
            let new_name = CStr::from_ptr(new_name)
                .to_str()
                .map_err(|e| e.to_string())?;
            t.conn.flush_prepared_statement_cache();
            cache::forget(&t.conn, &t.shadow);
            t.shadow.rename(&t.conn, new_name).map_err(error_message)?;
            t.shadow.name = new_name.to_string();
            Ok(ffi::SQLITE_OK)
        })
    }
}

unsafe extern "C" fn x_shadow_name(name: *const c_char) -> c_int {
    // SAFETY: SQLite passes a NUL-terminated suffix.
    let name = unsafe { CStr::from_ptr(name) }.to_str().unwrap_or("");
    let shadow = matches!(name, "info" | "chunks" | "free" | "rows" | "auxiliary")
        || name
            .strip_prefix("vector_chunks")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    c_int::from(shadow)
}

unsafe extern "C" fn x_best_index(
    vtab: *mut ffi::sqlite3_vtab,
    info: *mut ffi::sqlite3_index_info,
) -> c_int {
    // SAFETY: vtab is ours; info is valid with nConstraint / nOrderBy entries.
    unsafe {
        guard(vtab, || {
            let t = &*vtab.cast::<Vec0Tab>();
            let inf = &mut *info;
            let mut constraints = Vec::with_capacity(inf.nConstraint as usize);
            for i in 0..inf.nConstraint as usize {
                let c = &*inf.aConstraint.add(i);
                constraints.push(Constraint {
                    column: c.iColumn,
                    op: c.op,
                    usable: c.usable != 0,
                    is_in: false,
                });
            }
            let order: Vec<OrderTerm> = (0..inf.nOrderBy as usize)
                .map(|i| {
                    let o = &*inf.aOrderBy.add(i);
                    OrderTerm {
                        column: o.iColumn,
                        desc: o.desc != 0,
                    }
                })
                .collect();
            // EQ terms that are IN lists: taken whole when the host can (3.38+).
            if constraints.iter().any(|c| c.op == constraint::MATCH) {
                for (i, c) in constraints.iter_mut().enumerate() {
                    if c.usable && c.op as i32 == ffi::SQLITE_INDEX_CONSTRAINT_EQ {
                        c.is_in = host_api::in_lists_supported()
                            && host_api::take_in_list(info, i as c_int);
                    }
                }
            }
            let Some(out) = plan::plan(&t.shadow.config, &t.shadow.name, &constraints, &order)?
            else {
                return Ok(ffi::SQLITE_CONSTRAINT);
            };
            for (i, &(argv, omit, _)) in out.usage.iter().enumerate() {
                let u = &mut *inf.aConstraintUsage.add(i);
                u.argvIndex = argv;
                u.omit = u8::from(omit);
            }
            inf.idxNum = out.idx_num;
            if !out.idx_str.is_empty() {
                inf.idxStr = sqlite_string(&out.idx_str);
                inf.needToFreeIdxStr = 1;
            }
            inf.orderByConsumed = c_int::from(out.order_consumed);
            inf.estimatedCost = out.cost;
            inf.estimatedRows = out.rows;
            if out.unique {
                inf.idxFlags |= ffi::SQLITE_INDEX_SCAN_UNIQUE;
            }
            Ok(ffi::SQLITE_OK)
        })
    }
}

unsafe extern "C" fn x_open(
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
        k: 0,
    });
    // SAFETY: pp_cursor is writable; Vec0Cursor is repr(C) with the base first.
    unsafe { *pp_cursor = Box::into_raw(cursor).cast::<ffi::sqlite3_vtab_cursor>() };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_close(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: made by Box::into_raw in x_open; closed once.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        drop(Box::from_raw(cursor.cast::<Vec0Cursor>()));
    }));
    ffi::SQLITE_OK
}

fn positive_k(value: ValueRef<'_>, what: &str) -> Result<i64, String> {
    match value {
        ValueRef::Integer(k) if k > 0 && k <= MAX_K => Ok(k),
        ValueRef::Integer(k) if k > MAX_K => Err(format!(
            "vec0: {what} = {k} is too large (at most {MAX_K} rows per KNN query)"
        )),
        ValueRef::Integer(k) => Err(format!("vec0: {what} must be a positive integer, got {k}")),
        other => Err(format!(
            "vec0: {what} must be a positive integer, got {}",
            describe_value(other)
        )),
    }
}

/// One parsed idxStr token with its value(s).
fn parse_op(code: &str) -> Result<Op, String> {
    code.parse::<u8>()
        .ok()
        .and_then(Op::from_sqlite)
        .ok_or_else(|| format!("vec0: bad plan operator '{code}'"))
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
    for (i, token) in idx.split(',').enumerate() {
        if i >= argv.len() {
            return Err("vec0: plan and arguments disagree".to_string());
        }
        let (token, whole_in) = match token.strip_suffix('*') {
            Some(t) => (t, true),
            None => (token, false),
        };
        let values = || -> Result<Vec<Value>, String> {
            if whole_in {
                // SAFETY: this constraint was taken with sqlite3_vtab_in.
                unsafe { host_api::in_list_values(argv[i]) }
            } else {
                Ok(vec![owned(arg(i))])
            }
        };
        match token.as_bytes().first() {
            Some(b'm') => {
                let slot: usize = token[1..].parse().map_err(|_| "vec0: bad plan")?;
                let (ci, col) = shadow
                    .config
                    .vector_columns()
                    .nth(slot)
                    .ok_or("vec0: bad plan column")?;
                let name = &shadow.config.columns[ci].name;
                // SAFETY: argv[i] is live.
                let subtype = unsafe { ffi::sqlite3_value_subtype(argv[i]) };
                let q = input::read_vector(name, col, arg(i), subtype)
                    .map_err(|m| format!("{m} (the MATCH query vector)"))?;
                vector_column = Some(slot);
                query = Some(q);
            }
            Some(b'k') => k = Some(positive_k(arg(i), "k")?),
            Some(b'l') => {
                limit = Some(positive_k(arg(i), "LIMIT")?);
            }
            Some(b'o') => {
                offset = match arg(i) {
                    ValueRef::Integer(o) if o >= 0 => o,
                    _ => 0,
                };
            }
            Some(b'd') => {
                let op = parse_op(&token[1..])?;
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
            Some(b'r') => filters.push(Filter {
                target: Target::Rowid,
                op: parse_op(&token[1..])?,
                values: values()?,
            }),
            Some(b't') => filters.push(Filter {
                target: Target::TextId,
                op: parse_op(&token[1..])?,
                values: values()?,
            }),
            Some(b's') => {
                let (col, op) = token[1..].split_once(':').ok_or("vec0: bad plan")?;
                filters.push(Filter {
                    target: Target::Scalar(col.parse().map_err(|_| "vec0: bad plan")?),
                    op: parse_op(op)?,
                    values: values()?,
                });
            }
            Some(b'x') => {
                let (col, op) = token[1..].split_once(':').ok_or("vec0: bad plan")?;
                return Err(plan::refusal(
                    &shadow.config,
                    &shadow.name,
                    col.parse().unwrap_or(-1),
                    op.parse().unwrap_or(0),
                ));
            }
            _ => return Err(format!("vec0: bad plan token '{token}'")),
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
                "vec0: a KNN query needs 'AND k = ?' or 'ORDER BY distance LIMIT ?'".to_string(),
            )
        }
    };
    let data = cache::get(&t.conn, shadow).map_err(error_message)?;
    c.hits = knn::knn(
        &data,
        &KnnRequest {
            vector_column,
            query: &query,
            k: k as usize,
            filters: &filters,
            bounds,
        },
    );
    c.source = Source::Cached(data);
    c.knn = true;
    c.k = k;
    Ok(ffi::SQLITE_OK)
}

unsafe extern "C" fn x_filter(
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

unsafe extern "C" fn x_next(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: cursor is ours.
    unsafe { (*cursor.cast::<Vec0Cursor>()).pos += 1 };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_eof(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: cursor is ours.
    let c = unsafe { &*cursor.cast::<Vec0Cursor>() };
    c_int::from(c.pos >= c.hits.len())
}

unsafe extern "C" fn x_rowid(cursor: *mut ffi::sqlite3_vtab_cursor, rowid: *mut i64) -> c_int {
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
        // SAFETY: ctx is live.
        unsafe {
            if c.knn {
                ffi::sqlite3_result_int64(ctx, c.k);
            } else {
                ffi::sqlite3_result_null(ctx);
            }
        }
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
                Source::Cached(d) => d.vector_bytes(col.slot, slot),
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
                if v.element != ElementType::Float32 {
                    ffi::sqlite3_result_subtype(ctx, v.element.subtype());
                }
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

unsafe extern "C" fn x_column(
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

fn check_aux(name: &str, ty: &Option<String>, v: ValueRef<'_>) -> Result<Value, String> {
    let ok = matches!(
        (ty.as_deref(), v),
        (_, ValueRef::Null)
            | (None, _)
            | (Some("ANY"), _)
            | (Some("TEXT"), ValueRef::Text(_))
            | (Some("INTEGER" | "INT"), ValueRef::Integer(_))
            | (
                Some("FLOAT" | "REAL" | "DOUBLE"),
                ValueRef::Real(_) | ValueRef::Integer(_)
            )
            | (Some("BLOB"), ValueRef::Blob(_))
    );
    if !ok {
        return Err(format!(
            "vec0: auxiliary column '{name}': expected {}, got {}",
            ty.as_deref().unwrap_or("any value").to_lowercase(),
            describe_value(v)
        ));
    }
    Ok(match (ty.as_deref(), v) {
        (Some("FLOAT" | "REAL" | "DOUBLE"), ValueRef::Integer(i)) => Value::Real(i as f64),
        _ => owned(v),
    })
}

/// A row to insert from xUpdate's argv (`cols` = the column values).
///
/// # Safety
/// `cols` must hold live values, one per declared column (hidden ones included).
unsafe fn new_row(
    shadow: &Shadow,
    rowid_arg: ValueRef<'_>,
    cols: &[*mut ffi::sqlite3_value],
) -> Result<NewRow, String> {
    let config = &shadow.config;
    let mut row = NewRow {
        rowid: input::read_rowid("rowid", rowid_arg)?,
        ..Default::default()
    };
    for (i, col) in config.columns.iter().enumerate() {
        // SAFETY: cols holds live values, one per declared column.
        let (v, subtype) = unsafe { (value_ref(cols[i]), ffi::sqlite3_value_subtype(cols[i])) };
        match &col.kind {
            ColumnKind::IntegerKey => {
                if let Some(id) = input::read_rowid(&format!("primary key '{}'", col.name), v)? {
                    if row.rowid.is_some_and(|r| r != id) {
                        return Err(format!(
                            "vec0: rowid and primary key '{}' differ ({} and {id})",
                            col.name,
                            row.rowid.unwrap_or_default()
                        ));
                    }
                    row.rowid = Some(id);
                }
            }
            ColumnKind::TextKey => row.text_id = Some(input::read_text_id(&col.name, v)?),
            ColumnKind::Vector(vc) => {
                let q = input::read_vector(&col.name, vc, v, subtype)?;
                row.vectors.push(input::vector_bytes(&q));
            }
            ColumnKind::Partition(ty) | ColumnKind::Metadata(ty) => {
                row.scalars.push(input::read_scalar(&col.name, *ty, v)?)
            }
            ColumnKind::Auxiliary(ty) => row.aux.push(check_aux(&col.name, ty, v)?),
        }
    }
    for hidden in [config.distance_column(), config.k_column()] {
        if let Some(&p) = cols.get(hidden) {
            // SAFETY: as above: p is one of the live values SQLite passed to xUpdate.
            if !matches!(unsafe { value_ref(p) }, ValueRef::Null) {
                return Err("vec0: the hidden columns distance and k cannot be written".to_string());
            }
        }
    }
    Ok(row)
}

/// xUpdate.
///
/// # Safety
/// `argv` must be xUpdate's live values; `p_rowid` writable.
unsafe fn update(
    t: &Vec0Tab,
    argv: &[*mut ffi::sqlite3_value],
    p_rowid: *mut i64,
) -> Result<c_int, String> {
    let shadow = &t.shadow;
    let conn = &t.conn;
    // SAFETY: argv values are live for this call.
    let arg = |i: usize| unsafe { value_ref(argv[i]) };
    if argv.len() == 1 {
        let rowid = input::read_rowid("rowid", arg(0))?.ok_or("vec0: DELETE of a NULL rowid")?;
        shadow.delete(conn, rowid).map_err(error_message)?;
        return Ok(ffi::SQLITE_OK);
    }
    // SAFETY: db is live; we are inside xUpdate.
    let on_conflict = unsafe { ffi::sqlite3_vtab_on_conflict(t.db) };
    let replace = on_conflict == ffi::SQLITE_REPLACE;
    let ignore = on_conflict == ffi::SQLITE_IGNORE;
    let cols = &argv[2..];
    if matches!(arg(0), ValueRef::Null) {
        // SAFETY: cols are live values.
        let row = unsafe { new_row(shadow, arg(1), cols)? };
        if ignore {
            if let Some(existing) = shadow.existing_key(conn, &row).map_err(error_message)? {
                // INSERT OR IGNORE: the row is skipped.
                // SAFETY: p_rowid is writable during an INSERT.
                unsafe { *p_rowid = existing };
                return Ok(ffi::SQLITE_OK);
            }
        }
        shadow
            .check_keys(conn, std::slice::from_ref(&row), replace)
            .map_err(error_message)?;
        let rowids = shadow
            .insert(conn, std::slice::from_ref(&row), replace)
            .map_err(error_message)?;
        // SAFETY: p_rowid is writable during an INSERT.
        unsafe { *p_rowid = rowids[0] };
        return Ok(ffi::SQLITE_OK);
    }
    // UPDATE.
    let old = input::read_rowid("rowid", arg(0))?.ok_or("vec0: UPDATE of a NULL rowid")?;
    let new_arg = input::read_rowid("rowid", arg(1))?;
    let config = &shadow.config;
    let mut change = RowChange::default();
    let mut new_rowid = new_arg.unwrap_or(old);
    for (i, col) in config.columns.iter().enumerate() {
        let p = cols[i];
        // SAFETY: p is live.
        if unsafe { ffi::sqlite3_value_nochange(p) } != 0 {
            match col.kind {
                ColumnKind::Vector(_) => change.vectors.push(None),
                ColumnKind::Partition(_) | ColumnKind::Metadata(_) => change.scalars.push(None),
                ColumnKind::Auxiliary(_) => change.aux.push(None),
                _ => {}
            }
            continue;
        }
        // SAFETY: p is live.
        let (v, subtype) = unsafe { (value_ref(p), ffi::sqlite3_value_subtype(p)) };
        match &col.kind {
            ColumnKind::IntegerKey => {
                let id = input::read_rowid(&format!("primary key '{}'", col.name), v)?
                    .ok_or_else(|| format!("vec0: primary key '{}' cannot be NULL", col.name))?;
                if new_rowid == old && id != old {
                    new_rowid = id;
                } else if id != old && id != new_rowid {
                    return Err(format!(
                        "vec0: rowid and primary key '{}' differ ({new_rowid} and {id})",
                        col.name
                    ));
                }
            }
            ColumnKind::TextKey => {
                let id = input::read_text_id(&col.name, v)?;
                let current = shadow.text_id_of(conn, old).map_err(error_message)?;
                if current.as_deref() != Some(id.as_str()) {
                    if shadow
                        .rowid_of_text_id(conn, &id)
                        .map_err(error_message)?
                        .is_some()
                    {
                        return Err(format!(
                            "vec0: UNIQUE constraint failed: {}.{} (a row with id '{id}' \
                             already exists)",
                            shadow.name, col.name
                        ));
                    }
                    change.text_id = Some(id);
                }
            }
            ColumnKind::Vector(vc) => {
                let q = input::read_vector(&col.name, vc, v, subtype)?;
                change.vectors.push(Some(input::vector_bytes(&q)));
            }
            ColumnKind::Partition(ty) | ColumnKind::Metadata(ty) => change
                .scalars
                .push(Some(input::read_scalar(&col.name, *ty, v)?)),
            ColumnKind::Auxiliary(ty) => change.aux.push(Some(check_aux(&col.name, ty, v)?)),
        }
    }
    if new_rowid != old {
        if shadow
            .rowid_exists(conn, new_rowid)
            .map_err(error_message)?
        {
            if ignore {
                return Ok(ffi::SQLITE_OK);
            }
            if replace {
                shadow.delete(conn, new_rowid).map_err(error_message)?;
            } else {
                return Err(format!(
                    "vec0: UNIQUE constraint failed: {}.rowid (cannot change rowid {old} to \
                     {new_rowid}: a row with that rowid exists)",
                    shadow.name
                ));
            }
        }
        change.new_rowid = Some(new_rowid);
    }
    shadow.update(conn, old, &change).map_err(error_message)?;
    Ok(ffi::SQLITE_OK)
}

unsafe extern "C" fn x_update(
    vtab: *mut ffi::sqlite3_vtab,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
    p_rowid: *mut i64,
) -> c_int {
    // SAFETY: vtab is ours; argv holds argc live values.
    unsafe {
        guard(vtab, || {
            let t = &*vtab.cast::<Vec0Tab>();
            let args = std::slice::from_raw_parts(argv, argc.max(0) as usize);
            let expected = t.shadow.config.columns.len() + 4;
            if args.len() != 1 && args.len() != expected {
                return Err(format!(
                    "vec0: unexpected argument count {} in xUpdate",
                    args.len()
                ));
            }
            update(t, args, p_rowid)
        })
    }
}

static MODULE: ffi::sqlite3_module = ffi::sqlite3_module {
    iVersion: 3,
    xCreate: Some(x_create),
    xConnect: Some(x_connect),
    xBestIndex: Some(x_best_index),
    xDisconnect: Some(x_disconnect),
    xDestroy: Some(x_destroy),
    xOpen: Some(x_open),
    xClose: Some(x_close),
    xFilter: Some(x_filter),
    xNext: Some(x_next),
    xEof: Some(x_eof),
    xColumn: Some(x_column),
    xRowid: Some(x_rowid),
    xUpdate: Some(x_update),
    xRename: Some(x_rename),
    xShadowName: Some(x_shadow_name),
    // SAFETY: the remaining members are optional callbacks; all-zero means None.
    ..unsafe { std::mem::zeroed() }
};

pub fn load_module(conn: &Connection) -> rusqlite::Result<()> {
    create_module(conn, c"vec0", &MODULE)
}
