//! Service analytics (seed 004): tickets (opinions, complaints, consultations), contacts by
//! department, satisfaction scores. Plain Rust over per-row codes, days and instants.

pub mod contacts;
pub mod satisfaction;
pub mod tickets;

use rayon::prelude::*;

/// Dense ids for sparse u64 keys: each row's rank among the distinct keys, and the sorted
/// distinct keys. Small key spaces use a presence table, others a parallel sort.
pub fn dense_ids(keys: &[u64]) -> (Vec<u32>, Vec<u64>) {
    const TABLE_MAX: u64 = 1 << 24;
    let max = keys.par_iter().copied().max().unwrap_or(0);
    if max < TABLE_MAX.max(keys.len() as u64) {
        let mut rank = vec![u32::MAX; max as usize + 1];
        for &k in keys {
            rank[k as usize] = 0;
        }
        let mut distinct = Vec::new();
        for (k, r) in rank.iter_mut().enumerate() {
            if *r == 0 {
                *r = distinct.len() as u32;
                distinct.push(k as u64);
            }
        }
        let ids = keys.par_iter().map(|&k| rank[k as usize]).collect();
        return (ids, distinct);
    }
    let mut distinct = keys.to_vec();
    distinct.par_sort_unstable();
    distinct.dedup();
    let ids = keys
        .par_iter()
        .map(|k| {
            distinct
                .binary_search(k)
                .expect("every key is among the distinct keys") as u32
        })
        .collect();
    (ids, distinct)
}

/// Values grouped by a dense id (a counting sort, stable in row order): bucket `b` holds
/// the values of the rows with id `b`, as `values[starts[b]..starts[b + 1]]`.
pub fn buckets<T: Copy + Default>(
    ids: &[u32],
    n_buckets: usize,
    value: impl Fn(usize) -> T,
) -> (Vec<usize>, Vec<T>) {
    let mut starts = vec![0usize; n_buckets + 1];
    for &id in ids {
        starts[id as usize + 1] += 1;
    }
    for b in 0..n_buckets {
        starts[b + 1] += starts[b];
    }
    let mut next = starts.clone();
    let mut values = vec![T::default(); ids.len()];
    for (row, &id) in ids.iter().enumerate() {
        values[next[id as usize]] = value(row);
        next[id as usize] += 1;
    }
    (starts, values)
}

/// The buckets of `buckets` as separate mutable slices, for parallel work on each.
pub fn split_buckets<'a, T>(starts: &[usize], mut values: &'a mut [T]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(starts.len().saturating_sub(1));
    for w in starts.windows(2) {
        let (bucket, rest) = values.split_at_mut(w[1] - w[0]);
        out.push(bucket);
        values = rest;
    }
    out
}

/// The `q` quantile of `values` by linear interpolation between the closest ranks (numpy's
/// default `method="linear"`): with x the sorted values, position h = (n − 1)·q and value
/// x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). `None` for no values. Integers, so that the
/// result cannot depend on the order of the values; reorders `values` (selection, O(n)).
pub fn quantile(values: &mut [i64], q: f64) -> Option<f64> {
    let last = values.len().checked_sub(1)?;
    let h = last as f64 * q;
    let below = (h.floor() as usize).min(last);
    let (_, &mut low, above) = values.select_nth_unstable(below);
    let high = above.iter().copied().min().unwrap_or(low);
    Some(low as f64 + (h - below as f64) * (high - low) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_ids_rank_keys_both_ways() {
        for keys in [vec![7u64, 3, 7, 9], vec![1 << 40, 3, 1 << 40, 9]] {
            let (ids, distinct) = dense_ids(&keys);
            let mut expected = keys.clone();
            expected.sort();
            expected.dedup();
            assert_eq!(distinct, expected);
            for (k, id) in keys.iter().zip(&ids) {
                assert_eq!(distinct[*id as usize], *k);
            }
        }
        assert_eq!(dense_ids(&[]), (vec![], vec![]));
    }

    #[test]
    fn buckets_group_values_by_id_in_row_order() {
        let (starts, mut values) = buckets(&[2, 0, 2, 2], 4, |r| r * 10);
        assert_eq!(starts, vec![0, 1, 1, 4, 4]);
        assert_eq!(values, vec![10, 0, 20, 30]);
        let slices = split_buckets(&starts, &mut values);
        assert_eq!(
            slices.iter().map(|s| s.len()).collect::<Vec<_>>(),
            vec![1, 0, 3, 0]
        );
    }

    #[test]
    fn quantiles_match_numpy_linear() {
        let mut x = [10, 4, 1, 2];
        // numpy.quantile([1, 2, 4, 10], [0, .5, .9, 1]) = [1, 3, 8.2, 10]
        assert_eq!(quantile(&mut x, 0.0), Some(1.0));
        assert_eq!(quantile(&mut x, 0.5), Some(3.0));
        assert!((quantile(&mut x, 0.9).unwrap() - 8.2).abs() < 1e-12);
        assert_eq!(quantile(&mut x, 1.0), Some(10.0));
        assert_eq!(quantile(&mut [5], 0.9), Some(5.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
