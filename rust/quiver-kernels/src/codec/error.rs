//! The one error type of the codecs; every message names what was expected
//! and what was found, since it ends up in front of a SQL user.

use crate::MAX_DIMENSIONS;

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum CodecError {
    /// JSON text that does not follow the `[number, ...]` grammar.
    #[error("invalid JSON vector: expected {expected} at offset {offset}, found {found}")]
    Json {
        /// What the grammar allows here, e.g. "',' or ']'".
        expected: &'static str,
        /// Byte offset into the text.
        offset: usize,
        /// "end of input" or the quoted character found, e.g. "'x'".
        found: String,
    },
    #[error("float32 blob length must be a multiple of 4, got {0} bytes")]
    BlobLength(usize),
    /// A NaN or infinite element in a float32 blob.
    #[error("element {index} is {value}; vectors must be finite")]
    NonFinite {
        index: usize,
        /// "NaN", "inf" or "-inf".
        value: &'static str,
    },
    /// A JSON number too large in magnitude for float32.
    #[error("element {index} is {text}, which is outside the float32 range")]
    F32Overflow { index: usize, text: String },
    #[error("int8 element {index} is {text}, outside -128..=127")]
    I8OutOfRange { index: usize, text: String },
    #[error("element {index} is {text}, int8 vectors take integers")]
    I8NotInteger { index: usize, text: String },
    #[error("vector is empty")]
    Empty,
    #[error("vector has {0} dimensions, the maximum is {MAX_DIMENSIONS}")]
    TooManyDimensions(usize),
}
