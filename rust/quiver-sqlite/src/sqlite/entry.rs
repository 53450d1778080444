//! The loadable-extension entry point, shared by the Python module and the plain
//! `libquiver` extension.

use std::ffi::{c_char, c_int};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use rusqlite::{ffi, Connection};

/// The SQLite library this process bound us to first. rusqlite keeps one global API
/// table, so serving a second, different SQLite library (e.g. apsw's bundled copy next
/// to the stdlib's) would call the wrong library: refuse it.
static BOUND_API: AtomicPtr<ffi::sqlite3_api_routines> = AtomicPtr::new(ptr::null_mut());

const DIFFERENT_LIBRARY: &[u8] = b"sqlite-quiver is already bound to a different SQLite library \
in this process (for example the stdlib sqlite3 module and apsw each bring their own); use one \
SQLite library per process\0";

/// Whether an SQLite library has bound sqlite-quiver's API table in this process.
pub fn is_bound() -> bool {
    !BOUND_API.load(Ordering::Acquire).is_null()
}

/// The host's API table bound first (null before any load).
pub fn bound_api() -> *mut ffi::sqlite3_api_routines {
    BOUND_API.load(Ordering::Acquire)
}

fn init(conn: Connection) -> rusqlite::Result<bool> {
    crate::register(&conn)?;
    Ok(false)
}

/// Implements `sqlite3_quiver_init`.
///
/// # Safety
/// Must be called by SQLite as an extension entry point: `db` a live connection,
/// `p_api` the host's API table, `pz_err_msg` writable.
pub unsafe fn quiver_init(
    db: *mut ffi::sqlite3,
    pz_err_msg: *mut *mut c_char,
    p_api: *mut ffi::sqlite3_api_routines,
) -> c_int {
    if p_api.is_null() {
        return ffi::SQLITE_ERROR;
    }
    if let Err(bound) =
        BOUND_API.compare_exchange(ptr::null_mut(), p_api, Ordering::AcqRel, Ordering::Acquire)
    {
        if bound != p_api {
            // SAFETY: p_api is the host's live API table; its malloc gives memory
            // that SQLite frees with sqlite3_free, as pz_err_msg requires.
            unsafe {
                if let (Some(malloc), false) = ((*p_api).malloc, pz_err_msg.is_null()) {
                    let buf = malloc(DIFFERENT_LIBRARY.len() as c_int).cast::<u8>();
                    if !buf.is_null() {
                        ptr::copy_nonoverlapping(
                            DIFFERENT_LIBRARY.as_ptr(),
                            buf,
                            DIFFERENT_LIBRARY.len(),
                        );
                        *pz_err_msg = buf.cast::<c_char>();
                    }
                }
            }
            return ffi::SQLITE_ERROR;
        }
    }
    // SAFETY: forwarded unchanged from SQLite, per this function's contract.
    unsafe { Connection::extension_init2(db, pz_err_msg, p_api, init) }
}

/// Defines the exported `sqlite3_quiver_init` entry point in a cdylib (the Python
/// module and `libquiver` both export it).
#[macro_export]
macro_rules! export_entry_point {
    () => {
        /// SQLite's entry point: `sqlite3_load_extension(db, path, "sqlite3_quiver_init")`.
        ///
        /// # Safety
        /// Called by SQLite's extension loader with a live connection and its API table.
        #[no_mangle]
        pub unsafe extern "C" fn sqlite3_quiver_init(
            db: *mut $crate::ffi::sqlite3,
            pz_err_msg: *mut *mut ::std::ffi::c_char,
            p_api: *mut $crate::ffi::sqlite3_api_routines,
        ) -> ::std::ffi::c_int {
            // SAFETY: forwarded unchanged from SQLite.
            unsafe { $crate::sqlite::entry::quiver_init(db, pz_err_msg, p_api) }
        }
    };
}
