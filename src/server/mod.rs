//! The server on top of everything: listeners, one task per connection, the
//! background tasks (active expiry, automatic rewrites, loading the log, the replica
//! link), and startup and shutdown.

mod connection;
mod supervise;
mod tls_stream;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::{TcpListener, UnixListener};

use crate::config::Config;
use crate::log;
use crate::session::PeerAddr;
use crate::state::{Services, Shared};
use crate::store::ActiveExpiry;

/// The services commands reach above their layer, as this server provides them.
pub const SERVICES: Services = Services {
    start_rewrite: crate::persist::rewrite::start_background,
    rewrite_now: crate::persist::rewrite::run,
    save_rdb: crate::persist::save::save_now,
    reload_rdb: crate::persist::save::reload,
    start_bgsave: crate::persist::save::start_background,
    follow_primary: crate::repl::replica::start,
    start_failover: crate::repl::failover::start,
};

/// A server's state, built without a listener: what `Server::bind` serves, and what
/// in-process tests drive through `cmd::dispatch`.
pub fn build_state(config: Config) -> Arc<Shared> {
    crate::cmd::new_state(config, SERVICES)
}

/// How long a client on the TLS port has to complete its handshake before it is
/// closed (a client that stalls holds nothing else up meanwhile).
pub const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A bound, not yet running server.
pub struct Server {
    /// Each listener, and whether it is the TLS port's.
    listeners: Vec<(TcpListener, bool)>,
    /// The `unixsocket` listener, if configured.
    unix: Option<(UnixListener, SocketFile)>,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds every `bind` address, and again on `tls-port` when it is set, then
    /// `unixsocket` when it is set (`bind_unix`), and builds the shared state. As in
    /// Redis, an address written `-addr` is skipped if it is unavailable, and port 0
    /// means no TCP listener (a server with no listener at all is refused by
    /// `Config::check`); with `pick_free_ports` the OS picks the ports (and CONFIG GET
    /// shows them). A configuration that fails `Config::check` or
    /// `cmd::check_config` is refused, and so are TLS certificates and keys that cannot
    /// be loaded, naming the file.
    pub async fn bind(mut config: Config) -> io::Result<Server> {
        let refuse = |e: crate::config::ConfigError| io::Error::new(io::ErrorKind::InvalidInput, e);
        config.check().map_err(refuse)?;
        crate::cmd::check_config(&config).map_err(refuse)?;
        // Checked before anything is bound; loaded again below into the state.
        crate::tls::Materials::build(&config)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut listeners = Vec::new();
        let mut port = match config.port {
            0 => None,
            _ if config.pick_free_ports => Some(0),
            port => Some(port),
        };
        for address in port.map_or(&[][..], |_| &config.bind[..]) {
            let port = port.as_mut().expect("a TCP port");
            let (optional, host) = match address.strip_prefix('-') {
                Some(host) => (true, host),
                None => (false, address.as_str()),
            };
            match TcpListener::bind((host, *port)).await {
                Ok(listener) => {
                    // A port the OS picked is shared by the other addresses.
                    *port = listener.local_addr()?.port();
                    listeners.push((listener, false));
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
        if config.tls_port != 0 {
            let mut port = if config.pick_free_ports {
                0
            } else {
                config.tls_port
            };
            for address in &config.bind {
                let (optional, host) = match address.strip_prefix('-') {
                    Some(host) => (true, host),
                    None => (false, address.as_str()),
                };
                match TcpListener::bind((host, port)).await {
                    Ok(listener) => {
                        port = listener.local_addr()?.port();
                        listeners.push((listener, true));
                    }
                    Err(e) if optional => log::warning(&format!(
                        "Skipping optional bind address {host}:{port} (tls-port): {e}"
                    )),
                    Err(e) => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("{host}:{port} (tls-port): {e}"),
                        ));
                    }
                }
            }
            if config.pick_free_ports {
                config.tls_port = port;
            }
        }
        let unix = match &config.unixsocket {
            Some(path) => Some(bind_unix(path, config.unixsocketperm)?),
            None => None,
        };
        if listeners.is_empty() && unix.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to listen on",
            ));
        }
        let local_addr = match listeners.first() {
            Some((first, _)) => Some(first.local_addr()?),
            None => None,
        };
        if let Some(local_addr) = local_addr {
            if config.pick_free_ports && config.port != 0 {
                config.port = local_addr.port();
            }
        }
        let shared = build_state(config);
        let tls = shared.tls.reload(&shared.config());
        tls.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if let Some(local_addr) = local_addr {
            shared.set_listen_addr(local_addr);
        }
        Ok(Server {
            listeners,
            unix,
            shared,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.listen_addr()
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Accepts connections until SHUTDOWN or `request_shutdown`.
    pub async fn run(self) -> io::Result<()> {
        let shared = self.shared;
        // Before the log is loaded, as Redis measures `used_memory_startup`.
        shared.memory.mark_startup();
        tokio::spawn(sample_memory(shared.clone()));
        tokio::spawn(close_idle_migrate_sockets(shared.clone()));
        let _expiry = ActiveExpiry::spawn(shared.keyspace.clone(), shared.hz.clone());
        tokio::spawn(crate::persist::rewrite::auto_rewrite(shared.clone()));
        tokio::spawn(crate::persist::save::schedule(shared.clone()));
        if shared.repl.is_replica() {
            crate::log::set_role(crate::log::Role::Replica);
            crate::repl::replica::start(&shared);
        }
        // Clients are accepted while the log loads (they get LOADING), but the server
        // says it is ready only once the data is there, as Redis does.
        let mut ready = Vec::new();
        for (listener, tls) in self.listeners {
            let kind = if tls { "tls" } else { "tcp" };
            ready.push(format!(
                "Ready to accept connections {kind} on {}",
                listener.local_addr()?
            ));
            tokio::spawn(accept_loop(shared.clone(), listener, tls));
        }
        // Dropping it removes the socket file, once shutdown begins (or `run` fails).
        let mut socket_file = None;
        if let Some((listener, file)) = self.unix {
            ready.push(format!("Ready to accept connections unix on {}", file.path));
            tokio::spawn(accept_unix(shared.clone(), listener, file.path.clone()));
            socket_file = Some(file);
        }
        let supervised = shared.config().supervised.clone();
        let say_ready = move || {
            ready.iter().for_each(|line| log::notice(line));
            supervise::ready(&supervised);
        };
        if shared.is_loading() {
            let loader = shared.clone();
            let loaded =
                tokio::task::spawn_blocking(move || crate::persist::load::load_log(&loader));
            let failed = shared.clone();
            tokio::spawn(async move {
                match loaded.await {
                    Ok(Ok(())) => say_ready(),
                    Ok(Err(e)) => failed.fail(e),
                    Err(e) => failed.fail(format!("loading the log failed: {e}")),
                }
            });
        } else {
            say_ready();
        }
        shared.shutdown_requested().await;
        supervise::stopping(&shared.config().supervised);
        // The RDB file at shutdown, when the `save` schedule or SHUTDOWN SAVE asks
        // for it (not after a failed load: that would replace the file with less).
        let saved = if shared.is_loading() {
            Ok(())
        } else {
            let saver = shared.clone();
            tokio::task::spawn_blocking(move || crate::persist::save::save_at_shutdown(&saver))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        };
        let flushed = {
            // No write may start once the log's last fsync has begun.
            let _no_more_writes = shared.keyspace.write_gate();
            crate::persist::writer::shutdown(&shared)
        };
        drop(socket_file);
        if let Some(error) = shared.take_failure() {
            return Err(io::Error::other(error));
        }
        flushed.map_err(io::Error::other)?;
        match saved {
            // The log, flushed just now, holds everything: the file is a copy.
            Err(e) if shared.config().appendonly => log::warning(&format!(
                "Error trying to save the DB at shutdown: {e}; the append-only log holds the data"
            )),
            saved => saved.map_err(io::Error::other)?,
        }
        log::notice("Roost is now ready to exit, bye bye...");
        Ok(())
    }
}

/// Samples used memory ten times a second so `used_memory_peak` sees peaks that come
/// and go between writes (large replies, a rewrite's snapshot), samples the counters
/// behind INFO's `instantaneous_*` rates, and ticks the coarse clock
/// (`clock::coarse_ms`).
async fn sample_memory(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    let clock = crate::clock::Ticker::start();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                clock.tick();
                shared.memory.sample();
                shared.stats.sample_rates(crate::clock::now_ms());
            }
            _ = shared.shutdown_requested() => return,
        }
    }
}

