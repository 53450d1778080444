//! Arrow from and to Python through the Arrow PyCapsule interface
//! (`__arrow_c_stream__` / `__arrow_c_array__`): register_arrow, query_arrow,
//! insert_arrow.

use std::ffi::{c_void, CStr};

use arrow_array::cast::AsArray;
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{Array, RecordBatch, RecordBatchIterator};
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use rusqlite::types::Value;

use crate::arrow_ffi::{check_nesting, import_array, read_stream};
use crate::connection::with_connection;
use crate::error::{no_panic, Error, Result};

const STREAM: &CStr = c"arrow_array_stream";

fn capsule_pointer(capsule: &Bound<'_, PyAny>, name: &CStr) -> Result<*mut c_void> {
    // SAFETY: PyCapsule_GetPointer checks the object's type and name and sets a Python
    // exception (returning null) when they do not match.
    let p = unsafe { pyo3::ffi::PyCapsule_GetPointer(capsule.as_ptr(), name.as_ptr()) };
    if p.is_null() {
        return Err(PyErr::take(capsule.py()).map_or_else(
            || Error::Type(format!("expected a PyCapsule named {name:?}")),
            Error::Python,
        ));
    }
    Ok(p)
}

/// Reads every batch of `data` (anything with `__arrow_c_stream__` or
/// `__arrow_c_array__`), checking the buffers fully (offsets, UTF-8, dictionary keys).
pub fn import_batches(data: &Bound<'_, PyAny>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let (schema, batches) = if data.hasattr("__arrow_c_stream__")? {
        let capsule = data.call_method0("__arrow_c_stream__")?;
        let p = capsule_pointer(&capsule, STREAM)?.cast::<FFI_ArrowArrayStream>();
        // arrow-rs asserts (panics) on some malformed C data: a ValueError instead.
        no_panic("cannot read the Arrow stream: malformed Arrow data", || {
            // SAFETY: p is the live ArrowArrayStream of the capsule.
            unsafe { read_stream(p) }
        })?
    } else if data.hasattr("__arrow_c_array__")? {
        let pair = data.call_method0("__arrow_c_array__")?;
        let (schema_capsule, array_capsule): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
            pair.extract()?;
        let schema_ptr = capsule_pointer(&schema_capsule, c"arrow_schema")?;
        let array_ptr = capsule_pointer(&array_capsule, c"arrow_array")?;
        let array = no_panic(
            "cannot import the Arrow array: malformed Arrow data",
            || {
                // SAFETY: the capsules hold a live ArrowSchema and ArrowArray.
                unsafe { import_array(schema_ptr, array_ptr) }
            },
        )?;
        let Some(structs) = array.as_struct_opt() else {
            return Err(Error::Type(format!(
                "expected tabular Arrow data (a struct array / record batch), got an array \
                 of {}",
                array.data_type()
            )));
        };
        if structs.null_count() > 0 {
            return Err(Error::Value(
                "the Arrow struct array has null rows; it cannot be read as a table".into(),
            ));
        }
        let batch = RecordBatch::from(structs.clone());
        (batch.schema(), vec![batch])
    } else {
        return Err(Error::Type(format!(
            "expected Arrow data (an object with __arrow_c_stream__ or __arrow_c_array__, \
             e.g. a pyarrow Table, polars DataFrame or pandas DataFrame), got {}",
            data.get_type().name()?
        )));
    };
    for batch in &batches {
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            column.to_data().validate_full().map_err(|e| {
                Error::Value(format!(
                    "column \"{}\": invalid Arrow data: {e}",
                    field.name()
                ))
            })?;
        }
    }
    Ok((schema, batches))
}

/// A schema from anything with `__arrow_c_schema__` (e.g. a pyarrow Schema).
fn import_schema(schema: &Bound<'_, PyAny>) -> Result<arrow_schema::Schema> {
    if !schema.hasattr("__arrow_c_schema__")? {
        return Err(Error::Type(format!(
            "schema must be an Arrow schema (with __arrow_c_schema__, e.g. pyarrow.schema(...)), \
             got {}",
            schema.get_type().name()?
        )));
    }
    let capsule = schema.call_method0("__arrow_c_schema__")?;
    let p = capsule_pointer(&capsule, c"arrow_schema")?;
    // SAFETY: the capsule holds a live ArrowSchema, only borrowed here.
    let ffi_schema = unsafe { &*p.cast::<FFI_ArrowSchema>() };
    check_nesting(ffi_schema)?;
    arrow_schema::Schema::try_from(ffi_schema)
        .map_err(|e| Error::Value(format!("cannot read the schema: {e}")))
}

