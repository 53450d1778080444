//! Text models: an ONNX encoder (BERT-family: inputs `input_ids`, `attention_mask` and
//! optionally `token_type_ids`), its HuggingFace `tokenizer.json` (the `tokenizers`
//! crate, pure Rust) and a config (pooling, normalization, max_length, prefixes). They
//! turn text into float32 vectors for `ml_embed`, `ml_embed_batch` and
//! `sqlite_quiver.ml.embed`; or, saved with the task `rerank`, a cross-encoder that
//! scores (query, document) pairs for `ml_rerank` and `sqlite_quiver.ml.rerank`
//! (the tokenizer's pair encoding: both texts in one sequence, token type ids 0 and 1).
//!
//! Texts are tokenized, sorted by token count and run in batches of similar lengths, so
//! padding stays small; results come back in input order. Mean pooling only averages
//! real tokens (the attention mask), so a text's vector does not depend on the batch it
//! ran in (up to float rounding).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use ort::session::{Session, SessionInputValue};
use ort::value::{TensorElementType, TensorRef, ValueType};
use sha2::{Digest, Sha256};
use tokenizers::{Encoding, Tokenizer, TruncationParams};

use super::model::{new_session, run_limited, SessionCache};
use super::MlError;

/// At most this many texts run in one ONNX Runtime call.
pub const BATCH_ROWS: usize = 32;
/// ... and at most this many tokens (rows x padded length).
pub const BATCH_TOKENS: usize = 8192;
/// From this many texts on, tokenization runs in parallel.
const PARALLEL_TOKENIZE_MIN: usize = 64;
/// The registry's `format` of text models.
pub const FORMAT: &str = "onnx-text";

static CACHE: SessionCache<TextModel> = SessionCache::new();

/// Drops every cached text model.
pub fn clear_cache() {
    CACHE.clear();
}

pub fn cached(key: &str) -> Option<Arc<TextModel>> {
    CACHE.get(key)
}

pub fn insert_cached(key: &str, model: Arc<TextModel>) {
    CACHE.insert(key, model);
}

/// The digest stored in the registry's `sha256` column for a text model: it covers the
/// ONNX graph, the tokenizer and the config, so the session cache keys on all three.
pub fn digest(model: &[u8], tokenizer: &[u8], config: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"quiver-text-model\0");
    for part in [model, tokenizer, config] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The process that first tokenized in parallel (0: none yet). The rayon pool's threads
/// do not survive `fork`: a forked child (multiprocessing, a test runner) whose parent
/// used the pool would wait on them forever, so it tokenizes sequentially.
static POOL_PID: AtomicU32 = AtomicU32::new(0);

fn parallel_pool_usable() -> bool {
    let pid = std::process::id();
    match POOL_PID.compare_exchange(0, pid, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => true,
        Err(first) => first == pid,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Average of the token vectors under the attention mask.
    Mean,
    /// The first token's vector.
    Cls,
    /// The model's output is already one vector per text.
    Pooled,
}

/// What a text model is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Text -> vector (`ml_embed`).
    Embed,
    /// (query, document) -> one relevance score (`ml_rerank`).
    Rerank,
}

/// Which prefix a text gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Query,
    Document,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "query" => Some(Kind::Query),
            "document" => Some(Kind::Document),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TextConfig {
    pub pooling: Pooling,
    pub normalize: bool,
    /// Most tokens per text, special tokens included.
    pub max_length: usize,
    pub query_prefix: String,
    pub document_prefix: String,
    /// Longer texts are cut at max_length (true, the default) or refused (false).
    pub truncate: bool,
    /// The output to pool (default: the first).
    pub output: Option<String>,
    /// The vector size recorded when the model was saved (checked on load).
    pub dimension: Option<usize>,
    pub task: Task,
    /// Rerank only: scores go through the logistic function (0..1), as
    /// sentence-transformers' CrossEncoder gives them for one-label models.
    pub sigmoid: bool,
}

