//! DEBUG: the subset test suites and tools use (SLEEP, SET-ACTIVE-EXPIRE, HELP), behind
//! `enable-debug-command` as in Redis 7: `no` (the default) refuses it with Redis's
//! text, `local` allows it only from 127.0.0.1 and ::1, `yes` from anywhere. The check
//! runs in the handler for every subcommand, queued in MULTI or not, so no path runs
//! DEBUG past a refusal.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::{args, error, flags::*, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[super::command!(
    "server",
    "debug",
    -2,
    ADMIN | NOSCRIPT | LOADING | STALE | EXCLUSIVE,
    NO_KEYS,
    debug,
    "1.0.0",
    "A container for debugging commands."
)];

const HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "HELP",
    "    Prints this help.",
];

/// Whether this client may run DEBUG under `enable-debug-command`.
fn allowed(ctx: &Ctx<'_>) -> bool {
    let setting = ctx.shared.config().enable_debug_command.clone();
    protected_command_allowed(ctx, &setting)
}

/// Whether this client may run a command guarded by a `no`/`yes`/`local` setting
/// (`enable-debug-command`, `enable-module-command`), as Redis decides it.
pub fn protected_command_allowed(ctx: &Ctx<'_>, setting: &str) -> bool {
    match setting {
        "yes" => true,
        // Redis's islocalClient: a Unix socket, or exactly 127.0.0.1 or ::1.
        "local" => match &ctx.client.info.addr {
            crate::session::PeerAddr::Unix(_) => true,
            crate::session::PeerAddr::Tcp(addr) => {
                let ip = addr.ip();
                ip == std::net::Ipv4Addr::LOCALHOST || ip == std::net::Ipv6Addr::LOCALHOST
            }
        },
        _ => false,
    }
}

fn debug(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if !allowed(ctx) {
        return Err(error::DEBUG_NOT_ALLOWED);
    }
    let sub = &args[1];
    match args.len() {
        2 if args::is(sub, "help") => Ok(Reply::Array(
            HELP.iter().map(|line| Reply::simple(line)).collect(),
        )),
        3 if args::is(sub, "sleep") => {
            // Redis reads the number with atof: what is not a number sleeps 0 s.
            let seconds = args::text(&args[2]).trim().parse::<f64>().unwrap_or(0.0);
            if seconds.is_finite() && seconds > 0.0 {
                // Under the exclusive gate, as Redis stops: no other command runs.
                sleep_holding_thread(Duration::from_secs_f64(seconds));
            }
            Ok(Reply::OK)
        }
        3 if args::is(sub, "set-active-expire") => {
            // atoi: anything but a non-zero number turns it off.
            let on = args::text(&args[2]).trim().parse::<i64>().unwrap_or(0) != 0;
            ctx.shared
                .keyspace
                .active_expiry_enabled
                .store(on, Ordering::Relaxed);
            Ok(Reply::OK)
        }
        _ => Err(error::subcommand_syntax(sub, "DEBUG")),
    }
}

/// Sleeps on this thread; a tokio worker first hands its other tasks to a new thread.
fn sleep_holding_thread(pause: Duration) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| {
                drop(handle.spawn(async {}));
                std::thread::sleep(pause);
            })
        }
        _ => std::thread::sleep(pause),
    }
}
