//! Partial states: the per-customer state of part of a log, in a form that travels (an Arrow
//! record batch with a versioned schema) and merges. Streaming a Parquet dataset folds one
//! slice of rows at a time into such a state; on Dask each partition makes one, they travel
//! between processes as Arrow IPC, and merge. summarize(A ∪ B) == merge(summarize(A),
//! summarize(B)): the merged state gives the same RFM table as the whole log.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, UInt32Type};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, Float64Array, Int32Array, RecordBatch, UInt32Array,
};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{DataType, Field, Schema};

use crate::error::{CrmError, Result};
use crate::ingest::keys::SpanPerRow;
use crate::ingest::named::{concat_chunks, shared_customers};
use crate::ingest::Groups;
use crate::summary::{CustomerState, Sum, Summary};

pub mod baskets;
pub mod customer_days;
pub mod orders;
pub mod service;
pub use customer_days::{CustomerDays, DayTotals};

/// Schema metadata that marks a batch as a partial state, and its layout version: a state
/// written by another version of crm is refused rather than misread.
pub const KIND_KEY: &str = "crm.partial";
pub const KIND: &str = "customer_states";
pub const VERSION_KEY: &str = "crm.partial.version";
/// 3: the per-day state may carry `by` groups, order lists and extra sums.
/// 4: its extra sums are per entry (no longer a customer's total on its first entry), and
/// it may carry sums over purchase rows.
pub const VERSION: &str = "4";
const MAX_DAY_KEY: &str = "crm.max_day";

const STATE_COLUMNS: [&str; 6] = [
    "rows",
    "purchases",
    "first_purchase",
    "last_purchase",
    "net_hi",
    "net_lo",
];

/// The states of the customers present in part of a log, sorted by key. `S` holds each
/// customer's state: built, or read from the columns of a state as it arrives.
pub struct CustomerStates<S = Vec<CustomerState>> {
    /// The key column's name, kept so the final table can use it.
    pub key_name: String,
    /// Keys in their original type (integers, strings, categoricals).
    pub keys: ArrayRef,
    pub states: S,
    /// Latest day of any row of this part (`None` when it has no rows).
    pub max_day: Option<i32>,
    /// With an order column: each customer's distinct purchase order ids (`orders`).
    pub orders: Option<ArrayRef>,
}

impl CustomerStates {
    /// The state of a summarized log: its customers with at least one row.
    /// `codes` ascending, as `Summary::present_codes` gives them; `orders` aligned with them.
    pub fn from_summary(
        key_name: &str,
        summary: Summary,
        codes: &[u32],
        keys: ArrayRef,
        orders: Option<ArrayRef>,
    ) -> Self {
        let mut states = summary.states;
        compact(&mut states, codes);
        CustomerStates {
            key_name: key_name.to_string(),
            keys,
            states,
            max_day: summary.max_day,
            orders,
        }
    }

    /// Back to the form derive steps read, with codes `0..n` in key order.
    pub fn into_summary(self) -> Result<(Summary, Vec<u32>)> {
        let codes = (0..self.states.len() as u32).collect();
        let summary = Summary {
            distinct_orders: self.orders.as_ref().map(orders::counts).transpose()?,
            states: self.states,
            max_day: self.max_day,
            keys: Some(self.keys),
        };
        Ok((summary, codes))
    }

    pub fn to_batch(&self) -> Result<RecordBatch> {
        let s = &self.states;
        let u32s = |f: fn(&CustomerState) -> u32| -> ArrayRef {
            Arc::new(UInt32Array::from_iter_values(s.iter().map(f)))
        };
        let i32s = |f: fn(&CustomerState) -> i32| -> ArrayRef {
            Arc::new(Int32Array::from_iter_values(s.iter().map(f)))
        };
        let f64s = |f: fn(&CustomerState) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(s.iter().map(f)))
        };
        let columns = vec![
            self.keys.clone(),
            u32s(|s| s.rows),
            u32s(|s| s.purchases),
            i32s(|s| s.first_purchase),
            i32s(|s| s.last_purchase),
            f64s(|s| s.net.parts().0),
            f64s(|s| s.net.parts().1),
        ];
        let mut fields = vec![Field::new(
            &self.key_name,
            self.keys.data_type().clone(),
            false,
        )];
        fields.extend(
            STATE_COLUMNS
                .iter()
                .zip(&columns[1..])
                .map(|(name, c)| Field::new(*name, c.data_type().clone(), false)),
        );
        let mut columns = columns;
        if let Some(orders) = &self.orders {
            fields.push(Field::new(
                orders::COLUMN,
                orders.data_type().clone(),
                false,
            ));
            columns.push(orders.clone());
        }
        let mut metadata = marker(KIND);
        if let Some(day) = self.max_day {
            metadata.insert(MAX_DAY_KEY.to_string(), day.to_string());
        }
        let schema = Schema::new(fields).with_metadata(metadata);
        Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
    }

    /// Read a partial state back from the batches of one table (as written by `to_batch`).
    pub fn from_batches(schema: &arrow_schema::SchemaRef, batches: &[RecordBatch]) -> Result<Self> {
        Ok(CustomerStates::read(schema, batches)?.built())
    }
}

