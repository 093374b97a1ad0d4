//! Grouping rows by a key that needs hashing (strings, sparse integers), in parallel and in
//! cache: rows are scattered, a batch at a time and with their key and payload, into
//! partitions by key hash. Partitions hold disjoint keys, so each keeps its own small table
//! and its own accumulator, and nothing merges. Afterwards the distinct keys are sorted once,
//! so that codes are ranks: the same whatever the row order or the number of threads.

use std::hash::BuildHasher;

use rayon::prelude::*;

use crate::partition::{self, Piece};

/// A prefix of a key whose order agrees with the key's order (ties are broken by the key).
pub trait SortPrefix {
    fn sort_prefix(&self) -> u64;
}

impl SortPrefix for i64 {
    fn sort_prefix(&self) -> u64 {
        (*self as u64) ^ (1 << 63)
    }
}

impl SortPrefix for u128 {
    fn sort_prefix(&self) -> u64 {
        (*self >> 64) as u64
    }
}

impl SortPrefix for &str {
    fn sort_prefix(&self) -> u64 {
        let mut first = [0u8; 8];
        let n = self.len().min(8);
        first[..n].copy_from_slice(&self.as_bytes()[..n]);
        u64::from_be_bytes(first)
    }
}

/// Strings of up to 15 bytes packed into one integer: the bytes big-endian, zero-padded, then
/// the length. Integer order is the strings' byte order, and no lookup needs the string data.
pub const PACKED_MAX_LEN: usize = 15;

#[inline(always)]
pub fn pack(s: &str) -> u128 {
    let (b, n) = (s.as_bytes(), s.len());
    debug_assert!(n <= PACKED_MAX_LEN);
    // Two overlapping loads cover the string without a variable-length copy: the head at
    // bytes 0.., the tail shifted to end at byte n (where they overlap the bytes agree).
    let at_end = |tail: u128| tail << (8 * (16 - n));
    let body = if n >= 8 {
        let word = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap()) as u128;
        (word(0) << 64) | at_end(word(n - 8))
    } else if n >= 4 {
        let word = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as u128;
        (word(0) << 96) | at_end(word(n - 4))
    } else if n > 0 {
        let byte = |i: usize| (b[i] as u128) << (8 * (15 - i));
        byte(0) | byte(n / 2) | byte(n - 1)
    } else {
        0
    };
    body | n as u128
}

/// How a column's strings are packed into one integer, chosen from their lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    /// Every string is 8 bytes long: the bytes themselves, big-endian (`Word::eight`).
    Eight,
    /// No string is longer than 7 bytes: as `pack`, on 64 bits (`Word::short`).
    Short,
    /// No string is longer than `PACKED_MAX_LEN` bytes: `pack`.
    Wide,
    /// Longer strings: hashed, not packed.
    None,
}

impl Packing {
    /// The packing of strings of `shortest..=longest` bytes.
    pub fn for_lengths(shortest: usize, longest: usize) -> Packing {
        match longest {
            0..=7 => Packing::Short,
            8 if shortest == 8 => Packing::Eight,
            _ if longest <= PACKED_MAX_LEN => Packing::Wide,
            _ => Packing::None,
        }
    }
}

/// A short string packed into 64 bits, grouped like an integer key: half the bytes of a
/// `pack`ed one to hash, scatter and compare. Integer order is the strings' byte order
/// within one packing (fixed-width ids, the common case, are `Eight`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Word(u64);

impl Word {
    /// A string of exactly 8 bytes.
    #[inline(always)]
    pub fn eight(s: &str) -> Word {
        debug_assert_eq!(s.len(), 8);
        Word(u64::from_be_bytes(s.as_bytes()[..8].try_into().unwrap()))
    }

    /// A string of at most 7 bytes: its bytes big-endian, zero-padded, then its length.
    #[inline(always)]
    pub fn short(s: &str) -> Word {
        let (b, n) = (s.as_bytes(), s.len());
        debug_assert!(n <= 7);
        let at_end = |tail: u64| tail << (8 * (8 - n));
        let body = if n >= 4 {
            let word = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as u64;
            (word(0) << 32) | at_end(word(n - 4))
        } else if n > 0 {
            let byte = |i: usize| (b[i] as u64) << (8 * (7 - i));
            byte(0) | byte(n / 2) | byte(n - 1)
        } else {
            0
        };
        Word(body | n as u64)
    }

