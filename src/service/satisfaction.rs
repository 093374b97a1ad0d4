//! Satisfaction: per group (e.g. product × region), the most and the least satisfied
//! customers, and a profile of each side.
//!
//! A customer's score in a group is the mean of their scores there. With n customers in the
//! group and k = ⌈share·n⌉, a customer is on the top side when fewer than k customers of the
//! group score strictly better, and on the bottom side when fewer than k score strictly
//! worse — so customers tied at the cut are all in, a side can hold more than k customers,
//! and in a small or all-tied group a customer can be on both sides. The rank is 1 + the
//! number of customers strictly better (top) or strictly worse (bottom).
//!
//! The ranking reads each customer's sum and count of scores per group (`CustomerScore`):
//! the in-memory call makes them from the rows, a partial state carries and merges them.

use rayon::prelude::*;

use super::{buckets, dense_ids, split_buckets};
use crate::summary::Sum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Top,
    Bottom,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub group: u32,
    pub customer: u32,
    pub score: f64,
    pub side: Side,
    pub rank: u32,
}

/// k = ⌈share·n⌉, with share·n first rounded to 9 decimals so that 0.2·15 counts as 3.
pub fn cut(share: f64, n: usize) -> usize {
    ((share * n as f64 * 1e9).round() / 1e9).ceil() as usize
}

/// A customer's scores in one group: their sum and count. The scores of one customer and
/// group in two parts of a log add up, so the members of a whole log can be ranked from its
/// parts' scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CustomerScore {
    pub group: u32,
    pub customer: u32,
    /// Compensated, so that sums added up in another order agree to the last bits.
    pub sum: Sum,
    pub count: u64,
}

impl CustomerScore {
    pub fn mean(&self) -> f64 {
        self.sum.value() / self.count as f64
    }
}

/// Each customer's scores per group, sorted by group then customer code.
pub fn customer_scores(groups: &[u32], customers: &[u32], scores: &[f64]) -> Vec<CustomerScore> {
    let (ids, distinct) = dense_ids(&groups.par_iter().map(|&g| g as u64).collect::<Vec<_>>());
    let (starts, mut rows) = buckets(&ids, distinct.len(), |r| (customers[r], scores[r]));
    split_buckets(&starts, &mut rows)
        .into_par_iter()
        .zip(distinct.par_iter())
        .flat_map_iter(|(rows, &group)| {
            // Scores in order within a customer, so that their sum does not depend on row order.
            rows.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            let runs: Vec<&[(u32, f64)]> = rows.chunk_by(|a, b| a.0 == b.0).collect();
            runs.into_iter().map(move |run| {
                let mut sum = Sum::default();
                run.iter().for_each(|r| sum.add(r.1));
                CustomerScore {
                    group: group as u32,
                    customer: run[0].0,
                    sum,
                    count: run.len() as u64,
                }
            })
        })
        .collect()
}

/// The members of both sides of every group, sorted by group, side (top first), rank, then
/// customer code.
pub fn members(
    groups: &[u32],
    customers: &[u32],
    scores: &[f64],
    share: f64,
    higher_is_better: bool,
) -> Vec<Member> {
    ranked(
        &customer_scores(groups, customers, scores),
        share,
        higher_is_better,
    )
}

/// The members of both sides of every group of `scores` (sorted by group, then customer
/// code), sorted like `members`.
pub fn ranked(scores: &[CustomerScore], share: f64, higher_is_better: bool) -> Vec<Member> {
    let sign = if higher_is_better { 1.0 } else { -1.0 };
    let groups: Vec<&[CustomerScore]> = scores.chunk_by(|a, b| a.group == b.group).collect();
    groups
        .into_par_iter()
        .flat_map_iter(|customers| {
            let group = customers[0].group;
            let mut best_first: Vec<(f64, u32)> = customers
                .iter()
                .map(|c| (sign * c.mean(), c.customer))
                .collect();
            let k = cut(share, best_first.len());
            best_first.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut out = side(group, &best_first, k, Side::Top, sign);
            best_first.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            out.extend(side(group, &best_first, k, Side::Bottom, sign));
            out
        })
        .collect()
}

/// The customers of one side from the group sorted with that side's end first: competition
/// ranks (1 + those strictly ahead), kept while fewer than k are strictly ahead.
fn side(group: u32, ordered: &[(f64, u32)], k: usize, side: Side, sign: f64) -> Vec<Member> {
    let mut out = Vec::new();
    let mut rank = 0;
    for (i, &(value, customer)) in ordered.iter().enumerate() {
        if i == 0 || value != ordered[i - 1].0 {
            rank = i;
        }
        if rank >= k {
            break;
        }
        out.push(Member {
            group,
            customer,
            score: sign * value,
            side,
            rank: rank as u32 + 1,
        });
    }
    out
}

/// What `profile` reads of the customers table: for each customer code, their row (or none).
pub struct Profiles<'a> {
    pub row_of: &'a [Option<u32>],
    /// Numeric columns (nulls: `None`).
    pub numeric: &'a [Vec<Option<f64>>],
    /// Categorical columns as value codes (nulls: `None`).
    pub categorical: &'a [Vec<Option<u32>>],
}

