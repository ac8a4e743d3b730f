//! DUMP, RESTORE and RESTORE-ASKING (RESTORE under another name): a key's value in Redis's serialization (`rdb`), so values move
//! between Redis and Roost in both directions.
//!
//! RESTORE is logged as Redis propagates it: a relative TTL made absolute (`ABSTTL`
//! appended), and a TTL already past as the `DEL` of the key it replaced (or nothing).

use bytes::Bytes;

use super::{args, command, error, flags::*, Ctx, Outcome, Spec, ONE_KEY};
use crate::clock;
use crate::notify;
use crate::protocol::Reply;
use crate::rdb::{self, PayloadError};
use crate::store;

pub const COMMANDS: &[Spec] = &[
    command!(
        "generic",
        "dump",
        2,
        READONLY,
        ONE_KEY,
        dump,
        "2.6.0",
        "Returns a serialized representation of the value stored at a key."
    )
    .with_key_specs(super::redis_meta::READS)
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!(
        "generic",
        "restore",
        -4,
        WRITE | DENYOOM,
        ONE_KEY,
        restore,
        "2.6.0",
        "Creates a key from the serialized representation of a value."
    )
    .with_acl_categories(crate::acl::category::KEYSPACE | crate::acl::category::DANGEROUS)
    .with_key_specs(super::redis_meta::OVERWRITES),
    // What a cluster's MIGRATE sends: RESTORE, allowed on a slot being imported.
    command!(
        "server",
        "restore-asking",
        -4,
        WRITE | DENYOOM | ASKING,
        ONE_KEY,
        restore,
        "3.0.0",
        "An internal command for migrating keys in a cluster."
    )
    .with_acl_categories(crate::acl::category::KEYSPACE | crate::acl::category::DANGEROUS)
    .with_key_specs(super::redis_meta::OVERWRITES),
];

fn dump(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let compress = ctx.shared.config().rdbcompression;
    Ok(match ctx.db().get(&args[1], clock::now_ms()) {
        Some(entry) => Reply::Bulk(rdb::dump_payload(&entry.to_value(), compress)),
        None => Reply::Null,
    })
}

fn restore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut replace = false;
    let mut absttl = false;
    let mut idle: Option<u64> = None;
    let mut freq: Option<u8> = None;
    let mut i = 4;
    while i < args.len() {
        let more = i + 1 < args.len();
        if args::is(&args[i], "replace") {
            replace = true;
        } else if args::is(&args[i], "absttl") {
            absttl = true;
        } else if args::is(&args[i], "idletime") && more && freq.is_none() {
            let n = args::int(&args[i + 1])?;
            if n < 0 {
                return Err(error::RESTORE_IDLETIME);
            }
            idle = Some(n as u64);
            i += 1;
        } else if args::is(&args[i], "freq") && more && idle.is_none() {
            let n = args::int(&args[i + 1])?;
            if !(0..=255).contains(&n) {
                return Err(error::RESTORE_FREQ);
            }
            freq = Some(n as u8);
            i += 1;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    let key = &args[1];
    let now = clock::now_ms();
    if !replace && ctx.db().exists(key, now) {
        return Err(error::BUSY_KEY);
    }
    let ttl = args::int(&args[2])?;
    if ttl < 0 {
        return Err(error::RESTORE_TTL_NEGATIVE);
    }
    let value = match rdb::parse_payload(&args[3], key) {
        Ok(value) => value,
        Err(PayloadError::VersionOrChecksum) => return Err(error::DUMP_PAYLOAD),
        Err(PayloadError::BadFormat(_)) => return Err(error::BAD_DATA_FORMAT),
    };
    // As Redis: REPLACE deletes whatever is there, without an expiry of its own.
    let deleted = replace && ctx.db().delete(key).is_some();
    let expire_at = match ttl {
        0 => None,
        t if absttl => Some(t as u64),
        t => Some(now.saturating_add(t as u64)),
    };
    if expire_at.is_some_and(|at| at <= now) && !store::is_applying_stream() {
        if deleted {
            ctx.propagate(&[b"DEL", key]);
            ctx.notify(notify::GENERIC, "del", key);
        }
        return Ok(Reply::OK);
    }
    ctx.db().insert(key, value, expire_at);
    ctx.db().set_access(key, idle, freq);
    match expire_at {
        Some(at) if !absttl => {
            let at = at.to_string();
            let mut logged: Vec<&[u8]> = args.iter().map(|a| a.as_ref()).collect();
            logged[2] = at.as_bytes();
            logged.push(b"ABSTTL");
            ctx.propagate(&logged);
        }
        _ => {
            let logged: Vec<&[u8]> = args.iter().map(|a| a.as_ref()).collect();
            ctx.propagate(&logged);
        }
    }
    ctx.notify(notify::GENERIC, "restore", key);
    Ok(Reply::OK)
}
