//! `sqlite3_interrupt` (Python's `conn.interrupt()`) for model runs: ONNX Runtime runs
//! outside SQLite's VM, so the SQL functions that run a model name their connection here
//! and the run's watchdog polls `sqlite3_is_interrupted` (SQLite 3.41 and later; older
//! hosts cannot tell, and only the time limit stops a run there).

use std::cell::Cell;

use rusqlite::ffi;

use crate::sqlite::host_api;

thread_local! {
    /// The connection whose SQL function is running a model on this thread.
    static CURRENT: Cell<*mut ffi::sqlite3> = const { Cell::new(std::ptr::null_mut()) };
}

/// A connection handle the watchdog thread may poll: `sqlite3_is_interrupted` only reads
/// an atomic flag, and the connection outlives the run (the SQL function holds it).
#[derive(Clone, Copy)]
pub struct Watched(*mut ffi::sqlite3);

// SAFETY: only `sqlite3_is_interrupted` is called through it, which SQLite allows from
// any thread, while the SQL function that named it is still running.
unsafe impl Send for Watched {}

impl Watched {
    /// Whether `sqlite3_interrupt` was called on the connection.
    pub fn interrupted(&self) -> bool {
        // SAFETY: the connection is live while the run it watches lasts.
        unsafe { host_api::is_interrupted(self.0) }.unwrap_or(false)
    }
}

/// Runs `f` with `db` as the connection whose interrupt stops the model runs inside it.
pub fn watching<T>(db: *mut ffi::sqlite3, f: impl FnOnce() -> T) -> T {
    /// Puts the previous connection back, also when `f` unwinds (a caught panic must
    /// not leave a connection that may close named here).
    struct Restore(*mut ffi::sqlite3);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(db)));
    f()
}

/// The connection to watch for the model run starting on this thread, when there is
/// one and the host SQLite can report interrupts.
pub fn current() -> Option<Watched> {
    let db = CURRENT.with(Cell::get);
    // SAFETY: a non-null CURRENT is the live connection of the running SQL function.
    (!db.is_null() && unsafe { host_api::is_interrupted(db) }.is_some()).then_some(Watched(db))
}
