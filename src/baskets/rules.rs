//! Association rules from frequent itemsets, as mlxtend's `association_rules` defines them:
//! every frequent itemset X of two or more items, split every way into a non-empty
//! antecedent A and consequent C = X \ A, gives the rule A → C with
//! support = s(X), confidence = s(X) / s(A) and lift = confidence / s(C), where s(Y) is the
//! share of baskets holding all of Y. Every subset of a frequent itemset is frequent, so
//! s(A) and s(C) are in the table.

use hashbrown::HashMap;
use rayon::prelude::*;

use super::Itemsets;
use crate::error::{CrmError, Result};

/// The rules kept, as parallel columns; item lists as CSR (codes ascending).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    pub antecedent_offsets: Vec<usize>,
    pub antecedents: Vec<u32>,
    pub consequent_offsets: Vec<usize>,
    pub consequents: Vec<u32>,
    pub antecedent_support: Vec<f64>,
    pub consequent_support: Vec<f64>,
    pub support: Vec<f64>,
    pub confidence: Vec<f64>,
    pub lift: Vec<f64>,
    /// Baskets holding every item of the rule.
    pub count: Vec<u64>,
}

impl Rules {
    pub fn len(&self) -> usize {
        self.count.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count.is_empty()
    }

    pub fn antecedent(&self, r: usize) -> &[u32] {
        &self.antecedents[self.antecedent_offsets[r]..self.antecedent_offsets[r + 1]]
    }

    pub fn consequent(&self, r: usize) -> &[u32] {
        &self.consequents[self.consequent_offsets[r]..self.consequent_offsets[r + 1]]
    }
}

struct Rule {
    antecedent: Vec<u32>,
    consequent: Vec<u32>,
    counts: [u64; 3], // itemset, antecedent, consequent
    confidence: f64,
    lift: f64,
}

/// Past this many items, one itemset alone would give over a trillion rules.
const MAX_RULE_ITEMS: usize = 40;

/// The rules with confidence >= `min_confidence` and lift >= `min_lift`, sorted by lift
/// (descending), confidence (descending), then antecedent and consequent items.
pub fn rules(sets: &Itemsets, min_confidence: f64, min_lift: Option<f64>) -> Result<Rules> {
    check_thresholds(min_confidence, min_lift)?;
    if let Some(s) = (0..sets.len()).find(|&s| sets.itemset(s).len() > MAX_RULE_ITEMS) {
        return Err(CrmError::InvalidArgument(format!(
            "a frequent itemset has {} items, too many to split into rules; pass max_len",
            sets.itemset(s).len()
        )));
    }
    rules_unchecked(sets, min_confidence, min_lift)
}

/// `min_confidence` in [0, 1]; `min_lift`, when given, finite and >= 0.
pub fn check_thresholds(min_confidence: f64, min_lift: Option<f64>) -> Result<()> {
    if !(0.0..=1.0).contains(&min_confidence) {
        return Err(CrmError::InvalidArgument(format!(
            "min_confidence must be in [0, 1], got {min_confidence}"
        )));
    }
    if let Some(lift) = min_lift.filter(|l| !(*l >= 0.0 && l.is_finite())) {
        return Err(CrmError::InvalidArgument(format!(
            "min_lift must be a number >= 0 (or None), got {lift}"
        )));
    }
    Ok(())
}

