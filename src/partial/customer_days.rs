//! The "customer_days" partial state: each customer's rows condensed to one entry per
//! (group, calendar day), the `History` of a log. The entries of one customer, group and day
//! from two parts add up, so the history of A ∪ B is the merge of the histories of A and B,
//! and everything derived from a history (the BTYD summary, repurchase, cohorts, gaps,
//! lifecycle, churn risk, acquisition, activity) is derived from the merged state.
//!
//! What the optional parameters need travels only when they are given. `by`: each entry's
//! values of the `by` columns, in their own types, so that equal values in two parts make
//! one group. An order column: each entry lists the orders first bought on its day (in its
//! customer and group); an order's lines may fall in several parts on different days, and
//! the merge keeps each order on its earliest day, so it counts once, there. `extra`
//! columns: per entry, the compensated sum of the entry's rows (a customer's sum is the sum
//! over its entries; a window's, over the entries of its days). Purchase sums: per entry,
//! the compensated sum of a column over the entry's purchase rows (the units bought).

use std::sync::Arc;

use arrow_array::types::{Float64Type, Int32Type, UInt32Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int32Array, RecordBatch, UInt32Array};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{DataType, Field, Schema};

use super::{
    buffer, check_columns, check_kind, column, key_column, labels_coded_together, marker,
    not_partial, orders, values,
};
use crate::error::{CrmError, Result};
use crate::history::{self, Entry, History, Purchase};
use crate::ingest::keys::SpanPerRow;
use crate::ingest::named::shared_customers;
use crate::ingest::{Amounts, Groups, Spec, Transactions};
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
/// Schema metadata: how many `by` columns follow the key, and how many `extra` columns
/// (two sum columns each) follow the day totals and the order lists, and how many purchase
/// sum columns (two each) end the table; absent when there are none.
const BY_COLUMNS_KEY: &str = "crm.by_columns";
const EXTRA_COLUMNS_KEY: &str = "crm.extra_columns";
const PURCHASE_SUMS_KEY: &str = "crm.purchase_sum_columns";
/// Name suffix of a purchase sum's columns (`<column>_purchases_hi`, `_lo`).
const PURCHASES_SUFFIX: &str = "_purchases";

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

impl DayTotals {
    /// Add the rows of another part's same customer, group and day.
    fn merge(&mut self, other: &DayTotals) {
        self.purchase_rows += other.purchase_rows;
        self.zero_rows += other.zero_rows;
        self.net.merge(&other.net);
        self.spent.merge(&other.spent);
    }
}

/// The day totals of a state's entries, one column each, in the form they travel in: writing
/// a state to its Arrow batch and reading it back copy nothing.
#[derive(Clone, Debug, Default)]
pub struct DayColumns {
    day: ScalarBuffer<i32>,
    purchase_rows: ScalarBuffer<u32>,
    zero_rows: ScalarBuffer<u32>,
    net_hi: ScalarBuffer<f64>,
    net_lo: ScalarBuffer<f64>,
    spent_hi: ScalarBuffer<f64>,
    spent_lo: ScalarBuffer<f64>,
}

impl DayColumns {
    pub fn len(&self) -> usize {
        self.day.len()
    }

    pub fn is_empty(&self) -> bool {
        self.day.is_empty()
    }

    pub fn day(&self, i: usize) -> i32 {
        self.day[i]
    }

