//! Arrow columns as SQLite values: one `Reader` per (batch, column), built once when a
//! table is registered, so reading a cell is a `match` and an index.
//!
//! | Arrow                                   | SQLite                                   |
//! |-----------------------------------------|------------------------------------------|
//! | bool, int8..int64, uint8..uint64        | INTEGER (uint64 above i64::MAX: error)   |
//! | float16/32/64                           | REAL (NaN reads as NULL)                 |
//! | decimal32/64/128/256                    | TEXT, exact ("-12.50")                   |
//! | utf8, large_utf8, utf8_view             | TEXT                                     |
//! | binary, large/view, fixed_size_binary   | BLOB                                     |
//! | date32, date64                          | TEXT 'YYYY-MM-DD'                        |
//! | timestamp[unit, tz]                     | TEXT 'YYYY-MM-DD HH:MM:SS[.f]' [+HH:MM]  |
//! | time32/time64                           | TEXT 'HH:MM:SS[.f]'                      |
//! | duration[unit]                          | INTEGER count of the unit                |
//! | dictionary<_, V>                        | as V (decoded)                           |
//! | fixed_size_list<float32 / int8>         | vector BLOB (subtype 223 / 225)          |
//! | list, large_list, list_view, struct, map, other fixed_size_list | TEXT (JSON)      |

use std::borrow::Cow;
use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::timezone::Tz;
use arrow_array::types::*;
use arrow_array::{
    Array, ArrayRef, BinaryArray, BinaryViewArray, BooleanArray, FixedSizeBinaryArray,
    FixedSizeListArray, Float16Array, Float32Array, Float64Array, Int16Array, Int32Array,
    Int64Array, Int8Array, LargeBinaryArray, LargeStringArray, PrimitiveArray, StringArray,
    StringViewArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, TimeUnit};
use chrono::{NaiveTime, Offset, TimeZone};

use crate::vec::vector::{SUBTYPE_FLOAT32, SUBTYPE_INT8};

/// Why a column cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TypeError {
    #[error("column \"{column}\": Arrow type {data_type} is not supported")]
    Unsupported { column: String, data_type: String },
    #[error(
        "column \"{column}\": uint64 value {value} is above the SQLite INTEGER range \
         (max 9223372036854775807)"
    )]
    U64Overflow { column: String, value: u64 },
    #[error("column \"{column}\": invalid time zone {tz:?}: {message}")]
    TimeZone {
        column: String,
        tz: String,
        message: String,
    },
}

/// Short text formatted on the stack (dates, times, timestamps): no allocation per cell.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InlineText {
    buf: [u8; 48],
    len: u8,
}

impl InlineText {
    pub fn new() -> InlineText {
        InlineText {
            buf: [0; 48],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: the buffer is only written by write_str (whole &str values) and
        // push_ascii (ASCII bytes), so its first len bytes are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.buf[..self.len as usize]) }
    }

    /// Appends ASCII bytes (silently truncated at the capacity, like write_str fails).
    fn push_ascii(&mut self, bytes: &[u8]) {
        debug_assert!(bytes.is_ascii());
        let start = self.len as usize;
        if bytes.is_ascii() && start + bytes.len() <= self.buf.len() {
            self.buf[start..start + bytes.len()].copy_from_slice(bytes);
            self.len = (start + bytes.len()) as u8;
        }
    }
}

impl std::ops::Deref for InlineText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Default for InlineText {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for InlineText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Write for InlineText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let start = self.len as usize;
        let end = start + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[start..end].copy_from_slice(s.as_bytes());
        self.len = end as u8;
        Ok(())
    }
}

/// One SQLite value read from Arrow memory.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(Cow<'a, str>),
    /// Text formatted without allocating.
    Short(InlineText),
    Blob(Cow<'a, [u8]>),
    /// A vector BLOB with its sqlite-vec subtype.
    Vector(Cow<'a, [u8]>, u32),
}

/// A number read from a numeric column, for filters.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    Int(i64),
    Real(f64),
}

/// How SQLite sees a column: the declared type (and so the affinity) and whether its
/// comparisons can be evaluated over Arrow memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnClass {
    /// INTEGER or REAL values only: comparisons are evaluated exactly.
    Numeric,
    /// Plain TEXT: BINARY comparisons against TEXT constants are evaluated.
    Text,
    /// Anything else: only IS NULL / IS NOT NULL are evaluated.
    Other,
}

#[derive(Debug, Clone, Copy)]
pub enum Temporal {
    Second,
    Milli,
    Micro,
    Nano,
}

impl From<&TimeUnit> for Temporal {
    fn from(unit: &TimeUnit) -> Self {
        match unit {
            TimeUnit::Second => Temporal::Second,
            TimeUnit::Millisecond => Temporal::Milli,
            TimeUnit::Microsecond => Temporal::Micro,
            TimeUnit::Nanosecond => Temporal::Nano,
        }
    }
}

impl Temporal {
    fn digits(self) -> usize {
        match self {
            Temporal::Second => 0,
            Temporal::Milli => 3,
            Temporal::Micro => 6,
            Temporal::Nano => 9,
        }
    }
}

#[derive(Debug, Clone)]
pub enum DecimalArray {
    D32(PrimitiveArray<Decimal32Type>),
    D64(PrimitiveArray<Decimal64Type>),
    D128(PrimitiveArray<Decimal128Type>),
    D256(PrimitiveArray<Decimal256Type>),
}

