//! Python bulk paths for vec0 tables: `vec0_insert` and `vec0_search` (wrapped by
//! `sqlite_quiver.insert_vectors` / `sqlite_quiver.search`), and `vec0_ivf_command`
//! (`sqlite_quiver.train_index` / `assign_index`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use quiver_sqlite::vec0::bulk::{self, Ids};
use quiver_sqlite::vec0::progress;
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

/// A C-contiguous 2-D float32 numpy array, borrowed: read through numpy's
/// `__array_interface__` because the buffer protocol is outside the stable ABI before
/// Python 3.11 and the module is built for abi3-py39.
struct F32Matrix<'py> {
    /// Keeps the array (and so its memory) alive while `ptr` is used.
    _owner: Bound<'py, PyAny>,
    ptr: usize,
    rows: usize,
    cols: usize,
}

impl F32Matrix<'_> {
    /// The elements, borrowed when aligned (numpy allocates aligned), else copied.
    ///
    /// # Safety
    /// The array must not change while the slice is used: callers hold the GIL (no
    /// Python code runs) for the slice's whole life.
    unsafe fn values(&self) -> Cow<'_, [f32]> {
        let n = self.rows * self.cols;
        if n == 0 {
            return Cow::Borrowed(&[]);
        }
        let p = self.ptr as *const f32;
        if p.is_aligned() {
            // SAFETY: f32_matrix checked dtype, shape and C-contiguity, so n f32 values
            // start at p; _owner keeps the memory alive; per the contract no one writes.
            Cow::Borrowed(unsafe { std::slice::from_raw_parts(p, n) })
        } else {
            // SAFETY: as above; read_unaligned copies each value without aligned loads.
            Cow::Owned(
                (0..n)
                    .map(|i| unsafe { p.add(i).read_unaligned() })
                    .collect(),
            )
        }
    }
}

/// Checks that `obj` is a C-contiguous 2-D float32 array (what `vectors.py` passes).
fn f32_matrix<'py>(obj: &Bound<'py, PyAny>, what: &str) -> Result<F32Matrix<'py>> {
    let not_f32 = || Error::Value(format!("{what} must be a float32 array"));
    let iface = obj.getattr("__array_interface__").map_err(|_| not_f32())?;
    let iface = iface.cast::<PyDict>().map_err(|_| not_f32())?;
    let item =
        |key: &str| -> Result<Bound<'py, PyAny>> { iface.get_item(key)?.ok_or_else(not_f32) };
    let native = if cfg!(target_endian = "little") {
        "<f4"
    } else {
        ">f4"
    };
    if item("typestr")?.extract::<String>().ok().as_deref() != Some(native) {
        return Err(not_f32());
    }
    let shape: Vec<usize> = item("shape")?.extract().map_err(|_| not_f32())?;
    if shape.len() != 2 {
        return Err(Error::Value(format!(
            "{what} must be a 2-D array (rows x dimensions), got {} dimensions",
            shape.len()
        )));
    }
    let (rows, cols) = (shape[0], shape[1]);
    // numpy reports strides as None for a C-contiguous array.
    let strides = iface.get_item("strides")?;
    if let Some(s) = strides.filter(|s| !s.is_none()) {
        let s: Vec<isize> = s.extract().map_err(|_| not_f32())?;
        // A stride along an axis of length 1 never moves, so any value is contiguous.
        let row_ok = rows <= 1 || s.first() == Some(&(cols as isize * 4));
        let col_ok = cols <= 1 || s.get(1) == Some(&4);
        if s.len() != 2 || !row_ok || !col_ok {
            return Err(Error::Value(format!("{what} must be C-contiguous")));
        }
    }
    let (ptr, _readonly): (usize, bool) = item("data")?.extract().map_err(|_| not_f32())?;
    Ok(F32Matrix {
        _owner: obj.clone(),
        ptr,
        rows,
        cols,
    })
}

/// Runs `f` with `callback(stage, done, total)` (if given) hearing the progress of the
/// vec0 work inside it. When the callback raises, the work stops with an SQL error
/// (rolling back its statement or savepoint) and the callback's exception is raised
/// instead of that error.
fn with_progress<T>(
    callback: Option<&Bound<'_, PyAny>>,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let Some(callback) = callback else {
        return f();
    };
    let callback = callback.clone().unbind();
    let raised: Rc<RefCell<Option<PyErr>>> = Rc::default();
    let keep = raised.clone();
    let hook: progress::Hook = Box::new(move |stage, done, total| {
        Python::attach(|py| callback.call1(py, (stage, done, total)).map(drop)).map_err(|e| {
            let message = e.to_string();
            *keep.borrow_mut() = Some(e);
            message
        })
    });
    let out = progress::with_hook(hook, f);
    let raised = raised.borrow_mut().take();
    match (out, raised) {
        (Err(_), Some(e)) => Err(Error::Python(e)),
        (out, _) => out,
    }
}

/// Inserts the rows of a 2-D float32 array; returns the rowids. `progress(stage, done,
/// total)` hears the rows written (stage "insert").
#[pyfunction]
#[pyo3(signature = (conn, table, vectors, ids, columns_dict, replace, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn vec0_insert(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    table: &str,
    vectors: &Bound<'_, PyAny>,
    ids: Option<&Bound<'_, PyList>>,
    columns_dict: &Bound<'_, PyDict>,
    replace: bool,
    progress: Option<&Bound<'_, PyAny>>,
) -> Result<Vec<i64>> {
    let matrix = f32_matrix(vectors, "vectors")?;
    let (n, dims) = (matrix.rows, matrix.cols);
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
    with_progress(progress, || {
        with_connection(py, conn, |c| {
            // SAFETY: the GIL is held for the whole call; the only Python code that runs
            // is the progress callback, which the docs forbid to resize the array.
            let data = unsafe { matrix.values() };
            Ok(bulk::insert_f32(
                c, table, &data, n, dims, ids, cols, replace,
            )?)
        })
    })
}

