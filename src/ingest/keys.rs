//! Customer (and order) keys → dense codes, once per ingest.
//!
//! Dense integer ids (the usual auto-increment customer id) need no table at all: the code
//! is `key - min`, read straight from the column. Anything else (strings, sparse integers,
//! categoricals) goes through per-piece hash tables merged into one sorted dictionary, so a
//! code is the key's rank among the distinct keys: the same whatever the row order or the
//! number of threads, and the output comes back sorted by key.

use std::hash::Hash;
use std::sync::Arc;

use arrow_array::{cast::AsArray, types::*, Array, ArrayRef, DictionaryArray, Int32Array};
use arrow_array::{LargeStringArray, PrimitiveArray, StringArray, StringViewArray};
use arrow_buffer::ScalarBuffer;
use arrow_schema::DataType;
use rayon::prelude::*;
use std::hash::BuildHasher;

use crate::error::{CrmError, Result};
use crate::partition::{self, SharedMut};

/// Per-row customer codes, in the form cheapest for the key type.
pub enum RowCodes {
    /// `code = key - min`; chunks borrowed from the input column.
    Dense {
        chunks: Vec<ScalarBuffer<i64>>,
        min: i64,
    },
    /// Codes looked up through a hash table.
    Coded { chunks: Vec<Vec<u32>> },
}

/// The customer codes of every row plus what is needed to turn codes back into keys.
pub struct KeyIndex {
    pub rows: RowCodes,
    /// Number of codes (for `Dense`, the id span: some codes may be unused).
    pub n_codes: usize,
    key_type: DataType,
    /// Sorted distinct keys (`Coded` only).
    uniques: Option<ArrayRef>,
}

impl RowCodes {
    /// The code of row `i` of chunk `chunk`.
    #[inline(always)]
    pub fn code(&self, chunk: usize, i: usize) -> u32 {
        match self {
            RowCodes::Dense { chunks, min } => (chunks[chunk][i].wrapping_sub(*min)) as u32,
            RowCodes::Coded { chunks } => chunks[chunk][i],
        }
    }
}

/// A dense id range costs one state slot per id; allow it while that is no bigger than
/// half the rows (or small in absolute terms), otherwise hash.
fn dense_is_worth_it(span: u128, n_rows: usize) -> bool {
    span <= (1 << 16).max(n_rows as u128 / 2) && span < u32::MAX as u128
}

pub fn index_customers(chunks: &[ArrayRef], column: &str) -> Result<KeyIndex> {
    let key_type = chunks
        .first()
        .map(|c| c.data_type().clone())
        .unwrap_or(DataType::Int64);
    if key_type.is_integer() {
        let ints = chunks
            .iter()
            .map(|c| int_values(c, column))
            .collect::<Result<Vec<_>>>()?;
        let n_rows: usize = ints.iter().map(|c| c.len()).sum();
        let (min, max) = min_max(&ints);
        let span = (max as i128 - min as i128 + 1).max(0) as u128;
        if n_rows == 0 || dense_is_worth_it(span, n_rows) {
            return Ok(KeyIndex {
                rows: RowCodes::Dense { chunks: ints, min },
                n_codes: if n_rows == 0 { 0 } else { span as usize },
                key_type,
                uniques: None,
            });
        }
    }
    let (codes, uniques) = encode(chunks, column)?;
    Ok(KeyIndex {
        n_codes: uniques.len(),
        rows: RowCodes::Coded { chunks: codes },
        key_type,
        uniques: Some(uniques),
    })
}