#[derive(Debug, Clone)]
pub enum ListRanges {
    List(arrow_buffer::OffsetBuffer<i32>),
    Large(arrow_buffer::OffsetBuffer<i64>),
    View(
        arrow_buffer::ScalarBuffer<i32>,
        arrow_buffer::ScalarBuffer<i32>,
    ),
    LargeView(
        arrow_buffer::ScalarBuffer<i64>,
        arrow_buffer::ScalarBuffer<i64>,
    ),
    Fixed(usize),
}

impl ListRanges {
    fn range(&self, row: usize) -> (usize, usize) {
        match self {
            ListRanges::List(o) => (o[row] as usize, o[row + 1] as usize),
            ListRanges::Large(o) => (o[row] as usize, o[row + 1] as usize),
            ListRanges::View(off, len) => {
                (off[row] as usize, off[row] as usize + len[row] as usize)
            }
            ListRanges::LargeView(off, len) => {
                (off[row] as usize, off[row] as usize + len[row] as usize)
            }
            ListRanges::Fixed(n) => (row * n, row * n + n),
        }
    }
}

/// Nested values, written as JSON.
#[derive(Debug, Clone)]
pub enum Json {
    Scalar(Box<Reader>),
    List {
        nulls: Option<NullBuffer>,
        ranges: ListRanges,
        child: Box<Json>,
    },
    Struct {
        nulls: Option<NullBuffer>,
        names: Vec<String>,
        children: Vec<Json>,
    },
    Map {
        nulls: Option<NullBuffer>,
        offsets: arrow_buffer::OffsetBuffer<i32>,
        keys: Box<Json>,
        values: Box<Json>,
    },
}

/// Reads one Arrow array as SQLite values.
#[derive(Debug, Clone)]
pub enum Reader {
    Null,
    Bool(BooleanArray),
    I8(Int8Array),
    I16(Int16Array),
    I32(Int32Array),
    I64(Int64Array),
    U8(UInt8Array),
    U16(UInt16Array),
    U32(UInt32Array),
    /// Checked at construction: every value fits in i64.
    U64(UInt64Array),
    /// uint64 shown as decimal text (register_arrow(..., uint64="text")).
    U64Text(UInt64Array),
    F16(Float16Array),
    F32(Float32Array),
    F64(Float64Array),
    Decimal {
        array: DecimalArray,
        precision: u8,
        scale: i8,
    },
    Utf8(StringArray),
    LargeUtf8(LargeStringArray),
    Utf8View(StringViewArray),
    Binary(BinaryArray),
    LargeBinary(LargeBinaryArray),
    BinaryView(BinaryViewArray),
    FixedBinary(FixedSizeBinaryArray),
    Date32(PrimitiveArray<Date32Type>),
    Date64(PrimitiveArray<Date64Type>),
    Timestamp {
        values: arrow_buffer::ScalarBuffer<i64>,
        nulls: Option<NullBuffer>,
        unit: Temporal,
        tz: Option<Tz>,
    },
    Time {
        values: Vec<i64>,
        nulls: Option<NullBuffer>,
        unit: Temporal,
    },
    Duration {
        values: arrow_buffer::ScalarBuffer<i64>,
        nulls: Option<NullBuffer>,
    },
    Dictionary {
        keys: DictKeys,
        nulls: Option<NullBuffer>,
        values: Box<Reader>,
    },
    VectorF32 {
        list: FixedSizeListArray,
        values: Float32Array,
        dim: usize,
    },
    VectorI8 {
        list: FixedSizeListArray,
        values: Int8Array,
        dim: usize,
    },
    Json(Box<Json>),
}

/// The SQLite declared type for an Arrow type (as used in CREATE TABLE).
pub fn declared_type(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Duration(_) => "INTEGER",
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "REAL",
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "BLOB",
        DataType::FixedSizeList(child, _)
            if matches!(child.data_type(), DataType::Float32 | DataType::Int8) =>
        {
            "BLOB"
        }
        DataType::Dictionary(_, value) => declared_type(value),
        DataType::Null => "",
        _ => "TEXT",
    }
}

fn unsupported(field: &Field, data_type: &DataType) -> TypeError {
    TypeError::Unsupported {
        column: field.name().clone(),
        data_type: data_type.to_string(),
    }
}

impl Reader {
    /// A reader for column `field` of one batch. Checks what can only be checked on the
    /// values (uint64 range).
    pub fn new(array: &ArrayRef, field: &Field) -> Result<Reader, TypeError> {
        Self::build(array, field, true)
    }

