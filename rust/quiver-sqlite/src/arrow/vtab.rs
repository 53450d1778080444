//! The `arrow` module on SQLite's raw module API: read-only virtual tables over
//! registered Arrow data (see `registry`), also used by `arrow_ipc`.
//!
//! Written on the raw module API so that `xColumn` can hand out text/blob results without
//! an extra copy, set vector subtypes, and read constraint collations in xBestIndex.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use arrow_array::Array;
use rusqlite::ffi;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::arrow::cursor::Cursor;
use crate::arrow::filter::{rowid_target, Filter, Prepared, RowidTarget};
use crate::arrow::plan::{self, limit_value, Constraint, Limit, OrderBy, Plan};
use crate::arrow::registry::{current, forget_connection, lookup, remove, Slot};
use crate::arrow::sort::Ordered;
use crate::arrow::types::{Reader, SqlValue};
use crate::sqlite::host_api;
use crate::sqlite::value::value_ref;
use crate::sqlite::vtab::{connect_outcome, create_module_with_aux, fail, sqlite_string};

#[repr(C)]
struct VTab {
    base: ffi::sqlite3_vtab,
    slot: Slot,
    key: u64,
    name: String,
}

/// Runs `f`, turning a panic into SQLITE_ERROR with a message on `vtab`.
///
/// # Safety
/// `vtab` must be null or a live sqlite3_vtab of this module.
unsafe fn guard(vtab: *mut ffi::sqlite3_vtab, f: impl FnOnce() -> c_int) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(rc) => rc,
        Err(_) if !vtab.is_null() => {
            // SAFETY: per the contract.
            unsafe { fail(vtab, "arrow: internal error (panic)") }
        }
        Err(_) => ffi::SQLITE_ERROR,
    }
}

unsafe fn arg(argv: *const *const c_char, i: usize) -> String {
    // SAFETY: the caller checked i < argc; SQLite passes NUL-terminated strings.
    unsafe { CStr::from_ptr(*argv.add(i)) }
        .to_string_lossy()
        .into_owned()
}

/// The signature of xCreate / xConnect.
pub(crate) type XConnect = unsafe extern "C" fn(
    *mut ffi::sqlite3,
    *mut c_void,
    c_int,
    *const *const c_char,
    *mut *mut ffi::sqlite3_vtab,
    *mut *mut c_char,
) -> c_int;

/// Shared body of xCreate / xConnect: `resolve` finds the data from the module
/// arguments (argv[0] module, [1] schema, [2] table name, [3..] arguments) and returns it
/// with its registry key (0 for none).
///
/// # Safety
/// Arguments as SQLite passes them to xConnect.
pub(crate) unsafe fn connect_table(
    db: *mut ffi::sqlite3,
    argc: c_int,
    argv: *const *const c_char,
    pp_vtab: *mut *mut ffi::sqlite3_vtab,
    err: *mut *mut c_char,
    resolve: impl FnOnce(&[String]) -> Result<(Slot, u64), String>,
) -> c_int {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
        // SAFETY: argc strings from SQLite.
        let args: Vec<String> = (0..argc.max(0) as usize)
            .map(|i| unsafe { arg(argv, i) })
            .collect();
        let name = args.get(2).cloned().unwrap_or_default();
        let (slot, key) = resolve(&args)?;
        let decl =
            std::ffi::CString::new(current(&slot).declaration()).map_err(|e| e.to_string())?;
        // SAFETY: db is the connection SQLite is connecting us to.
        let rc = unsafe { ffi::sqlite3_declare_vtab(db, decl.as_ptr()) };
        if rc != ffi::SQLITE_OK {
            return Err(format!("arrow table {name:?}: cannot declare its columns"));
        }
        let vtab = Box::new(VTab {
            // SAFETY: plain C struct; SQLite fills it.
            base: unsafe { std::mem::zeroed() },
            slot,
            key,
            name,
        });
        // SAFETY: pp_vtab is writable; VTab is repr(C) with the base struct first.
        unsafe { *pp_vtab = Box::into_raw(vtab).cast::<ffi::sqlite3_vtab>() };
        Ok(())
    }));
    // SAFETY: err is SQLite's error slot for this call.
    unsafe { connect_outcome(result, "arrow", err) }
}