impl KeyIndex {
    /// The keys of the given codes, in the column's original type.
    pub fn keys(&self, codes: &[u32]) -> Result<ArrayRef> {
        match (&self.rows, &self.uniques) {
            (RowCodes::Dense { min, .. }, _) => {
                let values: Vec<i64> = codes.iter().map(|&c| min + c as i64).collect();
                ints_as(values, &self.key_type)
            }
            (RowCodes::Coded { .. }, Some(uniques)) => {
                let uniques = if codes.len() == uniques.len() {
                    uniques.clone()
                } else {
                    let idx = arrow_array::UInt32Array::from(codes.to_vec());
                    arrow_select::take::take(uniques.as_ref(), &idx, None)?
                };
                if let DataType::Dictionary(_, _) = self.key_type {
                    let n = uniques.len() as i32;
                    let dict = DictionaryArray::<Int32Type>::try_new(
                        Int32Array::from_iter_values(0..n),
                        uniques,
                    )?;
                    Ok(Arc::new(dict))
                } else {
                    Ok(uniques)
                }
            }
            (RowCodes::Coded { .. }, None) => {
                unreachable!("coded keys always keep their dictionary")
            }
        }
    }
}

fn min_max(chunks: &[ScalarBuffer<i64>]) -> (i64, i64) {
    chunks
        .par_iter()
        .flat_map(|c| c.par_chunks(1 << 16))
        .map(|c| {
            c.iter()
                .fold((i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)))
        })
        .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)))
}

/// Any integer column as i64 values: zero-copy for int64, converted once otherwise.
pub fn int_values(array: &ArrayRef, column: &str) -> Result<ScalarBuffer<i64>> {
    macro_rules! widen {
        ($t:ty) => {
            array
                .as_primitive::<$t>()
                .values()
                .iter()
                .map(|&v| v as i64)
                .collect::<Vec<_>>()
                .into()
        };
    }
    Ok(match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().values().clone(),
        DataType::Int32 => widen!(Int32Type),
        DataType::Int16 => widen!(Int16Type),
        DataType::Int8 => widen!(Int8Type),
        DataType::UInt32 => widen!(UInt32Type),
        DataType::UInt16 => widen!(UInt16Type),
        DataType::UInt8 => widen!(UInt8Type),
        DataType::UInt64 => {
            let values = array.as_primitive::<UInt64Type>().values();
            if let Some(i) = values.iter().position(|&v| v > i64::MAX as u64) {
                return Err(CrmError::InvalidData(format!(
                    "column '{column}': value {} at row {i} does not fit in a signed 64-bit integer",
                    values[i]
                )));
            }
            values.iter().map(|&v| v as i64).collect::<Vec<_>>().into()
        }
        other => return Err(key_type_error(column, other)),
    })
}

fn key_type_error(column: &str, dtype: &DataType) -> CrmError {
    CrmError::ColumnType {
        column: column.to_string(),
        dtype: crate::error::dtype_name(dtype),
        expected: "integer, string or categorical keys".to_string(),
    }
}

fn ints_as(values: Vec<i64>, dtype: &DataType) -> Result<ArrayRef> {
    macro_rules! narrow {
        ($t:ty, $n:ty) => {
            Arc::new(PrimitiveArray::<$t>::from_iter_values(
                values.into_iter().map(|v| v as $n),
            ))
        };
    }
    Ok(match dtype {
        DataType::Int64 => Arc::new(PrimitiveArray::<Int64Type>::from(values)),
        DataType::Int32 => narrow!(Int32Type, i32),
        DataType::Int16 => narrow!(Int16Type, i16),
        DataType::Int8 => narrow!(Int8Type, i8),
        DataType::UInt64 => narrow!(UInt64Type, u64),
        DataType::UInt32 => narrow!(UInt32Type, u32),
        DataType::UInt16 => narrow!(UInt16Type, u16),
        DataType::UInt8 => narrow!(UInt8Type, u8),
        other => return Err(key_type_error("key", other)),
    })
}

