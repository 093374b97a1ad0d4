//! The extension's allocator (mimalloc) and the one setting streaming changes: how soon
//! freed pages go back to the system.

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// `mi_option_purge_delay` of mimalloc.h (v3), which the -sys crate does not name.
const PURGE_DELAY: mi_option_t = 15;

/// Run `f` with freed pages returned to the system at once instead of after mimalloc's
/// delay (about a second), so that a pass folding slice after slice holds one slice's
/// worth of scratch memory, not several. Calls that want speed keep the delay.
pub fn releasing_freed_memory<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: mimalloc's option calls are thread-safe reads and writes of an integer.
    let before = unsafe { mi_option_get(PURGE_DELAY) };
    unsafe { mi_option_set(PURGE_DELAY, 0) };
    let out = f();
    unsafe { mi_option_set(PURGE_DELAY, before) };
    out
}

/// Keep freed pages for `milliseconds` before returning them to the system. A Dask worker
/// runs crm's passes back to back: with mimalloc's default delay (about a second) each task
/// faults in and zeroes fresh pages that the previous one had just given back.
#[pyo3::pyfunction]
pub fn keep_freed_memory_for(milliseconds: u32) {
    // SAFETY: as above.
    unsafe { mi_option_set(PURGE_DELAY, milliseconds.into()) };
}
