//! Short text built on the stack.

/// Short text formatted on the stack (dates, times, timestamps): no allocation per cell.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InlineText {
    pub(crate) buf: [u8; 48],
    pub(crate) len: u8,
}

impl InlineText {
    pub fn new() -> InlineText {
        InlineText {
            buf: [0; 48],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: the buffer is only written by write_str (whole &str values) and
        // push_ascii (ASCII bytes), so its first len bytes are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.buf[..self.len as usize]) }
    }

    /// Appends ASCII bytes (silently truncated at the capacity, like write_str fails).
    pub(crate) fn push_ascii(&mut self, bytes: &[u8]) {
        debug_assert!(bytes.is_ascii());
        let start = self.len as usize;
        if bytes.is_ascii() && start + bytes.len() <= self.buf.len() {
            self.buf[start..start + bytes.len()].copy_from_slice(bytes);
            self.len = (start + bytes.len()) as u8;
        }
    }
}

impl std::ops::Deref for InlineText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Default for InlineText {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for InlineText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Write for InlineText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let start = self.len as usize;
        let end = start + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[start..end].copy_from_slice(s.as_bytes());
        self.len = end as u8;
        Ok(())
    }
}
