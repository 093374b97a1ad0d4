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
    let n_cells = combos.len() * n_periods;
    let (starts, mut customers) = buckets(&cell_ids, n_cells, |r| log.customers[r]);
    // Rows standing for several contacts: their counts per cell (else a cell's rows count).
    let weighted = log.contacts.map(|counts| {
        let mut per_cell = vec![0i64; n_cells];
        for (&cell, &n) in cell_ids.iter().zip(counts) {
            per_cell[cell as usize] += n as i64;
        }
        per_cell
    });
    split_buckets(&starts, &mut customers)
        .into_par_iter()
        .enumerate()
        .map(|(cell, customers)| {
            let contacts = weighted
                .as_ref()
                .map_or(customers.len() as i64, |w| w[cell]);
            customers.sort_unstable();
            let combo = combos[cell / n_periods];
            Cell {
                department: (combo / log.n_products as u64) as u32,
                product: (combo % log.n_products as u64) as u32,
                period: cell % n_periods,
                contacts,
                customers: customers.chunk_by(|a, b| a == b).count() as i64,
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
    let period = |r: usize| calendar.of(log.days[r]) as u32;
    match log.contacts {
        // One contact a row: the narrower entries sort faster.
        None => fatigue_of(log, n_customers, min_departments, |r| {
            (period(r), log.departments[r])
        }),
        Some(counts) => fatigue_of(log, n_customers, min_departments, |r| {
            (period(r), log.departments[r], counts[r])
        }),
    }
}

/// A row as `fatigue` sorts a customer's rows: period, department (and the contacts it stands
/// for).
trait PeriodContact: Copy + Default + Ord + Send + Sync {
    fn period(&self) -> u32;
    fn department(&self) -> u32;
    fn contacts(&self) -> i64;
}

impl PeriodContact for (u32, u32) {
    fn period(&self) -> u32 {
        self.0
    }
    fn department(&self) -> u32 {
        self.1
    }
    fn contacts(&self) -> i64 {
        1
    }
}

impl PeriodContact for (u32, u32, u32) {
    fn period(&self) -> u32 {
        self.0
    }
    fn department(&self) -> u32 {
        self.1
    }
    fn contacts(&self) -> i64 {
        self.2 as i64
    }
}

fn fatigue_of<C: PeriodContact>(
    log: &Contacts,
    n_customers: usize,
    min_departments: usize,
    row: impl Fn(usize) -> C,
) -> Vec<Fatigue> {
    let (starts, mut contacts) = buckets(log.customers, n_customers, row);
    split_buckets(&starts, &mut contacts)
        .into_par_iter()
        .enumerate()
        .flat_map_iter(|(customer, contacts)| {
            contacts.sort_unstable();
            let periods: Vec<&[C]> = contacts.chunk_by(|a, b| a.period() == b.period()).collect();
            periods.into_iter().filter_map(move |run| {
                let by_department = || run.chunk_by(|a, b| a.department() == b.department());
                (by_department().count() >= min_departments).then(|| Fatigue {
                    customer: customer as u32,
                    period: run[0].period() as usize,
                    contacts: run.iter().map(C::contacts).sum(),
                    departments: by_department().map(|d| d[0].department()).collect(),
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
