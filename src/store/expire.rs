//! Active expiry: a background thread that walks the shards of every database with a
//! TTL'd key and removes what has expired, so memory held by sessions nobody reads again
//! comes back. Like Redis it runs `hz` times a second and spends at most a quarter of
//! each period; unlike Redis it walks shards in order instead of sampling, so one full
//! pass is bounded and a resumable cursor makes every key's turn come round.
//!
//! Like Redis it is adaptive: a cycle that finds few expired keys stops after a
//! sixteenth of the shards, so a million live sessions with TTLs cost little CPU, while
//! a wave of expirations keeps it working up to the time budget.
//!
//! The remaining TTLs it walks past feed INFO keyspace's `avg_ttl` (`Db::sample_ttls`),
//! Redis's running estimate, which session dashboards graph through the exporter; what
//! share of them had expired feeds INFO stats' `expired_stale_perc`, as in Redis.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Keyspace;
use crate::clock;

pub struct ActiveExpiry {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ActiveExpiry {
    /// Starts the expiry thread; it runs until the returned handle is dropped.
    pub fn spawn(keyspace: Arc<Keyspace>, hz: Arc<AtomicU32>) -> ActiveExpiry {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = thread::Builder::new()
            .name("roost-expire".into())
            .spawn(move || {
                let mut cursor = Cursor::default();
                while !stop_flag.load(Ordering::Relaxed) {
                    let period = Duration::from_millis(
                        1000 / hz.load(Ordering::Relaxed).clamp(1, 500) as u64,
                    );
                    thread::sleep(period);
                    run_cycle(&keyspace, &mut cursor, period / 4);
                }
            })
            .expect("spawn the active expiry thread");
        ActiveExpiry {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ActiveExpiry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where the walk resumes: database and shard.
#[derive(Default, Debug, Clone, Copy)]
pub struct Cursor {
    db: usize,
    shard: usize,
}

/// Walks shards from `cursor` until `budget` is spent or every shard has been seen once.
/// Returns the number of keys removed.
pub fn run_cycle(keyspace: &Keyspace, cursor: &mut Cursor, budget: Duration) -> usize {
    if keyspace.passive_expiry()
        || !keyspace.active_expiry_enabled.load(Ordering::Relaxed)
        || keyspace.expiry_held(clock::now_ms())
    {
        return 0;
    }
    let started = Instant::now();
    let walk = walk(keyspace, cursor, started, budget);
    let stats = &keyspace.stats;
    stats
        .expire_cycle_us
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    if walk.time_capped {
        stats
            .expire_time_cap_reached
            .fetch_add(1, Ordering::Relaxed);
    }
    stats.sample_stale(walk.sampled, walk.stale);
    walk.removed
}

/// What one cycle's walk did.
struct Walk {
    removed: usize,
    /// Keys with a TTL looked at, and how many of them were past it.
    sampled: u64,
    stale: u64,
    /// It stopped at the time budget, not because few keys were expired.
    time_capped: bool,
}

fn walk(keyspace: &Keyspace, cursor: &mut Cursor, started: Instant, budget: Duration) -> Walk {
    let databases = keyspace.databases();
    let mut walk = Walk {
        removed: 0,
        sampled: 0,
        stale: 0,
        time_capped: false,
    };
    let (mut scanned_shards, mut scanned_keys) = (0usize, 0usize);
    let mut expired: Vec<Bytes> = Vec::new();
    for _ in 0..databases {
        let db = keyspace.physical(cursor.db % databases);
        if db.expires_count() == 0 {
            db.sample_ttls(0, 0);
        } else {
            while cursor.shard < db.shard_count() {
                let now = clock::now_ms();
                expired.clear();
                let (mut ttl_sum, mut ttl_samples) = (0u64, 0u64);
                db.visit_shard(cursor.shard, |key, entry| {
                    scanned_keys += 1;
                    if entry.is_expired(now) {
                        expired.push(Bytes::copy_from_slice(key));
                    } else if let Some(at) = entry.expire_at().filter(|&at| at > now) {
                        ttl_sum += at.saturating_sub(now);
                        ttl_samples += 1;
                    }
                });
                db.sample_ttls(ttl_sum, ttl_samples);
                walk.sampled += ttl_samples + expired.len() as u64;
                walk.stale += expired.len() as u64;
                cursor.shard += 1;
                scanned_shards += 1;
                if !expired.is_empty() {
                    let _gate = keyspace.read_gate();
                    walk.removed += db.purge_expired(&expired, now);
                }
                if started.elapsed() >= budget {
                    walk.time_capped = true;
                    return walk;
                }
                // Few expired keys here: the rest can wait for the next cycles.
                let quiet = walk.removed * 10 <= scanned_keys;
                if quiet && scanned_shards >= db.shard_count() / 16 {
                    return walk;
                }
            }
        }
        cursor.db = (cursor.db + 1) % databases;
        cursor.shard = 0;
    }
    walk
}
