//! The buy-till-you-die summary (the lifetimes convention): per customer, repeat purchase
//! days (`frequency`), the age at the last purchase day (`recency`), the age at the end of
//! the observation (`T`) and the mean amount of the repeat purchase days
//! (`monetary_value`); and its calibration/holdout split. Derived from the customers'
//! histories.

use crate::error::{CrmError, Result};
use crate::history::History;
use crate::retention::{per_customer, purchase_days};
use crate::summary::Sum;

/// Days per time unit: `time_unit` only says how recency and T are expressed; purchases are
/// never bucketed into weeks or months.
pub fn unit_days(time_unit: &str) -> Result<f64> {
    match time_unit {
        "D" => Ok(1.0),
        "W" => Ok(7.0),
        "M" => Ok(365.25 / 12.0),
        other => Err(CrmError::InvalidArgument(format!(
            "time_unit must be 'D', 'W' or 'M', got '{other}'"
        ))),
    }
}

/// One customer's summary over the days up to `end` (None: no purchase by then).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Repeat {
    pub frequency: i32,
    pub recency: f64,
    pub t: f64,
    pub monetary_value: f64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Holdout {
    pub frequency: i32,
    pub monetary_value: f64,
}

/// The summary of every customer with rows; `None` where the customer has no purchase day
/// by `end` (such customers are left out of the result).
pub fn summary(history: &History, end: i32, unit: f64) -> Vec<Option<Repeat>> {
    per_customer(history, |es| calibration(es, end, unit))
}

/// Calibration summaries up to `calibration_end` and the holdout purchases in
/// (`calibration_end`, `observation_end`].
pub fn calibration_holdout(
    history: &History,
    calibration_end: i32,
    observation_end: i32,
    unit: f64,
) -> Result<Vec<Option<(Repeat, Holdout)>>> {
    if observation_end <= calibration_end {
        return Err(CrmError::InvalidArgument(
            "observation_end must be after calibration_end".to_string(),
        ));
    }
    Ok(per_customer(history, |es| {
        let cal = calibration(es, calibration_end, unit)?;
        let (days, total) = day_totals(es, |d| d > calibration_end && d <= observation_end);
        let holdout = Holdout {
            frequency: days,
            monetary_value: if days > 0 { total / days as f64 } else { 0.0 },
        };
        Some((cal, holdout))
    }))
}

fn calibration(es: &[crate::history::Entry], end: i32, unit: f64) -> Option<Repeat> {
    let mut days = purchase_days(es).filter(|e| e.day <= end);
    let first = days.next()?;
    let (repeat_days, total) = day_totals(es, |d| d > first.day && d <= end);
    let last = purchase_days(es)
        .filter(|e| e.day <= end)
        .last()
        .map_or(first.day, |e| e.day);
    Some(Repeat {
        frequency: repeat_days,
        recency: (last - first.day) as f64 / unit,
        t: (end - first.day) as f64 / unit,
        monetary_value: if repeat_days > 0 {
            total / repeat_days as f64
        } else {
            0.0
        },
    })
}

/// Purchase days whose day passes `keep`, and the sum of their purchase rows' amounts.
fn day_totals(es: &[crate::history::Entry], keep: impl Fn(i32) -> bool) -> (i32, f64) {
    let mut total = Sum::default();
    let mut days = 0;
    for e in purchase_days(es).filter(|e| keep(e.day)) {
        days += 1;
        total.add(e.spent);
    }
    (days, total.value())
}
