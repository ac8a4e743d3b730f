//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP.
//!
//! Values go through `Config::apply`, the same validation the config file and flags
//! use; CONFIG SET of several parameters is all-or-nothing, as in Redis 7. A change takes
//! effect through the hook its row in `config::PARAMS` names (`take_effect`).

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{conn, error, flags::*, Ctx, Outcome, Spec, NO_KEYS};
use crate::config::{ApplyError, Config, Hook};
use crate::protocol::Reply;
use crate::state::Shared;

pub const COMMANDS: &[Spec] = &[super::command!(
    "server",
    "config",
    -2,
    0,
    NO_KEYS,
    conn::container,
    "2.0.0",
    "A container for server configuration commands."
)
.with_subcommands(SUBCOMMANDS)];

const SUBCOMMANDS: &[Spec] = &[
    super::command!(
        "server",
        "get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        config_get,
        "2.0.0",
        "Returns the effective values of configuration parameters."
    ),
    super::command!(
        "server",
        "set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        config_set,
        "2.0.0",
        "Sets configuration parameters in-flight."
    )
    .with_tips(super::redis_meta::ALL_NODES_SUCCEED),
    super::command!(
        "server",
        "resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        config_resetstat,
        "2.0.0",
        "Resets the server's statistics."
    ),
    super::command!(
        "server",
        "rewrite",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        config_rewrite,
        "2.8.0",
        "Persists the effective configuration to file."
    ),
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
                if let Some(value) = config.shown(&lower) {
                    pairs.push((Reply::bulk_str(&asked), Reply::bulk_str(&value)));
                    seen.push(lower);
                }
            }
            continue;
        }
        for name in config.names() {
            if !seen.contains(&name) && crate::glob::matches(pattern, name.as_bytes(), true) {
                let value = config.shown(&name).unwrap_or_default();
                pairs.push((Reply::bulk_str(&name), Reply::bulk_str(&value)));
                seen.push(name);
            }
        }
    }
    Ok(Reply::Map(pairs))
}

fn config_set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() % 2 != 0 {
        return Err(error::SYNTAX);
    }
    let mut updated: Config = ctx.shared.config().clone();
    let mut names: Vec<String> = Vec::new();
    let mut hooks: Vec<Hook> = Vec::new();
    for pair in args[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        let failed = |why: &str| Err(error::config_set_failed(&name, why));
        if names.contains(&name) {
            return failed("duplicate parameter");
        }
        let values = Config::value_args(&name, &value);
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
            Ok(()) => {
                if let Some(hook) = Config::hook(&name).filter(|h| !hooks.contains(h)) {
                    hooks.push(hook);
                }
                names.push(name);
            }
            Err(ApplyError::Unknown) => return Err(error::unknown_config_parameter(&name)),
            Err(ApplyError::Immutable) => return failed("can't set immutable config"),
            Err(ApplyError::Invalid(why)) => return failed(&why),
        }
    }
    // TLS goes first: it is the one change that can still be refused (a bad pair),
    // and then nothing has changed.
    if hooks.contains(&Hook::Tls) {
        if let Err(why) = ctx.shared.tls.reload(&updated) {
            crate::log::warning(&format!("Failed to update TLS configuration: {why}"));
            let name = names
                .iter()
                .find(|n| Config::hook(n) == Some(Hook::Tls))
                .expect("a tls parameter was set");
            return Err(error::tls_not_updated(name));
        }
    }
    for hook in hooks {
        take_effect(ctx.shared, hook, &updated);
    }
    *ctx.shared.config_mut() = updated;
    Ok(Reply::OK)
}

/// Makes a changed parameter's new value take effect, for those the server does not
/// read from the configuration each time.
fn take_effect(shared: &Shared, hook: Hook, config: &Config) {
    match hook {
        Hook::LogLevel => {
            if let Some(level) = crate::log::Level::parse(&config.loglevel) {
                crate::log::set_level(level);
            }
        }
        Hook::Hz => shared.hz.store(config.hz, Ordering::Relaxed),
        Hook::FsyncPolicy => shared.persistence.set_policy(config.appendfsync),
        Hook::BacklogSize => shared
            .journal
            .resize_backlog(config.repl_backlog_size as usize),
        Hook::EvictionPolicy => {
            shared
                .keyspace
                .set_lfu(config.maxmemory_policy.contains("lfu"));
            shared
                .keyspace
                .set_lfu_params(config.lfu_log_factor, config.lfu_decay_time);
            shared.memory.configure(config);
        }
        Hook::MaxMemory => {
            shared.memory.configure(config);
            let used = crate::state::memory::used_memory() as u64;
            if config.maxmemory != 0 && used > config.maxmemory {
                crate::log::warning(&format!(
                    "WARNING: the new maxmemory value set via CONFIG SET ({}) is smaller \
                     than the current memory usage ({used}). This will result in key \
                     eviction and/or the inability to accept new write commands depending \
                     on the maxmemory-policy.",
                    config.maxmemory
                ));
                // Redis too starts evicting at once, without waiting for a write.
                if shared.memory.policy() != crate::store::Policy::NoEviction {
                    shared.evict_in_background();
                }
            }
        }
        Hook::KeyspaceEvents => shared.notify.set_events(&config.notify_keyspace_events),
        // Done (or refused) before anything else changed: see `config_set`.
        Hook::Tls => {}
        Hook::DefaultPassword => super::acl::requirepass_changed(shared, config),
        Hook::PubsubDefault => shared
            .acl
            .set_pubsub_all(config.acl_pubsub_default == "allchannels"),
        Hook::Diagnostics => shared.diagnostics.configure(config),
        Hook::ScriptThreshold => shared
            .scripts
            .running
            .set_threshold(config.busy_reply_threshold),
    }
}

fn config_resetstat(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let shared = ctx.shared;
    for id in super::table().all() {
        shared.command_stats[id as usize].reset();
    }
    shared.stats.reset();
    shared.keyspace.stats.reset();
    shared.memory.reset_exceeded_times();
    shared.acl.denied.reset();
    shared.diagnostics.reset_histograms();
    Ok(Reply::OK)
}

fn config_rewrite(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let config = ctx.shared.config();
    let Some(path) = config.config_file.clone() else {
        return Err(error::NO_CONFIG_FILE);
    };
    // A file removed since startup is written afresh, as Redis does.
    let old = match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        read => read,
    };
    let text = old.map(|old| config.rewrite_file_text(&old));
    drop(config);
    let temp = path.with_extension("rewrite.tmp");
    let written = text
        .and_then(|text| std::fs::write(&temp, text).and_then(|()| std::fs::rename(&temp, &path)));
    written.map_err(error::config_rewrite_failed)?;
    crate::log::notice("CONFIG REWRITE executed with success.");
    Ok(Reply::OK)
}
