//! RFM: recency, frequency, monetary per customer, their quantile scores and segments.
//! Exact definitions: docs/rfm_definitions.md.

use rayon::prelude::*;

use crate::error::{CrmError, Result};
use crate::pool;
use crate::scores::{f64_key, quantile_scores};
use crate::segments::{self, Labels, Rule};
use crate::summary::Summary;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monetary {
    /// Net spend (purchases minus refunds).
    Sum,
    /// Net spend per purchase; missing for customers without purchases.
    Mean,
}

#[derive(Clone, Debug)]
pub struct RfmOptions {
    /// Day (since 1970-01-01) the analysis is run on; default: the latest day in the data.
    pub as_of: Option<i32>,
    pub bins: u32,
    pub monetary: Monetary,
}

pub const MAX_BINS: u32 = 30;

/// One entry per customer, in the order of the codes asked for. Missing values (customers
/// without purchases) are marked by `purchased` for the dates and recency, and by NaN for
/// `monetary`.
pub struct Rfm {
    pub purchased: Vec<bool>,
    pub recency: Vec<i32>,
    pub frequency: Vec<i32>,
    pub monetary: Vec<f64>,
    pub first_purchase: Vec<i32>,
    pub last_purchase: Vec<i32>,
    pub r_score: Vec<u8>,
    pub f_score: Vec<u8>,
    pub m_score: Vec<u8>,
    pub bins: u32,
}

/// The RFM table of the customers `codes`. Takes the summary by value so that its states are
/// freed before the scores are computed (peak memory).
pub fn rfm(summary: Summary, codes: &[u32], options: &RfmOptions) -> Result<Rfm> {
    if !(1..=MAX_BINS).contains(&options.bins) {
        return Err(CrmError::InvalidArgument(format!(
            "bins must be between 1 and {MAX_BINS}, got {}",
            options.bins
        )));
    }
    pool::install(|| {
        let last_purchase_overall = summary.states.par_iter().map(|s| s.last_purchase).max();
        let as_of = options.as_of.or(summary.max_day);
        if let (Some(as_of), Some(last)) = (as_of, last_purchase_overall) {
            if last != i32::MIN && as_of < last {
                return Err(CrmError::InvalidArgument(format!(
                    "as_of ({}) is before the last purchase in the data ({}); choose a later as_of \
                     or filter the rows first",
                    format_day(as_of),
                    format_day(last)
                )));
            }
        }
        let as_of_day = as_of.unwrap_or(0);
        let states = &summary.states;
        let state = |&c: &u32| &states[c as usize];
        let frequency: Vec<i32> = match &summary.distinct_orders {
            Some(d) => codes.par_iter().map(|&c| d[c as usize] as i32).collect(),
            None => codes
                .par_iter()
                .map(|c| state(c).purchases as i32)
                .collect(),
        };
        let purchased: Vec<bool> = codes.par_iter().map(|c| state(c).has_purchase()).collect();
        let first_purchase = codes.par_iter().map(|c| state(c).first_purchase).collect();
        let last_purchase: Vec<i32> = codes.par_iter().map(|c| state(c).last_purchase).collect();
        let recency: Vec<i32> = last_purchase
            .par_iter()
            .zip(&purchased)
            .map(|(&d, &p)| if p { as_of_day - d } else { 0 })
            .collect();
        let monetary: Vec<f64> = codes
            .par_iter()
            .zip(&frequency)
            .map(|(c, &f)| match options.monetary {
                Monetary::Sum => state(c).net(),
                Monetary::Mean if f > 0 => state(c).net() / f as f64,
                Monetary::Mean => f64::NAN,
            })
            .collect();
        drop(summary);

        // Keys rank ascending; 0 (missing) ranks lowest. Smaller recency is better.
        let bins = options.bins;
        let scores = |keys: Vec<u64>| quantile_scores(&keys, bins);
        let r_score = scores(
            recency
                .par_iter()
                .zip(&purchased)
                .map(|(&r, &p)| if p { (i32::MAX - r) as u64 + 1 } else { 0 })
                .collect(),
        );
        let f_score = scores(frequency.par_iter().map(|&f| f as u64).collect());
        let m_score = scores(
            monetary
                .par_iter()
                .map(|&m| f64_key((!m.is_nan()).then_some(m)))
                .collect(),
        );
        Ok(Rfm {
            purchased,
            recency,
            frequency,
            monetary,
            first_purchase,
            last_purchase,
            r_score,
            f_score,
            m_score,
            bins,
        })
    })
}