/// Where merging reads each customer's state.
pub trait States {
    fn state(&self, i: usize) -> CustomerState;
}

impl States for Vec<CustomerState> {
    fn state(&self, i: usize) -> CustomerState {
        self[i]
    }
}

/// The per-customer columns of a state as it arrives: merging reads each customer's state
/// from them rather than building every part's states first (8 parts of 500,000 customers:
/// 128 MB written and faulted in for nothing).
pub struct StateColumns {
    rows: ScalarBuffer<u32>,
    purchases: ScalarBuffer<u32>,
    first_purchase: ScalarBuffer<i32>,
    last_purchase: ScalarBuffer<i32>,
    net_hi: ScalarBuffer<f64>,
    net_lo: ScalarBuffer<f64>,
}

impl States for StateColumns {
    fn state(&self, i: usize) -> CustomerState {
        CustomerState {
            rows: self.rows[i],
            purchases: self.purchases[i],
            first_purchase: self.first_purchase[i],
            last_purchase: self.last_purchase[i],
            net: Sum::from_parts(self.net_hi[i], self.net_lo[i]),
        }
    }
}

impl CustomerStates<StateColumns> {
    /// A partial state from the batches of one table (as written by `to_batch`), its
    /// columns not copied when it is one batch.
    pub fn read(schema: &arrow_schema::SchemaRef, batches: &[RecordBatch]) -> Result<Self> {
        let with_orders = schema.fields().len() == STATE_COLUMNS.len() + 2;
        let mut expected = STATE_COLUMNS.to_vec();
        if with_orders {
            expected.push(orders::COLUMN);
        }
        check_marker(schema, KIND, &expected)?;
        let max_day = match schema.metadata().get(MAX_DAY_KEY) {
            None => None,
            Some(d) => Some(d.parse::<i32>().map_err(|_| not_partial())?),
        };
        let orders = if with_orders {
            Some(column(schema, batches, 7)?)
        } else {
            None
        };
        Ok(CustomerStates {
            key_name: schema.field(0).name().clone(),
            keys: key_column(schema, batches)?,
            states: StateColumns {
                rows: buffer::<UInt32Type>(batches, 1)?,
                purchases: buffer::<UInt32Type>(batches, 2)?,
                first_purchase: buffer::<Int32Type>(batches, 3)?,
                last_purchase: buffer::<Int32Type>(batches, 4)?,
                net_hi: buffer::<Float64Type>(batches, 5)?,
                net_lo: buffer::<Float64Type>(batches, 6)?,
            },
            max_day,
            orders,
        })
    }
}

impl<S: States> CustomerStates<S> {
    /// With every customer's state built.
    fn built(self) -> CustomerStates {
        let states = (0..self.keys.len()).map(|i| self.states.state(i)).collect();
        CustomerStates {
            key_name: self.key_name,
            keys: self.keys,
            states,
            max_day: self.max_day,
            orders: self.orders,
        }
    }
}

/// The kind of partial state a schema marks (`None`: not a partial state).
pub fn kind_of(schema: &arrow_schema::Schema) -> Option<&str> {
    schema.metadata().get(KIND_KEY).map(String::as_str)
}

/// The schema metadata of a partial state of `kind`.
fn marker(kind: &str) -> HashMap<String, String> {
    HashMap::from([
        (KIND_KEY.to_string(), kind.to_string()),
        (VERSION_KEY.to_string(), VERSION.to_string()),
    ])
}

fn not_partial() -> CrmError {
    CrmError::InvalidArgument(
        "not a crm partial state (a table with the crm.partial schema marker and its state \
         columns)"
            .to_string(),
    )
}

/// Refuse a table that is not a partial state of `kind` in this layout version, with the
/// key column first and then `columns`.
fn check_marker(schema: &arrow_schema::Schema, kind: &str, columns: &[&str]) -> Result<()> {
    check_kind(schema, kind)?;
    check_columns(schema, columns)
}

