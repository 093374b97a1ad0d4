//! Summarize: the one fused pass over the rows, building the per-customer state.
//!
//! Work is split by *customer* range: every worker scans all rows and keeps those of its own
//! customers. Each customer's rows are therefore added in row order by a single worker, so
//! the result is identical for any number of threads, and no per-thread copies of the state
//! need merging. Sums are compensated so that the row order does not change them either.

use rayon::prelude::*;

use crate::ingest::{Amounts, RowCodes, Transactions};
use crate::pool;

/// A compensated (Neumaier) running sum: exact to the last bit for realistic data, so
/// reordering the rows does not change the result.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sum {
    hi: f64,
    lo: f64,
}

impl Sum {
    #[inline(always)]
    pub fn add(&mut self, x: f64) {
        let t = self.hi + x;
        if self.hi.abs() >= x.abs() {
            self.lo += (self.hi - t) + x;
        } else {
            self.lo += (x - t) + self.hi;
        }
        self.hi = t;
    }

    pub fn merge(&mut self, other: &Sum) {
        self.add(other.hi);
        self.lo += other.lo;
    }

    pub fn value(&self) -> f64 {
        self.hi + self.lo
    }
}

/// Everything later steps need to know about one customer. Merging two states of the same
/// customer gives the state of the union of their rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CustomerState {
    /// All rows, purchases or not.
    pub rows: u32,
    /// Rows with a positive amount.
    pub purchases: u32,
    /// Rows with a negative amount.
    pub refunds: u32,
    /// Day of the first / last purchase (`i32::MAX` / `i32::MIN` while there is none).
    pub first_purchase: i32,
    pub last_purchase: i32,
    /// Sum of the positive amounts.
    pub gross: Sum,
    /// Sum of the refunds, as a positive number.
    pub refunded: Sum,
}

impl CustomerState {
    pub const EMPTY: CustomerState = CustomerState {
        rows: 0,
        purchases: 0,
        refunds: 0,
        first_purchase: i32::MAX,
        last_purchase: i32::MIN,
        gross: Sum { hi: 0.0, lo: 0.0 },
        refunded: Sum { hi: 0.0, lo: 0.0 },
    };

    #[inline(always)]
    pub fn add(&mut self, day: i32, amount: f64) {
        self.rows += 1;
        if amount > 0.0 {
            self.purchases += 1;
            self.first_purchase = self.first_purchase.min(day);
            self.last_purchase = self.last_purchase.max(day);
            self.gross.add(amount);
        } else if amount < 0.0 {
            self.refunds += 1;
            self.refunded.add(-amount);
        }
    }

    pub fn merge(&mut self, other: &CustomerState) {
        self.rows += other.rows;
        self.purchases += other.purchases;
        self.refunds += other.refunds;
        self.first_purchase = self.first_purchase.min(other.first_purchase);
        self.last_purchase = self.last_purchase.max(other.last_purchase);
        self.gross.merge(&other.gross);
        self.refunded.merge(&other.refunded);
    }

    /// Net spend: purchases minus refunds.
    pub fn net(&self) -> f64 {
        let mut s = self.gross;
        s.add(-self.refunded.hi);
        s.lo -= self.refunded.lo;
        s.value()
    }

    pub fn has_purchase(&self) -> bool {
        self.purchases > 0
    }
}

/// The per-customer result of the pass, indexed by customer code.
pub struct Summary {
    pub states: Vec<CustomerState>,
    /// Distinct order ids among each customer's purchases (when an order column was given).
    pub distinct_orders: Option<Vec<u32>>,
    /// The latest day of any row (`None` for an empty log).
    pub max_day: Option<i32>,
}

impl Summary {
    /// Codes of the customers that have at least one row (dense integer ids leave holes).
    pub fn present_codes(&self) -> Vec<u32> {
        (0..self.states.len() as u32).filter(|&c| self.states[c as usize].rows > 0).collect()
    }
}

trait AsF64: Copy + Sync {
    fn as_f64(self) -> f64;
}
impl AsF64 for f64 {
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }
}
impl AsF64 for i64 {
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as f64
    }
}