fn rules_unchecked(sets: &Itemsets, min_confidence: f64, min_lift: Option<f64>) -> Result<Rules> {
    let count_of: HashMap<&[u32], u64> = (0..sets.len())
        .map(|s| (sets.itemset(s), sets.counts[s]))
        .collect();
    let n = sets.n_baskets as f64;
    let mut found: Vec<Rule> = (0..sets.len())
        .into_par_iter()
        .filter(|&s| sets.itemset(s).len() >= 2)
        .flat_map_iter(|s| {
            let items = sets.itemset(s);
            let k = items.len();
            let count = sets.counts[s];
            let count_of = &count_of;
            (1u64..(1 << k) - 1).filter_map(move |mask| {
                let (antecedent, consequent): (Vec<u32>, Vec<u32>) = split(items, mask);
                let a = count_of[antecedent.as_slice()];
                let c = count_of[consequent.as_slice()];
                let confidence = count as f64 / a as f64;
                let lift = confidence / (c as f64 / n);
                let keep = confidence >= min_confidence && min_lift.is_none_or(|m| lift >= m);
                keep.then_some(Rule {
                    antecedent,
                    consequent,
                    counts: [count, a, c],
                    confidence,
                    lift,
                })
            })
        })
        .collect();
    found.par_sort_unstable_by(|x, y| {
        y.lift
            .total_cmp(&x.lift)
            .then(y.confidence.total_cmp(&x.confidence))
            .then_with(|| x.antecedent.cmp(&y.antecedent))
            .then_with(|| x.consequent.cmp(&y.consequent))
    });
    let mut out = Rules {
        antecedent_offsets: vec![0],
        consequent_offsets: vec![0],
        ..Rules::default()
    };
    for rule in found {
        out.antecedents.extend_from_slice(&rule.antecedent);
        out.antecedent_offsets.push(out.antecedents.len());
        out.consequents.extend_from_slice(&rule.consequent);
        out.consequent_offsets.push(out.consequents.len());
        let [count, a, c] = rule.counts;
        out.antecedent_support.push(a as f64 / n);
        out.consequent_support.push(c as f64 / n);
        out.support.push(count as f64 / n);
        out.confidence.push(rule.confidence);
        out.lift.push(rule.lift);
        out.count.push(count);
    }
    Ok(out)
}

/// The items whose bit is set in `mask`, and the others.
fn split(items: &[u32], mask: u64) -> (Vec<u32>, Vec<u32>) {
    let mut inside = Vec::with_capacity(mask.count_ones() as usize);
    let mut outside = Vec::with_capacity(items.len() - inside.capacity());
    for (i, &item) in items.iter().enumerate() {
        if mask >> i & 1 == 1 {
            inside.push(item);
        } else {
            outside.push(item);
        }
    }
    (inside, outside)
}

#[cfg(test)]
mod tests {
    use super::super::fpgrowth::{frequent_itemsets, tests::*};
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn rules_are_every_split_of_every_itemset() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..30 {
            let n_baskets = rng.random_range(1..150);
            let baskets = random_baskets(&mut rng, n_baskets, 8);
            let n = baskets.len() as f64;
            let sets = frequent_itemsets(&baskets, 8, 2, usize::MAX);
            let min_confidence = rng.random_range(0.0..0.8);
            let found = rules(&sets, min_confidence, None).unwrap();
            let counts = brute_force(&baskets, 2, usize::MAX);
            let mut expected = Vec::new();
            for (set, &count) in counts.iter().filter(|(s, _)| s.len() >= 2) {
                for mask in 1u64..(1 << set.len()) - 1 {
                    let (a, c) = split(set, mask);
                    let confidence = count as f64 / counts[&a] as f64;
                    if confidence >= min_confidence {
                        let lift = confidence / (counts[&c] as f64 / n);
                        expected.push((a, c, count, lift));
                    }
                }
            }
            assert_eq!(found.len(), expected.len());
            let mut got: Vec<_> = (0..found.len())
                .map(|r| {
                    let a = found.antecedent(r).to_vec();
                    let c = found.consequent(r).to_vec();
                    (a, c, found.count[r], found.lift[r])
                })
                .collect();
            for r in 1..found.len() {
                assert!(found.lift[r - 1] >= found.lift[r]);
            }
            got.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
            expected.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn bad_thresholds_are_refused() {
        let sets = Itemsets::default();
        assert!(rules(&sets, 1.5, None).is_err());
        assert!(rules(&sets, 0.5, Some(-1.0)).is_err());
        assert!(rules(&sets, 0.5, Some(1.0)).unwrap().is_empty());
    }
}
