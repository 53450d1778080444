//! Building a `Reader` for an Arrow array and reading its cells as SQLite values.

use std::borrow::Cow;
use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::timezone::Tz;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, PrimitiveArray, UInt64Array};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, TimeUnit};

use crate::arrow::temporal::{format_date, format_time, format_timestamp};
use crate::arrow::text::InlineText;
use crate::arrow::types::{
    ColumnClass, DecimalArray, DictKeys, Json, Num, Reader, SqlValue, TypeError,
};
use crate::vec::vector::{SUBTYPE_FLOAT32, SUBTYPE_INT8};

pub(crate) fn unsupported(field: &Field, data_type: &DataType) -> TypeError {
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

    pub(crate) fn build(array: &ArrayRef, field: &Field, top: bool) -> Result<Reader, TypeError> {
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

pub(crate) fn any_null<T: arrow_array::ArrowPrimitiveType>(
    values: &PrimitiveArray<T>,
    row: usize,
    dim: usize,
) -> bool {
    (row * dim..row * dim + dim).any(|i| values.is_null(i))
}

pub(crate) fn text_or_null(s: Option<InlineText>) -> SqlValue<'static> {
    match s {
        Some(s) => SqlValue::Short(s),
        None => SqlValue::Null,
    }
}

/// Little-endian float32 bytes (zero-copy on little-endian hosts).
pub(crate) fn f32_bytes(values: &[f32]) -> Cow<'_, [u8]> {
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
