//! The `.npy` format (what `numpy.save` writes) as the BLOB format for n-d arrays.
//!
//! Layout: the magic `\x93NUMPY`, a major and minor version byte, the header length
//! (u16 little-endian for version 1, u32 for versions 2 and 3), then an ASCII (v3:
//! UTF-8) Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
//! padded with spaces and a newline, then the raw elements.
//!
//! Only numeric and bool dtypes are accepted (`b1`, `i1`..`i8`, `u1`..`u8`, `f2`, `f4`,
//! `f8`, either byte order). Object dtypes (which numpy stores with pickle), structured
//! dtypes, strings and complex numbers are refused: reading an array never runs code.
//! Written arrays are always version 1, little-endian, C order, header padded to 64 bytes
//! (as numpy writes them). Pure Rust, no SQLite: it could move to quiver-kernels.

use std::borrow::Cow;
use std::fmt;

/// The first six bytes of every `.npy` file.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Arrays with more dimensions are refused (numpy's own limit is 64).
pub const MAX_NDIM: usize = 32;
/// Headers longer than this are refused (numpy refuses above 10,000 bytes by default).
const MAX_HEADER_LEN: usize = 100_000;

/// Why bytes are not an acceptable `.npy` array.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NpyError {
    #[error("not a .npy array (expected the magic \\x93NUMPY, got a BLOB of {0} bytes)")]
    NotNpy(usize),
    #[error("unsupported .npy format version {0}.{1} (expected 1.0, 2.0 or 3.0)")]
    Version(u8, u8),
    #[error("truncated .npy array: {0}")]
    Truncated(String),
    #[error("malformed .npy header: {0}")]
    Header(String),
    #[error("unsupported dtype {0:?}: only bool, int8..int64, uint8..uint64 and float16/32/64 arrays are accepted (object dtypes, which need pickle, are refused)")]
    DType(String),
    #[error("{0}")]
    Shape(String),
}

/// The element type of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F16,
    F32,
    F64,
}

impl DType {
    pub const ALL: [DType; 12] = [
        DType::Bool,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::F16,
        DType::F32,
        DType::F64,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 | DType::F16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// numpy's name (`numpy.dtype(...).name`).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::F16 => "float16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    fn kind(self) -> char {
        match self {
            DType::Bool => 'b',
            DType::I8 | DType::I16 | DType::I32 | DType::I64 => 'i',
            DType::U8 | DType::U16 | DType::U32 | DType::U64 => 'u',
            DType::F16 | DType::F32 | DType::F64 => 'f',
        }
    }

    pub fn is_float(self) -> bool {
        self.kind() == 'f'
    }

    /// The little-endian descr numpy writes (`'<f4'`, `'|b1'`).
    pub fn descr(self) -> String {
        let order = if self.size() == 1 { '|' } else { '<' };
        format!("{order}{}{}", self.kind(), self.size())
    }

    /// A dtype from a numpy name (`'float32'`, `'int8'`, `'bool'`) or a descr
    /// (`'<f4'`, `'f4'`, `'|u1'`); returns it with "big-endian" when the descr says `>`.
    pub fn parse(text: &str) -> Result<(DType, bool), NpyError> {
        let t = text.trim();
        for d in DType::ALL {
            if t == d.name() {
                return Ok((d, false));
            }
        }
        match t {
            "float" | "double" => return Ok((DType::F64, false)),
            "half" => return Ok((DType::F16, false)),
            "single" => return Ok((DType::F32, false)),
            "?" | "bool_" => return Ok((DType::Bool, false)),
            _ => {}
        }
        let (big, rest) = match t.as_bytes().first() {
            Some(b'<') | Some(b'|') | Some(b'=') => (false, &t[1..]),
            Some(b'>') => (true, &t[1..]),
            _ => (false, t),
        };
        let dtype = match rest {
            "b1" | "?" => DType::Bool,
            "i1" => DType::I8,
            "i2" => DType::I16,
            "i4" => DType::I32,
            "i8" => DType::I64,
            "u1" => DType::U8,
            "u2" => DType::U16,
            "u4" => DType::U32,
            "u8" => DType::U64,
            "f2" | "e" => DType::F16,
            "f4" => DType::F32,
            "f8" => DType::F64,
            _ => return Err(NpyError::DType(text.to_string())),
        };
        // Native order ('=') is little-endian on every platform quiver builds for.
        Ok((dtype, big && dtype.size() > 1))
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One element, widened.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Scalar {
    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => f64::from(u8::from(b)),
            Scalar::Int(i) => i as f64,
            Scalar::UInt(u) => u as f64,
            Scalar::Float(x) => x,
        }
    }
}

