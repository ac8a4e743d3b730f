//! DEBUG: the subset test suites and tools use (CHANGE-REPL-ID, DIGEST, DIGEST-VALUE,
//! OBJECT, POPULATE, RELOAD, SET-ACTIVE-EXPIRE, SLEEP, HELP), behind
//! `enable-debug-command` as in Redis 7: `no` (the default) refuses it with Redis's text,
//! `local` allows it only from 127.0.0.1 and ::1, `yes` from anywhere. The check runs in the handler for every
//! subcommand, queued in MULTI or not, so no path runs DEBUG past a refusal.
//!
//! DEBUG holds the write gate, so each subcommand sees (and RELOAD replaces) the
//! keyspace with no other command running, as Redis stops for it. Digests are Redis's
//! (`store::digest`), so they can be compared with redis-server's. RELOAD differs in
//! one way: Redis leaves its AOF and replicas as they were, which is harmless only while
//! the file holds what memory held; Roost writes what the reload produced into its log
//! (and so to replicas) as a FLUSHALL and the commands recreating every key, so the
//! log, replicas and memory agree even after `NOSAVE` or `MERGE`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::{args, error, flags::*, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;
use crate::state::{Reload, ReloadFailure};
use crate::store::{self, digest, Value};
use crate::{log, rdb};

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
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. Unlike Redis, Roost writes them to",
    "    its log (and so to replicas) as SETs.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
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
                super::holding_thread(|| std::thread::sleep(Duration::from_secs_f64(seconds)));
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
        2 if args::is(sub, "change-repl-id") => {
            let shared = ctx.shared;
            shared.repl.adopt_replid(&crate::rand::random_hex(40), None);
            shared.save_replid_if_logging();
            log::notice("Changed replication IDs after receiving DEBUG change-repl-id");
            Ok(Reply::OK)
        }
        2 if args::is(sub, "digest") => {
            let digest = digest::dataset_digest(&ctx.shared.keyspace);
            Ok(Reply::Simple(digest::hex(&digest).into()))
        }
        _ if args::is(sub, "digest-value") => Ok(Reply::Array(
            args[2..]
                .iter()
                .map(|key| {
                    Reply::Simple(digest::hex(&digest::key_value_digest(ctx.db(), key)).into())
                })
                .collect(),
        )),
        3 if args::is(sub, "object") => object(ctx, &args[2]),
        3..=5 if args::is(sub, "populate") => populate(ctx, &args[2..]),
        _ if args::is(sub, "reload") => reload(ctx, &args[2..]),
        _ => Err(error::subcommand_syntax(sub, "DEBUG")),
    }
}

/// DEBUG POPULATE count [prefix [size]]: creates `prefix:0` .. `prefix:<count-1>` (prefix
/// `key`) holding `value:<n>`, cut or padded with zero bytes to `size` if given; keys
/// that exist are left as they are. Redis does not propagate what it creates; Roost logs
/// each key as a SET (not on a replica, whose log is its primary's stream), so the log
/// and replicas hold what memory holds, as after DEBUG RELOAD.
fn populate(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let positive = |arg: &Bytes| {
        args::text(arg)
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or(error::NOT_POSITIVE)
    };
    let count = positive(&args[0])?;
    let prefix = args.get(1).map_or(&b"key"[..], |p| &p[..]);
    let size = args.get(2).map(positive).transpose()?.unwrap_or(0) as usize;
    let logged = !ctx.shared.repl.is_replica();
    let now = crate::clock::now_ms();
    for n in 0..count {
        let mut key = prefix.to_vec();
        key.extend_from_slice(format!(":{n}").as_bytes());
        if ctx.db().exists(&key, now) {
            continue;
        }
        let mut value = format!("value:{n}").into_bytes();
        if size > 0 {
            value.resize(size, 0);
        }
        let (key, value) = (Bytes::from(key), Bytes::from(value));
        ctx.db()
            .insert_at(&key, Value::Str(value.clone()), None, Some(now));
        if logged {
            ctx.propagate(&[b"SET", &key, &value]);
        }
    }
    Ok(Reply::OK)
}

