//! Connection commands.

use bytes::Bytes;

use super::{flags::*, Ctx, Spec, NO_KEYS};
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[
    Spec {
        name: "ping",
        arity: -1,
        flags: FAST | STALE | LOADING,
        keys: NO_KEYS,
        handler: ping,
        group: "connection",
        summary: "Returns the server's liveliness response.",
        since: "1.0.0",
        subcommands: &[],
    },
    Spec {
        name: "quit",
        arity: -1,
        flags: ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | TXN_CONTROL,
        keys: NO_KEYS,
        handler: quit,
        group: "connection",
        summary: "Closes the connection.",
        since: "1.0.0",
        subcommands: &[],
    },
];

fn ping(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match args.len() {
        1 => Reply::simple("PONG"),
        2 => Reply::Bulk(args[1].clone()),
        _ => super::error::wrong_arity("ping"),
    }
}

fn quit(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Reply {
    ctx.client.close_after_reply = true;
    Reply::OK
}
