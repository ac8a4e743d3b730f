//! The keyspace: numbered databases of keys with values and per-key expiry times.
//!
//! Each database is a sharded map (`table`), so readers on different keys never wait for
//! each other. Writers are serialised by the keyspace's *gate*: every command that reads
//! keys holds it shared, every command that writes holds it exclusively. That single
//! sequencing point is what makes multi-key commands and EXEC atomic and what will let the
//! log record writes in exactly the order they were applied. A read that finds an expired
//! key removes it under the shared gate; `remove_if` makes that race-free.
//!
//! This module knows nothing of RESP: it stores bytes and reports facts.

pub mod digest;
mod dump;
mod entry;
pub mod evict;
mod expire;
pub mod list;
mod snapshot;
pub mod stream;
mod table;
pub mod usage;
mod value;
mod watch;
pub mod zset;

pub use dump::{entry_commands, DumpSink};
pub use entry::{Entry, StringEncoding, ValueRef};
pub use evict::{Evictor, Policy};
pub use expire::{run_cycle as run_expiry_cycle, ActiveExpiry, Cursor as ExpiryCursor};
pub use snapshot::Image;
pub use table::{Ref, RefMut};
pub use value::{HashObj, SetObj, Value};
pub use watch::{WatchFlag, WatchedKey};

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use crate::clock;
use crate::sync::RecoverRw;

/// Shards per database: enough that two cores rarely meet on one lock, and small enough
/// that one shard is a short, bounded unit of work for active expiry and SCAN.
const SHARDS: usize = 256;