    /// The string back, as packed by `packing` (`Eight` or `Short`).
    ///
    /// # Safety
    /// `self` must come from `Word::eight` for `Eight`, `Word::short` for `Short`.
    pub unsafe fn unpack(&self, packing: Packing) -> Unpacked {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.0.to_be_bytes());
        bytes[15] = match packing {
            Packing::Eight => 8,
            _ => bytes[7],
        };
        Unpacked(bytes)
    }
}

impl SortPrefix for Word {
    fn sort_prefix(&self) -> u64 {
        self.0
    }
}

impl GroupKey for Word {
    type Grouped = u64;
    #[inline(always)]
    fn grouped(self) -> u64 {
        mix64(self.0)
    }
    #[inline(always)]
    fn hash(grouped: &u64) -> u64 {
        *grouped
    }
    fn key(grouped: u64) -> Word {
        Word(unmix64(grouped))
    }
}

/// A packed string, read back without a heap allocation.
pub struct Unpacked([u8; 16]);

impl AsRef<str> for Unpacked {
    fn as_ref(&self) -> &str {
        // SAFETY: `unpack`'s contract: `pack` took these bytes, and the length in byte 15,
        // from a `&str` (validating a million keys again was a measurable cost).
        unsafe { std::str::from_utf8_unchecked(&self.0[..self.0[15] as usize]) }
    }
}

/// # Safety
/// `packed` must be a value returned by `pack`.
pub unsafe fn unpack(packed: &u128) -> Unpacked {
    Unpacked(packed.to_be_bytes())
}

/// Rows per partition to aim for: small enough for a partition's table to stay in cache.
const ROWS_PER_PARTITION: usize = 1 << 16;
const PIECE_ROWS: usize = 1 << 17;
/// Rows scattered at a time unless the caller's memory budget allows more: every batch
/// streams all partitions' tables and states through the cache once, the buffers cost memory.
const MIN_BATCH_ROWS: usize = 8 * PIECE_ROWS;

/// A key as the grouping carries it: a fixed-size value with the key's hash inside, so that a
/// row's key is read and hashed once (while counting) and neither the scatter nor the tables
/// look at it again. Integers and packed strings are mixed by a bijection (the grouped value
/// is itself the hash, and unmixes back into the key); other strings carry their hash beside.
pub trait GroupKey: Copy + Send + Sync {
    type Grouped: Copy + Eq + Default + Send + Sync;
    fn grouped(self) -> Self::Grouped;
    /// 64 well-mixed bits: bits 32.. pick the partition, the table uses all of them.
    fn hash(grouped: &Self::Grouped) -> u64;
    fn key(grouped: Self::Grouped) -> Self;
}

/// The inverse of an odd number modulo 2^128 (Newton's iteration: each step doubles the
/// correct low bits, from 3).
const fn inverse(c: u128) -> u128 {
    let mut x = c;
    let mut step = 0;
    while step < 6 {
        x = x.wrapping_mul(2u128.wrapping_sub(c.wrapping_mul(x)));
        step += 1;
    }
    x
}

// Odd multipliers of the mixes (from MurmurHash3's finalizer and its 128-bit relatives).
const M64: [u64; 2] = [0xff51_afd7_ed55_8ccd, 0xc4ce_b9fe_1a85_ec53];
const M64_INV: [u64; 2] = [
    inverse(M64[0] as u128) as u64,
    inverse(M64[1] as u128) as u64,
];
const M128: [u128; 2] = [
    0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835,
    0xc2b2_ae3d_27d4_eb4f_1656_67b1_9e37_79f9,
];
const M128_INV: [u128; 2] = [inverse(M128[0]), inverse(M128[1])];

/// MurmurHash3's 64-bit finalizer: a bijection (each step can be undone).
fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(M64[0]);
    x ^= x >> 33;
    x = x.wrapping_mul(M64[1]);
    x ^ (x >> 33)
}

fn unmix64(mut x: u64) -> u64 {
    x ^= x >> 33; // x ^= x >> 33 is its own inverse
    x = x.wrapping_mul(M64_INV[1]);
    x ^= x >> 33;
    x = x.wrapping_mul(M64_INV[0]);
    x ^ (x >> 33)
}

