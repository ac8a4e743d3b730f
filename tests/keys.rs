//! Key commands: SCAN guarantees, TTL handling across RENAME/COPY/MOVE, OBJECT, databases.

mod common;

use std::collections::HashSet;

use common::inprocess::InProcess;
use common::TestServer;

fn scan_all(con: &mut redis::Connection, options: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    let mut calls = 0;
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(&cursor);
        for o in options {
            cmd.arg(*o);
        }
        let (next, page): (String, Vec<String>) = cmd.query(con).unwrap();
        calls += 1;
        keys.extend(page);
        if next == "0" {
            return (keys, calls);
        }
        cursor = next;
    }
}

#[test]
fn scan_returns_every_key_present_throughout_exactly_once() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.cmd("SET").arg(format!("sess:{i}")).arg("v").ignore();
    }
    for i in 0..100 {
        pipe.cmd("SADD").arg(format!("idx:{i}")).arg("m").ignore();
    }
    let _: () = pipe.query(&mut con).unwrap();

    let (keys, calls) = scan_all(&mut con, &["MATCH", "sess:*", "COUNT", "100"]);
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), 5000);
    assert_eq!(keys.len(), 5000, "no duplicates without concurrent changes");
    assert!(calls > 10, "COUNT is honoured as a hint ({calls} calls)");

    let (sets, _) = scan_all(&mut con, &["TYPE", "set"]);
    assert_eq!(sets.len(), 100);
    assert!(sets.iter().all(|k| k.starts_with("idx:")));

    // Keys added and removed during the iteration do not hide the stable ones.
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut round = 0;
    loop {
        let (next, page): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("MATCH")
            .arg("sess:*")
            .query(&mut con)
            .unwrap();
        seen.extend(page);
        for j in 0..20 {
            let _: () = redis::cmd("SET")
                .arg(format!("sess:new:{round}:{j}"))
                .arg("v")
                .query(&mut con)
                .unwrap();
        }
        round += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    for i in 0..5000 {
        assert!(seen.contains(&format!("sess:{i}")), "sess:{i} missed");
    }
}

#[test]
fn scan_skips_expired_keys_and_validates_arguments() {
    let server = InProcess::start();
    let mut raw = server.client();
    raw.roundtrip(&[b"SET", b"live", b"1"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"dead", b"1", b"PX", b"1"], b"+OK\r\n");
    server.advance_ms(10);
    raw.roundtrip(&[b"SCAN", b"0"], b"*2\r\n$1\r\n0\r\n*1\r\n$4\r\nlive\r\n");
    // Read as strtoul reads it: a sign alone is invalid, "" is cursor 0 (as in Redis).
    raw.roundtrip(&[b"SCAN", b"+"], b"-ERR invalid cursor\r\n");
    raw.roundtrip(&[b"SCAN", b"1x"], b"-ERR invalid cursor\r\n");
    raw.roundtrip(&[b"SCAN", b""], b"*2\r\n$1\r\n0\r\n*1\r\n$4\r\nlive\r\n");
    raw.roundtrip(&[b"SCAN", b"0", b"COUNT", b"0"], b"-ERR syntax error\r\n");
    raw.roundtrip(&[b"SCAN", b"0", b"MATCH"], b"-ERR syntax error\r\n");
    raw.roundtrip(&[b"KEYS", b"*"], b"*1\r\n$4\r\nlive\r\n");
}

#[test]
fn ttl_survives_rename_copy_and_move() {
    let server = TestServer::start();
    let mut con = server.client();
    let _: () = redis::cmd("SET")
        .arg("a")
        .arg("1")
        .arg("EX")
        .arg(1000)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("RENAME")
        .arg("a")
        .arg("b")
        .query(&mut con)
        .unwrap();
    let ttl: i64 = redis::cmd("TTL").arg("b").query(&mut con).unwrap();
    assert!((998..=1000).contains(&ttl));
    let copied: i64 = redis::cmd("COPY")
        .arg("b")
        .arg("c")
        .arg("DB")
        .arg(3)
        .query(&mut con)
        .unwrap();
    assert_eq!(copied, 1);
    let moved: i64 = redis::cmd("MOVE").arg("b").arg(5).query(&mut con).unwrap();
    assert_eq!(moved, 1);
    let _: () = redis::cmd("SELECT").arg(5).query(&mut con).unwrap();
    let ttl: i64 = redis::cmd("TTL").arg("b").query(&mut con).unwrap();
    assert!((998..=1000).contains(&ttl));
    let _: () = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
    let pttl: i64 = redis::cmd("PTTL").arg("c").query(&mut con).unwrap();
    assert!(pttl > 990_000);
    let v: String = redis::cmd("GET").arg("c").query(&mut con).unwrap();
    assert_eq!(v, "1");
    // COPY makes an independent value.
    let _: () = redis::cmd("SADD")
        .arg("s")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("COPY")
        .arg("s")
        .arg("s2")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg("s")
        .arg("y")
        .query(&mut con)
        .unwrap();
    let n: i64 = redis::cmd("SCARD").arg("s2").query(&mut con).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn expire_options_and_past_times() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"SET", b"k", b"v"], b"+OK\r\n");
    raw.roundtrip(&[b"EXPIRE", b"k", b"100", b"XX"], b":0\r\n");
    raw.roundtrip(&[b"EXPIRE", b"k", b"100", b"GT"], b":0\r\n");
    raw.roundtrip(&[b"EXPIRE", b"k", b"100", b"LT"], b":1\r\n");
    raw.roundtrip(&[b"EXPIRE", b"k", b"100", b"NX"], b":0\r\n");
    raw.roundtrip(&[b"PEXPIRE", b"k", b"200000", b"gt"], b":1\r\n");
    raw.roundtrip(&[b"TTL", b"k"], b":200\r\n");
    raw.roundtrip(&[b"EXPIRE", b"k", b"-1"], b":1\r\n");
    raw.roundtrip(&[b"EXISTS", b"k"], b":0\r\n");
    raw.roundtrip(&[b"DBSIZE"], b":0\r\n");
    raw.roundtrip(
        &[b"EXPIRE", b"k", b"1", b"NX", b"GT"],
        b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
    );
    raw.roundtrip(
        &[b"EXPIRE", b"k", b"1", b"BOGUS"],
        b"-ERR Unsupported option BOGUS\r\n",
    );
}

