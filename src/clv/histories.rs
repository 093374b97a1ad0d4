//! The summary as a fit evaluates it, many times over: identical histories (x, t_x, T) merged
//! into one row with their total weight, and x and the ages replaced by indices into tables of
//! their distinct values. A model then computes what depends on x alone (ln Γ(r+x)...) or on
//! one age alone (ln(α+t)...) once per distinct value and evaluation, and a row costs look-ups
//! plus the few terms that depend on the whole history. Built once per fit, in one thread: the
//! same rows in the same order whatever the number of threads.

use hashbrown::HashMap;
use rayon::prelude::*;

use super::Customers;

/// Table entries per parallel task: a few microseconds of special functions.
const VALUES_PER_TASK: usize = 64;

pub struct Histories {
    /// The distinct repeat purchase counts x, ascending.
    pub counts: Vec<f64>,
    /// The total weight of the rows with each count.
    pub count_weights: Vec<f64>,
    /// The distinct ages, t_x and T together, ascending.
    pub ages: Vec<f64>,
    /// The distinct histories with weight, sorted by (x, T, t_x) (or, with more distinct
    /// values than a 64-bit key holds, each customer as it comes).
    pub rows: Vec<History>,
}

/// One distinct history: indices into `counts` and `ages`, and how many customers it stands
/// for (their total weight).
#[derive(Clone, Copy)]
pub struct History {
    pub x: u32,
    pub t_x: u32,
    pub t: u32,
    pub weight: f64,
}

impl Histories {
    /// The customers of positive weight, merged. The values are not checked: invalid ones
    /// make the likelihood NaN, as they would customer by customer.
    pub fn new(data: &Customers) -> Histories {
        let n = data.frequency.len();
        let (mut count_codes, mut age_codes) = (Coder::default(), Coder::default());
        let mut coded: Vec<([u32; 3], f64)> = Vec::with_capacity(n);
        for i in 0..n {
            let w = data.weights.map_or(1.0, |w| w[i]);
            if w != 0.0 {
                let x = count_codes.code(data.frequency[i]);
                let (t_x, t) = (age_codes.code(data.recency[i]), age_codes.code(data.t[i]));
                coded.push(([x, t_x, t], w));
            }
        }
        let (counts, count_rank) = count_codes.sorted();
        let (ages, age_rank) = age_codes.sorted();
        let histories = coded.into_iter().map(|([x, t_x, t], weight)| History {
            x: count_rank[x as usize],
            t_x: age_rank[t_x as usize],
            t: age_rank[t as usize],
            weight,
        });
        let age_bits = bits_below(ages.len());
        let key_bits = bits_below(counts.len()) + 2 * age_bits;
        // With more distinct values than a 64-bit key holds, the rows stay as they are: the
        // likelihood is the same, only slower.
        let rows: Vec<History> = if key_bits < u64::BITS {
            merged(histories, age_bits, key_bits)
        } else {
            histories.collect()
        };
        let mut count_weights = vec![0.0; counts.len()];
        for row in &rows {
            count_weights[row.x as usize] += row.weight;
        }
        Histories {
            counts,
            count_weights,
            ages,
            rows,
        }
    }

    /// Σ_rows weight · term(row index, row) (a value and its gradient), in parallel over
    /// fixed pieces added in order.
    pub fn sum<const N: usize>(
        &self,
        term: impl Fn(usize, &History) -> (f64, [f64; N]) + Sync,
    ) -> (f64, [f64; N]) {
        super::estimate::weighted_sum(self.rows.len(), None, |i| {
            let row = &self.rows[i];
            let (value, gradient) = term(i, row);
            (row.weight * value, gradient.map(|g| row.weight * g))
        })
    }

    /// `f(x)` for each distinct x.
    pub fn per_count<T: Send>(&self, f: impl Fn(f64) -> T + Sync) -> Vec<T> {
        per_value(&self.counts, f)
    }

    /// `f(t)` for each distinct age.
    pub fn per_age<T: Send>(&self, f: impl Fn(f64) -> T + Sync) -> Vec<T> {
        per_value(&self.ages, f)
    }

