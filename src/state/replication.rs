//! Replication as the rest of the server sees it: this server's role and replication
//! ids, the link to its primary (for INFO and the MASTERDOWN gate), the replicas
//! attached to it with their acknowledged offsets (for WAIT, INFO, ROLE), and the id
//! saved beside the log so a restart can resume partially.
//!
//! The tasks that move the stream are in `repl`, on top of everything.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::Config;
use crate::journal::ReplicaQueue;
use crate::sync::Recover;
use crate::{clock, log};

/// Where a replica's link to its primary stands, as ROLE names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connect,
    Connecting,
    Sync,
    Connected,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// Role and replication ids; changed together under one lock.
#[derive(Debug, Clone)]
pub struct Ids {
    pub replid: String,
    /// The id this server's history had before the last change of primary, and the
    /// first offset that history does not share: replicas of the old primary may resume
    /// from it up to there.
    pub replid2: String,
    pub second_offset: i64,
    /// The primary this server replicates, if it is a replica.
    pub primary: Option<(String, u16)>,
    /// Bumped whenever `primary` changes; a link task for an older generation stops.
    pub generation: u64,
}

/// Where this server stands in a redis-server primary's history, kept while it follows
/// one and across a lost link (see `repl::from_redis`): Redis's replication id, the
/// byte offset of everything applied (never inside a transaction), and the database
/// the stream has selected. A reconnection asks `PSYNC <replid> <offset + 1>` with
/// it, so a `+CONTINUE` is known to continue Redis's stream. A promotion or a full sync
/// from a Roost primary forgets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisHistory {
    pub replid: String,
    pub offset: u64,
    pub db: usize,
}

/// Where a FAILOVER command stands, as `INFO replication` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverState {
    None,
    /// Writes are paused until a replica has acknowledged everything.
    WaitingForSync,
    /// Demoted: following the target, whose PSYNC FAILOVER answer ends it.
    InProgress,
}

impl FailoverState {
    pub fn name(self) -> &'static str {
        match self {
            FailoverState::None => "no-failover",
            FailoverState::WaitingForSync => "waiting-for-sync",
            FailoverState::InProgress => "failover-in-progress",
        }
    }
}

/// A FAILOVER in progress (`repl::failover` drives it).
#[derive(Debug, Clone)]
pub struct Failover {
    pub state: FailoverState,
    /// The replica named by TO, or the one found caught up.
    pub target: Option<(String, u16)>,
    /// Unix ms when waiting-for-sync gives up (or, with FORCE, fails over anyway).
    pub deadline_ms: Option<u64>,
    pub force: bool,
    /// Bumped by every FAILOVER, so a driver of an earlier one stops.
    pub epoch: u64,
}

/// A Redis-format feed's position: the id it was started under, the byte offset of
/// everything written to it, and the offset the replica last acknowledged.
#[derive(Debug, Clone)]
pub struct RedisFeed {
    pub replid: String,
    pub sent: u64,
    pub acked: u64,
}

/// A replica attached to this server, as INFO and ROLE report it.
pub struct AttachedReplica {
    pub client_id: u64,
    /// Fed in Redis's format (`repl::to_redis`).
    pub redis_format: bool,
    /// For a Redis-format feed after `+FULLRESYNC`: where its stream stands, in the
    /// replica's terms, for a FAILOVER to it.
    pub redis_feed: Mutex<Option<RedisFeed>>,
    pub ip: String,
    pub listening_port: u16,
    /// 0 sending the snapshot, 1 online.
    pub online: AtomicBool,
    pub ack_lsn: AtomicU64,
    /// What the replica says it has fsynced to its own log (`REPLCONF ACK .. FACK`),
    /// for WAITAOF; 0 from a replica that keeps no log or does not say.
    pub fsynced_lsn: AtomicU64,
    pub last_ack_ms: AtomicU64,
    pub queue: Arc<ReplicaQueue>,
}

/// The replica side's link, for INFO.
pub struct Link {
    state: AtomicU8,
    pub last_io_ms: AtomicU64,
    pub down_since_ms: AtomicU64,
    pub sync_total_bytes: AtomicU64,
    pub sync_read_bytes: AtomicU64,
}

impl Link {
    pub fn state(&self) -> LinkState {
        match self.state.load(Ordering::Acquire) {
            1 => LinkState::Connecting,
            2 => LinkState::Sync,
            3 => LinkState::Connected,
            _ => LinkState::Connect,
        }
    }

