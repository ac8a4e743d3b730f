//! FAILOVER (Redis 6.2+): a primary pauses writes, waits for a replica to acknowledge
//! everything, becomes that replica's replica and has it take over with `PSYNC ...
//! FAILOVER`. Real Roost processes on free ports, real clients; the error texts and
//! COMMAND INFO are compared with a real redis-server pair.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

mod common;
use common::process::{wait_for, RedisServer, Roost, TempDir};
use redis::Value;

const PATIENCE: Duration = Duration::from_secs(30);

fn info_field(con: &mut redis::Connection, name: &str) -> String {
    let info: String = redis::cmd("INFO").arg("replication").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn failover_state(con: &mut redis::Connection) -> String {
    info_field(con, "master_failover_state")
}

/// ROLE as words: `["master"]`, or `["slave", port, link state]`.
fn role(con: &mut redis::Connection) -> Vec<String> {
    let Value::Array(items) = redis::cmd("ROLE").query::<Value>(con).unwrap() else {
        panic!("ROLE is not an array")
    };
    let word = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    };
    match word(&items[0]).as_str() {
        "master" => vec!["master".into()],
        _ => vec![word(&items[0]), word(&items[2]), word(&items[3])],
    }
}

fn replica_of(primary: &Roost) -> [String; 2] {
    ["--replicaof".into(), format!("127.0.0.1 {}", primary.port)]
}

fn start_replica(dir: &TempDir, primary: &Roost) -> Roost {
    let [flag, value] = replica_of(primary);
    Roost::start(&dir.0, &[&flag, &value])
}

/// Waits until `replica` follows `primary` and has applied everything it has.
fn wait_in_sync(primary: &Roost, replica: &Roost) {
    let mut p = primary.client();
    let mut r = replica.client();
    wait_for("the replica to catch up", PATIENCE, || {
        let up = info_field(&mut r, "master_link_status") == "up";
        let want = info_field(&mut p, "master_repl_offset");
        up && want == info_field(&mut r, "slave_repl_offset")
    });
}

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// A stopped process (SIGSTOP) resumed when this is dropped, even if the test fails.
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Stopped {
        signal(pid, "-STOP");
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

/// A connection speaking raw RESP: a request's reply line exactly as sent.
struct Raw(TcpStream);

impl Raw {
    fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Raw(stream)
    }

    fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.0.write_all(out.as_bytes()).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = Vec::new();
        let mut byte = [0u8];
        while !line.ends_with(b"\r\n") {
            self.0.read_exact(&mut byte).unwrap();
            line.push(byte[0]);
        }
        String::from_utf8_lossy(&line).into_owned()
    }

    fn request(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.line()
    }

    /// Whether a reply arrives within `wait` (a request held by a pause gets none).
    fn answers_within(&mut self, wait: Duration) -> bool {
        self.0.set_read_timeout(Some(wait)).unwrap();
        let mut byte = [0u8];
        let answered = match self.0.peek(&mut byte) {
            Ok(n) => n > 0,
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "{e}"
                );
                false
            }
        };
        self.0
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        answered
    }
}