/// One side of one group, described.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub group: u32,
    pub side: Side,
    pub customers: i64,
    pub mean_score: f64,
    /// Members without a row in the customers table.
    pub missing: i64,
    /// Per numeric column: the mean over members with a value.
    pub means: Vec<Option<f64>>,
    /// Per categorical column: the most common value among members with one (ties: the
    /// smallest code) and its share of them.
    pub modes: Vec<Option<(u32, f64)>>,
}

/// The profile of each (group, side) of `members` (which are sorted by group and side).
pub fn profile(members: &[Member], profiles: &Profiles) -> Vec<Profile> {
    let runs: Vec<&[Member]> = members
        .chunk_by(|a, b| (a.group, a.side) == (b.group, b.side))
        .collect();
    runs.into_par_iter()
        .map(|run| {
            let rows: Vec<usize> = run
                .iter()
                .filter_map(|m| profiles.row_of[m.customer as usize].map(|r| r as usize))
                .collect();
            let means = profiles
                .numeric
                .iter()
                .map(|column| {
                    let values: Vec<f64> = rows.iter().filter_map(|&r| column[r]).collect();
                    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
                })
                .collect();
            let modes = profiles
                .categorical
                .iter()
                .map(|column| mode(rows.iter().filter_map(|&r| column[r])))
                .collect();
            Profile {
                group: run[0].group,
                side: run[0].side,
                customers: run.len() as i64,
                mean_score: run.iter().map(|m| m.score).sum::<f64>() / run.len() as f64,
                missing: (run.len() - rows.len()) as i64,
                means,
                modes,
            }
        })
        .collect()
}

fn mode(values: impl Iterator<Item = u32>) -> Option<(u32, f64)> {
    let mut values: Vec<u32> = values.collect();
    values.sort_unstable();
    let n = values.len();
    let (value, count) = values
        .chunk_by(|a, b| a == b)
        .map(|run| (run[0], run.len()))
        .fold(None, |best: Option<(u32, usize)>, (v, c)| match best {
            Some((_, bc)) if bc >= c => best,
            _ => Some((v, c)),
        })?;
    Some((value, count as f64 / n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sides(m: &[Member]) -> Vec<(u32, Side, u32, u32)> {
        m.iter()
            .map(|m| (m.group, m.side, m.customer, m.rank))
            .collect()
    }

    #[test]
    fn ties_at_the_cut_are_all_in_and_means_are_per_customer() {
        // Group 0: customer 1 scores (10 + 6)/2 = 8, customers 2 and 3 tie at 7, 4..=10 at 3.
        // n = 10, k = 2: top = {1, 2, 3} (2 and 3 have one customer above), bottom = the seven at 3.
        let customers = [1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let scores = [10.0, 6.0, 7.0, 7.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0];
        let m = members(&[0; 11], &customers, &scores, 0.2, true);
        let top: Vec<_> = sides(&m).into_iter().filter(|s| s.1 == Side::Top).collect();
        assert_eq!(
            top,
            vec![
                (0, Side::Top, 1, 1),
                (0, Side::Top, 2, 2),
                (0, Side::Top, 3, 2)
            ]
        );
        assert_eq!(m[0].score, 8.0);
        assert_eq!(
            m.iter()
                .filter(|m| m.side == Side::Bottom && m.rank == 1)
                .count(),
            7
        );
        // Lower is better: the sides swap.
        let m = members(&[0; 11], &customers, &scores, 0.2, false);
        assert_eq!(m.iter().filter(|m| m.side == Side::Top).count(), 7);
        assert_eq!(m.last().unwrap().customer, 3);
    }

    #[test]
    fn a_group_of_one_is_on_both_sides_and_cut_is_exact() {
        let m = members(&[4], &[9], &[5.0], 0.2, true);
        assert_eq!(
            sides(&m),
            vec![(4, Side::Top, 9, 1), (4, Side::Bottom, 9, 1)]
        );
        assert_eq!(cut(0.2, 15), 3);
        assert_eq!(cut(0.2, 16), 4);
        assert_eq!(cut(0.5, 1), 1);
        assert!(members(&[], &[], &[], 0.2, true).is_empty());
    }

    #[test]
    fn profiles_average_present_members_and_count_the_missing() {
        let m = members(&[0, 0, 0], &[0, 1, 2], &[9.0, 1.0, 5.0], 0.3, true);
        let row_of = [Some(0), None, Some(1)];
        let numeric = vec![vec![Some(10.0), None]];
        let categorical = vec![vec![Some(3), Some(3)]];
        let p = profile(
            &m,
            &Profiles {
                row_of: &row_of,
                numeric: &numeric,
                categorical: &categorical,
            },
        );
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].side, p[0].customers, p[0].missing, p[0].mean_score),
            (Side::Top, 1, 0, 9.0)
        );
        assert_eq!(p[0].means, vec![Some(10.0)]);
        assert_eq!(p[0].modes, vec![Some((3, 1.0))]);
        assert_eq!(
            (p[1].side, p[1].missing, p[1].means.clone()),
            (Side::Bottom, 1, vec![None])
        );
        assert_eq!(p[1].modes, vec![None]);
        assert_eq!(mode([2, 1, 2, 1].into_iter()), Some((1, 0.5)));
    }
}
