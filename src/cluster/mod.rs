//! k-means clustering of rows of numeric features (typically RFM) and the silhouette score
//! to choose k. Plain Rust: features come in as columns of f64, results go out as vectors.
//!
//! Results depend only on the rows' values, not on their order or the number of threads:
//! every sum is exact on a fixed-point grid (`exact`), k-means++ draws rows in an order given
//! by their values (`seeding`), and ties are broken by values, never by positions. Parallel
//! steps work on chunks of `CHUNK` rows.

pub mod exact;
pub mod features;
pub mod kmeans;
pub mod rng;
mod seeding;
pub mod silhouette;

/// Rows per parallel task: small enough to balance two cores, large enough to amortise a task.
pub const CHUNK: usize = 4096;

/// Most features the kernels take; more than enough for segmentation.
pub const MAX_FEATURES: usize = 64;

/// Calls `$run::<D>($cols, ...)` with the columns as a `[&[f64]; D]` where D is d itself for
/// d <= 8, else the next of 16, 32, 64 with all-zero columns appended (a zero column adds
/// nothing to any distance). A constant D lets the compiler unroll and vectorise the
/// distance loops.
macro_rules! with_dims {
    ($cols:expr, $run:ident ( $($arg:expr),* )) => {{
        let cols: &[&[f64]] = $cols;
        let n = cols.first().map_or(0, |c| c.len());
        let zeros = vec![0.0; n];
        macro_rules! go {
            ($d:literal) => {{
                let fixed: [&[f64]; $d] =
                    std::array::from_fn(|t| cols.get(t).copied().unwrap_or(&zeros[..]));
                $run::<$d>(fixed, $($arg),*)
            }};
        }
        match cols.len() {
            1 => go!(1),
            2 => go!(2),
            3 => go!(3),
            4 => go!(4),
            5 => go!(5),
            6 => go!(6),
            7 => go!(7),
            8 => go!(8),
            9..=16 => go!(16),
            17..=32 => go!(32),
            _ => go!(64),
        }
    }};
}
pub(crate) use with_dims;

/// A row order that depends only on the rows' values: rows sorted by a hash of their bits
/// (ties, which only identical rows or hash collisions produce, by value, then position).
/// `choose_k` samples and scores rows in this order, so that its sample and its silhouette
/// sums do not depend on the input's row order (identical rows are interchangeable).
///
/// An MSD radix sort: a parallel scatter on the hash's top byte, then per bucket (in cache)
/// a counting sort on the next byte and a small sort of each sub-bucket. The order is a
/// total one, so how the work is split never shows in the result.
pub fn canonical_order(cols: &[&[f64]]) -> Vec<u32> {
    use rayon::prelude::*;
    let n = cols.first().map_or(0, |c| c.len());
    let hashes: Vec<u64> = (0..n)
        .into_par_iter()
        .with_min_len(CHUNK)
        .map(|i| {
            cols.iter()
                .fold(0x9E37_79B9_7F4A_7C15u64, |h, c| mix(h ^ c[i].to_bits()))
        })
        .collect();
    let row = |i: u32| cols.iter().map(move |c| c[i as usize]);
    let by_key = |a: &(u64, u32), b: &(u64, u32)| {
        a.0.cmp(&b.0).then_with(|| {
            let mut by_value = row(a.1).zip(row(b.1)).map(|(x, y)| x.total_cmp(&y));
            by_value.find(|o| o.is_ne()).unwrap_or(a.1.cmp(&b.1))
        })
    };
    let pieces = crate::partition::pieces(&[n], PIECE_ROWS);
    let mut keyed = Vec::new();
    let bounds = crate::partition::scatter(
        &pieces,
        1 << 8,
        |_, i| (hashes[i] >> 56) as usize,
        |_, i| (hashes[i], i as u32),
        &mut keyed,
    );
    let mut rest: &mut [(u64, u32)] = &mut keyed;
    let mut buckets = Vec::with_capacity(bounds.len());
    for w in bounds.windows(2) {
        let (head, tail) = rest.split_at_mut(w[1] - w[0]);
        buckets.push(head);
        rest = tail;
    }
    buckets.par_iter_mut().for_each(|bucket| {
        let second = |h: u64| ((h >> 48) & 0xFF) as usize;
        let mut starts = [0usize; 257];
        bucket.iter().for_each(|&(h, _)| starts[second(h) + 1] += 1);
        for b in 0..256 {
            starts[b + 1] += starts[b];
        }
        let unsorted = bucket.to_vec();
        let mut next = starts;
        for item in unsorted {
            let slot = &mut next[second(item.0)];
            bucket[*slot] = item;
            *slot += 1;
        }
        for w in starts.windows(2) {
            bucket[w[0]..w[1]].sort_unstable_by(by_key);
        }
    });
    keyed
        .par_iter()
        .with_min_len(CHUNK)
        .map(|&(_, i)| i)
        .collect()
}

/// Rows per piece of the canonical order's scatter: a few pieces per thread.
const PIECE_ROWS: usize = 1 << 16;

/// The columns' rows in the given order.
pub fn reorder(cols: &[&[f64]], order: &[u32]) -> Vec<Vec<f64>> {
    use rayon::prelude::*;
    cols.iter()
        .map(|c| {
            order
                .par_iter()
                .with_min_len(CHUNK)
                .map(|&i| c[i as usize])
                .collect()
        })
        .collect()
}

/// SplitMix64's finaliser: a full-avalanche mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_order_ignores_the_input_order() {
        fn slices(cols: &[Vec<f64>]) -> Vec<&[f64]> {
            cols.iter().map(Vec::as_slice).collect()
        }
        let cols = vec![
            vec![3.0, 1.0, 2.0, 1.0, -0.0],
            vec![0.5, 7.0, 0.5, 7.0, 0.0],
        ];
        let cols = slices(&cols);
        let sorted = reorder(&cols, &canonical_order(&cols));
        let perm = [4u32, 2, 0, 3, 1];
        let shuffled = reorder(&cols, &perm);
        let shuffled = slices(&shuffled);
        assert_eq!(reorder(&shuffled, &canonical_order(&shuffled)), sorted);
    }

    #[test]
    fn canonical_order_is_a_sort_by_hash_then_values_then_position() {
        // Few distinct values, so identical rows (equal hashes) are common.
        let n = 200_000;
        let cols: Vec<Vec<f64>> = (0..3u64)
            .map(|t| (0..n).map(|i| (mix(i * 3 + t) % 50) as f64).collect())
            .collect();
        let cols: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let key = |i: u32| {
            let h = cols.iter().fold(0x9E37_79B9_7F4A_7C15u64, |h, c| {
                mix(h ^ c[i as usize].to_bits())
            });
            let values: Vec<u64> = cols.iter().map(|c| c[i as usize].to_bits()).collect();
            (h, values, i)
        };
        let mut expected: Vec<u32> = (0..n as u32).collect();
        expected.sort_by_key(|&i| key(i)); // bits order non-negative values
        assert_eq!(canonical_order(&cols), expected);
    }
}
