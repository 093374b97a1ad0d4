//! Customer (and order) keys → dense codes.
//!
//! Dense integer ids (the usual auto-increment customer id) need no table at all: the code
//! is `key - min`, read straight from the column. Strings and sparse integers are grouped by
//! hash during the per-customer pass itself (`hashing`), and categoricals are looked up
//! through their (small) dictionaries. Either way a code is the key's rank among the
//! distinct keys, so the output comes back sorted by key, whatever the row order or the
//! number of threads.

use std::sync::Arc;

use arrow_array::builder::GenericStringBuilder;
use arrow_array::{cast::AsArray, types::*, Array, ArrayRef, DictionaryArray, Int32Array};
use arrow_array::{
    GenericStringArray, LargeStringArray, OffsetSizeTrait, PrimitiveArray, StringArray,
    StringViewArray,
};
use arrow_buffer::ScalarBuffer;
use arrow_schema::DataType;
use rayon::prelude::*;

use crate::error::{CrmError, Result};
use crate::hashing::{self, GroupKey, Packing, SortPrefix, Word};
use crate::partition::SharedMut;

/// Per-row customer keys, in the form cheapest for the key type.
pub enum RowCodes {
    /// `code = key - min`; chunks borrowed from the input column.
    Dense {
        chunks: Vec<ScalarBuffer<i64>>,
        min: i64,
    },
    /// Codes looked up once (categoricals, through their dictionaries).
    Coded { chunks: Vec<Vec<u32>> },
    /// Keys grouped by hash during the pass; the pass returns their sorted distinct values.
    Hashed(HashedKeys),
}

/// Keys that the per-customer pass groups by hash.
pub enum HashedKeys {
    Ints(Vec<ScalarBuffer<i64>>),
    /// Strings, packed into an integer when their lengths allow.
    Strings {
        chunks: Strings,
        packing: Packing,
    },
}

/// String chunks of one of Arrow's three layouts.
pub enum Strings {
    Utf8(Vec<StringArray>),
    Large(Vec<LargeStringArray>),
    View(Vec<StringViewArray>),
}

impl Strings {
    fn new(chunks: &[ArrayRef]) -> Option<Strings> {
        Some(match chunks.first()?.data_type() {
            DataType::Utf8 => Strings::Utf8(
                chunks
                    .iter()
                    .map(|c| c.as_string::<i32>().clone())
                    .collect(),
            ),
            DataType::LargeUtf8 => Strings::Large(
                chunks
                    .iter()
                    .map(|c| c.as_string::<i64>().clone())
                    .collect(),
            ),
            DataType::Utf8View => {
                Strings::View(chunks.iter().map(|c| c.as_string_view().clone()).collect())
            }
            _ => return None,
        })
    }

    #[inline(always)]
    pub fn value(&self, chunk: usize, i: usize) -> &str {
        match self {
            Strings::Utf8(a) => a[chunk].value(i),
            Strings::Large(a) => a[chunk].value(i),
            Strings::View(a) => a[chunk].value(i),
        }
    }

    /// How the strings pack, from the shortest and the longest.
    fn packing(&self) -> Packing {
        fn span(lens: impl Iterator<Item = usize>) -> (usize, usize) {
            lens.fold((usize::MAX, 0), |(lo, hi), n| (lo.min(n), hi.max(n)))
        }
        fn offsets<O: OffsetSizeTrait>(a: &GenericStringArray<O>) -> (usize, usize) {
            span(
                a.value_offsets()
                    .windows(2)
                    .map(|w| (w[1] - w[0]).as_usize()),
            )
        }
        let spans: Vec<(usize, usize)> = match self {
            Strings::Utf8(a) => a.par_iter().map(offsets).collect(),
            Strings::Large(a) => a.par_iter().map(offsets).collect(),
            Strings::View(a) => a
                .par_iter()
                .map(|a| span(a.views().iter().map(|&v| v as u32 as usize)))
                .collect(),
        };
        let (shortest, longest) = span(spans.iter().flat_map(|&(lo, hi)| [lo, hi]));
        Packing::for_lengths(shortest, longest)
    }

