//! Cross-sell: for each customer, the items the rules most associate with what they bought
//! and that they have not bought yet.
//!
//! A rule A → {c} fires for a customer who bought every item of A and not c; candidate c
//! scores the best `metric` over the rules that fire with consequent c (ties: the other
//! metric, then the antecedent's items). A customer's candidates are ranked by score, then
//! the other metric, then item order, and the first `top_n` kept.

use std::cmp::Ordering;

use rayon::prelude::*;

use super::Baskets;

/// A rule with a single-item consequent; items are codes, the antecedent ascending.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub antecedent: Vec<u32>,
    pub consequent: u32,
    pub confidence: f64,
    pub lift: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Confidence,
    Lift,
}

impl Rule {
    /// (metric, the other one).
    fn scores(&self, metric: Metric) -> (f64, f64) {
        match metric {
            Metric::Confidence => (self.confidence, self.lift),
            Metric::Lift => (self.lift, self.confidence),
        }
    }
}

/// One row per (customer, rank): the basket (index into the customers' baskets), the rank
/// (1-based), the item recommended and the rule (index into `rules`) that scored it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recommendations {
    pub basket: Vec<u32>,
    pub rank: Vec<u32>,
    pub item: Vec<u32>,
    pub rule: Vec<u32>,
}

/// (metric, other metric) pairs, lexicographically.
fn compare(a: (f64, f64), b: (f64, f64)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1))
}

/// Baskets per chunk of the parallel pass: fixed, so the output never depends on the pool.
const CHUNK: usize = 4096;

