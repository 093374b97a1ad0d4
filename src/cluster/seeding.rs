//! k-means++ seeds (scikit-learn's greedy variant) that depend only on the rows' values and
//! the seed, not on the row order or the number of threads.
//!
//! A draw with probability proportional to a weight inverts the cumulative weight, as numpy's
//! `searchsorted` does, but in an order given by the rows' values (a hash of their bits, then
//! the values themselves) instead of their positions, and without sorting the rows: the
//! weights summed by the hash's top byte locate the draw's byte, one pass over the hashes
//! sums that byte's rows by the next byte, and only the few rows sharing both bytes are
//! ranked. Identical rows are adjacent in that order, so each copy counts, as in a draw by
//! position. Weights are on a fixed-point grid, so every sum is exact and order-free.

use std::cmp::Ordering;

use rayon::prelude::*;

use super::exact::Grid;
use super::kmeans::{chunk_of, distances_fastest, point};
use super::{rng::SplitMix64, CHUNK};

/// Distinct values of a key byte.
const BINS: usize = 256;

/// Per row the top 32 bits of a hash of its values' bits; with the rows counted by the top byte.
pub struct Keys {
    keys: Vec<u32>,
    counts: [u64; BINS],
}

impl Keys {
    pub fn new<const D: usize>(cols: &[&[f64]; D]) -> Keys {
        let n = cols[0].len();
        let mut keys = vec![0u32; n];
        let counts = keys
            .par_chunks_mut(CHUNK)
            .enumerate()
            .fold(
                || [0u64; BINS],
                |mut counts, (c, out)| {
                    let xs = chunk_of(cols, c, out.len());
                    hash_rows_fastest(&xs, out);
                    out.iter()
                        .for_each(|&key| counts[(key >> 24) as usize] += 1);
                    counts
                },
            )
            .reduce(|| [0u64; BINS], add_bins);
        Keys { keys, counts }
    }
}