    pub fn set_state(&self, state: LinkState) {
        let previous = self.state();
        self.state.store(state as u8, Ordering::Release);
        if state != LinkState::Connected && previous == LinkState::Connected {
            self.down_since_ms.store(clock::now_ms(), Ordering::Relaxed);
        }
    }
}

pub struct Replication {
    ids: Mutex<Ids>,
    /// `ids.primary.is_some()`, readable without the lock: dispatch asks on every command.
    replica: AtomicBool,
    pub replicas: Mutex<Vec<Arc<AttachedReplica>>>,
    /// Bumped on every acknowledgement, so WAIT can sleep until one arrives.
    pub acks: tokio::sync::watch::Sender<u64>,
    /// Bumped by a WAIT that has to wait: every feed asks its replica for an ACK.
    pub ack_requests: tokio::sync::watch::Sender<u64>,
    /// Bumped whenever this server starts following a primary: clients blocked in WAIT
    /// or a blocking pop are released with UNBLOCKED, as in Redis (a pop served on a
    /// replica would change its data behind the stream's back; a WAIT would count
    /// acknowledgements of another history).
    pub demotions: tokio::sync::watch::Sender<u64>,
    /// Clients blocked in WAIT or WAITAOF (INFO `blocked_clients` counts them, as Redis
    /// does).
    pub waiting: AtomicU64,
    pub link: Link,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    /// True until this server has a history worth resuming: a fresh replica asks for
    /// `PSYNC ? -1` as Redis's do.
    pub fresh: AtomicBool,
    redis_history: Mutex<Option<RedisHistory>>,
    failover: Mutex<Failover>,
    /// Woken when the failover's state changes (ABORT, completion).
    pub failover_changed: tokio::sync::Notify,
}

impl Replication {
    pub fn new(config: &Config) -> Replication {
        Replication {
            ids: Mutex::new(Ids {
                replid: crate::rand::random_hex(40),
                replid2: "0".repeat(40),
                second_offset: -1,
                primary: config.replicaof.clone(),
                generation: 0,
            }),
            replica: AtomicBool::new(config.replicaof.is_some()),
            replicas: Mutex::new(Vec::new()),
            acks: tokio::sync::watch::channel(0).0,
            ack_requests: tokio::sync::watch::channel(0).0,
            demotions: tokio::sync::watch::channel(0).0,
            waiting: AtomicU64::new(0),
            link: Link {
                state: AtomicU8::new(0),
                last_io_ms: AtomicU64::new(0),
                down_since_ms: AtomicU64::new(clock::now_ms()),
                sync_total_bytes: AtomicU64::new(0),
                sync_read_bytes: AtomicU64::new(0),
            },
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            fresh: AtomicBool::new(config.replicaof.is_some()),
            redis_history: Mutex::new(None),
            failover: Mutex::new(Failover {
                state: FailoverState::None,
                target: None,
                deadline_ms: None,
                force: false,
                epoch: 0,
            }),
            failover_changed: tokio::sync::Notify::new(),
        }
    }

