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

/// A type's name as pyarrow prints it (`string`, `double`, `timestamp[us, tz=UTC]`), which
/// is what Python users see elsewhere.
pub fn dtype_name(dtype: &arrow_schema::DataType) -> String {
    use arrow_schema::{DataType::*, TimeUnit};
    let unit = |u: &TimeUnit| match u {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    };
    match dtype {
        Utf8 => "string".into(),
        LargeUtf8 => "large_string".into(),
        Utf8View => "string_view".into(),
        Float16 => "halffloat".into(),
        Float32 => "float".into(),
        Float64 => "double".into(),
        Boolean => "bool".into(),
        Timestamp(u, None) => format!("timestamp[{}]", unit(u)),
        Timestamp(u, Some(tz)) => format!("timestamp[{}, tz={tz}]", unit(u)),
        Dictionary(k, v) => format!(
            "dictionary<values={}, indices={}>",
            dtype_name(v),
            dtype_name(k)
        ),
        other => other.to_string().to_lowercase(),
    }
}