/// `hash_rows` compiled for AVX2 when the CPU has it (the same bits either way).
fn hash_rows_fastest<const D: usize>(xs: &[&[f64]; D], out: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { hash_rows_avx2(xs, out) };
    }
    hash_rows(xs, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn hash_rows_avx2<const D: usize>(xs: &[&[f64]; D], out: &mut [u32]) {
    hash_rows(xs, out)
}

/// A 32-bit hash of each row's values' bits: each value's two halves folded in with a
/// multiply, then a full-avalanche finish (Wellons' lowbias32). 32-bit multiplies vectorise,
/// and a collision only makes two rows compare by value.
#[inline(always)]
fn hash_rows<const D: usize>(xs: &[&[f64]; D], out: &mut [u32]) {
    let xs = xs.map(|x| &x[..out.len()]);
    for (p, key) in out.iter_mut().enumerate() {
        let mut h = 0x9E37_79B9u32;
        for x in &xs {
            let bits = x[p].to_bits();
            h = (h ^ bits as u32).wrapping_mul(0x85EB_CA6B);
            h = (h ^ (bits >> 32) as u32 ^ (h >> 15)).wrapping_mul(0xC2B2_AE35);
        }
        h ^= h >> 16;
        h = h.wrapping_mul(0x7FEB_352D);
        h ^= h >> 15;
        h = h.wrapping_mul(0x846C_A68B);
        *key = h ^ (h >> 16);
    }
}

fn add_bins(mut a: [u64; BINS], b: [u64; BINS]) -> [u64; BINS] {
    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
    a
}

/// k seeds: a row drawn uniformly, then each next centre the best (lowest potential) of
/// 2 + ln(k) rows drawn with probability proportional to the squared distance to the nearest
/// centre so far. `largest` is each feature's largest magnitude.
pub fn plus_plus<const D: usize>(
    cols: [&[f64]; D],
    keys: &Keys,
    largest: &[f64; D],
    k: usize,
    rng: &mut SplitMix64,
) -> Vec<[f64; D]> {
    let n = cols[0].len();
    let trials = 2 + (k as f64).ln() as usize;
    let first = draw(&cols, keys, &keys.counts, |_| 1, &[rng.next_u64()])[0];
    let mut centres = vec![point(&cols, first.unwrap_or(0))];
    // No squared distance to the first centre exceeds this.
    let reach: f64 = (0..D)
        .map(|t| (largest[t] + centres[0][t].abs()).powi(2))
        .sum();
    let mut grid = weight_grid(reach, n);
    let mut closest = vec![f64::INFINITY; n];
    let mut weights = move_closer(&cols, keys, &centres[0], &mut closest, grid);
    for _ in 1..k {
        let targets: Vec<u64> = (0..trials).map(|_| rng.next_u64()).collect();
        let weight = |i: usize| grid.round_small(closest[i]);
        let candidates: Vec<[f64; D]> = draw(&cols, keys, &weights.bins, weight, &targets)
            .into_iter()
            .map(|i| i.map_or(centres[0], |i| point(&cols, i))) // all weights zero: any centre
            .collect();
        grid = weight_grid(weights.max, n); // every weight from here on is at most that
        let potentials = potentials(&cols, &candidates, &closest, grid);
        let chosen = (0..trials).fold(0, |b, l| if potentials[l] < potentials[b] { l } else { b });
        centres.push(candidates[chosen]);
        weights = move_closer(&cols, keys, &candidates[chosen], &mut closest, grid);
    }
    centres
}

/// The grid of weights at most `bound`: their sum over the n rows fits a u64, and each
/// stays below 2^52 for `Grid::round_small`.
fn weight_grid(bound: f64, n: usize) -> Grid {
    Grid::for_sum(bound, n.max(1 << 10))
}

/// The weights after a new centre, summed by the key's top byte; and the largest.
struct Weights {
    bins: [u64; BINS],
    max: f64,
}

/// Lower each row's squared distance to its nearest centre with centre `q`.
fn move_closer<const D: usize>(
    cols: &[&[f64]; D],
    keys: &Keys,
    q: &[f64; D],
    closest: &mut [f64],
    grid: Grid,
) -> Weights {
    let merge = |a: Weights, b: Weights| Weights {
        bins: add_bins(a.bins, b.bins),
        max: a.max.max(b.max),
    };
    let none = || Weights {
        bins: [0; BINS],
        max: 0.0,
    };
    closest
        .par_chunks_mut(CHUNK)
        .enumerate()
        .fold(none, |mut acc, (c, near)| {
            let xs = chunk_of(cols, c, near.len());
            let chunk_keys = &keys.keys[c * CHUNK..c * CHUNK + near.len()];
            let mut to_q = [0.0; CHUNK];
            let to_q = &mut to_q[..near.len()];
            distances_fastest(&xs, q, to_q);
            for ((v, &d), &key) in near.iter_mut().zip(to_q.iter()).zip(chunk_keys) {
                *v = v.min(d);
                acc.bins[(key >> 24) as usize] += grid.round_small(*v);
                acc.max = acc.max.max(*v);
            }
            acc
        })
        .reduce(none, merge)
}

/// Per candidate the potential (sum over rows of the squared distance to the nearest centre)
/// were it added, on the grid.
fn potentials<const D: usize>(
    cols: &[&[f64]; D],
    candidates: &[[f64; D]],
    closest: &[f64],
    grid: Grid,
) -> Vec<u64> {
    closest
        .par_chunks(CHUNK)
        .enumerate()
        .fold(
            || vec![0u64; candidates.len()],
            |mut totals, (c, near)| {
                let xs = chunk_of(cols, c, near.len());
                let mut kept = [0.0; CHUNK];
                let kept = &mut kept[..near.len()];
                for (total, q) in totals.iter_mut().zip(candidates) {
                    distances_fastest(&xs, q, kept);
                    *total += capped_sum_fastest(kept, near, grid);
                }
                totals
            },
        )
        .reduce(
            || vec![0u64; candidates.len()],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                a
            },
        )
}

