//! `crm.repurchase`: the three published repurchase rates (customer-based, order-based,
//! repeat-customer intensity) with their counts, per window: the whole log or each period,
//! times each group of the `by` columns.

use rayon::prelude::*;

use super::{day_range, fold_customers};
use crate::history::{self, Entry, History};
use crate::ingest::Transactions;
use crate::period_masks::{period_masks, PeriodMasks, MAX_PERIODS};
use crate::periods::{Calendar, Period};

/// The counts of one window (docs/retention_definitions.md).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Window {
    pub customers: i64,
    pub repeat_customers: i64,
    pub orders: i64,
    pub repeat_orders: i64,
    pub repeat_customer_orders: i64,
}

impl Window {
    /// Count a customer with `n` purchases in the window.
    fn add(&mut self, n: i64) {
        if n >= 1 {
            self.customers += 1;
            self.orders += n;
            self.repeat_orders += n - 1;
        }
        if n >= 2 {
            self.repeat_customers += 1;
            self.repeat_customer_orders += n;
        }
    }

    fn merge(&mut self, o: &Window) {
        self.customers += o.customers;
        self.repeat_customers += o.repeat_customers;
        self.orders += o.orders;
        self.repeat_orders += o.repeat_orders;
        self.repeat_customer_orders += o.repeat_customer_orders;
    }

    pub fn customer_rate(&self) -> Option<f64> {
        ratio(self.repeat_customers, self.customers)
    }

    pub fn order_rate(&self) -> Option<f64> {
        ratio(self.repeat_orders, self.orders)
    }

    pub fn intensity(&self) -> Option<f64> {
        ratio(self.repeat_customer_orders, self.customers)
    }
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b != 0).then(|| a as f64 / b as f64)
}

pub struct Repurchase {
    /// Group codes present (just `[0]` without `by`).
    pub groups: Vec<u32>,
    /// First day of each period (`None`: one window for the whole log).
    pub starts: Option<Vec<i32>>,
    /// Group-major: window `(g, p)` is `windows[g * periods + p]`.
    pub windows: Vec<Window>,
}

/// The windows of a log whose customers have codes. Without orders or groups and over at
/// most 64 periods they come from the period masks, else from the history.
pub fn repurchase(tx: &Transactions, period: Option<Period>) -> Repurchase {
    let Some((first, last)) = day_range(tx) else {
        return Repurchase::empty(period);
    };
    let calendar = period.map(|p| Calendar::new(p, first, last));
    let n_periods = calendar.as_ref().map_or(1, Calendar::len);
    let starts = calendar.as_ref().map(Calendar::starts);
    if tx.orders.is_none() && tx.groups.is_none() && n_periods <= MAX_PERIODS {
        let period_of = |d: i32| calendar.as_ref().map_or(0, |c| c.of(d));
        let masks = period_masks(tx, n_periods, period_of);
        return Repurchase {
            groups: vec![0],
            starts,
            windows: from_masks(&masks, n_periods),
        };
    }
    let history = history::build(tx);
    let groups = if tx.groups.is_some() {
        history.groups()
    } else {
        vec![0]
    };
    let windows = from_history(&history, &groups, calendar.as_ref(), n_periods);
    Repurchase {
        groups,
        starts,
        windows,
    }
}

/// The windows of a history (a merged partial state; `grouped`: with `by` groups), over the
/// calendar of its first to last day: what `repurchase` gives for the log it condenses.
pub fn of_history(history: &History, period: Option<Period>, grouped: bool) -> Repurchase {
    let Some((first, last)) = history.days else {
        return Repurchase::empty(period);
    };
    let calendar = period.map(|p| Calendar::new(p, first, last));
    let n_periods = calendar.as_ref().map_or(1, Calendar::len);
    let groups = if grouped { history.groups() } else { vec![0] };
    let windows = from_history(history, &groups, calendar.as_ref(), n_periods);
    Repurchase {
        groups,
        starts: calendar.as_ref().map(Calendar::starts),
        windows,
    }
}

impl Repurchase {
    /// The windows of a log without rows.
    fn empty(period: Option<Period>) -> Repurchase {
        Repurchase {
            groups: vec![],
            starts: period.map(|_| vec![]),
            windows: vec![],
        }
    }
}

fn from_masks(masks: &PeriodMasks, n_periods: usize) -> Vec<Window> {
    // Customers and repeat customers per period, one pass over the customers' set bits.
    let count = |(once, twice): (&[u64], &[u64])| {
        let mut counts = vec![(0i64, 0i64); n_periods];
        for (&o, &t) in once.iter().zip(twice) {
            for_each_bit(o, |p| counts[p].0 += 1);
            for_each_bit(t, |p| counts[p].1 += 1);
        }
        counts
    };
    let chunks = masks
        .once
        .par_chunks(1 << 16)
        .zip(masks.twice.par_chunks(1 << 16));
    let partial: Vec<Vec<(i64, i64)>> = crate::pool::install(|| chunks.map(count).collect());
    (0..n_periods)
        .map(|p| {
            let customers: i64 = partial.iter().map(|c| c[p].0).sum();
            let repeat: i64 = partial.iter().map(|c| c[p].1).sum();
            let orders = masks.purchases[p] as i64;
            Window {
                customers,
                repeat_customers: repeat,
                orders,
                repeat_orders: orders - customers,
                // Everyone else bought exactly once.
                repeat_customer_orders: orders - (customers - repeat),
            }
        })
        .collect()
}

fn for_each_bit(mut word: u64, mut f: impl FnMut(usize)) {
    while word != 0 {
        f(word.trailing_zeros() as usize);
        word &= word - 1;
    }
}

fn from_history(
    history: &History,
    groups: &[u32],
    calendar: Option<&Calendar>,
    n_periods: usize,
) -> Vec<Window> {
    let period_of = |day: i32| calendar.map_or(0, |c| c.of(day));
    let n_windows = groups.len() * n_periods;
    let add = |acc: &mut Vec<Window>, es: &[Entry]| {
        for run in es.chunk_by(|a, b| a.group == b.group) {
            let g = groups.binary_search(&run[0].group).unwrap_or(0);
            let mut current = usize::MAX;
            let mut n = 0i64;
            for e in run.iter().filter(|e| e.purchases > 0) {
                let p = period_of(e.day);
                if p != current {
                    if current != usize::MAX {
                        acc[g * n_periods + current].add(n);
                    }
                    current = p;
                    n = 0;
                }
                n += e.purchases as i64;
            }
            if current != usize::MAX {
                acc[g * n_periods + current].add(n);
            }
        }
    };
    let merge = |total: &mut Vec<Window>, part: Vec<Window>| {
        total.iter_mut().zip(&part).for_each(|(t, p)| t.merge(p));
    };
    fold_customers(history, || vec![Window::default(); n_windows], add, merge)
}
