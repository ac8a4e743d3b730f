//! Server commands: INFO, COMMAND and its subcommands, TIME, LASTSAVE, SHUTDOWN.
//!
//! INFO's sections and field names are Redis's: ioredis reads `loading`, Sentinel reads
//! `run_id`, `role` and the replication fields, Spring Boot reads `redis_version`.
//! COMMAND's replies are derived from the command table.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{args, command, conn, error, flags::*, CommandId, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;
use crate::state::{Rate, Shared};
use crate::sync::Recover;
use crate::{alloc, clock, VERSION, VERSION_COMPAT};

pub const COMMANDS: &[Spec] = &[
    super::command!(
        "server",
        "info",
        -1,
        LOADING | STALE,
        NO_KEYS,
        info,
        "1.0.0",
        "Returns information and statistics about the server."
    )
    .with_acl_categories(crate::acl::category::DANGEROUS)
    .with_tips(super::redis_meta::INFO),
    super::command!(
        "server",
        "command",
        -1,
        LOADING | STALE,
        NO_KEYS,
        command,
        "2.8.13",
        "Returns detailed information about all commands."
    )
    .with_acl_categories(crate::acl::category::CONNECTION)
    .with_tips(super::redis_meta::NONDETERMINISTIC_ORDER)
    .with_subcommands(COMMAND_SUBCOMMANDS),
    super::command!(
        "server",
        "time",
        1,
        LOADING | STALE | FAST,
        NO_KEYS,
        time,
        "2.6.0",
        "Returns the server time."
    )
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    super::command!(
        "server",
        "lastsave",
        1,
        LOADING | STALE | FAST,
        NO_KEYS,
        lastsave,
        "1.0.0",
        "Returns the Unix timestamp of the last successful save to disk."
    )
    .with_acl_categories(crate::acl::category::ADMIN | crate::acl::category::DANGEROUS)
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!(
        "server",
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT | UNGATED,
        NO_KEYS,
        bgrewriteaof,
        "1.0.0",
        "Asynchronously rewrites the append-only file to disk."
    ),
    command!(
        "server",
        "bgsave",
        -1,
        ADMIN | NOSCRIPT | UNGATED,
        NO_KEYS,
        bgsave,
        "1.0.0",
        "Asynchronously saves the database(s) to disk."
    ),
    command!(
        "server",
        "save",
        1,
        ADMIN | NOSCRIPT | NO_MULTI | UNGATED,
        NO_KEYS,
        save,
        "1.0.0",
        "Synchronously saves the database(s) to disk."
    ),
    super::command!(
        "server",
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        NO_KEYS,
        shutdown,
        "1.0.0",
        "Synchronously saves the database(s) to disk and shuts down the Redis server."
    ),
];

const COMMAND_SUBCOMMANDS: &[Spec] = &[
    super::command!(
        "server",
        "count",
        2,
        LOADING | STALE,
        NO_KEYS,
        command_count,
        "2.8.13",
        "Returns a count of commands."
    )
    .with_acl_categories(crate::acl::category::CONNECTION),
    super::command!(
        "server",
        "info",
        -2,
        LOADING | STALE,
        NO_KEYS,
        command_info,
        "2.8.13",
        "Returns information about one, multiple or all commands."
    )
    .with_acl_categories(crate::acl::category::CONNECTION)
    .with_tips(super::redis_meta::NONDETERMINISTIC_ORDER),
    super::command!(
        "server",
        "docs",
        -2,
        LOADING | STALE,
        NO_KEYS,
        command_docs,
        "7.0.0",
        "Returns documentary information about one, multiple or all commands."
    )
    .with_acl_categories(crate::acl::category::CONNECTION)
    .with_tips(super::redis_meta::NONDETERMINISTIC_ORDER),
    super::command!(
        "server",
        "list",
        -2,
        LOADING | STALE,
        NO_KEYS,
        command_list,
        "7.0.0",
        "Returns a list of command names."
    )
    .with_acl_categories(crate::acl::category::CONNECTION)
    .with_tips(super::redis_meta::NONDETERMINISTIC_ORDER),
    super::command!(
        "server",
        "getkeys",
        -3,
        LOADING | STALE,
        NO_KEYS,
        command_getkeys,
        "2.8.13",
        "Extracts the key names from an arbitrary command."
    )
    .with_acl_categories(crate::acl::category::CONNECTION),
    super::command!(
        "server",
        "getkeysandflags",
        -4,
        LOADING | STALE,
        NO_KEYS,
        command_getkeysandflags,
        "7.0.0",
        "Extracts the key names and access flags for an arbitrary command."
    )
    .with_acl_categories(crate::acl::category::CONNECTION),
    conn::help_subcommand("server", "5.0.0").with_acl_categories(crate::acl::category::CONNECTION),
];

fn time(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let us = clock::now_us();
    Ok(Reply::Array(vec![
        Reply::bulk_str(&(us / 1_000_000).to_string()),
        Reply::bulk_str(&(us % 1_000_000).to_string()),
    ]))
}

fn lastsave(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::Integer(last_save(ctx.shared) as i64))
}

