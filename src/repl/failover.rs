//! FAILOVER after the command: writes are paused (`state::pause`) and the state is
//! waiting-for-sync. This task asks the replicas for acknowledgements until one (the
//! target, or any replica) has acknowledged the last LSN, then, under the write
//! gate so no expiry or other record slips in after the check, demotes this server to
//! follow it (failover-in-progress). The replica link (`replica::follow`) then sends
//! `PSYNC <replid> <offset> FAILOVER`; the target promotes itself on it and answers
//! `+CONTINUE`, which ends the failover and the pause. A refusal, or a target that
//! cannot be reached, aborts it: this server takes writes again.
//!
//! A redis-server replica of Roost can be the target too: this server then resumes the
//! history of its feed to it (that feed's id, the offset it acknowledged, the database
//! selected) and follows it as a redis-server primary (`from_redis`), whose `+CONTINUE`
//! answers the PSYNC FAILOVER.
//!
//! The deadline (TIMEOUT) aborts a failover still waiting, or with FORCE hands over to
//! the target anyway. ABORT (`cmd::repl::abort_failover`) ends it at any point.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::cmd::repl::{abort_failover, demote};
use crate::state::replication::{AttachedReplica, FailoverState, RedisHistory};
use crate::state::Shared;
use crate::sync::Recover;
use crate::{clock, log};

/// Starts driving the FAILOVER just accepted, on a thread of its own (as the replica
/// link runs), so it never waits behind client connections.
pub fn start(shared: &Arc<Shared>) {
    let epoch = shared.repl.failover().epoch;
    let shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("roost-failover".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(wait_for_sync(shared, epoch)),
                Err(e) => log::warning(&format!("Cannot run the failover: {e}")),
            }
        });
    if let Err(e) = spawned {
        log::warning(&format!("Cannot run the failover: {e}"));
    }
}

/// Waits for the target (or any Roost replica) to acknowledge everything, then
/// demotes this server; returns once the failover of `epoch` left waiting-for-sync.
async fn wait_for_sync(shared: Arc<Shared>, epoch: u64) {
    let mut acks = shared.repl.acks.subscribe();
    // Writes are paused: a GETACK now asks for the offset that ends the wait.
    let mut ask = tokio::time::interval(Duration::from_millis(100));
    loop {
        let changed = shared.repl.failover_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let failover = shared.repl.failover().clone();
        if failover.epoch != epoch || failover.state != FailoverState::WaitingForSync {
            return;
        }
        if failover
            .deadline_ms
            .is_some_and(|deadline| clock::now_ms() >= deadline)
        {
            match (&failover.target, failover.force) {
                (Some((host, port)), true) => {
                    log::notice(&format!(
                        "FAILOVER to {host}:{port} time out exceeded, failing over."
                    ));
                    hand_over(&shared, epoch, None);
                }
                _ => abort_failover(&shared, "Replica never caught up before timeout", true),
            }
            return;
        }
        if hand_over(&shared, epoch, Some(failover.target.as_ref())) {
            return;
        }
        tokio::select! {
            _ = acks.changed() => {}
            _ = ask.tick() => shared.repl.ack_requests.send_modify(|n| *n += 1),
            _ = clock::sleep_until_ms(failover.deadline_ms) => {}
            _ = changed => {}
        }
    }
}

/// Demotes this server to follow the replica that has acknowledged the last LSN
/// (`Some(Some(target))`: that one; `Some(None)`: any replica), or the target whatever
/// it acknowledged (`None`: FORCE). False if no replica qualifies yet.
fn hand_over(shared: &Shared, epoch: u64, caught_up: Option<Option<&(String, u16)>>) -> bool {
    // Under the gate: nothing is written between the check and the demotion.
    let _gate = shared.keyspace.write_gate();
    let last = shared.journal.last_lsn();
    let to = {
        let failover = shared.repl.failover();
        if failover.epoch != epoch || failover.state != FailoverState::WaitingForSync {
            return true;
        }
        let replicas = shared.repl.attached();
        let named = |r: &AttachedReplica, (host, port): &(String, u16)| {
            r.ip == *host && r.listening_port == *port
        };
        let chosen = match caught_up {
            None => failover
                .target
                .as_ref()
                .and_then(|t| replicas.iter().find(|r| named(r, t))),
            Some(wanted) => replicas.iter().find(|r| {
                r.online.load(Ordering::Acquire)
                    && r.ack_lsn.load(Ordering::Acquire) >= last
                    // Not `redis-cli --replica` (SYNC): no history to resume, no port.
                    && (!r.redis_format || r.redis_feed.locked().is_some())
                    && wanted.is_none_or(|t| named(r, t))
            }),
        };
        match (chosen, caught_up, &failover.target) {
            (Some(r), _, _) => {
                let redis = redis_history(shared, r, caught_up.is_some());
                Some((r.ip.clone(), r.listening_port, redis))
            }
            // FORCE towards a target that went away: it may come back as a primary.
            (None, None, Some((host, port))) => Some((host.clone(), *port, None)),
            (None, _, _) => None,
        }
    };
    let Some((host, port, redis)) = to else {
        return false;
    };
    {
        let mut failover = shared.repl.failover();
        failover.state = FailoverState::InProgress;
        failover.target = Some((host.clone(), port));
    }
    if caught_up.is_some() {
        log::notice(&format!(
            "Failover target {host}:{port} is synced, failing over."
        ));
    }
    demote(shared, &host, port, redis, "failover");
    true
}

/// For a redis-server replica: the history to resume from it once it has taken over,
/// its feed's id at the offset it acknowledged (caught up: past it only PINGs and
/// GETACKs, harmless when Redis sends them back from its backlog) or, with FORCE, the
/// offset of all that was sent (one it has not reached makes Redis answer with a full
/// sync, never with commands this server already applied).
fn redis_history(
    shared: &Shared,
    replica: &AttachedReplica,
    caught_up: bool,
) -> Option<RedisHistory> {
    if !replica.redis_format {
        return None;
    }
    let feed = replica.redis_feed.locked().clone()?;
    Some(RedisHistory {
        replid: feed.replid,
        offset: if caught_up { feed.acked } else { feed.sent },
        db: shared.journal.current_db().unwrap_or(0),
    })
}
