//! `crm._core.repurchase`, `interpurchase`, `lifecycle`, `churn_risk`, `cohorts`,
//! `acquisition` and `activity`: ingest, build the histories, derive, emit.

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::args::{bad_argument, choice, parse_labels, parse_period, parse_policy};
use super::arrow::{read_stream, to_capsule};
use super::errors::detach;
use crate::emit;
use crate::error::Result;
use crate::history::{self, History, Purchase};
use crate::ingest::{ingest, Groups, OnInvalid, Spec, Transactions};
use crate::periods::Period;
use crate::retention as domain;
use crate::segments::Labels;

pub(super) type Output<'py> = PyResult<(Bound<'py, PyCapsule>, usize)>;

/// What every call does: read the stream, ingest with codes for every customer, then
/// `derive` a batch; returns the batch and the rows dropped.
pub(super) fn run<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    spec: Spec,
    on_invalid: &str,
    derive: impl FnOnce(&Transactions) -> Result<RecordBatch> + Send,
) -> Output<'py> {
    let policy: OnInvalid = parse_policy(py, on_invalid)?;
    let (schema, batches): (SchemaRef, _) = read_stream(py, data)?;
    let spec = Spec {
        need_codes: true,
        ..spec
    };
    let (batch, dropped) = detach(py, || {
        let tx = ingest(&schema, &batches, &spec, policy)?;
        Ok((derive(&tx)?, tx.dropped))
    })?;
    Ok((to_capsule(py, batch)?, dropped))
}

/// The history of a log and its customers (those with rows, in history order).
pub(super) fn with_customers(
    tx: &Transactions,
    rule: Purchase,
) -> Result<(History, ArrayRef, Vec<u32>)> {
    let history = history::build_with(tx, rule);
    let codes = history.codes();
    let keys = tx.customers.keys(&codes)?;
    Ok((history, keys, codes))
}

pub(super) fn spec(customer: String, date: String, amount: String, order: Option<String>) -> Spec {
    Spec {
        customer,
        date,
        amount,
        order,
        ..Spec::default()
    }
}

#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, order=None, period=None, by=vec![], on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn repurchase<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    order: Option<String>,
    period: Option<&str>,
    by: Vec<String>,
    on_invalid: &str,
) -> Output<'py> {
    let period = period.map(|p| parse_period(py, p)).transpose()?;
    let spec = Spec {
        by,
        ..spec(customer, date, amount, order)
    };
    run(py, data, spec, on_invalid, |tx| {
        let r = domain::repurchase::repurchase(tx, period);
        repurchase_batch(&r, tx.groups.as_ref())
    })
}

/// The repurchase table: one row per window, the `by` columns' values first when `groups`.
pub(super) fn repurchase_batch(
    r: &domain::repurchase::Repurchase,
    groups: Option<&Groups>,
) -> Result<RecordBatch> {
    let per_group = r.starts.as_ref().map_or(1, Vec::len);
    let mut columns: Vec<(String, ArrayRef)> = Vec::new();
    if let Some(groups) = groups {
        let codes: Vec<u32> = r
            .groups
            .iter()
            .flat_map(|&g| std::iter::repeat_n(g, per_group))
            .collect();
        columns.extend(groups.labels(&codes)?);
    }
    if let Some(starts) = &r.starts {
        let days = r
            .groups
            .iter()
            .flat_map(|_| starts.iter().map(|&d| Some(d)));
        columns.push(("period".into(), emit::dates(days.collect())));
    }
    let count =
        |f: fn(&domain::repurchase::Window) -> i64| emit::int64(r.windows.iter().map(f).collect());
    let rate = |f: fn(&domain::repurchase::Window) -> Option<f64>| {
        emit::float64(r.windows.iter().map(f).collect())
    };
    columns.extend([
        ("customers".into(), count(|w| w.customers)),
        ("repeat_customers".into(), count(|w| w.repeat_customers)),
        ("orders".into(), count(|w| w.orders)),
        ("repeat_orders".into(), count(|w| w.repeat_orders)),
        (
            "repeat_customer_orders".into(),
            count(|w| w.repeat_customer_orders),
        ),
        (
            "customer_rate".into(),
            rate(domain::repurchase::Window::customer_rate),
        ),
        (
            "order_rate".into(),
            rate(domain::repurchase::Window::order_rate),
        ),
        (
            "intensity".into(),
            rate(domain::repurchase::Window::intensity),
        ),
    ]);
    emit::batch(
        columns
            .iter()
            .map(|(n, a)| (n.as_str(), a.clone()))
            .collect(),
    )
}