/// Closes MIGRATE's connections to targets once they have been idle 10 seconds, as
/// Redis's cron does.
async fn close_idle_migrate_sockets(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if !shared.migrate_sockets.is_empty() {
                    shared.migrate_sockets.close_idle();
                }
            }
            _ = shared.shutdown_requested() => return,
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, tls: bool) {
    loop {
        if shared.is_shutting_down() {
            return;
        }
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = shared.shutdown_requested() => return,
        };
        shared
            .stats
            .total_connections_received
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        set_keepalive(&stream, shared.config().tcp_keepalive);
        let laddr = stream.local_addr().unwrap_or(shared.listen_addr());
        if tls {
            tokio::spawn(serve_tls(shared.clone(), stream, addr, laddr));
        } else {
            tokio::spawn(connection::serve(
                shared.clone(),
                stream,
                addr.into(),
                laddr.into(),
            ));
        }
    }
}

async fn accept_failed(e: io::Error) {
    log::warning(&format!("Accepting client connection: {e}"));
    // Out of descriptors, say: the pending connection stays queued, so trying again at
    // once would spin.
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
}

/// Clients on the Unix socket: plain RESP (Redis offers no TLS there), served as any
/// other client; both ends of the connection are the socket's path.
async fn accept_unix(shared: Arc<Shared>, listener: UnixListener, path: Arc<str>) {
    loop {
        if shared.is_shutting_down() {
            return;
        }
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = shared.shutdown_requested() => return,
        };
        shared
            .stats
            .total_connections_received
            .fetch_add(1, Ordering::Relaxed);
        let addr = PeerAddr::Unix(path.clone());
        tokio::spawn(connection::serve(
            shared.clone(),
            stream,
            addr.clone(),
            addr,
        ));
    }
}

