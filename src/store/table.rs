//! A database's table: `SHARDS` hashbrown tables, each behind its own lock, whose slots
//! are one `Entry` pointer (8 bytes plus a control byte) found by the key its block
//! holds. Replaces a `DashMap<Bytes, Entry>`, whose slot held the key's `Bytes` (32
//! bytes) and the entry (56) side by side.
//!
//! The shard locks let readers in while a writer waits (`read_recursive`), as dashmap's
//! did: a command holding one entry may look up another key in the same shard while
//! active expiry waits to remove a key there, and a fair lock would deadlock.

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::hash::BuildHasher;

// Keys come from clients: the hasher is seeded at random per map, so collisions
// cannot be planned (hash flooding); foldhash's quality variant, hashbrown's default
// family, costs a fraction of SipHash on short keys.
use foldhash::quality::RandomState;
use hashbrown::raw::{Bucket, RawTable};

use super::Entry;

pub type Shard = RawTable<Entry>;

pub struct Table {
    shards: Box<[RwLock<Shard>]>,
    hasher: RandomState,
    /// Bits to shift a hash right by to get its shard (after dropping its top 7 bits,
    /// which hashbrown keeps in the control bytes).
    shift: u32,
}

/// A live entry under its shard's read lock.
pub struct Ref<'a> {
    _guard: RwLockReadGuard<'a, Shard>,
    bucket: Bucket<Entry>,
}

/// A live entry under its shard's write lock.
pub struct RefMut<'a> {
    _guard: RwLockWriteGuard<'a, Shard>,
    bucket: Bucket<Entry>,
}

impl std::ops::Deref for Ref<'_> {
    type Target = Entry;
    fn deref(&self) -> &Entry {
        // SAFETY: the guard keeps the table, and so the bucket, unchanged.
        unsafe { self.bucket.as_ref() }
    }
}

impl std::ops::Deref for RefMut<'_> {
    type Target = Entry;
    fn deref(&self) -> &Entry {
        // SAFETY: as for Ref.
        unsafe { self.bucket.as_ref() }
    }
}

impl std::ops::DerefMut for RefMut<'_> {
    fn deref_mut(&mut self) -> &mut Entry {
        // SAFETY: the write guard makes this the only access to the table. The entry's
        // key (and so its hash) is never changed through it.
        unsafe { self.bucket.as_mut() }
    }
}

impl Table {
    pub fn new(shards: usize) -> Table {
        assert!(shards.is_power_of_two() && shards > 1);
        Table {
            shards: (0..shards).map(|_| RwLock::new(RawTable::new())).collect(),
            hasher: RandomState::default(),
            shift: 64 - shards.trailing_zeros(),
        }
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn shard_of_hash(&self, hash: u64) -> usize {
        ((hash << 7) >> self.shift) as usize
    }

    pub fn shard_of(&self, key: &[u8]) -> usize {
        self.shard_of_hash(self.hash(key))
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// One shard's table, to read.
    pub fn read(&self, shard: usize) -> RwLockReadGuard<'_, Shard> {
        self.shards[shard].read_recursive()
    }

    /// One shard's table, to change.
    pub fn write(&self, shard: usize) -> RwLockWriteGuard<'_, Shard> {
        self.shards[shard].write()
    }