/// The same construction on 128 bits.
fn mix128(mut x: u128) -> u128 {
    x ^= x >> 64;
    x = x.wrapping_mul(M128[0]);
    x ^= x >> 64;
    x = x.wrapping_mul(M128[1]);
    x ^ (x >> 64)
}

fn unmix128(mut x: u128) -> u128 {
    x ^= x >> 64;
    x = x.wrapping_mul(M128_INV[1]);
    x ^= x >> 64;
    x = x.wrapping_mul(M128_INV[0]);
    x ^ (x >> 64)
}

impl GroupKey for i64 {
    type Grouped = u64;
    #[inline(always)]
    fn grouped(self) -> u64 {
        mix64(self as u64)
    }
    #[inline(always)]
    fn hash(grouped: &u64) -> u64 {
        *grouped
    }
    fn key(grouped: u64) -> i64 {
        unmix64(grouped) as i64
    }
}

/// Packed strings (`pack`).
impl GroupKey for u128 {
    type Grouped = u128;
    #[inline(always)]
    fn grouped(self) -> u128 {
        mix128(self)
    }
    #[inline(always)]
    fn hash(grouped: &u128) -> u64 {
        (*grouped >> 64) as u64
    }
    fn key(grouped: u128) -> u128 {
        unmix128(grouped)
    }
}

/// A string too long to pack, with its hash.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct HashedStr<'a> {
    hash: u64,
    text: &'a str,
}

impl<'a> GroupKey for &'a str {
    type Grouped = HashedStr<'a>;
    #[inline(always)]
    fn grouped(self) -> HashedStr<'a> {
        HashedStr {
            hash: foldhash::fast::FixedState::default().hash_one(self),
            text: self,
        }
    }
    #[inline(always)]
    fn hash(grouped: &HashedStr<'a>) -> u64 {
        grouped.hash
    }
    fn key(grouped: HashedStr<'a>) -> &'a str {
        grouped.text
    }
}

/// The distinct keys of one partition, numbered in order of first appearance: an
/// open-addressing table of ids (linear probing), small enough to stay in cache. The grouped
/// keys are already hashes, so a lookup is a mask and usually one comparison.
struct KeyTable<G> {
    /// Key ids, `EMPTY` where free; the length is a power of two, at least twice the keys.
    slots: Vec<u32>,
    keys: Vec<G>,
}

const EMPTY: u32 = u32::MAX;

impl<G> Default for KeyTable<G> {
    fn default() -> Self {
        KeyTable {
            slots: vec![EMPTY; 64],
            keys: Vec::new(),
        }
    }
}

impl<G: Copy + Eq> KeyTable<G> {
    /// The local id of `key`, added if new.
    #[inline(always)]
    fn id(&mut self, key: G, hash: impl Fn(&G) -> u64) -> u32 {
        let mask = self.slots.len() - 1;
        let mut at = hash(&key) as usize & mask;
        loop {
            match self.slots[at] {
                EMPTY => break,
                id if self.keys[id as usize] == key => return id,
                _ => at = (at + 1) & mask,
            }
        }
        let id = self.keys.len() as u32;
        self.keys.push(key);
        self.slots[at] = id;
        if self.keys.len() * 2 > self.slots.len() {
            self.grow(hash);
        }
        id
    }

    /// Prefetch the slot `key` starts probing at.
    #[inline(always)]
    fn prefetch_slot(&self, key: &G, hash: impl Fn(&G) -> u64) {
        partition::prefetch(&self.slots[hash(key) as usize & (self.slots.len() - 1)]);
    }

    /// The id in the slot `key` starts probing at (usually the key's own, if it is in the
    /// table), its stored key prefetched: a guess made rows ahead, so that the lookup then
    /// finds slot and key in cache.
    #[inline(always)]
    fn prefetch_first_candidate(&self, key: &G, hash: impl Fn(&G) -> u64) -> Option<u32> {
        let id = self.slots[hash(key) as usize & (self.slots.len() - 1)];
        let stored = self.keys.get(id as usize)?;
        partition::prefetch(stored);
        Some(id)
    }

