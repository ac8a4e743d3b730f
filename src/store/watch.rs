//! The WATCH registry: which clients watch which keys, so a write can mark their
//! transactions dirty. Empty most of the time, so `touch` first checks a counter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::sync::Recover;
use bytes::Bytes;

/// Set when any key a client watches is modified; EXEC then aborts.
#[derive(Debug, Default)]
pub struct WatchFlag {
    dirty: AtomicBool,
}

impl WatchFlag {
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    pub fn reset(&self) {
        self.dirty.store(false, Ordering::Release);
    }

    fn mark(&self) {
        self.dirty.store(true, Ordering::Release);
    }
}

/// One key a client watches, kept by the client to unwatch it later.
#[derive(Debug, Clone)]
pub struct WatchedKey {
    pub db: usize,
    pub key: Bytes,
    /// The key existed but had already expired when WATCH ran.
    pub expired_at_watch: bool,
}

struct Watcher {
    flag: Arc<WatchFlag>,
    /// See `WatchedKey::expired_at_watch`; cleared once the expired key is deleted, since
    /// deleting an already-expired key is logically no change.
    expired: AtomicBool,
}

#[derive(Default)]
pub(super) struct Watches {
    count: AtomicUsize,
    by_key: Mutex<HashMap<(usize, Bytes), Vec<Watcher>>>,
}

impl Watches {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, Bytes), Vec<Watcher>>> {
        self.by_key.locked()
    }

    pub(super) fn add(
        &self,
        db: usize,
        key: Bytes,
        flag: &Arc<WatchFlag>,
        expired: bool,
    ) -> WatchedKey {
        let mut map = self.lock();
        let watchers = map.entry((db, key.clone())).or_default();
        if !watchers.iter().any(|w| Arc::ptr_eq(&w.flag, flag)) {
            watchers.push(Watcher {
                flag: flag.clone(),
                expired: AtomicBool::new(expired),
            });
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        WatchedKey {
            db,
            key,
            expired_at_watch: expired,
        }
    }

    pub(super) fn remove(&self, wk: &WatchedKey, flag: &Arc<WatchFlag>) {
        let mut map = self.lock();
        let slot = (wk.db, wk.key.clone());
        if let Some(watchers) = map.get_mut(&slot) {
            let before = watchers.len();
            watchers.retain(|w| !Arc::ptr_eq(&w.flag, flag));
            self.count
                .fetch_sub(before - watchers.len(), Ordering::Relaxed);
            if watchers.is_empty() {
                map.remove(&slot);
            }
        }
    }

    /// `key` in physical database `db` was modified; `exists` says whether it is there now.
    pub(super) fn touch(&self, db: usize, key: &[u8], exists: impl Fn(&[u8]) -> bool) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let map = self.lock();
        if let Some(watchers) = map.get(&(db, Bytes::copy_from_slice(key))) {
            mark_all(watchers, key, &exists);
        }
    }

    /// Every watched key of `db` for which `exists` holds was modified (FLUSHDB, SWAPDB).
    pub(super) fn touch_db(&self, db: usize, exists: impl Fn(&[u8]) -> bool) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let map = self.lock();
        for ((d, key), watchers) in map.iter() {
            if *d == db && exists(key) {
                mark_all(watchers, key, &|_: &[u8]| true);
            }
        }
    }
}

fn mark_all(watchers: &[Watcher], key: &[u8], exists: &impl Fn(&[u8]) -> bool) {
    for w in watchers {
        if w.expired.load(Ordering::Relaxed) && !exists(key) {
            w.expired.store(false, Ordering::Relaxed);
            continue;
        }
        w.flag.mark();
    }
}
