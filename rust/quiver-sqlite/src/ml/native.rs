//! A native path for the linear models scikit-learn exports (LogisticRegression,
//! LinearRegression, Ridge, optionally after a StandardScaler): graphs made of
//! `Scaler?` -> `LinearClassifier` -> `Normalizer(L1)?`, or `Scaler?` -> `LinearRegressor`
//! (ONNX-ML operators). A call to ONNX Runtime costs a few microseconds however small
//! the model; evaluating these directly costs tens of nanoseconds, which is what makes
//! per-row `ml_predict` fast for them.
//!
//! It is only an accelerator: `Model::load` builds it when the graph matches exactly,
//! then checks it against ONNX Runtime on generated rows and drops it on any
//! difference. Every other model runs in ONNX Runtime.

use rusqlite::types::Value;

use super::predictions::Predictions;
use super::proto::{self, Node};

const ML_DOMAIN: &str = "ai.onnx.ml";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Post {
    None,
    Logistic,
    Softmax,
}

#[derive(Debug, Clone)]
enum Labels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

#[derive(Debug, Clone)]
enum Kind {
    Classifier {
        labels: Labels,
        post: Post,
        normalize_l1: bool,
    },
    Regressor,
}

/// A natively evaluated linear model.
#[derive(Debug, Clone)]
pub struct Native {
    n_features: usize,
    /// Per-feature (x - offset) * scale, applied first when present.
    scaler: Option<(Vec<f64>, Vec<f64>)>,
    /// `targets` rows of `n_features` coefficients.
    coefficients: Vec<f64>,
    intercepts: Vec<f64>,
    targets: usize,
    kind: Kind,
    /// Graph output names: the prediction and (classifiers) the probabilities.
    pub label_output: String,
    pub proba_output: Option<String>,
}

fn in_ml_domain(n: &Node) -> bool {
    n.domain == ML_DOMAIN
}

fn floats(n: &Node, name: &str) -> Option<Vec<f64>> {
    n.attr(name)
        .map(|a| a.floats.iter().map(|&x| f64::from(x)).collect())
}

fn post_transform(n: &Node) -> Option<Post> {
    match n.attr("post_transform").and_then(|a| a.s.as_deref()) {
        None | Some(b"NONE") => Some(Post::None),
        Some(b"LOGISTIC") => Some(Post::Logistic),
        Some(b"SOFTMAX") => Some(Post::Softmax),
        _ => None,
    }
}

impl Native {
    /// The native form of `model` (ONNX bytes) when its graph is one of the supported
    /// linear shapes taking `input` of `n_features` features; None otherwise.
    pub fn from_onnx(model: &[u8], input: &str, n_features: usize) -> Option<Native> {
        let graph = proto::model_graph(model)?;
        if graph.initializers != 0 || n_features == 0 {
            return None;
        }
        if graph
            .nodes
            .iter()
            .any(|n| n.attributes.iter().any(|a| a.nested))
        {
            return None;
        }
        let mut nodes = graph.nodes.iter();
        let mut first = nodes.next()?;
        let mut current = input.to_string();
        let mut scaler = None;
        if first.op_type == "Scaler" {
            if !in_ml_domain(first) || first.inputs != [current.clone()] {
                return None;
            }
            let broadcast = |v: Vec<f64>| -> Option<Vec<f64>> {
                match v.len() {
                    1 => Some(vec![v[0]; n_features]),
                    n if n == n_features => Some(v),
                    _ => None,
                }
            };
            let offset = broadcast(floats(first, "offset").unwrap_or_else(|| vec![0.0]))?;
            let scale = broadcast(floats(first, "scale").unwrap_or_else(|| vec![1.0]))?;
            scaler = Some((offset, scale));
            current = first.outputs.first()?.clone();
            first = nodes.next()?;
        }
        if !in_ml_domain(first) || first.inputs != [current] {
            return None;
        }
        let coefficients = floats(first, "coefficients")?;
        let intercepts = floats(first, "intercepts").unwrap_or_default();
        if coefficients.is_empty() || coefficients.len() % n_features != 0 {
            return None;
        }
        let targets = coefficients.len() / n_features;
        if !intercepts.is_empty() && intercepts.len() != targets {
            return None;
        }
        let intercepts = if intercepts.is_empty() {
            vec![0.0; targets]
        } else {
            intercepts
        };
        let native = match first.op_type.as_str() {
            "LinearRegressor" => {
                let declared = first.attr("targets").and_then(|a| a.i).unwrap_or(1);
                if declared != targets as i64 || post_transform(first)? != Post::None {
                    return None;
                }
                if nodes.next().is_some() || first.outputs.len() != 1 {
                    return None;
                }
                Native {
                    n_features,
                    scaler,
                    coefficients,
                    intercepts,
                    targets,
                    kind: Kind::Regressor,
                    label_output: first.outputs[0].clone(),
                    proba_output: None,
                }
            }
            "LinearClassifier" => {
                let labels = match (
                    first.attr("classlabels_ints"),
                    first.attr("classlabels_strings"),
                ) {
                    (Some(a), None) if !a.ints.is_empty() => Labels::Ints(a.ints.clone()),
                    (None, Some(a)) if !a.strings.is_empty() => Labels::Strings(a.strings.clone()),
                    _ => return None,
                };
                let n_labels = match &labels {
                    Labels::Ints(v) => v.len(),
                    Labels::Strings(v) => v.len(),
                };
                // One score per class (scikit-learn writes both classes for binary
                // models); the single-score binary form is left to ONNX Runtime.
                if n_labels != targets || targets < 2 || first.outputs.len() != 2 {
                    return None;
                }
                let post = post_transform(first)?;
                let mut proba_output = first.outputs[1].clone();
                let mut normalize_l1 = false;
                if let Some(next) = nodes.next() {
                    let l1 = next.op_type == "Normalizer"
                        && in_ml_domain(next)
                        && next.attr("norm").and_then(|a| a.s.as_deref()) == Some(b"L1")
                        && next.inputs == [proba_output.clone()];
                    if !l1 || nodes.next().is_some() {
                        return None;
                    }
                    normalize_l1 = true;
                    proba_output = next.outputs.first()?.clone();
                }
                Native {
                    n_features,
                    scaler,
                    coefficients,
                    intercepts,
                    targets,
                    kind: Kind::Classifier {
                        labels,
                        post,
                        normalize_l1,
                    },
                    label_output: first.outputs[0].clone(),
                    proba_output: Some(proba_output),
                }
            }
            _ => return None,
        };
        Some(native)
    }

