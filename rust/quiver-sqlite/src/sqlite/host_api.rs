//! SQLite APIs newer than the 3.34 bindings of rusqlite's loadable-extension mode:
//! `sqlite3_vtab_in*` (3.38), for IN lists handed to xFilter whole, and
//! `sqlite3_is_interrupted` (3.41), which lets a model run outside SQLite's VM stop on
//! `sqlite3_interrupt`.
//!
//! In loadable mode they are read from the host's `sqlite3_api_routines`, whose layout
//! only ever grows at the end: after `txn_state` (the last 3.34 member) come
//! changes64, total_changes64 (3.37), autovacuum_pages (3.37), error_offset,
//! vtab_rhs_value, vtab_distinct, vtab_in, vtab_in_first, vtab_in_next (3.38). They are
//! used only when the host reports 3.38 or later.
//!
//! Also `sqlite3_vtab_config` with its argument: the loadable-mode binding drops the
//! variadic part, so it is called through the host's API table.

use std::ffi::c_int;

use rusqlite::ffi;

type VtabIn = unsafe extern "C" fn(*mut ffi::sqlite3_index_info, c_int, c_int) -> c_int;
type VtabInIter =
    unsafe extern "C" fn(*mut ffi::sqlite3_value, *mut *mut ffi::sqlite3_value) -> c_int;

#[cfg(feature = "loadable")]
fn api_slot(extra: usize) -> Option<*const ()> {
    // The SQLite version that added each member past the 3.34 table (see above; then
    // deserialize, serialize, db_name (3.39), value_encoding (3.40), is_interrupted (3.41)).
    let since = match extra {
        0 | 1 => 3_036_001,
        2 => 3_037_000,
        3..=8 => 3_038_000,
        9..=11 => 3_039_000,
        12 => 3_040_000,
        _ => 3_041_000,
    };
    // SAFETY: a plain getter.
    if unsafe { ffi::sqlite3_libversion_number() } < since {
        return None;
    }
    let api = crate::sqlite::entry::bound_api();
    if api.is_null() {
        return None;
    }
    let base = std::mem::size_of::<ffi::sqlite3_api_routines>() / std::mem::size_of::<usize>();
    // SAFETY: the host is new enough to have this member, which comes at this place
    // after the 3.34 ones (see the module comment); each is a function pointer.
    let p = unsafe { *(api as *const *const ()).add(base + extra) };
    (!p.is_null()).then_some(p)
}

#[cfg(feature = "loadable")]
fn vtab_in_fn() -> Option<VtabIn> {
    // SAFETY: slot 6 past the 3.34 table is vtab_in, of this signature.
    api_slot(6).map(|p| unsafe { std::mem::transmute::<*const (), VtabIn>(p) })
}

#[cfg(feature = "loadable")]
fn vtab_in_iter(first: bool) -> Option<VtabInIter> {
    let slot = if first { 7 } else { 8 };
    // SAFETY: slots 7 and 8 are vtab_in_first and vtab_in_next, of this signature.
    api_slot(slot).map(|p| unsafe { std::mem::transmute::<*const (), VtabInIter>(p) })
}

type IsInterrupted = unsafe extern "C" fn(*mut ffi::sqlite3) -> c_int;

#[cfg(feature = "loadable")]
fn is_interrupted_fn() -> Option<IsInterrupted> {
    // SAFETY: slot 13 past the 3.34 table is is_interrupted, of this signature.
    api_slot(13).map(|p| unsafe { std::mem::transmute::<*const (), IsInterrupted>(p) })
}

#[cfg(not(feature = "loadable"))]
fn is_interrupted_fn() -> Option<IsInterrupted> {
    Some(ffi::sqlite3_is_interrupted as IsInterrupted)
}

/// Whether `sqlite3_interrupt` was called on `db` (None: the host SQLite is older than
/// 3.41 and cannot tell). Callable from any thread, like `sqlite3_interrupt` itself.
///
/// # Safety
/// `db` must be a live connection.
pub unsafe fn is_interrupted(db: *mut ffi::sqlite3) -> Option<bool> {
    // SAFETY: the caller keeps db live.
    is_interrupted_fn().map(|f| unsafe { f(db) } != 0)
}

