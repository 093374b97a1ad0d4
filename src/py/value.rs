//! `crm._core.profitability`, `performance` and `loyalty`: ingest, build the histories,
//! derive, emit. The tables are built here for the partial states' versions too.

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use pyo3::prelude::*;

use super::args::{bad_argument, choice, parse_period};
use super::retention::{run, spec, with_customers, Output};
use crate::emit;
use crate::error::{CrmError, Result};
use crate::history::{self, History, Purchase};
use crate::ingest::{Groups, Spec};
use crate::retention::per_customer;
use crate::value::loyalty::{self as loyalty_domain, LoyaltyOptions};
use crate::value::net_amount;
use crate::value::performance::{self as performance_domain, Units, Value};
use crate::value::profitability::{self as domain, Cost, Group};

pub(super) const PROFITABILITY_OUTPUTS: [&str; 3] = ["customers", "deciles", "tiers"];
pub(super) const LOYALTY_OUTPUTS: [&str; 2] = ["customers", "tiers"];

#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, cost_column=None, cost_rate=None, tiers, output="customers", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn profitability<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    cost_column: Option<String>,
    cost_rate: Option<f64>,
    tiers: Vec<(String, f64)>,
    output: &str,
    on_invalid: &str,
) -> Output<'py> {
    let output = choice(py, "output", output, &PROFITABILITY_OUTPUTS)?;
    let (names, shares): (Vec<String>, Vec<f64>) = tiers.into_iter().unzip();
    let spec = Spec {
        extra: cost_column.into_iter().collect(),
        ..spec(customer, date, amount, None)
    };
    let name = spec.customer.clone();
    run(py, data, spec, on_invalid, |tx| {
        let (history, keys, codes) = with_customers(tx, Purchase::Positive)?;
        let cost = match (tx.extras.first(), cost_rate) {
            (Some(values), _) => Cost::Column(history::column_sums(tx, values, &codes)),
            (None, Some(rate)) => Cost::Rate(rate),
            (None, None) => Cost::Nothing,
        };
        profitability_batch(&name, &history, &keys, cost, (&names, &shares), output)
    })
}

/// The profitability table (`output`: an index into `PROFITABILITY_OUTPUTS`) of the
/// customers of `history`; `tiers`: the tiers' names and shares of customers.
pub(super) fn profitability_batch(
    name: &str,
    history: &History,
    keys: &ArrayRef,
    cost: Cost,
    tiers: (&[String], &[f64]),
    output: usize,
) -> Result<RecordBatch> {
    let (names, shares) = tiers;
    let revenue = per_customer(history, |es| net_amount(es, |_| true));
    let p = domain::profitability(revenue, cost, shares)?;
    match output {
        0 => customers_batch(name, keys, &p, names),
        1 => {
            let deciles = domain::groups(&p, |i| p.decile[i] as usize - 1, 10);
            let labels = emit::int32((1..=10).map(Some).collect());
            groups_batch(("decile", labels), &deciles)
        }
        _ => {
            let tiers = domain::groups(&p, |i| p.tier[i] as usize, names.len());
            let labels = emit::categorical((0..names.len() as u16).collect(), names)?;
            groups_batch(("tier", labels), &tiers).and_then(|b| emit::mark_ordered(b, &["tier"]))
        }
    }
}

