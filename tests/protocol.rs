//! The wire protocol end to end: pipelining, inline commands, protocol errors, limits.

mod common;

use std::io::Write;
use std::thread;
use std::time::Duration;

use common::{encode_cmd, TestServer};

#[test]
fn pipelined_requests_all_answered_in_order() {
    let server = TestServer::start();
    let mut raw = server.raw();
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..1000 {
        let value = format!("v{i}");
        batch.extend(encode_cmd(&[b"ECHO", value.as_bytes()]));
        expected.extend(format!("${}\r\n{}\r\n", value.len(), value).into_bytes());
    }
    raw.send(&batch);
    raw.expect(&expected);
}

#[test]
fn inline_commands_with_quotes() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.send(b"PING\r\n");
    raw.expect(b"+PONG\r\n");
    raw.send(b"ECHO \"hello world\"\n");
    raw.expect(b"$11\r\nhello world\r\n");
    raw.send(b"ECHO 'it\\'s'\r\n");
    raw.expect(b"$4\r\nit's\r\n");
    raw.send(b"ECHO \"\\x41\\n\"\r\n");
    raw.expect(b"$2\r\nA\n\r\n");
    // Empty lines are ignored, as in Redis.
    raw.send(b"\r\n\r\nPING\r\n");
    raw.expect(b"+PONG\r\n");
}

#[test]
fn request_split_across_many_reads() {
    let server = TestServer::start();
    let mut raw = server.raw();
    let value = vec![b'x'; 3 * 1024 * 1024 + 7];
    let request = encode_cmd(&[b"ECHO", &value]);
    for chunk in request.chunks(4093) {
        raw.send(chunk);
    }
    let header = format!("${}\r\n", value.len());
    raw.expect(header.as_bytes());
    let body = raw.read_exact(value.len() + 2);
    assert!(body[..value.len()].iter().all(|&b| b == b'x'));
    assert_eq!(&body[value.len()..], b"\r\n");
}

#[test]
fn one_byte_at_a_time() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.stream.set_nodelay(true).unwrap();
    for &b in encode_cmd(&[b"ECHO", b"slow"]).iter() {
        raw.stream.write_all(&[b]).unwrap();
    }
    raw.expect(b"$4\r\nslow\r\n");
}

fn assert_protocol_error(input: &[u8], message: &str) {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.send(input);
    let got = raw.read_to_close();
    assert_eq!(
        String::from_utf8_lossy(&got),
        format!("-ERR Protocol error: {message}\r\n"),
        "input {:?}",
        String::from_utf8_lossy(&input[..input.len().min(40)])
    );
}

#[test]
fn protocol_errors_answer_then_close() {
    assert_protocol_error(b"*abc\r\n", "invalid multibulk length");
    assert_protocol_error(b"*3000000000\r\n", "invalid multibulk length");
    assert_protocol_error(b"*1\r\n+PING\r\n", "expected '$', got '+'");
    assert_protocol_error(b"*1\r\n$-5\r\n", "invalid bulk length");
    assert_protocol_error(b"*1\r\n$600000000\r\n", "invalid bulk length");
    assert_protocol_error(b"ECHO \"unterminated\r\n", "unbalanced quotes in request");
    assert_protocol_error(&vec![b'a'; 70 * 1024], "too big inline request");
    let mut long_header = b"*1".to_vec();
    long_header.extend(vec![b'1'; 70 * 1024]);
    assert_protocol_error(&long_header, "too big mbulk count string");
}

#[test]
fn replies_before_a_protocol_error_are_delivered() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.send(b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n");
    let got = raw.read_to_close();
    assert_eq!(
        String::from_utf8_lossy(&got),
        "+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"
    );
}

#[test]
fn a_protocol_error_closes_only_that_connection() {
    let server = TestServer::start();
    let mut good = server.raw();
    good.roundtrip(&[b"SET", b"k", b"v"], b"+OK\r\n");
    let mut bad = server.raw();
    bad.send(b"*1\r\n$x\r\n");
    let got = bad.read_to_close();
    assert!(got.starts_with(b"-ERR Protocol error"));
    good.roundtrip(&[b"GET", b"k"], b"$1\r\nv\r\n");
}

