//! `crm.activity`: the member activity score (会员活跃度), a weighted mean of indicators in
//! [0, 1]: recency decaying every day, and percentile ranks of purchases, net spend and any
//! engagement columns the user names.

use rayon::prelude::*;

use super::{per_customer, purchase_days};
use crate::error::{CrmError, Result};
use crate::history::History;
use crate::summary::Sum;

pub struct ActivityOptions {
    pub as_of: Option<i32>,
    pub half_life_days: f64,
    pub recency_weight: f64,
    pub frequency_weight: f64,
    pub monetary_weight: f64,
    /// One weight per extra column.
    pub extra_weights: Vec<f64>,
}

pub struct Activity {
    pub days_since_last_purchase: Vec<Option<i32>>,
    pub purchases: Vec<i32>,
    pub net_spend: Vec<f64>,
    pub recency: Vec<f64>,
    pub frequency: Vec<f64>,
    pub monetary: Vec<f64>,
    /// Per extra column: the indicator.
    pub extra: Vec<Vec<f64>>,
    /// 0..100.
    pub activity: Vec<f64>,
}

/// `extra_sums`: per extra column, each customer's sum (in the history's customer order).
pub fn activity(
    history: &History,
    extra_sums: &[Vec<f64>],
    options: &ActivityOptions,
) -> Result<Activity> {
    if !(options.half_life_days > 0.0 && options.half_life_days.is_finite()) {
        return Err(CrmError::InvalidArgument(format!(
            "half_life_days must be a positive number, got {}",
            options.half_life_days
        )));
    }
    let mut weights = vec![
        options.recency_weight,
        options.frequency_weight,
        options.monetary_weight,
    ];
    weights.extend(&options.extra_weights);
    if weights.iter().any(|w| !(*w >= 0.0 && w.is_finite())) || weights.iter().all(|&w| w == 0.0) {
        return Err(CrmError::InvalidArgument(format!(
            "weights must be finite, 0 or more and not all 0, got {weights:?}"
        )));
    }
    let as_of = super::as_of_day(options.as_of, history)?.unwrap_or(0);
    let rows = per_customer(history, |es| {
        let last = purchase_days(es).last().map(|e| e.day);
        let purchases: i32 = es.iter().map(|e| e.purchases as i32).sum();
        let mut net = Sum::default();
        es.iter().for_each(|e| net.add(e.net));
        (last.map(|d| as_of - d), purchases, net.value())
    });
    let days_since: Vec<Option<i32>> = rows.iter().map(|r| r.0).collect();
    let purchases: Vec<i32> = rows.iter().map(|r| r.1).collect();
    let net_spend: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let recency: Vec<f64> = days_since
        .iter()
        .map(|d| d.map_or(0.0, |d| 0.5f64.powf(d as f64 / options.half_life_days)))
        .collect();
    let frequency = percentile_ranks(&purchases.iter().map(|&p| p as f64).collect::<Vec<_>>());
    let monetary = percentile_ranks(&net_spend);
    let extra: Vec<Vec<f64>> = extra_sums.iter().map(|s| percentile_ranks(s)).collect();
    let total_weight: f64 = weights.iter().sum();
    let activity = (0..recency.len())
        .into_par_iter()
        .map(|i| {
            let mut score = weights[0] * recency[i] + weights[1] * frequency[i];
            score += weights[2] * monetary[i];
            for (x, w) in extra.iter().zip(&weights[3..]) {
                score += w * x[i];
            }
            100.0 * score / total_weight
        })
        .collect();
    Ok(Activity {
        days_since_last_purchase: days_since,
        purchases,
        net_spend,
        recency,
        frequency,
        monetary,
        extra,
        activity,
    })
}

/// Average 1-based rank of each value (ties share it) divided by the count.
pub fn percentile_ranks(values: &[f64]) -> Vec<f64> {
    let n = values.len();
    // -0.0 and 0.0 are the same value.
    let key = |i: usize| if values[i] == 0.0 { 0.0 } else { values[i] };
    let mut order: Vec<usize> = (0..n).collect();
    order.par_sort_unstable_by(|&a, &b| key(a).total_cmp(&key(b)));
    let mut ranks = vec![0.0; n];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && key(order[end]) == key(order[start]) {
            end += 1;
        }
        // 1-based ranks start+1..=end share their mean.
        let average = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = average / n as f64;
        }
        start = end;
    }
    ranks
}
