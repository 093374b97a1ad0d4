//! The "customer_days" partial state: each customer's rows condensed to one entry per calendar
//! day, the `History` of a log without `by` groups or an order column. The entries of one
//! customer and day from two parts add up, so the history of A ∪ B is the merge of the
//! histories of A and B, and everything derived from a history (the BTYD summary, repurchase,
//! cohorts, gaps, lifecycle, churn risk, acquisition) is derived from the merged state.

use std::sync::Arc;

use arrow_array::types::{Float64Type, Int32Type, UInt32Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int32Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};

use super::{check_marker, key_column, marker, values};
use crate::error::Result;
use crate::history::{self, Entry, History, Purchase};
use crate::ingest::keys::SpanPerRow;
use crate::ingest::named::shared_customers;
use crate::ingest::{Amounts, Transactions};
use crate::summary::Sum;

pub const KIND: &str = "customer_days";
const COLUMNS: [&str; 7] = [
    "day",
    "purchase_rows",
    "zero_rows",
    "net_hi",
    "net_lo",
    "spent_hi",
    "spent_lo",
];

/// A customer's rows of one calendar day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DayTotals {
    pub day: i32,
    /// Rows with a positive amount: the purchases of every function but the BTYD summaries.
    pub purchase_rows: u32,
    /// Rows with a zero amount: purchases too for the BTYD summaries (`Purchase::NonNegative`,
    /// a free order is a transaction).
    pub zero_rows: u32,
    /// Sum of all the day's amounts, refunds included, with its rounding error: merged
    /// parts give the whole day's sum to the bit, as the history of the whole log has it
    /// (percentile ranks of customers' net spend see exact ties).
    pub net: Sum,
    /// Sum of the positive amounts (zero amounts add nothing, so it is the same under both
    /// purchase rules).
    pub spent: Sum,
}

/// The days of the customers present in part of a log, sorted by key then day. Every row
/// makes an entry (refund-only days too), so the last day of any row is the last entry's.
pub struct CustomerDays {
    /// The key column's name, kept so the final table can use it.
    pub key_name: String,
    /// Each entry's customer key, in the keys' original type (a key repeats for each of its
    /// customer's days).
    pub keys: ArrayRef,
    pub entries: Vec<DayTotals>,
}

impl CustomerDays {
    /// The days of an ingested log whose customers have codes (`Spec::need_codes`), without
    /// groups or orders.
    pub fn from_transactions(key_name: &str, tx: &Transactions) -> Result<Self> {
        let positive = history::build_exact(tx, Purchase::Positive);
        // Zero amounts are rare: only then is the second history (counting them) built.
        let has_zero = tx.amounts.iter().any(|a| match a {
            Amounts::F64(v) => v.contains(&0.0),
            Amounts::I64(v) => v.contains(&0),
        });
        // Per entry (same entries, in the same order), the rows counted by `NonNegative`.
        let non_negative: Option<Vec<u32>> = has_zero.then(|| {
            let h = history::build_with(tx, Purchase::NonNegative);
            let customers = h.parts.iter().flat_map(|p| p.customers());
            customers
                .flat_map(|(_, es)| es.iter().map(|e| e.purchase_rows))
                .collect()
        });
        let mut entries = Vec::new();
        let mut days_per_customer = Vec::new();
        for part in &positive.parts {
            let mut errors = part.errors().iter();
            for (_, es) in part.customers() {
                for (e, [net_error, spent_error]) in es.iter().zip(errors.by_ref()) {
                    let at = entries.len();
                    entries.push(DayTotals {
                        day: e.day,
                        purchase_rows: e.purchase_rows,
                        zero_rows: non_negative.as_ref().map_or(0, |n| n[at] - e.purchase_rows),
                        net: Sum::from_parts(e.net, *net_error),
                        spent: Sum::from_parts(e.spent, *spent_error),
                    });
                }
                days_per_customer.push(es.len());
            }
        }
        let customer_keys = tx.customers.keys(&positive.codes())?;
        let repeat: Vec<u32> = days_per_customer
            .iter()
            .enumerate()
            .flat_map(|(k, &n)| std::iter::repeat_n(k as u32, n))
            .collect();
        Ok(CustomerDays {
            key_name: key_name.to_string(),
            keys: arrow_select::take::take(&customer_keys, &UInt32Array::from(repeat), None)?,
            entries,
        })
    }

