//! Lloyd's k-means from k-means++ seeds (scikit-learn's greedy variant) on columns of f64.
//!
//! Conventions follow scikit-learn's `KMeans(algorithm="lloyd")`, so results compare:
//! 2 + ln(k) candidate seeds per step, keeping the one that lowers the potential most; stop
//! when no label changes, or when the squared centre shift summed over clusters is at most
//! `tol` times the mean variance of the features; then a last assignment so that labels
//! match the centres; an empty cluster is re-seeded with the point farthest from its centre.

use std::cmp::Ordering;

use rayon::prelude::*;

use super::exact::{max_abs, mean_and_variance_within, Grid};
use super::seeding::{plus_plus, Keys};
use super::{rng::SplitMix64, with_dims, CHUNK, MAX_FEATURES};

/// Points per block of the assignment kernel.
const LANES: usize = 8;
use crate::error::{CrmError, Result};

pub struct Options {
    pub k: usize,
    pub max_iter: usize,
    /// Relative to the mean feature variance, as scikit-learn's `tol`.
    pub tol: f64,
    /// k-means++ runs; the one with the lowest inertia wins (ignored with explicit centres).
    pub n_init: usize,
    pub seed: u64,
}

pub struct Fit {
    /// k rows of d coordinates, in the space of the columns given.
    pub centres: Vec<Vec<f64>>,
    pub labels: Vec<u32>,
    /// Sum of squared distances of the points to their centres.
    pub inertia: f64,
    pub n_iter: usize,
    /// Stopped by the labels or the tolerance before `max_iter`.
    pub converged: bool,
}

/// Cluster the rows of `cols` (d columns of n values, all finite) from k-means++ seeds, or
/// from `init` (k rows of d) when given.
pub fn kmeans(cols: &[&[f64]], options: &Options, init: Option<&[Vec<f64>]>) -> Result<Fit> {
    let n = cols.first().map_or(0, |c| c.len());
    let d = cols.len();
    check(n, d, options, init)?;
    let largest: Vec<f64> = cols.iter().map(|c| max_abs(c)).collect();
    let tol = if options.tol > 0.0 {
        options.tol * mean_variance(cols, &largest)
    } else {
        0.0
    };
    let mut fit = with_dims!(cols, run(options, init, tol, &largest));
    for c in &mut fit.centres {
        c.truncate(d); // drop the zero padding of `with_dims`
    }
    Ok(fit)
}

fn check(n: usize, d: usize, options: &Options, init: Option<&[Vec<f64>]>) -> Result<()> {
    let bad = |msg: String| Err(CrmError::InvalidArgument(msg));
    let k = options.k;
    if d == 0 || d > MAX_FEATURES {
        return bad(format!(
            "k-means takes 1 to {MAX_FEATURES} feature columns, got {d}"
        ));
    }
    if k < 1 || k > n {
        return bad(format!(
            "k must be between 1 and the number of rows ({n}), got {k}"
        ));
    }
    if options.max_iter < 1 || options.n_init < 1 {
        return bad("max_iter and n_init must be at least 1".into());
    }
    if !(options.tol >= 0.0 && options.tol.is_finite()) {
        return bad(format!(
            "tol must be a finite number >= 0, got {}",
            options.tol
        ));
    }
    if let Some(init) = init {
        if init.len() != k || init.iter().any(|c| c.len() != d) {
            return bad(format!("init must have k = {k} rows of {d} values"));
        }
        if init.iter().flatten().any(|v| !v.is_finite()) {
            return bad("init holds a NaN or infinite value".into());
        }
    }
    Ok(())
}

/// Mean over features of the population variance (scikit-learn's scale for `tol`).
fn mean_variance(cols: &[&[f64]], largest: &[f64]) -> f64 {
    let variances = cols
        .iter()
        .zip(largest)
        .map(|(c, &m)| mean_and_variance_within(c, m).1);
    variances.sum::<f64>() / cols.len() as f64
}

