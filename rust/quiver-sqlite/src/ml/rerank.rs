//! `ml_rerank(model, query, document)` -> the relevance score (REAL, higher is more
//! relevant) a cross-encoder text model gives the pair; NULL when either text is NULL.
//! Typical use reorders a KNN query's shortlist:
//! `... order by ml_rerank('reranker', :q, d.body) desc limit 10`.

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::Value;
use rusqlite::{Connection, Result};

use super::embed::text_arg_at;
use super::functions::{ml_error, model_arg_with};
use super::registry;
use super::text::TextModel;
use crate::sqlite::error::sql_error;

const NAME: &str = "ml_rerank";

fn rerank(ctx: &Context<'_>) -> Result<Value> {
    if ctx.len() != 3 {
        return Err(sql_error(format!(
            "{NAME}: expected {NAME}(model, query, document), got {} argument(s)",
            ctx.len()
        )));
    }
    let model = model_arg_with::<TextModel>(ctx, NAME, registry::resolve_text)?;
    let query = text_arg_at(ctx, NAME, 1)?;
    let document = text_arg_at(ctx, NAME, 2)?;
    let (Some(query), Some(document)) = (query, document) else {
        return Ok(Value::Null);
    };
    // SAFETY: only the handle is taken, for the interrupt watchdog of this call.
    let db = unsafe { ctx.get_connection()?.handle() };
    let scores = super::interrupt::watching(db, || model.rerank(query, &[document]))
        .map_err(|e| ml_error(NAME, &e))?;
    Ok(Value::Real(f64::from(scores[0])))
}

/// Registers ml_rerank on `conn`.
pub fn register(conn: &Connection) -> Result<()> {
    // Not DETERMINISTIC: the answer depends on the registry, which can change.
    conn.create_scalar_function(NAME, -1, FunctionFlags::SQLITE_UTF8, rerank)
}
