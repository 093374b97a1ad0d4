//! Grouping rows by a key that needs hashing (strings, sparse integers), in parallel and in
//! cache: rows are scattered, a batch at a time and with their key and payload, into
//! partitions by key hash. Partitions hold disjoint keys, so each keeps its own small table
//! and its own accumulator, and nothing merges. Afterwards the distinct keys are sorted once,
//! so that codes are ranks: the same whatever the row order or the number of threads.

use std::hash::{BuildHasher, Hash};

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

/// A packed string, read back without a heap allocation.
pub struct Unpacked([u8; 16]);

impl AsRef<str> for Unpacked {
    fn as_ref(&self) -> &str {
        // The bytes are those of a `&str`, so always valid UTF-8.
        std::str::from_utf8(&self.0[..self.0[15] as usize]).unwrap_or_default()
    }
}

pub fn unpack(packed: &u128) -> Unpacked {
    Unpacked(packed.to_be_bytes())
}

/// Rows per partition to aim for: small enough for a partition's table to stay in cache.
const ROWS_PER_PARTITION: usize = 1 << 16;
const PIECE_ROWS: usize = 1 << 17;
/// Rows scattered at a time (bounds the scatter buffer).
const PIECES_PER_BATCH: usize = 8;

/// The distinct keys of one partition, numbered in order of first appearance.
pub struct KeyTable<K> {
    table: hashbrown::HashTable<u32>,
    pub keys: Vec<K>,
}

impl<K> Default for KeyTable<K> {
    fn default() -> Self {
        KeyTable {
            table: hashbrown::HashTable::new(),
            keys: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Copy> KeyTable<K> {
    /// The local id of `key`, added if new.
    #[inline]
    fn id(&mut self, key: K, hasher: &hashbrown::DefaultHashBuilder) -> u32 {
        let keys = &mut self.keys;
        let hash = hasher.hash_one(key);
        match self.table.entry(
            hash,
            |&u| keys[u as usize] == key,
            |&u| hasher.hash_one(keys[u as usize]),
        ) {
            hashbrown::hash_table::Entry::Occupied(o) => *o.get(),
            hashbrown::hash_table::Entry::Vacant(v) => {
                keys.push(key);
                *v.insert((keys.len() - 1) as u32).get()
            }
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

/// Visit every row grouped by key: `visit(acc, id, item)` runs, in input order within each
/// key, for the accumulator of the row's partition and the key's local id there. Returns
/// each partition's distinct keys by local id. `accs` has one accumulator per partition
/// (`partitions_for`).
pub fn group_by_key<K, T, A>(
    lens: &[usize],
    key_at: impl Fn(usize, usize) -> K + Sync,
    item: impl Fn(usize, usize) -> T + Sync,
    accs: &mut [A],
    visit: impl Fn(&mut A, u32, &T) + Sync,
) -> Vec<Vec<K>>
where
    K: Hash + Eq + Copy + Default + Send + Sync,
    T: Copy + Default + Send + Sync,
    A: Send,
{
    let hasher = hashbrown::DefaultHashBuilder::default();
    let n_parts = accs.len();
    debug_assert!(n_parts.is_power_of_two());
    // Middle bits: the tables themselves use the low bits and their tags the top ones.
    let part_of = |key: K| ((hasher.hash_one(key) >> 32) as usize) & (n_parts - 1);
    let mut tables: Vec<KeyTable<K>> = (0..n_parts).map(|_| KeyTable::default()).collect();
    let _p = crate::trace::phase("group rows by key");
    let mut rows: Vec<(K, T)> = Vec::new();
    let pieces: Vec<Piece> = partition::pieces(lens, PIECE_ROWS);
    for batch in pieces.chunks(PIECES_PER_BATCH) {
        let bounds = partition::scatter(
            batch,
            n_parts,
            |c, i| part_of(key_at(c, i)),
            |c, i| (key_at(c, i), item(c, i)),
            &mut rows,
        );
        tables
            .par_iter_mut()
            .zip(accs.par_iter_mut())
            .enumerate()
            .for_each(|(q, (table, acc))| {
                for (key, item) in &rows[bounds[q]..bounds[q + 1]] {
                    let id = table.id(*key, &hasher);
                    visit(acc, id, item);
                }
            });
    }
    tables.into_iter().map(|t| t.keys).collect()
}

/// The keys of all partitions in sorted order, and for each partition the global rank of
/// each of its local ids.
pub fn rank<K: Ord + Copy + Send + Sync + SortPrefix>(keys: &[Vec<K>]) -> (Vec<K>, Vec<Vec<u32>>) {
    let _p = crate::trace::phase("rank keys");
    // (prefix, partition, local id): 16 bytes a key, the keys themselves stay where they are.
    let mut order: Vec<(u64, u32, u32)> = keys
        .par_iter()
        .enumerate()
        .flat_map_iter(|(q, ks)| {
            ks.iter()
                .enumerate()
                .map(move |(id, k)| (k.sort_prefix(), q as u32, id as u32))
        })
        .collect();
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
        let unpacked: Vec<String> = packed.iter().map(|p| unpack(p).as_ref().into()).collect();
        assert_eq!(unpacked, words);
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
    fn grouping_counts_rows_per_key_and_ranks_sorted() {
        let keys: Vec<i64> = (0..200_000).map(|i| (i * 7919) % 1000 - 500).collect();
        let parts = partitions_for(keys.len());
        let mut counts: Vec<Vec<u32>> = (0..parts).map(|_| Vec::new()).collect();
        let tables = group_by_key(
            &[keys.len()],
            |_, i| keys[i],
            |_, _| (),
            &mut counts,
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
