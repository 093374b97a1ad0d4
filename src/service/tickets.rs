//! Service tickets (opinions, complaints, consultations): counts, share resolved, hours to
//! resolve and what stays open, per group (kind × `by` values) and period of opening.
//!
//! The log is read as it stood at the end of day `as_of`: a ticket opened later is left out,
//! one closed later is still open. Hours to resolve = (closed − opened) in hours between the
//! two instants; ages of open tickets are whole calendar days from the opening day to `as_of`.

use rayon::prelude::*;

use super::{buckets, dense_ids, quantile, split_buckets};
use crate::error::{CrmError, Result};
use crate::ingest::instants::Instants;
use crate::periods::{Calendar, Period};

const MICROS_PER_HOUR: f64 = 3_600e6;

/// When each ticket was opened and closed (closed: null while open).
pub struct Times<'a> {
    pub opened: &'a Instants,
    pub closed: &'a Instants,
}

impl Times<'_> {
    fn len(&self) -> usize {
        self.opened.micros.len()
    }

    fn included(&self, row: usize, as_of: i32) -> bool {
        self.opened.days[row] <= as_of
    }

    fn resolved(&self, row: usize, as_of: i32) -> bool {
        self.closed.is_valid(row) && self.closed.days[row] <= as_of
    }

    fn micros_to_resolve(&self, row: usize) -> i64 {
        self.closed.micros[row] - self.opened.micros[row]
    }

    /// A ticket closed before it was opened is an error naming the first such row.
    pub fn check_order(&self, opened: &str, closed: &str) -> Result<()> {
        let bad = |row: usize| {
            self.closed.is_valid(row) && self.closed.micros[row] < self.opened.micros[row]
        };
        let count = (0..self.len()).into_par_iter().filter(|&r| bad(r)).count();
        match (0..self.len()).into_par_iter().position_first(bad) {
            None => Ok(()),
            Some(first) => Err(CrmError::InvalidData(format!(
                "column '{closed}' is before '{opened}' in {count} row(s) (first at row {first})"
            ))),
        }
    }

    /// The latest day of an opening or a closing (`None` for an empty log).
    pub fn latest_day(&self) -> Option<i32> {
        let opened = self.opened.days.par_iter().copied().max();
        let closed = (0..self.len())
            .into_par_iter()
            .filter(|&r| self.closed.is_valid(r))
            .map(|r| self.closed.days[r])
            .max();
        opened.max(closed)
    }
}

/// One row of the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub group: u32,
    /// First day of the period of opening, when by period.
    pub period: Option<i32>,
    pub tickets: i64,
    pub resolved: i64,
    pub open: i64,
    pub median_hours: Option<f64>,
    pub p90_hours: Option<f64>,
    pub mean_hours: Option<f64>,
    pub oldest_open_days: Option<i32>,
}

impl Cell {
    pub fn share_resolved(&self) -> f64 {
        self.resolved as f64 / self.tickets as f64
    }
}

/// What the summary's statistics are derived from, per cell (group × period of opening),
/// sorted by group then period. The cells of two parts of a log add up — counts, durations
/// side by side, the earliest open day — so the summary of a whole log can be derived from
/// its parts' cells.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cells {
    pub groups: Vec<u32>,
    /// First day of each cell's period of opening, when by period.
    pub periods: Option<Vec<i32>>,
    pub tickets: Vec<i64>,
    /// Day of the earliest opening among each cell's open tickets.
    pub oldest_open: Vec<Option<i32>>,
    /// Cell `c`'s resolved tickets' times to resolve, in µs:
    /// `durations[starts[c]..starts[c + 1]]`, in no particular order.
    pub starts: Vec<usize>,
    pub durations: Vec<i64>,
}

