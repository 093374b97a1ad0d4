//! History: each customer's rows condensed to one entry per (group, calendar day), in day
//! order. It is the per-customer state of everything that needs the sequence of visits
//! (gaps, cohorts, losses and reactivations, windows before `as_of`), built in one pass.
//!
//! Rows are radix-scattered by customer code into partitions of 8K customers (input order
//! kept), then each partition is counting-sorted by customer and condensed. The result only
//! depends on the rows, never on their order or the number of threads: same-day amounts are
//! summed with compensation and entries are ordered by (group, day).

use rayon::prelude::*;

use crate::ingest::{Amounts, Transactions};
use crate::partition;
use crate::pool;
use crate::summary::Sum;

/// A customer's rows of one group on one day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    pub day: i32,
    /// Code of the row's `by` value combination (0 without `by`).
    pub group: u32,
    /// Purchase rows (amount > 0, or >= 0 by `Purchase::NonNegative`); a day with any is a
    /// purchase day.
    pub purchase_rows: u32,
    /// Purchases counted this day: the purchase rows, or with an order column the orders
    /// whose earliest purchase row (in the group) is on this day.
    pub purchases: u32,
    /// Sum of all the day's amounts, refunds included.
    pub net: f64,
    /// Sum of the day's purchase rows' amounts (refunds left out).
    pub spent: f64,
}

/// The entries of the customers of one partition (codes `base..base + len`).
pub struct Part {
    pub base: u32,
    /// `offsets[k]..offsets[k + 1]` are the entries of customer `base + k`.
    offsets: Vec<u32>,
    entries: Vec<Entry>,
    /// With `build_exact`, per entry what rounding `net` and `spent` lost: the day's sums
    /// are `net + errors[i][0]` and `spent + errors[i][1]` to twice the precision, so that
    /// histories of parts of a log merge to the bit. Empty otherwise.
    errors: Vec<[f64; 2]>,
}

impl Part {
    /// The rounding errors of the entries, in entry order (`build_exact` only).
    pub fn errors(&self) -> &[[f64; 2]] {
        &self.errors
    }

    /// The customers with at least one row, with their entries, in code order.
    pub fn customers(&self) -> impl Iterator<Item = (u32, &[Entry])> {
        self.offsets
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[1] > w[0])
            .map(|(k, w)| {
                (
                    self.base + k as u32,
                    &self.entries[w[0] as usize..w[1] as usize],
                )
            })
    }
}

pub struct History {
    pub parts: Vec<Part>,
    /// First and last day of any row.
    pub days: Option<(i32, i32)>,
}

impl History {
    /// Codes of the customers with at least one row, ascending.
    pub fn codes(&self) -> Vec<u32> {
        self.parts
            .iter()
            .flat_map(|p| p.customers().map(|(c, _)| c))
            .collect()
    }

    /// A history from entries already condensed and ordered (by group, then day): customer
    /// `k` has `entries[offsets[k]..offsets[k + 1]]`. Cut into partitions of 8K customers as `build`
    /// cuts them; `days` spans every entry, as it spans every row there.
    pub fn from_condensed(offsets: &[u32], entries: &[Entry]) -> History {
        let n = offsets.len().saturating_sub(1);
        let width = 1usize << PARTITION_BITS;
        let parts = (0..n)
            .step_by(width)
            .map(|base| {
                let end = (base + width).min(n);
                let (lo, hi) = (offsets[base], offsets[end]);
                Part {
                    base: base as u32,
                    offsets: offsets[base..=end].iter().map(|o| o - lo).collect(),
                    entries: entries[lo as usize..hi as usize].to_vec(),
                    errors: vec![],
                }
            })
            .collect();
        let days = entries
            .iter()
            .map(|e| (e.day, e.day))
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        History { parts, days }
    }

    /// Sorted group codes that occur.
    pub fn groups(&self) -> Vec<u32> {
        let mut groups: Vec<u32> = self
            .parts
            .par_iter()
            .flat_map_iter(|p| {
                let mut g: Vec<u32> = p.entries.iter().map(|e| e.group).collect();
                g.sort_unstable();
                g.dedup();
                g
            })
            .collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }
}

