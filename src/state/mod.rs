//! The shared state of one server: everything a command may touch beyond its own
//! client. One `Arc<Shared>` per server; several servers can run in one process (the
//! integration tests do), and a `Shared` can be built and driven without a listener
//! (tests, tools).
//!
//! Its parts are components with their own modules: the keyspace (`store`), the
//! journal that orders writes, the log's run-time status (`persistence`), replication
//! (`replication`), pub/sub, tracking and notifications, the client registry and the
//! blocked-client queues (`session`), the script cache (`scripts`). What commands must
//! ask of the layers above them (start a rewrite, follow a primary) goes through
//! `Services`, which the server fills in.

pub mod diagnostics;
pub mod functions;
pub mod memory;
pub mod migrate;
pub mod names;
pub mod pause;
pub mod persistence;
pub mod replication;
pub mod scripts;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use crate::aof::Progress;
use crate::config::Config;
use crate::journal::Journal;
use crate::notify::Notifier;
use crate::pubsub::Hub;
use crate::session::{Blocking, Registry};
use crate::store::Keyspace;
use crate::sync::{Recover, RecoverRw};
use crate::tracking::Tracking;
use crate::{clock, log};
pub use functions::Libraries;
pub use memory::Room;
pub use names::CommandNames;
pub use persistence::{NotLogged, Persistence};
pub use replication::Replication;
pub use scripts::ScriptCache;

/// Server-wide counters for INFO stats.
#[derive(Default)]
pub struct Stats {
    pub total_connections_received: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub net_repl_input_bytes: AtomicU64,
    pub net_repl_output_bytes: AtomicU64,
    pub total_error_replies: AtomicU64,
    /// Reads from and writes to clients' sockets (INFO `total_reads_processed`,
    /// `total_writes_processed`).
    pub reads_processed: AtomicU64,
    pub writes_processed: AtomicU64,
    /// The largest pending output of any client lately (INFO
    /// `client_recent_max_output_buffer`).
    pub recent_max_output: RecentMax,
    /// Error replies by their first word (`ERR`, `WRONGTYPE`), for INFO errorstats.
    errors_by_code: Mutex<std::collections::BTreeMap<String, u64>>,
    /// INFO's `instantaneous_*` rates.
    rates: Mutex<[RateSamples; Rate::ALL.len()]>,
}

/// A counter INFO reports a recent rate of (`instantaneous_ops_per_sec`,
/// `instantaneous_input_kbps`, ...).
#[derive(Debug, Clone, Copy)]
pub enum Rate {
    Commands,
    NetInput,
    NetOutput,
    ReplInput,
    ReplOutput,
}

impl Rate {
    const ALL: [Rate; 5] = [
        Rate::Commands,
        Rate::NetInput,
        Rate::NetOutput,
        Rate::ReplInput,
        Rate::ReplOutput,
    ];
}

/// As Redis: the counter is sampled ten times a second (`Stats::sample_rates`), and the
/// rate is the mean per-second rate of the last 16 samples.
#[derive(Default, Clone, Copy)]
struct RateSamples {
    /// (counter, unix ms) at the last sample; `None` before the first.
    last: Option<(u64, u64)>,
    per_second: [u64; RATE_SAMPLES],
    next: usize,
}

const RATE_SAMPLES: usize = 16;

impl Stats {
    /// A read of `bytes` from a client's socket.
    pub fn count_read(&self, bytes: usize) {
        self.net_input_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.reads_processed.fetch_add(1, Ordering::Relaxed);
    }

    /// A write of `bytes` to a client's socket.
    pub fn count_write(&self, bytes: usize) {
        self.net_output_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.writes_processed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error reply for INFO stats and errorstats.
    pub fn record_error(&self, message: &str) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        let code = message.split(' ').next().unwrap_or("ERR").to_string();
        *self.errors_by_code.locked().entry(code).or_default() += 1;
    }