/// One row per customer, most profitable first.
fn customers_batch(
    name: &str,
    keys: &ArrayRef,
    p: &domain::Customers,
    tiers: &[String],
) -> Result<RecordBatch> {
    let order = &p.by_rank;
    let floats = |v: &[f64]| emit::floats(order.iter().map(|&i| v[i]).collect());
    let taken = UInt32Array::from_iter_values(order.iter().map(|&i| i as u32));
    emit::batch(vec![
        (name, arrow_select::take::take(keys.as_ref(), &taken, None)?),
        ("revenue", floats(&p.revenue)),
        ("cost", floats(&p.cost)),
        ("margin", floats(&p.margin)),
        (
            "margin_rate",
            emit::float64(order.iter().map(|&i| p.margin_rate[i]).collect()),
        ),
        (
            "margin_rank",
            emit::int64(order.iter().map(|&i| p.rank[i]).collect()),
        ),
        ("customer_share", floats(&p.customer_share)),
        (
            "cumulative_margin_share",
            emit::float64(
                order
                    .iter()
                    .map(|&i| p.cumulative_margin_share[i])
                    .collect(),
            ),
        ),
        (
            "decile",
            emit::int32(order.iter().map(|&i| Some(p.decile[i])).collect()),
        ),
        (
            "tier",
            emit::categorical(order.iter().map(|&i| p.tier[i]).collect(), tiers)?,
        ),
    ])
    .and_then(|b| emit::mark_ordered(b, &["tier"]))
}

/// One row per decile or tier, with shares of the customers and of the margin.
fn groups_batch(label: (&str, ArrayRef), groups: &[Group]) -> Result<RecordBatch> {
    let customers: i64 = groups.iter().map(|g| g.customers).sum();
    let total_margin: f64 = groups.iter().map(|g| g.margin).sum();
    let share = |m: f64| (total_margin > 0.0).then(|| m / total_margin);
    let (mut seen, mut running) = (0i64, 0.0);
    let mut cumulative_customers = Vec::new();
    let mut cumulative_margin = Vec::new();
    for g in groups {
        seen += g.customers;
        running += g.margin;
        cumulative_customers.push((customers > 0).then(|| seen as f64 / customers as f64));
        cumulative_margin.push(share(running));
    }
    let column = |f: fn(&Group) -> f64| emit::floats(groups.iter().map(f).collect());
    emit::batch(vec![
        label,
        (
            "customers",
            emit::int64(groups.iter().map(|g| g.customers).collect()),
        ),
        ("revenue", column(|g| g.revenue)),
        ("cost", column(|g| g.cost)),
        ("margin", column(|g| g.margin)),
        (
            "margin_share",
            emit::float64(groups.iter().map(|g| share(g.margin)).collect()),
        ),
        (
            "cumulative_customer_share",
            emit::float64(cumulative_customers),
        ),
        ("cumulative_margin_share", emit::float64(cumulative_margin)),
    ])
}

#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, order=None, by=vec![], period=None, values, quantity=None, shape="long", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn performance<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    order: Option<String>,
    by: Vec<String>,
    period: Option<&str>,
    values: Vec<String>,
    quantity: Option<String>,
    shape: &str,
    on_invalid: &str,
) -> Output<'py> {
    let period = period.map(|p| parse_period(py, p)).transpose()?;
    let wide = choice(py, "shape", shape, &["long", "wide"])? == 1;
    let parsed = performance_values(py, &values, quantity.is_some())?;
    let wants_quantity = parsed.contains(&Value::Quantity);
    let spec = Spec {
        by,
        extra: quantity.filter(|_| wants_quantity).into_iter().collect(),
        ..spec(customer, date, amount, order)
    };
    run(py, data, spec, on_invalid, |tx| {
        let history = history::build(tx);
        let units = tx.extras.first().map(|q| Units::Rows(tx, q));
        let p = performance_domain::performance(&history, period, units);
        performance_batch(
            tx.groups.as_ref(),
            &p,
            &values,
            &parsed,
            period.is_some(),
            wide,
        )
    })
}

/// The values asked for; the quantity needs a quantity column (`has_quantity`).
pub(super) fn performance_values(
    py: Python<'_>,
    values: &[String],
    has_quantity: bool,
) -> PyResult<Vec<Value>> {
    let parsed = values
        .iter()
        .map(|v| Value::parse(v))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| super::errors::to_pyerr(py, e))?;
    if parsed.is_empty() {
        return Err(bad_argument(
            py,
            "values must name at least one value".into(),
        ));
    }
    if parsed.contains(&Value::Quantity) && !has_quantity {
        return Err(bad_argument(
            py,
            "the value 'quantity' needs a quantity column".into(),
        ));
    }
    Ok(parsed)
}

