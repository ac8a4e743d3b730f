//! The state one connection owns: selected database, protocol, transaction, watches,
//! subscriptions, and what it waits for. Commands read and change it through `Ctx`;
//! nothing here needs a lock.
//!
//! What a command leaves for its connection to do after the reply (wait in a blocking
//! pop, become a replica feed) is plain data here, so the command layer decides and the
//! connection layer acts.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::blocking::Waiter;
use super::{ClientInfo, CommandId};
use crate::store::{WatchFlag, WatchedKey};
use crate::sync::Recover;

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
    /// The ACL user this connection runs as, and its rules.
    pub login: crate::acl::Login,
    pub multi: Option<Multi>,
    pub watch_flag: Arc<WatchFlag>,
    pub watched: Vec<WatchedKey>,
    /// Close the connection once the pending replies are written (QUIT, errors).
    pub close_after_reply: bool,
    /// LSN of this client's latest logged write; its replies wait until it is durable
    /// (under `appendfsync always`).
    pub pending_lsn: Option<u64>,
    /// The request just run was a command whose reply hands out data it took out of
    /// the keyspace (`flags::HANDS_OUT`).
    pub hands_out: bool,
    /// LSN of this client's latest write, which WAIT counts acknowledgements for.
    pub last_write_lsn: u64,
    /// Applies a primary's stream: its writes are not journaled again.
    pub from_primary: bool,
    /// With `from_primary`: the stream comes from a redis-server primary, whose offsets
    /// are bytes, so what it applies is journaled under this server's own LSNs.
    pub journals_applied: bool,
    /// Port given with `REPLCONF listening-port`.
    pub repl_listening_port: u16,
    /// What the connection said of itself with `REPLCONF` before PSYNC or SYNC.
    pub repl_capa: ReplCapa,
    /// Set by PSYNC: the connection becomes a replica feed after this batch.
    pub handoff: Option<Psync>,
    /// This connection's outbox for pub/sub messages, once it has subscribed.
    pub subscriber: Option<Arc<crate::pubsub::Subscriber>>,
    /// Channels and patterns subscribed to, in subscription order.
    pub channels: Vec<Bytes>,
    pub patterns: Vec<Bytes>,
    /// Shard channels (SSUBSCRIBE), counted apart from the others, as in Redis.
    pub shard_channels: Vec<Bytes>,
    /// CLIENT TRACKING mode, when on.
    pub tracking: Option<crate::tracking::Mode>,
    /// CLIENT CACHING yes/no, for the next command only.
    pub caching: Option<bool>,
    /// True while EXEC runs this client's queued commands (it holds the write gate).
    pub in_exec: bool,
    /// Set by a command that waits (WAIT): no further request is read until it ends.
    pub blocked: Option<Blocked>,
    /// A request that found the keyspace held by another client's script: the
    /// connection waits for the script without holding a thread, then runs it again.
    pub deferred: Option<Vec<Bytes>>,
    /// True while a script's `redis.call` runs a command (MONITOR shows it as `lua`).
    pub in_script: bool,
    /// CLIENT REPLY: no replies at all (OFF), none to this command (SKIP), none to the
    /// next one (SKIP, as the command that asked).
    pub reply: ReplyMode,
}

/// CLIENT REPLY's state, as Redis's CLIENT_REPLY_OFF / _SKIP / _SKIP_NEXT flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplyMode {
    pub off: bool,
    pub skip: bool,
    pub skip_next: bool,
}

impl Blocked {
    /// Whether it ends by itself at a deadline (Redis's clients timeout table).
    pub fn has_timeout(&self) -> bool {
        match self {
            Blocked::Wait { deadline, .. }
            | Blocked::WaitAof { deadline, .. }
            | Blocked::List { deadline, .. } => deadline.is_some(),
            Blocked::Paused { .. } => false,
        }
    }
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
    /// WAITAOF: until `lsn` is fsynced to the local log (if `local`) and to the logs of
    /// `replicas` replicas, or the deadline.
    WaitAof {
        local: bool,
        replicas: usize,
        lsn: u64,
        deadline: Option<std::time::Instant>,
    },
    /// BLPOP, BLMOVE, BZPOPMIN, ...: until one of `keys` (in database `db`) has data, or the
    /// deadline; `waiter` is the client's place in the queues of those keys.
    List {
        db: usize,
        keys: Vec<Bytes>,
        op: BlockedPop,
        deadline: Option<std::time::Instant>,
        waiter: Waiter,
    },
    /// A request held while clients are paused (CLIENT PAUSE): run once the pause
    /// no longer holds it.
    Paused { args: Vec<Bytes> },
}