/// Refuse a table that is not a partial state of `kind` in this layout version.
fn check_kind(schema: &arrow_schema::Schema, kind: &str) -> Result<()> {
    match kind_of(schema) {
        Some(k) if k == kind => {}
        Some(other) => {
            return Err(CrmError::InvalidArgument(format!(
                "a partial state of kind '{other}' where one of kind '{kind}' is needed; make \
                 the partial states with the function that reads them"
            )))
        }
        None => return Err(not_partial()),
    }
    match schema.metadata().get(VERSION_KEY).map(String::as_str) {
        Some(VERSION) => Ok(()),
        other => Err(CrmError::InvalidArgument(format!(
            "partial state version {} cannot be read by this crm (it reads version \
             {VERSION}); make all partial states with the same crm version",
            other.unwrap_or("?")
        ))),
    }
}

/// Refuse a table whose columns after the key are not `columns`.
fn check_columns(schema: &arrow_schema::Schema, columns: &[&str]) -> Result<()> {
    let names: Vec<&str> = schema
        .fields()
        .iter()
        .skip(1)
        .map(|f| f.name().as_str())
        .collect();
    if schema.fields().is_empty() || names != columns {
        return Err(not_partial());
    }
    Ok(())
}

/// The key column (the first) of a state's batches, in one array.
fn key_column(schema: &arrow_schema::Schema, batches: &[RecordBatch]) -> Result<ArrayRef> {
    column(schema, batches, 0)
}

/// Column `i` of a state's batches, in one array.
fn column(schema: &arrow_schema::Schema, batches: &[RecordBatch], i: usize) -> Result<ArrayRef> {
    let chunks: Vec<ArrayRef> = batches.iter().map(|b| b.column(i).clone()).collect();
    concat_chunks(&chunks, schema.field(i).data_type(), schema.field(i).name())
}

/// The values of column `i` of a state's batches, which must be of type `T`.
fn values<T: ArrowPrimitiveType>(batches: &[RecordBatch], i: usize) -> Result<Vec<T::Native>> {
    let mut out = Vec::new();
    for b in batches {
        let column = b
            .column(i)
            .as_primitive_opt::<T>()
            .ok_or_else(not_partial)?;
        out.extend_from_slice(column.values());
    }
    Ok(out)
}

/// Column `i` of a state's batches as one buffer, which must be of type `T`: not copied
/// when the state is one batch (as it arrives from Arrow IPC).
fn buffer<T: ArrowPrimitiveType>(
    batches: &[RecordBatch],
    i: usize,
) -> Result<arrow_buffer::ScalarBuffer<T::Native>> {
    if let [batch] = batches {
        let column = batch
            .column(i)
            .as_primitive_opt::<T>()
            .ok_or_else(not_partial)?;
        return Ok(column.values().clone());
    }
    Ok(values::<T>(batches, i)?.into())
}