    #[cold]
    fn grow(&mut self, hash: impl Fn(&G) -> u64) {
        self.slots = vec![EMPTY; self.slots.len() * 2];
        let mask = self.slots.len() - 1;
        for (id, key) in self.keys.iter().enumerate() {
            let mut at = hash(key) as usize & mask;
            while self.slots[at] != EMPTY {
                at = (at + 1) & mask;
            }
            self.slots[at] = id as u32;
        }
    }
}

/// How many partitions for `total` rows.
pub fn partitions_for(total: usize) -> usize {
    (total / ROWS_PER_PARTITION)
        .max(1)
        .next_power_of_two()
        .min(1 << 12)
}

/// How many rows ahead of its lookup a row's table slot is prefetched; its key and
/// accumulator entry are prefetched half as far ahead, once the slot is in cache.
const LOOKUP_AHEAD: usize = 16;

/// Visit every row grouped by key: `visit(acc, id, item)` runs, in input order within each
/// key, for the accumulator of the row's partition and the key's local id there. Returns
/// each partition's distinct keys by local id. `accs` has one accumulator per partition
/// (`partitions_for`). Rows are scattered in batches whose buffers take about `batch_bytes`
/// (but at least `MIN_BATCH_ROWS` rows).
/// `prefetch(acc, id)` may prefetch what `visit` will touch for a key seen before (the id
/// can be one not yet in `acc`).
pub fn group_by_key<K, T, A>(
    lens: &[usize],
    batch_bytes: usize,
    key_at: impl Fn(usize, usize) -> K + Sync,
    item: impl Fn(usize, usize) -> T + Sync,
    accs: &mut [A],
    prefetch: impl Fn(&A, u32) + Sync,
    visit: impl Fn(&mut A, u32, &T) + Sync,
) -> Vec<Vec<K>>
where
    K: GroupKey,
    T: Copy + Send + Sync,
    A: Send,
{
    let n_parts = accs.len();
    debug_assert!(n_parts.is_power_of_two());
    let part_of = |g: &K::Grouped| ((K::hash(g) >> 32) as usize) & (n_parts - 1);
    let mut tables: Vec<KeyTable<K::Grouped>> = (0..n_parts).map(|_| KeyTable::default()).collect();
    let _p = crate::trace::phase("group rows by key");
    let mut rows: Vec<(K::Grouped, T)> = Vec::new();
    let pieces: Vec<Piece> = partition::pieces(lens, PIECE_ROWS);
    // The grouped keys of a batch, piece after piece.
    // A row takes its scattered key and payload, and its grouped key stored for the scatter.
    let row_bytes = std::mem::size_of::<(K::Grouped, T)>() + std::mem::size_of::<K::Grouped>();
    let pieces_per_batch = (batch_bytes / row_bytes).max(MIN_BATCH_ROWS) / PIECE_ROWS;
    let batches: Vec<&[Piece]> = pieces.chunks(pieces_per_batch).collect();
    let rows_of = |batch: &[Piece]| batch.iter().map(|p| p.end - p.start).sum::<usize>();
    let most_rows = batches.iter().map(|b| rows_of(b)).max().unwrap_or(0);
    let mut grouped = vec![K::Grouped::default(); most_rows];
    for batch in batches {
        let mut starts = Vec::with_capacity(batch.len());
        let mut piece_keys = Vec::with_capacity(batch.len());
        let mut rest = &mut grouped[..];
        for p in batch {
            starts.push(most_rows - rest.len());
            let (head, tail) = rest.split_at_mut(p.end - p.start);
            piece_keys.push(head);
            rest = tail;
        }
        let counts: Vec<Vec<usize>> = batch
            .par_iter()
            .zip(piece_keys)
            .map(|(p, keys)| {
                let mut h = vec![0usize; n_parts];
                for (i, slot) in (p.start..p.end).zip(keys) {
                    *slot = key_at(p.chunk, i).grouped();
                    h[part_of(slot)] += 1;
                }
                h
            })
            .collect();
        let bounds = partition::scatter_counted(
            batch,
            n_parts,
            &counts,
            |k| {
                let (p, item) = (batch[k], &item);
                let keys = &grouped[starts[k]..starts[k] + p.end - p.start];
                (p.start..p.end)
                    .zip(keys)
                    .map(move |(i, g)| (part_of(g), (*g, item(p.chunk, i))))
            },
            &mut rows,
        );
        tables
            .par_iter_mut()
            .zip(accs.par_iter_mut())
            .enumerate()
            .for_each(|(q, (table, acc))| {
                // A batch holds about as many rows of a partition as it has keys, so most
                // lookups miss the cache: the misses of rows ahead are overlapped.
                let part = &rows[bounds[q]..bounds[q + 1]];
                for (j, (key, item)) in part.iter().enumerate() {
                    if let Some((ahead, _)) = part.get(j + LOOKUP_AHEAD) {
                        table.prefetch_slot(ahead, K::hash);
                    }
                    if let Some((ahead, _)) = part.get(j + LOOKUP_AHEAD / 2) {
                        if let Some(id) = table.prefetch_first_candidate(ahead, K::hash) {
                            prefetch(acc, id);
                        }
                    }
                    let id = table.id(*key, K::hash);
                    visit(acc, id, item);
                }
            });
    }
    tables
        .into_iter()
        .map(|t| t.keys.into_iter().map(K::key).collect())
        .collect()
}

