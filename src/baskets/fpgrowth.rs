//! Frequent itemsets by FP-growth (Han, Pei & Yin 2000).
//!
//! Items are renamed by rank (0 = the most frequent; ties by code) and every basket's
//! frequent items, in rank order, become a path of the FP-tree, a trie whose nodes count
//! the baskets through them. The tree is built from the paths sorted lexicographically, so
//! each path shares with the trie exactly its common prefix with the path before it: no
//! child lookups. Each frequent item is then mined on its own (in parallel): its
//! conditional pattern base (the paths above its nodes, weighted by their counts), with the
//! items infrequent in it removed, is again sorted into a tree and mined recursively.

use rayon::prelude::*;

use super::{Baskets, Itemsets};

const ROOT: u32 = u32::MAX;

/// An FP-tree (or a conditional one). Nodes are numbered in creation order.
#[derive(Default)]
struct Tree {
    item: Vec<u32>,
    count: Vec<u64>,
    parent: Vec<u32>,
    /// (item, node) of every node, sorted: the nodes of each item are contiguous.
    by_item: Vec<(u32, u32)>,
    /// Each item present and the range of `by_item` holding its nodes.
    items: Vec<(u32, usize, usize)>,
}

impl Tree {
    /// The trie of `paths`, sorted lexicographically; a path adds its weight to every node
    /// along it. Empty paths add nothing.
    fn build<'a>(paths: impl Iterator<Item = (&'a [u32], u64)>) -> Tree {
        let mut tree = Tree::default();
        let mut nodes: Vec<u32> = Vec::new(); // the nodes of the previous path
        let mut previous: &[u32] = &[];
        for (path, weight) in paths {
            let shared = previous
                .iter()
                .zip(path)
                .take_while(|(a, b)| a == b)
                .count();
            nodes.truncate(shared);
            for &n in &nodes {
                tree.count[n as usize] += weight;
            }
            for &item in &path[shared..] {
                let parent = nodes.last().copied().unwrap_or(ROOT);
                nodes.push(tree.item.len() as u32);
                tree.item.push(item);
                tree.count.push(weight);
                tree.parent.push(parent);
            }
            previous = path;
        }
        tree.by_item = (0..tree.item.len() as u32)
            .map(|n| (tree.item[n as usize], n))
            .collect();
        tree.by_item.sort_unstable();
        let mut start = 0;
        for end in 1..=tree.by_item.len() {
            if end == tree.by_item.len() || tree.by_item[end].0 != tree.by_item[start].0 {
                tree.items.push((tree.by_item[start].0, start, end));
                start = end;
            }
        }
        tree
    }

    fn nodes(&self, k: usize) -> impl Iterator<Item = usize> + '_ {
        let (_, start, end) = self.items[k];
        self.by_item[start..end].iter().map(|&(_, n)| n as usize)
    }

    /// The tree of the conditional pattern base of the `k`-th item: the path above each of
    /// its nodes, weighted by the node's count, keeping only items with total weight
    /// >= `min_count`.
    fn conditional(&self, k: usize, min_count: u64) -> Tree {
        let mut flat: Vec<u32> = Vec::new();
        let mut spans: Vec<(usize, usize, u64)> = Vec::new();
        for n in self.nodes(k) {
            let start = flat.len();
            let mut p = self.parent[n];
            while p != ROOT {
                flat.push(self.item[p as usize]);
                p = self.parent[p as usize];
            }
            flat[start..].reverse();
            spans.push((start, flat.len(), self.count[n]));
        }
        let mut weights: Vec<(u32, u64)> = spans
            .iter()
            .flat_map(|&(s, e, w)| flat[s..e].iter().map(move |&i| (i, w)))
            .collect();
        weights.sort_unstable_by_key(|&(i, _)| i);
        let mut frequent: Vec<u32> = Vec::new();
        for run in weights.chunk_by(|a, b| a.0 == b.0) {
            if run.iter().map(|&(_, w)| w).sum::<u64>() >= min_count {
                frequent.push(run[0].0);
            }
        }
        if frequent.is_empty() {
            return Tree::default();
        }
        let mut kept: Vec<u32> = Vec::with_capacity(flat.len());
        let mut kept_spans = Vec::with_capacity(spans.len());
        for (s, e, w) in spans {
            let start = kept.len();
            kept.extend(
                flat[s..e]
                    .iter()
                    .filter(|i| frequent.binary_search(i).is_ok()),
            );
            if kept.len() > start {
                kept_spans.push((start, kept.len(), w));
            }
        }
        kept_spans.sort_unstable_by(|a, b| kept[a.0..a.1].cmp(&kept[b.0..b.1]));
        Tree::build(kept_spans.iter().map(|&(s, e, w)| (&kept[s..e], w)))
    }
}

