//! The result tables of `frequent_itemsets`, `basket_rules` and `cross_sell`, from baskets
//! of item codes and the item values the codes stand for. The in-memory calls (baskets of
//! the order lines) and the merged partial states (`partial::baskets`) both end here, so the
//! two give the same table.

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;

use super::cross_sell::{Metric, Rule};
use super::input::{rules_table, ItemValues};
use super::{fpgrowth, min_count, rules, Baskets, Itemsets};
use crate::emit;
use crate::error::Result;

/// The frequent itemsets of the baskets (`max_len`: usize::MAX for no limit).
fn mine(
    baskets: &Baskets,
    items: &ItemValues,
    min_support: f64,
    max_len: usize,
) -> Result<Itemsets> {
    let _p = crate::trace::phase("fp-growth");
    let min_count = min_count(min_support, baskets.len() as u64)?;
    Ok(fpgrowth::frequent_itemsets(
        baskets,
        items.len(),
        min_count,
        max_len,
    ))
}

/// One row per frequent itemset: `itemset`, `length`, `count`, `support`.
pub fn itemsets(
    baskets: &Baskets,
    items: &ItemValues,
    min_support: f64,
    max_len: usize,
) -> Result<RecordBatch> {
    let sets = mine(baskets, items, min_support, max_len)?;
    let lengths = sets.offsets.windows(2).map(|w| (w[1] - w[0]) as i64);
    emit::batch(vec![
        ("itemset", items.lists(&sets.offsets, &sets.items)?),
        ("length", emit::int64(lengths.collect())),
        (
            "count",
            emit::int64(sets.counts.iter().map(|&c| c as i64).collect()),
        ),
        (
            "support",
            emit::floats((0..sets.len()).map(|s| sets.support(s)).collect()),
        ),
    ])
}

/// One row per association rule: the antecedent and consequent items, the supports,
/// confidence, lift and count.
pub fn association_rules(
    baskets: &Baskets,
    items: &ItemValues,
    min_support: f64,
    min_confidence: f64,
    min_lift: Option<f64>,
    max_len: usize,
) -> Result<RecordBatch> {
    let sets = mine(baskets, items, min_support, max_len)?;
    let r = {
        let _p = crate::trace::phase("rules");
        rules::rules(&sets, min_confidence, min_lift)?
    };
    emit::batch(vec![
        (
            "antecedent",
            items.lists(&r.antecedent_offsets, &r.antecedents)?,
        ),
        (
            "consequent",
            items.lists(&r.consequent_offsets, &r.consequents)?,
        ),
        ("antecedent_support", emit::floats(r.antecedent_support)),
        ("consequent_support", emit::floats(r.consequent_support)),
        ("support", emit::floats(r.support)),
        ("confidence", emit::floats(r.confidence)),
        ("lift", emit::floats(r.lift)),
        (
            "count",
            emit::int64(r.count.iter().map(|&c| c as i64).collect()),
        ),
    ])
}

/// What `recommendations` reads: the customers' baskets, the key of each basket and the
/// column names of the result.
pub struct Customers<'a> {
    pub baskets: Baskets,
    /// The key of each basket, in the key column's type.
    pub keys: ArrayRef,
    pub items: &'a ItemValues,
    pub customer: &'a str,
    pub item: &'a str,
}

/// One row per (customer, rank): the top `top_n` items of the rules table (`rules_schema`,
/// `rules_batches`) each customer has not bought yet, by `metric`.
pub fn recommendations(
    customers: Customers<'_>,
    rules_schema: &SchemaRef,
    rules_batches: &[RecordBatch],
    top_n: usize,
    metric: Metric,
) -> Result<RecordBatch> {
    let (rules, universe, line_codes) = rules_table(rules_schema, rules_batches, customers.items)?;
    let mut bought = customers.baskets;
    bought
        .items
        .iter_mut()
        .for_each(|i| *i = line_codes[*i as usize]);
    let recs = super::cross_sell::cross_sell(&bought, &rules, universe.len(), top_n, metric);
    let basket_index = UInt32Array::from(recs.basket.clone());
    let customer_keys = arrow_select::take::take(customers.keys.as_ref(), &basket_index, None)?;
    let chosen: Vec<&Rule> = recs.rule.iter().map(|&r| &rules[r as usize]).collect();
    let mut offsets = vec![0];
    let mut antecedents = Vec::new();
    for rule in &chosen {
        antecedents.extend_from_slice(&rule.antecedent);
        offsets.push(antecedents.len());
    }
    let values =
        |f: fn(&Rule) -> f64| -> ArrayRef { emit::floats(chosen.iter().map(|r| f(r)).collect()) };
    let score = match metric {
        Metric::Confidence => values(|r| r.confidence),
        Metric::Lift => values(|r| r.lift),
    };
    emit::batch(vec![
        (customers.customer, customer_keys),
        (
            "rank",
            emit::int64(recs.rank.iter().map(|&r| r as i64).collect()),
        ),
        (customers.item, universe.array(&recs.item)?),
        ("score", score),
        ("confidence", values(|r| r.confidence)),
        ("lift", values(|r| r.lift)),
        ("antecedent", universe.lists(&offsets, &antecedents)?),
    ])
}
