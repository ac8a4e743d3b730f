//! Clients blocked on list, sorted-set and stream keys (BLPOP, BLMOVE, XREAD, ...): who waits for which (database,
//! key), in the order they blocked.
//!
//! A handler that finds every key empty registers its client here (under the keyspace
//! gate, so no push can slip in between) and returns without a reply. A push to a key
//! wakes the first client waiting on it (its `Notify` keeps the permit if the client is
//! not awaiting yet); that client then retries its pop under the write gate. A client
//! pops only from a key whose queue it heads among the clients waiting for the same type
//! (a list or a sorted set), so clients are served first come, first served per key and
//! type, as Redis serves them. When a client leaves the queue (served, timed out, killed)
//! the next one in each of its queues is woken to look again.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sync::Recover;
use bytes::Bytes;
use tokio::sync::Notify;

#[derive(Default)]
pub struct Blocking {
    inner: Mutex<Inner>,
    /// Clients registered, for INFO and to make `signal` free when nobody waits.
    blocked: AtomicUsize,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    queues: HashMap<(usize, Bytes), VecDeque<(u64, Awaits)>>,
    waiters: HashMap<u64, Arc<Notify>>,
}

/// The type of value a blocked client pops: a value of the other type at its key does
/// not serve it, nor keep it from clients waiting for that type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaits {
    List,
    SortedSet,
    /// XREAD, XREADGROUP: every such client is woken by new entries, since reading
    /// a stream takes nothing from it (a group's readers sort it out among themselves).
    /// `group` for XREADGROUP, which Redis 7.2 counts as blocking "on no key".
    Stream {
        group: bool,
    },
}

/// One registered client: its place in the queues of its keys.
#[derive(Debug, Clone)]
pub struct Waiter {
    pub id: u64,
    pub notify: Arc<Notify>,
}

impl Inner {
    /// Wakes the first client of each type waiting on `slot`.
    fn wake_heads(&self, slot: &(usize, Bytes)) {
        let Some(queue) = self.queues.get(slot) else {
            return;
        };
        for awaits in [Awaits::List, Awaits::SortedSet] {
            if let Some(&(head, _)) = queue.iter().find(|&&(_, a)| a == awaits) {
                if let Some(n) = self.waiters.get(&head) {
                    n.notify_one();
                }
            }
        }
        for &(id, awaits) in queue {
            if matches!(awaits, Awaits::Stream { .. }) {
                if let Some(n) = self.waiters.get(&id) {
                    n.notify_one();
                }
            }
        }
    }
}

impl Blocking {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.locked()
    }

    /// Queues a client at the end of the queue of each of `keys` in logical database `db`.
    pub fn register(&self, db: usize, keys: &[Bytes], awaits: Awaits) -> Waiter {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        let notify = Arc::new(Notify::new());
        inner.waiters.insert(id, notify.clone());
        for key in keys {
            let queue = inner.queues.entry((db, key.clone())).or_default();
            if !queue.iter().any(|&(w, _)| w == id) {
                queue.push_back((id, awaits));
            }
        }
        self.blocked.fetch_add(1, Ordering::Relaxed);
        Waiter { id, notify }
    }

    /// Removes a client from every queue it is in and wakes the clients now first in
    /// them (they look again; a wakeup with nothing to pop is harmless).
    pub fn unregister(&self, db: usize, keys: &[Bytes], id: u64) {
        let mut inner = self.lock();
        if inner.waiters.remove(&id).is_none() {
            return;
        }
        self.blocked.fetch_sub(1, Ordering::Relaxed);
        for key in keys {
            let slot = (db, key.clone());
            let Some(queue) = inner.queues.get_mut(&slot) else {
                continue;
            };
            queue.retain(|&(w, _)| w != id);
            if queue.is_empty() {
                inner.queues.remove(&slot);
            } else {
                inner.wake_heads(&slot);
            }
        }
    }

    /// Data arrived at `key`: wakes the client that has waited longest for it.
    pub fn signal(&self, db: usize, key: &[u8]) {
        if self.blocked.load(Ordering::Relaxed) == 0 {
            return;
        }
        let inner = self.lock();
        inner.wake_heads(&(db, Bytes::copy_from_slice(key)));
    }

    /// Whether client `id` is first in line for `key` among those awaiting its type.
    pub fn is_first(&self, db: usize, key: &[u8], id: u64) -> bool {
        let inner = self.lock();
        let slot = (db, Bytes::copy_from_slice(key));
        let Some(queue) = inner.queues.get(&slot) else {
            return false;
        };
        let Some(&(_, awaits)) = queue.iter().find(|&&(w, _)| w == id) else {
            return false;
        };
        queue.iter().find(|&&(_, a)| a == awaits).map(|&(w, _)| w) == Some(id)
    }

    /// How many clients are blocked (INFO clients `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.blocked.load(Ordering::Relaxed)
    }

    /// How many keys clients are blocked on, and how many of those an XREADGROUP
    /// blocks on (INFO `total_blocking_keys`, `total_blocking_keys_on_nokey`).
    pub fn blocking_keys(&self) -> (usize, usize) {
        let inner = self.lock();
        let on_nokey = inner
            .queues
            .values()
            .filter(|queue| {
                queue
                    .iter()
                    .any(|&(_, a)| a == Awaits::Stream { group: true })
            })
            .count();
        (inner.queues.len(), on_nokey)
    }
}
