//! The distinct purchase orders of each customer of a partial state. An order's lines may
//! fall in several parts, so counting distinct orders after a merge needs the ids themselves:
//! each customer carries its sorted distinct order ids, and merging takes their union. The
//! per-day state lists each order on the earliest day of its purchase rows instead (in its
//! customer and group), and merging keeps the earliest of its days. This part of the state
//! grows with the number of orders, not of customers.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Int64Array, ListArray, UInt32Array};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field};
use rayon::prelude::*;

use crate::error::{CrmError, Result};
use crate::ingest::{order_ids, Amounts, Transactions};

pub const COLUMN: &str = "orders";

/// The distinct order ids of the purchase rows of each customer `codes` (ascending), as a
/// list per customer; `None` without an order column. Needs per-row customer codes.
pub fn of_transactions(tx: &Transactions, codes: &[u32]) -> Result<Option<ArrayRef>> {
    let Some(orders) = &tx.orders else {
        return Ok(None);
    };
    let mut pairs = purchase_rows(tx, |c, i| (tx.customers.rows.code(c, i), orders[c][i]));
    Ok(Some(lists(&mut pairs, codes, tx.order_values.as_ref())?))
}

/// The union of the order lists of several parts; `codes[p][r]` is the merged customer code
/// of row `r` of part `p`, and `present` the merged codes kept (ascending).
pub fn merge(
    lists_of_parts: &[&ArrayRef],
    codes: &[Vec<u32>],
    present: &[u32],
) -> Result<ArrayRef> {
    let (parts, uniques) = ids_of_lists(lists_of_parts)?;
    let mut pairs = Vec::new();
    for ((offsets, ids), codes) in parts.iter().zip(codes) {
        for (row, &code) in codes.iter().enumerate() {
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            pairs.extend(ids[start..end].iter().map(|&id| (code, id)));
        }
    }
    lists(&mut pairs, present, uniques.as_ref())
}

/// The order ids of several parts' list columns in one id space (string ids encoded
/// together): per part its list offsets and ids, and the values string ids stand for.
#[allow(clippy::type_complexity)]
pub fn ids_of_lists(
    lists_of_parts: &[&ArrayRef],
) -> Result<(
    Vec<(OffsetBuffer<i32>, ScalarBuffer<i64>)>,
    Option<ArrayRef>,
)> {
    let parts: Vec<&ListArray> = lists_of_parts
        .iter()
        .map(|l| l.as_list_opt::<i32>().ok_or_else(not_orders))
        .collect::<Result<_>>()?;
    let values: Vec<ArrayRef> = parts.iter().map(|l| l.values().clone()).collect();
    let (ids, uniques) = order_ids(&values, COLUMN)?;
    let offsets = parts.iter().map(|l| l.offsets().clone());
    Ok((offsets.zip(ids).collect(), uniques))
}

/// A purchase row as the per-day state's order lists read it: customer code, group code,
/// order id (or its code), day.
pub type OrderRow = (u32, u32, i64, i32);

/// The rows of `tx` with a positive amount (the purchases of the functions that take an
/// order column), as `OrderRow`s; group 0 without `by` groups. Needs an order column and
/// per-row customer codes.
pub fn purchase_order_rows(tx: &Transactions) -> Vec<OrderRow> {
    let Some(orders) = &tx.orders else {
        return vec![];
    };
    let groups = tx.groups.as_ref();
    purchase_rows(tx, |c, i| {
        let group = groups.map_or(0, |g| g.codes[c][i]);
        let code = tx.customers.rows.code(c, i);
        (code, group, orders[c][i], tx.days[c].day(i))
    })
}

/// `row(chunk, i)` of every row with a positive amount, in row order.
fn purchase_rows<T: Send>(tx: &Transactions, row: impl Fn(usize, usize) -> T + Sync) -> Vec<T> {
    let row = &row;
    (0..tx.days.len())
        .into_par_iter()
        .flat_map_iter(|c| {
            let is_purchase = move |i: usize| match &tx.amounts[c] {
                Amounts::F64(a) => a[i] > 0.0,
                Amounts::I64(a) => a[i] > 0,
            };
            (0..tx.chunk_len(c))
                .filter(move |&i| is_purchase(i))
                .map(move |i| row(c, i))
        })
        .collect()
}

