//! `vec0`: sqlite-vec compatible vector tables, stored in shadow tables, answered from a
//! process-level cache of decoded vectors with SIMD scans.
//!
//! * `config`  — the CREATE VIRTUAL TABLE arguments
//! * `shadow`  — shadow table names, creation, format checks, single-row reads
//! * `storage` — inserts, updates, deletes, slot allocation
//! * `cache`   — decoded tables shared by the process, validated by a generation token,
//!   within a memory budget (tables above it are streamed); `memory` prepares fresh
//!   memory for a load on a second thread
//! * `knn`     — filters, distances, fused top-k, threads
//! * `plan`    — xBestIndex
//! * `table`   — the module: create, connect, xBestIndex; `vtab` the structs SQLite holds
//! * `cursor`  — xFilter / xColumn (reads); `write` — xUpdate (SQL writes)
//! * `pending` — a connection's transaction state: SQL INSERTs buffered per chunk;
//!   `transaction` the module's xBegin / xSync / xCommit / savepoint callbacks
//! * `bulk`    — whole-array inserts and batched searches for the Python API
//! * `index_spec` — `indexed by rescore(...)`; `codes` the cached quantized codes;
//!   `rescore` the quantized scan with exact rescoring; `ivf` the persistent IVF index
//!   (`indexed by ivf(...)`: centroids and lists in shadow tables, its commands, search)
//! * `check`   — consistency between shadow tables, the `integrity-check` command
//! * `progress` — progress reports of long work (bulk inserts, IVF training) to a hook

pub mod bulk;
pub mod cache;
mod check;
pub mod codes;
pub mod config;
mod cursor;
pub mod index_spec;
pub mod input;
pub mod ivf;
pub mod ivf_data;
pub mod knn;
mod memory;
pub mod pending;
pub mod plan;
pub mod progress;
pub mod rescore;
pub mod shadow;
pub mod storage;
mod table;
mod transaction;
mod vtab;
mod write;

pub use table::load_module;