/// The value combinations of group columns (`by` values) of several parts, coded together
/// (one chunk of codes per part); `None` without group columns. A column's values are brought
/// to the first part's type when another part has them in another string layout or integer
/// width.
fn labels_coded_together(parts: &[&[(String, ArrayRef)]]) -> Result<Option<Groups>> {
    let Some(first) = parts.first().filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let names: Vec<String> = first.iter().map(|g| g.0.clone()).collect();
    let types: Vec<DataType> = first.iter().map(|g| g.1.data_type().clone()).collect();
    let columns = (0..names.len())
        .map(|j| {
            parts
                .iter()
                .map(|p| {
                    let values = &p[j].1;
                    if values.data_type() == &types[j] {
                        Ok(values.clone())
                    } else {
                        Ok(arrow_cast::cast(values, &types[j])?)
                    }
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Groups::encode(&columns, &names, &types)?))
}

/// The state of the union of the parts' rows. States of the same customer are merged in
/// the order of `parts`, so merging the same parts in the same order gives the same bits.
pub fn merge<S: States>(parts: Vec<CustomerStates<S>>) -> Result<CustomerStates> {
    // Parts without rows (empty partitions) carry no keys and maybe no usable key type.
    let key_name = parts
        .first()
        .map(|p| p.key_name.clone())
        .unwrap_or_default();
    let with_orders = parts.iter().any(|p| p.orders.is_some());
    if parts.iter().any(|p| p.orders.is_some() != with_orders) {
        return Err(CrmError::InvalidArgument(
            "partial states made with and without an order column cannot be merged".to_string(),
        ));
    }
    let mut parts: Vec<_> = parts.into_iter().filter(|p| !p.keys.is_empty()).collect();
    if parts.len() <= 1 {
        return Ok(parts
            .pop()
            .map(CustomerStates::built)
            .unwrap_or(CustomerStates {
                key_name,
                keys: arrow_array::new_empty_array(&DataType::Int64),
                states: vec![],
                max_day: None,
                orders: None,
            }));
    }
    let key_chunks: Vec<[ArrayRef; 1]> = parts.iter().map(|p| [p.keys.clone()]).collect();
    let columns: Vec<(&[ArrayRef], &str)> = key_chunks
        .iter()
        .map(|k| (&k[..], key_name.as_str()))
        .collect();
    // One row per customer and part: dense ids pay even when sparser than for raw rows.
    let (index, codes) = shared_customers(&columns, SpanPerRow::Double)?;
    let mut states = vec![CustomerState::EMPTY; index.n_codes];
    for (part, codes) in parts.iter().zip(&codes) {
        for (i, &code) in codes.iter().enumerate() {
            states[code as usize].merge(&part.states.state(i));
        }
    }
    let max_day = parts.iter().filter_map(|p| p.max_day).max();
    let present: Vec<u32> = (0..states.len() as u32)
        .filter(|&c| states[c as usize].rows > 0)
        .collect();
    let orders = if with_orders {
        let lists: Vec<&ArrayRef> = parts.iter().filter_map(|p| p.orders.as_ref()).collect();
        Some(orders::merge(&lists, &codes, &present)?)
    } else {
        None
    };
    drop(codes);
    drop(parts);
    compact(&mut states, &present);
    Ok(CustomerStates {
        keys: index.keys(&present)?,
        states,
        max_day,
        key_name,
        orders,
    })
}

/// Keep the entries `codes` (ascending) of `states`, in place: no second copy of the states.
fn compact(states: &mut Vec<CustomerState>, codes: &[u32]) {
    for (to, &from) in codes.iter().enumerate() {
        states[to] = states[from as usize];
    }
    states.truncate(codes.len());
    states.shrink_to_fit();
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int64Type;
    use rand::{Rng, SeedableRng};

    /// The state of a log, sent through its batch form as it would travel.
    fn state(rows: &[(i64, i32, f64)]) -> CustomerStates {
        let (summary, codes, keys) = crate::testing::summarized(rows);
        let batch = CustomerStates::from_summary("c", summary, &codes, keys, None)
            .to_batch()
            .unwrap();
        CustomerStates::from_batches(&batch.schema(), &[batch]).unwrap()
    }

    fn close(a: &CustomerState, b: &CustomerState) -> bool {
        let same_counts = (a.rows, a.purchases, a.first_purchase, a.last_purchase)
            == (b.rows, b.purchases, b.first_purchase, b.last_purchase);
        same_counts && (a.net() - b.net()).abs() <= 1e-9 * a.net().abs().max(1.0)
    }

    #[test]
    fn merging_the_states_of_a_random_split_equals_the_state_of_the_whole() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..20 {
            let n = rng.random_range(1..5_000);
            let rows: Vec<(i64, i32, f64)> = (0..n)
                .map(|_| {
                    let amount = (rng.random_range(-50.0..500.0f64) * 100.0).round() / 100.0;
                    let customer = rng.random_range(0..300) * rng.random_range(1..3);
                    (customer, rng.random_range(18_000..19_000), amount)
                })
                .collect();
            let (left, right): (Vec<_>, Vec<_>) = rows.iter().partition(|_| rng.random_bool(0.5));
            let whole = state(&rows);
            let merged = merge(vec![state(&left), state(&[]), state(&right)]).unwrap();
            let keys = |s: &CustomerStates| s.keys.as_primitive::<Int64Type>().values().to_vec();
            assert_eq!(keys(&whole), keys(&merged));
            assert_eq!(whole.max_day, merged.max_day);
            assert!(whole
                .states
                .iter()
                .zip(&merged.states)
                .all(|(a, b)| close(a, b)));
        }
    }

    #[test]
    fn a_batch_without_the_marker_or_of_another_version_is_refused() {
        let batch = state(&[(1, 18_000, 5.0)]).to_batch().unwrap();
        let mut meta = batch.schema().metadata().clone();
        meta.insert(VERSION_KEY.into(), "99".into());
        let other = Arc::new(batch.schema().as_ref().clone().with_metadata(meta));
        let err = CustomerStates::from_batches(&other, &[]).err().unwrap();
        assert!(err.to_string().contains("version 99"), "{err}");
        let bare = Arc::new(
            batch
                .schema()
                .as_ref()
                .clone()
                .with_metadata(HashMap::new()),
        );
        let err = CustomerStates::from_batches(&bare, &[]).err().unwrap();
        assert!(err.to_string().contains("not a crm partial state"), "{err}");
    }
}
