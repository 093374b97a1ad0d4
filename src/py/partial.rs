//! `crm._core.partial_state`, `merge_partial_states`, `rfm_from_partial`: the per-customer
//! state of part of a log as an Arrow table, merged, and turned into the RFM table.

use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::alloc::releasing_freed_memory;
use super::args::{choice, parse_policy};
use super::arrow::{read_stream, to_capsule};
use super::errors::detach;
use super::rfm::Derive;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::error::Result;
use crate::ingest::{ingest, OnInvalid, Spec};
use crate::partial::{self, CustomerDays, CustomerStates};
use crate::summary::summarize;

/// The state of a log read slice by slice: each slice is summarized and merged into the
/// running state at once, which stays in Rust between slices (no Arrow round trip).
#[pyclass(module = "crm._core")]
pub struct StateFold {
    spec: Spec,
    policy: OnInvalid,
    state: Option<CustomerStates>,
    dropped: usize,
}

#[pymethods]
impl StateFold {
    #[new]
    #[pyo3(signature = (*, customer, date, amount, order=None, on_invalid="raise"))]
    fn new(
        py: Python<'_>,
        customer: String,
        date: String,
        amount: String,
        order: Option<String>,
        on_invalid: &str,
    ) -> PyResult<Self> {
        Ok(StateFold {
            spec: Spec {
                customer,
                date,
                amount,
                // Distinct orders are kept per customer code.
                need_codes: order.is_some(),
                order,
                ..Spec::default()
            },
            policy: parse_policy(py, on_invalid)?,
            state: None,
            dropped: 0,
        })
    }

    /// Fold the rows of a table into the state.
    fn add(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let (schema, batches) = read_stream(py, data)?;
        let (spec, policy, before) = (&self.spec, self.policy, self.state.take());
        let (state, dropped) = detach(py, || {
            releasing_freed_memory(|| {
                let (step, dropped) = summarize_to_state(spec, policy, &schema, &batches)?;
                drop(batches);
                let state = match before {
                    None => step,
                    Some(before) => partial::merge(vec![before, step])?,
                };
                Ok((state, dropped))
            })
        })?;
        self.state = Some(state);
        self.dropped += dropped;
        Ok(())
    }

    /// Rows dropped so far by `on_invalid="drop"`.
    #[getter]
    fn dropped(&self) -> usize {
        self.dropped
    }

    /// The state folded so far, as a capsule (None before the first slice).
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyCapsule>>> {
        match &self.state {
            None => Ok(None),
            Some(state) => {
                let batch = detach(py, || state.to_batch())?;
                Ok(Some(to_capsule(py, batch)?))
            }
        }
    }
}

