//! What controls the flow of a client's requests and replies, as in Redis 7.2: CLIENT
//! REPLY (ON, OFF, SKIP), CLIENT PAUSE / UNPAUSE (hold every command, or only those
//! that write, for a while) and CLIENT UNBLOCK (end another client's blocking command
//! as a timeout or with an error).

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{args, error, flags::*, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;
use crate::session::{Client, UNBLOCK_ERROR, UNBLOCK_TIMEOUT};
use crate::state::pause::PauseMode;
use crate::state::Shared;

const FLAGS: u32 = NOSCRIPT | LOADING | STALE;

pub const REPLY: Spec = super::command!(
    "connection",
    "reply",
    3,
    FLAGS,
    NO_KEYS,
    client_reply,
    "3.2.0",
    "Instructs the server whether to reply to commands."
);

pub const PAUSE: Spec = super::command!(
    "connection",
    "pause",
    -3,
    ADMIN | FLAGS,
    NO_KEYS,
    client_pause,
    "3.0.0",
    "Suspends commands processing."
);

pub const UNPAUSE: Spec = super::command!(
    "connection",
    "unpause",
    2,
    ADMIN | FLAGS,
    NO_KEYS,
    client_unpause,
    "6.2.0",
    "Resumes processing commands from paused clients."
);

pub const UNBLOCK: Spec = super::command!(
    "connection",
    "unblock",
    -3,
    ADMIN | FLAGS,
    NO_KEYS,
    client_unblock,
    "5.0.0",
    "Unblocks a client blocked by a blocking command from a different connection."
);

// ---------------------------------------------------------------------------------------
// CLIENT REPLY
// ---------------------------------------------------------------------------------------

fn client_reply(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mode = &mut ctx.client.reply;
    if args::is(&args[2], "on") {
        mode.off = false;
        mode.skip = false;
        Ok(Reply::OK)
    } else if args::is(&args[2], "off") {
        mode.off = true;
        Ok(Reply::NoReply)
    } else if args::is(&args[2], "skip") {
        if !mode.off {
            mode.skip_next = true;
        }
        Ok(Reply::NoReply)
    } else {
        Err(error::SYNTAX)
    }
}

/// The reply a request gets under CLIENT REPLY (Redis's `resetClient`): none while OFF
/// or for the command after SKIP.
pub fn filter_reply(client: &mut Client, reply: Reply) -> Reply {
    let mode = &mut client.reply;
    let suppressed = mode.off || mode.skip;
    mode.skip = std::mem::take(&mut mode.skip_next);
    if suppressed {
        Reply::NoReply
    } else {
        reply
    }
}

// ---------------------------------------------------------------------------------------
// CLIENT PAUSE / UNPAUSE
// ---------------------------------------------------------------------------------------

fn client_pause(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let timeout = args::int(&args[2]).map_err(|_| error::PAUSE_TIMEOUT_NOT_INTEGER)?;
    if timeout < 0 {
        return Err(error::PAUSE_TIMEOUT_NEGATIVE);
    }
    let mode = match &args[3..] {
        [] => PauseMode::All,
        [mode] if args::is(mode, "write") => PauseMode::Write,
        [mode] if args::is(mode, "all") => PauseMode::All,
        [_] => return Err(error::PAUSE_MODE),
        _ => return Err(error::subcommand_syntax(&args[1], "CLIENT")),
    };
    let now = crate::clock::now_ms();
    ctx.shared
        .pause_clients(now.saturating_add(timeout as u64), mode, now);
    Ok(Reply::OK)
}

fn client_unpause(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    ctx.shared.unpause_clients();
    Ok(Reply::OK)
}

/// Whether the pause in force holds this command: every command under ALL; under
/// WRITE, writes, commands that may reach replicas, and EXEC of queued writes.
pub fn paused(ctx: &Ctx<'_>, spec: &Spec) -> bool {
    let Some((mode, _)) = ctx.shared.pause.current(crate::clock::now_ms()) else {
        return false;
    };
    match mode {
        PauseMode::All => true,
        PauseMode::Write => {
            spec.has(WRITE)
                || spec.has(MAY_REPLICATE)
                || (spec.has(TXN_CONTROL)
                    && ctx.client.multi.as_ref().is_some_and(|m| {
                        m.queued.iter().any(|(id, _)| {
                            let queued = super::table().spec(*id);
                            queued.has(WRITE) || queued.has(MAY_REPLICATE)
                        })
                    }))
        }
    }
}

/// Holds a paused request until no pause holds it, then runs it; false if the client
/// was closed meanwhile. The request may block again (another pause, BLPOP): the caller
/// then finds `client.blocked` set.
pub async fn run_after_pause(shared: &Shared, client: &mut Client, args: Vec<Bytes>) -> Reply {
    client.info.paused.store(true, Ordering::Release);
    let held = hold(shared, client, &args).await;
    client.info.paused.store(false, Ordering::Release);
    if !held {
        return Reply::NoReply;
    }
    super::dispatch(
        &mut Ctx {
            shared,
            client: &mut *client,
        },
        args,
    )
}

/// Waits while a pause holds the request; false if the client was closed meanwhile.
async fn hold(shared: &Shared, client: &mut Client, args: &[Bytes]) -> bool {
    loop {
        match shared.pause.current(crate::clock::now_ms()) {
            Some((_, until)) => tokio::select! {
                _ = shared.pause.changed_or_ended(until) => {}
                _ = client.info.kill_switch.notified() => return false,
            },
            None => return true,
        }
        // Re-checked against this command: a WRITE pause may now hold only writes.
        let table = super::table();
        let Ok(id) = table.resolve_named(&shared.command_names, args) else {
            return true;
        };
        let ctx = Ctx {
            shared,
            client: &mut *client,
        };
        if !paused(&ctx, table.spec(id)) {
            return true;
        }
    }
}

/// Clears a CLIENT UNBLOCK request left when a blocking command ends, so that it does
/// not end the next one.
pub struct UnblockGuard<'a>(pub &'a crate::session::ClientInfo);

