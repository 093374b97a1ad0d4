//! The features clustering runs on: finiteness checks, the optional log1p and z-score
//! transform (and its inverse, for centres in original units), per-cluster profiles, and
//! the row sample of `choose_k`.

use std::borrow::Cow;

use rayon::prelude::*;

use super::exact::{mean_and_variance, sum};
use super::{rng::SplitMix64, CHUNK};
use crate::error::{CrmError, Result};

/// Error unless every value is finite (a null arrives as NaN), naming the column, the count
/// and the first row.
pub fn check_finite(name: &str, values: &[f64]) -> Result<()> {
    if values.par_iter().with_min_len(CHUNK).all(|v| v.is_finite()) {
        return Ok(());
    }
    let bad = values.iter().filter(|v| !v.is_finite()).count();
    let first = values.iter().position(|v| !v.is_finite()).unwrap_or(0);
    Err(CrmError::InvalidData(format!(
        "column '{name}' has {bad} null, NaN or infinite value(s) (first at row {first})"
    )))
}

/// Per feature: log1p first or not, then (x - mean) / sd with the population sd; with
/// `standardize` off, mean 0 and sd 1. A constant feature gets sd 1 (it only centres).
pub struct Transform {
    pub log: Vec<bool>,
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

impl Transform {
    /// Fit the transform to `cols` and apply it; a column it leaves as is stays borrowed.
    pub fn fit<'a>(
        cols: &[&'a [f64]],
        names: &[String],
        log: &[bool],
        standardize: bool,
    ) -> Result<(Transform, Vec<Cow<'a, [f64]>>)> {
        let mut scaled = Vec::with_capacity(cols.len());
        let (mut means, mut sds) = (Vec::new(), Vec::new());
        for ((&col, name), &take_log) in cols.iter().zip(names).zip(log) {
            let mut v = Cow::Borrowed(col);
            if take_log {
                if col.par_iter().with_min_len(CHUNK).any(|&x| x <= -1.0) {
                    let bad = col.iter().filter(|&&x| x <= -1.0).count();
                    let first = col.iter().position(|&x| x <= -1.0).unwrap_or(0);
                    return Err(CrmError::InvalidData(format!(
                        "column '{name}' has {bad} value(s) <= -1, which log1p cannot take (first at row {first})"
                    )));
                }
                v = Cow::Owned(col.par_iter().map(|x| x.ln_1p()).collect());
            }
            let (mean, sd) = if standardize { moments(&v) } else { (0.0, 1.0) };
            if standardize {
                let z = |x: &f64| (*x - mean) / sd;
                match &mut v {
                    Cow::Owned(values) => values.par_iter_mut().for_each(|x| *x = z(x)),
                    Cow::Borrowed(values) => v = Cow::Owned(values.par_iter().map(z).collect()),
                }
            }
            means.push(mean);
            sds.push(sd);
            scaled.push(v);
        }
        let transform = Transform {
            log: log.to_vec(),
            mean: means,
            sd: sds,
        };
        Ok((transform, scaled))
    }