fn summarize_to_state(
    spec: &Spec,
    policy: OnInvalid,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(CustomerStates, usize)> {
    let tx = ingest(schema, batches, spec, policy)?;
    let mut summary = summarize(&tx)?;
    let codes = summary.present_codes();
    let keys = match summary.keys.take() {
        Some(keys) => keys,
        None => tx.customers.keys(&codes)?,
    };
    let orders = partial::orders::of_transactions(&tx, &codes)?;
    let state = CustomerStates::from_summary(&spec.customer, summary, &codes, keys, orders);
    Ok((state, tx.dropped))
}

/// The partial state of a transaction log, as a capsule, and the number of rows dropped by
/// `on_invalid="drop"`. `kind`: "customer_states" (one row per customer, for `rfm`) or
/// "customer_days" (one row per customer, group and day, for the functions of the
/// histories, which may take `by` groups, `extra` columns summed over all rows and
/// `purchase_sums` columns summed over the purchase rows).
#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, order=None, by=vec![], extra=vec![], purchase_sums=vec![], on_invalid="raise", kind="customer_states"))]
#[allow(clippy::too_many_arguments)]
pub fn partial_state<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    order: Option<String>,
    by: Vec<String>,
    extra: Vec<String>,
    purchase_sums: Vec<String>,
    on_invalid: &str,
    kind: &str,
) -> PyResult<(Bound<'py, PyCapsule>, usize)> {
    let policy = parse_policy(py, on_invalid)?;
    let days = choice(
        py,
        "kind",
        kind,
        &[partial::KIND, partial::customer_days::KIND],
    )? == 1;
    let carries_columns = !by.is_empty() || !extra.is_empty() || !purchase_sums.is_empty();
    if carries_columns && !days {
        return Err(super::args::bad_argument(
            py,
            "by, extra and purchase_sums columns are for the per-day partial state \
             (kind='customer_days')"
                .to_string(),
        ));
    }
    let n_purchase_sums = purchase_sums.len();
    let spec = Spec {
        customer,
        date,
        amount,
        need_codes: days || order.is_some(),
        order,
        by,
        // Ingested alike; the last ones are summed over purchase rows only.
        extra: extra.into_iter().chain(purchase_sums).collect(),
    };
    let (schema, batches) = read_stream(py, data)?;
    let (batch, dropped) = detach(py, || {
        if days {
            let tx = ingest(&schema, &batches, &spec, policy)?;
            let state = CustomerDays::from_transactions(&spec, &tx, n_purchase_sums)?;
            return Ok((state.to_batch()?, tx.dropped));
        }
        let (state, dropped) = summarize_to_state(&spec, policy, &schema, &batches)?;
        Ok((state.to_batch()?, dropped))
    })?;
    Ok((to_capsule(py, batch)?, dropped))
}

fn read_state(py: Python<'_>, table: &Bound<'_, PyAny>) -> PyResult<CustomerStates> {
    let (schema, batches) = read_stream(py, table)?;
    detach(py, || CustomerStates::from_batches(&schema, &batches))
}

/// A "customer_days" partial state read from an Arrow table.
pub(super) fn read_days(py: Python<'_>, table: &Bound<'_, PyAny>) -> PyResult<CustomerDays> {
    let (schema, batches) = read_stream(py, table)?;
    detach(py, || CustomerDays::from_batches(&schema, &batches))
}

/// The partial state of the union of the parts' rows (parts of one kind, read from their
/// schema marker).
#[pyfunction]
pub fn merge_partial_states<'py>(
    py: Python<'py>,
    parts: Vec<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let tables = parts
        .iter()
        .map(|p| read_stream(py, p))
        .collect::<PyResult<Vec<_>>>()?;
    let days = tables
        .first()
        .is_some_and(|(schema, _)| partial::kind_of(schema) == Some(partial::customer_days::KIND));
    let batch = detach(py, || {
        if days {
            let parts = tables
                .iter()
                .map(|(schema, batches)| CustomerDays::from_batches(schema, batches))
                .collect::<Result<Vec<_>>>()?;
            return CustomerDays::merge(parts)?.to_batch();
        }
        let parts = tables
            .iter()
            .map(|(schema, batches)| CustomerStates::read(schema, batches))
            .collect::<Result<Vec<_>>>()?;
        partial::merge(parts)?.to_batch()
    })?;
    to_capsule(py, batch)
}

/// The RFM table of a (merged) partial state, exactly as `rfm` gives it for the whole log.
#[pyfunction]
#[pyo3(signature = (state, *, as_of=None, bins=5, monetary="sum", segments=None, labels="en"))]
pub fn rfm_from_partial<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    as_of: Option<i32>,
    bins: u32,
    monetary: &str,
    segments: Option<&Bound<'py, PyAny>>,
    labels: &str,
) -> PyResult<Bound<'py, PyCapsule>> {
    let derive = Derive::parse(py, as_of, bins, monetary, segments, labels)?;
    let state = read_state(py, state)?;
    let batch = detach(py, || {
        let key_name = state.key_name.clone();
        let keys = state.keys.clone();
        let (summary, codes) = state.into_summary()?;
        derive.table(&key_name, summary, codes, keys)
    })?;
    to_capsule(py, batch)
}