/// DEBUG OBJECT: Redis's one-line description of a value (its address, reference
/// count, encoding, serialized length and access stamp; for a list, its quicklist).
fn object(ctx: &mut Ctx<'_>, key: &[u8]) -> Outcome {
    let entry = ctx.db().peek_raw(key).ok_or(error::NO_SUCH_KEY)?;
    let value = entry.to_value();
    let compress = ctx.shared.config().rdbcompression;
    let mut extra = String::new();
    if let Value::List(list) = &value {
        let (nodes, bytes) = rdb::write::quicklist_shape(list);
        extra = format!(
            " ql_nodes:{nodes} ql_avg_node:{:.2} ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:{bytes}",
            list.items.len() as f64 / nodes.max(1) as f64
        );
    }
    Ok(Reply::Simple(
        format!(
        "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}{extra}",
        &*entry,
        super::keys::refcount(entry.value()),
        entry.encoding(),
        rdb::write::serialized_length(&value, compress),
        entry.lru_field(),
        entry.idle_seconds(),
    )
        .into(),
    ))
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE].
fn reload(ctx: &mut Ctx<'_>, options: &[Bytes]) -> Outcome {
    let mut how = Reload {
        save: true,
        flush: true,
        merge: false,
    };
    for option in options {
        if args::is(option, "merge") {
            how.merge = true;
        } else if args::is(option, "noflush") {
            how.flush = false;
        } else if args::is(option, "nosave") {
            how.save = false;
        } else {
            return Err(error::DEBUG_RELOAD_OPTIONS);
        }
    }
    let shared = ctx.shared;
    let libraries_before = shared.functions.codes();
    let result = (shared.services.reload_rdb)(shared, how);
    // Whatever the load got to is what memory holds now, failed or not; a failed save
    // changed nothing. A replica's log holds its primary's stream and is left alone.
    let changed = !matches!(result, Err(ReloadFailure::Save(_)));
    if changed && !shared.repl.is_replica() {
        journal_dataset(ctx, &libraries_before);
    }
    match result {
        Ok(_) => Ok(Reply::OK),
        // Redis answers a failed save with a bare `-ERR`; the log says why.
        Err(ReloadFailure::Save(e)) => {
            log::warning(&format!("DEBUG RELOAD could not save: {e}"));
            Err(error::BARE_ERR)
        }
        Err(ReloadFailure::Load(e)) => {
            log::warning(&format!("DEBUG RELOAD could not load: {e}"));
            Err(error::DEBUG_RELOAD_FAILED)
        }
    }
}

/// Writes the whole dataset into the log (and so to replicas) as a FLUSHALL and the
/// commands that recreate every key, and the function libraries if they changed.
fn journal_dataset(ctx: &mut Ctx<'_>, libraries_before: &[Bytes]) {
    let shared = ctx.shared;
    let mut last = None;
    let mut record = |db: usize, args: &[&[u8]]| {
        if let Some(lsn) = shared.journal.append_deferred(db, args) {
            last = Some(lsn);
        }
    };
    record(0, &[b"FLUSHALL"]);
    let libraries = shared.functions.codes();
    if libraries != libraries_before {
        record(0, &[b"FUNCTION", b"FLUSH"]);
        for code in &libraries {
            record(0, &[b"FUNCTION", b"LOAD", code]);
        }
    }
    let now = crate::clock::now_ms();
    for index in 0..shared.keyspace.databases() {
        shared.keyspace.db(index).for_each_key(|key, entry| {
            if !entry.is_expired(now) {
                store::entry_commands(key, &entry.to_value(), entry.expire_at(), &mut |args| {
                    record(index, args)
                });
            }
        });
    }
    if let Some(lsn) = last {
        ctx.client.pending_lsn = Some(lsn);
        ctx.client.last_write_lsn = lsn;
    }
}
