//! `crm._core.tickets`, `contacts` and `satisfaction`: read the named columns of a service
//! log, derive, emit.

use arrow_array::{cast::AsArray, Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use pyo3::prelude::*;

use super::args::{bad_argument, choice, parse_period, parse_policy};
use super::arrow::{read_stream, to_capsule};
use super::errors::detach;
use super::retention::Output;
use crate::emit;
use crate::error::{CrmError, Result};
use crate::ingest::instants::{instants, Instants};
use crate::ingest::keys::SpanPerRow;
use crate::ingest::named::{shared_customers, Columns};
use crate::ingest::{keys, numbers, Groups, OnInvalid};
use crate::partial::service::{CodedContacts, Cut, OpenTickets};
use crate::periods::Period;
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

/// A ticket log read: its columns, each row's group (kind × `by` values) and times.
pub(super) struct TicketLog {
    pub cols: Columns,
    pub groups: Vec<u32>,
    pub encoded: Groups,
    pub opened: Instants,
    pub closed: Instants,
    pub dropped: usize,
}

/// The columns of a ticket log: the kind and `by` columns, the times, the id (for the open
/// list).
pub(super) struct TicketColumns<'a> {
    pub id: Option<&'a str>,
    pub groups: &'a [String],
    pub opened: &'a str,
    pub closed: &'a str,
}

impl TicketColumns<'_> {
    pub fn read(
        &self,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        policy: OnInvalid,
    ) -> Result<TicketLog> {
        let mut names: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        names.push(self.opened);
        names.extend(self.id);
        let required = names.len();
        names.push(self.closed);
        let mut cols = Columns::read(schema, batches, &names)?;
        let dropped = cols.check_invalid(required, &[], policy)?;
        let (groups, encoded) = cols.groups(self.groups)?;
        let (opened, closed) = (
            instants(cols.chunks(self.opened), self.opened)?,
            instants(cols.chunks(self.closed), self.closed)?,
        );
        let log = TicketLog {
            cols,
            groups,
            encoded,
            opened,
            closed,
            dropped,
        };
        log.times().check_order(self.opened, self.closed)?;
        Ok(log)
    }

    /// The open tickets at `as_of` (rows opened by then and not closed by then).
    pub fn open_tickets(&self, log: &TicketLog, day: i32, cut: Cut) -> Result<OpenTickets> {
        let rows = ticket::open_rows(&log.times(), day);
        let id = self.id.expect("the open list reads the id column");
        let names = std::iter::once(id)
            .chain(self.groups.iter().map(String::as_str))
            .chain([self.opened]);
        let columns = names
            .map(|name| Ok((name.to_string(), log.cols.take(name, &rows)?)))
            .collect::<Result<_>>()?;
        let pick = |values: &[i64]| rows.iter().map(|&r| values[r as usize]).collect();
        Ok(OpenTickets {
            columns,
            opened: Instants {
                micros: pick(&log.opened.micros),
                days: rows.iter().map(|&r| log.opened.days[r as usize]).collect(),
                valid: None,
            },
            cut,
        })
    }
}

impl TicketLog {
    pub fn times(&self) -> ticket::Times<'_> {
        ticket::Times {
            opened: &self.opened,
            closed: &self.closed,
        }
    }
}

/// The summary table: per cell its kind and `by` values (from `groups`), its period's first
/// day (when by period) and its statistics.
pub(super) fn tickets_summary_batch(
    groups: &Groups,
    cells: Vec<ticket::Cell>,
    by_period: bool,
) -> Result<RecordBatch> {
    let codes: Vec<u32> = cells.iter().map(|c| c.group).collect();
    let mut columns = groups.labels(&codes)?;
    if by_period {
        let starts = cells.iter().map(|c| c.period).collect();
        columns.push(("period".into(), emit::dates(starts)));
    }
    let count = |f: fn(&ticket::Cell) -> i64| emit::int64(cells.iter().map(f).collect());
    let hours = |f: fn(&ticket::Cell) -> Option<f64>| emit::float64(cells.iter().map(f).collect());
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
    named(columns)
}