    /// Run `grouping` on every row's key in its packed form (per `packing`), and turn the
    /// distinct keys it returns back into an array of the column's layout.
    pub fn grouped<G: StringGrouping>(&self, packing: Packing, grouping: G) -> (G::Out, ArrayRef) {
        match packing {
            Packing::Eight | Packing::Short => {
                let pack = if packing == Packing::Eight {
                    Word::eight
                } else {
                    Word::short
                };
                let (out, keys) = grouping.run(|c, i| pack(self.value(c, i)));
                // SAFETY: the keys were packed by `packing`'s function just above.
                let keys = keys.iter().map(|k| unsafe { k.unpack(packing) });
                (out, self.array(keys))
            }
            Packing::Wide => {
                let (out, keys) = grouping.run(|c, i| hashing::pack(self.value(c, i)));
                // SAFETY: the keys were packed by `hashing::pack`.
                (
                    out,
                    self.array(keys.iter().map(|k| unsafe { hashing::unpack(k) })),
                )
            }
            Packing::None => {
                let (out, keys) = grouping.run(|c, i| self.value(c, i));
                (out, self.array(keys.iter()))
            }
        }
    }

    /// An array of the same layout holding `values`.
    pub fn array<S: AsRef<str>>(&self, values: impl Iterator<Item = S> + Clone) -> ArrayRef {
        match self {
            Strings::Utf8(_) => Arc::new(sized_strings::<i32, S>(values)),
            Strings::Large(_) => Arc::new(sized_strings::<i64, S>(values)),
            Strings::View(_) => Arc::new(StringViewArray::from_iter_values(values)),
        }
    }
}

/// A pass that groups rows by a key read through `key_at(chunk, row)` and returns its result
/// with the distinct keys (`Strings::grouped` picks the key's form).
pub trait StringGrouping {
    type Out;
    fn run<K>(self, key_at: impl Fn(usize, usize) -> K + Sync) -> (Self::Out, Vec<K>)
    where
        K: GroupKey + Ord + SortPrefix;
}

/// A string array built in buffers of their final size, measured first: growing them would
/// leave a trail of freed smaller buffers that a large result cannot reuse.
fn sized_strings<O: OffsetSizeTrait, S: AsRef<str>>(
    values: impl Iterator<Item = S> + Clone,
) -> GenericStringArray<O> {
    let (count, bytes) = values
        .clone()
        .fold((0, 0), |(n, b), v| (n + 1, b + v.as_ref().len()));
    let mut builder = GenericStringBuilder::<O>::with_capacity(count, bytes);
    for v in values {
        builder.append_value(v);
    }
    builder.finish()
}

/// The customer keys of every row plus what is needed to turn codes back into keys.
pub struct KeyIndex {
    pub rows: RowCodes,
    /// Number of codes (for `Dense`, the id span: some codes may be unused; for `Hashed`,
    /// known only after the pass).
    pub n_codes: usize,
    pub key_type: DataType,
    /// Sorted distinct keys (`Coded` only).
    uniques: Option<ArrayRef>,
}

impl RowCodes {
    /// The code of row `i` of chunk `chunk` (not for `Hashed` keys, which have none yet).
    #[inline(always)]
    pub fn code(&self, chunk: usize, i: usize) -> u32 {
        match self {
            RowCodes::Dense { chunks, min } => (chunks[chunk][i].wrapping_sub(*min)) as u32,
            RowCodes::Coded { chunks } => chunks[chunk][i],
            RowCodes::Hashed(_) => unreachable!("hashed keys are grouped, not coded"),
        }
    }
}