#[cfg(not(feature = "loadable"))]
fn vtab_in_fn() -> Option<VtabIn> {
    Some(ffi::sqlite3_vtab_in as VtabIn)
}

#[cfg(not(feature = "loadable"))]
fn vtab_in_iter(first: bool) -> Option<VtabInIter> {
    Some(if first {
        ffi::sqlite3_vtab_in_first as VtabInIter
    } else {
        ffi::sqlite3_vtab_in_next as VtabInIter
    })
}

/// Whether constraint `i` is an IN that can be handed over whole; if so, asks for it.
///
/// # Safety
/// `info` must be the index_info of a running xBestIndex.
pub unsafe fn take_in_list(info: *mut ffi::sqlite3_index_info, i: c_int) -> bool {
    let Some(f) = vtab_in_fn() else {
        return false;
    };
    // SAFETY: per the contract; -1 only asks, 1 requests the whole list.
    unsafe { f(info, i, -1) != 0 && f(info, i, 1) != 0 }
}

/// Whether constraint `i` is an IN that could be handed over whole (asks only).
///
/// # Safety
/// `info` must be the index_info of a running xBestIndex.
pub unsafe fn is_in_list(info: *mut ffi::sqlite3_index_info, i: c_int) -> bool {
    // SAFETY: per the contract; -1 only asks.
    vtab_in_fn().is_some_and(|f| unsafe { f(info, i, -1) } != 0)
}

/// Whether IN lists can be handed over whole on this host.
pub fn in_lists_supported() -> bool {
    vtab_in_fn().is_some()
}

/// The values of an IN list handed over whole (errors without a module prefix).
///
/// # Safety
/// `list` must be the xFilter argument of a constraint taken with [`take_in_list`].
pub unsafe fn in_list_values(
    list: *mut ffi::sqlite3_value,
) -> Result<Vec<rusqlite::types::Value>, String> {
    let (Some(first), Some(next)) = (vtab_in_iter(true), vtab_in_iter(false)) else {
        return Err("IN lists need SQLite 3.38 or newer".to_string());
    };
    let mut out = Vec::new();
    let mut v: *mut ffi::sqlite3_value = std::ptr::null_mut();
    // SAFETY: per the contract; each value is valid until the next call, and copied.
    unsafe {
        let mut rc = first(list, &mut v);
        while rc == ffi::SQLITE_OK && !v.is_null() {
            out.push(super::value::owned(super::value::value_ref(v)));
            rc = next(list, &mut v);
        }
        if rc != ffi::SQLITE_OK && rc != ffi::SQLITE_DONE {
            return Err(format!("reading an IN list failed (code {rc})"));
        }
    }
    Ok(out)
}

/// Declares that the virtual table being created or connected honours ON CONFLICT
/// (`SQLITE_VTAB_CONSTRAINT_SUPPORT`): an xUpdate that returns SQLITE_CONSTRAINT under
/// `OR IGNORE` skips the row without counting a change, as a plain table does.
/// Returns SQLite's result code.
///
/// # Safety
/// Only inside xCreate / xConnect, with their live `db`.
pub unsafe fn declare_constraint_support(db: *mut ffi::sqlite3) -> c_int {
    #[cfg(feature = "loadable")]
    {
        let api = crate::sqlite::entry::bound_api();
        if api.is_null() {
            return ffi::SQLITE_MISUSE;
        }
        // SAFETY: api is the host's live API table; vtab_config is variadic in C and
        // takes one int after SQLITE_VTAB_CONSTRAINT_SUPPORT; db is live (contract).
        unsafe {
            match (*api).vtab_config {
                Some(f) => f(db, ffi::SQLITE_VTAB_CONSTRAINT_SUPPORT, 1 as c_int),
                None => ffi::SQLITE_MISUSE,
            }
        }
    }
    #[cfg(not(feature = "loadable"))]
    {
        // SAFETY: db is live (contract); the option takes one int.
        unsafe { ffi::sqlite3_vtab_config(db, ffi::SQLITE_VTAB_CONSTRAINT_SUPPORT, 1 as c_int) }
    }
}