    fn build(array: &ArrayRef, field: &Field, top: bool) -> Result<Reader, TypeError> {
        let data_type = array.data_type();
        Ok(match data_type {
            DataType::Null => Reader::Null,
            DataType::Boolean => Reader::Bool(array.as_boolean().clone()),
            DataType::Int8 => Reader::I8(array.as_primitive().clone()),
            DataType::Int16 => Reader::I16(array.as_primitive().clone()),
            DataType::Int32 => Reader::I32(array.as_primitive().clone()),
            DataType::Int64 => Reader::I64(array.as_primitive().clone()),
            DataType::UInt8 => Reader::U8(array.as_primitive().clone()),
            DataType::UInt16 => Reader::U16(array.as_primitive().clone()),
            DataType::UInt32 => Reader::U32(array.as_primitive().clone()),
            DataType::UInt64 => {
                let a: UInt64Array = array.as_primitive().clone();
                let max = a.iter().flatten().max();
                if let Some(value) = max.filter(|m| *m > i64::MAX as u64) {
                    return Err(TypeError::U64Overflow {
                        column: field.name().clone(),
                        value,
                    });
                }
                Reader::U64(a)
            }
            DataType::Float16 => Reader::F16(array.as_primitive().clone()),
            DataType::Float32 => Reader::F32(array.as_primitive().clone()),
            DataType::Float64 => Reader::F64(array.as_primitive().clone()),
            DataType::Decimal32(p, s) => Reader::Decimal {
                array: DecimalArray::D32(array.as_primitive().clone()),
                precision: *p,
                scale: *s,
            },
            DataType::Decimal64(p, s) => Reader::Decimal {
                array: DecimalArray::D64(array.as_primitive().clone()),
                precision: *p,
                scale: *s,
            },
            DataType::Decimal128(p, s) => Reader::Decimal {
                array: DecimalArray::D128(array.as_primitive().clone()),
                precision: *p,
                scale: *s,
            },
            DataType::Decimal256(p, s) => Reader::Decimal {
                array: DecimalArray::D256(array.as_primitive().clone()),
                precision: *p,
                scale: *s,
            },
            DataType::Utf8 => Reader::Utf8(array.as_string().clone()),
            DataType::LargeUtf8 => Reader::LargeUtf8(array.as_string().clone()),
            DataType::Utf8View => Reader::Utf8View(array.as_string_view().clone()),
            DataType::Binary => Reader::Binary(array.as_binary().clone()),
            DataType::LargeBinary => Reader::LargeBinary(array.as_binary().clone()),
            DataType::BinaryView => Reader::BinaryView(array.as_binary_view().clone()),
            DataType::FixedSizeBinary(_) => {
                Reader::FixedBinary(array.as_fixed_size_binary().clone())
            }
            DataType::Date32 => Reader::Date32(array.as_primitive().clone()),
            DataType::Date64 => Reader::Date64(array.as_primitive().clone()),
            DataType::Timestamp(unit, tz) => {
                let tz = match tz {
                    None => None,
                    Some(name) => Some(name.parse::<Tz>().map_err(|e| TypeError::TimeZone {
                        column: field.name().clone(),
                        tz: name.to_string(),
                        message: e.to_string(),
                    })?),
                };
                let values = match unit {
                    TimeUnit::Second => array.as_primitive::<TimestampSecondType>().values(),
                    TimeUnit::Millisecond => {
                        array.as_primitive::<TimestampMillisecondType>().values()
                    }
                    TimeUnit::Microsecond => {
                        array.as_primitive::<TimestampMicrosecondType>().values()
                    }
                    TimeUnit::Nanosecond => {
                        array.as_primitive::<TimestampNanosecondType>().values()
                    }
                }
                .clone();
                Reader::Timestamp {
                    values,
                    nulls: array.logical_nulls(),
                    unit: unit.into(),
                    tz,
                }
            }
            DataType::Time32(unit) => {
                let values: Vec<i64> = match unit {
                    TimeUnit::Second => array
                        .as_primitive::<Time32SecondType>()
                        .values()
                        .iter()
                        .map(|v| i64::from(*v))
                        .collect(),
                    _ => array
                        .as_primitive::<Time32MillisecondType>()
                        .values()
                        .iter()
                        .map(|v| i64::from(*v))
                        .collect(),
                };
                Reader::Time {
                    values,
                    nulls: array.logical_nulls(),
                    unit: unit.into(),
                }
            }
            DataType::Time64(unit) => {
                let values: Vec<i64> = match unit {
                    TimeUnit::Nanosecond => array
                        .as_primitive::<Time64NanosecondType>()
                        .values()
                        .to_vec(),
                    _ => array
                        .as_primitive::<Time64MicrosecondType>()
                        .values()
                        .to_vec(),
                };
                Reader::Time {
                    values,
                    nulls: array.logical_nulls(),
                    unit: unit.into(),
                }
            }
            DataType::Duration(unit) => {
                let values = match unit {
                    TimeUnit::Second => array.as_primitive::<DurationSecondType>().values(),
                    TimeUnit::Millisecond => {
                        array.as_primitive::<DurationMillisecondType>().values()
                    }
                    TimeUnit::Microsecond => {
                        array.as_primitive::<DurationMicrosecondType>().values()
                    }
                    TimeUnit::Nanosecond => array.as_primitive::<DurationNanosecondType>().values(),
                }
                .clone();
                Reader::Duration {
                    values,
                    nulls: array.logical_nulls(),
                }
            }
            DataType::Dictionary(_, _) => {
                let dict = array
                    .as_any_dictionary_opt()
                    .ok_or_else(|| unsupported(field, data_type))?;
                let values = Reader::build(dict.values(), field, top)?;
                Reader::Dictionary {
                    keys: DictKeys::new(dict.keys())
                        .ok_or_else(|| unsupported(field, data_type))?,
                    nulls: dict.keys().logical_nulls(),
                    values: Box::new(values),
                }
            }
            DataType::FixedSizeList(child, dim)
                if top && matches!(child.data_type(), DataType::Float32 | DataType::Int8) =>
            {
                let list = array.as_fixed_size_list().clone();
                let dim = *dim as usize;
                match child.data_type() {
                    DataType::Float32 => Reader::VectorF32 {
                        values: list.values().as_primitive().clone(),
                        list,
                        dim,
                    },
                    _ => Reader::VectorI8 {
                        values: list.values().as_primitive().clone(),
                        list,
                        dim,
                    },
                }
            }
            DataType::List(_)
            | DataType::LargeList(_)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Struct(_)
            | DataType::Map(_, _) => Reader::Json(Box::new(Json::build(array, field)?)),
            _ => return Err(unsupported(field, data_type)),
        })
    }

