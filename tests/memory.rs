//! Memory reporting with the real binary (which counts its heap with the counting
//! allocator) and real clients: MEMORY USAGE against what keys really add to
//! `used_memory`, `used_memory` against the resident set for a load of sessions, INFO
//! memory's fields against redis-server's, the peak, MEMORY DOCTOR and MEMORY PURGE.

use std::collections::HashMap;
use std::time::Duration;

mod common;
use common::process::{RedisServer, Roost, TempDir};

fn info_memory(con: &mut redis::Connection) -> Vec<(String, String)> {
    let info: String = redis::cmd("INFO").arg("memory").query(con).unwrap();
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn field(con: &mut redis::Connection, name: &str) -> String {
    info_memory(con)
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in INFO memory"))
        .1
}

/// `used_memory` once two readings in a row agree. The asking connection's own buffers
/// count too, and they move: the first request after an idle second reads into 1 KB,
/// the next ones into 16 KB or more. Asked again at once, they have settled.
fn used_memory(con: &mut redis::Connection) -> i64 {
    let mut last: i64 = field(con, "used_memory").parse().unwrap();
    for _ in 0..20 {
        let now: i64 = field(con, "used_memory").parse().unwrap();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("used_memory kept moving on an idle server (last {last})");
}

/// Resident set of the server process, from /proc.
fn rss(roost: &Roost) -> i64 {
    let statm = std::fs::read_to_string(format!("/proc/{}/statm", roost.child.id())).unwrap();
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<i64>()
        .unwrap()
        * 4096
}

fn usage(con: &mut redis::Connection, key: &str, samples: Option<i64>) -> Option<i64> {
    let mut cmd = redis::cmd("MEMORY");
    cmd.arg("USAGE").arg(key);
    if let Some(n) = samples {
        cmd.arg("SAMPLES").arg(n);
    }
    cmd.query(con).unwrap()
}

fn start(name: &str) -> (TempDir, Roost) {
    let dir = TempDir::new(name);
    let roost = Roost::start(&dir.0, &["--appendonly", "no"]);
    (dir, roost)
}

/// Waits until `con` is the only client: the connection that checked readiness has
/// gone, with its buffers, so it does not free memory in the middle of a measure.
fn alone(con: &mut redis::Connection) {
    common::process::wait_for("the other clients to go", Duration::from_secs(10), || {
        let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
        info.contains("\r\nconnected_clients:1\r\n")
    });
}

/// Sends `build(i)` for i in 0..n, pipelined.
fn pipelined(con: &mut redis::Connection, n: usize, build: impl Fn(usize) -> redis::Cmd) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            pipe.add_command(build(i)).ignore();
        }
        let () = pipe.query(con).unwrap();
    }
}

/// Runs `build(0)` once in database 0 and empties it again: a command's latency
/// histogram (24 KB, as Redis's) is allocated at its first call, and is not what the
/// keys add.
fn warm_up(con: &mut redis::Connection, build: impl Fn(usize) -> redis::Cmd) {
    let () = redis::cmd("SELECT").arg(0).query(con).unwrap();
    let _: redis::Value = build(0).query(con).unwrap();
    let () = redis::cmd("FLUSHDB").query(con).unwrap();
}

/// Sends `build(i)` for i in 0..n into database `db` on a connection of its own, and
/// returns once that connection has gone: its read buffer's size depends on where
/// the pipeline's reads happened to split (a 16 KB step, 5% of some loads), so the
/// connection and its buffers are not there when `con` reads `used_memory`.
fn load_apart(
    roost: &Roost,
    con: &mut redis::Connection,
    db: usize,
    n: usize,
    build: impl Fn(usize) -> redis::Cmd,
) {
    {
        let mut loader = roost.client();
        let () = redis::cmd("SELECT").arg(db).query(&mut loader).unwrap();
        pipelined(&mut loader, n, build);
    }
    alone(con);
}

/// `|a / b - 1|`.
fn off_by(a: i64, b: i64) -> f64 {
    (a as f64 / b as f64 - 1.0).abs()
}

