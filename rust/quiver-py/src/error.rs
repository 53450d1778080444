//! Every Rust error on its way to Python, mapped in one place (the way pydantic-core
//! maps its errors): the errors of quiver-sqlite and of this crate convert into
//! [`Error`], whose variant names the Python exception class, and `From<Error> for PyErr`
//! raises it. The Python-facing functions return [`Result`] and use `?` on any of them,
//! so no other file chooses an exception class.

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use quiver_sqlite::arrow::query::QueryError;
use quiver_sqlite::ml::MlError;
use quiver_sqlite::vec0::bulk::BulkError;

use crate::host_loader::HostError;

/// A failure on its way to Python; the variant is the exception class.
#[derive(Debug)]
pub enum Error {
    /// `sqlite3.OperationalError`: SQL that failed, as the sqlite3 module reports it.
    Sql(String),
    /// `ValueError`: an argument of the right type with a wrong value.
    Value(String),
    /// `TypeError`: an argument of the wrong type.
    Type(String),
    /// `RuntimeError`: something the call needs is missing (ONNX Runtime).
    Runtime(String),
    /// An exception already raised on the Python side (argument conversion, a call
    /// into Python), passed on unchanged.
    Python(PyErr),
}

/// The result of the Python-facing functions.
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Sql(m) => Python::attach(|py| operational_error(py, m)),
            Error::Value(m) => PyValueError::new_err(m),
            Error::Type(m) => PyTypeError::new_err(m),
            Error::Runtime(m) => PyRuntimeError::new_err(m),
            Error::Python(e) => e,
        }
    }
}

/// Runs `f`, turning a panic into `Error::Value("{what} (panic message)")`. arrow-rs
/// asserts (panics) on some malformed Arrow C data, e.g. a struct array longer than its
/// children, where a producer's bad data deserves a ValueError.
pub fn no_panic<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(Error::Value(format!("{what} ({detail})")))
    })
}

/// `sqlite3.OperationalError(message)`, the class the sqlite3 module raises for failed
/// SQL; the ImportError instead (not a panic) in a Python built without sqlite3.
fn operational_error(py: Python<'_>, message: String) -> PyErr {
    match py
        .import("sqlite3")
        .and_then(|m| m.getattr("OperationalError"))
        .and_then(|cls| cls.call1((message,)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

impl From<PyErr> for Error {
    fn from(e: PyErr) -> Error {
        Error::Python(e)
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        // Display of an SQLite failure is SQLite's own message.
        Error::Sql(e.to_string())
    }
}

impl From<HostError> for Error {
    fn from(e: HostError) -> Error {
        Error::Sql(e.to_string())
    }
}

impl From<BulkError> for Error {
    fn from(e: BulkError) -> Error {
        match e {
            BulkError::Argument(m) => Error::Value(m),
            BulkError::Sql(m) => Error::Sql(m),
        }
    }
}

impl From<MlError> for Error {
    fn from(e: MlError) -> Error {
        match e {
            MlError::NoRuntime(_) => Error::Runtime(e.to_string()),
            MlError::Sql(e) => e.into(),
            // A model that cannot be used is a bad argument (the bytes given).
            other => Error::Value(other.to_string()),
        }
    }
}

impl From<QueryError> for Error {
    fn from(e: QueryError) -> Error {
        // Only query_arrow runs queries into Arrow; its messages name it.
        Error::Sql(format!("query_arrow: {e}"))
    }
}
