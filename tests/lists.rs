//! Blocking list commands: BLPOP/BRPOP/BLMOVE/BRPOPLPUSH/BLMPOP woken by pushes from
//! other clients, timeouts, first-come first-served order, MULTI, CLIENT KILL. The
//! non-blocking list commands are compared with Redis in tests/differential/lists.redis.

mod common;

use std::time::{Duration, Instant};

use common::{Raw, TestServer};

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

/// Waits until `n` clients are blocked (so the order they blocked in is known).
fn wait_blocked(server: &TestServer, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_blocked(server) != n {
        assert!(Instant::now() < deadline, "expected {n} blocked clients");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn cmd(server: &TestServer, args: &[&str]) -> redis::Value {
    let mut con = server.client();
    redis::cmd(args[0]).arg(&args[1..]).query(&mut con).unwrap()
}

fn lrange(server: &TestServer, key: &str) -> Vec<String> {
    let mut con = server.client();
    redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap()
}

/// Nothing more has arrived on `raw` within 100 ms.
fn assert_silent(raw: &mut Raw) {
    raw.stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 64];
    let got = std::io::Read::read(&mut raw.stream, &mut buf);
    assert!(
        got.is_err(),
        "unexpected reply {:?}",
        got.map(|n| buf[..n].to_vec())
    );
    raw.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
}

#[test]
fn blpop_is_woken_by_a_push_from_another_client() {
    let server = TestServer::start();
    let mut a = server.raw();
    a.send_cmd(&[b"BLPOP", b"k1", b"k2", b"0"]);
    wait_blocked(&server, 1);
    assert_silent(&mut a);
    let list = cmd(&server, &["CLIENT", "LIST"]);
    let redis::Value::BulkString(list) = list else {
        panic!("{list:?}")
    };
    let list = String::from_utf8(list).unwrap();
    assert!(
        list.lines()
            .any(|l| l.contains(" flags=b ") && l.contains(" cmd=blpop ")),
        "{list}"
    );
    cmd(&server, &["RPUSH", "k2", "x", "y"]);
    a.expect(b"*2\r\n$2\r\nk2\r\n$1\r\nx\r\n");
    assert_eq!(lrange(&server, "k2"), ["y"]);
    assert_eq!(info_blocked(&server), 0);
    // The connection goes on serving requests after the blocked one.
    a.roundtrip(&[b"PING"], b"+PONG\r\n");

    // BRPOP in RESP3 takes from the tail.
    let mut b = server.raw();
    b.hello3();
    b.send_cmd(&[b"BRPOP", b"r", b"0"]);
    wait_blocked(&server, 1);
    cmd(&server, &["LPUSH", "r", "1", "2"]);
    b.expect(b"*2\r\n$1\r\nr\r\n$1\r\n1\r\n");
    assert_eq!(lrange(&server, "r"), ["2"]);
}

#[test]
fn requests_pipelined_behind_a_blocked_one_wait_for_it() {
    let server = TestServer::start();
    let mut a = server.raw();
    let mut batch = common::encode_cmd(&[b"BLPOP", b"q", b"0"]);
    batch.extend(common::encode_cmd(&[b"LLEN", b"q"]));
    a.send(&batch);
    wait_blocked(&server, 1);
    assert_silent(&mut a);
    cmd(&server, &["RPUSH", "q", "a", "b"]);
    a.expect(b"*2\r\n$1\r\nq\r\n$1\r\na\r\n:1\r\n");
}

#[test]
fn timeouts_answer_a_null_array() {
    let server = TestServer::start();
    let mut a = server.raw();
    for command in [
        &[&b"BLPOP"[..], b"nokey", b"0.1"][..],
        &[b"BRPOP", b"nokey", b"other", b"0.05"],
        &[b"BLMOVE", b"nokey", b"dst", b"LEFT", b"RIGHT", b"0.05"],
        &[b"BRPOPLPUSH", b"nokey", b"dst", b"0.05"],
        &[b"BLMPOP", b"0.05", b"1", b"nokey", b"LEFT"],
    ] {
        let started = Instant::now();
        a.roundtrip(command, b"*-1\r\n");
        assert!(started.elapsed() >= Duration::from_millis(45));
    }
    let started = Instant::now();
    a.roundtrip(&[b"BLPOP", b"nokey", b"0.1"], b"*-1\r\n");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    a.hello3();
    a.roundtrip(&[b"BLPOP", b"nokey", b"0.05"], b"_\r\n");
    assert_eq!(info_blocked(&server), 0);
    assert_eq!(lrange(&server, "dst"), Vec::<String>::new());
    // Errors are answered at once.
    a.roundtrip(
        &[b"BLPOP", b"nokey", b"-1"],
        b"-ERR timeout is negative\r\n",
    );
    a.roundtrip(
        &[b"BLPOP", b"nokey", b"soon"],
        b"-ERR timeout is not a float or out of range\r\n",
    );
}

#[test]
fn blocked_clients_are_served_in_the_order_they_blocked() {
    let server = TestServer::start();
    let mut first = server.raw();
    first.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&server, 1);
    let mut second = server.raw();
    second.send_cmd(&[b"BLPOP", b"other", b"q", b"0"]);
    wait_blocked(&server, 2);
    let mut third = server.raw();
    third.send_cmd(&[b"BRPOP", b"q", b"0"]);
    wait_blocked(&server, 3);

    cmd(&server, &["RPUSH", "q", "1"]);
    first.expect(b"*2\r\n$1\r\nq\r\n$1\r\n1\r\n");
    wait_blocked(&server, 2);
    assert_silent(&mut second);
    assert_silent(&mut third);

    // One push of two elements serves the next two, in order.
    cmd(&server, &["RPUSH", "q", "2", "3"]);
    second.expect(b"*2\r\n$1\r\nq\r\n$1\r\n2\r\n");
    third.expect(b"*2\r\n$1\r\nq\r\n$1\r\n3\r\n");
    wait_blocked(&server, 0);
    assert_eq!(cmd(&server, &["EXISTS", "q"]), redis::Value::Int(0));
}

