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
fn replaying_an_expiry_that_is_now_past_keeps_the_key_for_the_records_after_it() {
    // A session whose short TTL was later removed (GETEX .. PX, then PERSIST), replayed
    // after that TTL's time: the PEXPIREAT record must not delete it, or the PERSIST
    // that follows finds nothing and the session is lost after a restart or on a
    // replica. Found by the dispatch property test (tests/dispatch_properties.rs).
    let server = InProcess::start();
    let past = (server.clock.now_ms() - 1000).to_string();
    server.apply_record(1, &[b"SET", b"session", b"data"]);
    server.apply_record(2, &[b"PEXPIREAT", b"session", past.as_bytes()]);
    server.apply_record(3, &[b"PERSIST", b"session"]);
    let mut raw = server.client();
    raw.roundtrip(&[b"GET", b"session"], b"$4\r\ndata\r\n");
    raw.roundtrip(&[b"TTL", b"session"], b":-1\r\n");
    // A client's own EXPIRE with a past time still deletes, as in Redis.
    raw.roundtrip(&[b"PEXPIREAT", b"session", past.as_bytes()], b":1\r\n");
    raw.roundtrip(&[b"EXISTS", b"session"], b":0\r\n");
}

/// A queue that receives every record the journal numbers from now on, as a replica's.
fn attach_records(server: &InProcess) -> std::sync::Arc<roost::journal::ReplicaQueue> {
    let records = roost::journal::ReplicaQueue::new(0);
    server
        .shared
        .journal
        .attach_for_full_sync(records.clone(), 1 << 20);
    records
}

/// The records queued since the last call, each as its arguments.
fn take_records(records: &roost::journal::ReplicaQueue) -> Vec<Vec<bytes::Bytes>> {
    let stream = records.take();
    let mut rest = &stream[..];
    let mut logged = Vec::new();
    while let Some((_, args, len)) = roost::aof::record::parse_stream(rest).unwrap() {
        logged.push(args);
        rest = &rest[len..];
    }
    logged
}

#[test]
fn deleting_a_key_that_has_expired_logs_its_expiry() {
    // UNLINK of a key past its TTL but still in memory: it goes as an expiry, logged as
    // a DEL, so a replay or a replica does not keep it either. Found by the dispatch
    // property test: without the DEL, SWAPDB carried the stale key and its TTL on the
    // replaying side into a later `SET .. KEEPTTL`.
    let server = InProcess::start();
    let records = attach_records(&server);
    let mut raw = server.client();
    raw.roundtrip(&[b"SET", b"a", b"v", b"PX", b"100"], b"+OK\r\n");
    server.advance_ms(200);
    raw.roundtrip(&[b"UNLINK", b"a"], b":0\r\n");
    let logged = take_records(&records);
    assert_eq!(logged.last().unwrap(), &[&b"DEL"[..], b"a"]);
    let info = String::from_utf8(raw.call(&[b"INFO", b"stats"])).unwrap();
    assert!(info.contains("expired_keys:1\r\n"), "{info}");
}

#[test]
fn writing_over_a_key_past_its_ttl_logs_its_expiry_first() {
    // SET (which skips its own lookup without NX or XX), SETEX and RENAME onto a key past
    // its TTL: the expiry is logged as a DEL before the write, so a replica or a replay
    // sees the same sequence, and it is counted, as Redis's lookup before a write does.
    let server = InProcess::start();
    let records = attach_records(&server);
    let mut raw = server.client();
    let writes: [&[&[u8]]; 3] = [
        &[b"SET", b"a", b"w"],
        &[b"SETEX", b"a", b"100", b"w"],
        &[b"RENAME", b"src", b"a"],
    ];
    for (n, write) in writes.into_iter().enumerate() {
        raw.roundtrip(&[b"SET", b"a", b"v", b"PX", b"100"], b"+OK\r\n");
        raw.roundtrip(&[b"SET", b"src", b"x"], b"+OK\r\n");
        server.advance_ms(200);
        records.take();
        raw.roundtrip(write, b"+OK\r\n");
        let logged: Vec<Vec<u8>> = take_records(&records)
            .iter()
            .map(|args| args[0].to_ascii_uppercase())
            .collect();
        // SETEX is logged as a SET with an absolute time.
        let logged_as: &[u8] = if write[0] == b"SETEX" {
            b"SET"
        } else {
            write[0]
        };
        assert_eq!(
            logged,
            [&b"DEL"[..], logged_as],
            "{}",
            String::from_utf8_lossy(write[0])
        );
        let info = String::from_utf8(raw.call(&[b"INFO", b"stats"])).unwrap();
        assert!(
            info.contains(&format!("expired_keys:{}\r\n", n + 1)),
            "{info}"
        );
    }
}