    pub fn errors_by_code(&self) -> Vec<(String, u64)> {
        let map = self.errors_by_code.locked();
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for c in [
            &self.total_connections_received,
            &self.total_commands_processed,
            &self.rejected_connections,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.net_repl_input_bytes,
            &self.net_repl_output_bytes,
            &self.total_error_replies,
            &self.reads_processed,
            &self.writes_processed,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.errors_by_code.locked().clear();
        let now = clock::now_ms();
        for samples in self.rates.locked().iter_mut() {
            *samples = RateSamples {
                last: Some((0, now)),
                ..RateSamples::default()
            };
        }
    }

    fn counter(&self, rate: Rate) -> &AtomicU64 {
        match rate {
            Rate::Commands => &self.total_commands_processed,
            Rate::NetInput => &self.net_input_bytes,
            Rate::NetOutput => &self.net_output_bytes,
            Rate::ReplInput => &self.net_repl_input_bytes,
            Rate::ReplOutput => &self.net_repl_output_bytes,
        }
    }

    /// Takes one sample of every rate's counter (the server does ten times a second).
    pub fn sample_rates(&self, now_ms: u64) {
        let mut rates = self.rates.locked();
        for (rate, samples) in Rate::ALL.into_iter().zip(rates.iter_mut()) {
            let count = self.counter(rate).load(Ordering::Relaxed);
            if let Some((last_count, last_ms)) = samples.last {
                let elapsed = now_ms.saturating_sub(last_ms);
                samples.per_second[samples.next] = (count.saturating_sub(last_count) * 1000)
                    .checked_div(elapsed)
                    .unwrap_or(0);
                samples.next = (samples.next + 1) % RATE_SAMPLES;
            }
            samples.last = Some((count, now_ms));
        }
    }

    /// The recent rate per second of `rate`'s counter.
    pub fn rate(&self, rate: Rate) -> u64 {
        let samples = self.rates.locked()[rate as usize];
        samples.per_second.iter().sum::<u64>() / RATE_SAMPLES as u64
    }
}

/// The largest of the values recorded in the last eight seconds, kept in one slot per
/// second as Redis keeps its clients' peak buffers.
#[derive(Default)]
pub struct RecentMax {
    /// (the second the slot holds, the largest value recorded in it)
    slots: [(AtomicU64, AtomicU64); 8],
}

impl RecentMax {
    pub fn record(&self, value: u64) {
        let second = clock::now_ms() / 1000;
        let (held, max) = &self.slots[(second % 8) as usize];
        if held.swap(second, Ordering::Relaxed) != second {
            max.store(0, Ordering::Relaxed);
        }
        max.fetch_max(value, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        let second = clock::now_ms() / 1000;
        self.slots
            .iter()
            .filter(|(held, _)| second.saturating_sub(held.load(Ordering::Relaxed)) < 8)
            .map(|(_, max)| max.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
    }
}

/// Counters for `INFO commandstats`, one per command-table entry.
#[derive(Default)]
pub struct CommandStats {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected_calls: AtomicU64,
    pub failed_calls: AtomicU64,
}

impl CommandStats {
    pub fn reset(&self) {
        for c in [
            &self.calls,
            &self.usec,
            &self.rejected_calls,
            &self.failed_calls,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// What commands ask of the layers above them; the server fills these in.
#[derive(Clone, Copy)]
pub struct Services {
    /// BGREWRITEAOF, automatic rewrites: starts a rewrite on a thread of its own unless
    /// one is running; false if one was.
    pub start_rewrite: fn(&Arc<Shared>) -> bool,
    /// SAVE: runs a rewrite now (the caller has set `rewrites.in_progress`).
    pub rewrite_now: fn(&Shared) -> Result<(), String>,
    /// SAVE: writes the RDB file now.
    pub save_rdb: fn(&Shared) -> Result<(), String>,
    /// BGSAVE, `save` schedules: writes the RDB file on a thread of its own unless a
    /// save is running; false if one was.
    pub start_bgsave: fn(&Arc<Shared>) -> bool,
    /// REPLICAOF host port: starts the link to the primary now configured.
    pub follow_primary: fn(&Arc<Shared>),
    /// DEBUG RELOAD, under the write gate: save, flush and load the RDB file as `Reload`
    /// says; the count of keys loaded.
    pub reload_rdb: fn(&Shared, Reload) -> Result<u64, ReloadFailure>,
    /// FAILOVER: waits for a replica to catch up and hands over to it.
    pub start_failover: fn(&Arc<Shared>),
}

/// DEBUG RELOAD's options: by default the file is written, the keyspace emptied, and
/// the file loaded back.
#[derive(Debug, Clone, Copy)]
pub struct Reload {
    /// Write the file first (no `NOSAVE`).
    pub save: bool,
    /// Empty every database before loading (no `NOFLUSH`).
    pub flush: bool,
    /// A key in the file replaces one already present (`MERGE`).
    pub merge: bool,
}

/// Why DEBUG RELOAD failed: writing the file (nothing was changed) or loading it.
#[derive(Debug)]
pub enum ReloadFailure {
    Save(String),
    Load(String),
}

/// What INFO persistence reports about a load in progress or the last one.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadingProgress {
    pub start_ms: u64,
    pub progress: Progress,
}

pub struct Shared {
    config: RwLock<Config>,
    /// Moves on with every change of the configuration (`config_mut`): a connection
    /// keeps the few settings it reads per request and takes the lock again only
    /// after a change (`server::connection`'s `Settings`).
    config_version: AtomicU64,
    pub keyspace: Arc<Keyspace>,
    /// `maxmemory` and eviction.
    pub memory: memory::Memory,
    /// Per command-table entry, by `CommandId`.
    pub command_stats: Box<[CommandStats]>,
    /// The names clients call commands by (`rename-command`).
    pub command_names: CommandNames,
    /// ACL users (`requirepass` is the default user's password).
    pub acl: crate::acl::Acl,
    pub clients: Registry,
    pub stats: Stats,
    /// 40 hex characters, new at every start (Sentinel detects restarts by it).
    pub run_id: String,
    pub started: Instant,
    pub started_ms: u64,
    /// Active expiry frequency, shared with the expiry thread; CONFIG SET hz changes it.
    pub hz: Arc<AtomicU32>,
    /// The address the first listener is bound to, once there is one.
    listen_addr: OnceLock<SocketAddr>,
    shutting_down: AtomicBool,
    /// Becomes true once; a watch channel cannot lose the wakeup.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Orders every write and hands it to the log writer and the replicas; present
    /// (numbering records for replicas) when the log is off too.
    pub journal: Journal,
    pub persistence: Persistence,
    /// True while the log is being replayed: commands without the LOADING flag wait.
    loading: AtomicBool,
    pub loading_progress: Mutex<LoadingProgress>,
    /// Set when startup fails after the listener is up (a corrupt log): `run` returns it.
    fatal: Mutex<Option<String>>,
    /// This server's own `Arc`, for work handed to other threads (a rewrite).
    me: std::sync::Weak<Shared>,
    /// Held while a point-in-time snapshot (rewrite, full sync) is being copied: the
    /// keyspace keeps pre-images for one at a time.
    snapshots: Mutex<()>,
    pub repl: Replication,
    pub pubsub: Arc<Hub>,
    pub tracking: Arc<Tracking>,
    pub notify: Notifier,
    pub scripts: ScriptCache,
    /// FUNCTION libraries.
    pub functions: Libraries,
    /// Clients blocked on list keys (BLPOP and friends).
    pub blocking: Blocking,
    pub services: Services,
    /// The TLS configurations in force (the server loads them at startup; CONFIG SET
    /// of a `tls-*` parameter reloads them).
    pub tls: crate::tls::Tls,
    /// SLOWLOG, LATENCY, latency histograms, MONITOR.
    pub diagnostics: diagnostics::Diagnostics,
    /// CLIENT PAUSE.
    pub pause: pause::Pause,
    /// MIGRATE's open connections to its targets.
    pub migrate_sockets: migrate::MigrateSockets,
}

impl Shared {
    /// Builds a server's state for `config` with `commands` command-table entries. The
    /// keyspace's hooks are installed: expired and evicted keys are journaled as DEL and
    /// notified,
    /// changed keys invalidate tracking clients, pushed lists wake blocked clients.
    pub fn new(
        config: Config,
        commands: usize,
        command_names: CommandNames,
        acl: crate::acl::Acl,
        services: Services,
    ) -> Arc<Shared> {
        let keyspace = Arc::new(Keyspace::new(config.databases));
        keyspace.set_lfu(config.maxmemory_policy.contains("lfu"));
        keyspace.set_lfu_params(config.lfu_log_factor, config.lfu_decay_time);
        let pubsub = Arc::new(Hub::default());
        let shared = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            keyspace,
            memory: memory::Memory::new(&config),
            command_stats: (0..commands).map(|_| CommandStats::default()).collect(),
            command_names,
            acl,
            clients: Registry::default(),
            stats: Stats::default(),
            run_id: crate::rand::random_hex(40),
            started: Instant::now(),
            started_ms: clock::now_ms(),
            hz: Arc::new(AtomicU32::new(config.hz)),
            listen_addr: OnceLock::new(),
            shutting_down: AtomicBool::new(false),
            shutdown: tokio::sync::watch::channel(false).0,
            journal: Journal::new(1),
            persistence: Persistence::new(config.appendfsync),
            loading: AtomicBool::new(
                config.appendonly || config.dir.join(&config.dbfilename).exists(),
            ),
            loading_progress: Mutex::new(LoadingProgress::default()),
            fatal: Mutex::new(None),
            snapshots: Mutex::new(()),
            repl: Replication::new(&config),
            notify: Notifier::new(pubsub.clone(), &config.notify_keyspace_events),
            pubsub,
            tracking: Arc::default(),
            scripts: ScriptCache::with_threshold(config.busy_reply_threshold),
            functions: Libraries::default(),
            blocking: Blocking::default(),
            services,
            tls: crate::tls::Tls::default(),
            diagnostics: diagnostics::Diagnostics::new(&config, commands),
            pause: pause::Pause::default(),
            migrate_sockets: migrate::MigrateSockets::default(),
            config: RwLock::new(config),
            config_version: AtomicU64::new(0),
        });
        shared.install_keyspace_hooks();
        if !shared.is_loading() {
            // No log: records are still numbered, for replicas.
            shared.journal.enable(1, false);
        }
        if shared.repl.is_replica() {
            shared.keyspace.set_passive_expiry(true);
        }
        shared
    }

    fn install_keyspace_hooks(self: &Arc<Self>) {
        // Keys removed because they expired are logged as DEL, so a replayed log (or a
        // replica) drops them at the same point in the sequence.
        let weak = Arc::downgrade(self);
        self.keyspace
            .set_expired_hook(Box::new(move |logical_db, key| {
                if let Some(shared) = weak.upgrade() {
                    shared.journal.append(logical_db, &[b"DEL", key]);
                    shared
                        .notify
                        .emit(crate::notify::EXPIRED, "expired", logical_db, key);
                }
            }));
        // Evicted keys too, and they fire `evicted`.
        let weak = Arc::downgrade(self);
        self.keyspace
            .set_evicted_hook(Box::new(move |logical_db, key| {
                if let Some(shared) = weak.upgrade() {
                    shared.journal.append(logical_db, &[b"DEL", key]);
                    shared
                        .notify
                        .emit(crate::notify::EVICTED, "evicted", logical_db, key);
                }
            }));
        let (tracking, hub) = (self.tracking.clone(), self.pubsub.clone());
        self.keyspace
            .set_modified_hook(Box::new(move |key| tracking.invalidate(&hub, key)));
        // A list or sorted set stored under a key by any command (a push, RENAME, MOVE, COPY, a
        // replicated or replayed write) wakes the clients blocked on that key.
        let weak = Arc::downgrade(self);
        self.keyspace
            .set_poppable_hook(Box::new(move |logical_db, key| {
                if let Some(shared) = weak.upgrade() {
                    shared.blocking.signal(logical_db, key);
                }
            }));
    }

    pub fn config(&self) -> RwLockReadGuard<'_, Config> {
        self.config.reading()
    }

    /// The configuration for a change. The version moves on once the lock is held, so
    /// whoever sees the new version and then reads the configuration waits for the
    /// change to be complete.
    pub fn config_mut(&self) -> RwLockWriteGuard<'_, Config> {
        let config = self.config.writing();
        self.config_version.fetch_add(1, Ordering::AcqRel);
        config
    }

