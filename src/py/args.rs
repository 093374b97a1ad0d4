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

pub fn parse_labels(py: Python<'_>, labels: &str) -> PyResult<Labels> {
    match labels {
        "en" => Ok(Labels::En),
        "zh" => Ok(Labels::Zh),
        other => Err(bad_argument(
            py,
            format!("labels must be 'en' or 'zh', got '{other}'"),
        )),
    }
}

pub fn parse_policy(py: Python<'_>, on_invalid: &str) -> PyResult<OnInvalid> {
    match on_invalid {
        "raise" => Ok(OnInvalid::Raise),
        "drop" => Ok(OnInvalid::Drop),
        other => Err(bad_argument(
            py,
            format!("on_invalid must be 'raise' or 'drop', got '{other}'"),
        )),
    }
}

pub fn parse_period(py: Python<'_>, period: &str) -> PyResult<Period> {
    Period::parse(period).map_err(|e| to_pyerr(py, e))
}
