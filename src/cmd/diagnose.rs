//! The operator's view of a running server: SLOWLOG, LATENCY and MONITOR, with Redis
//! 7.2's replies and texts, over what `state::diagnostics` keeps; and what every call
//! leaves there (`after_call`, run by `cmd::call`).

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;

use super::{args, command, conn, error, flags::*, CommandId, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;
use crate::state::diagnostics::{self, Series};

pub const COMMANDS: &[Spec] = &[
    command!(
        "server",
        "slowlog",
        -2,
        0,
        NO_KEYS,
        conn::container,
        "2.2.12",
        "A container for slow log commands."
    )
    .with_help(SLOWLOG_HELP)
    .with_subcommands(SLOWLOG_SUBCOMMANDS),
    command!(
        "server",
        "latency",
        -2,
        0,
        NO_KEYS,
        conn::container,
        "2.8.13",
        "A container for latency diagnostics commands."
    )
    .with_help(LATENCY_HELP)
    .with_subcommands(LATENCY_SUBCOMMANDS),
    command!(
        "server",
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        monitor,
        "1.0.0",
        "Listens for all requests received by the server in real-time."
    ),
];

const SLOWLOG_SUBCOMMANDS: &[Spec] = &[
    command!(
        "server",
        "get",
        -2,
        ADMIN | LOADING | STALE,
        NO_KEYS,
        slowlog_get,
        "2.2.12",
        "Returns the slow log's entries."
    )
    .with_tips(&["request_policy:all_nodes", "nondeterministic_output"]),
    command!(
        "server",
        "len",
        2,
        ADMIN | LOADING | STALE,
        NO_KEYS,
        slowlog_len,
        "2.2.12",
        "Returns the number of entries in the slow log."
    )
    .with_tips(&[
        "request_policy:all_nodes",
        "response_policy:agg_sum",
        "nondeterministic_output",
    ]),
    command!(
        "server",
        "reset",
        2,
        ADMIN | LOADING | STALE,
        NO_KEYS,
        slowlog_reset,
        "2.2.12",
        "Clears all entries from the slow log."
    )
    .with_tips(super::redis_meta::ALL_NODES_SUCCEED),
    conn::help_subcommand("server", "6.2.0"),
];

const SLOWLOG_HELP: &[&str] = &[
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
];

const LATENCY_TIPS: &[&str] = &[
    "nondeterministic_output",
    "request_policy:all_nodes",
    "response_policy:special",
];

const LATENCY_SUBCOMMANDS: &[Spec] = &[
    command!(
        "server",
        "doctor",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        latency_doctor,
        "2.8.13",
        "Returns a human-readable latency analysis report."
    )
    .with_tips(LATENCY_TIPS),
    command!(
        "server",
        "graph",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        latency_graph,
        "2.8.13",
        "Returns a latency graph for an event."
    )
    .with_tips(LATENCY_TIPS),
    command!(
        "server",
        "histogram",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        latency_histogram,
        "7.0.0",
        "Returns the cumulative distribution of latencies of a subset or all commands."
    )
    .with_tips(LATENCY_TIPS),
    command!(
        "server",
        "history",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        latency_history,
        "2.8.13",
        "Returns timestamp-latency samples for an event."
    )
    .with_tips(LATENCY_TIPS),
    command!(
        "server",
        "latest",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        latency_latest,
        "2.8.13",
        "Returns the latest latency samples for all events."
    )
    .with_tips(LATENCY_TIPS),
    command!(
        "server",
        "reset",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        latency_reset,
        "2.8.13",
        "Resets the latency data for one or more events."
    )
    .with_tips(super::redis_meta::ALL_NODES_SUCCEED),
    conn::help_subcommand("server", "2.8.13"),
];

const LATENCY_HELP: &[&str] = &[
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
];

// ---------------------------------------------------------------------------------------
// After each call
// ---------------------------------------------------------------------------------------

/// What a call leaves for the operator, as Redis's `call()` records it: its latency
/// histogram, a latency sample (`command` or `fast-command`), a slow log entry, and its
/// line for MONITOR clients. Each costs an atomic load or two when unused.
#[inline]
pub fn after_call(
    ctx: &mut Ctx<'_>,
    id: CommandId,
    spec: &Spec,
    args: &[Bytes],
    elapsed: Duration,
) {
    let diagnostics = &ctx.shared.diagnostics;
    diagnostics.track(id as usize, elapsed.as_nanos() as u64);
    // A command that blocked is accounted for when it is served (Redis logs it then).
    if ctx.client.blocked.is_some() {
        return;
    }
    let micros = elapsed.as_micros() as u64;
    if diagnostics.latency.enabled() {
        let event = if spec.has(FAST) {
            "fast-command"
        } else {
            "command"
        };
        diagnostics.latency.add_if_needed(event, micros / 1000);
    }
    if !spec.has(SKIP_SLOWLOG) && diagnostics.slowlog.wants(micros) {
        slowlog_push(ctx, spec, args, micros);
    }
    if !spec.has(SKIP_MONITOR) && !spec.has(ADMIN) && diagnostics.monitors.any() {
        feed_monitors(ctx, spec, args);
    }
}

/// The request with its secrets (AUTH's passwords) replaced by `(redacted)`.
fn redacted(spec: &Spec, args: &[Bytes]) -> Vec<Bytes> {
    let mut shown = args.to_vec();
    if let Some(secrets) = spec.secrets {
        for i in secrets(args) {
            if let Some(arg) = shown.get_mut(i) {
                *arg = Bytes::from_static(b"(redacted)");
            }
        }
    }
    shown
}

fn slowlog_push(ctx: &Ctx<'_>, spec: &Spec, args: &[Bytes], micros: u64) {
    let shown = diagnostics::truncate_args(&redacted(spec, args));
    // A script's commands run as Redis's script client, which has no address or name.
    let (addr, name) = if ctx.client.in_script {
        ("?:0".to_string(), Bytes::new())
    } else {
        let info = &ctx.client.info;
        (info.addr.to_string(), info.name().unwrap_or_default())
    };
    ctx.shared
        .diagnostics
        .slowlog
        .push(micros, shown, addr, name);
}

/// Sends the request to MONITOR clients as Redis formats it:
/// `1733060000.123456 [0 127.0.0.1:50000] "SET" "k" "v"`.
pub fn feed_monitors(ctx: &Ctx<'_>, spec: &Spec, args: &[Bytes]) {
    let now = crate::clock::now_us();
    let mut line = format!(
        "{}.{:06} [{} ",
        now / 1_000_000,
        now % 1_000_000,
        ctx.client.db
    );
    match &ctx.client.info.addr {
        _ if ctx.client.in_script => line.push_str("lua"),
        crate::session::PeerAddr::Unix(path) => {
            let _ = write!(line, "unix:{path}");
        }
        addr => {
            let _ = write!(line, "{addr}");
        }
    }
    line.push(']');
    for arg in redacted(spec, args) {
        line.push(' ');
        diagnostics::quote_into(&mut line, &arg);
    }
    ctx.shared.diagnostics.monitors.feed(&line);
}

// ---------------------------------------------------------------------------------------
// SLOWLOG
// ---------------------------------------------------------------------------------------

fn slowlog_get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() > 3 {
        return Err(error::subcommand_syntax(&args[1], "SLOWLOG"));
    }
    let count = match args.get(2) {
        None => Some(10),
        Some(arg) => match args::int(arg) {
            Ok(-1) => None,
            Ok(n) if n >= 0 => Some(n as usize),
            _ => return Err(error::SLOWLOG_COUNT),
        },
    };
    let entries = ctx.shared.diagnostics.slowlog.newest(count);
    Ok(Reply::Array(
        entries
            .into_iter()
            .map(|e| {
                Reply::Array(vec![
                    Reply::Integer(e.id as i64),
                    Reply::Integer(e.time as i64),
                    Reply::Integer(e.micros as i64),
                    Reply::Array(e.args.into_iter().map(Reply::Bulk).collect()),
                    Reply::bulk_str(&e.addr),
                    Reply::Bulk(e.name),
                ])
            })
            .collect(),
    ))
}

