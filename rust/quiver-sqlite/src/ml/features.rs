//! Reading one row of model features from SQL values: several numeric columns, one
//! vector BLOB (float32 or int8 by subtype), one JSON array, or one `.npy` array BLOB
//! (1-D, or 2-D with one row).

use rusqlite::types::ValueRef;

use crate::vec::vector::{describe_value, read_vector, Vector, SUBTYPE_BIT};
use quiver_kernels::codec::npy::{self, NdArray};

/// Appends the features in `values` (argument values and their subtypes) to `out`,
/// checking there are `expected` of them. `first_arg` numbers arguments in messages.
pub fn append_row(
    values: &[(ValueRef<'_>, u32)],
    expected: usize,
    first_arg: usize,
    out: &mut Vec<f32>,
) -> Result<(), String> {
    let start = out.len();
    match values {
        [] => return Err(format!("expected {expected} features, got none")),
        [(ValueRef::Blob(b), _)] if npy::is_npy(b) => {
            let a = NdArray::parse(b).map_err(|e| format!("argument {first_arg}: {e}"))?;
            let one_row = a.ndim() == 1 || (a.ndim() == 2 && a.shape[0] == 1);
            if !one_row {
                return Err(format!(
                    "argument {first_arg}: expected a 1-D .npy array of features (or shape [1, n]), got shape {}",
                    a.shape_json()
                ));
            }
            out.extend(a.to_f32_vec());
        }
        [(value @ ValueRef::Blob(_), subtype)] => {
            if *subtype == SUBTYPE_BIT {
                return Err(format!(
                    "argument {first_arg}: expected float32 or int8 features, got a bit vector"
                ));
            }
            match read_vector(*value, *subtype).map_err(|m| format!("argument {first_arg}: {m}"))? {
                Vector::Float32(v) => out.extend_from_slice(&v),
                Vector::Int8(v) => out.extend(v.iter().map(|&x| f32::from(x))),
                Vector::Bit(_) => {
                    return Err(format!(
                        "argument {first_arg}: expected float32 or int8 features, got a bit vector"
                    ))
                }
            }
        }
        [(value @ ValueRef::Text(_), subtype)] => match read_vector(*value, *subtype) {
            Ok(Vector::Float32(v)) => out.extend_from_slice(&v),
            Ok(other) => {
                return Err(format!(
                    "argument {first_arg}: expected float features, got {}",
                    other.describe()
                ))
            }
            Err(m) => {
                return Err(format!(
                    "argument {first_arg}: expected features as numbers, a vector, a JSON array or a .npy BLOB: {m}"
                ))
            }
        },
        _ => {
            for (i, (value, _)) in values.iter().enumerate() {
                let x = match value {
                    ValueRef::Integer(v) => *v as f32,
                    ValueRef::Real(v) => *v as f32,
                    ValueRef::Null => {
                        out.truncate(start);
                        return Err(format!(
                            "argument {}: feature {} is NULL (models take no missing values; use coalesce() or filter the rows)",
                            first_arg + i,
                            i + 1
                        ));
                    }
                    other => {
                        out.truncate(start);
                        return Err(format!(
                            "argument {}: expected a number for feature {}, got {}",
                            first_arg + i,
                            i + 1,
                            describe_value(*other)
                        ));
                    }
                };
                out.push(x);
            }
        }
    }
    let got = out.len() - start;
    if got != expected {
        out.truncate(start);
        return Err(format!("the model expects {expected} features, got {got}"));
    }
    Ok(())
}
