//! `crm._core.summary` and `calibration_holdout`: the buy-till-you-die summaries.

use arrow_array::{ArrayRef, RecordBatch};
use pyo3::prelude::*;

use super::errors::to_pyerr;
use super::retention::{run, spec, with_customers, Output};
use crate::clv_summary::{self, unit_days};
use crate::emit;
use crate::error::Result;
use crate::history::{History, Purchase};

/// The last day of the data when `end` is not given.
fn end_or_last(end: Option<i32>, history: &History) -> Option<i32> {
    end.or(history.days.map(|d| d.1))
}

/// Keep the customers with a summary: their keys and rows.
fn present<T: Copy>(
    keys: arrow_array::ArrayRef,
    rows: &[Option<T>],
) -> Result<(arrow_array::ArrayRef, Vec<T>)> {
    let index: Vec<u32> = (0..rows.len() as u32)
        .filter(|&i| rows[i as usize].is_some())
        .collect();
    let keys = arrow_select::take::take(&keys, &arrow_array::UInt32Array::from(index), None)?;
    Ok((keys, rows.iter().flatten().copied().collect()))
}

#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, time_unit="W", observation_end=None, on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn summary<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    time_unit: &str,
    observation_end: Option<i32>,
    on_invalid: &str,
) -> Output<'py> {
    let unit = unit_days(time_unit).map_err(|e| to_pyerr(py, e))?;
    let spec = spec(customer, date, amount, None);
    let name = spec.customer.clone();
    run(py, data, spec, on_invalid, |tx| {
        let (history, keys, _) = with_customers(tx, Purchase::NonNegative)?;
        summary_batch(&name, &history, keys, observation_end, unit)
    })
}

/// The BTYD summary of a history built with `Purchase::NonNegative`.
pub(super) fn summary_batch(
    name: &str,
    history: &History,
    keys: ArrayRef,
    observation_end: Option<i32>,
    unit: f64,
) -> Result<RecordBatch> {
    let end = end_or_last(observation_end, history).unwrap_or(0);
    let rows = clv_summary::summary(history, end, unit);
    let (keys, rows) = present(keys, &rows)?;
    let column = |f: fn(&clv_summary::Repeat) -> f64| emit::floats(rows.iter().map(f).collect());
    emit::batch(vec![
        (name, keys),
        (
            "frequency",
            emit::int32(rows.iter().map(|r| Some(r.frequency)).collect()),
        ),
        ("recency", column(|r| r.recency)),
        ("T", column(|r| r.t)),
        ("monetary_value", column(|r| r.monetary_value)),
    ])
}

#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, calibration_end, observation_end=None, time_unit="W", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn calibration_holdout<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    calibration_end: i32,
    observation_end: Option<i32>,
    time_unit: &str,
    on_invalid: &str,
) -> Output<'py> {
    let unit = unit_days(time_unit).map_err(|e| to_pyerr(py, e))?;
    let spec = spec(customer, date, amount, None);
    let name = spec.customer.clone();
    run(py, data, spec, on_invalid, |tx| {
        let (history, keys, _) = with_customers(tx, Purchase::NonNegative)?;
        calibration_holdout_batch(
            &name,
            &history,
            keys,
            calibration_end,
            observation_end,
            unit,
        )
    })
}

/// The calibration/holdout summary of a history built with `Purchase::NonNegative`.
pub(super) fn calibration_holdout_batch(
    name: &str,
    history: &History,
    keys: ArrayRef,
    calibration_end: i32,
    observation_end: Option<i32>,
    unit: f64,
) -> Result<RecordBatch> {
    let end = end_or_last(observation_end, history).unwrap_or(calibration_end + 1);
    let rows = clv_summary::calibration_holdout(history, calibration_end, end, unit)?;
    let (keys, rows) = present(keys, &rows)?;
    let column = |f: fn(&(clv_summary::Repeat, clv_summary::Holdout)) -> f64| {
        emit::floats(rows.iter().map(f).collect())
    };
    let duration = (end - calibration_end) as f64 / unit;
    emit::batch(vec![
        (name, keys),
        (
            "frequency_cal",
            emit::int32(rows.iter().map(|r| Some(r.0.frequency)).collect()),
        ),
        ("recency_cal", column(|r| r.0.recency)),
        ("T_cal", column(|r| r.0.t)),
        ("monetary_value_cal", column(|r| r.0.monetary_value)),
        (
            "frequency_holdout",
            emit::int32(rows.iter().map(|r| Some(r.1.frequency)).collect()),
        ),
        ("monetary_value_holdout", column(|r| r.1.monetary_value)),
        ("duration_holdout", emit::floats(vec![duration; rows.len()])),
    ])
}
