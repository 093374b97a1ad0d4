//! `crm.cohorts`: customers grouped by the period of their first purchase, followed period
//! by period (retention, active customers, revenue, cumulative revenue per customer).

use super::{fold_customers, purchase_days};
use crate::error::{CrmError, Result};
use crate::history::History;
use crate::periods::{Calendar, Period};
use crate::summary::Sum;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Retention,
    ActiveCustomers,
    Revenue,
    CumulativeRevenuePerCustomer,
}

impl Metric {
    pub fn parse(name: &str) -> Result<Metric> {
        Ok(match name {
            "retention" => Metric::Retention,
            "active_customers" => Metric::ActiveCustomers,
            "revenue" => Metric::Revenue,
            "cumulative_revenue_per_customer" => Metric::CumulativeRevenuePerCustomer,
            other => {
                return Err(CrmError::InvalidArgument(format!(
                    "metric must be 'retention', 'active_customers', 'revenue' or \
                     'cumulative_revenue_per_customer', got '{other}'"
                )))
            }
        })
    }
}

/// Per cohort (first period of the data first), one cell per period number 0..(periods
/// left in the data).
pub struct Cohorts {
    /// First day of each cohort's period.
    pub starts: Vec<i32>,
    pub sizes: Vec<u64>,
    pub active: Vec<Vec<u64>>,
    pub revenue: Vec<Vec<f64>>,
}

impl Cohorts {
    /// The metric of every cell; null where the cohort is empty and the metric a ratio.
    pub fn values(&self, metric: Metric) -> Vec<Vec<Option<f64>>> {
        (0..self.starts.len())
            .map(|c| {
                let size = self.sizes[c] as f64;
                let per_customer = |x: f64| (size > 0.0).then(|| x / size);
                let mut cumulative = Sum::default();
                (0..self.active[c].len())
                    .map(|k| match metric {
                        Metric::Retention => per_customer(self.active[c][k] as f64),
                        Metric::ActiveCustomers => Some(self.active[c][k] as f64),
                        Metric::Revenue => Some(self.revenue[c][k]),
                        Metric::CumulativeRevenuePerCustomer => {
                            cumulative.add(self.revenue[c][k]);
                            per_customer(cumulative.value())
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

struct Acc {
    sizes: Vec<u64>,
    active: Vec<Vec<u64>>,
    revenue: Vec<Vec<Sum>>,
}

pub fn cohorts(history: &History, period: Period) -> Cohorts {
    let Some((first, last)) = history.days else {
        return Cohorts {
            starts: vec![],
            sizes: vec![],
            active: vec![],
            revenue: vec![],
        };
    };
    let calendar = Calendar::new(period, first, last);
    let n = calendar.len();
    let init = || Acc {
        sizes: vec![0; n],
        active: (0..n).map(|c| vec![0; n - c]).collect(),
        revenue: (0..n).map(|c| vec![Sum::default(); n - c]).collect(),
    };
    let add = |acc: &mut Acc, es: &[crate::history::Entry]| {
        let Some(first_purchase) = purchase_days(es).next() else {
            return;
        };
        let c = calendar.of(first_purchase.day);
        acc.sizes[c] += 1;
        let mut last_active = usize::MAX;
        for e in es {
            // A refund before the first purchase counts in period 0.
            let k = calendar.of(e.day).saturating_sub(c);
            acc.revenue[c][k].add(e.net);
            if e.purchases > 0 && k != last_active {
                acc.active[c][k] += 1;
                last_active = k;
            }
        }
    };
    let merge = |total: &mut Acc, part: Acc| {
        for c in 0..n {
            total.sizes[c] += part.sizes[c];
            for k in 0..n - c {
                total.active[c][k] += part.active[c][k];
                total.revenue[c][k].merge(&part.revenue[c][k]);
            }
        }
    };
    let acc = fold_customers(history, init, add, merge);
    Cohorts {
        starts: calendar.starts(),
        sizes: acc.sizes,
        active: acc.active,
        revenue: acc
            .revenue
            .iter()
            .map(|r| r.iter().map(Sum::value).collect())
            .collect(),
    }
}
