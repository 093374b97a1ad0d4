//! The extension's allocator (mimalloc, large blocks mapped on their own) and when freed
//! pages go back to the system: at the phase boundaries the passes name
//! (`crate::memory::release_freed`), at once while streaming, later in a Dask worker.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};
use mimalloc::MiMalloc;

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
/// The passes' releases between phases are skipped then.
#[pyo3::pyfunction]
pub fn keep_freed_memory_for(milliseconds: u32) {
    KEEPING.store(milliseconds > 0, Ordering::Relaxed);
    // SAFETY: as above.
    unsafe { mi_option_set(PURGE_DELAY, milliseconds.into()) };
}

static KEEPING: AtomicBool = AtomicBool::new(false);

/// `memory::release_freed` for mimalloc: purge the pages freed so far, unless freed memory
/// is being kept on purpose.
pub fn release_freed_pages() {
    if !KEEPING.load(Ordering::Relaxed) {
        // SAFETY: mimalloc's collect may run on any thread at any time.
        unsafe { libmimalloc_sys::mi_collect(true) };
    }
}

/// Blocks this large or larger are mapped from the system on their own, in huge pages, and
/// returned to it when freed; smaller ones come from mimalloc.
const LARGE: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// mimalloc, except for large blocks. A pass's large buffers (scatter batches, the states in
/// key order, ranks, result columns) have sizes that change from phase to phase: mimalloc
/// carves the small blocks of the next phase out of a freed large block, so the next large
/// one needs fresh pages while the freed ones stay resident until its purge delay, and the
/// peak memory of a call was about twice the bytes live at any time. Mapped on their own,
/// large blocks leave memory as soon as they are freed; in huge pages, mapping them again
/// costs a sixth of what faulting in small pages would.
pub struct LargeBlocksMapped;

fn mapped_len(size: usize) -> usize {
    size.next_multiple_of(HUGE_PAGE)
}

/// `len` bytes (a multiple of HUGE_PAGE) of fresh zeroed memory at a huge-page boundary.
unsafe fn map(len: usize) -> *mut u8 {
    use libc::{MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE, PROT_READ, PROT_WRITE};
    // SAFETY: a fresh anonymous private mapping; the unaligned head and tail are unmapped.
    unsafe {
        let raw = libc::mmap(
            std::ptr::null_mut(),
            len + HUGE_PAGE,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1,
            0,
        );
        if raw == MAP_FAILED {
            return std::ptr::null_mut();
        }
        let start = (raw as usize).next_multiple_of(HUGE_PAGE);
        let head = start - raw as usize;
        if head > 0 {
            libc::munmap(raw, head);
        }
        let tail = HUGE_PAGE - head;
        if tail > 0 {
            libc::munmap((start + len) as *mut libc::c_void, tail);
        }
        libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        start as *mut u8
    }
}

/// The blocks mapped and not yet freed, so that freeing a large block knows where it came
/// from: while freed memory is kept (`keep_freed_memory_for`, a Dask worker) large blocks
/// come from mimalloc, which keeps them for the next task. A full table falls back to
/// mimalloc too.
static MAPPED: [AtomicUsize; 1024] = [const { AtomicUsize::new(0) }; 1024];