/// The kind column first, then the `by` columns (which must not repeat it).
pub(super) fn ticket_groups(
    py: Python<'_>,
    kind: String,
    by: Vec<String>,
) -> PyResult<Vec<String>> {
    if by.contains(&kind) {
        return Err(bad_argument(
            py,
            format!("by must not repeat the kind column '{kind}'"),
        ));
    }
    Ok(std::iter::once(kind).chain(by).collect())
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
    let group_names = ticket_groups(py, kind, by)?;
    let batch = detach(py, || {
        let columns = TicketColumns {
            id: (!summary).then_some(id.as_str()),
            groups: &group_names,
            opened: &opened,
            closed: &closed,
        };
        let read = crate::trace::phase("tickets: read");
        let log = columns.read(&schema, &batches, policy)?;
        drop(read);
        let _derive = crate::trace::phase("tickets: derive, emit");
        let as_of = as_of.or(log.times().latest_day()).unwrap_or(0);
        if !summary {
            let open = columns.open_tickets(&log, as_of, Cut::default())?;
            return Ok((open.oldest_first(as_of)?, log.dropped));
        }
        let cells = ticket::summary(&log.groups, &log.times(), period, as_of);
        Ok((
            tickets_summary_batch(&log.encoded, cells, period.is_some())?,
            log.dropped,
        ))
    })?;
    Ok((to_capsule(py, batch.0)?, batch.1))
}

/// The columns of a contact log besides its date: those the tables name.
pub(super) struct ContactColumns<'a> {
    pub customer: &'a str,
    pub department: &'a str,
    pub product: Option<&'a str>,
}

impl ContactColumns<'_> {
    /// The customer, department and (when given) product columns.
    pub fn keys(&self) -> Vec<&str> {
        let mut names = vec![self.customer, self.department];
        names.extend(self.product);
        names
    }

    /// The log in codes (days from the `date` column), and the rows dropped by
    /// `on_invalid="drop"`.
    pub fn read(
        &self,
        date: &str,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        policy: OnInvalid,
    ) -> Result<(CodedContacts, usize)> {
        let mut names = self.keys();
        names.push(date);
        let mut cols = Columns::read(schema, batches, &names)?;
        let dropped = cols.check_invalid(names.len(), &[], policy)?;
        let (index, mut customers) = shared_customers(
            &[(cols.chunks(self.customer), self.customer)],
            SpanPerRow::Half,
        )?;
        let (departments, department_names) = cols.codes(self.department)?;
        let (products, product_names) = match self.product {
            Some(name) => {
                let (codes, names) = cols.codes(name)?;
                (codes, Some(names))
            }
            None => (vec![0; cols.rows()], None),
        };
        let log = CodedContacts {
            index,
            customers: customers.remove(0),
            departments,
            department_names,
            products,
            product_names,
            days: cols.days(date)?,
            contacts: None,
        };
        Ok((log, dropped))
    }

    /// The summary (`summary`) or the fatigue table of a coded log.
    pub fn table(
        &self,
        coded: &CodedContacts,
        period: Period,
        fatigue_departments: usize,
        summary: bool,
    ) -> Result<RecordBatch> {
        let calendar = coded.calendar(period);
        let log = coded.log();
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
                self.department.to_string(),
                take(
                    &coded.department_names,
                    cells.iter().map(|c| c.department).collect(),
                )?,
            )];
            if let (Some(name), Some(values)) = (self.product, &coded.product_names) {
                columns.push((
                    name.to_string(),
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
            return named(columns);
        }
        let n_customers = coded.index.n_codes;
        let tired = contact::fatigue(&log, &calendar, n_customers, fatigue_departments);
        let text = arrow_cast::cast(&coded.department_names, &DataType::Utf8)?;
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
        named(vec![
            (
                self.customer.to_string(),
                coded
                    .index
                    .keys(&tired.iter().map(|f| f.customer).collect::<Vec<_>>())?,
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
        ])
    }
}

/// `output` ("summary" or "fatigue") as whether it is the summary, and a checked
/// `fatigue_departments`.
pub(super) fn contacts_output(
    py: Python<'_>,
    output: &str,
    fatigue_departments: usize,
) -> PyResult<bool> {
    let summary = choice(py, "output", output, &["summary", "fatigue"])? == 0;
    if fatigue_departments < 1 {
        return Err(bad_argument(
            py,
            "fatigue_departments must be at least 1".into(),
        ));
    }
    Ok(summary)
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
    let summary = contacts_output(py, output, fatigue_departments)?;
    let period: Period = parse_period(py, period)?;
    let policy = parse_policy(py, on_invalid)?;
    let (schema, batches) = read_stream(py, data)?;
    let batch = detach(py, || {
        let columns = ContactColumns {
            customer: &customer,
            department: &department,
            product: product.as_deref(),
        };
        let (log, dropped) = columns.read(&date, &schema, &batches, policy)?;
        let table = columns.table(&log, period, fatigue_departments, summary)?;
        Ok((table, dropped))
    })?;
    Ok((to_capsule(py, batch.0)?, batch.1))
}

/// What `satisfaction` gives besides the scores: the options of its table.
pub(super) struct Ranking<'a> {
    pub customer: &'a str,
    pub score: &'a str,
    pub share: f64,
    pub higher_is_better: bool,
    pub members_only: bool,
}