/// Unix seconds of the last successful save (RDB file or log rewrite), or of startup
/// before the first.
fn last_save(shared: &Shared) -> u64 {
    let rewritten = shared
        .persistence
        .rewrites
        .last_success
        .load(Ordering::Relaxed);
    let saved = shared.persistence.rdb.last_success.load(Ordering::Relaxed);
    rewritten.max(saved).max(shared.started_ms / 1000)
}

/// BGREWRITEAOF needs the log.
fn require_log(ctx: &Ctx<'_>) -> Result<(), Reply> {
    if ctx.shared.config().appendonly {
        Ok(())
    } else {
        Err(error::LOG_OFF)
    }
}

fn start_rewrite(ctx: &Ctx<'_>) -> bool {
    ctx.shared
        .arc()
        .is_some_and(|shared| (shared.services.start_rewrite)(&shared))
}

fn bgrewriteaof(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    require_log(ctx)?;
    if start_rewrite(ctx) {
        Ok(Reply::simple(
            "Background append only file rewriting started",
        ))
    } else {
        Err(error::REWRITE_IN_PROGRESS)
    }
}

/// BGSAVE writes the RDB file in the background (and, with the log on, rewrites the
/// log too, as SAVE does).
fn bgsave(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() > 2 || (args.len() == 2 && !args::is(&args[1], "schedule")) {
        return Err(error::SYNTAX);
    }
    let Some(shared) = ctx.shared.arc() else {
        return Err(error::SAVE_IN_PROGRESS);
    };
    if !(shared.services.start_bgsave)(&shared) {
        return Err(error::SAVE_IN_PROGRESS);
    }
    if shared.config().appendonly {
        (shared.services.start_rewrite)(&shared);
    }
    Ok(Reply::simple("Background saving started"))
}

/// SAVE writes the RDB file now; with the log on it also rewrites the log, so the
/// log stays as compact as the file.
fn save(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    (ctx.shared.services.save_rdb)(ctx.shared).map_err(error::failed)?;
    if ctx.shared.config().appendonly {
        let status = &ctx.shared.persistence.rewrites;
        if status.in_progress.swap(true, Ordering::AcqRel) {
            return Err(error::SAVE_IN_PROGRESS);
        }
        (ctx.shared.services.rewrite_now)(ctx.shared).map_err(error::failed)?;
    }
    Ok(Reply::OK)
}

fn shutdown(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    for arg in &args[1..] {
        let known = ["nosave", "save", "now", "force", "abort"]
            .iter()
            .any(|w| args::is(arg, w));
        if !known {
            return Err(error::SYNTAX);
        }
    }
    if args[1..].iter().any(|a| args::is(a, "abort")) {
        return Err(error::NO_SHUTDOWN_IN_PROGRESS);
    }
    // During a busy script only SHUTDOWN NOSAVE goes ahead; it abandons the script.
    let nosave = args[1..].iter().any(|a| args::is(a, "nosave"));
    let running = &ctx.shared.scripts.running;
    if running.standing(ctx.client.id) == crate::state::scripts::Standing::Busy {
        if !nosave {
            return Err(error::SCRIPT_BUSY);
        }
        running.abandon();
    }
    let mode = if nosave {
        2
    } else if args[1..].iter().any(|a| args::is(a, "save")) {
        1
    } else {
        0
    };
    ctx.shared
        .persistence
        .rdb
        .shutdown_mode
        .store(mode, Ordering::Release);
    crate::log::warning("User requested shutdown...");
    ctx.shared.request_shutdown();
    ctx.client.close_after_reply = true;
    // Redis closes the connection without a reply when the shutdown succeeds.
    Ok(Reply::NoReply)
}

// ---------------------------------------------------------------------------- INFO

/// Sections INFO prints with no argument or `default`.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Sections only printed when asked for by name, `all` or `everything`.
const EXTRA_SECTIONS: &[&str] = &["commandstats", "latencystats"];

fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut wanted: Vec<&str> = Vec::new();
    let mut add = |s: &'static str| {
        if !wanted.contains(&s) {
            wanted.push(s);
        }
    };
    if args.len() == 1 {
        DEFAULT_SECTIONS.iter().for_each(|s| add(s));
    }
    for arg in &args[1..] {
        let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match name.as_str() {
            "default" => DEFAULT_SECTIONS.iter().for_each(|s| add(s)),
            "all" | "everything" => DEFAULT_SECTIONS
                .iter()
                .chain(EXTRA_SECTIONS)
                .for_each(|s| add(s)),
            other => {
                if let Some(s) = DEFAULT_SECTIONS
                    .iter()
                    .chain(EXTRA_SECTIONS)
                    .find(|s| **s == other)
                {
                    add(s);
                }
            }
        }
    }
    let mut out = String::new();
    for section in wanted {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        render_section(ctx, section, &mut out);
    }
    Ok(Reply::Verbatim(Bytes::from(out)))
}