impl Drop for UnblockGuard<'_> {
    fn drop(&mut self) {
        self.0.unblock.store(0, Ordering::Release);
    }
}

// ---------------------------------------------------------------------------------------
// CLIENT UNBLOCK
// ---------------------------------------------------------------------------------------

fn client_unblock(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let id = args::int(&args[2])?;
    let how = match &args[3..] {
        [] => UNBLOCK_TIMEOUT,
        [how] if args::is(how, "timeout") => UNBLOCK_TIMEOUT,
        [how] if args::is(how, "error") => UNBLOCK_ERROR,
        _ => return Err(error::UNBLOCK_REASON),
    };
    let Some(target) = u64::try_from(id)
        .ok()
        .and_then(|id| ctx.shared.clients.get(id))
    else {
        return Ok(Reply::Integer(0));
    };
    // Only a client waiting in a blocking command (BLPOP and friends, WAIT); a client
    // held by CLIENT PAUSE is not, as in Redis.
    if !target.blocked.load(Ordering::Acquire) || target.paused.load(Ordering::Acquire) {
        return Ok(Reply::Integer(0));
    }
    target.unblock.store(how, Ordering::Release);
    target.unblocked.notify_one();
    Ok(Reply::Integer(1))
}

/// What a blocking command answers when CLIENT UNBLOCK ends it: `timed_out` (its
/// timeout's reply) or the UNBLOCKED error; `None` if it was not asked to.
pub fn unblocked_reply(
    info: &crate::session::ClientInfo,
    timed_out: impl FnOnce() -> Reply,
) -> Option<Reply> {
    match info.unblock.swap(0, Ordering::AcqRel) {
        UNBLOCK_TIMEOUT => Some(timed_out()),
        UNBLOCK_ERROR => Some(error::UNBLOCKED_BY_CLIENT),
        _ => None,
    }
}
