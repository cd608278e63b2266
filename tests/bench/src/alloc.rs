//! The production binary's allocator (mimalloc), with an optional count of
//! the bytes live on the heap: `matching` measures an index's memory with
//! it, exactly and for several sizes in one process, where the resident
//! set would also show memory the allocator keeps from earlier work.
//! Counting is off unless switched on, so the other benches pay one
//! uncontended load per allocation for it.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);

pub struct Counting;

// SAFETY: every call is passed on to mimalloc unchanged; the counter only
// observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as i64 - layout.size() as i64);
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[inline]
fn count(bytes: i64) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Starts counting. Memory allocated before and freed after shows up as a
/// negative amount, so measure differences between two readings taken
/// while counting.
pub fn start_counting() {
    COUNTING.store(true, Ordering::SeqCst);
}

/// Bytes allocated minus bytes freed since counting started.
pub fn live_bytes() -> i64 {
    LIVE.load(Ordering::SeqCst)
}
