//! Importing Arrow C data from a Python producer, defensively:
//!
//! * **Nesting limit.** arrow-rs imports (and we later validate and render) nested types
//!   recursively, so 3,000 structs inside each other overflowed the stack (SIGSEGV).
//!   The C schema is walked iteratively first and anything nested deeper than
//!   [`MAX_NESTING`] levels is a `ValueError`, as pyarrow itself refuses at 64.
//! * **Deferred release.** The buffers of an imported array belong to the producer
//!   (pyarrow, polars, numpy behind them); releasing them takes the GIL. A registered
//!   table can be dropped by a thread that holds SQLite's connection mutex but not the
//!   GIL (a stdlib `sqlite3` reader inside `sqlite3_step`, whose cursor drops the last
//!   reference to a table that another thread has just re-registered). If that thread
//!   waited for the GIL while a GIL-holding thread waited for the connection mutex, the
//!   two deadlocked. Every imported array's release callback is therefore wrapped: a
//!   thread holding the GIL releases at once, any other thread queues the release and
//!   asks the interpreter to run it (`Py_AddPendingCall`); the queue is also drained
//!   whenever a Python entry point starts.
//! * **Validity over null counts.** A producer's `null_count` of 0 next to a validity
//!   bitmap made arrow-rs drop the bitmap, so null slots read as 0 or ''. Such a count
//!   is reset to "unknown" (-1) before import, so the bitmap decides (a wrong non-zero
//!   count is caught by the full validation that follows the import).

use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::ffi::{from_ffi, from_ffi_and_data_type, FFI_ArrowArray};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions, StructArray};
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{DataType, Schema, SchemaRef};

use crate::error::{Error, Result};

/// Deepest nesting of types inside a column (struct in struct, list of lists, ...).
pub const MAX_NESTING: usize = 64;
/// Most fields (nested ones counted) a schema may have.
pub const MAX_FIELDS: usize = 100_000;

/// Checks that `schema` nests no deeper than [`MAX_NESTING`] levels below its top
/// level and has at most [`MAX_FIELDS`] fields, without recursion.
pub fn check_nesting(schema: &FFI_ArrowSchema) -> Result<()> {
    let mut stack: Vec<(&FFI_ArrowSchema, usize)> = vec![(schema, 0)];
    let mut fields = 0usize;
    while let Some((node, depth)) = stack.pop() {
        // The top level is the record batch itself: its children are the columns.
        if depth > MAX_NESTING + 1 {
            return Err(Error::Value(format!(
                "Arrow data nested deeper than {MAX_NESTING} levels (structs, lists, maps, \
                 unions or dictionaries inside each other) is not supported"
            )));
        }
        let dictionary = node.dictionary();
        // n_children is read through children(); a negative count reads as huge, which
        // the field limit stops before any child pointer past the real ones is read.
        for child in node.children().chain(dictionary) {
            fields += 1;
            if fields > MAX_FIELDS {
                return Err(Error::Value(format!(
                    "the Arrow schema has more than {MAX_FIELDS} fields (nested ones \
                     counted); not supported"
                )));
            }
            stack.push((child, depth + 1));
        }
    }
    Ok(())
}

/// The C data interface's `struct ArrowArray` (its layout is fixed by the Arrow spec),
/// for writing a child's `null_count`, which arrow-rs only exposes by shared reference.
#[repr(C)]
struct CArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *const *const c_void,
    children: *const *mut CArray,
    dictionary: *mut CArray,
    release: *const c_void,
    private_data: *mut c_void,
}

