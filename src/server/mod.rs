//! The server: shared state, the listener, and startup/shutdown.
//!
//! `Shared` is everything a command may touch beyond its own client. One `Arc<Shared>`
//! per server; several servers can run in one process (the integration tests do).

pub mod blocking;
mod client;
mod connection;
pub(crate) mod loading;
pub mod rewrite;

pub use client::{Blocked, Client, ClientInfo, Multi, Registry, KIND_NORMAL, KIND_REPLICA};

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use tokio::net::TcpListener;

use crate::aof::{Aof, Progress};
use crate::cmd::Table;
use crate::config::Config;
use crate::store::{ActiveExpiry, Keyspace};
use crate::{clock, log};

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
    /// Error replies by their first word (`ERR`, `WRONGTYPE`), for INFO errorstats.
    errors_by_code: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Stats {
    /// Counts an error reply for INFO stats and errorstats.
    pub fn record_error(&self, message: &str) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        let code = message.split(' ').next().unwrap_or("ERR").to_string();
        *self
            .errors_by_code
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(code)
            .or_default() += 1;
    }

    pub fn errors_by_code(&self) -> Vec<(String, u64)> {
        let map = self
            .errors_by_code
            .lock()
            .unwrap_or_else(|e| e.into_inner());
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
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.errors_by_code
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

pub struct Shared {
    config: RwLock<Config>,
    pub keyspace: Arc<Keyspace>,
    pub table: Table,
    pub clients: Registry,
    pub stats: Stats,
    /// 40 hex characters, new at every start (Sentinel detects restarts by it).
    pub run_id: String,
    pub started: Instant,
    pub started_ms: u64,
    /// Active expiry frequency, shared with the expiry thread; CONFIG SET hz changes it.
    pub hz: Arc<AtomicU32>,
    /// The address the listener is bound to.
    pub local_addr: SocketAddr,
    shutting_down: AtomicBool,
    /// Becomes true once; a watch channel cannot lose the wakeup.
    shutdown: tokio::sync::watch::Sender<bool>,
    pub aof: Arc<Aof>,
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
    pub repl: crate::repl::Replication,
    pub pubsub: Arc<crate::pubsub::Hub>,
    pub tracking: Arc<crate::tracking::Tracking>,
    pub scripts: crate::cmd::scripting::Scripts,
    /// `notify-keyspace-events` as `crate::notify` flags (0: off, the common case).
    pub notify_flags: std::sync::atomic::AtomicU16,
    /// Clients blocked on list keys (BLPOP and friends).
    pub blocking: blocking::Blocking,
}

/// What INFO persistence reports about a load in progress or the last one.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadingProgress {
    pub start_ms: u64,
    pub progress: Progress,
}

impl Shared {
    pub fn config(&self) -> RwLockReadGuard<'_, Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn config_mut(&self) -> RwLockWriteGuard<'_, Config> {
        self.config.write().unwrap_or_else(|e| e.into_inner())
    }

    /// True when a password is set and new connections must AUTH.
    pub fn requires_auth(&self) -> bool {
        self.config().requirepass.is_some()
    }

    /// Asks the server to stop (SHUTDOWN, signals).
    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        self.shutdown.send_replace(true);
        for client in self.clients.snapshot() {
            client.kill();
        }
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
    pub fn lock_snapshot(&self) -> std::sync::MutexGuard<'_, ()> {
        self.snapshots.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}