/// A row as the build reads it.
trait Line: Copy + Default + Send + Sync {
    fn code(&self) -> u32;
    fn day(&self) -> i32;
    fn amount(&self) -> f64;
    fn group(&self) -> u32;
    fn order(&self) -> Option<i64>;
}

#[derive(Clone, Copy, Default)]
struct Plain {
    code: u32,
    day: i32,
    amount: f64,
}

impl Line for Plain {
    fn code(&self) -> u32 {
        self.code
    }
    fn day(&self) -> i32 {
        self.day
    }
    fn amount(&self) -> f64 {
        self.amount
    }
    fn group(&self) -> u32 {
        0
    }
    fn order(&self) -> Option<i64> {
        None
    }
}

#[derive(Clone, Copy, Default)]
struct Full {
    code: u32,
    day: i32,
    group: u32,
    amount: f64,
    order: Option<i64>,
}

impl Line for Full {
    fn code(&self) -> u32 {
        self.code
    }
    fn day(&self) -> i32 {
        self.day
    }
    fn amount(&self) -> f64 {
        self.amount
    }
    fn group(&self) -> u32 {
        self.group
    }
    fn order(&self) -> Option<i64> {
        self.order
    }
}

/// log2 of the customers per partition.
const PARTITION_BITS: u32 = 13;
const PIECE_ROWS: usize = 1 << 18;

/// Which rows are purchases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purchase {
    /// Rows with a positive amount (everywhere but the BTYD summaries).
    Positive,
    /// Every row but refunds: a free order is still a transaction (CDNOW has some).
    NonNegative,
}

impl Purchase {
    #[inline(always)]
    fn counts(self, amount: f64) -> bool {
        match self {
            Purchase::Positive => amount > 0.0,
            Purchase::NonNegative => amount >= 0.0,
        }
    }
}

/// The history of a log whose customers have codes (`Spec::need_codes`).
pub fn build(tx: &Transactions) -> History {
    build_with(tx, Purchase::Positive)
}

pub fn build_with(tx: &Transactions, rule: Purchase) -> History {
    build_keeping(tx, rule, false)
}

/// `build_with`, keeping each entry's rounding errors (`Part::errors`): for partial states,
/// whose day sums must merge exactly.
pub fn build_exact(tx: &Transactions, rule: Purchase) -> History {
    build_keeping(tx, rule, true)
}

fn build_keeping(tx: &Transactions, rule: Purchase, errors: bool) -> History {
    let _p = crate::trace::phase("history");
    let amount = |c: usize, i: usize| match &tx.amounts[c] {
        Amounts::F64(a) => a[i],
        Amounts::I64(a) => a[i] as f64,
    };
    let code = |c: usize, i: usize| tx.customers.rows.code(c, i);
    if tx.orders.is_none() && tx.groups.is_none() {
        return build_from(tx, rule, errors, |c, i| Plain {
            code: code(c, i),
            day: tx.days[c].day(i),
            amount: amount(c, i),
        });
    }
    build_from(tx, rule, errors, |c, i| Full {
        code: code(c, i),
        day: tx.days[c].day(i),
        group: tx.groups.as_ref().map_or(0, |g| g.codes[c][i]),
        amount: amount(c, i),
        order: tx.orders.as_ref().map(|o| o[c][i]),
    })
}

