//! WAITAOF (Redis 7.2; Redis 7.0 has none, so nothing to compare against here): a
//! client waits until its last write is fsynced to the local log and to the logs of
//! some replicas, which report how far theirs is fsynced with `REPLCONF ACK .. FACK`.
//! Error texts are Redis 7.2's. A count is only ever what is fsynced: under
//! `appendfsync no` nothing is until the log switches segments, and a replica without a
//! log never counts.

mod common;

use std::time::Duration;

use common::process::{wait_for, Roost, TempDir};
use redis::{Connection, RedisResult, Value};

fn waitaof(con: &mut Connection, local: i64, replicas: i64, timeout: i64) -> RedisResult<Vec<i64>> {
    redis::cmd("WAITAOF")
        .arg(local)
        .arg(replicas)
        .arg(timeout)
        .query(con)
}

fn error_text(e: redis::RedisError) -> String {
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn set(con: &mut Connection, key: &str) {
    let _: () = redis::cmd("SET").arg(key).arg("v").query(con).unwrap();
}

#[test]
fn arguments_and_refusals_as_redis_7_2_answers() {
    let logged = TempDir::new("waitaof-args");
    let server = Roost::start(&logged.0, &[]);
    let mut con = server.client();
    let cases: &[(&[&str], &str)] = &[
        (
            &["2", "0", "0"],
            "ERR value is out of range, value must between 0 and 1",
        ),
        (
            &["-1", "0", "0"],
            "ERR value is out of range, value must between 0 and 1",
        ),
        (
            &["x", "0", "0"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["0", "-1", "0"],
            "ERR value is out of range, must be positive",
        ),
        (&["0", "0", "-1"], "ERR timeout is negative"),
        (
            &["0", "0", "soon"],
            "ERR timeout is not an integer or out of range",
        ),
    ];
    for (args, expected) in cases {
        let e = redis::cmd("WAITAOF")
            .arg(*args)
            .query::<Value>(&mut con)
            .unwrap_err();
        assert_eq!(error_text(e), *expected, "{args:?}");
    }
    let arity = redis::cmd("WAITAOF")
        .arg(0)
        .arg(0)
        .query::<Value>(&mut con)
        .unwrap_err();
    assert_eq!(
        error_text(arity),
        "ERR wrong number of arguments for 'waitaof' command"
    );

    // Without a log: numlocal is refused, numlocal 0 answers at once.
    let unlogged = TempDir::new("waitaof-nolog");
    let memory_only = Roost::start(&unlogged.0, &["--appendonly", "no"]);
    let mut con = memory_only.client();
    set(&mut con, "k");
    let e = waitaof(&mut con, 1, 0, 0).unwrap_err();
    assert_eq!(
        error_text(e),
        "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled."
    );
    assert_eq!(waitaof(&mut con, 0, 0, 0).unwrap(), [0, 0]);

    // On a replica.
    let replica_dir = TempDir::new("waitaof-replica-refuses");
    let replica = Roost::start(
        &replica_dir.0,
        &["--replicaof", "127.0.0.1", &server.port.to_string()],
    );
    let e = waitaof(&mut replica.client(), 0, 0, 0).unwrap_err();
    assert_eq!(
        error_text(e),
        "ERR WAITAOF cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated."
    );
}

#[test]
fn local_fsync_under_each_policy() {
    // always and everysec: the write is fsynced (at once, or within the second).
    for policy in ["always", "everysec"] {
        let dir = TempDir::new(&format!("waitaof-{policy}"));
        let server = Roost::start(&dir.0, &["--appendfsync", policy]);
        let mut con = server.client();
        set(&mut con, "k");
        assert_eq!(waitaof(&mut con, 1, 0, 0).unwrap(), [1, 0], "{policy}");
    }

    // no: the kernel decides when, so nothing counts until Roost fsyncs the log itself,
    // which it does when a rewrite switches segments.
    let dir = TempDir::new("waitaof-no");
    let server = Roost::start(&dir.0, &["--appendfsync", "no"]);
    let mut con = server.client();
    set(&mut con, "k");
    assert_eq!(waitaof(&mut con, 1, 0, 200).unwrap(), [0, 0]);
    // Blocked meanwhile, and counted as such.
    let mut waiter = server.client();
    let blocked = std::thread::spawn(move || {
        set(&mut waiter, "k2");
        waitaof(&mut waiter, 1, 0, 0).unwrap()
    });
    wait_for(
        "the client blocked in WAITAOF",
        Duration::from_secs(30),
        || {
            let info: String = redis::cmd("INFO").arg("clients").query(&mut con).unwrap();
            info.contains("\r\nblocked_clients:1\r\n")
        },
    );
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    assert_eq!(blocked.join().unwrap(), [1, 0]);
}

#[test]
fn replicas_count_only_when_their_own_log_is_fsynced() {
    let primary_dir = TempDir::new("waitaof-primary");
    let primary = Roost::start(&primary_dir.0, &[]);
    let port = primary.port.to_string();
    let logged_dir = TempDir::new("waitaof-logged-replica");
    let logged = Roost::start(&logged_dir.0, &["--replicaof", "127.0.0.1", &port]);
    let mut p = primary.client();
    wait_for(
        "the replica to come online",
        Duration::from_secs(30),
        || {
            let info: String = redis::cmd("INFO").arg("replication").query(&mut p).unwrap();
            info.contains("connected_slaves:1") && info.contains("state=online")
        },
    );
    set(&mut p, "k");
    assert_eq!(waitaof(&mut p, 1, 1, 0).unwrap(), [1, 1]);
    let got: String = redis::cmd("GET")
        .arg("k")
        .query(&mut logged.client())
        .unwrap();
    assert_eq!(got, "v");

    // A second replica that keeps no log acknowledges the write (WAIT) but never its
    // fsync (WAITAOF).
    let memory_dir = TempDir::new("waitaof-memory-replica");
    let _memory_only = Roost::start(
        &memory_dir.0,
        &["--appendonly", "no", "--replicaof", "127.0.0.1", &port],
    );
    wait_for("both replicas online", Duration::from_secs(30), || {
        let info: String = redis::cmd("INFO").arg("replication").query(&mut p).unwrap();
        info.contains("connected_slaves:2") && !info.contains("state=wait_bgsave")
    });
    set(&mut p, "k2");
    let acknowledged: i64 = redis::cmd("WAIT").arg(2).arg(0).query(&mut p).unwrap();
    assert_eq!(acknowledged, 2);
    // Fsynced here and on the logged replica (within everysec's second)...
    assert_eq!(waitaof(&mut p, 1, 1, 0).unwrap(), [1, 1]);
    // ...but asking for both replicas runs into the timeout: one never counts.
    assert_eq!(waitaof(&mut p, 1, 2, 300).unwrap(), [1, 1]);

    // Inside MULTI neither WAITAOF nor WAIT blocks: each answers what holds now.
    let _: () = redis::cmd("MULTI").query(&mut p).unwrap();
    let _: Value = redis::cmd("SET").arg("k3").arg("v").query(&mut p).unwrap();
    let _: Value = redis::cmd("WAITAOF")
        .arg(1)
        .arg(2)
        .arg(0)
        .query(&mut p)
        .unwrap();
    let _: Value = redis::cmd("WAIT").arg(5).arg(0).query(&mut p).unwrap();
    let replies: Vec<Value> = redis::cmd("EXEC").query(&mut p).unwrap();
    assert!(matches!(replies[2], Value::Int(n) if n < 5), "{replies:?}");
    let Value::Array(counts) = &replies[1] else {
        panic!("{replies:?}")
    };
    assert_eq!(counts.len(), 2);
    assert!(
        matches!(counts[1], Value::Int(n) if n < 2),
        "a replica without a log counted: {counts:?}"
    );
}