    /// How SQLite sees this column (for filter pushdown).
    pub fn class(&self) -> ColumnClass {
        match self {
            Reader::Bool(_)
            | Reader::I8(_)
            | Reader::I16(_)
            | Reader::I32(_)
            | Reader::I64(_)
            | Reader::U8(_)
            | Reader::U16(_)
            | Reader::U32(_)
            | Reader::U64(_)
            | Reader::F16(_)
            | Reader::F32(_)
            | Reader::F64(_)
            | Reader::Duration { .. } => ColumnClass::Numeric,
            Reader::Utf8(_) | Reader::LargeUtf8(_) | Reader::Utf8View(_) => ColumnClass::Text,
            Reader::Dictionary { values, .. } => values.class(),
            _ => ColumnClass::Other,
        }
    }

    /// Whether the cell reads as SQL NULL (Arrow null, NaN float, null dictionary value,
    /// vector with a null element).
    pub fn is_null(&self, row: usize) -> bool {
        fn n(nulls: Option<&NullBuffer>, row: usize) -> bool {
            nulls.is_some_and(|b| b.is_null(row))
        }
        match self {
            Reader::Null => true,
            Reader::Bool(a) => a.is_null(row),
            Reader::I8(a) => a.is_null(row),
            Reader::I16(a) => a.is_null(row),
            Reader::I32(a) => a.is_null(row),
            Reader::I64(a) => a.is_null(row),
            Reader::U8(a) => a.is_null(row),
            Reader::U16(a) => a.is_null(row),
            Reader::U32(a) => a.is_null(row),
            Reader::U64(a) | Reader::U64Text(a) => a.is_null(row),
            Reader::F16(a) => a.is_null(row) || a.value(row).is_nan(),
            Reader::F32(a) => a.is_null(row) || a.value(row).is_nan(),
            Reader::F64(a) => a.is_null(row) || a.value(row).is_nan(),
            Reader::Decimal { array, .. } => match array {
                DecimalArray::D32(a) => a.is_null(row),
                DecimalArray::D64(a) => a.is_null(row),
                DecimalArray::D128(a) => a.is_null(row),
                DecimalArray::D256(a) => a.is_null(row),
            },
            Reader::Utf8(a) => a.is_null(row),
            Reader::LargeUtf8(a) => a.is_null(row),
            Reader::Utf8View(a) => a.is_null(row),
            Reader::Binary(a) => a.is_null(row),
            Reader::LargeBinary(a) => a.is_null(row),
            Reader::BinaryView(a) => a.is_null(row),
            Reader::FixedBinary(a) => a.is_null(row),
            Reader::Date32(a) => a.is_null(row),
            Reader::Date64(a) => a.is_null(row),
            Reader::Timestamp { nulls, .. }
            | Reader::Time { nulls, .. }
            | Reader::Duration { nulls, .. } => n(nulls.as_ref(), row),
            Reader::Dictionary {
                keys,
                nulls,
                values,
            } => n(nulls.as_ref(), row) || values.is_null(keys.get(row)),
            Reader::VectorF32 { list, values, dim } => {
                list.is_null(row) || (values.null_count() > 0 && any_null(values, row, *dim))
            }
            Reader::VectorI8 { list, values, dim } => {
                list.is_null(row) || (values.null_count() > 0 && any_null(values, row, *dim))
            }
            Reader::Json(json) => json.is_null(row),
        }
    }

    /// The cell as a number, for numeric columns (None for NULL or non-numeric).
    #[inline]
    pub fn num(&self, row: usize) -> Option<Num> {
        if self.is_null(row) {
            return None;
        }
        Some(match self {
            Reader::Bool(a) => Num::Int(i64::from(a.value(row))),
            Reader::I8(a) => Num::Int(i64::from(a.value(row))),
            Reader::I16(a) => Num::Int(i64::from(a.value(row))),
            Reader::I32(a) => Num::Int(i64::from(a.value(row))),
            Reader::I64(a) => Num::Int(a.value(row)),
            Reader::U8(a) => Num::Int(i64::from(a.value(row))),
            Reader::U16(a) => Num::Int(i64::from(a.value(row))),
            Reader::U32(a) => Num::Int(i64::from(a.value(row))),
            Reader::U64(a) => Num::Int(a.value(row) as i64),
            Reader::F16(a) => Num::Real(a.value(row).to_f64()),
            Reader::F32(a) => Num::Real(f64::from(a.value(row))),
            Reader::F64(a) => Num::Real(a.value(row)),
            Reader::Duration { values, .. } => Num::Int(values[row]),
            Reader::Dictionary { keys, values, .. } => return values.num(keys.get(row)),
            _ => return None,
        })
    }

    /// The cell as UTF-8 bytes, for text columns (None for NULL or non-text).
    #[inline]
    pub fn text(&self, row: usize) -> Option<&[u8]> {
        match self {
            Reader::Utf8(a) => (!a.is_null(row)).then(|| a.value(row).as_bytes()),
            Reader::LargeUtf8(a) => (!a.is_null(row)).then(|| a.value(row).as_bytes()),
            Reader::Utf8View(a) => (!a.is_null(row)).then(|| a.value(row).as_bytes()),
            Reader::Dictionary {
                keys,
                nulls,
                values,
            } => {
                if nulls.as_ref().is_some_and(|b| b.is_null(row)) {
                    None
                } else {
                    values.text(keys.get(row))
                }
            }
            _ => None,
        }
    }

