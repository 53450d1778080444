//! A loaded ONNX model: its session, what it takes (one float tensor of
//! `[batch, n_features]`) and gives (a prediction, and for classifiers probabilities),
//! and the process-wide cache of sessions keyed by the model bytes' sha256.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session, SessionInputValue, SessionOutputs};
use ort::value::{TensorElementType, TensorRef, ValueType};
use rusqlite::types::Value;

use super::native::{self, Native};
use super::predictions::Predictions;
use super::{interrupt, runtime, MlError};

/// At most this many sessions stay cached; beyond it the cache starts afresh.
const MAX_CACHED: usize = 32;

/// Loaded models by key (the sha256 the registry stores), with the runtime settings
/// generation they were built under: a change of settings (threads, native path) makes
/// them stale. At most `MAX_CACHED` stay; beyond it the cache starts afresh.
pub struct SessionCache<T>(Mutex<Option<Generation<T>>>);

/// The settings generation and the models built under it.
type Generation<T> = (u64, HashMap<String, Arc<T>>);

impl<T> Default for SessionCache<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> SessionCache<T> {
    pub const fn new() -> Self {
        SessionCache(Mutex::new(None))
    }

    /// Drops every cached model.
    pub fn clear(&self) {
        if let Ok(mut c) = self.0.lock() {
            *c = None;
        }
    }

    /// The cached model for `key`, if any was built under the current settings.
    pub fn get(&self, key: &str) -> Option<Arc<T>> {
        let guard = self.0.lock().ok()?;
        let (generation, map) = guard.as_ref()?;
        if *generation != runtime::settings_generation() {
            return None;
        }
        map.get(key).cloned()
    }

    /// Caches `model` under `key`.
    pub fn insert(&self, key: &str, model: Arc<T>) {
        if let Ok(mut c) = self.0.lock() {
            let generation = runtime::settings_generation();
            if c.as_ref().is_some_and(|(g, _)| *g != generation) {
                *c = None;
            }
            let (_, map) = c.get_or_insert_with(|| (generation, HashMap::new()));
            if map.len() >= MAX_CACHED {
                map.clear();
            }
            map.insert(key.to_string(), model);
        }
    }
}

static CACHE: SessionCache<Model> = SessionCache::new();

/// Drops every cached session (a test or a user wants a cold start).
pub fn clear_cache() {
    CACHE.clear();
}

/// The cached model for `sha256`, if any was built under the current settings.
pub fn cached(sha256: &str) -> Option<Arc<Model>> {
    CACHE.get(sha256)
}

/// Caches `model` under `sha256`.
pub fn insert_cached(sha256: &str, model: Arc<Model>) {
    CACHE.insert(sha256, model);
}

/// A session for ONNX `bytes` with this process's thread setting, after checking that
/// the model reads no file.
pub fn new_session(bytes: &[u8]) -> Result<Session, MlError> {
    // Before ONNX Runtime sees it: a stored model must not read files.
    super::proto::check_no_file_references(bytes)
        .map_err(|m| MlError::BadModel(format!("refused: {m}")))?;
    let env = runtime::environment()?;
    let bad = |e: ort::Error| MlError::BadModel(e.to_string());
    let threads = runtime::threads();
    Session::builder(env)
        .map_err(bad)?
        .with_intra_threads(threads)
        .map_err(|e| MlError::BadModel(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| MlError::BadModel(e.to_string()))?
        // `All` (99) is accepted by every ONNX Runtime; `Level3` (3, layout) is refused
        // by older ones such as 1.19, the newest onnxruntime for Python 3.9.
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| MlError::BadModel(e.to_string()))?
        .commit_from_memory(bytes)
        .map_err(bad)
}

