//! Vectors as SQL values, in sqlite-vec's formats.
//!
//! A vector arrives as a BLOB (little-endian float32, int8 bytes, or bits packed
//! LSB-first; the subtype says which, and a bare BLOB is float32) or as JSON text
//! (`'[1, 2.5, -3]'`). Errors are plain strings saying what was expected and what
//! came; callers prefix the function and argument.

use std::borrow::Cow;

use quiver_kernels::codec;
use quiver_kernels::MAX_DIMENSIONS;
use rusqlite::types::ValueRef;

/// sqlite-vec's subtypes for vector BLOBs.
pub const SUBTYPE_FLOAT32: u32 = 223;
pub const SUBTYPE_BIT: u32 = 224;
pub const SUBTYPE_INT8: u32 = 225;

/// The element type of a vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementType {
    Float32,
    Int8,
    Bit,
}

impl ElementType {
    /// The name sqlite-vec's `vec_type()` prints.
    pub fn name(self) -> &'static str {
        match self {
            ElementType::Float32 => "float32",
            ElementType::Int8 => "int8",
            ElementType::Bit => "bit",
        }
    }

    pub fn subtype(self) -> u32 {
        match self {
            ElementType::Float32 => SUBTYPE_FLOAT32,
            ElementType::Int8 => SUBTYPE_INT8,
            ElementType::Bit => SUBTYPE_BIT,
        }
    }
}

/// A vector read from an SQL value; borrows the value's memory where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Vector<'a> {
    Float32(Cow<'a, [f32]>),
    Int8(Cow<'a, [i8]>),
    /// Bits packed LSB-first; the dimension count is `8 * bytes.len()`.
    Bit(Cow<'a, [u8]>),
}

impl Vector<'_> {
    pub fn element_type(&self) -> ElementType {
        match self {
            Vector::Float32(_) => ElementType::Float32,
            Vector::Int8(_) => ElementType::Int8,
            Vector::Bit(_) => ElementType::Bit,
        }
    }

    /// Number of dimensions (bits for a bit vector).
    pub fn dims(&self) -> usize {
        match self {
            Vector::Float32(v) => v.len(),
            Vector::Int8(v) => v.len(),
            Vector::Bit(v) => v.len() * 8,
        }
    }

    /// The BLOB bytes of this vector.
    pub fn to_blob(&self) -> Vec<u8> {
        match self {
            Vector::Float32(v) => codec::f32_to_blob(v),
            Vector::Int8(v) => v.iter().map(|&x| x as u8).collect(),
            Vector::Bit(v) => v.to_vec(),
        }
    }

    /// The JSON text of this vector, as sqlite-vec's `vec_to_json` prints it.
    pub fn to_json(&self) -> String {
        match self {
            Vector::Float32(v) => codec::format_json_f32(v),
            Vector::Int8(v) => codec::format_json_i8(v),
            Vector::Bit(v) => codec::format_json_bits(v, v.len() * 8),
        }
    }

    /// A short description for error messages: "a float32 vector of 3 dimensions".
    pub fn describe(&self) -> String {
        describe(self.element_type(), self.dims())
    }
}

pub fn describe(element_type: ElementType, dims: usize) -> String {
    format!("a {} vector of {dims} dimensions", element_type.name())
}

/// How an SQL value that is not a vector is named in messages.
pub fn describe_value(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_string(),
        ValueRef::Integer(i) => format!("the integer {i}"),
        ValueRef::Real(r) => format!("the real {r}"),
        ValueRef::Text(t) => format!("text of {} bytes", t.len()),
        ValueRef::Blob(b) => format!("a BLOB of {} bytes", b.len()),
    }
}

fn check_dims(dims: usize) -> Result<(), String> {
    if dims == 0 {
        Err(
            "expected a vector, got an empty one (zero dimensions) (sqlite-vec: zero-length \
             vectors are not supported.)"
                .to_string(),
        )
    } else if dims > MAX_DIMENSIONS {
        Err(format!(
            "expected at most {MAX_DIMENSIONS} dimensions, got {dims}"
        ))
    } else {
        Ok(())
    }
}