/// Resets `null_count` 0 to -1 wherever a validity bitmap is present, in `array` and
/// all its children and dictionaries (walked alongside `schema`, without recursion).
///
/// # Safety
/// `array` must be a live C array of the type `schema` describes, owned by the caller,
/// and `schema` must have passed [`check_nesting`].
unsafe fn trust_bitmaps(array: &mut FFI_ArrowArray, schema: &FFI_ArrowSchema) {
    let mut stack = vec![(std::ptr::from_mut(array).cast::<CArray>(), schema)];
    while let Some((node, schema)) = stack.pop() {
        // SAFETY: node is the caller's array or a child / dictionary pointer of a live
        // array, owned by the same producer and not otherwise in use during import.
        let Some(node) = (unsafe { node.as_mut() }) else {
            continue;
        };
        let format = schema.format();
        // Null, union and run-end encoded arrays have no validity bitmap.
        let has_validity = !(format == "n" || format.starts_with("+u") || format == "+r");
        let has_bitmap = node.n_buffers > 0 && !node.buffers.is_null() && {
            // SAFETY: buffers holds n_buffers (> 0) pointers.
            !unsafe { *node.buffers }.is_null()
        };
        if has_validity && has_bitmap && node.null_count == 0 {
            node.null_count = -1;
        }
        let n_children = usize::try_from(node.n_children).unwrap_or(0);
        if !node.children.is_null() {
            for (i, child_schema) in schema.children().take(n_children).enumerate() {
                // SAFETY: children holds n_children pointers.
                stack.push((unsafe { *node.children.add(i) }, child_schema));
            }
        }
        if let Some(dictionary_schema) = schema.dictionary() {
            stack.push((node.dictionary, dictionary_schema));
        }
    }
}

/// Releases waiting for a thread that holds the GIL.
static DEFERRED: Mutex<Vec<FFI_ArrowArray>> = Mutex::new(Vec::new());
/// Whether a pending call to [`run_deferred`] is scheduled.
static SCHEDULED: AtomicBool = AtomicBool::new(false);

extern "C" {
    // Not in the limited API's headers, but exported by every CPython 3 (3.4+).
    fn PyGILState_Check() -> c_int;
}

/// The producer's release callback and private data, kept while ours is installed.
struct Saved {
    release: Option<unsafe extern "C" fn(*mut FFI_ArrowArray)>,
    private_data: *mut c_void,
}

/// Our release callback (see the module docs): restores the producer's callback on a
/// moved copy of the struct, then releases it now (GIL held) or queues it.
unsafe extern "C" fn release_when_attached(array: *mut FFI_ArrowArray) {
    if array.is_null() {
        return;
    }
    // SAFETY: array is the struct whose release we installed in defer_release, so its
    // private_data is our boxed Saved; from_raw moves the struct out and marks the
    // original released (the C data interface allows moving the base struct).
    unsafe {
        let saved = Box::from_raw((*array).private_data().cast::<Saved>());
        let mut moved = FFI_ArrowArray::from_raw(array);
        moved.set_release(saved.release);
        moved.set_private_data(saved.private_data);
        if PyGILState_Check() == 1 {
            drop(moved);
        } else {
            defer(moved);
        }
    }
}

fn defer(array: FFI_ArrowArray) {
    DEFERRED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(array);
    if !SCHEDULED.swap(true, Ordering::AcqRel) {
        // SAFETY: Py_AddPendingCall may be called without the GIL (documented); the
        // callback is a plain function taking no data. On failure (the queue is full)
        // the next Python entry point drains instead.
        let rc = unsafe { pyo3::ffi::Py_AddPendingCall(Some(run_deferred), std::ptr::null_mut()) };
        if rc != 0 {
            SCHEDULED.store(false, Ordering::Release);
        }
    }
}

extern "C" fn run_deferred(_: *mut c_void) -> c_int {
    SCHEDULED.store(false, Ordering::Release);
    release_deferred();
    0
}

