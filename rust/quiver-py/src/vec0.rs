//! Python bulk paths for vec0 tables: `vec0_insert` and `vec0_search` (wrapped by
//! `sqlite_quiver.insert_vectors` / `sqlite_quiver.search`).

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use quiver_sqlite::vec0::bulk::{self, Ids};
use rusqlite::types::Value;

use crate::connection::with_connection;
use crate::error::{Error, Result};

/// A Python scalar as an SQL value.
fn value(obj: &Bound<'_, PyAny>) -> Result<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.extract::<bool>() {
        return Ok(Value::Integer(i64::from(b)));
    }
    if let Ok(i) = obj.extract::<i64>() {
        return Ok(Value::Integer(i));
    }
    if let Ok(f) = obj.extract::<f64>() {
        return Ok(Value::Real(f));
    }
    if let Ok(s) = obj.extract::<String>() {
        return Ok(Value::Text(s));
    }
    if let Ok(b) = obj.extract::<Vec<u8>>() {
        return Ok(Value::Blob(b));
    }
    Err(Error::Value(format!(
        "unsupported value of type {}",
        obj.get_type().name()?
    )))
}

fn columns(dict: &Bound<'_, PyDict>) -> Result<Vec<(String, Vec<Value>)>> {
    let mut out = Vec::new();
    for (k, v) in dict.iter() {
        let name: String = k.extract()?;
        let values = if let Ok(list) = v.cast::<PyList>() {
            list.iter().map(|x| value(&x)).collect::<Result<Vec<_>>>()?
        } else {
            vec![value(&v)?]
        };
        out.push((name, values));
    }
    Ok(out)
}

/// A C-contiguous 2-D float32 buffer: (buffer, rows, columns).
fn f32_matrix(obj: &Bound<'_, PyAny>, what: &str) -> Result<(PyBuffer<f32>, usize, usize)> {
    let buf = PyBuffer::<f32>::get(obj)
        .map_err(|_| Error::Value(format!("{what} must be a float32 array")))?;
    let shape = buf.shape().to_vec();
    if shape.len() != 2 {
        return Err(Error::Value(format!(
            "{what} must be a 2-D array (rows x dimensions), got {} dimensions",
            shape.len()
        )));
    }
    if !buf.is_c_contiguous() {
        return Err(Error::Value(format!("{what} must be C-contiguous")));
    }
    Ok((buf, shape[0], shape[1]))
}

/// The elements of a C-contiguous buffer, borrowed (no copy of large arrays).
///
/// # Safety
/// The buffer's exporter must not change its memory while the slice is used: callers
/// hold the GIL (no Python code runs) for the slice's whole life.
unsafe fn f32_slice(buf: &PyBuffer<f32>) -> &[f32] {
    let n = buf.item_count();
    if n == 0 {
        return &[];
    }
    // SAFETY: the buffer is C-contiguous with n f32 items at buf_ptr (checked in
    // f32_matrix), PyBuffer keeps the exporter alive, and per the contract no one
    // writes to it meanwhile.
    unsafe { std::slice::from_raw_parts(buf.buf_ptr().cast::<f32>(), n) }
}

/// Inserts the rows of a 2-D float32 array; returns the rowids.
#[pyfunction]
#[pyo3(signature = (conn, table, vectors, ids, columns_dict, replace))]
pub fn vec0_insert(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    table: &str,
    vectors: &Bound<'_, PyAny>,
    ids: Option<&Bound<'_, PyList>>,
    columns_dict: &Bound<'_, PyDict>,
    replace: bool,
) -> Result<Vec<i64>> {
    let (buf, n, dims) = f32_matrix(vectors, "vectors")?;
    let ids =
        match ids {
            None => Ids::None,
            Some(list) => {
                if list.len() > 0 && list.get_item(0)?.extract::<String>().is_ok() {
                    Ids::Text(list.extract()?)
                } else {
                    Ids::Integer(list.extract().map_err(|_| {
                        Error::Value("ids must be all integers or all strings".into())
                    })?)
                }
            }
        };
    let cols = columns(columns_dict)?;
    with_connection(py, conn, |c| {
        // SAFETY: the GIL is held for the whole call (no Python code runs).
        let data = unsafe { f32_slice(&buf) };
        Ok(bulk::insert_f32(
            c, table, data, n, dims, ids, cols, replace,
        )?)
    })
}

/// (rowids as int64 bytes, distances as float32 bytes, text ids for a text key).
type SearchOut<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Option<Vec<Option<String>>>,
);

/// Searches many queries at once; returns (rowids bytes, distances bytes, text ids).
#[pyfunction]
#[pyo3(signature = (conn, table, queries, k, column, filters))]
pub fn vec0_search<'py>(
    py: Python<'py>,
    conn: &Bound<'py, PyAny>,
    table: &str,
    queries: &Bound<'py, PyAny>,
    k: i64,
    column: Option<&str>,
    filters: &Bound<'py, PyDict>,
) -> Result<SearchOut<'py>> {
    let (buf, n, dims) = f32_matrix(queries, "queries")?;
    let data = buf.to_vec(py)?;
    let filters = columns(filters)?;
    let prepared = with_connection(py, conn, |c| {
        Ok(bulk::prepare_search(
            c, table, column, &data, n, dims, k, filters,
        )?)
    })?;
    let result = py.detach(|| bulk::run_search(&prepared));
    let ids: Vec<u8> = result.rowids.iter().flat_map(|x| x.to_le_bytes()).collect();
    let dists: Vec<u8> = result
        .distances
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    Ok((
        PyBytes::new(py, &ids),
        PyBytes::new(py, &dists),
        result.text_ids,
    ))
}

/// Bytes held by the process-level cache for `table` (loading it if needed).
#[pyfunction]
pub fn vec0_cache_bytes(py: Python<'_>, conn: &Bound<'_, PyAny>, table: &str) -> Result<usize> {
    with_connection(py, conn, |c| Ok(bulk::cache_bytes(c, table)?))
}

/// Caps the threads of vec0 scans (0 = all cores); returns the previous cap.
#[pyfunction]
pub fn vec0_set_scan_threads(n: usize) -> usize {
    quiver_sqlite::vec0::knn::set_max_threads(n)
}

/// Drops every table from the process-level vector cache.
#[pyfunction]
pub fn vec0_clear_cache() {
    quiver_sqlite::vec0::cache::clear();
}