/// Per entry (`entries`: their (customer, group, day), ascending), the ids of the orders of
/// `rows` whose earliest purchase row of the customer and group is on the entry's day: each
/// order counts once, on that day, however its lines were split. `uniques`: the values id
/// codes stand for (None: integer ids).
pub fn first_orders(
    mut rows: Vec<OrderRow>,
    entries: impl Iterator<Item = (u32, u32, i32)>,
    uniques: Option<&ArrayRef>,
) -> Result<ArrayRef> {
    // Sorted by (customer, group, order, day): the first of each order is its earliest day.
    rows.par_sort_unstable();
    rows.dedup_by_key(|r| (r.0, r.1, r.2));
    let mut firsts: Vec<(u32, u32, i32, i64)> =
        rows.into_iter().map(|(c, g, o, d)| (c, g, d, o)).collect();
    firsts.par_sort_unstable();
    let offsets = run_offsets(&firsts, entries, |f| (f.0, f.1, f.2)).ok_or_else(|| {
        CrmError::InvalidArgument(
            "a partial state lists orders of a day it does not hold".to_string(),
        )
    })?;
    list_array(offsets, firsts.iter().map(|f| f.3).collect(), uniques)
}

/// Each customer's order count (the lengths of the lists).
pub fn counts(orders: &ArrayRef) -> Result<Vec<u32>> {
    let list = orders.as_list_opt::<i32>().ok_or_else(not_orders)?;
    Ok(list
        .value_offsets()
        .windows(2)
        .map(|w| (w[1] - w[0]) as u32)
        .collect())
}

fn not_orders() -> CrmError {
    CrmError::InvalidArgument("the orders of a partial state are not a list column".to_string())
}

/// Lists of the distinct ids of `pairs` (customer code, id or id code) for the customers
/// `codes` (ascending); `uniques`: the values the id codes stand for (None: the ids are
/// integers).
fn lists(
    pairs: &mut Vec<(u32, i64)>,
    codes: &[u32],
    uniques: Option<&ArrayRef>,
) -> Result<ArrayRef> {
    pairs.par_sort_unstable();
    pairs.dedup();
    // Every pair's customer is one of `codes` (a purchase makes its customer present).
    let offsets = run_offsets(pairs, codes.iter().copied(), |p| p.0).ok_or_else(|| {
        CrmError::InvalidArgument(
            "a partial state lists orders of a customer it does not hold".to_string(),
        )
    })?;
    list_array(offsets, pairs.iter().map(|p| p.1).collect(), uniques)
}

/// The list offsets that cut `items` (sorted by group) into one run per group of `groups`
/// (ascending, possibly empty runs); None when some item's group is not among them.
fn run_offsets<T, G: PartialEq>(
    items: &[T],
    groups: impl Iterator<Item = G>,
    group_of: impl Fn(&T) -> G,
) -> Option<Vec<i32>> {
    let mut offsets = vec![0i32];
    let mut at = 0;
    for group in groups {
        while at < items.len() && group_of(&items[at]) == group {
            at += 1;
        }
        offsets.push(at as i32);
    }
    (at == items.len()).then_some(offsets)
}

/// A list column of order ids: `ids` (or id codes, standing for `uniques`) cut by `offsets`.
fn list_array(offsets: Vec<i32>, ids: Vec<i64>, uniques: Option<&ArrayRef>) -> Result<ArrayRef> {
    let values: ArrayRef = match uniques {
        None => Arc::new(Int64Array::from(ids)),
        Some(uniques) => {
            let index = UInt32Array::from_iter_values(ids.iter().map(|&c| c as u32));
            let taken = arrow_select::take::take(uniques.as_ref(), &index, None)?;
            // One string layout for every part, whatever each partition's column used.
            arrow_cast::cast(&taken, &DataType::Utf8)?
        }
    };
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), false));
    Ok(Arc::new(ListArray::try_new(
        field,
        OffsetBuffer::new(offsets.into()),
        values,
        None,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;

    fn list(rows: &[&[&str]]) -> ArrayRef {
        let mut pairs: Vec<(u32, i64)> = Vec::new();
        let values: Vec<&str> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        let mut sorted = values.clone();
        sorted.sort_unstable();
        sorted.dedup();
        for (c, row) in rows.iter().enumerate() {
            for v in *row {
                pairs.push((c as u32, sorted.binary_search(v).unwrap() as i64));
            }
        }
        let uniques: ArrayRef = Arc::new(StringArray::from(sorted));
        let codes: Vec<u32> = (0..rows.len() as u32).collect();
        lists(&mut pairs, &codes, Some(&uniques)).unwrap()
    }

    #[test]
    fn an_order_in_two_parts_counts_once() {
        // Part a: customers 0, 1; part b: customers 1, 2 (merged codes 1, 2).
        let a = list(&[&["o1", "o2"], &["o3"]]);
        let b = list(&[&["o3", "o4", "o3"], &["o5"]]);
        let merged = merge(&[&a, &b], &[vec![0, 1], vec![1, 2]], &[0, 1, 2]).unwrap();
        assert_eq!(counts(&merged).unwrap(), vec![2, 2, 1]);
        let values = merged.as_list::<i32>().value(1);
        let values: Vec<&str> = values.as_string::<i32>().iter().flatten().collect();
        assert_eq!(values, ["o3", "o4"]);
    }
}
