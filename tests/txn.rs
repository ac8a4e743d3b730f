//! MULTI / EXEC / DISCARD / WATCH / UNWATCH.

mod common;

use common::TestServer;

#[test]
fn exec_runs_the_queue_atomically_in_order() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"a", b"1"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"GET", b"a"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"SET", b"a", b"2"], b"+QUEUED\r\n");
    // Not visible to others before EXEC.
    let mut other = server.raw();
    other.roundtrip(&[b"GET", b"a"], b"$-1\r\n");
    raw.roundtrip(&[b"EXEC"], b"*3\r\n+OK\r\n$1\r\n1\r\n+OK\r\n");
    other.roundtrip(&[b"GET", b"a"], b"$1\r\n2\r\n");
}

#[test]
fn empty_transaction_and_misuse_errors() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"EXEC"], b"-ERR EXEC without MULTI\r\n");
    raw.roundtrip(&[b"DISCARD"], b"-ERR DISCARD without MULTI\r\n");
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"MULTI"], b"-ERR MULTI calls can not be nested\r\n");
    raw.roundtrip(
        &[b"WATCH", b"k"],
        b"-ERR WATCH inside MULTI is not allowed\r\n",
    );
    raw.roundtrip(&[b"EXEC"], b"*0\r\n");
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"x", b"1"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"DISCARD"], b"+OK\r\n");
    raw.roundtrip(&[b"GET", b"x"], b"$-1\r\n");
}

#[test]
fn queueing_errors_abort_exec() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"a", b"1"], b"+QUEUED\r\n");
    raw.roundtrip(
        &[b"NOSUCH"],
        b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n",
    );
    raw.roundtrip(
        &[b"GET"],
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    raw.roundtrip(
        &[b"EXEC"],
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    raw.roundtrip(&[b"GET", b"a"], b"$-1\r\n");
    // A command refused inside MULTI also aborts it.
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(
        &[b"SHUTDOWN"],
        b"-ERR Command not allowed inside a transaction\r\n",
    );
    raw.roundtrip(
        &[b"EXEC"],
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
}

#[test]
fn runtime_errors_do_not_stop_the_rest() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"SELECT", b"99"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"SET", b"b", b"2"], b"+QUEUED\r\n");
    raw.roundtrip(
        &[b"EXEC"],
        b"*2\r\n-ERR DB index is out of range\r\n+OK\r\n",
    );
    raw.roundtrip(&[b"GET", b"b"], b"$1\r\n2\r\n");
}

#[test]
fn watch_aborts_when_another_client_writes() {
    let server = TestServer::start();
    let mut raw = server.raw();
    let mut other = server.raw();
    raw.roundtrip(&[b"WATCH", b"w"], b"+OK\r\n");
    other.roundtrip(&[b"SET", b"w", b"changed"], b"+OK\r\n");
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"w", b"mine"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"EXEC"], b"*-1\r\n");
    raw.roundtrip(&[b"GET", b"w"], b"$7\r\nchanged\r\n");
    // The watch is gone after EXEC: the next transaction runs.
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"w", b"mine"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"EXEC"], b"*1\r\n+OK\r\n");
}

#[test]
fn watch_abort_is_a_resp3_null() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.hello3();
    raw.roundtrip(&[b"WATCH", b"w"], b"+OK\r\n");
    server.raw().roundtrip(&[b"SET", b"w", b"x"], b"+OK\r\n");
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"EXEC"], b"_\r\n");
}

#[test]
fn watch_is_per_database_and_unwatch_forgets() {
    let server = TestServer::start();
    let mut raw = server.raw();
    let mut other = server.raw();
    raw.roundtrip(&[b"WATCH", b"k"], b"+OK\r\n");
    other.roundtrip(&[b"SELECT", b"1"], b"+OK\r\n");
    other.roundtrip(&[b"SET", b"k", b"db1"], b"+OK\r\n");
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"GET", b"k"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"EXEC"], b"*1\r\n$-1\r\n");

    raw.roundtrip(&[b"WATCH", b"k"], b"+OK\r\n");
    raw.roundtrip(&[b"UNWATCH"], b"+OK\r\n");
    other.roundtrip(&[b"SELECT", b"0"], b"+OK\r\n");
    other.roundtrip(&[b"SET", b"k", b"db0"], b"+OK\r\n");
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"GET", b"k"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"EXEC"], b"*1\r\n$3\r\ndb0\r\n");
}

#[test]
fn own_writes_before_multi_also_abort() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"WATCH", b"k"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"k", b"1"], b"+OK\r\n");
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"EXEC"], b"*-1\r\n");
}

#[test]
fn redis_crate_transactional_pipeline() {
    let server = TestServer::start();
    for mut con in [server.client(), server.client_resp3()] {
        let (a, b): (String, String) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg("p1")
            .arg("x")
            .ignore()
            .cmd("SET")
            .arg("p2")
            .arg("y")
            .ignore()
            .cmd("GET")
            .arg("p1")
            .cmd("GET")
            .arg("p2")
            .query(&mut con)
            .unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("x", "y"));
    }
}