#[test]
fn restore_replace_and_an_empty_store_delete_a_key_past_its_ttl_without_an_expiry() {
    // Redis's RESTORE .. REPLACE deletes the old key without looking it up, so a key
    // past its TTL is not counted as expired and no DEL goes before the RESTORE.
    let server = InProcess::start();
    let records = attach_records(&server);
    let mut raw = server.client();
    raw.roundtrip(&[b"SET", b"src", b"hello"], b"+OK\r\n");
    let dump = raw.call(&[b"DUMP", b"src"]);
    // A bulk string: `$<len>\r\n<payload>\r\n`.
    let start = dump.iter().position(|&b| b == b'\n').unwrap() + 1;
    let payload = &dump[start..dump.len() - 2];
    let writes: [&[&[u8]]; 3] = [
        &[b"RESTORE", b"k", b"0", payload, b"REPLACE"],
        // A *STORE with an empty result deletes its destination the same way.
        &[b"SUNIONSTORE", b"k", b"nokey"],
        &[b"ZUNIONSTORE", b"k", b"1", b"nokey"],
    ];
    for write in writes {
        raw.roundtrip(&[b"SET", b"k", b"v", b"PX", b"100"], b"+OK\r\n");
        server.advance_ms(200);
        records.take();
        raw.call(write);
        let logged: Vec<Vec<u8>> = take_records(&records)
            .iter()
            .map(|args| args[0].to_ascii_uppercase())
            .collect();
        assert_eq!(logged, [write[0].to_vec()]);
    }
    raw.roundtrip(&[b"EXISTS", b"k"], b":0\r\n");
    let info = String::from_utf8(raw.call(&[b"INFO", b"stats"])).unwrap();
    assert!(info.contains("expired_keys:0\r\n"), "{info}");
}

/// INFO keyspace's `avg_ttl` for db0.
fn avg_ttl(raw: &mut common::inprocess::Session<'_>) -> u64 {
    let info = String::from_utf8(raw.call(&[b"INFO", b"keyspace"])).unwrap();
    let field = info
        .split(['\r', '\n', ','])
        .find_map(|f| f.strip_prefix("avg_ttl="))
        .unwrap_or_else(|| panic!("no avg_ttl in {info}"));
    field.parse().unwrap()
}