/// The keys of all partitions in sorted order, and for each partition the global rank of
/// each of its local ids.
pub fn rank<K: Ord + Copy + Send + Sync + SortPrefix>(keys: &[Vec<K>]) -> (Vec<K>, Vec<Vec<u32>>) {
    let _p = crate::trace::phase("rank keys");
    // (prefix, partition, local id): 16 bytes a key, the keys themselves stay where they are.
    // Written in place at each partition's offset: a parallel collect of unknown length
    // would grow and free pieces that leave the memory it reuses too fragmented.
    let n: usize = keys.iter().map(Vec::len).sum();
    let mut order: Vec<(u64, u32, u32)> = Vec::with_capacity(n);
    let mut rest = &mut order.spare_capacity_mut()[..n];
    let mut slices = Vec::with_capacity(keys.len());
    for ks in keys {
        let (head, tail) = rest.split_at_mut(ks.len());
        slices.push(head);
        rest = tail;
    }
    slices
        .into_par_iter()
        .zip(keys.par_iter())
        .enumerate()
        .for_each(|(q, (slots, ks))| {
            for (id, (slot, k)) in slots.iter_mut().zip(ks).enumerate() {
                slot.write((k.sort_prefix(), q as u32, id as u32));
            }
        });
    // SAFETY: the slices cover 0..n, each element written once above.
    unsafe { order.set_len(n) };
    order.par_sort_unstable_by_key(|&(prefix, _, _)| prefix);
    let key = |&(_, q, id): &(u64, u32, u32)| keys[q as usize][id as usize];
    for run in order
        .chunk_by_mut(|a, b| a.0 == b.0)
        .filter(|r| r.len() > 1)
    {
        run.sort_unstable_by_key(key);
    }
    let mut ranks: Vec<Vec<u32>> = keys.iter().map(|ks| vec![0u32; ks.len()]).collect();
    for (r, &(_, q, id)) in order.iter().enumerate() {
        ranks[q as usize][id as usize] = r as u32;
    }
    (order.iter().map(key).collect(), ranks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_strings_keep_byte_order() {
        let mut words = vec![
            "b",
            "a",
            "",
            "ab",
            "a\u{0}",
            "zzzzzzzzzzzzzzz",
            "C10",
            "C1",
            "C9",
        ];
        let mut packed: Vec<u128> = words.iter().map(|w| pack(w)).collect();
        packed.sort();
        words.sort();
        // SAFETY: every value was packed above.
        let unpacked: Vec<String> = packed
            .iter()
            .map(|p| unsafe { unpack(p) }.as_ref().into())
            .collect();
        assert_eq!(unpacked, words);
    }

    #[test]
    fn words_keep_byte_order_and_unpack() {
        for (mut words, packing, pack) in [
            (
                vec![
                    "b", "a", "", "ab", "a\u{0}", "zzzzzzz", "C10", "C1", "C9", "\u{0}",
                ],
                Packing::Short,
                Word::short as fn(&str) -> Word,
            ),
            (
                vec![
                    "C0000010",
                    "C0000001",
                    "b0000000",
                    "\u{0}0000000",
                    "zzzzzzzz",
                ],
                Packing::Eight,
                Word::eight,
            ),
        ] {
            let mut packed: Vec<Word> = words.iter().map(|w| pack(w)).collect();
            packed.sort();
            words.sort();
            // SAFETY: every value was packed above by `packing`'s function.
            let unpacked: Vec<String> = packed
                .iter()
                .map(|p| unsafe { p.unpack(packing) }.as_ref().into())
                .collect();
            assert_eq!(unpacked, words);
            assert!(packed.iter().all(|&w| Word::key(w.grouped()) == w));
        }
        let text = "abcdefg";
        for n in 0..=7 {
            let mut bytes = [0u8; 8];
            bytes[..n].copy_from_slice(&text.as_bytes()[..n]);
            bytes[7] = n as u8;
            assert_eq!(
                Word::short(&text[..n]).0,
                u64::from_be_bytes(bytes),
                "length {n}"
            );
        }
    }

    #[test]
    fn packing_follows_the_lengths() {
        assert_eq!(Packing::for_lengths(0, 0), Packing::Short);
        assert_eq!(Packing::for_lengths(1, 7), Packing::Short);
        assert_eq!(Packing::for_lengths(8, 8), Packing::Eight);
        assert_eq!(Packing::for_lengths(7, 8), Packing::Wide);
        assert_eq!(Packing::for_lengths(9, 15), Packing::Wide);
        assert_eq!(Packing::for_lengths(3, 16), Packing::None);
    }

    #[test]
    fn packing_matches_a_byte_copy_at_every_length() {
        let text = "abcdefghijklmnop";
        for n in 0..=PACKED_MAX_LEN {
            let s = &text[..n];
            let mut bytes = [0u8; 16];
            bytes[..n].copy_from_slice(s.as_bytes());
            bytes[15] = n as u8;
            assert_eq!(pack(s), u128::from_be_bytes(bytes), "length {n}");
        }
    }

    #[test]
    fn mixing_is_undone_and_spreads_sequential_ids_over_partitions() {
        for k in [0i64, 1, -1, i64::MIN, i64::MAX, 1_234_567_890_123] {
            assert_eq!(i64::key(k.grouped()), k);
        }
        for s in ["", "a", "C0000001", "zzzzzzzzzzzzzzz"] {
            assert_eq!(u128::key(pack(s).grouped()), pack(s));
        }
        let spread = |hashes: &mut dyn Iterator<Item = u64>| {
            let mut counts = [0u32; 256];
            hashes.for_each(|h| counts[((h >> 32) & 255) as usize] += 1);
            counts.iter().all(|&c| (850..1150).contains(&c))
        };
        assert!(spread(
            &mut (0..256_000i64).map(|k| i64::hash(&k.grouped()))
        ));
        let ids: Vec<String> = (0..256_000).map(|k| format!("C{k:07}")).collect();
        assert!(spread(
            &mut ids.iter().map(|s| u128::hash(&pack(s).grouped()))
        ));
    }

    #[test]
    fn grouping_counts_rows_per_key_and_ranks_sorted() {
        let keys: Vec<i64> = (0..200_000).map(|i| (i * 7919) % 1000 - 500).collect();
        let parts = partitions_for(keys.len());
        let mut counts: Vec<Vec<u32>> = (0..parts).map(|_| Vec::new()).collect();
        let tables = group_by_key(
            &[keys.len()],
            0, // the smallest batches
            |_, i| keys[i],
            |_, _| (),
            &mut counts,
            |_, _| (),
            |c, id, _| {
                if c.len() <= id as usize {
                    c.resize(id as usize + 1, 0);
                }
                c[id as usize] += 1;
            },
        );
        let (sorted, ranks) = rank(&tables);
        assert_eq!(sorted, (-500..500).collect::<Vec<i64>>());
        let mut per_key = vec![0u32; 1000];
        for (q, keys) in tables.iter().enumerate() {
            for id in 0..keys.len() {
                per_key[ranks[q][id] as usize] += counts[q][id];
            }
        }
        assert!(per_key.iter().all(|&n| n == 200));
    }
}
