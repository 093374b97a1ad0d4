//! Logs that are not transaction logs (service tickets, contacts, survey scores): named
//! columns read as flat per-row values through the same encoders as `ingest` — keys and
//! groups as codes, times as days or instants — with the same checks and messages.

use arrow_array::types::{Float64Type, Int32Type};
use arrow_array::{cast::AsArray, Array, ArrayRef, DictionaryArray, Int32Array, RecordBatch};
use arrow_schema::{DataType, SchemaRef};

use super::{
    column_chunks, column_index, days, drop_or_reject_invalid, keys, Groups, KeyIndex, OnInvalid,
};
use crate::error::Result;

/// The chunks of some columns of a log, by name.
pub struct Columns {
    names: Vec<String>,
    types: Vec<DataType>,
    chunks: Vec<Vec<ArrayRef>>,
}

impl Columns {
    /// Columns `names` of the batches (a missing one is an error listing those present);
    /// empty batches are skipped.
    pub fn read(schema: &SchemaRef, batches: &[RecordBatch], names: &[&str]) -> Result<Columns> {
        let mut out = Columns {
            names: names.iter().map(|n| n.to_string()).collect(),
            types: Vec::new(),
            chunks: Vec::new(),
        };
        for name in names {
            let i = column_index(schema, name)?;
            out.types.push(schema.field(i).data_type().clone());
            out.chunks.push(column_chunks(batches, i));
        }
        Ok(out)
    }

    pub fn rows(&self) -> usize {
        self.chunks
            .first()
            .map_or(0, |c| c.iter().map(|a| a.len()).sum())
    }

    fn position(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| n == name)
            .expect("only columns that were read are asked for")
    }

    pub fn chunks(&self, name: &str) -> &[ArrayRef] {
        &self.chunks[self.position(name)]
    }

    pub fn data_type(&self, name: &str) -> &DataType {
        &self.types[self.position(name)]
    }

    /// A null in any of the first `required` columns (or a NaN/infinite value in one of
    /// `numeric`) is an `InvalidData` error with the count and first row, or drops the row
    /// under `OnInvalid::Drop` (returning how many were dropped); later columns may hold
    /// nulls.
    pub fn check_invalid(
        &mut self,
        required: usize,
        numeric: &[&str],
        policy: OnInvalid,
    ) -> Result<usize> {
        let numeric: Vec<usize> = numeric.iter().map(|n| self.position(n)).collect();
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        drop_or_reject_invalid(&mut self.chunks, &names[..required], &numeric, policy)
    }

    /// Per-row codes of the value combinations of `names` (see `Groups`).
    pub fn groups(&self, names: &[String]) -> Result<(Vec<u32>, Groups)> {
        let chunks: Vec<Vec<ArrayRef>> = names.iter().map(|n| self.chunks(n).to_vec()).collect();
        let types: Vec<DataType> = names.iter().map(|n| self.data_type(n).clone()).collect();
        let mut groups = Groups::encode(&chunks, names, &types)?;
        let mut codes = std::mem::take(&mut groups.codes);
        let codes = if codes.len() == 1 {
            codes.pop().unwrap_or_default()
        } else {
            codes.concat()
        };
        Ok((codes, groups))
    }

    /// Per-row codes of one column (ranks among its sorted distinct values) and those values.
    pub fn codes(&self, name: &str) -> Result<(Vec<u32>, ArrayRef)> {
        let chunks = self.chunks(name);
        if chunks.is_empty() {
            return Ok((vec![], arrow_array::new_empty_array(self.data_type(name))));
        }
        let (codes, uniques) = keys::encode(chunks, name)?;
        Ok((codes.concat(), uniques))
    }

    /// Calendar days of a date or timestamp column (tz-aware: local days).
    pub fn days(&self, name: &str) -> Result<Vec<i32>> {
        let mut out = Vec::with_capacity(self.rows());
        let mut buf = Vec::new();
        for chunk in self.chunks(name) {
            let days = days::day_numbers(chunk, name, out.len())?;
            out.extend_from_slice(days.slice(0, days.len(), &mut buf));
        }
        Ok(out)
    }

    /// A numeric column as f64 values.
    pub fn floats(&self, name: &str) -> Result<Vec<f64>> {
        let dtype = self.data_type(name);
        if !dtype.is_numeric() {
            return Err(crate::error::CrmError::ColumnType {
                column: name.to_string(),
                dtype: crate::error::dtype_name(dtype),
                expected: "a numeric column".to_string(),
            });
        }
        let mut out = Vec::with_capacity(self.rows());
        for chunk in self.chunks(name) {
            let floats = arrow_cast::cast(chunk, &DataType::Float64)?;
            out.extend_from_slice(floats.as_primitive::<Float64Type>().values());
        }
        Ok(out)
    }
}

