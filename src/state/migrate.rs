//! MIGRATE's connections to its targets, kept open between calls as Redis keeps them
//! (`migrate_cached_sockets`): a client moving many keys one MIGRATE at a time pays for
//! one connection, not one per key. A connection unused for 10 seconds is closed (the
//! server's timer calls `close_idle`); at most 64 are kept.

use std::collections::HashMap;
use std::io::BufReader;
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::Recover;

/// Redis's MIGRATE_SOCKET_CACHE_TTL.
const IDLE: Duration = Duration::from_secs(10);
/// Redis's MIGRATE_SOCKET_CACHE_ITEMS.
const MAX: usize = 64;

/// One open connection to a target.
pub struct Target {
    /// Buffered for reading replies; written through `get_mut`.
    pub conn: BufReader<TcpStream>,
    /// The database the connection has selected, if known (SELECT is sent only when
    /// the next MIGRATE wants another).
    pub db: Option<i64>,
    last_use: Instant,
}

impl Target {
    pub fn new(stream: TcpStream) -> Target {
        Target {
            conn: BufReader::new(stream),
            db: None,
            last_use: Instant::now(),
        }
    }
}

/// The open connections, by `host:port` as the MIGRATE named them.
#[derive(Default)]
pub struct MigrateSockets {
    open: Mutex<HashMap<String, Target>>,
}

impl MigrateSockets {
    /// Takes the open connection to `name` out of the cache, if there is one; a
    /// MIGRATE that succeeds gives it back with `put`.
    pub fn take(&self, name: &str) -> Option<Target> {
        self.open.locked().remove(name)
    }

    /// Keeps a connection for the next MIGRATE to `name`, making room if the cache is
    /// full.
    pub fn put(&self, name: String, mut target: Target) {
        target.last_use = Instant::now();
        let mut open = self.open.locked();
        if open.len() >= MAX && !open.contains_key(&name) {
            if let Some(any) = open.keys().next().cloned() {
                open.remove(&any);
            }
        }
        open.insert(name, target);
    }

    /// Closes the connections unused for 10 seconds.
    pub fn close_idle(&self) {
        self.open
            .locked()
            .retain(|_, target| target.last_use.elapsed() <= IDLE);
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.open.locked().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