unsafe extern "C" fn x_connect(
    db: *mut ffi::sqlite3,
    aux: *mut c_void,
    argc: c_int,
    argv: *const *const c_char,
    pp_vtab: *mut *mut ffi::sqlite3_vtab,
    err: *mut *mut c_char,
) -> c_int {
    // SAFETY: forwarded from SQLite; aux is the Box<usize> given to create_module_v2.
    unsafe {
        connect_table(db, argc, argv, pp_vtab, err, |args| {
            if args.len() != 4 {
                return Err(
                    "arrow tables are created by sqlite_quiver.register_arrow(), not by hand"
                        .to_string(),
                );
            }
            if !args[1].eq_ignore_ascii_case("temp") {
                return Err("arrow tables live in the temp schema; use register_arrow()".into());
            }
            let name = &args[2];
            let key: u64 = args[3]
                .trim()
                .parse()
                .map_err(|_| "arrow tables are created by sqlite_quiver.register_arrow()")?;
            let owner = *aux.cast::<usize>();
            let table = lookup(owner, key).ok_or_else(|| {
                format!(
                    "arrow table {name:?}: no data registered under key {key} (arrow tables \
                     are created by sqlite_quiver.register_arrow())"
                )
            })?;
            Ok((table, key))
        })
    }
}

