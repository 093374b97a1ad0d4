//! Quantile scores 1..=bins with the average-rank rule:
//! `score = floor(bins * (rank_avg - 0.5) / n) + 1`, i.e. a tie group occupying sorted
//! positions `lo..hi` scores `floor(bins * (lo + hi) / (2n)) + 1`. Equal values get equal
//! scores, and bins are as balanced as ties allow.
//!
//! Values arrive as order-preserving `u64` keys. A 2^16-bucket histogram decides the score of
//! every bucket whose positions all fall in one bin; only the few buckets straddling a bin
//! edge are sorted. Integer-valued inputs (days, counts) usually need no sort at all.

use rayon::prelude::*;

const BUCKET_BITS: u32 = 16;

#[inline]
fn score(lo: usize, hi: usize, n: usize, bins: u32) -> u8 {
    (bins as u128 * (lo + hi) as u128 / (2 * n) as u128) as u8 + 1
}

pub fn quantile_scores(keys: &[u64], bins: u32) -> Vec<u8> {
    let n = keys.len();
    if n == 0 {
        return Vec::new();
    }
    let (min, max) = keys
        .par_chunks(1 << 16)
        .map(|c| {
            c.iter()
                .fold((u64::MAX, 0u64), |(lo, hi), &k| (lo.min(k), hi.max(k)))
        })
        .reduce(|| (u64::MAX, 0), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    let range = max - min;
    let shift = (64 - range.leading_zeros()).saturating_sub(BUCKET_BITS);
    let n_buckets = (range >> shift) as usize + 1;
    let bucket = |k: u64| ((k - min) >> shift) as usize;

    let counts = keys
        .par_chunks(1 << 16)
        .fold(
            || vec![0u32; n_buckets],
            |mut h, c| {
                for &k in c {
                    h[bucket(k)] += 1;
                }
                h
            },
        )
        .reduce(
            || vec![0u32; n_buckets],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let mut start = Vec::with_capacity(n_buckets);
    let mut acc = 0usize;
    // 0 marks a bucket whose members fall in different bins and must be sorted.
    let mut bucket_score = vec![0u8; n_buckets];
    for (b, &c) in counts.iter().enumerate() {
        let (lo, hi) = (acc, acc + c as usize);
        start.push(lo);
        if c > 0 {
            bucket_score[b] = if shift == 0 {
                score(lo, hi, n, bins)
            } else {
                let (first, last) = (score(lo, lo + 1, n, bins), score(hi - 1, hi, n, bins));
                if first == last {
                    first
                } else {
                    0
                }
            };
        }
        acc = hi;
    }

    let mut scores: Vec<u8> = keys.par_iter().map(|&k| bucket_score[bucket(k)]).collect();
    let mut straddling: Vec<(u64, u32)> = keys
        .par_iter()
        .enumerate()
        .filter(|(_, &k)| bucket_score[bucket(k)] == 0)
        .map(|(i, &k)| (k, i as u32))
        .collect();
    straddling.par_sort_unstable();
    let mut g = 0;
    let mut run_start = 0;
    while g < straddling.len() {
        let key = straddling[g].0;
        if g == 0 || bucket(straddling[g - 1].0) != bucket(key) {
            run_start = g;
        }
        let end = g + straddling[g..].iter().take_while(|p| p.0 == key).count();
        let lo = start[bucket(key)] + (g - run_start);
        let s = score(lo, lo + (end - g), n, bins);
        for p in &straddling[g..end] {
            scores[p.1 as usize] = s;
        }
        g = end;
    }
    scores
}

/// Order-preserving key of a float; 0 is reserved for "missing" (ranks lowest).
pub fn f64_key(x: Option<f64>) -> u64 {
    match x {
        None => 0,
        Some(x) => {
            let bits = (x + 0.0).to_bits(); // + 0.0 turns -0.0 into 0.0
            if bits >> 63 == 1 {
                !bits
            } else {
                bits | (1 << 63)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The definition, by brute force.
    fn reference(keys: &[u64], bins: u32) -> Vec<u8> {
        let n = keys.len();
        keys.iter()
            .map(|k| {
                let lo = keys.iter().filter(|x| *x < k).count();
                let hi = lo + keys.iter().filter(|x| *x == k).count();
                score(lo, hi, n, bins)
            })
            .collect()
    }

    #[test]
    fn matches_brute_force_on_small_and_wide_ranges() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for trial in 0..200 {
            let n = rng.random_range(1..400);
            let spread: u64 = [3, 50, 1 << 20, u64::MAX / 4][trial % 4];
            let keys: Vec<u64> = (0..n).map(|_| rng.random_range(0..spread)).collect();
            for bins in [1, 2, 3, 5, 10] {
                assert_eq!(
                    quantile_scores(&keys, bins),
                    reference(&keys, bins),
                    "n={n} spread={spread}"
                );
            }
        }
    }

    #[test]
    fn no_ties_gives_balanced_bins() {
        let keys: Vec<u64> = (0..1000).rev().collect();
        let s = quantile_scores(&keys, 5);
        for b in 1..=5u8 {
            assert_eq!(s.iter().filter(|&&x| x == b).count(), 200);
        }
        assert_eq!(s[0], 5);
    }

    #[test]
    fn float_keys_preserve_order() {
        let xs = [-1e300, -2.5, -0.0, 0.0, 1e-300, 3.0, f64::MAX];
        let keys: Vec<u64> = xs.iter().map(|&x| f64_key(Some(x))).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(keys[2], keys[3]);
        assert!(f64_key(None) < keys[0]);
    }
}
