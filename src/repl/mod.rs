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
//! A replica that does not say `REPLCONF capa roost` (a redis-server, `redis-cli --rdb`
//! or `--replica`) is served in Redis's own format instead (`to_redis`): an RDB
//! payload, then the commands of those records as RESP, with Redis's byte offsets.
//!
//! `failover` drives a FAILOVER command: writes paused, a replica caught up, this
//! server demoted and the replica told to take over by `PSYNC ... FAILOVER`.
//!
//! `primary` serves replicas, `replica` runs the link to a primary (`from_redis` when
//! that primary is a redis-server: RDB transfer, RESP stream, byte offsets), and the state
//! both share with the commands (role, ids, link, attached replicas) is in
//! `state::replication`.

pub mod failover;
pub mod from_redis;
pub mod primary;
pub mod replica;
pub mod to_redis;

use bytes::Bytes;

use crate::state::Shared;

/// A control record from the primary that is a published message (PUBLISH, SPUBLISH):
/// delivered to this server's subscribers and passed on to its own replicas, as a Redis
/// replica proxies its primary's stream. Other control records are left to the caller.
pub fn deliver_published_message(shared: &Shared, args: &[Bytes]) {
    if shared.pubsub.deliver_replicated(args) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_ref()).collect();
        shared.journal.send_to_replicas(&args);
    }
}

/// An LSN-0 record's first argument: a heartbeat from the primary.
pub const CONTROL_PING: &[u8] = b"PING";
/// An LSN-0 record's first argument: acknowledge your offset now (a WAIT is waiting).
pub const CONTROL_GETACK: &[u8] = b"GETACK";
/// An LSN-0 record's first argument: the snapshot of a full sync is complete.
pub const CONTROL_SNAPSHOT_END: &[u8] = b"SNAPSHOT-END";