#[test]
fn blmove_and_brpoplpush_are_served_and_chain() {
    let server = TestServer::start();
    let mut mover = server.raw();
    mover.send_cmd(&[b"BLMOVE", b"src", b"dst", b"RIGHT", b"LEFT", b"0"]);
    wait_blocked(&server, 1);
    // A client waiting on the destination gets what the mover pushes there.
    let mut popper = server.raw();
    popper.send_cmd(&[b"BLPOP", b"dst", b"0"]);
    wait_blocked(&server, 2);
    cmd(&server, &["RPUSH", "src", "a", "b"]);
    mover.expect(b"$1\r\nb\r\n");
    popper.expect(b"*2\r\n$3\r\ndst\r\n$1\r\nb\r\n");
    assert_eq!(lrange(&server, "src"), ["a"]);
    assert_eq!(cmd(&server, &["EXISTS", "dst"]), redis::Value::Int(0));

    let mut rpl = server.raw();
    rpl.send_cmd(&[b"BRPOPLPUSH", b"empty", b"dst", b"0"]);
    wait_blocked(&server, 1);
    cmd(&server, &["LPUSH", "empty", "x", "y"]);
    rpl.expect(b"$1\r\nx\r\n");
    assert_eq!(lrange(&server, "dst"), ["x"]);
    assert_eq!(lrange(&server, "empty"), ["y"]);

    // A destination of another type: the served client gets WRONGTYPE, nothing moves.
    cmd(&server, &["SET", "str", "v"]);
    let mut wrong = server.raw();
    wrong.send_cmd(&[b"BLMOVE", b"src2", b"str", b"LEFT", b"LEFT", b"0"]);
    wait_blocked(&server, 1);
    cmd(&server, &["RPUSH", "src2", "z"]);
    wrong.expect(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    assert_eq!(lrange(&server, "src2"), ["z"]);
    assert_eq!(info_blocked(&server), 0);
}

#[test]
fn blmpop_is_served_with_its_count() {
    let server = TestServer::start();
    let mut a = server.raw();
    a.send_cmd(&[b"BLMPOP", b"0", b"2", b"x", b"y", b"RIGHT", b"COUNT", b"2"]);
    wait_blocked(&server, 1);
    cmd(&server, &["RPUSH", "y", "1", "2", "3"]);
    a.expect(b"*2\r\n$1\r\ny\r\n*2\r\n$1\r\n3\r\n$1\r\n2\r\n");
    assert_eq!(lrange(&server, "y"), ["1"]);
}

#[test]
fn a_list_arriving_by_rename_or_in_another_database_wakes_the_right_client() {
    let server = TestServer::start();
    let mut a = server.raw();
    a.send_cmd(&[b"BLPOP", b"target", b"0"]);
    wait_blocked(&server, 1);
    // The same key in another database is another key.
    let mut con = server.client();
    let _: () = redis::cmd("SELECT").arg(1).query(&mut con).unwrap();
    let _: i64 = redis::cmd("RPUSH")
        .arg("target")
        .arg("db1")
        .query(&mut con)
        .unwrap();
    assert_silent(&mut a);
    // Another type under the key does not serve it either.
    cmd(&server, &["SET", "target", "string"]);
    assert_silent(&mut a);
    cmd(&server, &["DEL", "target"]);
    cmd(&server, &["RPUSH", "source", "moved"]);
    cmd(&server, &["RENAME", "source", "target"]);
    a.expect(b"*2\r\n$6\r\ntarget\r\n$5\r\nmoved\r\n");
}

#[test]
fn blocking_commands_do_not_block_inside_multi() {
    let server = TestServer::start();
    let mut a = server.raw();
    a.roundtrip(&[b"MULTI"], b"+OK\r\n");
    a.roundtrip(&[b"BLPOP", b"nokey", b"0"], b"+QUEUED\r\n");
    a.roundtrip(
        &[b"BLMOVE", b"nokey", b"d", b"LEFT", b"LEFT", b"0"],
        b"+QUEUED\r\n",
    );
    a.roundtrip(&[b"BRPOPLPUSH", b"nokey", b"d", b"0"], b"+QUEUED\r\n");
    a.roundtrip(&[b"BLMPOP", b"0", b"1", b"nokey", b"LEFT"], b"+QUEUED\r\n");
    a.roundtrip(&[b"RPUSH", b"k", b"v"], b"+QUEUED\r\n");
    a.roundtrip(&[b"BRPOP", b"k", b"0"], b"+QUEUED\r\n");
    a.roundtrip(
        &[b"EXEC"],
        b"*6\r\n*-1\r\n$-1\r\n$-1\r\n*-1\r\n:1\r\n*2\r\n$1\r\nk\r\n$1\r\nv\r\n",
    );
    assert_eq!(info_blocked(&server), 0);
}

#[test]
fn a_blocked_client_is_ended_by_client_kill() {
    let server = TestServer::start();
    let mut a = server.raw();
    let addr = a.stream.local_addr().unwrap().to_string();
    a.send_cmd(&[b"BLPOP", b"k", b"0"]);
    wait_blocked(&server, 1);
    let killed = cmd(&server, &["CLIENT", "KILL", "ADDR", &addr]);
    assert_eq!(killed, redis::Value::Int(1));
    assert!(a.read_to_close().is_empty());
    wait_blocked(&server, 0);
    // Nothing was popped on its behalf.
    cmd(&server, &["RPUSH", "k", "kept"]);
    assert_eq!(lrange(&server, "k"), ["kept"]);

    // A client that disconnects while blocked leaves the queue too.
    let mut b = server.raw();
    b.send_cmd(&[b"BLPOP", b"gone", b"0"]);
    wait_blocked(&server, 1);
    drop(b);
    wait_blocked(&server, 0);
    cmd(&server, &["RPUSH", "gone", "kept"]);
    assert_eq!(lrange(&server, "gone"), ["kept"]);
}

#[test]
fn shutdown_ends_a_blocked_client() {
    let server = TestServer::start();
    let mut a = server.raw();
    a.send_cmd(&[b"BLPOP", b"k", b"0"]);
    wait_blocked(&server, 1);
    server.server.shared.request_shutdown();
    assert!(a.read_to_close().is_empty());
}

#[test]
fn many_blocked_clients_get_every_element_exactly_once() {
    let server = TestServer::start();
    let url = server.url();
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                let keys = if i % 2 == 0 {
                    vec!["a", "b"]
                } else {
                    vec!["b", "a"]
                };
                let got: Option<(String, String)> = redis::cmd("BLPOP")
                    .arg(keys)
                    .arg(10)
                    .query(&mut con)
                    .unwrap();
                got.expect("timed out").1
            })
        })
        .collect();
    wait_blocked(&server, 20);
    let pushers: Vec<_> = (0..4)
        .map(|p| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                for i in 0..5 {
                    let key = if (p + i) % 2 == 0 { "a" } else { "b" };
                    let _: i64 = redis::cmd("RPUSH")
                        .arg(key)
                        .arg(format!("{p}-{i}"))
                        .query(&mut con)
                        .unwrap();
                }
            })
        })
        .collect();
    for p in pushers {
        p.join().unwrap();
    }
    let mut got: Vec<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 20);
    assert_eq!(info_blocked(&server), 0);
    assert_eq!(cmd(&server, &["EXISTS", "a", "b"]), redis::Value::Int(0));
}
