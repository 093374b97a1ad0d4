//! Period masks: for each customer, the periods they bought in once or more, and twice or
//! more, as bits of two words (bit p = local period p). It is the lean per-customer state of
//! the period grids (`cohorts` retention, `repurchase` without orders or groups) when the
//! log spans at most 64 periods: one pass, one random OR per row, no scatter, no sort. The
//! state merges exactly (`once = a | b`, `twice = ta | tb | (a & b)`), so any split of the
//! rows over threads gives the same masks. Longer spans use the history instead.

use rayon::prelude::*;

use crate::ingest::{Amounts, Transactions};
use crate::partition;
use crate::pool;

pub const MAX_PERIODS: usize = 64;

pub struct PeriodMasks {
    /// Bit p: at least one purchase in period p (indexed by customer code).
    pub once: Vec<u64>,
    /// Bit p: at least two purchases in period p.
    pub twice: Vec<u64>,
    /// Purchase rows per period.
    pub purchases: Vec<u64>,
}

/// A customer's two masks in one word, `once` in the low half and `twice` in the high half,
/// so that a row costs one read-modify-write: u64 up to 32 periods, u128 up to 64.
trait Packed: Copy + Default + Send + Sync {
    const HALF: u32;
    fn bit(period: usize) -> Self;
    /// A purchase in the period(s) of `bit`.
    fn add(self, bit: Self) -> Self;
    /// Both customers' purchases.
    fn merge(self, other: Self) -> Self;
    fn halves(self) -> (u64, u64);
}

macro_rules! packed {
    ($t:ty, $half:expr) => {
        impl Packed for $t {
            const HALF: u32 = $half;
            #[inline(always)]
            fn bit(period: usize) -> Self {
                1 << period
            }
            #[inline(always)]
            fn add(self, bit: Self) -> Self {
                self | bit | ((self & bit) << Self::HALF)
            }
            fn merge(self, other: Self) -> Self {
                let low = (1 << Self::HALF) - 1;
                self | other | ((self & other & low) << Self::HALF)
            }
            fn halves(self) -> (u64, u64) {
                let low = (1 << Self::HALF) - 1;
                ((self & low) as u64, (self >> Self::HALF) as u64)
            }
        }
    };
}
packed!(u64, 32);
packed!(u128, 64);

const PIECE_ROWS: usize = 1 << 16;
const PREFETCH_ROWS: usize = 16;

/// The masks of a log whose customers have codes, with `period_of(day)` < `n_periods` ≤ 64.
pub fn period_masks(
    tx: &Transactions,
    n_periods: usize,
    period_of: impl Fn(i32) -> usize + Sync,
) -> PeriodMasks {
    let _p = crate::trace::phase("period masks");
    assert!(n_periods <= MAX_PERIODS);
    if n_periods <= 32 {
        masks::<u64>(tx, n_periods, period_of)
    } else {
        masks::<u128>(tx, n_periods, period_of)
    }
}

fn masks<W: Packed>(
    tx: &Transactions,
    n_periods: usize,
    period_of: impl Fn(i32) -> usize + Sync,
) -> PeriodMasks {
    let n = tx.customers.n_codes;
    let lens: Vec<usize> = (0..tx.days.len()).map(|c| tx.chunk_len(c)).collect();
    let pieces = partition::pieces(&lens, PIECE_ROWS);
    pool::install(|| {
        // One state per worker, each over a contiguous run of pieces.
        let workers = pool::num_threads().min(pieces.len()).max(1);
        let per_worker = pieces.len().div_ceil(workers).max(1);
        let states: Vec<(Vec<W>, Vec<u64>)> = pieces
            .par_chunks(per_worker)
            .map(|run| {
                let mut words = vec![W::default(); n];
                let mut purchases = vec![0u64; n_periods];
                let (mut day_buf, mut code_buf) = (Vec::new(), Vec::new());
                for p in run {
                    let days = tx.days[p.chunk].slice(p.start, p.end, &mut day_buf);
                    let codes = tx
                        .customers
                        .rows
                        .slice(p.chunk, p.start, p.end, &mut code_buf);
                    let mut add = |k: usize, amount: f64| {
                        // The words are read at random: ask for the one needed a few rows on.
                        if let Some(&ahead) = codes.get(k + PREFETCH_ROWS) {
                            partition::prefetch(&words[ahead as usize]);
                        }
                        if amount > 0.0 {
                            let period = period_of(days[k]);
                            let word = &mut words[codes[k] as usize];
                            *word = word.add(W::bit(period));
                            purchases[period] += 1;
                        }
                    };
                    match &tx.amounts[p.chunk] {
                        Amounts::F64(a) => a[p.start..p.end]
                            .iter()
                            .enumerate()
                            .for_each(|(k, &x)| add(k, x)),
                        Amounts::I64(a) => a[p.start..p.end]
                            .iter()
                            .enumerate()
                            .for_each(|(k, &x)| add(k, x as f64)),
                    }
                }
                (words, purchases)
            })
            .collect();
        let mut states = states.into_iter();
        let (mut words, mut purchases) = states
            .next()
            .unwrap_or_else(|| (vec![W::default(); n], vec![0; n_periods]));
        for (other, counts) in states {
            words
                .par_iter_mut()
                .zip(other)
                .for_each(|(w, o)| *w = w.merge(o));
            purchases.iter_mut().zip(counts).for_each(|(a, b)| *a += b);
        }
        let (once, twice) = words.par_iter().map(|w| w.halves()).unzip();
        PeriodMasks {
            once,
            twice,
            purchases,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{ingest, OnInvalid, Spec};
    use rand::{Rng, SeedableRng};

    fn masks_of(rows: &[(i64, i32, f64, i64)], n_periods: usize) -> PeriodMasks {
        let batch = crate::testing::log(rows);
        let spec = Spec {
            customer: "c".into(),
            date: "d".into(),
            amount: "a".into(),
            need_codes: true,
            ..Spec::default()
        };
        let tx = ingest(&batch.schema(), &[batch], &spec, OnInvalid::Raise).unwrap();
        period_masks(&tx, n_periods, |d| d as usize % n_periods)
    }

    #[test]
    fn masks_match_brute_force_for_both_word_sizes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for n_periods in [1, 7, 32, 33, 64] {
            let rows: Vec<(i64, i32, f64, i64)> = (0..200_000)
                .map(|_| {
                    let amount = rng.random_range(-5.0..100.0f64);
                    (
                        rng.random_range(0..3_000),
                        rng.random_range(0..400),
                        amount,
                        0,
                    )
                })
                .collect();
            let masks = masks_of(&rows, n_periods);
            let mut counts = vec![vec![0u32; n_periods]; 3_000];
            let mut purchases = vec![0u64; n_periods];
            for &(c, d, _, _) in rows.iter().filter(|r| r.2 > 0.0) {
                counts[c as usize][d as usize % n_periods] += 1;
                purchases[d as usize % n_periods] += 1;
            }
            let bits = |c: usize, at_least: u32| {
                (0..n_periods)
                    .filter(|&p| counts[c][p] >= at_least)
                    .fold(0u64, |m, p| m | 1 << p)
            };
            for c in 0..3_000 {
                assert_eq!(masks.once[c], bits(c, 1), "once, customer {c}");
                assert_eq!(masks.twice[c], bits(c, 2), "twice, customer {c}");
            }
            assert_eq!(masks.purchases, purchases);
        }
    }
}
