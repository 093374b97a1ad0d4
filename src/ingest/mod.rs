//! Ingest: Arrow record batches → validated, normalised columns (the only place that checks
//! input; everything downstream trusts it).

pub mod days;
pub mod keys;

use arrow_array::{cast::AsArray, types::*, Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{DataType, SchemaRef};
use rayon::prelude::*;

use crate::error::{CrmError, Result};
pub use keys::{KeyIndex, RowCodes};

/// Which input columns play which role.
#[derive(Clone, Debug)]
pub struct Spec {
    pub customer: String,
    pub date: String,
    pub amount: String,
    /// When given, frequency counts distinct orders instead of rows.
    pub order: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnInvalid {
    Raise,
    Drop,
}

/// Amounts as the kernel reads them: f64 and i64 columns in place, others converted once.
pub enum Amounts {
    F64(ScalarBuffer<f64>),
    I64(ScalarBuffer<i64>),
}

/// A transaction log ready for the per-customer pass, as parallel chunks of equal lengths.
pub struct Transactions {
    pub customers: KeyIndex,
    pub days: Vec<days::Days>,
    pub amounts: Vec<Amounts>,
    /// Order ids (or their codes) per row, when an order column was given.
    pub orders: Option<Vec<ScalarBuffer<i64>>>,
    /// Rows removed by `OnInvalid::Drop`.
    pub dropped: usize,
    /// Size of the input columns used, the yardstick of the memory budget.
    pub input_bytes: usize,
}

impl Transactions {
    pub fn chunk_len(&self, chunk: usize) -> usize {
        self.days[chunk].len()
    }
}

pub fn ingest(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    spec: &Spec,
    policy: OnInvalid,
) -> Result<Transactions> {
    let mut names = vec![
        spec.customer.as_str(),
        spec.date.as_str(),
        spec.amount.as_str(),
    ];
    if let Some(order) = &spec.order {
        names.push(order);
    }
    let indices = names
        .iter()
        .map(|name| column_index(schema, name))
        .collect::<Result<Vec<_>>>()?;
    let mut columns: Vec<Vec<ArrayRef>> = indices
        .iter()
        .map(|&i| {
            batches
                .iter()
                .filter(|b| b.num_rows() > 0)
                .map(|b| b.column(i).clone())
                .collect()
        })
        .collect();
    check_amount_type(schema.field(indices[2]).data_type(), &spec.amount)?;
    let dropped = drop_or_reject_invalid(&mut columns, &names, policy)?;

    let mut offsets = Vec::with_capacity(columns[0].len());
    let mut offset = 0;
    for c in &columns[0] {
        offsets.push(offset);
        offset += c.len();
    }
    let phase = crate::trace::phase("ingest dates");
    let days = columns[1]
        .iter()
        .zip(&offsets)
        .map(|(c, &o)| days::day_numbers(c, &spec.date, o))
        .collect::<Result<Vec<_>>>()?;
    let amounts = columns[2].iter().map(amounts).collect::<Result<_>>()?;
    drop(phase);
    let customers = {
        let _p = crate::trace::phase("ingest customer keys");
        keys::index_customers(&columns[0], &spec.customer)?
    };
    let orders = match spec.order.as_deref() {
        None => None,
        Some(name) => Some(order_ids(&columns[3], name)?),
    };
    let input_bytes = columns
        .iter()
        .flatten()
        .map(|c| c.get_array_memory_size())
        .sum();
    Ok(Transactions {
        customers,
        days,
        amounts,
        orders,
        dropped,
        input_bytes,
    })
}

/// The position of column `name`, or an error listing the columns present.
pub fn column_index(schema: &SchemaRef, name: &str) -> Result<usize> {
    schema.index_of(name).map_err(|_| CrmError::ColumnNotFound {
        column: name.to_string(),
        present: schema
            .fields()
            .iter()
            .map(|f| format!("'{}'", f.name()))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Any numeric column as optional floats (nulls and NaN → None).
pub fn numbers(array: &ArrayRef, name: &str) -> Result<Vec<Option<f64>>> {
    if !array.data_type().is_numeric() {
        return Err(CrmError::ColumnType {
            column: name.to_string(),
            dtype: crate::error::dtype_name(array.data_type()),
            expected: "a numeric column".to_string(),
        });
    }
    let floats = arrow_cast::cast(array, &DataType::Float64)?;
    Ok(floats
        .as_primitive::<Float64Type>()
        .iter()
        .map(|v| v.filter(|v| !v.is_nan()))
        .collect())
}

fn check_amount_type(dtype: &DataType, column: &str) -> Result<()> {
    if dtype.is_integer() || dtype.is_floating() || matches!(dtype, DataType::Decimal128(_, _)) {
        return Ok(());
    }
    Err(CrmError::ColumnType {
        column: column.to_string(),
        dtype: crate::error::dtype_name(dtype),
        expected: "an integer, float or decimal amount".to_string(),
    })
}

/// f64 and i64 amounts are read in place; any other numeric type is converted once.
fn amounts(array: &ArrayRef) -> Result<Amounts> {
    Ok(match array.data_type() {
        DataType::Float64 => Amounts::F64(array.as_primitive::<Float64Type>().values().clone()),
        DataType::Int64 => Amounts::I64(array.as_primitive::<Int64Type>().values().clone()),
        _ => {
            let floats = arrow_cast::cast(array, &DataType::Float64)?;
            Amounts::F64(floats.as_primitive::<Float64Type>().values().clone())
        }
    })
}

/// Order ids as i64: integers as they are, anything else through the key encoder.
fn order_ids(chunks: &[ArrayRef], column: &str) -> Result<Vec<ScalarBuffer<i64>>> {
    if chunks.first().is_some_and(|c| c.data_type().is_integer()) {
        return chunks.iter().map(|c| keys::int_values(c, column)).collect();
    }
    let (codes, _) = keys::encode(chunks, column)?;
    Ok(codes
        .into_iter()
        .map(|c| c.into_iter().map(i64::from).collect::<Vec<_>>().into())
        .collect())
}

/// Rows with a null in any used column, or a NaN/infinite amount, are an error, or are
/// dropped (returning how many) under `OnInvalid::Drop`.
fn drop_or_reject_invalid(
    columns: &mut [Vec<ArrayRef>],
    names: &[&str],
    policy: OnInvalid,
) -> Result<usize> {
    let mut problems = Vec::new();
    for (chunks, name) in columns.iter().zip(names) {
        let nulls: usize = chunks.iter().map(|c| c.null_count()).sum();
        if nulls > 0 {
            let first = first_row(chunks, |c, i| c.is_null(i));
            problems.push(format!(
                "column '{name}' has {nulls} null value(s) (first at row {first})"
            ));
        }
    }
    let amount = &columns[2];
    let non_finite = |c: &ArrayRef, i: usize| match c.data_type() {
        DataType::Float64 => !c.as_primitive::<Float64Type>().value(i).is_finite(),
        DataType::Float32 => !c.as_primitive::<Float32Type>().value(i).is_finite(),
        _ => false,
    };
    let bad_amounts: usize = amount.iter().map(count_non_finite).sum();
    if bad_amounts > 0 {
        let first = first_row(amount, |c, i| c.is_valid(i) && non_finite(c, i));
        problems.push(format!(
            "column '{}' has {bad_amounts} NaN or infinite value(s) (first at row {first})",
            names[2]
        ));
    }
    if problems.is_empty() {
        return Ok(0);
    }
    if policy == OnInvalid::Raise {
        return Err(CrmError::InvalidData(format!(
            "{}; fix the input or pass on_invalid='drop' to drop such rows",
            problems.join("; ")
        )));
    }
    let n_chunks = columns[0].len();
    let mut dropped = 0;
    for chunk in 0..n_chunks {
        let len = columns[0][chunk].len();
        let keep: BooleanArray = (0..len)
            .map(|i| {
                Some(
                    columns.iter().all(|col| col[chunk].is_valid(i))
                        && !non_finite(&columns[2][chunk], i),
                )
            })
            .collect();
        dropped += len - keep.true_count();
        for col in columns.iter_mut() {
            col[chunk] = arrow_select::filter::filter(col[chunk].as_ref(), &keep)?;
        }
    }
    for col in columns.iter_mut() {
        col.retain(|c| !c.is_empty());
    }
    Ok(dropped)
}

fn count_non_finite(c: &ArrayRef) -> usize {
    fn count<T: Copy + Sync>(
        values: &[T],
        nulls: Option<&arrow_buffer::NullBuffer>,
        bad: impl Fn(T) -> bool + Sync,
    ) -> usize {
        match nulls {
            None => values
                .par_chunks(1 << 16)
                .map(|s| s.iter().filter(|&&v| bad(v)).count())
                .sum(),
            Some(n) => values
                .iter()
                .enumerate()
                .filter(|&(i, &v)| n.is_valid(i) && bad(v))
                .count(),
        }
    }
    match c.data_type() {
        DataType::Float64 => count(
            c.as_primitive::<Float64Type>().values(),
            c.nulls(),
            |v: f64| !v.is_finite(),
        ),
        DataType::Float32 => count(
            c.as_primitive::<Float32Type>().values(),
            c.nulls(),
            |v: f32| !v.is_finite(),
        ),
        _ => 0,
    }
}

fn first_row(chunks: &[ArrayRef], bad: impl Fn(&ArrayRef, usize) -> bool) -> usize {
    let mut offset = 0;
    for c in chunks {
        if let Some(i) = (0..c.len()).find(|&i| bad(c, i)) {
            return offset + i;
        }
        offset += c.len();
    }
    offset
}
