//! Cross-sell: for each customer, the items the rules most associate with what they bought
//! and that they have not bought yet.
//!
//! A rule A → {c} fires for a customer who bought every item of A and not c; candidate c
//! scores the best `metric` over the rules that fire with consequent c (ties: the other
//! metric, then the antecedent's items). A customer's candidates are ranked by score, then
//! the other metric, then item order, and the first `top_n` kept.

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
    // Rules in order of preference; a candidate's best rule is the first that fires.
    let mut order: Vec<u32> = (0..rules.len() as u32).collect();
    order.sort_by(|&x, &y| {
        let (rx, ry) = (&rules[x as usize], &rules[y as usize]);
        let (mx, ox) = rx.scores(metric);
        let (my, oy) = ry.scores(metric);
        my.total_cmp(&mx)
            .then(oy.total_cmp(&ox))
            .then_with(|| rx.antecedent.cmp(&ry.antecedent))
            .then(rx.consequent.cmp(&ry.consequent))
    });
    // Rules by the first item of their antecedent (rules with none fire for everyone).
    let mut by_first: Vec<Vec<u32>> = vec![Vec::new(); n_items + 1];
    for (preference, &r) in order.iter().enumerate() {
        let first = rules[r as usize]
            .antecedent
            .first()
            .map_or(n_items, |&i| i as usize);
        by_first[first].push(preference as u32);
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
                        rule.antecedent[1.min(rule.antecedent.len())..]
                            .iter()
                            .all(|i| bought.binary_search(i).is_ok())
                            && bought.binary_search(&rule.consequent).is_err()
                    };
                    let firsts = bought.iter().map(|&i| i as usize).chain([n_items]);
                    for preference in firsts.flat_map(|i| &by_first[i]) {
                        let rule = &rules[order[*preference as usize] as usize];
                        let slot = &mut best[rule.consequent as usize];
                        if *preference < *slot && fires(rule) {
                            if *slot == u32::MAX {
                                candidates.push(rule.consequent);
                            }
                            *slot = *preference;
                        }
                    }
                    let rule_of = |c: u32| &rules[order[best[c as usize] as usize] as usize];
                    candidates.sort_unstable_by(|&x, &y| {
                        let (mx, ox) = rule_of(x).scores(metric);
                        let (my, oy) = rule_of(y).scores(metric);
                        my.total_cmp(&mx).then(oy.total_cmp(&ox)).then(x.cmp(&y))
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