/// The performance table; `groups`: the `by` value combinations the cells' group codes
/// stand for (None without `by`).
pub(super) fn performance_batch(
    groups: Option<&Groups>,
    p: &performance_domain::Performance,
    names: &[String],
    values: &[Value],
    with_period: bool,
    wide: bool,
) -> Result<RecordBatch> {
    let n_periods = p.starts.len().max(1);
    let column = |v: Value, cells: &mut dyn Iterator<Item = usize>| -> ArrayRef {
        let cells: Vec<usize> = cells.collect();
        match v {
            Value::Quantity => emit::floats(cells.iter().map(|&c| p.quantity[c]).collect()),
            Value::Revenue => emit::floats(cells.iter().map(|&c| p.revenue[c]).collect()),
            Value::Gross => emit::floats(cells.iter().map(|&c| p.gross[c]).collect()),
            Value::Refunds => emit::floats(cells.iter().map(|&c| p.refunds[c]).collect()),
            Value::Customers => emit::int64(cells.iter().map(|&c| p.customers[c]).collect()),
            Value::Orders => emit::int64(cells.iter().map(|&c| p.orders[c]).collect()),
        }
    };
    let repeat = if wide { 1 } else { n_periods };
    let mut columns: Vec<(String, ArrayRef)> = Vec::new();
    if let Some(groups) = groups {
        let codes: Vec<u32> = p
            .groups
            .iter()
            .flat_map(|&g| std::iter::repeat_n(g, repeat))
            .collect();
        columns.extend(groups.labels(&codes)?);
    }
    if wide {
        for (name, &v) in names.iter().zip(values) {
            for (k, &start) in p.starts.iter().enumerate() {
                let title = if with_period {
                    format!("{name}_{}", crate::rfm::format_day(start))
                } else {
                    name.clone()
                };
                let mut cells = (0..p.groups.len()).map(|g| g * n_periods + k);
                columns.push((title, column(v, &mut cells)));
            }
        }
    } else {
        if with_period {
            let days = p
                .groups
                .iter()
                .flat_map(|_| p.starts.iter().map(|&d| Some(d)));
            columns.push(("period".into(), emit::dates(days.collect())));
        }
        for (name, &v) in names.iter().zip(values) {
            columns.push((
                name.clone(),
                column(v, &mut (0..p.groups.len() * n_periods)),
            ));
        }
    }
    emit::batch(
        columns
            .iter()
            .map(|(n, a)| (n.as_str(), a.clone()))
            .collect(),
    )
}

#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, as_of=None, window_days=None, points_per_unit=1.0, tiers, near=0.1, bonus=None, output="customers", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn loyalty<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    as_of: Option<i32>,
    window_days: Option<i32>,
    points_per_unit: f64,
    tiers: Vec<(String, f64)>,
    near: f64,
    bonus: Option<String>,
    output: &str,
    on_invalid: &str,
) -> Output<'py> {
    let output = choice(py, "output", output, &LOYALTY_OUTPUTS)?;
    let (names, options) = loyalty_options(as_of, window_days, points_per_unit, tiers, near);
    let spec = Spec {
        extra: bonus.clone().into_iter().collect(),
        ..spec(customer, date, amount, None)
    };
    let name = spec.customer.clone();
    run(py, data, spec, on_invalid, |tx| {
        let (history, keys, codes) = with_customers(tx, Purchase::Positive)?;
        let bonus = tx.extras.first().map(|values| {
            move |first: i32| {
                let code = |c: usize, i: usize| tx.customers.rows.code(c, i);
                let in_window = |c: usize, i: usize| {
                    if tx.days[c].day(i) >= first {
                        values[c][i]
                    } else {
                        0.0
                    }
                };
                let sums = history::sums_by_key(tx, tx.customers.n_codes, code, in_window);
                codes.iter().map(|&c| sums[c as usize]).collect()
            }
        });
        loyalty_batch(&name, &history, keys, &options, &names, output, bonus)
    })
}