pub fn summarize(tx: &Transactions) -> Summary {
    pool::install(|| {
        let n = tx.customers.n_codes;
        let parts = pool::num_threads().min(n / 4096 + 1).max(1);
        let width = n.div_ceil(parts).max(1);
        let mut states = vec![CustomerState::EMPTY; n];
        let mut distinct = tx.orders.as_ref().map(|_| vec![0u32; n]);
        match distinct.as_mut() {
            None => states
                .par_chunks_mut(width)
                .enumerate()
                .for_each(|(p, s)| accumulate(tx, (p * width) as u32, s, None)),
            Some(d) => states
                .par_chunks_mut(width)
                .zip(d.par_chunks_mut(width))
                .enumerate()
                .for_each(|(p, (s, d))| accumulate(tx, (p * width) as u32, s, Some(d))),
        }
        let max_day = tx
            .days
            .par_iter()
            .filter_map(|d| d.iter().copied().max())
            .max();
        Summary { states, distinct_orders: distinct, max_day }
    })
}

/// One worker's share: the customers with codes `lo .. lo + states.len()`.
fn accumulate(tx: &Transactions, lo: u32, states: &mut [CustomerState], distinct: Option<&mut [u32]>) {
    let mut pairs: Vec<(u32, i64)> = Vec::new();
    let collect = distinct.is_some();
    for chunk in 0..tx.days.len() {
        let days = &tx.days[chunk][..];
        let orders = tx.orders.as_ref().filter(|_| collect).map(|o| &o[chunk][..]);
        let pairs = &mut pairs;
        match (&tx.customers.rows, &tx.amounts[chunk]) {
            (RowCodes::Dense { chunks, min }, Amounts::F64(a)) => {
                let keys = &chunks[chunk][..];
                scan(states, lo, |i| keys[i].wrapping_sub(*min) as u32, days, &a[..], orders, pairs)
            }
            (RowCodes::Dense { chunks, min }, Amounts::I64(a)) => {
                let keys = &chunks[chunk][..];
                scan(states, lo, |i| keys[i].wrapping_sub(*min) as u32, days, &a[..], orders, pairs)
            }
            (RowCodes::Coded { chunks }, Amounts::F64(a)) => {
                let codes = &chunks[chunk][..];
                scan(states, lo, |i| codes[i], days, &a[..], orders, pairs)
            }
            (RowCodes::Coded { chunks }, Amounts::I64(a)) => {
                let codes = &chunks[chunk][..];
                scan(states, lo, |i| codes[i], days, &a[..], orders, pairs)
            }
        }
    }
    if let Some(distinct) = distinct {
        pairs.sort_unstable();
        pairs.dedup();
        for (local, _) in pairs {
            distinct[local as usize] += 1;
        }
    }
}

#[inline(always)]
fn scan<A: AsF64>(
    states: &mut [CustomerState],
    lo: u32,
    code: impl Fn(usize) -> u32,
    days: &[i32],
    amounts: &[A],
    orders: Option<&[i64]>,
    pairs: &mut Vec<(u32, i64)>,
) {
    let width = states.len() as u32;
    for i in 0..days.len() {
        let local = code(i).wrapping_sub(lo);
        if local < width {
            let amount = amounts[i].as_f64();
            states[local as usize].add(days[i], amount);
            if let Some(orders) = orders {
                if amount > 0.0 {
                    pairs.push((local, orders[i]));
                }
            }
        }
    }
}

/// Merge two summaries keyed by sorted customer keys (e.g. from two partitions of a log).
pub fn merge_keyed<K: Ord + Clone>(
    a: (&[K], &[CustomerState]),
    b: (&[K], &[CustomerState]),
) -> (Vec<K>, Vec<CustomerState>) {
    let (mut i, mut j) = (0, 0);
    let mut keys = Vec::with_capacity(a.0.len() + b.0.len());
    let mut states = Vec::with_capacity(keys.capacity());
    while i < a.0.len() || j < b.0.len() {
        let take_a = j == b.0.len() || (i < a.0.len() && a.0[i] <= b.0[j]);
        let take_b = i == a.0.len() || (j < b.0.len() && b.0[j] <= a.0[i]);
        let mut s = CustomerState::EMPTY;
        let key = if take_a { a.0[i].clone() } else { b.0[j].clone() };
        if take_a {
            s.merge(&a.1[i]);
            i += 1;
        }
        if take_b {
            s.merge(&b.1[j]);
            j += 1;
        }
        keys.push(key);
        states.push(s);
    }
    (keys, states)
}