    /// Predictions for `rows` rows of features (row-major float32).
    pub fn predict(&self, features: &[f32], rows: usize, proba: bool) -> Predictions {
        let n = self.n_features;
        let mut labels = Vec::with_capacity(rows);
        let mut probabilities = Vec::new();
        let mut x = vec![0f64; n];
        let mut scores = vec![0f64; self.targets];
        for r in 0..rows {
            let row = &features[r * n..(r + 1) * n];
            match &self.scaler {
                Some((offset, scale)) => {
                    for j in 0..n {
                        // The Scaler works in float32.
                        x[j] = f64::from(((f64::from(row[j]) - offset[j]) * scale[j]) as f32);
                    }
                }
                None => {
                    for j in 0..n {
                        x[j] = f64::from(row[j]);
                    }
                }
            }
            for (t, score) in scores.iter_mut().enumerate() {
                let w = &self.coefficients[t * n..(t + 1) * n];
                let dot: f64 = w.iter().zip(&x).map(|(a, b)| a * b).sum();
                *score = dot + self.intercepts[t];
            }
            match &self.kind {
                Kind::Regressor => {
                    if self.targets == 1 {
                        labels.push(Value::Real(f64::from(scores[0] as f32)));
                    } else {
                        let parts: Vec<String> = scores
                            .iter()
                            .map(|s| format!("{:?}", f64::from(*s as f32)))
                            .collect();
                        labels.push(Value::Text(format!("[{}]", parts.join(","))));
                    }
                }
                Kind::Classifier {
                    labels: names,
                    post,
                    normalize_l1,
                } => {
                    // The first maximum, as ONNX Runtime picks it.
                    let mut best = 0;
                    for (t, &s) in scores.iter().enumerate() {
                        if s > scores[best] {
                            best = t;
                        }
                    }
                    labels.push(match names {
                        Labels::Ints(v) => Value::Integer(v[best]),
                        Labels::Strings(v) => Value::Text(v[best].clone()),
                    });
                    if proba {
                        let start = probabilities.len();
                        match post {
                            Post::None => probabilities.extend(scores.iter().map(|&s| s as f32)),
                            Post::Logistic => probabilities
                                .extend(scores.iter().map(|&s| (1.0 / (1.0 + (-s).exp())) as f32)),
                            Post::Softmax => {
                                let max = scores[best];
                                let sum: f64 = scores.iter().map(|&s| (s - max).exp()).sum();
                                probabilities
                                    .extend(scores.iter().map(|&s| ((s - max).exp() / sum) as f32));
                            }
                        }
                        if *normalize_l1 {
                            let p = &mut probabilities[start..];
                            let sum: f32 = p.iter().map(|v| v.abs()).sum();
                            if sum > 0.0 {
                                p.iter_mut().for_each(|v| *v /= sum);
                            }
                        }
                    }
                }
            }
        }
        let width = if proba && self.proba_output.is_some() {
            self.targets
        } else {
            0
        };
        Predictions {
            labels,
            probabilities,
            width,
        }
    }
}

/// Deterministic rows spread over [-4, 4] (and a row of zeros) for checking the native
/// path against ONNX Runtime.
pub fn check_rows(n_features: usize, rows: usize) -> Vec<f32> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = vec![0f32; n_features];
    for _ in 1..rows {
        for _ in 0..n_features {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
            out.push(unit * 8.0 - 4.0);
        }
    }
    out
}

/// Whether two prediction sets agree: equal labels, values within 1e-5 (relative for
/// large regression outputs).
pub fn agree(a: &Predictions, b: &Predictions) -> bool {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-5 * (1.0 + x.abs().max(y.abs()));
    if a.labels.len() != b.labels.len() || a.width != b.width {
        return false;
    }
    let labels = a.labels.iter().zip(&b.labels).all(|(x, y)| match (x, y) {
        (Value::Real(x), Value::Real(y)) => close(*x, *y),
        _ => x == y,
    });
    labels
        && a.probabilities.len() == b.probabilities.len()
        && a.probabilities
            .iter()
            .zip(&b.probabilities)
            .all(|(x, y)| close(f64::from(*x), f64::from(*y)))
}
