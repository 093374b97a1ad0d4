//! `crm.interpurchase`: gaps between consecutive purchase days, per customer and overall.

use std::collections::BTreeMap;

use super::{fold_customers, gaps, median_sorted, per_customer};
use crate::history::History;

#[derive(Default)]
pub struct CustomerGaps {
    pub purchase_days: Vec<i32>,
    pub gaps: Vec<i32>,
    pub mean: Vec<Option<f64>>,
    pub median: Vec<Option<f64>>,
    pub min: Vec<Option<i32>>,
    pub max: Vec<Option<i32>>,
}

pub fn per_customer_gaps(history: &History) -> CustomerGaps {
    let rows = per_customer(history, |es| {
        let mut g = gaps(es);
        g.sort_unstable();
        let days = super::purchase_days(es).count() as i32;
        let total: i64 = g.iter().map(|&x| x as i64).sum();
        let mean = (!g.is_empty()).then(|| total as f64 / g.len() as f64);
        (
            days,
            mean,
            median_sorted(&g),
            g.first().copied(),
            g.last().copied(),
        )
    });
    let mut out = CustomerGaps::default();
    for (days, mean, median, min, max) in rows {
        out.purchase_days.push(days);
        out.gaps.push((days - 1).max(0));
        out.mean.push(mean);
        out.median.push(median);
        out.min.push(min);
        out.max.push(max);
    }
    out
}

/// How many gaps of each length (days) there are over all customers.
pub fn distribution(history: &History) -> BTreeMap<i32, u64> {
    fold_customers(
        history,
        BTreeMap::new,
        |acc, es| {
            for g in gaps(es) {
                *acc.entry(g).or_insert(0) += 1;
            }
        },
        |total, part| {
            for (g, n) in part {
                *total.entry(g).or_insert(0) += n;
            }
        },
    )
}
