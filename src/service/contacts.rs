//! Contact assessment: how many contacts and distinct customers each department × product
//! made per period, and the customers contacted by several departments in one period
//! (contact fatigue).

use rayon::prelude::*;

use crate::periods::Calendar;

/// The contact log as codes: customer, department and product (all ranks of sorted distinct
/// values; products all 0 when not grouped by product) and calendar day per row.
pub struct Contacts<'a> {
    pub customers: &'a [u32],
    pub departments: &'a [u32],
    pub products: &'a [u32],
    pub n_products: u32,
    pub days: &'a [i32],
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
    let n_periods = calendar.len() as u64;
    let mut pairs: Vec<(u64, u32)> = (0..log.days.len())
        .into_par_iter()
        .map(|r| {
            let combo = log.departments[r] as u64 * log.n_products as u64 + log.products[r] as u64;
            (
                combo * n_periods + calendar.of(log.days[r]) as u64,
                log.customers[r],
            )
        })
        .collect();
    pairs.par_sort_unstable();
    let mut cells: Vec<Cell> = Vec::new();
    let mut previous: Option<(u64, u32)> = None;
    for &(key, customer) in &pairs {
        let combo = key / n_periods;
        let period = (key % n_periods) as usize;
        let same_combo = cells.last().is_some_and(|c| {
            c.department as u64 * log.n_products as u64 + c.product as u64 == combo
        });
        if !same_combo {
            let (department, product) = (
                (combo / log.n_products as u64) as u32,
                (combo % log.n_products as u64) as u32,
            );
            cells.extend((0..n_periods as usize).map(|period| Cell {
                department,
                product,
                period,
                contacts: 0,
                customers: 0,
            }));
        }
        let cell = cells.len() - n_periods as usize + period;
        cells[cell].contacts += 1;
        if previous != Some((key, customer)) {
            cells[cell].customers += 1;
        }
        previous = Some((key, customer));
    }
    cells
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

/// The fatigued customer-periods, sorted by customer then period.
pub fn fatigue(log: &Contacts, calendar: &Calendar, min_departments: usize) -> Vec<Fatigue> {
    let mut triples: Vec<(u32, u32, u32)> = (0..log.days.len())
        .into_par_iter()
        .map(|r| {
            (
                log.customers[r],
                calendar.of(log.days[r]) as u32,
                log.departments[r],
            )
        })
        .collect();
    triples.par_sort_unstable();
    triples
        .chunk_by(|a, b| (a.0, a.1) == (b.0, b.1))
        .filter_map(|run| {
            let mut departments: Vec<u32> = run.iter().map(|t| t.2).collect();
            departments.dedup();
            (departments.len() >= min_departments).then(|| Fatigue {
                customer: run[0].0,
                period: run[0].1 as usize,
                contacts: run.len() as i64,
                departments,
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
        };
        let calendar = Calendar::new(Period::Week, 4, 20);
        let f = fatigue(&log, &calendar, 2);
        assert_eq!(
            f,
            vec![Fatigue {
                customer: 7,
                period: 0,
                contacts: 3,
                departments: vec![0, 1]
            }]
        );
        assert_eq!(fatigue(&log, &calendar, 1).len(), 3);
        assert!(fatigue(&log, &calendar, 3).is_empty());
    }
}
