//! MIGRATE between real servers on 127.0.0.1: Roost to redis-server (Debian's 7.0.15)
//! and redis-server to Roost, for every type, with TTLs, COPY, REPLACE, KEYS, AUTH,
//! AUTH2 and another database; the target's errors forwarded; targets that refuse the
//! connection or never answer; the deletes logged and replicated. Where Redis can be
//! the source too, its reply is the expected one.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::dataset::{assert_same_stream_nodes, describe, populate, pttl, select};
use common::process::{wait_for, RedisServer, Roost, TempDir};
use common::{encode_cmd, TestServer};
use redis::Connection;

fn connect(port: u16) -> Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Sends one command on a fresh connection to `port` (database 0, or `auth` first) and
/// returns its one-line reply (`+OK`, `-ERR ...`), as the server wrote it.
fn line(port: u16, args: &[&str]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Bounds a MIGRATE that would not end: the test fails rather than hangs.
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    s.write_all(&encode_cmd(&args)).unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\r\n") {
        s.read_exact(&mut byte).unwrap();
        reply.push(byte[0]);
    }
    reply.truncate(reply.len() - 2);
    String::from_utf8(reply).unwrap()
}

fn migrate(source: u16, target: u16, key: &str, db: i64, more: &[&str]) -> String {
    let (target, db) = (target.to_string(), db.to_string());
    let mut args = vec!["MIGRATE", "127.0.0.1", &target, key, &db, "5000"];
    args.extend(more);
    line(source, &args)
}

fn dbsize(con: &mut Connection) -> i64 {
    redis::cmd("DBSIZE").query(con).unwrap()
}

fn exists(con: &mut Connection, key: &str) -> i64 {
    redis::cmd("EXISTS").arg(key).query(con).unwrap()
}

/// Each key's description and TTL.
fn snapshot(con: &mut Connection, keys: &[String]) -> Vec<(String, i64)> {
    keys.iter()
        .map(|k| (describe(con, k), pttl(con, k)))
        .collect()
}

fn assert_holds(con: &mut Connection, keys: &[String], expected: &[(String, i64)]) {
    for (key, (description, ttl)) in keys.iter().zip(expected) {
        assert_eq!(&describe(con, key), description, "{key}");
        let now = pttl(con, key);
        assert!(
            (now < 0) == (*ttl < 0) && (ttl - now).abs() < 10_000,
            "{key}: TTL {now}, was {ttl}"
        );
    }
}

/// Moves the whole dataset from `a` to `b` (COPY, then without REPLACE: refused, then
/// with REPLACE), then back from `b` to `a`; the data comes out the same.
fn round_trip(a: u16, b: u16) {
    let (mut ca, mut cb) = (connect(a), connect(b));
    let keys = populate(&mut ca);
    let before = snapshot(&mut ca, &keys);
    let mut with_keys: Vec<&str> = vec!["KEYS"];
    with_keys.extend(keys.iter().map(|k| k.as_str()));

    let copy = [&["COPY"][..], &with_keys].concat();
    assert_eq!(migrate(a, b, "", 0, &copy), "+OK");
    assert_holds(&mut ca, &keys, &before);
    assert_holds(&mut cb, &keys, &before);
    assert_same_stream_nodes(&mut ca, &mut cb);

    // Every key is there already: each RESTORE is refused, nothing is deleted.
    assert_eq!(
        migrate(a, b, "", 0, &with_keys),
        "-ERR Target instance replied with error: BUSYKEY Target key name already exists."
    );
    assert_eq!(dbsize(&mut ca), keys.len() as i64);

    let replace = [&["REPLACE"][..], &with_keys].concat();
    assert_eq!(migrate(a, b, "", 0, &replace), "+OK");
    assert_eq!(dbsize(&mut ca), 0);
    assert_holds(&mut cb, &keys, &before);

    assert_eq!(migrate(b, a, "", 0, &with_keys), "+OK");
    assert_eq!(dbsize(&mut cb), 0);
    assert_holds(&mut ca, &keys, &before);
}

#[test]
fn every_type_moves_from_roost_to_redis_and_back() {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    round_trip(roost.addr().port(), redis.port);
}

#[test]
fn every_type_moves_from_redis_to_roost_and_back() {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    round_trip(redis.port, roost.addr().port());
}

