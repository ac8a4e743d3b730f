//! A counting wrapper around the system allocator, so INFO can report `used_memory` as
//! Redis does (bytes the server has allocated) and memory comparisons with Redis are
//! like for like. The binary installs it; the library works without it (INFO then
//! falls back to the resident set size).
//!
//! Counts are striped over cache-line-padded cells picked per thread, so two cores
//! allocating at once do not fight over one counter.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

pub struct CountingAllocator;

const STRIPES: usize = 16;

#[repr(align(64))]
struct Stripe(AtomicIsize);

static STRIPE_COUNTS: [Stripe; STRIPES] = [const { Stripe(AtomicIsize::new(0)) }; STRIPES];
static INSTALLED: AtomicBool = AtomicBool::new(false);
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

// INSTALLED is written only where a thread first picks a stripe (or has lost its
// thread-locals), never on the hot path: every count passes through here first.
fn add(delta: isize) {
    let stripe = MY_STRIPE
        .try_with(|s| {
            if s.get() == usize::MAX {
                INSTALLED.store(true, Ordering::Relaxed);
                s.set(NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES);
            }
            s.get()
        })
        .unwrap_or_else(|_| {
            INSTALLED.store(true, Ordering::Relaxed);
            0
        });
    STRIPE_COUNTS[stripe].0.fetch_add(delta, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are
// updated beside it.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        add(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Bytes currently allocated, if the counting allocator is installed.
pub fn allocated() -> Option<usize> {
    if !INSTALLED.load(Ordering::Relaxed) {
        return None;
    }
    let total: isize = STRIPE_COUNTS
        .iter()
        .map(|s| s.0.load(Ordering::Relaxed))
        .sum();
    Some(total.max(0) as usize)
}

/// Resident set size of this process in bytes, from /proc (0 where unavailable).
pub fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_count_without_the_global_allocator() {
        assert_eq!(super::allocated(), None);
    }
}