/// Sum over rows of min(d, v) on the grid.
#[inline(always)]
fn capped_sum(d: &[f64], v: &[f64], grid: Grid) -> u64 {
    let v = &v[..d.len()];
    let mut lanes = [0u64; 8];
    let mut blocks = d.chunks_exact(8).zip(v.chunks_exact(8));
    for (d, v) in &mut blocks {
        for l in 0..8 {
            lanes[l] += grid.round_small(d[l].min(v[l]));
        }
    }
    let full = d.len() / 8 * 8;
    let tail: u64 = (full..d.len())
        .map(|p| grid.round_small(d[p].min(v[p])))
        .sum();
    lanes.iter().sum::<u64>() + tail
}

/// `capped_sum` compiled for AVX2 when the CPU has it (integer sums: the same either way).
fn capped_sum_fastest(d: &[f64], v: &[f64], grid: Grid) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { capped_sum_avx2(d, v, grid) };
    }
    capped_sum(d, v, grid)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn capped_sum_avx2(d: &[f64], v: &[f64], grid: Grid) -> u64 {
    capped_sum(d, v, grid)
}

/// Per target (a uniform u64, as a share target / 2^64 of the total weight) the row where
/// the cumulative weight in key-then-value order first exceeds that share; None when every
/// weight is zero. `bins` holds the weights summed by the key's top byte.
fn draw<const D: usize>(
    cols: &[&[f64]; D],
    keys: &Keys,
    bins: &[u64; BINS],
    weight: impl Fn(usize) -> u64 + Sync,
    targets: &[u64],
) -> Vec<Option<usize>> {
    let total: u64 = bins.iter().sum();
    if total == 0 {
        return vec![None; targets.len()];
    }
    // Each target as a top byte and the weight still to pass within it.
    let located: Vec<(usize, u64)> = targets
        .iter()
        .map(|&r| locate(bins, ((u128::from(total) * u128::from(r)) >> 64) as u64))
        .collect();
    let mut slot_of = [usize::MAX; BINS];
    let mut chosen = 0;
    for &(byte, _) in &located {
        if slot_of[byte] == usize::MAX {
            slot_of[byte] = chosen;
            chosen += 1;
        }
    }
    // The rows under the chosen top bytes, and their weights summed by the next byte.
    let keys = &keys.keys;
    let empty = || (vec![0u64; chosen * BINS], Vec::new());
    let (sub, rows) = keys
        .par_chunks(CHUNK)
        .enumerate()
        .fold(empty, |(mut sub, mut rows), (c, chunk_keys)| {
            for (p, &key) in chunk_keys.iter().enumerate() {
                let slot = slot_of[(key >> 24) as usize];
                if slot != usize::MAX {
                    let i = c * CHUNK + p;
                    sub[slot * BINS + ((key >> 16) & 0xFF) as usize] += weight(i);
                    rows.push(i);
                }
            }
            (sub, rows)
        })
        .reduce(empty, |(mut a, mut rows_a), (b, rows_b)| {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
            rows_a.extend(rows_b);
            (a, rows_a)
        });
    let order = |a: usize, b: usize| {
        keys[a].cmp(&keys[b]).then_with(|| {
            let mut by_value = cols.iter().map(|c| c[a].total_cmp(&c[b]));
            by_value.find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
        })
    };
    located
        .iter()
        .map(|&(byte, rest)| {
            let (next, rest) = locate(&sub[slot_of[byte] * BINS..][..BINS], rest);
            let prefix = ((byte << 8) | next) as u32;
            let members = rows.iter().copied().filter(|&i| keys[i] >> 16 == prefix);
            Some(weighted_rank(members.collect(), rest, &weight, order))
        })
        .collect()
}

