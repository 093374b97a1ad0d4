//! Ingest: Arrow record batches → validated, normalised columns (the only place that checks
//! input; everything downstream trusts it).

pub mod days;
pub mod instants;
pub mod keys;
pub mod named;

use arrow_array::{cast::AsArray, types::*, Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{DataType, SchemaRef};
use rayon::prelude::*;

use crate::error::{CrmError, Result};
pub use keys::{KeyIndex, RowCodes};

/// Which input columns play which role.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    pub customer: String,
    pub date: String,
    pub amount: String,
    /// When given, frequency counts distinct orders instead of rows.
    pub order: Option<String>,
    /// Grouping columns (e.g. channel): each row gets the code of its value combination.
    pub by: Vec<String>,
    /// Numeric columns summed per customer (engagement indicators).
    pub extra: Vec<String>,
    /// Give every row a customer code even for keys the pass would otherwise group by hash
    /// (passes that keep rows per customer need them).
    pub need_codes: bool,
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
    /// The sorted distinct order ids the codes stand for (orders that are not integers).
    pub order_values: Option<ArrayRef>,
    /// Group codes per row, when `by` columns were given.
    pub groups: Option<Groups>,
    /// Values of each `extra` column, per chunk.
    pub extras: Vec<Vec<ScalarBuffer<f64>>>,
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
    let first_by = names.len();
    names.extend(spec.by.iter().map(String::as_str));
    let first_extra = names.len();
    names.extend(spec.extra.iter().map(String::as_str));
    let indices = names
        .iter()
        .map(|name| column_index(schema, name))
        .collect::<Result<Vec<_>>>()?;
    let mut columns: Vec<Vec<ArrayRef>> =
        indices.iter().map(|&i| column_chunks(batches, i)).collect();
    check_amount_type(schema.field(indices[2]).data_type(), &spec.amount)?;
    for (&i, name) in indices[first_extra..].iter().zip(&spec.extra) {
        check_numeric_type(schema.field(i).data_type(), name)?;
    }
    let numeric: Vec<usize> = std::iter::once(2).chain(first_extra..names.len()).collect();
    let dropped = drop_or_reject_invalid(&mut columns, &names, &numeric, policy)?;

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
        keys::index_customers(&columns[0], &spec.customer, spec.need_codes)?
    };
    let (orders, order_values) = match spec.order.as_deref() {
        None => (None, None),
        Some(name) => {
            let (ids, values) = order_ids(&columns[3], name)?;
            (Some(ids), values)
        }
    };
    let groups = if spec.by.is_empty() {
        None
    } else {
        let types: Vec<DataType> = indices[first_by..first_extra]
            .iter()
            .map(|&i| schema.field(i).data_type().clone())
            .collect();
        Some(Groups::encode(
            &columns[first_by..first_extra],
            &spec.by,
            &types,
        )?)
    };
    let extras = columns[first_extra..]
        .iter()
        .map(|chunks| {
            chunks
                .iter()
                .map(|c| {
                    let floats = arrow_cast::cast(c, &DataType::Float64)?;
                    Ok(floats.as_primitive::<Float64Type>().values().clone())
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
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
        order_values,
        groups,
        extras,
        dropped,
        input_bytes,
    })
}

/// The value combinations of the `by` columns, as one code per row: the columns' own codes
/// (ranks of their sorted distinct values) in mixed radix, first column most significant, so
/// that codes sort like the combinations.
pub struct Groups {
    pub codes: Vec<Vec<u32>>,
    /// Each column's name and sorted distinct values.
    columns: Vec<(String, ArrayRef)>,
}

impl Groups {
    pub fn encode(
        columns: &[Vec<ArrayRef>],
        names: &[String],
        types: &[DataType],
    ) -> Result<Groups> {
        let mut codes: Vec<Vec<u32>> = columns[0].iter().map(|c| vec![0; c.len()]).collect();
        let mut encoded = Vec::new();
        let mut combinations: u64 = 1;
        for ((chunks, name), dtype) in columns.iter().zip(names).zip(types) {
            let (column_codes, uniques) = if chunks.is_empty() {
                (vec![], arrow_array::new_empty_array(dtype))
            } else {
                keys::encode(chunks, name)?
            };
            let radix = uniques.len().max(1) as u64;
            combinations *= radix;
            if combinations > u32::MAX as u64 {
                return Err(CrmError::InvalidArgument(format!(
                    "the by columns have more than {} value combinations",
                    u32::MAX
                )));
            }
            for (out, col) in codes.iter_mut().zip(&column_codes) {
                out.par_iter_mut()
                    .zip(col)
                    .for_each(|(o, &c)| *o = *o * radix as u32 + c);
            }
            encoded.push((name.clone(), uniques));
        }
        Ok(Groups {
            codes,
            columns: encoded,
        })
    }

    /// The `by` columns' values of the given group codes.
    pub fn labels(&self, group_codes: &[u32]) -> Result<Vec<(String, ArrayRef)>> {
        let mut rest: Vec<u32> = group_codes.to_vec();
        let mut out = Vec::with_capacity(self.columns.len());
        for (name, uniques) in self.columns.iter().rev() {
            let radix = uniques.len().max(1) as u32;
            let index = arrow_array::UInt32Array::from_iter_values(rest.iter().map(|g| g % radix));
            rest.iter_mut().for_each(|g| *g /= radix);
            out.push((
                name.clone(),
                arrow_select::take::take(uniques, &index, None)?,
            ));
        }
        out.reverse();
        Ok(out)
    }
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

/// Column `i` of every non-empty batch.
pub fn column_chunks(batches: &[RecordBatch], i: usize) -> Vec<ArrayRef> {
    batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| b.column(i).clone())
        .collect()
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

/// A numeric column of every batch as f64 values; a null or NaN is an error naming the
/// column and its first row.
pub fn float_column(schema: &SchemaRef, batches: &[RecordBatch], name: &str) -> Result<Vec<f64>> {
    let i = column_index(schema, name)?;
    let mut out = Vec::new();
    for b in batches {
        out.extend(numbers(b.column(i), name)?);
    }
    let missing = out.iter().filter(|v| v.is_none()).count();
    if let Some(first) = out.iter().position(Option::is_none) {
        return Err(CrmError::InvalidData(format!(
            "column '{name}' has {missing} null or NaN value(s) (first at row {first})"
        )));
    }
    Ok(out.into_iter().flatten().collect())
}

fn check_numeric_type(dtype: &DataType, column: &str) -> Result<()> {
    if dtype.is_numeric() {
        return Ok(());
    }
    Err(CrmError::ColumnType {
        column: column.to_string(),
        dtype: crate::error::dtype_name(dtype),
        expected: "a numeric column".to_string(),
    })
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

/// Integer order ids as they are; others as codes, with the sorted distinct ids. No rows
/// (no chunks, whatever the column's type) have no ids.
pub(crate) fn order_ids(
    chunks: &[ArrayRef],
    column: &str,
) -> Result<(Vec<ScalarBuffer<i64>>, Option<ArrayRef>)> {
    if chunks.is_empty() || chunks[0].data_type().is_integer() {
        let ids = chunks.iter().map(|c| keys::int_values(c, column));
        return Ok((ids.collect::<Result<_>>()?, None));
    }
    let (codes, uniques) = keys::encode(chunks, column)?;
    let ids = codes
        .into_iter()
        .map(|c| c.into_iter().map(i64::from).collect::<Vec<_>>().into())
        .collect();
    Ok((ids, Some(uniques)))
}

/// Rows with a null in any used column, or a NaN/infinite value in a `numeric` column, are
/// an error, or are dropped (returning how many) under `OnInvalid::Drop`. Only the first
/// `names.len()` columns are checked; any further ones (which may hold nulls) are filtered
/// along with them.
pub(crate) fn drop_or_reject_invalid(
    columns: &mut [Vec<ArrayRef>],
    names: &[&str],
    numeric: &[usize],
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
    let non_finite = |c: &ArrayRef, i: usize| match c.data_type() {
        DataType::Float64 => !c.as_primitive::<Float64Type>().value(i).is_finite(),
        DataType::Float32 => !c.as_primitive::<Float32Type>().value(i).is_finite(),
        _ => false,
    };
    for &k in numeric {
        let bad: usize = columns[k].iter().map(count_non_finite).sum();
        if bad > 0 {
            let first = first_row(&columns[k], |c, i| c.is_valid(i) && non_finite(c, i));
            problems.push(format!(
                "column '{}' has {bad} NaN or infinite value(s) (first at row {first})",
                names[k]
            ));
        }
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
                    columns[..names.len()]
                        .iter()
                        .all(|col| col[chunk].is_valid(i))
                        && numeric.iter().all(|&k| !non_finite(&columns[k][chunk], i)),
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
