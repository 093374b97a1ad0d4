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
