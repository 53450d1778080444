//! Blob encodings: little-endian float32, and raw int8 bytes.

use super::{check_dimensions, CodecError};

/// Decodes a little-endian float32 blob. Rejects a length that is not a
/// multiple of 4, an empty or oversized vector, and NaN or infinite elements.
pub fn f32_from_blob(bytes: &[u8]) -> Result<Vec<f32>, CodecError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(CodecError::BlobLength(bytes.len()));
    }
    check_dimensions(bytes.len() / 4)?;
    let (words, _) = bytes.as_chunks::<4>();
    words
        .iter()
        .enumerate()
        .map(|(index, &word)| {
            let x = f32::from_le_bytes(word);
            match x {
                x if x.is_finite() => Ok(x),
                x if x.is_nan() => Err(CodecError::NonFinite {
                    index,
                    value: "NaN",
                }),
                x if x > 0.0 => Err(CodecError::NonFinite {
                    index,
                    value: "inf",
                }),
                _ => Err(CodecError::NonFinite {
                    index,
                    value: "-inf",
                }),
            }
        })
        .collect()
}

/// Encodes floats as a little-endian float32 blob.
pub fn f32_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Views an int8 blob as a vector, without copying. Rejects an empty or
/// oversized vector; every byte is a valid int8.
pub fn i8_from_blob(bytes: &[u8]) -> Result<&[i8], CodecError> {
    check_dimensions(bytes.len())?;
    // SAFETY: i8 and u8 have the same size and alignment and every bit
    // pattern is valid for both; the new slice borrows `bytes` for its lifetime.
    Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<i8>(), bytes.len()) })
}

/// Encodes an int8 vector as a blob (one byte per element).
pub fn i8_to_blob(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x.to_le_bytes()[0]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_DIMENSIONS;

    #[test]
    fn f32_round_trip() {
        let v = [1.5f32, -0.0, 3.25e-20, f32::MAX, f32::MIN_POSITIVE / 4.0];
        let blob = f32_to_blob(&v);
        assert_eq!(blob.len(), 20);
        assert_eq!(&blob[..4], &[0, 0, 0xC0, 0x3F]); // 1.5, little-endian
        let back = f32_from_blob(&blob).expect("valid blob");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&v));
    }

    #[test]
    fn f32_errors() {
        assert_eq!(f32_from_blob(&[]), Err(CodecError::Empty));
        let err = f32_from_blob(&[0; 7]).unwrap_err();
        assert_eq!(err, CodecError::BlobLength(7));
        assert_eq!(
            err.to_string(),
            "float32 blob length must be a multiple of 4, got 7 bytes"
        );
        let err = f32_from_blob(&f32_to_blob(&[1.0, 2.0, 3.0, f32::NAN])).unwrap_err();
        assert_eq!(err.to_string(), "element 3 is NaN; vectors must be finite");
        let err = f32_from_blob(&f32_to_blob(&[1.0, 2.0, f32::INFINITY])).unwrap_err();
        assert_eq!(err.to_string(), "element 2 is inf; vectors must be finite");
        let err = f32_from_blob(&f32_to_blob(&[f32::NEG_INFINITY])).unwrap_err();
        assert_eq!(err.to_string(), "element 0 is -inf; vectors must be finite");
        let err = f32_from_blob(&vec![0; 4 * 70_000]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "vector has 70000 dimensions, the maximum is 65536"
        );
        assert!(f32_from_blob(&vec![0; 4 * MAX_DIMENSIONS]).is_ok());
    }

    #[test]
    fn i8_round_trip_and_errors() {
        let v = [1i8, -2, 127, -128, 0];
        let blob = i8_to_blob(&v);
        assert_eq!(blob, [1, 0xFE, 0x7F, 0x80, 0]);
        assert_eq!(i8_from_blob(&blob), Ok(&v[..]));
        assert_eq!(i8_from_blob(&[]), Err(CodecError::Empty));
        assert_eq!(
            i8_from_blob(&vec![0; MAX_DIMENSIONS + 1]),
            Err(CodecError::TooManyDimensions(MAX_DIMENSIONS + 1))
        );
        assert!(i8_from_blob(&vec![0; MAX_DIMENSIONS]).is_ok());
    }
}
