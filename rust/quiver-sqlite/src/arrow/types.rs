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

use arrow_array::cast::AsArray;
use arrow_array::timezone::Tz;
use arrow_array::types::*;
use arrow_array::{
    Array, BinaryArray, BinaryViewArray, BooleanArray, FixedSizeBinaryArray, FixedSizeListArray,
    Float16Array, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array,
    LargeBinaryArray, LargeStringArray, PrimitiveArray, StringArray, StringViewArray, UInt16Array,
    UInt32Array, UInt64Array, UInt8Array,
};
use arrow_buffer::NullBuffer;
use arrow_schema::DataType;

use crate::arrow::temporal::Temporal;
use crate::arrow::text::InlineText;

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
    pub(crate) fn range(&self, row: usize) -> (usize, usize) {
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
    pub(crate) fn new(keys: &dyn Array) -> Option<DictKeys> {
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
