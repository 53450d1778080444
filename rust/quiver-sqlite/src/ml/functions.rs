//! `ml_predict(model, features...)`, `ml_predict_proba(model, features...)` (JSON) and
//! `ml_predict_proba_vec(model, features...)` (a float32 vector BLOB).
//!
//! `model` is a registry name (its active version) or `name@version`. The model found
//! for a constant `model` argument is kept (SQLite auxdata) for the rest of the
//! statement, so per-row calls pay only the session run.

use std::sync::Arc;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Result};

use super::model::Model;
use super::{features, registry, MlError};
use crate::sqlite::error::{arg_error, sql_error};
use crate::vec::vector::{describe_value, SUBTYPE_FLOAT32};

#[derive(Clone, Copy)]
enum Output {
    Label,
    ProbaJson,
    ProbaVec,
}

impl Output {
    fn name(self) -> &'static str {
        match self {
            Output::Label => "ml_predict",
            Output::ProbaJson => "ml_predict_proba",
            Output::ProbaVec => "ml_predict_proba_vec",
        }
    }
}

/// The model named by argument 0, from the statement's auxdata or the registry.
fn model_arg(ctx: &Context<'_>, function: &str) -> Result<Arc<Model>> {
    model_arg_with(ctx, function, registry::resolve)
}

/// The model named by argument 0, found by `resolve` (numeric or text models) and kept
/// in the statement's auxdata.
pub(crate) fn model_arg_with<T: Send + Sync + 'static>(
    ctx: &Context<'_>,
    function: &str,
    resolve: fn(&Connection, &str) -> std::result::Result<Arc<T>, MlError>,
) -> Result<Arc<T>> {
    if let Ok(Some(m)) = ctx.get_aux::<Arc<T>>(0) {
        return Ok((*m).clone());
    }
    let spec = match ctx.get_raw(0) {
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        other => {
            return Err(arg_error(
                function,
                0,
                format!(
                    "expected a model name ('name' or 'name@version'), got {}",
                    describe_value(other)
                ),
            ))
        }
    };
    // SAFETY: the connection is only used for registry reads during this call, on the
    // thread SQLite calls us on.
    let conn = unsafe { ctx.get_connection() }?;
    let model = resolve(&conn, &spec).map_err(|e| ml_error(function, &e))?;
    let _ = ctx.set_aux(0, model.clone());
    Ok(model)
}

pub(crate) fn ml_error(function: &str, e: &MlError) -> rusqlite::Error {
    sql_error(format!("{function}: {e}"))
}

fn predict(ctx: &Context<'_>, output: Output) -> Result<Value> {
    let name = output.name();
    if ctx.len() < 2 {
        return Err(sql_error(format!(
            "{name}: expected a model and its features, got {} argument(s)",
            ctx.len()
        )));
    }
    let model = model_arg(ctx, name)?;
    if !matches!(output, Output::Label) && !model.has_probabilities() {
        return Err(sql_error(format!(
            "{name}: this model has no probability output (is it a regressor?); use ml_predict"
        )));
    }
    let values: Vec<(ValueRef<'_>, u32)> = (1..ctx.len())
        .map(|i| (ctx.get_raw(i), ctx.get_subtype(i)))
        .collect();
    let mut row = Vec::with_capacity(model.n_features);
    features::append_row(&values, model.n_features, 2, &mut row)
        .map_err(|m| sql_error(format!("{name}: {m}")))?;
    // SAFETY: only the handle is taken, for the interrupt watchdog of this call.
    let db = unsafe { ctx.get_connection()?.handle() };
    let p = super::interrupt::watching(db, || {
        model.predict(&row, 1, !matches!(output, Output::Label))
    })
    .map_err(|e| ml_error(name, &e))?;
    Ok(match output {
        Output::Label => p.labels.into_iter().next().unwrap_or(Value::Null),
        Output::ProbaJson => Value::Text(proba_json(&p.probabilities)),
        Output::ProbaVec => Value::Blob(quiver_kernels::codec::f32_to_blob(&p.probabilities)),
    })
}

/// Probabilities as a JSON array, each float32 printed to round-trip.
pub fn proba_json(p: &[f32]) -> String {
    let parts: Vec<String> = p.iter().map(|x| format!("{x:?}")).collect();
    format!("[{}]", parts.join(","))
}

/// Registers the ml_* scalar functions on `conn`.
pub fn register(conn: &Connection) -> Result<()> {
    // Not DETERMINISTIC: the answer depends on the registry, which can change.
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_SUBTYPE;
    conn.create_scalar_function("ml_predict", -1, flags, |c| predict(c, Output::Label))?;
    conn.create_scalar_function("ml_predict_proba", -1, flags, |c| {
        predict(c, Output::ProbaJson)
    })?;
    conn.create_scalar_function(
        "ml_predict_proba_vec",
        -1,
        flags | FunctionFlags::SQLITE_RESULT_SUBTYPE,
        |c| {
            let v = predict(c, Output::ProbaVec)?;
            Ok((v, Some(SUBTYPE_FLOAT32)))
        },
    )?;
    conn.create_scalar_function("ml_engine", 1, FunctionFlags::SQLITE_UTF8, |c| {
        Ok(model_arg(c, "ml_engine")?.engine())
    })?;
    conn.create_scalar_function("ml_runtime_loaded", 0, FunctionFlags::SQLITE_UTF8, |_| {
        Ok(super::runtime::is_loaded())
    })?;
    Ok(())
}
