//! Apache Arrow in SQL: read-only virtual tables over Arrow batches (`register_arrow`)
//! and Arrow IPC files, with pushdown and sorting; query results as Arrow
//! (`query_arrow`); bulk ingest from Arrow (`insert_arrow`).

pub(crate) mod big_vec;
pub(crate) mod collect;
pub mod filter;
pub mod insert;
pub mod ipc;
pub mod query;
pub mod render;
mod sink;
pub mod sort;
pub mod table;
pub mod types;
