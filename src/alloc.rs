//! A counting wrapper around the system allocator, so INFO can report `used_memory` as
//! Redis does (bytes the server has allocated) and memory comparisons with Redis are
//! like for like. The binary installs it; the library works without it (INFO then
//! falls back to the resident set size).
//!
//! Counts are striped over cache-line-padded cells. A thread takes a cell of its own
//! at its first allocation and gives it back when it ends; only its owner writes a
//! cell, with a plain load and store, not a locked read-modify-write: a locked add
//! costs about 20 cycles where the store costs one, and every allocation and free
//! counts (20 of them per EVALSHA). A thread that finds no cell free, or allocates
//! after its thread-locals are gone, adds atomically to the shared cell 0. A cell's
//! count stays in the sum when its owner ends (the next owner goes on from it).
//!
//! A block is counted at what the system allocator takes for it (`footprint`: glibc's
//! chunk header and 16-byte granules, or whole pages for the large blocks it maps),
//! not at the size asked for: small keys and fields would otherwise be undercounted
//! by a third, and `used_memory` would drift from the resident set size as a
//! dataset of small values grows.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

pub struct CountingAllocator;

/// The allocator underneath, as INFO's `mem_allocator` names it.
pub const NAME: &str = "libc";

/// Cell 0 is shared; the others are owned by one thread at a time.
const STRIPES: usize = 64;
const SHARED: usize = 0;
const UNSET: usize = usize::MAX;

#[repr(align(64))]
struct Stripe {
    count: AtomicIsize,
    /// A live thread writes `count` (never set for the shared cell).
    owned: AtomicBool,
}

static STRIPE_COUNTS: [Stripe; STRIPES] = [const {
    Stripe {
        count: AtomicIsize::new(0),
        owned: AtomicBool::new(false),
    }
}; STRIPES];
static INSTALLED: AtomicBool = AtomicBool::new(false);
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(1);

/// This thread's cell (`UNSET` until its first allocation); gives it back on drop.
struct Owner(Cell<usize>);

impl Owner {
    fn stripe(&self) -> usize {
        let mine = self.0.get();
        if mine != UNSET {
            return mine;
        }
        INSTALLED.store(true, Ordering::Relaxed);
        let start = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed);
        let claimed = (0..STRIPES - 1)
            .map(|i| 1 + (start + i) % (STRIPES - 1))
            .find(|&i| {
                STRIPE_COUNTS[i]
                    .owned
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            })
            .unwrap_or(SHARED);
        self.0.set(claimed);
        claimed
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let mine = self.0.replace(SHARED);
        if mine != UNSET && mine != SHARED {
            // Release: the next owner's Acquire sees this thread's last count.
            STRIPE_COUNTS[mine].owned.store(false, Ordering::Release);
        }
    }
}

thread_local! {
    static MY_STRIPE: Owner = const { Owner(Cell::new(UNSET)) };
}

// INSTALLED is written only where a thread first picks a stripe (or has lost its
// thread-locals), never on the hot path: every count passes through here first.
fn add(delta: isize) {
    match MY_STRIPE.try_with(Owner::stripe) {
        Ok(mine) if mine != SHARED => {
            // Only this thread writes its cell while it owns it.
            let count = &STRIPE_COUNTS[mine].count;
            count.store(count.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
        }
        Ok(_) => {
            STRIPE_COUNTS[SHARED]
                .count
                .fetch_add(delta, Ordering::Relaxed);
        }
        Err(_) => {
            INSTALLED.store(true, Ordering::Relaxed);
            STRIPE_COUNTS[SHARED]
                .count
                .fetch_add(delta, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are
// updated beside it.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            add(footprint(layout.size()) as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            add(footprint(layout.size()) as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        add(-(footprint(layout.size()) as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            add(footprint(new_size) as isize - footprint(layout.size()) as isize);
        }
        p
    }
}

/// Blocks this large are mapped on their own (glibc's default `M_MMAP_THRESHOLD`).
const MMAP_THRESHOLD: usize = 128 * 1024;
const PAGE: usize = 4096;

/// Heap bytes the system allocator takes for a request of `size` bytes: glibc's
/// malloc adds an 8-byte header and rounds up to 16 bytes, 32 at least; a block it maps
/// on its own takes whole pages. MEMORY USAGE estimates a key with the same rule.
pub const fn footprint(size: usize) -> usize {
    if size >= MMAP_THRESHOLD {
        (size + 16 + PAGE - 1) & !(PAGE - 1)
    } else {
        let chunk = (size + 8 + 15) & !15;
        if chunk < 32 {
            32
        } else {
            chunk
        }
    }
}

/// Bytes currently allocated, if the counting allocator is installed.
pub fn allocated() -> Option<usize> {
    if !INSTALLED.load(Ordering::Relaxed) {
        return None;
    }
    let total: isize = STRIPE_COUNTS
        .iter()
        .map(|s| s.count.load(Ordering::Relaxed))
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

/// Physical memory of the machine in bytes, from /proc/meminfo (0 where unavailable).
pub fn system_memory() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<usize>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    fn malloc_trim(pad: usize) -> i32;
}

/// MEMORY PURGE: gives the pages malloc holds free back to the system (glibc's
/// `malloc_trim`, which also releases free pages inside the heap, in every arena).
pub fn purge() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and is safe to call at any time.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::footprint;

    #[test]
    fn no_count_without_the_global_allocator() {
        assert_eq!(super::allocated(), None);
    }

    #[test]
    fn footprints_follow_glibc_chunks() {
        assert_eq!(footprint(1), 32);
        assert_eq!(footprint(24), 32);
        assert_eq!(footprint(25), 48);
        assert_eq!(footprint(40), 48);
        assert_eq!(footprint(1000), 1008);
        assert_eq!(footprint(128 * 1024), 132 * 1024);
    }
}