fn run<const D: usize>(
    cols: [&[f64]; D],
    options: &Options,
    init: Option<&[Vec<f64>]>,
    tol: f64,
    largest: &[f64],
) -> Fit {
    let mut rng = SplitMix64::new(options.seed);
    let mut best: Option<Fit> = None;
    // Each feature's largest magnitude (0 for the zero padding of `with_dims`).
    let largest: [f64; D] = std::array::from_fn(|t| largest.get(t).copied().unwrap_or(0.0));
    let mut keys = None; // made for the first k-means++ run, kept for the others
    let runs = if init.is_some() { 1 } else { options.n_init };
    for _ in 0..runs {
        let seeds = match init {
            Some(rows) => rows
                .iter()
                .map(|r| std::array::from_fn(|t| r.get(t).copied().unwrap_or(0.0)))
                .collect(),
            None => {
                let keys = keys.get_or_insert_with(|| Keys::new(&cols));
                plus_plus(cols, keys, &largest, options.k, &mut rng)
            }
        };
        let fit = lloyd(cols, seeds, options.max_iter, tol, &largest);
        if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
            best = Some(fit);
        }
    }
    best.expect("at least one run")
}

pub(super) fn point<const D: usize>(cols: &[&[f64]; D], i: usize) -> [f64; D] {
    std::array::from_fn(|t| cols[t][i])
}

/// The columns of chunk `c`, each cut to the same length so the compiler drops bounds checks.
pub(super) fn chunk_of<'a, const D: usize>(
    cols: &[&'a [f64]; D],
    c: usize,
    len: usize,
) -> [&'a [f64]; D] {
    let start = c * CHUNK;
    cols.map(|col| &col[start..start + len])
}

#[inline(always)]
fn squared_distance<const D: usize>(xs: &[&[f64]; D], p: usize, c: &[f64; D]) -> f64 {
    let mut s = 0.0;
    for t in 0..D {
        let diff = xs[t][p] - c[t];
        s += diff * diff;
    }
    s
}

/// Squared distances of a chunk's points to `q`.
#[inline(always)]
fn distances<const D: usize>(xs: &[&[f64]; D], q: &[f64; D], out: &mut [f64]) {
    let xs = xs.map(|x| &x[..out.len()]);
    for (p, o) in out.iter_mut().enumerate() {
        *o = squared_distance(&xs, p, q);
    }
}

