//! `crm.acquisition`: per period new, reactivated, lost and retained customers, and the CR
//! index (new / lost). A customer is live while their last purchase is at most `lapse_days`
//! old, and lost the day after.

use super::{fold_customers, purchase_days};
use crate::error::{CrmError, Result};
use crate::history::{Entry, History};
use crate::periods::{Calendar, Period};

/// Counts per period, from the first period of the data to the one containing `as_of`.
#[derive(Clone, Default)]
pub struct Acquisition {
    pub starts: Vec<i32>,
    pub start_customers: Vec<i64>,
    pub new: Vec<i64>,
    pub reactivated: Vec<i64>,
    pub lost: Vec<i64>,
    pub retained: Vec<i64>,
    pub end_customers: Vec<i64>,
    pub active: Vec<i64>,
}

/// Per-period tallies; `start` and `end` as difference arrays over periods.
#[derive(Clone)]
struct Acc {
    start: Vec<i64>,
    end: Vec<i64>,
    new: Vec<i64>,
    reactivated: Vec<i64>,
    lost: Vec<i64>,
    lost_from_start: Vec<i64>,
    active: Vec<i64>,
}

pub fn acquisition(
    history: &History,
    period: Period,
    lapse_days: i32,
    as_of: Option<i32>,
) -> Result<Acquisition> {
    if lapse_days < 0 {
        return Err(CrmError::InvalidArgument(format!(
            "lapse_days must be 0 or more, got {lapse_days}"
        )));
    }
    let as_of = super::as_of_day(as_of, history)?;
    let (Some((first, _)), Some(as_of)) = (history.days, as_of) else {
        return Ok(Acquisition::default());
    };
    let calendar = Calendar::new(period, first, as_of);
    let n = calendar.len();
    let zeros = vec![0i64; n + 1];
    let init = || Acc {
        start: zeros.clone(),
        end: zeros.clone(),
        new: zeros.clone(),
        reactivated: zeros.clone(),
        lost: zeros.clone(),
        lost_from_start: zeros.clone(),
        active: zeros.clone(),
    };
    // A run of live days [a, b] counts at the start of the periods k with a < s_k <= b + 1
    // (s_k their first day) and at the end of those whose last day e_k (or as_of) is in [a, b].
    let add_range = |diff: &mut Vec<i64>, lo: usize, hi: usize| {
        if lo < hi {
            diff[lo] += 1;
            diff[hi] -= 1;
        }
    };
    // The first period starting after `day`, and the first ending on or after it.
    let first_start_after = |day: i32| {
        if day >= as_of {
            n
        } else {
            calendar.of(day) + 1
        }
    };
    let first_end_at_or_after = |day: i32| if day > as_of { n } else { calendar.of(day) };
    let add = |acc: &mut Acc, es: &[Entry]| {
        let days: Vec<i32> = purchase_days(es).map(|e| e.day).collect();
        let Some(&first_day) = days.first() else {
            return;
        };
        acc.new[calendar.of(first_day)] += 1;
        let (mut last_active, mut last_reactivated, mut last_lost) = (n, n, n);
        let mut run_start = first_day;
        for (i, &d) in days.iter().enumerate() {
            let p = calendar.of(d);
            if p != last_active {
                acc.active[p] += 1;
                last_active = p;
            }
            let next = days.get(i + 1).copied();
            if next.is_some_and(|q| q - d <= lapse_days) {
                continue;
            }
            // The run of live days [run_start, d + lapse_days] ends here.
            let live_until = d + lapse_days;
            add_range(
                &mut acc.start,
                first_start_after(run_start),
                first_start_after(live_until + 1),
            );
            add_range(
                &mut acc.end,
                first_end_at_or_after(run_start),
                first_end_at_or_after(live_until + 1),
            );
            let loss = live_until + 1;
            if loss <= as_of {
                let l = calendar.of(loss);
                if l != last_lost {
                    acc.lost[l] += 1;
                    last_lost = l;
                    if l > calendar.of(run_start) {
                        acc.lost_from_start[l] += 1;
                    }
                }
            }
            if let Some(q) = next {
                let r = calendar.of(q);
                if r != last_reactivated {
                    acc.reactivated[r] += 1;
                    last_reactivated = r;
                }
                run_start = q;
            }
        }
    };
    let merge = |total: &mut Acc, part: Acc| {
        let pairs = [
            (&mut total.start, part.start),
            (&mut total.end, part.end),
            (&mut total.new, part.new),
            (&mut total.reactivated, part.reactivated),
            (&mut total.lost, part.lost),
            (&mut total.lost_from_start, part.lost_from_start),
            (&mut total.active, part.active),
        ];
        for (t, p) in pairs {
            t.iter_mut().zip(p).for_each(|(t, p)| *t += p);
        }
    };
    let acc = fold_customers(history, init, add, merge);
    let cumulative = |diff: &[i64]| {
        diff[..n]
            .iter()
            .scan(0, |run, d| {
                *run += d;
                Some(*run)
            })
            .collect::<Vec<i64>>()
    };
    let start_customers = cumulative(&acc.start);
    let retained = start_customers
        .iter()
        .zip(&acc.lost_from_start)
        .map(|(s, l)| s - l)
        .collect();
    let head = |v: Vec<i64>| v[..n].to_vec();
    Ok(Acquisition {
        starts: calendar.starts(),
        start_customers,
        new: head(acc.new),
        reactivated: head(acc.reactivated),
        lost: head(acc.lost),
        retained,
        end_customers: cumulative(&acc.end),
        active: head(acc.active),
    })
}
