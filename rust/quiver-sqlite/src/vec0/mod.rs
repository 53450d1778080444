//! `vec0`: sqlite-vec compatible vector tables, stored in shadow tables, answered from a
//! process-level cache of decoded vectors with SIMD scans.
//!
//! * `config`  — the CREATE VIRTUAL TABLE arguments
//! * `storage` — shadow tables, inserts/updates/deletes, slot allocation
//! * `cache`   — decoded tables shared by the process, validated by a generation token
//! * `knn`     — filters, distances, fused top-k, threads
//! * `plan`    — xBestIndex
//! * `table`   — the module callbacks
//! * `bulk`    — whole-array inserts and batched searches for the Python API

pub mod bulk;
pub mod cache;
pub mod config;
mod host_api;
pub mod input;
pub mod knn;
pub mod plan;
pub mod storage;
mod table;

pub use table::load_module;
