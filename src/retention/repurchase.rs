//! `crm.repurchase`: the three published repurchase rates (customer-based, order-based,
//! repeat-customer intensity) with their counts, per window: the whole log or each period,
//! times each group of the `by` columns.

use super::fold_customers;
use crate::history::{Entry, History};
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

/// `grouped`: the history was built with `by` columns (else one group, even when empty).
pub fn repurchase(history: &History, period: Option<Period>, grouped: bool) -> Repurchase {
    let groups = if grouped { history.groups() } else { vec![0] };
    let calendar = period.and_then(|p| history.days.map(|(f, l)| Calendar::new(p, f, l)));
    let n_periods = match (period, &calendar) {
        (None, _) => 1,
        (Some(_), Some(c)) => c.len(),
        (Some(_), None) => 0,
    };
    let period_of = |day: i32| calendar.as_ref().map_or(0, |c| c.of(day));
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
    let windows = fold_customers(history, || vec![Window::default(); n_windows], add, merge);
    Repurchase {
        groups,
        starts: period.map(|_| calendar.map_or(vec![], |c| c.starts())),
        windows,
    }
}
