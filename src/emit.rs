//! Emit: the result columns as one Arrow record batch.

use std::sync::Arc;

use arrow_array::types::Int16Type;
use arrow_array::{
    ArrayRef, Date32Array, DictionaryArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{Field, Schema};

use crate::error::Result;
use crate::rfm::Rfm;

/// A categorical column: `labels[index[i]]` per row.
pub fn categorical(index: Vec<u16>, labels: &[String]) -> Result<ArrayRef> {
    let keys = arrow_array::Int16Array::from_iter_values(index.into_iter().map(|i| i as i16));
    let values = Arc::new(StringArray::from_iter_values(labels));
    Ok(Arc::new(DictionaryArray::<Int16Type>::try_new(
        keys, values,
    )?))
}

/// `rfm_code` as a categorical over all bins³ codes ("545", or "10-3-7" past 9 bins).
fn rfm_codes(rfm: &Rfm) -> Result<ArrayRef> {
    let b = rfm.bins as usize;
    let mut labels = Vec::with_capacity(b * b * b);
    for r in 1..=b {
        for f in 1..=b {
            for m in 1..=b {
                labels.push(if b <= 9 {
                    format!("{r}{f}{m}")
                } else {
                    format!("{r}-{f}-{m}")
                });
            }
        }
    }
    let index = (0..rfm.codes.len())
        .map(|i| {
            let (r, f, m) = (
                rfm.r_score[i] as usize - 1,
                rfm.f_score[i] as usize - 1,
                rfm.m_score[i] as usize - 1,
            );
            ((r * b + f) * b + m) as u16
        })
        .collect();
    categorical(index, &labels)
}

fn ints<T: Copy + Into<i64>>(values: &[T]) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(
        values.iter().map(|&v| v.into()),
    ))
}

pub fn rfm_batch(
    key_name: &str,
    keys: ArrayRef,
    rfm: &Rfm,
    segment: Option<ArrayRef>,
) -> Result<RecordBatch> {
    let score_sum: Vec<i64> = (0..rfm.codes.len())
        .map(|i| rfm.r_score[i] as i64 + rfm.f_score[i] as i64 + rfm.m_score[i] as i64)
        .collect();
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        (key_name, keys),
        (
            "recency",
            Arc::new(Int64Array::from_iter(
                rfm.recency.iter().map(|r| r.map(i64::from)),
            )),
        ),
        ("frequency", ints(&rfm.frequency)),
        (
            "monetary",
            Arc::new(Float64Array::from(rfm.monetary.clone())),
        ),
        (
            "first_purchase",
            Arc::new(Date32Array::from(rfm.first_purchase.clone())),
        ),
        (
            "last_purchase",
            Arc::new(Date32Array::from(rfm.last_purchase.clone())),
        ),
        ("r_score", ints(&rfm.r_score)),
        ("f_score", ints(&rfm.f_score)),
        ("m_score", ints(&rfm.m_score)),
        ("rfm_code", rfm_codes(rfm)?),
        ("rfm_score", Arc::new(Int64Array::from(score_sum))),
    ];
    if let Some(segment) = segment {
        columns.push(("segment", segment));
    }
    batch(columns)
}

pub fn batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}
