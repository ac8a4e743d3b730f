//! `maxmemory` and eviction with the real binary (which counts its heap with the counting
//! allocator, as INFO's used_memory) and real clients, compared with redis-server where
//! the replies can be.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

mod common;
use common::process::{wait_for, RedisServer, Roost, TempDir};
use common::{encode_cmd, info_field};

fn used_memory(con: &mut redis::Connection) -> u64 {
    info_field(con, "memory", "used_memory").parse().unwrap()
}

/// The numeric fields `names` of one `INFO section` (one reply, so they agree).
fn info_numbers<const N: usize>(
    con: &mut redis::Connection,
    section: &str,
    names: [&str; N],
) -> [u64; N] {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    names.map(|name| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in INFO {section}"))
            .trim()
            .parse()
            .unwrap()
    })
}

/// What the limit counts: used memory less records on their way to the log and to
/// replicas, as in Redis.
fn counted_memory(con: &mut redis::Connection) -> u64 {
    let [used, not_counted] =
        info_numbers(con, "memory", ["used_memory", "mem_not_counted_for_evict"]);
    used - not_counted
}

fn evicted_keys(con: &mut redis::Connection) -> u64 {
    info_field(con, "stats", "evicted_keys").parse().unwrap()
}

fn config_set(con: &mut redis::Connection, name: &str, value: &str) {
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(con)
        .unwrap();
}

/// A session-sized value (about 1 KB), different per key.
fn session(i: usize) -> String {
    format!("{i:08}:{}", "s".repeat(1000))
}

/// SETs `keys` in pipelines of 500; `ttl_ms(i)` gives the i-th key's TTL, if any.
fn load(
    con: &mut redis::Connection,
    keys: impl Iterator<Item = usize>,
    prefix: &str,
    ttl_ms: impl Fn(usize) -> Option<u64>,
) {
    let keys: Vec<usize> = keys.collect();
    for chunk in keys.chunks(500) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            let cmd = pipe.cmd("SET").arg(format!("{prefix}{i}")).arg(session(i));
            if let Some(ttl) = ttl_ms(i) {
                cmd.arg("PX").arg(ttl);
            }
            cmd.ignore();
        }
        let () = pipe.query(con).unwrap();
    }
}

fn exists(con: &mut redis::Connection, key: String) -> bool {
    redis::cmd("EXISTS").arg(key).query::<i64>(con).unwrap() == 1
}

/// One reply read off a raw connection, exactly as sent.
fn read_reply(reader: &mut BufReader<TcpStream>, out: &mut Vec<u8>) {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).unwrap();
    out.extend_from_slice(&line);
    let n: i64 = std::str::from_utf8(&line[1..line.len() - 2])
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    match line[0] {
        b'$' if n >= 0 => {
            let mut body = vec![0; n as usize + 2];
            std::io::Read::read_exact(reader, &mut body).unwrap();
            out.extend_from_slice(&body);
        }
        b'*' | b'>' => {
            for _ in 0..n.max(0) {
                read_reply(reader, out);
            }
        }
        b'%' => {
            for _ in 0..2 * n.max(0) {
                read_reply(reader, out);
            }
        }
        _ => {}
    }
}