#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, output="customers", on_invalid="raise"))]
pub fn interpurchase<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    output: &str,
    on_invalid: &str,
) -> Output<'py> {
    let per_customer = choice(py, "output", output, &["customers", "distribution"])? == 0;
    let spec = spec(customer, date, amount, None);
    let name = spec.customer.clone();
    run(py, data, spec, on_invalid, |tx| {
        let (history, keys, _) = with_customers(tx, Purchase::Positive)?;
        interpurchase_batch(&name, &history, keys, per_customer)
    })
}

/// The gaps per customer (`per_customer`) or their distribution over all customers.
pub(super) fn interpurchase_batch(
    name: &str,
    history: &History,
    keys: ArrayRef,
    per_customer: bool,
) -> Result<RecordBatch> {
    if per_customer {
        let g = domain::interpurchase::per_customer_gaps(history);
        let some = |v: Vec<i32>| emit::int32(v.into_iter().map(Some).collect());
        return emit::batch(vec![
            (name, keys),
            ("purchase_days", some(g.purchase_days)),
            ("gaps", some(g.gaps)),
            ("mean_gap_days", emit::float64(g.mean)),
            ("median_gap_days", emit::float64(g.median)),
            ("min_gap_days", emit::int32(g.min)),
            ("max_gap_days", emit::int32(g.max)),
        ]);
    }
    let dist = domain::interpurchase::distribution(history);
    let total: u64 = dist.values().sum();
    let mut cumulative = 0;
    let mut shares = Vec::new();
    let mut cumulative_shares = Vec::new();
    for &n in dist.values() {
        cumulative += n;
        shares.push(n as f64 / total as f64);
        cumulative_shares.push(cumulative as f64 / total as f64);
    }
    emit::batch(vec![
        (
            "gap_days",
            emit::int32(dist.keys().map(|&g| Some(g)).collect()),
        ),
        (
            "gaps",
            emit::int64(dist.values().map(|&n| n as i64).collect()),
        ),
        ("share", emit::floats(shares)),
        ("cumulative_share", emit::floats(cumulative_shares)),
    ])
}

#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, as_of=None, thresholds=(90, 180, 365), labels="en", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn lifecycle<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    as_of: Option<i32>,
    thresholds: (i32, i32, i32),
    labels: &str,
    on_invalid: &str,
) -> Output<'py> {
    let labels = parse_labels(py, labels)?;
    let thresholds = [thresholds.0, thresholds.1, thresholds.2];
    let spec = spec(customer, date, amount, None);
    let name = spec.customer.clone();
    run(py, data, spec, on_invalid, |tx| {
        let (history, keys, _) = with_customers(tx, Purchase::Positive)?;
        lifecycle_batch(&name, &history, keys, as_of, thresholds, labels)
    })
}

/// Each customer's lifecycle stage.
pub(super) fn lifecycle_batch(
    name: &str,
    history: &History,
    keys: ArrayRef,
    as_of: Option<i32>,
    thresholds: [i32; 3],
    labels: Labels,
) -> Result<RecordBatch> {
    let l = domain::lifecycle::lifecycle(history, as_of, thresholds, labels)?;
    emit::batch(vec![
        (name, keys),
        ("first_purchase", emit::dates(l.first_purchase)),
        ("last_purchase", emit::dates(l.last_purchase)),
        ("tenure_days", emit::int32(l.tenure_days)),
        (
            "days_since_last_purchase",
            emit::int32(l.days_since_last_purchase),
        ),
        ("stage", emit::categorical_or_null(l.stage, &l.labels)?),
    ])
    .and_then(|b| emit::mark_ordered(b, &["stage"]))
}

#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, order=None, as_of=None, window=90, overdue_factor=2.0, on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn churn_risk<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    order: Option<String>,
    as_of: Option<i32>,
    window: i32,
    overdue_factor: f64,
    on_invalid: &str,
) -> Output<'py> {
    let options = domain::churn::ChurnOptions {
        as_of,
        window,
        overdue_factor,
    };
    let spec = spec(customer, date, amount, order);
    let name = spec.customer.clone();
    run(py, data, spec, on_invalid, |tx| {
        let (history, keys, _) = with_customers(tx, Purchase::Positive)?;
        churn_risk_batch(&name, &history, keys, &options)
    })
}

