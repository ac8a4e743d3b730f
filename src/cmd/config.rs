//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP.
//!
//! Values go through `Config::apply`, the same validation the config file and flags
//! use; CONFIG SET of several parameters is all-or-nothing, as in Redis 7.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{conn, error, flags::*, Ctx, Outcome, Spec, NO_KEYS};
use crate::config::{ApplyError, Config};
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[Spec {
    name: "config",
    arity: -2,
    flags: 0,
    keys: NO_KEYS,
    handler: super::handler!(conn::container),
    group: "server",
    summary: "A container for server configuration commands.",
    since: "2.0.0",
    subcommands: SUBCOMMANDS,
}];

const SUBCOMMANDS: &[Spec] = &[
    Spec {
        name: "get",
        arity: -3,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        keys: NO_KEYS,
        handler: super::handler!(config_get),
        group: "server",
        summary: "Returns the effective values of configuration parameters.",
        since: "2.0.0",
        subcommands: &[],
    },
    Spec {
        name: "set",
        arity: -4,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        keys: NO_KEYS,
        handler: super::handler!(config_set),
        group: "server",
        summary: "Sets configuration parameters in-flight.",
        since: "2.0.0",
        subcommands: &[],
    },
    Spec {
        name: "resetstat",
        arity: 2,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        keys: NO_KEYS,
        handler: super::handler!(config_resetstat),
        group: "server",
        summary: "Resets the server's statistics.",
        since: "2.0.0",
        subcommands: &[],
    },
    Spec {
        name: "rewrite",
        arity: 2,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        keys: NO_KEYS,
        handler: super::handler!(config_rewrite),
        group: "server",
        summary: "Persists the effective configuration to file.",
        since: "2.8.0",
        subcommands: &[],
    },
    conn::help_subcommand("server", "5.0.0"),
];

fn config_get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let config = ctx.shared.config();
    let mut pairs = Vec::new();
    let mut seen = Vec::new();
    for pattern in &args[2..] {
        // A name without glob characters is looked up as such (aliases too) and echoed
        // as the client spelled it, as Redis does; patterns match the canonical names.
        if !pattern.iter().any(|b| matches!(b, b'[' | b'*' | b'?')) {
            let asked = String::from_utf8_lossy(pattern).into_owned();
            let lower = asked.to_ascii_lowercase();
            if !seen.contains(&lower) {
                if let Some(value) = config.get(&lower) {
                    pairs.push((Reply::bulk_str(&asked), Reply::bulk_str(&value)));
                    seen.push(lower);
                }
            }
            continue;
        }
        for name in config.names() {
            if !seen.contains(&name) && crate::glob::matches(pattern, name.as_bytes(), true) {
                let value = config.get(&name).unwrap_or_default();
                pairs.push((Reply::bulk_str(&name), Reply::bulk_str(&value)));
                seen.push(name);
            }
        }
    }
    Ok(Reply::Map(pairs))
}

fn config_set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() % 2 != 0 {
        return Err(error::syntax());
    }
    let mut updated: Config = ctx.shared.config().clone();
    let mut names: Vec<String> = Vec::new();
    for pair in args[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        let failed = |why: &str| Err(error::config_set_failed(&name, why));
        if names.contains(&name) {
            return failed("duplicate parameter");
        }
        let values: Vec<String> = if name == "bind" || name == "replicaof" || name == "save" {
            value.split_whitespace().map(str::to_string).collect()
        } else {
            vec![value]
        };
        // A bad value is reported as such even for a parameter that cannot change now.
        let result = if Config::is_mutable(&name) {
            updated.apply(&name, &values).map(|_| ())
        } else {
            updated
                .clone()
                .apply(&name, &values)
                .and(Err(ApplyError::Immutable))
        };
        match result {
            Ok(()) => names.push(name),
            Err(ApplyError::Unknown) => return Err(error::unknown_config_parameter(&name)),
            Err(ApplyError::Immutable) => return failed("can't set immutable config"),
            Err(ApplyError::Invalid(why)) => return failed(&why),
        }
    }
    if let Some(level) = crate::log::Level::parse(&updated.loglevel) {
        crate::log::set_level(level);
    }
    ctx.shared.hz.store(updated.hz, Ordering::Relaxed);
    ctx.shared.persistence.set_policy(updated.appendfsync);
    ctx.shared
        .journal
        .resize_backlog(updated.repl_backlog_size as usize);
    ctx.shared
        .keyspace
        .set_lfu(updated.maxmemory_policy.contains("lfu"));
    ctx.shared
        .notify
        .set_events(&updated.notify_keyspace_events);
    *ctx.shared.config_mut() = updated;
    Ok(Reply::OK)
}

fn config_resetstat(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let shared = ctx.shared;
    for id in super::table().all() {
        shared.command_stats[id as usize].reset();
    }
    shared.stats.reset();
    shared.keyspace.stats.reset();
    Ok(Reply::OK)
}

fn config_rewrite(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let config = ctx.shared.config();
    let Some(path) = config.config_file.clone() else {
        return Err(error::reply(error::NO_CONFIG_FILE));
    };
    let text = config.to_file_text();
    drop(config);
    let temp = path.with_extension("rewrite.tmp");
    let written = std::fs::write(&temp, text).and_then(|()| std::fs::rename(&temp, &path));
    written.map_err(error::config_rewrite_failed)?;
    crate::log::notice("CONFIG REWRITE executed with success.");
    Ok(Reply::OK)
}