/// Itemsets found by one worker, items as ranks in the order found.
#[derive(Default)]
struct Found {
    offsets: Vec<usize>,
    items: Vec<u32>,
    counts: Vec<u64>,
}

struct Miner {
    min_count: u64,
    max_len: usize,
}

impl Miner {
    /// Every frequent itemset made of `suffix` and the `k`-th item of `tree` (the tree
    /// conditional on `suffix`) plus items of its conditional tree.
    fn mine_item(&self, tree: &Tree, k: usize, suffix: &mut Vec<u32>, out: &mut Found) {
        let support: u64 = tree.nodes(k).map(|n| tree.count[n]).sum();
        debug_assert!(support >= self.min_count);
        suffix.push(tree.items[k].0);
        out.items.extend_from_slice(suffix);
        out.offsets.push(out.items.len());
        out.counts.push(support);
        if suffix.len() < self.max_len {
            let conditional = tree.conditional(k, self.min_count);
            for j in 0..conditional.items.len() {
                self.mine_item(&conditional, j, suffix, out);
            }
        }
        suffix.pop();
    }
}

/// The itemsets (up to `max_len` items) held by at least `min_count` of the baskets, whose
/// items are codes below `n_items`. Sorted by length, then count (descending), then items.
pub fn frequent_itemsets(
    baskets: &Baskets,
    n_items: usize,
    min_count: u64,
    max_len: usize,
) -> Itemsets {
    let phase = crate::trace::phase("fp-growth: build the tree");
    let counts = item_counts(&baskets.items, n_items);
    let mut by_rank: Vec<u32> = (0..n_items as u32)
        .filter(|&i| counts[i as usize] >= min_count)
        .collect();
    by_rank.sort_unstable_by_key(|&i| (std::cmp::Reverse(counts[i as usize]), i));
    let mut rank_of = vec![u32::MAX; n_items];
    for (r, &i) in by_rank.iter().enumerate() {
        rank_of[i as usize] = r as u32;
    }

    let (flat, paths) = weighted_paths(baskets, &rank_of, by_rank.len());
    let tree = Tree::build(paths.iter().map(|&(s, e, w)| (&flat[s..e], w)));
    drop(phase);
    let _p = crate::trace::phase("fp-growth: mine");

    let miner = Miner { min_count, max_len };
    let found: Vec<Found> = (0..tree.items.len())
        .into_par_iter()
        .map(|k| {
            let mut out = Found::default();
            miner.mine_item(&tree, k, &mut Vec::new(), &mut out);
            out
        })
        .collect();
    sorted_itemsets(found, &by_rank, baskets.len() as u64)
}

/// The distinct paths of the baskets, sorted lexicographically, each with the number of
/// baskets it stands for: a basket's path is its frequent items as ranks, ascending.
/// Returned as spans (start, end, weight) of a flat buffer.
fn weighted_paths(
    baskets: &Baskets,
    rank_of: &[u32],
    n_frequent: usize,
) -> (Vec<u32>, Vec<(usize, usize, u64)>) {
    let longest = baskets
        .offsets
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or(0);
    let bits = (u32::BITS - (n_frequent as u32).leading_zeros()).max(1) as usize;
    if longest <= 64 / bits {
        packed_paths(baskets, rank_of, bits)
    } else {
        sliced_paths(baskets, rank_of, bits)
    }
}

/// The first `64 / bits` ranks of a path as `bits`-bit digits rank + 1, first most
/// significant: numbers compare like the paths' prefixes (a shorter one, padded with
/// zeros, first).
fn pack(path: &[u32], bits: usize) -> u64 {
    path.iter()
        .take(64 / bits)
        .enumerate()
        .fold(0, |key, (j, &r)| {
            key | (r as u64 + 1) << (64 - bits * (j + 1))
        })
}

