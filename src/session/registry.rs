//! What other connections may see of a client, and the registry of every connected
//! client that CLIENT LIST / KILL / INFO and shutdown read.
//!
//! A connection's own state (`Client`) needs no locking; what others must see (name,
//! database, last command, kill switch) lives here and is updated as the client changes.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::kill::KillSwitch;
use crate::sync::Recover;

pub const KIND_NORMAL: u8 = 0;
/// A replica fed by this server.
pub const KIND_REPLICA: u8 = 1;

/// CLIENT UNBLOCK ... TIMEOUT: the command answers as if its timeout had passed.
pub const UNBLOCK_TIMEOUT: u8 = 1;
/// CLIENT UNBLOCK ... ERROR: the command answers with the UNBLOCKED error.
pub const UNBLOCK_ERROR: u8 = 2;

/// One end of a client's connection: a TCP address, or the path of the Unix socket it
/// came in on (a Unix client has no address of its own; Redis shows both ends as the
/// socket's path, `/path/to/sock:0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAddr {
    Tcp(SocketAddr),
    Unix(Arc<str>),
}

impl PeerAddr {
    /// Whether the peer is on this host: a loopback address or a Unix socket (what
    /// protected mode serves, as Redis's `connIsLocal`).
    pub fn is_local(&self) -> bool {
        match self {
            PeerAddr::Tcp(addr) => addr.ip().to_canonical().is_loopback(),
            PeerAddr::Unix(_) => true,
        }
    }

    pub fn is_unix(&self) -> bool {
        matches!(self, PeerAddr::Unix(_))
    }

    /// The IP address, for a TCP peer.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            PeerAddr::Tcp(addr) => Some(addr.ip()),
            PeerAddr::Unix(_) => None,
        }
    }
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> PeerAddr {
        PeerAddr::Tcp(addr)
    }
}

/// As CLIENT LIST shows it: `ip:port`, `[ipv6]:port`, or `/path/to/sock:0`.
impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Tcp(addr) => addr.fmt(f),
            PeerAddr::Unix(path) => write!(f, "{path}:0"),
        }
    }
}

/// What other connections may read about a client.
pub struct ClientInfo {
    pub id: u64,
    pub addr: PeerAddr,
    pub laddr: PeerAddr,
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
    /// Channels, patterns and shard channels subscribed to (pub/sub).
    pub channels: AtomicUsize,
    pub patterns: AtomicUsize,
    pub shard_channels: AtomicUsize,
    /// Flipped by CLIENT KILL, shutdown or an output limit; the connection task closes.
    pub kill_switch: Arc<KillSwitch>,
    /// Waiting in a blocking command (BLPOP, WAIT): CLIENT LIST flag `b`.
    pub blocked: AtomicBool,
    /// Blocked with a timeout (INFO `clients_in_timeout_table`).
    pub blocked_with_timeout: AtomicBool,
    /// CLIENT UNBLOCK's request for this client's blocking command: `UNBLOCK_TIMEOUT`
    /// or `UNBLOCK_ERROR` (0: none), signalled on `unblocked`.
    pub unblock: AtomicU8,
    pub unblocked: tokio::sync::Notify,
    /// Held by CLIENT PAUSE (which CLIENT UNBLOCK does not end).
    pub paused: AtomicBool,
    /// Bytes of replies and messages not yet written to the socket (CLIENT LIST `omem`),
    /// what `client-output-buffer-limit` measures.
    pub output_pending: AtomicU64,
    /// Bytes the connection holds for its requests (INFO
    /// `client_recent_max_input_buffer`): its read buffer's size, 0 while it idles.
    pub input_buffer: AtomicU64,
    /// The ACL user it runs as (CLIENT LIST `user=`; closed when the user is deleted).
    pub user: Mutex<Option<Arc<crate::acl::User>>>,
}

impl ClientInfo {
    /// A client not listed in CLIENT LIST (the log loader's); id 0.
    pub fn detached() -> ClientInfo {
        let nowhere = PeerAddr::Tcp(SocketAddr::from(([0, 0, 0, 0], 0)));
        ClientInfo::new(0, nowhere.clone(), nowhere)
    }

    fn new(id: u64, addr: PeerAddr, laddr: PeerAddr) -> ClientInfo {
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
            shard_channels: AtomicUsize::new(0),
            kill_switch: Arc::default(),
            blocked: AtomicBool::new(false),
            blocked_with_timeout: AtomicBool::new(false),
            unblock: AtomicU8::new(0),
            unblocked: tokio::sync::Notify::new(),
            paused: AtomicBool::new(false),
            output_pending: AtomicU64::new(0),
            input_buffer: AtomicU64::new(0),
            user: Mutex::new(None),
        }
    }

    pub fn kill(&self) {
        self.kill_switch.kill();
    }

    /// Subscribed to anything: a channel, a pattern or a shard channel.
    pub fn is_subscribed(&self) -> bool {
        self.channels.load(Ordering::Relaxed)
            + self.patterns.load(Ordering::Relaxed)
            + self.shard_channels.load(Ordering::Relaxed)
            > 0
    }

    /// Which class of `client-output-buffer-limit` applies: `config::OUTPUT_REPLICA` for
    /// a replica, `OUTPUT_PUBSUB` while subscribed, else `OUTPUT_NORMAL` (Redis's
    /// `getClientType`).
    pub fn output_class(&self) -> usize {
        if self.kind.load(Ordering::Relaxed) == KIND_REPLICA {
            crate::config::OUTPUT_REPLICA
        } else if self.is_subscribed() {
            crate::config::OUTPUT_PUBSUB
        } else {
            crate::config::OUTPUT_NORMAL
        }
    }

    /// The name of the user it runs as.
    pub fn user_name(&self) -> String {
        match &*self.user.locked() {
            Some(user) => user.name.clone(),
            None => "default".into(),
        }
    }

    /// Whether it runs as `user` (the same user, not one since created with its name).
    pub fn runs_as(&self, user: &Arc<crate::acl::User>) -> bool {
        self.user
            .locked()
            .as_ref()
            .is_some_and(|u| Arc::ptr_eq(u, user))
    }

    pub fn name(&self) -> Option<Bytes> {
        self.name.locked().clone()
    }
}

/// Every connected client by id.
#[derive(Default)]
pub struct Registry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
}

impl Registry {
    pub fn register(&self, addr: PeerAddr, laddr: PeerAddr) -> Arc<ClientInfo> {
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

    /// Calls `f` on every client, in id order, without copying the list (INFO).
    pub fn for_each(&self, f: impl FnMut(&Arc<ClientInfo>)) {
        self.lock().values().for_each(f);
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
        self.clients.locked()
    }
}