/// How to name segments.
#[derive(Clone, Debug)]
pub enum Scheme {
    Rfm11,
    Value8,
    Custom(Vec<Rule>),
}

/// Segment index per customer and the label of each index.
pub fn segment(
    scheme: &Scheme,
    labels: Labels,
    bins: u32,
    scores: (&[u8], &[u8], &[u8]),
    raw: segments::RawRfm<'_>,
) -> Result<(Vec<u16>, Vec<String>)> {
    pool::install(|| match scheme {
        Scheme::Rfm11 => {
            if bins != 5 {
                return Err(CrmError::InvalidArgument(format!(
                    "segments='rfm11' is defined on 1-5 scores but bins={bins}; use bins=5, \
                     segments='value8' or custom rules"
                )));
            }
            let rules = segments::rfm11_rules(labels);
            let idx = segments::apply_rules(&rules, scores.0, scores.1, scores.2);
            Ok((idx, rules.into_iter().map(|r| r.name).collect()))
        }
        Scheme::Value8 => Ok((segments::value8(raw), segments::value8_labels(labels))),
        Scheme::Custom(rules) => {
            let idx = segments::apply_rules(rules, scores.0, scores.1, scores.2);
            let mut names: Vec<String> = rules.iter().map(|r| r.name.clone()).collect();
            names.push("Other".to_string());
            Ok((idx, names))
        }
    })
}

/// `YYYY-MM-DD` of a day number, for messages.
pub fn format_day(day: i32) -> String {
    chrono::NaiveDate::from_num_days_from_ce_opt(day + 719_163)
        .map_or_else(|| format!("day {day}"), |d| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{CustomerState, Summary};

    fn summary(rows: &[(usize, i32, f64)], n: usize) -> Summary {
        let mut states = vec![CustomerState::EMPTY; n];
        for &(c, d, a) in rows {
            states[c].add(d, a);
        }
        let max_day = rows.iter().map(|r| r.1).max();
        Summary {
            states,
            distinct_orders: None,
            max_day,
            keys: None,
        }
    }

    #[test]
    fn refunds_reduce_monetary_and_are_not_purchases() {
        let s = summary(
            &[(0, 10, 50.0), (0, 12, -20.0), (1, 11, 5.0), (2, 12, -3.0)],
            3,
        );
        let opts = RfmOptions {
            as_of: None,
            bins: 5,
            monetary: Monetary::Sum,
        };
        let r = rfm(s, &[0, 1, 2], &opts).unwrap();
        assert_eq!(r.frequency, vec![1, 1, 0]);
        assert_eq!(r.monetary, vec![30.0, 5.0, -3.0]);
        assert_eq!(r.purchased, vec![true, true, false]);
        assert_eq!(&r.recency[..2], &[2, 1]);
        // the customer without purchases ranks lowest on R
        assert!(r.r_score[2] < r.r_score[1]);
    }

    #[test]
    fn as_of_before_last_purchase_is_an_error() {
        let s = summary(&[(0, 10, 50.0)], 1);
        let opts = RfmOptions {
            as_of: Some(9),
            bins: 5,
            monetary: Monetary::Sum,
        };
        assert!(matches!(
            rfm(s, &[0], &opts),
            Err(CrmError::InvalidArgument(_))
        ));
        assert_eq!(format_day(0), "1970-01-01");
    }
}