#[test]
fn failover_swaps_the_roles_and_the_old_primary_follows() {
    let (pdir, rdir) = (TempDir::new("fo-swap-p"), TempDir::new("fo-swap-r"));
    let primary = Roost::start(&pdir.0, &[]);
    let replica = start_replica(&rdir, &primary);
    let mut p = primary.client();
    let mut r = replica.client();
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut p)
            .unwrap();
    }
    wait_in_sync(&primary, &replica);
    assert_eq!(failover_state(&mut p), "no-failover");
    let ok: String = redis::cmd("FAILOVER").query(&mut p).unwrap();
    assert_eq!(ok, "OK");
    wait_for("the roles to swap", PATIENCE, || {
        role(&mut r) == ["master"]
            && role(&mut p) == ["slave", &replica.port.to_string(), "connected"]
    });
    assert_eq!(failover_state(&mut p), "no-failover");
    assert_eq!(failover_state(&mut r), "no-failover");
    // The new primary takes writes and its history goes on: the old primary resumed
    // with a partial sync, keeping the old id as its second id.
    assert_eq!(
        info_field(&mut p, "master_replid"),
        info_field(&mut r, "master_replid")
    );
    assert_eq!(
        info_field(&mut p, "master_replid2"),
        info_field(&mut r, "master_replid2")
    );
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("yes")
        .query(&mut r)
        .unwrap();
    wait_for("the old primary to get the write", PATIENCE, || {
        redis::cmd("GET")
            .arg("after")
            .query::<Option<String>>(&mut p)
            .unwrap()
            .as_deref()
            == Some("yes")
    });
    let size: i64 = redis::cmd("DBSIZE").query(&mut p).unwrap();
    assert_eq!(size, 101);
    let refused = redis::cmd("SET").arg("x").arg("1").query::<()>(&mut p);
    assert_eq!(refused.unwrap_err().code(), Some("READONLY"));
    // And back again: the old primary's replica is now the one to fail over to.
    let ok: String = redis::cmd("FAILOVER").query(&mut r).unwrap();
    assert_eq!(ok, "OK");
    wait_for("the roles to swap back", PATIENCE, || {
        role(&mut p) == ["master"]
            && role(&mut r) == ["slave", &primary.port.to_string(), "connected"]
    });
    let _: () = redis::cmd("SET")
        .arg("back")
        .arg("1")
        .query(&mut p)
        .unwrap();
    wait_in_sync(&primary, &replica);
    let size: i64 = redis::cmd("DBSIZE").query(&mut r).unwrap();
    assert_eq!(size, 102);
}

#[test]
fn no_acknowledged_write_is_lost_under_a_concurrent_writer() {
    let (pdir, rdir) = (TempDir::new("fo-writer-p"), TempDir::new("fo-writer-r"));
    let primary = Roost::start(&pdir.0, &[]);
    let replica = start_replica(&rdir, &primary);
    wait_in_sync(&primary, &replica);
    fail_over_under_a_writer(&primary, &mut replica.client());
}

/// The same with a redis-server replica taking over: what Roost resumes from it must
/// neither miss a write nor apply one twice (the counter).
#[test]
fn no_acknowledged_write_is_lost_failing_over_to_a_redis_server_replica() {
    let dir = TempDir::new("fo-writer-redis");
    let primary = Roost::start(&dir.0, &[]);
    let port = primary.port.to_string();
    let redis_replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    let mut p = primary.client();
    wait_for("the redis-server replica to sync", PATIENCE, || {
        info_field(&mut p, "slave0").contains("state=online")
    });
    let mut r = redis::Client::open(redis_replica.url())
        .unwrap()
        .get_connection()
        .unwrap();
    fail_over_under_a_writer(&primary, &mut r);
    // And Roost, now its replica, holds the same.
    wait_for("Roost to follow", PATIENCE, || {
        role(&mut p) == ["slave", &redis_replica.port.to_string(), "connected"]
    });
    let _: () = redis::cmd("INCR").arg("n").query(&mut r).unwrap();
    let want: i64 = redis::cmd("GET").arg("n").query(&mut r).unwrap();
    wait_for("Roost to get the last write", PATIENCE, || {
        redis::cmd("GET").arg("n").query::<i64>(&mut p).unwrap() == want
    });
    let sizes = |con: &mut redis::Connection| redis::cmd("DBSIZE").query::<i64>(con).unwrap();
    assert_eq!(sizes(&mut p), sizes(&mut r));
}

