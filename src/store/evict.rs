//! Choosing keys to evict when memory is over `maxmemory`, as Redis does: a few keys are
//! sampled from each database (`maxmemory-samples`), the best candidates among them go
//! into a small pool that outlives one eviction (Redis keeps 16), and the best in the
//! pool is evicted. Sampling walks a bounded run of hash-table buckets from a random
//! point, so one eviction costs the same whatever the number of keys.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Db, Entry, Keyspace};
use crate::rand::Rng;

/// Candidates kept between evictions (Redis's EVPOOL_SIZE).
pub const POOL_SIZE: usize = 16;

/// The `maxmemory-policy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    const ALL: [(Policy, &'static str); 8] = [
        (Policy::NoEviction, "noeviction"),
        (Policy::AllKeysLru, "allkeys-lru"),
        (Policy::AllKeysLfu, "allkeys-lfu"),
        (Policy::AllKeysRandom, "allkeys-random"),
        (Policy::VolatileLru, "volatile-lru"),
        (Policy::VolatileLfu, "volatile-lfu"),
        (Policy::VolatileRandom, "volatile-random"),
        (Policy::VolatileTtl, "volatile-ttl"),
    ];

    /// The policy named `name` (the configuration's lower-case words).
    pub fn parse(name: &str) -> Option<Policy> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(p, _)| *p)
    }

    /// A small number for keeping the policy in an atomic.
    pub fn index(self) -> u8 {
        Self::ALL.iter().position(|(p, _)| *p == self).unwrap_or(0) as u8
    }

    pub fn from_index(index: u8) -> Policy {
        Self::ALL
            .get(index as usize)
            .map_or(Policy::NoEviction, |(p, _)| *p)
    }

    /// Only keys with a TTL may be evicted.
    pub fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    fn random(self) -> bool {
        matches!(self, Policy::AllKeysRandom | Policy::VolatileRandom)
    }

    /// How good a candidate `entry` is: the higher, the sooner it goes.
    fn score(self, entry: &Entry, db: &Db) -> u64 {
        match self {
            Policy::AllKeysLfu | Policy::VolatileLfu => 255 - entry.frequency(db),
            Policy::VolatileTtl => u64::MAX - entry.raw_expire_at(),
            _ => entry.idle_seconds(),
        }
    }
}

struct Candidate {
    score: u64,
    /// Physical database index.
    db: usize,
    key: Bytes,
}

/// The eviction pool and the sampling state; used under the exclusive gate.
pub struct Evictor {
    /// Sorted by score, best last.
    pool: Vec<Candidate>,
    rng: Rng,
    /// Where random policies take their next key from, round robin as in Redis.
    next_db: usize,
    /// Physical databases that had candidates when last counted (counting every
    /// database's keys takes each shard's lock, so it is done at most every
    /// `RECOUNT`, or when sampling them finds nothing).
    targets: Vec<usize>,
    counted_at: Option<Instant>,
}

/// How long the list of databases with candidates is trusted.
const RECOUNT: Duration = Duration::from_millis(100);

impl Default for Evictor {
    fn default() -> Self {
        Evictor {
            pool: Vec::with_capacity(POOL_SIZE),
            rng: Rng::from_entropy(),
            next_db: 0,
            targets: Vec::new(),
            counted_at: None,
        }
    }
}

/// Sampling rounds tried before concluding that nothing can be evicted although the
/// counts say there are candidates (they may all have been sampled away).
const ROUNDS: usize = 16;

impl Evictor {
    /// Evicts one key chosen by `policy`, sampling `samples` keys per database; false if
    /// there was none to evict. The caller holds the keyspace's write gate.
    pub fn evict_one(&mut self, keyspace: &Keyspace, policy: Policy, samples: usize) -> bool {
        if policy == Policy::NoEviction {
            return false;
        }
        if self.targets.is_empty() {
            self.count_targets(keyspace, policy);
        }
        let volatile = policy.volatile();
        for _ in 0..ROUNDS {
            if self.targets.is_empty() {
                return false;
            }
            if policy.random() {
                for _ in 0..self.targets.len() {
                    self.next_db = (self.next_db + 1) % self.targets.len();
                    let db = &keyspace.dbs[self.targets[self.next_db]];
                    let mut chosen = None;
                    db.sample(&mut self.rng, 1, volatile, |key, _| {
                        chosen = Some(Bytes::copy_from_slice(key))
                    });
                    if let Some(key) = chosen {
                        if db.evict(&key) {
                            return true;
                        }
                    }
                }
                // Every target came up empty: count again.
                self.count_targets(keyspace, policy);
                continue;
            }
            for &index in &self.targets {
                let db = &keyspace.dbs[index];
                let pool = &mut self.pool;
                db.sample(&mut self.rng, samples, volatile, |key, entry| {
                    offer(pool, index, key, policy.score(entry, db));
                });
            }
            while let Some(best) = self.pool.pop() {
                // A candidate deleted since it was sampled (or no longer volatile) is
                // dropped, as Redis drops it.
                let db = &keyspace.dbs[best.db];
                let still = db
                    .map
                    .get(best.key.as_ref())
                    .is_some_and(|e| !volatile || e.raw_expire_at() != 0);
                if still && db.evict(&best.key) {
                    return true;
                }
            }
            // Nothing sampled: the databases may have emptied since they were counted.
            self.count_targets(keyspace, policy);
        }
        self.evict_one_exhaustively(keyspace, policy, samples)
    }

