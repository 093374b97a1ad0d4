//! Arrow in and out: order lines → baskets of item codes; a rules table → rules over one
//! item universe shared with the lines; item codes → item values in the column's own type.

use std::sync::Arc;

use arrow_array::{
    cast::AsArray, types::Int32Type, Array, ArrayRef, DictionaryArray, Int32Array, ListArray,
    RecordBatch, UInt32Array,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, SchemaRef};
use rayon::prelude::*;

use super::cross_sell::Rule;
use super::Baskets;
use crate::error::{dtype_name, CrmError, Result};
use crate::ingest::{
    column_index, drop_or_reject_invalid, float_column, keys, KeyIndex, OnInvalid,
};

/// Item values by code: the sorted distinct values, and the column's type (a categorical
/// comes back categorical).
pub struct ItemValues {
    pub uniques: ArrayRef,
    pub dtype: DataType,
}

impl ItemValues {
    pub fn len(&self) -> usize {
        self.uniques.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uniques.is_empty()
    }

    /// The values of `codes`.
    pub fn array(&self, codes: &[u32]) -> Result<ArrayRef> {
        if matches!(self.dtype, DataType::Dictionary(_, _)) {
            let keys = Int32Array::from_iter_values(codes.iter().map(|&c| c as i32));
            return Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
                keys,
                self.uniques.clone(),
            )?));
        }
        let index = UInt32Array::from(codes.to_vec());
        Ok(arrow_select::take::take(
            self.uniques.as_ref(),
            &index,
            None,
        )?)
    }

    /// A list column: row r holds the values of `codes[offsets[r]..offsets[r + 1]]`.
    pub fn lists(&self, offsets: &[usize], codes: &[u32]) -> Result<ArrayRef> {
        let values = self.array(codes)?;
        let offsets = offsets
            .iter()
            .map(|&o| i32::try_from(o))
            .collect::<std::result::Result<Vec<i32>, _>>()
            .map_err(|_| CrmError::InvalidArgument("too many items to return as lists".into()))?;
        let field = Arc::new(Field::new_list_field(values.data_type().clone(), false));
        Ok(Arc::new(ListArray::try_new(
            field,
            OffsetBuffer::new(offsets.into()),
            values,
            None,
        )?))
    }
}

/// Order lines (or a customer's lines) as baskets: one per distinct key, holding its
/// distinct items.
pub struct Lines {
    pub baskets: Baskets,
    /// Turns the baskets' key codes back into keys.
    pub keys: Keys,
    pub items: ItemValues,
    /// Rows dropped by `OnInvalid::Drop`.
    pub dropped: usize,
}

/// The key code of every row. Codes only group rows and order the baskets, so integer keys
/// need no table: their offset from the smallest key is the code.
pub enum Keys {
    /// Integer keys spanning fewer than 2^32 values: code = key - min.
    Offset {
        chunks: Vec<ScalarBuffer<i64>>,
        min: i64,
        dtype: DataType,
    },
    /// Strings, categoricals and integers spread wider: ranks among the distinct keys.
    Indexed(KeyIndex),
}

impl Keys {
    fn new(chunks: &[ArrayRef], column: &str) -> Result<Keys> {
        let dtype = chunks.first().map(|c| c.data_type().clone());
        if let Some(dtype) = dtype.filter(DataType::is_integer) {
            let ints = chunks
                .iter()
                .map(|c| keys::int_values(c, column))
                .collect::<Result<Vec<_>>>()?;
            let (min, max) = ints
                .par_iter()
                .flat_map(|c| c.par_chunks(1 << 16))
                .map(|c| {
                    c.iter()
                        .fold((i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)))
                })
                .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
            if (max as i128 - min as i128) < u32::MAX as i128 {
                return Ok(Keys::Offset {
                    chunks: ints,
                    min,
                    dtype,
                });
            }
        }
        Ok(Keys::Indexed(keys::index_customers(chunks, column, true)?))
    }

    #[inline]
    fn code(&self, chunk: usize, i: usize) -> u32 {
        match self {
            Keys::Offset { chunks, min, .. } => chunks[chunk][i].wrapping_sub(*min) as u32,
            Keys::Indexed(index) => index.rows.code(chunk, i),
        }
    }

    /// The keys of `codes`, which must be every code present, ascending (the baskets' keys).
    pub fn keys(&self, codes: &[u32]) -> Result<ArrayRef> {
        match self {
            Keys::Offset { min, dtype, .. } => {
                keys::ints_as(codes.iter().map(|&c| min + c as i64).collect(), dtype)
            }
            Keys::Indexed(index) => index.keys(codes),
        }
    }
}