fn slowlog_len(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::Integer(ctx.shared.diagnostics.slowlog.len() as i64))
}

fn slowlog_reset(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    ctx.shared.diagnostics.slowlog.reset();
    Ok(Reply::OK)
}

// ---------------------------------------------------------------------------------------
// LATENCY
// ---------------------------------------------------------------------------------------

fn latency_latest(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let events = ctx.shared.diagnostics.latency.events();
    Ok(Reply::Array(
        events
            .into_iter()
            .filter_map(|(name, series)| {
                let last = series.samples.back()?;
                Some(Reply::Array(vec![
                    Reply::bulk_str(name),
                    Reply::Integer(last.time as i64),
                    Reply::Integer(last.millis as i64),
                    Reply::Integer(series.max as i64),
                ]))
            })
            .collect(),
    ))
}

fn latency_history(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let samples = ctx
        .shared
        .diagnostics
        .latency
        .series(&args[2])
        .map(|s| s.samples)
        .unwrap_or_default();
    Ok(Reply::Array(
        samples
            .into_iter()
            .map(|s| {
                Reply::Array(vec![
                    Reply::Integer(s.time as i64),
                    Reply::Integer(s.millis as i64),
                ])
            })
            .collect(),
    ))
}

fn latency_reset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let reset = ctx.shared.diagnostics.latency.reset(&args[2..]);
    Ok(Reply::Integer(reset as i64))
}