    /// The cell as a SQLite value.
    pub fn value(&self, row: usize) -> SqlValue<'_> {
        if self.is_null(row) {
            return SqlValue::Null;
        }
        match self {
            Reader::Null => SqlValue::Null,
            Reader::Bool(_)
            | Reader::I8(_)
            | Reader::I16(_)
            | Reader::I32(_)
            | Reader::I64(_)
            | Reader::U8(_)
            | Reader::U16(_)
            | Reader::U32(_)
            | Reader::U64(_)
            | Reader::F16(_)
            | Reader::F32(_)
            | Reader::F64(_)
            | Reader::Duration { .. } => match self.num(row) {
                Some(Num::Int(i)) => SqlValue::Integer(i),
                Some(Num::Real(r)) => SqlValue::Real(r),
                None => SqlValue::Null,
            },
            Reader::Decimal {
                array,
                precision,
                scale,
            } => {
                let (p, s) = (*precision, *scale);
                SqlValue::Text(Cow::Owned(match array {
                    DecimalArray::D32(a) => Decimal32Type::format_decimal(a.value(row), p, s),
                    DecimalArray::D64(a) => Decimal64Type::format_decimal(a.value(row), p, s),
                    DecimalArray::D128(a) => Decimal128Type::format_decimal(a.value(row), p, s),
                    DecimalArray::D256(a) => Decimal256Type::format_decimal(a.value(row), p, s),
                }))
            }
            Reader::Utf8(a) => SqlValue::Text(Cow::Borrowed(a.value(row))),
            Reader::LargeUtf8(a) => SqlValue::Text(Cow::Borrowed(a.value(row))),
            Reader::Utf8View(a) => SqlValue::Text(Cow::Borrowed(a.value(row))),
            Reader::Binary(a) => SqlValue::Blob(Cow::Borrowed(a.value(row))),
            Reader::LargeBinary(a) => SqlValue::Blob(Cow::Borrowed(a.value(row))),
            Reader::BinaryView(a) => SqlValue::Blob(Cow::Borrowed(a.value(row))),
            Reader::FixedBinary(a) => SqlValue::Blob(Cow::Borrowed(a.value(row))),
            Reader::Date32(a) => text_or_null(format_date(i64::from(a.value(row)))),
            Reader::Date64(a) => text_or_null(format_date(a.value(row).div_euclid(86_400_000))),
            Reader::Timestamp {
                values, unit, tz, ..
            } => text_or_null(format_timestamp(values[row], *unit, tz.as_ref())),
            Reader::Time { values, unit, .. } => text_or_null(format_time(values[row], *unit)),
            Reader::Dictionary { keys, values, .. } => values.value(keys.get(row)),
            Reader::U64Text(a) => {
                let mut t = InlineText::new();
                let _ = write!(t, "{}", a.value(row));
                SqlValue::Short(t)
            }
            Reader::VectorF32 { values, dim, .. } => {
                let slice = &values.values()[row * dim..row * dim + dim];
                SqlValue::Vector(f32_bytes(slice), SUBTYPE_FLOAT32)
            }
            Reader::VectorI8 { values, dim, .. } => {
                let slice = &values.values()[row * dim..row * dim + dim];
                // i8 -> u8 is a bit-for-bit view.
                let bytes: Vec<u8> = slice.iter().map(|v| *v as u8).collect();
                SqlValue::Vector(Cow::Owned(bytes), SUBTYPE_INT8)
            }
            Reader::Json(json) => {
                let mut out = String::new();
                json.write(row, &mut out);
                SqlValue::Text(Cow::Owned(out))
            }
        }
    }
}

/// Dictionary keys, kept in their Arrow buffer (no copy).
#[derive(Debug, Clone)]
pub enum DictKeys {
    I8(arrow_buffer::ScalarBuffer<i8>),
    I16(arrow_buffer::ScalarBuffer<i16>),
    I32(arrow_buffer::ScalarBuffer<i32>),
    I64(arrow_buffer::ScalarBuffer<i64>),
    U8(arrow_buffer::ScalarBuffer<u8>),
    U16(arrow_buffer::ScalarBuffer<u16>),
    U32(arrow_buffer::ScalarBuffer<u32>),
    U64(arrow_buffer::ScalarBuffer<u64>),
}

impl DictKeys {
    fn new(keys: &dyn Array) -> Option<DictKeys> {
        Some(match keys.data_type() {
            DataType::Int8 => DictKeys::I8(keys.as_primitive_opt::<Int8Type>()?.values().clone()),
            DataType::Int16 => {
                DictKeys::I16(keys.as_primitive_opt::<Int16Type>()?.values().clone())
            }
            DataType::Int32 => {
                DictKeys::I32(keys.as_primitive_opt::<Int32Type>()?.values().clone())
            }
            DataType::Int64 => {
                DictKeys::I64(keys.as_primitive_opt::<Int64Type>()?.values().clone())
            }
            DataType::UInt8 => DictKeys::U8(keys.as_primitive_opt::<UInt8Type>()?.values().clone()),
            DataType::UInt16 => {
                DictKeys::U16(keys.as_primitive_opt::<UInt16Type>()?.values().clone())
            }
            DataType::UInt32 => {
                DictKeys::U32(keys.as_primitive_opt::<UInt32Type>()?.values().clone())
            }
            DataType::UInt64 => {
                DictKeys::U64(keys.as_primitive_opt::<UInt64Type>()?.values().clone())
            }
            _ => return None,
        })
    }

