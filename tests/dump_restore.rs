//! DUMP and RESTORE against a real redis-server (Debian's 7.0.15): payloads DUMPed by
//! Redis RESTORE into Roost, and Roost's into Redis, for every type in its small and
//! large encodings, with TTLs; the data (and OBJECT ENCODING) must come out the same.
//! RESTORE's (and RESTORE-ASKING's) errors and options are compared reply for reply.

mod common;

use std::time::Duration;

use common::dataset::{
    assert_same_description, assert_same_stream_nodes, describe, populate, pttl,
};
use common::process::{RedisServer, Roost, TempDir};
use common::TestServer;
use redis::{Connection, Value};

fn connect(url: &str) -> Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

fn run(con: &mut Connection, args: &[&[u8]]) -> Value {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
        .unwrap_or_else(|e| Value::SimpleString(format!("error: {e}")))
}

/// DUMPs every key from `from` and RESTOREs it with its TTL into `to`; the two must
/// then hold the same data, with TTLs within a few seconds of each other.
fn transfer_and_compare(from: &mut Connection, to: &mut Connection, keys: &[String]) {
    for key in keys {
        let payload: Vec<u8> = redis::cmd("DUMP").arg(key).query(from).unwrap();
        let ttl = pttl(from, key).max(0);
        let reply = run(
            to,
            &[
                b"RESTORE",
                key.as_bytes(),
                ttl.to_string().as_bytes(),
                &payload,
            ],
        );
        assert_eq!(reply, Value::Okay, "RESTORE of {key}");
    }
    for key in keys {
        let context = format!("key {key}");
        assert_same_description(&describe(from, key), &describe(to, key), &context);
        let (a, b) = (pttl(from, key), pttl(to, key));
        assert!(
            (a - b).abs() < 5000 && (a < 0) == (b < 0),
            "{key}: TTL {a} vs {b}"
        );
    }
    assert_same_stream_nodes(from, to);
}

#[test]
fn redis_payloads_restore_into_roost_with_the_same_data() {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    let (mut from, mut to) = (connect(&redis.url()), roost.client());
    let keys = populate(&mut from);
    transfer_and_compare(&mut from, &mut to, &keys);
}

#[test]
fn roost_payloads_restore_into_redis_with_the_same_data() {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    let (mut from, mut to) = (roost.client(), connect(&redis.url()));
    let keys = populate(&mut from);
    transfer_and_compare(&mut from, &mut to, &keys);
    // Without compression too.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("rdbcompression")
        .arg("no")
        .query(&mut from)
        .unwrap();
    let _: () = redis::cmd("FLUSHALL").query(&mut to).unwrap();
    transfer_and_compare(&mut from, &mut to, &keys);
}

