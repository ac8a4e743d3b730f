//! MEMORY: USAGE (what one key costs, `store::usage`), STATS and DOCTOR (where used
//! memory goes, `state::memory::Report`), PURGE and MALLOC-STATS (the allocator), with
//! Redis 7.2's replies and texts. Roost allocates with the system's malloc, so it
//! answers as a Redis built with libc does: no allocator statistics, and allocator
//! figures taken from used memory and the resident set.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{args, command, conn, error, flags::*, Ctx, KeySpec, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;
use crate::session::KIND_REPLICA;
use crate::state::memory::Report;
use crate::store::usage::DEFAULT_SAMPLES;

pub const COMMANDS: &[Spec] = &[command!(
    "server",
    "memory",
    -2,
    0,
    NO_KEYS,
    conn::container,
    "4.0.0",
    "A container for memory diagnostics commands."
)
.with_help(MEMORY_HELP)
.with_subcommands(MEMORY_SUBCOMMANDS)];

const KEY_AT_2: KeySpec = KeySpec {
    first: 2,
    last: 2,
    step: 1,
};

const MEMORY_SUBCOMMANDS: &[Spec] = &[
    command!(
        "server",
        "doctor",
        2,
        0,
        NO_KEYS,
        doctor,
        "4.0.0",
        "Outputs a memory problems report."
    )
    .with_tips(super::redis_meta::INFO),
    command!(
        "server",
        "malloc-stats",
        2,
        UNGATED,
        NO_KEYS,
        malloc_stats,
        "4.0.0",
        "Returns the allocator statistics."
    )
    .with_tips(super::redis_meta::INFO),
    command!(
        "server",
        "purge",
        2,
        UNGATED,
        NO_KEYS,
        purge,
        "4.0.0",
        "Asks the allocator to release memory."
    )
    .with_tips(super::redis_meta::ALL_SHARDS_SUCCEED),
    command!(
        "server",
        "stats",
        2,
        0,
        NO_KEYS,
        stats,
        "4.0.0",
        "Returns details about memory usage."
    )
    .with_tips(super::redis_meta::INFO),
    command!(
        "server",
        "usage",
        -3,
        READONLY,
        KEY_AT_2,
        usage,
        "4.0.0",
        "Estimates the memory usage of a key."
    )
    .with_key_specs(super::redis_meta::INSPECTS_SECOND),
    conn::help_subcommand("server", "4.0.0"),
];

