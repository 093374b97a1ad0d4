//! `crm.loyalty`: points earned per customer (积分) and the tier they reach (会员等级), and how
//! far each is from the next tier.

use super::net_amount;
use crate::error::{CrmError, Result};
use crate::history::{Entry, History};
use crate::retention::{as_of_day, per_customer};

pub struct LoyaltyOptions {
    pub as_of: Option<i32>,
    /// Only the last `window_days` days up to `as_of` count (None: the whole log).
    pub window_days: Option<i32>,
    pub points_per_unit: f64,
    /// Minimum points of each tier above the base tier, ascending.
    pub thresholds: Vec<f64>,
    /// "Close to the next tier": within this share of its threshold.
    pub near: f64,
}

pub struct Loyalty {
    /// Net spend in the window.
    pub spend: Vec<f64>,
    /// floor(points_per_unit × spend), 0 when the spend is not positive.
    pub spend_points: Vec<i64>,
    pub points: Vec<f64>,
    /// 0 = the base tier, k = the k-th threshold reached.
    pub tier: Vec<u16>,
    pub points_to_next: Vec<Option<f64>>,
    pub close_to_next: Vec<bool>,
}

impl LoyaltyOptions {
    /// The first day that counts, given `as_of`.
    fn first_day(&self, as_of: i32) -> i32 {
        self.window_days.map_or(i32::MIN, |w| as_of - w + 1)
    }

    fn check(&self) -> Result<()> {
        let bad = |what: String| Err(CrmError::InvalidArgument(what));
        if !(self.points_per_unit >= 0.0 && self.points_per_unit.is_finite()) {
            return bad(format!(
                "points_per_unit must be a finite number >= 0, got {}",
                self.points_per_unit
            ));
        }
        if self.window_days.is_some_and(|w| w < 1) {
            return bad(format!(
                "window_days must be at least 1, got {:?}",
                self.window_days
            ));
        }
        if !(0.0..1.0).contains(&self.near) {
            return bad(format!("near must be in [0, 1), got {}", self.near));
        }
        let ascending = self.thresholds.windows(2).all(|w| w[0] < w[1]);
        if !ascending || self.thresholds.iter().any(|t| !(t.is_finite() && *t > 0.0)) {
            return bad(format!(
                "tier thresholds must be positive, finite and strictly increasing, got {:?}",
                self.thresholds
            ));
        }
        Ok(())
    }
}

/// The first day that counts and `as_of` (None for an empty log).
pub fn window(history: &History, options: &LoyaltyOptions) -> Result<Option<(i32, i32)>> {
    options.check()?;
    Ok(as_of_day(options.as_of, history)?.map(|a| (options.first_day(a), a)))
}

/// `bonus`: each customer's bonus points in the window (in history order), if any.
pub fn loyalty(
    history: &History,
    options: &LoyaltyOptions,
    bonus: Option<&[f64]>,
) -> Result<Loyalty> {
    let Some((first, _)) = window(history, options)? else {
        return Ok(tiers_of(vec![], vec![], options, None));
    };
    let spend = per_customer(history, |es: &[Entry]| net_amount(es, |e| e.day >= first));
    let spend_points = spend
        .iter()
        .map(|&s| (options.points_per_unit * s.max(0.0)).floor() as i64)
        .collect();
    Ok(tiers_of(spend, spend_points, options, bonus))
}

fn tiers_of(
    spend: Vec<f64>,
    spend_points: Vec<i64>,
    options: &LoyaltyOptions,
    bonus: Option<&[f64]>,
) -> Loyalty {
    let points: Vec<f64> = spend_points
        .iter()
        .enumerate()
        .map(|(i, &p)| p as f64 + bonus.map_or(0.0, |b| b[i]))
        .collect();
    let tier: Vec<u16> = points
        .iter()
        .map(|&p| options.thresholds.iter().take_while(|&&t| p >= t).count() as u16)
        .collect();
    let next = |t: u16| options.thresholds.get(t as usize).copied();
    let points_to_next: Vec<Option<f64>> = points
        .iter()
        .zip(&tier)
        .map(|(&p, &t)| next(t).map(|n| n - p))
        .collect();
    let close_to_next = points_to_next
        .iter()
        .zip(&tier)
        .map(|(gap, &t)| gap.zip(next(t)).is_some_and(|(g, n)| g <= options.near * n))
        .collect();
    Loyalty {
        spend,
        spend_points,
        points,
        tier,
        points_to_next,
        close_to_next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(near: f64) -> LoyaltyOptions {
        LoyaltyOptions {
            as_of: None,
            window_days: None,
            points_per_unit: 1.0,
            thresholds: vec![100.0, 500.0],
            near,
        }
    }

    #[test]
    fn tiers_and_distance_to_the_next() {
        let l = tiers_of(vec![], vec![0, 95, 100, 499, 900], &options(0.1), None);
        assert_eq!(l.tier, vec![0, 0, 1, 1, 2]);
        assert_eq!(
            l.points_to_next,
            vec![Some(100.0), Some(5.0), Some(400.0), Some(1.0), None]
        );
        assert_eq!(l.close_to_next, vec![false, true, false, true, false]);
    }

    #[test]
    fn bonus_points_add_to_spend_points() {
        let l = tiers_of(vec![], vec![90], &options(0.0), Some(&[10.0]));
        assert_eq!((l.points[0], l.tier[0]), (100.0, 1));
    }

    #[test]
    fn bad_options() {
        let mut o = options(0.1);
        o.thresholds = vec![500.0, 100.0];
        assert!(o.check().is_err());
        let mut o = options(1.0);
        assert!(o.check().is_err());
        o.near = 0.1;
        o.window_days = Some(0);
        assert!(o.check().is_err());
    }
}
