//! `crm.profitability`: revenue, cost and margin per customer, their rank, the Pareto curve
//! (what share of the margin the customers at least this profitable bring), deciles and
//! value tiers. Everything about ties is decided by value, never by row order: customers
//! with equal margins get the same rank, decile, tier and shares.

use rayon::prelude::*;

use super::runs_of_equal;
use crate::error::{CrmError, Result};
use crate::summary::Sum;

/// How a customer's cost is known.
pub enum Cost {
    /// No cost: the margin is the revenue.
    Nothing,
    /// Each customer's sum of a cost column (in the customers' order).
    Column(Vec<f64>),
    /// A share of the revenue (e.g. 0.6 for a 40% gross margin).
    Rate(f64),
}

pub struct Customers {
    pub revenue: Vec<f64>,
    pub cost: Vec<f64>,
    pub margin: Vec<f64>,
    /// margin / revenue, when revenue > 0.
    pub margin_rate: Vec<Option<f64>>,
    /// 1 + customers with a strictly larger margin.
    pub rank: Vec<i64>,
    /// Share of customers with a margin at least this one's.
    pub customer_share: Vec<f64>,
    /// Share of the total margin those customers bring (None when the total is not > 0).
    pub cumulative_margin_share: Vec<Option<f64>>,
    /// 1 (top 10% by rank) to 10.
    pub decile: Vec<i32>,
    /// Index into the tier names.
    pub tier: Vec<u16>,
    /// Customer positions (indices) by rank, ties in customer order.
    pub by_rank: Vec<usize>,
}

/// Totals of a group of customers (a decile, a tier).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub customers: i64,
    pub revenue: f64,
    pub cost: f64,
    pub margin: f64,
}

/// Per customer from its net revenue; `tier_shares` are the shares of customers of the tiers
/// from the most profitable down, summing to 1.
pub fn profitability(revenue: Vec<f64>, cost: Cost, tier_shares: &[f64]) -> Result<Customers> {
    check_shares(tier_shares)?;
    let n = revenue.len();
    let cost = match cost {
        Cost::Nothing => vec![0.0; n],
        Cost::Column(c) => c,
        Cost::Rate(r) if r.is_finite() && r >= 0.0 => revenue.iter().map(|v| v * r).collect(),
        Cost::Rate(r) => {
            return Err(CrmError::InvalidArgument(format!(
                "a cost rate must be a finite number >= 0, got {r}"
            )))
        }
    };
    // `+ 0.0` turns -0.0 into 0.0, so a zero margin is one value whatever its sign.
    let margin: Vec<f64> = revenue
        .iter()
        .zip(&cost)
        .map(|(r, c)| r - c + 0.0)
        .collect();
    // (margin, position) pairs sort in cache; positions are unique, so unstable is exact.
    let mut pairs: Vec<(f64, usize)> = margin.iter().copied().zip(0..n).collect();
    pairs.par_sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let (sorted, by_rank): (Vec<f64>, Vec<usize>) = pairs.into_iter().unzip();
    let total = sum(&sorted);
    let cuts = tier_cuts(tier_shares, n);
    let mut out = Customers {
        margin_rate: revenue
            .iter()
            .zip(&margin)
            .map(|(&r, &m)| (r > 0.0).then(|| m / r))
            .collect(),
        rank: vec![0; n],
        customer_share: vec![0.0; n],
        cumulative_margin_share: vec![None; n],
        decile: vec![0; n],
        tier: vec![0; n],
        revenue,
        cost,
        margin,
        by_rank,
    };
    let mut running = Sum::default();
    for (start, end) in runs_of_equal(&sorted) {
        sorted[start..end].iter().for_each(|&m| running.add(m));
        let decile = (start * 10 / n) as i32 + 1;
        let tier = cuts
            .iter()
            .position(|&cut| start < cut)
            .unwrap_or(cuts.len() - 1) as u16;
        for &i in &out.by_rank[start..end] {
            out.rank[i] = start as i64 + 1;
            out.customer_share[i] = end as f64 / n as f64;
            out.cumulative_margin_share[i] = (total > 0.0).then(|| running.value() / total);
            out.decile[i] = decile;
            out.tier[i] = tier;
        }
    }
    Ok(out)
}

