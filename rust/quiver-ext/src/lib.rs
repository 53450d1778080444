//! `libquiver`: load with `.load ./libquiver` in the sqlite3 shell, or
//! `sqlite3_load_extension(db, "libquiver", NULL, ...)` from any host.

use std::ffi::{c_char, c_int};

use quiver_sqlite::ffi;

/// SQLite's entry point for this extension.
///
/// # Safety
/// Called by SQLite's extension loader with a live connection and its API table.
#[no_mangle]
pub unsafe extern "C" fn sqlite3_quiver_init(
    db: *mut ffi::sqlite3,
    pz_err_msg: *mut *mut c_char,
    p_api: *mut ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: forwarded unchanged from SQLite.
    unsafe { quiver_sqlite::entry::quiver_init(db, pz_err_msg, p_api) }
}