/// One key, its TTL kept, into another database; from either server.
#[test]
fn a_key_moves_with_its_ttl_into_another_database() {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    let (rp, op) = (redis.port, roost.addr().port());
    for (source, target, db) in [(op, rp, 5), (rp, op, 7)] {
        let (mut from, mut to) = (connect(source), connect(target));
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg("v")
            .arg("PX")
            .arg(100_000)
            .query(&mut from)
            .unwrap();
        assert_eq!(migrate(source, target, "k", db, &[]), "+OK");
        assert_eq!(exists(&mut from, "k"), 0);
        assert_eq!(exists(&mut to, "k"), 0, "not in database 0");
        select(&mut to, db);
        let ttl = pttl(&mut to, "k");
        assert!(ttl > 50_000 && ttl <= 100_000, "TTL {ttl}");
        let v: String = redis::cmd("GET").arg("k").query(&mut to).unwrap();
        assert_eq!(v, "v");
        // The connection is kept and is on database `db` now: a key to database 0
        // still goes to database 0.
        let _: () = redis::cmd("SET").arg("k0").arg(1).query(&mut from).unwrap();
        assert_eq!(migrate(source, target, "k0", 0, &[]), "+OK");
        select(&mut to, 0);
        assert_eq!(exists(&mut to, "k0"), 1);
    }
}

/// KEYS with several keys, one of them already on the target: the others move, that
/// one stays, and the reply is the target's error; the same from Redis and Roost.
#[test]
fn keys_move_except_the_one_the_target_refuses() {
    let target = RedisServer::start();
    let redis = RedisServer::start();
    let roost = TestServer::start();
    let mut t = connect(target.port);
    for source in [redis.port, roost.addr().port()] {
        let _: () = redis::cmd("FLUSHALL").query(&mut t).unwrap();
        let _: () = redis::cmd("SET")
            .arg("b")
            .arg("there")
            .query(&mut t)
            .unwrap();
        let mut s = connect(source);
        let _: () = redis::cmd("MSET")
            .arg(&["a", "1", "b", "2", "c", "3"])
            .query(&mut s)
            .unwrap();
        assert_eq!(
            migrate(
                source,
                target.port,
                "",
                0,
                &["KEYS", "a", "b", "nosuch", "c"]
            ),
            "-ERR Target instance replied with error: BUSYKEY Target key name already exists."
        );
        let left: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut s).unwrap();
        assert_eq!(left, ["b"], "source {source}");
        let moved: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&["a", "b", "c"])
            .query(&mut t)
            .unwrap();
        assert_eq!(
            moved,
            [Some("1".into()), Some("there".into()), Some("3".into())]
        );
    }
}

#[test]
fn auth_and_auth2_reach_a_target_that_requires_them() {
    let target = RedisServer::start();
    let roost_target = TestServer::start();
    for port in [target.port, roost_target.addr().port()] {
        let mut admin = connect(port);
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", "mover", "on", ">moverpw", "~*", "+@all"])
            .query(&mut admin)
            .unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg(&["SET", "requirepass", "sekret"])
            .query(&mut admin)
            .unwrap();
    }
    let redis = RedisServer::start();
    let roost = TestServer::start();
    let (rp, op) = (redis.port, roost.addr().port());
    for (source, target) in [(op, target.port), (rp, roost_target.addr().port())] {
        let mut s = connect(source);
        let _: () = redis::cmd("MSET")
            .arg(&["k1", "1", "k2", "2"])
            .query(&mut s)
            .unwrap();
        let expected = [
            (vec![], "-ERR Target instance replied with error: NOAUTH Authentication required."),
            (
                vec!["AUTH", "wrong"],
                "-ERR Target instance replied with error: WRONGPASS invalid username-password pair or user is disabled.",
            ),
            (
                vec!["AUTH2", "mover", "wrong"],
                "-ERR Target instance replied with error: WRONGPASS invalid username-password pair or user is disabled.",
            ),
        ];
        for (auth, reply) in expected {
            assert_eq!(migrate(source, target, "k1", 0, &auth), reply, "{auth:?}");
        }
        assert_eq!(dbsize(&mut s), 2);
        assert_eq!(migrate(source, target, "k1", 0, &["AUTH", "sekret"]), "+OK");
        assert_eq!(
            migrate(source, target, "k2", 0, &["AUTH2", "mover", "moverpw"]),
            "+OK"
        );
        assert_eq!(dbsize(&mut s), 0);
    }
}

