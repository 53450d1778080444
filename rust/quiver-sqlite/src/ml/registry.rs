//! Finding a model in the database's registry table `quiver_models` (written by
//! `sqlite_quiver.ml.save_model`) and loading it through the session cache.
//!
//! Sessions are cached by the sha256 of the model bytes, and the registry row is read
//! again for every statement (the SQL functions keep the result for the rest of the
//! statement), so a model saved or activated by any connection is used by the next
//! statement of every other connection.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::model::{self, Model};
use super::text::{self, TextConfig, TextModel};
use super::{runtime, MlError};

pub const TABLE: &str = "quiver_models";

/// `name` or `name@version`.
pub fn parse_spec(spec: &str) -> (&str, Option<i64>) {
    if let Some((name, version)) = spec.rsplit_once('@') {
        if let Ok(v) = version.parse::<i64>() {
            return (name, Some(v));
        }
    }
    (spec, None)
}

fn registry_exists(conn: &Connection) -> Result<bool, MlError> {
    Ok(conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .exists([TABLE])?)
}

/// The registry row of `spec`: (name, (version, sha256, format)).
fn find<'s>(conn: &Connection, spec: &'s str) -> Result<(&'s str, Row), MlError> {
    let (name, version) = parse_spec(spec);
    match lookup(conn, name, version) {
        Ok(Some(r)) => Ok((name, r)),
        Ok(None) => Err(missing(conn, name, version)?),
        Err(e) => {
            if !registry_exists(conn)? {
                return Err(MlError::NoRegistry);
            }
            Err(e)
        }
    }
}

/// Refuses a stored model larger than the configured limit before its bytes are read
/// (`length()` of a BLOB reads only the row's header).
fn check_size(conn: &Connection, name: &str, version: i64) -> Result<(), MlError> {
    let size: i64 = conn
        .prepare(&format!(
            "SELECT length(model) FROM {TABLE} WHERE name = ?1 AND version = ?2"
        ))?
        .query_row((name, version), |r| r.get(0))?;
    let size = size.max(0) as usize;
    let limit = runtime::max_model_bytes();
    if size > limit {
        return Err(MlError::TooLarge {
            name: name.to_string(),
            version,
            size,
            limit,
        });
    }
    Ok(())
}

/// The model named by `spec`, loaded (or found in the cache).
pub fn resolve(conn: &Connection, spec: &str) -> Result<Arc<Model>, MlError> {
    let (name, (version, sha256, format)) = find(conn, spec)?;
    if format == text::FORMAT {
        return Err(MlError::WrongKind(format!(
            "model '{name}' is a text model (it turns text into vectors): use \
             ml_embed('{name}', text) or ml_embed_batch"
        )));
    }
    if let Some(m) = model::cached(&sha256) {
        return Ok(m);
    }
    check_size(conn, name, version)?;
    let bytes: Vec<u8> = conn
        .prepare(&format!(
            "SELECT model FROM {TABLE} WHERE name = ?1 AND version = ?2"
        ))?
        .query_row((name, version), |r| r.get(0))?;
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if !hex.eq_ignore_ascii_case(&sha256) {
        return Err(MlError::Corrupt {
            name: name.to_string(),
            version,
        });
    }
    let loaded = Arc::new(Model::load(&bytes)?);
    model::insert_cached(&sha256, loaded.clone());
    Ok(loaded)
}

/// The text model named by `spec`, loaded (or found in the cache).
pub fn resolve_text(conn: &Connection, spec: &str) -> Result<Arc<TextModel>, MlError> {
    match fetch_text(conn, spec)? {
        TextLookup::Cached(m) => Ok(m),
        TextLookup::Stored(row) => row.load(),
    }
}

/// A text model found in the registry: already loaded, or its stored parts (read from
/// the database, not loaded yet).
pub enum TextLookup {
    Cached(Arc<TextModel>),
    Stored(StoredText),
}

/// A registry row's text model parts, read and checked against the digest; `load` needs
/// no connection, so a caller can run it without holding locks the database needs
/// (Python's GIL).
pub struct StoredText {
    sha256: String,
    model: Vec<u8>,
    tokenizer: Vec<u8>,
    config: TextConfig,
}

