//! Query results being built into Arrow columns, row by row.
//!
//! Each column starts from its declared type (INTEGER -> int64, REAL -> float64,
//! TEXT -> utf8, BLOB -> binary, BOOLEAN -> bool, `float[N]` / `int8[N]` -> fixed-size
//! list vectors) or, without one, from its values, and is promoted as values come:
//! int -> float -> text (a BLOB among TEXT makes the column binary). Empty results keep
//! the declared types.

use std::sync::Arc;

use arrow_array::builder::BinaryBuilder;
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int64Array,
    Int8Array, NullArray, RecordBatch,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{ArrowError, Field, Schema, SchemaRef};
use std::ffi::{c_char, c_int, CStr};

use rusqlite::ffi;
use rusqlite::types::ValueRef;

use crate::sqlite::value::value_ref;
use crate::vec::vector::{SUBTYPE_FLOAT32, SUBTYPE_INT8};

/// Why a query could not become Arrow.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error("column \"{column}\": {message}")]
    Column { column: String, message: String },
}

/// Rows per output batch.
pub const BATCH_ROWS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VectorKind {
    F32,
    I8,
}

enum Col {
    /// Only NULLs so far (count).
    Null(usize),
    Int(Vec<i64>, Vec<bool>),
    Bool(Vec<bool>, Vec<bool>),
    Real(Vec<f64>, Vec<bool>),
    /// UTF-8 bytes, offsets, validity.
    Text(Vec<u8>, Ends, Vec<bool>),
    Blob(Vec<Option<Vec<u8>>>),
    Vector(VectorKind, usize, Vec<u8>, Vec<bool>),
}

/// Offsets of a text column, kept as Arrow wants them (a leading 0, then each value's
/// end): 32-bit while the text stays under `i32::MAX` bytes, 64-bit beyond.
enum Ends {
    Small(Vec<i32>),
    Large(Vec<i64>),
}

impl Ends {
    fn new() -> Ends {
        Ends::Small(vec![0])
    }

    /// `n` empty values.
    fn zeros(n: usize) -> Ends {
        Ends::Small(vec![0; n + 1])
    }

    /// Room for one more offset.
    #[inline(always)]
    fn reserve_one(&mut self) {
        match self {
            Ends::Small(v) => reserve_one(v),
            Ends::Large(v) => reserve_one(v),
        }
    }

    /// Ends the current value at byte `end`.
    #[inline(always)]
    fn push(&mut self, end: usize) {
        match self {
            Ends::Small(v) => match i32::try_from(end) {
                Ok(e) if e < i32::MAX => v.push(e),
                _ => {
                    let mut large: Vec<i64> = v.iter().map(|e| i64::from(*e)).collect();
                    large.push(end as i64);
                    *self = Ends::Large(large);
                }
            },
            Ends::Large(v) => v.push(end as i64),
        }
    }

    /// Each value's end.
    fn iter(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match self {
            Ends::Small(v) => Box::new(v[1..].iter().map(|e| *e as usize)),
            Ends::Large(v) => Box::new(v[1..].iter().map(|e| *e as usize)),
        }
    }
}

fn vector_decl(decl: &str) -> Option<(VectorKind, usize)> {
    let d = decl.trim().to_ascii_lowercase();
    let (kind, rest) = if let Some(r) = d.strip_prefix("float[") {
        (VectorKind::F32, r)
    } else if let Some(r) = d.strip_prefix("float32[") {
        (VectorKind::F32, r)
    } else if let Some(r) = d.strip_prefix("int8[") {
        (VectorKind::I8, r)
    } else {
        return None;
    };
    let dim: usize = rest.strip_suffix(']')?.trim().parse().ok()?;
    (dim > 0).then_some((kind, dim))
}

