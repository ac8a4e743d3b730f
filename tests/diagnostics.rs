//! What operators watch a server with, end to end over real connections: SLOWLOG
//! entries (shape, truncation, redaction, EXEC and scripts), LATENCY events and
//! histograms, INFO latencystats, and MONITOR's lines, checked against Redis 7.2's
//! formats. Replies that do not depend on timing are in tests/differential/diagnostics.redis.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::Duration;

use common::TestServer;
use redis::Value;

/// A Lua loop long enough to take several milliseconds on any machine.
const SLOW_SCRIPT: &str = "local n = 0 for i = 1, 3000000 do n = n + i end return 1";

fn config_set(con: &mut redis::Connection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(con)
        .unwrap();
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn array(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

fn slowlog(con: &mut redis::Connection) -> Vec<Value> {
    redis::cmd("SLOWLOG").arg("GET").arg(-1).query(con).unwrap()
}

/// The arguments of each entry, newest first.
fn logged_args(entries: &[Value]) -> Vec<Vec<String>> {
    entries
        .iter()
        .map(|e| array(&array(e)[3]).iter().map(text).collect())
        .collect()
}

#[test]
fn slowlog_records_entries_as_redis_does() {
    let server = TestServer::start();
    let mut con = server.client();
    config_set(&mut con, "slowlog-log-slower-than", "0");
    let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut con).unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("worker-1")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();

    let entries = slowlog(&mut con);
    // SLOWLOG RESET, CLIENT SETNAME, SET (SLOWLOG GET is logged after it answers).
    assert_eq!(entries.len(), 3, "{entries:?}");
    let newest = array(&entries[0]);
    assert_eq!(newest.len(), 6);
    let ids: Vec<i64> = entries.iter().map(|e| int(&array(e)[0])).collect();
    assert!(ids[0] == ids[1] + 1 && ids[1] == ids[2] + 1, "{ids:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((int(&newest[1]) - now).abs() <= 2);
    assert!(int(&newest[2]) >= 0);
    assert_eq!(logged_args(&entries[..1]), [["SET", "k", "v"]]);
    let local = con_addr(&mut con);
    assert_eq!(text(&newest[4]), local);
    assert_eq!(text(&newest[5]), "worker-1");
    // The client's name as it was when the command was logged: none before SETNAME.
    assert_eq!(text(&array(&entries[2])[5]), "");

    let len: i64 = redis::cmd("SLOWLOG").arg("LEN").query(&mut con).unwrap();
    assert_eq!(len, 5, "SLOWLOG GET and CLIENT INFO since");
    let two: Vec<Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(2)
        .query(&mut con)
        .unwrap();
    assert_eq!(logged_args(&two), [["SLOWLOG", "LEN"], ["CLIENT", "INFO"]]);
}

/// `ip:port` of this connection, as the server sees it.
fn con_addr(con: &mut redis::Connection) -> String {
    let info: String = redis::cmd("CLIENT").arg("INFO").query(con).unwrap();
    info.split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap()
        .to_string()
}

#[test]
fn slowlog_cuts_long_commands_and_hides_passwords() {
    let server = TestServer::start();
    let mut con = server.client();
    config_set(&mut con, "slowlog-log-slower-than", "0");
    let mut many = redis::cmd("RPUSH");
    many.arg("list");
    for i in 0..40 {
        many.arg(i);
    }
    let _: i64 = many.query(&mut con).unwrap();
    let long = "x".repeat(200);
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg(&long)
        .query(&mut con)
        .unwrap();
    let refused = redis::cmd("AUTH")
        .arg("someone")
        .arg("secret")
        .query::<()>(&mut con);
    assert!(refused.is_err());

    let args = logged_args(&slowlog(&mut con));
    let auth = &args[0];
    assert_eq!(auth, &["AUTH", "(redacted)", "(redacted)"]);
    let set = &args[1];
    assert_eq!(set[2], format!("{}... (72 more bytes)", "x".repeat(128)));
    let rpush = &args[2];
    // 42 arguments: 31 kept, the 32nd says how many more.
    assert_eq!(rpush.len(), 32);
    assert_eq!(rpush[30], "28");
    assert_eq!(rpush[31], "... (11 more arguments)");
}

#[test]
fn slowlog_logs_a_transaction_by_its_commands_and_a_script_with_its_calls() {
    let server = TestServer::start();
    let mut con = server.client();
    config_set(&mut con, "slowlog-log-slower-than", "0");
    let _: () = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("a")
        .arg(1)
        .cmd("INCR")
        .arg("a")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("EVAL")
        .arg("redis.call('set', 'b', 'c') return 1")
        .arg(0)
        .query(&mut con)
        .unwrap();
    let entries = slowlog(&mut con);
    let args = logged_args(&entries);
    let eval = &args[0];
    assert_eq!(eval[0], "EVAL");
    // The script's command, logged as Redis's script client: no address, no name.
    assert_eq!(args[1], ["set", "b", "c"]);
    assert_eq!(text(&array(&entries[1])[4]), "?:0");
    // EXEC is not logged, its commands are; MULTI is.
    assert_eq!(args[2], ["INCR", "a"]);
    assert_eq!(args[3], ["SET", "a", "1"]);
    assert_eq!(args[4], ["MULTI"]);
}

#[test]
fn slowlog_threshold_and_length_come_from_the_configuration() {
    let server = TestServer::start();
    let mut con = server.client();
    // Off: nothing is logged.
    config_set(&mut con, "slowlog-log-slower-than", "-1");
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    assert!(slowlog(&mut con).is_empty());
    // Only what runs at least this long: the slow script, not the quick SET.
    config_set(&mut con, "slowlog-log-slower-than", "1000");
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let _: i64 = redis::cmd("EVAL")
        .arg(SLOW_SCRIPT)
        .arg(0)
        .query(&mut con)
        .unwrap();
    let entries = slowlog(&mut con);
    assert_eq!(logged_args(&entries)[0][0], "EVAL");
    assert!(int(&array(&entries[0])[2]) >= 1000);
    assert!(!logged_args(&entries).iter().any(|a| a[0] == "SET"));
    // The newest `slowlog-max-len` are kept.
    config_set(&mut con, "slowlog-log-slower-than", "0");
    config_set(&mut con, "slowlog-max-len", "3");
    for i in 0..5 {
        let _: () = redis::cmd("SET").arg("k").arg(i).query(&mut con).unwrap();
    }
    let args = logged_args(&slowlog(&mut con));
    assert_eq!(args.len(), 3);
    assert_eq!(args[0], ["SET", "k", "4"]);
    let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut con).unwrap();
    let len: i64 = redis::cmd("SLOWLOG").arg("LEN").query(&mut con).unwrap();
    assert_eq!(len, 1, "only SLOWLOG RESET itself");
}

#[test]
fn latency_monitor_records_slow_commands_as_events() {
    let server = TestServer::start();
    let mut con = server.client();
    let _: i64 = redis::cmd("EVAL")
        .arg(SLOW_SCRIPT)
        .arg(0)
        .query(&mut con)
        .unwrap();
    let latest: Vec<Value> = redis::cmd("LATENCY").arg("LATEST").query(&mut con).unwrap();
    assert!(latest.is_empty(), "the monitor is off by default");

    config_set(&mut con, "latency-monitor-threshold", "1");
    let _: i64 = redis::cmd("EVAL")
        .arg(SLOW_SCRIPT)
        .arg(0)
        .query(&mut con)
        .unwrap();
    let latest: Vec<Value> = redis::cmd("LATENCY").arg("LATEST").query(&mut con).unwrap();
    assert_eq!(latest.len(), 1, "{latest:?}");
    let event = array(&latest[0]);
    assert_eq!(text(&event[0]), "command");
    let (last, max) = (int(&event[2]), int(&event[3]));
    assert!(last >= 1 && max >= last);

    let history: Vec<Value> = redis::cmd("LATENCY")
        .arg("HISTORY")
        .arg("command")
        .query(&mut con)
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(int(&array(&history[0])[1]), last);

    let graph: String = redis::cmd("LATENCY")
        .arg("GRAPH")
        .arg("command")
        .query(&mut con)
        .unwrap();
    let lines: Vec<&str> = graph.lines().collect();
    assert_eq!(
        lines[0],
        format!("command - high {last} ms, low {last} ms (all time high {max} ms)")
    );
    assert_eq!(lines[1], "-".repeat(80));
    // One sample: the lowest step of the filled sparkline, then the blank row, then its
    // age ("0s", "1s", ...) written downwards.
    assert_eq!(&lines[2..6], [" ", " ", " ", "_"]);
    assert_eq!(lines[6], " ");
    assert!(lines[7].chars().all(|c| c.is_ascii_digit()));
    assert_eq!(lines[8], "s");

    let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(&mut con).unwrap();
    assert!(doctor.starts_with(
        "Dave, I have observed latency spikes in this Redis instance. You don't mind talking \
         about it, do you Dave?\n\n1. command: 1 latency spikes"
    ));
    assert!(doctor.contains("- Check your Slow Log"), "{doctor}");

    let reset: i64 = redis::cmd("LATENCY").arg("RESET").query(&mut con).unwrap();
    assert_eq!(reset, 1);
    let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(&mut con).unwrap();
    assert!(doctor.starts_with("Dave, no latency spike was observed"));
}

#[test]
fn latency_tracking_reports_percentiles_and_histograms() {
    let server = TestServer::start();
    let mut con = server.client();
    for _ in 0..10 {
        let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    }
    let _: i64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    let info: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    let line = info
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_set:"))
        .unwrap_or_else(|| panic!("{info}"));
    let fields: Vec<&str> = line.split_once(':').unwrap().1.split(',').collect();
    assert_eq!(fields.len(), 3);
    for (field, name) in fields.iter().zip(["p50", "p99", "p99.9"]) {
        let (p, value) = field.split_once('=').unwrap();
        assert_eq!(p, name);
        let (_, decimals) = value.split_once('.').unwrap();
        assert_eq!(decimals.len(), 3, "{value}");
        assert!(value.parse::<f64>().unwrap() > 0.0);
    }
    assert!(info.contains("latency_percentiles_usec_client|id:"));

    let histogram: Vec<Value> = redis::cmd("LATENCY")
        .arg("HISTOGRAM")
        .arg("set")
        .arg("nosuch")
        .query(&mut con)
        .unwrap();
    assert_eq!(histogram.len(), 2, "one command: name, then its map");
    assert_eq!(text(&histogram[0]), "set");
    let details = array(&histogram[1]);
    assert_eq!(text(&details[0]), "calls");
    assert_eq!(int(&details[1]), 10);
    assert_eq!(text(&details[2]), "histogram_usec");
    let buckets = array(&details[3]);
    let counts: Vec<i64> = buckets.iter().skip(1).step_by(2).map(int).collect();
    assert_eq!(*counts.last().unwrap(), 10, "cumulative");
    assert!(counts.windows(2).all(|w| w[0] < w[1]));
    // A container stands for its subcommands.
    let client: Vec<Value> = redis::cmd("LATENCY")
        .arg("HISTOGRAM")
        .arg("client")
        .query(&mut con)
        .unwrap();
    assert_eq!(text(&client[0]), "client|id");

    // Off: percentiles for the commands already measured stay, new ones are not measured.
    config_set(&mut con, "latency-tracking", "no");
    let _: Option<String> = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    let info: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    assert!(!info.contains("latency_percentiles_usec_get:"));
    config_set(&mut con, "latency-tracking-info-percentiles", "50");
    let info: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    let line = info
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_set:"))
        .unwrap();
    assert!(!line.contains(','), "{line}");
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut con)
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    assert!(!info.contains("latency_percentiles_usec_set:"));
}