unsafe extern "C" fn release_stream_capsule(capsule: *mut pyo3::ffi::PyObject) {
    // SAFETY: called by Python with our capsule; its pointer is a Box made in
    // stream_capsule (dropping it releases the stream unless a consumer moved it out).
    unsafe {
        let p = pyo3::ffi::PyCapsule_GetPointer(capsule, STREAM.as_ptr());
        if p.is_null() {
            pyo3::ffi::PyErr_Clear();
        } else {
            drop(Box::from_raw(p.cast::<FFI_ArrowArrayStream>()));
        }
    }
}

/// A PyCapsule `arrow_array_stream` over `batches`.
pub fn stream_capsule<'py>(
    py: Python<'py>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<Bound<'py, PyAny>> {
    let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
    let stream = Box::into_raw(Box::new(FFI_ArrowArrayStream::new(Box::new(reader))));
    // SAFETY: stream is a valid heap pointer whose ownership passes to the capsule;
    // release_stream_capsule frees it.
    let capsule = unsafe {
        pyo3::ffi::PyCapsule_New(
            stream.cast::<c_void>(),
            STREAM.as_ptr(),
            Some(release_stream_capsule),
        )
    };
    if capsule.is_null() {
        // SAFETY: the capsule was not made, so we still own the stream.
        unsafe { drop(Box::from_raw(stream)) };
        return Err(PyErr::take(py).map_or_else(
            || Error::Runtime("PyCapsule_New failed".into()),
            Error::Python,
        ));
    }
    // SAFETY: capsule is a new reference.
    Ok(unsafe { Bound::from_owned_ptr(py, capsule) })
}

/// Query results held as Arrow record batches. Exposes `__arrow_c_stream__`, so
/// `pyarrow.table(result)` and `polars.DataFrame(result)` take it without a copy.
#[pyclass(module = "sqlite_quiver._quiver", name = "ArrowResult", frozen)]
pub struct ArrowResult {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

#[pymethods]
impl ArrowResult {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> Result<Bound<'py, PyAny>> {
        let _ = requested_schema; // the producer may ignore it (PyCapsule protocol)
        stream_capsule(py, self.schema.clone(), self.batches.clone())
    }

    /// Number of rows.
    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Column names.
    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __len__(&self) -> usize {
        self.num_rows()
    }

    /// The result as a `pyarrow.Table` (zero-copy).
    fn to_pyarrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let pa = slf.py().import("pyarrow")?;
        pa.getattr("RecordBatchReader")?
            .call_method1("from_stream", (slf,))?
            .call_method0("read_all")
    }

    /// The result as a `polars.DataFrame`.
    fn to_polars<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let pl = slf.py().import("polars")?;
        pl.call_method1("from_arrow", (Self::to_pyarrow(slf)?,))
    }

    /// The record batches as pyarrow RecordBatches.
    fn to_batches<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::to_pyarrow(slf)?.call_method0("to_batches")
    }

    /// Iterates over the record batches (as pyarrow RecordBatches).
    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::to_batches(slf)?.try_iter().map(|i| i.into_any())
    }

    fn __repr__(&self) -> String {
        let cols: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| format!("{}: {}", f.name(), f.data_type()))
            .collect();
        format!("ArrowResult({} rows; {})", self.num_rows(), cols.join(", "))
    }
}

fn sql_params(params: &Bound<'_, PyAny>) -> Result<Vec<Value>> {
    if params.is_none() {
        return Ok(Vec::new());
    }
    if params.is_instance_of::<PyDict>() {
        return Err(Error::Type(
            "query_arrow: params must be a sequence (named parameters are not supported)".into(),
        ));
    }
    let seq: Vec<Bound<'_, PyAny>> = if let Ok(t) = params.cast::<PyTuple>() {
        t.iter().collect()
    } else if let Ok(l) = params.cast::<PyList>() {
        l.iter().collect()
    } else {
        params.try_iter()?.collect::<PyResult<_>>()?
    };
    seq.iter()
        .enumerate()
        .map(|(i, v)| {
            if v.is_none() {
                Ok(Value::Null)
            } else if let Ok(b) = v.extract::<bool>() {
                Ok(Value::Integer(i64::from(b)))
            } else if v.is_instance_of::<pyo3::types::PyInt>() {
                v.extract::<i64>().map(Value::Integer).map_err(|_| {
                    Error::Value(format!(
                        "query_arrow: parameter {}: integer out of the 64-bit range",
                        i + 1
                    ))
                })
            } else if let Ok(f) = v.extract::<f64>() {
                Ok(Value::Real(f))
            } else if let Ok(s) = v.extract::<String>() {
                Ok(Value::Text(s))
            } else if let Ok(b) = v.cast::<PyBytes>() {
                Ok(Value::Blob(b.as_bytes().to_vec()))
            } else if let Ok(b) = v.extract::<Vec<u8>>() {
                Ok(Value::Blob(b))
            } else {
                Err(Error::Type(format!(
                    "query_arrow: parameter {}: unsupported type {}",
                    i + 1,
                    v.get_type().name()?
                )))
            }
        })
        .collect()
}