fn latency_graph(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let event = String::from_utf8_lossy(&args[2]).into_owned();
    let Some(series) = ctx.shared.diagnostics.latency.series(&args[2]) else {
        return Err(error::no_latency_samples(&event));
    };
    let now = crate::clock::now_ms() / 1000;
    Ok(Reply::Verbatim(Bytes::from(graph(&event, &series, now))))
}

/// Columns of LATENCY GRAPH, as Redis's `LATENCY_GRAPH_COLS`.
const GRAPH_COLUMNS: usize = 80;
/// Rows of the sparkline itself.
const GRAPH_ROWS: usize = 4;

/// LATENCY GRAPH's text: a header, then Redis's filled sparkline of the samples with
/// each one's age written downwards beneath it.
pub fn graph(event: &str, series: &Series, now: u64) -> String {
    let values: Vec<u64> = series.samples.iter().map(|s| s.millis).collect();
    let labels: Vec<String> = series
        .samples
        .iter()
        .map(|s| {
            let elapsed = now.saturating_sub(s.time);
            match elapsed {
                0..=59 => format!("{elapsed}s"),
                60..=3599 => format!("{}m", elapsed / 60),
                3600..=86399 => format!("{}h", elapsed / 3600),
                _ => format!("{}d", elapsed / 86400),
            }
        })
        .collect();
    let (low, high) = (
        values.iter().copied().min().unwrap_or(0),
        values.iter().copied().max().unwrap_or(0),
    );
    let mut out = format!(
        "{event} - high {high} ms, low {low} ms (all time high {} ms)\n",
        series.max
    );
    out.push_str(&"-".repeat(GRAPH_COLUMNS));
    out.push('\n');
    let mut start = 0;
    while start < values.len() {
        let len = (values.len() - start).min(GRAPH_COLUMNS);
        if start != 0 {
            out.push('\n');
        }
        sparkline(&mut out, &values, &labels, (low, high), start, len);
        start += GRAPH_COLUMNS;
    }
    out
}

/// Redis's `sparklineRenderRange` with `SPARKLINE_FILL`: four rows of `_o#` and `|`,
/// one blank row, then the labels written vertically.
fn sparkline(
    out: &mut String,
    values: &[u64],
    labels: &[String],
    (low, high): (u64, u64),
    offset: usize,
    len: usize,
) {
    const FILL: &[u8] = b"_o#";
    let steps = (FILL.len() * GRAPH_ROWS) as i64;
    let range = if high == low {
        1.0
    } else {
        (high - low) as f64
    };
    let mut row = 0;
    loop {
        let mut chars = vec![b' '; len];
        let mut more = false;
        for j in 0..len {
            let value = (values[offset + j] - low) as f64;
            let step =
                ((((value * steps as f64) as i64) as f64 / range) as i64).clamp(0, steps - 1);
            if row < GRAPH_ROWS {
                more = true;
                let index = step - ((GRAPH_ROWS - row - 1) * FILL.len()) as i64;
                if (0..FILL.len() as i64).contains(&index) {
                    chars[j] = FILL[index as usize];
                } else if index >= FILL.len() as i64 {
                    chars[j] = b'|';
                }
            } else if row == GRAPH_ROWS {
                // One blank row between the graph and the labels.
                more = true;
                break;
            } else {
                let label = labels[offset + j].as_bytes();
                let at = row - GRAPH_ROWS - 1;
                if at < label.len() {
                    more = true;
                    chars[j] = label[at];
                }
            }
        }
        if !more {
            break;
        }
        row += 1;
        out.push_str(&String::from_utf8_lossy(&chars));
        out.push('\n');
    }
}

fn latency_doctor(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let (threshold, slower_than, slowlog_len, hz, fsync_always) = {
        let c = ctx.shared.config();
        (
            c.latency_monitor_threshold,
            c.slowlog_log_slower_than,
            c.slowlog_max_len,
            c.hz,
            c.appendfsync == crate::config::AppendFsync::Always,
        )
    };
    let events = ctx.shared.diagnostics.latency.events();
    let now = crate::clock::now_ms() / 1000;
    let report = doctor_report(
        &events,
        Settings {
            threshold,
            slower_than,
            slowlog_len,
            hz,
            fsync_always,
        },
        now,
    );
    Ok(Reply::Verbatim(Bytes::from(report)))
}

