//! The private rayon pool every parallel step runs on.
//!
//! Private so that `crm` never fights the host application's global pool; sized by
//! `CRM_NUM_THREADS` (default: all cores). Results never depend on its size: work is split
//! by customer range or into fixed pieces, never by "whatever each thread got".

use std::sync::OnceLock;

static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();

fn threads_from_env() -> usize {
    std::env::var("CRM_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

pub fn pool() -> &'static rayon::ThreadPool {
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads_from_env())
            .thread_name(|i| format!("crm-{i}"))
            .build()
            .expect("building the crm thread pool")
    })
}

/// Run `f` inside the private pool.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    pool().install(f)
}

pub fn num_threads() -> usize {
    pool().current_num_threads()
}
