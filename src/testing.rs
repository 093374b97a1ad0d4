//! Test helpers shared by the unit tests of several modules.

use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch};

/// A log with columns `c` (customer), `d` (day), `a` (amount) and `o` (order) from rows.
pub fn log(rows: &[(i64, i32, f64, i64)]) -> RecordBatch {
    let column = |a: ArrayRef| a;
    RecordBatch::try_from_iter([
        (
            "c",
            column(Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.0),
            ))),
        ),
        (
            "d",
            column(Arc::new(Date32Array::from_iter_values(
                rows.iter().map(|r| r.1),
            ))),
        ),
        (
            "a",
            column(Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.2),
            ))),
        ),
        (
            "o",
            column(Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.3),
            ))),
        ),
    ])
    .unwrap()
}

/// The summary of a log of (customer, day, amount) rows: the summary, its present codes and
/// their keys.
pub fn summarized(rows: &[(i64, i32, f64)]) -> (crate::summary::Summary, Vec<u32>, ArrayRef) {
    let rows: Vec<_> = rows.iter().map(|&(c, d, a)| (c, d, a, 0)).collect();
    let tx = ingested(&rows);
    let mut summary = crate::summary::summarize(&tx).unwrap();
    let codes = summary.present_codes();
    let keys = summary
        .keys
        .take()
        .unwrap_or_else(|| tx.customers.keys(&codes).unwrap());
    (summary, codes, keys)
}

/// The ingested transactions of a log of (customer, day, amount, order) rows (no order column).
pub fn ingested(rows: &[(i64, i32, f64, i64)]) -> crate::ingest::Transactions {
    use crate::ingest::{ingest, OnInvalid, Spec};
    let batch = log(rows);
    let spec = Spec {
        customer: "c".into(),
        date: "d".into(),
        amount: "a".into(),
        ..Spec::default()
    };
    ingest(&batch.schema(), &[batch], &spec, OnInvalid::Raise).unwrap()
}