/// Longest max_length accepted (a row of that many tokens is allocated per text).
pub const MAX_LENGTH_LIMIT: usize = 1 << 16;

impl TextConfig {
    /// Parses the registry's JSON config.
    pub fn from_json(text: &str) -> Result<TextConfig, MlError> {
        let bad = |m: String| MlError::BadText(format!("text model config: {m}"));
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let o = v
            .as_object()
            .ok_or_else(|| bad("expected a JSON object".into()))?;
        let string = |key: &str, default: &str| -> Result<String, MlError> {
            match o.get(key) {
                None | Some(serde_json::Value::Null) => Ok(default.to_string()),
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(bad(format!("'{key}' must be a string, got {other}"))),
            }
        };
        let boolean = |key: &str, default: bool| -> Result<bool, MlError> {
            match o.get(key) {
                None => Ok(default),
                Some(serde_json::Value::Bool(b)) => Ok(*b),
                Some(other) => Err(bad(format!("'{key}' must be true or false, got {other}"))),
            }
        };
        let pooling = match string("pooling", "mean")?.as_str() {
            "mean" => Pooling::Mean,
            "cls" => Pooling::Cls,
            "pooled" => Pooling::Pooled,
            other => {
                return Err(bad(format!(
                    "'pooling' must be 'mean', 'cls' or 'pooled', got '{other}'"
                )))
            }
        };
        let max_length = match o.get("max_length") {
            None => 256,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 2 && n as usize <= MAX_LENGTH_LIMIT => n as usize,
                _ => {
                    return Err(bad(format!(
                        "'max_length' must be an integer from 2 to {MAX_LENGTH_LIMIT}, got {v}"
                    )))
                }
            },
        };
        let output = match o.get("output") {
            None | Some(serde_json::Value::Null) => None,
            Some(_) => Some(string("output", "")?),
        };
        let dimension =
            match o.get("dimension") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(v.as_u64().filter(|&n| n > 0).ok_or_else(|| {
                    bad(format!("'dimension' must be a positive integer, got {v}"))
                })? as usize),
            };
        let task = match string("task", "embed")?.as_str() {
            "embed" => Task::Embed,
            "rerank" => Task::Rerank,
            other => {
                return Err(bad(format!(
                    "'task' must be 'embed' or 'rerank', got '{other}'"
                )))
            }
        };
        let sigmoid = boolean("sigmoid", false)?;
        let normalize = boolean("normalize", task == Task::Embed)?;
        if task == Task::Rerank && (pooling != Pooling::Pooled || normalize) {
            return Err(bad(
                "a reranker gives one score per pair: it needs pooling 'pooled' and \
                 normalize false"
                    .into(),
            ));
        }
        if sigmoid && task != Task::Rerank {
            return Err(bad("'sigmoid' applies to rerank models only".into()));
        }
        Ok(TextConfig {
            task,
            sigmoid,
            dimension,
            pooling,
            normalize,
            max_length,
            query_prefix: string("query_prefix", "")?,
            document_prefix: string("document_prefix", "")?,
            truncate: boolean("truncate", true)?,
            output,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    Ids,
    Mask,
    TypeIds,
}

pub struct TextModel {
    session: Mutex<Session>,
    /// Truncates at max_length when the config says so.
    tokenizer: Tokenizer,
    /// Never truncates: for token counts and the over-long check.
    counter: Tokenizer,
    pub config: TextConfig,
    inputs: Vec<(String, Input)>,
    output: String,
    /// Floats per vector.
    pub dimension: usize,
    pub input_schema: String,
    pub output_schema: String,
}

fn tokenizer_from(bytes: &[u8]) -> Result<Tokenizer, MlError> {
    let mut t = Tokenizer::from_bytes(bytes).map_err(|e| {
        MlError::BadText(format!("the tokenizer is not a usable tokenizer.json: {e}"))
    })?;
    // Padding is done per batch here; a tokenizer.json's own padding or truncation
    // settings would change the ids.
    t.with_padding(None);
    t.with_truncation(None)
        .map_err(|e| MlError::BadText(format!("tokenizer: {e}")))?;
    Ok(t)
}

fn describe_inputs(session: &Session) -> String {
    session
        .inputs()
        .iter()
        .map(|i| match i.dtype() {
            ValueType::Tensor { ty, .. } => format!("{} ({ty:?})", i.name()),
            other => format!("{} ({other:?})", i.name()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl TextModel {
    /// Loads and checks a text model: the inputs must be the tokenizer's (input_ids,
    /// attention_mask, optionally token_type_ids, all int64), the pooled output must
    /// have the rank the pooling needs, and the model must accept every token id of
    /// the vocabulary and max_length tokens.
    pub fn load(model: &[u8], tokenizer: &[u8], config: TextConfig) -> Result<TextModel, MlError> {
        let counter = tokenizer_from(tokenizer)?;
        let mut truncating = counter.clone();
        if config.truncate {
            truncating
                .with_truncation(Some(TruncationParams {
                    max_length: config.max_length,
                    ..Default::default()
                }))
                .map_err(|e| MlError::BadText(format!("tokenizer truncation: {e}")))?;
        }
        let session = new_session(model)?;
        let mismatch = |why: String| {
            MlError::BadText(format!(
                "the ONNX inputs do not match the tokenizer: {why}; a text model takes \
                 input_ids and attention_mask (and optionally token_type_ids), int64 \
                 [batch, sequence]; this model takes: {}",
                describe_inputs(&session)
            ))
        };
        let mut inputs = Vec::new();
        for i in session.inputs() {
            let role = match i.name() {
                "input_ids" => Input::Ids,
                "attention_mask" => Input::Mask,
                "token_type_ids" => Input::TypeIds,
                other => return Err(mismatch(format!("unexpected input '{other}'"))),
            };
            match i.dtype() {
                ValueType::Tensor {
                    ty: TensorElementType::Int64,
                    shape,
                    ..
                } if shape.len() == 2 => {}
                _ => {
                    return Err(mismatch(format!(
                        "input '{}' is not int64 [batch, sequence]",
                        i.name()
                    )))
                }
            }
            inputs.push((i.name().to_string(), role));
        }
        if !inputs.iter().any(|(_, r)| *r == Input::Ids) {
            return Err(mismatch("no input named input_ids".into()));
        }
        let outputs = session.outputs();
        let chosen = match &config.output {
            Some(name) => outputs.iter().find(|o| o.name() == name).ok_or_else(|| {
                MlError::BadText(format!(
                    "the config names output '{name}', the model's outputs are: {}",
                    outputs
                        .iter()
                        .map(|o| o.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
            None => outputs
                .first()
                .ok_or_else(|| MlError::BadText("the model has no outputs".into()))?,
        };
        let want_rank = if config.pooling == Pooling::Pooled {
            2
        } else {
            3
        };
        match chosen.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } if shape.len() == want_rank => {}
            other => {
                return Err(MlError::BadText(format!(
                    "output '{}' is {other:?}; pooling '{}' needs a float32 tensor of rank \
                     {want_rank} ({})",
                    chosen.name(),
                    match config.pooling {
                        Pooling::Mean => "mean",
                        Pooling::Cls => "cls",
                        Pooling::Pooled => "pooled",
                    },
                    if want_rank == 3 {
                        "[batch, sequence, hidden]; use pooling='pooled' for a model that \
                         already gives one vector per text"
                    } else {
                        "[batch, dimension]"
                    }
                )))
            }
        }
        let output = chosen.name().to_string();
        let input_schema = super::model::schema_json(session.inputs());
        let output_schema = super::model::schema_json(outputs);
        let mut m = TextModel {
            session: Mutex::new(session),
            tokenizer: truncating,
            counter,
            config,
            inputs,
            output,
            dimension: 0,
            input_schema,
            output_schema,
        };
        // A probe: the dimension, and a clear error now rather than at query time.
        let probe = m.run_ids(&[&[0]], &[])?;
        m.dimension = probe.len();
        if m.dimension == 0 {
            return Err(MlError::BadText("the model gives empty vectors".into()));
        }
        if m.config.task == Task::Rerank && m.dimension != 1 {
            return Err(MlError::BadText(format!(
                "a reranker gives one score per (query, document) pair; output '{}' gives \
                 {} values per pair",
                m.output, m.dimension
            )));
        }
        if let Some(d) = m.config.dimension.filter(|&d| d != m.dimension) {
            return Err(MlError::BadText(format!(
                "the config records vectors of {d} floats, the model gives {}",
                m.dimension
            )));
        }
        let vocab = m.counter.get_vocab_size(true);
        if vocab > 0 {
            let last = (vocab - 1) as u32;
            m.run_ids(&[&[last]], &[]).map_err(|e| {
                MlError::BadText(format!(
                    "the ONNX inputs do not match the tokenizer: its vocabulary has {vocab} \
                     tokens but the model refuses token id {last} ({e})"
                ))
            })?;
        }
        m.run_ids(&[&vec![0; m.config.max_length]], &[])
            .map_err(|e| {
                MlError::BadText(format!(
                    "the model does not accept max_length = {} tokens (lower max_length to the \
                 model's max_position_embeddings or less): {e}",
                    m.config.max_length
                ))
            })?;
        Ok(m)
    }

    fn prefix(&self, kind: Kind) -> &str {
        match kind {
            Kind::Query => &self.config.query_prefix,
            Kind::Document => &self.config.document_prefix,
        }
    }

    /// The tokenizer that gives the model's ids (truncating unless the config refuses
    /// over-long text).
    fn ids_tokenizer(&self) -> &Tokenizer {
        if self.config.truncate {
            &self.tokenizer
        } else {
            &self.counter
        }
    }

    /// `text` with the kind's prefix.
    fn with_prefix<'t>(&self, text: &'t str, kind: Kind) -> Cow<'t, str> {
        let prefix = self.prefix(kind);
        if prefix.is_empty() {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(format!("{prefix}{text}"))
        }
    }

    /// Refuses an encoding above max_length (only reached with truncate=False).
    fn check_length(&self, e: Encoding) -> Result<Encoding, MlError> {
        if !self.config.truncate && e.len() > self.config.max_length {
            return Err(MlError::Features(format!(
                "the text is {} tokens long, above this model's max_length of {} (the \
                 model was saved with truncate=False; shorten the text)",
                e.len(),
                self.config.max_length
            )));
        }
        Ok(e)
    }

    /// The encoding of `text` (prefix added, truncated or refused at max_length).
    pub fn encode(&self, text: &str, kind: Kind) -> Result<Encoding, MlError> {
        let full = self.with_prefix(text, kind);
        let e = self
            .ids_tokenizer()
            .encode_fast(full.as_ref(), true)
            .map_err(|e| MlError::Features(format!("cannot tokenize the text: {e}")))?;
        self.check_length(e)
    }

    /// The encodings of `texts`, as `encode` gives them; many texts are tokenized in
    /// parallel (the tokenizers crate's rayon pool, `TOKENIZERS_PARALLELISM=false` turns
    /// it off).
    pub fn encode_many<S: AsRef<str>>(
        &self,
        texts: &[S],
        kind: Kind,
    ) -> Result<Vec<Encoding>, MlError> {
        if texts.len() < PARALLEL_TOKENIZE_MIN || !parallel_pool_usable() {
            return texts
                .iter()
                .map(|t| self.encode(t.as_ref(), kind))
                .collect();
        }
        let inputs: Vec<Cow<'_, str>> = texts
            .iter()
            .map(|t| self.with_prefix(t.as_ref(), kind))
            .collect();
        let inputs: Vec<&str> = inputs.iter().map(|t| t.as_ref()).collect();
        self.ids_tokenizer()
            .encode_batch_fast(inputs, true)
            .map_err(|e| MlError::Features(format!("cannot tokenize the text: {e}")))?
            .into_iter()
            .map(|e| self.check_length(e))
            .collect()
    }

    /// Tokens in `text` with special tokens and the prefix, before any truncation.
    pub fn token_count(&self, text: &str, kind: Kind) -> Result<usize, MlError> {
        let prefix = self.prefix(kind);
        let full = format!("{prefix}{text}");
        self.counter
            .encode_fast(full.as_str(), true)
            .map(|e| e.len())
            .map_err(|e| MlError::Features(format!("cannot tokenize the text: {e}")))
    }

    /// Embeds `texts`: `texts.len() * dimension` floats, in input order.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S], kind: Kind) -> Result<Vec<f32>, MlError> {
        if self.config.task == Task::Rerank {
            return Err(MlError::WrongKind(
                "this text model is a reranker (a cross-encoder: it scores (query, \
                 document) pairs with ml_rerank / sqlite_quiver.ml.rerank), not an \
                 embedding model"
                    .into(),
            ));
        }
        let encodings = self.encode_many(texts, kind)?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        self.run_sorted(&ids, &[])
    }

    /// Relevance scores of `documents` for `query` (a reranker's raw score, or its
    /// sigmoid when the model was saved so), in input order; higher is more relevant.
    /// Each pair is one sequence `[CLS] query [SEP] document [SEP]`, cut to max_length
    /// (longest text first) or refused when the model does not truncate.
    pub fn rerank<S: AsRef<str>>(&self, query: &str, documents: &[S]) -> Result<Vec<f32>, MlError> {
        if self.config.task != Task::Rerank {
            return Err(MlError::WrongKind(
                "this text model is an embedding model (ml_embed), not a reranker; save \
                 a cross-encoder with sqlite_quiver.ml.save_reranker or \
                 save_cross_encoder"
                    .into(),
            ));
        }
        let pairs: Vec<(&str, &str)> = documents.iter().map(|d| (query, d.as_ref())).collect();
        let encodings: Vec<Encoding> =
            if pairs.len() < PARALLEL_TOKENIZE_MIN || !parallel_pool_usable() {
                pairs
                    .iter()
                    .map(|&p| {
                        self.ids_tokenizer()
                            .encode_fast(p, true)
                            .map_err(tokenize_error)
                            .and_then(|e| self.check_length(e))
                    })
                    .collect::<Result<_, _>>()?
            } else {
                self.ids_tokenizer()
                    .encode_batch_fast(pairs, true)
                    .map_err(tokenize_error)?
                    .into_iter()
                    .map(|e| self.check_length(e))
                    .collect::<Result<_, _>>()?
            };
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        let types: Vec<&[u32]> = encodings.iter().map(|e| e.get_type_ids()).collect();
        let mut scores = self.run_sorted(&ids, &types)?;
        if self.config.sigmoid {
            scores
                .iter_mut()
                .for_each(|s| *s = 1.0 / (1.0 + (-*s).exp()));
        }
        Ok(scores)
    }

    /// Runs rows of token ids (each with its special tokens; `types` their token type
    /// ids, or empty for all zeros) in batches of similar lengths: `dimension` floats
    /// per row, in input order.
    fn run_sorted(&self, ids: &[&[u32]], types: &[&[u32]]) -> Result<Vec<f32>, MlError> {
        let d = self.dimension;
        let mut out = vec![0f32; ids.len() * d];
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut start = 0;
        while start < order.len() {
            // Longest first in the batch is the last (sorted ascending).
            let mut end = start + 1;
            while end < order.len()
                && end - start < BATCH_ROWS
                && (end - start + 1) * ids[order[end]].len().max(1) <= BATCH_TOKENS
            {
                end += 1;
            }
            let batch: Vec<&[u32]> = order[start..end].iter().map(|&i| ids[i]).collect();
            let batch_types: Vec<&[u32]> = if types.is_empty() {
                Vec::new()
            } else {
                order[start..end].iter().map(|&i| types[i]).collect()
            };
            let vectors = self.run_ids(&batch, &batch_types)?;
            for (k, &i) in order[start..end].iter().enumerate() {
                out[i * d..(i + 1) * d].copy_from_slice(&vectors[k * d..(k + 1) * d]);
            }
            start = end;
        }
        Ok(out)
    }

    /// One ONNX Runtime run over a batch of token id rows (padded with 0 here; `types`
    /// the rows' token type ids, or empty for all zeros): pooled (and normalized)
    /// vectors, row-major.
    fn run_ids(&self, rows: &[&[u32]], types: &[&[u32]]) -> Result<Vec<f32>, MlError> {
        let n = rows.len();
        let seq = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; n * seq];
        let mut mask = vec![0i64; n * seq];
        for (r, row) in rows.iter().enumerate() {
            for (j, &id) in row.iter().enumerate() {
                ids[r * seq + j] = i64::from(id);
                mask[r * seq + j] = 1;
            }
            if row.is_empty() {
                mask[r * seq] = 1;
            }
        }
        let mut type_ids = vec![0i64; n * seq];
        for (r, row) in types.iter().enumerate() {
            for (j, &t) in row.iter().enumerate() {
                type_ids[r * seq + j] = i64::from(t);
            }
        }
        let shape = [n as i64, seq as i64];
        let run = |e: ort::Error| MlError::Run(e.to_string());
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::new();
        for (name, role) in &self.inputs {
            let data: &[i64] = match role {
                Input::Ids => &ids,
                Input::Mask => &mask,
                Input::TypeIds => &type_ids,
            };
            let t = TensorRef::from_array_view((shape, data))
                .map_err(run)?
                .into_dyn();
            inputs.push((Cow::Borrowed(name.as_str()), SessionInputValue::from(t)));
        }
        let mut session = self
            .session
            .lock()
            .map_err(|_| MlError::Run("a previous inference panicked".to_string()))?;
        let pooling = self.config.pooling;
        let output = self.output.as_str();
        let mut vectors = run_limited(&mut session, inputs, |outputs| {
            let value = &outputs[output];
            let (out_shape, data) = value.try_extract_tensor::<f32>().map_err(run)?;
            pool(pooling, out_shape, data, &mask, n, seq).ok_or_else(|| {
                MlError::Run(format!(
                    "output '{output}' has shape {:?} for a batch of {n} texts of {seq} tokens",
                    out_shape.to_vec()
                ))
            })
        })?;
        drop(session);
        let h = vectors.len() / n.max(1);
        if self.dimension != 0 && h != self.dimension {
            return Err(MlError::Run(format!(
                "the model gave vectors of {h} floats, expected {}",
                self.dimension
            )));
        }
        if self.config.normalize {
            for v in vectors.chunks_mut(h.max(1)) {
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|x| *x /= norm);
            }
        }
        if vectors.iter().any(|x| !x.is_finite()) {
            return Err(MlError::Run(
                "the model gave a NaN or infinite value in an embedding".into(),
            ));
        }
        Ok(vectors)
    }
}

fn tokenize_error(e: impl std::fmt::Display) -> MlError {
    MlError::Features(format!("cannot tokenize the text: {e}"))
}

/// Pooled vectors (row-major) from the output of a batch of `n` rows of `seq` tokens;
/// None when the output's shape is not what the pooling needs.
fn pool(
    pooling: Pooling,
    shape: &[i64],
    data: &[f32],
    mask: &[i64],
    n: usize,
    seq: usize,
) -> Option<Vec<f32>> {
    match (pooling, shape) {
        (Pooling::Pooled, [b, h]) if *b == n as i64 && *h > 0 => Some(data.to_vec()),
        (Pooling::Mean | Pooling::Cls, [b, s, h])
            if *b == n as i64 && *s == seq as i64 && *h > 0 =>
        {
            let h = *h as usize;
            let mut v = vec![0f32; n * h];
            for r in 0..n {
                let dst = &mut v[r * h..(r + 1) * h];
                if pooling == Pooling::Cls {
                    dst.copy_from_slice(&data[r * seq * h..r * seq * h + h]);
                    continue;
                }
                let mut count = 0f32;
                for j in 0..seq {
                    if mask[r * seq + j] == 0 {
                        continue;
                    }
                    count += 1.0;
                    let src = &data[(r * seq + j) * h..(r * seq + j + 1) * h];
                    dst.iter_mut().zip(src).for_each(|(a, b)| *a += b);
                }
                let inv = 1.0 / count.max(1.0);
                dst.iter_mut().for_each(|a| *a *= inv);
            }
            Some(v)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_errors() {
        let c = TextConfig::from_json("{}").unwrap();
        assert_eq!(c.pooling, Pooling::Mean);
        assert!(c.normalize && c.truncate);
        assert_eq!(c.max_length, 256);
        let c = TextConfig::from_json(
            r#"{"pooling":"cls","normalize":false,"max_length":8,"query_prefix":"q: ","dimension":4}"#,
        )
        .unwrap();
        assert_eq!(
            (c.pooling, c.normalize, c.max_length),
            (Pooling::Cls, false, 8)
        );
        assert_eq!((c.query_prefix.as_str(), c.dimension), ("q: ", Some(4)));
        assert_eq!(c.task, Task::Embed);
        let c = TextConfig::from_json(r#"{"task":"rerank","pooling":"pooled","sigmoid":true}"#)
            .unwrap();
        assert_eq!(
            (c.task, c.normalize, c.sigmoid),
            (Task::Rerank, false, true)
        );
        for (bad, want) in [
            ("[]", "expected a JSON object"),
            (
                r#"{"pooling":"max"}"#,
                "'pooling' must be 'mean', 'cls' or 'pooled'",
            ),
            (
                r#"{"max_length":1}"#,
                "'max_length' must be an integer from 2",
            ),
            (r#"{"normalize":1}"#, "'normalize' must be true or false"),
            ("{", "not JSON"),
            (
                r#"{"task":"classify"}"#,
                "'task' must be 'embed' or 'rerank'",
            ),
            (
                r#"{"task":"rerank","pooling":"mean"}"#,
                "needs pooling 'pooled' and normalize false",
            ),
            (
                r#"{"task":"rerank","pooling":"pooled","normalize":true}"#,
                "needs pooling 'pooled' and normalize false",
            ),
            (
                r#"{"sigmoid":true}"#,
                "'sigmoid' applies to rerank models only",
            ),
        ] {
            let e = TextConfig::from_json(bad).unwrap_err().to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn mean_pooling_ignores_padding() {
        // Two rows of 3 tokens, hidden 2; row 1 has one real token.
        let data = [
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 100.0, 100.0, 100.0, 100.0,
        ];
        let mask = [1, 1, 1, 1, 0, 0];
        let v = pool(Pooling::Mean, &[2, 3, 2], &data, &mask, 2, 3).unwrap();
        assert_eq!(v, [3.0, 4.0, 7.0, 8.0]);
        let v = pool(Pooling::Cls, &[2, 3, 2], &data, &mask, 2, 3).unwrap();
        assert_eq!(v, [1.0, 2.0, 7.0, 8.0]);
        assert!(pool(Pooling::Mean, &[2, 2], &data[..4], &mask, 2, 3).is_none());
    }

    #[test]
    fn digest_covers_every_part() {
        let d = digest(b"m", b"t", b"c");
        assert_eq!(d.len(), 64);
        assert_ne!(d, digest(b"m", b"t", b"c2"));
        assert_ne!(d, digest(b"mt", b"", b"c"));
    }
}
