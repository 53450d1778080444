//! FFI helpers shared by every SQL feature: the loadable-extension entry point, SQL
//! errors, raw virtual-table helpers, raw values, and SQLite APIs newer than rusqlite's
//! loadable bindings.

pub mod constraint;
#[cfg(feature = "loadable")]
pub mod entry;
pub mod error;
pub mod host_api;
pub mod ident;
pub mod stmt;
pub mod value;
pub mod vtab;