/// Runs an IVF command (`compute-centroids` or `assign-vectors`) on vec0 table `table`
/// as the SQL `INSERT INTO table(table) VALUES (command)` does, with `progress(stage,
/// done, total)` hearing the k-means iterations (stage "train") and the chunks
/// assigned (stage "assign").
#[pyfunction]
#[pyo3(signature = (conn, table, command, progress=None))]
pub fn vec0_ivf_command(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    table: &str,
    command: &str,
    progress: Option<&Bound<'_, PyAny>>,
) -> Result<()> {
    if !matches!(command, "compute-centroids" | "assign-vectors") {
        return Err(Error::Value(format!(
            "expected 'compute-centroids' or 'assign-vectors', got '{command}'"
        )));
    }
    let name = format!("\"{}\"", table.replace('"', "\"\""));
    with_progress(progress, || {
        with_connection(py, conn, |c| {
            // In a savepoint of its own: a command stopped midway (the callback raised
            // while lists were being written) inside the caller's transaction must not
            // leave half of the lists assigned; SQLite does not roll back a failed
            // single-row virtual-table INSERT there.
            c.execute_batch("SAVEPOINT quiver_ivf_command")?;
            match c.execute(
                &format!("INSERT INTO {name}({name}) VALUES (?1)"),
                [command],
            ) {
                Ok(_) => Ok(c.execute_batch("RELEASE quiver_ivf_command")?),
                Err(e) => {
                    let _ = c.execute_batch(
                        "ROLLBACK TO quiver_ivf_command; RELEASE quiver_ivf_command",
                    );
                    Err(e.into())
                }
            }
        })
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
#[pyo3(signature = (conn, table, queries, k, column, filters, oversample=None, nprobe=None))]
#[allow(clippy::too_many_arguments)]
pub fn vec0_search<'py>(
    py: Python<'py>,
    conn: &Bound<'py, PyAny>,
    table: &str,
    queries: &Bound<'py, PyAny>,
    k: i64,
    column: Option<&str>,
    filters: &Bound<'py, PyDict>,
    oversample: Option<usize>,
    nprobe: Option<usize>,
) -> Result<SearchOut<'py>> {
    let matrix = f32_matrix(queries, "queries")?;
    let (n, dims) = (matrix.rows, matrix.cols);
    // SAFETY: the GIL is held while copying (no Python code runs); the copy lets the
    // search below run without the GIL.
    let data = unsafe { matrix.values() }.into_owned();
    let filters = columns(filters)?;
    let mut prepared = with_connection(py, conn, |c| {
        Ok(bulk::prepare_search(
            c, table, column, &data, n, dims, k, filters,
        )?)
    })?;
    prepared.oversample = oversample;
    prepared.nprobe = nprobe;
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

/// The index state of a vector column of `table` as JSON text (see
/// `quiver_index_state` in SQL).
#[pyfunction]
#[pyo3(signature = (conn, table, column=None))]
pub fn vec0_index_state(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    table: &str,
    column: Option<&str>,
) -> Result<String> {
    with_connection(py, conn, |c| Ok(bulk::index_state(c, table, column)?))
}

/// Bytes held by the process-level cache for `table` (loading it if needed).
#[pyfunction]
pub fn vec0_cache_bytes(py: Python<'_>, conn: &Bound<'_, PyAny>, table: &str) -> Result<usize> {
    with_connection(py, conn, |c| Ok(bulk::cache_bytes(c, table)?))
}

/// Verifies every shadow table of vec0 table `table` against the others, in one read
/// snapshot; raises `sqlite3.OperationalError` ("vec0: table 't' is corrupt: ...").
#[pyfunction]
pub fn vec0_integrity_check(py: Python<'_>, conn: &Bound<'_, PyAny>, table: &str) -> Result<()> {
    with_connection(py, conn, |c| {
        let shadow = bulk::open(c, table)?;
        c.execute_batch("SAVEPOINT quiver_integrity_check")?;
        let checked = shadow.integrity_check(c);
        c.execute_batch("RELEASE quiver_integrity_check")?;
        Ok(checked?)
    })
}

/// Caps the threads of vec0 scans (0 = all cores); returns the previous cap.
#[pyfunction]
pub fn vec0_set_scan_threads(n: usize) -> usize {
    quiver_sqlite::vec0::knn::set_max_threads(n)
}

/// The process-level vector cache as JSON text (tables, bytes, hits, loads).
#[pyfunction]
pub fn vec0_cache_info() -> String {
    quiver_sqlite::vec0::cache::info_json()
}

/// Sets the process-level vector cache's budget in bytes (None: the default, half of
/// RAM); returns the budget now in effect.
#[pyfunction]
#[pyo3(signature = (bytes=None))]
pub fn vec0_set_cache_budget(bytes: Option<usize>) -> PyResult<usize> {
    if bytes == Some(0) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "cache budget must be a positive number of bytes (or None for the default), got 0",
        ));
    }
    Ok(quiver_sqlite::vec0::cache::set_budget(bytes))
}

/// Drops every table from the process-level vector cache.
#[pyfunction]
pub fn vec0_clear_cache() {
    quiver_sqlite::vec0::cache::clear();
}