/// Each customer's churn signals, risk level and reason.
pub(super) fn churn_risk_batch(
    name: &str,
    history: &History,
    keys: ArrayRef,
    options: &domain::churn::ChurnOptions,
) -> Result<RecordBatch> {
    let c = domain::churn::churn_risk(history, options)?;
    let labels = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    emit::batch(vec![
        (name, keys),
        ("last_purchase", emit::dates(c.last_purchase)),
        (
            "days_since_last_purchase",
            emit::int32(c.days_since_last_purchase),
        ),
        ("purchases_recent", emit::int32(c.purchases_recent)),
        ("purchases_prior", emit::int32(c.purchases_prior)),
        ("median_gap_days", emit::float64(c.median_gap_days)),
        (
            "rhythm",
            emit::categorical_or_null(c.rhythm, &labels(&domain::churn::RHYTHMS))?,
        ),
        ("overdue_ratio", emit::float64(c.overdue_ratio)),
        ("declining", emit::booleans(c.declining)),
        ("overdue", emit::booleans(c.overdue)),
        (
            "risk",
            emit::categorical_or_null(c.risk, &labels(&domain::churn::RISK_LEVELS))?,
        ),
        ("reason", emit::strings(c.reason)),
    ])
    .and_then(|b| emit::mark_ordered(b, &["risk"]))
}

#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, period="M", metric="retention", format="long", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn cohorts<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    period: &str,
    metric: &str,
    format: &str,
    on_invalid: &str,
) -> Output<'py> {
    let period = parse_period(py, period)?;
    let metric_name = metric.to_string();
    let metric =
        domain::cohorts::Metric::parse(metric).map_err(|e| super::errors::to_pyerr(py, e))?;
    let wide = choice(py, "format", format, &["long", "wide"])? == 1;
    let spec = spec(customer, date, amount, None);
    run(py, data, spec, on_invalid, |tx| {
        let c = domain::cohorts::cohorts(tx, period, metric);
        cohort_batch(&c, metric, &metric_name, wide)
    })
}

/// The cohort matrix in long (one row per cohort and period number) or wide form.
pub(super) fn cohort_batch(
    c: &domain::cohorts::Cohorts,
    metric: domain::cohorts::Metric,
    metric_name: &str,
    wide: bool,
) -> Result<RecordBatch> {
    let values = c.values(metric);
    let metric_column = |cells: Vec<Option<f64>>| match metric {
        domain::cohorts::Metric::ActiveCustomers => {
            let counts: Vec<Option<i64>> = cells.iter().map(|x| x.map(|v| v as i64)).collect();
            std::sync::Arc::new(arrow_array::Int64Array::from(counts)) as ArrayRef
        }
        _ => emit::float64(cells),
    };
    let per_cohort = |rows: &dyn Fn(usize) -> usize| {
        let mut starts = Vec::new();
        let mut sizes = Vec::new();
        for (k, (&start, &size)) in c.starts.iter().zip(&c.sizes).enumerate() {
            starts.extend(std::iter::repeat_n(Some(start), rows(k)));
            sizes.extend(std::iter::repeat_n(size as i64, rows(k)));
        }
        (emit::dates(starts), emit::int64(sizes))
    };
    if wide {
        let (cohort, size) = per_cohort(&|_| 1);
        let mut columns: Vec<(String, ArrayRef)> =
            vec![("cohort".into(), cohort), ("cohort_size".into(), size)];
        for k in 0..c.starts.len() {
            let cells = values.iter().map(|row| row.get(k).copied().flatten());
            columns.push((k.to_string(), metric_column(cells.collect())));
        }
        return emit::batch(
            columns
                .iter()
                .map(|(n, a)| (n.as_str(), a.clone()))
                .collect(),
        );
    }
    let (cohort, size) = per_cohort(&|k| values[k].len());
    let number = values
        .iter()
        .flat_map(|row| (0..row.len() as i32).map(Some));
    emit::batch(vec![
        ("cohort", cohort),
        ("cohort_size", size),
        ("period_number", emit::int32(number.collect())),
        (
            metric_name,
            metric_column(values.into_iter().flatten().collect()),
        ),
    ])
}

#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, period="M", lapse_days=180, as_of=None, on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn acquisition<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    period: &str,
    lapse_days: i32,
    as_of: Option<i32>,
    on_invalid: &str,
) -> Output<'py> {
    let period = parse_period(py, period)?;
    let spec = spec(customer, date, amount, None);
    run(py, data, spec, on_invalid, |tx| {
        acquisition_batch(&history::build(tx), period, lapse_days, as_of)
    })
}