/// Replies that need no working target, compared with Redis's: NOKEY, a refused
/// connection, an unknown host, a target that never answers.
#[test]
fn nokey_and_unreachable_targets_reply_as_redis() {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    // A port nothing listens on.
    let refused = TcpListener::bind("127.0.0.1:0").unwrap();
    let refused_port = refused.local_addr().unwrap().port().to_string();
    drop(refused);
    // A target that accepts connections (the kernel does) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port().to_string();
    for source in [redis.port, roost.addr().port()] {
        let mut s = connect(source);
        let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut s).unwrap();
        let cases: [(&[&str], &str); 5] = [
            (
                &["127.0.0.1", &refused_port, "nosuch", "0", "100"],
                "+NOKEY",
            ),
            (
                &["127.0.0.1", &refused_port, "", "0", "100", "KEYS", "a", "b"],
                "+NOKEY",
            ),
            (
                &["127.0.0.1", &refused_port, "k", "0", "100"],
                "-IOERR error or timeout writing to target instance",
            ),
            (
                &["no-such-host.invalid", "6379", "k", "0", "100"],
                "-IOERR error or timeout connecting to the client",
            ),
            (
                &["127.0.0.1", &silent_port, "k", "0", "300"],
                "-IOERR error or timeout reading to target instance",
            ),
        ];
        for (args, reply) in cases {
            let args = [&["MIGRATE"][..], args].concat();
            assert_eq!(line(source, &args), reply, "{args:?} from {source}");
        }
        assert_eq!(exists(&mut s, "k"), 1);
    }
}

/// While MIGRATE waits on a target, other connections are still served (a command
/// that takes no gate answers); the target gets AUTH, SELECT and RESTORE pipelined, and
/// its replies end the MIGRATE.
#[test]
fn a_waiting_migrate_holds_no_other_connection() {
    let roost = TestServer::start();
    let port = roost.addr().port();
    let mut con = roost.client();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .arg("PX")
        .arg(100_000)
        .query(&mut con)
        .unwrap();
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let fake_port = fake.local_addr().unwrap().port().to_string();
    let waiting = std::thread::spawn(move || {
        line(
            port,
            &[
                "MIGRATE",
                "127.0.0.1",
                &fake_port,
                "k",
                "4",
                "20000",
                "AUTH",
                "pw",
                "REPLACE",
            ],
        )
    });
    let (mut target, _) = fake.accept().unwrap();
    target
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.windows(9).filter(|w| w == b"REPLACE\r\n").count() == 0 {
        let n = target.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the connection closed: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n4\r\n*5\r\n$7\r\nRESTORE\r\n$1\r\nk\r\n"),
        "{text:?}"
    );
    // MIGRATE holds the keyspace; a command that needs none is answered meanwhile
    // (on a raw connection: the client library's handshake would wait for the gate).
    roost
        .raw()
        .roundtrip(&[b"ACL", b"WHOAMI"], b"$7\r\ndefault\r\n");
    target.write_all(b"+OK\r\n+OK\r\n+OK\r\n").unwrap();
    assert_eq!(waiting.join().unwrap(), "+OK");
    assert_eq!(exists(&mut con, "k"), 0);
}

