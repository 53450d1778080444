//! Checking and converting values written to (or queried against) vec0 columns. Every
//! error names the column, what was expected and what came.

use rusqlite::types::{Value, ValueRef};

use super::config::{ScalarType, VectorColumn};
use super::knn::QueryVector;
use crate::vec::vector::{
    check_finite, describe, describe_value, f32_from_blob, sql_type_name, ElementType, SUBTYPE_BIT,
    SUBTYPE_FLOAT32, SUBTYPE_INT8,
};

fn subtype_element(subtype: u32) -> Option<ElementType> {
    match subtype {
        SUBTYPE_FLOAT32 => Some(ElementType::Float32),
        SUBTYPE_INT8 => Some(ElementType::Int8),
        SUBTYPE_BIT => Some(ElementType::Bit),
        _ => None,
    }
}

/// What a vector given to a vec0 column is for (sqlite-vec names it in its messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorUse {
    Insert,
    Update,
    Query,
}

impl VectorUse {
    fn label(self) -> &'static str {
        match self {
            VectorUse::Insert => "inserted",
            VectorUse::Update => "new updated",
            VectorUse::Query => "query",
        }
    }

    /// The start of sqlite-vec's message for a vector of another element type.
    fn type_label(self) -> &'static str {
        match self {
            VectorUse::Insert => "Inserted vector for",
            VectorUse::Update => "Updated vector for",
            VectorUse::Query => "Query vector for",
        }
    }

    /// The start of sqlite-vec's message for a value that is no vector at all.
    fn invalid_label(self) -> &'static str {
        match self {
            VectorUse::Insert => "Inserted vector for",
            VectorUse::Update => "Updated vector for",
            VectorUse::Query => "Query vector on",
        }
    }
}

/// A vector for column `col` (named `name`): BLOB (its subtype, if any, must match the
/// column) or JSON text. Returns it in the column's element type. A wrong dimension
/// count starts with sqlite-vec's "Dimension mismatch for ..." sentence.
pub fn read_vector(
    name: &str,
    col: &VectorColumn,
    value: ValueRef<'_>,
    subtype: u32,
    purpose: VectorUse,
) -> Result<QueryVector, String> {
    let want = describe(col.element, col.dims);
    let fail = |got: String| format!("vec0: column '{name}': expected {want}, got {got}");
    let wrong_dims = |got: usize| {
        format!(
            "Dimension mismatch for {} vector for the \"{name}\" column. Expected {} \
             dimensions but received {got}. {}",
            purpose.label(),
            col.dims,
            fail(describe(col.element, got))
        )
    };
    match value {
        ValueRef::Blob(b) => {
            if let Some(t) = subtype_element(subtype) {
                if t != col.element {
                    let n = match t {
                        ElementType::Float32 => b.len() / 4,
                        ElementType::Int8 => b.len(),
                        ElementType::Bit => b.len() * 8,
                    };
                    return Err(format!(
                        "{} the \"{name}\" column is expected to be of type {}, but a {} vector \
                         was provided. {}",
                        purpose.type_label(),
                        col.element.name(),
                        t.name(),
                        fail(describe(t, n))
                    ));
                }
            }
            if b.len() != col.bytes() {
                return Err(match col.element {
                    ElementType::Float32 if b.len() % 4 == 0 => wrong_dims(b.len() / 4),
                    ElementType::Int8 => wrong_dims(b.len()),
                    ElementType::Bit => wrong_dims(b.len() * 8),
                    _ => format!(
                        "{} the \"{name}\" column is invalid: invalid float32 vector BLOB \
                         length. Must be divisible by 4, found {}. {}",
                        purpose.invalid_label(),
                        b.len(),
                        fail(format!("a BLOB of {} bytes", b.len()))
                    ),
                });
            }
            match col.element {
                ElementType::Float32 => {
                    let v = f32_from_blob(b).map_err(&fail)?;
                    check_finite(&v).map_err(|m| format!("vec0: column '{name}': {m}"))?;
                    Ok(QueryVector::Float32(v.into_owned()))
                }
                ElementType::Int8 => Ok(QueryVector::Int8(b.iter().map(|&x| x as i8).collect())),
                ElementType::Bit => Ok(QueryVector::Bit(b.to_vec())),
            }
        }
        ValueRef::Text(t) => {
            let text = std::str::from_utf8(t)
                .map_err(|_| fail("text that is not valid UTF-8".to_string()))?;
            match col.element {
                ElementType::Float32 => {
                    let v = quiver_kernels::codec::parse_json_f32(text)
                        .map_err(|e| format!("vec0: column '{name}': {e}"))?;
                    if v.len() != col.dims {
                        return Err(wrong_dims(v.len()));
                    }
                    check_finite(&v).map_err(|m| format!("vec0: column '{name}': {m}"))?;
                    Ok(QueryVector::Float32(v))
                }
                ElementType::Int8 => {
                    let v = quiver_kernels::codec::parse_json_i8(text)
                        .map_err(|e| format!("vec0: column '{name}': {e}"))?;
                    if v.len() != col.dims {
                        return Err(wrong_dims(v.len()));
                    }
                    Ok(QueryVector::Int8(v))
                }
                ElementType::Bit => Err(fail(
                    "JSON text (bit vectors are BLOBs: use vec_bit() or vec_quantize_binary())"
                        .to_string(),
                )),
            }
        }
        other => Err(format!(
            "{} the \"{name}\" column is invalid: Input must have type BLOB (compact format) \
             or TEXT (JSON), found {}. {}",
            purpose.invalid_label(),
            sql_type_name(other),
            fail(describe_value(other))
        )),
    }
}

