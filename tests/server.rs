//! Server commands: INFO, COMMAND, TIME, LASTSAVE, SHUTDOWN.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::TestServer;

fn info(con: &mut redis::Connection, section: &str) -> HashMap<String, String> {
    let mut cmd = redis::cmd("INFO");
    if !section.is_empty() {
        cmd.arg(section);
    }
    let text: String = cmd.query(con).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn info_has_redis_sections_and_fields() {
    let server = TestServer::start();
    let mut con = server.client();
    let text: String = redis::cmd("INFO").query(&mut con).unwrap();
    let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("# ")).collect();
    assert_eq!(
        headers,
        [
            "# Server",
            "# Clients",
            "# Memory",
            "# Persistence",
            "# Stats",
            "# Replication",
            "# CPU",
            "# Modules",
            "# Errorstats",
            "# Cluster",
            "# Keyspace"
        ]
    );
    assert!(text.contains("\r\n"), "INFO lines end in CRLF");
    let fields = info(&mut con, "");
    assert!(fields["redis_version"].starts_with("7."));
    assert_eq!(fields["roost_version"], env!("CARGO_PKG_VERSION"));
    let run_id = &fields["run_id"];
    assert_eq!(run_id.len(), 40);
    assert!(run_id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(fields["tcp_port"], server.addr().port().to_string());
    assert_eq!(fields["loading"], "0");
    assert_eq!(fields["role"], "master");
    assert_eq!(fields["connected_clients"], "1");
    assert!(fields["used_memory"].parse::<u64>().unwrap() > 0);
    assert!(fields.contains_key("used_cpu_user"));
    // The same run id on every call; sections by name, case-insensitive.
    assert_eq!(&info(&mut con, "SERVER")["run_id"], run_id);
    let text: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut con)
        .unwrap();
    assert!(
        text.starts_with("# Replication\r\nrole:master\r\n"),
        "{text}"
    );
    assert!(!text.contains("# Server"));
}

#[test]
fn info_is_verbatim_in_resp3() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.hello3();
    raw.send(b"INFO cluster\r\n");
    raw.expect(b"=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n");
}

#[test]
fn info_stats_keyspace_and_commandstats() {
    let server = TestServer::start();
    let mut con = server.client();
    for i in 0..3 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("v")
            .query(&mut con)
            .unwrap();
    }
    let _: Option<String> = redis::cmd("GET").arg("k0").query(&mut con).unwrap();
    let _: Option<String> = redis::cmd("GET").arg("nope").query(&mut con).unwrap();
    let _ = redis::cmd("GET").query::<()>(&mut con);
    let _ = redis::cmd("SELECT").arg("x").query::<()>(&mut con);
    let stats = info(&mut con, "stats");
    assert_eq!(stats["keyspace_hits"], "1");
    assert_eq!(stats["keyspace_misses"], "1");
    assert_eq!(
        stats["total_error_replies"],
        "2",
        "{:?}",
        info(&mut con, "errorstats")
    );
    let keyspace = info(&mut con, "keyspace");
    assert_eq!(keyspace["db0"], "keys=3,expires=0,avg_ttl=0");
    let cmdstats = info(&mut con, "commandstats");
    assert!(
        cmdstats["cmdstat_set"].starts_with("calls=3,usec="),
        "{cmdstats:?}"
    );
    assert!(cmdstats["cmdstat_get"].starts_with("calls=2,"));
    assert!(cmdstats["cmdstat_get"].ends_with(",rejected_calls=1,failed_calls=0"));
    assert!(cmdstats["cmdstat_select"].ends_with(",rejected_calls=0,failed_calls=1"));
    let errors = info(&mut con, "errorstats");
    assert_eq!(errors["errorstat_ERR"], "count=2");
    // commandstats only with its name or all/everything.
    assert!(!info(&mut con, "").contains_key("cmdstat_set"));
    assert!(info(&mut con, "everything").contains_key("cmdstat_set"));
}