    pub fn get(&self, i: usize) -> DayTotals {
        DayTotals {
            day: self.day[i],
            purchase_rows: self.purchase_rows[i],
            zero_rows: self.zero_rows[i],
            net: Sum::from_parts(self.net_hi[i], self.net_lo[i]),
            spent: Sum::from_parts(self.spent_hi[i], self.spent_lo[i]),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = DayTotals> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    fn arrays(&self) -> [ArrayRef; 7] {
        let floats =
            |b: &ScalarBuffer<f64>| -> ArrayRef { Arc::new(Float64Array::new(b.clone(), None)) };
        [
            Arc::new(Int32Array::new(self.day.clone(), None)),
            Arc::new(UInt32Array::new(self.purchase_rows.clone(), None)),
            Arc::new(UInt32Array::new(self.zero_rows.clone(), None)),
            floats(&self.net_hi),
            floats(&self.net_lo),
            floats(&self.spent_hi),
            floats(&self.spent_lo),
        ]
    }
}

/// Day totals gathered one entry at a time into columns.
#[derive(Default)]
struct DayColumnsBuilder {
    day: Vec<i32>,
    purchase_rows: Vec<u32>,
    zero_rows: Vec<u32>,
    net_hi: Vec<f64>,
    net_lo: Vec<f64>,
    spent_hi: Vec<f64>,
    spent_lo: Vec<f64>,
}

impl DayColumnsBuilder {
    fn with_capacity(n: usize) -> Self {
        DayColumnsBuilder {
            day: Vec::with_capacity(n),
            purchase_rows: Vec::with_capacity(n),
            zero_rows: Vec::with_capacity(n),
            net_hi: Vec::with_capacity(n),
            net_lo: Vec::with_capacity(n),
            spent_hi: Vec::with_capacity(n),
            spent_lo: Vec::with_capacity(n),
        }
    }

    fn len(&self) -> usize {
        self.day.len()
    }

    fn push(&mut self, t: DayTotals) {
        self.day.push(t.day);
        self.purchase_rows.push(t.purchase_rows);
        self.zero_rows.push(t.zero_rows);
        let ((net_hi, net_lo), (spent_hi, spent_lo)) = (t.net.parts(), t.spent.parts());
        self.net_hi.push(net_hi);
        self.net_lo.push(net_lo);
        self.spent_hi.push(spent_hi);
        self.spent_lo.push(spent_lo);
    }

    fn finish(self) -> DayColumns {
        DayColumns {
            day: self.day.into(),
            purchase_rows: self.purchase_rows.into(),
            zero_rows: self.zero_rows.into(),
            net_hi: self.net_hi.into(),
            net_lo: self.net_lo.into(),
            spent_hi: self.spent_hi.into(),
            spent_lo: self.spent_lo.into(),
        }
    }
}

impl FromIterator<DayTotals> for DayColumns {
    fn from_iter<I: IntoIterator<Item = DayTotals>>(totals: I) -> Self {
        let mut builder = DayColumnsBuilder::default();
        totals.into_iter().for_each(|t| builder.push(t));
        builder.finish()
    }
}

/// The days of the customers present in part of a log, sorted by key, then group (by the
/// `by` values), then day. Every row makes an entry (refund-only days too), so the days of
/// the entries span the days of the rows.
pub struct CustomerDays {
    /// The key column's name, kept so the final table can use it.
    pub key_name: String,
    /// Each entry's customer key, in the keys' original type (a key repeats for each of its
    /// customer's days).
    pub keys: ArrayRef,
    /// The `by` columns (none without `by`): name and each entry's value, in the type the
    /// in-memory call gives the group labels.
    pub groups: Vec<(String, ArrayRef)>,
    pub entries: DayColumns,
    /// With an order column: per entry, the ids of the orders whose earliest purchase row
    /// (amount > 0) of the customer and group is on the entry's day (a list column).
    pub orders: Option<ArrayRef>,
    /// Per `extra` column: its name and per entry the compensated sum of the entry's rows.
    pub extras: Vec<(String, Vec<Sum>)>,
    /// Per purchase sum column: its name and per entry the compensated sum of the entry's
    /// purchase rows (amount > 0), the rows whose units `performance` counts.
    pub purchase_sums: Vec<(String, Vec<Sum>)>,
}

/// An entry's place in a merge: customer code, group code, day.
type EntryKey = (u32, u32, i32);

/// What a function reads of a state besides its days.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reads {
    pub groups: bool,
    pub orders: bool,
    pub extras: bool,
    pub purchase_sums: bool,
}

/// A merged state as the derive steps read it.
pub struct StateHistory {
    /// Customers coded `0..n` in key order; entries' groups coded like `groups` codes them.
    pub history: History,
    /// The customers' keys, in code order.
    pub keys: ArrayRef,
    /// The `by` value combinations (with `by` groups).
    pub groups: Option<Groups>,
    /// Per `extra` column: its name and per entry (in history order) the sum of its rows.
    pub extras: Vec<(String, Vec<Sum>)>,
    /// Per purchase sum column: its name and per entry the sum of its purchase rows.
    pub purchase_sums: Vec<(String, Vec<Sum>)>,
}

impl StateHistory {
    /// Per `extra` column, its name and each customer's sum over its entries of the days
    /// `keep` selects, in code order.
    pub fn extra_sums(&self, keep: impl Fn(i32) -> bool) -> Vec<(String, Vec<f64>)> {
        let customers = || self.history.parts.iter().flat_map(|p| p.customers());
        self.extras
            .iter()
            .map(|(name, sums)| {
                let mut at = 0;
                let per_customer = customers().map(|(_, es)| {
                    let mut total = Sum::default();
                    for (e, s) in es.iter().zip(&sums[at..]) {
                        if keep(e.day) {
                            total.merge(s);
                        }
                    }
                    at += es.len();
                    total.value()
                });
                (name.clone(), per_customer.collect())
            })
            .collect()
    }
}

impl CustomerDays {
    /// The days of an ingested log whose customers have codes (`Spec::need_codes`), with the
    /// groups, orders and extra sums `spec` asks for; the last `purchase_sums` of the
    /// `spec.extra` columns are summed over purchase rows only (the others over all rows).
    pub fn from_transactions(spec: &Spec, tx: &Transactions, purchase_sums: usize) -> Result<Self> {
        if purchase_sums > spec.extra.len() {
            return Err(CrmError::InvalidArgument(format!(
                "{purchase_sums} purchase sum column(s) of {} extra column(s)",
                spec.extra.len()
            )));
        }
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
        let mut entries = DayColumnsBuilder::default();
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
        let _phase = crate::trace::phase("days state: keys, groups, orders, extras");
        let codes = positive.codes();
        let customer_keys = tx.customers.keys(&codes)?;
        let repeat: Vec<u32> = days_per_customer
            .iter()
            .enumerate()
            .flat_map(|(k, &n)| std::iter::repeat_n(k as u32, n))
            .collect();
        // Each entry's (customer code, group code, day), in entry order.
        let entry_keys = || {
            let customers = positive.parts.iter().flat_map(|p| p.customers());
            customers.flat_map(|(code, es)| es.iter().map(move |e| (code, e.group, e.day)))
        };
        let groups = match &tx.groups {
            None => vec![],
            Some(groups) => groups.labels(&entry_keys().map(|k| k.1).collect::<Vec<_>>())?,
        };
        let orders = match &tx.orders {
            None => None,
            Some(_) => Some(orders::first_orders(
                orders::purchase_order_rows(tx),
                entry_keys(),
                tx.order_values.as_ref(),
            )?),
        };
        let first_purchase_sum = spec.extra.len() - purchase_sums;
        let bought = |c: usize, i: usize| match &tx.amounts[c] {
            Amounts::F64(a) => a[i] > 0.0,
            Amounts::I64(a) => a[i] > 0,
        };
        let mut extras: Vec<(String, Vec<Sum>)> = spec
            .extra
            .iter()
            .zip(&tx.extras)
            .enumerate()
            .map(|(k, (name, values))| {
                let all_rows = k < first_purchase_sum;
                let value = |c: usize, i: usize| {
                    if all_rows || bought(c, i) {
                        values[c][i]
                    } else {
                        0.0
                    }
                };
                (name.clone(), history::sums_by_entry(tx, &positive, value))
            })
            .collect();
        let sums_over_purchases = extras.split_off(first_purchase_sum);
        Ok(CustomerDays {
            key_name: spec.customer.clone(),
            keys: arrow_select::take::take(&customer_keys, &UInt32Array::from(repeat), None)?,
            groups,
            entries: entries.finish(),
            orders,
            extras,
            purchase_sums: sums_over_purchases,
        })
    }

