//! `ml_embed(model, text [, 'query'|'document'])` -> a float32 vector BLOB (subtype
//! 223, as `vec_f32` gives: vec0 MATCH and `vec_distance_*` take it), NULL for NULL;
//! `ml_token_count(model, text [, kind])` -> tokens before truncation, special tokens
//! and prefix included; `ml_tokenize(model, text [, kind])` -> the token ids the model
//! sees (JSON array, after truncation).

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Result};

use super::functions::{ml_error, model_arg_with};
use super::registry;
use super::text::{Kind, TextModel};
use crate::sqlite::error::{arg_error, sql_error};
use crate::vec::vector::{describe_value, SUBTYPE_FLOAT32};

/// The text argument at `index`: Some(text), None for NULL, an error for other types.
pub(crate) fn text_arg_at<'a>(
    ctx: &'a Context<'_>,
    function: &str,
    index: usize,
) -> Result<Option<&'a str>> {
    match ctx.get_raw(index) {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(Some)
            .map_err(|_| arg_error(function, index, "the text is not valid UTF-8")),
        other => Err(arg_error(
            function,
            index,
            format!(
                "expected text, got {} (cast it with CAST(x AS TEXT) if that is meant)",
                describe_value(other)
            ),
        )),
    }
}

/// The text argument (index 1).
fn text_arg<'a>(ctx: &'a Context<'_>, function: &str) -> Result<Option<&'a str>> {
    text_arg_at(ctx, function, 1)
}

/// The optional kind argument (index 2): 'query' or 'document' (the default).
pub(crate) fn kind_arg(ctx: &Context<'_>, function: &str) -> Result<Kind> {
    if ctx.len() < 3 {
        return Ok(Kind::Document);
    }
    match ctx.get_raw(2) {
        ValueRef::Text(t) => Kind::parse(&String::from_utf8_lossy(t)).ok_or_else(|| {
            arg_error(
                function,
                2,
                format!(
                    "expected 'query' or 'document', got '{}'",
                    String::from_utf8_lossy(t)
                ),
            )
        }),
        other => Err(arg_error(
            function,
            2,
            format!(
                "expected 'query' or 'document', got {}",
                describe_value(other)
            ),
        )),
    }
}

fn arity(ctx: &Context<'_>, function: &str) -> Result<()> {
    if !(2..=3).contains(&ctx.len()) {
        return Err(sql_error(format!(
            "{function}: expected {function}(model, text [, 'query' | 'document']), got {} \
             argument(s)",
            ctx.len()
        )));
    }
    Ok(())
}

fn embed(ctx: &Context<'_>) -> Result<Value> {
    const NAME: &str = "ml_embed";
    arity(ctx, NAME)?;
    let model = model_arg_with::<TextModel>(ctx, NAME, registry::resolve_text)?;
    let kind = kind_arg(ctx, NAME)?;
    let Some(text) = text_arg(ctx, NAME)? else {
        return Ok(Value::Null);
    };
    // SAFETY: only the handle is taken, for the interrupt watchdog of this call.
    let db = unsafe { ctx.get_connection()?.handle() };
    let v = super::interrupt::watching(db, || model.embed(&[text], kind))
        .map_err(|e| ml_error(NAME, &e))?;
    Ok(Value::Blob(quiver_kernels::codec::f32_to_blob(&v)))
}

fn token_count(ctx: &Context<'_>) -> Result<Value> {
    const NAME: &str = "ml_token_count";
    arity(ctx, NAME)?;
    let model = model_arg_with::<TextModel>(ctx, NAME, registry::resolve_text)?;
    let kind = kind_arg(ctx, NAME)?;
    let Some(text) = text_arg(ctx, NAME)? else {
        return Ok(Value::Null);
    };
    let n = model
        .token_count(text, kind)
        .map_err(|e| ml_error(NAME, &e))?;
    Ok(Value::Integer(n as i64))
}

fn tokenize(ctx: &Context<'_>) -> Result<Value> {
    const NAME: &str = "ml_tokenize";
    arity(ctx, NAME)?;
    let model = model_arg_with::<TextModel>(ctx, NAME, registry::resolve_text)?;
    let kind = kind_arg(ctx, NAME)?;
    let Some(text) = text_arg(ctx, NAME)? else {
        return Ok(Value::Null);
    };
    let e = model.encode(text, kind).map_err(|e| ml_error(NAME, &e))?;
    let parts: Vec<String> = e.get_ids().iter().map(u32::to_string).collect();
    Ok(Value::Text(format!("[{}]", parts.join(","))))
}

/// Registers ml_embed, ml_token_count and ml_tokenize on `conn`.
pub fn register(conn: &Connection) -> Result<()> {
    // Not DETERMINISTIC: the answer depends on the registry, which can change.
    let flags = FunctionFlags::SQLITE_UTF8;
    conn.create_scalar_function(
        "ml_embed",
        -1,
        flags | FunctionFlags::SQLITE_RESULT_SUBTYPE,
        |c| {
            let v = embed(c)?;
            let subtype = matches!(v, Value::Blob(_)).then_some(SUBTYPE_FLOAT32);
            Ok((v, subtype))
        },
    )?;
    conn.create_scalar_function("ml_token_count", -1, flags, token_count)?;
    conn.create_scalar_function("ml_tokenize", -1, flags, tokenize)?;
    Ok(())
}
