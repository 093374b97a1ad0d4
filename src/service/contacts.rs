//! Contact assessment: how many contacts and distinct customers each department × product
//! made per period, and the customers contacted by several departments in one period
//! (contact fatigue).

use rayon::prelude::*;

use super::{buckets, dense_ids, split_buckets};
use crate::periods::Calendar;

/// The contact log as codes: customer, department and product (all ranks of sorted distinct
/// values; products all 0 when not grouped by product) and calendar day per row.
pub struct Contacts<'a> {
    pub customers: &'a [u32],
    pub departments: &'a [u32],
    pub products: &'a [u32],
    pub n_products: u32,
    pub days: &'a [i32],
    /// The contacts each row stands for (`None`: one each); a partial state condenses the
    /// contacts of one customer, department, product and period into one row.
    pub contacts: Option<&'a [u32]>,
}

impl Contacts<'_> {
    fn contacts(&self, row: usize) -> i64 {
        self.contacts.map_or(1, |c| c[row] as i64)
    }
}

/// Counts of one department × product × period.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub department: u32,
    pub product: u32,
    /// Local period number in the calendar.
    pub period: usize,
    pub contacts: i64,
    pub customers: i64,
}

/// Every period of `calendar` for every department × product that has contacts (periods
/// without contacts give zero counts), sorted by department, product, period.
pub fn summary(log: &Contacts, calendar: &Calendar) -> Vec<Cell> {
    let n_periods = calendar.len();
    let combo =
        |r: usize| log.departments[r] as u64 * log.n_products as u64 + log.products[r] as u64;
    let (combo_ids, combos) = dense_ids(
        &(0..log.days.len())
            .into_par_iter()
            .map(combo)
            .collect::<Vec<_>>(),
    );
    let cell_ids: Vec<u32> = (0..log.days.len())
        .into_par_iter()
        .map(|r| (combo_ids[r] as usize * n_periods + calendar.of(log.days[r])) as u32)
        .collect();
    let (starts, mut customers) = buckets(&cell_ids, combos.len() * n_periods, |r| {
        (log.customers[r], log.contacts(r))
    });
    split_buckets(&starts, &mut customers)
        .into_par_iter()
        .enumerate()
        .map(|(cell, customers)| {
            let contacts = customers.iter().map(|c| c.1).sum();
            customers.sort_unstable_by_key(|c| c.0);
            let combo = combos[cell / n_periods];
            Cell {
                department: (combo / log.n_products as u64) as u32,
                product: (combo % log.n_products as u64) as u32,
                period: cell % n_periods,
                contacts,
                customers: customers.chunk_by(|a, b| a.0 == b.0).count() as i64,
            }
        })
        .collect()
}

/// A customer contacted by at least `min_departments` departments in one period.
#[derive(Clone, Debug, PartialEq)]
pub struct Fatigue {
    pub customer: u32,
    pub period: usize,
    pub contacts: i64,
    /// The distinct departments, in code order.
    pub departments: Vec<u32>,
}

/// The fatigued customer-periods, sorted by customer then period. `n_customers` bounds the
/// customer codes.
pub fn fatigue(
    log: &Contacts,
    calendar: &Calendar,
    n_customers: usize,
    min_departments: usize,
) -> Vec<Fatigue> {
    let (starts, mut contacts) = buckets(log.customers, n_customers, |r| {
        (
            calendar.of(log.days[r]) as u32,
            log.departments[r],
            log.contacts(r),
        )
    });
    split_buckets(&starts, &mut contacts)
        .into_par_iter()
        .enumerate()
        .flat_map_iter(|(customer, contacts)| {
            contacts.sort_unstable();
            let periods: Vec<&[(u32, u32, i64)]> = contacts.chunk_by(|a, b| a.0 == b.0).collect();
            periods.into_iter().filter_map(move |run| {
                let distinct = run.chunk_by(|a, b| a.1 == b.1).count();
                (distinct >= min_departments).then(|| Fatigue {
                    customer: customer as u32,
                    period: run[0].0 as usize,
                    contacts: run.iter().map(|c| c.2).sum(),
                    departments: run.chunk_by(|a, b| a.1 == b.1).map(|d| d[0].1).collect(),
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::periods::Period;

    // Days 4 (Mon 1970-01-05) and 5 are one ISO week, day 20 two weeks later.
    fn log() -> (Vec<u32>, Vec<u32>, Vec<u32>, Vec<i32>) {
        (
            vec![7, 7, 7, 8, 8],
            vec![0, 1, 1, 0, 0],
            vec![0, 0, 1, 0, 0],
            vec![4, 5, 5, 4, 20],
        )
    }

    #[test]
    fn summary_fills_empty_periods_and_counts_distinct_customers() {
        let (c, d, p, days) = log();
        let log = Contacts {
            customers: &c,
            departments: &d,
            products: &p,
            n_products: 2,
            days: &days,
            contacts: None,
        };
        let calendar = Calendar::new(Period::Week, 4, 20);
        assert_eq!(calendar.len(), 3);
        let cells = summary(&log, &calendar);
        let counts: Vec<_> = cells
            .iter()
            .map(|c| (c.department, c.product, c.period, c.contacts, c.customers))
            .collect();
        assert_eq!(
            counts,
            vec![
                (0, 0, 0, 2, 2),
                (0, 0, 1, 0, 0),
                (0, 0, 2, 1, 1),
                (1, 0, 0, 1, 1),
                (1, 0, 1, 0, 0),
                (1, 0, 2, 0, 0),
                (1, 1, 0, 1, 1),
                (1, 1, 1, 0, 0),
                (1, 1, 2, 0, 0),
            ]
        );
    }

    #[test]
    fn fatigue_needs_distinct_departments_in_one_period() {
        let (c, d, p, days) = log();
        let log = Contacts {
            customers: &c,
            departments: &d,
            products: &p,
            n_products: 2,
            days: &days,
            contacts: None,
        };
        let calendar = Calendar::new(Period::Week, 4, 20);
        let f = fatigue(&log, &calendar, 9, 2);
        assert_eq!(
            f,
            vec![Fatigue {
                customer: 7,
                period: 0,
                contacts: 3,
                departments: vec![0, 1]
            }]
        );
        assert_eq!(fatigue(&log, &calendar, 9, 1).len(), 3);
        assert!(fatigue(&log, &calendar, 9, 3).is_empty());
    }
}