/// One customer index over the key columns of several logs (so that equal keys get equal
/// codes in all of them), and each log's per-row codes. `span_per_row`: how sparse dense
/// integer ids may be (see `keys::SpanPerRow`).
pub fn shared_customers(
    columns: &[(&[ArrayRef], &str)],
    span_per_row: keys::SpanPerRow,
) -> Result<(KeyIndex, Vec<Vec<u32>>)> {
    let first_type = columns
        .iter()
        .find_map(|(chunks, _)| chunks.first())
        .map(|c| c.data_type().clone());
    let mut all = Vec::new();
    for (chunks, name) in columns {
        for chunk in chunks.iter() {
            all.push(same_key_type(chunk, first_type.as_ref(), name)?);
        }
    }
    let name = columns.first().map_or("customer", |c| c.1);
    let index = keys::index_keys(&all, name, true, span_per_row)?;
    let mut codes = Vec::with_capacity(columns.len());
    let mut chunk = 0;
    for (chunks, _) in columns {
        let mut log = Vec::with_capacity(chunks.iter().map(|c| c.len()).sum());
        for c in chunks.iter() {
            let mut buf = Vec::new();
            log.extend_from_slice(index.rows.slice(chunk, 0, c.len(), &mut buf));
            chunk += 1;
        }
        codes.push(log);
    }
    Ok((index, codes))
}

/// A key chunk in the type of the first log's keys (integers of any width mix freely; a
/// string key matched against another string layout is converted).
fn same_key_type(chunk: &ArrayRef, first: Option<&DataType>, name: &str) -> Result<ArrayRef> {
    let Some(first) = first else {
        return Ok(chunk.clone());
    };
    let dtype = chunk.data_type();
    if dtype == first || (dtype.is_integer() && first.is_integer()) {
        return Ok(chunk.clone());
    }
    let value_type = |t: &DataType| match t {
        DataType::Dictionary(_, v) => v.as_ref().clone(),
        t => t.clone(),
    };
    let (have, want) = (value_type(dtype), value_type(first));
    let is_string =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    if (is_string(&have) && is_string(&want)) || (have.is_integer() && want.is_integer()) {
        return Ok(arrow_cast::cast(chunk, first)?);
    }
    Err(crate::error::CrmError::ColumnType {
        column: name.to_string(),
        dtype: crate::error::dtype_name(dtype),
        expected: format!(
            "keys of the same kind as the other log's ({})",
            crate::error::dtype_name(first)
        ),
    })
}

impl Columns {
    /// Rows `rows` of a column, in its own type.
    pub fn take(&self, name: &str, rows: &[u32]) -> Result<ArrayRef> {
        let chunks = self.chunks(name);
        let whole = concat_chunks(chunks, self.data_type(name), name)?;
        let index = arrow_array::UInt32Array::from(rows.to_vec());
        Ok(arrow_select::take::take(whole.as_ref(), &index, None)?)
    }
}

/// The chunks of column `name` as one array of type `dtype`.
pub fn concat_chunks(chunks: &[ArrayRef], dtype: &DataType, name: &str) -> Result<ArrayRef> {
    Ok(match chunks {
        [] => arrow_array::new_empty_array(dtype),
        [one] => one.clone(),
        many if matches!(dtype, DataType::Dictionary(_, _)) => {
            concat_dictionaries(many, dtype, name)?
        }
        many => {
            let refs: Vec<&dyn Array> = many.iter().map(|c| c.as_ref()).collect();
            arrow_select::concat::concat(&refs)?
        }
    })
}

/// Dictionary (categorical) chunks as one column with one dictionary: the chunks' own when
/// they share it (as the partitions of one frame do), else the sorted union of their values.
/// Arrow's concatenation would repeat the values of each chunk's dictionary.
fn concat_dictionaries(chunks: &[ArrayRef], dtype: &DataType, name: &str) -> Result<ArrayRef> {
    let dictionaries: Vec<_> = chunks.iter().map(|c| c.as_any_dictionary()).collect();
    let first = dictionaries[0].values();
    let shared = dictionaries
        .iter()
        .all(|d| d.values().as_ref() == first.as_ref());
    // Per chunk, the merged code of each of its dictionary's values.
    let (values, codes): (ArrayRef, Vec<Vec<i32>>) = if shared {
        let identity = (0..first.len() as i32).collect::<Vec<_>>();
        (first.clone(), vec![identity; chunks.len()])
    } else {
        let all: Vec<ArrayRef> = dictionaries.iter().map(|d| d.values().clone()).collect();
        let (codes, uniques) = keys::encode(&all, name)?;
        let codes = codes
            .into_iter()
            .map(|c| c.into_iter().map(|k| k as i32).collect())
            .collect();
        (uniques, codes)
    };
    let mut keys = Vec::with_capacity(chunks.iter().map(|c| c.len()).sum());
    for ((chunk, dictionary), codes) in chunks.iter().zip(&dictionaries).zip(&codes) {
        if dictionary.values().is_empty() {
            keys.extend(std::iter::repeat_n(None, chunk.len()));
            continue;
        }
        let normalized = dictionary.normalized_keys();
        keys.extend((0..chunk.len()).map(|i| chunk.is_valid(i).then(|| codes[normalized[i]])));
    }
    let merged = DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), values)?;
    Ok(arrow_cast::cast(&merged, dtype)?)
}
