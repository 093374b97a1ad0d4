//! The features clustering runs on: finiteness checks, the optional log1p and z-score
//! transform (and its inverse, for centres in original units), per-cluster profiles, and
//! the row sample of `choose_k`.

use rayon::prelude::*;

use super::{chunked_sum, chunked_sum_by, rng::SplitMix64};
use crate::error::{CrmError, Result};

/// Error unless every value is finite (a null arrives as NaN), naming the column, the count
/// and the first row.
pub fn check_finite(name: &str, values: &[f64]) -> Result<()> {
    let bad = values.iter().filter(|v| !v.is_finite()).count();
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(first) => Err(CrmError::InvalidData(format!(
            "column '{name}' has {bad} null, NaN or infinite value(s) (first at row {first})"
        ))),
    }
}

/// Per feature: log1p first or not, then (x - mean) / sd with the population sd; with
/// `standardize` off, mean 0 and sd 1. A constant feature gets sd 1 (it only centres).
pub struct Transform {
    pub log: Vec<bool>,
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

impl Transform {
    /// Fit the transform to `cols` and apply it.
    pub fn fit(
        cols: &[Vec<f64>],
        names: &[String],
        log: &[bool],
        standardize: bool,
    ) -> Result<(Transform, Vec<Vec<f64>>)> {
        let mut scaled = Vec::with_capacity(cols.len());
        let (mut means, mut sds) = (Vec::new(), Vec::new());
        for ((col, name), &take_log) in cols.iter().zip(names).zip(log) {
            let mut v = col.clone();
            if take_log {
                let bad = v.iter().filter(|&&x| x <= -1.0).count();
                if let Some(first) = v.iter().position(|&x| x <= -1.0) {
                    return Err(CrmError::InvalidData(format!(
                        "column '{name}' has {bad} value(s) <= -1, which log1p cannot take (first at row {first})"
                    )));
                }
                v.par_iter_mut().for_each(|x| *x = x.ln_1p());
            }
            let (mean, sd) = if standardize { moments(&v) } else { (0.0, 1.0) };
            if standardize {
                v.par_iter_mut().for_each(|x| *x = (*x - mean) / sd);
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

/// Mean and population standard deviation (1 when the values are constant).
fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = chunked_sum(v) / n;
    let sd = (chunked_sum_by(v, |x| (x - mean) * (x - mean)) / n).sqrt();
    (mean, if sd > 0.0 { sd } else { 1.0 })
}

/// Per cluster: its size, and per feature (outer index) the mean and median of its members
/// (None for an empty cluster).
pub struct Profiles {
    pub size: Vec<usize>,
    pub mean: Vec<Vec<Option<f64>>>,
    pub median: Vec<Vec<Option<f64>>>,
}

pub fn profiles(cols: &[Vec<f64>], labels: &[u32], k: usize) -> Profiles {
    let mut size = vec![0usize; k];
    for &l in labels {
        size[l as usize] += 1;
    }
    // Row indices grouped by cluster, in row order within a cluster.
    let mut start = vec![0usize; k + 1];
    for j in 0..k {
        start[j + 1] = start[j] + size[j];
    }
    let mut next = start.clone();
    let mut members = vec![0u32; labels.len()];
    for (i, &l) in labels.iter().enumerate() {
        members[next[l as usize]] = i as u32;
        next[l as usize] += 1;
    }
    // One task per (feature, cluster): medians are the cost, and they are independent.
    let cells: Vec<(Option<f64>, Option<f64>)> = (0..cols.len() * k)
        .into_par_iter()
        .map(|cell| {
            let (col, j) = (&cols[cell / k], cell % k);
            let values: Vec<f64> = members[start[j]..start[j + 1]]
                .iter()
                .map(|&i| col[i as usize])
                .collect();
            let mean = chunked_sum(&values) / values.len() as f64;
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
fn median(mut v: Vec<f64>) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let (lower, &mut upper, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return Some(upper);
    }
    let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((below + upper) / 2.0)
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
        let cols = vec![
            vec![1.0, 2.0, 3.0, 4.0],
            vec![5.0; 4],
            vec![0.0, 1.0, 3.0, 7.0],
        ];
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let (t, z) = Transform::fit(&cols, &names, &[false, false, true], true).unwrap();
        assert!((t.mean[0] - 2.5).abs() < 1e-15 && (t.sd[0] - 1.25f64.sqrt()).abs() < 1e-15);
        assert_eq!(z[1], vec![0.0; 4]); // constant: centred, sd 1
        for (t_i, col) in cols.iter().enumerate() {
            for (x, zx) in col.iter().zip(&z[t_i]) {
                assert!((t.inverse(t_i, *zx) - x).abs() < 1e-12);
            }
        }
        let err = Transform::fit(&[vec![0.0, -1.0]], &names[..1], &[true], true);
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
        let p = profiles(&[col], &labels, 3);
        assert_eq!(p.size, vec![4, 2, 0]);
        assert_eq!(p.mean[0], vec![Some(2.5), Some(15.0), None]);
        assert_eq!(p.median[0], vec![Some(2.5), Some(15.0), None]);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
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