/// `weighted_paths` when every path fits a u64 as `bits`-bit digits rank + 1, first item
/// most significant: sorting the numbers sorts the paths (a prefix, padded with zeros,
/// comes first), much faster than sorting slices.
fn packed_paths(
    baskets: &Baskets,
    rank_of: &[u32],
    bits: usize,
) -> (Vec<u32>, Vec<(usize, usize, u64)>) {
    let mut packed: Vec<u64> = (0..baskets.len())
        .into_par_iter()
        .map(|b| {
            let mut ranks = [u32::MAX; 64];
            let basket = baskets.basket(b);
            for (r, &i) in ranks.iter_mut().zip(basket) {
                *r = rank_of[i as usize];
            }
            let ranks = &mut ranks[..basket.len()];
            ranks.sort_unstable();
            let frequent = ranks.partition_point(|&r| r != u32::MAX);
            pack(&ranks[..frequent], bits)
        })
        .filter(|&key| key != 0)
        .collect();
    packed.par_sort_unstable();
    let mut flat = Vec::new();
    let mut paths = Vec::new();
    for run in packed.chunk_by(|a, b| a == b) {
        let start = flat.len();
        let mut key = run[0];
        while key != 0 {
            flat.push((key >> (64 - bits)) as u32 - 1);
            key <<= bits;
        }
        paths.push((start, flat.len(), run.len() as u64));
    }
    (flat, paths)
}