/// Reads MONITOR lines until `n` have arrived.
fn monitor_lines(reader: &mut BufReader<TcpStream>, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            line.trim_end_matches("\r\n").to_string()
        })
        .collect()
}

/// A MONITOR line without its timestamp, after checking the timestamp's form.
fn without_time(line: &str) -> String {
    let rest = line.strip_prefix('+').unwrap_or_else(|| panic!("{line}"));
    let (time, rest) = rest.split_once(' ').unwrap();
    let (secs, micros) = time.split_once('.').unwrap();
    assert!(secs.parse::<u64>().unwrap() > 1_600_000_000);
    assert_eq!(micros.len(), 6);
    rest.to_string()
}

#[test]
fn monitor_shows_every_command_as_redis_formats_it() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.send(b"MONITOR\r\n");
    raw.expect(b"+OK\r\n");
    let mut monitor = BufReader::new(raw.stream);

    let mut con = server.client();
    let addr = con_addr(&mut con);
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg(&b"a\x00\x01b\r\n\"\\ \xe9"[..])
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
    let _: Option<String> = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(&mut con).unwrap();
    // Refused before running (unknown command, arity): not shown, as in Redis.
    assert!(redis::cmd("NOSUCH").query::<()>(&mut con).is_err());
    assert!(redis::cmd("GET").query::<()>(&mut con).is_err());
    assert!(redis::cmd("AUTH")
        .arg("user")
        .arg("password")
        .query::<()>(&mut con)
        .is_err());
    let _: Value = redis::cmd("HELLO")
        .arg(2)
        .arg("SETNAME")
        .arg("app")
        .query(&mut con)
        .unwrap();
    let _: () = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("n")
        .ignore()
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("EVAL")
        .arg("return redis.call('incr', 'n')")
        .arg(0)
        .query(&mut con)
        .unwrap();
    // Administrative commands are not shown.
    let _: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .query(&mut con)
        .unwrap();
    let _: String = redis::cmd("PING").query(&mut con).unwrap();

    // What the connection's setup and CLIENT INFO sent comes first.
    let mut shown = Vec::new();
    while shown.len() < 12 {
        let line = without_time(&monitor_lines(&mut monitor, 1)[0]);
        if !shown.is_empty() || line.contains(r#""SET" "k""#) {
            shown.push(line);
        }
    }
    let c = format!("[0 {addr}]");
    assert_eq!(
        shown,
        [
            format!(r#"{c} "SET" "k" "a\x00\x01b\r\n\"\\ \xe9""#),
            format!(r#"[3 {addr}] "SELECT" "3""#),
            format!(r#"[3 {addr}] "GET" "k""#),
            format!(r#"{c} "SELECT" "0""#),
            format!(r#"{c} "AUTH" "(redacted)" "(redacted)""#),
            format!(r#"{c} "HELLO" "2" "SETNAME" "app""#),
            format!(r#"{c} "MULTI""#),
            format!(r#"{c} "INCR" "n""#),
            format!(r#"{c} "EXEC""#),
            format!(r#"{c} "EVAL" "return redis.call('incr', 'n')" "0""#),
            r#"[0 lua] "incr" "n""#.to_string(),
            format!(r#"{c} "PING""#),
        ]
    );
}

#[test]
fn hello_auth_is_redacted_and_a_monitor_that_leaves_costs_nothing() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.send(b"MONITOR\r\n");
    raw.expect(b"+OK\r\n");
    // A second MONITOR answers nothing, as in Redis: the next reply is PING's.
    raw.send(b"MONITOR\r\nPING\r\n");
    raw.expect(b"+PONG\r\n");
    let mut monitor = BufReader::new(raw.stream);
    let mut con = server.client();
    // The default user has no password: any password opens it.
    let _: Value = redis::cmd("HELLO")
        .arg(3)
        .arg("AUTH")
        .arg("default")
        .arg("anything")
        .arg("SETNAME")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let line = loop {
        let line = without_time(&monitor_lines(&mut monitor, 1)[0]);
        if line.contains("HELLO") {
            break line;
        }
    };
    assert!(
        line.ends_with(r#""HELLO" "3" "AUTH" "(redacted)" "(redacted)" "SETNAME" "x""#),
        "{line}"
    );
    drop(monitor);
    // Once the monitor has gone, commands still run (and nothing is kept for it).
    for _ in 0..100 {
        let _: String = redis::cmd("PING").query(&mut con).unwrap();
    }
    // The monitor's connection is gone once the server has seen it close.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        if clients.lines().count() == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{clients}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