fn render_section(ctx: &Ctx<'_>, section: &str, out: &mut String) {
    let shared = ctx.shared;
    let mut title = section.to_string();
    title[..1].make_ascii_uppercase();
    if section == "cpu" {
        title = "CPU".into();
    }
    let _ = write!(out, "# {title}\r\n");
    let mut field = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(out, "{k}:{v}\r\n");
    };
    match section {
        "server" => server_section(shared, &mut field),
        "clients" => {
            let config = shared.config();
            field("connected_clients", &shared.clients.len());
            field("cluster_connections", &0);
            field("maxclients", &config.maxclients);
            let (mut input, mut timed) = (0, 0);
            shared.clients.for_each(|c| {
                input = input.max(c.input_buffer.load(Ordering::Relaxed));
                timed += usize::from(c.blocked_with_timeout.load(Ordering::Relaxed));
            });
            field("client_recent_max_input_buffer", &input);
            field(
                "client_recent_max_output_buffer",
                &shared.stats.recent_max_output.get(),
            );
            let waiting = shared.repl.waiting.load(Ordering::Relaxed) as usize;
            field(
                "blocked_clients",
                &(shared.blocking.blocked_clients() + waiting),
            );
            field("tracking_clients", &shared.tracking.clients());
            field("clients_in_timeout_table", &timed);
            let (keys, on_nokey) = shared.blocking.blocking_keys();
            field("total_blocking_keys", &keys);
            field("total_blocking_keys_on_nokey", &on_nokey);
        }
        "memory" => memory_section(shared, &mut field),
        "persistence" => persistence_section(shared, &mut field),
        "stats" => stats_section(shared, &mut field),
        "replication" => super::repl::info_section(shared, &mut field),
        "cpu" => {
            let (user, sys) = cpu_seconds();
            field("used_cpu_sys", &format!("{sys:.6}"));
            field("used_cpu_user", &format!("{user:.6}"));
            field("used_cpu_sys_children", &"0.000000");
            field("used_cpu_user_children", &"0.000000");
        }
        "cluster" => field("cluster_enabled", &0),
        "modules" => {}
        "latencystats" => super::diagnose::info_latencystats(shared, out),
        "errorstats" => {
            for (code, count) in shared.stats.errors_by_code() {
                field(&format!("errorstat_{code}"), &format!("count={count}"));
            }
        }
        "commandstats" => {
            let table = super::table();
            for id in table.all() {
                let s = &shared.command_stats[id as usize];
                let calls = s.calls.load(Ordering::Relaxed);
                let rejected = s.rejected_calls.load(Ordering::Relaxed);
                let failed = s.failed_calls.load(Ordering::Relaxed);
                if calls + rejected + failed == 0 {
                    continue;
                }
                let usec = s.usec.load(Ordering::Relaxed);
                let per_call = if calls > 0 {
                    usec as f64 / calls as f64
                } else {
                    0.0
                };
                field(
                    &format!("cmdstat_{}", table.full_name(id)),
                    &format!(
                        "calls={calls},usec={usec},usec_per_call={per_call:.2},\
                         rejected_calls={rejected},failed_calls={failed}"
                    ),
                );
            }
        }
        "keyspace" => {
            for n in 0..shared.keyspace.databases() {
                let db = shared.keyspace.db(n);
                let keys = db.len();
                if keys > 0 {
                    field(
                        &format!("db{n}"),
                        &format!(
                            "keys={keys},expires={},avg_ttl={}",
                            db.expires_count(),
                            db.avg_ttl()
                        ),
                    );
                }
            }
        }
        _ => {}
    }
}

type Field<'a> = dyn FnMut(&str, &dyn std::fmt::Display) + 'a;

fn server_section(shared: &Shared, field: &mut Field<'_>) {
    let config = shared.config();
    let uptime = shared.started.elapsed().as_secs();
    field("redis_version", &VERSION_COMPAT);
    field("roost_version", &VERSION);
    field("redis_git_sha1", &"00000000");
    field("redis_git_dirty", &0);
    field("redis_build_id", &"0");
    field("redis_mode", &"standalone");
    field(
        "os",
        &format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    );
    field("arch_bits", &(usize::BITS));
    field("monotonic_clock", &"POSIX clock_gettime");
    field("multiplexing_api", &"epoll");
    field("atomicvar_api", &"c11-builtin");
    // What Redis prints when its compiler is not GCC.
    field("gcc_version", &"0.0.0");
    field("process_id", &std::process::id());
    field("process_supervised", &"no");
    field("run_id", &shared.run_id);
    field("tcp_port", &shared.listen_addr().port());
    field("server_time_usec", &clock::now_us());
    field("uptime_in_seconds", &uptime);
    field("uptime_in_days", &(uptime / 86400));
    field("hz", &shared.hz.load(Ordering::Relaxed));
    field("configured_hz", &config.hz);
    field("lru_clock", &((clock::now_ms() / 1000) & 0xFF_FFFF));
    field(
        "executable",
        &std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    field(
        "config_file",
        &config
            .config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    field("io_threads_active", &0);
    // Redis 7.2 numbers its listeners by connection type: TCP, Unix socket, TLS.
    let binds: String = config.bind.iter().map(|b| format!(",bind={b}")).collect();
    if config.port != 0 {
        let port = shared.listen_addr().port();
        field("listener0", &format!("name=tcp{binds},port={port}"));
    }
    if let Some(path) = &config.unixsocket {
        field("listener1", &format!("name=unix,bind={path}"));
    }
    if config.tls_port != 0 {
        field(
            "listener2",
            &format!("name=tls{binds},port={}", config.tls_port),
        );
    }
}

fn human_bytes(n: usize) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{n}B")
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    }
}