impl connection::Readable for tokio::net::UnixStream {
    fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        tokio::net::UnixStream::readable(self)
    }
}

/// The socket file `bind_unix` made: its path as configured, and the file's identity
/// (device, inode), so that it is removed at shutdown (as Redis does) only if it is
/// still this server's.
struct SocketFile {
    path: Arc<str>,
    id: (u64, u64),
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        let ours =
            std::fs::symlink_metadata(&*self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id);
        if !ours {
            return;
        }
        log::notice("Removing the unix socket file.");
        if let Err(e) = std::fs::remove_file(&*self.path) {
            log::warning(&format!(
                "Error removing the unix socket file: {}",
                log::os_error_text(&e)
            ));
        }
    }
}

/// Listens on `unixsocket` as Redis does: a socket file left by a server that is gone
/// is removed first, and the new file gets `unixsocketperm` when it is set (not 0).
/// Unlike Redis, which unlinks whatever is at the path, a file that is not a socket,
/// or a socket another process still accepts on, stops startup instead: neither is
/// stale. Every failure names the directive and the path.
fn bind_unix(path: &str, perm: u32) -> io::Result<(UnixListener, SocketFile)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let failed = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!(
                "Failed opening Unix socket (unixsocket {path}): {}",
                log::os_error_text(&e)
            ),
        )
    };
    if let Ok(existing) = std::fs::symlink_metadata(path) {
        if !existing.file_type().is_socket() {
            return Err(failed(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way",
            )));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(failed(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another process is accepting connections on it",
            )));
        }
        std::fs::remove_file(path).map_err(failed)?;
    }
    let listener = UnixListener::bind(path).map_err(failed)?;
    let made = std::fs::symlink_metadata(path).map_err(failed)?;
    let file = SocketFile {
        path: path.into(),
        id: (made.dev(), made.ino()),
    };
    if perm != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm)).map_err(failed)?;
    }
    Ok((listener, file))
}

/// TCP keepalive as Redis sets it for `tcp-keepalive N`: probes after N idle seconds,
/// every N/3 seconds, three times, so a peer that vanished (a crashed or unplugged
/// application server) does not hold a connection forever.
fn set_keepalive(stream: &tokio::net::TcpStream, seconds: u64) {
    if seconds == 0 {
        return;
    }
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(std::time::Duration::from_secs(seconds))
        .with_interval(std::time::Duration::from_secs((seconds / 3).max(1)))
        .with_retries(3);
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        log::verbose(&format!("Setting TCP keepalive: {e}"));
    }
}

/// The TLS handshake, bounded in time, then the connection as any other. A client that
/// fails it (plaintext, an untrusted certificate, a stall) is closed and logged; nobody
/// else notices.
async fn serve_tls(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    addr: SocketAddr,
    laddr: SocketAddr,
) {
    // The materials in force now: a rotation applies to connections accepted after it.
    let Some(config) = shared.tls.server() else {
        return;
    };
    let accept = tls_stream::TlsStream::accept(stream, config);
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, accept).await {
        Ok(Ok(stream)) => connection::serve(shared, stream, addr.into(), laddr.into()).await,
        Ok(Err(e)) => log::verbose(&format!("Error accepting a client connection: {e} (addr={addr} laddr={laddr})")),
        Err(_) => log::verbose(&format!(
            "Error accepting a client connection: the TLS handshake took longer than {}s (addr={addr} laddr={laddr})",
            TLS_HANDSHAKE_TIMEOUT.as_secs()
        )),
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
