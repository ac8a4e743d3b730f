//! Replication: a primary streams its journal to read replicas.
//!
//! The stream is the log itself: the same CRC-checked records with the same LSNs, so
//! the replication offset Redis reports in bytes is, in Roost, the LSN of the last
//! record. A replica connects, says which replication id and offset it has (`PSYNC`),
//! and gets either the rest from the primary's backlog (`+CONTINUE`) or a point-in-time
//! snapshot as records followed by everything written since (`+FULLRESYNC`). Records
//! with LSN 0 are control messages (`PING` heartbeats, the end of a snapshot) that are
//! neither applied nor logged.
//!
//! `primary` serves replicas, `replica` runs the link to a primary (`from_redis` when
//! that primary is a redis-server: RDB transfer, RESP stream, byte offsets), and the state
//! both share with the commands (role, ids, link, attached replicas) is in
//! `state::replication`.

pub mod from_redis;
pub mod primary;
pub mod replica;

/// An LSN-0 record's first argument: a heartbeat from the primary.
pub const CONTROL_PING: &[u8] = b"PING";
/// An LSN-0 record's first argument: acknowledge your offset now (a WAIT is waiting).
pub const CONTROL_GETACK: &[u8] = b"GETACK";
/// An LSN-0 record's first argument: the snapshot of a full sync is complete.
pub const CONTROL_SNAPSHOT_END: &[u8] = b"SNAPSHOT-END";
