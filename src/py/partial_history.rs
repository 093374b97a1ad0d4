//! `crm._core.<function>_from_partial`: the functions of the customers' histories computed
//! from a (merged) "customer_days" partial state, with the same table as the in-memory call
//! gives for the whole log (the tables are built by the same functions).

use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::args::{choice, parse_labels, parse_period};
use super::arrow::to_capsule;
use super::clv::{calibration_holdout_batch, summary_batch};
use super::errors::{detach, to_pyerr};
use super::partial::read_days;
use super::retention::{
    acquisition_batch, activity_batch, churn_risk_batch, cohort_batch, interpurchase_batch,
    lifecycle_batch, repurchase_batch,
};
use super::value::{
    loyalty_batch, loyalty_options, performance_batch, performance_values, profitability_batch,
    LOYALTY_OUTPUTS, PROFITABILITY_OUTPUTS,
};
use crate::clv_summary::unit_days;
use crate::error::{CrmError, Result};
use crate::history::Purchase;
use crate::partial::customer_days::{Reads, StateHistory};
use crate::retention as domain;
use crate::value::performance::{self as performance_domain, Units};
use crate::value::profitability::Cost;

type Capsule<'py> = PyResult<Bound<'py, PyCapsule>>;

/// Nothing but the days: the functions that take no `by`, order or `extra` columns.
const DAYS_ONLY: Reads = Reads {
    groups: false,
    orders: false,
    extras: false,
    purchase_sums: false,
};

/// Read the state, refuse what `function` does not read of it, build its history under
/// `rule` and derive a table from the key column's name and the state's history.
fn derive<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    function: &str,
    reads: Reads,
    rule: Purchase,
    table: impl FnOnce(&str, StateHistory) -> Result<arrow_array::RecordBatch> + Send,
) -> Capsule<'py> {
    let state = read_days(py, state)?;
    let batch = detach(py, || {
        state.check_reads(function, reads)?;
        let name = state.key_name.clone();
        table(&name, state.into_history(rule)?)
    })?;
    to_capsule(py, batch)
}

#[pyfunction]
#[pyo3(signature = (state, *, time_unit="W", observation_end=None))]
pub fn summary_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    time_unit: &str,
    observation_end: Option<i32>,
) -> Capsule<'py> {
    let unit = unit_days(time_unit).map_err(|e| to_pyerr(py, e))?;
    derive(
        py,
        state,
        "summary",
        DAYS_ONLY,
        Purchase::NonNegative,
        |name, s| summary_batch(name, &s.history, s.keys, observation_end, unit),
    )
}

#[pyfunction]
#[pyo3(signature = (state, *, calibration_end, observation_end=None, time_unit="W"))]
pub fn calibration_holdout_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    calibration_end: i32,
    observation_end: Option<i32>,
    time_unit: &str,
) -> Capsule<'py> {
    let unit = unit_days(time_unit).map_err(|e| to_pyerr(py, e))?;
    let function = "calibration_holdout";
    derive(
        py,
        state,
        function,
        DAYS_ONLY,
        Purchase::NonNegative,
        |name, s| {
            calibration_holdout_batch(
                name,
                &s.history,
                s.keys,
                calibration_end,
                observation_end,
                unit,
            )
        },
    )
}

#[pyfunction]
#[pyo3(signature = (state, *, period=None))]
pub fn repurchase_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    period: Option<&str>,
) -> Capsule<'py> {
    let period = period.map(|p| parse_period(py, p)).transpose()?;
    let reads = Reads {
        groups: true,
        orders: true,
        ..DAYS_ONLY
    };
    derive(
        py,
        state,
        "repurchase",
        reads,
        Purchase::Positive,
        |_, s| {
            let grouped = s.groups.is_some();
            let r = domain::repurchase::of_history(&s.history, period, grouped);
            repurchase_batch(&r, s.groups.as_ref())
        },
    )
}

#[pyfunction]
#[pyo3(signature = (state, *, output="customers"))]
pub fn interpurchase_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    output: &str,
) -> Capsule<'py> {
    let per_customer = choice(py, "output", output, &["customers", "distribution"])? == 0;
    derive(
        py,
        state,
        "interpurchase",
        DAYS_ONLY,
        Purchase::Positive,
        |name, s| interpurchase_batch(name, &s.history, s.keys, per_customer),
    )
}

