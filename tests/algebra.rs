//! Sorted-set blocking pops (BZPOPMIN, BZPOPMAX, BZMPOP) woken by another client, and
//! the set and sorted-set algebra (and SORT ... STORE) surviving a restart (the log
//! replayed) and reaching a replica. Replies and errors are compared with Redis in
//! tests/differential/algebra.redis and sort.redis.

mod common;

use std::time::{Duration, Instant};

use common::process::{wait_for, Roost, TempDir};
use common::TestServer;

fn info_blocked(server: &TestServer) -> i64 {
    let mut con = server.client();
    let info: String = redis::cmd("INFO").arg("clients").query(&mut con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn wait_blocked(server: &TestServer, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_blocked(server) != n {
        assert!(Instant::now() < deadline, "expected {n} blocked clients");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn cmd(con: &mut redis::Connection, args: &[&str]) -> redis::Value {
    redis::cmd(args[0]).arg(&args[1..]).query(con).unwrap()
}

fn zrange(con: &mut redis::Connection, key: &str) -> Vec<String> {
    redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(con)
        .unwrap()
}

#[test]
fn bzpopmin_and_bzpopmax_are_woken_by_zadd_from_another_client() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut a = server.raw();
    a.send_cmd(&[b"BZPOPMIN", b"z1", b"z2", b"0"]);
    wait_blocked(&server, 1);
    cmd(&mut con, &["ZADD", "z2", "3", "c", "1", "a", "2", "b"]);
    a.expect(b"*3\r\n$2\r\nz2\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(zrange(&mut con, "z2"), ["b", "2", "c", "3"]);
    assert_eq!(info_blocked(&server), 0);

    // BZPOPMAX in RESP3: the score is a double.
    let mut b = server.raw();
    b.hello3();
    b.send_cmd(&[b"BZPOPMAX", b"m", b"0"]);
    wait_blocked(&server, 1);
    cmd(&mut con, &["ZADD", "m", "1.5", "x", "2.5", "y"]);
    b.expect(b"*3\r\n$1\r\nm\r\n$1\r\ny\r\n,2.5\r\n");
    b.roundtrip(&[b"PING"], b"+PONG\r\n");
}

#[test]
fn bzmpop_is_served_with_its_count_and_clients_in_the_order_they_blocked() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut first = server.raw();
    first.send_cmd(&[b"BZMPOP", b"0", b"2", b"q", b"r", b"MAX", b"COUNT", b"2"]);
    wait_blocked(&server, 1);
    let mut second = server.raw();
    second.send_cmd(&[b"BZPOPMIN", b"q", b"0"]);
    wait_blocked(&server, 2);
    cmd(&mut con, &["ZADD", "q", "1", "a", "2", "b", "3", "c"]);
    first
        .expect(b"*2\r\n$1\r\nq\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
    second.expect(b"*3\r\n$1\r\nq\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(info_blocked(&server), 0);
    assert_eq!(cmd(&mut con, &["EXISTS", "q"]), redis::Value::Int(0));
}

#[test]
fn a_sorted_set_stored_by_a_store_command_or_rename_wakes_a_blocked_client() {
    let server = TestServer::start();
    let mut con = server.client();
    cmd(&mut con, &["ZADD", "src", "5", "five"]);
    let mut a = server.raw();
    a.send_cmd(&[b"BZPOPMIN", b"dst", b"0"]);
    wait_blocked(&server, 1);
    cmd(
        &mut con,
        &["ZUNIONSTORE", "dst", "1", "src", "WEIGHTS", "2"],
    );
    a.expect(b"*3\r\n$3\r\ndst\r\n$4\r\nfive\r\n$2\r\n10\r\n");

    a.send_cmd(&[b"BZPOPMAX", b"renamed", b"0"]);
    wait_blocked(&server, 1);
    cmd(&mut con, &["RENAME", "src", "renamed"]);
    a.expect(b"*3\r\n$7\r\nrenamed\r\n$4\r\nfive\r\n$1\r\n5\r\n");
}

#[test]
fn blocking_zset_pops_time_out_with_null_and_do_not_block_in_multi() {
    let server = TestServer::start();
    let mut a = server.raw();
    for command in [
        &[&b"BZPOPMIN"[..], b"nokey", b"0.05"][..],
        &[b"BZPOPMAX", b"nokey", b"other", b"0.05"],
        &[b"BZMPOP", b"0.05", b"1", b"nokey", b"MIN"],
    ] {
        let started = Instant::now();
        a.roundtrip(command, b"*-1\r\n");
        assert!(started.elapsed() >= Duration::from_millis(45));
    }
    a.hello3();
    a.roundtrip(&[b"BZPOPMIN", b"nokey", b"0.05"], b"_\r\n");
    a.roundtrip(&[b"MULTI"], b"+OK\r\n");
    a.roundtrip(&[b"BZPOPMIN", b"nokey", b"0"], b"+QUEUED\r\n");
    a.roundtrip(&[b"BZMPOP", b"0", b"1", b"nokey", b"MAX"], b"+QUEUED\r\n");
    a.roundtrip(&[b"EXEC"], b"*2\r\n_\r\n_\r\n");
    assert_eq!(info_blocked(&server), 0);
}

#[test]
fn a_zset_and_a_list_waiter_on_the_same_key_are_each_served_their_own_type() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut list_waiter = server.raw();
    list_waiter.send_cmd(&[b"BLPOP", b"k", b"0"]);
    wait_blocked(&server, 1);
    let mut zset_waiter = server.raw();
    zset_waiter.send_cmd(&[b"BZPOPMIN", b"k", b"0"]);
    wait_blocked(&server, 2);
    cmd(&mut con, &["ZADD", "k", "1", "a"]);
    zset_waiter.expect(b"*3\r\n$1\r\nk\r\n$1\r\na\r\n$1\r\n1\r\n");
    wait_blocked(&server, 1);
    cmd(&mut con, &["RPUSH", "k", "x"]);
    list_waiter.expect(b"*2\r\n$1\r\nk\r\n$1\r\nx\r\n");
}

/// Writes with every algebra command; `check` reads what they left.
fn write_algebra(con: &mut redis::Connection) {
    for line in [
        "SADD s1 a b c 1",
        "SADD s2 b c d",
        "SINTERSTORE si s1 s2",
        "SUNIONSTORE su s1 s2",
        "SDIFFSTORE sd s1 s2",
        "SET gone x",
        "SINTERSTORE gone s1 nokey",
        "ZADD z1 1 a 2 b 3 c",
        "ZADD z2 0.1 b 0.2 c 0.3 d",
        "ZUNIONSTORE zu 3 z1 z2 s2 WEIGHTS 0.1 0.7 0.3",
        "ZINTERSTORE zi 2 z1 z2 AGGREGATE MAX",
        "ZDIFFSTORE zd 2 z1 z2",
        "ZRANGESTORE zr z1 (1 +inf BYSCORE",
        "ZADD zp 1 a 2 b 3 c 4 d",
        "ZMPOP 1 zp MIN COUNT 2",
        "BZPOPMAX zp 0",
        "ZADD zq 1 a 2 b",
        "BZMPOP 0 1 zq MAX COUNT 1",
        "RPUSH sl 3 1 2",
        "SET w_1 3",
        "SORT sl BY w_* GET # STORE sorted",
        "GEOADD geo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
        "GEOADD geo XX CH 13.5 38.2 Palermo 1 1 Nowhere",
        "GEORADIUS geo 15 37 200 km ASC STOREDIST gr",
        "GEOSEARCHSTORE gs geo FROMMEMBER Catania BYBOX 400 400 km",
    ] {
        let words: Vec<&str> = line.split(' ').collect();
        cmd(con, &words);
    }
}

fn algebra_state(con: &mut redis::Connection) -> Vec<(String, Vec<String>)> {
    try_algebra_state(con).unwrap()
}

/// What the writes left; an error while a replica is still loading.
fn try_algebra_state(
    con: &mut redis::Connection,
) -> redis::RedisResult<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    for key in ["si", "su", "sd"] {
        let mut members: Vec<String> = redis::cmd("SMEMBERS").arg(key).query(con)?;
        members.sort();
        out.push((key.to_string(), members));
    }
    for key in ["zu", "zi", "zd", "zr", "zp", "zq", "gr", "gs"] {
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(con)?;
        out.push((key.to_string(), members));
    }
    let sorted: Vec<String> = redis::cmd("LRANGE")
        .arg("sorted")
        .arg(0)
        .arg(-1)
        .query(con)?;
    out.push(("sorted".into(), sorted));
    let gone: i64 = redis::cmd("EXISTS").arg("gone").query(con)?;
    out.push(("gone".into(), vec![gone.to_string()]));
    Ok(out)
}

fn expected_state() -> Vec<(String, Vec<String>)> {
    let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        ("si".into(), v(&["b", "c"])),
        ("su".into(), v(&["1", "a", "b", "c", "d"])),
        ("sd".into(), v(&["1", "a"])),
        (
            "zu".into(),
            v(&[
                "a",
                "0.10000000000000001",
                "d",
                "0.51000000000000001",
                "b",
                "0.57000000000000006",
                "c",
                "0.73999999999999999",
            ]),
        ),
        ("zi".into(), v(&["b", "2", "c", "3"])),
        ("zd".into(), v(&["a", "1"])),
        ("zr".into(), v(&["b", "2", "c", "3"])),
        ("zp".into(), v(&["c", "3"])),
        ("zq".into(), v(&["a", "1"])),
        // As redis-server 7.0.15 leaves them.
        (
            "gr".into(),
            v(&[
                "Catania",
                "56.441257870158204",
                "Palermo",
                "187.8441787033274",
            ]),
        ),
        (
            "gs".into(),
            v(&["Palermo", "3479101704338477", "Catania", "3479447370796909"]),
        ),
        ("sorted".into(), v(&["2", "3", "1"])),
        ("gone".into(), v(&["0"])),
    ]
}

#[test]
fn algebra_results_survive_a_restart_and_reach_a_replica() {
    let dir = TempDir::new("algebra-restart");
    let primary = Roost::start(&dir.0, &["--appendfsync", "always"]);
    let replica_dir = TempDir::new("algebra-replica");
    let replica = Roost::start(&replica_dir.0, &[]);
    let mut r = replica.client();
    cmd(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &primary.port.to_string()],
    );
    let mut con = primary.client();
    write_algebra(&mut con);
    // The sources change afterwards: the stores must not be recomputed from them.
    cmd(&mut con, &["DEL", "s1", "z1", "z2", "sl", "w_1", "geo"]);
    let expected = expected_state();
    assert_eq!(algebra_state(&mut con), expected);
    wait_for(
        "the replica to apply the writes",
        Duration::from_secs(30),
        || try_algebra_state(&mut r).is_ok_and(|state| state == expected),
    );
    drop(con);
    primary.shutdown();
    let primary = Roost::start(&dir.0, &[]);
    let mut con = primary.client();
    assert_eq!(algebra_state(&mut con), expected);
}
