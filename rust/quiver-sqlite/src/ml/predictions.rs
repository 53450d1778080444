//! What a model gives for a batch of rows, from ONNX Runtime or the native path.

use rusqlite::types::Value;

/// Predictions for a batch of rows.
pub struct Predictions {
    /// One SQL value per row (INTEGER, REAL or TEXT; JSON text for multi-output).
    pub labels: Vec<Value>,
    /// Row-major class probabilities, `width` per row (empty when not requested).
    pub probabilities: Vec<f32>,
    pub width: usize,
}
