//! SQL functions over `.npy` array BLOBs: nd_shape, nd_dtype, nd_ndim, nd_size, nd_get,
//! nd_to_json, nd_array, nd_reshape, nd_from_vec.
//!
//! A NULL array argument gives NULL; every other non-array value is an error naming the
//! function and argument.

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Result};
use serde_json::Value as Json;

use crate::sqlite::error::{arg_error, sql_error};
use crate::vec::vector::{describe_value, read_vector, Vector};
use quiver_kernels::codec::npy::{self, DType, NdArray, Scalar};

/// Largest array nd_array builds (elements), so a JSON text cannot ask for unbounded memory.
const MAX_ELEMENTS: usize = 1 << 28;

/// The array in argument `index`, or None for NULL.
fn array_arg<'a>(
    ctx: &'a Context<'_>,
    function: &str,
    index: usize,
) -> Result<Option<NdArray<'a>>> {
    match ctx.get_raw(index) {
        ValueRef::Null => Ok(None),
        ValueRef::Blob(b) => NdArray::parse(b)
            .map(Some)
            .map_err(|e| arg_error(function, index, e)),
        other => Err(arg_error(
            function,
            index,
            format!("expected a .npy array BLOB, got {}", describe_value(other)),
        )),
    }
}

fn int_arg(ctx: &Context<'_>, function: &str, index: usize, what: &str) -> Result<i64> {
    match ctx.get_raw(index) {
        ValueRef::Integer(i) => Ok(i),
        other => Err(arg_error(
            function,
            index,
            format!("expected an integer {what}, got {}", describe_value(other)),
        )),
    }
}

fn scalar_value(function: &str, s: Scalar) -> Result<Value> {
    Ok(match s {
        Scalar::Bool(b) => Value::Integer(i64::from(b)),
        Scalar::Int(i) => Value::Integer(i),
        Scalar::UInt(u) => Value::Integer(i64::try_from(u).map_err(|_| {
            sql_error(format!(
                "{function}: the uint64 element {u} does not fit an SQL INTEGER"
            ))
        })?),
        Scalar::Float(x) if x.is_nan() => Value::Null,
        Scalar::Float(x) => Value::Real(x),
    })
}

fn nd_get(ctx: &Context<'_>) -> Result<Value> {
    let name = "nd_get";
    let Some(a) = array_arg(ctx, name, 0)? else {
        return Ok(Value::Null);
    };
    let index = (1..ctx.len())
        .map(|i| int_arg(ctx, name, i, "index"))
        .collect::<Result<Vec<i64>>>()?;
    let offset = a
        .offset_of(&index)
        .map_err(|e| sql_error(format!("{name}: {e}")))?;
    scalar_value(name, a.scalar_at(offset))
}

/// The dtype named by argument `index` (numpy name or descr).
fn dtype_arg(ctx: &Context<'_>, function: &str, index: usize) -> Result<Option<DType>> {
    match ctx.get_raw(index) {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => {
            let text = String::from_utf8_lossy(t);
            DType::parse(&text)
                .map(|(d, _)| Some(d))
                .map_err(|e| arg_error(function, index, e))
        }
        other => Err(arg_error(
            function,
            index,
            format!(
                "expected a dtype name such as 'float32' or 'int64', got {}",
                describe_value(other)
            ),
        )),
    }
}

/// Shape and leaves of a nested JSON list; errors when ragged or not numeric.
fn json_shape_and_leaves<'j>(
    value: &'j Json,
    depth: usize,
    shape: &mut Vec<usize>,
    leaves: &mut Vec<&'j Json>,
) -> std::result::Result<(), String> {
    if leaves.len() > MAX_ELEMENTS {
        return Err(format!("more than {MAX_ELEMENTS} elements"));
    }
    match value {
        Json::Array(items) => {
            if depth > npy::MAX_NDIM {
                return Err(format!("more than {} dimensions", npy::MAX_NDIM));
            }
            if depth == shape.len() {
                if !leaves.is_empty() {
                    return Err("ragged nesting (lists and numbers at the same depth)".into());
                }
                shape.push(items.len());
            } else if shape[depth] != items.len() {
                return Err(format!(
                    "ragged nesting: a list of {} elements where {} were expected at depth {}",
                    items.len(),
                    shape[depth],
                    depth
                ));
            }
            for item in items {
                json_shape_and_leaves(item, depth + 1, shape, leaves)?;
            }
            Ok(())
        }
        Json::Number(_) | Json::Bool(_) => {
            if depth != shape.len() {
                return Err("ragged nesting (lists and numbers at the same depth)".into());
            }
            leaves.push(value);
            Ok(())
        }
        Json::Null => Err("null elements are not allowed (arrays have no missing values)".into()),
        Json::String(_) => {
            Err("string elements are not allowed (numbers and booleans only)".into())
        }
        Json::Object(_) => Err("objects are not allowed (numbers and booleans only)".into()),
    }
}

fn infer_dtype(leaves: &[&Json]) -> DType {
    if !leaves.is_empty() && leaves.iter().all(|v| v.is_boolean()) {
        DType::Bool
    } else if leaves.iter().all(|v| v.is_i64() || v.is_boolean()) && !leaves.is_empty() {
        DType::I64
    } else {
        DType::F64
    }
}