/// Runs `session` on `inputs` under the configured time limit and the calling SQL
/// function's `sqlite3_interrupt` (a watchdog thread sets the run's terminate flag when
/// either comes) and hands the outputs to `read`.
pub fn run_limited<T>(
    session: &mut Session,
    inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)>,
    read: impl FnOnce(&SessionOutputs<'_>) -> Result<T, MlError>,
) -> Result<T, MlError> {
    let run = |e: ort::Error| MlError::Run(e.to_string());
    let options = RunOptions::new().map_err(run)?;
    let limit = runtime::max_run_time();
    let watched = interrupt::current();
    let stopped = AtomicU8::new(RUNNING);
    // ONNX Runtime runs outside SQLite's VM: a watchdog thread (only when there is a
    // time limit or an interruptible connection) sets the run's terminate flag.
    let result = std::thread::scope(|scope| {
        let (finished, wait) = mpsc::channel::<()>();
        if limit.is_some() || watched.is_some() {
            let (options, stopped) = (&options, &stopped);
            scope.spawn(move || {
                let start = Instant::now();
                loop {
                    let left = limit.map(|l| l.saturating_sub(start.elapsed()));
                    let nap = match (left, watched) {
                        (Some(left), None) => left,
                        (Some(left), Some(_)) => left.min(INTERRUPT_POLL),
                        (None, _) => INTERRUPT_POLL,
                    };
                    match wait.recv_timeout(nap) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return, // the run finished
                    }
                    let why = if watched.is_some_and(|w| w.interrupted()) {
                        INTERRUPTED
                    } else if left.is_some_and(|l| l <= nap) {
                        TIMED_OUT
                    } else {
                        continue;
                    };
                    stopped.store(why, Ordering::Relaxed);
                    let _ = options.terminate();
                    return;
                }
            });
        }
        let result = session.run_with_options(inputs, &options);
        drop(finished);
        result
    });
    let why = stopped.load(Ordering::Relaxed);
    let out = match (result, why) {
        (Ok(o), _) => read(&o),
        (Err(_), TIMED_OUT) => Err(MlError::Run(format!(
            "the model ran longer than the time limit of {:.3} s (set with \
             sqlite_quiver.ml.configure(max_run_seconds=...)) and was stopped",
            limit.map_or(0.0, |l| l.as_secs_f64())
        ))),
        (Err(_), INTERRUPTED) => Err(MlError::Run(
            "interrupted: sqlite3_interrupt (conn.interrupt()) stopped the model run".to_string(),
        )),
        (Err(e), _) => Err(run(e)),
    };
    out
}

/// How often the watchdog looks at the connection's interrupt flag.
const INTERRUPT_POLL: Duration = Duration::from_millis(20);
const RUNNING: u8 = 0;
const TIMED_OUT: u8 = 1;
const INTERRUPTED: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InputType {
    F32,
    F64,
}

pub struct Model {
    session: Mutex<Session>,
    input_name: String,
    input_type: InputType,
    /// Features per row.
    pub n_features: usize,
    /// Index of the probability output, for classifiers.
    proba_output: Option<usize>,
    /// The native evaluator for simple linear graphs (checked against ONNX Runtime).
    native: Option<Native>,
    /// JSON descriptions of the inputs and outputs (name, type, shape).
    pub input_schema: String,
    pub output_schema: String,
}

pub(crate) fn schema_json(outlets: &[ort::value::Outlet]) -> String {
    let parts: Vec<String> = outlets
        .iter()
        .map(|o| match o.dtype() {
            ValueType::Tensor { ty, shape, .. } => {
                let dims: Vec<String> = shape
                    .iter()
                    .map(|d| {
                        if *d < 0 {
                            "null".to_string()
                        } else {
                            d.to_string()
                        }
                    })
                    .collect();
                format!(
                    "{{\"name\":{:?},\"type\":\"{}\",\"shape\":[{}]}}",
                    o.name(),
                    format!("{ty:?}").to_lowercase(),
                    dims.join(",")
                )
            }
            other => format!(
                "{{\"name\":{:?},\"type\":{:?}}}",
                o.name(),
                format!("{other:?}")
            ),
        })
        .collect();
    format!("[{}]", parts.join(","))
}

fn element_type(outlet_type: &ValueType) -> Option<(TensorElementType, Vec<i64>)> {
    match outlet_type {
        ValueType::Tensor { ty, shape, .. } => Some((*ty, shape.to_vec())),
        _ => None,
    }
}

/// Most features a model's input may declare (a row of them is 4 MiB of float32).
pub const MAX_FEATURES: usize = 1 << 20;

