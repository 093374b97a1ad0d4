//! The mean silhouette width (exact, O(n²)) and the scan over k that `choose_k` reports.

use rayon::prelude::*;

use super::exact::sum_by;
use super::kmeans::{kmeans, Options};
use super::with_dims;
use crate::error::{CrmError, Result};

/// Mean over points of s = (b - a) / max(a, b), with a the mean Euclidean distance to the
/// other members of the point's cluster and b the lowest mean distance to another non-empty
/// cluster; s = 0 for a point alone in its cluster (scikit-learn's convention). None with
/// fewer than two non-empty clusters.
pub fn silhouette(cols: &[&[f64]], labels: &[u32], k: usize) -> Option<f64> {
    let n = labels.len();
    let mut size = vec![0usize; k];
    for &l in labels {
        size[l as usize] += 1;
    }
    if size.iter().filter(|&&s| s > 0).count() < 2 {
        return None;
    }
    // Points grouped by cluster, so each cluster's distance sum runs over contiguous memory.
    let mut ranges = Vec::with_capacity(k);
    let mut start = 0;
    for &s in &size {
        ranges.push((start, start + s));
        start += s;
    }
    let mut next: Vec<usize> = ranges.iter().map(|r| r.0).collect();
    let mut order = vec![0usize; n];
    for (i, &l) in labels.iter().enumerate() {
        order[next[l as usize]] = i;
        next[l as usize] += 1;
    }
    let grouped: Vec<Vec<f64>> = cols
        .iter()
        .map(|c| order.iter().map(|&i| c[i]).collect())
        .collect();
    let grouped: Vec<&[f64]> = grouped.iter().map(Vec::as_slice).collect();
    let widths = with_dims!(&grouped, widths(&ranges));
    Some(sum_by(&widths, 1.0, |w| w) / n as f64) // widths lie in [-1, 1]
}

fn widths<const D: usize>(xs: [&[f64]; D], ranges: &[(usize, usize)]) -> Vec<f64> {
    let n = xs[0].len();
    let mut owner = vec![0usize; n];
    for (j, &(s, e)) in ranges.iter().enumerate() {
        owner[s..e].fill(j);
    }
    (0..n)
        .into_par_iter()
        .map(|i| {
            let x: [f64; D] = std::array::from_fn(|t| xs[t][i]);
            let own = owner[i];
            let (s, e) = ranges[own];
            if e - s == 1 {
                return 0.0;
            }
            let mut a = 0.0;
            let mut b = f64::INFINITY;
            for (j, &(s, e)) in ranges.iter().enumerate() {
                if s == e {
                    continue;
                }
                let total = distance_sum(&xs, &x, s, e);
                if j == own {
                    a = total / (e - s - 1) as f64; // the point itself adds 0
                } else {
                    b = b.min(total / (e - s) as f64);
                }
            }
            let scale = a.max(b);
            if scale > 0.0 {
                (b - a) / scale
            } else {
                0.0
            }
        })
        .collect()
}

/// Sum of Euclidean distances from `x` to the points s..e, in eight lanes so it vectorises.
fn distance_sum<const D: usize>(xs: &[&[f64]; D], x: &[f64; D], s: usize, e: usize) -> f64 {
    let len = e - s;
    let xs = xs.map(|c| &c[s..e]);
    let distance = |p: usize| {
        let mut q = 0.0;
        for t in 0..D {
            let diff = xs[t][p] - x[t];
            q += diff * diff;
        }
        q.sqrt()
    };
    let mut lanes = [0.0; 8];
    let full = len / 8 * 8;
    for base in (0..full).step_by(8) {
        for (l, lane) in lanes.iter_mut().enumerate() {
            *lane += distance(base + l);
        }
    }
    let tail: f64 = (full..len).map(distance).sum();
    lanes.iter().sum::<f64>() + tail
}

/// One row of `choose_k`.
pub struct Score {
    pub k: usize,
    pub inertia: f64,
    pub silhouette: Option<f64>,
}

/// k-means for each k on the same rows, with its inertia and silhouette.
pub fn scan_k(cols: &[&[f64]], ks: &[usize], options: &Options) -> Result<Vec<Score>> {
    let n = cols.first().map_or(0, |c| c.len());
    if let Some(&k) = ks.iter().find(|&&k| k < 1 || k > n) {
        return Err(CrmError::InvalidArgument(format!(
            "every k must be between 1 and the number of rows sampled ({n}), got {k}"
        )));
    }
    ks.iter()
        .map(|&k| {
            let fit = kmeans(cols, &Options { k, ..*options }, None)?;
            Ok(Score {
                k,
                inertia: fit.inertia,
                silhouette: silhouette(cols, &fit.labels, k),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(points: &[Vec<f64>], labels: &[u32]) -> f64 {
        let dist = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let n = points.len();
        let mut total = 0.0;
        for i in 0..n {
            let mean_to = |l: u32, skip: bool| {
                let js: Vec<usize> = (0..n)
                    .filter(|&j| labels[j] == l && !(skip && j == i))
                    .collect();
                js.iter()
                    .map(|&j| dist(&points[i], &points[j]))
                    .sum::<f64>()
                    / js.len() as f64
            };
            let own_size = labels.iter().filter(|&&l| l == labels[i]).count();
            if own_size == 1 {
                continue;
            }
            let a = mean_to(labels[i], true);
            let mut others: Vec<u32> = labels.iter().copied().filter(|&l| l != labels[i]).collect();
            others.dedup();
            let b = others
                .iter()
                .map(|&l| mean_to(l, false))
                .fold(f64::INFINITY, f64::min);
            total += (b - a) / a.max(b);
        }
        total / n as f64
    }

    #[test]
    fn matches_brute_force() {
        let points: Vec<Vec<f64>> = (0..57)
            .map(|i| vec![(i * 7 % 13) as f64, (i * i % 11) as f64 * 0.5])
            .collect();
        let labels: Vec<u32> = (0..57).map(|i| (i * 5 % 4) as u32).collect();
        let cols: Vec<Vec<f64>> = (0..2)
            .map(|t| points.iter().map(|p| p[t]).collect())
            .collect();
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let s = silhouette(&refs, &labels, 5).unwrap(); // cluster 4 is empty
        assert!((s - brute(&points, &labels)).abs() < 1e-12);
        assert_eq!(silhouette(&refs, &vec![0; 57], 2), None);
    }

    #[test]
    fn scan_reports_every_k() {
        let cols = vec![vec![0.0, 0.1, 5.0, 5.1, 9.0, 9.2]];
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let options = Options {
            k: 0,
            max_iter: 100,
            tol: 0.0,
            n_init: 1,
            seed: 0,
        };
        let scores = scan_k(&refs, &[1, 2, 3], &options).unwrap();
        assert_eq!(
            scores.iter().map(|s| s.k).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(scores[0].silhouette.is_none() && scores[2].silhouette.unwrap() > 0.9);
        assert!(scores[2].inertia < scores[1].inertia);
        assert!(scan_k(&refs, &[7], &options).is_err());
    }
}
