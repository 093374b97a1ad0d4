//! Market-basket analysis: frequent itemsets (FP-growth), association rules between them,
//! and cross-sell recommendations from those rules.
//!
//! Everything here works on dense item codes: an item's rank among the sorted distinct item
//! values, so sorting codes sorts values and the output does not depend on row order or on
//! the number of threads. `input` turns Arrow columns into codes and back.

pub mod cross_sell;
pub mod fpgrowth;
pub mod input;
pub mod rules;
pub mod tables;

use rayon::prelude::*;

use crate::error::{CrmError, Result};

/// The distinct items of each basket (an order, or all of a customer's rows): CSR layout,
/// items sorted ascending within a basket, baskets sorted by their key code.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Baskets {
    /// The key code (order or customer) of each basket.
    pub keys: Vec<u32>,
    /// Basket `b` holds `items[offsets[b]..offsets[b + 1]]`.
    pub offsets: Vec<usize>,
    pub items: Vec<u32>,
}

impl Baskets {
    /// Group (key, item) code pairs into baskets; a pair seen twice counts once. A parallel
    /// sort of the packed pairs puts them in key then item order whatever the row order.
    pub fn from_pairs(mut pairs: Vec<u64>) -> Baskets {
        pairs.par_sort_unstable();
        pairs.dedup();
        let mut baskets = Baskets {
            keys: Vec::new(),
            offsets: vec![0],
            items: Vec::with_capacity(pairs.len()),
        };
        for (i, &pair) in pairs.iter().enumerate() {
            let key = (pair >> 32) as u32;
            if baskets.keys.last() != Some(&key) {
                if !baskets.keys.is_empty() {
                    baskets.offsets.push(i);
                }
                baskets.keys.push(key);
            }
            baskets.items.push(pair as u32);
        }
        if !baskets.keys.is_empty() {
            baskets.offsets.push(pairs.len());
        }
        baskets
    }

    /// The packed (key, item) pair that `from_pairs` takes.
    #[inline]
    pub fn pair(key: u32, item: u32) -> u64 {
        (key as u64) << 32 | item as u64
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn basket(&self, b: usize) -> &[u32] {
        &self.items[self.offsets[b]..self.offsets[b + 1]]
    }
}

/// Itemsets as a CSR table: items (codes, ascending) of set `s` are
/// `items[offsets[s]..offsets[s + 1]]`, with the number of baskets holding all of them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Itemsets {
    pub offsets: Vec<usize>,
    pub items: Vec<u32>,
    pub counts: Vec<u64>,
    /// Number of baskets (the denominator of every support).
    pub n_baskets: u64,
}

impl Itemsets {
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub fn itemset(&self, s: usize) -> &[u32] {
        &self.items[self.offsets[s]..self.offsets[s + 1]]
    }

    pub fn support(&self, s: usize) -> f64 {
        self.counts[s] as f64 / self.n_baskets as f64
    }
}

/// The smallest basket count c with c / n >= min_support, compared in f64 exactly as the
/// support column is (so that an itemset is frequent iff its reported support passes).
pub fn min_count(min_support: f64, n: u64) -> Result<u64> {
    check_support(min_support)?;
    let passes = |c: u64| c as f64 / n as f64 >= min_support;
    let mut c = ((min_support * n as f64).ceil() as u64).clamp(1, n.max(1));
    while c > 1 && passes(c - 1) {
        c -= 1;
    }
    while c <= n && !passes(c) {
        c += 1;
    }
    Ok(c)
}

pub fn check_support(min_support: f64) -> Result<()> {
    if min_support > 0.0 && min_support <= 1.0 {
        return Ok(());
    }
    Err(CrmError::InvalidArgument(format!(
        "min_support must be in (0, 1], got {min_support}"
    )))
}

/// `max_len` must be at least 1 when given.
pub fn check_max_len(max_len: Option<usize>) -> Result<usize> {
    match max_len {
        Some(0) => Err(CrmError::InvalidArgument(
            "max_len must be at least 1 (or None for no limit)".into(),
        )),
        Some(m) => Ok(m),
        None => Ok(usize::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_group_into_sorted_deduplicated_baskets() {
        let pairs = [(3, 1), (0, 2), (3, 0), (0, 2), (7, 5)]
            .iter()
            .map(|&(k, i)| Baskets::pair(k, i))
            .collect();
        let b = Baskets::from_pairs(pairs);
        assert_eq!(b.keys, vec![0, 3, 7]);
        assert_eq!(b.basket(0), &[2]);
        assert_eq!(b.basket(1), &[0, 1]);
        assert_eq!(b.basket(2), &[5]);
        assert!(Baskets::from_pairs(vec![]).is_empty());
    }

    #[test]
    fn min_count_matches_the_float_support_test() {
        for n in [1u64, 3, 7, 10, 1000, 1_024_056] {
            for ms in [1e-9, 0.001, 0.1, 0.3, 1.0 / 3.0, 0.7, 1.0] {
                let c = min_count(ms, n).unwrap();
                assert!(c as f64 / n as f64 >= ms || c == n + 1);
                assert!(c == 1 || (c - 1) as f64 / (n as f64) < ms);
            }
        }
        assert!(min_count(0.0, 10).is_err());
        assert!(min_count(1.5, 10).is_err());
        assert!(min_count(f64::NAN, 10).is_err());
    }
}