/// A value as a snapshot walk sees it: a string's bytes, or any other value.
#[derive(Clone, Copy)]
pub enum View<'a> {
    Str(&'a [u8]),
    Object(&'a Value),
}

/// An entry's access stamp when stored: an LFU counter or the seconds clock.
fn initial_access(lfu: bool) -> u32 {
    if lfu {
        lfu_stamp(LFU_INIT_VAL)
    } else {
        lru_clock()
    }
}

impl Entry {
    pub fn expire_at(&self) -> Option<u64> {
        let at = self.raw_expire_at();
        (at != 0).then_some(at)
    }

    /// Redis treats a key as expired strictly after its expiry time. While a replayed
    /// or replicated stream is applied, nothing is: each record was valid when written.
    pub fn is_expired(&self, now: u64) -> bool {
        let at = self.raw_expire_at();
        at != 0 && now > at && !APPLYING_STREAM.with(|a| a.get())
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match (self.value(), self.string_encoding()) {
            (ValueRef::Str(_), StringEncoding::Raw) => "raw",
            (ValueRef::Str(s), StringEncoding::NotInt) if s.len() <= 44 => "embstr",
            (ValueRef::Str(_), StringEncoding::NotInt) => "raw",
            (ValueRef::Str(s), StringEncoding::ByContent) => value::string_encoding(s),
            _ => self.object_ref().map_or("raw", Value::encoding),
        }
    }

    pub fn idle_seconds(&self) -> u64 {
        lru_clock().saturating_sub(self.access().load(Ordering::Relaxed)) as u64
    }

    /// OBJECT FREQ under an LFU policy: the counter, decayed by one per
    /// `lfu-decay-time` idle minutes of `db`'s keyspace.
    pub fn frequency(&self, db: &Db) -> u64 {
        lfu_decayed(self.access().load(Ordering::Relaxed), &db.lfu) as u64
    }

    fn touch_access(&self, lfu: &Lfu) {
        if !NO_TOUCH.with(|n| n.get()) {
            self.record_access(lfu);
        }
    }

    fn record_access(&self, lfu: &Lfu) {
        let stamp = if lfu.on.load(Ordering::Relaxed) {
            let decayed = lfu_decayed(self.access().load(Ordering::Relaxed), lfu);
            lfu_stamp(lfu_log_incr(decayed, lfu))
        } else {
            lru_clock()
        };
        self.access().store(stamp, Ordering::Relaxed);
    }
}

/// The counter a key starts with under an LFU policy (Redis's LFU_INIT_VAL).
const LFU_INIT_VAL: u8 = 5;

/// How key accesses are recorded, shared by a keyspace's databases: whether an LFU
/// maxmemory policy is selected, and its `lfu-log-factor` (how slowly the counter grows)
/// and `lfu-decay-time` (minutes per point the counter loses while idle; 0: never).
pub struct Lfu {
    on: AtomicBool,
    log_factor: AtomicU32,
    decay_time: AtomicU32,
}

impl Default for Lfu {
    fn default() -> Self {
        Lfu {
            on: AtomicBool::new(false),
            log_factor: AtomicU32::new(10),
            decay_time: AtomicU32::new(1),
        }
    }
}

fn lfu_minutes() -> u32 {
    ((clock::coarse_ms() / 60_000) & 0xFFFF) as u32
}

fn lfu_stamp(counter: u8) -> u32 {
    lfu_minutes() << 8 | counter as u32
}

/// The counter of an LFU stamp less one per `lfu-decay-time` minutes since the stamp,
/// the 16-bit minutes clock wrapping around.
fn lfu_decayed(stamp: u32, lfu: &Lfu) -> u8 {
    let (then, counter) = ((stamp >> 8) & 0xFFFF, (stamp & 0xFF) as u8);
    let now = lfu_minutes();
    let elapsed = if now >= then {
        now - then
    } else {
        0xFFFF - then + now
    };
    let periods = match lfu.decay_time.load(Ordering::Relaxed) {
        0 => 0,
        minutes => elapsed / minutes,
    };
    counter.saturating_sub(periods.min(255) as u8)
}

/// One access: the counter grows with probability 1 / ((counter - 5) * factor + 1).
fn lfu_log_incr(counter: u8, lfu: &Lfu) -> u8 {
    if counter == u8::MAX {
        return counter;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let factor = lfu.log_factor.load(Ordering::Relaxed) as f64;
    let p = 1.0 / (base * factor + 1.0);
    let r = LFU_RNG.with(|rng| rng.borrow_mut().next_u64()) as f64 / u64::MAX as f64;
    if r < p {
        counter + 1
    } else {
        counter
    }
}

thread_local! {
    static LFU_RNG: std::cell::RefCell<crate::rand::Rng> =
        std::cell::RefCell::new(crate::rand::Rng::from_entropy());
    /// Set while a CLIENT NO-TOUCH client's command runs: its reads leave access times
    /// alone. Handlers are synchronous, so the command runs wholly on this thread.
    static NO_TOUCH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

thread_local! {
    /// Set while records from the log or from a primary are applied on this thread.
    static APPLYING_STREAM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (applying logged or replicated writes) with every key treated as live: a
/// record was valid when written, and the expiry of a key arrives as its own DEL.
pub fn applying_stream<R>(f: impl FnOnce() -> R) -> R {
    let previous = APPLYING_STREAM.with(|a| a.replace(true));
    let result = f();
    APPLYING_STREAM.with(|a| a.set(previous));
    result
}

/// True while `applying_stream` runs: commands that would act on an expiry time already
/// past (EXPIRE deletes the key) must set it instead, since the records after this one
/// were written while the key lived.
pub fn is_applying_stream() -> bool {
    APPLYING_STREAM.with(|a| a.get())
}

/// Runs `f` with access-time updates on or off (CLIENT NO-TOUCH).
pub fn with_touch<R>(touch: bool, f: impl FnOnce() -> R) -> R {
    let previous = NO_TOUCH.with(|n| n.replace(!touch));
    let result = f();
    NO_TOUCH.with(|n| n.set(previous));
    result
}

/// Marks an entry of `db` as accessed even for a NO-TOUCH client (the TOUCH command).
pub fn force_touch(db: &Db, entry: &Entry) {
    entry.record_access(&db.lfu);
}

fn lru_clock() -> u32 {
    (clock::coarse_ms() / 1000) as u32
}

/// Copies small arguments out of the connection's read buffer so a stored value does not
/// keep a whole read buffer alive. Large arguments already own most of their allocation.
/// Not needed for a string stored under a key: the entry copies a short one itself.
pub fn own(b: &Bytes) -> Bytes {
    if b.len() < 32 * 1024 {
        Bytes::copy_from_slice(b)
    } else {
        b.clone()
    }
}

/// Called with the key whenever a key changes.
pub type ModifiedHook = Box<dyn Fn(&[u8]) + Send + Sync>;

/// Called with (logical database, key) when a key is removed because it expired.
pub type ExpiredHook = Box<dyn Fn(usize, &[u8]) + Send + Sync>;

/// The hook and the logical->physical mapping it needs, shared by all databases.
#[derive(Default)]
struct ExpiryListener {
    hook: std::sync::OnceLock<ExpiredHook>,
    /// Told when a list or sorted set is stored under a key (blocked clients may pop
    /// from it).
    poppable: std::sync::OnceLock<ExpiredHook>,
    slots: Vec<AtomicUsize>,
    /// On a replica expired keys are hidden but kept until the primary's DEL arrives.
    passive: std::sync::atomic::AtomicBool,
    /// Unix ms until which expired keys are hidden but kept (CLIENT PAUSE, FAILOVER);
    /// `u64::MAX` until lifted, 0 for none.
    held_until_ms: std::sync::atomic::AtomicU64,
    /// Told about every changed key (client-side caching invalidation).
    modified: std::sync::OnceLock<ModifiedHook>,
    /// Told about every key evicted to free memory.
    evicted: std::sync::OnceLock<ExpiredHook>,
}

impl ExpiryListener {
    fn expired(&self, physical: usize, key: &[u8]) {
        Self::call(&self.hook, &self.slots, physical, key);
    }

    fn evicted(&self, physical: usize, key: &[u8]) {
        Self::call(&self.evicted, &self.slots, physical, key);
    }

    fn poppable(&self, physical: usize, key: &[u8]) {
        Self::call(&self.poppable, &self.slots, physical, key);
    }

    fn call(
        hook: &std::sync::OnceLock<ExpiredHook>,
        slots: &[AtomicUsize],
        physical: usize,
        key: &[u8],
    ) {
        if let Some(hook) = hook.get() {
            if let Some(logical) = slots
                .iter()
                .position(|s| s.load(Ordering::Acquire) == physical)
            {
                hook(logical, key);
            }
        }
    }
}

/// One numbered database.
pub struct Db {
    map: table::Table,
    /// Keys that carry a TTL, for INFO keyspace and to skip expiry work on databases
    /// without any.
    expires: AtomicUsize,
    /// INFO keyspace's `avg_ttl`, in ms: a running average of the remaining TTLs active
    /// expiry sees, as Redis estimates it (0 while no key has a TTL).
    avg_ttl: AtomicU64,
    watches: Arc<watch::Watches>,
    /// Physical index, the identity WATCH uses.
    id: usize,
    stats: Arc<KeyspaceStats>,
    listener: Arc<ExpiryListener>,
    snapshot: Arc<snapshot::Snapshot>,
    /// How accesses are recorded (shared by all databases).
    lfu: Arc<Lfu>,
}

/// Counters INFO reports.
#[derive(Default)]
pub struct KeyspaceStats {
    pub expired_keys: AtomicU64,
    pub evicted_keys: AtomicU64,
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    /// Time active expiry has spent in its cycles, in microseconds (INFO
    /// `expire_cycle_cpu_milliseconds`).
    pub expire_cycle_us: AtomicU64,
    /// Active expiry cycles that stopped at their time budget with shards left to walk
    /// (INFO `expired_time_cap_reached_count`).
    pub expire_time_cap_reached: AtomicU64,
    /// Redis's estimate of the share of keys with a TTL that are expired but not yet
    /// removed: each cycle moves it 5% towards what the cycle found. An `f64`'s bits.
    expired_stale_share: AtomicU64,
}

impl KeyspaceStats {
    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for c in [
            &self.expired_keys,
            &self.evicted_keys,
            &self.keyspace_hits,
            &self.keyspace_misses,
            &self.expire_cycle_us,
            &self.expire_time_cap_reached,
            &self.expired_stale_share,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// An active expiry cycle looked at `sampled` keys with a TTL and found `expired`
    /// of them past it.
    pub fn sample_stale(&self, sampled: u64, expired: u64) {
        let current = if sampled == 0 {
            0.0
        } else {
            expired as f64 / sampled as f64
        };
        let previous = f64::from_bits(self.expired_stale_share.load(Ordering::Relaxed));
        let next = current * 0.05 + previous * 0.95;
        self.expired_stale_share
            .store(next.to_bits(), Ordering::Relaxed);
    }

    /// INFO `expired_stale_perc`: the estimate as a percentage.
    pub fn expired_stale_percent(&self) -> f64 {
        f64::from_bits(self.expired_stale_share.load(Ordering::Relaxed)) * 100.0
    }
}

impl Db {
    fn new(
        id: usize,
        watches: Arc<watch::Watches>,
        stats: Arc<KeyspaceStats>,
        listener: Arc<ExpiryListener>,
        snapshot: Arc<snapshot::Snapshot>,
        lfu: Arc<Lfu>,
    ) -> Db {
        Db {
            map: table::Table::new(SHARDS),
            expires: AtomicUsize::new(0),
            avg_ttl: AtomicU64::new(0),
            watches,
            id,
            stats,
            listener,
            snapshot,
            lfu,
        }
    }

    /// Whether accesses are counted as frequencies (an LFU policy) rather than times.
    pub fn is_lfu(&self) -> bool {
        self.lfu.on.load(Ordering::Relaxed)
    }

    /// Saves `key`'s current entry for a snapshot in progress, before a write changes it.
    fn before_change(&self, key: &[u8]) {
        if self.snapshot.is_active() {
            let now = clock::now_ms();
            self.snapshot
                .before_change(self.id, self.shard_of(key), key, || {
                    self.map
                        .get(key)
                        .filter(|e| !e.is_expired(now))
                        .map(|e| (e.to_value(), e.expire_at()))
                });
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn expires_count(&self) -> usize {
        self.expires.load(Ordering::Relaxed)
    }

    /// The estimate of the average remaining TTL, ms (INFO keyspace's `avg_ttl`).
    pub fn avg_ttl(&self) -> u64 {
        self.avg_ttl.load(Ordering::Relaxed)
    }

    /// Takes in the remaining TTLs (`sum` ms over `samples` keys) active expiry saw in
    /// one step. Redis's running average: the step's mean weighs 2%, the estimate 98%
    /// (the first step's mean starts it); with no samples, 0 if no key has a TTL.
    pub fn sample_ttls(&self, sum: u64, samples: u64) {
        if samples == 0 {
            if self.expires_count() == 0 {
                self.avg_ttl.store(0, Ordering::Relaxed);
            }
            return;
        }
        let mean = sum / samples;
        let mut estimate = self.avg_ttl.load(Ordering::Relaxed);
        if estimate == 0 {
            estimate = mean;
        }
        self.avg_ttl
            .store(estimate / 50 * 49 + mean / 50, Ordering::Relaxed);
    }

    /// The live entry for `key`, removing it first if it has expired, and counting as
    /// an access (OBJECT IDLETIME) unless the client is NO-TOUCH.
    pub fn get(&self, key: &[u8], now: u64) -> Option<Ref<'_>> {
        let entry = self.peek(key, now)?;
        entry.touch_access(&self.lfu);
        Some(entry)
    }

    /// The entry for `key` even if it has expired (DEBUG looks past expiry); not an access.
    pub fn peek_raw(&self, key: &[u8]) -> Option<Ref<'_>> {
        self.map.get(key)
    }

    /// Like `get`, but does not count as an access.
    pub fn peek(&self, key: &[u8], now: u64) -> Option<Ref<'_>> {
        self.live(self.map.get(key), key, now)
    }

    /// `entry` if it is live; an expired one is dropped and removed.
    fn live<E: std::ops::Deref<Target = Entry>>(
        &self,
        entry: Option<E>,
        key: &[u8],
        now: u64,
    ) -> Option<E> {
        let entry = entry?;
        if entry.is_expired(now) {
            drop(entry);
            self.remove_expired(key, now);
            return None;
        }
        Some(entry)
    }

    /// A lookup counted in `keyspace_hits` / `keyspace_misses`, as Redis counts reads.
    pub fn lookup_read(&self, key: &[u8], now: u64) -> Option<Ref<'_>> {
        let found = self.get(key, now);
        let counter = if found.is_some() {
            &self.stats.keyspace_hits
        } else {
            &self.stats.keyspace_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The live entry for in-place changes to its value. The caller holds the exclusive
    /// gate and calls `signal_modified` when it changed something.
    pub fn get_mut(&self, key: &[u8], now: u64) -> Option<RefMut<'_>> {
        self.before_change(key);
        let entry = self.live(self.map.get_mut(key), key, now)?;
        entry.touch_access(&self.lfu);
        Some(entry)
    }

    pub fn exists(&self, key: &[u8], now: u64) -> bool {
        self.peek(key, now).is_some()
    }

    /// Stores `value` under `key`, replacing any previous value and TTL. A previous
    /// value already past its TTL is counted as expired first (`expired_keys`, the
    /// `expired` event, a DEL in the log), as Redis's lookup before every write does,
    /// so a writer needs no lookup of its own.
    pub fn insert(&self, key: &Bytes, value: Value, expire_at: Option<u64>) {
        self.insert_at(key, value, expire_at, None);
    }

    /// `insert` for a caller that has read the clock already (`now`, unix ms).
    pub fn insert_at(&self, key: &Bytes, value: Value, expire_at: Option<u64>, now: Option<u64>) {
        self.before_change(key);
        let mut poppable = matches!(value, Value::List(_) | Value::ZSet(_));
        let is_stream = matches!(value, Value::Stream(_));
        if expire_at.is_some() {
            self.expires.fetch_add(1, Ordering::Relaxed);
        }
        let entry = Entry::new(
            key,
            value,
            expire_at,
            initial_access(self.is_lfu()),
            StringEncoding::ByContent,
        );
        if let Some(old) = self.map.insert(entry) {
            if old.raw_expire_at() != 0 {
                self.expires.fetch_sub(1, Ordering::Relaxed);
                let now = now.unwrap_or_else(clock::now_ms);
                if old.is_expired(now) && self.expires_now(now) {
                    self.stats.expired_keys.fetch_add(1, Ordering::Relaxed);
                    self.listener.expired(self.id, key);
                }
            }
            // A stream replaced by another type: its group readers must look again
            // (and find WRONGTYPE), as in Redis 7.2.
            poppable |= !is_stream && matches!(old.value(), ValueRef::Stream(_));
        }
        self.signal_modified(key);
        if poppable {
            self.listener.poppable(self.id, key);
        }
    }

    /// Stores the string `value` under `key` as `insert` does, building the entry from
    /// the bytes with no intermediate copy (loading a base of key records).
    pub fn insert_string(&self, key: &[u8], value: &[u8], expire_at: Option<u64>) {
        self.before_change(key);
        if expire_at.is_some() {
            self.expires.fetch_add(1, Ordering::Relaxed);
        }
        let entry = Entry::new_string(key, value, expire_at, initial_access(self.is_lfu()));
        if let Some(old) = self.map.insert(entry) {
            if old.raw_expire_at() != 0 {
                self.expires.fetch_sub(1, Ordering::Relaxed);
            }
            if matches!(old.value(), ValueRef::Stream(_)) {
                self.listener.poppable(self.id, key);
            }
        }
        self.signal_modified(key);
    }

    /// Makes room for `additional` more keys (a load that knows how many are coming).
    pub fn reserve(&self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Sets what OBJECT IDLETIME (under an LRU policy) or OBJECT FREQ (under LFU)
    /// reports for `key`: RESTORE's IDLETIME and FREQ, an RDB file's IDLE and FREQ. The
    /// one that does not fit the policy is ignored, as Redis ignores it.
    pub fn set_access(&self, key: &[u8], idle_seconds: Option<u64>, freq: Option<u8>) {
        let Some(entry) = self.map.get(key) else {
            return;
        };
        let stamp = if self.is_lfu() {
            freq.map(lfu_stamp)
        } else {
            idle_seconds.map(|idle| lru_clock().saturating_sub(idle.min(u32::MAX as u64) as u32))
        };
        if let Some(stamp) = stamp {
            entry.access().store(stamp, Ordering::Relaxed);
        }
    }

    /// Re-inserts an entry taken out with `remove`, keeping its TTL (RENAME, MOVE).
    pub fn insert_entry(&self, key: &Bytes, entry: Entry) {
        let expire_at = entry.expire_at();
        self.insert(key, entry.into_value(), expire_at);
    }

    /// Removes a key whether or not it has expired; returns the entry if it was live.
    /// An expired key goes as an expiry does on any access (counted, and logged as a DEL
    /// before the command's own records), so the log and replicas see it go too.
    pub fn remove(&self, key: &[u8], now: u64) -> Option<Entry> {
        if self.remove_expired(key, now) {
            return None;
        }
        self.delete(key).filter(|entry| !entry.is_expired(now))
    }

    /// Removes a key as it is, past its TTL or not, without counting an expiry: Redis's
    /// `dbDelete`, for the commands that delete without looking the key up first
    /// (RESTORE .. REPLACE, a *STORE with an empty result). Returns the entry.
    pub fn delete(&self, key: &[u8]) -> Option<Entry> {
        self.before_change(key);
        let entry = self.map.remove(key)?;
        if entry.raw_expire_at() != 0 {
            self.expires.fetch_sub(1, Ordering::Relaxed);
        }
        self.signal_modified(key);
        if matches!(entry.value(), ValueRef::Stream(_)) {
            // Clients blocked in XREADGROUP on it look again and find no group (Redis
            // 7.2 runs their command again); XREAD's go on waiting.
            self.listener.poppable(self.id, key);
        }
        Some(entry)
    }

    /// Sets or clears (`None`) the TTL of a live key. Returns false if the key is absent.
    pub fn set_expire(&self, key: &[u8], expire_at: Option<u64>, now: u64) -> bool {
        let Some(mut entry) = self.get_mut(key, now) else {
            return false;
        };
        let new = expire_at.unwrap_or(0);
        match (entry.raw_expire_at() != 0, new != 0) {
            (false, true) => {
                self.expires.fetch_add(1, Ordering::Relaxed);
            }
            (true, false) => {
                self.expires.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
        entry.set_raw_expire_at(new);
        drop(entry);
        self.signal_modified(key);
        true
    }

    /// Tells WATCHing clients that `key` changed.
    pub fn signal_modified(&self, key: &[u8]) {
        self.watches
            .touch(self.id, key, |k| self.map.contains_key(k));
        if let Some(hook) = self.listener.modified.get() {
            hook(key);
        }
    }

    /// Whether keys past their TTL are removed at `now`: not on a replica (the primary's
    /// DEL removes them) nor while expiry is held.
    fn expires_now(&self, now: u64) -> bool {
        !self.listener.passive.load(Ordering::Acquire)
            && self.listener.held_until_ms.load(Ordering::Acquire) <= now
    }

    /// Removes `key` if it is (still) expired; counts it and tells watchers.
    fn remove_expired(&self, key: &[u8], now: u64) -> bool {
        if !self.expires_now(now) {
            return false;
        }
        let removed = self.map.remove_if(key, |e| e.is_expired(now));
        if removed.is_some() {
            self.expires.fetch_sub(1, Ordering::Relaxed);
            self.stats.expired_keys.fetch_add(1, Ordering::Relaxed);
            self.signal_modified(key);
            self.listener.expired(self.id, key);
        }
        removed.is_some()
    }

    /// Removes every key; returns how many there were.
    pub fn clear(&self) -> usize {
        self.snapshot.abort();
        self.avg_ttl.store(0, Ordering::Relaxed);
        let n = self.map.len();
        self.watches.touch_db(self.id, |k| self.map.contains_key(k));
        // Readers blocked in XREADGROUP on a stream look again, as when one is deleted.
        let mut streams = Vec::new();
        self.for_each_key(|key, entry| {
            if matches!(entry.value(), ValueRef::Stream(_)) {
                streams.push(Bytes::copy_from_slice(key));
            }
        });
        self.map.clear();
        self.expires.store(0, Ordering::Relaxed);
        for key in streams {
            self.listener.poppable(self.id, &key);
        }
        n
    }

    /// Every key, expired or not, for KEYS; the caller filters.
    pub fn for_each_key(&self, mut f: impl FnMut(&[u8], &Entry)) {
        for shard in 0..SHARDS {
            self.visit_shard(shard, &mut f);
        }
    }

    pub fn shard_count(&self) -> usize {
        SHARDS
    }

    /// Calls `f` for every entry of one shard under that shard's read lock. The unit of
    /// work for SCAN, RANDOMKEY and active expiry: bounded, and resumable by index.
    pub fn visit_shard(&self, shard: usize, mut f: impl FnMut(&[u8], &Entry)) {
        self.map.visit_shard(shard, |entry| f(entry.key(), entry));
    }

    /// A stable 64-bit hash of a key, the order SCAN walks a shard in.
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        self.map.hash(key)
    }

    /// Shard index a key lives in.
    pub fn shard_of(&self, key: &[u8]) -> usize {
        self.map.shard_of(key)
    }

    /// Removes the expired keys among `keys` (collected by `visit_shard`); returns how
    /// many went.
    pub fn purge_expired(&self, keys: &[Bytes], now: u64) -> usize {
        keys.iter().filter(|k| self.remove_expired(k, now)).count()
    }
}

/// All databases, the gate, and the WATCH registry.
pub struct Keyspace {
    dbs: Vec<Db>,
    /// Logical database number -> physical `dbs` index (SWAPDB swaps two entries), and
    /// the expired-key hook.
    listener: Arc<ExpiryListener>,
    gate: RwLock<()>,
    watches: Arc<watch::Watches>,
    pub stats: Arc<KeyspaceStats>,
    snapshot: Arc<snapshot::Snapshot>,
    lfu: Arc<Lfu>,
    /// DEBUG SET-ACTIVE-EXPIRE: false stops the active expiry cycle (reads still expire
    /// keys they find expired).
    pub active_expiry_enabled: std::sync::atomic::AtomicBool,
}

impl Keyspace {
    pub fn new(databases: usize) -> Keyspace {
        let watches = Arc::new(watch::Watches::default());
        let stats = Arc::new(KeyspaceStats::default());
        let listener = Arc::new(ExpiryListener {
            hook: std::sync::OnceLock::new(),
            poppable: std::sync::OnceLock::new(),
            slots: (0..databases).map(AtomicUsize::new).collect(),
            passive: std::sync::atomic::AtomicBool::new(false),
            held_until_ms: std::sync::atomic::AtomicU64::new(0),
            modified: std::sync::OnceLock::new(),
            evicted: std::sync::OnceLock::new(),
        });
        let snapshot = Arc::new(snapshot::Snapshot::new(databases));
        let lfu = Arc::new(Lfu::default());
        Keyspace {
            dbs: (0..databases)
                .map(|i| {
                    Db::new(
                        i,
                        watches.clone(),
                        stats.clone(),
                        listener.clone(),
                        snapshot.clone(),
                        lfu.clone(),
                    )
                })
                .collect(),
            snapshot,
            listener,
            active_expiry_enabled: std::sync::atomic::AtomicBool::new(true),
            gate: RwLock::new(()),
            watches,
            stats,
            lfu,
        }
    }

    /// Selects how key accesses are recorded: frequencies under an LFU maxmemory policy,
    /// times otherwise. Existing keys keep their value until next accessed, as in Redis.
    pub fn set_lfu(&self, on: bool) {
        self.lfu.on.store(on, Ordering::Relaxed);
    }

    /// `lfu-log-factor` and `lfu-decay-time`.
    pub fn set_lfu_params(&self, log_factor: u32, decay_time: u32) {
        self.lfu.log_factor.store(log_factor, Ordering::Relaxed);
        self.lfu.decay_time.store(decay_time, Ordering::Relaxed);
    }

    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    /// The database a client selected with SELECT `index`.
    pub fn db(&self, index: usize) -> &Db {
        &self.dbs[self.listener.slots[index].load(Ordering::Acquire)]
    }

    /// Held by commands that only read keys.
    pub fn read_gate(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.reading()
    }

    /// Held by commands that write, and by EXEC: the one sequencing point for writes.
    pub fn write_gate(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.writing()
    }

    /// `read_gate`, unless that would wait.
    pub fn try_read_gate(&self) -> Option<RwLockReadGuard<'_, ()>> {
        self.gate.try_reading()
    }

    /// `write_gate`, unless that would wait.
    pub fn try_write_gate(&self) -> Option<RwLockWriteGuard<'_, ()>> {
        self.gate.try_writing()
    }

    /// SWAPDB; the caller holds the write gate.
    pub fn swap(&self, a: usize, b: usize) {
        self.snapshot.abort();
        let (pa, pb) = (
            self.listener.slots[a].load(Ordering::Acquire),
            self.listener.slots[b].load(Ordering::Acquire),
        );
        let (da, db) = (&self.dbs[pa], &self.dbs[pb]);
        let exists_either = |k: &[u8]| da.map.contains_key(k) || db.map.contains_key(k);
        self.watches.touch_db(pa, exists_either);
        self.watches.touch_db(pb, exists_either);
        self.listener.slots[a].store(pb, Ordering::Release);
        self.listener.slots[b].store(pa, Ordering::Release);
    }

    /// Registers `flag` as watching `key` in logical database `db`.
    pub fn watch(&self, db: usize, key: &Bytes, flag: &Arc<WatchFlag>, now: u64) -> WatchedKey {
        let physical = self.listener.slots[db].load(Ordering::Acquire);
        let d = &self.dbs[physical];
        let expired = d.map.get(key.as_ref()).is_some_and(|e| e.is_expired(now));
        self.watches.add(physical, own(key), flag, expired)
    }

    pub fn unwatch(&self, keys: &mut Vec<WatchedKey>, flag: &Arc<WatchFlag>) {
        for wk in keys.drain(..) {
            self.watches.remove(&wk, flag);
        }
    }

    /// True if a watched key that was live at WATCH time has expired since (EXEC aborts).
    pub fn watched_key_expired(&self, keys: &[WatchedKey], now: u64) -> bool {
        keys.iter().any(|wk| {
            !wk.expired_at_watch
                && self.dbs[wk.db]
                    .map
                    .get(wk.key.as_ref())
                    .is_some_and(|e| e.is_expired(now))
        })
    }

    /// Starts a point-in-time snapshot; the caller holds the write gate.
    pub fn begin_snapshot(&self) {
        self.snapshot.begin();
    }

    /// Copies one shard of logical database `db` into the snapshot: `emit` gets every
    /// live entry as of the snapshot's start. The caller holds the gate shared.
    pub fn snapshot_shard(
        &self,
        db: usize,
        shard: usize,
        now: u64,
        mut emit: impl FnMut(&[u8], &Value, Option<u64>),
    ) {
        let physical = self.listener.slots[db].load(Ordering::Acquire);
        let d = &self.dbs[physical];
        d.visit_shard(shard, |key, entry| {
            if !entry.is_expired(now) && !self.snapshot.has_preimage(physical, key) {
                match entry.object_ref() {
                    Some(value) => emit(key, value, entry.expire_at()),
                    None => emit(key, &entry.to_value(), entry.expire_at()),
                }
            }
        });
        self.snapshot.advance(physical, shard);
    }

    /// `snapshot_shard`, handing strings out as the bytes in their entries rather than as
    /// a copied `Value`.
    pub fn snapshot_shard_view(
        &self,
        db: usize,
        shard: usize,
        now: u64,
        mut emit: impl FnMut(&[u8], View<'_>, Option<u64>),
    ) {
        let physical = self.listener.slots[db].load(Ordering::Acquire);
        let d = &self.dbs[physical];
        d.visit_shard(shard, |key, entry| {
            if !entry.is_expired(now) && !self.snapshot.has_preimage(physical, key) {
                let view = match (entry.object_ref(), entry.value()) {
                    (Some(value), _) => View::Object(value),
                    (None, ValueRef::Str(s)) => View::Str(s),
                    (None, _) => unreachable!("an entry without an object holds a string"),
                };
                emit(key, view, entry.expire_at());
            }
        });
        self.snapshot.advance(physical, shard);
    }

    /// The entries of logical database `db` that changed after the snapshot began, as
    /// they were then. Call after its last shard.
    pub fn snapshot_preimages(&self, db: usize) -> Vec<(Bytes, Image)> {
        let physical = self.listener.slots[db].load(Ordering::Acquire);
        self.snapshot.preimages_of(physical)
    }

    /// Ends the snapshot; false if a FLUSHDB, FLUSHALL or SWAPDB invalidated it.
    pub fn end_snapshot(&self) -> bool {
        self.snapshot.end()
    }

    /// Replica mode: expired keys are hidden from reads but only removed by the
    /// primary's DEL. Off again on promotion.
    pub fn set_passive_expiry(&self, passive: bool) {
        self.listener.passive.store(passive, Ordering::Release);
    }

    pub fn passive_expiry(&self) -> bool {
        self.listener.passive.load(Ordering::Acquire)
    }

    /// Until unix ms `until_ms` (`u64::MAX`: until called again, 0: from now on not),
    /// expired keys are hidden from reads but not removed, by reads or by active
    /// expiry: while clients are paused the data set stands still, as in Redis 7.
    pub fn hold_expiry(&self, until_ms: u64) {
        self.listener
            .held_until_ms
            .store(until_ms, Ordering::Release);
    }

    /// Expired keys are kept at `now_ms` (`hold_expiry`).
    pub fn expiry_held(&self, now_ms: u64) -> bool {
        self.listener.held_until_ms.load(Ordering::Acquire) > now_ms
    }

    /// Installs the function told about every changed key.
    pub fn set_modified_hook(&self, hook: ModifiedHook) {
        let _ = self.listener.modified.set(hook);
    }

    /// Installs the function told about every key removed because it expired.
    pub fn set_expired_hook(&self, hook: ExpiredHook) {
        let _ = self.listener.hook.set(hook);
    }

    /// Installs the function told about every key evicted to free memory.
    pub fn set_evicted_hook(&self, hook: ExpiredHook) {
        let _ = self.listener.evicted.set(hook);
    }

    /// Installs the function told about every list or sorted set stored under a key.
    pub fn set_poppable_hook(&self, hook: ExpiredHook) {
        let _ = self.listener.poppable.set(hook);
    }

    pub fn physical(&self, index: usize) -> &Db {
        &self.dbs[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfu_counters_start_at_five_grow_then_decay() {
        let keyspace = Keyspace::new(1);
        keyspace.set_lfu(true);
        let db = keyspace.db(0);
        let key = Bytes::from_static(b"k");
        // Retried if the minutes clock ticks meanwhile (that decays the counter).
        let observed = loop {
            let minute = lfu_minutes();
            db.insert(&key, Value::Str(Bytes::from_static(b"v")), None);
            let now = clock::now_ms();
            let fresh = db.peek(&key, now).unwrap().frequency(db);
            // The first access past the initial value always counts.
            drop(db.get(&key, now));
            let accessed = db.peek(&key, now).unwrap().frequency(db);
            if lfu_minutes() == minute {
                break (fresh, accessed);
            }
        };
        assert_eq!(observed, (5, 6));
        // One per idle minute is taken off, never below zero.
        let stamp = lfu_minutes().wrapping_sub(3) & 0xFFFF;
        let lfu = Lfu::default();
        assert_eq!(lfu_decayed(stamp << 8 | 6, &lfu), 3);
        assert_eq!(lfu_decayed(stamp << 8 | 2, &lfu), 0);
        assert_eq!(lfu_log_incr(255, &lfu), 255);
        // lfu-decay-time 2: one point per two minutes; 0: no decay.
        lfu.decay_time.store(2, Ordering::Relaxed);
        assert_eq!(lfu_decayed(stamp << 8 | 6, &lfu), 5);
        lfu.decay_time.store(0, Ordering::Relaxed);
        assert_eq!(lfu_decayed(stamp << 8 | 6, &lfu), 6);
        // lfu-log-factor 0: every access counts.
        lfu.log_factor.store(0, Ordering::Relaxed);
        assert_eq!(lfu_log_incr(100, &lfu), 101);
    }
}