/// A dense id range costs one state slot per id; allow it while that is no bigger than
/// `span_per_row` times the rows (or small in absolute terms), otherwise hash.
fn dense_is_worth_it(span: u128, n_rows: usize, span_per_row: SpanPerRow) -> bool {
    let rows = n_rows as u128;
    let limit = match span_per_row {
        SpanPerRow::Half => rows / 2,
        SpanPerRow::Double => rows * 2,
    };
    span <= (1 << 16).max(limit) && span < u32::MAX as u128
}

/// How sparse a dense id range may be, per row: half a slot for transaction rows (customers
/// have many rows each), two for per-customer states (one row per customer and part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanPerRow {
    Half,
    Double,
}

impl RowCodes {
    /// The codes of rows `start..end` of `chunk` (not for `Hashed` keys).
    pub fn slice<'a>(
        &'a self,
        chunk: usize,
        start: usize,
        end: usize,
        buf: &'a mut Vec<u32>,
    ) -> &'a [u32] {
        match self {
            RowCodes::Dense { chunks, min } => {
                buf.clear();
                buf.extend(
                    chunks[chunk][start..end]
                        .iter()
                        .map(|v| v.wrapping_sub(*min) as u32),
                );
                buf
            }
            RowCodes::Coded { chunks } => &chunks[chunk][start..end],
            RowCodes::Hashed(_) => unreachable!("hashed keys are grouped, not coded"),
        }
    }
}

/// Index the customer column. With `need_codes`, keys that would be grouped by hash during
/// the pass are encoded up front instead, so that every row has a code.
pub fn index_customers(chunks: &[ArrayRef], column: &str, need_codes: bool) -> Result<KeyIndex> {
    index_keys(chunks, column, need_codes, SpanPerRow::Half)
}

pub fn index_keys(
    chunks: &[ArrayRef],
    column: &str,
    need_codes: bool,
    span_per_row: SpanPerRow,
) -> Result<KeyIndex> {
    let key_type = chunks
        .first()
        .map(|c| c.data_type().clone())
        .unwrap_or(DataType::Int64);
    let index = |rows, n_codes, uniques| {
        Ok(KeyIndex {
            rows,
            n_codes,
            key_type: key_type.clone(),
            uniques,
        })
    };
    if key_type.is_integer() {
        let ints = chunks
            .iter()
            .map(|c| int_values(c, column))
            .collect::<Result<Vec<_>>>()?;
        let n_rows: usize = ints.iter().map(|c| c.len()).sum();
        let (min, max) = min_max(&ints);
        let span = (max as i128 - min as i128 + 1).max(0) as u128;
        if n_rows == 0 || dense_is_worth_it(span, n_rows, span_per_row) {
            let n_codes = if n_rows == 0 { 0 } else { span as usize };
            return index(RowCodes::Dense { chunks: ints, min }, n_codes, None);
        }
        if !need_codes {
            return index(RowCodes::Hashed(HashedKeys::Ints(ints)), 0, None);
        }
    }
    if need_codes || matches!(key_type, DataType::Dictionary(_, _)) {
        let (codes, uniques) = encode(chunks, column)?;
        return index(
            RowCodes::Coded { chunks: codes },
            uniques.len(),
            Some(uniques),
        );
    }
    match Strings::new(chunks) {
        Some(strings) => {
            let packing = strings.packing();
            let chunks = strings;
            index(
                RowCodes::Hashed(HashedKeys::Strings { chunks, packing }),
                0,
                None,
            )
        }
        None => Err(key_type_error(column, &key_type)),
    }
}

