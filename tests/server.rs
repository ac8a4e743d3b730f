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
