//! The server on top of everything: listeners, one task per connection, the
//! background tasks (active expiry, automatic rewrites, loading the log, the replica
//! link), and startup and shutdown.

mod connection;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::log;
use crate::state::{Services, Shared};
use crate::store::ActiveExpiry;

/// The services commands reach above their layer, as this server provides them.
pub const SERVICES: Services = Services {
    start_rewrite: crate::persist::rewrite::start_background,
    rewrite_now: crate::persist::rewrite::run,
    follow_primary: crate::repl::replica::start,
};

/// A server's state, built without a listener: what `Server::bind` serves, and what
/// in-process tests drive through `cmd::dispatch`.
pub fn build_state(config: Config) -> Arc<Shared> {
    crate::cmd::new_state(config, SERVICES)
}

/// A bound, not yet running server.
pub struct Server {
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds every `bind` address and builds the shared state. As in Redis, an address
    /// written `-addr` is skipped if it is unavailable, and port 0 means no TCP
    /// listener; with `pick_free_ports` the OS picks the port (and CONFIG GET shows it).
    /// A configuration that fails `Config::check` or `cmd::check_config` is refused.
    pub async fn bind(mut config: Config) -> io::Result<Server> {
        let refuse = |e: crate::config::ConfigError| io::Error::new(io::ErrorKind::InvalidInput, e);
        config.check().map_err(refuse)?;
        crate::cmd::check_config(&config).map_err(refuse)?;
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
        // The TLS listener, once there is one, is bound above and counts here too.
        let Some(first) = listeners.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to listen on",
            ));
        };
        let local_addr = first.local_addr()?;
        if config.pick_free_ports {
            config.port = local_addr.port();
        }
        let shared = build_state(config);
        shared.set_listen_addr(local_addr);
        Ok(Server { listeners, shared })
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
        let _expiry = ActiveExpiry::spawn(shared.keyspace.clone(), shared.hz.clone());
        tokio::spawn(crate::persist::rewrite::auto_rewrite(shared.clone()));
        if shared.repl.is_replica() {
            crate::log::set_role(crate::log::Role::Replica);
            crate::repl::replica::start(&shared);
        }
        if shared.is_loading() {
            let loader = shared.clone();
            let loaded =
                tokio::task::spawn_blocking(move || crate::persist::load::load_log(&loader));
            let failed = shared.clone();
            tokio::spawn(async move {
                match loaded.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => failed.fail(e),
                    Err(e) => failed.fail(format!("loading the log failed: {e}")),
                }
            });
        }
        for listener in self.listeners {
            let address = listener.local_addr()?;
            log::notice(&format!("Ready to accept connections tcp on {address}"));
            tokio::spawn(accept_loop(shared.clone(), listener));
        }
        shared.shutdown_requested().await;
        {
            // No write may start once the log's last fsync has begun.
            let _no_more_writes = shared.keyspace.write_gate();
            crate::persist::writer::shutdown(&shared);
        }
        if let Some(error) = shared.take_failure() {
            return Err(io::Error::other(error));
        }
        log::notice("Roost is now ready to exit, bye bye...");
        Ok(())
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
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
            _ = shared.shutdown_requested() => return,
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
