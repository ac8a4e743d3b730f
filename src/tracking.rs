//! Client-side caching (CLIENT TRACKING): the server remembers which keys a tracking
//! client has read, and tells it when one changes so it can drop its local copy.
//!
//! Default mode remembers each key a tracking client reads (all of them, or only after
//! `CLIENT CACHING yes` in OPTIN mode, or all but those after `CLIENT CACHING no` in
//! OPTOUT mode) and sends one invalidation per key change, then forgets the key. BCAST
//! mode remembers nothing and announces every change to a key under one of the client's
//! prefixes; what one command changes under a prefix goes out as one message when the
//! command ends (its keys sorted, as Redis sends what an event-loop pass changed).
//! Messages are RESP3 `invalidate` pushes to the client itself, or, with
//! REDIRECT, `message` frames on `__redis__:invalidate` to a RESP2 client subscribed to
//! that channel. The table is global across databases, as in Redis.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::protocol::Reply;
use crate::pubsub::{Hub, Subscriber};
use crate::sync::Recover;

pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// How one client tracks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mode {
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub redirect: Option<u64>,
    pub prefixes: Vec<Bytes>,
}

struct Tracker {
    mode: Mode,
    /// Where its own pushes go when it does not redirect (a RESP3 connection).
    outbox: Arc<Subscriber>,
}

#[derive(Default)]
struct Table {
    clients: HashMap<u64, Tracker>,
    /// Default mode: key -> ids of the clients that read it since its last change.
    keys: HashMap<Bytes, HashSet<u64>>,
}

#[derive(Default)]
pub struct Tracking {
    /// Tracking clients; 0 makes every hook a single load.
    active: AtomicUsize,
    table: Mutex<Table>,
}

thread_local! {
    /// The client whose command is running on this thread, for NOLOOP.
    static CURRENT_CLIENT: Cell<u64> = const { Cell::new(0) };
    /// While a command runs on this thread: the BCAST invalidations it caused, as
    /// (tracking client, key), sent when the outermost command ends.
    static BROADCASTS: RefCell<Option<Vec<(u64, Bytes)>>> = const { RefCell::new(None) };
}

fn invalidation(keys: Reply) -> Reply {
    Reply::Push(vec![Reply::bulk_str("invalidate"), keys])
}

