//! A point-in-time view of the keyspace for the log rewrite, taken without stopping
//! writers for more than one shard at a time.
//!
//! The rewrite copies shard after shard. Before a write changes a key in a shard that
//! has not been copied yet, the key's entry as it was when the snapshot began is saved
//! (a pre-image; "absent" for a key created since). The copy takes pre-images instead
//! of current entries, so it is the keyspace exactly as of the start, which is the log
//! position the rewrite's base replaces. Writers hold the keyspace gate exclusively and
//! the copier holds it shared per shard, so a shard is never copied while a writer
//! works on it. FLUSHDB/FLUSHALL/SWAPDB during a snapshot abort it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;

use super::Value;
use crate::sync::Recover;

/// An entry as the snapshot sees it: value and expiry, or absent.
pub type Image = Option<(Value, Option<u64>)>;

#[derive(Default)]
pub struct Snapshot {
    active: AtomicBool,
    aborted: AtomicBool,
    /// Per physical database: shards below this index have been copied.
    cursors: Vec<AtomicUsize>,
    preimages: Mutex<HashMap<(usize, Bytes), Image>>,
}

impl Snapshot {
    pub(super) fn new(databases: usize) -> Snapshot {
        Snapshot {
            cursors: (0..databases).map(|_| AtomicUsize::new(0)).collect(),
            ..Snapshot::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(usize, Bytes), Image>> {
        self.preimages.locked()
    }

    pub(super) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Called before a write changes `key` (in `shard` of physical database `db`);
    /// `current` gives the entry as it is now.
    pub(super) fn before_change(
        &self,
        db: usize,
        shard: usize,
        key: &[u8],
        current: impl FnOnce() -> Image,
    ) {
        if !self.is_active() || shard < self.cursors[db].load(Ordering::Acquire) {
            return;
        }
        self.lock()
            .entry((db, Bytes::copy_from_slice(key)))
            .or_insert_with(current);
    }

    pub(super) fn abort(&self) {
        if self.is_active() {
            self.aborted.store(true, Ordering::Release);
        }
    }

    pub(super) fn begin(&self) {
        self.lock().clear();
        for c in &self.cursors {
            c.store(0, Ordering::Release);
        }
        self.aborted.store(false, Ordering::Release);
        self.active.store(true, Ordering::Release);
    }

    /// The pre-images of one database, for a copier holding the gate shared.
    pub(super) fn preimages_of(&self, db: usize) -> Vec<(Bytes, Image)> {
        self.lock()
            .iter()
            .filter(|((d, _), _)| *d == db)
            .map(|((_, k), image)| (k.clone(), image.clone()))
            .collect()
    }

    pub(super) fn has_preimage(&self, db: usize, key: &[u8]) -> bool {
        let preimages = self.lock();
        !preimages.is_empty() && preimages.contains_key(&(db, Bytes::copy_from_slice(key)))
    }

    pub(super) fn advance(&self, db: usize, shard: usize) {
        self.cursors[db].store(shard + 1, Ordering::Release);
    }

    /// Ends the snapshot; false if it was aborted.
    pub(super) fn end(&self) -> bool {
        self.active.store(false, Ordering::Release);
        self.lock().clear();
        !self.aborted.load(Ordering::Acquire)
    }
}