/// Redis's INFO memory fields in its order, on Roost's figures (`state::memory::Report`).
/// The Lua states allocate through the counted allocator, so unlike Redis's their
/// memory is inside `used_memory` too; Roost has no functions and no defragmenter.
fn memory_section(shared: &Shared, field: &mut Field<'_>) {
    let r = shared.memory_report();
    let config = shared.config();
    let percent = |x: f32| format!("{x:.2}%");
    let (overhead, system) = (r.overhead(), alloc::system_memory());
    field("used_memory", &r.used);
    field("used_memory_human", &human_bytes(r.used));
    field("used_memory_rss", &r.rss);
    field("used_memory_rss_human", &human_bytes(r.rss));
    field("used_memory_peak", &r.peak);
    field("used_memory_peak_human", &human_bytes(r.peak));
    field("used_memory_peak_perc", &percent(r.peak_percentage()));
    field("used_memory_overhead", &overhead);
    field("used_memory_startup", &r.startup);
    field("used_memory_dataset", &r.dataset());
    field("used_memory_dataset_perc", &percent(r.dataset_percentage()));
    field("allocator_allocated", &r.allocator_allocated());
    field("allocator_active", &r.allocator_active());
    field("allocator_resident", &r.allocator_active());
    field("total_system_memory", &system);
    field("total_system_memory_human", &human_bytes(system));
    let lua = super::scripting::lua_memory();
    field("used_memory_lua", &lua);
    field("used_memory_vm_eval", &lua);
    field("used_memory_lua_human", &human_bytes(lua));
    field("used_memory_scripts_eval", &r.scripts);
    field("number_of_cached_scripts", &r.cached_scripts);
    let (libraries, functions) = shared.functions.counts();
    field("number_of_functions", &functions);
    field("number_of_libraries", &libraries);
    field("used_memory_vm_functions", &0);
    field("used_memory_vm_total", &lua);
    field("used_memory_vm_total_human", &human_bytes(lua));
    field("used_memory_functions", &0);
    field("used_memory_scripts", &r.scripts);
    field("used_memory_scripts_human", &human_bytes(r.scripts));
    field("maxmemory", &config.maxmemory);
    field("maxmemory_human", &human_bytes(config.maxmemory as usize));
    field("maxmemory_policy", &config.maxmemory_policy);
    let ratio = |x: f32| format!("{x:.2}");
    field("allocator_frag_ratio", &ratio(r.fragmentation()));
    field("allocator_frag_bytes", &r.fragmentation_bytes());
    field("allocator_rss_ratio", &ratio(1.0));
    field("allocator_rss_bytes", &0);
    field("rss_overhead_ratio", &ratio(1.0));
    field("rss_overhead_bytes", &0);
    field("mem_fragmentation_ratio", &ratio(r.fragmentation()));
    field("mem_fragmentation_bytes", &r.fragmentation_bytes());
    field("mem_not_counted_for_evict", &shared.not_counted_for_evict());
    field("mem_replication_backlog", &r.backlog);
    field("mem_total_replication_buffers", &(r.backlog + r.replicas));
    field("mem_clients_slaves", &r.replicas);
    field("mem_clients_normal", &r.clients);
    field("mem_cluster_links", &0);
    field("mem_aof_buffer", &r.log_buffer);
    field("mem_allocator", &alloc::NAME);
    field("active_defrag_running", &0);
    field("lazyfree_pending_objects", &0);
    field("lazyfreed_objects", &0);
}

