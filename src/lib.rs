//! Roost: a session server that speaks the Redis protocol.
//!
//! The life of a request: `server` accepts a connection and reads bytes, which
//! `protocol::decode` turns into argument vectors; `cmd::dispatch` finds the command in
//! the table, applies the gates its flags ask for and calls its handler with a `Ctx`
//! (the server's `state::Shared` and the connection's `session::Client`); the handler
//! reads or changes `store` and hands the canonical form of a write to the `journal`,
//! which numbers it and queues it for the log writer (`persist`) and the replicas
//! (`repl`); the reply is encoded for the client's protocol version and written with the
//! rest of its batch.
//!
//! Modules, bottom up; each uses only those above it in this list (ARCHITECTURE.md
//! draws the layers):
//!
//! - utilities: `clock`, `rand`, `glob`, `longdouble`, `sync`, `alloc`, `log`, `kill`,
//!   `crc64`
//! - `protocol`: the wire format (RESP2/RESP3 decoder and reply encoder)
//! - `store`: the keyspace (databases, values, expiry, snapshots)
//! - `rdb`: Redis's RDB encoding of values and files (DUMP payloads, RDB files)
//! - `aof`: the log on disk (record format, segment files, reading, checking)
//! - `config`: flags and redis.conf -> `Config`
//! - `tls`: the `tls-*` parameters as rustls configurations, reloadable
//! - `journal`: orders writes and hands them to the log writer and the replicas
//! - `pubsub`, `tracking`, `notify`: message delivery to subscribed connections
//! - `session`: client sessions, the client registry, blocked-client queues
//! - `state`: one server's shared state, buildable without a listener
//! - `cmd`: the command table, dispatch, the handlers, applying logged records
//! - `persist`: the log writer thread, loading the log, rewrites
//! - `repl`: the replication tasks (serving replicas, following a primary)
//! - `server`: listeners, connections, startup and shutdown

pub mod acl;
pub mod alloc;
pub mod aof;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod crc64;
pub mod glob;
pub mod journal;
pub mod kill;
pub mod log;
pub mod longdouble;
pub mod notify;
pub mod persist;
pub mod protocol;
pub mod pubsub;
pub mod rand;
pub mod rdb;
pub mod repl;
pub mod server;
pub mod session;
pub mod state;
pub mod store;
pub mod sync;
pub mod tls;
pub mod tracking;

/// The Redis version Roost answers as (INFO `redis_version`, HELLO `version`): clients
/// gate features on it, and Roost implements the 7.2 command set they use.
pub const VERSION_COMPAT: &str = "7.2.4";

/// Roost's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