    pub fn to_batch(&self) -> Result<RecordBatch> {
        let e = &self.entries;
        let columns: Vec<ArrayRef> = vec![
            self.keys.clone(),
            Arc::new(Int32Array::from_iter_values(e.iter().map(|e| e.day))),
            Arc::new(UInt32Array::from_iter_values(
                e.iter().map(|e| e.purchase_rows),
            )),
            Arc::new(UInt32Array::from_iter_values(e.iter().map(|e| e.zero_rows))),
            Arc::new(Float64Array::from_iter_values(
                e.iter().map(|e| e.net.parts().0),
            )),
            Arc::new(Float64Array::from_iter_values(
                e.iter().map(|e| e.net.parts().1),
            )),
            Arc::new(Float64Array::from_iter_values(
                e.iter().map(|e| e.spent.parts().0),
            )),
            Arc::new(Float64Array::from_iter_values(
                e.iter().map(|e| e.spent.parts().1),
            )),
        ];
        let mut fields = vec![Field::new(
            &self.key_name,
            self.keys.data_type().clone(),
            false,
        )];
        fields.extend(
            COLUMNS
                .iter()
                .zip(&columns[1..])
                .map(|(name, c)| Field::new(*name, c.data_type().clone(), false)),
        );
        let schema = Schema::new(fields).with_metadata(marker(KIND));
        Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
    }

    /// Read a state back from the batches of one table (as written by `to_batch`).
    pub fn from_batches(schema: &arrow_schema::SchemaRef, batches: &[RecordBatch]) -> Result<Self> {
        check_marker(schema, KIND, &COLUMNS)?;
        let keys = key_column(schema, batches)?;
        let day = values::<Int32Type>(batches, 1)?;
        let purchase_rows = values::<UInt32Type>(batches, 2)?;
        let zero_rows = values::<UInt32Type>(batches, 3)?;
        let f64s = |i: usize| values::<Float64Type>(batches, i);
        let (net_hi, net_lo, spent_hi, spent_lo) = (f64s(4)?, f64s(5)?, f64s(6)?, f64s(7)?);
        let entries = (0..keys.len())
            .map(|i| DayTotals {
                day: day[i],
                purchase_rows: purchase_rows[i],
                zero_rows: zero_rows[i],
                net: Sum::from_parts(net_hi[i], net_lo[i]),
                spent: Sum::from_parts(spent_hi[i], spent_lo[i]),
            })
            .collect();
        Ok(CustomerDays {
            key_name: schema.field(0).name().clone(),
            keys,
            entries,
        })
    }