    /// A value of feature `t` in the clustering space back in original units.
    pub fn inverse(&self, t: usize, z: f64) -> f64 {
        let x = z * self.sd[t] + self.mean[t];
        if self.log[t] {
            x.exp_m1()
        } else {
            x
        }
    }
}

/// Mean and population standard deviation (1 when the values are constant), order-free.
fn moments(v: &[f64]) -> (f64, f64) {
    let (mean, variance) = mean_and_variance(v);
    let sd = variance.sqrt();
    (mean, if sd > 0.0 { sd } else { 1.0 })
}

/// Per cluster: its size, and per feature (outer index) the mean and median of its members
/// (None for an empty cluster).
pub struct Profiles {
    pub size: Vec<usize>,
    pub mean: Vec<Vec<Option<f64>>>,
    pub median: Vec<Vec<Option<f64>>>,
}

pub fn profiles(cols: &[&[f64]], labels: &[u32], k: usize) -> Profiles {
    let mut size = vec![0usize; k];
    for &l in labels {
        size[l as usize] += 1;
    }
    let mut start = vec![0usize; k + 1];
    for j in 0..k {
        start[j + 1] = start[j] + size[j];
    }
    // Per feature its values grouped by cluster, in row order within a cluster: one
    // sequential pass per feature instead of a sparse gather per (feature, cluster).
    let grouped: Vec<Vec<f64>> = cols
        .par_iter()
        .map(|col| {
            let mut next = start.clone();
            let mut grouped = vec![0.0; labels.len()];
            for (&x, &l) in col.iter().zip(labels) {
                grouped[next[l as usize]] = x;
                next[l as usize] += 1;
            }
            grouped
        })
        .collect();
    // One task per (feature, cluster): medians are the cost, and they are independent.
    let cells: Vec<(Option<f64>, Option<f64>)> = (0..cols.len() * k)
        .into_par_iter()
        .map(|cell| {
            let (t, j) = (cell / k, cell % k);
            let values = &grouped[t][start[j]..start[j + 1]];
            let mean = sum(values) / values.len() as f64;
            let median = median(values);
            (median.map(|_| mean), median)
        })
        .collect();
    let (mean, median) = cells
        .chunks(k)
        .map(|feature| feature.iter().copied().unzip())
        .unzip();
    Profiles { size, mean, median }
}

/// The median (the mean of the two middle values for an even count); None when empty.
///
/// A radix select: the values' bits mapped to integers in `total_cmp` order, a histogram of
/// their top 16 bits finds the bucket(s) of the middle ranks, and only those members are
/// selected among (on integers, which compare faster than floats).
fn median(values: &[f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (low_rank, high_rank) = ((n - 1) / 2, n / 2);
    const BITS: u32 = 16;
    let digit = |key: u64| (key >> (64 - BITS)) as usize;
    // u32 counts (rows are u32-indexed) keep the histogram in a quarter of a MiB.
    let mut counts = vec![0u32; 1 << BITS];
    values
        .iter()
        .for_each(|&x| counts[digit(order_key(x))] += 1);
    let (mut below, mut low_digit) = (0, 0);
    while below + counts[low_digit] as usize <= low_rank {
        below += counts[low_digit] as usize;
        low_digit += 1;
    }
    let mut high_digit = low_digit;
    let mut through = below + counts[low_digit] as usize;
    while through <= high_rank {
        high_digit += 1;
        through += counts[high_digit] as usize;
    }
    // Keep the keys of those digits without a branch per value (the share kept can be
    // large and unpredictable, as with integer-valued features): every key is written, and
    // only a kept one advances the cursor, so the next key (or the spare slot) overwrites
    // a rejected one.
    let kept = through - below;
    let mut middle = vec![0u64; kept + 1];
    let mut cursor = 0;
    for &x in values {
        let key = order_key(x);
        middle[cursor] = key;
        cursor += usize::from((low_digit..=high_digit).contains(&digit(key)));
    }
    middle.truncate(kept);
    let (lower, &mut high, _) = middle.select_nth_unstable(high_rank - below);
    let high = from_order_key(high);
    if n % 2 == 1 {
        return Some(high);
    }
    // The low middle value is the largest below the high one (it may equal it).
    let low = from_order_key(lower.iter().copied().max().unwrap_or(u64::MIN));
    Some((low + high) / 2.0)
}

/// An f64's bits as an integer ordered as `f64::total_cmp` orders the values.
fn order_key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

fn from_order_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

/// `m` distinct rows of `n` drawn uniformly (partial Fisher-Yates), in ascending order;
/// every row when m >= n.
pub fn sample_rows(n: usize, m: usize, seed: u64) -> Vec<usize> {
    if m >= n {
        return (0..n).collect();
    }
    let mut rng = SplitMix64::new(seed);
    let mut rows: Vec<usize> = (0..n).collect();
    for i in 0..m {
        let j = i + rng.below(n - i);
        rows.swap(i, j);
    }
    rows.truncate(m);
    rows.sort_unstable();
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardize_and_invert() {
        let cols = [
            vec![1.0, 2.0, 3.0, 4.0],
            vec![5.0; 4],
            vec![0.0, 1.0, 3.0, 7.0],
        ];
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let slices: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let (t, z) = Transform::fit(&slices, &names, &[false, false, true], true).unwrap();
        assert!((t.mean[0] - 2.5).abs() < 1e-15 && (t.sd[0] - 1.25f64.sqrt()).abs() < 1e-15);
        assert_eq!(z[1][..], [0.0; 4]); // constant: centred, sd 1
        for (t_i, col) in cols.iter().enumerate() {
            for (x, zx) in col.iter().zip(z[t_i].iter()) {
                assert!((t.inverse(t_i, *zx) - x).abs() < 1e-12);
            }
        }
        let err = Transform::fit(&[&[0.0, -1.0]], &names[..1], &[true], true);
        assert!(
            matches!(err, Err(CrmError::InvalidData(m)) if m.contains("'a'") && m.contains("row 1"))
        );
    }

    #[test]
    fn finite_check_names_count_and_row() {
        let err = check_finite("x", &[1.0, f64::NAN, 2.0, f64::INFINITY]).unwrap_err();
        assert_eq!(
            err,
            CrmError::InvalidData(
                "column 'x' has 2 null, NaN or infinite value(s) (first at row 1)".into()
            )
        );
        assert!(check_finite("x", &[1.0]).is_ok());
    }

    #[test]
    fn profiles_means_and_medians() {
        let col = vec![1.0, 10.0, 3.0, 20.0, 2.0, 4.0];
        let labels = [0, 1, 0, 1, 0, 0];
        let p = profiles(&[&col], &labels, 3);
        assert_eq!(p.size, vec![4, 2, 0]);
        assert_eq!(p.mean[0], vec![Some(2.5), Some(15.0), None]);
        assert_eq!(p.median[0], vec![Some(2.5), Some(15.0), None]);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn median_by_radix_select_matches_sorting() {
        let mut rng = SplitMix64::new(5);
        for n in [1, 2, 3, 10, 1000, 100_001, 100_002] {
            for spread in [1e-300, 1.0, 1e6] {
                let v: Vec<f64> = (0..n)
                    .map(|i| match i % 4 {
                        0 => 0.0,
                        1 => -0.0,
                        _ => (rng.next_f64() - 0.3) * spread,
                    })
                    .collect();
                let mut sorted = v.clone();
                sorted.sort_by(f64::total_cmp);
                let expected = (sorted[(n - 1) / 2] + sorted[n / 2]) / 2.0;
                assert_eq!(
                    median(&v).map(f64::to_bits),
                    Some(expected.to_bits()),
                    "n {n}"
                );
            }
        }
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[-3.5, 7.0, -1.0]), Some(-1.0));
    }

    #[test]
    fn sample_is_sorted_distinct_and_seeded() {
        let s = sample_rows(1000, 100, 3);
        assert_eq!(s.len(), 100);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s, sample_rows(1000, 100, 3));
        assert_ne!(s, sample_rows(1000, 100, 4));
        assert_eq!(sample_rows(5, 10, 0), vec![0, 1, 2, 3, 4]);
    }
}
