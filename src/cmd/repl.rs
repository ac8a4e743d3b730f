//! REPLICAOF / SLAVEOF, ROLE, WAIT, FAILOVER, and what replicas send: REPLCONF, PSYNC,
//! SYNC. Also the `INFO replication` section, in Redis's field names (Sentinel parses
//! them).
//!
//! FAILOVER validates, pauses writes and hands the rest to `repl::failover` (waiting for
//! a replica to catch up, then demoting this server); what both sides of the hand-over
//! change in the replication state (demotion, promotion, PSYNC FAILOVER) is here.

use std::fmt::Display;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::flags::*;
use super::{args, error, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;
use crate::session::{Blocked, Psync, RdbFilter};
use crate::state::replication::{FailoverState, LinkState, RedisHistory};
use crate::state::Shared;
use crate::{clock, log};

pub const COMMANDS: &[Spec] = &[
    super::command!("server", "replicaof", 3, ADMIN | NOSCRIPT | STALE | UNGATED, NO_KEYS, replicaof, "5.0.0", "Configures a server as replica of another, or promotes it to a primary."),
    super::command!("server", "slaveof", 3, ADMIN | NOSCRIPT | STALE | UNGATED, NO_KEYS, replicaof, "1.0.0", "Sets a Redis server as a replica of another, or promotes it to being a primary."),
    super::command!("server", "role", 1, NOSCRIPT | LOADING | STALE | FAST, NO_KEYS, role, "2.8.12", "Returns the replication role.")
    .with_acl_categories(crate::acl::category::ADMIN | crate::acl::category::DANGEROUS),
    super::command!("generic", "wait", 3, NOSCRIPT | MAY_REPLICATE, NO_KEYS, wait, "3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.")
    .with_acl_categories(crate::acl::category::CONNECTION)
    .with_tips(super::redis_meta::ALL_SHARDS_MIN),
    // Redis 7.2's; Redis 7.0 has no WAITAOF.
    super::command!("generic", "waitaof", 4, NOSCRIPT, NO_KEYS, waitaof, "7.2.0", "Blocks until all of the preceding write commands sent by the connection are written to the append-only file of the master and/or replicas.")
    .with_acl_categories(crate::acl::category::CONNECTION)
    .with_tips(super::redis_meta::ALL_SHARDS_MIN),
    super::command!("server", "replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY, NO_KEYS, replconf, "3.0.0", "An internal command for configuring the replication stream."),
    // Ungated: PSYNC FAILOVER promotes this server, which takes the gate itself.
    super::command!("server", "psync", -3, ADMIN | NOSCRIPT | NO_MULTI | UNGATED, NO_KEYS, psync, "2.8.0", "An internal command used in replication."),
    super::command!("server", "failover", -1, ADMIN | NOSCRIPT | STALE | UNGATED, NO_KEYS, failover, "6.2.0", "Start a coordinated failover between this server and one of its replicas."),
    super::command!("server", "sync", 1, ADMIN | NOSCRIPT | NO_MULTI, NO_KEYS, sync, "1.0.0", "An internal command used in replication."),
];

fn replicaof(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let shared = ctx.shared;
    if shared.repl.failover_state() != FailoverState::None {
        return Err(error::REPLICAOF_WHILE_FAILING_OVER);
    }
    if args::is(&args[1], "no") && args::is(&args[2], "one") {
        if shared.repl.is_replica() {
            if ctx.client.in_exec {
                // EXEC already holds the gate (Sentinel promotes inside MULTI).
                promote(shared, "user request");
            } else {
                let _gate = shared.keyspace.write_gate();
                promote(shared, "user request");
            }
        }
        return Ok(Reply::OK);
    }
    let host = args::text(&args[1]);
    let port = match crate::protocol::decode::parse_i64(&args[2]) {
        Some(p) if (0..=65535).contains(&p) => p as u16,
        _ => return Err(error::INVALID_PRIMARY_PORT),
    };
    let why = format!("user request from 'id={}'", ctx.client.id);
    if !demote(shared, &host, port, None, &why) {
        return Ok(Reply::simple("OK Already connected to specified master"));
    }
    Ok(Reply::OK)
}

/// REPLICAOF host port (or a FAILOVER's hand-over): follow that primary from now on;
/// false if it already was this server's primary. `redis`: the primary is a redis-server
/// that was this server's replica, whose history (this server's feed to it) the link
/// resumes.
pub fn demote(
    shared: &Shared,
    host: &str,
    port: u16,
    redis: Option<RedisHistory>,
    why: &str,
) -> bool {
    if !shared.repl.set_primary(Some((host.to_string(), port))) {
        return false;
    }
    if redis.is_some() {
        let generation = shared.repl.ids().generation;
        shared.repl.set_redis_history(generation, redis);
    }
    log::set_role(log::Role::Replica);
    shared.config_mut().replicaof = Some((host.to_string(), port));
    shared.keyspace.set_passive_expiry(true);
    shared.repl.link.set_state(LinkState::Connect);
    log::notice(&format!(
        "Before turning into a replica, using my own primary parameters to synthesize a cached primary: I may be able to synchronize with the new primary with just a partial transfer. REPLICAOF {host}:{port} enabled ({why})"
    ));
    if let Some(shared) = shared.arc() {
        (shared.services.follow_primary)(&shared);
    }
    true
}

/// `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]`, checked in Redis's order
/// with its texts. Answers at once; `repl::failover` does the rest.
fn failover(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let shared = ctx.shared;
    if args.len() == 2 && args::is(&args[1], "abort") {
        if shared.repl.failover_state() == FailoverState::None {
            return Err(error::NO_FAILOVER);
        }
        abort_failover(shared, "Failover manually aborted", !ctx.client.in_exec);
        return Ok(Reply::OK);
    }
    let mut timeout = 0;
    let mut force = false;
    let mut target: Option<(String, i64)> = None;
    let mut j = 1;
    while j < args.len() {
        if args::is(&args[j], "timeout") && j + 1 < args.len() && timeout == 0 {
            timeout = args::int(&args[j + 1])?;
            if timeout <= 0 {
                return Err(error::FAILOVER_TIMEOUT);
            }
            j += 2;
        } else if args::is(&args[j], "to") && j + 2 < args.len() && target.is_none() {
            let port = args::int(&args[j + 2])?;
            target = Some((args::text(&args[j + 1]), port));
            j += 3;
        } else if args::is(&args[j], "force") && !force {
            force = true;
            j += 1;
        } else {
            return Err(error::SYNTAX);
        }
    }
    let mut state = shared.repl.failover();
    if state.state != FailoverState::None {
        return Err(error::FAILOVER_IN_PROGRESS);
    }
    if shared.repl.is_replica() {
        return Err(error::FAILOVER_ON_REPLICA);
    }
    let replicas = shared.repl.attached();
    if replicas.is_empty() {
        return Err(error::FAILOVER_NO_REPLICAS);
    }
    if force && (timeout == 0 || target.is_none()) {
        return Err(error::FAILOVER_FORCE);
    }
    let target = match target {
        Some((host, port)) => {
            let Some(replica) = replicas
                .iter()
                .find(|r| r.ip == host && i64::from(r.listening_port) == port)
            else {
                return Err(error::FAILOVER_NOT_A_REPLICA);
            };
            if !replica.online.load(Ordering::Acquire) {
                return Err(error::FAILOVER_NOT_ONLINE);
            }
            log::notice(&format!("FAILOVER requested to {host}:{port}."));
            Some((host, port as u16))
        }
        None => {
            log::notice("FAILOVER requested to any replica.");
            None
        }
    };
    state.state = FailoverState::WaitingForSync;
    state.target = target;
    state.deadline_ms = (timeout > 0).then(|| clock::now_ms().saturating_add(timeout as u64));
    state.force = force;
    state.epoch += 1;
    drop(state);
    shared.hold_writes_for_failover(true);
    if let Some(shared) = shared.arc() {
        (shared.services.start_failover)(&shared);
    }
    Ok(Reply::OK)
}

/// Ends a FAILOVER without handing over: writes resume, and a server already demoted
/// (failover-in-progress) takes writes again under a new id, as REPLICAOF NO ONE.
/// `take_gate`: false when the caller holds it (EXEC).
pub fn abort_failover(shared: &Shared, reason: &str, take_gate: bool) {
    let mut state = shared.repl.failover();
    let was = state.state;
    if was == FailoverState::None {
        return;
    }
    match &state.target {
        Some((host, port)) => log::notice(&format!("FAILOVER to {host}:{port} aborted: {reason}")),
        None => log::notice(&format!("FAILOVER to any replica aborted: {reason}")),
    }
    clear(&mut state);
    drop(state);
    if was == FailoverState::InProgress {
        if take_gate {
            let _gate = shared.keyspace.write_gate();
            promote(shared, "failover aborted");
        } else {
            promote(shared, "failover aborted");
        }
    }
    shared.hold_writes_for_failover(false);
    shared.repl.failover_changed.notify_waiters();
}

/// The target accepted PSYNC FAILOVER: this server follows it and writes resume (to
/// be refused as on any replica).
pub fn failover_done(shared: &Shared) {
    let mut state = shared.repl.failover();
    if state.state != FailoverState::InProgress {
        return;
    }
    clear(&mut state);
    drop(state);
    shared.hold_writes_for_failover(false);
    shared.repl.failover_changed.notify_waiters();
}

fn clear(state: &mut crate::state::replication::Failover) {
    state.state = FailoverState::None;
    state.target = None;
    state.deadline_ms = None;
    state.force = false;
}

/// REPLICAOF NO ONE: stop following, keep the data, take writes under a new id. The
/// caller holds the write gate, so the branch point falls between two applied records.
pub fn promote(shared: &Shared, why: &str) {
    shared.repl.set_primary(None);
    log::set_role(log::Role::Primary);
    shared.repl.new_branch(shared.journal.last_lsn() + 1);
    shared.keyspace.set_passive_expiry(false);
    shared.config_mut().replicaof = None;
    shared.repl.link.set_state(LinkState::Connect);
    shared.save_replid_if_logging();
    log::notice(&format!("PRIMARY MODE enabled ({why})"));
}

fn role(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let shared = ctx.shared;
    let ids = shared.repl.ids().clone();
    let offset = shared.repl.reported(&ids, shared.journal.last_lsn()).1 as i64;
    let primary = ids.primary;
    Ok(match primary {
        None => {
            let replicas = shared
                .repl
                .attached()
                .iter()
                .filter(|r| r.online.load(Ordering::Acquire))
                .map(|r| {
                    Reply::Array(vec![
                        Reply::bulk_str(&r.ip),
                        Reply::bulk_str(&r.listening_port.to_string()),
                        Reply::bulk_str(&r.ack_lsn.load(Ordering::Acquire).to_string()),
                    ])
                })
                .collect();
            Reply::Array(vec![
                Reply::bulk_str("master"),
                Reply::Integer(offset),
                Reply::Array(replicas),
            ])
        }
        Some((host, port)) => {
            let state = shared.repl.link.state();
            let offset = if state == LinkState::Connected {
                offset
            } else {
                -1
            };
            Reply::Array(vec![
                Reply::bulk_str("slave"),
                Reply::bulk_str(&host),
                Reply::Integer(port as i64),
                Reply::bulk_str(state.name()),
                Reply::Integer(offset),
            ])
        }
    })
}

fn wait(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let shared = ctx.shared;
    if shared.repl.is_replica() {
        return Err(error::WAIT_ON_REPLICA);
    }
    let wanted = args::int(&args[1])?;
    let timeout = match crate::protocol::decode::parse_i64(&args[2]) {
        Some(t) if t < 0 => return Err(error::TIMEOUT_NEGATIVE),
        Some(t) => t as u64,
        None => return Err(error::TIMEOUT_NOT_INTEGER),
    };
    let lsn = ctx.client.last_write_lsn;
    let acked = shared.repl.acknowledged(lsn);
    if !super::list::can_block(ctx) || wanted <= 0 || acked >= wanted as usize {
        return Ok(Reply::Integer(acked as i64));
    }
    shared.repl.ack_requests.send_modify(|n| *n += 1);
    ctx.client.blocked = Some(Blocked::Wait {
        replicas: wanted as usize,
        lsn,
        deadline: (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout)),
    });
    Ok(Reply::NoReply)
}

/// Counts a client blocked in WAIT or WAITAOF (INFO `blocked_clients`) until its wait
/// ends or is dropped.
struct Waiting<'a>(&'a std::sync::atomic::AtomicU64);

