//! The vec0 virtual table on SQLite's raw module API (rusqlite's VTab does not expose
//! argument subtypes, IN lists, LIMIT constraints, nochange or xShadowName).
//!
//! Every callback body runs inside `catch_unwind`; errors become the table's zErrMsg.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use rusqlite::ffi;
use rusqlite::Connection;

use super::cache::{self};
use super::config::TableConfig;
use super::plan::{self, Constraint, OrderTerm};
use super::shadow::Shadow;
use crate::sqlite::error::error_message;
use crate::sqlite::vtab::{connect_outcome, create_module, sqlite_string};
use crate::sqlite::{constraint, host_api};

use super::vtab::{guard, Vec0Tab};
use super::{cursor, pending, transaction, write};

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
        // SAFETY: db is live; a negative new value only reads the limit.
        let max_blob = unsafe { ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_LENGTH, -1) };
        let mut shadow = Shadow {
            schema: a[1].to_string(),
            name: a[2].to_string(),
            config,
        };
        // SAFETY: db is the live connection SQLite is creating the table on; the
        // Connection does not own it (from_handle) and lives no longer than the table.
        let conn = unsafe { Connection::from_handle(db) }.map_err(error_message)?;
        let declare = CString::new(shadow.declare_sql()).map_err(|e| e.to_string())?;
        // SAFETY: db is live; declare is NUL-terminated.
        let rc = unsafe { ffi::sqlite3_declare_vtab(db, declare.as_ptr()) };
        if rc != ffi::SQLITE_OK {
            return Err(format!(
                "vec0: could not declare the table schema (code {rc})"
            ));
        }
        // SAFETY: we are inside xCreate / xConnect for db.
        let rc = unsafe { host_api::declare_constraint_support(db) };
        if rc != ffi::SQLITE_OK {
            return Err(format!(
                "vec0: could not declare ON CONFLICT support (code {rc})"
            ));
        }
        if create {
            check_chunk_bytes(&shadow.config, usize::try_from(max_blob).unwrap_or(0))?;
            shadow.create(&conn).map_err(error_message)?;
        } else {
            shadow.open_existing(&conn).map_err(error_message)?;
            check_chunk_bytes(&shadow.config, usize::try_from(max_blob).unwrap_or(0))?;
        }
        let tx = pending::register(&conn, &shadow);
        Ok(Box::new(Vec0Tab {
            // SAFETY: a plain C struct; SQLite fills it.
            base: unsafe { std::mem::zeroed() },
            db,
            conn,
            shadow,
            tx,
            oversample: Default::default(),
            nprobe: Default::default(),
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

/// A chunk of vectors is one BLOB, written whole (and zero-filled) on the first insert
/// into it: refuse, when the table is declared (and on connect, for a file from
/// elsewhere), a chunk larger than the largest BLOB SQLite allows here, before any
/// insert allocates it.
fn check_chunk_bytes(config: &TableConfig, max_blob: usize) -> Result<(), String> {
    for (i, col) in config.vector_columns() {
        let per_vector = col.bytes();
        let chunk = per_vector.saturating_mul(config.chunk_size);
        if chunk > max_blob {
            return Err(format!(
                "vec0: column '{}': a chunk of chunk_size={} vectors of {per_vector} bytes is \
                 {chunk} bytes, more than SQLite's largest BLOB ({max_blob} bytes, \
                 SQLITE_LIMIT_LENGTH); use chunk_size={} or less",
                config.columns[i].name,
                config.chunk_size,
                (max_blob / per_vector.max(1)) / 8 * 8
            ));
        }
    }
    Ok(())
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
        pending::unregister(&t.conn, &t.shadow, &t.tx);
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
            pending::lock(&t.tx).discard();
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
            pending::lock(&t.tx)
                .new_level(&t.shadow, &t.conn)
                .map_err(error_message)?;
            t.conn.flush_prepared_statement_cache();
            cache::forget(&t.conn, &t.shadow);
            t.shadow.rename(&t.conn, new_name).map_err(error_message)?;
            pending::unregister(&t.conn, &t.shadow, &t.tx);
            t.shadow.name = new_name.to_string();
            t.tx = pending::register(&t.conn, &t.shadow);
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
            .or_else(|| name.strip_prefix("ivf_centroids"))
            .or_else(|| name.strip_prefix("ivf_assign"))
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

static MODULE: ffi::sqlite3_module = ffi::sqlite3_module {
    iVersion: 3,
    xCreate: Some(x_create),
    xConnect: Some(x_connect),
    xBestIndex: Some(x_best_index),
    xDisconnect: Some(x_disconnect),
    xDestroy: Some(x_destroy),
    xOpen: Some(cursor::x_open),
    xClose: Some(cursor::x_close),
    xFilter: Some(cursor::x_filter),
    xNext: Some(cursor::x_next),
    xEof: Some(cursor::x_eof),
    xColumn: Some(cursor::x_column),
    xRowid: Some(cursor::x_rowid),
    xUpdate: Some(write::x_update),
    xRename: Some(x_rename),
    xShadowName: Some(x_shadow_name),
    xBegin: Some(transaction::x_begin),
    xSync: Some(transaction::x_sync),
    xCommit: Some(transaction::x_commit),
    xRollback: Some(transaction::x_rollback),
    xSavepoint: Some(transaction::x_savepoint),
    xRelease: Some(transaction::x_release),
    xRollbackTo: Some(transaction::x_rollback_to),
    // SAFETY: the remaining members are optional callbacks; all-zero means None.
    ..unsafe { std::mem::zeroed() }
};

pub fn load_module(conn: &Connection) -> rusqlite::Result<()> {
    create_module(conn, c"vec0", &MODULE)
}
