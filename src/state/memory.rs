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

/// After the background eviction found nothing to evict, how long reads leave it be.
const IDLE_AFTER_FULL_MS: u64 = 100;

/// Milliseconds on a process-wide monotonic clock (not the keyspace's clock, which a
/// test may hold still).
fn monotonic_ms() -> u64 {
    monotonic_us() / 1000
}

fn monotonic_us() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

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
    /// Until this time (ms) reads do not start the background eviction: it last found
    /// nothing to evict.
    idle_until_ms: AtomicU64,
    /// The most used memory seen (INFO `used_memory_peak`), sampled after writes, by
    /// the server's memory cron and whenever it is reported.
    peak: AtomicUsize,
    /// Used memory once the server was ready (INFO `used_memory_startup`).
    startup: AtomicUsize,
    /// Since when making room has left used memory over the limit (`monotonic_us`,
    /// plus one so that 0 means it is not), and how long it was over before: INFO
    /// `current_eviction_exceeded_time` and `total_eviction_exceeded_time`, counted as
    /// Redis counts them, from a step that could not get under until one that did
    /// (with no limit no step runs, so a period open then stays open, as in Redis).
    exceeded_since: AtomicU64,
    exceeded_before_us: AtomicU64,
}

impl Memory {
    pub fn new(config: &Config) -> Memory {
        let memory = Memory {
            maxmemory: AtomicU64::new(0),
            policy: AtomicU8::new(0),
            samples: AtomicUsize::new(5),
            evictor: Mutex::new(Evictor::default()),
            background: AtomicBool::new(false),
            idle_until_ms: AtomicU64::new(0),
            peak: AtomicUsize::new(0),
            startup: AtomicUsize::new(used_memory()),
            exceeded_since: AtomicU64::new(0),
            exceeded_before_us: AtomicU64::new(0),
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

    /// Takes in what a step of making room came to, for the exceeded times.
    fn note_room(&self, room: Room) {
        let since = self.exceeded_since.load(Ordering::Relaxed);
        let (closing, opening) = (
            room == Room::Enough && since != 0,
            room != Room::Enough && since == 0,
        );
        if closing && self.exchange_exceeded_since(since, 0) {
            let spent = (monotonic_us() + 1).saturating_sub(since);
            self.exceeded_before_us.fetch_add(spent, Ordering::Relaxed);
        } else if opening {
            self.exchange_exceeded_since(0, monotonic_us() + 1);
        }
    }

    /// Moves `exceeded_since` from `from` to `to`, unless another thread moved it first.
    fn exchange_exceeded_since(&self, from: u64, to: u64) -> bool {
        self.exceeded_since
            .compare_exchange(from, to, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// INFO (`total_eviction_exceeded_time`, `current_eviction_exceeded_time`), in ms.
    pub fn exceeded_times_ms(&self) -> (u64, u64) {
        let since = self.exceeded_since.load(Ordering::Relaxed);
        let current = match since {
            0 => 0,
            since => (monotonic_us() + 1).saturating_sub(since),
        };
        let total = self.exceeded_before_us.load(Ordering::Relaxed) + current;
        (total / 1000, current / 1000)
    }

    /// CONFIG RESETSTAT: the exceeded times start again from 0 (a period still open
    /// counts from now).
    pub fn reset_exceeded_times(&self) {
        self.exceeded_before_us.store(0, Ordering::Relaxed);
        let since = self.exceeded_since.load(Ordering::Relaxed);
        if since != 0 {
            self.exchange_exceeded_since(since, monotonic_us() + 1);
        }
    }

    /// True when a limit is set: the one check every write makes.
    pub fn limited(&self) -> bool {
        self.maxmemory.load(Ordering::Relaxed) != 0
    }

    pub fn policy(&self) -> Policy {
        Policy::from_index(self.policy.load(Ordering::Relaxed))
    }

    /// Used memory now, raising the peak if it is higher.
    pub fn sample(&self) -> usize {
        let used = used_memory();
        if used > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(used, Ordering::Relaxed);
        }
        used
    }

    /// The most used memory seen (at least `used`, a sample just taken).
    pub fn peak(&self, used: usize) -> usize {
        self.peak.load(Ordering::Relaxed).max(used)
    }

    /// Records the memory used once the server is ready to serve.
    pub fn mark_startup(&self) {
        self.startup.store(self.sample(), Ordering::Relaxed);
    }

    pub fn startup(&self) -> usize {
        self.startup.load(Ordering::Relaxed)
    }
}

/// Bytes in use as INFO's `used_memory` and the limit count them.
pub fn used_memory() -> usize {
    alloc::allocated().unwrap_or_else(alloc::resident_bytes)
}

/// Where used memory goes, in Redis's terms (INFO memory, MEMORY STATS, MEMORY
/// DOCTOR): what the server holds beyond the keys' data is overhead, the rest is the
/// dataset.
pub struct Report {
    pub used: usize,
    pub peak: usize,
    pub startup: usize,
    pub rss: usize,
    /// The replication backlog.
    pub backlog: usize,
    /// Records queued for replicas.
    pub replicas: usize,
    /// Client connections' own buffers (not tracked yet: 0, as Redis reports idle
    /// clients).
    pub clients: usize,
    /// Records queued for the log writer.
    pub log_buffer: usize,
    pub scripts: usize,
    pub cached_scripts: usize,
    /// (logical database, keys, heap bytes of its tables) of each database with keys.
    pub dbs: Vec<(usize, usize, usize)>,
}

impl Report {
    pub fn keys(&self) -> usize {
        self.dbs.iter().map(|d| d.1).sum()
    }

    /// Everything but the dataset: startup memory, buffers, scripts, tables.
    pub fn overhead(&self) -> usize {
        self.startup
            + self.backlog
            + self.replicas
            + self.clients
            + self.log_buffer
            + self.scripts
            + self.dbs.iter().map(|d| d.2).sum::<usize>()
    }

    pub fn dataset(&self) -> usize {
        self.used.saturating_sub(self.overhead())
    }

    /// Used memory past startup (at least 1, a divisor).
    pub fn net(&self) -> usize {
        self.used.saturating_sub(self.startup).max(1)
    }

    pub fn dataset_percentage(&self) -> f32 {
        self.dataset() as f32 * 100.0 / self.net() as f32
    }

    pub fn peak_percentage(&self) -> f32 {
        self.used as f32 * 100.0 / self.peak.max(1) as f32
    }

    /// The allocator's own figures where malloc gives none, as Redis takes them with
    /// libc: it holds what it was asked for, and the resident set is all active.
    pub fn allocator_allocated(&self) -> usize {
        self.used
    }

    pub fn allocator_active(&self) -> usize {
        self.rss
    }

    /// Resident set per used byte (INFO `mem_fragmentation_ratio`).
    pub fn fragmentation(&self) -> f32 {
        self.rss as f32 / self.used.max(1) as f32
    }

    pub fn fragmentation_bytes(&self) -> i64 {
        self.rss as i64 - self.used as i64
    }
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

    /// Before a read: Redis evicts before every command, but a read holds the gate
    /// shared and cannot delete keys, so over the limit it starts the background
    /// eviction (one step per hold of the exclusive gate) and goes on. A read is never
    /// refused and never waits for eviction. Under `noeviction`, on a replica, or for a
    /// while after the background eviction found nothing to evict, it does nothing.
    pub fn make_room_in_background(&self) {
        let limit = self.memory.maxmemory.load(Ordering::Relaxed);
        if limit == 0
            || self.memory.policy() == Policy::NoEviction
            || self.memory.background.load(Ordering::Relaxed)
            || self.memory.idle_until_ms.load(Ordering::Relaxed) > monotonic_ms()
            || self.repl.is_replica()
            || !self.over(limit)
        {
            return;
        }
        self.evict_in_background();
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
        if room == Room::Full {
            let until = monotonic_ms() + IDLE_AFTER_FULL_MS;
            shared.memory.idle_until_ms.store(until, Ordering::Relaxed);
        }
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
        let room = if limit == 0 || !self.over(limit) || self.repl.is_replica() {
            Room::Enough
        } else {
            self.evict_step(limit)
        };
        self.memory.note_room(room);
        room
    }

    /// Where used memory goes now; raises the peak.
    pub fn memory_report(&self) -> Report {
        let used = self.memory.sample();
        let (log_buffer, replicas, backlog) = self.journal.buffer_bytes();
        let (cached_scripts, scripts) = self.scripts.size();
        let keyspace = &self.keyspace;
        let dbs = (0..keyspace.databases())
            .filter_map(|n| {
                let db = keyspace.db(n);
                let keys = db.len();
                (keys > 0).then(|| (n, keys, db.table_usage()))
            })
            .collect();
        Report {
            used,
            peak: self.memory.peak(used),
            startup: self.memory.startup(),
            rss: alloc::resident_bytes(),
            backlog,
            replicas,
            clients: 0,
            log_buffer,
            scripts,
            cached_scripts,
            dbs,
        }
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
