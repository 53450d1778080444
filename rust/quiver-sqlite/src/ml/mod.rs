//! ONNX inference from SQL: the runtime (ONNX Runtime loaded at run time through the
//! `ort` crate's `load-dynamic`), cached models, the model registry lookup, the scalar
//! functions `ml_predict` / `ml_predict_proba` / `ml_predict_proba_vec` and the batch
//! table-valued function `ml_predict_batch`; text models (`text`): `ml_embed`,
//! `ml_embed_batch`, `ml_rerank`.

pub mod batch;
pub mod embed;
pub mod embed_batch;
pub mod features;
pub mod functions;
pub mod interrupt;
pub mod model;
pub mod native;
pub mod nd_functions;
pub mod predictions;
pub mod proto;
pub mod registry;
pub mod rerank;
pub mod runtime;
pub(crate) mod table_fn;
pub mod text;

use rusqlite::{Connection, Result};

/// Everything that can go wrong between a model name and a prediction.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    #[error("ONNX Runtime is not available: {0}. Install it with: pip install sqlite-quiver[ml] (or set ORT_DYLIB_PATH to a libonnxruntime shared library)")]
    NoRuntime(String),
    #[error("no model registry in this database (the table quiver_models does not exist): save a model first with sqlite_quiver.ml.save_model")]
    NoRegistry,
    #[error("no model named '{0}' in the registry")]
    NoModel(String),
    #[error("model '{name}' has no version {version} (versions: {available})")]
    NoVersion {
        name: String,
        version: i64,
        available: String,
    },
    #[error("model '{0}' has no active version (activate one with sqlite_quiver.ml.activate)")]
    NoActive(String),
    #[error("model '{name}' version {version} is {size} bytes, above the limit of {limit} bytes")]
    TooLarge {
        name: String,
        version: i64,
        size: usize,
        limit: usize,
    },
    #[error(
        "model '{name}' version {version} is corrupt: its bytes do not match the stored sha256"
    )]
    Corrupt { name: String, version: i64 },
    #[error("{0}")]
    WrongKind(String),
    #[error("not a usable text model: {0}")]
    BadText(String),
    #[error("not a usable ONNX model: {0}")]
    BadModel(String),
    #[error("{0}")]
    Features(String),
    #[error("inference failed: {0}")]
    Run(String),
    #[error("{}", registry_message(.0))]
    Sql(#[from] rusqlite::Error),
}

/// An SQL error's message; a registry row whose value has the wrong type (a damaged or
/// hand-edited `quiver_models`) says so instead of rusqlite's "Invalid column type".
fn registry_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::InvalidColumnType(_, column, found) => format!(
            "the model registry ({}) is damaged: column '{column}' holds {found}, which \
             quiver does not write there",
            registry::TABLE
        ),
        rusqlite::Error::FromSqlConversionFailure(_, found, inner) => format!(
            "the model registry ({}) is damaged: a {found} value cannot be read ({inner})",
            registry::TABLE
        ),
        rusqlite::Error::IntegralValueOutOfRange(_, value) => format!(
            "the model registry ({}) is damaged: the value {value} is out of range",
            registry::TABLE
        ),
        other => other.to_string(),
    }
}

/// Registers the ml_* functions and the batch table on `conn`.
pub fn register(conn: &Connection) -> Result<()> {
    functions::register(conn)?;
    embed::register(conn)?;
    rerank::register(conn)?;
    embed_batch::load_module(conn)?;
    batch::load_module(conn)
}