    /// Rehashes an entry when its shard's table grows or shrinks.
    pub fn rehasher(&self) -> impl Fn(&Entry) -> u64 + '_ {
        |e| self.hash(e.key())
    }

    pub fn get(&self, key: &[u8]) -> Option<Ref<'_>> {
        let hash = self.hash(key);
        let guard = self.read(self.shard_of_hash(hash));
        let bucket = guard.find(hash, |e| e.key() == key)?;
        Some(Ref {
            _guard: guard,
            bucket,
        })
    }

    pub fn get_mut(&self, key: &[u8]) -> Option<RefMut<'_>> {
        let hash = self.hash(key);
        let guard = self.write(self.shard_of_hash(hash));
        let bucket = guard.find(hash, |e| e.key() == key)?;
        Some(RefMut {
            _guard: guard,
            bucket,
        })
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        let hash = self.hash(key);
        self.read(self.shard_of_hash(hash))
            .find(hash, |e| e.key() == key)
            .is_some()
    }

    /// Stores `entry` under its key; returns the entry it replaced.
    pub fn insert(&self, entry: Entry) -> Option<Entry> {
        let hash = self.hash(entry.key());
        let mut guard = self.write(self.shard_of_hash(hash));
        if let Some(slot) = guard.get_mut(hash, |e| e.key() == entry.key()) {
            return Some(std::mem::replace(slot, entry));
        }
        guard.insert(hash, entry, self.rehasher());
        None
    }

    pub fn remove(&self, key: &[u8]) -> Option<Entry> {
        self.remove_if(key, |_| true)
    }

    /// Removes the entry for `key` if `f` says so.
    pub fn remove_if(&self, key: &[u8], f: impl FnOnce(&Entry) -> bool) -> Option<Entry> {
        let hash = self.hash(key);
        let mut guard = self.write(self.shard_of_hash(hash));
        let bucket = guard.find(hash, |e| e.key() == key)?;
        // SAFETY: the bucket was just found in this table, under its write lock.
        unsafe {
            if !f(bucket.as_ref()) {
                return None;
            }
            Some(guard.remove(bucket).0)
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read_recursive().len()).sum()
    }

    /// Empties every shard and gives back its table's memory.
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let old = std::mem::replace(&mut *shard.write(), RawTable::new());
            drop(old);
        }
    }

    /// Makes room for `additional` more entries spread over the shards, so a load does
    /// not grow each table step by step.
    pub fn reserve(&self, additional: usize) {
        let per_shard = additional.div_ceil(self.shards.len());
        for shard in self.shards.iter() {
            shard.write().reserve(per_shard, self.rehasher());
        }
    }

    /// Calls `f` for every entry of `shard` under its read lock.
    pub fn visit_shard(&self, shard: usize, mut f: impl FnMut(&Entry)) {
        let guard = self.read(shard);
        // SAFETY: the table is only read, and the read guard keeps it alive and
        // unchanged for the whole iteration.
        unsafe {
            for bucket in guard.iter() {
                f(bucket.as_ref());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StringEncoding, Value};
    use bytes::Bytes;

    fn entry(key: &str, value: &'static str) -> Entry {
        Entry::new(
            key.as_bytes(),
            Value::Str(Bytes::from_static(value.as_bytes())),
            None,
            0,
            StringEncoding::ByContent,
        )
    }

    #[test]
    fn finds_replaces_and_removes_by_key() {
        let table = Table::new(4);
        for i in 0..1000 {
            assert!(table.insert(entry(&format!("k{i}"), "a")).is_none());
        }
        assert_eq!(table.len(), 1000);
        let old = table.insert(entry("k7", "b")).unwrap();
        assert!(matches!(old.value(), crate::store::ValueRef::Str(b"a")));
        assert!(matches!(
            table.get(b"k7").unwrap().value(),
            crate::store::ValueRef::Str(b"b")
        ));
        assert!(table.remove_if(b"k7", |_| false).is_none());
        assert!(table.remove(b"k7").is_some());
        assert!(table.get(b"k7").is_none() && !table.contains_key(b"k7"));
        let mut seen = 0;
        for shard in 0..table.shard_count() {
            table.visit_shard(shard, |e| {
                assert_eq!(table.shard_of(e.key()), shard);
                seen += 1;
            });
        }
        assert_eq!(seen, 999);
        table.clear();
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_reader_gets_in_while_a_writer_waits_on_a_read_shard() {
        let table = std::sync::Arc::new(Table::new(2));
        let keys: Vec<String> = (0..100)
            .map(|i| format!("k{i}"))
            .filter(|k| table.shard_of(k.as_bytes()) == 0)
            .take(2)
            .collect();
        for k in &keys {
            table.insert(entry(k, "v"));
        }
        let held = table.get(keys[0].as_bytes()).unwrap();
        let writer = {
            let (table, key) = (table.clone(), keys[1].clone());
            std::thread::spawn(move || table.remove(key.as_bytes()).is_some())
        };
        // Give the writer time to queue behind the held read lock.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = {
            let (table, key) = (table.clone(), keys[1].clone());
            std::thread::spawn(move || tx.send(table.contains_key(key.as_bytes())).unwrap())
        };
        let read = rx.recv_timeout(std::time::Duration::from_secs(10));
        drop(held);
        assert!(writer.join().unwrap());
        reader.join().unwrap();
        assert_eq!(read, Ok(true), "a reader waited behind a waiting writer");
    }
}
