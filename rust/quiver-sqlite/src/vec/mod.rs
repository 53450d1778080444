//! Vectors as SQL values in sqlite-vec's formats, sqlite-vec's scalar functions and
//! `vec_each`.

pub mod each;
pub mod functions;
pub mod metric;
pub mod vector;
