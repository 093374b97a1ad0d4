//! Calendar periods (ISO weeks, months, quarters, years) over day numbers (days since
//! 1970-01-01), and a lookup table that maps every day of a log to its period.

use crate::error::{CrmError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// ISO weeks, starting on Monday.
    Week,
    Month,
    Quarter,
    Year,
}

impl Period {
    pub fn parse(name: &str) -> Result<Period> {
        match name {
            "W" => Ok(Period::Week),
            "M" => Ok(Period::Month),
            "Q" => Ok(Period::Quarter),
            "Y" => Ok(Period::Year),
            other => Err(CrmError::InvalidArgument(format!(
                "period must be 'W', 'M', 'Q' or 'Y', got '{other}'"
            ))),
        }
    }

    /// The number of the period containing `day` (consecutive periods have consecutive
    /// numbers).
    pub fn index(self, day: i32) -> i32 {
        let (y, m, _) = civil(day);
        match self {
            // 1970-01-01 was a Thursday: Monday-based weeks start on day -3 + 7k.
            Period::Week => (day + 3).div_euclid(7),
            Period::Month => y * 12 + (m - 1),
            Period::Quarter => y * 4 + (m - 1) / 3,
            Period::Year => y,
        }
    }

    /// The first day of period number `index`.
    pub fn start(self, index: i32) -> i32 {
        match self {
            Period::Week => index * 7 - 3,
            Period::Month => days_from_civil(index.div_euclid(12), index.rem_euclid(12) + 1, 1),
            Period::Quarter => days_from_civil(index.div_euclid(4), 3 * index.rem_euclid(4) + 1, 1),
            Period::Year => days_from_civil(index, 1, 1),
        }
    }
}

/// Periods of the days `first..=last`, numbered from 0, with a table for the hot loops.
pub struct Calendar {
    pub period: Period,
    first_day: i32,
    /// Period number of `first_day`.
    first_index: i32,
    /// Local period number (from 0) of every day in range.
    by_day: Vec<u32>,
}

impl Calendar {
    pub fn new(period: Period, first_day: i32, last_day: i32) -> Calendar {
        let first_index = period.index(first_day);
        let by_day = (first_day..=last_day.max(first_day))
            .map(|d| (period.index(d) - first_index) as u32)
            .collect();
        Calendar {
            period,
            first_day,
            first_index,
            by_day,
        }
    }

    /// Local number of the period of `day` (which must be in range).
    #[inline(always)]
    pub fn of(&self, day: i32) -> usize {
        self.by_day[(day - self.first_day) as usize] as usize
    }

    /// Number of periods covered, from the first day's to the last day's.
    pub fn len(&self) -> usize {
        self.by_day.last().map_or(0, |&p| p as usize + 1)
    }

    pub fn is_empty(&self) -> bool {
        self.by_day.is_empty()
    }

    /// First day of local period `p`.
    pub fn start(&self, p: usize) -> i32 {
        self.period.start(self.first_index + p as i32)
    }

    /// First days of all periods, in order.
    pub fn starts(&self) -> Vec<i32> {
        (0..self.len()).map(|p| self.start(p)).collect()
    }
}

/// (year, month 1..12, day 1..31) of a day number (H. Hinnant's civil_from_days).
pub fn civil(day: i32) -> (i32, i32, i32) {
    let z = day as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m as i32, d as i32)
}

/// The day number of a (year, month, day) date.
pub fn days_from_civil(y: i32, m: i32, d: i32) -> i32 {
    let y = y as i64 - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate};

    fn day(y: i32, m: u32, d: u32) -> i32 {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        (NaiveDate::from_ymd_opt(y, m, d).unwrap() - epoch).num_days() as i32
    }

    #[test]
    fn civil_dates_round_trip_against_chrono() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for n in (-800_000..800_000).step_by(37) {
            let date = epoch + chrono::Duration::days(n as i64);
            assert_eq!(
                civil(n),
                (date.year(), date.month() as i32, date.day() as i32)
            );
            assert_eq!(
                days_from_civil(date.year(), date.month() as i32, date.day() as i32),
                n
            );
        }
    }

    #[test]
    fn periods_start_on_their_first_day() {
        // 2024-01-01 is a Monday; 2023-12-31 a Sunday.
        let w = Period::Week;
        assert_eq!(w.start(w.index(day(2024, 1, 1))), day(2024, 1, 1));
        assert_eq!(w.start(w.index(day(2024, 1, 7))), day(2024, 1, 1));
        assert_eq!(w.start(w.index(day(2023, 12, 31))), day(2023, 12, 25));
        assert_eq!(w.start(w.index(day(1969, 12, 31))), day(1969, 12, 29));
        let m = Period::Month;
        assert_eq!(m.start(m.index(day(2024, 2, 29))), day(2024, 2, 1));
        assert_eq!(m.index(day(2024, 3, 1)) - m.index(day(2023, 12, 31)), 3);
        let q = Period::Quarter;
        assert_eq!(q.start(q.index(day(2024, 6, 30))), day(2024, 4, 1));
        assert_eq!(q.start(q.index(day(1960, 11, 5))), day(1960, 10, 1));
        let y = Period::Year;
        assert_eq!(y.start(y.index(day(2024, 12, 31))), day(2024, 1, 1));
    }

    #[test]
    fn calendar_numbers_periods_from_the_first_day() {
        let cal = Calendar::new(Period::Month, day(2024, 1, 15), day(2024, 4, 2));
        assert_eq!(cal.len(), 4);
        assert_eq!(cal.of(day(2024, 1, 31)), 0);
        assert_eq!(cal.of(day(2024, 4, 2)), 3);
        assert_eq!(cal.starts()[3], day(2024, 4, 1));
    }
}