/// Totals per decile (10 groups, empty ones included) or per tier.
pub fn groups(customers: &Customers, of: impl Fn(usize) -> usize, n_groups: usize) -> Vec<Group> {
    let mut sums = vec![(0i64, Sum::default(), Sum::default(), Sum::default()); n_groups];
    for &i in &customers.by_rank {
        let g = &mut sums[of(i)];
        g.0 += 1;
        g.1.add(customers.revenue[i]);
        g.2.add(customers.cost[i]);
        g.3.add(customers.margin[i]);
    }
    sums.into_iter()
        .map(|(customers, revenue, cost, margin)| Group {
            customers,
            revenue: revenue.value(),
            cost: cost.value(),
            margin: margin.value(),
        })
        .collect()
}

/// How many of the top positions the tiers down to each one hold: ceil(cumulative share × n),
/// so ties at a cut go to the higher tier.
fn tier_cuts(shares: &[f64], n: usize) -> Vec<usize> {
    let mut cumulative = 0.0;
    shares
        .iter()
        .map(|s| {
            cumulative += s;
            ((cumulative * n as f64) - 1e-9).ceil().max(0.0) as usize
        })
        .collect()
}

fn check_shares(shares: &[f64]) -> Result<()> {
    let total: f64 = shares.iter().sum();
    if shares.is_empty()
        || shares.iter().any(|s| s.is_nan() || *s <= 0.0)
        || (total - 1.0).abs() > 1e-9
    {
        return Err(CrmError::InvalidArgument(format!(
            "tier shares must be positive and sum to 1, got {shares:?}"
        )));
    }
    Ok(())
}

fn sum(values: &[f64]) -> f64 {
    let mut s = Sum::default();
    values.iter().for_each(|&v| s.add(v));
    s.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_rank_decile_tier_and_shares() {
        let revenue = vec![10.0, 50.0, 50.0, 0.0, -5.0];
        let p = profitability(revenue, Cost::Nothing, &[0.2, 0.3, 0.5]).unwrap();
        assert_eq!(p.rank, vec![3, 1, 1, 4, 5]);
        assert_eq!(p.by_rank, vec![1, 2, 0, 3, 4]);
        // Top 20% of 5 customers is 1 position; both tied customers are in it.
        assert_eq!(p.tier, vec![1, 0, 0, 2, 2]);
        assert_eq!(p.decile, vec![5, 1, 1, 7, 9]);
        assert_eq!(p.customer_share[1], 0.4);
        let total = 105.0;
        assert_eq!(p.cumulative_margin_share[0], Some(110.0 / total));
        assert_eq!(p.cumulative_margin_share[4], Some(1.0));
        assert_eq!(p.margin_rate[3], None);
    }

    #[test]
    fn cost_rate_and_column() {
        let p = profitability(vec![100.0, 10.0], Cost::Rate(0.6), &[1.0]).unwrap();
        assert_eq!(p.margin, vec![40.0, 4.0]);
        let p = profitability(vec![100.0], Cost::Column(vec![120.0]), &[1.0]).unwrap();
        assert_eq!(p.margin, vec![-20.0]);
        assert_eq!(p.cumulative_margin_share, vec![None]);
        assert!(profitability(vec![1.0], Cost::Rate(-1.0), &[1.0]).is_err());
        assert!(profitability(vec![1.0], Cost::Nothing, &[0.5, 0.4]).is_err());
    }

    #[test]
    fn groups_cover_every_customer() {
        let p = profitability(vec![3.0, 1.0, 2.0], Cost::Nothing, &[0.5, 0.5]).unwrap();
        let deciles = groups(&p, |i| p.decile[i] as usize - 1, 10);
        assert_eq!(deciles.iter().map(|g| g.customers).sum::<i64>(), 3);
        assert_eq!(deciles[0].margin, 3.0);
        assert_eq!(deciles[1], Group::default());
    }
}