impl<'a> Waiting<'a> {
    fn new(count: &'a std::sync::atomic::AtomicU64) -> Waiting<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Waits until a blocked WAIT can answer; called by the connection.
pub async fn wait_until(
    shared: &Shared,
    info: &crate::session::ClientInfo,
    replicas: usize,
    lsn: u64,
    deadline: Option<Instant>,
) -> Reply {
    let _unblock = super::flow::UnblockGuard(info);
    let _waiting = Waiting::new(&shared.repl.waiting);
    let mut acks = shared.repl.acks.subscribe();
    loop {
        let acked = shared.repl.acknowledged(lsn);
        if acked >= replicas {
            return Reply::Integer(acked as i64);
        }
        let changed = async {
            match deadline {
                Some(deadline) => {
                    let deadline = tokio::time::Instant::from_std(deadline);
                    tokio::time::timeout_at(deadline, acks.changed())
                        .await
                        .is_ok()
                }
                None => {
                    let _ = acks.changed().await;
                    true
                }
            }
        };
        let timed_out = || Reply::Integer(shared.repl.acknowledged(lsn) as i64);
        tokio::select! {
            changed = changed => if !changed {
                return timed_out();
            },
            // CLIENT UNBLOCK: as if the timeout had passed, or the UNBLOCKED error.
            _ = info.unblocked.notified() => {
                if let Some(reply) = super::flow::unblocked_reply(info, timed_out) {
                    return reply;
                }
            }
        }
    }
}

/// WAITAOF numlocal numreplicas timeout: until this client's last write is fsynced to
/// the local log (numlocal 1) and to the logs of `numreplicas` replicas, or the timeout.
/// Answers how many of each hold it: `[local 0|1, replicas]`.
fn waitaof(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let shared = ctx.shared;
    let local = args::int(&args[1])?;
    if !(0..=1).contains(&local) {
        return Err(error::RANGE_0_TO_1);
    }
    let replicas = args::int(&args[2])?;
    if replicas < 0 {
        return Err(error::NOT_POSITIVE);
    }
    let timeout = match crate::protocol::decode::parse_i64(&args[3]) {
        Some(t) if t < 0 => return Err(error::TIMEOUT_NEGATIVE),
        Some(t) => t as u64,
        None => return Err(error::TIMEOUT_NOT_INTEGER),
    };
    if shared.repl.is_replica() {
        return Err(error::WAITAOF_ON_REPLICA);
    }
    let logging = shared.persistence.logging.load(Ordering::Acquire);
    if local == 1 && !logging {
        return Err(error::WAITAOF_WITHOUT_LOG);
    }
    let lsn = ctx.client.last_write_lsn;
    let (local_done, replicas_done) = fsynced_counts(shared, lsn);
    let satisfied = local_done >= local as usize && replicas_done >= replicas as usize;
    if satisfied || !super::list::can_block(ctx) {
        return Ok(fsynced_reply(local_done, replicas_done));
    }
    shared.repl.ack_requests.send_modify(|n| *n += 1);
    ctx.client.blocked = Some(Blocked::WaitAof {
        local: local == 1,
        replicas: replicas as usize,
        lsn,
        deadline: (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout)),
    });
    Ok(Reply::NoReply)
}

/// Whether the local log is fsynced up to `lsn` (0 or 1, and 0 with no log), and how
/// many replicas say theirs is.
fn fsynced_counts(shared: &Shared, lsn: u64) -> (usize, usize) {
    let logging = shared.persistence.logging.load(Ordering::Acquire);
    let local = usize::from(logging && shared.persistence.synced_lsn() >= lsn);
    (local, shared.repl.fsynced(lsn))
}

fn fsynced_reply(local: usize, replicas: usize) -> Reply {
    Reply::Array(vec![
        Reply::Integer(local as i64),
        Reply::Integer(replicas as i64),
    ])
}

/// Waits until a blocked WAITAOF can answer; called by the connection.
pub async fn waitaof_until(
    shared: &Shared,
    info: &crate::session::ClientInfo,
    (local, replicas): (bool, usize),
    lsn: u64,
    deadline: Option<Instant>,
) -> Reply {
    let _unblock = super::flow::UnblockGuard(info);
    let _waiting = Waiting::new(&shared.repl.waiting);
    let mut acks = shared.repl.acks.subscribe();
    let mut synced = shared.persistence.watch_synced();
    let answer = || {
        let (l, r) = fsynced_counts(shared, lsn);
        fsynced_reply(l, r)
    };
    loop {
        let (l, r) = fsynced_counts(shared, lsn);
        if l >= usize::from(local) && r >= replicas {
            return fsynced_reply(l, r);
        }
        let deadline_passed = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = acks.changed() => {}
            _ = synced.changed() => {}
            _ = deadline_passed => return answer(),
            // CLIENT UNBLOCK: as if the timeout had passed, or the UNBLOCKED error.
            _ = info.unblocked.notified() => {
                if let Some(reply) = super::flow::unblocked_reply(info, answer) {
                    return reply;
                }
            }
        }
    }
}

