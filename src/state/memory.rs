//! The memory limit: `maxmemory`, the eviction policy and `maxmemory-samples`, kept in
//! atomics so a command pays one load when there is no limit, and the eviction that
//! brings used memory back under it.
//!
//! Used memory is what the counting allocator counts (`alloc::allocated`), or the
//! resident set size where it is not installed, less what records on their way to the
//! log and to replicas hold (evicting queues DELs, which must not ask for more
//! eviction). Eviction runs under the keyspace's
//! write gate, in bounded steps as Redis's eviction time limit: a write evicts for at
//! most `STEP` before it runs, and what is left over is evicted by a background thread,
//! one step per hold of the gate, so clients keep being served meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Shared;
use crate::alloc;
use crate::config::Config;
use crate::store::{Evictor, Policy};
use crate::sync::Recover;

/// Eviction time per hold of the write gate (Redis: 500 us at the default
/// `maxmemory-eviction-tenacity`).
const STEP: Duration = Duration::from_micros(500);

/// Pause between the background thread's steps, for the clients waiting on the gate.
const BACKGROUND_PAUSE: Duration = Duration::from_micros(200);

/// What making room came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Under the limit (or there is none).
    Enough,
    /// Still over, and the step's time ran out: eviction goes on in the background
    /// and the command may run (as Redis's EVICT_RUNNING).
    Evicting,
    /// Over the limit and nothing may be evicted: commands that grow memory get OOM.
    Full,
}

pub struct Memory {
    /// Bytes; 0 = no limit.
    maxmemory: AtomicU64,
    policy: AtomicU8,
    samples: AtomicUsize,
    evictor: Mutex<Evictor>,
    /// A background eviction thread is running.
    background: AtomicBool,
}

impl Memory {
    pub fn new(config: &Config) -> Memory {
        let memory = Memory {
            maxmemory: AtomicU64::new(0),
            policy: AtomicU8::new(0),
            samples: AtomicUsize::new(5),
            evictor: Mutex::new(Evictor::default()),
            background: AtomicBool::new(false),
        };
        memory.configure(config);
        memory
    }

    /// Takes `maxmemory`, `maxmemory-policy` and `maxmemory-samples` from `config`.
    pub fn configure(&self, config: &Config) {
        let policy = Policy::parse(&config.maxmemory_policy).unwrap_or(Policy::NoEviction);
        if policy.index() != self.policy.swap(policy.index(), Ordering::Relaxed) {
            self.evictor.locked().clear();
        }
        self.samples
            .store(config.maxmemory_samples as usize, Ordering::Relaxed);
        self.maxmemory.store(config.maxmemory, Ordering::Relaxed);
    }

    /// True when a limit is set: the one check every write makes.
    pub fn limited(&self) -> bool {
        self.maxmemory.load(Ordering::Relaxed) != 0
    }

    pub fn policy(&self) -> Policy {
        Policy::from_index(self.policy.load(Ordering::Relaxed))
    }
}

/// Bytes in use as INFO's `used_memory` and the limit count them.
pub fn used_memory() -> usize {
    alloc::allocated().unwrap_or_else(alloc::resident_bytes)
}

impl Shared {
    /// Before a write: evicts keys by the policy until used memory is under
    /// `maxmemory`, for at most one step. The caller holds the keyspace's write gate.
    /// A replica never evicts (its primary's DELs do), as with Redis's default
    /// `replica-ignore-maxmemory yes`.
    pub fn make_room(&self) -> Room {
        let room = self.make_room_step();
        if room == Room::Evicting {
            self.evict_in_background();
        }
        room
    }

    /// Evicts until under `limit`, nothing is left to evict, or `STEP` has passed.
    fn evict_step(&self, limit: u64) -> Room {
        let memory = &self.memory;
        let (policy, samples) = (memory.policy(), memory.samples.load(Ordering::Relaxed));
        if policy == Policy::NoEviction {
            return Room::Full;
        }
        let started = Instant::now();
        let mut evictor = memory.evictor.locked();
        evictor.recount_if_stale(&self.keyspace, policy);
        let mut evicted = 0u32;
        while self.over(limit) {
            if !evictor.evict_one(&self.keyspace, policy, samples) {
                return Room::Full;
            }
            evicted += 1;
            if evicted % 16 == 0 && started.elapsed() >= STEP {
                return Room::Evicting;
            }
        }
        Room::Enough
    }

    /// Starts the thread that evicts one step per hold of the gate until used memory
    /// is under the limit, unless it is running (CONFIG SET maxmemory, a write whose
    /// step ran out).
    pub fn evict_in_background(&self) {
        if self.memory.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(shared) = self.arc() else {
            self.memory.background.store(false, Ordering::Release);
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("evict".into())
            .spawn(move || evict_until_under(shared));
        if spawned.is_err() {
            self.memory.background.store(false, Ordering::Release);
        }
    }
}

fn evict_until_under(shared: Arc<Shared>) {
    loop {
        let room = {
            let _gate = shared.keyspace.write_gate();
            // Nothing is written once shutdown holds the gate for the log's last fsync.
            if shared.is_shutting_down() {
                break;
            }
            shared.make_room_step()
        };
        if room != Room::Evicting {
            break;
        }
        std::thread::sleep(BACKGROUND_PAUSE);
    }
    shared.memory.background.store(false, Ordering::Release);
}

impl Shared {
    /// One step of `make_room`, without starting the background thread.
    fn make_room_step(&self) -> Room {
        let limit = self.memory.maxmemory.load(Ordering::Relaxed);
        if limit == 0 || !self.over(limit) || self.repl.is_replica() {
            return Room::Enough;
        }
        self.evict_step(limit)
    }

    /// Bytes the limit does not count: records on their way to the log and to replicas
    /// (INFO `mem_not_counted_for_evict`).
    pub fn not_counted_for_evict(&self) -> usize {
        self.journal.unsent_bytes()
    }

    /// Used memory is over `limit`, not counting records on their way to the log and
    /// to replicas (Redis leaves out the AOF buffer and replica output buffers too).
    fn over(&self, limit: u64) -> bool {
        let used = used_memory() as u64;
        used > limit && used.saturating_sub(self.not_counted_for_evict() as u64) > limit
    }
}
