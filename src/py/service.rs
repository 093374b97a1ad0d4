//! `crm._core.tickets`, `contacts` and `satisfaction`: read the named columns of a service
//! log, derive, emit.

use arrow_array::{cast::AsArray, Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use pyo3::prelude::*;

use super::args::{bad_argument, choice, parse_period, parse_policy};
use super::arrow::{read_stream, to_capsule};
use super::errors::detach;
use super::retention::Output;
use crate::emit;
use crate::error::{CrmError, Result};
use crate::ingest::instants::instants;
use crate::ingest::keys::SpanPerRow;
use crate::ingest::named::{shared_customers, Columns};
use crate::ingest::{keys, numbers, Groups, OnInvalid};
use crate::periods::{Calendar, Period};
use crate::service::{contacts as contact, satisfaction as sat, tickets as ticket};

fn named(columns: Vec<(String, ArrayRef)>) -> Result<RecordBatch> {
    emit::batch(
        columns
            .iter()
            .map(|(n, a)| (n.as_str(), a.clone()))
            .collect(),
    )
}

/// The `by` labels of per-row group codes (none when there are no `by` columns).
fn labels(groups: Option<&Groups>, codes: &[u32]) -> Result<Vec<(String, ArrayRef)>> {
    groups.map_or(Ok(vec![]), |g| g.labels(codes))
}

#[pyfunction]
#[pyo3(signature = (data, *, id, kind, by, opened, closed, period=None, as_of=None, output="summary", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn tickets<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    id: String,
    kind: String,
    by: Vec<String>,
    opened: String,
    closed: String,
    period: Option<&str>,
    as_of: Option<i32>,
    output: &str,
    on_invalid: &str,
) -> Output<'py> {
    let summary = choice(py, "output", output, &["summary", "open"])? == 0;
    let period = period.map(|p| parse_period(py, p)).transpose()?;
    let policy = parse_policy(py, on_invalid)?;
    let (schema, batches) = read_stream(py, data)?;
    if by.contains(&kind) {
        return Err(bad_argument(
            py,
            format!("by must not repeat the kind column '{kind}'"),
        ));
    }
    let group_names: Vec<String> = std::iter::once(kind).chain(by).collect();
    let batch = detach(py, || {
        let mut names: Vec<&str> = group_names.iter().map(String::as_str).collect();
        names.push(&opened);
        if !summary {
            names.push(&id);
        }
        let required = names.len();
        names.push(&closed);
        let read = crate::trace::phase("tickets: read");
        let mut cols = Columns::read(&schema, &batches, &names)?;
        let dropped = cols.check_invalid(required, &[], policy)?;
        let (groups, encoded) = cols.groups(&group_names)?;
        let (opened_at, closed_at) = (
            instants(cols.chunks(&opened), &opened)?,
            instants(cols.chunks(&closed), &closed)?,
        );
        let times = ticket::Times {
            opened: &opened_at,
            closed: &closed_at,
        };
        times.check_order(&opened, &closed)?;
        drop(read);
        let _derive = crate::trace::phase("tickets: derive, emit");
        let as_of = as_of.or(times.latest_day()).unwrap_or(0);
        if !summary {
            let rows = ticket::open_rows(&times, as_of);
            // Ranks of the open tickets' ids break ties of opening time and group.
            let ids = cols.take(&id, &rows)?;
            let ranks = if ids.is_empty() {
                vec![]
            } else {
                keys::encode(&[ids], &id)?.0.concat()
            };
            let (rows, ages) = ticket::oldest_first(&rows, &groups, &times, as_of, &ranks);
            let mut columns = vec![(id.clone(), cols.take(&id, &rows)?)];
            for name in group_names.iter().chain([&opened]) {
                columns.push((name.clone(), cols.take(name, &rows)?));
            }
            columns.push((
                "open_days".into(),
                emit::int32(ages.into_iter().map(Some).collect()),
            ));
            return Ok((named(columns)?, dropped));
        }
        let cells = ticket::summary(&groups, &times, period, as_of);
        let codes: Vec<u32> = cells.iter().map(|c| c.group).collect();
        let mut columns = encoded.labels(&codes)?;
        if period.is_some() {
            let starts = cells.iter().map(|c| c.period).collect();
            columns.push(("period".into(), emit::dates(starts)));
        }
        let count = |f: fn(&ticket::Cell) -> i64| emit::int64(cells.iter().map(f).collect());
        let hours =
            |f: fn(&ticket::Cell) -> Option<f64>| emit::float64(cells.iter().map(f).collect());
        columns.extend([
            ("tickets".into(), count(|c| c.tickets)),
            ("resolved".into(), count(|c| c.resolved)),
            (
                "share_resolved".into(),
                emit::floats(cells.iter().map(ticket::Cell::share_resolved).collect()),
            ),
            ("open".into(), count(|c| c.open)),
            ("median_hours_to_resolve".into(), hours(|c| c.median_hours)),
            ("p90_hours_to_resolve".into(), hours(|c| c.p90_hours)),
            ("mean_hours_to_resolve".into(), hours(|c| c.mean_hours)),
            (
                "oldest_open_days".into(),
                emit::int32(cells.iter().map(|c| c.oldest_open_days).collect()),
            ),
        ]);
        Ok((named(columns)?, dropped))
    })?;
    Ok((to_capsule(py, batch.0)?, batch.1))
}