/// Checks that `bytes` is a float32 BLOB of an acceptable dimension count.
pub fn check_f32_blob(bytes: &[u8]) -> Result<(), String> {
    if !bytes.len().is_multiple_of(4) {
        return Err(format!(
            "expected a float32 BLOB (length a multiple of 4 bytes), got {0} bytes (sqlite-vec: \
             invalid float32 vector BLOB length. Must be divisible by 4, found {0})",
            bytes.len()
        ));
    }
    check_dims(bytes.len() / 4)
}

/// The bytes as `&[f32]` if their memory is aligned (little-endian targets only).
fn aligned_f32(bytes: &[u8]) -> Option<&[f32]> {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: every bit pattern is a valid f32, and align_to only hands out the
        // part of the slice that is correctly aligned for f32.
        let (head, body, tail) = unsafe { bytes.align_to::<f32>() };
        if head.is_empty() && tail.is_empty() {
            return Some(body);
        }
    }
    let _ = bytes;
    None
}

fn decode_f32(bytes: &[u8], out: &mut Vec<f32>) {
    out.clear();
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
}

/// Float32 elements of a little-endian BLOB, borrowed when the memory is aligned.
pub fn f32_from_blob(bytes: &[u8]) -> Result<Cow<'_, [f32]>, String> {
    check_f32_blob(bytes)?;
    if let Some(x) = aligned_f32(bytes) {
        return Ok(Cow::Borrowed(x));
    }
    let mut out = Vec::with_capacity(bytes.len() / 4);
    decode_f32(bytes, &mut out);
    Ok(Cow::Owned(out))
}

thread_local! {
    /// Per-thread buffers for unaligned BLOBs, so hot loops do not allocate per row.
    static SCRATCH: [std::cell::RefCell<Vec<f32>>; 2] = Default::default();
}

/// Runs `f` on a validated float32 BLOB (see `check_f32_blob`) as `&[f32]`: in place
/// when aligned, else decoded into scratch buffer `slot` (0 or 1; nest with distinct
/// slots).
pub fn with_f32_slice<R>(bytes: &[u8], slot: usize, f: impl FnOnce(&[f32]) -> R) -> R {
    if let Some(x) = aligned_f32(bytes) {
        return f(x);
    }
    SCRATCH.with(|buffers| {
        let mut buffer = buffers[slot].borrow_mut();
        decode_f32(bytes, &mut buffer);
        f(&buffer)
    })
}

fn i8_from_blob(bytes: &[u8]) -> Result<Cow<'_, [i8]>, String> {
    check_dims(bytes.len())?;
    // SAFETY: i8 and u8 have the same size, alignment and validity.
    let elements = unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<i8>(), bytes.len()) };
    Ok(Cow::Borrowed(elements))
}

fn bits_from_blob(bytes: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    check_dims(bytes.len() * 8)?;
    Ok(Cow::Borrowed(bytes))
}

/// The first non-finite element, if any, as a message that starts with sqlite-vec's
/// wording ("invalid float32 vector: element 1 is NaN").
pub fn check_finite(v: &[f32]) -> Result<(), String> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => {
            let x = v[i];
            let name = if x.is_nan() {
                "NaN"
            } else if x > 0.0 {
                "Inf"
            } else {
                "-Inf"
            };
            Err(format!(
                "invalid float32 vector: element {i} is {name}: expected finite values, got {x}"
            ))
        }
    }
}

fn text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| "expected JSON text, got invalid UTF-8".to_string())
}

/// A JSON parse error, ending with sqlite-vec's message where it has one.
fn json_error(e: codec::CodecError) -> String {
    let sqlite_vec = match &e {
        codec::CodecError::Json {
            expected: "'['", ..
        } => "JSON array parsing error: Input does not start with '['",
        codec::CodecError::Empty => "zero-length vectors are not supported.",
        _ => return e.to_string(),
    };
    format!("{e} (sqlite-vec: {sqlite_vec})")
}

fn parse_json_f32(bytes: &[u8]) -> Result<Vec<f32>, String> {
    let v = codec::parse_json_f32(text(bytes)?).map_err(json_error)?;
    check_dims(v.len())?;
    Ok(v)
}

fn parse_json_i8(bytes: &[u8]) -> Result<Vec<i8>, String> {
    let v = codec::parse_json_i8(text(bytes)?).map_err(json_error)?;
    check_dims(v.len())?;
    Ok(v)
}

