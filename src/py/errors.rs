//! Core errors → the exception classes of `crm.errors`, and the one way compute runs:
//! without the GIL, with panics turned into `CrmError` instead of crossing into Python.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::error::CrmError;

pub fn to_pyerr(py: Python<'_>, err: CrmError) -> PyErr {
    let class = match &err {
        CrmError::ColumnNotFound { .. } => "ColumnNotFoundError",
        CrmError::ColumnType { .. } => "ColumnTypeError",
        CrmError::InvalidData(_) => "InvalidDataError",
        CrmError::InvalidArgument(_) => "InvalidArgumentError",
        CrmError::Arrow(_) => "CrmError",
    };
    match py
        .import("crm.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| Ok(c.cast_into::<PyType>()?))
    {
        Ok(class) => PyErr::from_type(class, err.to_string()),
        Err(import_error) => import_error,
    }
}

/// Run `f` with the GIL released, on the private pool (so no parallel step reaches rayon's
/// global pool, which a forked child inherits without its threads); a panic becomes a
/// `CrmError` naming it as a bug.
pub fn detach<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, CrmError> + Send,
) -> PyResult<T> {
    let outcome = py.detach(|| crate::pool::install(|| catch_unwind(AssertUnwindSafe(f))));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(to_pyerr(py, err)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(to_pyerr(
                py,
                CrmError::Arrow(format!("internal error (please report): {what}")),
            ))
        }
    }
}
