//! Debian's redis-sentinel, unchanged, monitors a Roost primary with two Roost
//! replicas and fails over when the primary is killed; a client that asks Sentinel
//! where the primary is keeps writing through the failover.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

mod common;
use common::process::{free_port, wait_for, Process, Roost, TempDir};

struct Sentinel {
    _process: Process,
    port: u16,
}

impl Sentinel {
    fn start(dir: &std::path::Path, primary_port: u16) -> Sentinel {
        let port = free_port();
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor mymaster 127.0.0.1 {primary_port} 1\n\
                 sentinel down-after-milliseconds mymaster 2000\n\
                 sentinel failover-timeout mymaster 10000\n",
                dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-sentinel")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-sentinel is needed (apt-get install redis-sentinel; tests/run does)");
        Sentinel {
            _process: Process(child),
            port,
        }
    }

    fn primary_port(&self) -> Option<u16> {
        primary_named_by(self.port)
    }

    fn known_replicas(&self) -> usize {
        let Some(mut con) = connect(self.port) else {
            return 0;
        };
        redis::cmd("SENTINEL")
            .arg("replicas")
            .arg("mymaster")
            .query::<Vec<redis::Value>>(&mut con)
            .map_or(0, |r| r.len())
    }
}

fn connect(port: u16) -> Option<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .ok()?
        .get_connection_with_timeout(Duration::from_secs(1))
        .ok()
}

/// What the Sentinel on `sentinel_port` answers to `get-master-addr-by-name`, as a port.
fn primary_named_by(sentinel_port: u16) -> Option<u16> {
    let mut con = connect(sentinel_port)?;
    let (_, port): (String, u16) = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg("mymaster")
        .query(&mut con)
        .ok()?;
    Some(port)
}

fn info(port: u16) -> String {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
        .and_then(|mut con| redis::cmd("INFO").arg("replication").query(&mut con))
        .unwrap_or_default()
}