/// The top `top_n` recommendations of every customer (`customers`: each customer's items)
/// from `rules`, whose items are codes below `n_items`.
pub fn cross_sell(
    customers: &Baskets,
    rules: &[Rule],
    n_items: usize,
    top_n: usize,
    metric: Metric,
) -> Recommendations {
    // Rules in order of preference: a candidate's best rule is the firing rule that comes
    // first (smallest preference).
    let mut order: Vec<u32> = (0..rules.len() as u32).collect();
    order.sort_by(|&x, &y| {
        let (rx, ry) = (&rules[x as usize], &rules[y as usize]);
        compare(ry.scores(metric), rx.scores(metric))
            .then_with(|| rx.antecedent.cmp(&ry.antecedent))
            .then(rx.consequent.cmp(&ry.consequent))
    });
    // Each rule is listed under the antecedent item the fewest customers bought (rules with
    // none fire for everyone), so a customer looks only at rules that may fire; lists in
    // order of preference.
    let mut buyers = vec![0u32; n_items];
    for &i in &customers.items {
        buyers[i as usize] += 1;
    }
    let mut by_rarest: Vec<Vec<u32>> = vec![Vec::new(); n_items + 1];
    for (preference, &r) in order.iter().enumerate() {
        let rarest = rules[r as usize]
            .antecedent
            .iter()
            .min_by_key(|&&i| (buyers[i as usize], i))
            .map_or(n_items, |&i| i as usize);
        by_rarest[rarest].push(preference as u32);
    }
    let parts: Vec<Recommendations> = (0..customers.len())
        .into_par_iter()
        .chunks(CHUNK)
        .map_init(
            || vec![u32::MAX; n_items],
            |best, chunk| {
                let mut out = Recommendations::default();
                let mut candidates: Vec<u32> = Vec::new();
                for b in chunk {
                    let bought = customers.basket(b);
                    let fires = |rule: &Rule| {
                        bought.binary_search(&rule.consequent).is_err()
                            && rule
                                .antecedent
                                .iter()
                                .all(|i| bought.binary_search(i).is_ok())
                    };
                    let lists = bought.iter().map(|&i| i as usize).chain([n_items]);
                    for &preference in lists.flat_map(|l| &by_rarest[l]) {
                        let rule = &rules[order[preference as usize] as usize];
                        let slot = &mut best[rule.consequent as usize];
                        if preference < *slot && fires(rule) {
                            if *slot == u32::MAX {
                                candidates.push(rule.consequent);
                            }
                            *slot = preference;
                        }
                    }
                    // Rank by the best rules' scores; ties go to item order.
                    candidates.sort_by(|&x, &y| {
                        let score = |c: u32| {
                            rules[order[best[c as usize] as usize] as usize].scores(metric)
                        };
                        compare(score(y), score(x)).then(x.cmp(&y))
                    });
                    for (rank, &c) in candidates.iter().take(top_n).enumerate() {
                        out.basket.push(b as u32);
                        out.rank.push(rank as u32 + 1);
                        out.item.push(c);
                        out.rule.push(order[best[c as usize] as usize]);
                    }
                    for c in candidates.drain(..) {
                        best[c as usize] = u32::MAX;
                    }
                }
                out
            },
        )
        .collect();
    let mut all = Recommendations::default();
    for part in parts {
        all.basket.extend(part.basket);
        all.rank.extend(part.rank);
        all.item.extend(part.item);
        all.rule.extend(part.rule);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(antecedent: &[u32], consequent: u32, confidence: f64, lift: f64) -> Rule {
        Rule {
            antecedent: antecedent.to_vec(),
            consequent,
            confidence,
            lift,
        }
    }

    #[test]
    fn best_rule_per_item_then_ranked() {
        // customer 0 bought {0, 1}; customer 1 bought {2}; customer 2 bought {0, 3}.
        let pairs = [(0, 0), (0, 1), (1, 2), (2, 0), (2, 3)];
        let customers =
            Baskets::from_pairs(pairs.iter().map(|&(k, i)| Baskets::pair(k, i)).collect());
        let rules = vec![
            rule(&[0], 3, 0.5, 2.0),
            rule(&[0, 1], 3, 0.7, 1.5),
            rule(&[1], 2, 0.6, 3.0),
            rule(&[0], 1, 0.9, 1.0),
            rule(&[4], 2, 0.99, 9.0), // item 4 bought by nobody: never fires
        ];
        let by_confidence = cross_sell(&customers, &rules, 5, 3, Metric::Confidence);
        assert_eq!(by_confidence.basket, vec![0, 0, 2]);
        assert_eq!(by_confidence.rank, vec![1, 2, 1]);
        assert_eq!(by_confidence.item, vec![3, 2, 1]);
        assert_eq!(by_confidence.rule, vec![1, 2, 3]);
        let by_lift = cross_sell(&customers, &rules, 5, 1, Metric::Lift);
        assert_eq!(by_lift.item, vec![2, 1]);
        assert_eq!(by_lift.rule, vec![2, 3]);
    }

    /// The definition, customer by customer: every firing rule, the best per item, ranked.
    fn brute_force(
        customers: &Baskets,
        rules: &[Rule],
        top_n: usize,
        metric: Metric,
    ) -> Vec<(u32, u32, u32)> {
        let mut out = Vec::new();
        for b in 0..customers.len() {
            let bought = customers.basket(b);
            let mut best: std::collections::BTreeMap<u32, usize> = Default::default();
            let better = |x: usize, y: usize| {
                let (rx, ry) = (&rules[x], &rules[y]);
                compare(rx.scores(metric), ry.scores(metric))
                    .then_with(|| ry.antecedent.cmp(&rx.antecedent))
                    .is_gt()
            };
            for (r, rule) in rules.iter().enumerate() {
                let fires = rule.antecedent.iter().all(|i| bought.contains(i))
                    && !bought.contains(&rule.consequent);
                let current = best.get(&rule.consequent).copied();
                if fires && current.is_none_or(|c| better(r, c)) {
                    best.insert(rule.consequent, r);
                }
            }
            let mut ranked: Vec<(u32, usize)> = best.into_iter().collect();
            ranked.sort_by(|x, y| {
                compare(rules[y.1].scores(metric), rules[x.1].scores(metric)).then(x.0.cmp(&y.0))
            });
            for (rank, (item, r)) in ranked.into_iter().take(top_n).enumerate() {
                out.push((b as u32 * 100 + rank as u32 + 1, item, r as u32));
            }
        }
        out
    }

    #[test]
    fn agrees_with_brute_force_on_random_rules_with_ties() {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..50 {
            let n_items = rng.random_range(2..10u32);
            let pairs = (0..rng.random_range(1..60))
                .map(|_| Baskets::pair(rng.random_range(0..12), rng.random_range(0..n_items)))
                .collect();
            let customers = Baskets::from_pairs(pairs);
            let rules: Vec<Rule> = (0..rng.random_range(0..40))
                .map(|_| {
                    let mut antecedent: Vec<u32> = (0..rng.random_range(0..3))
                        .map(|_| rng.random_range(0..n_items))
                        .collect();
                    antecedent.sort_unstable();
                    antecedent.dedup();
                    let consequent = rng.random_range(0..n_items);
                    let confidence = [0.2, 0.5, 0.9][rng.random_range(0..3)];
                    let lift = [0.8, 1.0, 2.0][rng.random_range(0..3)];
                    rule(&antecedent, consequent, confidence, lift)
                })
                .collect();
            for metric in [Metric::Confidence, Metric::Lift] {
                let top_n = rng.random_range(1..5);
                let got = cross_sell(&customers, &rules, n_items as usize, top_n, metric);
                let got: Vec<(u32, u32, u32)> = (0..got.rank.len())
                    .map(|k| (got.basket[k] * 100 + got.rank[k], got.item[k], got.rule[k]))
                    .collect();
                assert_eq!(got, brute_force(&customers, &rules, top_n, metric));
            }
        }
    }

    #[test]
    fn ties_go_to_the_other_metric_then_item_order() {
        let customers = Baskets::from_pairs(vec![Baskets::pair(0, 0)]);
        let rules = vec![
            rule(&[0], 3, 0.5, 2.0),
            rule(&[0], 2, 0.5, 2.0),
            rule(&[0], 1, 0.5, 2.5),
            rule(&[], 4, 0.5, 1.0),
        ];
        let out = cross_sell(&customers, &rules, 5, 10, Metric::Confidence);
        assert_eq!(out.item, vec![1, 2, 3, 4]);
        assert_eq!(out.rank, vec![1, 2, 3, 4]);
    }
}