/// `distances` compiled for AVX2 when the CPU has it (same bits, see `nearest_fastest`).
pub(super) fn distances_fastest<const D: usize>(xs: &[&[f64]; D], q: &[f64; D], out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { distances_avx2(xs, q, out) };
    }
    distances(xs, q, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn distances_avx2<const D: usize>(xs: &[&[f64]; D], q: &[f64; D], out: &mut [f64]) {
    distances(xs, q, out)
}

/// One chunk's share of an assignment step, its sums on fixed-point grids (exact, so the
/// chunks add up to the same bits in any order).
struct Partial<const D: usize> {
    sums: Vec<[i64; D]>,
    counts: Vec<usize>,
    changed: usize,
    /// The chunk's squared distances to the nearest centres, summed.
    inertia: i128,
}

/// The grids of an assignment step: per feature for the members' sums (coarse enough for a
/// chunk's sum to fit an i64, which is what the hot loop adds), and for the squared distances.
struct Grids<const D: usize> {
    features: [Grid; D],
    distances: Grid,
}

/// Per feature a grid on which a chunk's sum fits an i64: 50 bits below the largest
/// magnitude, so a centre is off by at most 2^-49 of it.
fn feature_grids<const D: usize>(largest: &[f64; D]) -> [Grid; D] {
    largest.map(|m| Grid::for_sum(m, CHUNK))
}

impl<const D: usize> Grids<D> {
    /// From each feature's largest magnitude and the centres.
    fn new(largest: &[f64; D], centres: &[[f64; D]]) -> Self {
        // |x - c| is at most |x| + |c| in every feature, which bounds any squared distance.
        let reach = (0..D)
            .map(|t| {
                let far = centres.iter().fold(0.0f64, |m, c| m.max(c[t].abs()));
                (largest[t] + far).powi(2)
            })
            .sum();
        Grids {
            features: feature_grids(largest),
            distances: Grid::new(reach),
        }
    }
}

/// Assign every point to its nearest centre (first on ties), writing `labels`, and the
/// squared distances to `dist` when given (only an empty cluster needs them, so the usual
/// step saves the memory traffic); per chunk the members' sums, how many labels changed and
/// the chunk's inertia; and the inertia.
fn assign<const D: usize>(
    cols: &[&[f64]; D],
    centres: &[[f64; D]],
    largest: &[f64; D],
    labels: &mut [u32],
    dist: Option<&mut [f64]>,
) -> (Vec<Partial<D>>, f64) {
    let grids = Grids::new(largest, centres);
    let chunk = |c: usize, labels: &mut [u32], dist: &mut [f64]| {
        let xs = chunk_of(cols, c, labels.len());
        let changed = nearest_fastest(&xs, centres, labels, dist);
        let mut sums = vec![[0i64; D]; centres.len()];
        let mut counts = vec![0usize; centres.len()];
        let features = grids.features; // a copy in registers, not reloaded after each store
        for (p, &j) in labels.iter().enumerate() {
            counts[j as usize] += 1;
            let sum = &mut sums[j as usize];
            for t in 0..D {
                sum[t] += features[t].fix(xs[t][p]);
            }
        }
        let fix = |&d: &f64| i128::from(grids.distances.fix(d));
        Partial {
            sums,
            counts,
            changed,
            inertia: dist.iter().map(fix).sum(),
        }
    };
    let partials: Vec<Partial<D>> = match dist {
        Some(dist) => labels
            .par_chunks_mut(CHUNK)
            .zip(dist.par_chunks_mut(CHUNK))
            .enumerate()
            .map(|(c, (labels, dist))| chunk(c, labels, dist))
            .collect(),
        None => labels
            .par_chunks_mut(CHUNK)
            .enumerate()
            .map(|(c, labels)| {
                let mut dist = [0.0; CHUNK];
                chunk(c, labels, &mut dist[..labels.len()])
            })
            .collect(),
    };
    let inertia = grids
        .distances
        .value(partials.iter().map(|p| p.inertia).sum());
    (partials, inertia)
}

/// `nearest` compiled for AVX2 when the CPU has it (twice the lanes of the SSE2 baseline).
/// Same operations in the same order (no FMA), so the same bits either way.
fn nearest_fastest<const D: usize>(
    xs: &[&[f64]; D],
    centres: &[[f64; D]],
    labels: &mut [u32],
    dist: &mut [f64],
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { nearest_avx2(xs, centres, labels, dist) };
    }
    nearest(xs, centres, labels, dist)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn nearest_avx2<const D: usize>(
    xs: &[&[f64]; D],
    centres: &[[f64; D]],
    labels: &mut [u32],
    dist: &mut [f64],
) -> usize {
    nearest(xs, centres, labels, dist)
}

/// The kernel: centres in the outer loop and points in the inner one, so the inner loop
/// runs over contiguous columns without branches and vectorises.
#[inline(always)]
fn nearest<const D: usize>(
    xs: &[&[f64]; D],
    centres: &[[f64; D]],
    labels: &mut [u32],
    dist: &mut [f64],
) -> usize {
    let len = labels.len();
    let xs = xs.map(|x| &x[..len]); // equal, known lengths: no bounds checks below
                                    // Blocks of LANES points held in registers while every centre is tried (no re-reading of
                                    // the chunk per centre); the nearest is chosen with bit masks, not selects, which the
                                    // compiler would turn into unpredictable branches.
    let mut arg = [0u64; CHUNK];
    let arg = &mut arg[..len];
    let best = &mut dist[..len];
    let full = len / LANES * LANES;
    for base in (0..full).step_by(LANES) {
        let mut x = [[0.0; LANES]; D];
        for t in 0..D {
            x[t].copy_from_slice(&xs[t][base..base + LANES]);
        }
        let mut b = [f64::INFINITY; LANES];
        let mut a = [0u64; LANES];
        for (j, c) in centres.iter().enumerate() {
            let j = j as u64;
            let mut s = [0.0; LANES];
            for t in 0..D {
                for l in 0..LANES {
                    let diff = x[t][l] - c[t];
                    s[l] += diff * diff;
                }
            }
            for l in 0..LANES {
                let closer = u64::from(s[l] < b[l]).wrapping_neg(); // all ones or zero
                b[l] = f64::from_bits((b[l].to_bits() & !closer) | (s[l].to_bits() & closer));
                a[l] = (a[l] & !closer) | (j & closer);
            }
        }
        best[base..base + LANES].copy_from_slice(&b);
        arg[base..base + LANES].copy_from_slice(&a);
    }
    for p in full..len {
        best[p] = f64::INFINITY;
        for (j, c) in centres.iter().enumerate() {
            let s = squared_distance(&xs, p, c);
            if s < best[p] {
                best[p] = s;
                arg[p] = j as u64;
            }
        }
    }
    let mut changed = 0;
    for (label, &a) in labels.iter_mut().zip(arg.iter()) {
        changed += usize::from(u64::from(*label) != a);
        *label = a as u32;
    }
    changed
}

/// New centres: the members' means. An empty cluster takes the point farthest from its
/// centre (the next farthest for the next empty one), which leaves its old cluster; a
/// cluster left with no member keeps its centre.
fn update<const D: usize>(
    cols: &[&[f64]; D],
    partials: &[Partial<D>],
    largest: &[f64; D],
    old: &[[f64; D]],
    labels: &[u32],
    dist: &[f64],
) -> Vec<[f64; D]> {
    let k = old.len();
    let grids = feature_grids(largest); // as `assign` summed them
    let mut sums = vec![[0i128; D]; k];
    let mut counts = vec![0usize; k];
    for part in partials {
        for (j, (sum, count)) in part.sums.iter().zip(&part.counts).enumerate() {
            counts[j] += count;
            for (total, &v) in sums[j].iter_mut().zip(sum) {
                *total += i128::from(v);
            }
        }
    }
    let empty: Vec<usize> = (0..k).filter(|&j| counts[j] == 0).collect();
    let mut moved = Vec::with_capacity(empty.len());
    for (&j, p) in empty.iter().zip(farthest(cols, dist, empty.len())) {
        let x = point(cols, p);
        let from = labels[p] as usize;
        counts[from] -= 1;
        for t in 0..D {
            sums[from][t] -= i128::from(grids[t].fix(x[t]));
        }
        moved.push((j, x));
    }
    let mut centres: Vec<[f64; D]> = (0..k)
        .map(|j| match counts[j] {
            0 => old[j],
            m => std::array::from_fn(|t| grids[t].value(sums[j][t]) / m as f64),
        })
        .collect();
    for (j, x) in moved {
        centres[j] = x;
    }
    centres
}

/// The `m` points with the largest distances, largest first; ties by the points' values
/// (identical points are interchangeable), so the choice does not depend on the row order.
fn farthest<const D: usize>(cols: &[&[f64]; D], dist: &[f64], m: usize) -> Vec<usize> {
    let before = |a: usize, b: usize| {
        let by_value = || {
            let mut order = cols.iter().map(|c| c[a].total_cmp(&c[b]));
            order.find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
        };
        dist[b].total_cmp(&dist[a]).then_with(by_value) == Ordering::Less
    };
    let mut top: Vec<usize> = Vec::with_capacity(m + 1);
    for i in 0..dist.len() {
        if top.len() == m && top.last().is_none_or(|&last| !before(i, last)) {
            continue;
        }
        let at = top.partition_point(|&o| !before(i, o));
        top.insert(at, i);
        top.truncate(m);
    }
    top
}

fn lloyd<const D: usize>(
    cols: [&[f64]; D],
    mut centres: Vec<[f64; D]>,
    max_iter: usize,
    tol: f64,
    largest: &[f64; D],
) -> Fit {
    let n = cols[0].len();
    let mut labels = vec![u32::MAX; n];
    let (mut n_iter, mut converged, mut settled) = (0, false, false);
    let mut inertia = 0.0;
    for iteration in 1..=max_iter {
        n_iter = iteration;
        let partials;
        (partials, inertia) = assign(&cols, &centres, largest, &mut labels, None);
        let any_empty = (0..centres.len()).any(|j| partials.iter().all(|p| p.counts[j] == 0));
        let new = if any_empty {
            // The same centres again give the same labels, now with their distances.
            let mut dist = vec![0.0; n];
            assign(&cols, &centres, largest, &mut labels, Some(&mut dist));
            update(&cols, &partials, largest, &centres, &labels, &dist)
        } else {
            update(&cols, &partials, largest, &centres, &labels, &[])
        };
        let shift: f64 = new
            .iter()
            .zip(&centres)
            .map(|(a, b)| (0..D).map(|t| (a[t] - b[t]) * (a[t] - b[t])).sum::<f64>())
            .sum();
        centres = new;
        let changed: usize = partials.iter().map(|p| p.changed).sum();
        if changed == 0 || shift <= tol {
            converged = true;
            settled = changed == 0 && shift == 0.0;
            break;
        }
    }
    if !settled {
        // labels of the final centres
        (_, inertia) = assign(&cols, &centres, largest, &mut labels, None);
    }
    Fit {
        centres: centres.iter().map(|c| c.to_vec()).collect(),
        labels,
        inertia,
        n_iter,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn options(k: usize, seed: u64) -> Options {
        Options {
            k,
            max_iter: 300,
            tol: 0.0,
            n_init: 1,
            seed,
        }
    }

    fn blobs(n: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let centres = [[0.0, 0.0, 0.0], [10.0, 0.0, 5.0], [0.0, 10.0, -5.0]];
        let mut cols = vec![Vec::new(); 3];
        for i in 0..n {
            let c = centres[i % 3];
            for t in 0..3 {
                cols[t].push(c[t] + rng.random::<f64>() - 0.5);
            }
        }
        cols
    }

    fn refs(cols: &[Vec<f64>]) -> Vec<&[f64]> {
        cols.iter().map(Vec::as_slice).collect()
    }

    /// Plain Lloyd, one point at a time.
    fn reference(cols: &[Vec<f64>], mut centres: Vec<Vec<f64>>, iterations: usize) -> Vec<u32> {
        let (n, d) = (cols[0].len(), cols.len());
        let mut labels = vec![0u32; n];
        for _ in 0..iterations {
            for i in 0..n {
                let dists = centres
                    .iter()
                    .map(|c| (0..d).map(|t| (cols[t][i] - c[t]).powi(2)).sum::<f64>());
                let (mut best, mut arg) = (f64::INFINITY, 0);
                for (j, s) in dists.enumerate() {
                    if s < best {
                        (best, arg) = (s, j as u32);
                    }
                }
                labels[i] = arg;
            }
            for (j, c) in centres.iter_mut().enumerate() {
                let members: Vec<usize> = (0..n).filter(|&i| labels[i] == j as u32).collect();
                for t in 0..d {
                    c[t] = members.iter().map(|&i| cols[t][i]).sum::<f64>() / members.len() as f64;
                }
            }
        }
        labels
    }

    #[test]
    fn finds_separated_blobs_and_matches_plain_lloyd() {
        let cols = blobs(30_000, 1);
        let fit = kmeans(&refs(&cols), &options(3, 0), None).unwrap();
        assert!(fit.converged);
        for j in 0..3u32 {
            let members: Vec<usize> = (0..30_000).filter(|&i| fit.labels[i] == j).collect();
            assert_eq!(members.len(), 10_000);
            assert!(members.iter().all(|&i| i % 3 == members[0] % 3));
        }
        assert!((fit.inertia / 30_000.0 - 0.25).abs() < 0.01); // 3 uniform(-0.5, 0.5): 3/12
        let init = vec![
            vec![1.0, 1.0, 1.0],
            vec![2.0, 2.0, 2.0],
            vec![3.0, 3.0, 0.0],
        ];
        let fit = kmeans(
            &refs(&cols),
            &Options {
                max_iter: 5,
                ..options(3, 0)
            },
            Some(&init),
        )
        .unwrap();
        assert_eq!(fit.labels, reference(&cols, init, fit.n_iter));
    }

    #[test]
    fn deterministic_per_seed_and_every_dimension_works() {
        for d in [1, 2, 5, 8, 9, 20] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(d as u64);
            let cols: Vec<Vec<f64>> = (0..d)
                .map(|_| (0..5000).map(|_| rng.random()).collect())
                .collect();
            let a = kmeans(&refs(&cols), &options(4, 7), None).unwrap();
            let b = kmeans(&refs(&cols), &options(4, 7), None).unwrap();
            assert_eq!(a.labels, b.labels);
            assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
            assert_eq!(a.centres.len(), 4);
            assert!(a.centres.iter().all(|c| c.len() == d));
            if d > 2 {
                // In few dimensions different seeds can end in the same optimum.
                let c = kmeans(&refs(&cols), &options(4, 8), None).unwrap();
                assert_ne!(a.inertia.to_bits(), c.inertia.to_bits());
            }
        }
    }

    #[test]
    fn more_clusters_than_distinct_points() {
        let cols = vec![vec![0.0, 0.0, 1.0, 1.0, 5.0]];
        let fit = kmeans(&refs(&cols), &options(5, 0), None).unwrap();
        assert_eq!(fit.inertia, 0.0);
        assert_eq!(fit.labels[0], fit.labels[1]);
        assert_eq!(fit.labels[2], fit.labels[3]);
        let one = kmeans(&refs(&cols), &options(1, 0), None).unwrap();
        assert_eq!(one.labels, vec![0; 5]);
        assert!((one.centres[0][0] - 1.4).abs() < 1e-15);
    }

    #[test]
    fn empty_cluster_takes_the_farthest_point() {
        let cols = vec![vec![0.0, 1.0, 2.0, 10.0]];
        let init = vec![vec![1.0], vec![100.0]];
        let fit = kmeans(&refs(&cols), &options(2, 0), Some(&init)).unwrap();
        assert_eq!(fit.labels, vec![0, 0, 0, 1]);
        assert_eq!(fit.centres, vec![vec![1.0], vec![10.0]]);
    }

    #[test]
    fn bad_arguments() {
        let cols = vec![vec![0.0, 1.0]];
        for k in [0, 3] {
            assert!(matches!(
                kmeans(&refs(&cols), &options(k, 0), None),
                Err(CrmError::InvalidArgument(_))
            ));
        }
        let init = vec![vec![0.0, 1.0]];
        assert!(kmeans(&refs(&cols), &options(1, 0), Some(&init)).is_err());
    }

    #[test]
    fn farthest_points_largest_first_lowest_value_on_ties() {
        let x = [5.0, 9.0, 4.0, 0.0];
        let dist = [1.0, 3.0, 3.0, 2.0];
        assert_eq!(farthest(&[&x[..]], &dist, 2), vec![2, 1]);
        assert_eq!(farthest(&[&x[..]], &dist, 3), vec![2, 1, 3]);
        assert!(farthest(&[&x[..]], &dist[..1], 0).is_empty());
    }
}