#[pyfunction]
#[pyo3(signature = (state, *, as_of=None, thresholds=(90, 180, 365), labels="en"))]
pub fn lifecycle_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    as_of: Option<i32>,
    thresholds: (i32, i32, i32),
    labels: &str,
) -> Capsule<'py> {
    let labels = parse_labels(py, labels)?;
    let thresholds = [thresholds.0, thresholds.1, thresholds.2];
    derive(
        py,
        state,
        "lifecycle",
        DAYS_ONLY,
        Purchase::Positive,
        |name, s| lifecycle_batch(name, &s.history, s.keys, as_of, thresholds, labels),
    )
}

#[pyfunction]
#[pyo3(signature = (state, *, as_of=None, window=90, overdue_factor=2.0))]
pub fn churn_risk_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    as_of: Option<i32>,
    window: i32,
    overdue_factor: f64,
) -> Capsule<'py> {
    let options = domain::churn::ChurnOptions {
        as_of,
        window,
        overdue_factor,
    };
    let reads = Reads {
        orders: true,
        ..DAYS_ONLY
    };
    derive(
        py,
        state,
        "churn_risk",
        reads,
        Purchase::Positive,
        |name, s| churn_risk_batch(name, &s.history, s.keys, &options),
    )
}

#[pyfunction]
#[pyo3(signature = (state, *, period="M", metric="retention", format="long"))]
pub fn cohorts_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    period: &str,
    metric: &str,
    format: &str,
) -> Capsule<'py> {
    let period = parse_period(py, period)?;
    let metric_name = metric.to_string();
    let metric = domain::cohorts::Metric::parse(metric).map_err(|e| to_pyerr(py, e))?;
    let wide = choice(py, "format", format, &["long", "wide"])? == 1;
    derive(
        py,
        state,
        "cohorts",
        DAYS_ONLY,
        Purchase::Positive,
        |_, s| {
            let c = domain::cohorts::of_history(&s.history, period);
            cohort_batch(&c, metric, &metric_name, wide)
        },
    )
}

#[pyfunction]
#[pyo3(signature = (state, *, period="M", lapse_days=180, as_of=None))]
pub fn acquisition_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    period: &str,
    lapse_days: i32,
    as_of: Option<i32>,
) -> Capsule<'py> {
    let period = parse_period(py, period)?;
    derive(
        py,
        state,
        "acquisition",
        DAYS_ONLY,
        Purchase::Positive,
        |_, s| acquisition_batch(&s.history, period, lapse_days, as_of),
    )
}

/// `activity`; `extra_weights`: one weight per extra column the state carries, in its order.
#[pyfunction]
#[pyo3(signature = (state, *, as_of=None, half_life_days=90.0, weights=(0.4, 0.3, 0.3), extra_weights=vec![]))]
pub fn activity_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    as_of: Option<i32>,
    half_life_days: f64,
    weights: (f64, f64, f64),
    extra_weights: Vec<f64>,
) -> Capsule<'py> {
    let options = domain::activity::ActivityOptions {
        as_of,
        half_life_days,
        recency_weight: weights.0,
        frequency_weight: weights.1,
        monetary_weight: weights.2,
        extra_weights,
    };
    let reads = Reads {
        orders: true,
        extras: true,
        ..DAYS_ONLY
    };
    derive(
        py,
        state,
        "activity",
        reads,
        Purchase::Positive,
        |name, s| {
            if s.extras.len() != options.extra_weights.len() {
                return Err(CrmError::InvalidArgument(format!(
                    "extra_weights gives {} weight(s) for the state's {} extra column(s)",
                    options.extra_weights.len(),
                    s.extras.len()
                )));
            }
            let (extra, sums): (Vec<String>, Vec<Vec<f64>>) =
                s.extra_sums(|_| true).into_iter().unzip();
            activity_batch(name, &s.history, s.keys, &extra, sums, &options)
        },
    )
}

/// Whether the state carries its function's one extra column (a cost or bonus column).
fn carries_one_extra(s: &StateHistory, function: &str, what: &str) -> Result<bool> {
    match s.extras.len() {
        0 => Ok(false),
        1 => Ok(true),
        more => Err(CrmError::InvalidArgument(format!(
            "{function} takes one {what} column; this partial state carries {more} extra columns"
        ))),
    }
}