impl Cells {
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The summary row of every cell; `as_of` dates the ages of open tickets.
    pub fn summary(mut self, as_of: i32) -> Vec<Cell> {
        let hours = |micros: Option<f64>| micros.map(|m| m / MICROS_PER_HOUR);
        let slices = split_buckets(&self.starts, &mut self.durations);
        slices
            .into_par_iter()
            .enumerate()
            .map(|(c, durations)| {
                // An exact integer sum: the mean does not depend on the order of the rows.
                let total: i128 = durations.iter().map(|&d| d as i128).sum();
                let n = durations.len();
                let resolved = n as i64;
                Cell {
                    group: self.groups[c],
                    period: self.periods.as_ref().map(|p| p[c]),
                    tickets: self.tickets[c],
                    resolved,
                    open: self.tickets[c] - resolved,
                    median_hours: hours(quantile(durations, 0.5)),
                    p90_hours: hours(quantile(durations, 0.9)),
                    mean_hours: hours((n > 0).then(|| total as f64 / n as f64)),
                    oldest_open_days: self.oldest_open[c].map(|day| as_of - day),
                }
            })
            .collect()
    }
}

/// The cells of the tickets opened by the end of day `as_of` (`i32::MAX`: all of them, as
/// recorded), per group and (with `period`) period of opening.
pub fn cells(groups: &[u32], times: &Times, period: Option<Period>, as_of: i32) -> Cells {
    let rows: Vec<u32> = (0..times.len())
        .into_par_iter()
        .filter(|&r| times.included(r, as_of))
        .map(|r| r as u32)
        .collect();
    if rows.is_empty() {
        return Cells {
            periods: period.map(|_| vec![]),
            starts: vec![0],
            ..Cells::default()
        };
    }
    // Cell key = group × periods + period number in the calendar: compact, so that
    // `dense_ids` can use a table.
    let calendar = period.map(|p| {
        let (first, last) = rows
            .par_iter()
            .map(|&r| times.opened.days[r as usize])
            .fold(
                || (i32::MAX, i32::MIN),
                |(lo, hi), d| (lo.min(d), hi.max(d)),
            )
            .reduce(|| (i32::MAX, i32::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
        Calendar::new(p, first, last)
    });
    let n_periods = calendar.as_ref().map_or(1, |c| c.len().max(1)) as u64;
    let keys: Vec<u64> = rows
        .par_iter()
        .map(|&r| {
            let r = r as usize;
            let local = calendar.as_ref().map_or(0, |c| c.of(times.opened.days[r]));
            groups[r] as u64 * n_periods + local as u64
        })
        .collect();
    let (ids, distinct) = dense_ids(&keys);
    let n_cells = distinct.len();
    let mut tickets = vec![0i64; n_cells];
    let mut oldest_open = vec![None::<i32>; n_cells];
    for (&r, &id) in rows.iter().zip(&ids) {
        let (r, id) = (r as usize, id as usize);
        tickets[id] += 1;
        if !times.resolved(r, as_of) {
            let day = times.opened.days[r];
            oldest_open[id] = Some(oldest_open[id].map_or(day, |d| d.min(day)));
        }
    }
    let (resolved_ids, resolved_rows): (Vec<u32>, Vec<u32>) = rows
        .iter()
        .zip(&ids)
        .filter(|(&r, _)| times.resolved(r as usize, as_of))
        .map(|(&r, &id)| (id, r))
        .unzip();
    let (starts, durations) = buckets(&resolved_ids, n_cells, |i| {
        times.micros_to_resolve(resolved_rows[i] as usize)
    });
    Cells {
        groups: distinct.iter().map(|&k| (k / n_periods) as u32).collect(),
        periods: calendar.map(|c| {
            let starts = c.starts();
            distinct
                .iter()
                .map(|&k| starts[(k % n_periods) as usize])
                .collect()
        }),
        tickets,
        oldest_open,
        starts,
        durations,
    }
}

/// The summary per group (and period of opening): one cell per combination that has tickets,
/// sorted by group then period.
pub fn summary(groups: &[u32], times: &Times, period: Option<Period>, as_of: i32) -> Vec<Cell> {
    cells(groups, times, period, as_of).summary(as_of)
}

/// The rows of the tickets still open at the end of day `as_of`, in row order.
pub fn open_rows(times: &Times, as_of: i32) -> Vec<u32> {
    (0..times.len())
        .into_par_iter()
        .filter(|&r| times.included(r, as_of) && !times.resolved(r, as_of))
        .map(|r| r as u32)
        .collect()
}

/// Open tickets `rows` oldest first — ties by group, then by `tiebreak` (aligned with
/// `rows`, e.g. the rank of the ticket id) — with their age in whole days at `as_of`.
pub fn oldest_first(
    rows: &[u32],
    groups: &[u32],
    opened: &Instants,
    as_of: i32,
    tiebreak: &[u32],
) -> (Vec<u32>, Vec<i32>) {
    let mut order: Vec<(i64, u32, u32, u32)> = rows
        .iter()
        .zip(tiebreak)
        .map(|(&r, &t)| (opened.micros[r as usize], groups[r as usize], t, r))
        .collect();
    order.par_sort_unstable();
    let rows: Vec<u32> = order.into_iter().map(|o| o.3).collect();
    let ages = rows
        .iter()
        .map(|&r| as_of - opened.days[r as usize])
        .collect();
    (rows, ages)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;
    const DAY: i64 = 24 * HOUR;

    fn instants(micros: &[Option<i64>]) -> Instants {
        Instants {
            micros: micros.iter().map(|m| m.unwrap_or(0)).collect(),
            days: micros
                .iter()
                .map(|m| m.unwrap_or(0).div_euclid(DAY) as i32)
                .collect(),
            valid: Some(micros.iter().map(Option::is_some).collect()),
        }
    }

    #[test]
    fn summary_counts_quantiles_and_open_ages() {
        // Group 0: resolved in 1, 2, 4 and 10 hours, one still open since day 1.
        // Group 1: opened on day 5, closed on day 7 (after as_of = 6, so open at as_of).
        let opened = instants(&[Some(0), Some(0), Some(0), Some(0), Some(DAY), Some(5 * DAY)]);
        let closed = instants(&[
            Some(HOUR),
            Some(2 * HOUR),
            Some(4 * HOUR),
            Some(10 * HOUR),
            None,
            Some(7 * DAY),
        ]);
        let times = Times {
            opened: &opened,
            closed: &closed,
        };
        let cells = summary(&[0, 0, 0, 0, 0, 1], &times, None, 6);
        assert_eq!(cells.len(), 2);
        let a = &cells[0];
        assert_eq!((a.tickets, a.resolved, a.open), (5, 4, 1));
        assert_eq!(a.median_hours, Some(3.0));
        assert!((a.p90_hours.unwrap() - 8.2).abs() < 1e-12);
        assert_eq!(a.mean_hours, Some(4.25));
        assert_eq!(a.oldest_open_days, Some(5));
        let b = &cells[1];
        assert_eq!((b.tickets, b.resolved, b.open), (1, 0, 1));
        assert_eq!(
            (b.median_hours, b.mean_hours, b.oldest_open_days),
            (None, None, Some(1))
        );
        // At as_of = 4 the ticket of day 5 does not exist yet.
        assert_eq!(summary(&[0, 0, 0, 0, 0, 1], &times, None, 4).len(), 1);
    }

    #[test]
    fn periods_split_cells_and_open_list_is_oldest_first() {
        let opened = instants(&[Some(40 * DAY), Some(0), Some(3 * DAY)]);
        let closed = instants(&[None, None, Some(4 * DAY)]);
        let times = Times {
            opened: &opened,
            closed: &closed,
        };
        let cells = summary(&[0, 0, 0], &times, Some(Period::Month), 50);
        let periods: Vec<_> = cells.iter().map(|c| (c.period, c.tickets)).collect();
        assert_eq!(
            periods,
            vec![(Some(0), 2), (Some(31), 1)] // 1970-01-01 and 1970-02-01
        );
        let rows = open_rows(&times, 50);
        assert_eq!(rows, vec![0, 1]);
        let (rows, ages) = oldest_first(&rows, &[0, 0, 0], &opened, 50, &[0, 1]);
        assert_eq!((rows, ages), (vec![1, 0], vec![50, 10]));
    }

    #[test]
    fn closed_before_opened_names_the_first_row() {
        let opened = instants(&[Some(DAY), Some(DAY), Some(DAY)]);
        let closed = instants(&[Some(2 * DAY), Some(0), Some(HOUR)]);
        let times = Times {
            opened: &opened,
            closed: &closed,
        };
        let err = times.check_order("opened_at", "closed_at").unwrap_err();
        assert_eq!(
            err,
            CrmError::InvalidData(
                "column 'closed_at' is before 'opened_at' in 2 row(s) (first at row 1)".into()
            )
        );
        assert_eq!(times.latest_day(), Some(2));
    }
}
