//! Bitmaps beyond what tests/differential/bitmaps.redis compares with redis-server 7.0:
//! Redis 7.2's argument checks before the key lookup, and bitmap writes surviving a
//! restart (the log replayed) and reaching a replica byte for byte.

mod common;

use std::time::Duration;

use common::process::{wait_for, Roost, TempDir};
use common::TestServer;

#[test]
fn bitcount_and_bitpos_check_their_arguments_before_the_key_as_redis_7_2_does() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"BITCOUNT", b"nokey", b"0"], b"-ERR syntax error\r\n");
    raw.roundtrip(
        &[b"BITCOUNT", b"nokey", b"x", b"1"],
        b"-ERR value is not an integer or out of range\r\n",
    );
    raw.roundtrip(
        &[b"BITCOUNT", b"nokey", b"0", b"1", b"foo"],
        b"-ERR syntax error\r\n",
    );
    raw.roundtrip(
        &[b"BITPOS", b"nokey", b"1", b"x"],
        b"-ERR value is not an integer or out of range\r\n",
    );
    raw.roundtrip(
        &[b"BITPOS", b"nokey", b"1", b"0", b"1", b"foo"],
        b"-ERR syntax error\r\n",
    );
    raw.roundtrip(
        &[b"BITPOS", b"nokey", b"1", b"0", b"-1", b"bit"],
        b":-1\r\n",
    );
    raw.roundtrip(&[b"BITPOS", b"nokey", b"0", b"0", b"-1"], b":0\r\n");
}

fn run(con: &mut redis::Connection, line: &str) -> redis::Value {
    let words: Vec<&str> = line.split(' ').collect();
    redis::cmd(words[0]).arg(&words[1..]).query(con).unwrap()
}

/// The values the writes left; an error while a replica is still loading.
fn bitmap_state(con: &mut redis::Connection) -> redis::RedisResult<Vec<Option<Vec<u8>>>> {
    ["b", "f", "and", "gone"]
        .iter()
        .map(|key| redis::cmd("GET").arg(key).query(con))
        .collect()
}

#[test]
fn bitmap_writes_survive_a_restart_and_reach_a_replica() {
    let dir = TempDir::new("bitmaps-restart");
    let primary = Roost::start(&dir.0, &["--appendfsync", "always"]);
    let replica_dir = TempDir::new("bitmaps-replica");
    let replica = Roost::start(&replica_dir.0, &[]);
    let mut r = replica.client();
    run(&mut r, &format!("REPLICAOF 127.0.0.1 {}", primary.port));
    let mut con = primary.client();
    for line in [
        "SETBIT b 3 1",
        "SETBIT b 100 1",
        "SETBIT b 3 0",
        "BITFIELD f SET u8 #0 200 INCRBY i16 8 -5 OVERFLOW SAT INCRBY u8 #0 100",
        "BITFIELD f OVERFLOW FAIL INCRBY u4 100 20",
        "SET x abc",
        "BITOP AND and b x",
        "SET gone y",
        "BITOP OR gone nokey",
        "DEL x",
    ] {
        run(&mut con, line);
    }
    let expected = vec![
        Some([&[0u8; 12][..], &[0x08]].concat()),
        Some(vec![0xff, 0xff, 0xfb, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Some(vec![0; 13]),
        None,
    ];
    assert_eq!(bitmap_state(&mut con).unwrap(), expected);
    wait_for(
        "the replica to apply the writes",
        Duration::from_secs(30),
        || bitmap_state(&mut r).is_ok_and(|state| state == expected),
    );
    drop(con);
    primary.shutdown();
    let primary = Roost::start(&dir.0, &[]);
    let mut con = primary.client();
    assert_eq!(bitmap_state(&mut con).unwrap(), expected);
}