/// The stored bytes of a checked vector.
pub fn vector_bytes(v: &QueryVector) -> Vec<u8> {
    match v {
        QueryVector::Float32(x) => x.iter().flat_map(|f| f.to_le_bytes()).collect(),
        QueryVector::Int8(x) => x.iter().map(|&b| b as u8).collect(),
        QueryVector::Bit(x) => x.clone(),
    }
}

/// A metadata / partition value, converted to the column's type (NULL allowed).
pub fn read_scalar(name: &str, ty: ScalarType, value: ValueRef<'_>) -> Result<Value, String> {
    let fail = || {
        format!(
            "vec0: column '{name}': expected {} {}, got {}",
            if ty == ScalarType::Integer { "an" } else { "a" },
            ty.name(),
            describe_value(value)
        )
    };
    Ok(match (ty, value) {
        (_, ValueRef::Null) => Value::Null,
        (ScalarType::Boolean, ValueRef::Integer(i)) if i == 0 || i == 1 => Value::Integer(i),
        (ScalarType::Boolean, ValueRef::Text(t)) => {
            match std::str::from_utf8(t)
                .unwrap_or("")
                .to_ascii_lowercase()
                .as_str()
            {
                "true" | "1" => Value::Integer(1),
                "false" | "0" => Value::Integer(0),
                _ => return Err(fail()),
            }
        }
        (ScalarType::Integer, ValueRef::Integer(i)) => Value::Integer(i),
        (ScalarType::Integer, ValueRef::Real(r)) if r.fract() == 0.0 && r.abs() < 9.0e15 => {
            Value::Integer(r as i64)
        }
        (ScalarType::Float, ValueRef::Real(r)) if r.is_finite() => Value::Real(r),
        (ScalarType::Float, ValueRef::Integer(i)) => Value::Real(i as f64),
        (ScalarType::Text, ValueRef::Text(t)) => {
            Value::Text(String::from_utf8(t.to_vec()).map_err(|_| fail())?)
        }
        _ => return Err(fail()),
    })
}

/// An integer rowid / primary key value.
pub fn read_rowid(name: &str, value: ValueRef<'_>) -> Result<Option<i64>, String> {
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(i) => Ok(Some(i)),
        ValueRef::Real(r) if r.fract() == 0.0 && r.abs() < 9.0e15 => Ok(Some(r as i64)),
        other => Err(format!(
            "Only integers are allows for primary key values. vec0: {name}: expected an \
             integer, got {}",
            describe_value(other)
        )),
    }
}

/// A text primary key value.
pub fn read_text_id(name: &str, value: ValueRef<'_>) -> Result<String, String> {
    match value {
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(str::to_string)
            .map_err(|_| format!("vec0: primary key '{name}': invalid UTF-8")),
        other => Err(format!(
            "vec0: primary key '{name}': expected text, got {}",
            describe_value(other)
        )),
    }
}
