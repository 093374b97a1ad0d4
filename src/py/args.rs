//! Argument parsing shared by the bindings.

use pyo3::prelude::*;

use super::errors::to_pyerr;
use crate::error::CrmError;
use crate::ingest::OnInvalid;
use crate::periods::Period;
use crate::segments::Labels;

pub fn bad_argument(py: Python<'_>, msg: String) -> PyErr {
    to_pyerr(py, CrmError::InvalidArgument(msg))
}

/// The position of `value` among `options`, or an error naming the argument and its choices.
pub fn choice(py: Python<'_>, argument: &str, value: &str, options: &[&str]) -> PyResult<usize> {
    options.iter().position(|&o| o == value).ok_or_else(|| {
        let listed: Vec<String> = options.iter().map(|o| format!("'{o}'")).collect();
        bad_argument(
            py,
            format!(
                "{argument} must be one of {}, got '{value}'",
                listed.join(", ")
            ),
        )
    })
}

pub fn parse_labels(py: Python<'_>, labels: &str) -> PyResult<Labels> {
    Ok([Labels::En, Labels::Zh][choice(py, "labels", labels, &["en", "zh"])?])
}

pub fn parse_policy(py: Python<'_>, on_invalid: &str) -> PyResult<OnInvalid> {
    let options = ["raise", "drop"];
    Ok([OnInvalid::Raise, OnInvalid::Drop][choice(py, "on_invalid", on_invalid, &options)?])
}

pub fn parse_period(py: Python<'_>, period: &str) -> PyResult<Period> {
    Period::parse(period).map_err(|e| to_pyerr(py, e))
}