impl Model {
    /// Loads ONNX bytes into a session with this process's thread setting.
    pub fn load(bytes: &[u8]) -> Result<Model, MlError> {
        let session = new_session(bytes)?;
        let inputs = session.inputs();
        if inputs.len() != 1 {
            return Err(MlError::BadModel(format!(
                "expected one input tensor [batch, n_features], the model has {} inputs",
                inputs.len()
            )));
        }
        let input = &inputs[0];
        let (ty, shape) = element_type(input.dtype())
            .ok_or_else(|| MlError::BadModel("the model's input is not a tensor".to_string()))?;
        let input_type = match ty {
            TensorElementType::Float32 => InputType::F32,
            TensorElementType::Float64 => InputType::F64,
            other => {
                return Err(MlError::BadModel(format!(
                    "expected a float input tensor, the model takes {other:?}"
                )))
            }
        };
        let n_features = match shape.as_slice() {
            // Buffers of n_features values are allocated per row (and 64 check rows):
            // a declared [None, 2**40] must not size an allocation.
            [_, n] if *n > MAX_FEATURES as i64 => {
                return Err(MlError::BadModel(format!(
                    "the model's input declares {n} features, more than the {MAX_FEATURES} \
                     supported"
                )))
            }
            [_, n] if *n > 0 => *n as usize,
            _ => {
                return Err(MlError::BadModel(format!(
                    "expected an input of shape [batch, n_features] with a fixed n_features, got {shape:?}"
                )))
            }
        };
        let outputs = session.outputs();
        if outputs.is_empty() {
            return Err(MlError::BadModel("the model has no outputs".to_string()));
        }
        for o in outputs {
            if element_type(o.dtype()).is_none() {
                return Err(MlError::BadModel(format!(
                    "output '{}' is not a tensor (convert scikit-learn classifiers with zipmap disabled)",
                    o.name()
                )));
            }
        }
        let proba_output = if outputs.len() >= 2 {
            match element_type(outputs[1].dtype()) {
                Some((TensorElementType::Float32 | TensorElementType::Float64, _)) => Some(1),
                _ => None,
            }
        } else {
            None
        };
        let output_names: Vec<String> = outputs.iter().map(|o| o.name().to_string()).collect();
        let native = if runtime::native_enabled() {
            Native::from_onnx(bytes, input.name(), n_features).filter(|n| {
                n.label_output == output_names[0]
                    && n.proba_output.as_deref() == output_names.get(1).map(String::as_str)
                    && output_names.len() <= 2
            })
        } else {
            None
        };
        let mut model = Model {
            native: None,
            input_schema: schema_json(inputs),
            output_schema: schema_json(outputs),
            input_name: input.name().to_string(),
            input_type,
            n_features,
            proba_output,
            session: Mutex::new(session),
        };
        if let Some(n) = native {
            // Keep the native path only where it gives what ONNX Runtime gives.
            // 64 rows, fewer for wide inputs (at most ~16 MiB of check data).
            let rows = (64usize).min(((1 << 22) / model.n_features).max(2));
            let x = native::check_rows(model.n_features, rows);
            let proba = model.has_probabilities();
            let reference = model.predict_ort(&x, rows, proba)?;
            if native::agree(&n.predict(&x, rows, proba), &reference) {
                model.native = Some(n);
            }
        }
        Ok(model)
    }

    /// "native" when the linear fast path runs this model, else "onnxruntime".
    pub fn engine(&self) -> &'static str {
        if self.native.is_some() {
            "native"
        } else {
            "onnxruntime"
        }
    }

    pub fn has_probabilities(&self) -> bool {
        self.proba_output.is_some()
    }

    /// Runs `rows` rows of `n_features` float32 features (row-major).
    pub fn predict(
        &self,
        features: &[f32],
        rows: usize,
        proba: bool,
    ) -> Result<Predictions, MlError> {
        if features.len() != rows * self.n_features {
            return Err(MlError::Features(format!(
                "expected {} features per row, got {} values for {rows} rows",
                self.n_features,
                features.len()
            )));
        }
        match &self.native {
            Some(n) => Ok(n.predict(features, rows, proba && self.proba_output.is_some())),
            None => self.predict_ort(features, rows, proba),
        }
    }

    /// Runs the rows through ONNX Runtime.
    fn predict_ort(
        &self,
        features: &[f32],
        rows: usize,
        proba: bool,
    ) -> Result<Predictions, MlError> {
        let run = |e: ort::Error| MlError::Run(e.to_string());
        let shape = [rows as i64, self.n_features as i64];
        let mut session = self
            .session
            .lock()
            .map_err(|_| MlError::Run("a previous inference panicked".to_string()))?;
        let widened: Vec<f64>;
        let input = match self.input_type {
            InputType::F32 => TensorRef::from_array_view((shape, features))
                .map_err(run)?
                .into_dyn(),
            InputType::F64 => {
                widened = features.iter().map(|&x| f64::from(x)).collect();
                TensorRef::from_array_view((shape, widened.as_slice()))
                    .map_err(run)?
                    .into_dyn()
            }
        };
        run_limited(
            &mut session,
            ort::inputs![self.input_name.as_str() => input],
            |outputs| {
                let labels = labels_of(&outputs[0], rows)?;
                let (probabilities, width) = match (proba, self.proba_output) {
                    (true, Some(i)) => floats_of(&outputs[i], rows)?,
                    _ => (Vec::new(), 0),
                };
                Ok(Predictions {
                    labels,
                    probabilities,
                    width,
                })
            },
        )
    }
}

