//! Output buffers of normal clients, with the roost binary and raw sockets: a client that
//! pipelines requests and does not read the replies holds only a bounded amount of the
//! server's memory (backpressure: its next requests wait) and is closed by
//! `client-output-buffer-limit`, as Redis closes it (hard limit, or soft limit for its
//! seconds), with Redis's log line; CLIENT LIST shows what it has not read; a client that
//! reads slowly but steadily is served to the end.
//!
//! The kernel's socket buffers take tens of MB on loopback before a server's writes
//! block, so the replies here are large enough to fill them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::encode_cmd;
use common::process::{rss_kb, wait_for, Roost, TempDir};

fn start(name: &str) -> (Roost, TempDir) {
    let dir = TempDir::new(name);
    let log = dir.0.join("roost.log");
    let roost = Roost::start_logged(&dir.0, &["--appendonly", "no"], &log);
    (roost, dir)
}

fn log_text(dir: &TempDir) -> String {
    std::fs::read_to_string(dir.0.join("roost.log")).unwrap_or_default()
}

const CLOSED_LINE: &str = "scheduled to be closed ASAP for overcoming of output buffer limits.";

fn set_limit(con: &mut redis::Connection, value: &str) {
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg(value)
        .query(con)
        .unwrap();
}

fn set_value(con: &mut redis::Connection, key: &str, len: usize) -> Vec<u8> {
    let value: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    let () = redis::cmd("SET").arg(key).arg(&value).query(con).unwrap();
    value
}

/// A raw connection and the id the server gave it.
fn connect(roost: &Roost) -> (TcpStream, u64) {
    let mut stream = TcpStream::connect(("127.0.0.1", roost.port)).unwrap();
    stream.write_all(b"CLIENT ID\r\n").unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\r\n") {
        stream.read_exact(&mut byte).unwrap();
        reply.push(byte[0]);
    }
    let text = String::from_utf8(reply).unwrap();
    let id = text.trim_start_matches(':').trim_end().parse().unwrap();
    (stream, id)
}

/// `field` of client `id` in CLIENT LIST, or None once it is gone.
fn client_field(con: &mut redis::Connection, id: u64, field: &str) -> Option<String> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(con).unwrap();
    let line = list.lines().find(|l| l.starts_with(&format!("id={id} ")))?;
    let value = line
        .split(' ')
        .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
        .unwrap_or_else(|| panic!("no {field} in {line}"));
    Some(value.to_string())
}

fn omem(con: &mut redis::Connection, id: u64) -> Option<u64> {
    client_field(con, id, "omem").map(|v| v.parse().unwrap())
}

fn pipeline(args: &[&[u8]], times: usize) -> Vec<u8> {
    encode_cmd(args).repeat(times)
}

/// The issue's reproduction: three clients each send 27 KB of pipelined `GET big` (a
/// 1 MB value) and never read. Before, the server ran every request ahead and grew from
/// 77 MB to 5.5 GB. Now each holds at most 64 KB plus one reply, is closed once it has
/// been over the default soft limit (64 KB) for its seconds (lowered from 60 to 2 here),
/// and another client is answered all along.
#[test]
fn clients_that_pipeline_without_reading_stay_bounded_and_are_closed() {
    let (roost, dir) = start("obuf-repro");
    let mut con = roost.client();
    let limits: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("client-output-buffer-limit")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        limits[1],
        "normal 134217728 65536 60 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
    set_limit(&mut con, "normal 128mb 64kb 2");
    set_value(&mut con, "big", 1 << 20);
    let before = rss_kb(roost.child.id());

    let requests = pipeline(&[b"GET", b"big"], 27 * 1024 / 22);
    let offenders: Vec<(TcpStream, u64)> = (0..3)
        .map(|_| {
            let (mut stream, id) = connect(&roost);
            stream.write_all(&requests).unwrap();
            (stream, id)
        })
        .collect();

    let started = Instant::now();
    let mut peak = before;
    loop {
        // Another client is served throughout.
        let asked = Instant::now();
        let pong: String = redis::cmd("PING").query(&mut con).unwrap();
        assert_eq!(pong, "PONG");
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "PING took {:?}",
            asked.elapsed()
        );
        peak = peak.max(rss_kb(roost.child.id()));
        if offenders
            .iter()
            .all(|(_, id)| omem(&mut con, *id).is_none())
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the offenders were not closed: {}",
            redis::cmd("CLIENT")
                .arg("LIST")
                .query::<String>(&mut con)
                .unwrap()
        );
        thread::sleep(Duration::from_millis(50));
    }
    // Each offender asked for 1.2 GB of replies; the server grew by a few MB at most.
    let growth_mb = peak.saturating_sub(before) / 1024;
    assert!(growth_mb < 64, "RSS grew by {growth_mb} MB");
    wait_for("the log lines", Duration::from_secs(5), || {
        log_text(&dir).matches(CLOSED_LINE).count() == 3
    });
    let log = log_text(&dir);
    for (_, id) in &offenders {
        assert!(log.contains(&format!("Client id={id} addr=")), "{log}");
    }
    drop(offenders);
}

