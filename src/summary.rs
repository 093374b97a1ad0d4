//! Summarize: the one fused pass over the rows, building the per-customer state.
//!
//! Each customer's rows are added in input order by a single worker, whatever the number of
//! threads, and no per-thread copies of the state need merging: coded keys are folded in
//! place by workers that own ranges of codes (`fold_in_place`), or radix-partitioned by code
//! when order ids are counted; hashed keys are grouped by hash partition (`hashing`). Sums are
//! compensated, so that the row order does not change them either.

use rayon::prelude::*;

use arrow_array::ArrayRef;

use crate::error::Result;
use crate::hashing;
use crate::ingest::keys::{self, HashedKeys, RowCodes, StringGrouping};
use crate::ingest::{Amounts, Transactions};
use crate::memory;
use crate::partition;
use crate::pool;

/// A compensated running sum (TwoSum errors accumulated, as in Neumaier's method): exact to
/// the last bit for realistic data, so reordering the rows does not change the result.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sum {
    hi: f64,
    lo: f64,
}

impl Sum {
    #[inline(always)]
    pub fn add(&mut self, x: f64) {
        // Knuth's TwoSum: the exact rounding error of hi + x, without a branch.
        let t = self.hi + x;
        let x_part = t - self.hi;
        let error = (self.hi - (t - x_part)) + (x - x_part);
        self.lo += error;
        self.hi = t;
    }

    pub fn merge(&mut self, other: &Sum) {
        self.add(other.hi);
        self.lo += other.lo;
    }

    pub fn value(&self) -> f64 {
        self.hi + self.lo
    }

    /// The value and the error of its rounding (exact: value + error is hi + lo).
    pub fn rounded(&self) -> (f64, f64) {
        let value = self.hi + self.lo;
        // TwoSum again: hi and lo are not ordered by magnitude when the sum cancels.
        let lo_part = value - self.hi;
        let error = (self.hi - (value - lo_part)) + (self.lo - lo_part);
        (value, error)
    }

    /// The running sum and its accumulated error, as a partial state stores them.
    pub fn parts(&self) -> (f64, f64) {
        (self.hi, self.lo)
    }

    pub fn from_parts(hi: f64, lo: f64) -> Sum {
        Sum { hi, lo }
    }
}

/// Everything later steps need to know about one customer. Merging two states of the same
/// customer gives the state of the union of their rows. 32 bytes: the fold streams every
/// state through the cache once per batch, so its size is the fold's cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CustomerState {
    /// All rows, purchases or not.
    pub rows: u32,
    /// Rows with a positive amount.
    pub purchases: u32,
    /// Day of the first / last purchase (`i32::MAX` / `i32::MIN` while there is none).
    pub first_purchase: i32,
    pub last_purchase: i32,
    /// Net spend: the sum of all amounts (refunds are negative).
    pub net: Sum,
}

impl CustomerState {
    pub const EMPTY: CustomerState = CustomerState {
        rows: 0,
        purchases: 0,
        first_purchase: i32::MAX,
        last_purchase: i32::MIN,
        net: Sum { hi: 0.0, lo: 0.0 },
    };

    #[inline(always)]
    pub fn add(&mut self, day: i32, amount: f64) {
        self.rows += 1;
        if amount > 0.0 {
            self.purchases += 1;
            self.first_purchase = self.first_purchase.min(day);
            self.last_purchase = self.last_purchase.max(day);
        }
        self.net.add(amount);
    }

    pub fn merge(&mut self, other: &CustomerState) {
        self.rows += other.rows;
        self.purchases += other.purchases;
        self.first_purchase = self.first_purchase.min(other.first_purchase);
        self.last_purchase = self.last_purchase.max(other.last_purchase);
        self.net.merge(&other.net);
    }

    /// Net spend: purchases minus refunds.
    pub fn net(&self) -> f64 {
        self.net.value()
    }

    pub fn has_purchase(&self) -> bool {
        self.purchases > 0
    }
}

/// The latest day of the rows a fold has seen: kept by the pass, rather than by a pass of its
/// own over the dates.
#[derive(Clone, Copy)]
struct LatestDay(i64);

impl Default for LatestDay {
    fn default() -> Self {
        LatestDay(i64::MIN)
    }
}

impl LatestDay {
    #[inline(always)]
    fn see(&mut self, day: i32) {
        self.0 = self.0.max(day as i64);
    }

    /// The latest of the folds' days (`None` when none saw a row).
    fn of(folds: impl IntoIterator<Item = LatestDay>) -> Option<i32> {
        let latest = folds.into_iter().map(|l| l.0).max()?;
        (latest != i64::MIN).then_some(latest as i32)
    }
}