#[test]
fn object_encoding_idletime_and_no_touch() {
    let server = InProcess::start();
    let mut raw = server.client();
    raw.roundtrip(&[b"SET", b"n", b"12345"], b"+OK\r\n");
    raw.roundtrip(&[b"OBJECT", b"ENCODING", b"n"], b"$3\r\nint\r\n");
    raw.roundtrip(&[b"APPEND", b"n", b"x"], b":6\r\n");
    raw.roundtrip(&[b"OBJECT", b"ENCODING", b"n"], b"$3\r\nraw\r\n");
    raw.roundtrip(&[b"SADD", b"s", b"1", b"2"], b":2\r\n");
    raw.roundtrip(&[b"OBJECT", b"ENCODING", b"s"], b"$6\r\nintset\r\n");
    raw.roundtrip(&[b"SADD", b"s", b"a"], b":1\r\n");
    raw.roundtrip(&[b"SREM", b"s", b"a"], b":1\r\n");
    raw.roundtrip(&[b"OBJECT", b"ENCODING", b"s"], b"$9\r\nhashtable\r\n");
    raw.roundtrip(&[b"OBJECT", b"IDLETIME", b"n"], b":0\r\n");
    server.advance_ms(2100);
    // A NO-TOUCH client's read leaves the idle time alone; a normal read resets it.
    raw.roundtrip(&[b"CLIENT", b"NO-TOUCH", b"on"], b"+OK\r\n");
    raw.roundtrip(&[b"GET", b"n"], b"$6\r\n12345x\r\n");
    let reply = raw.call(&[b"OBJECT", b"IDLETIME", b"n"]);
    assert!(
        reply == b":2\r\n" || reply == b":3\r\n",
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    raw.roundtrip(&[b"CLIENT", b"NO-TOUCH", b"off"], b"+OK\r\n");
    raw.roundtrip(&[b"GET", b"n"], b"$6\r\n12345x\r\n");
    raw.roundtrip(&[b"OBJECT", b"IDLETIME", b"n"], b":0\r\n");
    raw.roundtrip(&[b"OBJECT", b"FREQ", b"nokey"], b"$-1\r\n");
}

#[test]
fn swapdb_flushdb_flushall() {
    let server = TestServer::start();
    let mut a = server.raw();
    let mut b = server.raw();
    a.roundtrip(&[b"SET", b"k", b"zero"], b"+OK\r\n");
    b.roundtrip(&[b"SELECT", b"1"], b"+OK\r\n");
    b.roundtrip(&[b"SET", b"k", b"one"], b"+OK\r\n");
    a.roundtrip(&[b"SWAPDB", b"0", b"1"], b"+OK\r\n");
    // Clients stay on their database number and see the swapped contents.
    a.roundtrip(&[b"GET", b"k"], b"$3\r\none\r\n");
    b.roundtrip(&[b"GET", b"k"], b"$4\r\nzero\r\n");
    b.roundtrip(&[b"FLUSHDB", b"ASYNC"], b"+OK\r\n");
    b.roundtrip(&[b"DBSIZE"], b":0\r\n");
    a.roundtrip(&[b"DBSIZE"], b":1\r\n");
    a.roundtrip(&[b"FLUSHALL", b"SYNC"], b"+OK\r\n");
    a.roundtrip(&[b"DBSIZE"], b":0\r\n");
    a.roundtrip(&[b"RANDOMKEY"], b"$-1\r\n");
    a.roundtrip(&[b"FLUSHALL", b"LATER"], b"-ERR syntax error\r\n");
}
