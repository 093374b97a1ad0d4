//! Sums that do not depend on the order of their terms, so that no result depends on the
//! row order or on how the rows are split among threads: each term is truncated onto a
//! fixed-point grid (a power-of-two scale fitted to a bound on the terms) and the integers
//! are added exactly, in any grouping.
//!
//! With 62 bits below the bound, a term loses at most bound * 2^-62; a mean of such terms is
//! then as accurate as its own rounding unless it is some 2^-9 of the bound or less.

use rayon::prelude::*;

use super::CHUNK;

/// A power-of-two scale mapping terms of magnitude at most a bound onto integers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    scale: f64,
}

impl Grid {
    /// Terms of magnitude at most `bound` become integers below 2^62 in magnitude (so that a
    /// term a rounding above the bound still fits an i64).
    pub fn new(bound: f64) -> Grid {
        Grid::with_bits(bound, 62)
    }

    /// Terms of magnitude at most `bound` become integers whose sum over `count` terms stays
    /// below 2^62: such sums fit an i64 (or a u64 for non-negative terms).
    pub fn for_sum(bound: f64, count: usize) -> Grid {
        let spare = count.max(1).next_power_of_two().trailing_zeros() as i32;
        Grid::with_bits(bound, 62 - spare)
    }

    /// The scale 2^(bits - e) with bound < 2^e (1 for a zero or non-finite bound).
    fn with_bits(bound: f64, bits: i32) -> Grid {
        if !(bound > 0.0 && bound.is_finite()) {
            return Grid { scale: 1.0 };
        }
        let biased = ((bound.to_bits() >> 52) & 0x7FF) as i32; // 0 for a subnormal bound
        let e = biased.max(1) - 1023 + 1; // bound < 2^e
        let power = (bits - e).clamp(-1022, 1023);
        Grid {
            scale: f64::from_bits(((power + 1023) as u64) << 52),
        }
    }

    /// The term on the grid, truncated toward zero.
    #[inline(always)]
    pub fn fix(self, x: f64) -> i64 {
        let scaled = x * self.scale;
        // One instruction on x86_64, where `as` adds the checks for NaN and overflow that
        // a term within the bound never needs (out of range would give i64::MIN, not UB).
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE2 is part of every x86_64 CPU.
        return unsafe {
            use std::arch::x86_64::{_mm_cvttsd_si64, _mm_set_sd};
            _mm_cvttsd_si64(_mm_set_sd(scaled))
        };
        #[cfg(not(target_arch = "x86_64"))]
        return scaled as i64;
    }

    /// For a term whose grid value lies in [0, 2^52): the nearest integer, found by adding
    /// 2^52 (whose ulp is 1) and reading the bits, which vectorises where a float-to-int
    /// conversion does not.
    #[inline(always)]
    pub fn round_small(self, x: f64) -> u64 {
        const TWO_52: f64 = 4_503_599_627_370_496.0;
        (x * self.scale + TWO_52).to_bits() - TWO_52.to_bits()
    }

    /// A sum of grid integers back as a number (rounded once).
    pub fn value(self, total: i128) -> f64 {
        total as f64 / self.scale
    }
}

/// Largest magnitude of the values (0 for none).
pub fn max_abs(values: &[f64]) -> f64 {
    values
        .par_chunks(CHUNK)
        .map(|c| c.iter().fold(0.0f64, |m, x| m.max(x.abs())))
        .reduce(|| 0.0, f64::max)
}

/// Sum of `f(value)` for terms of magnitude at most `bound`: the same bits whatever the order
/// of `values` and the number of threads.
pub fn sum_by(values: &[f64], bound: f64, f: impl Fn(f64) -> f64 + Sync) -> f64 {
    let grid = Grid::new(bound);
    let total: i128 = values
        .par_chunks(CHUNK)
        .map(|c| c.iter().map(|&x| i128::from(grid.fix(f(x)))).sum::<i128>())
        .sum();
    grid.value(total)
}

/// Order-free sum of the values.
pub fn sum(values: &[f64]) -> f64 {
    sum_by(values, max_abs(values), |x| x)
}

/// Mean and population variance, both order-free (0 and 0 for no values).
pub fn mean_and_variance(values: &[f64]) -> (f64, f64) {
    mean_and_variance_within(values, max_abs(values))
}

/// `mean_and_variance` of values of magnitude at most `largest`.
pub fn mean_and_variance_within(values: &[f64], largest: f64) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = sum_by(values, largest, |x| x) / n;
    let spread = largest + mean.abs();
    let variance = sum_by(values, spread * spread, |x| (x - mean) * (x - mean)) / n;
    (mean, variance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::rng::SplitMix64;

    #[test]
    fn grid_keeps_62_bits_below_the_bound() {
        for bound in [1.0, 0.75, 3.0, 1e-280, 1e300, f64::MAX] {
            let grid = Grid::new(bound);
            let top = grid.fix(bound);
            assert!(top < 1 << 62 && top >= 1 << 60, "{bound}: {top}");
            assert_eq!(grid.fix(-bound), -top);
        }
        assert_eq!(Grid::new(0.0).fix(0.0), 0);
        assert_eq!(Grid::new(1.0).value(1 << 60), 0.5);
        let grid = Grid::for_sum(1.0, 1000); // 1000 terms: 10 spare bits
        assert!(grid.fix(1.0) * 1000 < 1 << 62);
        let grid = Grid::for_sum(1.0, 1 << 20);
        assert_eq!(grid.round_small(1.0), 1 << 41);
        assert_eq!(grid.round_small(0.0), 0);
        assert_eq!(grid.round_small(2.5 / (1u64 << 41) as f64), 2); // ties to even
        assert_eq!(grid.round_small(3.5 / (1u64 << 41) as f64), 4);
    }

    #[test]
    fn sums_do_not_depend_on_the_order() {
        let mut rng = SplitMix64::new(3);
        let mut v: Vec<f64> = (0..50_000)
            .map(|i| (rng.next_f64() - 0.3) * 10f64.powi(i % 7 - 3))
            .collect();
        let (s, (m, var)) = (sum(&v), mean_and_variance(&v));
        let plain: f64 = v.iter().sum();
        assert!((s - plain).abs() <= 1e-12 * plain.abs());
        v.reverse();
        v.rotate_left(12_345);
        assert_eq!(sum(&v).to_bits(), s.to_bits());
        assert_eq!(mean_and_variance(&v), (m, var));
        let mean = plain / v.len() as f64;
        let direct = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!((var - direct).abs() <= 1e-12 * direct);
        assert_eq!(mean_and_variance(&[]), (0.0, 0.0));
        assert_eq!(sum(&[0.1, 0.2, 0.3]), 0.6); // the exact sum rounded once (plain f64 adds give 0.6000000000000001)
    }
}
