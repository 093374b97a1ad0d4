//! Customer value and product performance (7P: Profitability, Performance; 4R: Reward):
//! answers derived from the customers' histories (docs/value_definitions.md).

pub mod loyalty;
pub mod performance;
pub mod profitability;

use crate::history::Entry;
use crate::summary::Sum;

/// A customer's net amount (refunds included) over the entries `keep` selects.
pub fn net_amount(entries: &[Entry], keep: impl Fn(&Entry) -> bool) -> f64 {
    let mut sum = Sum::default();
    entries
        .iter()
        .filter(|e| keep(e))
        .for_each(|e| sum.add(e.net));
    sum.value()
}

/// `(start, end)` of each run of equal values in `sorted`.
pub fn runs_of_equal(sorted: &[f64]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=sorted.len() {
        if i == sorted.len() || sorted[i] != sorted[start] {
            runs.push((start, i));
            start = i;
        }
    }
    runs
}