    /// The key of `row` as an index. Only read for non-null slots, whose keys are in
    /// range (imported data is validated); a negative key maps to usize::MAX, which the
    /// callers' bounds checks turn into an error rather than a wrong value.
    #[inline]
    pub fn get(&self, row: usize) -> usize {
        fn idx<T: TryInto<usize>>(k: T) -> usize {
            k.try_into().unwrap_or(usize::MAX)
        }
        match self {
            DictKeys::I8(k) => idx(k[row]),
            DictKeys::I16(k) => idx(k[row]),
            DictKeys::I32(k) => idx(k[row]),
            DictKeys::I64(k) => idx(k[row]),
            DictKeys::U8(k) => usize::from(k[row]),
            DictKeys::U16(k) => usize::from(k[row]),
            DictKeys::U32(k) => idx(k[row]),
            DictKeys::U64(k) => idx(k[row]),
        }
    }
}

fn any_null<T: arrow_array::ArrowPrimitiveType>(
    values: &PrimitiveArray<T>,
    row: usize,
    dim: usize,
) -> bool {
    (row * dim..row * dim + dim).any(|i| values.is_null(i))
}

fn text_or_null(s: Option<InlineText>) -> SqlValue<'static> {
    match s {
        Some(s) => SqlValue::Short(s),
        None => SqlValue::Null,
    }
}

/// Little-endian float32 bytes (zero-copy on little-endian hosts).
fn f32_bytes(values: &[f32]) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        // SAFETY: f32 has no padding and any byte pattern is a valid u8; the slice
        // covers exactly the same memory.
        Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
        })
    } else {
        Cow::Owned(values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
}

fn write_fraction(out: &mut InlineText, nanos: u32, unit: Temporal) {
    let digits = unit.digits();
    if digits > 0 {
        out.push_ascii(b".");
        let mut scaled = nanos / 10u32.pow(9 - digits as u32);
        let mut buf = [b'0'; 9];
        for i in (0..digits).rev() {
            buf[i] = b'0' + (scaled % 10) as u8;
            scaled /= 10;
        }
        out.push_ascii(&buf[..digits]);
    }
}

/// (seconds, nanoseconds) of a count of `unit`s. One arm per unit, so every divisor is a
/// constant (a multiplication, not a 64-bit division per value).
fn split(value: i64, unit: Temporal) -> (i64, u32) {
    match unit {
        Temporal::Second => (value, 0),
        Temporal::Milli => (
            value.div_euclid(1_000),
            (value.rem_euclid(1_000) * 1_000_000) as u32,
        ),
        Temporal::Micro => (
            value.div_euclid(1_000_000),
            (value.rem_euclid(1_000_000) * 1_000) as u32,
        ),
        Temporal::Nano => (
            value.div_euclid(1_000_000_000),
            value.rem_euclid(1_000_000_000) as u32,
        ),
    }
}

/// 'YYYY-MM-DD HH:MM:SS[.fff]' in the column's unit, plus '+HH:MM' when it has a zone.
/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn push2(out: &mut InlineText, v: u32) {
    out.push_ascii(&[b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8]);
}

/// 'YYYY-MM-DD' for years 0..=9999, else chrono's rendering (with a sign).
fn write_date(out: &mut InlineText, days: i64) -> Option<()> {
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        let y = y as u32;
        push2(out, y / 100);
        push2(out, y % 100);
        out.push_ascii(b"-");
        push2(out, m);
        out.push_ascii(b"-");
        push2(out, d);
    } else {
        let date =
            chrono::NaiveDate::from_num_days_from_ce_opt(i32::try_from(days + 719_163).ok()?)?;
        let _ = write!(out, "{}", date.format("%Y-%m-%d"));
    }
    Some(())
}

fn format_date(days: i64) -> Option<InlineText> {
    let mut out = InlineText::new();
    write_date(&mut out, days)?;
    Some(out)
}

/// "00" to "99": the two ASCII digits of every number below 100.
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut table = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        table[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    table
};

/// Two decimal digits of `v` (0..=99) at `buf[at..at + 2]`.
#[inline(always)]
fn put2(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[(v % 100) as usize]);
}

/// Days since 1970-01-01 of 0000-01-01 and of 9999-12-31: the range of `civil_fast`.
const FAST_DAYS: std::ops::RangeInclusive<i64> = -719_528..=2_932_896;

/// (year, month, day) of a day count in `FAST_DAYS`, with 32-bit multiplications only
/// (Neri and Schneider, "Euclidean affine functions and their application to calendar
/// algorithms", 2022). Same results as `civil_from_days` on that range (tested).
#[inline(always)]
fn civil_fast(days: i64) -> (u32, u32, u32) {
    // Shift by 82 whole 400-year cycles so that every intermediate is unsigned.
    const CYCLES: u32 = 82;
    const SHIFT: u32 = 719_468 + 146_097 * CYCLES;
    let n = (days as i32 as u32).wrapping_add(SHIFT);
    let n1 = 4 * n + 3;
    let century = n1 / 146_097;
    let n2 = (n1 % 146_097) | 3;
    let p2 = 2_939_745u64 * u64::from(n2);
    let year_of_century = (p2 >> 32) as u32;
    let day_of_year = (p2 as u32) / 2_939_745 / 4;
    let n3 = 2_141 * day_of_year + 197_913;
    let month = n3 >> 16;
    let day = (n3 & 0xffff) / 2_141 + 1;
    let january_or_february = day_of_year >= 306;
    let year = 100 * century + year_of_century + u32::from(january_or_february) - 400 * CYCLES;
    let month = if january_or_february {
        month - 12
    } else {
        month
    };
    (year, month, day)
}

