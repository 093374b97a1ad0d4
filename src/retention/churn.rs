//! `crm.churn_risk`: early-warning signals per customer (a falling buying rate, overdue
//! against their own rhythm) combined into a risk level with a reason.

use super::{gaps, median_sorted, per_customer, purchase_days};
use crate::error::{CrmError, Result};
use crate::history::History;

pub const RISK_LEVELS: [&str; 3] = ["low", "medium", "high"];
pub const RHYTHMS: [&str; 2] = ["own", "population"];

pub struct ChurnOptions {
    pub as_of: Option<i32>,
    /// Days in each of the two windows compared.
    pub window: i32,
    pub overdue_factor: f64,
}

#[derive(Default)]
pub struct ChurnRisk {
    pub last_purchase: Vec<Option<i32>>,
    pub days_since_last_purchase: Vec<Option<i32>>,
    pub purchases_recent: Vec<Option<i32>>,
    pub purchases_prior: Vec<Option<i32>>,
    pub median_gap_days: Vec<Option<f64>>,
    /// Index into `RHYTHMS`.
    pub rhythm: Vec<Option<u16>>,
    pub overdue_ratio: Vec<Option<f64>>,
    pub declining: Vec<Option<bool>>,
    pub overdue: Vec<Option<bool>>,
    /// Index into `RISK_LEVELS`.
    pub risk: Vec<Option<u16>>,
    pub reason: Vec<String>,
}

/// One customer's row.
struct Signals {
    last: i32,
    since: i32,
    recent: i32,
    prior: i32,
    own_median: Option<f64>,
}

pub fn churn_risk(history: &History, options: &ChurnOptions) -> Result<ChurnRisk> {
    if options.window <= 0 {
        return Err(CrmError::InvalidArgument(format!(
            "window must be a positive number of days, got {}",
            options.window
        )));
    }
    if !(options.overdue_factor > 0.0 && options.overdue_factor.is_finite()) {
        return Err(CrmError::InvalidArgument(format!(
            "overdue_factor must be a positive number, got {}",
            options.overdue_factor
        )));
    }
    let as_of = super::as_of_day(options.as_of, history)?.unwrap_or(0);
    let w = options.window;
    let signals = per_customer(history, |es| {
        let last = purchase_days(es).last()?.day;
        let (mut recent, mut prior) = (0, 0);
        for e in purchase_days(es) {
            let age = as_of - e.day;
            if age < w {
                recent += e.purchases as i32;
            } else if age < 2 * w {
                prior += e.purchases as i32;
            }
        }
        let mut g = gaps(es);
        g.sort_unstable();
        Some(Signals {
            last,
            since: as_of - last,
            recent,
            prior,
            own_median: median_sorted(&g),
        })
    });
    // The typical customer's rhythm: the median of the repeat customers' own medians (so
    // that the most frequent buyers, with the most gaps, do not set it).
    let mut own: Vec<f64> = signals
        .iter()
        .flatten()
        .filter_map(|s| s.own_median)
        .collect();
    own.sort_unstable_by(f64::total_cmp);
    let population = median_sorted(&own);
    let mut out = ChurnRisk::default();
    for s in signals {
        let Some(s) = s else {
            out.push_no_purchase();
            continue;
        };
        let (median, rhythm) = match (s.own_median, population) {
            (Some(m), _) => (Some(m), Some(0)),
            (None, Some(m)) => (Some(m), Some(1)),
            (None, None) => (None, None),
        };
        let ratio = median.map(|m| s.since as f64 / m);
        let overdue = ratio.is_some_and(|r| r > options.overdue_factor);
        let declining = s.recent < s.prior;
        let mut reasons = Vec::new();
        if let (true, Some(r), Some(m)) = (overdue, ratio, median) {
            let whose = if rhythm == Some(0) {
                "their usual"
            } else {
                "the population's usual"
            };
            reasons.push(format!(
                "no purchase for {} days, {r:.1}× {whose} {}-day gap",
                s.since,
                days(m)
            ));
        }
        if declining {
            reasons.push(format!(
                "{} purchase{} in the last {w} days vs {} in the {w} before",
                s.recent,
                if s.recent == 1 { "" } else { "s" },
                s.prior
            ));
        }
        if reasons.is_empty() {
            reasons.push(format!(
                "no warning sign; last purchase {} days ago",
                s.since
            ));
        }
        out.last_purchase.push(Some(s.last));
        out.days_since_last_purchase.push(Some(s.since));
        out.purchases_recent.push(Some(s.recent));
        out.purchases_prior.push(Some(s.prior));
        out.median_gap_days.push(median);
        out.rhythm.push(rhythm);
        out.overdue_ratio.push(ratio);
        out.declining.push(Some(declining));
        out.overdue.push(Some(overdue));
        out.risk.push(Some(overdue as u16 + declining as u16));
        out.reason.push(reasons.join("; "));
    }
    Ok(out)
}

impl ChurnRisk {
    fn push_no_purchase(&mut self) {
        self.last_purchase.push(None);
        self.days_since_last_purchase.push(None);
        self.purchases_recent.push(None);
        self.purchases_prior.push(None);
        self.median_gap_days.push(None);
        self.rhythm.push(None);
        self.overdue_ratio.push(None);
        self.declining.push(None);
        self.overdue.push(None);
        self.risk.push(None);
        self.reason.push("no purchase".to_string());
    }
}

/// A gap length for a sentence: whole days without a decimal.
fn days(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}
