//! The "baskets" partial state: the distinct items of each basket (an order, or all of a
//! customer's lines) of part of a log. An order's lines may fall in several parts, so the
//! state keeps each basket's key: merging takes the union of the items of equal keys, and
//! the baskets of A ∪ B are the merge of the baskets of A and B. The frequent itemsets, the
//! rules and the cross-sell recommendations of the whole log are then derived from the
//! merged baskets (`baskets::tables`), exactly as the in-memory calls derive them.
//!
//! It travels as one row per basket: its key, and its items as a list of codes into a
//! dictionary of the part's distinct item values (`list<dictionary<uint32, values>>`), so
//! each item value is written once per part. Parts code their items independently; the
//! merge maps them through the sorted union of the dictionaries.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, ArrayRef, DictionaryArray, ListArray, RecordBatch, UInt32Array};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::{check_kind, column, key_column, marker, not_partial};
use crate::baskets::input::{ItemValues, Lines};
use crate::baskets::Baskets;
use crate::error::{dtype_name, CrmError, Result};
use crate::ingest::keys::{encode, KeyIndex, SpanPerRow};
use crate::ingest::named::shared_customers;

pub const KIND: &str = "baskets";
/// The column of each basket's items.
pub const ITEMS: &str = "items";
/// Schema metadata: "true" when the item column was a categorical (the results' items are
/// then categorical too); the dictionary's values are the categories' values.
const CATEGORICAL_KEY: &str = "crm.categorical_items";

/// The baskets of part of a log, sorted by key.
pub struct BasketStates {
    /// The key column's name.
    pub key_name: String,
    /// The key of each basket, in the key column's type.
    pub keys: ArrayRef,
    /// Each basket's items, as codes into `items` (the basket codes are not used).
    pub baskets: Baskets,
    pub items: ItemValues,
}

impl BasketStates {
    /// The state of a log's lines; item values no basket holds (unused categories) are left
    /// out of the dictionary.
    pub fn from_lines(key_name: &str, lines: Lines) -> Result<Self> {
        let keys = lines.keys.keys(&lines.baskets.keys)?;
        let (baskets, items) = without_unused_items(lines.baskets, lines.items)?;
        Ok(BasketStates {
            key_name: key_name.to_string(),
            keys,
            baskets,
            items,
        })
    }

    pub fn to_batch(&self) -> Result<RecordBatch> {
        let codes = UInt32Array::from(self.baskets.items.clone());
        let values: ArrayRef = Arc::new(DictionaryArray::<UInt32Type>::try_new(
            codes,
            self.items.uniques.clone(),
        )?);
        let offsets = self
            .baskets
            .offsets
            .iter()
            .map(|&o| i32::try_from(o))
            .collect::<std::result::Result<Vec<i32>, _>>()
            .map_err(|_| {
                CrmError::InvalidArgument(
                    "too many (basket, item) pairs in one part for a partial state; use more \
                     partitions"
                        .into(),
                )
            })?;
        let item_field = Arc::new(Field::new_list_field(values.data_type().clone(), false));
        let lists: ArrayRef = Arc::new(ListArray::try_new(
            item_field,
            OffsetBuffer::new(offsets.into()),
            values,
            None,
        )?);
        let fields = vec![
            Field::new(&self.key_name, self.keys.data_type().clone(), false),
            Field::new(ITEMS, lists.data_type().clone(), false),
        ];
        let mut metadata = marker(KIND);
        let categorical = matches!(self.items.dtype, DataType::Dictionary(_, _));
        metadata.insert(CATEGORICAL_KEY.to_string(), categorical.to_string());
        let schema = Schema::new(fields).with_metadata(metadata);
        Ok(RecordBatch::try_new(
            Arc::new(schema),
            vec![self.keys.clone(), lists],
        )?)
    }

