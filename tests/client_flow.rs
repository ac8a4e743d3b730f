//! CLIENT REPLY, CLIENT PAUSE / UNPAUSE and CLIENT UNBLOCK over real connections, byte
//! for byte as Redis 7.2 answers (errors and metadata: tests/differential/client_flow.redis).

mod common;

use std::time::{Duration, Instant};

use common::{Raw, TestServer};

fn client_id(raw: &mut Raw) -> i64 {
    raw.send(b"CLIENT ID\r\n");
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") {
        line.extend(raw.read_exact(1));
    }
    String::from_utf8_lossy(&line[1..line.len() - 2])
        .parse()
        .unwrap()
}

/// Waits until CLIENT LIST shows client `id` with flag `b` (in a blocking command).
fn wait_blocked(con: &mut redis::Connection, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(con).unwrap();
        let blocked = list
            .lines()
            .any(|l| l.contains(&format!("id={id} ")) && l.split(' ').any(|f| f == "flags=b"));
        if blocked {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "client {id} never blocked: {list}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn client_reply_off_skip_and_on() {
    let server = TestServer::start();
    let mut raw = server.raw();
    // OFF: nothing, not even errors; SKIP while OFF changes nothing; ON answers OK.
    raw.send(b"CLIENT REPLY OFF\r\nPING\r\nNOSUCH\r\nCLIENT REPLY SKIP\r\nPING\r\n");
    raw.send(b"CLIENT REPLY ON\r\nPING\r\n");
    raw.expect(b"+OK\r\n+PONG\r\n");
    // SKIP: no answer to itself or to the next command, then answers again.
    raw.send(b"CLIENT REPLY SKIP\r\nSET k 1\r\nGET k\r\n");
    raw.expect(b"$1\r\n1\r\n");
    // The command skipped still ran; OFF applies to writes as well.
    raw.send(b"CLIENT REPLY OFF\r\nINCR k\r\nCLIENT REPLY ON\r\nGET k\r\n");
    raw.expect(b"+OK\r\n$1\r\n2\r\n");
}

#[test]
fn client_pause_write_holds_writes_and_serves_reads() {
    let server = TestServer::start();
    let mut admin = server.client();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("old")
        .query(&mut admin)
        .unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(600_000)
        .arg("WRITE")
        .query(&mut admin)
        .unwrap();
    let mut writer = server.raw();
    writer.send(b"SET k new\r\n");
    // PUBLISH reaches replicas: held like a write.
    let mut publisher = server.raw();
    publisher.send(b"PUBLISH c m\r\n");
    // Reads are served meanwhile, and see the old value: the write is held.
    for _ in 0..20 {
        let value: String = redis::cmd("GET").arg("k").query(&mut admin).unwrap();
        assert_eq!(value, "old");
    }
    let _: () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query(&mut admin)
        .unwrap();
    writer.expect(b"+OK\r\n");
    publisher.expect(b":0\r\n");
    let value: String = redis::cmd("GET").arg("k").query(&mut admin).unwrap();
    assert_eq!(value, "new");
}

#[test]
fn client_pause_all_holds_every_command_until_it_ends() {
    let server = TestServer::start();
    let mut admin = server.client();
    let mut other = server.raw();
    let started = Instant::now();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(300)
        .query(&mut admin)
        .unwrap();
    // Held, then answered once the pause has ended; its pipeline follows in order.
    other.send(b"PING\r\nECHO after\r\n");
    other.expect(b"+PONG\r\n$5\r\nafter\r\n");
    // The deadline is counted from the server's clock in whole milliseconds, so it may
    // fall up to 1 ms before 300 ms after `started`.
    let held = started.elapsed();
    assert!(held >= Duration::from_millis(299), "held only {held:?}");
    // A later, longer pause extends it; UNPAUSE ends it (from a client not held: the
    // pause was lifted first by its end).
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(600_000)
        .arg("WRITE")
        .query(&mut admin)
        .unwrap();
    other.send(b"SET k v\r\n");
    let _: () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query(&mut admin)
        .unwrap();
    other.expect(b"+OK\r\n");
}

#[test]
fn client_unblock_ends_a_blocking_pop_as_a_timeout_or_an_error() {
    let server = TestServer::start();
    let mut admin = server.client();
    let mut blocked = server.raw();
    let id = client_id(&mut blocked);

    blocked.send(b"BLPOP list 0\r\n");
    wait_blocked(&mut admin, id);
    let unblocked: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(id)
        .query(&mut admin)
        .unwrap();
    assert_eq!(unblocked, 1);
    blocked.expect(b"*-1\r\n");

    blocked.send(b"BLMOVE a b LEFT RIGHT 0\r\n");
    wait_blocked(&mut admin, id);
    let unblocked: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(id)
        .arg("ERROR")
        .query(&mut admin)
        .unwrap();
    assert_eq!(unblocked, 1);
    blocked.expect(b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");

    // Not blocked any more: nothing to unblock, and a later pop is not cut short.
    let unblocked: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(id)
        .query(&mut admin)
        .unwrap();
    assert_eq!(unblocked, 0);
    blocked.send(b"BLPOP list 0\r\n");
    wait_blocked(&mut admin, id);
    let _: i64 = redis::cmd("RPUSH")
        .arg("list")
        .arg("x")
        .query(&mut admin)
        .unwrap();
    blocked.expect(b"*2\r\n$4\r\nlist\r\n$1\r\nx\r\n");

    // WAIT answers with the replicas acknowledged so far (none).
    blocked.send(b"WAIT 1 0\r\n");
    wait_blocked(&mut admin, id);
    let unblocked: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(id)
        .arg("TIMEOUT")
        .query(&mut admin)
        .unwrap();
    assert_eq!(unblocked, 1);
    blocked.expect(b":0\r\n");
}

/// While clients are paused the data set stands still, as in Redis 7:
/// an expired key reads as missing but is neither removed by that read nor by active
/// expiry, so DBSIZE and `expired_keys` do not move and no DEL is propagated; once the
/// pause is lifted, expiry removes it. Checked on redis-server too, under WRITE (under ALL
/// no command could look meanwhile; both modes hold expiry the same way).
#[test]
fn client_pause_holds_expiry_until_it_ends() {
    fn check(con: &mut redis::Connection, server: &str) {
        let mode = "WRITE";
        let _: () = redis::cmd("FLUSHALL").query(con).unwrap();
        let before = common::info_field(con, "stats", "expired_keys")
            .parse::<u64>()
            .unwrap();
        let _: () = redis::cmd("SET")
            .arg("session:held")
            .arg("v")
            .arg("PX")
            .arg(150)
            .query(con)
            .unwrap();
        let _: () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(60_000)
            .arg(mode)
            .query(con)
            .unwrap();
        // Past the TTL and several active expiry cycles (hz 10).
        std::thread::sleep(Duration::from_millis(600));
        let value: Option<String> = redis::cmd("GET").arg("session:held").query(con).unwrap();
        assert_eq!(
            value, None,
            "{server} {mode}: an expired key reads as missing"
        );
        let size: i64 = redis::cmd("DBSIZE").query(con).unwrap();
        assert_eq!(
            size, 1,
            "{server} {mode}: the expired key is kept while paused"
        );
        assert_eq!(
            common::info_field(con, "stats", "expired_keys")
                .parse::<u64>()
                .unwrap(),
            before,
            "{server} {mode}: nothing expired"
        );
        let _: () = redis::cmd("CLIENT").arg("UNPAUSE").query(con).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis::cmd("DBSIZE").query::<i64>(con).unwrap() != 0 {
            assert!(
                Instant::now() < deadline,
                "{server} {mode}: never expired after UNPAUSE"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            common::info_field(con, "stats", "expired_keys")
                .parse::<u64>()
                .unwrap(),
            before + 1,
            "{server} {mode}"
        );
    }
    let roost = TestServer::start();
    let redis = common::process::RedisServer::start();
    check(&mut roost.client(), "roost");
    let mut con = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    check(&mut con, "redis-server");
}