/// The same requests to both servers; every reply must be equal.
#[test]
fn restore_options_and_errors_match_redis() {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    let mut r = connect(&redis.url());
    let mut o = roost.client();
    for con in [&mut r, &mut o] {
        let _: () = redis::cmd("SET")
            .arg("src")
            .arg("value")
            .query(con)
            .unwrap();
        let _: () = redis::cmd("SET").arg("taken").arg("x").query(con).unwrap();
    }
    // One payload for both (Redis's): a string.
    let payload: Vec<u8> = redis::cmd("DUMP").arg("src").query(&mut r).unwrap();
    let mut bad_crc = payload.clone();
    *bad_crc.last_mut().unwrap() ^= 1;
    let mut newer = payload.clone();
    let at = newer.len() - 10;
    newer[at] = 12;
    // A right footer over a body that is not a value (type 99).
    let mut garbage = vec![99u8, 1, 2, 3];
    garbage.extend_from_slice(&payload[payload.len() - 10..payload.len() - 8]);
    let crc = roost::crc64::of(&garbage);
    garbage.extend_from_slice(&crc.to_le_bytes());
    let p = payload.as_slice();
    let requests: Vec<Vec<&[u8]>> = vec![
        vec![b"DUMP", b"nosuchkey"],
        vec![b"RESTORE", b"taken", b"0", p],
        vec![b"RESTORE", b"taken", b"0", p, b"REPLACE"],
        vec![b"GET", b"taken"],
        vec![b"RESTORE", b"k1", b"-1", p],
        vec![b"RESTORE", b"k1", b"abc", p],
        vec![b"RESTORE", b"k1", b"0", b"short"],
        vec![b"RESTORE", b"k1", b"0", &bad_crc],
        vec![b"RESTORE", b"k1", b"0", &newer],
        vec![b"RESTORE", b"k1", b"0", &garbage],
        vec![b"RESTORE", b"k1", b"0", p, b"IDLETIME", b"-1"],
        vec![b"RESTORE", b"k1", b"0", p, b"IDLETIME", b"x"],
        vec![b"RESTORE", b"k1", b"0", p, b"FREQ", b"256"],
        vec![
            b"RESTORE",
            b"k1",
            b"0",
            p,
            b"IDLETIME",
            b"10",
            b"FREQ",
            b"5",
        ],
        vec![b"RESTORE", b"k1", b"0", p, b"BOGUS"],
        vec![b"RESTORE", b"k1", b"0", p, b"IDLETIME"],
        vec![b"RESTORE", b"k1", b"0", p, b"IDLETIME", b"1000"],
        vec![b"OBJECT", b"IDLETIME", b"k1"],
        vec![b"RESTORE", b"k2", b"1", p, b"ABSTTL"],
        vec![b"EXISTS", b"k2"],
        vec![b"RESTORE", b"taken", b"1", p, b"ABSTTL", b"REPLACE"],
        vec![b"EXISTS", b"taken"],
        vec![b"RESTORE", b"k3", b"4102444800000", p, b"ABSTTL"],
        vec![b"PEXPIRETIME", b"k3"],
        vec![b"RESTORE"],
        vec![b"DUMP"],
        vec![b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lfu"],
        vec![b"RESTORE", b"k4", b"0", p, b"FREQ", b"77"],
        vec![b"OBJECT", b"FREQ", b"k4"],
        vec![b"RESTORE", b"k5", b"0", p, b"IDLETIME", b"100"],
        vec![b"OBJECT", b"FREQ", b"k5"],
        vec![b"COMMAND", b"INFO", b"dump", b"restore", b"restore-asking"],
        // RESTORE-ASKING is RESTORE under another name (outside a cluster).
        vec![b"RESTORE-ASKING", b"taken", b"0", p],
        vec![b"RESTORE-ASKING", b"k6", b"0", p, b"BOGUS"],
        vec![b"RESTORE-ASKING", b"k6", b"0", p],
        vec![b"GET", b"k6"],
    ];
    for request in requests {
        let (a, b) = (run(&mut r, &request), run(&mut o, &request));
        let shown: Vec<String> = request
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        assert_eq!(a, b, "request {shown:?}");
    }
}

#[test]
fn restore_notifies_and_a_relative_ttl_is_logged_as_absolute() {
    let dir = TempDir::new("restore-log");
    let roost = Roost::start(
        &dir.0,
        &["--appendonly", "yes", "--notify-keyspace-events", "KEA"],
    );
    let mut con = roost.client();
    let mut sub = roost.client();
    let mut pubsub = sub.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").unwrap();
    let _: () = redis::cmd("SET")
        .arg("src")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let payload: Vec<u8> = redis::cmd("DUMP").arg("src").query(&mut con).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("soon")
        .arg(1500)
        .arg(&payload)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("kept")
        .arg(0)
        .arg(&payload)
        .query(&mut con)
        .unwrap();
    // An expiry already past, replacing a key: the key goes, as a DEL.
    let _: () = redis::cmd("RESTORE")
        .arg("src")
        .arg(1)
        .arg(&payload)
        .arg("ABSTTL")
        .arg("REPLACE")
        .query(&mut con)
        .unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut events = Vec::new();
    while events.len() < 4 {
        let m = pubsub.get_message().unwrap();
        let key: String = m.get_payload().unwrap();
        events.push(format!("{} {key}", m.get_channel_name()));
    }
    assert_eq!(
        events,
        [
            "__keyevent@0__:set src",
            "__keyevent@0__:restore soon",
            "__keyevent@0__:restore kept",
            "__keyevent@0__:del src",
        ]
    );
    drop(pubsub);
    // Logged as an absolute time: after a restart past it, `soon` is gone (a relative
    // TTL replayed would have given it a new 1.5 s).
    roost.kill9();
    std::thread::sleep(Duration::from_millis(1600));
    let roost = Roost::start(&dir.0, &["--appendonly", "yes"]);
    let mut con = roost.client();
    let exists: (i64, i64, i64) = redis::pipe()
        .cmd("EXISTS")
        .arg("soon")
        .cmd("EXISTS")
        .arg("kept")
        .cmd("EXISTS")
        .arg("src")
        .query(&mut con)
        .unwrap();
    assert_eq!(exists, (0, 1, 0));
}