    /// The days of the union of the parts' rows. Entries of the same customer and day are
    /// added in the order of `parts`, so merging the same parts in the same order gives the
    /// same bits.
    pub fn merge(parts: Vec<CustomerDays>) -> Result<CustomerDays> {
        // Parts without rows (empty partitions) carry no keys and maybe no usable key type.
        let key_name = parts
            .first()
            .map(|p| p.key_name.clone())
            .unwrap_or_default();
        let mut parts: Vec<CustomerDays> =
            parts.into_iter().filter(|p| !p.keys.is_empty()).collect();
        if parts.len() <= 1 {
            return Ok(parts.pop().unwrap_or(CustomerDays {
                key_name,
                keys: arrow_array::new_empty_array(&DataType::Int64),
                entries: vec![],
            }));
        }
        let key_chunks: Vec<[ArrayRef; 1]> = parts.iter().map(|p| [p.keys.clone()]).collect();
        let columns: Vec<(&[ArrayRef], &str)> = key_chunks
            .iter()
            .map(|k| (&k[..], key_name.as_str()))
            .collect();
        let (index, codes) = shared_customers(&columns, SpanPerRow::Half)?;
        let mut all: Vec<(u32, &DayTotals)> = parts
            .iter()
            .zip(&codes)
            .flat_map(|(p, codes)| codes.iter().copied().zip(&p.entries))
            .collect();
        // Stable: equal (customer, day) entries stay in part order.
        all.sort_by_key(|(code, e)| (*code, e.day));
        let mut entries = Vec::new();
        let mut customers: Vec<u32> = Vec::new();
        let mut customer_of_entry = Vec::new();
        for run in all.chunk_by(|a, b| (a.0, a.1.day) == (b.0, b.1.day)) {
            let (mut net, mut spent) = (Sum::default(), Sum::default());
            let (mut purchase_rows, mut zero_rows) = (0, 0);
            for (_, e) in run {
                purchase_rows += e.purchase_rows;
                zero_rows += e.zero_rows;
                net.merge(&e.net);
                spent.merge(&e.spent);
            }
            if customers.last() != Some(&run[0].0) {
                customers.push(run[0].0);
            }
            customer_of_entry.push(customers.len() as u32 - 1);
            entries.push(DayTotals {
                day: run[0].1.day,
                purchase_rows,
                zero_rows,
                net,
                spent,
            });
        }
        let customer_keys = index.keys(&customers)?;
        let keys =
            arrow_select::take::take(&customer_keys, &UInt32Array::from(customer_of_entry), None)?;
        Ok(CustomerDays {
            key_name,
            keys,
            entries,
        })
    }

