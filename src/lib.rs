//! Roost: a session server that speaks the Redis protocol.
//!
//! The life of a request: `server::connection` reads bytes and `protocol::decode` turns
//! them into argument vectors; `cmd::dispatch` finds the command in the table, applies
//! the gates its flags ask for and calls its handler; the handler reads or changes
//! `store`; the reply is encoded for the client's protocol version and written with the
//! rest of its batch.
//!
//! Modules: `config` (flags and redis.conf -> `Config`), `protocol` (wire format),
//! `server` (listener, connections, clients), `cmd` (command table and handlers),
//! `store` (databases, values, expiry), `journal` (orders writes for the log), `aof`
//! (the append-only log), `clock`, `log`, `rand`.

pub mod alloc;
pub mod aof;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod glob;
pub mod journal;
pub mod log;
pub mod longdouble;
pub mod notify;
pub mod protocol;
pub mod pubsub;
pub mod rand;
pub mod repl;
pub mod server;
pub mod store;
pub mod tracking;

/// The Redis version Roost answers as (INFO `redis_version`, HELLO `version`): clients
/// gate features on it, and Roost implements the 7.2 command set they use.
pub const VERSION_COMPAT: &str = "7.2.4";

/// Roost's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