#[pyfunction]
#[pyo3(signature = (data, *, customer, department, product, date, period="W", fatigue_departments=2, output="summary", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn contacts<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    department: String,
    product: Option<String>,
    date: String,
    period: &str,
    fatigue_departments: usize,
    output: &str,
    on_invalid: &str,
) -> Output<'py> {
    let summary = choice(py, "output", output, &["summary", "fatigue"])? == 0;
    let period: Period = parse_period(py, period)?;
    if fatigue_departments < 1 {
        return Err(bad_argument(
            py,
            "fatigue_departments must be at least 1".into(),
        ));
    }
    let policy = parse_policy(py, on_invalid)?;
    let (schema, batches) = read_stream(py, data)?;
    let batch = detach(py, || {
        let mut names = vec![customer.as_str(), department.as_str(), date.as_str()];
        names.extend(product.as_deref());
        let mut cols = Columns::read(&schema, &batches, &names)?;
        let dropped = cols.check_invalid(names.len(), &[], policy)?;
        let (index, mut customer_codes) =
            shared_customers(&[(cols.chunks(&customer), &customer)], SpanPerRow::Half)?;
        let (departments, department_names) = cols.codes(&department)?;
        let (products, product_names) = match &product {
            Some(name) => {
                let (codes, names) = cols.codes(name)?;
                (codes, Some(names))
            }
            None => (vec![0; cols.rows()], None),
        };
        let days = cols.days(&date)?;
        let (first, last) = (days.iter().min().copied(), days.iter().max().copied());
        let calendar = Calendar::new(period, first.unwrap_or(0), last.unwrap_or(0));
        let log = contact::Contacts {
            customers: &customer_codes.remove(0),
            departments: &departments,
            products: &products,
            n_products: product_names.as_ref().map_or(1, |p| p.len().max(1) as u32),
            days: &days,
        };
        let take = |values: &ArrayRef, codes: Vec<u32>| {
            arrow_select::take::take(
                values.as_ref(),
                &arrow_array::UInt32Array::from(codes),
                None,
            )
        };
        let starts = |periods: Vec<usize>| {
            emit::dates(
                periods
                    .into_iter()
                    .map(|p| Some(calendar.start(p)))
                    .collect(),
            )
        };
        if summary {
            let cells = contact::summary(&log, &calendar);
            let mut columns = vec![(
                department.clone(),
                take(
                    &department_names,
                    cells.iter().map(|c| c.department).collect(),
                )?,
            )];
            if let (Some(name), Some(values)) = (&product, &product_names) {
                columns.push((
                    name.clone(),
                    take(values, cells.iter().map(|c| c.product).collect())?,
                ));
            }
            columns.extend([
                (
                    "period".into(),
                    starts(cells.iter().map(|c| c.period).collect()),
                ),
                (
                    "contacts".into(),
                    emit::int64(cells.iter().map(|c| c.contacts).collect()),
                ),
                (
                    "customers".into(),
                    emit::int64(cells.iter().map(|c| c.customers).collect()),
                ),
            ]);
            return Ok((named(columns)?, dropped));
        }
        let tired = contact::fatigue(&log, &calendar, index.n_codes, fatigue_departments);
        let text = arrow_cast::cast(&department_names, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let joined = tired
            .iter()
            .map(|f| {
                f.departments
                    .iter()
                    .map(|&d| text.value(d as usize))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect();
        let batch = named(vec![
            (
                customer.clone(),
                index.keys(&tired.iter().map(|f| f.customer).collect::<Vec<_>>())?,
            ),
            (
                "period".into(),
                starts(tired.iter().map(|f| f.period).collect()),
            ),
            (
                "departments".into(),
                emit::int64(tired.iter().map(|f| f.departments.len() as i64).collect()),
            ),
            (
                "contacts".into(),
                emit::int64(tired.iter().map(|f| f.contacts).collect()),
            ),
            ("department_names".into(), emit::strings(joined)),
        ])?;
        Ok((batch, dropped))
    })?;
    Ok((to_capsule(py, batch.0)?, batch.1))
}

#[pyfunction]
#[pyo3(signature = (scores, *, customer, score, by, share=0.2, customers=None, higher_is_better=true, output="members", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn satisfaction<'py>(
    py: Python<'py>,
    scores: &Bound<'py, PyAny>,
    customer: String,
    score: String,
    by: Vec<String>,
    share: f64,
    customers: Option<&Bound<'py, PyAny>>,
    higher_is_better: bool,
    output: &str,
    on_invalid: &str,
) -> Output<'py> {
    let members_only = choice(py, "output", output, &["members", "profile"])? == 0;
    if !(share > 0.0 && share <= 0.5) {
        return Err(bad_argument(
            py,
            format!("share must be in (0, 0.5], got {share}"),
        ));
    }
    let policy = parse_policy(py, on_invalid)?;
    let (schema, batches) = read_stream(py, scores)?;
    let table = customers.map(|c| read_stream(py, c)).transpose()?;
    let batch = detach(py, || {
        let mut names = vec![customer.as_str(), score.as_str()];
        names.extend(by.iter().map(String::as_str));
        let mut cols = Columns::read(&schema, &batches, &names)?;
        let dropped = cols.check_invalid(names.len(), &[&score], policy)?;
        let values = cols.floats(&score)?;
        let (groups, encoded) = if by.is_empty() {
            (vec![0; cols.rows()], None)
        } else {
            let (codes, groups) = cols.groups(&by)?;
            (codes, Some(groups))
        };
        let profiles = match &table {
            Some((schema, batches)) => {
                let mut names = vec![customer.as_str()];
                names.extend(
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .filter(|n| *n != customer),
                );
                let mut table = Columns::read(schema, batches, &names)?;
                table.check_invalid(1, &[], OnInvalid::Raise)?;
                Some((table, names))
            }
            None => None,
        };
        let mut logs = vec![(cols.chunks(&customer), customer.as_str())];
        if let Some((table, _)) = &profiles {
            logs.push((table.chunks(&customer), customer.as_str()));
        }
        let (index, codes) = shared_customers(&logs, SpanPerRow::Half)?;
        let members = sat::members(&groups, &codes[0], &values, share, higher_is_better);
        let side_names = |sides: Vec<sat::Side>| {
            emit::strings(
                sides
                    .into_iter()
                    .map(|s| if s == sat::Side::Top { "top" } else { "bottom" }.to_string())
                    .collect(),
            )
        };
        if members_only {
            let mut columns = labels(
                encoded.as_ref(),
                &members.iter().map(|m| m.group).collect::<Vec<_>>(),
            )?;
            columns.extend([
                (
                    customer.clone(),
                    index.keys(&members.iter().map(|m| m.customer).collect::<Vec<_>>())?,
                ),
                (
                    score.clone(),
                    emit::floats(members.iter().map(|m| m.score).collect()),
                ),
                (
                    "side".into(),
                    side_names(members.iter().map(|m| m.side).collect()),
                ),
                (
                    "rank".into(),
                    emit::int64(members.iter().map(|m| m.rank as i64).collect()),
                ),
            ]);
            return Ok((named(columns)?, dropped));
        }
        let table = profiles
            .as_ref()
            .map(|(table, names)| (table, names.as_slice(), codes[1].as_slice()));
        let described = Described::read(table, &index)?;
        let rows = sat::profile(&members, &described.profiles());
        let mut columns = labels(
            encoded.as_ref(),
            &rows.iter().map(|p| p.group).collect::<Vec<_>>(),
        )?;
        columns.extend([
            (
                "side".into(),
                side_names(rows.iter().map(|p| p.side).collect()),
            ),
            (
                "customers".into(),
                emit::int64(rows.iter().map(|p| p.customers).collect()),
            ),
            (
                "mean_score".into(),
                emit::floats(rows.iter().map(|p| p.mean_score).collect()),
            ),
            (
                "missing_profile".into(),
                emit::int64(rows.iter().map(|p| p.missing).collect()),
            ),
        ]);
        for (i, name) in described.numeric_names.iter().enumerate() {
            columns.push((
                format!("mean_{name}"),
                emit::float64(rows.iter().map(|p| p.means[i]).collect()),
            ));
        }
        for (i, (name, values)) in described.categorical_names.iter().enumerate() {
            let modes: Vec<Option<(u32, f64)>> = rows.iter().map(|p| p.modes[i]).collect();
            let index = arrow_array::UInt32Array::from(
                modes.iter().map(|m| m.map(|m| m.0)).collect::<Vec<_>>(),
            );
            columns.push((
                format!("{name}_mode"),
                arrow_select::take::take(values.as_ref(), &index, None)?,
            ));
            columns.push((
                format!("{name}_mode_share"),
                emit::float64(modes.iter().map(|m| m.map(|m| m.1)).collect()),
            ));
        }
        Ok((named(columns)?, dropped))
    })?;
    Ok((to_capsule(py, batch.0)?, batch.1))
}