#[test]
fn info_reports_recent_rates_and_counts_of_subscriptions_and_tracking_clients() {
    // Fields the Prometheus exporter publishes and dashboards graph; Roost once
    // reported 0 for all of them.
    let server = TestServer::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for _ in 0..20_000 {
        pipe.cmd("PING").ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    let number = |stats: &HashMap<String, String>, name: &str| -> f64 {
        stats[name]
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {stats:?}"))
    };
    // The rates are sampled ten times a second: the burst shows within a sample or two.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = info(&mut con, "stats");
        if number(&stats, "instantaneous_ops_per_sec") >= 1_000.0 {
            assert!(
                number(&stats, "instantaneous_input_kbps") > 0.0,
                "{stats:?}"
            );
            assert!(
                number(&stats, "instantaneous_output_kbps") > 0.0,
                "{stats:?}"
            );
            assert_eq!(number(&stats, "instantaneous_input_repl_kbps"), 0.0);
            break;
        }
        assert!(Instant::now() < deadline, "{stats:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A rate of the last 1.6 s, not since start: it falls back once the burst is over.
    loop {
        let stats = info(&mut con, "stats");
        if number(&stats, "instantaneous_ops_per_sec") < 100.0 {
            break;
        }
        assert!(Instant::now() < deadline, "{stats:?}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut subscriber = server.raw();
    subscriber.send_cmd(&[b"SUBSCRIBE", b"a", b"b"]);
    subscriber.send_cmd(&[b"PSUBSCRIBE", b"news.*"]);
    subscriber.send_cmd(&[b"SSUBSCRIBE", b"shard"]);
    let mut other = server.raw();
    other.send_cmd(&[b"PSUBSCRIBE", b"news.*"]);
    other.send_cmd(&[b"SUBSCRIBE", b"a"]);
    let mut tracking = server.raw();
    tracking.roundtrip(&[b"CLIENT", b"TRACKING", b"ON"], b"+OK\r\n");
    // The subscriptions are confirmed (pushed) before the last one is counted.
    other.expect(b"*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n");
    other.expect(b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n");
    subscriber.expect(b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    subscriber.expect(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
    subscriber.expect(b"*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:3\r\n");
    subscriber.expect(b"*3\r\n$10\r\nssubscribe\r\n$5\r\nshard\r\n:1\r\n");
    let stats = info(&mut con, "stats");
    assert_eq!(stats["pubsub_channels"], "2", "{stats:?}");
    assert_eq!(
        stats["pubsub_patterns"], "1",
        "one pattern, two subscribers"
    );
    assert_eq!(stats["pubsubshard_channels"], "1");
    assert_eq!(info(&mut con, "clients")["tracking_clients"], "1");
    tracking.roundtrip(&[b"CLIENT", b"TRACKING", b"OFF"], b"+OK\r\n");
    assert_eq!(info(&mut con, "clients")["tracking_clients"], "0");
}

#[test]
fn command_introspection_comes_from_the_table() {
    let server = TestServer::start();
    let mut con = server.client();
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
    let all: Vec<redis::Value> = redis::cmd("COMMAND").query(&mut con).unwrap();
    assert_eq!(all.len() as i64, count);
    let names: Vec<String> = redis::cmd("COMMAND").arg("LIST").query(&mut con).unwrap();
    // Subcommands are listed too, by their full names, as Redis 7 lists them.
    let top_level = names.iter().filter(|n| !n.contains('|')).count();
    assert_eq!(top_level as i64, count);
    for name in [
        "get",
        "set",
        "client",
        "hello",
        "multi",
        "exec",
        "info",
        "command",
        "client|list",
        "config|get",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing");
    }
    let mut raw = server.raw();
    raw.send(b"COMMAND INFO get nosuch\r\n");
    raw.expect(
        b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n",
    );
    // The key spec and subcommands follow; then the null bulk Redis sends for the unknown
    // command.
    let mut tail = Vec::new();
    while !tail.ends_with(b"$-1\r\n") {
        tail.extend(raw.read_exact(1));
    }
    let client_info: Vec<redis::Value> = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("client")
        .query(&mut con)
        .unwrap();
    let redis::Value::Array(fields) = &client_info[0] else {
        panic!()
    };
    let redis::Value::Array(subs) = &fields[9] else {
        panic!()
    };
    assert!(subs.len() >= 9, "CLIENT subcommands listed");

    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("SET")
        .arg("k")
        .arg("v")
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["k"]);
    raw.roundtrip(
        &[b"COMMAND", b"GETKEYS", b"nosuch", b"a"],
        b"-ERR Invalid command specified\r\n",
    );
    raw.roundtrip(
        &[b"COMMAND", b"GETKEYS", b"get", b"a", b"b"],
        b"-ERR Invalid number of arguments specified for command\r\n",
    );
    raw.roundtrip(
        &[b"COMMAND", b"GETKEYS", b"ping", b"x"],
        b"-ERR The command has no key arguments\r\n",
    );

    let docs: HashMap<String, redis::Value> = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg("get")
        .query(&mut con)
        .unwrap();
    let doc = format!("{:?}", docs["get"]);
    assert!(doc.contains("Returns the string value of a key."), "{doc}");
    let filtered: Vec<String> = redis::cmd("COMMAND")
        .arg("LIST")
        .arg("FILTERBY")
        .arg("PATTERN")
        .arg("cli*")
        .query(&mut con)
        .unwrap();
    // The pattern matches full names: CLIENT and each of its subcommands (not CLUSTER).
    assert_eq!(filtered[0], "client");
    assert!(filtered[1..].iter().all(|n| n.starts_with("client|")));
    assert!(filtered.contains(&"client|list".to_string()));
}

#[test]
fn time_and_lastsave() {
    let server = TestServer::start();
    let mut con = server.client();
    let (secs, micros): (String, String) = redis::cmd("TIME").query(&mut con).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((secs.parse::<i64>().unwrap() - now).abs() <= 2);
    assert!(micros.parse::<u32>().unwrap() < 1_000_000);
    let last: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    assert!((last - now).abs() <= 5);
}

#[test]
fn shutdown_stops_the_server() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"SHUTDOWN", b"BOGUS"], b"-ERR syntax error\r\n");
    raw.roundtrip(
        &[b"SHUTDOWN", b"ABORT"],
        b"-ERR No shutdown in progress.\r\n",
    );
    let mut bystander = server.raw();
    bystander.roundtrip(&[b"PING"], b"+PONG\r\n");
    raw.send(b"SHUTDOWN NOSAVE\r\n");
    assert!(raw.read_to_close().is_empty());
    assert!(bystander.read_to_close().is_empty());
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(std::net::TcpStream::connect(server.addr()).is_err());
}

/// The field names of INFO `section`, in order.
fn field_names(con: &mut redis::Connection, section: &str) -> Vec<String> {
    let text: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, _)| k.to_string())
        .collect()
}

/// Redis 7.2's INFO fields for a primary with the log on, as 7.2.3 prints them (7.0.15,
/// the reference here, lacks the ones marked 7.2). Roost adds `roost_version`; it leaves
/// out 7.2's `eventloop_*` and `reply_buffer_*` (counts of Redis's own event loop and
/// reply-buffer resizing, which Roost does not have) and `used_cpu_*_main_thread`.
const REDIS_7_2_FIELDS: &[(&str, &[&str])] = &[
    (
        "server",
        &[
            "redis_version",
            "roost_version",
            "redis_git_sha1",
            "redis_git_dirty",
            "redis_build_id",
            "redis_mode",
            "os",
            "arch_bits",
            "monotonic_clock",
            "multiplexing_api",
            "atomicvar_api",
            "gcc_version",
            "process_id",
            "process_supervised",
            "run_id",
            "tcp_port",
            "server_time_usec",
            "uptime_in_seconds",
            "uptime_in_days",
            "hz",
            "configured_hz",
            "lru_clock",
            "executable",
            "config_file",
            "io_threads_active",
            "listener0", // 7.2
        ],
    ),
    (
        "clients",
        &[
            "connected_clients",
            "cluster_connections",
            "maxclients",
            "client_recent_max_input_buffer",
            "client_recent_max_output_buffer",
            "blocked_clients",
            "tracking_clients",
            "clients_in_timeout_table",
            "total_blocking_keys",          // 7.2
            "total_blocking_keys_on_nokey", // 7.2
        ],
    ),
    (
        "persistence",
        &[
            "loading",
            "async_loading",
            "current_cow_peak",
            "current_cow_size",
            "current_cow_size_age",
            "current_fork_perc",
            "current_save_keys_processed",
            "current_save_keys_total",
            "rdb_changes_since_last_save",
            "rdb_bgsave_in_progress",
            "rdb_last_save_time",
            "rdb_last_bgsave_status",
            "rdb_last_bgsave_time_sec",
            "rdb_current_bgsave_time_sec",
            "rdb_saves",
            "rdb_last_cow_size",
            "rdb_last_load_keys_expired",
            "rdb_last_load_keys_loaded",
            "aof_enabled",
            "aof_rewrite_in_progress",
            "aof_rewrite_scheduled",
            "aof_last_rewrite_time_sec",
            "aof_current_rewrite_time_sec",
            "aof_last_bgrewrite_status",
            "aof_rewrites",
            "aof_rewrites_consecutive_failures",
            "aof_last_write_status",
            "aof_last_cow_size",
            "module_fork_in_progress",
            "module_fork_last_cow_size",
            "aof_current_size",
            "aof_base_size",
            "aof_pending_rewrite",
            "aof_buffer_length",
            "aof_pending_bio_fsync",
            "aof_delayed_fsync",
        ],
    ),
    (
        "stats",
        &[
            "total_connections_received",
            "total_commands_processed",
            "instantaneous_ops_per_sec",
            "total_net_input_bytes",
            "total_net_output_bytes",
            "total_net_repl_input_bytes",
            "total_net_repl_output_bytes",
            "instantaneous_input_kbps",
            "instantaneous_output_kbps",
            "instantaneous_input_repl_kbps",
            "instantaneous_output_repl_kbps",
            "rejected_connections",
            "sync_full",
            "sync_partial_ok",
            "sync_partial_err",
            "expired_keys",
            "expired_stale_perc",
            "expired_time_cap_reached_count",
            "expire_cycle_cpu_milliseconds",
            "evicted_keys",
            "evicted_clients",
            "total_eviction_exceeded_time",
            "current_eviction_exceeded_time",
            "keyspace_hits",
            "keyspace_misses",
            "pubsub_channels",
            "pubsub_patterns",
            "pubsubshard_channels",
            "latest_fork_usec",
            "total_forks",
            "migrate_cached_sockets",
            "slave_expires_tracked_keys",
            "active_defrag_hits",
            "active_defrag_misses",
            "active_defrag_key_hits",
            "active_defrag_key_misses",
            "total_active_defrag_time",
            "current_active_defrag_time",
            "tracking_total_keys",
            "tracking_total_items",
            "tracking_total_prefixes",
            "unexpected_error_replies",
            "total_error_replies",
            "dump_payload_sanitizations",
            "total_reads_processed",
            "total_writes_processed",
            "io_threaded_reads_processed",
            "io_threaded_writes_processed",
            "acl_access_denied_auth",    // 7.2
            "acl_access_denied_cmd",     // 7.2
            "acl_access_denied_key",     // 7.2
            "acl_access_denied_channel", // 7.2
        ],
    ),
];

#[test]
fn info_fields_are_redis_7_2s_in_its_order() {
    let server = TestServer::with_config(|c| c.appendonly = true);
    let mut con = server.client();
    // Loading adds its fields at the end of the section.
    info_until(&mut con, "persistence", |f| f["loading"] == "0");
    for (section, expected) in REDIS_7_2_FIELDS {
        assert_eq!(field_names(&mut con, section), *expected, "INFO {section}");
    }
    // And redis-server's own order, for every field it prints too (the same
    // sections, also with the log on).
    let redis = common::process::RedisServer::start_with(&["--appendonly", "yes"]);
    let mut reference = redis::Client::open(format!("redis://127.0.0.1:{}", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    for section in [
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
    ] {
        let ours = field_names(&mut con, section);
        let theirs = field_names(&mut reference, section);
        // Left out on purpose (see REDIS_7_2_FIELDS).
        let left_out = ["reply_buffer_shrinks", "reply_buffer_expands"];
        let theirs: Vec<String> = theirs
            .into_iter()
            .filter(|f| !left_out.contains(&f.as_str()))
            .collect();
        let missing: Vec<&String> = theirs.iter().filter(|f| !ours.contains(f)).collect();
        assert!(missing.is_empty(), "INFO {section} lacks {missing:?}");
        let shared: Vec<&String> = ours.iter().filter(|f| theirs.contains(f)).collect();
        assert_eq!(
            shared,
            theirs.iter().collect::<Vec<_>>(),
            "INFO {section}: fields in another order than redis-server's"
        );
    }
}

/// Polls INFO `section` until `done` holds for it; fails after 10 s.
fn info_until(
    con: &mut redis::Connection,
    section: &str,
    done: impl Fn(&HashMap<String, String>) -> bool,
) -> HashMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fields = info(con, section);
        if done(&fields) {
            return fields;
        }
        assert!(Instant::now() < deadline, "INFO {section}: {fields:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn info_counts_blocked_clients_their_keys_and_the_tracking_table() {
    // Fields Roost once printed as 0 (or not at all) whatever happened.
    let server = TestServer::start();
    let mut con = server.client();
    let mut timed = server.raw();
    timed.send_cmd(&[b"BLPOP", b"list:a", b"list:b", b"30"]);
    let mut forever = server.raw();
    forever.send_cmd(&[b"BLPOP", b"list:a", b"0"]);
    let _: () = common::query(&mut con, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let mut group_reader = server.raw();
    group_reader.send_cmd(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c",
        b"BLOCK",
        b"0",
        b"STREAMS",
        b"s",
        b">",
    ]);
    let clients = info_until(&mut con, "clients", |f| f["blocked_clients"] == "3");
    assert_eq!(clients["clients_in_timeout_table"], "1", "{clients:?}");
    assert_eq!(clients["total_blocking_keys"], "3");
    // XREADGROUP is what Redis 7.2 unblocks when its key is deleted.
    assert_eq!(clients["total_blocking_keys_on_nokey"], "1");
    let _: i64 = common::query(&mut con, &["RPUSH", "list:b", "x"]);
    timed.expect(b"*2\r\n$6\r\nlist:b\r\n$1\r\nx\r\n");
    let clients = info_until(&mut con, "clients", |f| f["blocked_clients"] == "2");
    assert_eq!(clients["clients_in_timeout_table"], "0");
    assert_eq!(clients["total_blocking_keys"], "2");

    let mut tracker = server.raw();
    tracker.hello3();
    tracker.roundtrip(&[b"CLIENT", b"TRACKING", b"ON"], b"+OK\r\n");
    tracker.roundtrip(&[b"GET", b"a"], b"_\r\n");
    tracker.roundtrip(&[b"GET", b"b"], b"_\r\n");
    let mut other = server.raw();
    other.hello3();
    other.roundtrip(&[b"CLIENT", b"TRACKING", b"ON"], b"+OK\r\n");
    other.roundtrip(&[b"GET", b"a"], b"_\r\n");
    let mut bcast = server.raw();
    bcast.hello3();
    bcast.roundtrip(
        &[
            b"CLIENT",
            b"TRACKING",
            b"ON",
            b"BCAST",
            b"PREFIX",
            b"user:",
            b"PREFIX",
            b"cart:",
        ],
        b"+OK\r\n",
    );
    let mut everything = server.raw();
    everything.hello3();
    everything.roundtrip(&[b"CLIENT", b"TRACKING", b"ON", b"BCAST"], b"+OK\r\n");
    let stats = info(&mut con, "stats");
    assert_eq!(stats["tracking_total_keys"], "2", "{stats:?}");
    assert_eq!(stats["tracking_total_items"], "3");
    assert_eq!(
        stats["tracking_total_prefixes"], "3",
        "user:, cart: and the empty one"
    );
    // A change invalidates the key for both its readers and forgets it.
    let _: () = common::query(&mut con, &["SET", "a", "1"]);
    let stats = info(&mut con, "stats");
    assert_eq!(stats["tracking_total_keys"], "1");
    assert_eq!(stats["tracking_total_items"], "1");
}

#[test]
fn info_counts_socket_reads_and_writes_and_the_largest_input_buffer() {
    let server = TestServer::start();
    let mut con = server.client();
    let before = info(&mut con, "stats");
    let count = |f: &HashMap<String, String>, name: &str| -> u64 { f[name].parse().unwrap() };
    for _ in 0..10 {
        let _: String = common::query(&mut con, &["PING"]);
    }
    let after = info(&mut con, "stats");
    // Ten PINGs and one INFO: a read and a write each, at least.
    let reads = count(&after, "total_reads_processed") - count(&before, "total_reads_processed");
    let writes = count(&after, "total_writes_processed") - count(&before, "total_writes_processed");
    assert!((11..=13).contains(&reads), "{reads} reads");
    assert!((10..=12).contains(&writes), "{writes} writes");

    // A client part way through sending a 300 KB value holds it in its read buffer.
    let mut uploader = server.raw();
    uploader.send(b"*3\r\n$3\r\nSET\r\n$6\r\nupload\r\n$1000000\r\n");
    uploader.send(&vec![b'x'; 300_000]);
    let clients = info_until(&mut con, "clients", |f| {
        count(f, "client_recent_max_input_buffer") >= 300_000
    });
    assert!(count(&clients, "client_recent_max_input_buffer") < 2_000_000);
    drop(uploader);
    info_until(&mut con, "clients", |f| {
        count(f, "client_recent_max_input_buffer") < 300_000
    });
}

#[test]
fn info_shows_how_long_the_running_log_rewrite_has_taken() {
    // `aof_current_rewrite_time_sec`: seconds since the running rewrite began, -1
    // when none runs (Roost once printed -1 always). No automatic rewrite, so the one
    // seen is BGREWRITEAOF's.
    let server = TestServer::with_config(|c| {
        c.appendonly = true;
        c.auto_aof_rewrite_percentage = 0;
    });
    let mut con = server.client();
    info_until(&mut con, "persistence", |f| f["loading"] == "0");
    // Enough keys that the rewrite takes a while.
    let value = "v".repeat(100);
    for chunk in 0..500 {
        let mut mset = redis::cmd("MSET");
        for i in 0..1000 {
            mset.arg(format!("key:{chunk}:{i}")).arg(&value);
        }
        let () = mset.query(&mut con).unwrap();
    }
    let asked = Instant::now();
    let _: String = common::query(&mut con, &["BGREWRITEAOF"]);
    let running = info_until(&mut con, "persistence", |f| {
        f["aof_rewrite_in_progress"] == "1" || f["aof_rewrites"] == "1"
    });
    assert_eq!(
        running["aof_rewrite_in_progress"], "1",
        "the rewrite ended unseen"
    );
    let seconds: i64 = running["aof_current_rewrite_time_sec"].parse().unwrap();
    assert!(
        (0..=asked.elapsed().as_secs() as i64).contains(&seconds),
        "{running:?}"
    );
    let done = info_until(&mut con, "persistence", |f| {
        f["aof_rewrite_in_progress"] == "0"
    });
    assert_eq!(done["aof_current_rewrite_time_sec"], "-1");
}
