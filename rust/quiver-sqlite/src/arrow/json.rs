//! Nested Arrow values (lists, structs, maps) as JSON text.

use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, Field};

use crate::arrow::types::{ColumnClass, Json, ListRanges, Reader, SqlValue, TypeError};

impl Json {
    pub(crate) fn build(array: &ArrayRef, field: &Field) -> Result<Json, TypeError> {
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

    pub(crate) fn is_null(&self, row: usize) -> bool {
        match self {
            Json::Scalar(r) => r.is_null(row),
            Json::List { nulls, .. } | Json::Struct { nulls, .. } | Json::Map { nulls, .. } => {
                nulls.as_ref().is_some_and(|b| b.is_null(row))
            }
        }
    }

    pub(crate) fn write(&self, row: usize, out: &mut String) {
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

pub(crate) fn write_scalar(reader: &Reader, row: usize, out: &mut String) {
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

pub(crate) fn write_json_string(s: &str, out: &mut String) {
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
