//! Retention, repurchase and churn: answers derived from the customers' histories
//! (docs/retention_definitions.md). Each function is a small module; this one holds what
//! they share.

pub mod acquisition;
pub mod activity;
pub mod churn;
pub mod cohorts;
pub mod interpurchase;
pub mod lifecycle;
pub mod repurchase;

use rayon::prelude::*;

use crate::error::{CrmError, Result};
use crate::history::{Entry, History};
use crate::ingest::Transactions;
use crate::rfm::format_day;

/// `as_of`, defaulting to the last day of the data; earlier than that is an error.
pub fn as_of_day(as_of: Option<i32>, history: &History) -> Result<Option<i32>> {
    let last = history.days.map(|d| d.1);
    match (as_of, last) {
        (Some(a), Some(l)) if a < l => Err(CrmError::InvalidArgument(format!(
            "as_of ({}) is before the last day in the data ({}); choose a later as_of or \
             filter the rows first",
            format_day(a),
            format_day(l)
        ))),
        (Some(a), _) => Ok(Some(a)),
        (None, l) => Ok(l),
    }
}

/// First and last day of any row of the log.
pub fn day_range(tx: &Transactions) -> Option<(i32, i32)> {
    let ranges = tx.days.iter().filter_map(|d| d.range());
    ranges.reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
}

/// A customer's purchase days (entries with a purchase row), in day order, of a history
/// built without groups.
pub fn purchase_days(entries: &[Entry]) -> impl Iterator<Item = &Entry> {
    entries.iter().filter(|e| e.purchase_rows > 0)
}

/// `f` of every customer with rows, in code order.
pub fn per_customer<T: Send>(history: &History, f: impl Fn(&[Entry]) -> T + Sync) -> Vec<T> {
    crate::pool::install(|| {
        history
            .parts
            .par_iter()
            .flat_map_iter(|p| p.customers().map(|(_, es)| f(es)).collect::<Vec<_>>())
            .collect()
    })
}

/// Fold every customer into accumulators, a fixed run of partitions each, merged in order:
/// the result does not depend on the number of threads, even for float sums.
pub fn fold_customers<A: Send>(
    history: &History,
    init: impl Fn() -> A + Sync,
    add: impl Fn(&mut A, &[Entry]) + Sync,
    merge: impl Fn(&mut A, A),
) -> A {
    const PARTS_PER_FOLD: usize = 16;
    let partial: Vec<A> = crate::pool::install(|| {
        history
            .parts
            .par_chunks(PARTS_PER_FOLD)
            .map(|parts| {
                let mut acc = init();
                for p in parts {
                    p.customers().for_each(|(_, es)| add(&mut acc, es));
                }
                acc
            })
            .collect()
    });
    let mut total = init();
    partial.into_iter().for_each(|a| merge(&mut total, a));
    total
}

/// Median of sorted values (mean of the two middle ones for an even count).
pub fn median_sorted<T: Copy + Into<f64>>(sorted: &[T]) -> Option<f64> {
    let n = sorted.len();
    let at = |i: usize| -> f64 { sorted[i].into() };
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(at(n / 2)),
        _ => Some((at(n / 2 - 1) + at(n / 2)) / 2.0),
    }
}

/// Gaps in days between a customer's consecutive purchase days.
pub fn gaps(entries: &[Entry]) -> Vec<i32> {
    let days: Vec<i32> = purchase_days(entries).map(|e| e.day).collect();
    days.windows(2).map(|w| w[1] - w[0]).collect()
}
