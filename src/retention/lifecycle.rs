//! `crm.lifecycle`: each customer's stage by days since the last purchase.

use super::{per_customer, purchase_days};
use crate::error::{CrmError, Result};
use crate::history::History;
use crate::segments::Labels;

pub const STAGES_EN: [&str; 4] = ["honeymoon", "active", "lapsing", "dormant"];
pub const STAGES_ZH: [&str; 4] = ["蜜月期", "活跃期", "流失期", "休眠期"];

pub struct Lifecycle {
    pub first_purchase: Vec<Option<i32>>,
    pub last_purchase: Vec<Option<i32>>,
    pub tenure_days: Vec<Option<i32>>,
    pub days_since_last_purchase: Vec<Option<i32>>,
    /// Index into the stage labels.
    pub stage: Vec<Option<u16>>,
    pub labels: Vec<String>,
}

pub fn lifecycle(
    history: &History,
    as_of: Option<i32>,
    thresholds: [i32; 3],
    labels: Labels,
) -> Result<Lifecycle> {
    if thresholds[0] <= 0 || thresholds[0] >= thresholds[1] || thresholds[1] >= thresholds[2] {
        return Err(CrmError::InvalidArgument(format!(
            "thresholds must be three strictly increasing positive day counts, got {thresholds:?}"
        )));
    }
    let as_of = super::as_of_day(as_of, history)?.unwrap_or(0);
    let spans: Vec<Option<(i32, i32)>> = per_customer(history, |es| {
        let mut days = purchase_days(es).map(|e| e.day);
        let first = days.next()?;
        Some((first, days.last().unwrap_or(first)))
    });
    let stage_of = |d: i32| thresholds.iter().take_while(|&&t| d > t).count() as u16;
    let names = match labels {
        Labels::En => STAGES_EN,
        Labels::Zh => STAGES_ZH,
    };
    Ok(Lifecycle {
        first_purchase: spans.iter().map(|s| s.map(|s| s.0)).collect(),
        last_purchase: spans.iter().map(|s| s.map(|s| s.1)).collect(),
        tenure_days: spans.iter().map(|s| s.map(|s| as_of - s.0)).collect(),
        days_since_last_purchase: spans.iter().map(|s| s.map(|s| as_of - s.1)).collect(),
        stage: spans
            .iter()
            .map(|s| s.map(|s| stage_of(as_of - s.1)))
            .collect(),
        labels: names.iter().map(|s| s.to_string()).collect(),
    })
}