    /// Σ_x count_weight(x) · term(x): the part of a log-likelihood that depends on x alone.
    /// Counts of weight 0 (a sample may lack some) are skipped, so a NaN there does not spread.
    pub fn sum_by_count<const N: usize>(
        &self,
        term: impl Fn(usize) -> (f64, [f64; N]),
    ) -> (f64, [f64; N]) {
        let mut sum = (0.0, [0.0; N]);
        for (k, &w) in self.count_weights.iter().enumerate() {
            if w == 0.0 {
                continue;
            }
            let (value, gradient) = term(k);
            sum.0 += w * value;
            sum.1
                .iter_mut()
                .zip(gradient)
                .for_each(|(s, g)| *s += w * g);
        }
        sum
    }

    pub fn total_weight(&self) -> f64 {
        self.count_weights.iter().sum()
    }

    /// Every k-th row, k the largest that leaves at least `rows`: a cheap first look at the
    /// likelihood, representative as the rows are sorted. `None` unless k ≥ 2.
    pub fn sample(&self, rows: usize) -> Option<Histories> {
        let step = self.rows.len() / rows.max(1);
        if step < 2 {
            return None;
        }
        let rows: Vec<History> = self.rows.iter().step_by(step).copied().collect();
        let mut count_weights = vec![0.0; self.counts.len()];
        for row in &rows {
            count_weights[row.x as usize] += row.weight;
        }
        Some(Histories {
            counts: self.counts.clone(),
            count_weights,
            ages: self.ages.clone(),
            rows,
        })
    }
}

fn per_value<T: Send>(values: &[f64], f: impl Fn(f64) -> T + Sync) -> Vec<T> {
    crate::pool::install(|| {
        values
            .par_iter()
            .with_min_len(VALUES_PER_TASK)
            .map(|&v| f(v))
            .collect()
    })
}

/// Numbers the distinct values of a column in order of first appearance.
#[derive(Default)]
struct Coder {
    ids: HashMap<u64, u32>,
    values: Vec<f64>,
}

impl Coder {
    fn code(&mut self, v: f64) -> u32 {
        let v = v + 0.0; // −0 and 0 are one value
        let values = &mut self.values;
        *self.ids.entry(v.to_bits()).or_insert_with(|| {
            values.push(v);
            (values.len() - 1) as u32
        })
    }

    /// The distinct values ascending, and the rank there of each first-appearance code.
    fn sorted(self) -> (Vec<f64>, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.values.len() as u32).collect();
        order
            .sort_unstable_by(|&a, &b| self.values[a as usize].total_cmp(&self.values[b as usize]));
        let mut rank = vec![0; order.len()];
        for (r, &code) in order.iter().enumerate() {
            rank[code as usize] = r as u32;
        }
        let values = order.iter().map(|&c| self.values[c as usize]).collect();
        (values, rank)
    }
}

/// How many bits the numbers below `n` take.
fn bits_below(n: usize) -> u32 {
    u64::BITS - (n.saturating_sub(1) as u64).leading_zeros()
}

/// The histories sorted by (x, T, t_x), identical ones merged: a radix sort of the three
/// indices packed into `key_bits` bits, stable so that weights add up in input order.
fn merged(histories: impl Iterator<Item = History>, age_bits: u32, key_bits: u32) -> Vec<History> {
    let pack = |h: &History| {
        (u64::from(h.x) << (2 * age_bits)) | (u64::from(h.t) << age_bits) | u64::from(h.t_x)
    };
    let age_mask = (1 << age_bits) - 1;
    let records = radix_sort(histories.map(|h| (pack(&h), h.weight)).collect(), key_bits);
    let mut rows: Vec<History> = Vec::new();
    let mut last_key = None;
    for (key, weight) in records {
        match rows.last_mut() {
            Some(last) if last_key == Some(key) => last.weight += weight,
            _ => rows.push(History {
                x: (key >> (2 * age_bits)) as u32,
                t: ((key >> age_bits) & age_mask) as u32,
                t_x: (key & age_mask) as u32,
                weight,
            }),
        }
        last_key = Some(key);
    }
    rows
}

