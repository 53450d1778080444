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
