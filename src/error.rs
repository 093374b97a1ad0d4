//! The one error type of the core. The binding layer maps each variant to a Python exception.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum CrmError {
    /// A column the caller named is not in the input (Python: `ColumnNotFoundError`, a `KeyError`).
    #[error("column '{column}' not found; the input has columns: {present}")]
    ColumnNotFound { column: String, present: String },
    /// A column has a type the computation cannot use (Python: `ColumnTypeError`, a `TypeError`).
    #[error("column '{column}' has type {dtype}; expected {expected}")]
    ColumnType {
        column: String,
        dtype: String,
        expected: String,
    },
    /// Values in the rows are unusable: nulls, NaN, out of range (Python: `InvalidDataError`).
    #[error("{0}")]
    InvalidData(String),
    /// A parameter is out of its domain (Python: `InvalidArgumentError`, a `ValueError`).
    #[error("{0}")]
    InvalidArgument(String),
    /// The Arrow input could not be read (Python: `CrmError`).
    #[error("could not read the Arrow input: {0}")]
    Arrow(String),
}

pub type Result<T> = std::result::Result<T, CrmError>;

impl From<arrow_schema::ArrowError> for CrmError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        CrmError::Arrow(e.to_string())
    }
}