/// Hash-encode any supported key column: per-row codes (rank among the sorted distinct
/// keys) and the sorted distinct keys as an array of the column's value type.
pub fn encode(chunks: &[ArrayRef], column: &str) -> Result<(Vec<Vec<u32>>, ArrayRef)> {
    let dtype = chunks
        .first()
        .map(|c| c.data_type().clone())
        .unwrap_or(DataType::Utf8);
    let lens: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
    match &dtype {
        DataType::Utf8 => {
            let arrays: Vec<&StringArray> = chunks.iter().map(|c| c.as_string::<i32>()).collect();
            let longest = arrays
                .iter()
                .flat_map(|a| a.value_offsets().windows(2).map(|w| w[1] - w[0]))
                .max();
            encode_strings(
                &lens,
                |b, i| arrays[b].value(i),
                longest.unwrap_or(0) as usize,
                StringArray::from_iter_values,
            )
        }
        DataType::LargeUtf8 => {
            let arrays: Vec<&LargeStringArray> =
                chunks.iter().map(|c| c.as_string::<i64>()).collect();
            let longest = arrays
                .iter()
                .flat_map(|a| a.value_offsets().windows(2).map(|w| w[1] - w[0]))
                .max();
            encode_strings(
                &lens,
                |b, i| arrays[b].value(i),
                longest.unwrap_or(0) as usize,
                LargeStringArray::from_iter_values,
            )
        }
        DataType::Utf8View => {
            let arrays: Vec<&StringViewArray> = chunks.iter().map(|c| c.as_string_view()).collect();
            let longest = arrays
                .iter()
                .flat_map(|a| a.views().iter().map(|&v| v as u32))
                .max();
            encode_strings(
                &lens,
                |b, i| arrays[b].value(i),
                longest.unwrap_or(0) as usize,
                StringViewArray::from_iter_values,
            )
        }
        DataType::Dictionary(_, _) => encode_dictionary(chunks, column),
        t if t.is_integer() => {
            let ints = chunks
                .iter()
                .map(|c| int_values(c, column))
                .collect::<Result<Vec<_>>>()?;
            let (codes, uniques) = encode_hashed(&lens, |b, i| ints[b][i]);
            Ok((codes, ints_as(uniques, t)?))
        }
        other => Err(key_type_error(column, other)),
    }
}

/// Strings: packed into integers when they are short (the usual customer id), else by reference.
fn encode_strings<'a, A: Array + 'static>(
    lens: &[usize],
    value: impl Fn(usize, usize) -> &'a str + Sync,
    longest: usize,
    build: impl Fn(Vec<String>) -> A,
) -> Result<(Vec<Vec<u32>>, ArrayRef)> {
    if longest <= PACKED_MAX_LEN {
        let (codes, uniques) = encode_hashed(lens, |b, i| pack(value(b, i)));
        Ok((codes, Arc::new(build(uniques.iter().map(unpack).collect()))))
    } else {
        let (codes, uniques) = encode_hashed(lens, value);
        Ok((
            codes,
            Arc::new(build(uniques.into_iter().map(str::to_string).collect())),
        ))
    }
}

/// Categoricals: encode each chunk's dictionary values, then look every row up through them.
fn encode_dictionary(chunks: &[ArrayRef], column: &str) -> Result<(Vec<Vec<u32>>, ArrayRef)> {
    let dicts: Vec<_> = chunks.iter().map(|c| c.as_any_dictionary()).collect();
    let values: Vec<ArrayRef> = dicts.iter().map(|d| d.values().clone()).collect();
    let (value_codes, uniques) = encode(&values, column)?;
    let codes = dicts
        .par_iter()
        .zip(value_codes.par_iter())
        .map(|(d, vc)| d.normalized_keys().into_iter().map(|k| vc[k]).collect())
        .collect();
    Ok((codes, uniques))
}

/// A prefix of a key whose order agrees with the key's order (ties are broken by the key).
pub trait SortPrefix {
    fn sort_prefix(&self) -> u64;
}

impl SortPrefix for i64 {
    fn sort_prefix(&self) -> u64 {
        (*self as u64) ^ (1 << 63)
    }
}

impl SortPrefix for u128 {
    fn sort_prefix(&self) -> u64 {
        (*self >> 64) as u64
    }
}