/// Writes `session:N` in a loop through whatever primary Sentinel names, as the
/// Sentinel-aware clients do: on an error, ask Sentinel again and reconnect.
fn sentinel_client(
    sentinel_port: u16,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<u64>>>,
    after_failover: Arc<AtomicU64>,
    old_primary: u16,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Some(port) = primary_named_by(sentinel_port) else {
            thread::sleep(Duration::from_millis(100));
            continue;
        };
        let Some(mut con) = connect(port) else {
            thread::sleep(Duration::from_millis(100));
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            let written: redis::RedisResult<()> = redis::cmd("SET")
                .arg(format!("session:{n}"))
                .arg(n)
                .arg("EX")
                .arg(3600)
                .query(&mut con);
            if written.is_err() {
                thread::sleep(Duration::from_millis(100));
                break;
            }
            acknowledged.lock().unwrap().push(n);
            if port != old_primary {
                after_failover.fetch_add(1, Ordering::Relaxed);
            }
            n += 1;
            thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn sentinel_fails_a_roost_pair_over_and_clients_keep_writing() {
    let dirs = [
        TempDir::new("sentinel-p"),
        TempDir::new("sentinel-r1"),
        TempDir::new("sentinel-r2"),
        TempDir::new("sentinel-s"),
    ];
    let primary = Roost::start(&dirs[0].0, &["--appendfsync", "always"]);
    let replica_of = format!("127.0.0.1 {}", primary.port);
    let replicas = [
        Roost::start(&dirs[1].0, &["--replicaof", &replica_of]),
        Roost::start(&dirs[2].0, &["--replicaof", &replica_of]),
    ];
    wait_for("both replicas online", Duration::from_secs(20), || {
        info(primary.port).matches("state=online").count() == 2
    });
    let sentinel = Sentinel::start(&dirs[3].0, primary.port);
    // Sentinel finds the replicas in the primary's INFO.
    wait_for(
        "Sentinel to discover the replicas",
        Duration::from_secs(30),
        || sentinel.known_replicas() == 2,
    );

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let after_failover = Arc::new(AtomicU64::new(0));
    let writer = {
        let (port, stop, acked, after) = (
            sentinel.port,
            stop.clone(),
            acknowledged.clone(),
            after_failover.clone(),
        );
        let old = primary.port;
        thread::spawn(move || sentinel_client(port, stop, acked, after, old))
    };
    // redis-py's Sentinel client writes beside it.
    let stop_file = dirs[3].0.join("stop-python-client");
    let python = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/compat/sentinel_client.py"
        ))
        .arg(sentinel.port.to_string())
        .arg(&stop_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed");
    wait_for(
        "writes through the first primary",
        Duration::from_secs(10),
        || acknowledged.lock().unwrap().len() > 50,
    );
    wait_for(
        "redis-py writes through the first primary",
        Duration::from_secs(20),
        || {
            let mut con = connect(primary.port).unwrap();
            redis::cmd("EXISTS")
                .arg("py:20")
                .query::<i64>(&mut con)
                .unwrap()
                == 1
        },
    );

    let old_port = primary.port;
    primary.kill9();
    // Sentinel promotes one replica and points the other at it.
    let replica_ports = [replicas[0].port, replicas[1].port];
    let mut new_port = 0;
    wait_for("the failover to complete", Duration::from_secs(60), || {
        let Some(port) = sentinel.primary_port() else {
            return false;
        };
        if port == old_port {
            return false;
        }
        new_port = port;
        let other = replica_ports.iter().copied().find(|p| *p != port).unwrap();
        let promoted = info(port);
        let follower = info(other);
        promoted.contains("role:master")
            && follower.contains("role:slave")
            && follower.contains(&format!("master_port:{port}"))
            && follower.contains("master_link_status:up")
    });
    assert!(replica_ports.contains(&new_port));
    wait_for(
        "writes through the new primary",
        Duration::from_secs(30),
        || after_failover.load(Ordering::Relaxed) > 50,
    );
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    // redis-py found the new primary by itself and kept writing to it.
    let python_writes = |port: u16| -> usize {
        let mut con = connect(port).unwrap();
        redis::cmd("KEYS")
            .arg("py:*")
            .query::<Vec<String>>(&mut con)
            .unwrap()
            .len()
    };
    let before = python_writes(new_port);
    wait_for(
        "redis-py to write to the new primary",
        Duration::from_secs(30),
        || python_writes(new_port) > before + 20,
    );
    std::fs::write(&stop_file, b"").unwrap();
    let output = python.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "redis-py client failed (tests/run installs tests/compat/requirements.txt into tests/compat/.venv): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        report.contains(&format!("\"primaries\": [{old_port}, {new_port}]")),
        "{report}"
    );
    let last_py = report
        .split("\"last\": ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap()
        .to_string();

    // Everything the client wrote to the new primary is there and on the other replica.
    let mut con = redis::Client::open(format!("redis://127.0.0.1:{new_port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let last = *acknowledged.lock().unwrap().last().unwrap();
    let v: String = redis::cmd("GET")
        .arg(format!("session:{last}"))
        .query(&mut con)
        .unwrap();
    assert_eq!(v, last.to_string());
    // WAIT counts this connection's writes: one more write makes it cover all before.
    let () = redis::cmd("SET")
        .arg("checked")
        .arg("1")
        .query(&mut con)
        .unwrap();
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut con).unwrap();
    assert_eq!(acked, 1);
    let other = replica_ports
        .iter()
        .copied()
        .find(|p| *p != new_port)
        .unwrap();
    let mut follower = redis::Client::open(format!("redis://127.0.0.1:{other}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let v: String = redis::cmd("GET")
        .arg(format!("session:{last}"))
        .query(&mut follower)
        .unwrap();
    assert_eq!(v, last.to_string());
    let v: String = redis::cmd("GET")
        .arg(format!("py:{last_py}"))
        .query(&mut follower)
        .unwrap();
    assert_eq!(v, last_py);
}