/// Appends `v` as a little-endian element of `dtype`, checking the range.
fn push_element(out: &mut Vec<u8>, v: &Json, dtype: DType) -> std::result::Result<(), String> {
    let as_f64 = match v {
        Json::Bool(b) => f64::from(u8::from(*b)),
        Json::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        _ => return Err("not a number".into()),
    };
    if dtype.is_float() {
        match dtype {
            DType::F16 => out.extend_from_slice(&npy::f64_to_f16(as_f64).to_le_bytes()),
            DType::F32 => {
                let x = as_f64 as f32;
                if x.is_infinite() {
                    return Err(format!("{v} overflows float32"));
                }
                out.extend_from_slice(&x.to_le_bytes())
            }
            _ => out.extend_from_slice(&as_f64.to_le_bytes()),
        }
        return Ok(());
    }
    if dtype == DType::Bool {
        let b = match v {
            Json::Bool(b) => *b,
            _ if as_f64 == 0.0 => false,
            _ if as_f64 == 1.0 => true,
            _ => return Err(format!("{v} is not a boolean (true/false or 0/1)")),
        };
        out.push(u8::from(b));
        return Ok(());
    }
    // Integers: exact for i64/u64 JSON numbers, integral floats accepted.
    let wide: i128 = match v {
        Json::Bool(b) => i128::from(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                i128::from(i)
            } else if let Some(u) = n.as_u64() {
                i128::from(u)
            } else if as_f64.fract() == 0.0 && as_f64.abs() < 1.8e19 {
                as_f64 as i128
            } else {
                return Err(format!("{v} is not an integer"));
            }
        }
        _ => return Err("not a number".into()),
    };
    let (lo, hi): (i128, i128) = match dtype {
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::I64 => (i64::MIN.into(), i64::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::U16 => (0, u16::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        _ => (0, u64::MAX.into()),
    };
    if wide < lo || wide > hi {
        return Err(format!(
            "{wide} is outside the {} range {lo}..={hi}",
            dtype.name()
        ));
    }
    let bytes = wide.to_le_bytes();
    out.extend_from_slice(&bytes[..dtype.size()]);
    Ok(())
}

fn nd_array(ctx: &Context<'_>) -> Result<Option<Vec<u8>>> {
    let name = "nd_array";
    let text = match ctx.get_raw(0) {
        ValueRef::Null => return Ok(None),
        ValueRef::Text(t) => t,
        other => {
            return Err(arg_error(
                name,
                0,
                format!(
                    "expected JSON text (nested lists of numbers), got {}",
                    describe_value(other)
                ),
            ))
        }
    };
    let json: Json = serde_json::from_slice(text)
        .map_err(|e| arg_error(name, 0, format!("invalid JSON: {e}")))?;
    let mut shape = Vec::new();
    let mut leaves = Vec::new();
    json_shape_and_leaves(&json, 0, &mut shape, &mut leaves).map_err(|m| arg_error(name, 0, m))?;
    let dtype = if ctx.len() > 1 {
        dtype_arg(ctx, name, 1)?
    } else {
        None
    }
    .unwrap_or_else(|| infer_dtype(&leaves));
    let mut data = Vec::with_capacity(leaves.len() * dtype.size());
    for (i, leaf) in leaves.iter().enumerate() {
        push_element(&mut data, leaf, dtype)
            .map_err(|m| arg_error(name, 0, format!("element {i}: {m}")))?;
    }
    npy::write_npy(dtype, &shape, &data)
        .map(Some)
        .map_err(|e| sql_error(format!("{name}: {e}")))
}

/// The new shape: integer arguments, or one JSON list; one dimension may be -1.
fn nd_reshape(ctx: &Context<'_>) -> Result<Option<Vec<u8>>> {
    let name = "nd_reshape";
    let Some(a) = array_arg(ctx, name, 0)? else {
        return Ok(None);
    };
    let dims: Vec<i64> = match ctx.get_raw(1) {
        ValueRef::Text(t) if ctx.len() == 2 => {
            serde_json::from_slice::<Vec<i64>>(t).map_err(|_| {
                arg_error(
                    name,
                    1,
                    format!(
                        "expected a JSON list of integers such as '[2,3]', got '{}'",
                        String::from_utf8_lossy(t)
                    ),
                )
            })?
        }
        _ => (1..ctx.len())
            .map(|i| int_arg(ctx, name, i, "dimension"))
            .collect::<Result<_>>()?,
    };
    if dims.len() > npy::MAX_NDIM {
        return Err(sql_error(format!(
            "{name}: at most {} dimensions",
            npy::MAX_NDIM
        )));
    }
    let size = a.size();
    let unknown: Vec<usize> = (0..dims.len()).filter(|&i| dims[i] == -1).collect();
    if unknown.len() > 1 || dims.iter().any(|&d| d < -1) {
        return Err(sql_error(format!(
            "{name}: dimensions must be non-negative, with at most one -1, got {dims:?}"
        )));
    }
    let known: usize = dims
        .iter()
        .filter(|&&d| d >= 0)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
        .ok_or_else(|| sql_error(format!("{name}: shape {dims:?} is too large")))?;
    let mut shape: Vec<usize> = dims.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(&u) = unknown.first() {
        if known == 0 || size % known != 0 {
            return Err(sql_error(format!(
                "{name}: cannot reshape an array of {size} elements into shape {dims:?}"
            )));
        }
        shape[u] = size / known;
    } else if known != size {
        return Err(sql_error(format!(
            "{name}: cannot reshape an array of {size} elements (shape {}) into shape {}",
            a.shape_json(),
            npy::shape_json(&shape)
        )));
    }
    npy::write_npy(a.dtype, &shape, &a.c_order_le_bytes())
        .map(Some)
        .map_err(|e| sql_error(format!("{name}: {e}")))
}

/// A vector (float32 / int8 BLOB by subtype, JSON text, bit) as a 1-D array.
fn nd_from_vec(ctx: &Context<'_>) -> Result<Option<Vec<u8>>> {
    let name = "nd_from_vec";
    if let ValueRef::Null = ctx.get_raw(0) {
        return Ok(None);
    }
    let v = read_vector(ctx.get_raw(0), ctx.get_subtype(0)).map_err(|m| arg_error(name, 0, m))?;
    let out = match &v {
        Vector::Float32(x) => npy::f32_to_npy(x),
        Vector::Int8(x) => {
            let data: Vec<u8> = x.iter().map(|&e| e as u8).collect();
            npy::write_npy(DType::I8, &[x.len()], &data)
                .map_err(|e| sql_error(format!("{name}: {e}")))?
        }
        Vector::Bit(bytes) => {
            // One bool per bit, LSB-first as sqlite-vec packs them.
            let data: Vec<u8> = (0..bytes.len() * 8)
                .map(|i| (bytes[i / 8] >> (i % 8)) & 1)
                .collect();
            npy::write_npy(DType::Bool, &[data.len()], &data)
                .map_err(|e| sql_error(format!("{name}: {e}")))?
        }
    };
    Ok(Some(out))
}

/// Registers the nd_* functions on `conn`.
pub fn register(conn: &Connection) -> Result<()> {
    let pure = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("nd_shape", 1, pure, |c| {
        Ok(array_arg(c, "nd_shape", 0)?.map(|a| a.shape_json()))
    })?;
    conn.create_scalar_function("nd_dtype", 1, pure, |c| {
        Ok(array_arg(c, "nd_dtype", 0)?.map(|a| a.dtype.name()))
    })?;
    conn.create_scalar_function("nd_ndim", 1, pure, |c| {
        Ok(array_arg(c, "nd_ndim", 0)?.map(|a| a.ndim() as i64))
    })?;
    conn.create_scalar_function("nd_size", 1, pure, |c| {
        Ok(array_arg(c, "nd_size", 0)?.map(|a| a.size() as i64))
    })?;
    conn.create_scalar_function("nd_to_json", 1, pure, |c| {
        Ok(array_arg(c, "nd_to_json", 0)?.map(|a| a.to_json()))
    })?;
    conn.create_scalar_function("nd_get", -1, pure, |c| {
        if c.is_empty() {
            return Err(sql_error("nd_get: expected an array and indices"));
        }
        nd_get(c)
    })?;
    conn.create_scalar_function("nd_array", 1, pure, nd_array)?;
    conn.create_scalar_function("nd_array", 2, pure, nd_array)?;
    conn.create_scalar_function("nd_reshape", -1, pure, |c| {
        if c.len() < 2 {
            return Err(sql_error(
                "nd_reshape: expected an array and the new dimensions",
            ));
        }
        nd_reshape(c)
    })?;
    conn.create_scalar_function(
        "nd_from_vec",
        1,
        pure | FunctionFlags::SQLITE_SUBTYPE,
        nd_from_vec,
    )?;
    Ok(())
}

// These tests run SQL, so they need a linked SQLite (see Cargo.toml).
#[cfg(all(test, feature = "bundled"))]
mod tests {
    use rusqlite::Connection;

    fn conn() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        crate::register(&c).unwrap();
        c
    }

    #[test]
    fn json_round_trip() {
        let c = conn();
        let (shape, dtype, json, x): (String, String, String, f64) = c
            .query_row(
                "select nd_shape(a), nd_dtype(a), nd_to_json(a), nd_get(a, 1, 0) from \
                 (select nd_array('[[1,2],[3,4.5]]', 'float32') as a)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(shape, "[2,2]");
        assert_eq!(dtype, "float32");
        assert_eq!(json, "[[1.0,2.0],[3.0,4.5]]");
        assert_eq!(x, 3.0);
        let v: Vec<u8> = c
            .query_row("select vec_f32(nd_array('[1,2,3]', 'int16'))", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(v.len(), 12);
        let e = c
            .query_row("select nd_array('[[1,2],[3]]')", [], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .unwrap_err();
        assert!(e.to_string().contains("ragged"), "{e}");
    }
}