#[test]
fn info_keyspace_estimates_the_average_ttl_as_active_expiry_samples() {
    // Redis's estimate: a running average (2% per step) of the remaining TTLs active
    // expiry sees, 0 once no key has a TTL; session dashboards graph it through the
    // Prometheus exporter. Roost once reported 0 always.
    let server = InProcess::start();
    let keyspace = &server.shared.keyspace;
    let mut cursor = roost::store::ExpiryCursor::default();
    let mut cycles = |n: usize| {
        for _ in 0..n {
            roost::store::run_expiry_cycle(keyspace, &mut cursor, Duration::from_secs(1));
        }
    };
    let mut raw = server.client();
    for i in 0..2_000 {
        let key = format!("session:{i}");
        raw.roundtrip(&[b"SET", key.as_bytes(), b"v", b"EX", b"1000"], b"+OK\r\n");
        raw.roundtrip(&[b"SET", format!("plain:{i}").as_bytes(), b"v"], b"+OK\r\n");
    }
    assert_eq!(avg_ttl(&mut raw), 0, "before active expiry has sampled");
    cycles(32);
    // Every TTL left is exactly 1,000 s on the manual clock.
    assert_eq!(avg_ttl(&mut raw), 1_000_000);
    server.advance_ms(500_000);
    cycles(32);
    let moved = avg_ttl(&mut raw);
    assert!(
        (500_000..990_000).contains(&moved),
        "halfway through the TTLs the estimate moves toward 500 s, slowly: {moved}"
    );
    for i in 0..2_000 {
        raw.call(&[b"PERSIST", format!("session:{i}").as_bytes()]);
    }
    cycles(1);
    assert_eq!(avg_ttl(&mut raw), 0, "no key has a TTL");
    raw.roundtrip(&[b"SET", b"k", b"v", b"EX", b"100"], b"+OK\r\n");
    cycles(32);
    assert_eq!(avg_ttl(&mut raw), 100_000);
    raw.roundtrip(&[b"FLUSHALL"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"k", b"v"], b"+OK\r\n");
    assert_eq!(avg_ttl(&mut raw), 0, "FLUSHALL starts the estimate again");
}

/// Field `name` of INFO stats.
fn stat(raw: &mut common::inprocess::Session<'_>, name: &str) -> String {
    let info = String::from_utf8(raw.call(&[b"INFO", b"stats"])).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .to_string()
}

#[test]
fn info_stats_reports_what_active_expiry_found_and_spent() {
    // `expired_stale_perc` (Redis's running estimate, 5% per cycle, of the share of
    // keys with a TTL found expired), `expired_time_cap_reached_count` and
    // `expire_cycle_cpu_milliseconds`, which the Prometheus exporter publishes. Roost
    // once did not print them.
    let server = InProcess::start();
    let keyspace = &server.shared.keyspace;
    let mut cursor = roost::store::ExpiryCursor::default();
    let mut raw = server.client();
    for i in 0..100_000 {
        let key = format!("session:{i}");
        raw.roundtrip(&[b"SET", key.as_bytes(), b"v", b"EX", b"10"], b"+OK\r\n");
    }
    raw.roundtrip(&[b"SET", b"plain", b"v"], b"+OK\r\n");
    assert_eq!(stat(&mut raw, "expired_stale_perc"), "0.00");
    server.advance_ms(20_000);
    // Every key with a TTL is past it: the cycle walks every shard, finds all of them
    // stale, and moves the estimate 5% of the way to 100%.
    let removed = roost::store::run_expiry_cycle(keyspace, &mut cursor, Duration::from_secs(60));
    assert_eq!(removed, 100_000);
    assert_eq!(stat(&mut raw, "expired_stale_perc"), "5.00");
    assert_eq!(stat(&mut raw, "expired_time_cap_reached_count"), "0");
    let spent: u64 = stat(&mut raw, "expire_cycle_cpu_milliseconds")
        .parse()
        .unwrap();
    assert!(
        spent >= 1,
        "removing 100,000 keys took under a millisecond?"
    );
    // No key with a TTL left: the next cycle finds none stale.
    roost::store::run_expiry_cycle(keyspace, &mut cursor, Duration::from_secs(60));
    assert_eq!(stat(&mut raw, "expired_stale_perc"), "4.75");
    // A cycle out of time with shards left to walk.
    raw.roundtrip(&[b"SET", b"k", b"v", b"EX", b"100"], b"+OK\r\n");
    roost::store::run_expiry_cycle(keyspace, &mut cursor, Duration::ZERO);
    assert_eq!(stat(&mut raw, "expired_time_cap_reached_count"), "1");
    raw.roundtrip(&[b"CONFIG", b"RESETSTAT"], b"+OK\r\n");
    assert_eq!(stat(&mut raw, "expired_stale_perc"), "0.00");
    assert_eq!(stat(&mut raw, "expired_time_cap_reached_count"), "0");
    assert_eq!(stat(&mut raw, "expire_cycle_cpu_milliseconds"), "0");
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