fn not_a_vector(value: ValueRef<'_>) -> String {
    format!(
        "expected a vector (BLOB or JSON text), got {} (sqlite-vec: Input must have type \
         BLOB (compact format) or TEXT (JSON), found {})",
        describe_value(value),
        sql_type_name(value)
    )
}

/// SQLite's name of the value's storage class, as sqlite-vec prints it.
pub fn sql_type_name(value: ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "INTEGER",
        ValueRef::Real(_) => "FLOAT",
        ValueRef::Text(_) => "TEXT",
        ValueRef::Blob(_) => "BLOB",
    }
}

/// Like `read_vector`, but float32 elements must be finite (NaN and infinity are
/// refused as `vec_f32` refuses them): the vec_* functions and vec_each read this.
pub fn read_finite_vector(value: ValueRef<'_>, subtype: u32) -> Result<Vector<'_>, String> {
    let v = read_vector(value, subtype)?;
    if let Vector::Float32(x) = &v {
        check_finite(x)?;
    }
    Ok(v)
}

/// Any vector: a BLOB typed by its subtype (bare = float32) or JSON text (float32).
/// Float32 elements are NOT checked for finiteness here (see `read_finite_vector`).
pub fn read_vector(value: ValueRef<'_>, subtype: u32) -> Result<Vector<'_>, String> {
    match value {
        ValueRef::Blob(b) => match subtype {
            SUBTYPE_BIT => bits_from_blob(b).map(Vector::Bit),
            SUBTYPE_INT8 => i8_from_blob(b).map(Vector::Int8),
            _ => f32_from_blob(b).map(Vector::Float32),
        },
        ValueRef::Text(t) => {
            let v = parse_json_f32(t)?;
            Ok(Vector::Float32(Cow::Owned(v)))
        }
        other => Err(not_a_vector(other)),
    }
}

/// A float32 vector for `vec_f32`: JSON text, a float32 BLOB or a 1-D numeric `.npy`
/// array BLOB (converted to float32); finite values only.
pub fn read_f32_vector(value: ValueRef<'_>, subtype: u32) -> Result<Cow<'_, [f32]>, String> {
    let v = match value {
        ValueRef::Blob(b) => match subtype {
            SUBTYPE_BIT | SUBTYPE_INT8 => {
                let got = read_vector(value, subtype)?;
                return Err(format!("expected a float32 vector, got {}", got.describe()));
            }
            _ if quiver_kernels::codec::npy::is_npy(b) => {
                Cow::Owned(quiver_kernels::codec::npy::vector_from_npy(b)?)
            }
            _ => f32_from_blob(b)?,
        },
        ValueRef::Text(t) => Cow::Owned(parse_json_f32(t)?),
        other => return Err(not_a_vector(other)),
    };
    check_finite(&v)?;
    Ok(v)
}

/// An int8 vector for `vec_int8`: JSON text of integers in -128..=127, or int8 bytes.
pub fn read_i8_vector(value: ValueRef<'_>, subtype: u32) -> Result<Cow<'_, [i8]>, String> {
    match value {
        ValueRef::Blob(b) => match subtype {
            SUBTYPE_BIT | SUBTYPE_FLOAT32 => {
                let got = read_vector(value, subtype)?;
                Err(format!("expected an int8 vector, got {}", got.describe()))
            }
            _ => i8_from_blob(b),
        },
        ValueRef::Text(t) => Ok(Cow::Owned(parse_json_i8(t)?)),
        other => Err(not_a_vector(other)),
    }
}

/// A bit vector for `vec_bit`: a BLOB of packed bits.
pub fn read_bit_vector(value: ValueRef<'_>, subtype: u32) -> Result<Cow<'_, [u8]>, String> {
    match value {
        ValueRef::Blob(b) => match subtype {
            SUBTYPE_INT8 | SUBTYPE_FLOAT32 => {
                let got = read_vector(value, subtype)?;
                Err(format!("expected a bit vector, got {}", got.describe()))
            }
            _ => bits_from_blob(b),
        },
        other => Err(format!(
            "expected a bit vector BLOB, got {} (sqlite-vec: Unknown type for bitvector.)",
            describe_value(other)
        )),
    }
}
