//! Python-facing ML helpers: where ONNX Runtime lives, settings, and model inspection
//! (load a model, run it on one row, describe its inputs and outputs) for save_model.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use quiver_sqlite::ml::model::Model;
use quiver_sqlite::ml::registry::{self, TextLookup};
use quiver_sqlite::ml::text::{self, Kind, Task, TextConfig, TextModel};
use quiver_sqlite::ml::{runtime, MlError};

use crate::connection::with_connection;
use crate::error::{Error, Result};

/// Sets the libonnxruntime file to load on first use (None: use ORT_DYLIB_PATH).
#[pyfunction]
#[pyo3(signature = (path))]
pub fn ml_set_dylib_path(path: Option<PathBuf>) {
    runtime::set_dylib_path(path);
}

/// Current settings: (threads, max_model_bytes, dylib path or None, runtime loaded).
#[pyfunction]
pub fn ml_settings() -> (usize, usize, Option<String>, bool) {
    (
        runtime::threads(),
        runtime::max_model_bytes(),
        runtime::dylib_path().map(|p| p.display().to_string()),
        runtime::is_loaded(),
    )
}

/// Inference threads per session (default 1); drops cached sessions.
#[pyfunction]
pub fn ml_set_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        return Err(Error::Value("threads must be at least 1".into()));
    }
    runtime::set_threads(threads);
    Ok(())
}

/// The largest model (bytes) that save_model stores and the SQL functions load.
#[pyfunction]
pub fn ml_set_max_model_bytes(limit: usize) -> Result<()> {
    if limit == 0 {
        return Err(Error::Value("the model size limit must be positive".into()));
    }
    runtime::set_max_model_bytes(limit);
    Ok(())
}

/// The time limit of one inference run in seconds (0 removes it).
#[pyfunction]
pub fn ml_set_max_run_seconds(seconds: f64) -> Result<()> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(Error::Value(format!(
            "max_run_seconds must be a non-negative number of seconds, got {seconds}"
        )));
    }
    runtime::set_max_run_time(
        (seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds.min(1e9))),
    );
    Ok(())
}

/// The time limit of one inference run in seconds, or None.
#[pyfunction]
pub fn ml_max_run_seconds() -> Option<f64> {
    runtime::max_run_time().map(|d| d.as_secs_f64())
}

/// Loads `model` (ONNX bytes) and runs it on one row of zeros; returns
/// (n_features, input_schema JSON, output_schema JSON, has_probabilities).
#[pyfunction]
pub fn ml_inspect(py: Python<'_>, model: &[u8]) -> Result<(usize, String, String, bool)> {
    let bytes = model.to_vec();
    let inspected = py.detach(move || -> std::result::Result<_, MlError> {
        let m = Model::load(&bytes)?;
        let zeros = vec![0f32; m.n_features];
        m.predict(&zeros, 1, m.has_probabilities())?;
        Ok((
            m.n_features,
            m.input_schema.clone(),
            m.output_schema.clone(),
            m.has_probabilities(),
        ))
    })?;
    Ok(inspected)
}

/// Allows (default) or forbids the native path for simple linear models; drops cached
/// sessions.
#[pyfunction]
pub fn ml_set_native(enabled: bool) {
    runtime::set_native(enabled);
}

/// Whether the native linear path is allowed.
#[pyfunction]
pub fn ml_native_enabled() -> bool {
    runtime::native_enabled()
}

/// Drops every cached inference session.
#[pyfunction]
pub fn ml_clear_cache() {
    quiver_sqlite::ml::model::clear_cache();
    text::clear_cache();
}

/// Loads a text model (ONNX bytes, tokenizer.json bytes, JSON config) and embeds one
/// text; returns (dimension, input_schema JSON, output_schema JSON, registry digest).
#[pyfunction]
pub fn ml_text_inspect(
    py: Python<'_>,
    model: &[u8],
    tokenizer: &[u8],
    config: &str,
) -> Result<(usize, String, String, String)> {
    let (model, tokenizer, config) = (model.to_vec(), tokenizer.to_vec(), config.to_string());
    let inspected = py.detach(move || -> std::result::Result<_, MlError> {
        let parsed = TextConfig::from_json(&config)?;
        let m = TextModel::load(&model, &tokenizer, parsed)?;
        match m.config.task {
            Task::Embed => m.embed(&["probe"], Kind::Document).map(drop)?,
            Task::Rerank => m.rerank("", &[""]).map(drop)?,
        }
        Ok((
            m.dimension,
            m.input_schema.clone(),
            m.output_schema.clone(),
            text::digest(&model, &tokenizer, config.as_bytes()),
        ))
    })?;
    Ok(inspected)
}

fn kind_of(kind: &str) -> Result<Kind> {
    Kind::parse(kind)
        .ok_or_else(|| Error::Value(format!("kind must be 'query' or 'document', got {kind:?}")))
}

/// The text model `name` of `conn`: the registry row is read with the GIL held (the
/// connection is only used under it), the session is built without it (seconds for a
/// real model), so other Python threads run meanwhile.
fn text_model(py: Python<'_>, conn: &Bound<'_, PyAny>, name: &str) -> Result<Arc<TextModel>> {
    let found = with_connection(py, conn, |c| Ok(registry::fetch_text(c, name)?))?;
    Ok(match found {
        TextLookup::Cached(m) => m,
        TextLookup::Stored(row) => py.detach(move || row.load())?,
    })
}

/// Loads the text model `name` of `conn` into the session cache (without the GIL while
/// the session is built); returns its dimension.
#[pyfunction]
pub fn ml_text_preload(py: Python<'_>, conn: &Bound<'_, PyAny>, name: &str) -> Result<usize> {
    Ok(text_model(py, conn, name)?.dimension)
}

/// Embeds `texts` with the registry's text model `name` (or `name@version`) of `conn`:
/// (float32 bytes, row-major, dimension). The GIL is released while embedding.
#[pyfunction]
pub fn ml_embed_texts(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    name: &str,
    texts: Vec<String>,
    kind: &str,
) -> Result<(Py<PyBytes>, usize)> {
    let kind = kind_of(kind)?;
    let model = text_model(py, conn, name)?;
    let vectors = py.detach(|| model.embed(&texts, kind))?;
    let bytes = PyBytes::new(py, &quiver_kernels::codec::f32_to_blob(&vectors));
    Ok((bytes.unbind(), model.dimension))
}

/// Scores `documents` against `query` with the registry's reranker `name` of `conn`:
/// float32 bytes, one score per document. The GIL is released while scoring.
#[pyfunction]
pub fn ml_rerank_texts(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    name: &str,
    query: String,
    documents: Vec<String>,
) -> Result<Py<PyBytes>> {
    let model = text_model(py, conn, name)?;
    let scores = py.detach(|| model.rerank(&query, &documents))?;
    Ok(PyBytes::new(py, &quiver_kernels::codec::f32_to_blob(&scores)).unbind())
}

/// Token ids of each text as the text model `name` of `conn` sees them (prefix added,
/// special tokens included, truncated at max_length).
#[pyfunction]
pub fn ml_tokenize_texts(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    name: &str,
    texts: Vec<String>,
    kind: &str,
) -> Result<Vec<Vec<u32>>> {
    let kind = kind_of(kind)?;
    let model = text_model(py, conn, name)?;
    let ids = py.detach(|| {
        texts
            .iter()
            .map(|t| model.encode(t, kind).map(|e| e.get_ids().to_vec()))
            .collect::<std::result::Result<Vec<_>, MlError>>()
    })?;
    Ok(ids)
}
