//! Per-connection client state, and the registry CLIENT LIST / KILL / INFO read.
//!
//! `Client` is owned by its connection task and needs no locking. What other
//! connections must see (name, database, last command, kill switch) lives in the shared
//! `ClientInfo` and is updated as the client changes it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::cmd::CommandId;
use crate::store::{WatchFlag, WatchedKey};

pub const KIND_NORMAL: u8 = 0;
/// A replica fed by this server.
pub const KIND_REPLICA: u8 = 1;

/// What other connections may read about a client.
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    /// Unix ms of connection.
    pub created_ms: u64,
    pub name: Mutex<Option<Bytes>>,
    pub lib_name: Mutex<Option<Bytes>>,
    pub lib_ver: Mutex<Option<Bytes>>,
    pub db: AtomicUsize,
    pub proto: AtomicU8,
    /// Unix ms of the last command.
    pub last_interaction_ms: AtomicU64,
    /// Table id of the last command run, +1; 0 before the first (CLIENT LIST `cmd=`).
    pub last_command: AtomicU32,
    pub in_multi: AtomicBool,
    pub multi_len: AtomicUsize,
    pub no_evict: AtomicBool,
    pub no_touch: AtomicBool,
    /// What CLIENT LIST / KILL TYPE call it: `KIND_NORMAL`, `KIND_REPLICA`, ...
    pub kind: AtomicU8,
    /// Channels and patterns subscribed to (pub/sub).
    pub channels: AtomicUsize,
    pub patterns: AtomicUsize,
    /// Set by CLIENT KILL; the connection task closes when notified.
    pub killed: AtomicBool,
    pub kill: Notify,
    /// Waiting in a blocking command (BLPOP, WAIT): CLIENT LIST flag `b`.
    pub blocked: AtomicBool,
}

impl ClientInfo {
    /// A client not listed in CLIENT LIST (the log loader's); id 0.
    pub fn detached() -> ClientInfo {
        let nowhere = SocketAddr::from(([0, 0, 0, 0], 0));
        ClientInfo::new(0, nowhere, nowhere)
    }

    fn new(id: u64, addr: SocketAddr, laddr: SocketAddr) -> ClientInfo {
        let now = crate::clock::now_ms();
        ClientInfo {
            id,
            addr,
            laddr,
            created_ms: now,
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            db: AtomicUsize::new(0),
            proto: AtomicU8::new(2),
            last_interaction_ms: AtomicU64::new(now),
            last_command: AtomicU32::new(0),
            in_multi: AtomicBool::new(false),
            multi_len: AtomicUsize::new(0),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            kind: AtomicU8::new(KIND_NORMAL),
            channels: AtomicUsize::new(0),
            patterns: AtomicUsize::new(0),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            blocked: AtomicBool::new(false),
        }
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    pub fn name(&self) -> Option<Bytes> {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Every connected client by id.
#[derive(Default)]
pub struct Registry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
}

impl Registry {
    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr) -> Arc<ClientInfo> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let info = Arc::new(ClientInfo::new(id, addr, laddr));
        self.lock().insert(id, info.clone());
        info
    }

    pub fn unregister(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// A snapshot of every client, in id order.
    pub fn snapshot(&self) -> Vec<Arc<ClientInfo>> {
        self.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.lock().get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<ClientInfo>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A transaction being queued between MULTI and EXEC.
#[derive(Default)]
pub struct Multi {
    pub queued: Vec<(CommandId, Vec<Bytes>)>,
    /// A command was rejected while queueing: EXEC answers EXECABORT.
    pub failed: bool,
}

/// State owned by one connection.
pub struct Client {
    pub info: Arc<ClientInfo>,
    pub id: u64,
    /// Logical database number (SELECT).
    pub db: usize,
    /// RESP version, 2 or 3 (HELLO).
    pub proto: u8,
    pub authenticated: bool,
    pub multi: Option<Multi>,
    pub watch_flag: Arc<WatchFlag>,
    pub watched: Vec<WatchedKey>,
    /// Close the connection once the pending replies are written (QUIT, errors).
    pub close_after_reply: bool,
    /// LSN of this client's latest logged write; its replies wait until it is durable
    /// (under `appendfsync always`).
    pub pending_lsn: Option<u64>,
    /// LSN of this client's latest write, which WAIT counts acknowledgements for.
    pub last_write_lsn: u64,
    /// Applies a primary's stream: its writes are not journaled again.
    pub from_primary: bool,
    /// Port given with `REPLCONF listening-port`.
    pub repl_listening_port: u16,
    /// Set by PSYNC: the connection becomes a replica feed after this batch.
    pub handoff: Option<crate::repl::primary::Psync>,
    /// This connection's outbox for pub/sub messages, once it has subscribed.
    pub subscriber: Option<Arc<crate::pubsub::Subscriber>>,
    /// Channels and patterns subscribed to, in subscription order.
    pub channels: Vec<Bytes>,
    pub patterns: Vec<Bytes>,
    /// CLIENT TRACKING mode, when on.
    pub tracking: Option<crate::tracking::Mode>,
    /// CLIENT CACHING yes/no, for the next command only.
    pub caching: Option<bool>,
    /// True while EXEC runs this client's queued commands (it holds the write gate).
    pub in_exec: bool,
    /// Set by a command that waits (WAIT): no further request is read until it ends.
    pub blocked: Option<Blocked>,
}

/// A command waiting for something before it can answer.
#[derive(Debug, Clone)]
pub enum Blocked {
    /// WAIT: until `replicas` have acknowledged `lsn`, or the deadline.
    Wait {
        replicas: usize,
        lsn: u64,
        deadline: Option<std::time::Instant>,
    },
    /// BLPOP, BLMOVE, ...: until one of `keys` (in database `db`) has data, or the
    /// deadline; `waiter` is the client's place in the queues of those keys.
    List {
        db: usize,
        keys: Vec<Bytes>,
        op: crate::cmd::list::BlockedPop,
        deadline: Option<std::time::Instant>,
        waiter: super::blocking::Waiter,
    },
}

impl Client {
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Client {
        Client {
            id: info.id,
            info,
            db: 0,
            proto: 2,
            authenticated,
            multi: None,
            watch_flag: Arc::new(WatchFlag::default()),
            watched: Vec::new(),
            close_after_reply: false,
            pending_lsn: None,
            last_write_lsn: 0,
            from_primary: false,
            repl_listening_port: 0,
            handoff: None,
            subscriber: None,
            channels: Vec::new(),
            patterns: Vec::new(),
            tracking: None,
            caching: None,
            in_exec: false,
            blocked: None,
        }
    }

    pub fn in_multi(&self) -> bool {
        self.multi.is_some()
    }

    /// Marks the open transaction (if any) as failed, for EXECABORT.
    pub fn flag_multi_error(&mut self) {
        if let Some(m) = &mut self.multi {
            m.failed = true;
        }
    }

    pub fn queue(&mut self, id: CommandId, args: Vec<Bytes>) {
        if let Some(m) = &mut self.multi {
            m.queued.push((id, args));
            self.info.multi_len.store(m.queued.len(), Ordering::Relaxed);
        }
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }

    pub fn set_proto(&mut self, proto: u8) {
        self.proto = proto;
        self.info.proto.store(proto, Ordering::Relaxed);
        if let Some(subscriber) = &self.subscriber {
            subscriber.proto.store(proto, Ordering::Relaxed);
        }
    }

    /// Channels plus patterns: what (UN)SUBSCRIBE replies count.
    pub fn subscription_count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}