/// `records` (key, weight) stably sorted by the lowest `bits` bits of their keys: least significant digit
/// first, digits of at most 11 bits (whose counters stay in cache).
fn radix_sort(mut records: Vec<(u64, f64)>, bits: u32) -> Vec<(u64, f64)> {
    let passes = bits.div_ceil(11);
    let mut buffer = vec![(0, 0.0); records.len()];
    for pass in 0..passes {
        let (shift, width) = (
            pass * bits / passes,
            (pass + 1) * bits / passes - pass * bits / passes,
        );
        let digit = |key: u64| ((key >> shift) & ((1 << width) - 1)) as usize;
        let mut next = vec![0usize; 1 << width];
        for (key, _) in &records {
            next[digit(*key)] += 1;
        }
        let mut start = 0;
        for slot in next.iter_mut() {
            (*slot, start) = (start, start + *slot);
        }
        for record in &records {
            let slot = &mut next[digit(record.0)];
            buffer[*slot] = *record;
            *slot += 1;
        }
        std::mem::swap(&mut records, &mut buffer);
    }
    records
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn identical_histories_are_merged_and_sorted() {
        let (x, t_x, t) = (
            [2.0, 0.0, 2.0, 1.0, 0.0, 2.0, 1.0],
            [3.0, 0.0, 3.0, 1.5, -0.0, 3.0, 4.0],
            [5.0, 5.0, 5.0, 4.0, 5.0, 6.0, 4.0],
        );
        let weights = [1.0, 2.0, 0.5, 1.0, 1.0, 1.0, 0.0];
        let data = Customers {
            frequency: &x,
            recency: &t_x,
            t: &t,
            weights: Some(&weights),
        };
        let h = Histories::new(&data);
        assert_eq!(h.counts, [0.0, 1.0, 2.0]);
        assert_eq!(h.ages, [0.0, 1.5, 3.0, 4.0, 5.0, 6.0]); // 4 only as a T: weight 0 at t_x 4
        let rows: Vec<(f64, f64, f64, f64)> = h
            .rows
            .iter()
            .map(|r| {
                let (x, t_x, t) = (r.x as usize, r.t_x as usize, r.t as usize);
                (h.counts[x], h.ages[t_x], h.ages[t], r.weight)
            })
            .collect();
        let want = [
            (0.0, 0.0, 5.0, 3.0),
            (1.0, 1.5, 4.0, 1.0),
            (2.0, 3.0, 5.0, 1.5),
            (2.0, 3.0, 6.0, 1.0),
        ];
        assert_eq!(rows, want);
        assert_eq!(h.count_weights, [3.0, 1.0, 2.5]);
        assert_eq!(h.total_weight(), 6.5);
    }

    #[test]
    fn radix_sort_is_a_stable_sort_on_the_low_bits() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for bits in [0, 5, 11, 12, 30, 63] {
            let records: Vec<(u64, f64)> = (0..5000)
                .map(|i| (rng.random::<u64>() >> (64 - bits.max(1)), i as f64))
                .map(|(k, i)| (if bits == 0 { 0 } else { k }, i))
                .collect();
            let mut want = records.clone();
            want.sort_by_key(|r| r.0); // stable
            assert_eq!(radix_sort(records, bits), want, "{bits} bits");
        }
    }

    #[test]
    fn a_sample_is_every_kth_row_with_its_weights() {
        let n = 1000;
        let x: Vec<f64> = (0..n).map(|i| f64::from(i % 7)).collect();
        let t_x: Vec<f64> = (0..n)
            .map(|i| f64::from(i % 7) * f64::from(i % 3))
            .collect();
        let t: Vec<f64> = (0..n).map(|i| 20.0 + f64::from(i % 11)).collect();
        let data = Customers {
            frequency: &x,
            recency: &t_x,
            t: &t,
            weights: None,
        };
        let h = Histories::new(&data);
        assert!(h.sample(h.rows.len() / 2 + 1).is_none());
        let s = h.sample(h.rows.len() / 3).unwrap();
        assert_eq!(s.rows.len(), h.rows.len().div_ceil(3));
        for (k, row) in s.rows.iter().enumerate() {
            let full = h.rows[3 * k];
            assert_eq!(
                (row.x, row.t_x, row.t, row.weight),
                (full.x, full.t_x, full.t, full.weight)
            );
        }
        assert_eq!(
            s.total_weight(),
            s.rows.iter().map(|r| r.weight).sum::<f64>()
        );
        assert_eq!(s.counts, h.counts);
    }
}