    pub fn to_batch(&self) -> Result<RecordBatch> {
        let _phase = crate::trace::phase("days state: to batch");
        let mut columns: Vec<(String, ArrayRef)> = vec![(self.key_name.clone(), self.keys.clone())];
        columns.extend(self.groups.iter().cloned());
        let totals = self.entries.arrays();
        columns.extend(COLUMNS.iter().map(|n| n.to_string()).zip(totals));
        if let Some(orders) = &self.orders {
            columns.push((orders::COLUMN.to_string(), orders.clone()));
        }
        let purchase_sums = self.purchase_sums.iter();
        let sums = self.extras.iter().map(|(name, sums)| (name.clone(), sums));
        let sums =
            sums.chain(purchase_sums.map(|(n, sums)| (format!("{n}{PURCHASES_SUFFIX}"), sums)));
        for (name, sums) in sums {
            let part = |f: fn(&Sum) -> f64| -> ArrayRef {
                Arc::new(Float64Array::from_iter_values(sums.iter().map(f)))
            };
            columns.push((format!("{name}_hi"), part(|s| s.parts().0)));
            columns.push((format!("{name}_lo"), part(|s| s.parts().1)));
        }
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, c)| Field::new(name, c.data_type().clone(), false))
            .collect();
        let mut metadata = marker(KIND);
        if !self.groups.is_empty() {
            metadata.insert(BY_COLUMNS_KEY.into(), self.groups.len().to_string());
        }
        if !self.extras.is_empty() {
            metadata.insert(EXTRA_COLUMNS_KEY.into(), self.extras.len().to_string());
        }
        if !self.purchase_sums.is_empty() {
            let n = self.purchase_sums.len().to_string();
            metadata.insert(PURCHASE_SUMS_KEY.into(), n);
        }
        let schema = Schema::new(fields).with_metadata(metadata);
        let arrays = columns.into_iter().map(|(_, c)| c).collect();
        Ok(RecordBatch::try_new(Arc::new(schema), arrays)?)
    }

    /// Read a state back from the batches of one table (as written by `to_batch`).
    pub fn from_batches(schema: &arrow_schema::SchemaRef, batches: &[RecordBatch]) -> Result<Self> {
        let _phase = crate::trace::phase("days state: from batches");
        check_kind(schema, KIND)?;
        let count = |key: &str| match schema.metadata().get(key) {
            None => Ok(0),
            Some(n) => n.parse::<usize>().map_err(|_| not_partial()),
        };
        let (n_by, n_extra) = (count(BY_COLUMNS_KEY)?, count(EXTRA_COLUMNS_KEY)?);
        let n_purchase_sums = count(PURCHASE_SUMS_KEY)?;
        // Extra sums, then purchase sums: two columns each.
        let n_sums = n_extra + n_purchase_sums;
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let first_total = 1 + n_by;
        let first_extra = first_total + COLUMNS.len();
        let with_orders = names.len() == first_extra + 1 + 2 * n_sums;
        let first_extra = first_extra + with_orders as usize;
        if names.len() != first_extra + 2 * n_sums {
            return Err(not_partial());
        }
        let sum_names: Vec<&str> = (0..n_sums)
            .map(|k| {
                let name = names[first_extra + 2 * k].strip_suffix("_hi");
                let name = if k < n_extra {
                    name
                } else {
                    name.and_then(|n| n.strip_suffix(PURCHASES_SUFFIX))
                };
                name.unwrap_or("")
            })
            .collect();
        let mut expected: Vec<String> = names[1..first_total]
            .iter()
            .map(|n| n.to_string())
            .collect();
        expected.extend(COLUMNS.iter().map(|n| n.to_string()));
        if with_orders {
            expected.push(orders::COLUMN.to_string());
        }
        for (k, name) in sum_names.iter().enumerate() {
            let suffix = if k >= n_extra { PURCHASES_SUFFIX } else { "" };
            expected.extend([format!("{name}{suffix}_hi"), format!("{name}{suffix}_lo")]);
        }
        check_columns(
            schema,
            &expected.iter().map(String::as_str).collect::<Vec<_>>(),
        )?;
        let keys = key_column(schema, batches)?;
        let groups = (1..first_total)
            .map(|i| Ok((names[i].to_string(), column(schema, batches, i)?)))
            .collect::<Result<_>>()?;
        let at = |k: usize| first_total + k;
        let f64s = |i: usize| values::<Float64Type>(batches, i);
        let entries = DayColumns {
            day: buffer::<Int32Type>(batches, at(0))?,
            purchase_rows: buffer::<UInt32Type>(batches, at(1))?,
            zero_rows: buffer::<UInt32Type>(batches, at(2))?,
            net_hi: buffer::<Float64Type>(batches, at(3))?,
            net_lo: buffer::<Float64Type>(batches, at(4))?,
            spent_hi: buffer::<Float64Type>(batches, at(5))?,
            spent_lo: buffer::<Float64Type>(batches, at(6))?,
        };
        let orders = if with_orders {
            Some(column(schema, batches, at(COLUMNS.len()))?)
        } else {
            None
        };
        let mut extras: Vec<(String, Vec<Sum>)> = sum_names
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let (hi, lo) = (f64s(first_extra + 2 * k)?, f64s(first_extra + 2 * k + 1)?);
                let sums = hi.iter().zip(&lo).map(|(&h, &l)| Sum::from_parts(h, l));
                Ok((name.to_string(), sums.collect()))
            })
            .collect::<Result<_>>()?;
        let purchase_sums = extras.split_off(n_extra);
        Ok(CustomerDays {
            key_name: names[0].to_string(),
            keys,
            groups,
            entries,
            orders,
            extras,
            purchase_sums,
        })
    }

    /// The same layout (key name, `by` columns, order lists, extra and purchase sum columns)
    /// without entries.
    fn empty_like(&self) -> CustomerDays {
        let names =
            |sums: &[(String, Vec<Sum>)]| sums.iter().map(|(n, _)| (n.clone(), vec![])).collect();
        CustomerDays {
            key_name: self.key_name.clone(),
            keys: arrow_array::new_empty_array(&DataType::Int64),
            groups: self
                .groups
                .iter()
                .map(|(n, c)| (n.clone(), c.slice(0, 0)))
                .collect(),
            entries: DayColumns::default(),
            orders: self.orders.as_ref().map(|o| o.slice(0, 0)),
            extras: names(&self.extras),
            purchase_sums: names(&self.purchase_sums),
        }
    }

    fn same_layout(&self, other: &CustomerDays) -> bool {
        let names = |c: &[(String, ArrayRef)]| c.iter().map(|g| g.0.clone()).collect::<Vec<_>>();
        let sum_names =
            |s: &[(String, Vec<Sum>)]| s.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
        names(&self.groups) == names(&other.groups)
            && self.orders.is_some() == other.orders.is_some()
            && sum_names(&self.extras) == sum_names(&other.extras)
            && sum_names(&self.purchase_sums) == sum_names(&other.purchase_sums)
    }

    /// Refuse a state that carries what `function` does not read (a state made for another
    /// function would be misread).
    pub fn check_reads(&self, function: &str, reads: Reads) -> Result<()> {
        let unread = [
            (!self.groups.is_empty() && !reads.groups, "by groups"),
            (self.orders.is_some() && !reads.orders, "order lists"),
            (
                !self.extras.is_empty() && !reads.extras,
                "extra column sums",
            ),
            (
                !self.purchase_sums.is_empty() && !reads.purchase_sums,
                "purchase sums",
            ),
        ];
        match unread.iter().find(|(unread, _)| *unread) {
            None => Ok(()),
            Some((_, what)) => Err(CrmError::InvalidArgument(format!(
                "this partial state carries {what}, which {function} does not take; make the \
                 state with the parameters of the function that reads it"
            ))),
        }
    }

    /// The days of the union of the parts' rows. Entries of the same customer, group and
    /// day are added in the order of `parts`, so merging the same parts in the same order
    /// gives the same bits.
    pub fn merge(parts: Vec<CustomerDays>) -> Result<CustomerDays> {
        let Some(first) = parts.first() else {
            return Ok(CustomerDays {
                key_name: String::new(),
                keys: arrow_array::new_empty_array(&DataType::Int64),
                groups: vec![],
                entries: DayColumns::default(),
                orders: None,
                extras: vec![],
                purchase_sums: vec![],
            });
        };
        if parts.iter().any(|p| !first.same_layout(p)) {
            return Err(CrmError::InvalidArgument(
                "partial states made with different by, order, extra or purchase sum columns \
                 cannot be merged"
                    .to_string(),
            ));
        }
        // Parts without rows (empty partitions) carry no keys and maybe no usable key type.
        let empty = first.empty_like();
        let mut parts: Vec<CustomerDays> =
            parts.into_iter().filter(|p| !p.keys.is_empty()).collect();
        if parts.len() <= 1 {
            return Ok(parts.pop().unwrap_or(empty));
        }
        let phase = crate::trace::phase("merge days: customers");
        let key_chunks: Vec<[ArrayRef; 1]> = parts.iter().map(|p| [p.keys.clone()]).collect();
        let columns: Vec<(&[ArrayRef], &str)> = key_chunks
            .iter()
            .map(|k| (&k[..], empty.key_name.as_str()))
            .collect();
        let (index, codes) = shared_customers(&columns, SpanPerRow::Half)?;
        let groups = merged_groups(&parts)?;
        drop(phase);
        let phase = crate::trace::phase("merge days: add up");
        let group_of = |p: usize, i: usize| groups.as_ref().map_or(0, |g| g.codes[p][i]);
        let key = |p: usize, i: usize| (codes[p][i], group_of(p, i), parts[p].entries.day(i));
        // Each part is sorted by (customer, group, day), as merged codes sort: a k-way merge,
        // adding the entries of one customer, group and day in part order.
        let total: usize = parts.iter().map(|p| p.entries.len()).sum();
        let keep_keys = groups.is_some() || empty.orders.is_some();
        let mut entries = DayColumnsBuilder::with_capacity(total);
        let mut merged_keys = Vec::new();
        // The extra sums, then the purchase sums.
        let n_sums = empty.extras.len() + empty.purchase_sums.len();
        let mut sums: Vec<Vec<Sum>> = vec![Vec::with_capacity(total); n_sums];
        // The carried sums of the entry being merged (one buffer, not one per entry).
        let mut entry_sums = vec![Sum::default(); n_sums];
        let mut customers: Vec<u32> = Vec::new();
        let mut customer_of_entry = Vec::with_capacity(total);
        // Each part's next entry and its key (None once the part is done).
        let head_key = |p: usize, h: usize| (h < parts[p].entries.len()).then(|| key(p, h));
        let mut heads: Vec<(usize, Option<EntryKey>)> =
            (0..parts.len()).map(|p| (0, head_key(p, 0))).collect();
        while let Some(next) = heads.iter().filter_map(|h| h.1).min() {
            let (code, _, day) = next;
            let mut totals = DayTotals {
                day,
                purchase_rows: 0,
                zero_rows: 0,
                net: Sum::default(),
                spent: Sum::default(),
            };
            entry_sums.fill(Sum::default());
            for (p, (head, head_key_now)) in heads.iter_mut().enumerate() {
                if *head_key_now != Some(next) {
                    continue;
                }
                totals.merge(&parts[p].entries.get(*head));
                let carried = parts[p].extras.iter().chain(&parts[p].purchase_sums);
                for (sum, (_, sums)) in entry_sums.iter_mut().zip(carried) {
                    sum.merge(&sums[*head]);
                }
                *head += 1;
                *head_key_now = head_key(p, *head);
                if head_key_now.is_some_and(|k| k <= next) {
                    return Err(CrmError::InvalidArgument(
                        "a partial state's rows are not sorted by customer, group and day"
                            .to_string(),
                    ));
                }
            }
            if customers.last() != Some(&code) {
                customers.push(code);
            }
            customer_of_entry.push(customers.len() as u32 - 1);
            if keep_keys {
                merged_keys.push(next);
            }
            entries.push(totals);
            sums.iter_mut()
                .zip(&entry_sums)
                .for_each(|(e, s)| e.push(*s));
        }
        drop(phase);
        let _phase = crate::trace::phase("merge days: keys, groups, orders");
        let orders = match &empty.orders {
            None => None,
            Some(_) => Some(merged_orders(&parts, &codes, &group_of, &merged_keys)?),
        };
        let labels = match &groups {
            None => vec![],
            Some(groups) => groups.labels(&merged_keys.iter().map(|k| k.1).collect::<Vec<_>>())?,
        };
        let customer_keys = index.keys(&customers)?;
        let keys =
            arrow_select::take::take(&customer_keys, &UInt32Array::from(customer_of_entry), None)?;
        let purchase_sums = sums.split_off(empty.extras.len());
        let named = |layout: Vec<(String, Vec<Sum>)>, sums: Vec<Vec<Sum>>| {
            layout.into_iter().map(|(n, _)| n).zip(sums).collect()
        };
        Ok(CustomerDays {
            key_name: empty.key_name,
            keys,
            groups: labels,
            entries: entries.finish(),
            orders,
            extras: named(empty.extras, sums),
            purchase_sums: named(empty.purchase_sums, purchase_sums),
        })
    }

    /// The history the derive steps read, with `rule` deciding which rows are purchases
    /// (with order lists, only `Purchase::Positive`: the lists hold orders with a positive
    /// amount).
    pub fn into_history(self, rule: Purchase) -> Result<StateHistory> {
        if self.orders.is_some() && rule == Purchase::NonNegative {
            return Err(CrmError::InvalidArgument(
                "the order lists of a partial state count purchases with a positive amount, \
                 not free orders"
                    .to_string(),
            ));
        }
        let groups = if self.groups.is_empty() {
            None
        } else {
            let (names, columns): (Vec<String>, Vec<Vec<ArrayRef>>) = self
                .groups
                .iter()
                .map(|(n, c)| {
                    (
                        n.clone(),
                        if c.is_empty() {
                            vec![]
                        } else {
                            vec![c.clone()]
                        },
                    )
                })
                .unzip();
            let types: Vec<DataType> = self
                .groups
                .iter()
                .map(|(_, c)| c.data_type().clone())
                .collect();
            Some(Groups::encode(&columns, &names, &types)?)
        };
        if self.entries.is_empty() {
            return Ok(StateHistory {
                history: History::from_condensed(&[0], &[]),
                keys: self.keys,
                groups,
                extras: self.extras,
                purchase_sums: self.purchase_sums,
            });
        }
        let phase = crate::trace::phase("days state: customers");
        let (_, codes) = shared_customers(
            &[(&[self.keys.clone()][..], self.key_name.as_str())],
            SpanPerRow::Half,
        )?;
        drop(phase);
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
        let order_counts = self.orders.as_ref().map(orders::counts).transpose()?;
        let group_codes = groups.as_ref().map(|g| &g.codes[0]);
        let entries: Vec<Entry> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let purchase_rows = match rule {
                    Purchase::Positive => e.purchase_rows,
                    Purchase::NonNegative => e.purchase_rows + e.zero_rows,
                };
                Entry {
                    day: e.day,
                    group: group_codes.map_or(0, |g| g[i]),
                    purchase_rows,
                    purchases: order_counts.as_ref().map_or(purchase_rows, |n| n[i]),
                    net: e.net.value(),
                    spent: e.spent.value(),
                }
            })
            .collect();
        let keys = arrow_select::take::take(&self.keys, &UInt32Array::from(firsts), None)?;
        // The history keeps the entries in the state's order, so the sums stay aligned.
        Ok(StateHistory {
            history: History::from_condensed(&offsets, &entries),
            keys,
            groups,
            extras: self.extras,
            purchase_sums: self.purchase_sums,
        })
    }
}