    /// Bounded sampling can miss the few keys a volatile policy may take among many it
    /// may not (Redis samples a dictionary of volatile keys only): before answering that
    /// nothing can go, look through every key until `samples` candidates are found.
    fn evict_one_exhaustively(
        &mut self,
        keyspace: &Keyspace,
        policy: Policy,
        samples: usize,
    ) -> bool {
        let volatile = policy.volatile();
        self.count_targets(keyspace, policy);
        for &index in &self.targets {
            let db = &keyspace.dbs[index];
            let mut best: Option<(u64, Bytes)> = None;
            db.sample_within(
                &mut self.rng,
                samples,
                volatile,
                usize::MAX,
                |key, entry| {
                    let score = policy.score(entry, db);
                    if best.as_ref().is_none_or(|(s, _)| score > *s) {
                        best = Some((score, Bytes::copy_from_slice(key)));
                    }
                },
            );
            if let Some((_, key)) = best {
                if db.evict(&key) {
                    return true;
                }
            }
        }
        false
    }

    /// Counts again which databases have keys the policy may evict if the last count
    /// is older than `RECOUNT`; call at the start of each batch of evictions (a
    /// database that gains its first keys meanwhile is seen at the next count).
    pub fn recount_if_stale(&mut self, keyspace: &Keyspace, policy: Policy) {
        if self.counted_at.is_none_or(|at| at.elapsed() >= RECOUNT) {
            self.count_targets(keyspace, policy);
        }
    }

    /// Counts again which databases have keys the policy may evict.
    fn count_targets(&mut self, keyspace: &Keyspace, policy: Policy) {
        self.counted_at = Some(Instant::now());
        let volatile = policy.volatile();
        self.targets = (0..keyspace.dbs.len())
            .filter(|&i| {
                let db = &keyspace.dbs[i];
                if volatile {
                    db.expires_count() > 0
                } else {
                    !db.is_empty()
                }
            })
            .collect();
    }

    /// Forgets the candidates (a policy change).
    pub fn clear(&mut self) {
        self.pool.clear();
        self.targets.clear();
        self.counted_at = None;
    }
}

/// Puts a sampled key into the pool if it beats the worst candidate there.
fn offer(pool: &mut Vec<Candidate>, db: usize, key: &[u8], score: u64) {
    if let Some(same) = pool.iter().position(|c| c.db == db && c.key == key) {
        pool.remove(same);
    }
    if pool.len() == POOL_SIZE {
        if pool[0].score >= score {
            return;
        }
        pool.remove(0);
    }
    let at = pool.partition_point(|c| c.score <= score);
    pool.insert(
        at,
        Candidate {
            score,
            db,
            key: Bytes::copy_from_slice(key),
        },
    );
}

impl Db {
    /// Calls `f` with up to `count` keys (only keys with a TTL if `volatile`), taken from
    /// consecutive buckets after a random one. Bounded: it looks at most at one bucket
    /// run per shard and `count * 10` buckets in all (`count * 100` for volatile keys,
    /// which share the table with the others), as Redis's `dictGetSomeKeys` does.
    pub fn sample(
        &self,
        rng: &mut Rng,
        count: usize,
        volatile: bool,
        f: impl FnMut(&[u8], &Entry),
    ) {
        let budget = count * if volatile { 100 } else { 10 };
        self.sample_within(rng, count, volatile, budget, f)
    }

    /// `sample` looking at no more than `budget` buckets.
    fn sample_within(
        &self,
        rng: &mut Rng,
        count: usize,
        volatile: bool,
        mut budget: usize,
        mut f: impl FnMut(&[u8], &Entry),
    ) {
        let shards = self.map.shard_count();
        let mut found = 0;
        let first = rng.below(shards);
        for s in 0..shards {
            if found == count || budget == 0 {
                return;
            }
            let guard = self.map.read((first + s) % shards);
            if guard.is_empty() {
                continue;
            }
            let buckets = guard.buckets();
            let start = rng.below(buckets);
            for step in 0..buckets {
                if found == count || budget == 0 {
                    break;
                }
                budget -= 1;
                let index = (start + step) % buckets;
                // SAFETY: `index` is below `buckets()`; a full bucket holds an
                // initialised element, and the read guard keeps the table unchanged.
                unsafe {
                    if guard.is_bucket_full(index) {
                        let entry = guard.bucket(index).as_ref();
                        if !volatile || entry.raw_expire_at() != 0 {
                            found += 1;
                            f(entry.key(), entry);
                        }
                    }
                }
            }
        }
    }

