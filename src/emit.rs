//! Emit: the result columns as one Arrow record batch.

use std::sync::Arc;

use arrow_array::types::Int16Type;
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, DictionaryArray, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{Field, Schema};
use rayon::prelude::*;

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

/// A categorical column with nulls; the dictionary holds every label, in order.
pub fn categorical_or_null(index: Vec<Option<u16>>, labels: &[String]) -> Result<ArrayRef> {
    let keys = arrow_array::Int16Array::from_iter(index.into_iter().map(|i| i.map(|i| i as i16)));
    let values = Arc::new(StringArray::from_iter_values(labels));
    Ok(Arc::new(DictionaryArray::<Int16Type>::try_new(
        keys, values,
    )?))
}

pub fn int32(values: Vec<Option<i32>>) -> ArrayRef {
    Arc::new(Int32Array::from(values))
}

/// A non-null int32 column, taking the vector as its buffer.
pub fn int32s(values: Vec<i32>) -> ArrayRef {
    Arc::new(Int32Array::from(values))
}

pub fn int64(values: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

pub fn float64(values: Vec<Option<f64>>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

pub fn floats(values: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

/// Day numbers as a date32 column.
pub fn dates(days: Vec<Option<i32>>) -> ArrayRef {
    Arc::new(Date32Array::from(days))
}

pub fn booleans(values: Vec<Option<bool>>) -> ArrayRef {
    Arc::new(BooleanArray::from(values))
}

pub fn strings(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
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
    let index = (&rfm.r_score, &rfm.f_score, &rfm.m_score)
        .into_par_iter()
        .map(|(&r, &f, &m)| {
            (((r as usize - 1) * b + (f as usize - 1)) * b + (m as usize - 1)) as u16
        })
        .collect();
    categorical(index, &labels)
}

fn scores(values: &[u8]) -> ArrayRef {
    Arc::new(Int32Array::from(
        values.par_iter().map(|&v| v as i32).collect::<Vec<_>>(),
    ))
}

/// The RFM table as a record batch; the big columns move into Arrow without a copy.
pub fn rfm_batch(
    key_name: &str,
    keys: ArrayRef,
    rfm: Rfm,
    segment: Option<ArrayRef>,
) -> Result<RecordBatch> {
    let score_sum: Vec<i32> = (&rfm.r_score, &rfm.f_score, &rfm.m_score)
        .into_par_iter()
        .map(|(&r, &f, &m)| r as i32 + f as i32 + m as i32)
        .collect();
    let purchased = NullBuffer::from(rfm.purchased.clone());
    let bought = || (purchased.null_count() > 0).then(|| purchased.clone());
    let monetary_valid = rfm
        .monetary
        .iter()
        .any(|m| m.is_nan())
        .then(|| NullBuffer::from_iter(rfm.monetary.iter().map(|m| !m.is_nan())));
    let (r, f, m, code) = (
        scores(&rfm.r_score),
        scores(&rfm.f_score),
        scores(&rfm.m_score),
        rfm_codes(&rfm)?,
    );
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        (key_name, keys),
        (
            "recency",
            Arc::new(Int32Array::new(rfm.recency.into(), bought())),
        ),
        ("frequency", Arc::new(Int32Array::from(rfm.frequency))),
        (
            "monetary",
            Arc::new(Float64Array::new(rfm.monetary.into(), monetary_valid)),
        ),
        (
            "first_purchase",
            Arc::new(Date32Array::new(rfm.first_purchase.into(), bought())),
        ),
        (
            "last_purchase",
            Arc::new(Date32Array::new(rfm.last_purchase.into(), bought())),
        ),
        ("r_score", r),
        ("f_score", f),
        ("m_score", m),
        ("rfm_code", code),
        ("rfm_score", Arc::new(Int32Array::from(score_sum))),
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

/// The batch with the categorical columns `names` marked as ordered (their categories are
/// levels: stages, risk), which pandas keeps as an ordered Categorical.
pub fn mark_ordered(batch: RecordBatch, names: &[&str]) -> Result<RecordBatch> {
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let ordered = names.contains(&f.name().as_str());
            f.as_ref().clone().with_dict_is_ordered(ordered)
        })
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        batch.columns().to_vec(),
    )?)
}
