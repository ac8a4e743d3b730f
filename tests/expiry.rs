//! Expiry: lazily on access, actively in the background, and as seen by WATCH. The
//! semantics run in process on a manual clock; active expiry runs on a real server.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::inprocess::InProcess;
use common::TestServer;

#[test]
fn expired_keys_vanish_on_access() {
    let server = InProcess::start();
    let mut raw = server.client();
    raw.roundtrip(&[b"SET", b"k", b"v", b"PX", b"50"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"h", b"v", b"EX", b"100"], b"+OK\r\n");
    server.advance_ms(120);
    raw.roundtrip(&[b"GET", b"k"], b"$-1\r\n");
    raw.roundtrip(&[b"EXISTS", b"k"], b":0\r\n");
    raw.roundtrip(&[b"TTL", b"k"], b":-2\r\n");
    raw.roundtrip(&[b"TYPE", b"k"], b"+none\r\n");
    raw.roundtrip(&[b"GET", b"h"], b"$1\r\nv\r\n");
    // A key set again after expiring starts fresh, without the old TTL.
    raw.roundtrip(&[b"SET", b"k", b"new"], b"+OK\r\n");
    raw.roundtrip(&[b"TTL", b"k"], b":-1\r\n");
}

#[test]
fn watched_key_that_expires_aborts_exec() {
    let server = InProcess::start();
    let mut raw = server.client();
    raw.roundtrip(&[b"SET", b"lock", b"me", b"PX", b"100"], b"+OK\r\n");
    raw.roundtrip(&[b"WATCH", b"lock"], b"+OK\r\n");
    server.advance_ms(150);
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"lock", b"again"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"EXEC"], b"*-1\r\n");
    // A key that was already expired when watched does not abort on its deletion.
    raw.roundtrip(&[b"SET", b"gone", b"x", b"PX", b"1"], b"+OK\r\n");
    server.advance_ms(20);
    raw.roundtrip(&[b"WATCH", b"gone"], b"+OK\r\n");
    raw.roundtrip(&[b"GET", b"gone"], b"$-1\r\n");
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"EXEC"], b"*0\r\n");
}

#[test]
fn active_expiry_reclaims_a_million_sessions_without_reads() {
    let server = TestServer::start();
    let mut con = server.client();
    const KEYS: usize = 1_000_000;
    const BATCH: usize = 10_000;
    let started = Instant::now();
    for batch in 0..KEYS / BATCH {
        let mut pipe = redis::pipe();
        for i in 0..BATCH {
            pipe.cmd("SET")
                .arg(format!("session:{}", batch * BATCH + i))
                .arg("x")
                .arg("EX")
                .arg(1)
                .ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    println!("loaded {KEYS} keys in {:?}", started.elapsed());

    // Another client keeps pinging while the keys expire.
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = {
        let stop = stop.clone();
        let mut ping_con = server.client();
        thread::spawn(move || {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let pong: String = redis::cmd("PING").query(&mut ping_con).unwrap();
                assert_eq!(pong, "PONG");
                latencies.push(t.elapsed());
                thread::sleep(Duration::from_millis(2));
            }
            latencies
        })
    };

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut size: i64;
    loop {
        size = redis::cmd("DBSIZE").query(&mut con).unwrap();
        if size == 0 || Instant::now() > deadline {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    println!(
        "DBSIZE reached {size} {:?} after loading",
        started.elapsed()
    );
    stop.store(true, Ordering::Relaxed);
    let mut latencies = pinger.join().unwrap();
    assert_eq!(size, 0, "active expiry left keys behind");
    latencies.sort();
    let worst = *latencies.last().unwrap();
    let p99 = latencies[latencies.len() * 99 / 100];
    println!(
        "{} PINGs during expiry: p99 {p99:?}, worst {worst:?}",
        latencies.len()
    );
    assert!(latencies.len() > 10);
    // A loose bound: timing goals belong in benchmarks, this only catches a stalled server.
    assert!(
        worst < Duration::from_millis(500),
        "a PING waited {worst:?}"
    );

    let info: String = redis::cmd("INFO").arg("stats").query(&mut con).unwrap();
    let expired: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("expired_keys:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(expired, KEYS as u64);
}
