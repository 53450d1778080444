//! `arrow_ipc`: an Arrow IPC file (Feather v2) as a read-only table, for any SQLite host:
//!
//! ```sql
//! CREATE VIRTUAL TABLE t USING arrow_ipc('data/file.arrow');
//! ```
//!
//! The file is memory-mapped and its record batches are read without copying (buffers
//! point into the mapping); types, filters and costs are those of `arrow` tables. The
//! file must not be changed while a connection has the table open.
//!
//! A database file can come from anyone, and its schema names the file an `arrow_ipc`
//! table reads: opened from a stored schema, such a table could read the user's files.
//! So a table opens only when the user asked for it on this connection: created by the
//! connection's own `CREATE VIRTUAL TABLE`, declared in `temp` (which never comes from a
//! file), or after `SELECT arrow_ipc_trust(1)` (a direct-only function: no view or
//! trigger of a database can call it). Only regular files are read (a FIFO would block
//! the open forever).

use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_void};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::{Array, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::reader::{read_footer_length, FileDecoder};
use rusqlite::ffi;
use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

use crate::arrow::registry::new_slot;
use crate::arrow::table::ArrowTable;
use crate::arrow::vtab::{connect_table, module};
use crate::sqlite::error::arg_error;
use crate::sqlite::vtab::create_module_with_aux;

/// A read-only mapping of a whole file, unmapped on drop.
struct Mapping {
    ptr: *mut c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and never changed through this handle; the pointer is
// only unmapped on drop, when no buffer refers to it any more.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}
impl std::panic::RefUnwindSafe for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len come from a successful mmap.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

fn map_file(path: &str) -> Result<Buffer, String> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let not_regular =
        || format!("{path:?} is not a regular file (a FIFO, device or directory is not read)");
    // stat first: opening a FIFO blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot open {path:?}: {e}"))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    // Non-blocking, and checked again on the open file: the path may have changed.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot open {path:?}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {path:?}: {e}"))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let len = meta.len() as usize;
    if len < 18 {
        return Err(format!("{path:?} is not an Arrow IPC file (too short)"));
    }
    // SAFETY: a private read-only mapping of an open file of `len` bytes.
    let ptr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(format!(
            "cannot map {path:?}: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mapping = Arc::new(Mapping { ptr, len });
    let start = NonNull::new(ptr.cast::<u8>()).ok_or("mmap returned null")?;
    // SAFETY: the mapping is valid for len bytes for as long as `mapping` (the owner,
    // kept alive by every Buffer sliced from this one) lives.
    Ok(unsafe { Buffer::from_custom_allocation(start, len, mapping) })
}

/// The record batches of the Arrow IPC file at `path` (zero-copy over a mapping).
pub fn read_ipc_file(path: &str) -> Result<(arrow_schema::SchemaRef, Vec<RecordBatch>), String> {
    let buffer = map_file(path)?;
    let bad = |what: &str| format!("{path:?} is not a valid Arrow IPC file: {what}");
    if &buffer[..6] != b"ARROW1" || &buffer[buffer.len() - 6..] != b"ARROW1" {
        return Err(bad(
            "missing ARROW1 magic (an IPC stream file is not supported)",
        ));
    }
    let trailer = buffer.len() - 10;
    let trailer_bytes: [u8; 10] = buffer[trailer..].try_into().map_err(|_| bad("trailer"))?;
    let footer_len = read_footer_length(trailer_bytes).map_err(|e| bad(&e.to_string()))?;
    if footer_len > trailer {
        return Err(bad("footer length"));
    }
    let footer = arrow_ipc::root_as_footer(&buffer[trailer - footer_len..trailer])
        .map_err(|e| bad(&e.to_string()))?;
    let schema = footer.schema().ok_or_else(|| bad("no schema"))?;
    let schema =
        Arc::new(arrow_ipc::convert::try_fb_to_schema(schema).map_err(|e| bad(&e.to_string()))?);
    let mut decoder = FileDecoder::new(schema.clone(), footer.version());
    let slice = |offset: i64, len: usize| -> Result<Buffer, String> {
        let offset = usize::try_from(offset).map_err(|_| bad("block offset"))?;
        if offset.checked_add(len).is_none_or(|end| end > buffer.len()) {
            return Err(bad("block out of range"));
        }
        Ok(buffer.slice_with_length(offset, len))
    };
    for block in footer.dictionaries().iter().flatten() {
        let len = block.bodyLength() as usize + block.metaDataLength() as usize;
        let data = slice(block.offset(), len)?;
        decoder
            .read_dictionary(block, &data)
            .map_err(|e| bad(&e.to_string()))?;
    }
    let mut batches = Vec::new();
    for block in footer.recordBatches().iter().flatten() {
        let len = block.bodyLength() as usize + block.metaDataLength() as usize;
        let data = slice(block.offset(), len)?;
        if let Some(batch) = decoder
            .read_record_batch(block, &data)
            .map_err(|e| bad(&e.to_string()))?
        {
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                column
                    .to_data()
                    .validate_full()
                    .map_err(|e| bad(&format!("column \"{}\": {e}", field.name())))?;
            }
            batches.push(batch);
        }
    }
    Ok((schema, batches))
}

/// The path argument: quotes removed ('a''b' -> a'b).
fn unquote(arg: &str) -> String {
    let t = arg.trim();
    for q in ['\'', '"'] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            let doubled: String = [q, q].iter().collect();
            return t[1..t.len() - 1].replace(&doubled, &q.to_string());
        }
    }
    t.to_string()
}