/// Writes `SET w<i>` then `INCR n` on `primary` until it refuses them (READONLY), runs
/// FAILOVER meanwhile, and checks that `new_primary` has every acknowledged write once.
fn fail_over_under_a_writer(primary: &Roost, new_primary: &mut redis::Connection) {
    let acknowledged = Arc::new(Mutex::new((Vec::new(), 0i64)));
    let started = Arc::new(AtomicBool::new(false));
    let writer = {
        let mut con = primary.client();
        let acknowledged = acknowledged.clone();
        let started = started.clone();
        thread::spawn(move || {
            // Until the old primary refuses (READONLY): every OK is a write it took.
            for i in 0.. {
                let key = format!("w{i}");
                match redis::cmd("SET").arg(&key).arg(i).query::<()>(&mut con) {
                    Ok(()) => acknowledged.lock().unwrap().0.push(key),
                    Err(e) => return e.code().map(str::to_string),
                }
                match redis::cmd("INCR").arg("n").query::<i64>(&mut con) {
                    Ok(_) => acknowledged.lock().unwrap().1 += 1,
                    Err(e) => return e.code().map(str::to_string),
                }
                if i == 500 {
                    started.store(true, Ordering::Release);
                }
            }
            None
        })
    };
    wait_for("the writer to get going", PATIENCE, || {
        started.load(Ordering::Acquire)
    });
    let mut p = primary.client();
    let ok: String = redis::cmd("FAILOVER").query(&mut p).unwrap();
    assert_eq!(ok, "OK");
    let refusal = writer.join().unwrap();
    assert_eq!(refusal.as_deref(), Some("READONLY"));
    let (acknowledged, increments) = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 500);
    let r = new_primary;
    wait_for("the replica to take over", PATIENCE, || {
        role(r) == ["master"]
    });
    let mut pipe = redis::pipe();
    for key in &acknowledged {
        pipe.cmd("EXISTS").arg(key);
    }
    let present: Vec<i64> = pipe.query(r).unwrap();
    let lost: Vec<&String> = acknowledged
        .iter()
        .zip(&present)
        .filter(|(_, &n)| n == 0)
        .map(|(k, _)| k)
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    let size: i64 = redis::cmd("DBSIZE").query(r).unwrap();
    assert_eq!(size as usize, acknowledged.len() + 1);
    let n: i64 = redis::cmd("GET").arg("n").query(r).unwrap();
    assert_eq!(n, increments);
}

#[test]
fn failover_to_a_chosen_replica_of_two() {
    let dirs = [
        TempDir::new("fo-to-p"),
        TempDir::new("fo-to-r1"),
        TempDir::new("fo-to-r2"),
    ];
    let primary = Roost::start(&dirs[0].0, &[]);
    let first = start_replica(&dirs[1], &primary);
    let second = start_replica(&dirs[2], &primary);
    let mut p = primary.client();
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut p)
        .unwrap();
    wait_in_sync(&primary, &first);
    wait_in_sync(&primary, &second);
    let ok: String = redis::cmd("FAILOVER")
        .arg("TO")
        .arg("127.0.0.1")
        .arg(second.port)
        .query(&mut p)
        .unwrap();
    assert_eq!(ok, "OK");
    let (mut r1, mut r2) = (first.client(), second.client());
    wait_for("the second replica to take over", PATIENCE, || {
        role(&mut r2) == ["master"]
            && role(&mut p) == ["slave", &second.port.to_string(), "connected"]
    });
    // The other replica still follows the old primary, now a chained replica.
    assert_eq!(
        role(&mut r1),
        ["slave", &primary.port.to_string(), "connected"]
    );
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("2")
        .query(&mut r2)
        .unwrap();
    for con in [&mut p, &mut r1] {
        wait_for("the write to reach every server", PATIENCE, || {
            redis::cmd("GET")
                .arg("after")
                .query::<Option<String>>(con)
                .unwrap()
                .as_deref()
                == Some("2")
        });
    }
}