/// Sends each request in turn over one connection; the replies as raw bytes.
fn raw_replies(port: u16, requests: &[&[&str]]) -> Vec<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    requests
        .iter()
        .map(|args| {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            writer.write_all(&encode_cmd(&args)).unwrap();
            let mut out = Vec::new();
            read_reply(&mut reader, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
        .collect()
}

#[test]
fn noeviction_refuses_writes_that_grow_memory_with_redis_text() {
    let dir = TempDir::new("evict-noeviction");
    let roost = Roost::start(&dir.0, &[]);
    let redis = RedisServer::start();
    let requests: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["SET", "gone", "2"],
        &["CONFIG", "SET", "maxmemory", "1"],
        &["SET", "b", "2"],
        &["APPEND", "a", "x"],
        &["GET", "a"],
        &["EXISTS", "b"],
        &["DEL", "gone"],
        &["MULTI"],
        &["GET", "a"],
        &["EXEC"],
        &["MULTI"],
        &["DISCARD"],
        &["EVAL", "return redis.call('SET', 'b', '2')", "0"],
        &["EVAL", "return redis.pcall('SET', 'b', '2')", "0"],
        &["EVAL", "return redis.call('GET', 'a')", "0"],
        &["CONFIG", "SET", "maxmemory", "0"],
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
        &["SET", "f", "v"],
        &["OBJECT", "FREQ", "f"],
        &["CONFIG", "SET", "maxmemory", "104857600"],
        &["CONFIG", "GET", "maxmemory-samples"],
        &["CONFIG", "SET", "maxmemory-samples", "0"],
        // Every access counts with lfu-log-factor 0: 5 + 3.
        &["CONFIG", "SET", "lfu-log-factor", "0"],
        &["GET", "f"],
        &["GET", "f"],
        &["GET", "f"],
        &["OBJECT", "FREQ", "f"],
        &["CONFIG", "GET", "lfu-decay-time"],
        &["CONFIG", "SET", "lfu-decay-time", "-1"],
    ];
    let ours = raw_replies(roost.port, requests);
    let theirs = raw_replies(redis.port, requests);
    assert_eq!(ours, theirs);
    // The replies pinned here so that a change on both sides is noticed too.
    assert_eq!(
        ours[3],
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(ours[4], ours[3]);
    assert_eq!(ours[5], "$1\r\n1\r\n");
    assert_eq!(ours[7], ":1\r\n");
    assert_eq!(
        ours[9], ours[3],
        "queueing in MULTI is refused over the limit"
    );
    assert_eq!(
        ours[10],
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert!(
        ours[13].starts_with("-OOM command not allowed"),
        "{}",
        ours[13]
    );
    assert_eq!(ours[14], ours[3]);
    assert_eq!(ours[19], ":5\r\n");
    assert_eq!(ours[27], ":8\r\n");

    // INFO memory and stats: the same fields, the same forms.
    let (mut r, mut s) = (
        roost.client(),
        redis::Client::open(redis.url())
            .unwrap()
            .get_connection()
            .unwrap(),
    );
    for con in [&mut r, &mut s] {
        assert_eq!(info_field(con, "memory", "maxmemory"), "104857600");
        assert_eq!(info_field(con, "memory", "maxmemory_human"), "100.00M");
        assert_eq!(info_field(con, "memory", "maxmemory_policy"), "allkeys-lfu");
        let ratio: f64 = info_field(con, "memory", "mem_fragmentation_ratio")
            .parse()
            .unwrap();
        assert!(ratio > 0.0);
        assert_eq!(info_field(con, "stats", "evicted_keys"), "0");
        let not_counted: u64 = info_field(con, "memory", "mem_not_counted_for_evict")
            .parse()
            .unwrap();
        assert!(not_counted < 1 << 20);
    }
    // The ratio is RSS over used memory.
    let rss: f64 = info_field(&mut r, "memory", "used_memory_rss")
        .parse()
        .unwrap();
    let used = used_memory(&mut r) as f64;
    let ratio: f64 = info_field(&mut r, "memory", "mem_fragmentation_ratio")
        .parse()
        .unwrap();
    assert!(
        (ratio - rss / used).abs() < 0.2 * ratio,
        "{ratio} vs {rss} / {used}"
    );
}

/// Loads cold and hot keys, reads the hot ones (`touch`), then loads more than fits:
/// memory stays near the limit and hot keys survive clearly more often than cold ones.
fn hot_keys_survive(policy: &str, name: &str, touch: impl Fn(&mut redis::Connection, String)) {
    let dir = TempDir::new(name);
    let roost = Roost::start(&dir.0, &["--maxmemory-policy", policy]);
    let mut con = roost.client();
    let before = used_memory(&mut con);
    load(&mut con, 0..4000, "a:", |_| None);
    let after = used_memory(&mut con);
    let per_key = (after - before) / 4000;
    // Room for 2000 more: loading 4000 more evicts about 2000.
    let limit = after + per_key * 2000;
    config_set(&mut con, "maxmemory", &limit.to_string());
    // The LRU clock counts seconds, as Redis's does: the hot keys' reads must fall in
    // a later second than the cold keys' writes, and the new keys' writes later still.
    thread::sleep(Duration::from_millis(2100));
    for i in (0..4000).step_by(2) {
        touch(&mut con, format!("a:{i}"));
    }
    thread::sleep(Duration::from_millis(1100));
    load(&mut con, 0..4000, "b:", |_| None);

    let used = counted_memory(&mut con);
    assert!(
        used <= limit + limit / 50 && used >= limit - limit / 5,
        "used memory {used} (less mem_not_counted_for_evict) should stay near maxmemory {limit}"
    );
    let evicted = evicted_keys(&mut con);
    assert!(evicted > 1000, "evicted_keys {evicted}");
    let hot = (0..4000)
        .step_by(2)
        .filter(|i| exists(&mut con, format!("a:{i}")))
        .count();
    let cold = (1..4000)
        .step_by(2)
        .filter(|i| exists(&mut con, format!("a:{i}")))
        .count();
    let new = (0..4000)
        .filter(|i| exists(&mut con, format!("b:{i}")))
        .count();
    eprintln!("{policy}: {hot} hot, {cold} cold, {new} new keys survived; {evicted} evicted; used_memory {used} of {limit}");
    // Out of 2000 hot and 2000 cold keys; ideal LRU/LFU keeps every hot key and no cold
    // one, random eviction about as many of each (a spread of some 30 keys).
    assert!(
        hot > cold + 400,
        "{policy}: {hot} hot and {cold} cold keys survived ({new} new, {evicted} evicted)"
    );
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(dbsize, hot + cold + new);
}

#[test]
fn allkeys_lru_keeps_memory_near_the_limit_and_keys_read_recently() {
    hot_keys_survive("allkeys-lru", "evict-lru", |con, key| {
        let _: Option<String> = redis::cmd("GET").arg(key).query(con).unwrap();
    });
}

#[test]
fn allkeys_lfu_keeps_keys_read_often() {
    hot_keys_survive("allkeys-lfu", "evict-lfu", |con, key| {
        let mut pipe = redis::pipe();
        for _ in 0..20 {
            pipe.cmd("GET").arg(&key).ignore();
        }
        let () = pipe.query(con).unwrap();
    });
}

#[test]
fn volatile_ttl_evicts_the_nearest_expiry_first_and_never_keys_without_ttl() {
    let dir = TempDir::new("evict-ttl");
    let roost = Roost::start(&dir.0, &["--maxmemory-policy", "volatile-ttl"]);
    let mut con = roost.client();
    let before = used_memory(&mut con);
    // TTLs far in the future, nearer for lower numbers.
    load(&mut con, 0..3000, "t:", |i| {
        Some(3_600_000 + i as u64 * 1000)
    });
    load(&mut con, 0..1000, "p:", |_| None);
    let after = used_memory(&mut con);
    let per_key = (after - before) / 4000;
    // Down by about 1000 keys.
    let limit = after - per_key * 1000;
    config_set(&mut con, "maxmemory", &limit.to_string());
    wait_for(
        "eviction down to maxmemory",
        Duration::from_secs(30),
        || counted_memory(&mut con) <= limit,
    );
    let persistent = (0..1000)
        .filter(|i| exists(&mut con, format!("p:{i}")))
        .count();
    assert_eq!(persistent, 1000, "keys without a TTL are never evicted");
    let first = (0..1000)
        .filter(|i| exists(&mut con, format!("t:{i}")))
        .count();
    let last = (2000..3000)
        .filter(|i| exists(&mut con, format!("t:{i}")))
        .count();
    assert!(evicted_keys(&mut con) >= 500);
    assert!(
        first + 300 < last,
        "{first} of the nearest expiries and {last} of the furthest survived"
    );
}

#[test]
fn volatile_policies_refuse_with_oom_once_only_keys_without_ttl_remain() {
    let dir = TempDir::new("evict-volatile-oom");
    let roost = Roost::start(&dir.0, &["--maxmemory-policy", "volatile-lru"]);
    let mut con = roost.client();
    load(&mut con, 0..2000, "p:", |_| None);
    load(&mut con, 0..200, "t:", |_| Some(3_600_000));
    let used = used_memory(&mut con);
    config_set(&mut con, "maxmemory", &(used / 2).to_string());
    // Until the TTL keys are gone, eviction is under way and writes may run (Redis's
    // EVICT_RUNNING); after that there is nothing left to evict.
    wait_for("every TTL key evicted", Duration::from_secs(30), || {
        evicted_keys(&mut con) == 200
    });
    let err = redis::cmd("SET")
        .arg("new")
        .arg("v")
        .query::<()>(&mut con)
        .unwrap_err();
    assert_eq!(err.code(), Some("OOM"), "{err:?}");
    assert_eq!(
        err.detail(),
        Some("command not allowed when used memory > 'maxmemory'.")
    );
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(dbsize, 2000, "every TTL key went and no other");
    assert_eq!(evicted_keys(&mut con), 200);
    // Reads and deletes still work.
    let v: String = redis::cmd("GET").arg("p:7").query(&mut con).unwrap();
    assert_eq!(v, session(7));
    let n: i64 = redis::cmd("DEL").arg("p:7").query(&mut con).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn evictions_reach_replicas_as_dels_and_fire_evicted_events() {
    let (pdir, rdir) = (TempDir::new("evict-primary"), TempDir::new("evict-replica"));
    let primary = Roost::start(
        &pdir.0,
        &[
            "--maxmemory-policy",
            "allkeys-random",
            "--notify-keyspace-events",
            "Ee",
        ],
    );
    let replica = Roost::start(
        &rdir.0,
        &["--replicaof", &format!("127.0.0.1 {}", primary.port)],
    );
    let mut p = primary.client();
    let mut r = replica.client();
    // The replica answers LOADING while it loads its first snapshot.
    wait_for("the replica's link", Duration::from_secs(30), || {
        redis::cmd("INFO")
            .arg("replication")
            .query::<String>(&mut r)
            .unwrap()
            .contains("master_link_status:up")
    });

    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let subscribed = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let listener = {
        let (events, subscribed, done) = (events.clone(), subscribed.clone(), done.clone());
        let mut sub = primary.client();
        thread::spawn(move || {
            let mut pubsub = sub.as_pubsub();
            pubsub.subscribe("__keyevent@0__:evicted").unwrap();
            pubsub
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            subscribed.store(true, Ordering::Release);
            // Listens until the test is done: a quiet spell (loading the keys on a busy
            // machine) is not the end of the events.
            loop {
                match pubsub.get_message() {
                    Ok(msg) => {
                        let key: String = msg.get_payload().unwrap();
                        events.lock().unwrap().push(key);
                    }
                    Err(e) if e.is_timeout() && !done.load(Ordering::Acquire) => continue,
                    Err(_) => break,
                }
            }
        })
    };
    wait_for("the subscription", Duration::from_secs(10), || {
        subscribed.load(Ordering::Acquire)
    });

    let before = used_memory(&mut p);
    load(&mut p, 0..3000, "k:", |_| None);
    let after = used_memory(&mut p);
    let limit = before + (after - before) / 2;
    config_set(&mut p, "maxmemory", &limit.to_string());
    wait_for(
        "eviction down to maxmemory",
        Duration::from_secs(30),
        || counted_memory(&mut p) <= limit,
    );
    // No limit from here on, so the count below is final: the test's own requests
    // (KEYS, INFO) take memory too and would evict more keys meanwhile.
    config_set(&mut p, "maxmemory", "0");
    let evicted = evicted_keys(&mut p);
    assert!(evicted > 500, "evicted_keys {evicted}");
    let primary_size: usize = redis::cmd("DBSIZE").query(&mut p).unwrap();
    assert_eq!(primary_size as u64, 3000 - evicted);
    wait_for(
        "the replica to apply the DELs",
        Duration::from_secs(30),
        || redis::cmd("DBSIZE").query::<usize>(&mut r).unwrap() == primary_size,
    );
    // The same keys are left, and the replica evicted nothing itself.
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut p).unwrap();
    let mut replica_keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut r).unwrap();
    keys.sort();
    replica_keys.sort();
    assert_eq!(keys, replica_keys);
    assert_eq!(evicted_keys(&mut r), 0);

    wait_for("every evicted event", Duration::from_secs(10), || {
        events.lock().unwrap().len() as u64 == evicted
    });
    let notified: HashSet<String> = events.lock().unwrap().iter().cloned().collect();
    assert_eq!(notified.len() as u64, evicted);
    let kept: HashSet<String> = keys.into_iter().collect();
    assert!(notified.is_disjoint(&kept));
    done.store(true, Ordering::Release);
    drop(primary);
    listener.join().unwrap();
}

#[test]
fn lowering_maxmemory_evicts_in_steps_while_other_clients_are_answered() {
    let dir = TempDir::new("evict-lower");
    let roost = Roost::start(&dir.0, &["--maxmemory-policy", "allkeys-lru"]);
    let mut con = roost.client();
    let before = used_memory(&mut con);
    let keys: Vec<usize> = (0..100_000).collect();
    for chunk in keys.chunks(2000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("SET")
                .arg(format!("k:{i}"))
                .arg("x".repeat(100))
                .ignore();
        }
        let () = pipe.query(&mut con).unwrap();
    }
    // A quarter of what the keys took: about 75,000 keys go.
    let limit = before + (used_memory(&mut con) - before) / 4;

    // Another client pings and reads evicted_keys over and over while eviction runs.
    let done = Arc::new(AtomicBool::new(false));
    let observer = {
        let done = done.clone();
        let mut other = roost.client();
        thread::spawn(move || {
            let mut seen = Vec::new();
            while !done.load(Ordering::Acquire) {
                let pong: String = redis::cmd("PING").query(&mut other).unwrap();
                assert_eq!(pong, "PONG");
                seen.push(evicted_keys(&mut other));
            }
            seen
        })
    };
    config_set(&mut con, "maxmemory", &limit.to_string());
    wait_for(
        "eviction down to maxmemory",
        Duration::from_secs(120),
        || counted_memory(&mut con) <= limit,
    );
    let total = evicted_keys(&mut con);
    done.store(true, Ordering::Release);
    let seen = observer.join().unwrap();
    assert!(total > 50_000, "evicted_keys {total}");
    // Answered while eviction was under way, not only before or after it.
    let midway = seen.iter().filter(|&&n| n > 0 && n < total).count();
    assert!(
        midway >= 3,
        "{midway} PINGs answered mid-eviction ({} in all; evicted {total})",
        seen.len()
    );
}

#[test]
fn evictions_invalidate_tracking_clients() {
    let dir = TempDir::new("evict-tracking");
    let roost = Roost::start(&dir.0, &["--maxmemory-policy", "allkeys-random"]);
    let mut con = roost.client();
    let before = used_memory(&mut con);
    load(&mut con, 0..2000, "k:", |_| None);
    let after = used_memory(&mut con);

    // A RESP3 client tracking the first 100 keys.
    let stream = TcpStream::connect(("127.0.0.1", roost.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut send = |args: &[&str]| {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        writer.write_all(&encode_cmd(&args)).unwrap();
    };
    send(&["HELLO", "3"]);
    read_reply(&mut reader, &mut Vec::new());
    send(&["CLIENT", "TRACKING", "ON"]);
    let mut ok = Vec::new();
    read_reply(&mut reader, &mut ok);
    assert_eq!(ok, b"+OK\r\n");
    for i in 0..100 {
        send(&["GET", &format!("k:{i}")]);
        read_reply(&mut reader, &mut Vec::new());
    }

    // A third of what the keys took: about two thirds of them go.
    let limit = before + (after - before) / 3;
    config_set(&mut con, "maxmemory", &limit.to_string());
    wait_for(
        "eviction down to maxmemory",
        Duration::from_secs(30),
        || counted_memory(&mut con) <= limit,
    );
    let evicted: HashSet<String> = (0..100)
        .map(|i| format!("k:{i}"))
        .filter(|k| !exists(&mut con, k.clone()))
        .collect();
    assert!(
        evicted.len() > 50,
        "{} of the tracked keys evicted",
        evicted.len()
    );
    // Each evicted tracked key arrives in an invalidation push.
    let mut invalidated = HashSet::new();
    while !evicted.is_subset(&invalidated) {
        let mut push = Vec::new();
        read_reply(&mut reader, &mut push);
        let text = String::from_utf8_lossy(&push).into_owned();
        assert!(text.starts_with(">2\r\n$10\r\ninvalidate\r\n"), "{text}");
        invalidated.extend(
            text.split("\r\n")
                .filter(|part| part.starts_with("k:"))
                .map(str::to_string),
        );
    }
}

/// Redis evicts before every command once over `maxmemory`, reads included. Memory
/// that grows without a write (here the script cache: SCRIPT LOAD is no write) must
/// be brought back under the limit while only reads arrive, and the reads must be
/// answered all along, never refused.
#[test]
fn reads_over_the_limit_start_eviction_and_are_never_refused() {
    let dir = TempDir::new("evict-on-reads");
    let roost = Roost::start(&dir.0, &["--maxmemory-policy", "allkeys-lru"]);
    let mut con = roost.client();
    load(&mut con, 0..8000, "k:", |_| None);
    let limit = used_memory(&mut con) + (1 << 20);
    config_set(&mut con, "maxmemory", &limit.to_string());
    // 3 MB of script, past the limit without a single write.
    let script = format!("return 1 -- {}", "x".repeat(3 << 20));
    let _: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(&script)
        .query(&mut con)
        .unwrap();
    assert!(counted_memory(&mut con) > limit);
    let evicted_before = evicted_keys(&mut con);
    wait_for(
        "reads to bring memory under the limit",
        Duration::from_secs(20),
        || {
            for i in 0..100 {
                let _: Option<String> = redis::cmd("GET")
                    .arg(format!("k:{i}"))
                    .query(&mut con)
                    .expect("a read over the limit is answered");
            }
            // Eviction stops just under the limit; the INFO reply that reads it is counted.
            counted_memory(&mut con) <= limit + limit / 50
        },
    );
    let evicted = evicted_keys(&mut con) - evicted_before;
    // Keys went to make the room (how many depends on what else the load left
    // allocated when the limit was set and has freed since: pipeline buffers).
    assert!(evicted > 0, "{evicted} keys evicted");

    // Under noeviction reads over the limit are answered and nothing is evicted.
    config_set(&mut con, "maxmemory-policy", "noeviction");
    let names: Vec<String> = (0..100).map(|i| format!("k:{i}")).collect();
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&names).query(&mut con).unwrap();
    assert!(values.iter().any(|v| v.is_some()));
    let keys: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    let _: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(format!("{script} "))
        .query(&mut con)
        .unwrap();
    assert!(counted_memory(&mut con) > limit);
    for _ in 0..10 {
        let again: Vec<Option<String>> = redis::cmd("MGET").arg(&names).query(&mut con).unwrap();
        assert_eq!(again, values);
        thread::sleep(Duration::from_millis(20));
    }
    let after: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(after, keys);
}

#[test]
fn info_times_how_long_used_memory_stayed_over_the_limit() {
    // INFO stats' `total_eviction_exceeded_time` and `current_eviction_exceeded_time`
    // (ms), which the Prometheus exporter publishes; the same script on redis-server
    // shows what they mean: from the first step of making room that could not get
    // under the limit to the first that did (none runs without a limit).
    let dir = TempDir::new("evict-exceeded-time");
    let roost = Roost::start(&dir.0, &[]);
    let redis = RedisServer::start();
    let reference = redis::Client::open(format!("redis://127.0.0.1:{}", redis.port)).unwrap();
    for mut con in [roost.client(), reference.get_connection().unwrap()] {
        // Both from one INFO: two would see the clock move between them.
        let times = |con: &mut redis::Connection| -> (u64, u64) {
            let [total, current] = info_numbers(
                con,
                "stats",
                [
                    "total_eviction_exceeded_time",
                    "current_eviction_exceeded_time",
                ],
            );
            (total, current)
        };
        assert_eq!(times(&mut con), (0, 0));
        let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
        config_set(&mut con, "maxmemory", "1");
        let refused = redis::cmd("SET").arg("b").arg("2").query::<()>(&mut con);
        assert!(refused.unwrap_err().to_string().contains("OOM"));
        thread::sleep(Duration::from_millis(300));
        let (total, current) = times(&mut con);
        assert!(current >= 300 && total == current, "{total} {current}");
        config_set(&mut con, "maxmemory", "0");
        let _: () = redis::cmd("SET").arg("c").arg("3").query(&mut con).unwrap();
        thread::sleep(Duration::from_millis(200));
        let (total, current) = times(&mut con);
        assert!(current >= 500 && total == current, "{total} {current}");
        config_set(&mut con, "maxmemory", "100mb");
        let _: () = redis::cmd("SET").arg("d").arg("4").query(&mut con).unwrap();
        let (total, current) = times(&mut con);
        assert!(current == 0 && total >= 500, "{total} {current}");
        let () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut con)
            .unwrap();
        assert_eq!(times(&mut con), (0, 0));
    }
}