/// What this connection allows `arrow_ipc` tables to open (the module's client data).
#[derive(Default)]
struct Policy {
    /// Set by `arrow_ipc_trust(1)`: tables declared in any schema may open their files.
    trust_schemas: AtomicBool,
    /// `schema\0table` (lower case) of the tables this connection created itself.
    created: Mutex<HashSet<String>>,
}

impl Policy {
    fn created(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.created.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn table_key(args: &[String]) -> String {
    format!(
        "{}\0{}",
        args.get(1).map_or("", |s| s.as_str()).to_lowercase(),
        args.get(2).map_or("", |s| s.as_str()).to_lowercase()
    )
}

/// # Safety
/// Arguments as SQLite passes them to xCreate / xConnect; `aux` is this module's
/// `Arc<Policy>` client data.
unsafe fn open_table(
    db: *mut ffi::sqlite3,
    aux: *mut c_void,
    argc: c_int,
    argv: *const *const c_char,
    pp_vtab: *mut *mut ffi::sqlite3_vtab,
    err: *mut *mut c_char,
    create: bool,
) -> c_int {
    // SAFETY: aux is the Arc<Policy> leaked in load_module, alive while the module is.
    let policy = unsafe { &*aux.cast::<Arc<Policy>>() };
    // SAFETY: forwarded from SQLite.
    unsafe {
        connect_table(db, argc, argv, pp_vtab, err, |args| {
            if args.len() != 4 {
                return Err(
                    "arrow_ipc: expected one argument, the file path: USING arrow_ipc('f.arrow')"
                        .to_string(),
                );
            }
            let path = unquote(&args[3]);
            let key = table_key(args);
            let allowed = create
                || args[1].eq_ignore_ascii_case("temp")
                || policy.trust_schemas.load(Ordering::Relaxed)
                || policy.created().contains(&key);
            if !allowed {
                return Err(format!(
                    "arrow_ipc: table \"{}\".\"{}\" is declared in a database file and would \
                     read {path:?}; a database file can come from anyone, so arrow_ipc tables \
                     outside temp open only after SELECT arrow_ipc_trust(1) on this connection",
                    args[1], args[2]
                ));
            }
            let (schema, batches) = read_ipc_file(&path).map_err(|e| format!("arrow_ipc: {e}"))?;
            let fields = schema.fields().clone();
            let mut seen = std::collections::HashSet::new();
            for f in &fields {
                if !seen.insert(f.name().to_lowercase()) {
                    return Err(format!("arrow_ipc: duplicate column name {:?}", f.name()));
                }
            }
            let table = ArrowTable::new(schema, &batches).map_err(|e| format!("arrow_ipc: {e}"))?;
            if create {
                policy.created().insert(key);
            }
            Ok((new_slot(Arc::new(table)), 0))
        })
    }
}

unsafe extern "C" fn x_create(
    db: *mut ffi::sqlite3,
    aux: *mut c_void,
    argc: c_int,
    argv: *const *const c_char,
    pp_vtab: *mut *mut ffi::sqlite3_vtab,
    err: *mut *mut c_char,
) -> c_int {
    // SAFETY: forwarded from SQLite.
    unsafe { open_table(db, aux, argc, argv, pp_vtab, err, true) }
}

unsafe extern "C" fn x_connect(
    db: *mut ffi::sqlite3,
    aux: *mut c_void,
    argc: c_int,
    argv: *const *const c_char,
    pp_vtab: *mut *mut ffi::sqlite3_vtab,
    err: *mut *mut c_char,
) -> c_int {
    // SAFETY: forwarded from SQLite.
    unsafe { open_table(db, aux, argc, argv, pp_vtab, err, false) }
}

static MODULE: ffi::sqlite3_module = ffi::sqlite3_module {
    xCreate: Some(x_create),
    ..module(x_connect)
};

unsafe extern "C" fn drop_policy(aux: *mut c_void) {
    // SAFETY: made by Box::into_raw in load_module; SQLite calls this once.
    drop(unsafe { Box::from_raw(aux.cast::<Arc<Policy>>()) });
}

pub fn load_module(conn: &Connection) -> rusqlite::Result<()> {
    let policy = Arc::new(Policy::default());
    let function_policy = Arc::clone(&policy);
    // Direct-only: a view or trigger stored in a database cannot switch trust on.
    conn.create_scalar_function(
        "arrow_ipc_trust",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        move |ctx| {
            let on = match ctx.get_raw(0) {
                rusqlite::types::ValueRef::Integer(i) => i != 0,
                other => {
                    return Err(arg_error(
                        "arrow_ipc_trust",
                        0,
                        format!(
                            "expected 1 or 0, got {}",
                            crate::vec::vector::describe_value(other)
                        ),
                    ))
                }
            };
            Ok(i64::from(
                function_policy.trust_schemas.swap(on, Ordering::Relaxed),
            ))
        },
    )?;
    let aux = Box::into_raw(Box::new(policy)).cast::<c_void>();
    // SAFETY: aux is a Box<Arc<Policy>>, what open_table reads and drop_policy frees.
    unsafe { create_module_with_aux(conn, c"arrow_ipc", &MODULE, aux, Some(drop_policy)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquote_paths() {
        assert_eq!(unquote("'a.arrow'"), "a.arrow");
        assert_eq!(unquote("'it''s.arrow'"), "it's.arrow");
        assert_eq!(unquote("\"b.arrow\""), "b.arrow");
        assert_eq!(unquote(" c.arrow "), "c.arrow");
    }

    #[test]
    fn missing_file_is_an_error() {
        assert!(read_ipc_file("/nonexistent/file.arrow")
            .unwrap_err()
            .contains("cannot open"));
    }
}
