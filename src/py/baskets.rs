//! `crm._core.frequent_itemsets`, `basket_rules` and `cross_sell`: read the streams, build
//! the baskets, mine, emit.

use arrow_array::{ArrayRef, RecordBatch};
use pyo3::prelude::*;

use super::args::{bad_argument, choice, parse_policy};
use super::arrow::{read_stream, to_capsule};
use super::errors::{detach, to_pyerr};
use super::retention::Output;
use crate::baskets::{self as domain, input, Itemsets};
use crate::emit;
use crate::error::Result;

/// `max_len` as the miner takes it (no limit: usize::MAX), or an error.
fn parse_max_len(py: Python<'_>, max_len: Option<i64>) -> PyResult<usize> {
    let max_len = max_len.map(|m| usize::try_from(m).unwrap_or(0));
    domain::check_max_len(max_len).map_err(|e| to_pyerr(py, e))
}

/// Read the stream, build the baskets of (`key`, `item`) lines, then `derive` a batch.
fn run<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    key: &str,
    item: &str,
    on_invalid: &str,
    derive: impl FnOnce(&input::Lines) -> Result<RecordBatch> + Send,
) -> Output<'py> {
    let policy = parse_policy(py, on_invalid)?;
    let (schema, batches) = read_stream(py, data)?;
    let (batch, dropped) = detach(py, || {
        let lines = input::lines(&schema, &batches, key, item, policy)?;
        Ok((derive(&lines)?, lines.dropped))
    })?;
    Ok((to_capsule(py, batch)?, dropped))
}

/// The frequent itemsets of the lines' baskets.
fn mine(lines: &input::Lines, min_support: f64, max_len: usize) -> Result<Itemsets> {
    let _p = crate::trace::phase("fp-growth");
    let min_count = domain::min_count(min_support, lines.baskets.len() as u64)?;
    Ok(domain::fpgrowth::frequent_itemsets(
        &lines.baskets,
        lines.items.len(),
        min_count,
        max_len,
    ))
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
    domain::check_support(min_support).map_err(|e| to_pyerr(py, e))?;
    let max_len = parse_max_len(py, max_len)?;
    run(py, data, order, item, on_invalid, |lines| {
        let sets = mine(lines, min_support, max_len)?;
        let lengths = sets.offsets.windows(2).map(|w| (w[1] - w[0]) as i64);
        emit::batch(vec![
            ("itemset", lines.items.lists(&sets.offsets, &sets.items)?),
            ("length", emit::int64(lengths.collect())),
            (
                "count",
                emit::int64(sets.counts.iter().map(|&c| c as i64).collect()),
            ),
            (
                "support",
                emit::floats((0..sets.len()).map(|s| sets.support(s)).collect()),
            ),
        ])
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
    domain::check_support(min_support).map_err(|e| to_pyerr(py, e))?;
    domain::rules::check_thresholds(min_confidence, min_lift).map_err(|e| to_pyerr(py, e))?;
    let max_len = parse_max_len(py, max_len)?;
    run(py, data, order, item, on_invalid, |lines| {
        let sets = mine(lines, min_support, max_len)?;
        let r = {
            let _p = crate::trace::phase("rules");
            domain::rules::rules(&sets, min_confidence, min_lift)?
        };
        emit::batch(vec![
            (
                "antecedent",
                lines.items.lists(&r.antecedent_offsets, &r.antecedents)?,
            ),
            (
                "consequent",
                lines.items.lists(&r.consequent_offsets, &r.consequents)?,
            ),
            ("antecedent_support", emit::floats(r.antecedent_support)),
            ("consequent_support", emit::floats(r.consequent_support)),
            ("support", emit::floats(r.support)),
            ("confidence", emit::floats(r.confidence)),
            ("lift", emit::floats(r.lift)),
            (
                "count",
                emit::int64(r.count.iter().map(|&c| c as i64).collect()),
            ),
        ])
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
    use domain::cross_sell::Metric;
    let metric =
        [Metric::Confidence, Metric::Lift][choice(py, "metric", metric, &["confidence", "lift"])?];
    if top_n < 1 {
        return Err(bad_argument(
            py,
            format!("top_n must be at least 1, got {top_n}"),
        ));
    }
    let (rules_schema, rules_batches) = read_stream(py, rules)?;
    run(py, data, customer, item, on_invalid, |lines| {
        let (rules, universe, line_codes) =
            input::rules_table(&rules_schema, &rules_batches, &lines.items)?;
        let mut customers = lines.baskets.clone();
        customers
            .items
            .iter_mut()
            .for_each(|i| *i = line_codes[*i as usize]);
        let recs = domain::cross_sell::cross_sell(
            &customers,
            &rules,
            universe.len(),
            top_n as usize,
            metric,
        );
        // Keys of every customer, then picked per row.
        let all_keys = lines.keys.keys(&customers.keys)?;
        let basket_index = arrow_array::UInt32Array::from(recs.basket.clone());
        let customer_keys = arrow_select::take::take(all_keys.as_ref(), &basket_index, None)?;
        let chosen: Vec<&domain::cross_sell::Rule> =
            recs.rule.iter().map(|&r| &rules[r as usize]).collect();
        let mut offsets = vec![0];
        let mut antecedents = Vec::new();
        for rule in &chosen {
            antecedents.extend_from_slice(&rule.antecedent);
            offsets.push(antecedents.len());
        }
        let values = |f: fn(&domain::cross_sell::Rule) -> f64| -> ArrayRef {
            emit::floats(chosen.iter().map(|r| f(r)).collect())
        };
        let score = match metric {
            Metric::Confidence => values(|r| r.confidence),
            Metric::Lift => values(|r| r.lift),
        };
        emit::batch(vec![
            (customer, customer_keys),
            (
                "rank",
                emit::int64(recs.rank.iter().map(|&r| r as i64).collect()),
            ),
            (item, universe.array(&recs.item)?),
            ("score", score),
            ("confidence", values(|r| r.confidence)),
            ("lift", values(|r| r.lift)),
            ("antecedent", universe.lists(&offsets, &antecedents)?),
        ])
    })
}