#[test]
fn memory_usage_is_what_a_key_of_each_type_adds_to_used_memory() {
    let (_dir, roost) = start("memory-usage-types");
    let mut con = roost.client();
    alone(&mut con);
    const N: usize = 5000;
    let hset = |i: usize| {
        let mut c = redis::cmd("HSET");
        c.arg(format!("hash:{i}"));
        for f in 0..10 {
            c.arg(format!("field{f}"))
                .arg(format!("{i}:{}", "h".repeat(40 + f)));
        }
        c
    };
    let sadd = |i: usize| {
        let mut c = redis::cmd("SADD");
        c.arg(format!("set:{i}"));
        for m in 0..20 {
            c.arg(format!("member-{i}-{m}"));
        }
        c
    };
    let rpush = |i: usize| {
        let mut c = redis::cmd("RPUSH");
        c.arg(format!("list:{i}"));
        for e in 0..30 {
            c.arg(format!("element-{i}-{e}-{}", "l".repeat(e)));
        }
        c
    };
    let zadd = |i: usize| {
        let mut c = redis::cmd("ZADD");
        c.arg(format!("zset:{i}"));
        for m in 0..15 {
            c.arg(m).arg(format!("member-{i}-{m}"));
        }
        c
    };
    let short = |i: usize| {
        let mut c = redis::cmd("SET");
        c.arg(format!("short:{i}")).arg(format!("v{i}"));
        c
    };
    let session = |i: usize| {
        let mut c = redis::cmd("SET");
        c.arg(format!("session:{i}"))
            .arg(format!("{i:06}{}", "s".repeat(900)))
            .arg("EX")
            .arg(3600);
        c
    };
    let kinds: [(&str, &dyn Fn(usize) -> redis::Cmd); 6] = [
        ("short", &short),
        ("session", &session),
        ("hash", &hset),
        ("set", &sadd),
        ("list", &rpush),
        ("zset", &zadd),
    ];
    for (_, build) in &kinds {
        warm_up(&mut con, build);
    }
    let mut failures = Vec::new();
    for (db, (prefix, build)) in kinds.iter().enumerate() {
        // Each kind in a database of its own, so its table grows from empty.
        let db = db + 1;
        let () = redis::cmd("SELECT").arg(db).query(&mut con).unwrap();
        let before = used_memory(&mut con);
        load_apart(&roost, &mut con, db, N, build);
        let grown = used_memory(&mut con) - before;
        let mut pipe = redis::pipe();
        for i in 0..N {
            // Every element measured: sampling is checked on its own below.
            pipe.cmd("MEMORY")
                .arg("USAGE")
                .arg(format!("{prefix}:{i}"))
                .arg("SAMPLES")
                .arg(0);
        }
        let estimates: Vec<i64> = pipe.query(&mut con).unwrap();
        let estimated: i64 = estimates.iter().sum();
        // Nothing else grows: the estimates must add up to the growth.
        let off = off_by(estimated, grown);
        eprintln!(
            "{prefix}: MEMORY USAGE sums to {estimated}, used_memory grew {grown} ({off:.3})"
        );
        if off > 0.02 {
            failures.push(format!("{prefix}: estimated {estimated}, grew {grown}"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn samples_estimate_aggregates_and_zero_measures_every_element() {
    let (_dir, roost) = start("memory-usage-samples");
    let mut con = roost.client();
    // Fields of very different sizes: sampling a few cannot land on the exact total.
    let hset = |i: usize| {
        let mut c = redis::cmd("HSET");
        c.arg("h")
            .arg(format!("f{i}"))
            .arg("x".repeat(i * 37 % 2000 + 1));
        c
    };
    warm_up(&mut con, hset);
    alone(&mut con);
    let before = used_memory(&mut con);
    load_apart(&roost, &mut con, 0, 200, hset);
    let grown = used_memory(&mut con) - before;
    let all = usage(&mut con, "h", Some(0)).unwrap();
    assert!(off_by(all, grown) < 0.05, "SAMPLES 0: {all}, grew {grown}");
    assert_eq!(usage(&mut con, "h", Some(10_000)), Some(all));
    let default = usage(&mut con, "h", None).unwrap();
    assert_eq!(usage(&mut con, "h", Some(5)), Some(default));
    assert_ne!(
        default, all,
        "5 samples of 200 uneven fields gave the exact total"
    );
    // Still an estimate of the whole: within a factor of the truth.
    assert!(default > all / 4 && default < all * 4, "{default} vs {all}");
    // A string is measured whole whatever the samples; a missing key is nil.
    let () = redis::cmd("SET")
        .arg("s")
        .arg("y".repeat(5000))
        .query(&mut con)
        .unwrap();
    let s = usage(&mut con, "s", None).unwrap();
    // The value, the key, and the table of the shard it is alone in (4 slots).
    assert!(s > 5000 && s < 5600, "{s}");
    assert_eq!(usage(&mut con, "s", Some(1)), Some(s));
    assert_eq!(usage(&mut con, "nosuch", None), None);
    // Bigger values cost more.
    let () = redis::cmd("SET")
        .arg("s")
        .arg("y".repeat(50_000))
        .query(&mut con)
        .unwrap();
    assert!(usage(&mut con, "s", None).unwrap() >= s + 45_000);
}

#[test]
fn used_memory_follows_the_resident_set_for_a_load_of_sessions() {
    let (_dir, roost) = start("memory-sessions");
    let mut con = roost.client();
    alone(&mut con);
    let (used_before, rss_before) = (used_memory(&mut con), rss(&roost));
    // 50k sessions with TTLs: four in five a serialized session of 200 to 1000 bytes,
    // one in five a hash of a few fields (user, creation time, CSRF token, data).
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let sizes: Vec<usize> = (0..50_000).map(|_| 200 + (next() % 801) as usize).collect();
    pipelined(&mut con, 50_000, |i| {
        let mut c;
        if i % 5 == 0 {
            c = redis::cmd("HSET");
            c.arg(format!("spring:session:sessions:{i:08}"))
                .arg("creationTime")
                .arg(1_700_000_000_000u64 + i as u64)
                .arg("maxInactiveInterval")
                .arg(1800)
                .arg("sessionAttr:csrf")
                .arg(format!("{i:032x}"))
                .arg("sessionAttr:user")
                .arg("u".repeat(sizes[i] / 3));
        } else {
            c = redis::cmd("SET");
            c.arg(format!("sess:{i:08}"))
                .arg(format!("{i}:{}", "d".repeat(sizes[i])))
                .arg("PX")
                .arg(3_600_000);
        }
        c
    });
    pipelined(&mut con, 10_000, |i| {
        let mut c = redis::cmd("PEXPIRE");
        c.arg(format!("spring:session:sessions:{:08}", i * 5))
            .arg(3_600_000);
        c
    });
    let (used_after, rss_after) = (used_memory(&mut con), rss(&roost));
    let (used_grew, rss_grew) = (used_after - used_before, rss_after - rss_before);
    eprintln!("used_memory grew {used_grew}, the resident set {rss_grew}");
    assert!(
        rss_grew > 30 << 20,
        "the load took only {rss_grew} bytes of RSS"
    );
    assert!(
        off_by(used_grew, rss_grew) <= 0.10,
        "used_memory grew {used_grew}, RSS {rss_grew}"
    );

    // Every key's MEMORY USAGE adds up to the growth: the dataset is the keys, and
    // what else grew (the connection's buffers, the pipelines) is a few KB.
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query(&mut con)
            .unwrap();
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(keys.len(), 50_000);
    let mut total = 0i64;
    for chunk in keys.chunks(1000) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("MEMORY").arg("USAGE").arg(key);
        }
        let sizes: Vec<i64> = pipe.query(&mut con).unwrap();
        total += sizes.iter().sum::<i64>();
    }
    eprintln!("MEMORY USAGE of every key sums to {total}");
    assert!(off_by(total, used_grew) <= 0.05, "{total} vs {used_grew}");

    // The split INFO and MEMORY STATS make of it.
    let info: HashMap<String, String> = info_memory(&mut con).into_iter().collect();
    let n = |k: &str| info[k].parse::<i64>().unwrap();
    assert_eq!(
        n("used_memory_overhead") + n("used_memory_dataset"),
        n("used_memory")
    );
    assert!(n("used_memory_dataset") > n("used_memory_overhead"));
    let frag: f64 = info["mem_fragmentation_ratio"].parse().unwrap();
    let expected = n("used_memory_rss") as f64 / n("used_memory") as f64;
    assert!((frag - expected).abs() < 0.02, "{frag} vs {expected}");
    let stats: HashMap<String, redis::Value> =
        redis::cmd("MEMORY").arg("STATS").query(&mut con).unwrap();
    let int = |k: &str| match &stats[k] {
        redis::Value::Int(n) => *n,
        other => panic!("{k}: {other:?}"),
    };
    assert_eq!(int("keys.count"), 50_000);
    let per_key = int("keys.bytes-per-key");
    assert!((700..1200).contains(&per_key), "{per_key} bytes per key");
    assert!(int("dataset.bytes") > 30 << 20);
}

#[test]
fn info_memory_has_redis_fields_in_redis_order() {
    let redis = RedisServer::start();
    let mut reference = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let (_dir, roost) = start("memory-info-fields");
    let mut con = roost.client();
    let names = |con: &mut redis::Connection| -> Vec<String> {
        info_memory(con).into_iter().map(|(k, _)| k).collect()
    };
    assert_eq!(names(&mut con), names(&mut reference));

    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("100mb")
        .query(&mut con)
        .unwrap();
    assert_eq!(field(&mut con, "maxmemory_human"), "100.00M");
    assert_eq!(field(&mut con, "maxmemory"), "104857600");
    let used = used_memory(&mut con);
    let human = field(&mut con, "used_memory_human");
    let shown: f64 = human
        .trim_end_matches(['K', 'M', 'G', 'B'])
        .parse()
        .unwrap();
    let unit = match human.chars().last() {
        Some('K') => 1024.0,
        Some('M') => 1024.0 * 1024.0,
        Some('G') => 1024.0 * 1024.0 * 1024.0,
        _ => 1.0,
    };
    assert!(
        off_by((shown * unit) as i64, used) < 0.01,
        "{human} for {used}"
    );
    assert!(field(&mut con, "used_memory_peak").parse::<i64>().unwrap() >= used);
    assert!(field(&mut con, "used_memory_peak_perc").ends_with('%'));
    assert!(
        field(&mut con, "total_system_memory")
            .parse::<i64>()
            .unwrap()
            > 0
    );
    assert_eq!(field(&mut con, "mem_allocator"), "libc");
}

#[test]
fn the_peak_stays_the_doctor_reports_it_and_purge_gives_memory_back() {
    let (_dir, roost) = start("memory-peak");
    let mut con = roost.client();
    let doctor = |con: &mut redis::Connection| -> String {
        redis::cmd("MEMORY").arg("DOCTOR").query(con).unwrap()
    };
    assert!(
        doctor(&mut con).starts_with("Hi Sam, this instance is empty"),
        "{}",
        doctor(&mut con)
    );
    // 40 MB of 4 KB values, then three quarters deleted.
    pipelined(&mut con, 10_000, |i| {
        let mut c = redis::cmd("SET");
        c.arg(format!("k{i:05}")).arg("v".repeat(4000));
        c
    });
    let full = used_memory(&mut con);
    pipelined(&mut con, 7_500, |i| {
        let mut c = redis::cmd("DEL");
        c.arg(format!("k{i:05}"));
        c
    });
    let used = used_memory(&mut con);
    let peak: i64 = field(&mut con, "used_memory_peak").parse().unwrap();
    assert!(
        peak >= full && used * 2 < full,
        "peak {peak}, full {full}, now {used}"
    );
    let report = doctor(&mut con);
    assert!(
        report.starts_with(
            "Sam, I detected a few issues in this Redis instance memory implants:\n\n"
        ) && report.contains(" * Peak memory: In the past this instance used more than 150%")
            && report.ends_with("I'm here to keep you safe, Sam. I want to help you.\n"),
        "{report}"
    );
    let stats: HashMap<String, redis::Value> =
        redis::cmd("MEMORY").arg("STATS").query(&mut con).unwrap();
    match stats["peak.allocated"] {
        redis::Value::Int(n) => assert!(n >= peak, "{n} < {peak}"),
        ref other => panic!("peak.allocated: {other:?}"),
    }

    let before = rss(&roost);
    let () = redis::cmd("MEMORY").arg("PURGE").query(&mut con).unwrap();
    let after = rss(&roost);
    assert!(
        after + (10 << 20) < before,
        "MEMORY PURGE left the resident set at {after} (was {before})"
    );
}

#[test]
fn scripts_and_their_lua_states_are_reported() {
    let (_dir, roost) = start("memory-lua");
    let mut con = roost.client();
    let number =
        |con: &mut redis::Connection, name: &str| -> i64 { field(con, name).parse().unwrap() };
    let _: i64 = redis::cmd("EVAL")
        .arg("return 1")
        .arg(0)
        .query(&mut con)
        .unwrap();
    let first = number(&mut con, "used_memory_lua");
    // A Lua state with its libraries is some tens of KB.
    assert!(first > 10_000, "used_memory_lua {first}");
    let mut bodies = "return 1".len();
    for i in 0..300 {
        let body = format!("local t = {{}} for j = 1, 10 do t[j] = j * {i} end return #t");
        bodies += body.len();
        let _: i64 = redis::cmd("EVAL")
            .arg(&body)
            .arg(0)
            .query(&mut con)
            .unwrap();
    }
    // Each script is compiled once in the state that ran it and kept there.
    let after = number(&mut con, "used_memory_lua");
    assert!(
        after > first + 300 * 100,
        "used_memory_lua {first} -> {after}"
    );
    assert_eq!(number(&mut con, "used_memory_vm_eval"), after);
    assert_eq!(number(&mut con, "number_of_cached_scripts"), 301);
    assert_eq!(number(&mut con, "used_memory_scripts_eval"), bodies as i64);
    let stats: HashMap<String, redis::Value> =
        redis::cmd("MEMORY").arg("STATS").query(&mut con).unwrap();
    assert_eq!(stats["lua.caches"], redis::Value::Int(bodies as i64));
    let () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    assert_eq!(number(&mut con, "number_of_cached_scripts"), 0);
    assert_eq!(number(&mut con, "used_memory_scripts_eval"), 0);
}

/// Opens `count` connections; each sends a 12 KB PING (so the server grows its read
/// buffer), then `request(i)` and a `PING done-i`, in one write, and stays open. Once
/// the connections have idled and given their buffers back, returns what each still
/// adds to `used_memory`: waits up to 10 s for it to fall under `bound`.
fn idle_connections_after(
    roost: &Roost,
    con: &mut redis::Connection,
    count: i64,
    bound: i64,
    request: impl Fn(i64) -> Vec<Vec<u8>>,
) -> (Vec<std::net::TcpStream>, i64) {
    use std::io::{Read, Write};
    alone(con);
    let before = used_memory(con);
    let padding = vec![b'p'; 12_000];
    let mut connections = Vec::new();
    for i in 0..count {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", roost.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let done = format!("done-{i}");
        let mut bytes = common::encode_cmd(&[b"PING", &padding]);
        let args = request(i);
        bytes.extend(common::encode_cmd(
            &args.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        ));
        bytes.extend(common::encode_cmd(&[b"PING", done.as_bytes()]));
        stream.write_all(&bytes).unwrap();
        let end = format!("{done}\r\n");
        let mut got = Vec::new();
        let mut buf = [0; 4096];
        while !got.ends_with(end.as_bytes()) {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the server closed connection {i}");
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(
            !text.contains("\r\n-"),
            "connection {i} got an error: {text:.300}"
        );
        connections.push(stream);
    }
    // Idle connections give their buffers back after a second.
    let mut per_connection = i64::MAX;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        per_connection = (used_memory(con) - before) / count;
        if per_connection < bound {
            break;
        }
    }
    (connections, per_connection)
}

/// The arguments of connection `i`'s request.
type RequestFor = dyn Fn(i64) -> Vec<Vec<u8>>;

/// What a connection leaves behind is copied out of its request, not a slice of it: a
/// slice keeps the whole read buffer it was read into alive (16 KB or more here) after
/// the connection has idled and given its buffers back. Each kind here kept 22 KB or
/// more per connection that way before.
#[test]
fn what_idle_connections_keep_holds_no_read_buffer() {
    let (_dir, roost) = start("memory-idle-keepers");
    let mut con = roost.client();
    fn arg(s: impl Into<String>) -> Vec<u8> {
        s.into().into_bytes()
    }
    let kinds: [(&str, &RequestFor); 6] = [
        ("SUBSCRIBE", &|i| {
            vec![arg("SUBSCRIBE"), arg(format!("channel:{i}"))]
        }),
        ("PSUBSCRIBE", &|i| {
            vec![arg("PSUBSCRIBE"), arg(format!("pattern:{i}:*"))]
        }),
        ("SSUBSCRIBE", &|i| {
            vec![arg("SSUBSCRIBE"), arg(format!("shard:{i}"))]
        }),
        ("CLIENT TRACKING", &|i| {
            ["CLIENT", "TRACKING", "on", "BCAST", "PREFIX"]
                .map(arg)
                .into_iter()
                .chain([arg(format!("prefix:{i}:"))])
                .collect()
        }),
        ("SCRIPT LOAD", &|i| {
            vec![arg("SCRIPT"), arg("LOAD"), arg(format!("return {i}"))]
        }),
        ("FUNCTION LOAD", &|i| {
            let code = format!(
                "#!lua name=library{i}\nredis.register_function('f{i}', function() return {i} end)"
            );
            vec![arg("FUNCTION"), arg("LOAD"), arg(code)]
        }),
    ];
    // A Lua function, its library and a subscription cost a few hundred bytes to a few
    // KB each; a read buffer kept alive costs 16 KB or more.
    const BOUND: i64 = 8 * 1024;
    let mut failures = Vec::new();
    for (name, request) in kinds {
        let (connections, per_connection) =
            idle_connections_after(&roost, &mut con, 30, BOUND, request);
        eprintln!("{name}: {per_connection} bytes per idle connection");
        if per_connection >= BOUND {
            failures.push(format!(
                "{name}: {per_connection} bytes per idle connection"
            ));
        }
        drop(connections);
    }
    // The loads took: every library is there.
    let libraries: Vec<redis::Value> = redis::cmd("FUNCTION").arg("LIST").query(&mut con).unwrap();
    assert_eq!(libraries.len(), 30);
    assert!(failures.is_empty(), "{failures:?}");
}