fn replconf(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() % 2 == 0 {
        return Err(error::SYNTAX);
    }
    for pair in args[1..].chunks(2) {
        let option = pair[0].to_ascii_lowercase();
        match option.as_slice() {
            b"listening-port" => match crate::protocol::decode::parse_i64(&pair[1]) {
                Some(p) if (0..=65535).contains(&p) => ctx.client.repl_listening_port = p as u16,
                _ => return Err(error::NOT_INTEGER),
            },
            // Acks arrive on the replica's feed connection, not here; GETACK is for
            // replicas. Both are accepted without an answer, as Redis does.
            b"ack" | b"getack" => return Ok(Reply::NoReply),
            // Unknown capabilities are ignored, as Redis does (`psync2` is implied).
            b"capa" => {
                if pair[1].eq_ignore_ascii_case(b"roost") {
                    ctx.client.repl_capa.roost = true;
                } else if pair[1].eq_ignore_ascii_case(b"eof") {
                    ctx.client.repl_capa.eof = true;
                }
            }
            b"rdb-only" => match crate::protocol::decode::parse_i64(&pair[1]) {
                Some(n @ 0..=1) => ctx.client.repl_capa.rdb_only = n == 1,
                Some(_) => return Err(error::RANGE_0_TO_1),
                None => return Err(error::NOT_INTEGER),
            },
            b"rdb-filter-only" => {
                let mut filter = RdbFilter::default();
                for word in args::text(&pair[1]).split_whitespace() {
                    if word.eq_ignore_ascii_case("functions") {
                        filter.functions = true;
                    } else {
                        return Err(error::unsupported_rdb_filter(word));
                    }
                }
                ctx.client.repl_capa.rdb_filter = Some(filter);
            }
            b"ip-address" => {}
            _ => return Err(error::unknown_replconf_option(&pair[0])),
        }
    }
    Ok(Reply::OK)
}