impl StoredText {
    /// Builds the session (the slow part: ONNX Runtime's graph optimization and the
    /// probes) and caches it.
    pub fn load(self) -> Result<Arc<TextModel>, MlError> {
        let loaded = Arc::new(TextModel::load(&self.model, &self.tokenizer, self.config)?);
        text::insert_cached(&self.sha256, loaded.clone());
        Ok(loaded)
    }
}

/// The text model named by `spec`: from the cache, or its parts read from the registry.
pub fn fetch_text(conn: &Connection, spec: &str) -> Result<TextLookup, MlError> {
    let (name, (version, sha256, format)) = find(conn, spec)?;
    if format != text::FORMAT {
        return Err(MlError::WrongKind(format!(
            "model '{name}' is not a text model (it is a '{format}' model saved with \
             save_model, for ml_predict); save a text model with \
             sqlite_quiver.ml.save_text_model or save_sentence_transformer"
        )));
    }
    if let Some(m) = text::cached(&sha256) {
        return Ok(TextLookup::Cached(m));
    }
    check_size(conn, name, version)?;
    let (bytes, tokenizer, config): (Vec<u8>, Vec<u8>, String) = conn
        .prepare(&format!(
            "SELECT model, tokenizer, config FROM {TABLE} WHERE name = ?1 AND version = ?2"
        ))?
        .query_row((name, version), |r| {
            // Text or BLOB (an edited row may hold either): the bytes are checked below.
            let bytes = |i: usize| -> rusqlite::Result<Vec<u8>> {
                Ok(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                        b.to_vec()
                    }
                    _ => Vec::new(),
                })
            };
            Ok((
                bytes(0)?,
                bytes(1)?,
                String::from_utf8_lossy(&bytes(2)?).into_owned(),
            ))
        })?;
    if !text::digest(&bytes, &tokenizer, config.as_bytes()).eq_ignore_ascii_case(&sha256) {
        return Err(MlError::Corrupt {
            name: name.to_string(),
            version,
        });
    }
    Ok(TextLookup::Stored(StoredText {
        config: TextConfig::from_json(&config)?,
        sha256,
        model: bytes,
        tokenizer,
    }))
}

type Row = (i64, String, String);

fn lookup(conn: &Connection, name: &str, version: Option<i64>) -> Result<Option<Row>, MlError> {
    // Only columns of the `_lookup` index (created with the registry): the model BLOB's
    // row is not read, so a cached model costs one index lookup per statement.
    let map =
        |r: &rusqlite::Row<'_>| -> rusqlite::Result<Row> { Ok((r.get(0)?, r.get(1)?, r.get(2)?)) };
    let row = match version {
        None => conn
            .prepare(&format!(
                "SELECT version, sha256, format FROM {TABLE} \
                 WHERE name = ?1 AND active = 1 ORDER BY version DESC LIMIT 1"
            ))?
            .query_row([name], map)
            .optional()?,
        Some(v) => conn
            .prepare(&format!(
                // `+version`: not through the primary key, whose row read would walk
                // the BLOB; the few versions of a name are filtered in the index.
                "SELECT version, sha256, format FROM {TABLE} \
                 WHERE name = ?1 AND +version = ?2"
            ))?
            .query_row((name, v), map)
            .optional()?,
    };
    Ok(row)
}

fn missing(conn: &Connection, name: &str, version: Option<i64>) -> Result<MlError, MlError> {
    let versions: Vec<i64> = conn
        .prepare(&format!(
            "SELECT version FROM {TABLE} WHERE name = ?1 ORDER BY version"
        ))?
        .query_map([name], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(match version {
        _ if versions.is_empty() => MlError::NoModel(name.to_string()),
        Some(v) => MlError::NoVersion {
            name: name.to_string(),
            version: v,
            available: versions
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        },
        None => MlError::NoActive(name.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_spec;

    #[test]
    fn model_specs() {
        assert_eq!(parse_spec("churn"), ("churn", None));
        assert_eq!(parse_spec("churn@3"), ("churn", Some(3)));
        assert_eq!(parse_spec("a@b@2"), ("a@b", Some(2)));
        assert_eq!(parse_spec("user@example"), ("user@example", None));
    }
}