    /// Read a state back from the batches of one table (as written by `to_batch`).
    pub fn from_batches(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Self> {
        check_kind(schema, KIND)?;
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        if names.len() != 2 || names[1] != ITEMS {
            return Err(not_partial());
        }
        let categorical = match schema.metadata().get(CATEGORICAL_KEY).map(String::as_str) {
            Some("true") => true,
            Some("false") => false,
            _ => return Err(not_partial()),
        };
        let keys = key_column(schema, batches)?;
        let lists = column(schema, batches, 1)?;
        let lists = lists.as_list_opt::<i32>().ok_or_else(not_partial)?;
        let values = lists
            .values()
            .as_dictionary_opt::<UInt32Type>()
            .ok_or_else(not_partial)?;
        let (start, end) = (
            lists.value_offsets()[0] as usize,
            lists.value_offsets()[lists.len()] as usize,
        );
        let codes = values.keys().slice(start, end - start);
        let n_items = values.values().len() as u32;
        if lists.null_count() > 0
            || codes.null_count() > 0
            || codes.values().iter().any(|&c| c >= n_items)
        {
            return Err(not_partial());
        }
        let uniques = values.values().clone();
        let dtype = if categorical {
            DataType::Dictionary(
                Box::new(DataType::Int32),
                Box::new(uniques.data_type().clone()),
            )
        } else {
            uniques.data_type().clone()
        };
        let offsets = lists
            .value_offsets()
            .iter()
            .map(|&o| o as usize - start)
            .collect();
        Ok(BasketStates {
            key_name: schema.field(0).name().clone(),
            baskets: Baskets {
                keys: (0..keys.len() as u32).collect(),
                offsets,
                items: codes.values().to_vec(),
            },
            keys,
            items: ItemValues { uniques, dtype },
        })
    }

    /// The state of the union of the parts' lines: a key in several parts holds the union
    /// of its items there.
    pub fn merge(parts: Vec<BasketStates>) -> Result<BasketStates> {
        let key_name = parts
            .first()
            .map(|p| p.key_name.clone())
            .unwrap_or_default();
        let merged = merged_baskets(parts)?;
        let keys = match &merged.index {
            Some(index) => index.keys(&merged.baskets.keys)?,
            None => merged.keys_of_one_part,
        };
        Ok(BasketStates {
            key_name,
            keys,
            baskets: merged.baskets,
            items: merged.items,
        })
    }

    /// The baskets of the union of the parts' lines and their item values, without their
    /// keys (which only merging needs): what the itemsets and rules are mined from.
    pub fn merge_unkeyed(parts: Vec<BasketStates>) -> Result<(Baskets, ItemValues)> {
        let merged = merged_baskets(parts)?;
        Ok((merged.baskets, merged.items))
    }
}

/// Merged baskets, whose basket codes are those of `index` (None when a single part was
/// kept as it is, whose keys are `keys_of_one_part`).
struct Merged {
    baskets: Baskets,
    items: ItemValues,
    index: Option<KeyIndex>,
    keys_of_one_part: ArrayRef,
}

fn merged_baskets(parts: Vec<BasketStates>) -> Result<Merged> {
    let Some(first) = parts.first() else {
        return Err(CrmError::InvalidArgument(
            "no partial state to merge".to_string(),
        ));
    };
    // Parts without baskets (empty partitions, every row dropped) add nothing but still
    // tell the item type.
    let empty = Merged {
        baskets: Baskets::default(),
        items: ItemValues {
            uniques: arrow_array::new_empty_array(first.items.uniques.data_type()),
            dtype: first.items.dtype.clone(),
        },
        index: None,
        keys_of_one_part: arrow_array::new_empty_array(first.keys.data_type()),
    };
    let key_name = first.key_name.clone();
    let mut parts: Vec<BasketStates> = parts
        .into_iter()
        .filter(|p| !p.baskets.is_empty())
        .collect();
    if parts.len() <= 1 {
        return Ok(parts.pop().map_or(empty, |p| Merged {
            baskets: p.baskets,
            items: p.items,
            index: None,
            keys_of_one_part: p.keys,
        }));
    }
    let _phase = crate::trace::phase("merge baskets");
    let key_chunks: Vec<[ArrayRef; 1]> = parts.iter().map(|p| [p.keys.clone()]).collect();
    let columns: Vec<(&[ArrayRef], &str)> = key_chunks
        .iter()
        .map(|k| (&k[..], key_name.as_str()))
        .collect();
    let (index, key_codes) = shared_customers(&columns, SpanPerRow::Double)?;
    let (item_codes, items) = merged_items(&parts)?;
    let baskets = union_by_key(&parts, &key_codes, &item_codes, index.n_codes);
    drop(parts);
    Ok(Merged {
        baskets,
        items,
        index: Some(index),
        keys_of_one_part: empty.keys_of_one_part,
    })
}

/// The baskets of every part by merged key code (`key_codes[p][b]`: that of basket `b` of
/// part `p`, below `n_codes`), items mapped through `item_codes[p]`: per key the sorted
/// union of its items, as `Baskets::from_pairs` gives it for all the (key, item) pairs, but
/// made by copying each basket into its key's slot and sorting only the slots filled from
/// several parts (a customer's long basket, split, merged 2.4-2.9x faster than by sorting
/// every pair; an order's, as fast).
fn union_by_key(
    parts: &[BasketStates],
    key_codes: &[Vec<u32>],
    item_codes: &[Vec<u32>],
    n_codes: usize,
) -> Baskets {
    // Key k's slot, starts[k]..starts[k + 1], has room for the items of all its baskets.
    let mut starts = vec![0usize; n_codes + 1];
    for (part, keys) in parts.iter().zip(key_codes) {
        for (b, &k) in keys.iter().enumerate() {
            starts[k as usize + 1] += part.baskets.basket(b).len();
        }
    }
    for k in 0..n_codes {
        starts[k + 1] += starts[k];
    }
    let mut filled = starts[..n_codes].to_vec();
    let mut items = vec![0u32; starts[n_codes]];
    for ((part, keys), codes) in parts.iter().zip(key_codes).zip(item_codes) {
        for (b, &k) in keys.iter().enumerate() {
            let at = &mut filled[k as usize];
            for &i in part.baskets.basket(b) {
                items[*at] = codes[i as usize];
                *at += 1;
            }
        }
    }
    drop(filled);
    // Each slot sorted, then moved down without its duplicates (never past unread items).
    let mut baskets = Baskets {
        keys: Vec::new(),
        offsets: vec![0],
        items: Vec::new(),
    };
    let mut end = 0;
    for k in 0..n_codes {
        let slot = starts[k]..starts[k + 1];
        if slot.is_empty() {
            continue;
        }
        if !items[slot.clone()].windows(2).all(|w| w[0] < w[1]) {
            items[slot.clone()].sort_unstable();
        }
        let first = end;
        for r in slot {
            if end == first || items[end - 1] != items[r] {
                items[end] = items[r];
                end += 1;
            }
        }
        baskets.keys.push(k as u32);
        baskets.offsets.push(end);
    }
    items.truncate(end);
    baskets.items = items;
    baskets
}

/// One dictionary for the parts' items, their sorted distinct values (so a code is the
/// value's rank, as in the in-memory call), and each part's old code → new code.
fn merged_items(parts: &[BasketStates]) -> Result<(Vec<Vec<u32>>, ItemValues)> {
    let first = &parts[0].items;
    let want = first.uniques.data_type();
    let chunks = parts
        .iter()
        .map(|p| {
            let have = p.items.uniques.data_type();
            let same_kind = have == want
                || have.is_integer() && want.is_integer()
                || is_string(have) && is_string(want);
            if !same_kind {
                return Err(CrmError::ColumnType {
                    column: ITEMS.to_string(),
                    dtype: dtype_name(have),
                    expected: format!(
                        "items of the type of the other parts' ({})",
                        dtype_name(want)
                    ),
                });
            }
            // One string layout (and integer width) for all, as the first part has it.
            Ok(arrow_cast::cast(&p.items.uniques, want)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let (codes, uniques) = encode(&chunks, ITEMS)?;
    Ok((
        codes,
        ItemValues {
            uniques,
            dtype: first.dtype.clone(),
        },
    ))
}

fn is_string(dtype: &DataType) -> bool {
    matches!(
        dtype,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// The baskets and item values with only the items some basket holds; codes stay ranks of
/// the sorted values.
fn without_unused_items(mut baskets: Baskets, items: ItemValues) -> Result<(Baskets, ItemValues)> {
    let mut new_code = vec![u32::MAX; items.len()];
    for &i in &baskets.items {
        new_code[i as usize] = 0;
    }
    let used: Vec<u32> = (0..items.len() as u32)
        .filter(|&i| new_code[i as usize] == 0)
        .collect();
    if used.len() == items.len() {
        return Ok((baskets, items));
    }
    for (code, &old) in used.iter().enumerate() {
        new_code[old as usize] = code as u32;
    }
    baskets
        .items
        .par_iter_mut()
        .for_each(|i| *i = new_code[*i as usize]);
    let uniques = arrow_select::take::take(items.uniques.as_ref(), &UInt32Array::from(used), None)?;
    Ok((
        baskets,
        ItemValues {
            uniques,
            dtype: items.dtype,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::SchemaRef;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    use crate::ingest::OnInvalid;

    /// The baskets of (key, item) lines, sent through the batch form as they would travel.
    fn state(lines: &[(i64, &str)]) -> BasketStates {
        let keys = Int64Array::from_iter_values(lines.iter().map(|l| l.0));
        let items = StringArray::from_iter_values(lines.iter().map(|l| l.1));
        let batch = RecordBatch::try_from_iter([
            ("order", Arc::new(keys) as ArrayRef),
            ("item", Arc::new(items) as ArrayRef),
        ])
        .unwrap();
        let schema: SchemaRef = batch.schema();
        let lines =
            crate::baskets::input::lines(&schema, &[batch], "order", "item", OnInvalid::Raise)
                .unwrap();
        let batch = BasketStates::from_lines("order", lines)
            .unwrap()
            .to_batch()
            .unwrap();
        BasketStates::from_batches(&batch.schema(), &[batch]).unwrap()
    }

    /// (key, items) of every basket, as values.
    fn contents(s: &BasketStates) -> Vec<(i64, Vec<String>)> {
        let keys = s.keys.as_primitive::<arrow_array::types::Int64Type>();
        let values = s.items.uniques.as_string::<i32>();
        (0..s.baskets.len())
            .map(|b| {
                let items = s
                    .baskets
                    .basket(b)
                    .iter()
                    .map(|&i| values.value(i as usize).to_string());
                (keys.value(b), items.collect())
            })
            .collect()
    }

    #[test]
    fn merging_the_states_of_a_random_split_equals_the_state_of_the_whole() {
        let names = ["a", "b", "c", "d", "e", "f", "g"];
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..30 {
            let lines: Vec<(i64, &str)> = (0..rng.random_range(1..400))
                .map(|_| {
                    (
                        rng.random_range(0..60) * 3 - 40,
                        names[rng.random_range(0..names.len())],
                    )
                })
                .collect();
            let mut parts: Vec<Vec<(i64, &str)>> = vec![vec![]; rng.random_range(1..5)];
            for &line in &lines {
                let p = rng.random_range(0..parts.len());
                parts[p].push(line);
            }
            let whole = state(&lines);
            let states: Vec<BasketStates> = parts.iter().map(|p| state(p)).collect();
            let merged = BasketStates::merge(states).unwrap();
            assert_eq!(contents(&merged), contents(&whole));
            // Codes are ranks of the sorted values, as in the in-memory call.
            assert_eq!(merged.items.uniques.as_ref(), whole.items.uniques.as_ref());
            assert_eq!(merged.baskets.items, whole.baskets.items);
            let (baskets, _) =
                BasketStates::merge_unkeyed(parts.iter().map(|p| state(p)).collect()).unwrap();
            assert_eq!(
                (baskets.offsets, baskets.items),
                (whole.baskets.offsets, whole.baskets.items)
            );
        }
    }

    #[test]
    fn merging_is_associative() {
        let a = state(&[(1, "x"), (2, "y"), (3, "z")]);
        let b = state(&[(2, "x"), (3, "z"), (4, "w")]);
        let c = state(&[(1, "w"), (4, "x")]);
        let again = || {
            (
                state(&[(1, "x"), (2, "y"), (3, "z")]),
                state(&[(2, "x"), (3, "z"), (4, "w")]),
                state(&[(1, "w"), (4, "x")]),
            )
        };
        let left = BasketStates::merge(vec![BasketStates::merge(vec![a, b]).unwrap(), c]).unwrap();
        let (a, b, c) = again();
        let right = BasketStates::merge(vec![a, BasketStates::merge(vec![b, c]).unwrap()]).unwrap();
        assert_eq!(contents(&left), contents(&right));
        assert_eq!(
            contents(&left),
            vec![
                (1, vec!["w".into(), "x".into()]),
                (2, vec!["x".into(), "y".into()]),
                (3, vec!["z".into()]),
                (4, vec!["w".into(), "x".into()]),
            ]
        );
    }

    #[test]
    fn unused_categories_are_left_out_and_the_item_type_survives() {
        let keys: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 2]));
        let categories = StringArray::from(vec!["unused", "tea", "milk"]);
        let items: ArrayRef = Arc::new(
            DictionaryArray::<arrow_array::types::Int8Type>::try_new(
                arrow_array::Int8Array::from(vec![1, 2, 2]),
                Arc::new(categories),
            )
            .unwrap(),
        );
        let batch = RecordBatch::try_from_iter([("order", keys), ("item", items)]).unwrap();
        let lines = crate::baskets::input::lines(
            &batch.schema(),
            &[batch],
            "order",
            "item",
            OnInvalid::Raise,
        )
        .unwrap();
        let batch = BasketStates::from_lines("order", lines)
            .unwrap()
            .to_batch()
            .unwrap();
        let s = BasketStates::from_batches(&batch.schema(), &[batch]).unwrap();
        assert_eq!(
            s.items
                .uniques
                .as_string::<i32>()
                .iter()
                .flatten()
                .collect::<Vec<_>>(),
            ["milk", "tea"]
        );
        assert!(matches!(s.items.dtype, DataType::Dictionary(_, _)));
        assert_eq!(
            contents(&s),
            vec![
                (1, vec!["milk".into(), "tea".into()]),
                (2, vec!["milk".into()])
            ]
        );
    }

    #[test]
    fn a_state_of_another_kind_is_refused() {
        let batch = state(&[(1, "x")]).to_batch().unwrap();
        let mut meta = batch.schema().metadata().clone();
        meta.insert(super::super::KIND_KEY.into(), "customer_states".into());
        let other: SchemaRef = Arc::new(batch.schema().as_ref().clone().with_metadata(meta));
        let err = BasketStates::from_batches(&other, &[]).err().unwrap();
        assert!(
            err.to_string().contains("of kind 'customer_states'"),
            "{err}"
        );
    }
}
