//! Reading a raw `sqlite3_value` for code on the bare module API (rusqlite keeps its
//! own constructor private).

use std::ffi::c_int;

use rusqlite::ffi;
use rusqlite::types::{Value, ValueRef};

/// A view of `value`'s current content.
///
/// # Safety
/// `value` must be a live `sqlite3_value` that outlives `'a` and is not changed while
/// the view is used.
pub unsafe fn value_ref<'a>(value: *mut ffi::sqlite3_value) -> ValueRef<'a> {
    // SAFETY: per the contract; text/blob pointers are read before their byte counts,
    // as SQLite documents, and are valid for that many bytes.
    unsafe {
        match ffi::sqlite3_value_type(value) {
            ffi::SQLITE_INTEGER => ValueRef::Integer(ffi::sqlite3_value_int64(value)),
            ffi::SQLITE_FLOAT => ValueRef::Real(ffi::sqlite3_value_double(value)),
            ffi::SQLITE_TEXT => {
                let p = ffi::sqlite3_value_text(value);
                ValueRef::Text(bytes(p, ffi::sqlite3_value_bytes(value)))
            }
            ffi::SQLITE_BLOB => {
                let p = ffi::sqlite3_value_blob(value).cast::<u8>();
                ValueRef::Blob(bytes(p, ffi::sqlite3_value_bytes(value)))
            }
            _ => ValueRef::Null,
        }
    }
}

/// # Safety
/// `p` must be valid for `len` bytes for `'a` (or null when len is 0).
unsafe fn bytes<'a>(p: *const u8, len: c_int) -> &'a [u8] {
    if p.is_null() || len <= 0 {
        &[]
    } else {
        // SAFETY: per the contract.
        unsafe { std::slice::from_raw_parts(p, len as usize) }
    }
}

/// An owned copy of a value.
pub fn owned(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// The result slot of a raw `xColumn` call: sets the cell's value, and a subtype where
/// rusqlite's virtual-table `Context` cannot (vectors carry sqlite-vec's subtypes).
pub struct ResultSlot(*mut ffi::sqlite3_context);

impl ResultSlot {
    /// # Safety
    /// `ctx` must be the live result context of the running `xColumn` call, and the
    /// slot must not outlive that call.
    pub unsafe fn new(ctx: *mut ffi::sqlite3_context) -> ResultSlot {
        ResultSlot(ctx)
    }

    /// Sets the cell to `value` (SQLite copies text and blobs).
    pub fn set(&mut self, value: ValueRef<'_>) {
        // SAFETY: self.0 is live (constructor contract); SQLITE_TRANSIENT makes SQLite
        // copy the bytes, which are valid for their length.
        unsafe {
            match value {
                ValueRef::Null => ffi::sqlite3_result_null(self.0),
                ValueRef::Integer(i) => ffi::sqlite3_result_int64(self.0, i),
                ValueRef::Real(r) => ffi::sqlite3_result_double(self.0, r),
                ValueRef::Text(t) => ffi::sqlite3_result_text64(
                    self.0,
                    t.as_ptr().cast(),
                    t.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                    ffi::SQLITE_UTF8 as u8,
                ),
                ValueRef::Blob(b) => ffi::sqlite3_result_blob64(
                    self.0,
                    b.as_ptr().cast(),
                    b.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                ),
            }
        }
    }

    /// Sets the cell to the vector BLOB `bytes` with `subtype` (223 float32, 224 bit,
    /// 225 int8), as `vec_f32` and vec0's columns give them.
    pub fn set_vector(&mut self, bytes: &[u8], subtype: u32) {
        self.set(ValueRef::Blob(bytes));
        // SAFETY: self.0 is live (constructor contract).
        unsafe { ffi::sqlite3_result_subtype(self.0, subtype) };
    }
}