/// Local seconds since the epoch (UTC, or shifted into `tz`) -> 'YYYY-MM-DD HH:MM:SS[.f]'.
///
/// Years 0..=9999 are written in one go into a fixed template (the hot path of
/// timestamp columns); other years go through `write_date`.
fn write_local(out: &mut InlineText, secs: i64, nanos: u32, unit: Temporal) -> Option<()> {
    let days = secs.div_euclid(86_400);
    if FAST_DAYS.contains(&days) {
        let (y, m, d) = civil_fast(days);
        let sod = (secs - days * 86_400) as u32;
        // Written in place (no template copy: a wide load right after byte stores
        // stalls store forwarding).
        let start = out.len as usize;
        let b = out.buf.get_mut(start..start + 29)?;
        b[4] = b'-';
        b[7] = b'-';
        b[10] = b' ';
        b[13] = b':';
        b[16] = b':';
        b[19] = b'.';
        put2(b, 0, y / 100);
        put2(b, 2, y % 100);
        put2(b, 5, m);
        put2(b, 8, d);
        put2(b, 11, sod / 3600);
        put2(b, 14, sod / 60 % 60);
        put2(b, 17, sod % 60);
        let len = match unit {
            Temporal::Second => 19,
            Temporal::Milli => {
                let ms = nanos / 1_000_000;
                b[20] = b'0' + (ms / 100) as u8;
                put2(b, 21, ms % 100);
                23
            }
            Temporal::Micro => {
                let us = nanos / 1_000;
                put2(b, 20, us / 10_000);
                put2(b, 22, us / 100 % 100);
                put2(b, 24, us % 100);
                26
            }
            Temporal::Nano => {
                b[20] = b'0' + (nanos / 100_000_000) as u8;
                let rest = nanos % 100_000_000;
                put2(b, 21, rest / 1_000_000);
                put2(b, 23, rest / 10_000 % 100);
                put2(b, 25, rest / 100 % 100);
                put2(b, 27, rest % 100);
                29
            }
        };
        out.len = (start + len) as u8;
        return Some(());
    }
    write_date(out, days)?;
    let sod = secs.rem_euclid(86_400) as u32;
    out.push_ascii(b" ");
    push2(out, sod / 3600);
    out.push_ascii(b":");
    push2(out, sod / 60 % 60);
    out.push_ascii(b":");
    push2(out, sod % 60);
    write_fraction(out, nanos, unit);
    Some(())
}

/// 'YYYY-MM-DD HH:MM:SS[.fff]' in the column's unit, plus '+HH:MM' when it has a zone.
pub fn format_timestamp(value: i64, unit: Temporal, tz: Option<&Tz>) -> Option<InlineText> {
    let (secs, nanos) = split(value, unit);
    let mut out = InlineText::new();
    match tz {
        None => write_local(&mut out, secs, nanos, unit)?,
        Some(tz) => {
            let utc = chrono::DateTime::from_timestamp(secs, nanos)?.naive_utc();
            let offset = tz.offset_from_utc_datetime(&utc).fix();
            write_local(
                &mut out,
                secs + i64::from(offset.local_minus_utc()),
                nanos,
                unit,
            )?;
            let _ = write!(out, "{offset}");
        }
    }
    Some(out)
}

fn format_time(value: i64, unit: Temporal) -> Option<InlineText> {
    let (secs, nanos) = split(value, unit);
    let t = NaiveTime::from_num_seconds_from_midnight_opt(u32::try_from(secs).ok()?, nanos)?;
    let mut out = InlineText::new();
    let _ = write!(out, "{}", t.format("%H:%M:%S"));
    write_fraction(&mut out, nanos, unit);
    Some(out)
}

