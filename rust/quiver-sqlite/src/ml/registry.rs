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

/// The model named by `spec`, loaded (or found in the cache).
pub fn resolve(conn: &Connection, spec: &str) -> Result<Arc<Model>, MlError> {
    let (name, version) = parse_spec(spec);
    let row = lookup(conn, name, version);
    let (version, sha256, size) = match row {
        Ok(Some(r)) => r,
        Ok(None) => return Err(missing(conn, name, version)?),
        Err(e) => {
            if !registry_exists(conn)? {
                return Err(MlError::NoRegistry);
            }
            return Err(e);
        }
    };
    if let Some(m) = model::cached(&sha256) {
        return Ok(m);
    }
    let limit = runtime::max_model_bytes();
    if size > limit {
        return Err(MlError::TooLarge {
            name: name.to_string(),
            version,
            size,
            limit,
        });
    }
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

type Row = (i64, String, usize);

fn lookup(conn: &Connection, name: &str, version: Option<i64>) -> Result<Option<Row>, MlError> {
    let map = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Row> {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as usize))
    };
    let row = match version {
        None => conn
            .prepare(&format!(
                "SELECT version, sha256, length(model) FROM {TABLE} \
                 WHERE name = ?1 AND active = 1 ORDER BY version DESC LIMIT 1"
            ))?
            .query_row([name], map)
            .optional()?,
        Some(v) => conn
            .prepare(&format!(
                "SELECT version, sha256, length(model) FROM {TABLE} WHERE name = ?1 AND version = ?2"
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