/// A parsed `.npy` array; borrows the element bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray<'a> {
    pub dtype: DType,
    pub big_endian: bool,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// The raw elements, exactly `size() * dtype.size()` bytes.
    pub data: &'a [u8],
}

/// Whether `bytes` start like a `.npy` array (magic and a known major version).
pub fn is_npy(bytes: &[u8]) -> bool {
    bytes.len() >= 10 && &bytes[..6] == MAGIC && (1..=3).contains(&bytes[6]) && bytes[7] == 0
}

/// Number of elements of `shape`, or an error when the product overflows.
pub fn element_count(shape: &[usize]) -> Result<usize, NpyError> {
    shape.iter().try_fold(1usize, |acc, &d| {
        acc.checked_mul(d)
            .ok_or_else(|| NpyError::Shape(format!("shape {shape:?} is too large")))
    })
}

impl<'a> NdArray<'a> {
    /// Parses `.npy` bytes, checking the header and that the data has exactly the
    /// size the shape and dtype call for.
    pub fn parse(bytes: &'a [u8]) -> Result<NdArray<'a>, NpyError> {
        if bytes.len() < 8 || &bytes[..6] != MAGIC {
            return Err(NpyError::NotNpy(bytes.len()));
        }
        let (major, minor) = (bytes[6], bytes[7]);
        let (header_len, start) = match (major, minor) {
            (1, 0) => {
                if bytes.len() < 10 {
                    return Err(NpyError::Truncated("no header length".into()));
                }
                (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10)
            }
            (2, 0) | (3, 0) => {
                if bytes.len() < 12 {
                    return Err(NpyError::Truncated("no header length".into()));
                }
                let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
                (n as usize, 12)
            }
            _ => return Err(NpyError::Version(major, minor)),
        };
        if header_len > MAX_HEADER_LEN {
            return Err(NpyError::Header(format!(
                "header of {header_len} bytes (at most {MAX_HEADER_LEN} accepted)"
            )));
        }
        let end = start + header_len;
        if bytes.len() < end {
            return Err(NpyError::Truncated(format!(
                "header says {header_len} bytes, only {} follow",
                bytes.len() - start
            )));
        }
        let header = std::str::from_utf8(&bytes[start..end])
            .map_err(|_| NpyError::Header("not valid text".into()))?;
        let parsed = parse_header(header)?;
        let (dtype, big_endian) = DType::parse(&parsed.descr)?;
        let count = element_count(&parsed.shape)?;
        let expected = count
            .checked_mul(dtype.size())
            .ok_or_else(|| NpyError::Shape(format!("shape {:?} is too large", parsed.shape)))?;
        let data = &bytes[end..];
        if data.len() != expected {
            return Err(NpyError::Truncated(format!(
                "shape {:?} of {} needs {expected} data bytes, got {}",
                parsed.shape,
                dtype.name(),
                data.len()
            )));
        }
        Ok(NdArray {
            dtype,
            big_endian,
            fortran_order: parsed.fortran_order,
            shape: parsed.shape,
            data,
        })
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    pub fn size(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// The shape as JSON: `[2,3]`, `[]` for a 0-d array.
    pub fn shape_json(&self) -> String {
        shape_json(&self.shape)
    }

    fn raw<const N: usize>(&self, index: usize) -> [u8; N] {
        let mut b = [0u8; N];
        b.copy_from_slice(&self.data[index * N..index * N + N]);
        if self.big_endian {
            b.reverse();
        }
        b
    }

    /// The element at storage position `index` (not checked beyond slice bounds).
    pub fn scalar_at(&self, index: usize) -> Scalar {
        match self.dtype {
            DType::Bool => Scalar::Bool(self.data[index] != 0),
            DType::I8 => Scalar::Int(i64::from(self.data[index] as i8)),
            DType::U8 => Scalar::UInt(u64::from(self.data[index])),
            DType::I16 => Scalar::Int(i64::from(i16::from_le_bytes(self.raw(index)))),
            DType::U16 => Scalar::UInt(u64::from(u16::from_le_bytes(self.raw(index)))),
            DType::I32 => Scalar::Int(i64::from(i32::from_le_bytes(self.raw(index)))),
            DType::U32 => Scalar::UInt(u64::from(u32::from_le_bytes(self.raw(index)))),
            DType::I64 => Scalar::Int(i64::from_le_bytes(self.raw(index))),
            DType::U64 => Scalar::UInt(u64::from_le_bytes(self.raw(index))),
            DType::F16 => Scalar::Float(f16_to_f64(u16::from_le_bytes(self.raw(index)))),
            DType::F32 => Scalar::Float(f64::from(f32::from_le_bytes(self.raw(index)))),
            DType::F64 => Scalar::Float(f64::from_le_bytes(self.raw(index))),
        }
    }

    /// Storage position of a multi-index, honouring the array's order.
    pub fn offset_of(&self, index: &[i64]) -> Result<usize, NpyError> {
        if index.len() != self.ndim() {
            return Err(NpyError::Shape(format!(
                "expected {} indices for shape {}, got {}",
                self.ndim(),
                self.shape_json(),
                index.len()
            )));
        }
        let mut offset = 0usize;
        let mut stride = 1usize;
        let axes: Vec<usize> = if self.fortran_order {
            (0..self.ndim()).collect()
        } else {
            (0..self.ndim()).rev().collect()
        };
        for axis in axes {
            let dim = self.shape[axis];
            let i = index[axis];
            // Negative indices count from the end, as in numpy.
            let resolved = if i < 0 { i + dim as i64 } else { i };
            if resolved < 0 || resolved >= dim as i64 {
                return Err(NpyError::Shape(format!(
                    "index {i} is out of bounds for axis {axis} with size {dim}"
                )));
            }
            offset += resolved as usize * stride;
            stride *= dim;
        }
        Ok(offset)
    }

    /// The elements in C (row-major) order, widened.
    pub fn scalars_c_order(&self) -> Vec<Scalar> {
        self.c_order_positions()
            .into_iter()
            .map(|p| self.scalar_at(p))
            .collect()
    }

    /// Storage positions in C order (identity unless the array is Fortran-ordered).
    fn c_order_positions(&self) -> Vec<usize> {
        let n = self.size();
        if !self.fortran_order || self.ndim() < 2 {
            return (0..n).collect();
        }
        let nd = self.ndim();
        // Fortran strides: axis 0 varies fastest.
        let mut strides = vec![1usize; nd];
        for a in 1..nd {
            strides[a] = strides[a - 1] * self.shape[a - 1];
        }
        let mut out = Vec::with_capacity(n);
        let mut idx = vec![0usize; nd];
        for _ in 0..n {
            out.push(idx.iter().zip(&strides).map(|(i, s)| i * s).sum());
            for a in (0..nd).rev() {
                idx[a] += 1;
                if idx[a] < self.shape[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
        out
    }

    /// Little-endian element bytes in C order (borrowed when already so).
    pub fn c_order_le_bytes(&self) -> Cow<'a, [u8]> {
        let size = self.dtype.size();
        let needs_swap = self.big_endian && size > 1;
        let needs_reorder = self.fortran_order && self.ndim() >= 2;
        if !needs_swap && !needs_reorder {
            return Cow::Borrowed(self.data);
        }
        let mut out = Vec::with_capacity(self.data.len());
        for p in self.c_order_positions() {
            let start = out.len();
            out.extend_from_slice(&self.data[p * size..(p + 1) * size]);
            if needs_swap {
                out[start..].reverse();
            }
        }
        Cow::Owned(out)
    }

    /// Every element as f32 in C order (bool as 0/1), for vectors and model inputs.
    pub fn to_f32_vec(&self) -> Vec<f32> {
        if self.dtype == DType::F32 && !self.big_endian && !(self.fortran_order && self.ndim() >= 2)
        {
            return self
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
        }
        self.scalars_c_order()
            .into_iter()
            .map(|s| s.as_f64() as f32)
            .collect()
    }

    /// The array as nested JSON lists (a bare number for a 0-d array); NaN and
    /// infinities become `null`, as JSON has no spelling for them.
    pub fn to_json(&self) -> String {
        let scalars = self.scalars_c_order();
        let mut out = String::with_capacity(scalars.len() * 4 + 2);
        let mut pos = 0;
        write_nested(&mut out, &self.shape, &scalars, &mut pos, self.dtype);
        out
    }
}

fn write_scalar(out: &mut String, s: Scalar, dtype: DType) {
    use std::fmt::Write;
    match s {
        Scalar::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Scalar::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Scalar::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Scalar::Float(x) if !x.is_finite() => out.push_str("null"),
        Scalar::Float(x) => {
            // Shortest text that reads back to the same value of the array's dtype.
            let _ = match dtype {
                DType::F32 | DType::F16 => write!(out, "{:?}", x as f32),
                _ => write!(out, "{x:?}"),
            };
        }
    }
}

fn write_nested(out: &mut String, shape: &[usize], s: &[Scalar], pos: &mut usize, dtype: DType) {
    match shape.split_first() {
        None => {
            write_scalar(out, s[*pos], dtype);
            *pos += 1;
        }
        Some((&n, rest)) => {
            out.push('[');
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                write_nested(out, rest, s, pos, dtype);
            }
            out.push(']');
        }
    }
}

pub fn shape_json(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// `.npy` bytes (version 1, little-endian, C order) for `data_le`, which must hold
/// exactly `element_count(shape) * dtype.size()` little-endian bytes.
pub fn write_npy(dtype: DType, shape: &[usize], data_le: &[u8]) -> Result<Vec<u8>, NpyError> {
    let count = element_count(shape)?;
    if count.checked_mul(dtype.size()) != Some(data_le.len()) {
        return Err(NpyError::Shape(format!(
            "shape {} of {} needs {} elements, got {} bytes",
            shape_json(shape),
            dtype.name(),
            count,
            data_le.len()
        )));
    }
    let shape_text = match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_text}, }}",
        dtype.descr()
    );
    // Pad with spaces so that magic + version + length + header is a multiple of 64,
    // the last byte being a newline.
    let unpadded = 10 + header.len() + 1;
    let padding = (64 - unpadded % 64) % 64;
    header.extend(std::iter::repeat_n(' ', padding));
    header.push('\n');
    if header.len() > usize::from(u16::MAX) {
        return Err(NpyError::Shape(format!(
            "a {}-d array header does not fit .npy version 1",
            shape.len()
        )));
    }
    let mut out = Vec::with_capacity(10 + header.len() + data_le.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data_le);
    Ok(out)
}

/// A 1-D float32 `.npy` array.
pub fn f32_to_npy(values: &[f32]) -> Vec<u8> {
    let mut data = Vec::with_capacity(values.len() * 4);
    for v in values {
        data.extend_from_slice(&v.to_le_bytes());
    }
    // The size always matches: one element per value.
    write_npy(DType::F32, &[values.len()], &data).unwrap_or_default()
}

/// A 1-D numeric `.npy` array as float32 elements, for `vec_f32(npy)`.
pub fn vector_from_npy(bytes: &[u8]) -> Result<Vec<f32>, String> {
    let a = NdArray::parse(bytes).map_err(|e| e.to_string())?;
    if a.ndim() != 1 {
        return Err(format!(
            "expected a 1-D .npy array as a vector, got shape {}",
            a.shape_json()
        ));
    }
    if a.size() == 0 {
        return Err("expected a vector, got an empty .npy array".to_string());
    }
    if a.size() > crate::MAX_DIMENSIONS {
        return Err(format!(
            "expected at most {} dimensions, got {}",
            crate::MAX_DIMENSIONS,
            a.size()
        ));
    }
    Ok(a.to_f32_vec())
}

/// Converts f16 bits to f64 (IEEE 754 binary16).
pub fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f64::from(bits & 0x3ff);
    match exponent {
        0 => sign * mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + mantissa / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Converts f64 to the nearest f16 bits (round to nearest even; overflow to infinity).
pub fn f64_to_f16(value: f64) -> u16 {
    if value.is_nan() {
        return 0x7e00;
    }
    let sign: u16 = if value.is_sign_negative() { 0x8000 } else { 0 };
    let a = value.abs();
    if a >= 65520.0 {
        return sign | 0x7c00;
    }
    if a < 2f64.powi(-14) {
        // Subnormal: units of 2^-24.
        let m = (a * 2f64.powi(24)).round_ties_even() as u16;
        return sign | m;
    }
    let mut e = a.log2().floor() as i32;
    let mut m = (a / 2f64.powi(e) - 1.0) * 1024.0;
    m = m.round_ties_even();
    if m >= 1024.0 {
        m = 0.0;
        e += 1;
    }
    if e > 15 {
        return sign | 0x7c00;
    }
    sign | (((e + 15) as u16) << 10) | m as u16
}

struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parses the header dict literal: three keys, each once, with string, bool and
/// int-tuple values. Anything else (lists for structured dtypes, unknown keys) is refused.
fn parse_header(text: &str) -> Result<Header, NpyError> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let bad = |m: &str| NpyError::Header(m.to_string());
    p.ws();
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        match key.as_str() {
            "descr" => {
                if p.peek() != Some(b'\'') && p.peek() != Some(b'"') {
                    return Err(NpyError::DType(
                        "a structured dtype (a list of fields)".to_string(),
                    ));
                }
                descr = Some(p.string()?);
            }
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            other => return Err(NpyError::Header(format!("unexpected key {other:?}"))),
        }
        p.ws();
        if !p.eat(b',') {
            p.ws();
            p.expect(b'}')?;
            break;
        }
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(bad("trailing characters after the dict"));
    }
    let shape: Vec<usize> = shape.ok_or_else(|| bad("no 'shape' key"))?;
    if shape.len() > MAX_NDIM {
        return Err(NpyError::Shape(format!(
            "{} dimensions (at most {MAX_NDIM} accepted)",
            shape.len()
        )));
    }
    Ok(Header {
        descr: descr.ok_or_else(|| bad("no 'descr' key"))?,
        fortran_order: fortran.ok_or_else(|| bad("no 'fortran_order' key"))?,
        shape,
    })
}

