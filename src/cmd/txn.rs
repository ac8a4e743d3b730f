//! MULTI / EXEC / DISCARD / WATCH / UNWATCH.
//!
//! Queued commands were resolved and arity-checked when queued; EXEC runs them all under
//! the exclusive gate, so no other client's command interleaves. WATCH registers the key
//! with the keyspace, which flags this client when any write (expiry included) touches it.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{call, error, flags::*, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;
use crate::session::{Client, Multi};
use crate::state::Shared;
use crate::{clock, cmd::KeySpec};

pub const COMMANDS: &[Spec] = &[
    super::command!(
        "transactions",
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TXN_CONTROL,
        NO_KEYS,
        multi,
        "1.2.0",
        "Starts a transaction."
    ),
    super::command!(
        "transactions",
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | TXN_CONTROL | EXCLUSIVE | SKIP_SLOWLOG,
        NO_KEYS,
        exec,
        "1.2.0",
        "Executes all commands in a transaction."
    )
    .with_on_refusal(abort_exec),
    super::command!(
        "transactions",
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TXN_CONTROL,
        NO_KEYS,
        discard,
        "2.0.0",
        "Discards a transaction."
    ),
    super::command!(
        "transactions",
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TXN_CONTROL,
        KeySpec {
            first: 1,
            last: -1,
            step: 1,
        },
        watch,
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction."
    )
    .with_key_specs(super::redis_meta::INSPECTS_ALL),
    super::command!(
        "transactions",
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        NO_KEYS,
        unwatch,
        "2.2.0",
        "Forgets about watched keys of a transaction."
    ),
];

fn multi(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    if ctx.client.in_multi() {
        return Err(error::NESTED_MULTI);
    }
    ctx.client.multi = Some(Multi::default());
    ctx.client.info.in_multi.store(true, Ordering::Relaxed);
    Ok(Reply::OK)
}

fn exec(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let Some(multi) = ctx.client.multi.take() else {
        return Err(error::EXEC_WITHOUT_MULTI);
    };
    ctx.client.info.in_multi.store(false, Ordering::Relaxed);
    ctx.client.info.multi_len.store(0, Ordering::Relaxed);
    let keyspace = ctx.shared.keyspace.clone();
    let aborted_by_watch = ctx.client.watch_flag.is_dirty()
        || keyspace.watched_key_expired(&ctx.client.watched, clock::now_ms());
    unwatch_all(ctx.shared, ctx.client);
    if multi.failed {
        return Err(error::EXEC_ABORTED);
    }
    if aborted_by_watch {
        return Ok(Reply::NullArray);
    }
    let journal = &ctx.shared.journal;
    journal.begin_transaction();
    let replies = multi
        .queued
        .into_iter()
        .map(|(id, args)| {
            // The user's rules may have changed since the command was queued.
            if let Err((denied, _)) = super::check_acl(ctx, id, &args, "multi") {
                return error::noperm_at_exec(denied);
            }
            ctx.client.in_exec = true;
            let reply = call(ctx, id, &args);
            ctx.client.in_exec = false;
            reply
        })
        .collect();
    if let Some(lsn) = ctx.shared.journal.end_transaction() {
        ctx.client.pending_lsn = Some(lsn);
        ctx.client.last_write_lsn = lsn;
    }
    Ok(Reply::Array(replies))
}

/// EXEC refused before running (wrong arity, NOAUTH, ...): like Redis, the transaction
/// and the watched keys are dropped, whether or not MULTI was open, and the reason is
/// reported as `EXECABORT Transaction discarded because of: <reason>`. Reasons with the
/// generic `ERR` code lose it; any other code (NOAUTH, LOADING) stays in the text.
pub fn abort_exec(ctx: &mut Ctx<'_>, reason: Reply) -> Reply {
    discard_state(ctx.shared, ctx.client);
    ctx.client.info.multi_len.store(0, Ordering::Relaxed);
    let Reply::Error(message) = &reason else {
        return reason;
    };
    let message = message.strip_prefix("ERR ").unwrap_or(message);
    error::exec_aborted_because(message)
}

fn discard(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    if ctx.client.multi.take().is_none() {
        return Err(error::DISCARD_WITHOUT_MULTI);
    }
    ctx.client.info.in_multi.store(false, Ordering::Relaxed);
    ctx.client.info.multi_len.store(0, Ordering::Relaxed);
    unwatch_all(ctx.shared, ctx.client);
    Ok(Reply::OK)
}

fn watch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if ctx.client.in_multi() {
        return Err(error::WATCH_IN_MULTI);
    }
    let now = clock::now_ms();
    for key in &args[1..] {
        let flag = ctx.client.watch_flag.clone();
        let watched = ctx.shared.keyspace.watch(ctx.client.db, key, &flag, now);
        if !ctx
            .client
            .watched
            .iter()
            .any(|w| w.db == watched.db && w.key == watched.key)
        {
            ctx.client.watched.push(watched);
        }
    }
    Ok(Reply::OK)
}

fn unwatch(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    unwatch_all(ctx.shared, ctx.client);
    Ok(Reply::OK)
}

fn unwatch_all(shared: &Shared, client: &mut Client) {
    let flag = client.watch_flag.clone();
    shared.keyspace.unwatch(&mut client.watched, &flag);
    flag.reset();
}

/// Drops a client's transaction and watches (RESET, disconnect).
pub fn discard_state(shared: &Shared, client: &mut Client) {
    client.multi = None;
    client.info.in_multi.store(false, Ordering::Relaxed);
    unwatch_all(shared, client);
}