fn build_from<L: Line>(
    tx: &Transactions,
    rule: Purchase,
    errors: bool,
    line: impl Fn(usize, usize) -> L + Sync + Send,
) -> History {
    pool::install(|| {
        let n = tx.customers.n_codes;
        let shift = PARTITION_BITS.min(usize::BITS - n.leading_zeros());
        let n_parts = (n >> shift) + 1;
        let lens: Vec<usize> = (0..tx.days.len()).map(|c| tx.chunk_len(c)).collect();
        let pieces = partition::pieces(&lens, PIECE_ROWS);
        let mut rows: Vec<L> = Vec::new();
        let part_of = |c: usize, i: usize| (tx.customers.rows.code(c, i) >> shift) as usize;
        let bounds = partition::scatter(&pieces, n_parts, part_of, line, &mut rows);
        let parts: Vec<Part> = (0..n_parts)
            .into_par_iter()
            .map(|q| {
                let base = (q << shift) as u32;
                let width = (1usize << shift).min(n - (q << shift).min(n));
                condense_part(base, width, &rows[bounds[q]..bounds[q + 1]], rule, errors)
            })
            .collect();
        let days = parts
            .par_iter()
            .flat_map_iter(|p| p.entries.iter().map(|e| (e.day, e.day)))
            .reduce_with(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        History { parts, days }
    })
}

/// Each customer's sum of a numeric column (`values`, per chunk), for the given codes.
pub fn column_sums(
    tx: &Transactions,
    values: &[arrow_buffer::ScalarBuffer<f64>],
    codes: &[u32],
) -> Vec<f64> {
    let code = |c: usize, i: usize| tx.customers.rows.code(c, i);
    let sums = sums_by_key(tx, tx.customers.n_codes, code, |c, i| values[c][i]);
    codes.iter().map(|&c| sums[c as usize]).collect()
}

/// The sum of `value(chunk, i)` over the rows of every key `key(chunk, i)` (< `n_keys`).
/// Rows are scattered by key keeping their order, then summed per partition with
/// compensation: the sums do not depend on the number of threads.
pub fn sums_by_key(
    tx: &Transactions,
    n_keys: usize,
    key: impl Fn(usize, usize) -> u32 + Sync,
    value: impl Fn(usize, usize) -> f64 + Sync,
) -> Vec<f64> {
    let sums = compensated_sums_by_key(tx, n_keys, key, value);
    sums.iter().map(Sum::value).collect()
}

/// `sums_by_key` with each sum's rounding error kept (for partial states, whose sums merge).
pub fn compensated_sums_by_key(
    tx: &Transactions,
    n_keys: usize,
    key: impl Fn(usize, usize) -> u32 + Sync,
    value: impl Fn(usize, usize) -> f64 + Sync,
) -> Vec<Sum> {
    pool::install(|| {
        let shift = PARTITION_BITS.min(usize::BITS - n_keys.leading_zeros());
        let lens: Vec<usize> = (0..tx.days.len()).map(|c| tx.chunk_len(c)).collect();
        let pieces = partition::pieces(&lens, PIECE_ROWS);
        let mut rows: Vec<(u32, f64)> = Vec::new();
        let part_of = |c: usize, i: usize| (key(c, i) >> shift) as usize;
        let item = |c: usize, i: usize| (key(c, i), value(c, i));
        let bounds = partition::scatter(&pieces, (n_keys >> shift) + 1, part_of, item, &mut rows);
        let mut sums = vec![Sum::default(); n_keys];
        sums.par_chunks_mut(1 << shift)
            .enumerate()
            .for_each(|(q, sums)| {
                let base = (q << shift) as u32;
                for &(k, v) in &rows[bounds[q]..bounds[q + 1]] {
                    sums[(k - base) as usize].add(v);
                }
            });
        sums
    })
}

/// Per entry of `history` (built from `tx`), in entry order, the compensated sum of
/// `value(chunk, i)` over the entry's rows (its customer, group and day). Rows are scattered by
/// customer partition as `build` scatters them, so each finds its entry among its partition's
/// entries, in cache; an entry's rows are added in row order, whatever the thread count.
pub fn sums_by_entry(
    tx: &Transactions,
    history: &History,
    value: impl Fn(usize, usize) -> f64 + Sync,
) -> Vec<Sum> {
    pool::install(|| {
        let n = tx.customers.n_codes;
        let shift = PARTITION_BITS.min(usize::BITS - n.leading_zeros());
        let lens: Vec<usize> = (0..tx.days.len()).map(|c| tx.chunk_len(c)).collect();
        let pieces = partition::pieces(&lens, PIECE_ROWS);
        let mut rows: Vec<(u32, u32, i32, f64)> = Vec::new();
        let code = |c: usize, i: usize| tx.customers.rows.code(c, i);
        let part_of = |c: usize, i: usize| (code(c, i) >> shift) as usize;
        let item = |c: usize, i: usize| {
            let group = tx.groups.as_ref().map_or(0, |g| g.codes[c][i]);
            (code(c, i), group, tx.days[c].day(i), value(c, i))
        };
        let bounds = partition::scatter(&pieces, history.parts.len(), part_of, item, &mut rows);
        let sums: Vec<Vec<Sum>> = history
            .parts
            .par_iter()
            .enumerate()
            .map(|(q, part)| {
                let mut sums = vec![Sum::default(); part.entries.len()];
                for &(code, group, day, v) in &rows[bounds[q]..bounds[q + 1]] {
                    let k = (code - part.base) as usize;
                    let (first, end) = (part.offsets[k] as usize, part.offsets[k + 1] as usize);
                    let own = &part.entries[first..end];
                    let at = first + own.partition_point(|e| (e.group, e.day) < (group, day));
                    sums[at].add(v);
                }
                sums
            })
            .collect();
        sums.concat()
    })
}

/// Counting-sort one partition's rows by customer (stable) and condense each customer's.
fn condense_part<L: Line>(
    base: u32,
    width: usize,
    rows: &[L],
    rule: Purchase,
    keep_errors: bool,
) -> Part {
    let mut offsets = vec![0u32; width + 1];
    for r in rows {
        offsets[(r.code() - base) as usize + 1] += 1;
    }
    for k in 0..width {
        offsets[k + 1] += offsets[k];
    }
    let mut next = offsets.clone();
    let mut sorted = vec![L::default(); rows.len()];
    for r in rows {
        let slot = &mut next[(r.code() - base) as usize];
        sorted[*slot as usize] = *r;
        *slot += 1;
    }
    let mut entries = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    let mut entry_offsets = Vec::with_capacity(width + 1);
    entry_offsets.push(0u32);
    for k in 0..width {
        let lines = &mut sorted[offsets[k] as usize..offsets[k + 1] as usize];
        condense(
            lines,
            rule,
            &mut entries,
            keep_errors.then_some(&mut errors),
        );
        entry_offsets.push(entries.len() as u32);
    }
    Part {
        base,
        offsets: entry_offsets,
        entries,
        errors,
    }
}

/// Append one customer's entries, ordered by (group, day).
fn condense<L: Line>(
    lines: &mut [L],
    rule: Purchase,
    out: &mut Vec<Entry>,
    mut errors: Option<&mut Vec<[f64; 2]>>,
) {
    let key = |r: &L| (r.group(), r.day());
    if !lines.is_sorted_by_key(key) {
        lines.sort_by_key(key);
    }
    let start = out.len();
    for run in lines.chunk_by(|a, b| key(a) == key(b)) {
        let (mut net, mut spent) = (Sum::default(), Sum::default());
        let mut purchase_rows = 0;
        for r in run {
            net.add(r.amount());
            if rule.counts(r.amount()) {
                purchase_rows += 1;
                spent.add(r.amount());
            }
        }
        let ((net, net_error), (spent, spent_error)) = (net.rounded(), spent.rounded());
        out.push(Entry {
            day: run[0].day(),
            group: run[0].group(),
            purchase_rows,
            purchases: if run[0].order().is_some() {
                0
            } else {
                purchase_rows
            },
            net,
            spent,
        });
        if let Some(errors) = errors.as_deref_mut() {
            errors.push([net_error, spent_error]);
        }
    }
    if lines.first().is_some_and(|r| r.order().is_some()) {
        // Each (group, order) is one purchase, on the earliest day of its purchase rows.
        let mut firsts: Vec<(u32, i64, i32)> = lines
            .iter()
            .filter(|r| rule.counts(r.amount()))
            .map(|r| (r.group(), r.order().unwrap_or(0), r.day()))
            .collect();
        firsts.sort_unstable();
        firsts.dedup_by_key(|f| (f.0, f.1));
        let entries = &mut out[start..];
        for (group, _, day) in firsts {
            let at = entries.partition_point(|e| (e.group, e.day) < (group, day));
            entries[at].purchases += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{ingest, OnInvalid, Spec};

    fn history(rows: &[(i64, i32, f64, i64)], orders: bool) -> (Vec<u32>, History) {
        let batch = crate::testing::log(rows);
        let spec = Spec {
            customer: "c".into(),
            date: "d".into(),
            amount: "a".into(),
            order: orders.then(|| "o".to_string()),
            need_codes: true,
            ..Spec::default()
        };
        let tx = ingest(&batch.schema(), &[batch], &spec, OnInvalid::Raise).unwrap();
        let h = build(&tx);
        (h.codes(), h)
    }

    fn entries(h: &History) -> Vec<Vec<(i32, u32, f64)>> {
        h.parts
            .iter()
            .flat_map(|p| {
                p.customers()
                    .map(|(_, es)| es.iter().map(|e| (e.day, e.purchases, e.net)).collect())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn rows_condense_to_days_in_order() {
        let rows = [
            (7, 12, 5.0, 1),
            (5, 10, 2.0, 1),
            (7, 3, 1.0, 2),
            (7, 12, -1.5, 3),
            (7, 12, 4.0, 4),
            (5, 10, 0.0, 5),
        ];
        let (codes, h) = history(&rows, false);
        assert_eq!(codes, vec![0, 2]);
        assert_eq!(
            entries(&h),
            vec![vec![(10, 1, 2.0)], vec![(3, 1, 1.0), (12, 2, 7.5)]]
        );
        assert_eq!(h.days, Some((3, 12)));
    }

    #[test]
    fn an_order_counts_once_on_its_earliest_day() {
        let rows = [
            (1, 20, 5.0, 9),
            (1, 21, 5.0, 9),
            (1, 21, 3.0, 8),
            (1, 21, 2.0, 8),
            (1, 22, -1.0, 7),
        ];
        let (_, h) = history(&rows, true);
        assert_eq!(
            entries(&h),
            vec![vec![(20, 1, 5.0), (21, 1, 10.0), (22, 0, -1.0)]]
        );
    }

    #[test]
    fn sums_by_entry_add_each_entrys_rows_over_many_partitions() {
        // 20K customers: several partitions of customers.
        let rows: Vec<(i64, i32, f64, i64)> = (0..60_000)
            .map(|i| (i * 7919 % 20_000, (i % 5) as i32, (i % 13) as f64 - 3.3, i))
            .collect();
        let batch = crate::testing::log(&rows);
        let spec = Spec {
            customer: "c".into(),
            date: "d".into(),
            amount: "a".into(),
            need_codes: true,
            ..Spec::default()
        };
        let tx = ingest(&batch.schema(), &[batch], &spec, OnInvalid::Raise).unwrap();
        let h = build(&tx);
        assert!(h.parts.len() > 1);
        let amount = |c: usize, i: usize| match &tx.amounts[c] {
            Amounts::F64(a) => a[i],
            Amounts::I64(a) => a[i] as f64,
        };
        let sums = sums_by_entry(&tx, &h, amount);
        let nets: Vec<f64> = h
            .parts
            .iter()
            .flat_map(|p| p.customers())
            .flat_map(|(_, es)| es.iter().map(|e| e.net))
            .collect();
        // The same rows in the same order: the entries' own sums, to the bit.
        assert_eq!(sums.iter().map(Sum::value).collect::<Vec<_>>(), nets);
    }

    #[test]
    fn many_customers_span_partitions_and_the_order_of_rows_does_not_matter() {
        let rows: Vec<(i64, i32, f64, i64)> = (0..60_000)
            .map(|i| (i * 7919 % 20_000, (i % 97) as i32, (i % 13) as f64 - 3.3, i))
            .collect();
        let mut reversed = rows.clone();
        reversed.reverse();
        let (codes, a) = history(&rows, false);
        let (_, b) = history(&reversed, false);
        assert_eq!(codes.len(), 20_000);
        assert_eq!(entries(&a), entries(&b));
    }
}