/// The per-customer result of the pass, indexed by customer code.
pub struct Summary {
    pub states: Vec<CustomerState>,
    /// Distinct order ids among each customer's purchases (when an order column was given).
    pub distinct_orders: Option<Vec<u32>>,
    /// The latest day of any row (`None` for an empty log).
    pub max_day: Option<i32>,
    /// The sorted distinct customer keys, when the pass grouped them by hash (the codes are
    /// then their ranks).
    pub keys: Option<ArrayRef>,
}

impl Summary {
    /// Codes of the customers that have at least one row (dense integer ids leave holes).
    pub fn present_codes(&self) -> Vec<u32> {
        (0..self.states.len() as u32)
            .filter(|&c| self.states[c as usize].rows > 0)
            .collect()
    }
}

/// With order ids, rows are radix-partitioned by customer code into runs whose states fit in
/// cache, a bounded batch of rows at a time, then each partition is folded into its states. Every
/// batch streams the whole state through the cache once, so batches are as large as the
/// memory budget allows: half the input's size, less room for the state and the result.
const PIECE_ROWS: usize = 1 << 18;
const MIN_BATCH_ROWS: usize = 1 << 20;
const MAX_BATCH_ROWS: usize = 1 << 23;

fn pieces_per_batch(tx: &Transactions, n_customers: usize) -> usize {
    let state_bytes = n_customers * std::mem::size_of::<CustomerState>();
    let budget = (tx.input_bytes / 2).saturating_sub(3 * state_bytes);
    let rows = (budget / std::mem::size_of::<Row>()).clamp(MIN_BATCH_ROWS, MAX_BATCH_ROWS);
    rows / PIECE_ROWS
}
/// log2 of the customers per partition: 8K states of 32 bytes stay in L2 with room to spare.
const PARTITION_BITS: u32 = 13;

/// One row as the fold reads it, gathered next to the rows of neighbouring customers.
#[derive(Clone, Copy, Default)]
struct Row {
    code: u32,
    day: i32,
    amount: f64,
}

pub fn summarize(tx: &Transactions) -> Result<Summary> {
    let _p = crate::trace::phase("summarize");
    // What earlier calls freed and kept would sit beside this pass's own pages.
    memory::release_freed();
    let key_type = &tx.customers.key_type;
    match &tx.customers.rows {
        RowCodes::Hashed(HashedKeys::Ints(chunks)) => {
            let (summary, keys) = summarize_hashed(tx, |c, i| chunks[c][i]);
            Ok(Summary {
                keys: Some(keys::ints_as(keys, key_type)?),
                ..summary
            })
        }
        RowCodes::Hashed(HashedKeys::Strings { chunks, packing }) => {
            let (summary, keys) = chunks.grouped(*packing, Summarizing(tx));
            Ok(Summary {
                keys: Some(keys),
                ..summary
            })
        }
        RowCodes::Dense { .. } | RowCodes::Coded { .. } => Ok(summarize_coded(tx)),
    }
}

/// `summarize_hashed` as a `StringGrouping`.
struct Summarizing<'a>(&'a Transactions);

impl StringGrouping for Summarizing<'_> {
    type Out = Summary;
    fn run<K>(self, key_at: impl Fn(usize, usize) -> K + Sync) -> (Summary, Vec<K>)
    where
        K: hashing::GroupKey + Ord + hashing::SortPrefix,
    {
        summarize_hashed(self.0, key_at)
    }
}

/// One row as a pass reads it.
#[inline(always)]
fn row_at(tx: &Transactions, c: usize, i: usize, code: u32) -> Row {
    Row {
        code,
        day: tx.days[c].day(i),
        amount: match &tx.amounts[c] {
            Amounts::F64(a) => a[i],
            Amounts::I64(a) => a[i] as f64,
        },
    }
}

/// What one hash partition accumulates: the states of its keys, by local id, and the
/// (customer, order) pairs of its purchases.
#[derive(Default)]
struct PartStates {
    states: Vec<CustomerState>,
    pairs: Vec<(u32, i64)>,
    latest: LatestDay,
}

impl PartStates {
    #[inline(always)]
    fn prefetch(&self, id: u32) {
        if let Some(state) = self.states.get(id as usize) {
            partition::prefetch(state);
        }
    }

    #[inline(always)]
    fn state(&mut self, id: u32) -> &mut CustomerState {
        if id as usize == self.states.len() {
            self.states.push(CustomerState::EMPTY);
        }
        &mut self.states[id as usize]
    }
}

