//! Handing freed memory back between the phases of a pass. The allocator is the binding
//! layer's choice (mimalloc), which keeps freed pages for a while to serve the next
//! allocations without faulting in fresh ones. Between phases that is a loss: the next
//! phase's blocks have other sizes, so most of the kept pages are not reused and stay
//! resident beside the new ones, and a call's peak memory was about twice the bytes live.
//! The binding layer registers how to release them; the passes say where.

use std::sync::OnceLock;

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Register the allocator's way of returning freed pages to the system (once; later calls
/// are ignored).
pub fn set_release(release: fn()) {
    let _ = RELEASE.set(release);
}

/// A phase's buffers are freed and the next phase allocates anew: return the freed pages
/// now (a no-op unless an allocator registered how).
pub fn release_freed() {
    if let Some(release) = RELEASE.get() {
        release();
    }
}
