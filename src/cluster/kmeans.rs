//! Lloyd's k-means from k-means++ seeds (scikit-learn's greedy variant) on columns of f64.
//!
//! Conventions follow scikit-learn's `KMeans(algorithm="lloyd")`, so results compare:
//! 2 + ln(k) candidate seeds per step, keeping the one that lowers the potential most; stop
//! when no label changes, or when the squared centre shift summed over clusters is at most
//! `tol` times the mean variance of the features; then a last assignment so that labels
//! match the centres; an empty cluster is re-seeded with the point farthest from its centre.

use rayon::prelude::*;

use super::{
    chunked_sum, chunked_sum_by, lane_sum, rng::SplitMix64, with_dims, CHUNK, MAX_FEATURES,
};

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
    let tol = options.tol * mean_variance(cols);
    let mut fit = with_dims!(cols, run(options, init, tol));
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
fn mean_variance(cols: &[&[f64]]) -> f64 {
    let variances = cols.iter().map(|c| {
        let n = c.len() as f64;
        let mean = chunked_sum(c) / n;
        chunked_sum_by(c, |x| (x - mean) * (x - mean)) / n
    });
    variances.sum::<f64>() / cols.len() as f64
}

fn run<const D: usize>(
    cols: [&[f64]; D],
    options: &Options,
    init: Option<&[Vec<f64>]>,
    tol: f64,
) -> Fit {
    let mut rng = SplitMix64::new(options.seed);
    let mut best: Option<Fit> = None;
    let runs = if init.is_some() { 1 } else { options.n_init };
    for _ in 0..runs {
        let seeds = match init {
            Some(rows) => rows
                .iter()
                .map(|r| std::array::from_fn(|t| r.get(t).copied().unwrap_or(0.0)))
                .collect(),
            None => plus_plus(cols, options.k, &mut rng),
        };
        let fit = lloyd(cols, seeds, options.max_iter, tol);
        if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
            best = Some(fit);
        }
    }
    best.expect("at least one run")
}

fn point<const D: usize>(cols: &[&[f64]; D], i: usize) -> [f64; D] {
    std::array::from_fn(|t| cols[t][i])
}

