//! `crm._core.rfm` and `crm._core.segment`.

use arrow_array::{ArrayRef, RecordBatch};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyString};

use super::args::{bad_argument, parse_labels, parse_policy};
use super::arrow::{read_stream, to_capsule};
use super::errors::detach;
use crate::emit;
use crate::error::CrmError;
use crate::ingest::{ingest, Spec};
use crate::rfm::{Monetary, RfmOptions, Scheme};
use crate::segments::{Labels, RawRfm, Rule};
use crate::summary::{summarize, Summary};
use crate::trace;

type RuleTuple = (String, (u8, u8), (u8, u8), (u8, u8));

fn parse_scheme(py: Python<'_>, scheme: &Bound<'_, PyAny>) -> PyResult<Scheme> {
    if let Ok(name) = scheme.cast::<PyString>() {
        return match name.to_str()? {
            "rfm11" => Ok(Scheme::Rfm11),
            "value8" => Ok(Scheme::Value8),
            other => Err(bad_argument(
                py,
                format!(
                    "segments must be 'rfm11', 'value8', None or a list of rules, got '{other}'"
                ),
            )),
        };
    }
    let rules: Vec<RuleTuple> = scheme.extract().map_err(|_| {
        bad_argument(
            py,
            "custom segments are an ordered list of (name, (r_lo, r_hi), (f_lo, f_hi), (m_lo, m_hi))".to_string(),
        )
    })?;
    Ok(Scheme::Custom(
        rules
            .into_iter()
            .map(|(name, r, f, m)| Rule { name, r, f, m })
            .collect(),
    ))
}

/// How the RFM table is derived from the per-customer state (the arguments after the
/// columns, shared by `rfm` and `rfm_from_partial`).
pub struct Derive {
    options: RfmOptions,
    scheme: Option<Scheme>,
    labels: Labels,
}

impl Derive {
    pub fn parse(
        py: Python<'_>,
        as_of: Option<i32>,
        bins: u32,
        monetary: &str,
        segments: Option<&Bound<'_, PyAny>>,
        labels: &str,
    ) -> PyResult<Derive> {
        let monetary = match monetary {
            "sum" => Monetary::Sum,
            "mean" => Monetary::Mean,
            other => {
                return Err(bad_argument(
                    py,
                    format!("monetary must be 'sum' or 'mean', got '{other}'"),
                ))
            }
        };
        Ok(Derive {
            options: RfmOptions {
                as_of,
                bins,
                monetary,
            },
            scheme: segments.map(|s| parse_scheme(py, s)).transpose()?,
            labels: parse_labels(py, labels)?,
        })
    }

    /// The RFM table of the customers `codes` of a summary, with `keys` their keys.
    pub fn table(
        &self,
        key_name: &str,
        summary: Summary,
        codes: Vec<u32>,
        keys: ArrayRef,
    ) -> Result<RecordBatch, CrmError> {
        let table = {
            let _p = trace::phase("rfm scores");
            crate::rfm::rfm(summary, &codes, &self.options)?
        };
        drop(codes);
        let segment = match &self.scheme {
            None => None,
            Some(scheme) => {
                let scores = (&table.r_score[..], &table.f_score[..], &table.m_score[..]);
                let raw = RawRfm {
                    recency: &table.recency,
                    purchased: &table.purchased,
                    frequency: &table.frequency,
                    monetary: &table.monetary,
                };
                let bins = self.options.bins;
                let (index, names) = crate::rfm::segment(scheme, self.labels, bins, scores, raw)?;
                Some(emit::categorical(index, &names)?)
            }
        };
        let _p = trace::phase("emit");
        emit::rfm_batch(key_name, keys, table, segment)
    }
}