    pub fn ids(&self) -> MutexGuard<'_, Ids> {
        self.ids.locked()
    }

    pub fn is_replica(&self) -> bool {
        self.replica.load(Ordering::Acquire)
    }

    /// Follows `primary` from now on (`None`: stop following). False if that is already
    /// the primary; otherwise a link of the old generation stops.
    pub fn set_primary(&self, primary: Option<(String, u16)>) -> bool {
        let mut ids = self.ids();
        if ids.primary == primary {
            return false;
        }
        self.replica.store(primary.is_some(), Ordering::Release);
        let demoted = primary.is_some();
        if !demoted {
            // Promoted: this server's history goes on under its own id and LSNs.
            *self.redis_history.locked() = None;
        }
        ids.primary = primary;
        ids.generation += 1;
        drop(ids);
        if demoted {
            self.demotions.send_modify(|n| *n += 1);
        }
        true
    }

    pub fn failover(&self) -> MutexGuard<'_, Failover> {
        self.failover.locked()
    }

    pub fn failover_state(&self) -> FailoverState {
        self.failover.locked().state
    }

    /// The redis-server primary's history this server follows, if it follows one.
    pub fn redis_history(&self) -> Option<RedisHistory> {
        self.redis_history.locked().clone()
    }

    /// Records where the link of `generation` stands in Redis's history; nothing if
    /// that link is no longer wanted (a promotion must not get the history back).
    pub fn set_redis_history(&self, generation: u64, history: Option<RedisHistory>) {
        let ids = self.ids();
        if ids.generation == generation && ids.primary.is_some() {
            *self.redis_history.locked() = history;
        }
    }

    /// The replication id and offset INFO and ROLE report, given the journal's last LSN:
    /// while following a redis-server primary, Redis's id and byte offset (what Sentinel
    /// and Redis's own replicas compare); otherwise this server's id and LSN.
    pub fn reported(&self, ids: &Ids, last_lsn: u64) -> (String, u64) {
        match (&ids.primary, self.redis_history()) {
            (Some(_), Some(h)) => (h.replid, h.offset),
            _ => (ids.replid.clone(), last_lsn),
        }
    }

    pub fn attached(&self) -> Vec<Arc<AttachedReplica>> {
        self.replicas.locked().clone()
    }

    /// Online replicas that have acknowledged every record up to `lsn` (WAIT). As in
    /// Redis, a replica still receiving its snapshot counts for nothing, not even for a
    /// client that wrote nothing.
    pub fn acknowledged(&self, lsn: u64) -> usize {
        self.attached()
            .iter()
            .filter(|r| {
                r.online.load(Ordering::Acquire) && r.ack_lsn.load(Ordering::Acquire) >= lsn
            })
            .count()
    }

    /// Online replicas that have fsynced `lsn` to their own log (WAITAOF).
    pub fn fsynced(&self, lsn: u64) -> usize {
        self.attached()
            .iter()
            .filter(|r| {
                r.online.load(Ordering::Acquire) && r.fsynced_lsn.load(Ordering::Acquire) >= lsn
            })
            .count()
    }

    /// Redis's "good" replicas for `min-replicas-to-write`: online, and heard from within
    /// `max_lag` whole seconds.
    pub fn good_replicas(&self, max_lag: u64) -> usize {
        let now = clock::now_ms();
        self.attached()
            .iter()
            .filter(|r| {
                r.online.load(Ordering::Acquire)
                    && now.saturating_sub(r.last_ack_ms.load(Ordering::Relaxed)) / 1000 <= max_lag
            })
            .count()
    }

    /// Takes the history of another server (a full sync) or adopts a new id for the
    /// same history (the primary was promoted): the old id stays valid up to `offset`.
    pub fn adopt_replid(&self, replid: &str, keep_old_until: Option<i64>) {
        self.fresh.store(false, Ordering::Release);
        let mut ids = self.ids();
        if ids.replid == replid {
            return;
        }
        match keep_old_until {
            Some(offset) => {
                ids.replid2 = std::mem::replace(&mut ids.replid, replid.to_string());
                ids.second_offset = offset;
            }
            None => {
                ids.replid = replid.to_string();
                ids.replid2 = "0".repeat(40);
                ids.second_offset = -1;
            }
        }
    }

    /// Starts a new history branch (promotion, restart of a primary): a fresh id, with
    /// the old one still good for offsets up to `next_lsn`.
    pub fn new_branch(&self, next_lsn: u64) {
        let fresh = crate::rand::random_hex(40);
        self.adopt_replid(&fresh, Some(next_lsn as i64));
    }
}

/// Where a server with a log keeps the replication id its log's LSNs belong to.
pub fn id_file(dir: &Path) -> PathBuf {
    dir.join("appendonly").join("replication-id")
}

/// The replication id saved beside the log, if any.
pub fn load_id(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(id_file(dir)).ok()?;
    let id = text.trim();
    (id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
}

/// Saves the replication id beside the log (write, fsync, rename).
pub fn save_id(dir: &Path, replid: &str) {
    let path = id_file(dir);
    let temp = path.with_extension("tmp");
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        std::io::Write::write_all(&mut file, format!("{replid}\n").as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, &path)?;
        if let Some(parent) = path.parent() {
            std::fs::File::open(parent)?.sync_all()?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        log::warning(&format!(
            "Cannot save the replication id in {}: {e}",
            path.display()
        ));
    }
}

/// Forgets the saved id: the log is about to be replaced and is not yet the new one.
pub fn forget_id(dir: &Path) {
    let _ = std::fs::remove_file(id_file(dir));
}