/// `output` ("members" or "profile") as whether it is the members, and a checked `share`.
pub(super) fn satisfaction_output(py: Python<'_>, output: &str, share: f64) -> PyResult<bool> {
    let members_only = choice(py, "output", output, &["members", "profile"])? == 0;
    if !(share > 0.0 && share <= 0.5) {
        return Err(bad_argument(
            py,
            format!("share must be in (0, 0.5], got {share}"),
        ));
    }
    Ok(members_only)
}

impl Ranking<'_> {
    /// The members or profile table. `keys`: the customer key column of the scores (per row
    /// or per state entry); `table`: the customers table; `scores`: the customers' scores per
    /// group (sorted by group then customer) and the groups, from the customer code of each
    /// of `keys`' rows.
    pub fn table(
        &self,
        keys: &[ArrayRef],
        table: Option<&(SchemaRef, Vec<RecordBatch>)>,
        scores: impl FnOnce(&[u32]) -> Result<(Vec<sat::CustomerScore>, Option<Groups>)>,
    ) -> Result<RecordBatch> {
        let customer = self.customer;
        let profiles = match table {
            Some((schema, batches)) => {
                let mut names = vec![customer];
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
        let mut logs = vec![(keys, customer)];
        if let Some((table, _)) = &profiles {
            logs.push((table.chunks(customer), customer));
        }
        let (index, codes) = shared_customers(&logs, SpanPerRow::Half)?;
        let (scores, encoded) = scores(&codes[0])?;
        let members = sat::ranked(&scores, self.share, self.higher_is_better);
        drop(scores);
        let side_names = |sides: Vec<sat::Side>| {
            emit::strings(
                sides
                    .into_iter()
                    .map(|s| if s == sat::Side::Top { "top" } else { "bottom" }.to_string())
                    .collect(),
            )
        };
        if self.members_only {
            let mut columns = labels(
                encoded.as_ref(),
                &members.iter().map(|m| m.group).collect::<Vec<_>>(),
            )?;
            columns.extend([
                (
                    customer.to_string(),
                    index.keys(&members.iter().map(|m| m.customer).collect::<Vec<_>>())?,
                ),
                (
                    self.score.to_string(),
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
            return named(columns);
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
        named(columns)
    }
}

/// A scores log read: its columns, each row's score and group (all 0 without `by`).
pub(super) struct ScoreLog {
    pub cols: Columns,
    pub values: Vec<f64>,
    pub groups: Vec<u32>,
    pub encoded: Option<Groups>,
    pub dropped: usize,
}

pub(super) fn read_scores(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    customer: &str,
    score: &str,
    by: &[String],
    policy: OnInvalid,
) -> Result<ScoreLog> {
    let mut names = vec![customer, score];
    names.extend(by.iter().map(String::as_str));
    let mut cols = Columns::read(schema, batches, &names)?;
    let dropped = cols.check_invalid(names.len(), &[score], policy)?;
    let values = cols.floats(score)?;
    let (groups, encoded) = if by.is_empty() {
        (vec![0; cols.rows()], None)
    } else {
        let (codes, groups) = cols.groups(by)?;
        (codes, Some(groups))
    };
    Ok(ScoreLog {
        cols,
        values,
        groups,
        encoded,
        dropped,
    })
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
    let members_only = satisfaction_output(py, output, share)?;
    let policy = parse_policy(py, on_invalid)?;
    let (schema, batches) = read_stream(py, scores)?;
    let table = customers.map(|c| read_stream(py, c)).transpose()?;
    let batch = detach(py, || {
        let ranking = Ranking {
            customer: &customer,
            score: &score,
            share,
            higher_is_better,
            members_only,
        };
        let log = read_scores(&schema, &batches, &customer, &score, &by, policy)?;
        let ScoreLog {
            cols,
            values,
            groups,
            encoded,
            dropped,
        } = log;
        let out = ranking.table(cols.chunks(&customer), table.as_ref(), |codes| {
            Ok((sat::customer_scores(&groups, codes, &values), encoded))
        })?;
        Ok((out, dropped))
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