/// A bound, not yet running server.
pub struct Server {
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds every `bind` address (port 0 picks a free port) and builds the shared
    /// state. As in Redis, an address written `-addr` is skipped if it is unavailable.
    pub async fn bind(config: Config) -> io::Result<Server> {
        let mut listeners = Vec::new();
        let mut port = config.port;
        for address in &config.bind {
            let (optional, host) = match address.strip_prefix('-') {
                Some(host) => (true, host),
                None => (false, address.as_str()),
            };
            match TcpListener::bind((host, port)).await {
                Ok(listener) => {
                    // With port 0, the other addresses share the port the first one got.
                    port = listener.local_addr()?.port();
                    listeners.push(listener);
                }
                Err(e) if optional => {
                    log::warning(&format!(
                        "Skipping optional bind address {host}:{port}: {e}"
                    ));
                }
                Err(e) => {
                    return Err(io::Error::new(e.kind(), format!("{host}:{port}: {e}")));
                }
            }
        }
        let Some(first) = listeners.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to listen on",
            ));
        };
        let local_addr = first.local_addr()?;
        let keyspace = Arc::new(Keyspace::new(config.databases));
        keyspace.set_lfu(config.maxmemory_policy.contains("lfu"));
        let shared = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            keyspace,
            table: Table::new(),
            clients: Registry::default(),
            stats: Stats::default(),
            run_id: random_hex(40),
            started: Instant::now(),
            started_ms: clock::now_ms(),
            hz: Arc::new(AtomicU32::new(config.hz)),
            local_addr,
            shutting_down: AtomicBool::new(false),
            shutdown: tokio::sync::watch::channel(false).0,
            aof: Arc::new(Aof::new(config.appendfsync)),
            loading: AtomicBool::new(config.appendonly),
            loading_progress: Mutex::new(LoadingProgress::default()),
            fatal: Mutex::new(None),
            snapshots: Mutex::new(()),
            repl: crate::repl::Replication::new(&config),
            pubsub: Arc::default(),
            tracking: Arc::default(),
            scripts: crate::cmd::scripting::Scripts::default(),
            notify_flags: crate::notify::parse(&config.notify_keyspace_events).into(),
            blocking: blocking::Blocking::default(),
            config: RwLock::new(config),
        });
        Ok(Server { listeners, shared })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Accepts connections until SHUTDOWN or `request_shutdown`.
    pub async fn run(self) -> io::Result<()> {
        let shared = self.shared;
        install_expiry_logging(&shared);
        let (tracking, hub) = (shared.tracking.clone(), shared.pubsub.clone());
        shared
            .keyspace
            .set_modified_hook(Box::new(move |key| tracking.invalidate(&hub, key)));
        install_list_wakeups(&shared);
        let _expiry = ActiveExpiry::spawn(shared.keyspace.clone(), shared.hz.clone());
        tokio::spawn(auto_rewrite(shared.clone()));
        if !shared.is_loading() {
            // No log: records are still numbered, for replicas.
            shared.aof.journal.enable(1, false);
        }
        if shared.repl.is_replica() {
            shared.keyspace.set_passive_expiry(true);
            crate::log::set_role(crate::log::Role::Replica);
            crate::repl::replica::start(&shared);
        }
        if shared.is_loading() {
            let loader = shared.clone();
            let loaded = tokio::task::spawn_blocking(move || loading::load_log(&loader));
            let failed = shared.clone();
            tokio::spawn(async move {
                let error = match loaded.await {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => e,
                    Err(e) => format!("loading the log failed: {e}"),
                };
                log::warning(&error);
                *failed.fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                failed.request_shutdown();
            });
        }
        for listener in self.listeners {
            let address = listener.local_addr()?;
            log::notice(&format!("Ready to accept connections tcp on {address}"));
            tokio::spawn(accept_loop(shared.clone(), listener));
        }
        let _ = shared.shutdown.subscribe().wait_for(|stop| *stop).await;
        {
            // No write may start once the log's last fsync has begun.
            let _no_more_writes = shared.keyspace.write_gate();
            shared.aof.shutdown();
        }
        if let Some(error) = shared
            .fatal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            return Err(io::Error::other(error));
        }
        log::notice("Roost is now ready to exit, bye bye...");
        Ok(())
    }
}

/// Starts a rewrite when the log has grown by `auto-aof-rewrite-percentage` over its
/// base and is at least `auto-aof-rewrite-min-size`, as Redis does.
async fn auto_rewrite(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        if shared.is_shutting_down() {
            return;
        }
        let (enabled, dir, percentage, min_size) = {
            let c = shared.config();
            (
                c.appendonly,
                c.dir.clone(),
                c.auto_aof_rewrite_percentage,
                c.auto_aof_rewrite_min_size,
            )
        };
        if !enabled || percentage == 0 || shared.is_loading() || !shared.aof.journal.is_enabled() {
            continue;
        }
        let (base, incr) = crate::aof::sizes(&dir);
        let total = base + incr;
        if total >= min_size && total.saturating_mul(100) >= base.saturating_mul(100 + percentage) {
            let growth = ((total - base) * 100).checked_div(base).unwrap_or(100);
            log::notice(&format!(
                "Starting automatic rewriting of AOF on {growth}% growth"
            ));
            rewrite::start_background(&shared);
        }
    }
}

/// Keys removed because they expired are logged as DEL, so a replayed log (or a
/// replica) drops them at the same point in the sequence.
fn install_expiry_logging(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    shared
        .keyspace
        .set_expired_hook(Box::new(move |logical_db, key| {
            if let Some(shared) = weak.upgrade() {
                shared.aof.journal.append(logical_db, &[b"DEL", key]);
                crate::notify::emit(&shared, crate::notify::EXPIRED, "expired", logical_db, key);
            }
        }));
}

/// A list stored under a key by any command (a push, RENAME, MOVE, COPY, RESTORE, a
/// replicated or replayed write) wakes the clients blocked on that key.
fn install_list_wakeups(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    shared
        .keyspace
        .set_list_ready_hook(Box::new(move |logical_db, key| {
            if let Some(shared) = weak.upgrade() {
                shared.blocking.signal(logical_db, key);
            }
        }));
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        if shared.is_shutting_down() {
            return;
        }
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    log::warning(&format!("Accepting client connection: {e}"));
                    continue;
                }
            },
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        shared
            .stats
            .total_connections_received
            .fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection::serve(shared.clone(), stream, addr));
    }
}

/// A server running on its own runtime thread; for tests, benches and embedding.
pub struct Background {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts a server with `config` and returns once it accepts connections.
    pub fn start(config: Config) -> io::Result<Background> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let server = runtime.block_on(Server::bind(config))?;
        let (addr, shared) = (server.local_addr(), server.shared());
        let thread = std::thread::spawn(move || {
            let _ = runtime.block_on(server.run());
            runtime.shutdown_background();
        });
        Ok(Background {
            addr,
            shared,
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.shared.request_shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `n` random hex characters, from the OS's hash seed randomness mixed with the time.
pub fn random_hex(n: usize) -> String {
    let mut rng = crate::rand::Rng::from_entropy();
    (0..n)
        .map(|_| char::from_digit(rng.below(16) as u32, 16).unwrap_or('0'))
        .collect()
}