fn register(ptr: *mut u8) -> bool {
    MAPPED.iter().any(|slot| {
        slot.compare_exchange(0, ptr as usize, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    })
}

/// Forget `ptr` if it was mapped; whether it was.
fn unregister(ptr: *mut u8) -> bool {
    MAPPED.iter().any(|slot| {
        slot.compare_exchange(ptr as usize, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    })
}

fn is_large(size: usize, layout: Layout) -> bool {
    size >= LARGE && layout.align() <= HUGE_PAGE
}

/// A registered mapping of `size` bytes, or null (mapping failed or the table is full).
unsafe fn map_registered(size: usize) -> *mut u8 {
    // SAFETY: a fresh mapping, unmapped again if it cannot be registered.
    unsafe {
        let ptr = map(mapped_len(size));
        if !ptr.is_null() && !register(ptr) {
            libc::munmap(ptr.cast(), mapped_len(size));
            return std::ptr::null_mut();
        }
        ptr
    }
}

unsafe impl GlobalAlloc for LargeBlocksMapped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout) && !KEEPING.load(Ordering::Relaxed) {
            // SAFETY: a fresh mapping, or mimalloc's block when there is none.
            let ptr = unsafe { map_registered(layout.size()) };
            if !ptr.is_null() {
                return ptr;
            }
        }
        // SAFETY: forwarded as given.
        unsafe { MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout) && !KEEPING.load(Ordering::Relaxed) {
            // SAFETY: fresh mappings are zeroed.
            let ptr = unsafe { map_registered(layout.size()) };
            if !ptr.is_null() {
                return ptr;
            }
        }
        // SAFETY: forwarded as given.
        unsafe { MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout.size(), layout) && unregister(ptr) {
            // SAFETY: `ptr` was mapped by `map` with this length (same layout).
            unsafe { libc::munmap(ptr.cast(), mapped_len(layout.size())) };
        } else {
            // SAFETY: forwarded as given.
            unsafe { MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let mapped = is_large(layout.size(), layout)
            && MAPPED
                .iter()
                .any(|slot| slot.load(Ordering::Acquire) == ptr as usize);
        if !mapped && !is_large(new_size, layout) {
            // SAFETY: forwarded as given.
            return unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        }
        let (old_len, new_len) = (mapped_len(layout.size()), mapped_len(new_size));
        if mapped && is_large(new_size, layout) {
            if new_len == old_len {
                return ptr;
            }
            // The pages move to a fresh aligned range, not copied.
            // SAFETY: `new` is a fresh mapping of new_len that mremap replaces; the table's
            // entry follows the block.
            unsafe {
                let new = map(new_len);
                if new.is_null() {
                    return new;
                }
                let moved = libc::mremap(
                    ptr.cast(),
                    old_len,
                    new_len,
                    libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                    new.cast::<libc::c_void>(),
                );
                if moved == libc::MAP_FAILED {
                    libc::munmap(new.cast(), new_len);
                    return std::ptr::null_mut();
                }
                unregister(ptr);
                if !register(moved.cast()) {
                    // No room to remember it: hand the bytes to a mimalloc block instead.
                    let block =
                        MiMalloc.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
                    if !block.is_null() {
                        std::ptr::copy_nonoverlapping(
                            moved.cast::<u8>(),
                            block,
                            layout.size().min(new_size),
                        );
                    }
                    libc::munmap(moved, new_len);
                    return block;
                }
                return moved.cast();
            }
        }
        // SAFETY: a new block of the new size; the common prefix is copied, the old freed.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fill, grow, shrink and free blocks across the large threshold: contents survive
    /// every move between mimalloc and the mappings.
    #[test]
    fn blocks_keep_their_bytes_across_sizes() {
        let sizes = [
            1 << 10,
            LARGE - 1,
            LARGE,
            LARGE + 1,
            3 * LARGE + 12_345,
            LARGE,
            100,
        ];
        let layout = Layout::from_size_align(sizes[0], 8).unwrap();
        // SAFETY: every block is used within its current size and freed with its layout.
        unsafe {
            let mut ptr = LargeBlocksMapped.alloc(layout);
            let mut size = sizes[0];
            for i in 0..size {
                *ptr.add(i) = (i % 251) as u8;
            }
            for &new_size in &sizes[1..] {
                let old = Layout::from_size_align(size, 8).unwrap();
                ptr = LargeBlocksMapped.realloc(ptr, old, new_size);
                assert!(!ptr.is_null());
                let kept = size.min(new_size);
                assert!(
                    (0..kept).all(|i| *ptr.add(i) == (i % 251) as u8),
                    "{size} -> {new_size}"
                );
                for i in kept..new_size {
                    *ptr.add(i) = (i % 251) as u8;
                }
                size = new_size;
            }
            LargeBlocksMapped.dealloc(ptr, Layout::from_size_align(size, 8).unwrap());
            let zeroed = Layout::from_size_align(2 * LARGE, 64).unwrap();
            let z = LargeBlocksMapped.alloc_zeroed(zeroed);
            assert_eq!(z as usize % HUGE_PAGE, 0);
            assert!((0..zeroed.size()).step_by(4096).all(|i| *z.add(i) == 0));
            LargeBlocksMapped.dealloc(z, zeroed);

            // A block made while freed memory is kept comes from mimalloc and goes back there.
            let large = Layout::from_size_align(LARGE, 8).unwrap();
            KEEPING.store(true, Ordering::Relaxed);
            let kept = LargeBlocksMapped.alloc(large);
            KEEPING.store(false, Ordering::Relaxed);
            assert!(!MAPPED
                .iter()
                .any(|s| s.load(Ordering::Relaxed) == kept as usize));
            *kept.add(LARGE - 1) = 1;
            let grown = LargeBlocksMapped.realloc(kept, large, 2 * LARGE);
            assert_eq!(*grown.add(LARGE - 1), 1);
            LargeBlocksMapped.dealloc(grown, Layout::from_size_align(2 * LARGE, 8).unwrap());
        }
    }
}