/// The connection to a target is kept for the next MIGRATE, and replaced when the
/// target has closed it.
#[test]
fn the_connection_to_a_target_is_reused() {
    let target = RedisServer::start();
    let roost = TestServer::start();
    let mut t = connect(target.port);
    let mut s = roost.client();
    let connections = |t: &mut Connection| -> i64 {
        let info: String = redis::cmd("INFO").arg("stats").query(t).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let at_start = connections(&mut t);
    for i in 0..5 {
        let key = format!("k{i}");
        let _: () = redis::cmd("SET").arg(&key).arg(i).query(&mut s).unwrap();
        let db = i % 2;
        assert_eq!(
            migrate(roost.addr().port(), target.port, &key, db, &[]),
            "+OK"
        );
        select(&mut t, db);
        assert_eq!(exists(&mut t, &key), 1, "{key} in db {db}");
        select(&mut t, 0);
    }
    assert_eq!(connections(&mut t) - at_start, 1);
    let _: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"])
        .query(&mut t)
        .unwrap();
    let _: () = redis::cmd("SET").arg("after").arg(1).query(&mut s).unwrap();
    assert_eq!(
        migrate(roost.addr().port(), target.port, "after", 0, &[]),
        "+OK"
    );
    assert_eq!(exists(&mut t, "after"), 1);
    assert_eq!(connections(&mut t) - at_start, 2);
}

/// The deletes are notified, replicated and logged as DEL: a replica loses the keys,
/// and so does the source after a restart from its log.
#[test]
fn deletes_reach_a_replica_and_the_log() {
    let target = RedisServer::start();
    let dir = TempDir::new("migrate-log");
    let rdir = TempDir::new("migrate-replica");
    let primary = Roost::start(
        &dir.0,
        &["--appendonly", "yes", "--notify-keyspace-events", "KEA"],
    );
    let replica = Roost::start(
        &rdir.0,
        &["--replicaof", &format!("127.0.0.1 {}", primary.port)],
    );
    let mut p = primary.client();
    let mut r = replica.client();
    let mut sub = primary.client();
    let mut pubsub = sub.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:del").unwrap();
    let _: () = redis::cmd("MSET")
        .arg(&["a", "1", "b", "2", "c", "3", "kept", "4"])
        .query(&mut p)
        .unwrap();
    let mut replica_size = || -> i64 { redis::cmd("DBSIZE").query(&mut r).unwrap_or(-1) };
    wait_for(
        "the replica to have the keys",
        Duration::from_secs(30),
        || replica_size() == 4,
    );
    assert_eq!(
        migrate(primary.port, target.port, "", 0, &["KEYS", "a", "b"]),
        "+OK"
    );
    assert_eq!(migrate(primary.port, target.port, "c", 0, &["COPY"]), "+OK");
    pubsub
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut deleted = Vec::new();
    for _ in 0..2 {
        let m = pubsub.get_message().unwrap();
        deleted.push(m.get_payload::<String>().unwrap());
    }
    assert_eq!(deleted, ["a", "b"]);
    drop(pubsub);
    wait_for(
        "the replica to lose a and b",
        Duration::from_secs(30),
        || replica_size() == 2,
    );
    let mut left: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut r).unwrap();
    left.sort();
    assert_eq!(left, ["c", "kept"]);
    primary.kill9();
    let primary = Roost::start(&dir.0, &["--appendonly", "yes"]);
    let mut p = primary.client();
    let mut left: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut p).unwrap();
    left.sort();
    assert_eq!(left, ["c", "kept"]);
    let mut t = connect(target.port);
    assert_eq!(dbsize(&mut t), 3);
}

/// AUTH's and AUTH2's arguments are redacted in the slow log, as Redis redacts them.
#[test]
fn passwords_are_redacted_as_redis_redacts_them() {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    let logged = |port: u16| -> Vec<redis::Value> {
        let mut con = connect(port);
        let _: () = redis::cmd("CONFIG")
            .arg(&["SET", "slowlog-log-slower-than", "0"])
            .query(&mut con)
            .unwrap();
        line(
            port,
            &[
                "MIGRATE",
                "127.0.0.1",
                "1",
                "",
                "0",
                "100",
                "COPY",
                "AUTH",
                "pw",
                "AUTH2",
                "user",
                "pw2",
                "KEYS",
                "a",
                "b",
            ],
        );
        let entries: Vec<Vec<redis::Value>> = redis::cmd("SLOWLOG")
            .arg(&["GET", "100"])
            .query(&mut con)
            .unwrap();
        let migrate = entries
            .into_iter()
            .find(|e| format!("{:?}", e[3]).to_lowercase().contains("migrate"))
            .expect("MIGRATE in the slow log");
        match &migrate[3] {
            redis::Value::Array(args) => args.clone(),
            other => panic!("{other:?}"),
        }
    };
    let from_roost = logged(roost.addr().port());
    assert_eq!(from_roost, logged(redis.port));
    assert!(format!("{from_roost:?}").contains("redacted"));
}