impl KeyIndex {
    /// The keys of the given codes, in the column's original type (dense and coded keys;
    /// the pass returns hashed keys itself).
    pub fn keys(&self, codes: &[u32]) -> Result<ArrayRef> {
        match (&self.rows, &self.uniques) {
            (RowCodes::Dense { min, .. }, _) => {
                let values: Vec<i64> = codes.iter().map(|&c| min + c as i64).collect();
                ints_as(values, &self.key_type)
            }
            (RowCodes::Coded { .. }, Some(uniques)) => {
                // All the keys in order: no copy (any other codes, even as many: a take).
                let all_in_order = codes.len() == uniques.len()
                    && codes.iter().enumerate().all(|(i, &c)| c as usize == i);
                let values = if all_in_order {
                    uniques.clone()
                } else {
                    let idx = arrow_array::UInt32Array::from(codes.to_vec());
                    arrow_select::take::take(uniques.as_ref(), &idx, None)?
                };
                if !matches!(self.key_type, DataType::Dictionary(_, _)) {
                    return Ok(values);
                }
                let n = values.len() as i32;
                Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
                    Int32Array::from_iter_values(0..n),
                    values,
                )?))
            }
            _ => unreachable!("hashed keys come from the pass; coded keys keep their dictionary"),
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
    match array.data_type() {
        DataType::Int64 => Ok(array.as_primitive::<Int64Type>().values().clone()),
        t if t.is_integer() => {
            let safe = arrow_cast::CastOptions {
                safe: false,
                ..Default::default()
            };
            let wide =
                arrow_cast::cast_with_options(array, &DataType::Int64, &safe).map_err(|_| {
                    CrmError::InvalidData(format!(
                        "column '{column}' has values that do not fit in a signed 64-bit integer"
                    ))
                })?;
            Ok(wide.as_primitive::<Int64Type>().values().clone())
        }
        other => Err(key_type_error(column, other)),
    }
}

fn key_type_error(column: &str, dtype: &DataType) -> CrmError {
    CrmError::ColumnType {
        column: column.to_string(),
        dtype: crate::error::dtype_name(dtype),
        expected: "integer, string or categorical keys".to_string(),
    }
}

pub fn ints_as(values: Vec<i64>, dtype: &DataType) -> Result<ArrayRef> {
    let wide: ArrayRef = Arc::new(PrimitiveArray::<Int64Type>::from(values));
    Ok(arrow_cast::cast(&wide, dtype)?)
}

/// Hash-encode a key column (order ids, dictionary values): per-row codes (rank among the
/// sorted distinct keys) and the sorted distinct keys in the column's value type.
pub fn encode(chunks: &[ArrayRef], column: &str) -> Result<(Vec<Vec<u32>>, ArrayRef)> {
    let lens: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
    let dtype = chunks
        .first()
        .map(|c| c.data_type().clone())
        .unwrap_or(DataType::Utf8);
    if let DataType::Dictionary(_, _) = dtype {
        return encode_dictionary(chunks, column);
    }
    if dtype.is_integer() {
        let ints = chunks
            .iter()
            .map(|c| int_values(c, column))
            .collect::<Result<Vec<_>>>()?;
        let (codes, uniques) = encode_hashed(&lens, |c, i| ints[c][i]);
        return Ok((codes, ints_as(uniques, &dtype)?));
    }
    let strings = Strings::new(chunks).ok_or_else(|| key_type_error(column, &dtype))?;
    Ok(strings.grouped(strings.packing(), Encoding(&lens)))
}

/// `encode_hashed` as a `StringGrouping`.
struct Encoding<'a>(&'a [usize]);