/// The `by` value combinations of the parts' entries, coded together (one chunk per part);
/// `None` without `by` columns.
fn merged_groups(parts: &[CustomerDays]) -> Result<Option<Groups>> {
    let labels: Vec<&[(String, ArrayRef)]> = parts.iter().map(|p| p.groups.as_slice()).collect();
    labels_coded_together(&labels)
}

/// The order lists of the merged entries (`merged_keys`: their customer code, group code
/// and day): every part's listed orders, each kept on its earliest day.
fn merged_orders(
    parts: &[CustomerDays],
    codes: &[Vec<u32>],
    group_of: &dyn Fn(usize, usize) -> u32,
    merged_keys: &[EntryKey],
) -> Result<ArrayRef> {
    let lists: Vec<&ArrayRef> = parts.iter().filter_map(|p| p.orders.as_ref()).collect();
    let (ids, uniques) = orders::ids_of_lists(&lists)?;
    let mut rows = Vec::new();
    for (p, (part, (offsets, ids))) in parts.iter().zip(&ids).enumerate() {
        for (i, e) in part.entries.iter().enumerate() {
            let listed = &ids[offsets[i] as usize..offsets[i + 1] as usize];
            rows.extend(
                listed
                    .iter()
                    .map(|&id| (codes[p][i], group_of(p, i), id, e.day)),
            );
        }
    }
    orders::first_orders(rows, merged_keys.iter().copied(), uniques.as_ref())
}

#[cfg(test)]
mod tests;