impl Json {
    fn build(array: &ArrayRef, field: &Field) -> Result<Json, TypeError> {
        Ok(match array.data_type() {
            DataType::List(_) => {
                let a = array.as_list::<i32>();
                Json::List {
                    nulls: a.logical_nulls(),
                    ranges: ListRanges::List(a.offsets().clone()),
                    child: Box::new(Json::build(a.values(), field)?),
                }
            }
            DataType::LargeList(_) => {
                let a = array.as_list::<i64>();
                Json::List {
                    nulls: a.logical_nulls(),
                    ranges: ListRanges::Large(a.offsets().clone()),
                    child: Box::new(Json::build(a.values(), field)?),
                }
            }
            DataType::ListView(_) => {
                let a = array.as_list_view::<i32>();
                Json::List {
                    nulls: a.logical_nulls(),
                    ranges: ListRanges::View(a.offsets().clone(), a.sizes().clone()),
                    child: Box::new(Json::build(a.values(), field)?),
                }
            }
            DataType::LargeListView(_) => {
                let a = array.as_list_view::<i64>();
                Json::List {
                    nulls: a.logical_nulls(),
                    ranges: ListRanges::LargeView(a.offsets().clone(), a.sizes().clone()),
                    child: Box::new(Json::build(a.values(), field)?),
                }
            }
            DataType::FixedSizeList(_, n) => {
                let a = array.as_fixed_size_list();
                Json::List {
                    nulls: a.logical_nulls(),
                    ranges: ListRanges::Fixed(*n as usize),
                    child: Box::new(Json::build(a.values(), field)?),
                }
            }
            DataType::Struct(fields) => {
                let a = array.as_struct();
                Json::Struct {
                    nulls: a.logical_nulls(),
                    names: fields.iter().map(|f| f.name().clone()).collect(),
                    children: a
                        .columns()
                        .iter()
                        .map(|c| Json::build(c, field))
                        .collect::<Result<_, _>>()?,
                }
            }
            DataType::Map(_, _) => {
                let a = array.as_map();
                Json::Map {
                    nulls: a.logical_nulls(),
                    offsets: a.offsets().clone(),
                    keys: Box::new(Json::build(a.keys(), field)?),
                    values: Box::new(Json::build(a.values(), field)?),
                }
            }
            _ => Json::Scalar(Box::new(Reader::build(array, field, false)?)),
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Json::Scalar(r) => r.is_null(row),
            Json::List { nulls, .. } | Json::Struct { nulls, .. } | Json::Map { nulls, .. } => {
                nulls.as_ref().is_some_and(|b| b.is_null(row))
            }
        }
    }

    fn write(&self, row: usize, out: &mut String) {
        if self.is_null(row) {
            out.push_str("null");
            return;
        }
        match self {
            Json::Scalar(r) => write_scalar(r, row, out),
            Json::List { ranges, child, .. } => {
                let (start, end) = ranges.range(row);
                out.push('[');
                for i in start..end {
                    if i > start {
                        out.push(',');
                    }
                    child.write(i, out);
                }
                out.push(']');
            }
            Json::Struct {
                names, children, ..
            } => {
                out.push('{');
                for (i, (name, child)) in names.iter().zip(children).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(name, out);
                    out.push(':');
                    child.write(row, out);
                }
                out.push('}');
            }
            Json::Map {
                offsets,
                keys,
                values,
                ..
            } => {
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                let string_keys =
                    matches!(**keys, Json::Scalar(ref r) if r.class() == ColumnClass::Text);
                out.push(if string_keys { '{' } else { '[' });
                for i in start..end {
                    if i > start {
                        out.push(',');
                    }
                    if string_keys {
                        keys.write(i, out);
                        out.push(':');
                        values.write(i, out);
                    } else {
                        out.push('[');
                        keys.write(i, out);
                        out.push(',');
                        values.write(i, out);
                        out.push(']');
                    }
                }
                out.push(if string_keys { '}' } else { ']' });
            }
        }
    }
}

fn write_scalar(reader: &Reader, row: usize, out: &mut String) {
    match reader {
        Reader::Bool(a) => out.push_str(if a.value(row) { "true" } else { "false" }),
        Reader::Decimal { .. } => {
            if let SqlValue::Text(t) = reader.value(row) {
                out.push_str(&t);
            }
        }
        Reader::Dictionary { keys, values, .. } => write_scalar(values, keys.get(row), out),
        _ => match reader.value(row) {
            SqlValue::Null => out.push_str("null"),
            SqlValue::Integer(i) => {
                let _ = write!(out, "{i}");
            }
            SqlValue::Real(r) if r.is_finite() => {
                let _ = write!(out, "{r:?}");
            }
            SqlValue::Real(_) => out.push_str("null"),
            SqlValue::Text(t) => write_json_string(&t, out),
            SqlValue::Short(t) => write_json_string(t.as_str(), out),
            SqlValue::Blob(b) | SqlValue::Vector(b, _) => {
                out.push('"');
                for byte in b.iter() {
                    let _ = write!(out, "{byte:02x}");
                }
                out.push('"');
            }
        },
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_dates_match_chrono() {
        for days in (-800_000i64..3_000_000).step_by(997) {
            let expected = chrono::NaiveDate::from_num_days_from_ce_opt((days + 719_163) as i32)
                .map(|d| d.format("%Y-%m-%d").to_string());
            assert_eq!(
                format_date(days).map(|t| t.as_str().to_string()),
                expected,
                "{days}"
            );
        }
    }

    #[test]
    fn fast_timestamps_match_chrono() {
        let units = [
            (Temporal::Second, 1i64, "%Y-%m-%d %H:%M:%S"),
            (Temporal::Milli, 1_000, "%Y-%m-%d %H:%M:%S%.3f"),
            (Temporal::Micro, 1_000_000, "%Y-%m-%d %H:%M:%S%.6f"),
            (Temporal::Nano, 1_000_000_000, "%Y-%m-%d %H:%M:%S%.9f"),
        ];
        // Seconds from year -100 to 10100 (both sides of the fast path's 0..=9999).
        let mut secs = -65_000_000_000i64;
        while secs < 256_000_000_000 {
            for (unit, per, format) in units {
                let sub = (secs.rem_euclid(997) * 7_919) % per;
                let Some(value) = secs.checked_mul(per).map(|v| v + sub) else {
                    continue;
                };
                let expected = chrono::DateTime::from_timestamp(
                    value.div_euclid(per),
                    (value.rem_euclid(per) * (1_000_000_000 / per)) as u32,
                )
                .map(|t| t.naive_utc().format(format).to_string());
                assert_eq!(
                    format_timestamp(value, unit, None).map(|t| t.as_str().to_string()),
                    expected,
                    "{value} {unit:?}"
                );
            }
            secs += 86_400 * 3 + 3_671;
        }
    }

    #[test]
    fn timestamps() {
        let us = Temporal::Micro;
        assert_eq!(
            format_timestamp(0, us, None).as_deref(),
            Some("1970-01-01 00:00:00.000000")
        );
        assert_eq!(
            format_timestamp(-1, us, None).as_deref(),
            Some("1969-12-31 23:59:59.999999")
        );
        let tz: Tz = "+05:30".parse().unwrap();
        assert_eq!(
            format_timestamp(0, Temporal::Second, Some(&tz)).as_deref(),
            Some("1970-01-01 05:30:00+05:30")
        );
    }
}