unsafe extern "C" fn x_disconnect(vtab: *mut ffi::sqlite3_vtab) -> c_int {
    // SAFETY: vtab was made by Box::into_raw in x_connect and SQLite drops it once.
    unsafe {
        ffi::sqlite3_free((*vtab).zErrMsg.cast::<c_void>());
        drop(Box::from_raw(vtab.cast::<VTab>()));
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_destroy(vtab: *mut ffi::sqlite3_vtab) -> c_int {
    // SAFETY: vtab is one of ours.
    let key = unsafe { (*vtab.cast::<VTab>()).key };
    remove(key);
    // SAFETY: as for x_disconnect.
    unsafe { x_disconnect(vtab) }
}

unsafe extern "C" fn x_best_index(
    vtab: *mut ffi::sqlite3_vtab,
    info: *mut ffi::sqlite3_index_info,
) -> c_int {
    // SAFETY: vtab is one of ours; SQLite hands a valid index_info whose arrays have
    // nConstraint / nOrderBy entries, and frees idxStr with sqlite3_free.
    unsafe {
        guard(vtab, || {
            let table = current(&(*vtab.cast::<VTab>()).slot);
            let info = &mut *info;
            let constraints: Vec<Constraint> = (0..info.nConstraint.max(0) as usize)
                .map(|i| {
                    let c = &*info.aConstraint.add(i);
                    let coll = ffi::sqlite3_vtab_collation(info, i as c_int);
                    Constraint {
                        column: c.iColumn,
                        op: c.op,
                        usable: c.usable != 0,
                        binary: coll.is_null()
                            || CStr::from_ptr(coll)
                                .to_bytes()
                                .eq_ignore_ascii_case(b"BINARY"),
                        is_in: c.op as c_int == ffi::SQLITE_INDEX_CONSTRAINT_EQ
                            && host_api::is_in_list(info, i as c_int),
                    }
                })
                .collect();
            let order_by: Vec<OrderBy> = (0..info.nOrderBy.max(0) as usize)
                .map(|i| {
                    let t = &*info.aOrderBy.add(i);
                    OrderBy {
                        column: t.iColumn,
                        desc: t.desc != 0,
                    }
                })
                .collect();
            let choice = plan::choose(&table, &constraints, &order_by, limits_are_reliable());
            for (i, (argv, omit)) in choice.usage.iter().enumerate() {
                let usage = &mut *info.aConstraintUsage.add(i);
                usage.argvIndex = *argv;
                usage.omit = u8::from(*omit) as _;
            }
            for &i in &choice.whole_in {
                host_api::take_in_list(info, i as c_int);
            }
            info.orderByConsumed = c_int::from(choice.order_consumed);
            info.estimatedRows = choice.rows;
            info.estimatedCost = choice.cost;
            if let Some(idx) = choice.idx_str {
                info.idxNum = 1;
                info.idxStr = sqlite_string(&idx);
                info.needToFreeIdxStr = 1;
            }
            ffi::SQLITE_OK
        })
    }
}

unsafe extern "C" fn x_open(
    vtab: *mut ffi::sqlite3_vtab,
    pp_cursor: *mut *mut ffi::sqlite3_vtab_cursor,
) -> c_int {
    // SAFETY: vtab is one of ours.
    let table = current(unsafe { &(*vtab.cast::<VTab>()).slot });
    let cursor = Box::new(Cursor {
        // SAFETY: plain C struct; SQLite fills pVtab.
        base: unsafe { std::mem::zeroed() },
        table,
        filters: Vec::new(),
        selection: None,
        batch: 0,
        chunk_lo: 0,
        chunk_hi: 0,
        pos: 0,
        rowid_range: (0, usize::MAX),
        empty: true,
        ordered: None,
    });
    // SAFETY: pp_cursor is writable; Cursor is repr(C) with the base struct first.
    unsafe { *pp_cursor = Box::into_raw(cursor).cast::<ffi::sqlite3_vtab_cursor>() };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_close(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: made by Box::into_raw in x_open; SQLite closes each cursor once.
    unsafe { drop(Box::from_raw(cursor.cast::<Cursor>())) };
    ffi::SQLITE_OK
}

/// Whether this SQLite hands LIMIT / OFFSET to a virtual table only when the table may
/// apply them. Older releases (3.38 to at least 3.40) also hand a compound SELECT's
/// OFFSET to each of its arms, and accept the plan when a WHERE term is left unused;
/// 3.46.0 is the first release checked to refuse both. (One case no table can see:
/// an ORDER BY of 64 or more terms, which SQLite drops from planning but still hands
/// over the LIMIT / OFFSET for, as if there were none.)
fn limits_are_reliable() -> bool {
    // SAFETY: a plain version query, valid at any time.
    unsafe { ffi::sqlite3_libversion_number() >= 3_046_000 }
}

unsafe extern "C" fn x_filter(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    _idx_num: c_int,
    idx_str: *const c_char,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) -> c_int {
    // SAFETY: cursor is one of ours (x_open); argv holds argc live values.
    unsafe {
        let vtab = (*cursor).pVtab;
        guard(vtab, || {
            let c = &mut *cursor.cast::<Cursor>();
            let idx = if idx_str.is_null() {
                String::new()
            } else {
                CStr::from_ptr(idx_str).to_string_lossy().into_owned()
            };
            let Some(plan) = Plan::decode(&idx) else {
                return fail(vtab, "arrow: bad index plan");
            };
            if plan.filters.len() + plan.limits.len() != argc as usize {
                return fail(vtab, "arrow: index plan does not match its arguments");
            }
            // Rows to skip, and how many to produce after them (None: all).
            let mut skip = 0usize;
            let mut take: Option<usize> = None;
            for (k, limit) in plan.limits.iter().enumerate() {
                let Some(n) = limit_value(value_ref(*argv.add(plan.filters.len() + k))) else {
                    return fail(vtab, "arrow: LIMIT and OFFSET must be integers");
                };
                // Negative LIMIT: no limit; negative OFFSET: none (as SQLite).
                match limit {
                    Limit::Limit => take = usize::try_from(n).ok(),
                    Limit::Offset => skip = usize::try_from(n).unwrap_or(0),
                }
            }
            c.filters.clear();
            c.rowid_range = (0, usize::MAX);
            c.empty = false;
            for (i, f) in plan.filters.iter().enumerate() {
                let (column, op) = (f.column, f.op);
                if f.whole_in && column >= 0 {
                    let values = match host_api::in_list_values(*argv.add(i)) {
                        Ok(v) => v,
                        Err(m) => return fail(vtab, &format!("arrow: {m}")),
                    };
                    let col = column as usize;
                    match Filter::prepare_in(col, c.table.classes[col], &values) {
                        Prepared::Filter(f) => c.filters.push(f),
                        Prepared::Nothing => c.empty = true,
                        Prepared::Everything => {}
                    }
                    continue;
                }
                let value: ValueRef<'_> = value_ref(*argv.add(i));
                if column < 0 {
                    // rowid = ?: SQLite compares rowids as integers.
                    match rowid_target(value) {
                        RowidTarget::Row(r) if r >= 0 => {
                            let r = r as usize;
                            c.rowid_range = (c.rowid_range.0.max(r), c.rowid_range.1.min(r + 1));
                        }
                        RowidTarget::Row(_) | RowidTarget::Nothing => c.empty = true,
                        RowidTarget::Unknown => {}
                    }
                    continue;
                }
                let col = column as usize;
                match Filter::prepare(col, op, c.table.classes[col], value) {
                    Prepared::Filter(f) => c.filters.push(f),
                    Prepared::Nothing => c.empty = true,
                    Prepared::Everything => {}
                }
            }
            c.batch = 0;
            c.chunk_lo = 0;
            c.chunk_hi = 0;
            c.pos = 0;
            c.ordered = None;
            if !c.empty {
                c.settle();
                if !plan.order.is_empty() {
                    let mut rows = Vec::new();
                    while !c.eof() {
                        rows.push((c.batch as u32, c.row() as u32));
                        c.advance();
                    }
                    let table = c.table.clone();
                    let first = take.map(|t| t.saturating_add(skip));
                    let mut ordered = Ordered::new(&table, rows, &plan.order, first);
                    ordered.prepare(0);
                    c.ordered = Some(ordered);
                    c.pos = 0;
                }
                c.skip(skip);
            }
            ffi::SQLITE_OK
        })
    }
}

unsafe extern "C" fn x_next(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: cursor is one of ours.
    unsafe {
        let vtab = (*cursor).pVtab;
        guard(vtab, || {
            let c = &mut *cursor.cast::<Cursor>();
            c.advance();
            ffi::SQLITE_OK
        })
    }
}

unsafe extern "C" fn x_eof(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: cursor is one of ours.
    let c = unsafe { &*cursor.cast::<Cursor>() };
    c_int::from(c.eof())
}

/// Sets text as the result of `ctx` (SQLite copies it).
///
/// # Safety
/// `ctx` must be a live result context.
#[inline]
unsafe fn set_text(ctx: *mut ffi::sqlite3_context, t: &str) {
    // SAFETY: per the contract; SQLITE_TRANSIENT makes SQLite copy the bytes.
    unsafe {
        ffi::sqlite3_result_text64(
            ctx,
            t.as_ptr().cast::<c_char>(),
            t.len() as u64,
            ffi::SQLITE_TRANSIENT(),
            ffi::SQLITE_UTF8 as u8,
        )
    }
}

/// Sets `value` as the result of `ctx`.
///
/// # Safety
/// `ctx` must be a live result context.
pub unsafe fn set_result(ctx: *mut ffi::sqlite3_context, value: SqlValue<'_>) {
    // SAFETY: per the contract; SQLITE_TRANSIENT makes SQLite copy text and blobs.
    unsafe {
        match value {
            SqlValue::Null => ffi::sqlite3_result_null(ctx),
            SqlValue::Integer(i) => ffi::sqlite3_result_int64(ctx, i),
            SqlValue::Real(r) => ffi::sqlite3_result_double(ctx, r),
            SqlValue::Text(t) => ffi::sqlite3_result_text64(
                ctx,
                t.as_ptr().cast::<c_char>(),
                t.len() as u64,
                ffi::SQLITE_TRANSIENT(),
                ffi::SQLITE_UTF8 as u8,
            ),
            SqlValue::Short(t) => ffi::sqlite3_result_text64(
                ctx,
                t.as_str().as_ptr().cast::<c_char>(),
                t.as_str().len() as u64,
                ffi::SQLITE_TRANSIENT(),
                ffi::SQLITE_UTF8 as u8,
            ),
            SqlValue::Blob(b) => ffi::sqlite3_result_blob64(
                ctx,
                b.as_ptr().cast::<c_void>(),
                b.len() as u64,
                ffi::SQLITE_TRANSIENT(),
            ),
            SqlValue::Vector(b, subtype) => {
                ffi::sqlite3_result_blob64(
                    ctx,
                    b.as_ptr().cast::<c_void>(),
                    b.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                );
                ffi::sqlite3_result_subtype(ctx, subtype);
            }
        }
    }
}

unsafe extern "C" fn x_column(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    ctx: *mut ffi::sqlite3_context,
    column: c_int,
) -> c_int {
    // SAFETY: cursor is one of ours and not at EOF when SQLite asks for a column.
    unsafe {
        let vtab = (*cursor).pVtab;
        guard(vtab, || {
            let c = &*cursor.cast::<Cursor>();
            let (batch_index, row) = c.current();
            let Some(batch) = c.table.batches.get(batch_index) else {
                ffi::sqlite3_result_null(ctx);
                return ffi::SQLITE_OK;
            };
            let Some(reader) = batch.columns.get(column as usize) else {
                ffi::sqlite3_result_null(ctx);
                return ffi::SQLITE_OK;
            };
            match reader {
                Reader::I64(a) if !a.is_null(row) => ffi::sqlite3_result_int64(ctx, a.value(row)),
                Reader::F64(a) if !a.is_null(row) && !a.value(row).is_nan() => {
                    ffi::sqlite3_result_double(ctx, a.value(row))
                }
                Reader::Utf8(a) if !a.is_null(row) => set_text(ctx, a.value(row)),
                Reader::Utf8View(a) if !a.is_null(row) => set_text(ctx, a.value(row)),
                Reader::LargeUtf8(a) if !a.is_null(row) => set_text(ctx, a.value(row)),
                Reader::Timestamp {
                    values,
                    nulls,
                    unit,
                    tz: None,
                } if !nulls.as_ref().is_some_and(|b| b.is_null(row)) => {
                    // Formatted on the stack and copied by SQLite: the same text as
                    // Reader::value, without the SqlValue round trip.
                    match crate::arrow::temporal::format_timestamp(values[row], *unit, None) {
                        Some(t) => set_text(ctx, &t),
                        None => ffi::sqlite3_result_null(ctx),
                    }
                }
                _ => set_result(ctx, reader.value(row)),
            }
            ffi::SQLITE_OK
        })
    }
}

unsafe extern "C" fn x_rowid(cursor: *mut ffi::sqlite3_vtab_cursor, rowid: *mut i64) -> c_int {
    // SAFETY: cursor is one of ours; rowid is writable.
    unsafe {
        let c = &*cursor.cast::<Cursor>();
        let (batch, row) = c.current();
        let offset = c.table.batches.get(batch).map_or(0, |b| b.offset);
        *rowid = (offset + row) as i64;
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_update(
    vtab: *mut ffi::sqlite3_vtab,
    _argc: c_int,
    _argv: *mut *mut ffi::sqlite3_value,
    _rowid: *mut i64,
) -> c_int {
    // SAFETY: vtab is one of ours.
    unsafe {
        let name = (*vtab.cast::<VTab>()).name.clone();
        fail(
            vtab,
            &format!(
                "arrow table {name:?} is read-only (register new data with register_arrow, \
                 or copy it into a native table with insert_arrow / CREATE TABLE AS)"
            ),
        )
    }
}

unsafe extern "C" fn x_rename(vtab: *mut ffi::sqlite3_vtab, _new: *const c_char) -> c_int {
    // SAFETY: vtab is one of ours.
    unsafe {
        fail(
            vtab,
            "arrow tables cannot be renamed; register the data again",
        )
    }
}

/// A module over `ArrowTable`s whose tables are made by `connect` (the scan, filter,
/// read-only callbacks are shared).
pub(crate) const fn module(connect: XConnect) -> ffi::sqlite3_module {
    ffi::sqlite3_module {
        iVersion: 1,
        xCreate: Some(connect),
        xConnect: Some(connect),
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
        // SAFETY: the remaining members are optional callbacks; all-zero means None.
        ..unsafe { std::mem::zeroed() }
    }
}

static MODULE: ffi::sqlite3_module = module(x_connect);

/// Called by SQLite when the connection closes (or the module is replaced): drops the
/// registry entries of that connection.
unsafe extern "C" fn destroy_client_data(p: *mut c_void) {
    let _ = catch_unwind(|| {
        // SAFETY: p is the Box<usize> made in load_module; SQLite calls this once.
        let db = *unsafe { Box::from_raw(p.cast::<usize>()) };
        forget_connection(db);
    });
}

pub fn load_module(conn: &Connection) -> rusqlite::Result<()> {
    // SAFETY: the handle of a live connection, kept as the module's client data.
    let db = unsafe { conn.handle() };
    let aux = Box::into_raw(Box::new(db as usize));
    // SAFETY: x_connect reads aux as the Box<usize> made here, and SQLite frees it with
    // destroy_client_data (also on failure).
    unsafe {
        create_module_with_aux(
            conn,
            c"arrow",
            &MODULE,
            aux.cast::<c_void>(),
            Some(destroy_client_data),
        )
    }
}