/// omem, obl and oll count what a client has not read; it then reads it all, intact.
#[test]
fn client_list_shows_the_output_a_client_has_not_read() {
    let (roost, _dir) = start("obuf-omem");
    let mut con = roost.client();
    set_limit(&mut con, "normal 0 0 0");
    let value = set_value(&mut con, "big", 4 << 20);
    let (mut stream, id) = connect(&roost);
    let count = 16;
    stream
        .write_all(&pipeline(&[b"GET", b"big"], count))
        .unwrap();
    wait_for("unsent output", Duration::from_secs(10), || {
        omem(&mut con, id).unwrap() > 16384
    });
    let line: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
    let obl: u64 = client_field(&mut con, id, "obl").unwrap().parse().unwrap();
    let oll: u64 = client_field(&mut con, id, "oll").unwrap().parse().unwrap();
    let omem_now = omem(&mut con, id).unwrap();
    assert_eq!(obl, omem_now.min(16384), "{line}");
    assert_eq!(oll, (omem_now - obl).div_ceil(16384), "{line}");
    assert!(omem_now > 16384, "{line}");
    assert_eq!(client_field(&mut con, id, "events").unwrap(), "rw");
    let info: String = redis::cmd("INFO").arg("clients").query(&mut con).unwrap();
    let recent: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("client_recent_max_output_buffer:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(recent >= omem_now, "{info}");

    let mut expected = Vec::new();
    for _ in 0..count {
        expected.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
        expected.extend_from_slice(&value);
        expected.extend_from_slice(b"\r\n");
    }
    let mut got = vec![0; expected.len()];
    stream.read_exact(&mut got).unwrap();
    assert!(got == expected, "the replies arrived damaged");
    wait_for("omem back to 0", Duration::from_secs(5), || {
        omem(&mut con, id) == Some(0)
    });
    assert_eq!(client_field(&mut con, id, "events").unwrap(), "r");
}

/// Over the soft limit, a client is closed once it has stayed there for the soft
/// seconds, not before; over the hard limit, at once.
#[test]
fn soft_limit_closes_after_its_seconds_and_hard_limit_at_once() {
    let (roost, dir) = start("obuf-soft");
    let mut con = roost.client();
    // Under 64 KB the soft limit is also where decoding pauses, so a client that stops
    // reading with requests left sits at or over it.
    set_limit(&mut con, "normal 0 32kb 2");
    set_value(&mut con, "big", 4 << 20);
    let (mut stream, id) = connect(&roost);
    let sent = Instant::now();
    stream.write_all(&pipeline(&[b"GET", b"big"], 16)).unwrap();
    wait_for("omem over the soft limit", Duration::from_secs(10), || {
        omem(&mut con, id).is_some_and(|m| m >= 32 * 1024)
    });
    wait_for("the client closed", Duration::from_secs(15), || {
        omem(&mut con, id).is_none()
    });
    // The server cannot have been over the limit before the requests were sent.
    assert!(
        sent.elapsed() >= Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    wait_for("the log line", Duration::from_secs(5), || {
        log_text(&dir).contains(CLOSED_LINE)
    });

    set_limit(&mut con, "normal 2mb 0 0");
    let (mut stream, id) = connect(&roost);
    stream.write_all(&pipeline(&[b"GET", b"big"], 1)).unwrap();
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    assert!(received.is_empty(), "got {} bytes", received.len());
    assert_eq!(omem(&mut con, id), None);
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

/// A client that pipelines 20 MB of replies under a 1 MB hard limit but keeps reading,
/// slowly, gets every reply: the server runs at most 64 KB ahead of it (without
/// backpressure its unread replies would pass the limit at once).
#[test]
fn a_slow_steady_reader_is_served_to_the_end_under_the_limit() {
    let (roost, dir) = start("obuf-slow");
    let mut con = roost.client();
    set_limit(&mut con, "normal 1mb 512kb 1");
    let value = set_value(&mut con, "v", 100 * 1024);
    let (mut stream, id) = connect(&roost);
    let count = 200;
    stream.write_all(&pipeline(&[b"GET", b"v"], count)).unwrap();
    let mut one = format!("${}\r\n", value.len()).into_bytes();
    one.extend_from_slice(&value);
    one.extend_from_slice(b"\r\n");
    let total = one.len() * count;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::with_capacity(total);
    let mut chunk = vec![0; 32 * 1024];
    let mut max_omem = 0;
    for reads in 0.. {
        if got.len() == total {
            break;
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed after {} of {total} bytes", got.len());
        got.extend_from_slice(&chunk[..n]);
        if reads % 16 == 0 {
            max_omem = max_omem.max(omem(&mut con, id).unwrap_or(0));
        }
        thread::sleep(Duration::from_millis(2));
    }
    assert!(got == one.repeat(count), "the replies arrived damaged");
    assert!(max_omem < 512 * 1024, "omem reached {max_omem}");
    stream.write_all(b"PING\r\n").unwrap();
    let mut pong = [0; 7];
    stream.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
    assert!(!log_text(&dir).contains(CLOSED_LINE), "{}", log_text(&dir));
}

/// The pubsub class's soft limit: a subscriber that stops reading while messages keep
/// coming is closed once it has been over the soft limit for its seconds.
#[test]
fn a_subscriber_over_the_soft_limit_for_its_seconds_is_closed() {
    let (roost, dir) = start("obuf-pubsub-soft");
    let mut con = roost.client();
    set_limit(&mut con, "pubsub 0 1mb 1");
    let (mut slow, id) = connect(&roost);
    slow.write_all(&encode_cmd(&[b"SUBSCRIBE", b"firehose"]))
        .unwrap();
    let mut confirmation = [0u8; 37];
    slow.read_exact(&mut confirmation).unwrap();
    assert_eq!(
        &confirmation[..],
        b"*3\r\n$9\r\nsubscribe\r\n$8\r\nfirehose\r\n:1\r\n"
    );
    let message = "x".repeat(64 * 1024);
    let started = Instant::now();
    // Published in rounds until the subscriber is gone: more than the socket buffers
    // hold, and it keeps over the soft limit.
    while omem(&mut con, id).is_some() {
        let mut pipe = redis::pipe();
        for _ in 0..64 {
            pipe.cmd("PUBLISH").arg("firehose").arg(&message).ignore();
        }
        let () = pipe.query(&mut con).unwrap();
        assert!(started.elapsed() < Duration::from_secs(20), "not closed");
        thread::sleep(Duration::from_millis(100));
    }
    assert!(started.elapsed() >= Duration::from_secs(1));
    wait_for("the log line", Duration::from_secs(5), || {
        log_text(&dir).contains(CLOSED_LINE)
    });
    assert!(log_text(&dir).contains("flags=P"), "{}", log_text(&dir));
}