/// The settings LATENCY DOCTOR's advice depends on.
pub struct Settings {
    pub threshold: u64,
    pub slower_than: i64,
    pub slowlog_len: u64,
    pub hz: u32,
    pub fsync_always: bool,
}

/// Redis's `createLatencyReport`, for the events Roost records.
pub fn doctor_report(events: &[(&'static str, Series)], s: Settings, now: u64) -> String {
    let mut report = String::new();
    if events.is_empty() && s.threshold == 0 {
        report.push_str(
            "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis \
             instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in \
             order to enable it. If we weren't in a deep space mission I'd suggest to take a \
             look at https://redis.io/topics/latency-monitor.\n",
        );
        return report;
    }
    let mut advice = Advice::default();
    let mut advices = 0;
    for (number, (event, series)) in events.iter().enumerate() {
        if number == 0 {
            report.push_str(
                "Dave, I have observed latency spikes in this Redis instance. You don't mind \
                 talking about it, do you Dave?\n\n",
            );
        }
        let samples = series.samples.len() as u64;
        let sum: u64 = series.samples.iter().map(|x| x.millis).sum();
        let avg = sum / samples.max(1);
        let oldest = series.samples.iter().map(|x| x.time).min().unwrap_or(now);
        let period = now.saturating_sub(oldest).max(1);
        let mad = series
            .samples
            .iter()
            .map(|x| (avg as i64 - x.millis as i64).unsigned_abs())
            .sum::<u64>()
            / samples.max(1);
        let _ = write!(
            report,
            "{}. {event}: {samples} latency spikes (average {avg}ms, mean deviation {mad}ms, \
             period {:.2} sec). Worst all time event {}ms.",
            number + 1,
            period as f64 / samples.max(1) as f64,
            series.max
        );
        match *event {
            "command" => {
                if s.slower_than < 0 || s.slowlog_len == 0 {
                    advice.slowlog_enabled = true;
                    advices += 1;
                } else if (s.slower_than / 1000) as u64 > s.threshold {
                    advice.slowlog_tuning = true;
                    advices += 1;
                }
                advice.slowlog_inspect = true;
                advice.large_objects = true;
                advices += 2;
            }
            "fast-command" => {
                advice.scheduler = true;
                advices += 1;
            }
            "aof-write" => {
                advice.local_disk = true;
                advices += 1;
            }
            "aof-fsync-always" => {
                advice.relax_fsync = true;
                advices += 1;
            }
            "expire-cycle" => {
                advice.hz = true;
                advice.large_objects = true;
                advices += 2;
            }
            "eviction-cycle" => {
                advice.mass_eviction = true;
                advices += 1;
            }
            _ => {}
        }
        report.push('\n');
    }
    if events.is_empty() && advices == 0 {
        report.push_str(
            "Dave, no latency spike was observed during the lifetime of this Redis instance, \
             not in the slightest bit. I honestly think you ought to sleep tonight.\n",
        );
        return report;
    }
    if advices == 0 {
        report.push_str(
            "\nWhile there are latency events logged, I'm not able to suggest any easy fix. \
             Please use the Redis community to get some help, providing this report in your \
             help request.\n",
        );
        return report;
    }
    report.push_str("\nI have a few advices for you:\n\n");
    if advice.slowlog_enabled {
        let _ = writeln!(
            report,
            "- There are latency issues with potentially slow commands you are using. Try to \
             enable the Slow Log Redis feature using the command 'CONFIG SET \
             slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log \
             slow commands execution for you.",
            s.threshold * 1000
        );
    }
    if advice.slowlog_tuning {
        let _ = writeln!(
            report,
            "- Your current Slow Log configuration only logs events that are slower than your \
             configured latency monitor threshold. Please use 'CONFIG SET \
             slowlog-log-slower-than {}'.",
            s.threshold * 1000
        );
    }
    if advice.slowlog_inspect {
        report.push_str(
            "- Check your Slow Log to understand what are the commands you are running which \
             are too slow to execute. Please check https://redis.io/commands/slowlog for more \
             information.\n",
        );
    }
    if advice.scheduler {
        report.push_str(
            "- The system is slow to execute Redis code paths not containing system calls. \
             This usually means the system does not provide Redis CPU time to run for long \
             periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / \
             VM just for Redis if you are running other software in the same system.\n  3) \
             Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli \
             --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) \
             Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, \
             if you are using Jemalloc. However this may create fragmentation problems.\n",
        );
    }
    if advice.relax_fsync && s.fsync_always {
        report.push_str(
            "- Your fsync policy is set to 'always'. It is very hard to get good performances \
             with such a setup, if possible try to relax the fsync policy to 'onesec'.\n",
        );
    }
    if advice.local_disk {
        report.push_str(
            "- It is strongly advised to use local disks for persistence, especially if you \
             are using AOF. Remote disks provided by platform-as-a-service providers are known \
             to be slow.\n",
        );
    }
    if advice.hz && s.hz < 100 {
        report.push_str(
            "- In order to make the Redis keys expiring process more incremental, try to set \
             the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n",
        );
    }
    if advice.large_objects {
        report.push_str(
            "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a \
             blocking operation. If you have very large objects that are often deleted, \
             expired, or evicted, try to fragment those objects into multiple smaller \
             objects.\n",
        );
    }
    if advice.mass_eviction {
        report.push_str(
            "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of \
             large objects via sets or sorted sets intersections, STORE option of SORT, Redis \
             Cluster large keys migrations (RESTORE command), may create sudden memory \
             pressure forcing the server to block trying to evict keys. \n",
        );
    }
    report
}

#[derive(Default)]
struct Advice {
    slowlog_enabled: bool,
    slowlog_tuning: bool,
    slowlog_inspect: bool,
    scheduler: bool,
    relax_fsync: bool,
    local_disk: bool,
    hz: bool,
    large_objects: bool,
    mass_eviction: bool,
}

fn latency_histogram(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let table = super::table();
    let histograms = &ctx.shared.diagnostics.histograms;
    let mut ids: Vec<CommandId> = Vec::new();
    if args.len() == 2 {
        ids.extend(table.all());
    } else {
        for name in &args[2..] {
            // By the table's own names; a container stands for its subcommands.
            let Some(id) = table.lookup(&name.to_ascii_lowercase()) else {
                continue;
            };
            ids.push(id);
            let spec = table.spec(id);
            for sub in spec.subcommands {
                let full = format!("{}|{}", spec.name, sub.name);
                ids.extend(table.lookup(full.as_bytes()));
            }
        }
    }
    let mut entries = Vec::new();
    for id in ids {
        let Some(histogram) = histograms[id as usize].get() else {
            continue;
        };
        if histogram.total() == 0 {
            continue;
        }
        let buckets = histogram
            .log_buckets()
            .into_iter()
            .map(|(usec, calls)| (Reply::Integer(usec as i64), Reply::Integer(calls as i64)))
            .collect();
        entries.push((
            Reply::bulk_str(table.full_name(id)),
            Reply::Map(vec![
                (
                    Reply::bulk_str("calls"),
                    Reply::Integer(histogram.total() as i64),
                ),
                (Reply::bulk_str("histogram_usec"), Reply::Map(buckets)),
            ]),
        ));
    }
    Ok(Reply::Map(entries))
}

/// INFO latencystats: `latency_percentiles_usec_<command>:p50=...,p99=...,p99.9=...`.
pub fn info_latencystats(shared: &crate::state::Shared, out: &mut String) {
    let table = super::table();
    let percentiles = shared.diagnostics.percentiles.lock().map_or_else(
        |poisoned| poisoned.into_inner().clone(),
        |guard| guard.clone(),
    );
    for id in table.all() {
        let Some(histogram) = shared.diagnostics.histograms[id as usize].get() else {
            continue;
        };
        if histogram.total() == 0 {
            continue;
        }
        let _ = write!(out, "latency_percentiles_usec_{}:", table.full_name(id));
        for (i, p) in percentiles.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let value = histogram.value_at_percentile(*p) as f64 / 1000.0;
            let _ = write!(out, "p{p}={value:.3}");
        }
        out.push_str("\r\n");
    }
}

// ---------------------------------------------------------------------------------------
// MONITOR
// ---------------------------------------------------------------------------------------

/// The client receives every command from now on (`feed_monitors`), through the outbox
/// its connection already drains for pub/sub messages.
/// As in Redis, not from a transaction (whose client expects one reply per command),
/// and a second MONITOR answers nothing.
fn monitor(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    if ctx.client.in_exec {
        return Err(error::MONITOR_DENY_BLOCKING);
    }
    let monitors = &ctx.shared.diagnostics.monitors;
    if monitors.is_monitor(ctx.client.id) {
        return Ok(Reply::NoReply);
    }
    monitors.add(super::pubsub::outbox(ctx.shared, ctx.client));
    Ok(Reply::OK)
}