/// The pass for keys without codes: rows are grouped by key hash (`hashing`) and folded into
/// their partition's states; the distinct keys are sorted once at the end and the states
/// put in key order.
fn summarize_hashed<K>(
    tx: &Transactions,
    key_at: impl Fn(usize, usize) -> K + Sync,
) -> (Summary, Vec<K>)
where
    K: hashing::GroupKey + Ord + hashing::SortPrefix,
{
    let lens: Vec<usize> = (0..tx.days.len()).map(|c| tx.chunk_len(c)).collect();
    let mut parts: Vec<PartStates> = (0..hashing::partitions_for(lens.iter().sum()))
        .map(|_| PartStates::default())
        .collect();
    let row = |c: usize, i: usize| row_at(tx, c, i, 0);
    // The batches' buffers take 6 bytes per input row, within the budget of half the input's
    // size (a row of the input is 20 bytes or more): 1/8 of the rows a batch with 128-bit
    // keys, 1/5 with 64-bit ones. Smaller batches sweep the partitions' tables and states
    // through the cache more often (half the budget costs 10%).
    let batch_bytes = (6 * lens.iter().sum::<usize>()).min(384 << 20);
    let tables = match &tx.orders {
        None => hashing::group_by_key(
            &lens,
            batch_bytes,
            &key_at,
            row,
            &mut parts,
            PartStates::prefetch,
            |p, id, r| {
                p.latest.see(r.day);
                p.state(id).add(r.day, r.amount)
            },
        ),
        Some(orders) => hashing::group_by_key(
            &lens,
            batch_bytes,
            &key_at,
            |c, i| (row(c, i), orders[c][i]),
            &mut parts,
            PartStates::prefetch,
            |p, id, (r, order)| {
                p.latest.see(r.day);
                p.state(id).add(r.day, r.amount);
                if r.amount > 0.0 {
                    p.pairs.push((id, *order));
                }
            },
        ),
    };
    let max_day = LatestDay::of(parts.iter().map(|p| p.latest));
    let (keys, ranks) = hashing::rank(&tables);
    drop(tables);
    // Each partition's states move to their ranks (in parallel: the ranks of different
    // partitions differ) and are freed as soon as they have moved.
    let n = keys.len();
    assert_eq!(parts.iter().map(|p| p.states.len()).sum::<usize>(), n);
    let mut states: Vec<CustomerState> = Vec::with_capacity(n);
    let mut distinct = tx.orders.as_ref().map(|_| vec![0u32; n]);
    let states_at = partition::SharedMut(states.as_mut_ptr());
    let distinct_at = distinct
        .as_mut()
        .map(|d| partition::SharedMut(d.as_mut_ptr()));
    parts
        .into_par_iter()
        .zip(ranks.par_iter())
        .for_each(|(mut part, ranks)| {
            for (id, s) in part.states.iter().enumerate() {
                // SAFETY: ranks are a permutation of 0..n over all partitions' ids.
                unsafe { states_at.at(ranks[id] as usize).write(*s) };
            }
            if let Some(distinct_at) = distinct_at {
                part.pairs.sort_unstable();
                part.pairs.dedup();
                for &(id, _) in &part.pairs {
                    // SAFETY: as above; only this partition's ranks are touched here.
                    unsafe { *distinct_at.at(ranks[id as usize] as usize) += 1 };
                }
            }
        });
    // SAFETY: every index below n was written once (the ranks' permutation, with as many
    // states as keys, asserted above).
    unsafe { states.set_len(n) };
    // The partitions' states are gone: their pages would stay beside the next steps' (and
    // the next call's) blocks of other sizes. (Releasing after the grouping and the ranking
    // too saves no more memory, and costs the faults of mapping the pages in again.)
    memory::release_freed();
    (
        Summary {
            states,
            distinct_orders: distinct,
            max_day,
            keys: None,
        },
        keys,
    )
}

/// Rows read at a time by each worker of `fold_in_place`.
const BLOCK_ROWS: usize = 1 << 13;
/// How many of its rows ahead a worker prefetches states.
const PREFETCH_AHEAD: usize = 16;