#[test]
fn a_timeout_without_force_aborts_and_writes_resume() {
    let (pdir, rdir) = (TempDir::new("fo-timeout-p"), TempDir::new("fo-timeout-r"));
    let primary = Roost::start(&pdir.0, &[]);
    let replica = start_replica(&rdir, &primary);
    wait_in_sync(&primary, &replica);
    let mut p = primary.client();
    let stopped = Stopped::new(replica.child.id());
    // A write the stopped replica cannot acknowledge.
    let _: () = redis::cmd("SET")
        .arg("unacked")
        .arg("1")
        .query(&mut p)
        .unwrap();
    let ok: String = redis::cmd("FAILOVER")
        .arg("TIMEOUT")
        .arg(3000)
        .query(&mut p)
        .unwrap();
    assert_eq!(ok, "OK");
    assert_eq!(failover_state(&mut p), "waiting-for-sync");
    // Writes are held; reads are not; CLIENT UNPAUSE does not end a failover's pause.
    let mut writer = Raw::connect(primary.port);
    writer.send(&["SET", "held", "1"]);
    assert!(!writer.answers_within(Duration::from_millis(300)));
    let mut reader = Raw::connect(primary.port);
    assert_eq!(reader.request(&["EXISTS", "unacked"]), ":1\r\n");
    assert_eq!(reader.request(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    assert!(!writer.answers_within(Duration::from_millis(300)));
    // The deadline passes: still the primary, and the held write goes through.
    assert_eq!(writer.line(), "+OK\r\n");
    assert_eq!(failover_state(&mut p), "no-failover");
    assert_eq!(role(&mut p), ["master"]);
    let _: () = redis::cmd("SET")
        .arg("later")
        .arg("1")
        .query(&mut p)
        .unwrap();
    drop(stopped);
    wait_in_sync(&primary, &replica);
    let mut r = replica.client();
    let size: i64 = redis::cmd("DBSIZE").query(&mut r).unwrap();
    assert_eq!(size, 3);
}

#[test]
fn force_fails_over_to_the_target_once_the_timeout_passes() {
    let (pdir, rdir) = (TempDir::new("fo-force-p"), TempDir::new("fo-force-r"));
    let primary = Roost::start(&pdir.0, &[]);
    let replica = start_replica(&rdir, &primary);
    wait_in_sync(&primary, &replica);
    let mut p = primary.client();
    let stopped = Stopped::new(replica.child.id());
    let _: () = redis::cmd("SET")
        .arg("unacked")
        .arg("1")
        .query(&mut p)
        .unwrap();
    let ok: String = redis::cmd("FAILOVER")
        .arg("TO")
        .arg("127.0.0.1")
        .arg(replica.port)
        .arg("TIMEOUT")
        .arg(300)
        .arg("FORCE")
        .query(&mut p)
        .unwrap();
    assert_eq!(ok, "OK");
    // Past the deadline the primary hands over anyway: it demotes itself and waits for
    // the (stopped) target to answer its PSYNC FAILOVER.
    wait_for("the forced hand-over", PATIENCE, || {
        failover_state(&mut p) == "failover-in-progress"
    });
    assert_eq!(role(&mut p)[0], "slave");
    drop(stopped);
    let mut r = replica.client();
    wait_for("the target to take over", PATIENCE, || {
        role(&mut r) == ["master"]
            && role(&mut p) == ["slave", &replica.port.to_string(), "connected"]
    });
    assert_eq!(failover_state(&mut p), "no-failover");
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("1")
        .query(&mut r)
        .unwrap();
    wait_in_sync(&replica, &primary);
}

#[test]
fn abort_cancels_a_failover_waiting_for_its_replica() {
    let (pdir, rdir) = (TempDir::new("fo-abort-p"), TempDir::new("fo-abort-r"));
    let primary = Roost::start(&pdir.0, &[]);
    let replica = start_replica(&rdir, &primary);
    wait_in_sync(&primary, &replica);
    let mut p = primary.client();
    let stopped = Stopped::new(replica.child.id());
    let _: () = redis::cmd("SET")
        .arg("unacked")
        .arg("1")
        .query(&mut p)
        .unwrap();
    let ok: String = redis::cmd("FAILOVER").query(&mut p).unwrap();
    assert_eq!(ok, "OK");
    let mut writer = Raw::connect(primary.port);
    writer.send(&["SET", "held", "1"]);
    assert!(!writer.answers_within(Duration::from_millis(300)));
    assert_eq!(failover_state(&mut p), "waiting-for-sync");
    let ok: String = redis::cmd("FAILOVER").arg("ABORT").query(&mut p).unwrap();
    assert_eq!(ok, "OK");
    assert_eq!(writer.line(), "+OK\r\n");
    assert_eq!(failover_state(&mut p), "no-failover");
    assert_eq!(role(&mut p), ["master"]);
    drop(stopped);
    // The replica catches up and still follows the same primary, which may fail over
    // again.
    wait_in_sync(&primary, &replica);
    let ok: String = redis::cmd("FAILOVER").query(&mut p).unwrap();
    assert_eq!(ok, "OK");
    let mut r = replica.client();
    wait_for("the roles to swap", PATIENCE, || role(&mut r) == ["master"]);
}

/// The requests whose replies (errors) must be Redis's, byte for byte.
const ERRORS_ALONE: &[&[&str]] = &[
    &["FAILOVER"],
    &["FAILOVER", "ABORT"],
    &["FAILOVER", "abort"],
    &["FAILOVER", "TO", "127.0.0.1", "1"],
    &["FAILOVER", "FORCE"],
    &["FAILOVER", "TIMEOUT", "0"],
    &["FAILOVER", "TIMEOUT", "-5"],
    &["FAILOVER", "TIMEOUT", "abc"],
    &["FAILOVER", "TO", "127.0.0.1", "abc"],
    &["FAILOVER", "TO", "127.0.0.1"],
    &["FAILOVER", "ABORT", "TIMEOUT", "5"],
    &["FAILOVER", "BOGUS"],
    &["FAILOVER", "TIMEOUT", "5", "TIMEOUT", "6"],
    &["FAILOVER", "FORCE", "FORCE"],
    &["FAILOVER", "TO", "a", "1", "TO", "b", "2"],
    &["FAILOVER", "TO", "127.0.0.1", "99999"],
];

fn compare(redis_port: u16, roost_port: u16, requests: &[Vec<String>]) {
    let (mut redis, mut roost) = (Raw::connect(redis_port), Raw::connect(roost_port));
    for request in requests {
        let args: Vec<&str> = request.iter().map(String::as_str).collect();
        let (want, got) = (redis.request(&args), roost.request(&args));
        assert_eq!(got, want, "{request:?}");
    }
}

fn owned(requests: &[&[&str]]) -> Vec<Vec<String>> {
    requests
        .iter()
        .map(|r| r.iter().map(|a| a.to_string()).collect())
        .collect()
}

#[test]
fn errors_and_command_info_are_redis_s() {
    let dirs = [TempDir::new("fo-errors-p"), TempDir::new("fo-errors-r")];
    // Alone: no replicas.
    let redis_primary = RedisServer::start();
    let roost_primary = Roost::start(&dirs[0].0, &[]);
    compare(redis_primary.port, roost_primary.port, &owned(ERRORS_ALONE));
    let mut redis_con = redis::Client::open(redis_primary.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut roost_con = roost_primary.client();
    let info = |con: &mut redis::Connection| {
        redis::cmd("COMMAND")
            .arg("INFO")
            .arg("failover")
            .query::<Value>(con)
            .unwrap()
    };
    assert_eq!(info(&mut roost_con), info(&mut redis_con));

    // With a replica each.
    let port = redis_primary.port.to_string();
    let redis_replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    let roost_replica = start_replica(&dirs[1], &roost_primary);
    wait_for("the redis-server replica to sync", PATIENCE, || {
        info_field(&mut redis_con, "slave0").contains("state=online")
    });
    wait_in_sync(&roost_primary, &roost_replica);
    let not_a_replica = |port: u16| {
        vec![
            vec!["FAILOVER".into(), "FORCE".into()],
            vec![
                "FAILOVER".into(),
                "TIMEOUT".into(),
                "100".into(),
                "FORCE".into(),
            ],
            vec![
                "FAILOVER".into(),
                "TO".into(),
                "127.0.0.1".into(),
                port.to_string(),
                "FORCE".into(),
            ],
            // Each server's own port: a server, but not its replica.
            vec![
                "FAILOVER".into(),
                "TO".into(),
                "127.0.0.1".into(),
                "1".into(),
            ],
            vec![
                "FAILOVER".into(),
                "TO".into(),
                "127.0.0.1".into(),
                "1".into(),
                "TIMEOUT".into(),
                "10".into(),
                "FORCE".into(),
            ],
            vec!["FAILOVER".into(), "ABORT".into()],
        ]
    };
    let (mut redis, mut roost) = (
        Raw::connect(redis_primary.port),
        Raw::connect(roost_primary.port),
    );
    for (want, got) in not_a_replica(redis_replica.port)
        .iter()
        .zip(not_a_replica(roost_replica.port))
    {
        let want_args: Vec<&str> = want.iter().map(String::as_str).collect();
        let got_args: Vec<&str> = got.iter().map(String::as_str).collect();
        assert_eq!(
            roost.request(&got_args),
            redis.request(&want_args),
            "{got:?}"
        );
    }
    // On a replica.
    compare(
        redis_replica.port,
        roost_replica.port,
        &owned(&[
            &["FAILOVER"],
            &["FAILOVER", "ABORT"],
            &["FAILOVER", "TIMEOUT", "10"],
        ]),
    );

    // A failover that cannot finish (its replica is stopped): what it refuses meanwhile.
    let stopped = [
        Stopped::new(redis_replica.pid()),
        Stopped::new(roost_replica.child.id()),
    ];
    for con in [&mut redis_con, &mut roost_con] {
        let _: () = redis::cmd("SET").arg("k").arg("v").query(con).unwrap();
    }
    let while_failing_over: &[&[&str]] = &[
        &["FAILOVER"],
        &["FAILOVER", "TIMEOUT", "10"],
        &["FAILOVER", "ABORT", "x"],
        &["REPLICAOF", "127.0.0.1", "1"],
        &["REPLICAOF", "NO", "ONE"],
        &["SYNC"],
        &["PSYNC", "?", "-1"],
        &["FAILOVER", "ABORT"],
        &["FAILOVER", "ABORT"],
    ];
    assert_eq!(redis.request(&["FAILOVER"]), "+OK\r\n");
    assert_eq!(roost.request(&["FAILOVER"]), "+OK\r\n");
    assert_eq!(failover_state(&mut redis_con), "waiting-for-sync");
    assert_eq!(failover_state(&mut roost_con), "waiting-for-sync");
    compare(
        redis_primary.port,
        roost_primary.port,
        &owned(while_failing_over),
    );
    assert_eq!(failover_state(&mut redis_con), "no-failover");
    assert_eq!(failover_state(&mut roost_con), "no-failover");
    drop(stopped);
}

#[test]
fn a_replica_refuses_psync_failover_naming_another_history() {
    let (pdir, rdir) = (TempDir::new("fo-replid-p"), TempDir::new("fo-replid-r"));
    let primary = Roost::start(&pdir.0, &[]);
    let replica = start_replica(&rdir, &primary);
    wait_in_sync(&primary, &replica);
    let mut raw = Raw::connect(replica.port);
    let wrong = "0".repeat(40);
    assert_eq!(
        raw.request(&["PSYNC", &wrong, "1", "FAILOVER"]),
        "-ERR PSYNC FAILOVER replid must match my replid.\r\n"
    );
    let mut r = replica.client();
    assert_eq!(
        role(&mut r),
        ["slave", &primary.port.to_string(), "connected"]
    );
}

/// A redis-server primary fails over to a Roost replica following it: Roost accepts
/// Redis's `PSYNC <Redis's id> <offset> FAILOVER` (the history it follows is Redis's)
/// and serves the former primary in Redis's format.
#[test]
fn a_redis_server_primary_fails_over_to_a_roost_replica() {
    let dir = TempDir::new("fo-from-redis");
    let redis_primary = RedisServer::start();
    let port = redis_primary.port.to_string();
    let replica = Roost::start(&dir.0, &["--replicaof", &format!("127.0.0.1 {port}")]);
    let mut p = redis::Client::open(redis_primary.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut r = replica.client();
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut p)
        .unwrap();
    wait_for("the Roost replica to catch up", PATIENCE, || {
        info_field(&mut r, "master_link_status") == "up"
            && info_field(&mut r, "slave_repl_offset") == info_field(&mut p, "master_repl_offset")
    });
    let ok: String = redis::cmd("FAILOVER").query(&mut p).unwrap();
    assert_eq!(ok, "OK");
    wait_for("Roost to take over", PATIENCE, || {
        role(&mut r) == ["master"]
            && role(&mut p) == ["slave", &replica.port.to_string(), "connected"]
    });
    assert_eq!(failover_state(&mut p), "no-failover");
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("2")
        .query(&mut r)
        .unwrap();
    wait_for("redis-server to get the write", PATIENCE, || {
        redis::cmd("GET")
            .arg("after")
            .query::<Option<String>>(&mut p)
            .unwrap()
            .as_deref()
            == Some("2")
    });
    let before: Option<String> = redis::cmd("GET").arg("before").query(&mut p).unwrap();
    assert_eq!(before.as_deref(), Some("1"));
}

/// A redis-server replica of Roost takes over: Roost names the history of its feed to
/// it (the feed's id, the offset it acknowledged) in PSYNC FAILOVER, Redis promotes
/// itself and answers `+CONTINUE`, and Roost follows it as a redis-server primary.
#[test]
fn roost_fails_over_to_a_redis_server_replica() {
    let dir = TempDir::new("fo-to-redis");
    let primary = Roost::start(&dir.0, &[]);
    let port = primary.port.to_string();
    let redis_replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    let mut p = primary.client();
    let mut r = redis::Client::open(redis_replica.url())
        .unwrap()
        .get_connection()
        .unwrap();
    wait_for("the redis-server replica to sync", PATIENCE, || {
        info_field(&mut p, "slave0").contains("state=online")
    });
    // Writes in two databases, the stream left in database 3.
    for i in 0..50 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut p)
            .unwrap();
    }
    let _: () = redis::cmd("SELECT").arg(3).query(&mut p).unwrap();
    let _: () = redis::cmd("SET").arg("in3").arg("x").query(&mut p).unwrap();
    let ok: String = redis::cmd("FAILOVER")
        .arg("TO")
        .arg("127.0.0.1")
        .arg(redis_replica.port)
        .query(&mut p)
        .unwrap();
    assert_eq!(ok, "OK");
    wait_for("redis-server to take over", PATIENCE, || {
        role(&mut r) == ["master"]
            && role(&mut p) == ["slave", &redis_replica.port.to_string(), "connected"]
    });
    assert_eq!(failover_state(&mut p), "no-failover");
    // A partial resync: Roost goes on from its feed's offset, under Redis's new id.
    let stats: String = redis::cmd("INFO").arg("stats").query(&mut r).unwrap();
    assert!(stats.contains("sync_partial_ok:1"), "{stats}");
    assert_eq!(
        info_field(&mut p, "master_replid"),
        info_field(&mut r, "master_replid")
    );
    let _: () = redis::cmd("SELECT").arg(3).query(&mut r).unwrap();
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("2")
        .query(&mut r)
        .unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(&mut r).unwrap();
    let _: () = redis::cmd("SET")
        .arg("k0")
        .arg("new")
        .query(&mut r)
        .unwrap();
    wait_for("Roost to get the writes", PATIENCE, || {
        redis::cmd("GET")
            .arg("after")
            .query::<Option<String>>(&mut p)
            .unwrap()
            .as_deref()
            == Some("2")
    });
    let in3: Option<String> = redis::cmd("GET").arg("in3").query(&mut p).unwrap();
    assert_eq!(in3.as_deref(), Some("x"));
    let _: () = redis::cmd("SELECT").arg(0).query(&mut p).unwrap();
    wait_for("Roost to get the write in database 0", PATIENCE, || {
        redis::cmd("GET")
            .arg("k0")
            .query::<Option<String>>(&mut p)
            .unwrap()
            .as_deref()
            == Some("new")
    });
    let size: i64 = redis::cmd("DBSIZE").query(&mut p).unwrap();
    assert_eq!(size, 50);
}