    pub fn config_version(&self) -> u64 {
        self.config_version.load(Ordering::Acquire)
    }

    /// True when new connections must AUTH: the default user has a password or is off.
    pub fn requires_auth(&self) -> bool {
        self.acl.requires_auth()
    }

    /// The listener's address (INFO `tcp_port`, a replica's announced port); unbound
    /// (port 0) for a server without one.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
            .get()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn set_listen_addr(&self, addr: SocketAddr) {
        let _ = self.listen_addr.set(addr);
    }

    /// Asks the server to stop (SHUTDOWN, signals).
    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        self.shutdown.send_replace(true);
        for client in self.clients.snapshot() {
            client.kill();
        }
    }

    /// Resolves once a shutdown has been requested.
    pub async fn shutdown_requested(&self) {
        let _ = self.shutdown.subscribe().wait_for(|stop| *stop).await;
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Startup failed after the listener was up: records why and stops the server.
    pub fn fail(&self, error: String) {
        log::warning(&error);
        *self.fatal.locked() = Some(error);
        self.request_shutdown();
    }

    /// Why startup failed, once (`Server::run` returns it).
    pub fn take_failure(&self) -> Option<String> {
        self.fatal.locked().take()
    }

    /// CLIENT PAUSE: holds clients' commands (`pause::Pause`) and, as Redis 7 does, the
    /// expiry of keys until `until_ms`, so the data set stands still while paused.
    pub fn pause_clients(&self, until_ms: u64, mode: pause::PauseMode, now_ms: u64) {
        self.pause.pause(until_ms, mode, now_ms);
        self.keyspace.hold_expiry(self.pause.holds_expiry_until());
    }

    /// CLIENT UNPAUSE: ends CLIENT PAUSE (not a FAILOVER's hold on writes).
    pub fn unpause_clients(&self) {
        self.pause.unpause();
        self.keyspace.hold_expiry(self.pause.holds_expiry_until());
    }

    /// FAILOVER holds writes, and expiry with them, until it ends (`on` false).
    pub fn hold_writes_for_failover(&self, on: bool) {
        self.pause.set_failover(on);
        self.keyspace.hold_expiry(self.pause.holds_expiry_until());
    }

    /// This server as an `Arc`, for handing work to another thread.
    pub fn arc(&self) -> Option<Arc<Shared>> {
        self.me.upgrade()
    }

    /// Clients get `-LOADING` while true (the log replays, a full sync loads).
    pub fn set_loading(&self, loading: bool) {
        self.loading.store(loading, Ordering::Release);
    }

    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Acquire)
    }

    /// Waits for any snapshot in progress, then holds the right to take one.
    pub fn lock_snapshot(&self) -> MutexGuard<'_, ()> {
        self.snapshots.locked()
    }

    /// Saves the current replication id beside the log, when there is a log.
    /// False while `min-replicas-to-write` is on (with a non-zero `min-replicas-max-lag`)
    /// and fewer replicas are in touch: a primary then refuses writes with NOREPLICAS,
    /// so one cut off from its replicas stops taking writes a failover would lose.
    pub fn enough_good_replicas(&self) -> bool {
        let (wanted, max_lag) = {
            let c = self.config();
            (c.min_replicas_to_write, c.min_replicas_max_lag)
        };
        wanted == 0
            || max_lag == 0
            || self.repl.is_replica()
            || self.repl.good_replicas(max_lag) >= wanted as usize
    }

    pub fn save_replid_if_logging(&self) {
        let (dir, logging) = {
            let c = self.config();
            (c.dir.clone(), c.appendonly)
        };
        if logging {
            replication::save_id(&dir, &self.repl.ids().replid);
        }
    }
}