    /// Gives back a shard's table memory once eviction has left it less than 1/8 full:
    /// otherwise the table of a keyspace evicted down keeps the memory the limit asks
    /// for (Redis's dictionaries shrink too), and sampling a sparse table finds little.
    fn shrink_if_sparse(&self, shard: usize) {
        let mut guard = self.map.write(shard);
        if guard.buckets() > 64 && guard.len() * 8 < guard.buckets() {
            let len = guard.len();
            guard.shrink_to(len, self.map.rehasher());
        }
    }

    /// Removes `key` to free memory: counted in `evicted_keys`, watchers and tracking
    /// clients told, and the evicted hook called (the log and replicas get a DEL, and
    /// the `evicted` event fires). The caller holds the write gate.
    pub fn evict(&self, key: &Bytes) -> bool {
        self.before_change(key);
        let Some(entry) = self.map.remove(key.as_ref()) else {
            return false;
        };
        if entry.raw_expire_at() != 0 {
            self.expires.fetch_sub(1, Ordering::Relaxed);
        }
        drop(entry);
        self.shrink_if_sparse(self.shard_of(key));
        self.stats.evicted_keys.fetch_add(1, Ordering::Relaxed);
        self.signal_modified(key);
        self.listener.evicted(self.id, key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Value;

    fn key(i: usize) -> Bytes {
        Bytes::from(format!("k{i}"))
    }

    #[test]
    fn the_pool_keeps_the_best_sixteen_best_last() {
        let mut pool = Vec::new();
        for score in [
            5u64, 1, 9, 3, 7, 20, 0, 11, 2, 13, 8, 4, 6, 15, 14, 12, 10, 30, 19,
        ] {
            offer(&mut pool, 0, &key(score as usize), score);
        }
        let scores: Vec<u64> = pool.iter().map(|c| c.score).collect();
        assert_eq!(
            scores,
            [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 19, 20, 30]
        );
        assert_eq!(pool.len(), POOL_SIZE);
        assert_eq!(pool.last().map(|c| c.score), Some(30));
        assert_eq!(pool[0].score, 3);
        // Offering a key already in the pool replaces its entry.
        offer(&mut pool, 0, &key(30), 31);
        assert_eq!(pool.iter().filter(|c| c.key == key(30)).count(), 1);
    }

    #[test]
    fn volatile_policies_never_pick_keys_without_a_ttl() {
        let keyspace = Keyspace::new(2);
        let now = crate::clock::now_ms();
        for i in 0..200 {
            let expire = (i % 2 == 0).then_some(now + 1_000_000 + i as u64);
            keyspace
                .db(i % 2)
                .insert(&key(i), Value::Str(Bytes::from_static(b"v")), expire);
        }
        let mut evictor = Evictor::default();
        let mut evicted = 0;
        while evictor.evict_one(&keyspace, Policy::VolatileLru, 5) {
            evicted += 1;
        }
        assert_eq!(evicted, 100);
        assert_eq!(keyspace.db(0).len(), 0);
        assert_eq!(keyspace.db(1).len(), 100);
        assert_eq!(keyspace.stats.evicted_keys.load(Ordering::Relaxed), 100);
    }

    #[test]
    fn volatile_policies_find_the_last_few_keys_with_a_ttl_among_many_without() {
        let keyspace = Keyspace::new(1);
        let now = crate::clock::now_ms();
        let db = keyspace.db(0);
        for i in 0..20_000 {
            let expire = (i % 4000 == 0).then_some(now + 1_000_000);
            db.insert(&key(i), Value::Str(Bytes::from_static(b"v")), expire);
        }
        // Five keys with a TTL: three go by LRU, the last two at random.
        for (policy, count) in [(Policy::VolatileLru, 3), (Policy::VolatileRandom, 2)] {
            let mut evictor = Evictor::default();
            for _ in 0..count {
                assert!(evictor.evict_one(&keyspace, policy, 5), "{policy:?}");
            }
        }
        assert_eq!(db.expires_count(), 0);
        assert!(!Evictor::default().evict_one(&keyspace, Policy::VolatileTtl, 5));
        assert_eq!(db.len(), 19_995);
    }

    #[test]
    fn volatile_ttl_takes_the_nearest_expiry_first() {
        let keyspace = Keyspace::new(1);
        let now = crate::clock::now_ms();
        let db = keyspace.db(0);
        for i in 0..1000 {
            db.insert(
                &key(i),
                Value::Str(Bytes::from_static(b"v")),
                Some(now + 10_000 + i as u64),
            );
        }
        let mut evictor = Evictor::default();
        for _ in 0..500 {
            assert!(evictor.evict_one(&keyspace, Policy::VolatileTtl, 5));
        }
        // The survivors are mostly the later half.
        let late = (500..1000)
            .filter(|i| db.map.contains_key(key(*i).as_ref()))
            .count();
        assert!(late > 400, "{late} of the 500 latest expiries survived");
    }
}
