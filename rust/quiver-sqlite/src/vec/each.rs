//! `vec_each(vector)`: one row per element, as in sqlite-vec.
//!
//! Written on the raw module API rather than rusqlite's `VTab` because the argument's
//! subtype (which says int8 / bit) must be read in xFilter, and rusqlite's `Filters`
//! does not expose it.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use rusqlite::ffi;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Result};

use crate::sqlite::value::value_ref;
use crate::sqlite::vtab::{create_module, fail};
use crate::vec::vector::{read_finite_vector, Vector};

const SCHEMA: &CStr = c"CREATE TABLE x(value, vector HIDDEN)";
const COLUMN_VALUE: c_int = 0;
const COLUMN_VECTOR: c_int = 1;

/// The elements being walked, owned by the cursor.
enum Elements {
    Float32(Vec<f32>),
    Int8(Vec<i8>),
    Bit(Vec<u8>),
}

impl Elements {
    fn len(&self) -> usize {
        match self {
            Elements::Float32(v) => v.len(),
            Elements::Int8(v) => v.len(),
            Elements::Bit(v) => v.len() * 8,
        }
    }
}

#[repr(C)]
struct Cursor {
    base: ffi::sqlite3_vtab_cursor,
    elements: Elements,
    row: usize,
}

unsafe extern "C" fn x_connect(
    db: *mut ffi::sqlite3,
    _aux: *mut c_void,
    _argc: c_int,
    _argv: *const *const c_char,
    pp_vtab: *mut *mut ffi::sqlite3_vtab,
    _err: *mut *mut c_char,
) -> c_int {
    // SAFETY: db is the connection SQLite is connecting us to; pp_vtab is writable.
    unsafe {
        let rc = ffi::sqlite3_declare_vtab(db, SCHEMA.as_ptr());
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let vtab: Box<ffi::sqlite3_vtab> = Box::new(std::mem::zeroed());
        *pp_vtab = Box::into_raw(vtab);
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_disconnect(vtab: *mut ffi::sqlite3_vtab) -> c_int {
    // SAFETY: vtab was made by Box::into_raw in x_connect and SQLite drops it once.
    unsafe {
        ffi::sqlite3_free((*vtab).zErrMsg.cast::<c_void>());
        drop(Box::from_raw(vtab));
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_best_index(
    _vtab: *mut ffi::sqlite3_vtab,
    info: *mut ffi::sqlite3_index_info,
) -> c_int {
    // SAFETY: SQLite hands a valid index_info whose arrays have nConstraint entries.
    unsafe {
        let info = &mut *info;
        for i in 0..info.nConstraint as usize {
            let c = &*info.aConstraint.add(i);
            if c.iColumn == COLUMN_VECTOR
                && c.usable != 0
                && c.op == ffi::SQLITE_INDEX_CONSTRAINT_EQ as u8
            {
                let usage = &mut *info.aConstraintUsage.add(i);
                usage.argvIndex = 1;
                usage.omit = 1;
                info.idxNum = 1;
                info.estimatedCost = 10.0;
                info.estimatedRows = 100;
                return ffi::SQLITE_OK;
            }
        }
        // No vector given: this plan cannot run; xFilter reports it if SQLite insists.
        info.idxNum = 0;
        info.estimatedCost = 1e300;
        info.estimatedRows = i64::MAX;
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_open(
    _vtab: *mut ffi::sqlite3_vtab,
    pp_cursor: *mut *mut ffi::sqlite3_vtab_cursor,
) -> c_int {
    let cursor = Box::new(Cursor {
        // SAFETY: sqlite3_vtab_cursor is a plain C struct; SQLite fills pVtab.
        base: unsafe { std::mem::zeroed() },
        elements: Elements::Float32(Vec::new()),
        row: 0,
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

fn read_elements(value: ValueRef<'_>, subtype: u32) -> Result<Elements, String> {
    let v = read_finite_vector(value, subtype).map_err(|m| format!("vec_each: {m}"))?;
    Ok(match v {
        Vector::Float32(x) => Elements::Float32(x.into_owned()),
        Vector::Int8(x) => Elements::Int8(x.into_owned()),
        Vector::Bit(x) => Elements::Bit(x.into_owned()),
    })
}

unsafe extern "C" fn x_filter(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    idx_num: c_int,
    _idx_str: *const c_char,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) -> c_int {
    // SAFETY: cursor is one of ours (x_open); argv holds argc live values.
    unsafe {
        let vtab = (*cursor).pVtab;
        if idx_num != 1 || argc < 1 {
            return fail(
                vtab,
                "vec_each: expected a vector argument: vec_each(vector)",
            );
        }
        let value = *argv;
        let parsed = catch_unwind(AssertUnwindSafe(|| {
            read_elements(value_ref(value), ffi::sqlite3_value_subtype(value))
        }));
        match parsed {
            Ok(Ok(elements)) => {
                let c = &mut *cursor.cast::<Cursor>();
                c.elements = elements;
                c.row = 0;
                ffi::SQLITE_OK
            }
            Ok(Err(message)) => fail(vtab, &message),
            Err(_) => fail(vtab, "vec_each: internal error (panic)"),
        }
    }
}

unsafe extern "C" fn x_next(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: cursor is one of ours.
    unsafe { (*cursor.cast::<Cursor>()).row += 1 };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_eof(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: cursor is one of ours.
    let c = unsafe { &*cursor.cast::<Cursor>() };
    c_int::from(c.row >= c.elements.len())
}

unsafe extern "C" fn x_column(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    ctx: *mut ffi::sqlite3_context,
    column: c_int,
) -> c_int {
    // SAFETY: cursor is one of ours and not at EOF when SQLite asks for a column.
    unsafe {
        let c = &*cursor.cast::<Cursor>();
        if column != COLUMN_VALUE || c.row >= c.elements.len() {
            ffi::sqlite3_result_null(ctx);
            return ffi::SQLITE_OK;
        }
        match &c.elements {
            Elements::Float32(v) => ffi::sqlite3_result_double(ctx, f64::from(v[c.row])),
            Elements::Int8(v) => ffi::sqlite3_result_int64(ctx, i64::from(v[c.row])),
            Elements::Bit(v) => {
                let bit = (v[c.row / 8] >> (c.row % 8)) & 1;
                ffi::sqlite3_result_int64(ctx, i64::from(bit))
            }
        }
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_rowid(cursor: *mut ffi::sqlite3_vtab_cursor, rowid: *mut i64) -> c_int {
    // SAFETY: cursor is one of ours; rowid is writable.
    unsafe { *rowid = (*cursor.cast::<Cursor>()).row as i64 };
    ffi::SQLITE_OK
}

/// Eponymous-only (no xCreate), read-only.
static MODULE: ffi::sqlite3_module = ffi::sqlite3_module {
    iVersion: 0,
    xCreate: None,
    xConnect: Some(x_connect),
    xBestIndex: Some(x_best_index),
    xDisconnect: Some(x_disconnect),
    xDestroy: Some(x_disconnect),
    xOpen: Some(x_open),
    xClose: Some(x_close),
    xFilter: Some(x_filter),
    xNext: Some(x_next),
    xEof: Some(x_eof),
    xColumn: Some(x_column),
    xRowid: Some(x_rowid),
    // SAFETY: the remaining members are optional callbacks; all-zero means None.
    ..unsafe { std::mem::zeroed() }
};

pub fn load_module(conn: &Connection) -> Result<()> {
    create_module(conn, c"vec_each", &MODULE)
}