/// The fold for coded keys without order ids, in place: each worker owns a contiguous range
/// of codes, reads every row's code, and folds its own rows straight into their states,
/// prefetched a few rows ahead so that the states' cache misses overlap. Every customer's rows
/// are folded in input order by one worker, whatever the number of workers. Returns the
/// latest day.
fn fold_in_place(tx: &Transactions, states: &mut [CustomerState]) -> Option<i32> {
    let codes = &tx.customers.rows;
    let bounds = balanced_code_ranges(tx, states.len(), rayon::current_num_threads());
    let mut ranges: Vec<(u32, &mut [CustomerState])> = Vec::with_capacity(bounds.len());
    let mut rest = states;
    for w in bounds.windows(2) {
        let (own, tail) = rest.split_at_mut(w[1] - w[0]);
        ranges.push((w[0] as u32, own));
        rest = tail;
    }
    let latest = ranges.into_par_iter().map(|(base, states)| {
        let mut latest = LatestDay::default();
        let mut own = vec![0u32; BLOCK_ROWS];
        for c in 0..tx.days.len() {
            let len = tx.chunk_len(c);
            for start in (0..len).step_by(BLOCK_ROWS) {
                let end = (start + BLOCK_ROWS).min(len);
                // This worker's rows of the block, without a branch per row.
                let mut n = 0;
                for i in start..end {
                    own[n] = i as u32;
                    n += ((codes.code(c, i).wrapping_sub(base) as usize) < states.len()) as usize;
                }
                let local = |k: usize| (codes.code(c, own[k] as usize) - base) as usize;
                for k in 0..n {
                    if k + PREFETCH_AHEAD < n {
                        partition::prefetch(&states[local(k + PREFETCH_AHEAD)]);
                    }
                    let r = row_at(tx, c, own[k] as usize, 0);
                    latest.see(r.day);
                    states[local(k)].add(r.day, r.amount);
                }
            }
        }
        latest
    });
    LatestDay::of(latest.collect::<Vec<_>>())
}

/// Bounds `0 = b[0] <= .. <= b[workers] = n_codes` of code ranges holding about as many rows
/// each, from the codes of every 64th row (ids need not be spread evenly over their range).
fn balanced_code_ranges(tx: &Transactions, n_codes: usize, workers: usize) -> Vec<usize> {
    const SAMPLE_EVERY: usize = 64;
    let buckets = n_codes.clamp(1, 1 << 12);
    let bucket = |code: u32| (code as u64 * buckets as u64 / n_codes.max(1) as u64) as usize;
    let mut counts = vec![0usize; buckets];
    for c in 0..tx.days.len() {
        for i in (0..tx.chunk_len(c)).step_by(SAMPLE_EVERY) {
            counts[bucket(tx.customers.rows.code(c, i))] += 1;
        }
    }
    let total: usize = counts.iter().sum();
    let mut bounds = vec![0];
    let mut seen = 0;
    for (b, &count) in counts.iter().enumerate() {
        seen += count;
        while bounds.len() < workers && seen * workers >= total * bounds.len() {
            // The first code of bucket b + 1.
            bounds.push(((b as u64 + 1) * n_codes as u64).div_ceil(buckets as u64) as usize);
        }
    }
    bounds.resize(workers, n_codes);
    bounds.push(n_codes);
    bounds
}

/// The pass for keys with codes (dense integer ids, categoricals).
fn summarize_coded(tx: &Transactions) -> Summary {
    pool::install(|| {
        let mut states = vec![CustomerState::EMPTY; tx.customers.n_codes];
        let (distinct_orders, max_day) = match &tx.orders {
            None => (None, fold_in_place(tx, &mut states)),
            Some(orders) => {
                let (distinct, max_day) = fold_partitioned_with_orders(tx, orders, &mut states);
                (Some(distinct), max_day)
            }
        };
        Summary {
            states,
            distinct_orders,
            max_day,
            keys: None,
        }
    })
}