struct Parser<'s> {
    s: &'s [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), NpyError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(NpyError::Header(format!(
                "expected {:?} at byte {}",
                c as char, self.i
            )))
        }
    }
    fn string(&mut self) -> Result<String, NpyError> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(NpyError::Header(format!(
                    "expected a string at byte {}",
                    self.i
                )))
            }
        };
        self.i += 1;
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == quote {
                let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                return Ok(s);
            }
            if c == b'\\' {
                return Err(NpyError::Header("escapes in strings".into()));
            }
            self.i += 1;
        }
        Err(NpyError::Header("unterminated string".into()))
    }
    fn boolean(&mut self) -> Result<bool, NpyError> {
        let rest = &self.s[self.i..];
        if rest.starts_with(b"True") {
            self.i += 4;
            Ok(true)
        } else if rest.starts_with(b"False") {
            self.i += 5;
            Ok(false)
        } else {
            Err(NpyError::Header(
                "'fortran_order' is not True or False".into(),
            ))
        }
    }
    fn tuple(&mut self) -> Result<Vec<usize>, NpyError> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.eat(b')') {
                return Ok(out);
            }
            let start = self.i;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            // Python 2 era files may write longs as 3L.
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            let _ = self.eat(b'L');
            let d: usize = digits
                .parse()
                .map_err(|_| NpyError::Header(format!("bad dimension at byte {start}")))?;
            out.push(d);
            if out.len() > MAX_NDIM {
                return Err(NpyError::Shape(format!("more than {MAX_NDIM} dimensions")));
            }
            self.ws();
            if !self.eat(b',') {
                self.ws();
                self.expect(b')')?;
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numpy_header(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let f = if fortran { "True" } else { "False" };
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}");
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn round_trip_f32() {
        let bytes = f32_to_npy(&[1.0, 2.5, -3.0]);
        assert_eq!(bytes.len() % 64, 12);
        let a = NdArray::parse(&bytes).unwrap();
        assert_eq!(a.dtype, DType::F32);
        assert_eq!(a.shape, vec![3]);
        assert_eq!(a.to_f32_vec(), vec![1.0, 2.5, -3.0]);
        assert_eq!(a.to_json(), "[1.0,2.5,-3.0]");
    }

    #[test]
    fn big_endian_and_fortran() {
        // 2x3 int16 big-endian Fortran order: columns stored first.
        let logical = [[1i16, 2, 3], [4, 5, 6]];
        let mut data = Vec::new();
        for j in 0..3 {
            for row in &logical {
                data.extend_from_slice(&row[j].to_be_bytes());
            }
        }
        let bytes = numpy_header(">i2", true, "(2, 3)", &data);
        let a = NdArray::parse(&bytes).unwrap();
        assert_eq!(a.to_json(), "[[1,2,3],[4,5,6]]");
        assert_eq!(a.scalar_at(a.offset_of(&[1, 0]).unwrap()), Scalar::Int(4));
        assert_eq!(a.scalar_at(a.offset_of(&[-1, -1]).unwrap()), Scalar::Int(6));
        let le = a.c_order_le_bytes();
        assert_eq!(&le[..4], &[1, 0, 2, 0]);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(matches!(NdArray::parse(b"hello"), Err(NpyError::NotNpy(_))));
        let obj = numpy_header("|O", false, "(1,)", &[0; 8]);
        assert!(matches!(NdArray::parse(&obj), Err(NpyError::DType(_))));
        let short = numpy_header("<f4", false, "(3,)", &[0; 8]);
        assert!(matches!(
            NdArray::parse(&short),
            Err(NpyError::Truncated(_))
        ));
        let mut v9 = f32_to_npy(&[1.0]);
        v9[6] = 9;
        assert!(matches!(NdArray::parse(&v9), Err(NpyError::Version(9, 0))));
    }

    #[test]
    fn f16_conversions() {
        for x in [0.0, 1.0, -2.5, 65504.0, 0.000061035156, 5.96e-8] {
            let back = f16_to_f64(f64_to_f16(x));
            assert!((back - x).abs() <= x.abs() * 1e-3 + 1e-7, "{x} -> {back}");
        }
        assert_eq!(f64_to_f16(1.0), 0x3c00);
    }
}