/// The bin where the cumulative weight first exceeds `rest` (< the total), and what is
/// left of `rest` within it.
fn locate(bins: &[u64], mut rest: u64) -> (usize, u64) {
    let mut b = 0;
    while rest >= bins[b] {
        rest -= bins[b];
        b += 1;
    }
    (b, rest)
}

/// The row where the cumulative weight of `rows` in `order` first exceeds `rest` (less than
/// their total): a quickselect that moves rows equal under `order` (identical rows) as one.
fn weighted_rank(
    mut rows: Vec<usize>,
    mut rest: u64,
    weight: &impl Fn(usize) -> u64,
    order: impl Fn(usize, usize) -> Ordering,
) -> usize {
    loop {
        let pivot = rows[rows.len() / 2];
        let (mut below, mut above) = (Vec::new(), Vec::new());
        let (mut below_weight, mut equal_weight) = (0, 0);
        for &i in &rows {
            match order(i, pivot) {
                Ordering::Less => {
                    below_weight += weight(i);
                    below.push(i);
                }
                Ordering::Equal => equal_weight += weight(i),
                Ordering::Greater => above.push(i),
            }
        }
        if rest < below_weight {
            rows = below;
        } else if rest < below_weight + equal_weight {
            return pivot;
        } else {
            rest -= below_weight + equal_weight;
            rows = above;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_of(cols: &[&[f64]; 2]) -> Keys {
        Keys::new(cols)
    }

    #[test]
    fn draws_follow_the_weights_and_not_the_row_order() {
        // 3 distinct rows, the second twice: a draw by weight must count both copies.
        let a = [0.0, 1.0, 2.0, 1.0];
        let b = [5.0, 6.0, 7.0, 6.0];
        let cols = [&a[..], &b[..]];
        let keys = keys_of(&cols);
        let w = [1u64, 2, 3, 2];
        let mut bins = [0u64; BINS];
        for (i, &key) in keys.keys.iter().enumerate() {
            bins[(key >> 24) as usize] += w[i];
        }
        let targets: Vec<u64> = (0..8192u64).map(|j| j << 51).collect(); // evenly spread
        let drawn = draw(&cols, &keys, &bins, |i| w[i], &targets);
        let mut hits = [0usize; 3];
        for i in drawn {
            hits[a[i.unwrap()] as usize] += 1;
        }
        assert_eq!(hits, [1024, 4096, 3072]); // weights 1, 2 + 2, 3 of 8
                                              // Reordered rows: the same values at the same targets.
        let (a2, b2) = ([1.0, 2.0, 1.0, 0.0], [6.0, 7.0, 6.0, 5.0]);
        let cols2 = [&a2[..], &b2[..]];
        let keys2 = keys_of(&cols2);
        let w2 = [2u64, 3, 2, 1];
        let value =
            |cols: &[&[f64]; 2], i: Option<usize>| (cols[0][i.unwrap()], cols[1][i.unwrap()]);
        let first: Vec<_> = draw(&cols, &keys, &bins, |i| w[i], &targets)
            .into_iter()
            .map(|i| value(&cols, i))
            .collect();
        let second: Vec<_> = draw(&cols2, &keys2, &bins, |i| w2[i], &targets)
            .into_iter()
            .map(|i| value(&cols2, i))
            .collect();
        assert_eq!(first, second);
        assert_eq!(draw(&cols, &keys, &[0; BINS], |_| 0, &[7]), vec![None]);
    }

    #[test]
    fn weighted_rank_walks_the_cumulative_weight() {
        let w = [2u64, 0, 3, 1];
        let order = |a: usize, b: usize| a.cmp(&b);
        let ranks: Vec<usize> = (0..6)
            .map(|r| weighted_rank(vec![3, 1, 0, 2], r, &|i: usize| w[i], order))
            .collect();
        assert_eq!(ranks, vec![0, 0, 2, 2, 2, 3]);
    }
}
