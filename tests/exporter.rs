//! The monitoring check (issue 14): Debian's `prometheus-redis-exporter` scrapes Roost as
//! it scrapes Redis (INFO ALL, CONFIG GET, SLOWLOG, LATENCY, CLIENT, ...) and logs no
//! error, and its metrics say what the server holds: keys and keys with a TTL per
//! database, calls per command, clients, the slow log's length, latency spikes.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;

const EXPORTER: &str = "prometheus-redis-exporter";

/// The exporter, stopped (and its output collected) when dropped.
struct Exporter {
    child: Option<Child>,
    port: u16,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Exporter {
    fn start(redis_addr: std::net::SocketAddr) -> Exporter {
        // A port the OS says is free; the exporter cannot be asked to pick one itself.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(EXPORTER)
            .arg("--redis.addr")
            .arg(format!("redis://{redis_addr}"))
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{EXPORTER} did not start ({e}): apt-get install prometheus-redis-exporter")
            });
        Exporter {
            child: Some(child),
            port,
        }
    }

    /// GET /metrics, once the exporter listens (failing after 20 s).
    fn scrape(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut stream = loop {
            match TcpStream::connect(("127.0.0.1", self.port)) {
                Ok(stream) => break stream,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "the exporter never listened: {e}"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.0 200"), "{head}");
        body.to_string()
    }

    /// Stops the exporter; everything it logged (it logs to stderr).
    fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout)
    }
}

/// The value of the sample `name` (with its labels, as printed), if present.
fn metric(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

#[test]
fn the_prometheus_exporter_scrapes_roost_without_errors() {
    let server = TestServer::start();
    let mut con = server.client();
    for i in 0..7 {
        let _: () = redis::cmd("SET")
            .arg(format!("session:{i}"))
            .arg("data")
            .arg("EX")
            .arg(3600)
            .query(&mut con)
            .unwrap();
    }
    for i in 0..3 {
        let _: () = redis::cmd("SET")
            .arg(format!("plain:{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    let _: () = redis::cmd("SELECT").arg(2).query(&mut con).unwrap();
    let _: () = redis::cmd("SET")
        .arg("other")
        .arg(1)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(&mut con).unwrap();
    // A slow log of five entries (RESET, two GETs, a CONFIG SET and the script; the
    // CONFIG SET that turns it off is not logged), and one latency spike.
    let set = |con: &mut redis::Connection, name: &str, value: &str| {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query(con)
            .unwrap();
    };
    set(&mut con, "slowlog-log-slower-than", "0");
    let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut con).unwrap();
    for _ in 0..2 {
        let _: Option<String> = redis::cmd("GET").arg("plain:0").query(&mut con).unwrap();
    }
    set(&mut con, "latency-monitor-threshold", "1");
    let _: i64 = redis::cmd("EVAL")
        .arg("local n = 0 for i = 1, 3000000 do n = n + i end return 1")
        .arg(0)
        .query(&mut con)
        .unwrap();
    set(&mut con, "slowlog-log-slower-than", "-1");

    // Active expiry (10 times a second) has sampled the TTLs for INFO's avg_ttl.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("keyspace").query(&mut con).unwrap();
        let db0 = info.lines().find(|l| l.starts_with("db0:")).unwrap_or("");
        if !db0.ends_with(",avg_ttl=0") {
            break;
        }
        assert!(Instant::now() < deadline, "avg_ttl stays 0: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }

    let exporter = Exporter::start(server.addr());
    let metrics = exporter.scrape();
    let log = exporter.stop();

    assert_eq!(metric(&metrics, "redis_up"), Some(1.0), "{metrics}");
    assert_eq!(metric(&metrics, r#"redis_db_keys{db="db0"}"#), Some(10.0));
    assert_eq!(
        metric(&metrics, r#"redis_db_keys_expiring{db="db0"}"#),
        Some(7.0)
    );
    let avg_ttl = metric(&metrics, r#"redis_db_avg_ttl_seconds{db="db0"}"#).unwrap();
    assert!((3500.0..=3600.0).contains(&avg_ttl), "{avg_ttl}");
    assert_eq!(metric(&metrics, r#"redis_db_keys{db="db2"}"#), Some(1.0));
    assert_eq!(
        metric(&metrics, r#"redis_commands_total{cmd="set"}"#),
        Some(11.0)
    );
    assert_eq!(
        metric(&metrics, r#"redis_commands_total{cmd="get"}"#),
        Some(2.0)
    );
    assert!(metric(
        &metrics,
        r#"redis_commands_duration_seconds_total{cmd="set"}"#
    )
    .is_some());
    // This test's connection and the exporter's own.
    assert_eq!(metric(&metrics, "redis_connected_clients"), Some(2.0));
    assert_eq!(metric(&metrics, "redis_slowlog_length"), Some(5.0));
    assert!(
        metric(
            &metrics,
            r#"redis_latency_spike_duration_seconds{event_name="command"}"#
        )
        .is_some_and(|s| s >= 0.001),
        "{metrics}"
    );
    assert!(metrics.contains(r#"redis_latency_percentiles_usec{cmd="set",quantile="50"}"#));
    assert!(metric(&metrics, "redis_memory_used_bytes").is_some_and(|m| m > 0.0));
    // Redis 7's INFO stats fields, which Roost once did not print: the exporter
    // publishes nothing for a field it does not find.
    assert!(metric(&metrics, "redis_total_reads_processed").is_some_and(|n| n >= 13.0));
    assert!(metric(&metrics, "redis_total_writes_processed").is_some_and(|n| n >= 13.0));
    for name in [
        "redis_expired_stale_percentage",
        "redis_expired_time_cap_reached_total",
        "redis_tracking_total_keys",
        "redis_clients_in_timeout_table",
        "redis_client_recent_max_input_buffer_bytes",
    ] {
        assert!(metric(&metrics, name).is_some(), "no {name}: {metrics}");
    }
    assert_eq!(
        metric(&metrics, r#"redis_exporter_last_scrape_error{err=""}"#),
        Some(0.0),
        "{metrics}"
    );
    let complaints: Vec<&str> = log.lines().filter(|l| !l.contains("level=info")).collect();
    assert!(complaints.is_empty(), "the exporter logged: {complaints:?}");
}