impl Tracking {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.locked()
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    /// Clients with tracking on (INFO `tracking_clients`).
    pub fn clients(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Keys remembered for default-mode clients, (key, client) pairs among them, and
    /// distinct BCAST prefixes (INFO `tracking_total_keys`, `tracking_total_items`,
    /// `tracking_total_prefixes`). A BCAST client with no prefix has the empty one.
    pub fn totals(&self) -> (usize, usize, usize) {
        let table = self.lock();
        let items = table.keys.values().map(HashSet::len).sum();
        let mut prefixes: HashSet<&[u8]> = HashSet::new();
        for tracker in table.clients.values().filter(|t| t.mode.bcast) {
            if tracker.mode.prefixes.is_empty() {
                prefixes.insert(b"");
            }
            prefixes.extend(tracker.mode.prefixes.iter().map(|p| p.as_ref()));
        }
        (table.keys.len(), items, prefixes.len())
    }

    /// CLIENT TRACKING ON (again, with a new mode) for client `id`.
    pub fn enable(&self, id: u64, mode: Mode, outbox: Arc<Subscriber>) {
        let mut table = self.lock();
        if table.clients.insert(id, Tracker { mode, outbox }).is_none() {
            self.active.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// CLIENT TRACKING OFF, or the client went away.
    pub fn disable(&self, id: u64) {
        if self.lock().clients.remove(&id).is_some() {
            self.active.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A tracking client in default mode read `keys`.
    pub fn remember(&self, id: u64, keys: impl Iterator<Item = Bytes>) {
        let mut table = self.lock();
        for key in keys {
            table.keys.entry(key).or_default().insert(id);
        }
    }

    /// Runs `f` as client `id`'s command: changes it makes are its own (NOLOOP), and
    /// the BCAST invalidations it causes, nested commands' included (EXEC, scripts), go
    /// out together when it ends.
    pub fn as_client<R>(&self, hub: &Hub, id: u64, f: impl FnOnce() -> R) -> R {
        /// Restores the previous client and, at the outermost command, sends what it
        /// gathered: also when the command panicked, so no tracking client keeps a
        /// value the command changed.
        struct Restore<'a> {
            tracking: &'a Tracking,
            hub: &'a Hub,
            previous: u64,
            outermost: bool,
        }
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                CURRENT_CLIENT.with(|c| c.set(self.previous));
                if !self.outermost {
                    return;
                }
                let gathered = BROADCASTS.with(|b| b.borrow_mut().take());
                if let Some(gathered) = gathered.filter(|g| !g.is_empty()) {
                    self.tracking.broadcast(self.hub, gathered);
                }
            }
        }
        // With nobody tracking, nothing to gather (a command costs a load, not a
        // thread-local's borrow).
        let outermost = self.is_active()
            && BROADCASTS.with(|b| {
                let mut gathering = b.borrow_mut();
                gathering.is_none() && {
                    *gathering = Some(Vec::new());
                    true
                }
            });
        let _restore = Restore {
            tracking: self,
            hub,
            previous: CURRENT_CLIENT.with(|c| c.replace(id)),
            outermost,
        };
        f()
    }

    /// Sends what a command changed under BCAST prefixes: to each client, one message
    /// per prefix of its (prefixes in order), the keys sorted and each once.
    fn broadcast(&self, hub: &Hub, mut gathered: Vec<(u64, Bytes)>) {
        gathered.sort();
        gathered.dedup();
        let table = self.lock();
        for client in gathered.chunk_by(|a, b| a.0 == b.0) {
            let Some(tracker) = table.clients.get(&client[0].0) else {
                continue;
            };
            let mut prefixes: Vec<&[u8]> =
                tracker.mode.prefixes.iter().map(|p| p.as_ref()).collect();
            if prefixes.is_empty() {
                prefixes.push(b"");
            }
            prefixes.sort();
            for prefix in prefixes {
                let keys: Vec<Reply> = client
                    .iter()
                    .filter(|(_, key)| key.starts_with(prefix))
                    .map(|(_, key)| Reply::Bulk(key.clone()))
                    .collect();
                if !keys.is_empty() {
                    deliver(hub, tracker, Reply::Array(keys));
                }
            }
        }
    }

    /// `key` changed: tell whoever tracks it.
    pub fn invalidate(&self, hub: &Hub, key: &[u8]) {
        if !self.is_active() {
            return;
        }
        let modifier = CURRENT_CLIENT.with(|c| c.get());
        let mut table = self.lock();
        let mut targets: Vec<u64> = table
            .keys
            .remove(key)
            .map(|ids| ids.into_iter().collect())
            .unwrap_or_default();
        let mut broadcast_to: Vec<u64> = Vec::new();
        for (id, tracker) in &table.clients {
            if tracker.mode.bcast
                && (tracker.mode.prefixes.is_empty()
                    || tracker.mode.prefixes.iter().any(|p| key.starts_with(p)))
                && !(tracker.mode.noloop && *id == modifier)
            {
                broadcast_to.push(*id);
            }
        }
        // Inside a command, broadcasts wait for its end; outside one (a key expiring in
        // the background), they go now.
        let gathering = !broadcast_to.is_empty()
            && BROADCASTS.with(|b| match b.borrow_mut().as_mut() {
                Some(gathered) => {
                    let key = Bytes::copy_from_slice(key);
                    gathered.extend(broadcast_to.iter().map(|id| (*id, key.clone())));
                    true
                }
                None => false,
            });
        if !gathering {
            targets.extend(broadcast_to);
        }
        let keys = Reply::Array(vec![Reply::Bulk(Bytes::copy_from_slice(key))]);
        for id in targets {
            if let Some(tracker) = table.clients.get(&id) {
                if tracker.mode.noloop && id == modifier {
                    continue;
                }
                deliver(hub, tracker, keys.clone());
            }
        }
        table.keys.retain(|_, ids| !ids.is_empty());
    }

    /// FLUSHDB / FLUSHALL: every tracking client drops everything (a null key list).
    pub fn invalidate_all(&self, hub: &Hub) {
        if !self.is_active() {
            return;
        }
        let mut table = self.lock();
        table.keys.clear();
        for tracker in table.clients.values() {
            deliver(hub, tracker, Reply::NullArray);
        }
    }
}

fn deliver(hub: &Hub, tracker: &Tracker, keys: Reply) {
    let as_message = |keys| {
        Reply::Push(vec![
            Reply::bulk_str("message"),
            Reply::Bulk(Bytes::from_static(INVALIDATE_CHANNEL)),
            keys,
        ])
    };
    match tracker.mode.redirect {
        Some(target) => hub.deliver_to(INVALIDATE_CHANNEL, target, &as_message(keys)),
        None if tracker.outbox.proto.load(Ordering::Relaxed) >= 3 => {
            tracker.outbox.push(&invalidation(keys))
        }
        // A RESP2 connection can only take it as a message on the channel, if it
        // listens there; otherwise, as in Redis, it is not told.
        None => hub.deliver_to(
            INVALIDATE_CHANNEL,
            tracker.outbox.client_id,
            &as_message(keys),
        ),
    }
}