/// The fold for coded keys with order ids: rows are radix-partitioned by code into runs whose
/// states fit in cache, and each partition keeps the (customer, order) pairs of its purchases,
/// sorted and counted at the end. Returns the distinct orders of each customer and the
/// latest day.
fn fold_partitioned_with_orders(
    tx: &Transactions,
    orders: &[arrow_buffer::ScalarBuffer<i64>],
    states: &mut [CustomerState],
) -> (Vec<u32>, Option<i32>) {
    let n = states.len();
    let shift = PARTITION_BITS.min(usize::BITS - n.leading_zeros());
    let n_parts = (n >> shift) + 1;
    let width = 1usize << shift;
    let part = |c: usize, i: usize| (tx.customers.rows.code(c, i) >> shift) as usize;
    let row = |c: usize, i: usize| row_at(tx, c, i, tx.customers.rows.code(c, i));
    let with_order = |c: usize, i: usize| (row(c, i), orders[c][i]);
    let lens: Vec<usize> = (0..tx.days.len()).map(|c| tx.chunk_len(c)).collect();
    let pieces = partition::pieces(&lens, PIECE_ROWS);
    let mut pairs: Vec<Vec<(u32, i64)>> = vec![Vec::new(); n_parts];
    let mut latest = vec![LatestDay::default(); n_parts];
    let mut rows: Vec<(Row, i64)> = Vec::new();
    for batch in pieces.chunks(pieces_per_batch(tx, n)) {
        let bounds = partition::scatter(batch, n_parts, part, with_order, &mut rows);
        states
            .par_chunks_mut(width)
            .zip(pairs.par_iter_mut())
            .zip(latest.par_iter_mut())
            .enumerate()
            .for_each(|(q, ((states, pairs), latest))| {
                let base = (q << shift) as u32;
                for (r, order) in &rows[bounds[q]..bounds[q + 1]] {
                    latest.see(r.day);
                    states[(r.code - base) as usize].add(r.day, r.amount);
                    if r.amount > 0.0 {
                        pairs.push((r.code - base, *order));
                    }
                }
            });
    }
    let mut distinct = vec![0u32; n];
    distinct
        .par_chunks_mut(width)
        .zip(pairs.par_iter_mut())
        .for_each(|(d, p)| {
            p.sort_unstable();
            p.dedup();
            for &(local, _) in p.iter() {
                d[local as usize] += 1;
            }
        });
    (distinct, LatestDay::of(latest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{cast::AsArray, types::Int64Type};

    fn keyed(rows: &[(i64, i32, f64)]) -> (Vec<i64>, Vec<CustomerState>) {
        let (summary, codes, keys) = crate::testing::summarized(rows);
        let keys = keys.as_primitive::<Int64Type>().values().to_vec();
        (
            keys,
            codes.iter().map(|&c| summary.states[c as usize]).collect(),
        )
    }

    #[test]
    fn hashed_keys_give_the_same_states_as_dense_ones() {
        let rows: Vec<(i64, i32, f64)> = (0..50_000)
            .map(|i| {
                (
                    (i * 37) % 3_000,
                    18_000 + (i % 11) as i32,
                    (i % 13) as f64 - 2.0,
                )
            })
            .collect();
        let sparse: Vec<(i64, i32, f64)> = rows
            .iter()
            .map(|&(c, d, a)| (c * 1_000_000_007, d, a))
            .collect();
        let (dense_keys, dense) = keyed(&rows);
        let (sparse_keys, hashed) = keyed(&sparse);
        assert_eq!(
            sparse_keys,
            dense_keys
                .iter()
                .map(|k| k * 1_000_000_007)
                .collect::<Vec<_>>()
        );
        assert_eq!(dense, hashed);
    }

    #[test]
    fn many_customers_span_several_partitions() {
        let rows: Vec<(i64, i32, f64)> = (0..100_000)
            .map(|i| (i % 40_000, 18_000 + (i % 7) as i32, 1.0))
            .collect();
        let (keys, states) = keyed(&rows);
        assert_eq!(keys.len(), 40_000);
        assert!(states
            .iter()
            .enumerate()
            .all(|(k, s)| s.rows == if k < 20_000 { 3 } else { 2 }));
    }

    #[test]
    fn workers_own_code_ranges_of_about_equal_rows() {
        use rand::{Rng, SeedableRng};
        // Ids 0..10_000, but 90% of the rows belong to the last 1_000.
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let rows: Vec<(i64, i32, f64, i64)> = (0..200_000)
            .map(|_| {
                let c = if rng.random_bool(0.1) {
                    rng.random_range(0..9_000)
                } else {
                    rng.random_range(9_000..10_000)
                };
                (c, 18_000, 1.0, 0)
            })
            .collect();
        let tx = crate::testing::ingested(&rows);
        let bounds = balanced_code_ranges(&tx, 10_000, 4);
        assert_eq!((bounds[0], bounds[4], bounds.len()), (0, 10_000, 5));
        assert!(bounds.windows(2).all(|w| w[0] <= w[1]));
        for w in bounds.windows(2) {
            let owned = rows
                .iter()
                .filter(|r| (w[0]..w[1]).contains(&(r.0 as usize)))
                .count();
            assert!((40_000..60_000).contains(&owned), "{bounds:?}: {owned}");
        }
    }

    #[test]
    fn compensated_sum_is_order_independent() {
        let xs = [1e16, 1.0, -1e16, 0.1, 0.2, 0.3];
        let mut a = Sum::default();
        xs.iter().for_each(|&x| a.add(x));
        let mut b = Sum::default();
        xs.iter().rev().for_each(|&x| b.add(x));
        assert_eq!(a.value(), b.value());
        assert_eq!(a.value(), 1.6);
    }
}
