//! Client sessions: each connection's own state (`Client`), what other connections may
//! see of it (`ClientInfo`, the `Registry`), and the queues of clients blocked on list
//! keys (`Blocking`).
//!
//! Everything a command asks its connection to do later (block, hand the socket to the
//! replication feed) is plain data here, so sessions depend on nothing above the
//! keyspace and pub/sub, and commands can be run against a `Client` with no socket.

pub mod blocking;
mod client;
mod registry;

pub use blocking::{Blocking, Waiter};
pub use client::{Blocked, BlockedPop, Client, Multi, Psync, RdbFilter, ReplCapa, ReplyMode};
pub use registry::{
    ClientInfo, PeerAddr, Registry, KIND_NORMAL, KIND_REPLICA, UNBLOCK_ERROR, UNBLOCK_TIMEOUT,
};

/// Index of a command in the command table (`cmd::table`). Clients remember queued
/// and last-run commands by it.
pub type CommandId = u16;