fn persistence_section(shared: &Shared, field: &mut Field<'_>) {
    let (aof_enabled, dir) = {
        let config = shared.config();
        (config.appendonly, config.dir.clone())
    };
    let loading = shared.is_loading();
    field("loading", &(loading as u8));
    field("async_loading", &0);
    // Roost saves and rewrites on a thread, not in a forked child: nothing is copied
    // on write.
    for name in [
        "current_cow_peak",
        "current_cow_size",
        "current_cow_size_age",
    ] {
        field(name, &0);
    }
    field("current_fork_perc", &"0.00");
    field("current_save_keys_processed", &0);
    field("current_save_keys_total", &0);
    let rdb = &shared.persistence.rdb;
    let saving = rdb.in_progress.load(Ordering::Relaxed);
    let changes = rdb
        .changes
        .load(Ordering::Relaxed)
        .saturating_sub(rdb.saved_changes.load(Ordering::Relaxed));
    field("rdb_changes_since_last_save", &changes);
    field("rdb_bgsave_in_progress", &(saving as u8));
    let rewrites = &shared.persistence.rewrites;
    let in_progress = rewrites.in_progress.load(Ordering::Relaxed);
    let status = if rewrites.last_failed.load(Ordering::Relaxed) {
        "err"
    } else {
        "ok"
    };
    field("rdb_last_save_time", &last_save(shared));
    let rdb_status = if rdb.last_failed.load(Ordering::Relaxed) {
        "err"
    } else {
        "ok"
    };
    field("rdb_last_bgsave_status", &rdb_status);
    field(
        "rdb_last_bgsave_time_sec",
        &rdb.last_seconds.load(Ordering::Relaxed),
    );
    let current = if saving {
        (clock::now_ms().saturating_sub(rdb.started_ms.load(Ordering::Relaxed)) / 1000) as i64
    } else {
        -1
    };
    field("rdb_current_bgsave_time_sec", &current);
    field("rdb_saves", &rdb.saves.load(Ordering::Relaxed));
    field("rdb_last_cow_size", &0);
    field(
        "rdb_last_load_keys_expired",
        &rdb.expired_at_load.load(Ordering::Relaxed),
    );
    field(
        "rdb_last_load_keys_loaded",
        &rdb.loaded_keys.load(Ordering::Relaxed),
    );
    field("aof_enabled", &(aof_enabled as u8));
    field("aof_rewrite_in_progress", &(in_progress as u8));
    field("aof_rewrite_scheduled", &0);
    field(
        "aof_last_rewrite_time_sec",
        &rewrites.last_seconds.load(Ordering::Relaxed),
    );
    let rewrite_seconds = match rewrites.started_ms.load(Ordering::Relaxed) {
        _ if !in_progress => -1,
        0 => 0,
        started => (clock::now_ms().saturating_sub(started) / 1000) as i64,
    };
    field("aof_current_rewrite_time_sec", &rewrite_seconds);
    field("aof_last_bgrewrite_status", &status);
    field("aof_rewrites", &rewrites.count.load(Ordering::Relaxed));
    field(
        "aof_rewrites_consecutive_failures",
        &rewrites.consecutive_failures.load(Ordering::Relaxed),
    );
    let write_ok = shared.persistence.write_error().is_none();
    field(
        "aof_last_write_status",
        &if write_ok { "ok" } else { "err" },
    );
    field("aof_last_cow_size", &0);
    field("module_fork_in_progress", &0);
    field("module_fork_last_cow_size", &0);
    if aof_enabled {
        let (base, incr) = crate::aof::sizes(&dir);
        field("aof_current_size", &(base + incr));
        field("aof_base_size", &base);
        field("aof_pending_rewrite", &0);
        field("aof_buffer_length", &0);
        field("aof_pending_bio_fsync", &0);
        field("aof_delayed_fsync", &0);
    }
    if loading {
        let state = *shared.loading_progress.locked();
        let p = state.progress;
        let elapsed = clock::now_ms().saturating_sub(state.start_ms) as f64 / 1000.0;
        let fraction = if p.total_bytes > 0 {
            p.loaded_bytes as f64 / p.total_bytes as f64
        } else {
            0.0
        };
        let eta = if fraction > 0.0 {
            (elapsed / fraction - elapsed).max(0.0) as u64
        } else {
            1
        };
        field("loading_start_time", &(state.start_ms / 1000));
        field("loading_total_bytes", &p.total_bytes);
        field("loading_rdb_used_mem", &0);
        field("loading_loaded_bytes", &p.loaded_bytes);
        field("loading_loaded_perc", &format!("{:.2}", fraction * 100.0));
        field("loading_eta_seconds", &eta);
    }
}

