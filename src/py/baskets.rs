//! `crm._core.frequent_itemsets`, `basket_rules` and `cross_sell`: read the streams, build
//! the baskets, then the result table (`baskets::tables`).

use arrow_array::RecordBatch;
use pyo3::prelude::*;

use super::args::{bad_argument, choice, parse_policy};
use super::arrow::{read_stream, to_capsule};
use super::errors::{detach, to_pyerr};
use super::retention::Output;
use crate::baskets::cross_sell::Metric;
use crate::baskets::tables::{self, Customers};
use crate::baskets::{self as domain, input};
use crate::error::Result;

/// `max_len` as the miner takes it (no limit: usize::MAX), or an error.
pub(super) fn parse_max_len(py: Python<'_>, max_len: Option<i64>) -> PyResult<usize> {
    let max_len = max_len.map(|m| usize::try_from(m).unwrap_or(0));
    domain::check_max_len(max_len).map_err(|e| to_pyerr(py, e))
}

/// `min_support` and `max_len` checked, the latter as the miner takes it.
pub(super) fn parse_mining(
    py: Python<'_>,
    min_support: f64,
    max_len: Option<i64>,
) -> PyResult<usize> {
    domain::check_support(min_support).map_err(|e| to_pyerr(py, e))?;
    parse_max_len(py, max_len)
}

/// `top_n` (at least 1) and the metric of `cross_sell`.
pub(super) fn parse_cross_sell(
    py: Python<'_>,
    top_n: i64,
    metric: &str,
) -> PyResult<(usize, Metric)> {
    let metric =
        [Metric::Confidence, Metric::Lift][choice(py, "metric", metric, &["confidence", "lift"])?];
    if top_n < 1 {
        return Err(bad_argument(
            py,
            format!("top_n must be at least 1, got {top_n}"),
        ));
    }
    Ok((top_n as usize, metric))
}

/// Read the stream, build the baskets of (`key`, `item`) lines, then `derive` a batch.
fn run<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    key: &str,
    item: &str,
    on_invalid: &str,
    derive: impl FnOnce(input::Lines) -> Result<RecordBatch> + Send,
) -> Output<'py> {
    let policy = parse_policy(py, on_invalid)?;
    let (schema, batches) = read_stream(py, data)?;
    let (batch, dropped) = detach(py, || {
        let lines = input::lines(&schema, &batches, key, item, policy)?;
        let dropped = lines.dropped;
        Ok((derive(lines)?, dropped))
    })?;
    Ok((to_capsule(py, batch)?, dropped))
}

#[pyfunction]
#[pyo3(signature = (data, *, order, item, min_support=0.01, max_len=None, on_invalid="raise"))]
pub fn frequent_itemsets<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    order: &str,
    item: &str,
    min_support: f64,
    max_len: Option<i64>,
    on_invalid: &str,
) -> Output<'py> {
    let max_len = parse_mining(py, min_support, max_len)?;
    run(py, data, order, item, on_invalid, |lines| {
        tables::itemsets(&lines.baskets, &lines.items, min_support, max_len)
    })
}

#[pyfunction]
#[pyo3(signature = (data, *, order, item, min_support=0.01, min_confidence=0.2, min_lift=None, max_len=None, on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn basket_rules<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    order: &str,
    item: &str,
    min_support: f64,
    min_confidence: f64,
    min_lift: Option<f64>,
    max_len: Option<i64>,
    on_invalid: &str,
) -> Output<'py> {
    let max_len = parse_mining(py, min_support, max_len)?;
    domain::rules::check_thresholds(min_confidence, min_lift).map_err(|e| to_pyerr(py, e))?;
    run(py, data, order, item, on_invalid, |lines| {
        tables::association_rules(
            &lines.baskets,
            &lines.items,
            min_support,
            min_confidence,
            min_lift,
            max_len,
        )
    })
}

#[pyfunction]
#[pyo3(signature = (data, rules, *, customer, item, top_n=3, metric="confidence", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn cross_sell<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    rules: &Bound<'py, PyAny>,
    customer: &str,
    item: &str,
    top_n: i64,
    metric: &str,
    on_invalid: &str,
) -> Output<'py> {
    let (top_n, metric) = parse_cross_sell(py, top_n, metric)?;
    let (rules_schema, rules_batches) = read_stream(py, rules)?;
    run(py, data, customer, item, on_invalid, |lines| {
        let customers = Customers {
            keys: lines.keys.keys(&lines.baskets.keys)?,
            baskets: lines.baskets,
            items: &lines.items,
            customer,
            item,
        };
        tables::recommendations(customers, &rules_schema, &rules_batches, top_n, metric)
    })
}
