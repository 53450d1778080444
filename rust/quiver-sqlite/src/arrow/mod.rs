//! Apache Arrow in SQL: read-only virtual tables over Arrow batches (`register_arrow`)
//! and Arrow IPC files, with pushdown and sorting; query results as Arrow
//! (`query_arrow`); bulk ingest from Arrow (`insert_arrow`).
//!
//! * `table`    — the data model: batches and a reader per column
//! * `registry` — the process-wide registry behind register_arrow / unregister_arrow
//! * `vtab`     — the `arrow` module callbacks; `cursor` the scan; `plan` xBestIndex
//! * `filter`, `sort` — pushed-down WHERE terms and ORDER BY
//! * `types`, `temporal`, `json` — Arrow values as SQLite values
//! * `ipc`      — the `arrow_ipc` module over Arrow IPC files
//! * `query`, `sink`, `collect` — query_arrow; `insert`, `render` — insert_arrow

pub(crate) mod big_vec;
pub(crate) mod collect;
mod cursor;
pub mod filter;
pub mod insert;
pub mod ipc;
mod json;
mod plan;
pub mod query;
mod reader;
pub mod registry;
pub mod render;
mod sink;
pub mod sort;
pub mod table;
pub mod temporal;
mod text;
pub mod types;
pub mod vtab;
