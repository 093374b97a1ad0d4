//! `crm.performance`: the product distribution pivot (quantity, revenue, customers, orders
//! by the `by` columns × period). Amounts and counts come from the customers' histories;
//! quantities, which the history does not keep, from one keyed sum over the rows, or from
//! the per-entry sums a partial state carries.

use crate::error::{CrmError, Result};
use crate::history::{self, History};
use crate::ingest::{Amounts, Transactions};
use crate::periods::{Calendar, Period};
use crate::retention::fold_customers;
use crate::summary::Sum;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// Units on purchase rows (amount > 0).
    Quantity,
    /// Net amount: purchases minus refunds.
    Revenue,
    /// Amount of purchase rows.
    Gross,
    /// Amount refunded (a positive number).
    Refunds,
    /// Distinct customers with a purchase.
    Customers,
    /// Purchases: distinct orders when an order column is given, else purchase rows.
    Orders,
}

impl Value {
    pub fn parse(name: &str) -> Result<Value> {
        Ok(match name {
            "quantity" => Value::Quantity,
            "revenue" => Value::Revenue,
            "gross" => Value::Gross,
            "refunds" => Value::Refunds,
            "customers" => Value::Customers,
            "orders" => Value::Orders,
            other => {
                return Err(CrmError::InvalidArgument(format!(
                    "unknown value '{other}'; choose from quantity, revenue, gross, refunds, \
                     customers, orders"
                )))
            }
        })
    }
}

/// One cell per (group, period), group-major.
pub struct Performance {
    /// Group codes present in the data, ascending.
    pub groups: Vec<u32>,
    /// First day of each period (one window: the first day of the data).
    pub starts: Vec<i32>,
    pub quantity: Vec<f64>,
    pub revenue: Vec<f64>,
    pub gross: Vec<f64>,
    pub refunds: Vec<f64>,
    pub customers: Vec<i64>,
    pub orders: Vec<i64>,
}

/// Where the units bought come from, when the quantity is wanted.
pub enum Units<'a> {
    /// The log's rows and its quantity column, per chunk (the units of purchase rows count).
    Rows(&'a Transactions, &'a [arrow_buffer::ScalarBuffer<f64>]),
    /// Per entry of the history, in its order: the units of the entry's purchase rows.
    Entries(&'a [Sum]),
}

pub fn performance(history: &History, period: Option<Period>, units: Option<Units>) -> Performance {
    let Some((first, last)) = history.days else {
        return empty();
    };
    let calendar = period.map(|p| Calendar::new(p, first, last));
    let n_periods = calendar.as_ref().map_or(1, Calendar::len);
    let starts = calendar.as_ref().map_or(vec![first], Calendar::starts);
    let period_of = |day: i32| calendar.as_ref().map_or(0, |c| c.of(day));
    let groups = history.groups();
    let group_index = |g: u32| groups.binary_search(&g).expect("a group of the data");
    let n_cells = groups.len() * n_periods;
    let cell = |group: u32, day: i32| group_index(group) * n_periods + period_of(day);

    let sums = fold_customers(
        history,
        || Cells::new(n_cells),
        |acc, entries| {
            let mut last_counted = usize::MAX;
            for e in entries {
                let c = cell(e.group, e.day);
                acc.revenue[c].add(e.net);
                acc.gross[c].add(e.spent);
                acc.refunds[c].add(e.spent - e.net);
                acc.orders[c] += e.purchases as i64;
                // Entries come by (group, day), so a customer's cells come in runs.
                if e.purchase_rows > 0 && c != last_counted {
                    acc.customers[c] += 1;
                    last_counted = c;
                }
            }
        },
        Cells::merge,
    );
    let quantity = match units {
        None => vec![],
        Some(Units::Rows(tx, q)) => {
            let row_cell = |c: usize, i: usize| {
                let group = tx.groups.as_ref().map_or(0, |g| g.codes[c][i]);
                cell(group, tx.days[c].day(i)) as u32
            };
            let purchased = |c: usize, i: usize| match &tx.amounts[c] {
                Amounts::F64(a) => a[i] > 0.0,
                Amounts::I64(a) => a[i] > 0,
            };
            let units = |c: usize, i: usize| if purchased(c, i) { q[c][i] } else { 0.0 };
            history::sums_by_key(tx, n_cells, row_cell, units)
        }
        Some(Units::Entries(per_entry)) => {
            let mut sums = vec![Sum::default(); n_cells];
            let entries = history.parts.iter().flat_map(|p| p.customers());
            let entries = entries.flat_map(|(_, es)| es);
            for (e, units) in entries.zip(per_entry) {
                sums[cell(e.group, e.day)].merge(units);
            }
            sums.iter().map(Sum::value).collect()
        }
    };
    let values = |v: Vec<Sum>| v.iter().map(Sum::value).collect();
    Performance {
        groups,
        starts,
        quantity,
        revenue: values(sums.revenue),
        gross: values(sums.gross),
        refunds: values(sums.refunds),
        customers: sums.customers,
        orders: sums.orders,
    }
}

fn empty() -> Performance {
    Performance {
        groups: vec![],
        starts: vec![],
        quantity: vec![],
        revenue: vec![],
        gross: vec![],
        refunds: vec![],
        customers: vec![],
        orders: vec![],
    }
}

struct Cells {
    revenue: Vec<Sum>,
    gross: Vec<Sum>,
    refunds: Vec<Sum>,
    customers: Vec<i64>,
    orders: Vec<i64>,
}

impl Cells {
    fn new(n: usize) -> Cells {
        Cells {
            revenue: vec![Sum::default(); n],
            gross: vec![Sum::default(); n],
            refunds: vec![Sum::default(); n],
            customers: vec![0; n],
            orders: vec![0; n],
        }
    }

    fn merge(&mut self, other: Cells) {
        let add = |a: &mut [Sum], b: Vec<Sum>| a.iter_mut().zip(b).for_each(|(x, y)| x.merge(&y));
        add(&mut self.revenue, other.revenue);
        add(&mut self.gross, other.gross);
        add(&mut self.refunds, other.refunds);
        let count = |a: &mut [i64], b: Vec<i64>| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        count(&mut self.customers, other.customers);
        count(&mut self.orders, other.orders);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{ingest, OnInvalid, Spec};
    use crate::testing::log;

    #[test]
    fn monthly_cells_of_one_group() {
        // (customer, day, amount, order): January has two customers, March one; February is empty.
        let batch = log(&[
            (1, 0, 10.0, 1),
            (1, 3, -4.0, 2),
            (2, 5, 7.0, 3),
            (2, 60, 5.0, 4),
        ]);
        let spec = Spec {
            customer: "c".into(),
            date: "d".into(),
            amount: "a".into(),
            need_codes: true,
            ..Spec::default()
        };
        let tx = ingest(&batch.schema(), &[batch], &spec, OnInvalid::Raise).unwrap();
        let h = history::build(&tx);
        let p = performance(&h, Some(Period::Month), None);
        assert_eq!(p.starts.len(), 3);
        assert_eq!(p.customers, vec![2, 0, 1]);
        assert_eq!(p.orders, vec![2, 0, 1]);
        assert_eq!(p.revenue, vec![13.0, 0.0, 5.0]);
        assert_eq!(p.gross, vec![17.0, 0.0, 5.0]);
        assert_eq!(p.refunds, vec![4.0, 0.0, 0.0]);
    }
}