/// The columns of chunk `c`, each cut to the same length so the compiler drops bounds checks.
fn chunk_of<'a, const D: usize>(cols: &[&'a [f64]; D], c: usize, len: usize) -> [&'a [f64]; D] {
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

/// k-means++ seeds: the first point uniformly, then each next centre the best (lowest
/// potential) of 2 + ln(k) points drawn with probability proportional to the squared
/// distance to the nearest centre so far.
fn plus_plus<const D: usize>(cols: [&[f64]; D], k: usize, rng: &mut SplitMix64) -> Vec<[f64; D]> {
    let n = cols[0].len();
    let trials = 2 + (k as f64).ln() as usize;
    let mut centres = vec![point(&cols, rng.below(n))];
    let mut closest = vec![f64::INFINITY; n];
    let mut totals = move_closer(&cols, &centres[0], &mut closest);
    for _ in 1..k {
        let potential: f64 = totals.iter().sum();
        let candidates: Vec<[f64; D]> = (0..trials)
            .map(|_| point(&cols, draw(&closest, &totals, rng.next_f64() * potential)))
            .collect();
        let per_chunk: Vec<Vec<f64>> = closest
            .par_chunks(CHUNK)
            .enumerate()
            .map(|(c, near)| {
                let xs = chunk_of(&cols, c, near.len());
                let mut kept = vec![0.0; near.len()];
                candidates
                    .iter()
                    .map(|q| {
                        distances_fastest(&xs, q, &mut kept);
                        for (k, &v) in kept.iter_mut().zip(near) {
                            *k = k.min(v);
                        }
                        lane_sum(&kept)
                    })
                    .collect()
            })
            .collect();
        let potentials: Vec<f64> = (0..trials)
            .map(|l| per_chunk.iter().map(|v| v[l]).sum())
            .collect();
        let chosen = (0..trials).fold(0, |b, l| if potentials[l] < potentials[b] { l } else { b });
        centres.push(candidates[chosen]);
        totals = move_closer(&cols, &candidates[chosen], &mut closest);
    }
    centres
}

/// Lower each point's squared distance to its nearest centre with centre `q`; the chunks' totals.
fn move_closer<const D: usize>(cols: &[&[f64]; D], q: &[f64; D], closest: &mut [f64]) -> Vec<f64> {
    closest
        .par_chunks_mut(CHUNK)
        .enumerate()
        .map(|(c, near)| {
            let xs = chunk_of(cols, c, near.len());
            let mut to_q = vec![0.0; near.len()];
            distances_fastest(&xs, q, &mut to_q);
            for (v, &d) in near.iter_mut().zip(&to_q) {
                *v = v.min(d);
            }
            lane_sum(near)
        })
        .collect()
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
fn distances_fastest<const D: usize>(xs: &[&[f64]; D], q: &[f64; D], out: &mut [f64]) {
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

/// The first point where the running sum of `weights` reaches `r` (numpy's searchsorted on
/// the cumulative sum), found chunk by chunk from the chunks' totals.
fn draw(weights: &[f64], totals: &[f64], r: f64) -> usize {
    let mut acc = 0.0;
    for (c, &total) in totals.iter().enumerate() {
        if acc + total >= r || c + 1 == totals.len() {
            let start = c * CHUNK;
            let chunk = &weights[start..(start + CHUNK).min(weights.len())];
            for (p, &w) in chunk.iter().enumerate() {
                acc += w;
                if acc >= r {
                    return start + p;
                }
            }
            return start + chunk.len() - 1; // rounding left r just above the sum
        }
        acc += total;
    }
    unreachable!("there is at least one chunk")
}

/// One chunk's share of an assignment step.
struct Partial<const D: usize> {
    sums: Vec<[f64; D]>,
    counts: Vec<usize>,
    changed: usize,
    /// The chunk's sum of squared distances (`lane_sum` of them, as `chunked_sum` would).
    inertia: f64,
}

/// Assign every point to its nearest centre (first on ties), writing `labels`, and the
/// squared distances to `dist` when given (only an empty cluster needs them, so the usual
/// step saves the memory traffic); per chunk the members' sums, how many labels changed and
/// the chunk's inertia.
fn assign<const D: usize>(
    cols: &[&[f64]; D],
    centres: &[[f64; D]],
    labels: &mut [u32],
    dist: Option<&mut [f64]>,
) -> Vec<Partial<D>> {
    let chunk = |c: usize, labels: &mut [u32], dist: &mut [f64]| {
        let xs = chunk_of(cols, c, labels.len());
        let changed = nearest_fastest(&xs, centres, labels, dist);
        let mut sums = vec![[0.0; D]; centres.len()];
        let mut counts = vec![0usize; centres.len()];
        for (p, &j) in labels.iter().enumerate() {
            counts[j as usize] += 1;
            for t in 0..D {
                sums[j as usize][t] += xs[t][p];
            }
        }
        Partial {
            sums,
            counts,
            changed,
            inertia: lane_sum(dist),
        }
    };
    match dist {
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
    }
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
        let x: [[f64; LANES]; D] =
            std::array::from_fn(|t| std::array::from_fn(|l| xs[t][base + l]));
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

/// New centres: the members' means, combining the chunks in order. An empty cluster takes
/// the point farthest from its centre (the next farthest for the next empty one), which
/// leaves its old cluster; a cluster left with no member keeps its centre.
fn update<const D: usize>(
    cols: &[&[f64]; D],
    partials: &[Partial<D>],
    old: &[[f64; D]],
    labels: &[u32],
    dist: &[f64],
) -> Vec<[f64; D]> {
    let k = old.len();
    let mut sums = vec![[0.0; D]; k];
    let mut counts = vec![0usize; k];
    for part in partials {
        for (j, (sum, count)) in part.sums.iter().zip(&part.counts).enumerate() {
            counts[j] += count;
            for (total, v) in sums[j].iter_mut().zip(sum) {
                *total += v;
            }
        }
    }
    let empty: Vec<usize> = (0..k).filter(|&j| counts[j] == 0).collect();
    for (&j, p) in empty.iter().zip(farthest(dist, empty.len())) {
        let x = point(cols, p);
        let from = labels[p] as usize;
        counts[from] -= 1;
        for t in 0..D {
            sums[from][t] -= x[t];
        }
        sums[j] = x;
        counts[j] = 1;
    }
    (0..k)
        .map(|j| match counts[j] {
            0 => old[j],
            m => sums[j].map(|s| s / m as f64),
        })
        .collect()
}

/// The `m` points with the largest distances, largest first (lowest row on ties).
fn farthest(dist: &[f64], m: usize) -> Vec<usize> {
    let mut top: Vec<usize> = Vec::with_capacity(m + 1);
    for (i, &d) in dist.iter().enumerate() {
        if top.len() == m && top.last().is_none_or(|&last| dist[last] >= d) {
            continue;
        }
        let at = top.partition_point(|&o| dist[o] >= d);
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
) -> Fit {
    let n = cols[0].len();
    let mut labels = vec![u32::MAX; n];
    let (mut n_iter, mut converged, mut settled) = (0, false, false);
    let mut partials = Vec::new();
    for iteration in 1..=max_iter {
        n_iter = iteration;
        partials = assign(&cols, &centres, &mut labels, None);
        let any_empty = (0..centres.len()).any(|j| partials.iter().all(|p| p.counts[j] == 0));
        let new = if any_empty {
            // The same centres again give the same labels, now with their distances.
            let mut dist = vec![0.0; n];
            assign(&cols, &centres, &mut labels, Some(&mut dist));
            update(&cols, &partials, &centres, &labels, &dist)
        } else {
            update(&cols, &partials, &centres, &labels, &[])
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
        partials = assign(&cols, &centres, &mut labels, None); // labels of the final centres
    }
    Fit {
        centres: centres.iter().map(|c| c.to_vec()).collect(),
        labels,
        inertia: partials.iter().map(|p| p.inertia).sum(),
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
    fn farthest_points_largest_first_lowest_row_on_ties() {
        assert_eq!(farthest(&[1.0, 3.0, 3.0, 2.0], 2), vec![1, 2]);
        assert_eq!(farthest(&[1.0, 3.0, 3.0, 2.0], 3), vec![1, 2, 3]);
        assert!(farthest(&[1.0], 0).is_empty());
    }

    #[test]
    fn draw_follows_the_cumulative_sum() {
        let w: Vec<f64> = (0..10_000).map(|i| (i % 3) as f64).collect();
        let totals: Vec<f64> = w.chunks(CHUNK).map(lane_sum).collect();
        assert_eq!(draw(&w, &totals, 0.5), 1);
        assert_eq!(draw(&w, &totals, 3.0), 2);
        assert_eq!(draw(&w, &totals, 3.5), 4);
        assert_eq!(draw(&w, &totals, 1e12), 9_999);
    }
}
