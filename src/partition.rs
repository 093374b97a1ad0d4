//! Stable parallel radix scatter: the building block of both hot passes (key encoding and
//! the per-customer fold). Items land partition-major, and within a partition in input
//! order, so what follows sees every partition's rows in the order they came, whatever the
//! number of threads. Each partition is then small enough to work on in cache.

use rayon::prelude::*;

/// Contiguous rows of one input chunk, never crossing chunks.
#[derive(Clone, Copy, Debug)]
pub struct Piece {
    pub chunk: usize,
    pub start: usize,
    pub end: usize,
}

/// Split chunks of the given lengths into pieces of at most `piece_rows` rows. The split
/// depends only on the lengths, never on the thread count.
pub fn pieces(chunk_lens: &[usize], piece_rows: usize) -> Vec<Piece> {
    chunk_lens
        .iter()
        .enumerate()
        .flat_map(|(chunk, &len)| {
            (0..len).step_by(piece_rows.max(1)).map(move |start| Piece {
                chunk,
                start,
                end: (start + piece_rows).min(len),
            })
        })
        .collect()
}

/// A raw pointer shared by workers that write disjoint indices.
#[derive(Clone, Copy)]
pub struct SharedMut<T>(pub *mut T);
unsafe impl<T: Send> Send for SharedMut<T> {}
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// The pointer to element `i` (a method, so closures capture the Sync wrapper whole).
    ///
    /// # Safety
    /// `i` must be in bounds of the allocation the pointer came from.
    #[inline(always)]
    pub unsafe fn at(&self, i: usize) -> *mut T {
        unsafe { self.0.add(i) }
    }
}

/// Ask for the cache line of `value` ahead of its use, so that the cache misses of a loop's
/// random accesses overlap instead of stalling one after another.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Per piece, how many of its rows fall in each of the `n_parts` partitions.
pub fn histograms(
    pieces: &[Piece],
    n_parts: usize,
    part: impl Fn(usize, usize) -> usize + Sync,
) -> Vec<Vec<usize>> {
    pieces
        .par_iter()
        .map(|p| {
            let mut h = vec![0usize; n_parts];
            for i in p.start..p.end {
                h[part(p.chunk, i)] += 1;
            }
            h
        })
        .collect()
}

/// Scatter `item(chunk, i)` of every row of `pieces` into `out`, grouped by `part(chunk, i)`
/// (< `n_parts`). Returns the `n_parts + 1` partition bounds into `out`.
pub fn scatter<T: Copy + Send + Sync>(
    pieces: &[Piece],
    n_parts: usize,
    part: impl Fn(usize, usize) -> usize + Sync,
    item: impl Fn(usize, usize) -> T + Sync,
    out: &mut Vec<T>,
) -> Vec<usize> {
    let counts = histograms(pieces, n_parts, &part);
    scatter_counted(
        pieces,
        n_parts,
        &counts,
        |k| {
            let (p, part, item) = (pieces[k], &part, &item);
            (p.start..p.end).map(move |i| (part(p.chunk, i), item(p.chunk, i)))
        },
        out,
    )
}

/// `scatter` with the histograms already counted (`counts[k]` for `pieces[k]`):
/// `rows_of(k)` yields the (partition, item) of each row of `pieces[k]` in row order, so that
/// a caller that computed something per row while counting can walk it alongside.
pub fn scatter_counted<T: Copy + Send + Sync, R: Iterator<Item = (usize, T)>>(
    pieces: &[Piece],
    n_parts: usize,
    counts: &[Vec<usize>],
    rows_of: impl Fn(usize) -> R + Sync,
    out: &mut Vec<T>,
) -> Vec<usize> {
    // Partition q holds piece 0's rows, then piece 1's, ...: input order within q.
    let mut offsets = vec![vec![0usize; n_parts]; pieces.len()];
    let mut bounds = vec![0usize; n_parts + 1];
    let mut total = 0;
    for q in 0..n_parts {
        bounds[q] = total;
        for (k, c) in counts.iter().enumerate() {
            offsets[k][q] = total;
            total += c[q];
        }
    }
    bounds[n_parts] = total;
    out.clear();
    out.reserve(total);
    let dst = SharedMut(out.as_mut_ptr());
    pieces
        .par_iter()
        .zip(offsets.par_iter_mut())
        .enumerate()
        .for_each(|(k, (_, next))| {
            for (part, item) in rows_of(k) {
                let slot = &mut next[part];
                // SAFETY: `slot` walks this piece's own range of its partition, sized by the
                // counts above: no two workers write the same index and all are < `total`.
                unsafe { dst.at(*slot).write(item) };
                *slot += 1;
            }
        });
    // SAFETY: the loops above wrote every index below `total` exactly once (the offsets
    // partition 0..total by the counts), so all `total` items are initialised.
    unsafe { out.set_len(total) };
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_is_stable_and_complete() {
        let lens = [10usize, 0, 7];
        let ps = pieces(&lens, 3);
        let mut out = Vec::new();
        let bounds = scatter(&ps, 3, |c, i| (c + i) % 3, |c, i| (c, i), &mut out);
        assert_eq!(bounds, vec![0, 6, 11, 17]);
        for q in 0..3 {
            let part = &out[bounds[q]..bounds[q + 1]];
            assert!(part.iter().all(|&(c, i)| (c + i) % 3 == q));
            assert!(part.windows(2).all(|w| w[0] < w[1]), "input order kept");
        }
    }
}