fn is_string(dtype: &DataType) -> bool {
    matches!(
        dtype,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn value_type(dtype: &DataType) -> &DataType {
    match dtype {
        DataType::Dictionary(_, values) => values,
        other => other,
    }
}

fn check_key_type(dtype: &DataType, column: &str, what: &str) -> Result<()> {
    let value = value_type(dtype);
    if value.is_integer() || is_string(value) {
        return Ok(());
    }
    Err(CrmError::ColumnType {
        column: column.to_string(),
        dtype: dtype_name(dtype),
        expected: format!("{what} as integers, strings or a categorical"),
    })
}

/// Read the `key` and `item` columns of every batch into baskets.
pub fn lines(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    key: &str,
    item: &str,
    policy: OnInvalid,
) -> Result<Lines> {
    let indices = [column_index(schema, key)?, column_index(schema, item)?];
    let item_type = schema.field(indices[1]).data_type().clone();
    check_key_type(schema.field(indices[0]).data_type(), key, "keys")?;
    check_key_type(&item_type, item, "items")?;
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
    let dropped = drop_or_reject_invalid(&mut columns, &[key, item], &[], policy)?;
    let phase = crate::trace::phase("baskets: encode keys and items");
    let keys = Keys::new(&columns[0], key)?;
    let (item_codes, uniques) = if columns[1].is_empty() {
        (vec![], arrow_array::new_empty_array(value_type(&item_type)))
    } else {
        keys::encode(&columns[1], item)?
    };
    drop(phase);
    let _p = crate::trace::phase("baskets: group lines");
    let mut pairs: Vec<u64> = Vec::with_capacity(item_codes.iter().map(Vec::len).sum());
    for (chunk, codes) in item_codes.iter().enumerate() {
        let keys = &keys;
        pairs.par_extend(
            codes
                .par_iter()
                .enumerate()
                .map(move |(i, &c)| Baskets::pair(keys.code(chunk, i), c)),
        );
    }
    Ok(Lines {
        baskets: Baskets::from_pairs(pairs),
        keys,
        items: ItemValues {
            uniques,
            dtype: item_type,
        },
        dropped,
    })
}

/// A list column of every batch, flattened: offsets into the concatenated values.
fn list_column(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    name: &str,
) -> Result<(Vec<usize>, Vec<ArrayRef>)> {
    let i = column_index(schema, name)?;
    let mut offsets = vec![0];
    let mut values = Vec::new();
    let mut row = 0;
    for batch in batches {
        let column = batch.column(i);
        let (list_offsets, list_values): (Vec<usize>, ArrayRef) = match column.data_type() {
            DataType::List(_) => {
                let l = column.as_list::<i32>();
                (
                    l.value_offsets().iter().map(|&o| o as usize).collect(),
                    l.values().clone(),
                )
            }
            DataType::LargeList(_) => {
                let l = column.as_list::<i64>();
                (
                    l.value_offsets().iter().map(|&o| o as usize).collect(),
                    l.values().clone(),
                )
            }
            other => {
                return Err(CrmError::ColumnType {
                    column: name.to_string(),
                    dtype: dtype_name(other),
                    expected: "lists of items (as basket_rules returns)".to_string(),
                })
            }
        };
        if let Some(r) = (0..column.len()).find(|&r| column.is_null(r)) {
            return Err(CrmError::InvalidData(format!(
                "column '{name}' has {} null value(s) (first at row {})",
                column.null_count(),
                row + r
            )));
        }
        let (start, end) = (list_offsets[0], list_offsets[list_offsets.len() - 1]);
        let used = list_values.slice(start, end - start);
        if used.null_count() > 0 {
            return Err(CrmError::InvalidData(format!(
                "column '{name}' has lists holding a null item"
            )));
        }
        let base = offsets[offsets.len() - 1];
        offsets.extend(list_offsets[1..].iter().map(|&o| base + o - start));
        values.push(used);
        row += column.len();
    }
    Ok((offsets, values))
}

/// Item values of a rules column in the type of the lines' distinct items.
fn as_item_type(values: &ArrayRef, items: &ItemValues, column: &str) -> Result<ArrayRef> {
    let (from, to) = (value_type(values.data_type()), items.uniques.data_type());
    let mismatch = || CrmError::ColumnType {
        column: column.to_string(),
        dtype: format!("list<{}>", dtype_name(values.data_type())),
        expected: format!(
            "lists of items of the type of the data's items ({})",
            dtype_name(&items.dtype)
        ),
    };
    if !(from.is_integer() && to.is_integer() || is_string(from) && is_string(to)) {
        return Err(mismatch());
    }
    let strict = arrow_cast::CastOptions {
        safe: false,
        ..Default::default()
    };
    arrow_cast::cast_with_options(values, to, &strict).map_err(|_| mismatch())
}

/// The rules of a rules table whose consequent is a single item, over one item universe
/// made of the lines' items and the rules' items. Returns the rules, the universe and the
/// universe code of each of the lines' item codes (increasing: the universe is sorted).
pub fn rules_table(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    items: &ItemValues,
) -> Result<(Vec<Rule>, ItemValues, Vec<u32>)> {
    let (antecedent_offsets, antecedents) = list_column(schema, batches, "antecedent")?;
    let (consequent_offsets, consequents) = list_column(schema, batches, "consequent")?;
    let confidence = float_column(schema, batches, "confidence")?;
    let lift = float_column(schema, batches, "lift")?;
    let mut chunks = vec![items.uniques.clone()];
    for v in &antecedents {
        chunks.push(as_item_type(v, items, "antecedent")?);
    }
    for v in &consequents {
        chunks.push(as_item_type(v, items, "consequent")?);
    }
    let (codes, universe) = keys::encode(&chunks, "antecedent")?;
    let mut codes = codes.into_iter();
    let line_codes = codes.next().unwrap_or_default();
    let antecedent_codes: Vec<u32> = codes.by_ref().take(antecedents.len()).flatten().collect();
    let consequent_codes: Vec<u32> = codes.flatten().collect();
    let rules = (0..confidence.len())
        .filter(|&r| consequent_offsets[r + 1] - consequent_offsets[r] == 1)
        .map(|r| {
            let mut antecedent =
                antecedent_codes[antecedent_offsets[r]..antecedent_offsets[r + 1]].to_vec();
            antecedent.sort_unstable();
            antecedent.dedup();
            Rule {
                antecedent,
                consequent: consequent_codes[consequent_offsets[r]],
                confidence: confidence[r],
                lift: lift[r],
            }
        })
        .collect();
    let universe = ItemValues {
        uniques: universe,
        dtype: items.dtype.clone(),
    };
    Ok((rules, universe, line_codes))
}
