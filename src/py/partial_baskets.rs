//! `crm._core.basket_state`, `merge_basket_states` and the basket functions of merged
//! states (`frequent_itemsets_from_partial`, `basket_rules_from_partial`,
//! `cross_sell_from_partial`): the "baskets" partial state of order (or customer) lines,
//! merged, and the in-memory result tables from it.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::args::parse_policy;
use super::arrow::{read_stream, to_capsule};
use super::baskets::{parse_cross_sell, parse_mining};
use super::errors::{detach, to_pyerr};
use super::retention::Output;
use crate::baskets::{input, rules::check_thresholds, tables};
use crate::error::Result;
use crate::partial::baskets::BasketStates;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(basket_state, m)?)?;
    m.add_function(wrap_pyfunction!(merge_basket_states, m)?)?;
    m.add_function(wrap_pyfunction!(frequent_itemsets_from_partial, m)?)?;
    m.add_function(wrap_pyfunction!(basket_rules_from_partial, m)?)?;
    m.add_function(wrap_pyfunction!(cross_sell_from_partial, m)?)?;
    Ok(())
}

/// The baskets partial state of (`key`, `item`) lines, as a capsule, and the number of rows
/// dropped by `on_invalid="drop"`.
#[pyfunction]
#[pyo3(signature = (data, *, key, item, on_invalid="raise"))]
pub fn basket_state<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    key: &str,
    item: &str,
    on_invalid: &str,
) -> Output<'py> {
    let policy = parse_policy(py, on_invalid)?;
    let (schema, batches) = read_stream(py, data)?;
    let (batch, dropped) = detach(py, || {
        let lines = input::lines(&schema, &batches, key, item, policy)?;
        let dropped = lines.dropped;
        Ok((BasketStates::from_lines(key, lines)?.to_batch()?, dropped))
    })?;
    Ok((to_capsule(py, batch)?, dropped))
}

/// The tables of the states, read under the GIL (parsed by `read_parts`, without it).
fn read_tables(
    py: Python<'_>,
    states: &[Bound<'_, PyAny>],
) -> PyResult<Vec<(SchemaRef, Vec<RecordBatch>)>> {
    states.iter().map(|s| read_stream(py, s)).collect()
}

fn read_parts(tables: &[(SchemaRef, Vec<RecordBatch>)]) -> Result<Vec<BasketStates>> {
    tables
        .iter()
        .map(|(schema, batches)| BasketStates::from_batches(schema, batches))
        .collect()
}

/// The baskets state of the union of the parts' lines.
#[pyfunction]
pub fn merge_basket_states<'py>(
    py: Python<'py>,
    parts: Vec<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let streams = read_tables(py, &parts)?;
    let batch = detach(py, || {
        BasketStates::merge(read_parts(&streams)?)?.to_batch()
    })?;
    to_capsule(py, batch)
}

/// The frequent itemsets of the union of the states' lines (the states are merged here,
/// into baskets without keys: the last merge of the tree).
#[pyfunction]
#[pyo3(signature = (states, *, min_support=0.01, max_len=None))]
pub fn frequent_itemsets_from_partial<'py>(
    py: Python<'py>,
    states: Vec<Bound<'py, PyAny>>,
    min_support: f64,
    max_len: Option<i64>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let max_len = parse_mining(py, min_support, max_len)?;
    let streams = read_tables(py, &states)?;
    let batch = detach(py, || {
        let (baskets, items) = BasketStates::merge_unkeyed(read_parts(&streams)?)?;
        drop(streams);
        tables::itemsets(&baskets, &items, min_support, max_len)
    })?;
    to_capsule(py, batch)
}

/// The association rules of the union of the states' lines (merged here).
#[pyfunction]
#[pyo3(signature = (states, *, min_support=0.01, min_confidence=0.2, min_lift=None, max_len=None))]
pub fn basket_rules_from_partial<'py>(
    py: Python<'py>,
    states: Vec<Bound<'py, PyAny>>,
    min_support: f64,
    min_confidence: f64,
    min_lift: Option<f64>,
    max_len: Option<i64>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let max_len = parse_mining(py, min_support, max_len)?;
    check_thresholds(min_confidence, min_lift).map_err(|e| to_pyerr(py, e))?;
    let streams = read_tables(py, &states)?;
    let batch = detach(py, || {
        let (baskets, items) = BasketStates::merge_unkeyed(read_parts(&streams)?)?;
        drop(streams);
        tables::association_rules(
            &baskets,
            &items,
            min_support,
            min_confidence,
            min_lift,
            max_len,
        )
    })?;
    to_capsule(py, batch)
}

/// The cross-sell recommendations of the union of the states' customer lines (merged
/// here; the states' key column is the customer's) from a rules table; `item` names the
/// recommended item's column.
#[pyfunction]
#[pyo3(signature = (states, rules, *, item, top_n=3, metric="confidence"))]
pub fn cross_sell_from_partial<'py>(
    py: Python<'py>,
    states: Vec<Bound<'py, PyAny>>,
    rules: &Bound<'py, PyAny>,
    item: &str,
    top_n: i64,
    metric: &str,
) -> PyResult<Bound<'py, PyCapsule>> {
    let (top_n, metric) = parse_cross_sell(py, top_n, metric)?;
    let (rules_schema, rules_batches) = read_stream(py, rules)?;
    let streams = read_tables(py, &states)?;
    let batch = detach(py, || {
        let state = BasketStates::merge(read_parts(&streams)?)?;
        drop(streams);
        let customers = tables::Customers {
            baskets: state.baskets,
            keys: state.keys,
            items: &state.items,
            customer: &state.key_name,
            item,
        };
        tables::recommendations(customers, &rules_schema, &rules_batches, top_n, metric)
    })?;
    to_capsule(py, batch)
}
