//! Helpers shared by the virtual tables written on SQLite's bare module API
//! (vec_each, vec0, arrow, arrow_ipc): error strings SQLite can free, the table's
//! error message, and module registration.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

use rusqlite::{ffi, Connection};

/// A copy of `message` in memory SQLite can free (for zErrMsg / pzErr).
pub fn sqlite_string(message: &str) -> *mut c_char {
    let bytes = message.as_bytes();
    // SAFETY: sqlite3_malloc returns either null or a buffer of the requested size;
    // we write len bytes plus the terminating NUL into it.
    unsafe {
        let p = ffi::sqlite3_malloc((bytes.len() + 1) as c_int).cast::<u8>();
        if !p.is_null() {
            ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            *p.add(bytes.len()) = 0;
        }
        p.cast::<c_char>()
    }
}

/// Sets the table's error message.
///
/// # Safety
/// `vtab` must be a live sqlite3_vtab.
pub unsafe fn set_error(vtab: *mut ffi::sqlite3_vtab, message: &str) {
    // SAFETY: per the contract; zErrMsg is owned by SQLite's allocator.
    unsafe {
        ffi::sqlite3_free((*vtab).zErrMsg.cast::<c_void>());
        (*vtab).zErrMsg = sqlite_string(message);
    }
}

/// Sets the table's error message and returns SQLITE_ERROR.
///
/// # Safety
/// `vtab` must be a live sqlite3_vtab.
pub unsafe fn fail(vtab: *mut ffi::sqlite3_vtab, message: &str) -> c_int {
    // SAFETY: per the contract.
    unsafe { set_error(vtab, message) };
    ffi::SQLITE_ERROR
}

/// The return code of an xCreate / xConnect body run under `catch_unwind`: SQLITE_OK,
/// or SQLITE_ERROR with its message (a panic named after `module`) stored in `pz_err`.
///
/// # Safety
/// `pz_err` must be null or SQLite's writable error-message slot.
pub unsafe fn connect_outcome(
    result: std::thread::Result<Result<(), String>>,
    module: &str,
    pz_err: *mut *mut c_char,
) -> c_int {
    let message = match result {
        Ok(Ok(())) => return ffi::SQLITE_OK,
        Ok(Err(m)) => m,
        Err(_) => format!("{module}: internal error (panic)"),
    };
    if !pz_err.is_null() {
        // SAFETY: per the contract; SQLite frees the message with sqlite3_free.
        unsafe { *pz_err = sqlite_string(&message) };
    }
    ffi::SQLITE_ERROR
}

/// Registers `module` under `name` on `conn`, with no client data.
pub fn create_module(
    conn: &Connection,
    name: &CStr,
    module: &'static ffi::sqlite3_module,
) -> rusqlite::Result<()> {
    // SAFETY: a null client data pointer with no destructor is always valid.
    unsafe { create_module_with_aux(conn, name, module, ptr::null_mut(), None) }
}

/// Registers `module` under `name` on `conn`. SQLite owns `aux` from here (also on
/// failure) and frees it with `destroy`.
///
/// # Safety
/// `aux` must be what `module`'s callbacks expect as client data, and `destroy` must
/// free exactly that.
pub unsafe fn create_module_with_aux(
    conn: &Connection,
    name: &CStr,
    module: &'static ffi::sqlite3_module,
    aux: *mut c_void,
    destroy: Option<unsafe extern "C" fn(*mut c_void)>,
) -> rusqlite::Result<()> {
    // SAFETY: module is 'static, the handle belongs to a live connection, and aux /
    // destroy are consistent per this function's contract.
    let rc = unsafe {
        ffi::sqlite3_create_module_v2(conn.handle(), name.as_ptr(), module, aux, destroy)
    };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None))
    }
}