fn psync(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let shared = ctx.shared;
    // `PSYNC <replid> <offset> FAILOVER`: this server's primary hands over to it (its
    // FAILOVER), naming the history this server follows; this server takes writes and
    // the old primary continues as its replica.
    if args.len() > 3 && args::is(&args[3], "failover") {
        let _gate = shared.keyspace.write_gate();
        let ids = shared.repl.ids().clone();
        let mine = shared.repl.reported(&ids, shared.journal.last_lsn()).0;
        if args[1].as_ref() != mine.as_bytes() {
            return Err(error::PSYNC_FAILOVER_REPLID);
        }
        log::warning(&format!("Failover request received for replid {mine}."));
        if ids.primary.is_some() {
            let why = format!(
                "failover request from 'id={} addr={}'",
                ctx.client.id, ctx.client.info.addr
            );
            promote(shared, &why);
        }
    }
    if shared.repl.failover_state() != FailoverState::None {
        return Err(error::SYNC_WHILE_FAILING_OVER);
    }
    if shared.repl.is_replica() && shared.repl.link.state() != LinkState::Connected {
        return Err(error::SYNC_WITHOUT_PRIMARY_LINK);
    }
    let offset = crate::protocol::decode::parse_i64(&args[2]).unwrap_or(-1);
    Ok(hand_off(ctx, args::text(&args[1]), offset, false))
}