impl SortPrefix for &str {
    fn sort_prefix(&self) -> u64 {
        let mut first = [0u8; 8];
        let n = self.len().min(8);
        first[..n].copy_from_slice(&self.as_bytes()[..n]);
        u64::from_be_bytes(first)
    }
}

/// Strings of up to 15 bytes packed into one integer: the bytes big-endian, zero-padded, then
/// the length. Integer order is the strings' byte order, and no lookup needs the string data.
pub const PACKED_MAX_LEN: usize = 15;

pub fn pack(s: &str) -> u128 {
    let mut bytes = [0u8; 16];
    bytes[..s.len()].copy_from_slice(s.as_bytes());
    bytes[15] = s.len() as u8;
    u128::from_be_bytes(bytes)
}

pub fn unpack(packed: &u128) -> String {
    let bytes = packed.to_be_bytes();
    String::from_utf8_lossy(&bytes[..bytes[15] as usize]).into_owned()
}

/// Rows per hash partition to aim for: small enough for a partition's table to stay in cache.
const ROWS_PER_PARTITION: usize = 1 << 16;

/// Hash-partitioned encoding. Rows are scattered (a batch at a time, keys travelling with
/// them) into partitions by key hash; partitions hold disjoint keys, each encoded with its
/// own small in-cache table. The distinct keys are then sorted once (on an order-preserving
/// integer prefix, the full key only breaking ties) and every row's local id is rewritten
/// to its global rank.
fn encode_hashed<K, F>(lens: &[usize], key_at: F) -> (Vec<Vec<u32>>, Vec<K>)
where
    K: Hash + Eq + Ord + Copy + Default + Send + Sync + SortPrefix,
    F: Fn(usize, usize) -> K + Sync,
{
    let hasher = hashbrown::DefaultHashBuilder::default();
    let total: usize = lens.iter().sum();
    let bits = (total / ROWS_PER_PARTITION)
        .max(1)
        .next_power_of_two()
        .trailing_zeros()
        .min(12);
    let n_parts = 1usize << bits;
    // Middle bits: the tables themselves use the low bits and their tags the top ones.
    let part_of = |key: K| ((hasher.hash_one(key) >> 32) & ((1 << bits) - 1)) as usize;
    let tables_phase = crate::trace::phase("keys: hash tables");
    let mut codes: Vec<Vec<u32>> = lens.iter().map(|&n| vec![0u32; n]).collect();
    let outs: Vec<SharedMut<u32>> = codes
        .iter_mut()
        .map(|c| SharedMut(c.as_mut_ptr()))
        .collect();
    let mut tables: Vec<(hashbrown::HashTable<u32>, Vec<K>)> =
        (0..n_parts).map(|_| Default::default()).collect();
    let mut rows: Vec<(K, u32, u32)> = Vec::new();
    for batch in partition::pieces(lens, 1 << 17).chunks(8) {
        let bounds = partition::scatter(
            batch,
            n_parts,
            |c, i| part_of(key_at(c, i)),
            |c, i| (key_at(c, i), c as u32, i as u32),
            &mut rows,
        );
        tables
            .par_iter_mut()
            .enumerate()
            .for_each(|(q, (table, distinct))| {
                for &(key, c, i) in &rows[bounds[q]..bounds[q + 1]] {
                    let eq = |&u: &u32| distinct[u as usize] == key;
                    let id = match table.entry(hasher.hash_one(key), eq, |&u| {
                        hasher.hash_one(distinct[u as usize])
                    }) {
                        hashbrown::hash_table::Entry::Occupied(o) => *o.get(),
                        hashbrown::hash_table::Entry::Vacant(v) => {
                            distinct.push(key);
                            *v.insert((distinct.len() - 1) as u32).get()
                        }
                    };
                    // SAFETY: each row sits in exactly one partition, so exactly one worker
                    // writes index i of chunk c, and i < lens[c], the vector's length.
                    unsafe {
                        outs[c as usize]
                            .0
                            .add(i as usize)
                            .write(q as u32 | (id << bits))
                    };
                }
            });
    }
    drop(outs);
    drop(rows);

    drop(tables_phase);
    let _p = crate::trace::phase("keys: sort and rank");
    let mut offsets = Vec::with_capacity(n_parts);
    let mut acc = 0;
    for (_, distinct) in &tables {
        offsets.push(acc);
        acc += distinct.len();
    }
    let all: Vec<K> = tables
        .into_iter()
        .flat_map(|(_, distinct)| distinct)
        .collect();
    let mut order: Vec<(u64, u32)> = all
        .par_iter()
        .enumerate()
        .map(|(i, k)| (k.sort_prefix(), i as u32))
        .collect();
    order.par_sort_unstable();
    for run in order
        .chunk_by_mut(|a, b| a.0 == b.0)
        .filter(|r| r.len() > 1)
    {
        run.sort_unstable_by(|a, b| all[a.1 as usize].cmp(&all[b.1 as usize]));
    }
    let mut rank = vec![0u32; all.len()];
    for (r, &(_, i)) in order.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    let mask = (1u32 << bits) - 1;
    codes.par_iter_mut().for_each(|c| {
        c.par_iter_mut().with_min_len(1 << 14).for_each(|code| {
            *code = rank[offsets[(*code & mask) as usize] + (*code >> bits) as usize];
        });
    });
    let sorted = order.iter().map(|&(_, i)| all[i as usize]).collect();
    (codes, sorted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Int64Array;

    fn codes_of(index: &KeyIndex) -> Vec<u32> {
        let n = match &index.rows {
            RowCodes::Dense { chunks, .. } => chunks[0].len(),
            RowCodes::Coded { chunks } => chunks[0].len(),
        };
        (0..n).map(|i| index.rows.code(0, i)).collect()
    }

    #[test]
    fn dense_ints_need_no_table() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![105, 100, 105, 101]));
        let index = index_customers(&[a], "c").unwrap();
        assert!(matches!(index.rows, RowCodes::Dense { min: 100, .. }));
        assert_eq!(codes_of(&index), vec![5, 0, 5, 1]);
        let keys = index.keys(&[0, 1, 5]).unwrap();
        assert_eq!(
            keys.as_primitive::<Int64Type>().values().to_vec(),
            vec![100, 101, 105]
        );
    }

    #[test]
    fn sparse_ints_and_strings_get_sorted_ranks() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX, -7, i64::MAX, 0]));
        let index = index_customers(&[a], "c").unwrap();
        assert_eq!(codes_of(&index), vec![2, 0, 2, 1]);
        let s: ArrayRef = Arc::new(StringArray::from(vec!["b", "a", "c", "a"]));
        let index = index_customers(&[s], "c").unwrap();
        assert_eq!(codes_of(&index), vec![1, 0, 2, 0]);
    }

    #[test]
    fn codes_do_not_depend_on_chunking() {
        let n: usize = 300_000;
        let keys: Vec<String> = (0..n).map(|i| format!("k{}", (i * 7919) % 1000)).collect();
        let whole: ArrayRef = Arc::new(StringArray::from_iter_values(keys.iter()));
        let (codes, uniques) = encode(&[whole], "c").unwrap();
        let a: ArrayRef = Arc::new(StringArray::from_iter_values(keys[..1000].iter()));
        let b: ArrayRef = Arc::new(StringArray::from_iter_values(keys[1000..].iter()));
        let (split, uniques2) = encode(&[a, b], "c").unwrap();
        assert_eq!(uniques.len(), 1000);
        assert_eq!(&uniques, &uniques2);
        assert_eq!(codes[0], [split[0].clone(), split[1].clone()].concat());
    }

    #[test]
    fn floats_are_not_keys() {
        let a: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![1.0]));
        assert!(matches!(
            index_customers(&[a], "cust"),
            Err(CrmError::ColumnType { .. })
        ));
    }
}
