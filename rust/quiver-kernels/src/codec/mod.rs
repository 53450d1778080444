//! Vector formats, byte-for-byte as sqlite-vec reads and writes them.
//!
//! * blobs: float32 vectors are packed little-endian IEEE-754 floats; int8
//!   vectors are one signed byte per element; bit vectors one bit per element.
//! * JSON text: `[1.5,-2,3e-1]` in, `[1.500000,-2.000000,0.300000]` out.

mod blob;
mod error;
mod json_format;
mod json_parse;
pub mod npy;

pub use blob::{f32_from_blob, f32_to_blob, i8_from_blob, i8_to_blob};
pub use error::CodecError;
pub use json_format::{format_json_bits, format_json_f32, format_json_i8};
pub use json_parse::{parse_json_f32, parse_json_i8};

use crate::MAX_DIMENSIONS;

/// Rejects empty vectors and those above [`MAX_DIMENSIONS`].
fn check_dimensions(n: usize) -> Result<(), CodecError> {
    match n {
        0 => Err(CodecError::Empty),
        n if n > MAX_DIMENSIONS => Err(CodecError::TooManyDimensions(n)),
        _ => Ok(()),
    }
}