impl StringGrouping for Encoding<'_> {
    type Out = Vec<Vec<u32>>;
    fn run<K>(self, key_at: impl Fn(usize, usize) -> K + Sync) -> (Vec<Vec<u32>>, Vec<K>)
    where
        K: GroupKey + Ord + SortPrefix,
    {
        encode_hashed(self.0, key_at)
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

/// Per-row codes of a hashed key: grouped by `hashing::group_by_key`, which writes each row's
/// (partition, local id), then rewritten to global ranks.
fn encode_hashed<K>(
    lens: &[usize],
    key_at: impl Fn(usize, usize) -> K + Sync,
) -> (Vec<Vec<u32>>, Vec<K>)
where
    K: hashing::GroupKey + Ord + hashing::SortPrefix,
{
    let n_parts = hashing::partitions_for(lens.iter().sum());
    let mut codes: Vec<Vec<u32>> = lens.iter().map(|&n| vec![0u32; n]).collect();
    let outs: Vec<SharedMut<u32>> = codes
        .iter_mut()
        .map(|c| SharedMut(c.as_mut_ptr()))
        .collect();
    let mut local_ids: Vec<(usize, &[SharedMut<u32>])> =
        (0..n_parts).map(|q| (q, &outs[..])).collect();
    let bits = n_parts.trailing_zeros();
    let tables: Vec<Vec<K>> = hashing::group_by_key(
        lens,
        0, // the smallest batches
        &key_at,
        |c, i| (c as u32, i as u32),
        &mut local_ids,
        |_, _| (),
        |(q, outs), id, &(c, i)| {
            // SAFETY: each row is visited once, by the worker of its partition, and
            // i < lens[c], the length of codes[c].
            unsafe {
                outs[c as usize]
                    .0
                    .add(i as usize)
                    .write(*q as u32 | (id << bits))
            };
        },
    );
    drop(local_ids);
    drop(outs);
    let (sorted, ranks) = hashing::rank(&tables);
    let mask = (1u32 << bits) - 1;
    codes.par_iter_mut().for_each(|c| {
        c.par_iter_mut()
            .with_min_len(1 << 14)
            .for_each(|code| *code = ranks[(*code & mask) as usize][(*code >> bits) as usize]);
    });
    (codes, sorted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Int64Array;

    #[test]
    fn dense_ints_need_no_table() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![105, 100, 105, 101]));
        let index = index_customers(&[a], "c", false).unwrap();
        assert!(matches!(index.rows, RowCodes::Dense { min: 100, .. }));
        assert_eq!(
            (0..4).map(|i| index.rows.code(0, i)).collect::<Vec<_>>(),
            vec![5, 0, 5, 1]
        );
        let keys = index.keys(&[0, 1, 5]).unwrap();
        assert_eq!(
            keys.as_primitive::<Int64Type>().values().to_vec(),
            vec![100, 101, 105]
        );
    }

    #[test]
    fn coded_keys_of_all_codes_out_of_order_are_in_the_codes_order() {
        let s: ArrayRef = Arc::new(StringArray::from(vec!["b", "a", "c"]));
        let index = index_customers(&[s], "c", true).unwrap();
        let keys = index.keys(&[2, 0, 1]).unwrap();
        let keys: Vec<&str> = keys.as_string::<i32>().iter().flatten().collect();
        assert_eq!(keys, vec!["c", "a", "b"]);
    }

    #[test]
    fn sparse_ints_and_strings_are_grouped_by_hash() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX, -7, i64::MAX, 0]));
        assert!(matches!(
            index_customers(&[a], "c", false).unwrap().rows,
            RowCodes::Hashed(HashedKeys::Ints(_))
        ));
        let s: ArrayRef = Arc::new(StringArray::from(vec!["b", "a", "c", "a"]));
        let index = index_customers(&[s], "c", false).unwrap();
        assert!(matches!(
            index.rows,
            RowCodes::Hashed(HashedKeys::Strings {
                packing: Packing::Short,
                ..
            })
        ));
    }

    #[test]
    fn encoding_gives_sorted_ranks() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX, -7, i64::MAX, 0]));
        assert_eq!(encode(&[a], "c").unwrap().0[0], vec![2, 0, 2, 1]);
        let long = "a string longer than fifteen bytes";
        let s: ArrayRef = Arc::new(StringArray::from(vec!["b", long, "c", "a"]));
        let (codes, uniques) = encode(&[s], "c").unwrap();
        assert_eq!(codes[0], vec![2, 1, 3, 0]);
        assert_eq!(uniques.as_string::<i32>().value(1), long);
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
            index_customers(&[a], "cust", false),
            Err(CrmError::ColumnType { .. })
        ));
    }
}