fn initial(decl: Option<&str>) -> Col {
    let Some(decl) = decl else {
        return Col::Null(0);
    };
    if let Some((kind, dim)) = vector_decl(decl) {
        return Col::Vector(kind, dim, Vec::new(), Vec::new());
    }
    let u = decl.to_ascii_uppercase();
    if u.starts_with("BOOL") {
        Col::Bool(Vec::new(), Vec::new())
    } else if u.contains("INT") {
        Col::Int(Vec::new(), Vec::new())
    } else if u.contains("CHAR") || u.contains("CLOB") || u.contains("TEXT") {
        Col::Text(Vec::new(), Ends::new(), Vec::new())
    } else if u.contains("BLOB") {
        Col::Blob(Vec::new())
    } else if u.contains("REAL") || u.contains("FLOA") || u.contains("DOUB") {
        Col::Real(Vec::new(), Vec::new())
    } else {
        Col::Null(0)
    }
}

/// The starting column for a type asked for by a schema override.
fn initial_for(data_type: &arrow_schema::DataType) -> Option<Col> {
    use arrow_schema::DataType as D;
    Some(match data_type {
        D::Boolean => Col::Bool(Vec::new(), Vec::new()),
        D::Int64 => Col::Int(Vec::new(), Vec::new()),
        D::Float64 => Col::Real(Vec::new(), Vec::new()),
        D::Utf8 => Col::Text(Vec::new(), Ends::new(), Vec::new()),
        D::Binary => Col::Blob(Vec::new()),
        D::FixedSizeList(child, n) if *n > 0 => match child.data_type() {
            D::Float32 => Col::Vector(VectorKind::F32, *n as usize, Vec::new(), Vec::new()),
            D::Int8 => Col::Vector(VectorKind::I8, *n as usize, Vec::new(), Vec::new()),
            _ => return None,
        },
        _ => return None,
    })
}

fn real_text(r: f64) -> String {
    format!("{r:?}")
}

impl Col {
    fn len(&self) -> usize {
        match self {
            Col::Null(n) => *n,
            Col::Int(_, v) | Col::Bool(_, v) | Col::Real(_, v) | Col::Vector(.., v) => v.len(),
            Col::Text(_, _, ok) => ok.len(),
            Col::Blob(v) => v.len(),
        }
    }

    fn promote_real(&mut self) {
        let n = self.len();
        *self = match std::mem::replace(self, Col::Null(0)) {
            Col::Null(_) => Col::Real(vec![0.0; n], vec![false; n]),
            Col::Int(v, ok) => Col::Real(v.into_iter().map(|x| x as f64).collect(), ok),
            Col::Bool(v, ok) => {
                Col::Real(v.into_iter().map(|x| f64::from(u8::from(x))).collect(), ok)
            }
            other => other,
        };
    }

    fn promote_int(&mut self) {
        let n = self.len();
        *self = match std::mem::replace(self, Col::Null(0)) {
            Col::Null(_) => Col::Int(vec![0; n], vec![false; n]),
            Col::Bool(v, ok) => Col::Int(v.into_iter().map(i64::from).collect(), ok),
            other => other,
        };
    }

    fn promote_text(&mut self) -> Result<(), String> {
        let old = std::mem::replace(self, Col::Text(Vec::new(), Ends::new(), Vec::new()));
        let n = old.len();
        match old {
            Col::Null(_) => {
                *self = Col::Text(Vec::new(), Ends::zeros(n), vec![false; n]);
            }
            Col::Int(v, ok) => {
                for (x, k) in v.into_iter().zip(ok) {
                    self.push_text_opt(k.then(|| x.to_string()).as_deref());
                }
            }
            Col::Bool(v, ok) => {
                for (x, k) in v.into_iter().zip(ok) {
                    self.push_text_opt(k.then(|| u8::from(x).to_string()).as_deref());
                }
            }
            Col::Real(v, ok) => {
                for (x, k) in v.into_iter().zip(ok) {
                    self.push_text_opt(k.then(|| real_text(x)).as_deref());
                }
            }
            Col::Vector(..) => return Err("a vector column holds a TEXT value".into()),
            other => *self = other,
        }
        Ok(())
    }

    fn push_text_opt(&mut self, s: Option<&str>) {
        if let Col::Text(data, ends, ok) = self {
            if let Some(s) = s {
                data.extend_from_slice(s.as_bytes());
            }
            ends.push(data.len());
            ok.push(s.is_some());
        }
    }