fn sync(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    if ctx.shared.repl.failover_state() != FailoverState::None {
        return Err(error::SYNC_WHILE_FAILING_OVER);
    }
    if ctx.shared.repl.is_replica() && ctx.shared.repl.link.state() != LinkState::Connected {
        return Err(error::SYNC_WITHOUT_PRIMARY_LINK);
    }
    Ok(hand_off(ctx, "?".into(), -1, true))
}

fn hand_off(ctx: &mut Ctx<'_>, replid: String, offset: i64, old_sync: bool) -> Reply {
    ctx.client.handoff = Some(Psync {
        replid,
        offset,
        listening_port: ctx.client.repl_listening_port,
        capa: ctx.client.repl_capa.clone(),
        old_sync,
    });
    Reply::NoReply
}

/// The `INFO replication` section.
pub fn info_section(shared: &Shared, field: &mut dyn FnMut(&str, &dyn Display)) {
    let ids = shared.repl.ids().clone();
    let (shown_replid, offset) = shared.repl.reported(&ids, shared.journal.last_lsn());
    let config = shared.config();
    let replicas = shared.repl.attached();
    match &ids.primary {
        None => field("role", &"master"),
        Some((host, port)) => {
            let link = &shared.repl.link;
            let state = link.state();
            let up = state == LinkState::Connected;
            let now = clock::now_ms();
            field("role", &"slave");
            field("master_host", host);
            field("master_port", port);
            field("master_link_status", &if up { "up" } else { "down" });
            let last_io = link.last_io_ms.load(Ordering::Relaxed);
            let io_ago = if last_io == 0 {
                -1
            } else {
                (now.saturating_sub(last_io) / 1000) as i64
            };
            field("master_last_io_seconds_ago", &io_ago);
            field(
                "master_sync_in_progress",
                &u8::from(state == LinkState::Sync),
            );
            field("slave_read_repl_offset", &offset);
            field("slave_repl_offset", &offset);
            if state == LinkState::Sync {
                // Known only for a redis-server primary's transfer from disk (`$<len>`).
                let total = link.sync_total_bytes.load(Ordering::Relaxed);
                let read = link.sync_read_bytes.load(Ordering::Relaxed);
                let (total, left, perc) = if total > 0 {
                    let left = total.saturating_sub(read);
                    (
                        total as i64,
                        left as i64,
                        read as f64 * 100.0 / total as f64,
                    )
                } else {
                    (-1, -1, 0.0)
                };
                field("master_sync_total_bytes", &total);
                field("master_sync_read_bytes", &read);
                field("master_sync_left_bytes", &left);
                field("master_sync_perc", &format!("{perc:.2}"));
                field("master_sync_last_io_seconds_ago", &io_ago.max(0));
            }
            if !up {
                let since = link.down_since_ms.load(Ordering::Relaxed);
                field(
                    "master_link_down_since_seconds",
                    &(now.saturating_sub(since) / 1000),
                );
            }
            field("slave_priority", &config.replica_priority);
            field("slave_read_only", &u8::from(config.replica_read_only));
            field("replica_announced", &u8::from(config.replica_announced));
        }
    }
    field("connected_slaves", &replicas.len());
    if config.min_replicas_to_write > 0 && config.min_replicas_max_lag > 0 {
        let good = shared.repl.good_replicas(config.min_replicas_max_lag);
        field("min_slaves_good_slaves", &good);
    }
    let now = clock::now_ms();
    for (i, r) in replicas.iter().enumerate() {
        let online = r.online.load(Ordering::Acquire);
        let lag = now.saturating_sub(r.last_ack_ms.load(Ordering::Relaxed)) / 1000;
        field(
            &format!("slave{i}"),
            &format!(
                "ip={},port={},state={},offset={},lag={}",
                r.ip,
                r.listening_port,
                if online { "online" } else { "send_bulk" },
                r.ack_lsn.load(Ordering::Acquire),
                lag
            ),
        );
    }
    field(
        "master_failover_state",
        &shared.repl.failover_state().name(),
    );
    field("master_replid", &shown_replid);
    field("master_replid2", &ids.replid2);
    field("master_repl_offset", &offset);
    field("second_repl_offset", &ids.second_offset);
    let backlog = shared.journal.backlog_info();
    field("repl_backlog_active", &u8::from(backlog.active));
    field(
        "repl_backlog_size",
        &if backlog.active {
            backlog.size as u64
        } else {
            config.repl_backlog_size
        },
    );
    field("repl_backlog_first_byte_offset", &backlog.first_lsn);
    field("repl_backlog_histlen", &backlog.histlen);
}
