//! Fresh memory for a table load, made ready off the query's thread.
//!
//! Decoding a table into the cache writes into memory the process has never touched,
//! and the kernel's page faults (find a page, zero it, map it) cost about as much as
//! reading the chunks from the database. A cold query pays for both unless the faults
//! happen elsewhere: [`Prefault`] asks for transparent huge pages (fewer faults) and
//! populates the pages on a second thread while the query's thread reads and decodes.
//! Only the kernel touches the memory there (`madvise`), so the decoding thread's writes
//! never race with it; where the calls are not supported they are skipped.

/// Below this many bytes a column is decoded without help (and a table is cached by
/// its first query: see `cache`).
pub const MIN_BYTES: usize = 8 << 20;

/// The address ranges of the vector columns worth preparing.
pub struct Prefault {
    ranges: Vec<(usize, usize)>,
}

impl Prefault {
    /// From the (address, length) ranges of the columns' fresh memory ([`range_of`]).
    pub fn new(columns: impl IntoIterator<Item = (usize, usize)>) -> Prefault {
        let ranges = columns
            .into_iter()
            .filter(|&(_, len)| len >= MIN_BYTES)
            .collect();
        Prefault { ranges }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Asks for huge pages, then faults every page in (run it on another thread).
    pub fn run(&self) {
        for &(addr, len) in &self.ranges {
            advise(addr, len);
        }
    }
}

/// The (address, length in bytes) of `v`.
pub fn range_of<T>(v: &[T]) -> (usize, usize) {
    (v.as_ptr() as usize, std::mem::size_of_val(v))
}

#[cfg(target_os = "linux")]
fn advise(addr: usize, len: usize) {
    const PAGE: usize = 4096;
    // madvise wants a page-aligned start: the part of the buffer from its first whole
    // page on (the page before it is faulted by the decoder as usual).
    let start = addr.next_multiple_of(PAGE);
    let end = addr + len;
    if end <= start {
        return;
    }
    let (ptr, len) = (start as *mut libc::c_void, end - start);
    // SAFETY: [start, end) lies inside a live allocation owned by the caller, who keeps
    // it alive until this returns (a scoped thread). MADV_HUGEPAGE and
    // MADV_POPULATE_WRITE change how the pages are backed, never their contents: a page
    // already written by the decoding thread keeps its bytes, a new one reads as zero,
    // as calloc's memory does. Errors (old kernels: EINVAL) only mean no help.
    unsafe {
        libc::madvise(ptr, len, libc::MADV_HUGEPAGE);
        libc::madvise(ptr, len, libc::MADV_POPULATE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_addr: usize, _len: usize) {}
