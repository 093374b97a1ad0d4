//! k-means clustering of rows of numeric features (typically RFM) and the silhouette score
//! to choose k. Plain Rust: features come in as columns of f64, results go out as vectors.
//!
//! Every parallel step works on fixed chunks of `CHUNK` rows and combines the chunks' partial
//! sums in chunk order, so results are bit-identical whatever the number of threads.

pub mod features;
pub mod kmeans;
pub mod rng;
pub mod silhouette;

/// Rows per parallel task: small enough to balance two cores, large enough to amortise a task.
pub const CHUNK: usize = 4096;

/// Most features the kernels take; more than enough for segmentation.
pub const MAX_FEATURES: usize = 64;

/// Calls `$run::<D>($cols, ...)` with the columns as a `[&[f64]; D]` where D is d itself for
/// d <= 8, else the next of 16, 32, 64 with all-zero columns appended (a zero column adds
/// nothing to any distance). A constant D lets the compiler unroll and vectorise the
/// distance loops.
macro_rules! with_dims {
    ($cols:expr, $run:ident ( $($arg:expr),* )) => {{
        let cols: &[&[f64]] = $cols;
        let n = cols.first().map_or(0, |c| c.len());
        let zeros = vec![0.0; n];
        macro_rules! go {
            ($d:literal) => {{
                let fixed: [&[f64]; $d] =
                    std::array::from_fn(|t| cols.get(t).copied().unwrap_or(&zeros[..]));
                $run::<$d>(fixed, $($arg),*)
            }};
        }
        match cols.len() {
            1 => go!(1),
            2 => go!(2),
            3 => go!(3),
            4 => go!(4),
            5 => go!(5),
            6 => go!(6),
            7 => go!(7),
            8 => go!(8),
            9..=16 => go!(16),
            17..=32 => go!(32),
            _ => go!(64),
        }
    }};
}
pub(crate) use with_dims;

/// Sum of `values` by fixed chunks, combined in chunk order (thread-count independent).
pub fn chunked_sum(values: &[f64]) -> f64 {
    chunked_sum_by(values, |x| x)
}

/// Sum of `f(value)` by fixed chunks, combined in chunk order.
pub fn chunked_sum_by(values: &[f64], f: impl Fn(f64) -> f64 + Sync) -> f64 {
    use rayon::prelude::*;
    let parts: Vec<f64> = values
        .par_chunks(CHUNK)
        .map(|chunk| lane_sum_by(chunk, &f))
        .collect();
    parts.iter().sum()
}

/// Sum in eight interleaved lanes (vectorises; still one fixed order).
pub fn lane_sum(values: &[f64]) -> f64 {
    lane_sum_by(values, |x| x)
}

fn lane_sum_by(values: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0.0; 8];
    let mut blocks = values.chunks_exact(8);
    for block in &mut blocks {
        for l in 0..8 {
            lanes[l] += f(block[l]);
        }
    }
    let tail: f64 = blocks.remainder().iter().map(|&x| f(x)).sum();
    lanes.iter().sum::<f64>() + tail
}
