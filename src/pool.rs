//! The private rayon pool every parallel step runs on.
//!
//! Private so that `crm` never fights the host application's global pool; sized by
//! `CRM_NUM_THREADS` (default: all cores). Results never depend on its size: work is split
//! into fixed pieces or by customer range, never by "whatever each thread got".
//!
//! A forked child (multiprocessing, Spark executors) inherits the pool but not its threads,
//! so the pool remembers the process that built it and a child builds its own.

use std::sync::{Arc, Mutex};

static POOL: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>> = Mutex::new(None);

fn threads_from_env() -> usize {
    std::env::var("CRM_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

pub fn pool() -> Arc<rayon::ThreadPool> {
    let pid = std::process::id();
    let mut slot = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match slot.as_ref() {
        Some((owner, pool)) if *owner == pid => pool.clone(),
        _ => {
            let pool = Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads_from_env())
                    .thread_name(|i| format!("crm-{i}"))
                    .build()
                    .expect("building the crm thread pool"),
            );
            // A parent's pool has no threads in this process: dropping it would wait on
            // them forever, so it is leaked instead.
            if let Some(inherited) = slot.replace((pid, pool.clone())) {
                std::mem::forget(inherited);
            }
            pool
        }
    }
}

/// Run `f` inside the private pool.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    pool().install(f)
}

pub fn num_threads() -> usize {
    pool().current_num_threads()
}
