//! Quantized codes of float vectors, by position. The codes of one
//! `indexed by rescore(...)` column are held in the table's cache entry beside the
//! float vectors (position = slot) and kept in step with them: every path that
//! stores a float vector in the cache (loads and every write applied to a cached
//! entry) encodes it here too, so codes follow INSERT, UPDATE, DELETE, ROLLBACK and
//! savepoints exactly as the cached floats do. A quantized ivf list holds its
//! members' codes the same way (position = place in the list).

use quiver_kernels::quant::{bit_code_bytes, quantize_bit, quantize_int8};

use super::index_spec::{Quantizer, Rescore};

/// Codes of every slot of one vector column.
pub struct Codes {
    pub spec: Rescore,
    pub dims: usize,
    /// Bytes of one code.
    pub code_bytes: usize,
    /// `slots * code_bytes`: sign bits (bit) or int8 values stored as bytes (int8).
    pub data: Vec<u8>,
    /// int8 only: per-slot scale (`x ≈ scale * code`).
    pub scale: Vec<f32>,
    /// int8 only: per-slot exact norm `|x|`, for L2 and cosine estimates.
    pub norm: Vec<f32>,
}

impl Codes {
    pub fn new(spec: Rescore, dims: usize, n_slots: usize) -> Codes {
        let code_bytes = match spec.quantizer {
            Quantizer::Bit => bit_code_bytes(dims),
            Quantizer::Int8 => dims,
        };
        let per_slot = usize::from(spec.quantizer == Quantizer::Int8) * n_slots;
        Codes {
            spec,
            dims,
            code_bytes,
            data: vec![0; n_slots * code_bytes],
            scale: vec![0.0; per_slot],
            norm: vec![0.0; per_slot],
        }
    }

    /// Grows to `n_slots` slots (new slots zero).
    pub fn resize(&mut self, n_slots: usize) {
        self.data.resize(n_slots * self.code_bytes, 0);
        if self.spec.quantizer == Quantizer::Int8 {
            self.scale.resize(n_slots, 0.0);
            self.norm.resize(n_slots, 0.0);
        }
    }

    /// Encodes the float vector `x` of `slot`.
    pub fn encode(&mut self, slot: usize, x: &[f32]) {
        let b = self.code_bytes;
        let out = &mut self.data[slot * b..(slot + 1) * b];
        match self.spec.quantizer {
            Quantizer::Bit => quantize_bit(x, out),
            Quantizer::Int8 => {
                let out = as_i8_mut(out);
                self.scale[slot] = quantize_int8(x, out);
                self.norm[slot] = quiver_kernels::distance::norm_f32(x);
            }
        }
    }

    /// Encodes slots `first..` from `xs` (`dims` floats per slot).
    pub fn encode_range(&mut self, first: usize, xs: &[f32]) {
        if self.dims == 0 {
            return;
        }
        for (i, x) in xs.chunks_exact(self.dims).enumerate() {
            self.encode(first + i, x);
        }
    }

    /// Copies the code of slot `from` onto slot `to`.
    pub fn copy_slot(&mut self, from: usize, to: usize) {
        let b = self.code_bytes;
        self.data.copy_within(from * b..(from + 1) * b, to * b);
        if self.spec.quantizer == Quantizer::Int8 {
            self.scale[to] = self.scale[from];
            self.norm[to] = self.norm[from];
        }
    }

    /// The code of `slot`.
    #[inline]
    pub fn code(&self, slot: usize) -> &[u8] {
        &self.data[slot * self.code_bytes..(slot + 1) * self.code_bytes]
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.data.capacity() + (self.scale.capacity() + self.norm.capacity()) * 4
    }
}

/// Bytes as int8 values (same size and alignment).
pub fn as_i8(b: &[u8]) -> &[i8] {
    // SAFETY: u8 and i8 have the same size and alignment, and every bit pattern is
    // valid for both; the length and lifetime are the input's.
    unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<i8>(), b.len()) }
}

fn as_i8_mut(b: &mut [u8]) -> &mut [i8] {
    // SAFETY: as in `as_i8`; the exclusive borrow is moved into the result.
    unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr().cast::<i8>(), b.len()) }
}