fn stats_section(shared: &Shared, field: &mut Field<'_>) {
    let s = &shared.stats;
    let ks = &shared.keyspace.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    field(
        "total_connections_received",
        &load(&s.total_connections_received),
    );
    field(
        "total_commands_processed",
        &load(&s.total_commands_processed),
    );
    field("instantaneous_ops_per_sec", &s.rate(Rate::Commands));
    field("total_net_input_bytes", &load(&s.net_input_bytes));
    field("total_net_output_bytes", &load(&s.net_output_bytes));
    field("total_net_repl_input_bytes", &load(&s.net_repl_input_bytes));
    field(
        "total_net_repl_output_bytes",
        &load(&s.net_repl_output_bytes),
    );
    let kbps = |rate: Rate| format!("{:.2}", s.rate(rate) as f64 / 1024.0);
    field("instantaneous_input_kbps", &kbps(Rate::NetInput));
    field("instantaneous_output_kbps", &kbps(Rate::NetOutput));
    field("instantaneous_input_repl_kbps", &kbps(Rate::ReplInput));
    field("instantaneous_output_repl_kbps", &kbps(Rate::ReplOutput));
    field("rejected_connections", &load(&s.rejected_connections));
    let repl = &shared.repl;
    field("sync_full", &load(&repl.sync_full));
    field("sync_partial_ok", &load(&repl.sync_partial_ok));
    field("sync_partial_err", &load(&repl.sync_partial_err));
    field("expired_keys", &load(&ks.expired_keys));
    field(
        "expired_stale_perc",
        &format!("{:.2}", ks.expired_stale_percent()),
    );
    field(
        "expired_time_cap_reached_count",
        &load(&ks.expire_time_cap_reached),
    );
    field(
        "expire_cycle_cpu_milliseconds",
        &(load(&ks.expire_cycle_us) / 1000),
    );
    field("evicted_keys", &load(&ks.evicted_keys));
    // Roost has no `maxmemory-clients`: it never evicts a client.
    field("evicted_clients", &0);
    let (exceeded_total, exceeded_now) = shared.memory.exceeded_times_ms();
    field("total_eviction_exceeded_time", &exceeded_total);
    field("current_eviction_exceeded_time", &exceeded_now);
    field("keyspace_hits", &load(&ks.keyspace_hits));
    field("keyspace_misses", &load(&ks.keyspace_misses));
    field(
        "pubsub_channels",
        &shared.pubsub.active_channels(None).len(),
    );
    field("pubsub_patterns", &shared.pubsub.pattern_count());
    field(
        "pubsubshard_channels",
        &shared.pubsub.active_shard_channels(None).len(),
    );
    // Counts of what Roost does not do, as Redis shows them when it has not: fork,
    // track a writable replica's TTLs apart, defragment.
    field("latest_fork_usec", &0);
    field("total_forks", &0);
    field("migrate_cached_sockets", &shared.migrate_sockets.len());
    for name in [
        "slave_expires_tracked_keys",
        "active_defrag_hits",
        "active_defrag_misses",
        "active_defrag_key_hits",
        "active_defrag_key_misses",
        "total_active_defrag_time",
        "current_active_defrag_time",
    ] {
        field(name, &0);
    }
    let (tracked_keys, tracked_items, prefixes) = shared.tracking.totals();
    field("tracking_total_keys", &tracked_keys);
    field("tracking_total_items", &tracked_items);
    field("tracking_total_prefixes", &prefixes);
    field("unexpected_error_replies", &0);
    field("total_error_replies", &load(&s.total_error_replies));
    field("dump_payload_sanitizations", &0);
    field("total_reads_processed", &load(&s.reads_processed));
    field("total_writes_processed", &load(&s.writes_processed));
    field("io_threaded_reads_processed", &0);
    field("io_threaded_writes_processed", &0);
    // Left out: Redis 7.2's `reply_buffer_*` and `eventloop_*` count the resizing of
    // its per-client reply buffer and the cycles of its one event loop, which Roost
    // does not have; no figure of Roost's would mean the same.
    let denied = &shared.acl.denied;
    field("acl_access_denied_auth", &load(&denied.auth));
    field("acl_access_denied_cmd", &load(&denied.command));
    field("acl_access_denied_key", &load(&denied.key));
    field("acl_access_denied_channel", &load(&denied.channel));
}

/// User and system CPU seconds of this process, from /proc/self/stat.
fn cpu_seconds() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the parenthesised command name; utime and stime are 14th and 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

// ------------------------------------------------------------------------- COMMAND

/// The top-level commands this server's clients can call: a command renamed away with
/// `rename-command X ""` is gone; a renamed one is listed under its own name, as Redis
/// lists it.
fn enabled_commands(shared: &crate::state::Shared) -> impl Iterator<Item = CommandId> + '_ {
    let names = &shared.command_names;
    super::table()
        .top_level()
        .filter(move |&id| names.is_enabled(id))
}

fn command(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::Array(
        enabled_commands(ctx.shared).map(command_entry).collect(),
    ))
}

fn command_count(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::Integer(enabled_commands(ctx.shared).count() as i64))
}

fn command_info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let table = super::table();
    if args.len() == 2 {
        return Ok(Reply::Array(
            enabled_commands(ctx.shared).map(command_entry).collect(),
        ));
    }
    let names = &ctx.shared.command_names;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|name| match table.lookup_named(names, name) {
                Some(id) => command_entry(id),
                None => Reply::Null,
            })
            .collect(),
    ))
}

