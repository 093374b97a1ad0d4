//! `crm._core.{tickets,contacts,satisfaction}_partial`, `merge_service_states` and
//! `{tickets,contacts,satisfaction}_from_partial`: the partial states of the service logs,
//! merged, and the tables of a merged state, built by the same code as the in-memory calls.

use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::args::{choice, parse_period, parse_policy};
use super::arrow::{read_stream, to_capsule};
use super::errors::detach;
use super::service::{
    contacts_output, read_scores, satisfaction_output, ticket_groups, tickets_summary_batch,
    ContactColumns, Ranking, TicketColumns,
};
use crate::error::Result;
use crate::partial::service::{
    self as state, ContactCounts, CustomerScores, Cut, OpenTickets, TicketCells,
};
use crate::service::{satisfaction as sat, tickets as ticket};

type Capsule<'py> = PyResult<Bound<'py, PyCapsule>>;
type Partial<'py> = PyResult<(Bound<'py, PyCapsule>, usize)>;

/// The partial state of a ticket log for `output` ("summary": "ticket_cells"; "open":
/// "open_tickets"), cut at `as_of` when given, and the rows dropped by `on_invalid="drop"`.
#[pyfunction]
#[pyo3(signature = (data, *, id, kind, by, opened, closed, period=None, as_of=None, output="summary", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn tickets_partial<'py>(
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
) -> Partial<'py> {
    let summary = choice(py, "output", output, &["summary", "open"])? == 0;
    let period = period.map(|p| parse_period(py, p)).transpose()?;
    let policy = parse_policy(py, on_invalid)?;
    let (schema, batches) = read_stream(py, data)?;
    let group_names = ticket_groups(py, kind, by)?;
    let (batch, dropped) = detach(py, || {
        let columns = TicketColumns {
            id: (!summary).then_some(id.as_str()),
            groups: &group_names,
            opened: &opened,
            closed: &closed,
        };
        let log = columns.read(&schema, &batches, policy)?;
        let cut = Cut {
            max_day: log.times().latest_day(),
            as_of,
        };
        let day = Cut::row_day(as_of);
        let batch = if summary {
            let cells = ticket::cells(&log.groups, &log.times(), period, day);
            TicketCells {
                labels: log.encoded.labels(&cells.groups)?,
                cells,
                period,
                cut,
            }
            .to_batch()?
        } else {
            columns.open_tickets(&log, day, cut)?.to_batch()?
        };
        Ok((batch, log.dropped))
    })?;
    Ok((to_capsule(py, batch)?, dropped))
}

/// The partial state ("contact_counts") of a contact log, and the rows dropped.
#[pyfunction]
#[pyo3(signature = (data, *, customer, department, product, date, period="W", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn contacts_partial<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    department: String,
    product: Option<String>,
    date: String,
    period: &str,
    on_invalid: &str,
) -> Partial<'py> {
    let period = parse_period(py, period)?;
    let policy = parse_policy(py, on_invalid)?;
    let (schema, batches) = read_stream(py, data)?;
    let (batch, dropped) = detach(py, || {
        let columns = ContactColumns {
            customer: &customer,
            department: &department,
            product: product.as_deref(),
        };
        let (log, dropped) = columns.read(&date, &schema, &batches, policy)?;
        let counts = ContactCounts::from_log(&log, &columns.keys(), period)?;
        Ok((counts.to_batch()?, dropped))
    })?;
    Ok((to_capsule(py, batch)?, dropped))
}

/// The partial state ("customer_scores") of a scores log, and the rows dropped.
#[pyfunction]
#[pyo3(signature = (scores, *, customer, score, by, on_invalid="raise"))]
pub fn satisfaction_partial<'py>(
    py: Python<'py>,
    scores: &Bound<'py, PyAny>,
    customer: String,
    score: String,
    by: Vec<String>,
    on_invalid: &str,
) -> Partial<'py> {
    let policy = parse_policy(py, on_invalid)?;
    let (schema, batches) = read_stream(py, scores)?;
    let (batch, dropped) = detach(py, || {
        let log = read_scores(&schema, &batches, &customer, &score, &by, policy)?;
        let (index, codes) = crate::ingest::named::shared_customers(
            &[(log.cols.chunks(&customer), customer.as_str())],
            crate::ingest::keys::SpanPerRow::Half,
        )?;
        let scores = sat::customer_scores(&log.groups, &codes[0], &log.values);
        let key = (customer.as_str(), &index);
        let state = CustomerScores::new(&scores, log.encoded.as_ref(), key, &score)?;
        Ok((state.to_batch()?, log.dropped))
    })?;
    Ok((to_capsule(py, batch)?, dropped))
}