/// Row-major float values of a [rows, width] (or [rows]) tensor, and the width.
fn floats_of(value: &ort::value::DynValue, rows: usize) -> Result<(Vec<f32>, usize), MlError> {
    let run = |e: ort::Error| MlError::Run(e.to_string());
    let (shape, data): (Vec<i64>, Vec<f32>) = match value.dtype() {
        ValueType::Tensor {
            ty: TensorElementType::Float64,
            ..
        } => {
            let (s, d) = value.try_extract_tensor::<f64>().map_err(run)?;
            (s.to_vec(), d.iter().map(|&x| x as f32).collect())
        }
        _ => {
            let (s, d) = value.try_extract_tensor::<f32>().map_err(run)?;
            (s.to_vec(), d.to_vec())
        }
    };
    let width = data.len().checked_div(rows).unwrap_or(0);
    if shape.first().copied() != Some(rows as i64) || width * rows != data.len() {
        return Err(MlError::Run(format!(
            "unexpected output shape {shape:?} for {rows} rows"
        )));
    }
    Ok((data, width))
}

/// One SQL value per row from the prediction output.
fn labels_of(value: &ort::value::DynValue, rows: usize) -> Result<Vec<Value>, MlError> {
    let run = |e: ort::Error| MlError::Run(e.to_string());
    let ty = match value.dtype() {
        ValueType::Tensor { ty, .. } => *ty,
        _ => return Err(MlError::Run("the prediction output is not a tensor".into())),
    };
    let per_row = |values: Vec<Value>| -> Result<Vec<Value>, MlError> {
        if rows == 0 {
            return Ok(Vec::new());
        }
        let width = values.len() / rows;
        if width * rows != values.len() || width == 0 {
            return Err(MlError::Run(format!(
                "{} prediction values for {rows} rows",
                values.len()
            )));
        }
        if width == 1 {
            return Ok(values);
        }
        // Several outputs per row: a JSON array.
        Ok(values
            .chunks(width)
            .map(|c| {
                let parts: Vec<String> = c
                    .iter()
                    .map(|v| match v {
                        Value::Integer(i) => i.to_string(),
                        Value::Real(r) if r.is_finite() => format!("{r:?}"),
                        Value::Text(t) => format!("{t:?}"),
                        _ => "null".to_string(),
                    })
                    .collect();
                Value::Text(format!("[{}]", parts.join(",")))
            })
            .collect())
    };
    match ty {
        TensorElementType::Int64 => {
            let (_, d) = value.try_extract_tensor::<i64>().map_err(run)?;
            per_row(d.iter().map(|&x| Value::Integer(x)).collect())
        }
        TensorElementType::Int32 => {
            let (_, d) = value.try_extract_tensor::<i32>().map_err(run)?;
            per_row(d.iter().map(|&x| Value::Integer(i64::from(x))).collect())
        }
        TensorElementType::Bool => {
            let (_, d) = value.try_extract_tensor::<bool>().map_err(run)?;
            per_row(d.iter().map(|&x| Value::Integer(i64::from(x))).collect())
        }
        TensorElementType::Float32 => {
            let (_, d) = value.try_extract_tensor::<f32>().map_err(run)?;
            per_row(d.iter().map(|&x| Value::Real(f64::from(x))).collect())
        }
        TensorElementType::Float64 => {
            let (_, d) = value.try_extract_tensor::<f64>().map_err(run)?;
            per_row(d.iter().map(|&x| Value::Real(x)).collect())
        }
        TensorElementType::String => {
            let (_, d) = value.try_extract_strings().map_err(run)?;
            per_row(d.into_iter().map(Value::Text).collect())
        }
        other => Err(MlError::Run(format!(
            "unsupported prediction output type {other:?}"
        ))),
    }
}