/// The flag words COMMAND INFO reports.
fn flag_words(spec: &Spec) -> Vec<Reply> {
    const WORDS: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (NO_AUTH, "no_auth"),
        (FAST, "fast"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (ALLOW_BUSY, "allow_busy"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
    ];
    WORDS
        .iter()
        .filter(|(flag, _)| spec.has(*flag))
        .map(|(_, word)| Reply::simple(word))
        .collect()
}

/// ACL categories as COMMAND INFO lists them (`@read`, ...).
fn acl_categories(spec: &Spec) -> Vec<Reply> {
    crate::acl::category::names(super::acl_categories(spec))
        .map(|name| Reply::Simple(format!("@{name}").into()))
        .collect()
}

fn command_entry(id: CommandId) -> Reply {
    let table = super::table();
    let spec = table.spec(id);
    let subcommands = spec
        .subcommands
        .iter()
        .filter_map(|sub| table.lookup(format!("{}|{}", spec.name, sub.name).as_bytes()))
        .map(command_entry)
        .collect();
    let key_specs = match spec.key_specs {
        [] if spec.keys.first > 0 => {
            let k = spec.keys;
            vec![key_spec_reply(&super::redis_meta::KeySpecInfo {
                notes: None,
                flags: &[],
                index: k.first as i64,
                lastkey: if k.last < 0 {
                    k.last as i64
                } else {
                    (k.last - k.first) as i64
                },
                keystep: k.step as i64,
                limit: 0,
                keynum: None,
                unknown: false,
                keyword: None,
            })]
        }
        specs => specs.iter().map(key_spec_reply).collect(),
    };
    let tips = spec.tips;
    let (first, last, step) = legacy_range(spec);
    // As Redis 7.0 does in RESP3: key specs are a set, and so is an empty subcommand list.
    let subcommands = if spec.subcommands.is_empty() {
        Reply::Set(Vec::new())
    } else {
        Reply::Array(subcommands)
    };
    Reply::Array(vec![
        Reply::bulk_str(table.full_name(id)),
        Reply::Integer(spec.arity as i64),
        Reply::Set(flag_words(spec)),
        Reply::Integer(first as i64),
        Reply::Integer(last as i64),
        Reply::Integer(step as i64),
        Reply::Set(acl_categories(spec)),
        Reply::Set(tips.iter().map(|&tip| Reply::bulk_str(tip)).collect()),
        Reply::Set(key_specs),
        subcommands,
    ])
}

/// COMMAND INFO's first key, last key and step. Redis derives them from the key specs,
/// `not_key` ones included: the shard channels of SPUBLISH and SSUBSCRIBE show there,
/// though nothing else treats them as keys (their `keys` are `NO_KEYS`).
fn legacy_range(spec: &Spec) -> (i32, i32, i32) {
    let k = spec.keys;
    match spec.key_specs {
        [only] if k.first == 0 && only.flags.contains(&"not_key") => {
            let index = only.index as i32;
            let last = if only.lastkey < 0 {
                only.lastkey as i32
            } else {
                index + only.lastkey as i32
            };
            (index, last, only.keystep as i32)
        }
        _ => (k.first, k.last, k.step),
    }
}

/// One key specification as COMMAND INFO prints it: a map of its notes (if any), flags,
/// begin_search (an index) and find_keys (a range, or keys counted by an argument).
fn key_spec_reply(k: &super::redis_meta::KeySpecInfo) -> Reply {
    let bulk = Reply::bulk_str;
    let mut fields = Vec::new();
    if let Some(notes) = k.notes {
        fields.push((bulk("notes"), bulk(notes)));
    }
    fields.push((
        bulk("flags"),
        Reply::Set(k.flags.iter().map(|&f| Reply::simple(f)).collect()),
    ));
    if k.unknown {
        for field in ["begin_search", "find_keys"] {
            fields.push((
                bulk(field),
                Reply::Map(vec![
                    (bulk("type"), bulk("unknown")),
                    (bulk("spec"), Reply::Map(Vec::new())),
                ]),
            ));
        }
        return Reply::Map(fields);
    }
    let begin_search = match k.keyword {
        Some((keyword, startfrom)) => Reply::Map(vec![
            (bulk("type"), bulk("keyword")),
            (
                bulk("spec"),
                Reply::Map(vec![
                    (bulk("keyword"), bulk(keyword)),
                    (bulk("startfrom"), Reply::Integer(startfrom)),
                ]),
            ),
        ]),
        None => Reply::Map(vec![
            (bulk("type"), bulk("index")),
            (
                bulk("spec"),
                Reply::Map(vec![(bulk("index"), Reply::Integer(k.index))]),
            ),
        ]),
    };
    fields.push((bulk("begin_search"), begin_search));
    let find_keys = match &k.keynum {
        Some(n) => Reply::Map(vec![
            (bulk("type"), bulk("keynum")),
            (
                bulk("spec"),
                Reply::Map(vec![
                    (bulk("keynumidx"), Reply::Integer(n.keynumidx)),
                    (bulk("firstkey"), Reply::Integer(n.firstkey)),
                    (bulk("keystep"), Reply::Integer(n.keystep)),
                ]),
            ),
        ]),
        None => Reply::Map(vec![
            (bulk("type"), bulk("range")),
            (
                bulk("spec"),
                Reply::Map(vec![
                    (bulk("lastkey"), Reply::Integer(k.lastkey)),
                    (bulk("keystep"), Reply::Integer(k.keystep)),
                    (bulk("limit"), Reply::Integer(k.limit)),
                ]),
            ),
        ]),
    };
    fields.push((bulk("find_keys"), find_keys));
    Reply::Map(fields)
}

fn command_docs(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let table = super::table();
    let ids: Vec<CommandId> = if args.len() == 2 {
        enabled_commands(ctx.shared).collect()
    } else {
        let names = &ctx.shared.command_names;
        args[2..]
            .iter()
            .filter_map(|name| table.lookup_named(names, name))
            .collect()
    };
    Ok(Reply::Map(
        ids.into_iter()
            .map(|id| (Reply::bulk_str(table.full_name(id)), docs_entry(id)))
            .collect(),
    ))
}

fn docs_entry(id: CommandId) -> Reply {
    let table = super::table();
    let spec = table.spec(id);
    let mut fields = vec![
        (Reply::bulk_str("summary"), Reply::bulk_str(spec.summary)),
        (Reply::bulk_str("since"), Reply::bulk_str(spec.since)),
        (Reply::bulk_str("group"), Reply::bulk_str(spec.group)),
    ];
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .filter_map(|sub| table.lookup(format!("{}|{}", spec.name, sub.name).as_bytes()))
            .map(|sub| (Reply::bulk_str(table.full_name(sub)), docs_entry(sub)))
            .collect();
        fields.push((Reply::bulk_str("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(fields)
}

fn command_list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let table = super::table();
    let filter: Option<(String, Bytes)> = match args.len() {
        2 => None,
        5 if args::is(&args[2], "filterby") => Some((
            String::from_utf8_lossy(&args[3]).to_ascii_lowercase(),
            args[4].clone(),
        )),
        _ => return Err(error::SYNTAX),
    };
    // Each command, then its subcommands by their full names (`client|list`), as
    // Redis 7 lists them; a filter applies to each on its own.
    let mut names = Vec::new();
    for id in enabled_commands(ctx.shared) {
        let spec = table.spec(id);
        let subcommands = spec
            .subcommands
            .iter()
            .filter_map(|sub| table.lookup(format!("{}|{}", spec.name, sub.name).as_bytes()));
        for id in std::iter::once(id).chain(subcommands) {
            let keep = match &filter {
                None => true,
                Some((kind, value)) => match kind.as_str() {
                    "module" => false,
                    "pattern" => crate::glob::matches(value, table.full_name(id).as_bytes(), true),
                    "aclcat" => {
                        let wanted =
                            format!("@{}", String::from_utf8_lossy(value).to_ascii_lowercase());
                        acl_categories(table.spec(id))
                            .iter()
                            .any(|c| matches!(c, Reply::Simple(s) if *s == wanted))
                    }
                    _ => return Err(error::SYNTAX),
                },
            };
            if keep {
                names.push(Reply::bulk_str(table.full_name(id)));
            }
        }
    }
    Ok(Reply::Array(names))
}

fn command_getkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (target, positions, _) = keys_of_request(ctx, args)?;
    Ok(Reply::Array(
        positions
            .into_iter()
            .map(|i| Reply::Bulk(target[i].clone()))
            .collect(),
    ))
}

/// COMMAND GETKEYSANDFLAGS: each key with the flags of the key specification that
/// covers its position.
fn command_getkeysandflags(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (target, positions, id) = keys_of_request(ctx, args)?;
    let specs = super::table().spec(id).key_specs;
    let argc = target.len() as i64;
    let covering = |pos: usize| {
        let pos = pos as i64;
        specs
            .iter()
            // An incomplete specification's keys come from parsing the request
            // (MIGRATE's KEYS), with the command's own flags: the first spec's.
            .filter(|s| !s.flags.contains(&"incomplete"))
            .find(|s| {
                let last = if s.lastkey < 0 {
                    argc + s.lastkey
                } else {
                    s.index + s.lastkey
                };
                pos >= s.index && pos <= last && (pos - s.index) % s.keystep.max(1) == 0
            })
            .or(specs.first())
    };
    Ok(Reply::Array(
        positions
            .into_iter()
            .map(|i| {
                let flags = covering(i).map_or(&[][..], |s| s.flags);
                Reply::Array(vec![
                    Reply::Bulk(target[i].clone()),
                    Reply::Set(flags.iter().map(|f| Reply::simple(f)).collect()),
                ])
            })
            .collect(),
    ))
}

/// The request after COMMAND GETKEYS (or GETKEYSANDFLAGS), its key positions and its
/// command, or Redis's error.
fn keys_of_request<'a>(
    ctx: &Ctx<'_>,
    args: &'a [Bytes],
) -> Result<(&'a [Bytes], Vec<usize>, CommandId), Reply> {
    let table = super::table();
    let target = &args[2..];
    let id = match table.resolve_named(&ctx.shared.command_names, target) {
        Ok(id) => id,
        Err(super::Unresolved { id: Some(_), .. }) => return Err(error::GETKEYS_WRONG_ARITY),
        Err(_) => return Err(error::GETKEYS_UNKNOWN_COMMAND),
    };
    let spec = table.spec(id);
    let positions = match spec.find_keys {
        Some(find_keys) => match find_keys(target) {
            Some(positions) => positions,
            None if spec.has(NO_MANDATORY_KEYS) => Vec::new(),
            None => return Err(error::GETKEYS_INVALID_ARGUMENTS),
        },
        None => spec.key_positions(target.len()),
    };
    // (An empty array, not an error, for EVAL with no keys.)
    if positions.is_empty() && spec.has(NO_MANDATORY_KEYS) {
        return Ok((target, positions, id));
    }
    if positions.is_empty() {
        return Err(error::GETKEYS_NO_KEYS);
    }
    Ok((target, positions, id))
}