/// Runs `f` on `conn` with the GIL released (the SQL work touches no Python object), so
/// other Python threads run meanwhile and a thread blocked in SQLite on the same
/// connection cannot deadlock against us. SQLite's connection mutex serializes the calls.
fn detached<T: Send>(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T> + Send,
) -> Result<T> {
    // Checks the type, that it is open and that sqlite-quiver is loaded.
    with_connection(py, conn, |_| Ok(()))?;
    let db = crate::connection::db_handle(py, conn)? as usize;
    py.detach(move || {
        // SAFETY: db is the live handle checked above; the Python connection object is
        // kept alive by the caller's reference for the whole call, and from_handle does
        // not take ownership.
        let c =
            unsafe { rusqlite::Connection::from_handle(db as *mut quiver_sqlite::ffi::sqlite3) }?;
        f(&c)
    })
}

/// Registers `data` as the read-only virtual table `temp.<name>`.
#[pyfunction]
#[pyo3(signature = (conn, name, data, *, timestamps="text", uint64="error"))]
pub fn register_arrow(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    name: &str,
    data: &Bound<'_, PyAny>,
    timestamps: &str,
    uint64: &str,
) -> Result<()> {
    let options = quiver_sqlite::arrow::table::TableOptions {
        timestamps_as_epoch: match timestamps {
            "text" => false,
            "epoch" => true,
            other => {
                return Err(Error::Value(format!(
                    "register_arrow: timestamps must be \"text\" or \"epoch\", got {other:?}"
                )))
            }
        },
        uint64_as_text: match uint64 {
            "error" => false,
            "text" => true,
            other => {
                return Err(Error::Value(format!(
                    "register_arrow: uint64 must be \"error\" or \"text\", got {other:?}"
                )))
            }
        },
    };
    let (schema, batches) = import_batches(data)?;
    with_connection(py, conn, |c| {
        Ok(quiver_sqlite::arrow::registry::register(
            c, name, schema, &batches, options,
        )?)
    })
}

/// Drops the Arrow table `temp.<name>`; returns whether there was one.
#[pyfunction]
pub fn unregister_arrow(py: Python<'_>, conn: &Bound<'_, PyAny>, name: &str) -> Result<bool> {
    with_connection(py, conn, |c| {
        Ok(quiver_sqlite::arrow::registry::unregister(c, name)?)
    })
}

/// Runs `sql` and returns the rows as an `ArrowResult`.
#[pyfunction]
#[pyo3(signature = (conn, sql, params=None, schema=None))]
pub fn query_arrow(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    sql: &str,
    params: Option<&Bound<'_, PyAny>>,
    schema: Option<&Bound<'_, PyAny>>,
) -> Result<ArrowResult> {
    let params = match params {
        Some(p) => sql_params(p)?,
        None => Vec::new(),
    };
    let requested = match schema {
        Some(s) if !s.is_none() => Some(import_schema(s)?),
        _ => None,
    };
    let (schema, batches) = detached(py, conn, |c| {
        Ok(quiver_sqlite::arrow::query::query_with_schema(
            c,
            sql,
            &params,
            requested.as_ref(),
        )?)
    })?;
    Ok(ArrowResult { schema, batches })
}

/// Inserts `data` into `table` in one transaction; returns the number of rows.
#[pyfunction]
#[pyo3(signature = (conn, table, data, mode="append"))]
pub fn insert_arrow(
    py: Python<'_>,
    conn: &Bound<'_, PyAny>,
    table: &str,
    data: &Bound<'_, PyAny>,
    mode: &str,
) -> Result<usize> {
    let mode: quiver_sqlite::arrow::insert::Mode = mode.parse().map_err(Error::Value)?;
    let (schema, batches) = import_batches(data)?;
    detached(py, conn, |c| {
        Ok(quiver_sqlite::arrow::insert::insert(
            c, table, schema, &batches, mode,
        )?)
    })
}

/// Number of Arrow tables staged in the process (all connections); for tests.
#[pyfunction]
pub fn arrow_registry_len() -> usize {
    quiver_sqlite::arrow::registry::registry_len()
}

/// Number of Arrow array releases queued by threads that did not hold the GIL, not yet
/// run; for tests.
#[pyfunction]
pub fn arrow_deferred_releases() -> usize {
    crate::arrow_ffi::deferred_len()
}