/// The RFM table of a transaction log, as an Arrow stream capsule, and the number of rows
/// dropped by `on_invalid="drop"`.
#[pyfunction]
#[pyo3(signature = (data, *, customer, date, amount, order=None, as_of=None, bins=5, monetary="sum", segments=None, labels="en", on_invalid="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn rfm<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    customer: String,
    date: String,
    amount: String,
    order: Option<String>,
    as_of: Option<i32>,
    bins: u32,
    monetary: &str,
    segments: Option<&Bound<'py, PyAny>>,
    labels: &str,
    on_invalid: &str,
) -> PyResult<(Bound<'py, PyCapsule>, usize)> {
    let derive = Derive::parse(py, as_of, bins, monetary, segments, labels)?;
    let policy = parse_policy(py, on_invalid)?;
    let spec = Spec {
        customer,
        date,
        amount,
        order,
        ..Spec::default()
    };
    let (schema, batches) = read_stream(py, data)?;
    let (batch, dropped) = detach(py, || {
        let _total = trace::phase("rfm total");
        let tx = ingest(&schema, &batches, &spec, policy)?;
        let mut summary = summarize(&tx)?;
        let codes = summary.present_codes();
        let keys = match summary.keys.take() {
            Some(keys) => keys,
            None => tx.customers.keys(&codes)?,
        };
        let dropped = tx.dropped;
        drop(tx);
        Ok((derive.table(&spec.customer, summary, codes, keys)?, dropped))
    })?;
    Ok((to_capsule(py, batch)?, dropped))
}

/// Segment labels for an existing RFM table (columns r_score, f_score, m_score for rule
/// schemes; recency, frequency, monetary for value8), as a one-column stream capsule.
#[pyfunction]
#[pyo3(signature = (data, *, scheme, labels="en"))]
pub fn segment<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    scheme: &Bound<'py, PyAny>,
    labels: &str,
) -> PyResult<Bound<'py, PyCapsule>> {
    let labels = parse_labels(py, labels)?;
    let scheme = parse_scheme(py, scheme)?;
    let (schema, batches) = read_stream(py, data)?;
    let batch = detach(py, || {
        let column = |name: &str| -> Result<Vec<Option<f64>>, CrmError> {
            let i = crate::ingest::column_index(&schema, name)?;
            let mut out = Vec::new();
            for b in &batches {
                out.extend(crate::ingest::numbers(b.column(i), name)?);
            }
            Ok(out)
        };
        let (index, names) = if let Scheme::Value8 = scheme {
            let recency = column("recency")?;
            let purchased: Vec<bool> = recency.iter().map(Option::is_some).collect();
            let recency: Vec<i32> = recency.iter().map(|r| r.unwrap_or(0.0) as i32).collect();
            let frequency: Vec<i32> = column("frequency")?
                .iter()
                .map(|f| f.unwrap_or(0.0) as i32)
                .collect();
            let monetary: Vec<f64> = column("monetary")?
                .iter()
                .map(|m| m.unwrap_or(f64::NAN))
                .collect();
            let raw = RawRfm {
                recency: &recency,
                purchased: &purchased,
                frequency: &frequency,
                monetary: &monetary,
            };
            crate::rfm::segment(&scheme, labels, 5, (&[], &[], &[]), raw)?
        } else {
            let scores = |name: &str| -> Result<Vec<u8>, CrmError> {
                column(name)?
                    .into_iter()
                    .enumerate()
                    .map(|(row, s)| match s {
                        Some(s) if (1.0..=255.0).contains(&s) && s.fract() == 0.0 => Ok(s as u8),
                        _ => Err(CrmError::InvalidData(format!(
                            "column '{name}': row {row} is not a score (an integer from 1)"
                        ))),
                    })
                    .collect()
            };
            let (r, f, m) = (scores("r_score")?, scores("f_score")?, scores("m_score")?);
            let bins = r
                .iter()
                .chain(&f)
                .chain(&m)
                .copied()
                .max()
                .unwrap_or(5)
                .max(5) as u32;
            let none = RawRfm {
                recency: &[],
                purchased: &[],
                frequency: &[],
                monetary: &[],
            };
            crate::rfm::segment(&scheme, labels, bins, (&r, &f, &m), none)?
        };
        emit::batch(vec![("segment", emit::categorical(index, &names)?)])
    })?;
    to_capsule(py, batch)
}