/// The acquisition table: one row per period.
pub(super) fn acquisition_batch(
    history: &History,
    period: Period,
    lapse_days: i32,
    as_of: Option<i32>,
) -> Result<RecordBatch> {
    let a = domain::acquisition::acquisition(history, period, lapse_days, as_of)?;
    let ratio = |num: &[i64], den: &[i64]| {
        emit::float64(
            num.iter()
                .zip(den)
                .map(|(&n, &d)| (d != 0).then(|| n as f64 / d as f64))
                .collect(),
        )
    };
    let churned: Vec<i64> = a
        .start_customers
        .iter()
        .zip(&a.retained)
        .map(|(s, r)| s - r)
        .collect();
    emit::batch(vec![
        (
            "period",
            emit::dates(a.starts.iter().map(|&d| Some(d)).collect()),
        ),
        ("start_customers", emit::int64(a.start_customers.clone())),
        ("new", emit::int64(a.new.clone())),
        ("reactivated", emit::int64(a.reactivated.clone())),
        ("lost", emit::int64(a.lost.clone())),
        ("retained", emit::int64(a.retained.clone())),
        ("end_customers", emit::int64(a.end_customers.clone())),
        ("active", emit::int64(a.active.clone())),
        ("cr_index", ratio(&a.new, &a.lost)),
        ("churn_rate", ratio(&churned, &a.start_customers)),
        ("retention_rate", ratio(&a.retained, &a.start_customers)),
    ])
}

#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, order=None, as_of=None, half_life_days=90.0, weights=(0.4, 0.3, 0.3), extra=vec![], extra_weights=vec![], on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn activity<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    order: Option<String>,
    as_of: Option<i32>,
    half_life_days: f64,
    weights: (f64, f64, f64),
    extra: Vec<String>,
    extra_weights: Vec<f64>,
    on_invalid: &str,
) -> Output<'py> {
    if extra_weights.len() != extra.len() {
        return Err(bad_argument(
            py,
            "extra_weights must give one weight per extra column".to_string(),
        ));
    }
    let options = domain::activity::ActivityOptions {
        as_of,
        half_life_days,
        recency_weight: weights.0,
        frequency_weight: weights.1,
        monetary_weight: weights.2,
        extra_weights,
    };
    let spec = Spec {
        extra: extra.clone(),
        ..spec(customer, date, amount, order)
    };
    let name = spec.customer.clone();
    run(py, data, spec, on_invalid, |tx| {
        let (history, keys, codes) = with_customers(tx, Purchase::Positive)?;
        let history = &history;
        let sums: Vec<Vec<f64>> = tx
            .extras
            .iter()
            .map(|values| history::column_sums(tx, values, &codes))
            .collect();
        activity_batch(&name, history, keys, &extra, sums, &options)
    })
}

/// The activity table; `sums` holds each `extra` column's per-customer sums.
pub(super) fn activity_batch(
    name: &str,
    history: &History,
    keys: ArrayRef,
    extra: &[String],
    sums: Vec<Vec<f64>>,
    options: &domain::activity::ActivityOptions,
) -> Result<RecordBatch> {
    let a = domain::activity::activity(history, &sums, options)?;
    let mut columns: Vec<(String, ArrayRef)> = vec![
        (name.to_string(), keys),
        (
            "days_since_last_purchase".into(),
            emit::int32(a.days_since_last_purchase),
        ),
        (
            "purchases".into(),
            emit::int32(a.purchases.into_iter().map(Some).collect()),
        ),
        ("net_spend".into(), emit::floats(a.net_spend)),
    ];
    for (name, s) in extra.iter().zip(sums) {
        columns.push((name.clone(), emit::floats(s)));
    }
    columns.push(("recency_indicator".into(), emit::floats(a.recency)));
    columns.push(("frequency_indicator".into(), emit::floats(a.frequency)));
    columns.push(("monetary_indicator".into(), emit::floats(a.monetary)));
    for (name, x) in extra.iter().zip(a.extra) {
        columns.push((format!("{name}_indicator"), emit::floats(x)));
    }
    columns.push(("activity".into(), emit::floats(a.activity)));
    emit::batch(
        columns
            .iter()
            .map(|(n, a)| (n.as_str(), a.clone()))
            .collect(),
    )
}
