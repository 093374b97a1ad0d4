//! `crm.cohorts`: customers grouped by the period of their first purchase, followed period
//! by period (retention, active customers, revenue, cumulative revenue per customer).

use rayon::prelude::*;

use super::{day_range, fold_customers, purchase_days};
use crate::error::{CrmError, Result};
use crate::history::{self, History};
use crate::ingest::Transactions;
use crate::period_masks::{period_masks, PeriodMasks, MAX_PERIODS};
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
    /// Zeros when only a counting metric was asked for.
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

/// The cohorts of a log whose customers have codes. Counting metrics over at most 64
/// periods come from the period masks; revenue and longer spans from the history.
pub fn cohorts(tx: &Transactions, period: Period, metric: Metric) -> Cohorts {
    let Some((first, last)) = day_range(tx) else {
        return Cohorts::empty();
    };
    let calendar = Calendar::new(period, first, last);
    let counts_only = matches!(metric, Metric::Retention | Metric::ActiveCustomers);
    if counts_only && calendar.len() <= MAX_PERIODS {
        let masks = period_masks(tx, calendar.len(), |d| calendar.of(d));
        return from_masks(&masks, &calendar);
    }
    from_history(&history::build(tx), &calendar)
}

/// The cohorts of a history without groups (a merged partial state), over the calendar of
/// its first to last day: what `cohorts` gives for the log it condenses.
pub fn of_history(history: &History, period: Period) -> Cohorts {
    match history.days {
        Some((first, last)) => from_history(history, &Calendar::new(period, first, last)),
        None => Cohorts::empty(),
    }
}

impl Cohorts {
    /// The cohorts of a log without rows.
    fn empty() -> Cohorts {
        Cohorts {
            starts: vec![],
            sizes: vec![],
            active: vec![],
            revenue: vec![],
        }
    }
}

fn from_masks(masks: &PeriodMasks, calendar: &Calendar) -> Cohorts {
    let n = calendar.len();
    let count = |once: &[u64]| {
        let mut sizes = vec![0u64; n];
        let mut active: Vec<Vec<u64>> = (0..n).map(|c| vec![0; n - c]).collect();
        for &mask in once.iter().filter(|&&m| m != 0) {
            let c = mask.trailing_zeros() as usize;
            sizes[c] += 1;
            let mut rest = mask;
            while rest != 0 {
                active[c][rest.trailing_zeros() as usize - c] += 1;
                rest &= rest - 1;
            }
        }
        (sizes, active)
    };
    let partial: Vec<_> =
        crate::pool::install(|| masks.once.par_chunks(1 << 16).map(count).collect());
    let (mut sizes, mut active) = (
        vec![0u64; n],
        (0..n).map(|c| vec![0; n - c]).collect::<Vec<_>>(),
    );
    for (s, a) in partial {
        sizes.iter_mut().zip(s).for_each(|(t, x)| *t += x);
        for (t, x) in active.iter_mut().zip(a) {
            t.iter_mut().zip(x).for_each(|(t, x)| *t += x);
        }
    }
    Cohorts {
        starts: calendar.starts(),
        sizes,
        active,
        revenue: (0..n).map(|c| vec![0.0; n - c]).collect(),
    }
}

fn from_history(history: &History, calendar: &Calendar) -> Cohorts {
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
            if e.purchase_rows > 0 && k != last_active {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{ingest, OnInvalid, Spec};
    use rand::{Rng, SeedableRng};

    #[test]
    fn masks_and_history_give_the_same_counts() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let rows: Vec<(i64, i32, f64, i64)> = (0..100_000)
            .map(|_| {
                let amount = rng.random_range(-10.0..100.0f64);
                (
                    rng.random_range(0..20_000),
                    rng.random_range(19_000..19_700),
                    amount,
                    0,
                )
            })
            .collect();
        let batch = crate::testing::log(&rows);
        let spec = Spec {
            customer: "c".into(),
            date: "d".into(),
            amount: "a".into(),
            need_codes: true,
            ..Spec::default()
        };
        let tx = ingest(&batch.schema(), &[batch], &spec, OnInvalid::Raise).unwrap();
        let calendar = Calendar::new(Period::Month, 19_000, 19_699);
        let masks = period_masks(&tx, calendar.len(), |d| calendar.of(d));
        let fast = from_masks(&masks, &calendar);
        let slow = from_history(&history::build(&tx), &calendar);
        assert_eq!(fast.sizes, slow.sizes);
        assert_eq!(fast.active, slow.active);
        assert_eq!(fast.starts, slow.starts);
    }
}