/// The customers table as `profile` reads it: each customer code's row, numeric (and
/// boolean) columns as floats, string and categorical columns as value codes; other types
/// (dates, lists) are left out.
#[derive(Default)]
struct Described {
    row_of: Vec<Option<u32>>,
    numeric_names: Vec<String>,
    numeric: Vec<Vec<Option<f64>>>,
    categorical_names: Vec<(String, ArrayRef)>,
    categorical: Vec<Vec<Option<u32>>>,
}

impl Described {
    /// `table` (its columns, key first) with the customer code of each of its rows; none:
    /// every customer is missing.
    fn read(
        table: Option<(&Columns, &[&str], &[u32])>,
        index: &keys::KeyIndex,
    ) -> Result<Described> {
        let mut out = Described {
            row_of: vec![None; index.n_codes],
            ..Default::default()
        };
        let Some((table, names, codes)) = table else {
            return Ok(out);
        };
        for (row, &code) in codes.iter().enumerate() {
            if out.row_of[code as usize].replace(row as u32).is_some() {
                let key = index.keys(&[code])?;
                return Err(CrmError::InvalidData(format!(
                    "customers has more than one row for {} {}",
                    names[0],
                    arrow_cast::display::array_value_to_string(&key, 0)?
                )));
            }
        }
        for &name in &names[1..] {
            let chunks = table.chunks(name);
            let dtype = table.data_type(name);
            if dtype.is_numeric() || *dtype == DataType::Boolean {
                let mut values = Vec::with_capacity(table.rows());
                for chunk in chunks {
                    // Booleans average to the share true.
                    values.extend(numbers(
                        &arrow_cast::cast(chunk, &DataType::Float64)?,
                        name,
                    )?);
                }
                out.numeric_names.push(name.to_string());
                out.numeric.push(values);
            } else if is_categorical(dtype) {
                let (codes, values) = table.codes(name)?;
                let valid = chunks
                    .iter()
                    .flat_map(|c| (0..c.len()).map(move |i| c.is_valid(i)));
                out.categorical.push(
                    codes
                        .into_iter()
                        .zip(valid)
                        .map(|(c, ok)| ok.then_some(c))
                        .collect(),
                );
                out.categorical_names.push((name.to_string(), values));
            }
        }
        Ok(out)
    }

    fn profiles(&self) -> sat::Profiles<'_> {
        sat::Profiles {
            row_of: &self.row_of,
            numeric: &self.numeric,
            categorical: &self.categorical,
        }
    }
}

fn is_categorical(dtype: &DataType) -> bool {
    use DataType::*;
    matches!(dtype, Utf8 | LargeUtf8 | Utf8View | Dictionary(_, _))
}
