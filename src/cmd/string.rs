//! String commands.

use bytes::Bytes;

use super::{error, flags::*, Ctx, KeySpec, Spec};
use crate::clock;
use crate::protocol::Reply;
use crate::store::Value;

const ONE_KEY: KeySpec = KeySpec {
    first: 1,
    last: 1,
    step: 1,
};

pub const COMMANDS: &[Spec] = &[
    Spec {
        name: "get",
        arity: 2,
        flags: READONLY | FAST,
        keys: ONE_KEY,
        handler: get,
        group: "string",
        summary: "Returns the string value of a key.",
        since: "1.0.0",
        subcommands: &[],
    },
    Spec {
        name: "set",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: ONE_KEY,
        handler: set,
        group: "string",
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        since: "1.0.0",
        subcommands: &[],
    },
];

fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    match ctx.db().lookup_read(&args[1], clock::now_ms()) {
        None => Reply::Null,
        Some(entry) => match &entry.value {
            Value::Str(s) => Reply::Bulk(s.clone()),
            _ => error::wrongtype(),
        },
    }
}

fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    if args.len() != 3 {
        return error::syntax();
    }
    ctx.db()
        .insert(&args[1], Value::Str(crate::store::own(&args[2])), None);
    Reply::OK
}