/// `weighted_paths` for long baskets: the paths as slices, sorted by their packed prefix
/// first (most comparisons end there, without reading the slices), then as slices.
fn sliced_paths(
    baskets: &Baskets,
    rank_of: &[u32],
    bits: usize,
) -> (Vec<u32>, Vec<(usize, usize, u64)>) {
    // Infrequent items (rank u32::MAX) sort last and are cut off.
    let mut ranked: Vec<u32> = baskets
        .items
        .par_iter()
        .map(|&i| rank_of[i as usize])
        .collect();
    let mut slices: Vec<&mut [u32]> = Vec::with_capacity(baskets.len());
    let mut rest = ranked.as_mut_slice();
    for w in baskets.offsets.windows(2) {
        let (head, tail) = rest.split_at_mut(w[1] - w[0]);
        slices.push(head);
        rest = tail;
    }
    let mut sorted: Vec<(u64, &[u32])> = slices
        .into_par_iter()
        .map(|s| {
            s.sort_unstable();
            let frequent = s.partition_point(|&r| r != u32::MAX);
            let s: &[u32] = s;
            (pack(&s[..frequent], bits), &s[..frequent])
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    sorted.par_sort_unstable();
    let mut flat = Vec::new();
    let mut paths = Vec::new();
    for run in sorted.chunk_by(|a, b| a == b) {
        let start = flat.len();
        flat.extend_from_slice(run[0].1);
        paths.push((start, flat.len(), run.len() as u64));
    }
    (flat, paths)
}

/// How many baskets hold each item (items are distinct within a basket).
fn item_counts(items: &[u32], n_items: usize) -> Vec<u64> {
    items
        .par_chunks(1 << 16)
        .fold(
            || vec![0u64; n_items],
            |mut counts, chunk| {
                for &i in chunk {
                    counts[i as usize] += 1;
                }
                counts
            },
        )
        .reduce(
            || vec![0u64; n_items],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
}

/// The found itemsets with ranks turned back into codes, sorted within and across sets.
fn sorted_itemsets(found: Vec<Found>, by_rank: &[u32], n_baskets: u64) -> Itemsets {
    let mut sets: Vec<(Vec<u32>, u64)> = found
        .into_par_iter()
        .flat_map_iter(|f| {
            let mut start = 0;
            let mut sets = Vec::with_capacity(f.counts.len());
            for (&end, &count) in f.offsets.iter().zip(&f.counts) {
                let mut codes: Vec<u32> = f.items[start..end]
                    .iter()
                    .map(|&r| by_rank[r as usize])
                    .collect();
                codes.sort_unstable();
                sets.push((codes, count));
                start = end;
            }
            sets
        })
        .collect();
    sets.par_sort_unstable_by(|a, b| {
        (a.0.len(), std::cmp::Reverse(a.1), &a.0).cmp(&(b.0.len(), std::cmp::Reverse(b.1), &b.0))
    });
    let mut out = Itemsets {
        offsets: vec![0],
        n_baskets,
        ..Itemsets::default()
    };
    for (codes, count) in sets {
        out.items.extend_from_slice(&codes);
        out.offsets.push(out.items.len());
        out.counts.push(count);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use std::collections::BTreeMap;

    /// Random baskets over `n_items` items, skewed so that some items are common.
    pub fn random_baskets(rng: &mut StdRng, n_baskets: u32, n_items: u32) -> Baskets {
        let mut pairs = Vec::new();
        for b in 0..n_baskets {
            for _ in 0..rng.random_range(1..=6) {
                let item = (rng.random::<f64>().powi(2) * n_items as f64) as u32;
                pairs.push(Baskets::pair(b * 3, item.min(n_items - 1)));
            }
        }
        Baskets::from_pairs(pairs)
    }

    /// Every itemset of up to `max_len` items with its count, by enumerating the subsets
    /// of every basket.
    pub fn brute_force(
        baskets: &Baskets,
        min_count: u64,
        max_len: usize,
    ) -> BTreeMap<Vec<u32>, u64> {
        let mut counts: BTreeMap<Vec<u32>, u64> = BTreeMap::new();
        for b in 0..baskets.len() {
            let items = baskets.basket(b);
            for mask in 1u32..(1 << items.len()) {
                if mask.count_ones() as usize <= max_len {
                    let set = (0..items.len())
                        .filter(|&i| mask >> i & 1 == 1)
                        .map(|i| items[i])
                        .collect();
                    *counts.entry(set).or_default() += 1;
                }
            }
        }
        counts.retain(|_, &mut c| c >= min_count);
        counts
    }

    fn as_map(sets: &Itemsets) -> BTreeMap<Vec<u32>, u64> {
        (0..sets.len())
            .map(|s| (sets.itemset(s).to_vec(), sets.counts[s]))
            .collect()
    }

    #[test]
    fn fp_growth_finds_what_brute_force_counts() {
        let mut rng = StdRng::seed_from_u64(7);
        for round in 0..60 {
            let n_items = rng.random_range(1..12);
            let n_baskets = rng.random_range(1..200);
            let baskets = random_baskets(&mut rng, n_baskets, n_items);
            let min_count = rng.random_range(1..6);
            let max_len = [1, 2, 3, usize::MAX][round % 4];
            let found = frequent_itemsets(&baskets, n_items as usize, min_count, max_len);
            assert_eq!(found.len(), found.counts.len());
            assert_eq!(
                as_map(&found),
                brute_force(&baskets, min_count, max_len),
                "round {round}"
            );
            assert_eq!(found.n_baskets, baskets.len() as u64);
        }
    }

    #[test]
    fn output_is_sorted_and_independent_of_the_pool() {
        let mut rng = StdRng::seed_from_u64(1);
        let baskets = random_baskets(&mut rng, 3000, 30);
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| frequent_itemsets(&baskets, 30, 20, usize::MAX))
        };
        let one = run(1);
        assert_eq!(one, run(3));
        for s in 1..one.len() {
            let key = |s: usize| (one.itemset(s).len(), std::cmp::Reverse(one.counts[s]));
            assert!(key(s - 1) <= key(s));
        }
    }

    #[test]
    fn packed_and_sliced_paths_agree() {
        let mut rng = StdRng::seed_from_u64(5);
        for n_items in [1, 3, 40, 300] {
            let baskets = random_baskets(&mut rng, 500, n_items);
            // Every other item frequent, ranked in reverse code order.
            let rank_of: Vec<u32> = (0..n_items)
                .map(|i| {
                    if i % 2 == 0 {
                        (n_items - i) / 2
                    } else {
                        u32::MAX
                    }
                })
                .collect();
            let n_frequent = rank_of.iter().filter(|&&r| r != u32::MAX).count();
            let bits = (u32::BITS - (n_frequent as u32).leading_zeros()).max(1) as usize;
            let sliced = sliced_paths(&baskets, &rank_of, bits);
            assert_eq!(packed_paths(&baskets, &rank_of, bits), sliced);
            let weight: u64 = sliced.1.iter().map(|p| p.2).sum();
            assert!(weight <= baskets.len() as u64);
        }
    }

    #[test]
    fn long_baskets_are_mined_too() {
        let mut pairs = Vec::new();
        for b in 0..40u32 {
            for i in 0..(b % 20) {
                pairs.push(Baskets::pair(b, (i * 7 + b) % 23));
            }
        }
        let baskets = Baskets::from_pairs(pairs);
        let found = frequent_itemsets(&baskets, 23, 12, 3);
        assert_eq!(as_map(&found), brute_force(&baskets, 12, 3));
    }

    #[test]
    fn no_baskets_or_no_frequent_item_give_nothing() {
        assert!(frequent_itemsets(&Baskets::default(), 0, 1, usize::MAX).is_empty());
        let b = Baskets::from_pairs(vec![Baskets::pair(0, 0), Baskets::pair(1, 1)]);
        assert!(frequent_itemsets(&b, 2, 2, usize::MAX).is_empty());
    }
}