/// `profitability`; the cost column's sums travel as the state's extra column, a cost rate
/// as `cost_rate`.
#[pyfunction]
#[pyo3(signature = (state, *, cost_rate=None, tiers, output="customers"))]
pub fn profitability_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    cost_rate: Option<f64>,
    tiers: Vec<(String, f64)>,
    output: &str,
) -> Capsule<'py> {
    let output = choice(py, "output", output, &PROFITABILITY_OUTPUTS)?;
    let (names, shares): (Vec<String>, Vec<f64>) = tiers.into_iter().unzip();
    let reads = Reads {
        extras: true,
        ..DAYS_ONLY
    };
    let function = "profitability";
    derive(py, state, function, reads, Purchase::Positive, |name, s| {
        let cost = match (carries_one_extra(&s, function, "cost")?, cost_rate) {
            (true, Some(_)) => {
                return Err(CrmError::InvalidArgument(
                    "give a cost column or a cost rate, not both".to_string(),
                ))
            }
            (true, None) => {
                let (_, sums) = s.extra_sums(|_| true).swap_remove(0);
                Cost::Column(sums)
            }
            (false, Some(rate)) => Cost::Rate(rate),
            (false, None) => Cost::Nothing,
        };
        profitability_batch(name, &s.history, &s.keys, cost, (&names, &shares), output)
    })
}

/// `performance`; the units of the purchase rows travel as the state's purchase sums.
#[pyfunction]
#[pyo3(signature = (state, *, period=None, values, shape="long"))]
pub fn performance_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    period: Option<&str>,
    values: Vec<String>,
    shape: &str,
) -> Capsule<'py> {
    let period = period.map(|p| parse_period(py, p)).transpose()?;
    let wide = choice(py, "shape", shape, &["long", "wide"])? == 1;
    let days = read_days(py, state)?;
    let carries_units = !days.purchase_sums.is_empty();
    let parsed = performance_values(py, &values, carries_units)?;
    let reads = Reads {
        groups: true,
        orders: true,
        purchase_sums: true,
        ..DAYS_ONLY
    };
    let batch = detach(py, || {
        days.check_reads("performance", reads)?;
        let s = days.into_history(Purchase::Positive)?;
        let units = match s.purchase_sums.as_slice() {
            [] => None,
            [(_, per_entry)] => Some(Units::Entries(per_entry)),
            more => {
                return Err(CrmError::InvalidArgument(format!(
                    "performance takes one quantity column; this partial state carries {} \
                     purchase sums",
                    more.len()
                )))
            }
        };
        let p = performance_domain::performance(&s.history, period, units);
        performance_batch(
            s.groups.as_ref(),
            &p,
            &values,
            &parsed,
            period.is_some(),
            wide,
        )
    })?;
    to_capsule(py, batch)
}

/// `loyalty`; the bonus column's per-day sums travel as the state's extra column.
#[pyfunction]
#[pyo3(signature = (state, *, as_of=None, window_days=None, points_per_unit=1.0, tiers, near=0.1, output="customers"))]
#[allow(clippy::too_many_arguments)]
pub fn loyalty_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    as_of: Option<i32>,
    window_days: Option<i32>,
    points_per_unit: f64,
    tiers: Vec<(String, f64)>,
    near: f64,
    output: &str,
) -> Capsule<'py> {
    let output = choice(py, "output", output, &LOYALTY_OUTPUTS)?;
    let (names, options) = loyalty_options(as_of, window_days, points_per_unit, tiers, near);
    let reads = Reads {
        extras: true,
        ..DAYS_ONLY
    };
    let function = "loyalty";
    derive(py, state, function, reads, Purchase::Positive, |name, s| {
        let carries_bonus = carries_one_extra(&s, function, "bonus")?;
        let bonus = carries_bonus.then_some(|first: i32| {
            let (_, sums) = s.extra_sums(|day| day >= first).swap_remove(0);
            sums
        });
        loyalty_batch(
            name,
            &s.history,
            s.keys.clone(),
            &options,
            &names,
            output,
            bonus,
        )
    })
}