/// Releases every queued array. Call with the GIL held and no SQLite mutex held.
pub fn release_deferred() {
    let queued = std::mem::take(
        &mut *DEFERRED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    drop(queued);
}

/// Number of array releases queued (for tests).
pub fn deferred_len() -> usize {
    DEFERRED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .len()
}

/// Installs [`release_when_attached`] as `array`'s release callback.
fn defer_release(array: &mut FFI_ArrowArray) {
    if array.is_released() {
        return;
    }
    let saved = Box::new(Saved {
        release: array.release(),
        private_data: array.private_data(),
    });
    // SAFETY: the new callback reads exactly the Saved we store as private data and
    // chains to the producer's callback with its own private data restored.
    unsafe {
        array.set_private_data(Box::into_raw(saved).cast::<c_void>());
        array.set_release(Some(release_when_attached));
    }
}

fn stream_error(stream: &mut FFI_ArrowArrayStream, rc: c_int) -> String {
    let message = stream.get_last_error().and_then(|f| {
        // SAFETY: get_last_error is called on its own stream; the string it returns
        // stays valid until the next call on the stream, and is copied here.
        let p = unsafe { f(stream) };
        // SAFETY: a non-null result is a NUL-terminated string per the C stream spec.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    });
    message.unwrap_or_else(|| format!("error code {rc}"))
}

/// Reads every batch of an ArrowArrayStream.
///
/// # Safety
/// `p` must be a live ArrowArrayStream owned by a capsule. It is moved out, leaving a
/// released stream behind, which the capsule's destructor skips.
pub unsafe fn read_stream(p: *mut FFI_ArrowArrayStream) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    // SAFETY: per this function's contract.
    let mut stream = unsafe { FFI_ArrowArrayStream::from_raw(p) };
    let (Some(get_schema), Some(get_next)) = (stream.get_schema(), stream.get_next()) else {
        return Err(Error::Value(
            "cannot read the Arrow stream: it is released or has no callbacks".into(),
        ));
    };
    let mut ffi_schema = FFI_ArrowSchema::empty();
    // SAFETY: the callback of a live stream, called on that stream.
    let rc = unsafe { get_schema(&raw mut stream, &raw mut ffi_schema) };
    if rc != 0 {
        let e = stream_error(&mut stream, rc);
        return Err(Error::Value(format!("cannot read the Arrow stream: {e}")));
    }
    check_nesting(&ffi_schema)?;
    let schema: SchemaRef = Arc::new(
        Schema::try_from(&ffi_schema)
            .map_err(|e| Error::Value(format!("cannot read the Arrow stream: {e}")))?,
    );
    let row_type = DataType::Struct(schema.fields().clone());
    let mut batches = Vec::new();
    loop {
        let mut array = FFI_ArrowArray::empty();
        // SAFETY: as for get_schema.
        let rc = unsafe { get_next(&raw mut stream, &raw mut array) };
        if rc != 0 {
            let e = stream_error(&mut stream, rc);
            return Err(Error::Value(format!("the Arrow stream failed midway: {e}")));
        }
        if array.is_released() {
            break;
        }
        defer_release(&mut array);
        // SAFETY: a live array of this schema, checked for nesting above.
        unsafe { trust_bitmaps(&mut array, &ffi_schema) };
        // SAFETY: array is a live array the stream produced for this schema.
        let data = unsafe { from_ffi_and_data_type(array, row_type.clone()) }
            .map_err(|e| Error::Value(format!("the Arrow stream failed midway: {e}")))?;
        let rows = data.len();
        let batch = RecordBatch::try_new_with_options(
            schema.clone(),
            StructArray::from(data).into_parts().1,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| Error::Value(format!("the Arrow stream failed midway: {e}")))?;
        batches.push(batch);
    }
    Ok((schema, batches))
}

/// Imports the array of an `__arrow_c_array__` pair.
///
/// # Safety
/// `schema_ptr` and `array_ptr` must be a live ArrowSchema and ArrowArray owned by
/// capsules. The array struct is moved out and a released (empty) one left behind, so
/// the capsule's destructor does not release it again; the schema is only borrowed.
pub unsafe fn import_array(schema_ptr: *mut c_void, array_ptr: *mut c_void) -> Result<ArrayRef> {
    // SAFETY: per this function's contract.
    let schema = unsafe { &*schema_ptr.cast::<FFI_ArrowSchema>() };
    check_nesting(schema)?;
    // SAFETY: per this function's contract.
    let mut array = unsafe { FFI_ArrowArray::from_raw(array_ptr.cast::<FFI_ArrowArray>()) };
    defer_release(&mut array);
    // SAFETY: a live array of this schema, checked for nesting above.
    unsafe { trust_bitmaps(&mut array, schema) };
    // SAFETY: a live array and its schema.
    let array_data = unsafe { from_ffi(array, schema) }
        .map_err(|e| Error::Value(format!("cannot import the Arrow array: {e}")))?;
    Ok(arrow_array::make_array(array_data))
}