/// Which pop a client blocked in BLPOP, BLMPOP, BLMOVE, BZPOPMIN, ... performs once data
/// arrives.
#[derive(Debug, Clone)]
pub enum BlockedPop {
    /// BLPOP / BRPOP: one element, answered with its key.
    One { left: bool },
    /// BLMPOP: up to `count` elements of one key.
    Many { left: bool, count: usize },
    /// BZPOPMIN / BZPOPMAX (`count` None: one member, answered with its key) and BZMPOP
    /// (up to `count` members of one key).
    ZPop { max: bool, count: Option<usize> },
    /// XREAD / XREADGROUP with BLOCK: the request (its `$` ids made explicit), run
    /// again when entries arrive.
    Stream { args: Vec<Bytes> },
    /// BLMOVE / BRPOPLPUSH: one element moved to `dst`.
    Move {
        dst: Bytes,
        from_left: bool,
        to_left: bool,
        rpoplpush: bool,
    },
}

/// What a replica asked for with `PSYNC <replid> <offset>`: after this batch's replies,
/// the connection becomes that replica's feed.
#[derive(Debug, Clone)]
pub struct Psync {
    pub replid: String,
    /// The first LSN the replica does not have.
    pub offset: i64,
    pub listening_port: u16,
    pub capa: ReplCapa,
    /// Asked with the old `SYNC`: no `+FULLRESYNC` line, no acknowledgements.
    pub old_sync: bool,
}

/// What a replica announced with `REPLCONF` (`capa`, `rdb-only`, `rdb-filter-only`).
/// Only a replica that says `capa roost` gets Roost's own stream of log records; any
/// other gets Redis's: an RDB payload, then the commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplCapa {
    /// `capa roost`: a Roost replica.
    pub roost: bool,
    /// `capa eof`: takes an RDB payload of unknown length, ended by a marker.
    pub eof: bool,
    /// `rdb-only 1`: wants the RDB payload and nothing after it (`redis-cli --rdb`).
    pub rdb_only: bool,
    /// `rdb-filter-only <filters>`: the payload holds only what the filters name
    /// (`functions`; none: no data at all, as `redis-cli --replica` asks).
    pub rdb_filter: Option<RdbFilter>,
}

/// What an `rdb-filter-only` payload keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RdbFilter {
    pub functions: bool,
}

impl Client {
    /// A client logged in as `user`; `authenticated` unless it must still AUTH.
    pub fn new(info: Arc<ClientInfo>, user: Arc<crate::acl::User>, authenticated: bool) -> Client {
        *info.user.locked() = Some(user.clone());
        Client {
            login: crate::acl::Login::new(user),
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
            hands_out: false,
            last_write_lsn: 0,
            from_primary: false,
            journals_applied: false,
            repl_listening_port: 0,
            repl_capa: ReplCapa::default(),
            handoff: None,
            subscriber: None,
            channels: Vec::new(),
            patterns: Vec::new(),
            shard_channels: Vec::new(),
            tracking: None,
            caching: None,
            in_exec: false,
            blocked: None,
            deferred: None,
            in_script: false,
            reply: ReplyMode::default(),
        }
    }

    /// Runs as `user` from now on (AUTH, HELLO AUTH, RESET).
    pub fn log_in(&mut self, user: Arc<crate::acl::User>) {
        *self.info.user.locked() = Some(user.clone());
        self.login = crate::acl::Login::new(user);
        self.authenticated = true;
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
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }
}