/// The tier names and the options of `loyalty` from its arguments (the first tier, the
/// base, has threshold 0).
pub(super) fn loyalty_options(
    as_of: Option<i32>,
    window_days: Option<i32>,
    points_per_unit: f64,
    tiers: Vec<(String, f64)>,
    near: f64,
) -> (Vec<String>, LoyaltyOptions) {
    let (names, thresholds): (Vec<String>, Vec<f64>) = tiers.into_iter().unzip();
    let options = LoyaltyOptions {
        as_of,
        window_days,
        points_per_unit,
        thresholds: thresholds.get(1..).unwrap_or_default().to_vec(),
        near,
    };
    (names, options)
}

/// The loyalty table (`output`: an index into `LOYALTY_OUTPUTS`) of the customers of
/// `history`; `bonus`, with a bonus column: each customer's bonus points from the first day
/// of the window on.
pub(super) fn loyalty_batch(
    name: &str,
    history: &History,
    keys: ArrayRef,
    options: &LoyaltyOptions,
    names: &[String],
    output: usize,
    bonus: Option<impl FnOnce(i32) -> Vec<f64>>,
) -> Result<RecordBatch> {
    if names.is_empty() {
        return Err(CrmError::InvalidArgument(
            "tiers must name at least the base tier".to_string(),
        ));
    }
    let window = loyalty_domain::window(history, options)?;
    let bonus_sums = match (bonus, window) {
        (Some(sums), Some((first, _))) => Some(sums(first)),
        _ => None,
    };
    let l = loyalty_domain::loyalty(history, options, bonus_sums.as_deref())?;
    let batch = if output == 0 {
        let next = |t: u16| (t as usize + 1 < names.len()).then_some(t + 1);
        let mut columns = vec![
            (name, keys),
            ("spend", emit::floats(l.spend)),
            ("spend_points", emit::int64(l.spend_points)),
        ];
        if let Some(b) = bonus_sums {
            columns.push(("bonus_points", emit::floats(b)));
        }
        columns.extend([
            ("points", emit::floats(l.points)),
            ("tier", emit::categorical(l.tier.clone(), names)?),
            (
                "next_tier",
                emit::categorical_or_null(l.tier.iter().map(|&t| next(t)).collect(), names)?,
            ),
            ("points_to_next", emit::float64(l.points_to_next)),
            (
                "close_to_next",
                emit::booleans(l.close_to_next.into_iter().map(Some).collect()),
            ),
        ]);
        emit::batch(columns)?
    } else {
        tiers_batch(&l, names)?
    };
    emit::mark_ordered(batch, &["tier", "next_tier"])
}

/// One row per tier, the base tier first.
fn tiers_batch(l: &loyalty_domain::Loyalty, names: &[String]) -> Result<RecordBatch> {
    let n = names.len();
    let (mut customers, mut close, mut points) = (vec![0i64; n], vec![0i64; n], vec![0.0; n]);
    for (i, &t) in l.tier.iter().enumerate() {
        customers[t as usize] += 1;
        close[t as usize] += l.close_to_next[i] as i64;
        points[t as usize] += l.points[i];
    }
    let total = l.tier.len();
    emit::batch(vec![
        ("tier", emit::categorical((0..n as u16).collect(), names)?),
        ("customers", emit::int64(customers.clone())),
        (
            "share",
            emit::float64(
                customers
                    .iter()
                    .map(|&c| (total > 0).then(|| c as f64 / total as f64))
                    .collect(),
            ),
        ),
        (
            "mean_points",
            emit::float64(
                customers
                    .iter()
                    .zip(&points)
                    .map(|(&c, &p)| (c > 0).then(|| p / c as f64))
                    .collect(),
            ),
        ),
        ("close_to_next", emit::int64(close)),
    ])
}
