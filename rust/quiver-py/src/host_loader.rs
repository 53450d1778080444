//! Loads a SQLite extension into a stdlib `sqlite3.Connection` through the host SQLite
//! library's own C API, so it works even where Python was built without
//! `enable_load_extension`.
//!
//! The `sqlite3 *` handle sits right after `PyObject_HEAD` in CPython's connection
//! object. The host's functions are found with `dlsym` on the `_sqlite3` module's
//! handle, which finds them whether SQLite is linked statically or dynamically.
//! Loading is switched on for the C API only (never SQL's `load_extension()`), and
//! restored to its previous state afterwards.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::sync::OnceLock;

type LoadExtensionFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *mut *mut c_char) -> c_int;
type DbConfigFn = unsafe extern "C" fn(*mut c_void, c_int, ...) -> c_int;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type TotalChangesFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type LibVersionNumberFn = unsafe extern "C" fn() -> c_int;

/// Why the host library could not be used or the extension not loaded (raised as
/// `sqlite3.OperationalError`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct HostError(String);

const SQLITE_OK: c_int = 0;
const SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION: c_int = 1005;

/// The host SQLite library's functions this loader needs.
pub struct HostSqlite {
    load_extension: LoadExtensionFn,
    db_config: DbConfigFn,
    free: FreeFn,
    total_changes: TotalChangesFn,
    pub libversion_number: LibVersionNumberFn,
}

/// Looks `name` up in `handle` (a dlopen handle).
fn symbol(handle: *mut c_void, name: &CStr, library: &str) -> Result<*mut c_void, HostError> {
    // SAFETY: handle is a valid dlopen handle and name is NUL-terminated.
    let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
    if p.is_null() {
        Err(HostError(format!(
            "the SQLite library behind {library} does not export {} (built without \
             extension loading?)",
            name.to_string_lossy()
        )))
    } else {
        Ok(p)
    }
}

fn find_host(library: &str) -> Result<HostSqlite, HostError> {
    let path =
        CString::new(library).map_err(|_| HostError(format!("bad library path {library:?}")))?;
    // SAFETY: RTLD_NOLOAD only returns a handle to a library Python already loaded.
    let mut handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
    if handle.is_null() {
        // _sqlite3 built into the interpreter: search the process's global scope.
        // SAFETY: dlopen(NULL) returns the main program's handle.
        handle = unsafe { libc::dlopen(ptr::null(), libc::RTLD_LAZY) };
    }
    if handle.is_null() {
        return Err(HostError(format!("cannot open {library}")));
    }
    let sym = |name: &CStr| symbol(handle, name, library);
    // SAFETY: each symbol is the SQLite C function of that name, whose C signature the
    // Rust fn-pointer type mirrors.
    unsafe {
        Ok(HostSqlite {
            load_extension: std::mem::transmute::<*mut c_void, LoadExtensionFn>(sym(
                c"sqlite3_load_extension",
            )?),
            db_config: std::mem::transmute::<*mut c_void, DbConfigFn>(sym(c"sqlite3_db_config")?),
            free: std::mem::transmute::<*mut c_void, FreeFn>(sym(c"sqlite3_free")?),
            total_changes: std::mem::transmute::<*mut c_void, TotalChangesFn>(sym(
                c"sqlite3_total_changes",
            )?),
            libversion_number: std::mem::transmute::<*mut c_void, LibVersionNumberFn>(sym(
                c"sqlite3_libversion_number",
            )?),
        })
    }
}

/// The host library of this process's `_sqlite3` module, found once.
pub fn host(library: &str) -> Result<&'static HostSqlite, HostError> {
    static HOST: OnceLock<Result<HostSqlite, HostError>> = OnceLock::new();
    HOST.get_or_init(|| find_host(library))
        .as_ref()
        .map_err(Clone::clone)
}

impl HostSqlite {
    /// Checks that `db` is the handle whose total change count Python reported.
    ///
    /// # Safety
    /// `db` must point to a live `sqlite3` connection of this library.
    pub unsafe fn check_handle(&self, db: *mut c_void, python_total_changes: i64) -> bool {
        // SAFETY: per this function's contract.
        !db.is_null() && i64::from(unsafe { (self.total_changes)(db) }) == python_total_changes
    }

    /// Loads the extension at `path` into `db` with C-API-only loading switched on for
    /// the duration of the call.
    ///
    /// # Safety
    /// `db` must be a live connection of this library, not used by another thread
    /// during the call.
    pub unsafe fn load(
        &self,
        db: *mut c_void,
        path: &str,
        entrypoint: Option<&str>,
    ) -> Result<(), HostError> {
        let nul = |what: &str| HostError(format!("the {what} contains a NUL byte"));
        let c_path = CString::new(path).map_err(|_| nul("path"))?;
        let c_entry = entrypoint
            .map(CString::new)
            .transpose()
            .map_err(|_| nul("entry point"))?;
        let mut previous: c_int = 0;
        let mut errmsg: *mut c_char = ptr::null_mut();
        // SAFETY: db is live per contract; db_config with ENABLE_LOAD_EXTENSION takes
        // (int onoff, int *pResult); -1 queries without changing.
        unsafe {
            let rc = (self.db_config)(
                db,
                SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
                -1 as c_int,
                &mut previous as *mut c_int,
            );
            if rc != SQLITE_OK {
                return Err(HostError(format!(
                    "sqlite3_db_config failed with code {rc}"
                )));
            }
            (self.db_config)(
                db,
                SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
                1 as c_int,
                ptr::null_mut::<c_int>(),
            );
            let rc = (self.load_extension)(
                db,
                c_path.as_ptr(),
                c_entry.as_ref().map_or(ptr::null(), |e| e.as_ptr()),
                &mut errmsg,
            );
            (self.db_config)(
                db,
                SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
                previous,
                ptr::null_mut::<c_int>(),
            );
            if rc == SQLITE_OK {
                return Ok(());
            }
            let message = if errmsg.is_null() {
                format!("error code {rc}")
            } else {
                let m = CStr::from_ptr(errmsg).to_string_lossy().into_owned();
                (self.free)(errmsg.cast::<c_void>());
                m
            };
            Err(HostError(message))
        }
    }
}