#[test]
fn proto_max_bulk_len_is_enforced() {
    let server = TestServer::with_config(|c| c.proto_max_bulk_len = 1000);
    let mut raw = server.raw();
    raw.roundtrip(&[b"ECHO", &[b'a'; 1000]], &{
        let mut v = b"$1000\r\n".to_vec();
        v.extend([b'a'; 1000]);
        v.extend(b"\r\n");
        v
    });
    raw.send(b"*2\r\n$4\r\nECHO\r\n$1001\r\n");
    let got = raw.read_to_close();
    assert_eq!(got, b"-ERR Protocol error: invalid bulk length\r\n");
}

#[test]
fn stricter_limits_before_auth() {
    let server = TestServer::with_config(|c| c.requirepass = Some("secret".into()));
    let mut raw = server.raw();
    raw.send(b"*11\r\n");
    assert_eq!(
        raw.read_to_close(),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    let mut raw = server.raw();
    raw.send(b"*2\r\n$4\r\nAUTH\r\n$20000\r\n");
    assert_eq!(
        raw.read_to_close(),
        b"-ERR Protocol error: unauthenticated bulk length\r\n"
    );
    // After AUTH the normal limits apply.
    let mut raw = server.raw();
    raw.roundtrip(&[b"AUTH", b"secret"], b"+OK\r\n");
    let big = vec![b'z'; 20000];
    raw.send_cmd(&[b"ECHO", &big]);
    let reply = raw.read_exact(20000 + 10);
    assert!(reply.starts_with(b"$20000\r\n"));
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let server = TestServer::with_config(|c| c.client_query_buffer_limit = 64 * 1024);
    let mut raw = server.raw();
    // A bulk string that is declared but never finished grows the query buffer.
    raw.send(b"*2\r\n$4\r\nECHO\r\n$1000000\r\n");
    let chunk = vec![b'q'; 16 * 1024];
    let mut closed = false;
    for _ in 0..20 {
        if raw.stream.write_all(&chunk).is_err() {
            closed = true;
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    if !closed {
        assert!(
            raw.read_to_close().is_empty(),
            "no reply expected, only a close"
        );
    }
    let mut other = server.raw();
    other.roundtrip(&[b"PING"], b"+PONG\r\n");
}

#[test]
fn resp3_types_after_hello() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.send_cmd(&[b"HELLO", b"3"]);
    let got = raw.read_exact(1);
    assert_eq!(got, b"%");
    // Drain the rest of the HELLO map, then check a RESP3 null.
    let mut con = server.client_resp3();
    let v: Option<String> = redis::cmd("GET").arg("nope").query(&mut con).unwrap();
    assert_eq!(v, None);
    let mut raw = server.raw();
    raw.send_cmd(&[b"HELLO", b"3"]);
    let mut seen = Vec::new();
    while !seen.ends_with(b"modules\r\n*0\r\n") {
        seen.extend(raw.read_exact(1));
    }
    raw.roundtrip(&[b"GET", b"nope"], b"_\r\n");
}

#[test]
fn unknown_command_and_arity_errors() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(
        &[b"NOPE", b"a", b"b"],
        b"-ERR unknown command 'NOPE', with args beginning with: 'a' 'b' \r\n",
    );
    raw.roundtrip(
        &[b"nope"],
        b"-ERR unknown command 'nope', with args beginning with: \r\n",
    );
    raw.roundtrip(
        &[b"GET"],
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    raw.roundtrip(
        &[b"client", b"setname"],
        b"-ERR wrong number of arguments for 'client|setname' command\r\n",
    );
    raw.roundtrip(
        &[b"CLIENT", b"bogus"],
        b"-ERR unknown subcommand 'bogus'. Try CLIENT HELP.\r\n",
    );
    raw.roundtrip(&[b"gEt", b"missing"], b"$-1\r\n");
}