    /// A vector column holding `n` NULLs.
    fn null_vectors(kind: VectorKind, dim: usize, n: usize) -> Col {
        let width = dim * if kind == VectorKind::F32 { 4 } else { 1 };
        Col::Vector(kind, dim, vec![0; n * width], vec![false; n])
    }

    /// A vector column as a binary one (its BLOBs as they were).
    fn vectors_to_blobs(&mut self) {
        if let Col::Vector(kind, dim, bytes, ok) = self {
            let width = (*dim * if *kind == VectorKind::F32 { 4 } else { 1 }).max(1);
            let blobs = bytes
                .chunks_exact(width)
                .zip(ok.iter())
                .map(|(b, &k)| k.then(|| b.to_vec()))
                .collect();
            *self = Col::Blob(blobs);
        }
    }

    fn promote_blob(&mut self) -> Result<(), String> {
        let n = self.len();
        *self = match std::mem::replace(self, Col::Null(0)) {
            Col::Null(_) => Col::Blob(vec![None; n]),
            Col::Text(data, ends, ok) => {
                let mut start = 0usize;
                Col::Blob(
                    ends.iter()
                        .zip(ok)
                        .map(|(end, k)| {
                            let s = start;
                            start = end;
                            k.then(|| data[s..end].to_vec())
                        })
                        .collect(),
                )
            }
            Col::Blob(v) => Col::Blob(v),
            _ => {
                return Err("mixes BLOB and numeric values; CAST it in SQL or pass a schema".into())
            }
        };
        Ok(())
    }