    /// The history the derive steps read (customers coded `0..n` in key order, with `rule`
    /// deciding which rows are purchases), and the customers' keys.
    pub fn into_history(self, rule: Purchase) -> Result<(History, ArrayRef)> {
        if self.entries.is_empty() {
            let none = History::from_condensed(&[0], &[]);
            return Ok((none, self.keys));
        }
        let (_, codes) = shared_customers(
            &[(&[self.keys.clone()][..], self.key_name.as_str())],
            SpanPerRow::Half,
        )?;
        let codes = &codes[0];
        let mut offsets = vec![0u32];
        let mut firsts = vec![0u32];
        for i in 1..codes.len() {
            if codes[i] != codes[i - 1] {
                offsets.push(i as u32);
                firsts.push(i as u32);
            }
        }
        offsets.push(codes.len() as u32);
        let entries: Vec<Entry> = self
            .entries
            .iter()
            .map(|e| {
                let purchase_rows = match rule {
                    Purchase::Positive => e.purchase_rows,
                    Purchase::NonNegative => e.purchase_rows + e.zero_rows,
                };
                Entry {
                    day: e.day,
                    group: 0,
                    purchase_rows,
                    purchases: purchase_rows,
                    net: e.net.value(),
                    spent: e.spent.value(),
                }
            })
            .collect();
        let keys = arrow_select::take::take(&self.keys, &UInt32Array::from(firsts), None)?;
        Ok((History::from_condensed(&offsets, &entries), keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{ingest, OnInvalid, Spec};
    use crate::periods::Period;
    use crate::retention::{cohorts, repurchase};
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use rand::{Rng, SeedableRng};

    fn transactions(rows: &[(i64, i32, f64)]) -> Transactions {
        let rows: Vec<_> = rows.iter().map(|&(c, d, a)| (c, d, a, 0)).collect();
        let batch = crate::testing::log(&rows);
        let spec = Spec {
            customer: "c".into(),
            date: "d".into(),
            amount: "a".into(),
            need_codes: true,
            ..Spec::default()
        };
        ingest(&batch.schema(), &[batch], &spec, OnInvalid::Raise).unwrap()
    }

    /// The state of a log, sent through its batch form as it would travel.
    fn state(rows: &[(i64, i32, f64)]) -> CustomerDays {
        let batch = CustomerDays::from_transactions("c", &transactions(rows))
            .unwrap()
            .to_batch()
            .unwrap();
        CustomerDays::from_batches(&batch.schema(), &[batch]).unwrap()
    }

    type Days = Vec<Vec<(i32, u32, u32, f64, f64)>>;

    fn days(h: &History) -> Days {
        h.parts
            .iter()
            .flat_map(|p| p.customers())
            .map(|(_, es)| {
                es.iter()
                    .map(|e| (e.day, e.purchase_rows, e.purchases, e.net, e.spent))
                    .collect()
            })
            .collect()
    }

    fn random_log(rng: &mut rand::rngs::StdRng) -> Vec<(i64, i32, f64)> {
        let n = rng.random_range(1..6_000);
        (0..n)
            .map(|_| {
                let amount = match rng.random_range(0..10) {
                    0 => 0.0,
                    1 => -(rng.random_range(1..5_000) as f64) / 100.0,
                    _ => rng.random_range(1..50_000) as f64 / 100.0,
                };
                let customer = rng.random_range(0..400) * rng.random_range(1..4);
                (customer, rng.random_range(18_000..18_900), amount)
            })
            .collect()
    }

    #[test]
    fn merging_the_days_of_a_random_split_equals_the_history_of_the_whole_to_the_bit() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for _ in 0..20 {
            let rows = random_log(&mut rng);
            let (left, rest): (Vec<_>, Vec<_>) = rows.iter().partition(|_| rng.random_bool(0.4));
            let (middle, right): (Vec<_>, Vec<_>) = rest.iter().partition(|_| rng.random_bool(0.5));
            let merged = CustomerDays::merge(vec![
                state(&left),
                state(&[]),
                CustomerDays::merge(vec![state(&middle), state(&right)]).unwrap(),
            ])
            .unwrap();
            let tx = transactions(&rows);
            for rule in [Purchase::Positive, Purchase::NonNegative] {
                let whole = history::build_with(&tx, rule);
                let keys = tx.customers.keys(&whole.codes()).unwrap();
                let copy = CustomerDays {
                    key_name: merged.key_name.clone(),
                    keys: merged.keys.clone(),
                    entries: merged.entries.clone(),
                };
                let (history, merged_keys) = copy.into_history(rule).unwrap();
                let ints = |k: &ArrayRef| k.as_primitive::<Int64Type>().values().to_vec();
                assert_eq!(ints(&keys), ints(&merged_keys));
                assert_eq!(whole.days, history.days);
                // Day sums merge to the bit.
                assert_eq!(days(&whole), days(&history));
            }
        }
    }

    #[test]
    fn repurchase_and_cohorts_of_the_merged_history_equal_the_in_memory_ones() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let rows = random_log(&mut rng);
        let (left, right): (Vec<_>, Vec<_>) = rows.iter().partition(|_| rng.random_bool(0.5));
        let merged = CustomerDays::merge(vec![state(&left), state(&right)]).unwrap();
        let (history, _) = merged.into_history(Purchase::Positive).unwrap();
        let tx = transactions(&rows);
        for period in [None, Some(Period::Week), Some(Period::Month)] {
            let (a, b) = (
                repurchase::repurchase(&tx, period),
                repurchase::of_history(&history, period),
            );
            assert_eq!(
                (a.groups, a.starts, a.windows),
                (b.groups, b.starts, b.windows)
            );
        }
        let metric = cohorts::Metric::Retention;
        let (a, b) = (
            cohorts::cohorts(&tx, Period::Month, metric),
            cohorts::of_history(&history, Period::Month),
        );
        assert_eq!((a.starts, a.sizes, a.active), (b.starts, b.sizes, b.active));
    }

    #[test]
    fn a_customer_states_table_is_refused_as_customer_days() {
        let mut other = state(&[(1, 18_000, 5.0)])
            .to_batch()
            .unwrap()
            .schema()
            .as_ref()
            .clone();
        other
            .metadata
            .insert(crate::partial::KIND_KEY.into(), crate::partial::KIND.into());
        let err = CustomerDays::from_batches(&Arc::new(other), &[])
            .err()
            .unwrap();
        assert!(err.to_string().contains("kind 'customer_states'"), "{err}");
    }
}