/// The partial state of the union of the parts' rows (parts of one service kind).
#[pyfunction]
pub fn merge_service_states<'py>(py: Python<'py>, parts: Vec<Bound<'py, PyAny>>) -> Capsule<'py> {
    let tables = parts
        .iter()
        .map(|p| read_stream(py, p))
        .collect::<PyResult<Vec<_>>>()?;
    let batch = detach(py, || state::merge_states(&tables))?;
    to_capsule(py, batch)
}

/// The `tickets` table of a merged state: the summary of "ticket_cells", the open list of
/// "open_tickets", at the state's `as_of` or else its latest day.
#[pyfunction]
pub fn tickets_from_partial<'py>(py: Python<'py>, state: &Bound<'py, PyAny>) -> Capsule<'py> {
    let (schema, batches) = read_stream(py, state)?;
    let batch = detach(py, || {
        if crate::partial::kind_of(&schema) == Some(state::OPEN_TICKETS) {
            let open = OpenTickets::from_batches(&schema, &batches)?;
            let day = open.cut.result_day();
            return open.oldest_first(day);
        }
        let state = TicketCells::from_batches(&schema, &batches)?;
        let day = state.cut.result_day();
        let (_, groups) = state::label_codes(&state.labels, state.cells.len())?;
        let groups = groups.ok_or_else(|| {
            crate::error::CrmError::InvalidArgument("a ticket state without its kind column".into())
        })?;
        let by_period = state.period.is_some();
        tickets_summary_batch(&groups, state.cells.summary(day), by_period)
    })?;
    to_capsule(py, batch)
}

/// The `contacts` table of a merged "contact_counts" state.
#[pyfunction]
#[pyo3(signature = (state, *, fatigue_departments=2, output="summary"))]
pub fn contacts_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    fatigue_departments: usize,
    output: &str,
) -> Capsule<'py> {
    let summary = contacts_output(py, output, fatigue_departments)?;
    let (schema, batches) = read_stream(py, state)?;
    let batch = detach(py, || {
        let counts = ContactCounts::from_batches(&schema, &batches)?;
        let names: Vec<String> = counts.columns.iter().map(|c| c.0.clone()).collect();
        let period = counts.period;
        let coded = counts.into_coded()?;
        let columns = ContactColumns {
            customer: &names[0],
            department: &names[1],
            product: names.get(2).map(String::as_str),
        };
        columns.table(&coded, period, fatigue_departments, summary)
    })?;
    to_capsule(py, batch)
}

/// The `satisfaction` table of a merged "customer_scores" state (`customers`: the table
/// `output="profile"` describes the sides with).
#[pyfunction]
#[pyo3(signature = (state, *, share=0.2, customers=None, higher_is_better=true, output="members"))]
pub fn satisfaction_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    share: f64,
    customers: Option<&Bound<'py, PyAny>>,
    higher_is_better: bool,
    output: &str,
) -> Capsule<'py> {
    let members_only = satisfaction_output(py, output, share)?;
    let (schema, batches) = read_stream(py, state)?;
    let table = customers.map(|c| read_stream(py, c)).transpose()?;
    let batch = detach(py, || -> Result<_> {
        let scores = CustomerScores::from_batches(&schema, &batches)?;
        let (score_name, customer) = (scores.score.clone(), scores.key.0.clone());
        let ranking = Ranking {
            customer: &customer,
            score: &score_name,
            share,
            higher_is_better,
            members_only,
        };
        let keys = [scores.key.1.clone()];
        ranking.table(&keys, table.as_ref(), |codes| scores.scores(codes))
    })?;
    to_capsule(py, batch)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for f in [
        wrap_pyfunction!(tickets_partial, m)?,
        wrap_pyfunction!(contacts_partial, m)?,
        wrap_pyfunction!(satisfaction_partial, m)?,
        wrap_pyfunction!(merge_service_states, m)?,
        wrap_pyfunction!(tickets_from_partial, m)?,
        wrap_pyfunction!(contacts_from_partial, m)?,
        wrap_pyfunction!(satisfaction_from_partial, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