    fn push(&mut self, value: ValueRef<'_>) -> Result<(), String> {
        match (&mut *self, value) {
            (Col::Null(n), ValueRef::Null) => *n += 1,
            (Col::Int(v, ok), ValueRef::Null) => {
                v.push(0);
                ok.push(false)
            }
            (Col::Bool(v, ok), ValueRef::Null) => {
                v.push(false);
                ok.push(false)
            }
            (Col::Real(v, ok), ValueRef::Null) => {
                v.push(0.0);
                ok.push(false)
            }
            (Col::Text(data, ends, ok), ValueRef::Null) => {
                ends.push(data.len());
                ok.push(false)
            }
            (Col::Blob(v), ValueRef::Null) => v.push(None),
            (Col::Vector(kind, dim, v, ok), ValueRef::Null) => {
                let width = *dim * if *kind == VectorKind::F32 { 4 } else { 1 };
                v.resize(v.len() + width, 0);
                ok.push(false);
            }
            (Col::Bool(v, ok), ValueRef::Integer(i)) if i == 0 || i == 1 => {
                v.push(i == 1);
                ok.push(true)
            }
            (Col::Int(v, ok), ValueRef::Integer(i)) => {
                v.push(i);
                ok.push(true)
            }
            (Col::Real(v, ok), ValueRef::Integer(i)) => {
                v.push(i as f64);
                ok.push(true)
            }
            (Col::Real(v, ok), ValueRef::Real(r)) => {
                v.push(r);
                ok.push(true)
            }
            (Col::Text(data, ends, ok), ValueRef::Text(t)) => {
                // UTF-8 is checked once for the whole column in finish().
                data.extend_from_slice(t);
                ends.push(data.len());
                ok.push(true)
            }
            (Col::Text(..), ValueRef::Integer(i)) => self.push_text_opt(Some(&i.to_string())),
            (Col::Text(..), ValueRef::Real(r)) => self.push_text_opt(Some(&real_text(r))),
            (Col::Blob(v), ValueRef::Blob(b) | ValueRef::Text(b)) => v.push(Some(b.to_vec())),
            (Col::Vector(kind, dim, v, ok), ValueRef::Blob(b)) => {
                let width = *dim * if *kind == VectorKind::F32 { 4 } else { 1 };
                if b.len() != width {
                    return Err(format!(
                        "vector BLOB of {} bytes where {} were expected",
                        b.len(),
                        width
                    ));
                }
                v.extend_from_slice(b);
                ok.push(true);
            }
            (Col::Vector(..), _) => return Err("a vector column holds a non-BLOB value".into()),
            // Promotions.
            (Col::Null(_) | Col::Bool(..), ValueRef::Integer(_)) => {
                self.promote_int();
                return self.push(value);
            }
            (Col::Null(_) | Col::Int(..) | Col::Bool(..), ValueRef::Real(_)) => {
                self.promote_real();
                return self.push(value);
            }
            (Col::Null(_) | Col::Int(..) | Col::Bool(..) | Col::Real(..), ValueRef::Text(_)) => {
                self.promote_text()?;
                return self.push(value);
            }
            (_, ValueRef::Blob(_)) => {
                self.promote_blob()?;
                return self.push(value);
            }
            (Col::Blob(_), _) => {
                return Err("mixes BLOB and numeric values; CAST it in SQL or pass a schema".into())
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Col::Null(n) => Arc::new(NullArray::new(n)),
            Col::Int(v, ok) => Arc::new(Int64Array::new(v.into(), nulls(ok))),
            Col::Bool(v, ok) => Arc::new(BooleanArray::new(v.into(), nulls(ok))),
            Col::Real(v, ok) => Arc::new(Float64Array::new(v.into(), nulls(ok))),
            Col::Text(data, ends, ok) => {
                let values = arrow_buffer::Buffer::from_vec(data);
                let nulls = nulls(ok);
                // try_new checks the whole buffer and that every offset is a character
                // boundary: the same as checking each value. Utf8 while the text stays
                // under 2 GiB, LargeUtf8 beyond.
                match ends {
                    Ends::Small(offsets) => {
                        let offsets = arrow_buffer::OffsetBuffer::new(offsets.into());
                        Arc::new(arrow_array::StringArray::try_new(offsets, values, nulls)?)
                    }
                    Ends::Large(offsets) => {
                        let offsets = arrow_buffer::OffsetBuffer::new(offsets.into());
                        Arc::new(arrow_array::LargeStringArray::try_new(
                            offsets, values, nulls,
                        )?)
                    }
                }
            }
            Col::Blob(v) => {
                let mut b = BinaryBuilder::new();
                for s in &v {
                    b.append_option(s.as_deref());
                }
                Arc::new(b.finish())
            }
            Col::Vector(kind, dim, bytes, ok) => {
                let child: ArrayRef = match kind {
                    VectorKind::F32 => Arc::new(Float32Array::from(
                        bytes
                            .chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect::<Vec<_>>(),
                    )),
                    VectorKind::I8 => Arc::new(Int8Array::from(
                        bytes.iter().map(|b| *b as i8).collect::<Vec<_>>(),
                    )),
                };
                let field = Arc::new(Field::new("item", child.data_type().clone(), true));
                Arc::new(FixedSizeListArray::try_new(
                    field,
                    dim as i32,
                    child,
                    nulls(ok),
                )?)
            }
        })
    }
}

fn nulls(ok: Vec<bool>) -> Option<NullBuffer> {
    if ok.iter().all(|k| *k) {
        None
    } else {
        Some(NullBuffer::from(ok))
    }
}