const MEMORY_HELP: &[&str] = &[
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

fn usage(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut samples = DEFAULT_SAMPLES;
    let mut i = 3;
    while i < args.len() {
        if !args::is(&args[i], "samples") || i + 1 == args.len() {
            return Err(error::SYNTAX);
        }
        let n = args::int(&args[i + 1])?;
        if n < 0 {
            return Err(error::SYNTAX);
        }
        // 0 measures every element.
        samples = usize::try_from(n).unwrap_or(usize::MAX);
        i += 2;
    }
    Ok(match ctx.db().memory_usage(&args[2], samples) {
        Some(bytes) => Reply::Integer(bytes as i64),
        None => Reply::Null,
    })
}

fn stats(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let r = ctx.shared.memory_report();
    let bulk = Reply::bulk_str;
    let int = |name: &'static str, n: usize| (bulk(name), Reply::Integer(n as i64));
    let mut fields = vec![
        int("peak.allocated", r.peak),
        int("total.allocated", r.used),
        int("startup.allocated", r.startup),
        int("replication.backlog", r.backlog),
        int("clients.slaves", r.replicas),
        int("clients.normal", r.clients),
        int("cluster.links", 0),
        int("aof.buffer", r.log_buffer),
        int("lua.caches", r.scripts),
        int("functions.caches", 0),
    ];
    for &(n, _keys, tables) in &r.dbs {
        // The expiry time lives in each key's slot: there is no table of expiries, and
        // no slot-to-keys map outside cluster mode.
        fields.push((
            Reply::Bulk(Bytes::from(format!("db.{n}"))),
            Reply::Map(vec![
                int("overhead.hashtable.main", tables),
                int("overhead.hashtable.expires", 0),
                int("overhead.hashtable.slot-to-keys", 0),
            ]),
        ));
    }
    let keys = r.keys();
    let double = |name: &'static str, x: f32| (bulk(name), Reply::Double(x as f64));
    let signed = |name: &'static str, n: i64| (bulk(name), Reply::Integer(n));
    fields.extend([
        int("overhead.total", r.overhead()),
        int("keys.count", keys),
        int("keys.bytes-per-key", r.net().checked_div(keys).unwrap_or(0)),
        int("dataset.bytes", r.dataset()),
        double("dataset.percentage", r.dataset_percentage()),
        double("peak.percentage", r.peak_percentage()),
        int("allocator.allocated", r.allocator_allocated()),
        int("allocator.active", r.allocator_active()),
        int("allocator.resident", r.allocator_active()),
        double("allocator-fragmentation.ratio", r.fragmentation()),
        signed("allocator-fragmentation.bytes", r.fragmentation_bytes()),
        double("allocator-rss.ratio", 1.0),
        int("allocator-rss.bytes", 0),
        double("rss-overhead.ratio", 1.0),
        int("rss-overhead.bytes", 0),
        double("fragmentation", r.fragmentation()),
        signed("fragmentation.bytes", r.fragmentation_bytes()),
    ]);
    Ok(Reply::Map(fields))
}

fn doctor(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let r = ctx.shared.memory_report();
    let clients = ctx.shared.clients.snapshot();
    let replicas = clients
        .iter()
        .filter(|c| c.kind.load(Ordering::Relaxed) == KIND_REPLICA)
        .count();
    let normal = (clients.len() - replicas).max(1);
    Ok(Reply::Verbatim(Bytes::from(doctor_report(
        &r, normal, replicas,
    ))))
}

/// Redis's MEMORY DOCTOR report, its thresholds and texts, on Roost's figures.
fn doctor_report(r: &Report, normal_clients: usize, replicas: usize) -> String {
    const MB: usize = 1024 * 1024;
    if r.used < 5 * MB {
        return "Hi Sam, this instance is empty or is using very little memory, my issues \
                detector can't be used in these conditions. Please, leave for your mission \
                on Earth and fill it with some data. The new Sam and I will be back to our \
                programming as soon as I finished rebooting.\n"
            .into();
    }
    let fragmented = r.fragmentation() > 1.4 && r.fragmentation_bytes() > 10 << 20;
    let issues: Vec<String> = [
        (r.peak as f32 / r.used as f32 > 1.5).then(|| BIG_PEAK.to_string()),
        fragmented.then(|| HIGH_FRAGMENTATION.replace("%s", crate::alloc::NAME)),
        // The allocator's own figures are the process's (libc): its fragmentation is
        // the process's, and it has no RSS overhead of its own.
        (r.fragmentation() > 1.1 && r.fragmentation_bytes() > 10 << 20)
            .then(|| HIGH_ALLOCATOR_FRAGMENTATION.to_string()),
        (replicas > 0 && r.replicas > 10 * MB).then(|| BIG_REPLICA_BUFFERS.to_string()),
        (r.clients / normal_clients > 200 * 1024).then(|| BIG_CLIENT_BUFFERS.to_string()),
        (r.cached_scripts > 1000).then(|| MANY_SCRIPTS.to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account \
                for what occurs on this base.\n"
            .into();
    }
    let mut s =
        "Sam, I detected a few issues in this Redis instance memory implants:\n\n".to_string();
    for issue in issues {
        s.push_str(" * ");
        s.push_str(&issue);
        s.push_str("\n\n");
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

const BIG_PEAK: &str = "Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.";
const HIGH_FRAGMENTATION: &str = "High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"%s\".";
const HIGH_ALLOCATOR_FRAGMENTATION: &str = "High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.";
const BIG_REPLICA_BUFFERS: &str = "Big replica buffers: The replica output buffers in this instance are greater than 10MB for each replica (on average). This likely means that there is some replica instance that is struggling receiving data, either because it is too slow or because of networking issues. As a result, data piles on the master output buffers. Please try to identify what replica is not receiving data correctly and why. You can use the INFO output in order to check the replicas delays and the CLIENT LIST command to check the output buffers of each replica.";
const BIG_CLIENT_BUFFERS: &str = "Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.";
const MANY_SCRIPTS: &str = "Many scripts: There seem to be many cached scripts in this instance (more than 1000). This may be because scripts are generated and `EVAL`ed, instead of being parameterized (with KEYS and ARGV), `SCRIPT LOAD`ed and `EVALSHA`ed. Unless `SCRIPT FLUSH` is called periodically, the scripts' caches may end up consuming most of your memory.";

fn purge(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    crate::alloc::purge();
    Ok(Reply::OK)
}

fn malloc_stats(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::bulk_str(
        "Stats not supported for the current allocator",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(used: usize, peak: usize, rss: usize) -> Report {
        Report {
            used,
            peak,
            startup: 1 << 20,
            rss,
            backlog: 0,
            replicas: 0,
            clients: 0,
            log_buffer: 0,
            scripts: 0,
            cached_scripts: 0,
            dbs: vec![(0, 10, 1000)],
        }
    }

    #[test]
    fn the_doctor_speaks_as_redis() {
        const MB: usize = 1 << 20;
        assert!(
            doctor_report(&report(MB, MB, MB), 1, 0).starts_with("Hi Sam, this instance is empty")
        );
        assert!(doctor_report(&report(50 * MB, 50 * MB, 55 * MB), 1, 0)
            .starts_with("Hi Sam, I can't find any memory issue"));
        let peaked = doctor_report(&report(20 * MB, 50 * MB, 22 * MB), 1, 0);
        assert!(peaked.starts_with("Sam, I detected a few issues"));
        assert!(peaked.contains(" * Peak memory: In the past"));
        assert!(!peaked.contains("High total RSS"));
        let fragmented = doctor_report(&report(20 * MB, 20 * MB, 60 * MB), 1, 0);
        assert!(fragmented.contains("The currently used allocator is \"libc\".\n\n"));
        assert!(fragmented.contains(" * High allocator fragmentation"));
        assert!(fragmented.ends_with("I'm here to keep you safe, Sam. I want to help you.\n"));
    }
}