fn c_text(p: *const c_char) -> Option<String> {
    // SAFETY: SQLite returns null or a NUL-terminated string valid until the statement
    // is finalized; it is copied right away.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}
/// The result columns being built: names, builders, and which types the caller fixed.
pub(crate) struct RowSink {
    names: Vec<String>,
    cols: Vec<Col>,
    fixed: Vec<bool>,
    /// Columns that became fixed-size lists from a value's vector subtype (not from a
    /// declared type or the schema): a later value that does not fit makes them binary.
    inferred: Vec<bool>,
}

/// The vector kind and dimensions of a BLOB carrying a float32 / int8 vector subtype
/// (a vec0 vector column, or `vec_f32()` / `vec_int8()`); None for other values.
///
/// # Safety
/// `raw` must be a live value.
unsafe fn vector_subtype(raw: *mut ffi::sqlite3_value) -> Option<(VectorKind, usize)> {
    // SAFETY: per the contract.
    unsafe {
        if ffi::sqlite3_value_type(raw) != ffi::SQLITE_BLOB {
            return None;
        }
        let n = ffi::sqlite3_value_bytes(raw).max(0) as usize;
        match ffi::sqlite3_value_subtype(raw) {
            SUBTYPE_FLOAT32 if n > 0 && n.is_multiple_of(4) => Some((VectorKind::F32, n / 4)),
            SUBTYPE_INT8 if n > 0 => Some((VectorKind::I8, n)),
            _ => None,
        }
    }
}

impl RowSink {
    /// Columns named and typed after `stmt`'s result columns and declared types, with
    /// `schema`'s types where it names a column.
    ///
    /// # Safety
    /// `stmt` must be a live statement.
    pub(crate) unsafe fn new(
        stmt: *mut ffi::sqlite3_stmt,
        schema: Option<&Schema>,
    ) -> Result<RowSink, QueryError> {
        // SAFETY: per the contract; indexes are below the column count.
        let (names, mut cols) = unsafe {
            let n = ffi::sqlite3_column_count(stmt).max(0) as usize;
            let names: Vec<String> = (0..n)
                .map(|i| c_text(ffi::sqlite3_column_name(stmt, i as c_int)).unwrap_or_default())
                .collect();
            let cols: Vec<Col> = (0..n)
                .map(|i| initial(c_text(ffi::sqlite3_column_decltype(stmt, i as c_int)).as_deref()))
                .collect();
            (names, cols)
        };
        let mut fixed = vec![false; names.len()];
        for field in schema.map(|s| s.fields().iter()).into_iter().flatten() {
            let column = |message: String| QueryError::Column {
                column: field.name().clone(),
                message,
            };
            let i = names
                .iter()
                .position(|c| c == field.name())
                .ok_or_else(|| {
                    column("the schema names a column the query does not return".into())
                })?;
            cols[i] = initial_for(field.data_type()).ok_or_else(|| {
                column(format!(
                    "type {} cannot be requested (use bool, int64, float64, string, binary \
                     or a fixed-size list of float32 / int8)",
                    field.data_type()
                ))
            })?;
            fixed[i] = true;
        }
        let inferred = vec![false; fixed.len()];
        Ok(RowSink {
            names,
            cols,
            fixed,
            inferred,
        })
    }

    /// The number of result columns.
    /// The record batches (at least one, so the schema is known).
    pub(crate) fn finish(self) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
        finish_columns(self.names, self.cols)
    }

    pub(crate) fn width(&self) -> usize {
        self.cols.len()
    }

    /// Appends one row; `value(i)` is column i's value.
    ///
    /// # Safety
    /// `value(i)` must return a live value of the current row for every i below
    /// `width()`, valid until this call returns.
    #[inline(always)]
    pub(crate) unsafe fn push_row(
        &mut self,
        value: impl Fn(usize) -> *mut ffi::sqlite3_value,
    ) -> Result<(), QueryError> {
        for (i, col) in self.cols.iter_mut().enumerate() {
            let raw = value(i);
            // SAFETY: per the contract.
            unsafe {
                // Hot path: the value already has the column's type. Written straight
                // into the column's buffers, no promotion possible.
                if push_same_type(col, raw) {
                    continue;
                }
                if let (Col::Null(n), false) = (&*col, self.fixed[i]) {
                    if let Some((kind, dim)) = vector_subtype(raw) {
                        *col = Col::null_vectors(kind, dim, *n);
                        self.inferred[i] = true;
                    }
                }
                let value = value_ref(raw);
                let before = std::mem::discriminant(col);
                let kind = value.data_type();
                let mut pushed = col.push(value);
                if pushed.is_err() && self.inferred[i] {
                    self.inferred[i] = false;
                    col.vectors_to_blobs();
                    pushed = col.push(value);
                }
                pushed.map_err(|message| QueryError::Column {
                    column: self.names[i].clone(),
                    message,
                })?;
                if self.fixed[i] && std::mem::discriminant(col) != before {
                    return Err(QueryError::Column {
                        column: self.names[i].clone(),
                        message: format!(
                            "a {kind} value does not fit the type the schema asks for"
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Room for one more item in `v` (growth by doubling).
#[inline(always)]
fn reserve_one<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        crate::arrow::big_vec::grow(v, 1);
    }
}

/// Appends `raw` to `col` when its SQLite type is the column's own (INTEGER into int64,
/// REAL or INTEGER into float64, TEXT into utf8); returns false (nothing done) otherwise,
/// for the general path in `Col::push`. Same results as `Col::push`, without the
/// `ValueRef` round trip.
///
/// # Safety
/// `raw` must be a live value of the current row (from `sqlite3_column_value`).
#[inline(always)]
unsafe fn push_same_type(col: &mut Col, raw: *mut ffi::sqlite3_value) -> bool {
    // SAFETY: per the contract; the text pointer is read before its byte count, as
    // SQLite documents, and copied before the next step.
    unsafe {
        let kind = ffi::sqlite3_value_type(raw);
        match (col, kind) {
            (Col::Int(v, ok), ffi::SQLITE_INTEGER) => {
                reserve_one(v);
                reserve_one(ok);
                v.push(ffi::sqlite3_value_int64(raw));
                ok.push(true);
            }
            (Col::Real(v, ok), ffi::SQLITE_FLOAT) => {
                reserve_one(v);
                reserve_one(ok);
                v.push(ffi::sqlite3_value_double(raw));
                ok.push(true);
            }
            (Col::Real(v, ok), ffi::SQLITE_INTEGER) => {
                reserve_one(v);
                reserve_one(ok);
                v.push(ffi::sqlite3_value_int64(raw) as f64);
                ok.push(true);
            }
            (Col::Text(data, ends, ok), ffi::SQLITE_TEXT) => {
                let p = ffi::sqlite3_value_text(raw);
                let n = ffi::sqlite3_value_bytes(raw);
                if n > 0 && !p.is_null() {
                    let n = n as usize;
                    if data.capacity() - data.len() < n {
                        crate::arrow::big_vec::grow(data, n);
                    }
                    data.extend_from_slice(std::slice::from_raw_parts(p, n));
                }
                ends.reserve_one();
                reserve_one(ok);
                ends.push(data.len());
                ok.push(true);
            }
            _ => return false,
        }
        true
    }
}

fn finish_columns(
    names: Vec<String>,
    cols: Vec<Col>,
) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
    let arrays: Vec<ArrayRef> = cols
        .into_iter()
        .zip(&names)
        .map(|(c, name)| {
            c.finish().map_err(|e| QueryError::Column {
                column: name.clone(),
                message: format!("invalid values: {e}"),
            })
        })
        .collect::<Result<_, _>>()?;
    let fields: Vec<Field> = names
        .iter()
        .zip(&arrays)
        .map(|(n, a)| Field::new(n, a.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let n = arrays.first().map_or(0, |a| a.len());
    let batch = if arrays.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        RecordBatch::try_new(schema.clone(), arrays)?
    };
    let mut batches = Vec::new();
    let mut start = 0;
    while start < n {
        let len = BATCH_ROWS.min(n - start);
        batches.push(batch.slice(start, len));
        start += len;
    }
    if batches.is_empty() {
        batches.push(batch);
    }
    Ok((schema, batches))
}

#[cfg(test)]
mod tests {
    use super::Ends;

    #[test]
    fn ends_switch_to_64_bit_past_i32_max() {
        let mut e = Ends::new();
        e.push(5);
        e.push(i32::MAX as usize - 1);
        assert!(matches!(e, Ends::Small(_)));
        e.push(i32::MAX as usize);
        assert!(matches!(e, Ends::Large(_)));
        e.push(1 << 33);
        assert_eq!(
            e.iter().collect::<Vec<_>>(),
            [5, i32::MAX as usize - 1, i32::MAX as usize, 1 << 33]
        );
        let z = Ends::zeros(3);
        assert_eq!(z.iter().collect::<Vec<_>>(), [0, 0, 0]);
    }
}
