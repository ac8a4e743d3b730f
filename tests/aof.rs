//! Durability, end to end with the real binary: restarts keep every write, `kill -9`
//! under `appendfsync always` loses nothing acknowledged, a torn tail is dropped, a
//! corrupt log refuses startup unless repaired, and clients see LOADING while it loads.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use roost::aof::header;
use roost::aof::record::Reader;

mod common;
use common::process::{free_port, Roost, TempDir};

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    roost::aof::segments(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

/// A representative write of every kind, then the checks that it all came back.
fn write_everything(con: &mut redis::Connection) {
    let cmds: &[&[&str]] = &[
        &["SET", "plain", "v"],
        &["SET", "ttl", "v", "EX", "1000"],
        &["SETEX", "setex", "1000", "v"],
        &["SET", "gone", "v", "PX", "1"],
        &["INCR", "counter"],
        &["INCRBY", "counter", "41"],
        &["INCRBYFLOAT", "float", "0.1"],
        &["INCRBYFLOAT", "float", "0.2"],
        &["APPEND", "plain", "w"],
        &["SETRANGE", "range", "2", "xy"],
        &["MSET", "m1", "1", "m2", "2"],
        &["HSET", "h", "a", "1", "b", "2"],
        &["HDEL", "h", "b"],
        &["HINCRBY", "h", "n", "5"],
        &["SADD", "s", "x", "y", "z"],
        &["SREM", "s", "z"],
        &["EXPIRE", "h", "2000"],
        &["SET", "renamed-from", "r"],
        &["RENAME", "renamed-from", "renamed-to"],
        &["SET", "deleted", "d"],
        &["DEL", "deleted"],
        &["SELECT", "3"],
        &["SET", "in-db-3", "three"],
        &["SELECT", "0"],
        &["SET", "persisted", "p", "EX", "100"],
        &["PERSIST", "persisted"],
    ];
    for c in cmds {
        let _: redis::Value = redis::cmd(c[0]).arg(&c[1..]).query(con).unwrap();
    }
    let (): () = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("tx1")
        .arg("1")
        .ignore()
        .cmd("SET")
        .arg("tx2")
        .arg("2")
        .ignore()
        .query(con)
        .unwrap();
    // Let "gone" (PX 1) pass its expiry time.
    thread::sleep(Duration::from_millis(5));
}

fn check_everything(con: &mut redis::Connection) {
    let get = |con: &mut redis::Connection, k: &str| -> Option<String> {
        redis::cmd("GET").arg(k).query(con).unwrap()
    };
    assert_eq!(get(con, "plain").as_deref(), Some("vw"));
    assert_eq!(get(con, "counter").as_deref(), Some("42"));
    assert_eq!(get(con, "float").as_deref(), Some("0.3"));
    assert_eq!(get(con, "range").as_deref(), Some("\0\0xy"));
    assert_eq!(get(con, "m2").as_deref(), Some("2"));
    assert_eq!(
        get(con, "gone"),
        None,
        "pttl {:?}",
        redis::cmd("PTTL").arg("gone").query::<i64>(con)
    );
    assert_eq!(get(con, "deleted"), None);
    assert_eq!(get(con, "renamed-to").as_deref(), Some("r"));
    assert_eq!(get(con, "tx2").as_deref(), Some("2"));
    let ttl: i64 = redis::cmd("TTL").arg("ttl").query(con).unwrap();
    assert!((990..=1000).contains(&ttl), "ttl {ttl}");
    let ttl: i64 = redis::cmd("TTL").arg("setex").query(con).unwrap();
    assert!((990..=1000).contains(&ttl), "setex ttl {ttl}");
    let ttl: i64 = redis::cmd("TTL").arg("persisted").query(con).unwrap();
    assert_eq!(ttl, -1);
    let h: std::collections::HashMap<String, String> =
        redis::cmd("HGETALL").arg("h").query(con).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h["n"], "5");
    let ttl: i64 = redis::cmd("TTL").arg("h").query(con).unwrap();
    assert!((1990..=2000).contains(&ttl));
    let members: std::collections::HashSet<String> =
        redis::cmd("SMEMBERS").arg("s").query(con).unwrap();
    assert_eq!(members.len(), 2);
    let _: () = redis::cmd("SELECT").arg(3).query(con).unwrap();
    assert_eq!(get(con, "in-db-3").as_deref(), Some("three"));
    let _: () = redis::cmd("SELECT").arg(0).query(con).unwrap();
}

#[test]
fn every_write_survives_a_restart_under_each_policy() {
    for policy in ["always", "everysec", "no"] {
        let dir = TempDir::new(&format!("restart-{policy}"));
        let roost = Roost::start(&dir.0, &["--appendfsync", policy]);
        let mut con = roost.client();
        write_everything(&mut con);
        check_everything(&mut con);
        roost.shutdown();
        let roost = Roost::start(&dir.0, &["--appendfsync", policy]);
        check_everything(&mut roost.client());
        // And again: a log that was loaded and appended to loads too.
        let _: () = redis::cmd("SET")
            .arg("after")
            .arg("restart")
            .query(&mut roost.client())
            .unwrap();
        roost.shutdown();
        let roost = Roost::start(&dir.0, &["--appendfsync", policy]);
        let mut con = roost.client();
        check_everything(&mut con);
        let v: String = redis::cmd("GET").arg("after").query(&mut con).unwrap();
        assert_eq!(v, "restart");
    }
}

#[test]
fn sigterm_flushes_everything_under_everysec() {
    let dir = TempDir::new("sigterm");
    let roost = Roost::start(&dir.0, &["--appendfsync", "everysec"]);
    let mut con = roost.client();
    for i in 0..2000 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    let pid = roost.child.id();
    Command::new("kill").arg(pid.to_string()).status().unwrap();
    let mut roost = roost;
    assert!(roost.child.wait().unwrap().success());
    let roost = Roost::start(&dir.0, &[]);
    let size: i64 = redis::cmd("DBSIZE").query(&mut roost.client()).unwrap();
    assert_eq!(size, 2000);
}

#[test]
fn kill9_under_always_loses_no_acknowledged_write() {
    let dir = TempDir::new("kill9");
    let roost = Roost::start(&dir.0, &["--appendfsync", "always"]);
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let mut con = roost.client();
            let acknowledged = acknowledged.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{w}:{i}");
                    let value = format!("value-{w}-{i}");
                    let result: redis::RedisResult<()> = redis::cmd("SET")
                        .arg(&key)
                        .arg(&value)
                        .arg("EX")
                        .arg(3600)
                        .query(&mut con);
                    if result.is_err() {
                        break; // the server is gone; this write was not acknowledged
                    }
                    acknowledged.lock().unwrap().push((key, value));
                    i += 1;
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(1500));
    roost.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 100,
        "only {} writes",
        acknowledged.len()
    );

    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    for chunk in acknowledged.chunks(500) {
        let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(&mut con).unwrap();
        for ((key, expected), got) in chunk.iter().zip(values) {
            assert_eq!(
                got.as_deref(),
                Some(expected.as_str()),
                "acknowledged {key} lost"
            );
        }
    }
    let (key, _) = &acknowledged[acknowledged.len() - 1];
    let ttl: i64 = redis::cmd("TTL").arg(key).query(&mut con).unwrap();
    assert!((3500..=3600).contains(&ttl), "ttl {ttl}");
    println!(
        "{} acknowledged writes, all present after kill -9",
        acknowledged.len()
    );
}

/// Writes `n` keys under `always`, stops, and returns the log file with its records'
/// offsets.
fn prepared_log(dir: &Path, n: usize) -> (PathBuf, Vec<usize>) {
    let roost = Roost::start(dir, &["--appendfsync", "always"]);
    let mut con = roost.client();
    for i in 0..n {
        let _: () = redis::cmd("SET")
            .arg(format!("key{i}"))
            .arg(format!("value{i}"))
            .query(&mut con)
            .unwrap();
    }
    roost.shutdown();
    let files = segment_files(dir);
    assert_eq!(files.len(), 1);
    let data = std::fs::read(&files[0]).unwrap();
    assert!(data.starts_with(&header::encode(header::Kind::Segment)));
    let mut reader = Reader::at(&data, header::LEN, Some(1));
    let mut offsets = Vec::new();
    while let Ok(Some(record)) = reader.next_record() {
        offsets.push(record.offset);
    }
    offsets.push(data.len());
    (files[0].clone(), offsets)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("appendonly")).unwrap();
    for file in segment_files(from) {
        std::fs::copy(&file, to.join("appendonly").join(file.file_name().unwrap())).unwrap();
    }
}

#[test]
fn a_torn_last_record_is_dropped_at_every_offset() {
    let dir = TempDir::new("torn");
    let (log, offsets) = prepared_log(&dir.0, 5);
    let last_start = offsets[offsets.len() - 2];
    let end = offsets[offsets.len() - 1];
    for cut in last_start + 1..end {
        let copy = TempDir::new(&format!("torn-{cut}"));
        copy_dir(&dir.0, &copy.0);
        let copied_log = copy.0.join("appendonly").join(log.file_name().unwrap());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&copied_log)
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        let roost = Roost::start(&copy.0, &[]);
        let mut con = roost.client();
        for i in 0..4 {
            let v: Option<String> = redis::cmd("GET")
                .arg(format!("key{i}"))
                .query(&mut con)
                .unwrap();
            assert_eq!(v, Some(format!("value{i}")), "cut at {cut}");
        }
        let last: Option<String> = redis::cmd("GET").arg("key4").query(&mut con).unwrap();
        assert_eq!(last, None, "cut at {cut}");
        // The torn bytes are gone, so new writes append cleanly.
        let _: () = redis::cmd("SET")
            .arg("new")
            .arg("1")
            .query(&mut con)
            .unwrap();
        roost.shutdown();
        let roost = Roost::start(&copy.0, &[]);
        let v: Option<String> = redis::cmd("GET")
            .arg("new")
            .query(&mut roost.client())
            .unwrap();
        assert_eq!(v.as_deref(), Some("1"), "cut at {cut}");
    }
}

#[test]
fn aof_load_truncated_no_refuses_a_torn_last_record_and_leaves_the_file() {
    let dir = TempDir::new("torn-refused");
    let (log, offsets) = prepared_log(&dir.0, 3);
    let cut = offsets[offsets.len() - 1] - 2;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(cut as u64)
        .unwrap();

    let port = free_port();
    let output = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            dir.0.to_str().unwrap(),
        ])
        .args(["--aof-load-truncated", "no"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(log.file_name().unwrap().to_str().unwrap())
            && stderr.contains(&format!("offset {}", offsets[offsets.len() - 2]))
            && stderr.contains("aof-load-truncated is no"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        cut as u64,
        "the file is left as it was"
    );

    // The default (yes, as in Redis) drops the torn record and keeps the rest.
    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 2);
    let setting: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("aof-load-truncated")
        .query(&mut con)
        .unwrap();
    assert_eq!(setting, ["aof-load-truncated", "yes"]);
}

#[test]
fn corruption_mid_file_refuses_startup_unless_repaired() {
    let dir = TempDir::new("corrupt");
    let (log, offsets) = prepared_log(&dir.0, 10);
    let damaged_at = offsets[4] + 20;
    let mut data = std::fs::read(&log).unwrap();
    data[damaged_at] ^= 0xff;
    std::fs::write(&log, &data).unwrap();

    let port = free_port();
    let output = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            dir.0.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(log.file_name().unwrap().to_str().unwrap()),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("offset {}", offsets[4])),
        "{stderr}"
    );
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());

    let roost = Roost::start(&dir.0, &["--aof-repair"]);
    let mut con = roost.client();
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(
        size, 3,
        "the records before the damage (SELECT + 3 SETs) are kept"
    );
    let v: String = redis::cmd("GET").arg("key2").query(&mut con).unwrap();
    assert_eq!(v, "value2");
    roost.shutdown();
    // The repaired log now loads without the flag.
    let roost = Roost::start(&dir.0, &[]);
    let size: i64 = redis::cmd("DBSIZE").query(&mut roost.client()).unwrap();
    assert_eq!(size, 3);
}

#[test]
fn clients_see_loading_while_a_large_log_loads() {
    let dir = TempDir::new("loading");
    let roost = Roost::start(&dir.0, &["--appendfsync", "no"]);
    let mut con = roost.client();
    for batch in 0..60 {
        let mut pipe = redis::pipe();
        for i in 0..10_000 {
            pipe.cmd("SET")
                .arg(format!("k{batch}:{i}"))
                .arg("session-payload")
                .ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    roost.shutdown();

    let roost = Roost::spawn(&dir.0, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut con = loop {
        if let Ok(c) = roost.try_client() {
            break c;
        }
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(5));
    };
    let mut saw_loading = false;
    loop {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query(&mut con)
            .unwrap();
        let loading = info.contains("\r\nloading:1\r\n");
        if loading {
            assert!(info.contains("loading_loaded_perc:"), "{info}");
        }
        match redis::cmd("GET")
            .arg("k0:0")
            .query::<Option<String>>(&mut con)
        {
            Err(err) => {
                assert_eq!(err.code(), Some("LOADING"), "{err}");
                saw_loading = true;
            }
            Ok(value) => {
                assert_eq!(value.as_deref(), Some("session-payload"));
                break;
            }
        }
        let pong: String = redis::cmd("PING").query(&mut con).unwrap();
        assert_eq!(pong, "PONG");
    }
    assert!(
        saw_loading,
        "the load finished before a client could see it"
    );
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 600_000);
}

#[test]
fn a_full_disk_refuses_writes_with_misconf_then_recovers() {
    let dir = TempDir::new("diskfull");
    let roost = Roost::start(&dir.0, &["--appendfsync", "always"]);
    let pid = roost.child.id().to_string();
    let mut con = roost.client();
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut con)
        .unwrap();
    // Simulate a full disk: the log may not grow past its current size.
    let size = std::fs::metadata(&segment_files(&dir.0)[0]).unwrap().len();
    let limited = Command::new("prlimit")
        .args([&format!("--fsize={size}:unlimited"), "--pid", &pid])
        .status()
        .expect("prlimit (util-linux) is needed for this test");
    assert!(limited.success());

    // This write cannot be logged: it is not acknowledged while the disk is full; its
    // client is told so (MISCONF) instead of waiting forever.
    let mut stuck = roost.client();
    let stuck_write = thread::spawn(move || {
        let reply: redis::RedisResult<()> =
            redis::cmd("SET").arg("during").arg("2").query(&mut stuck);
        reply
    });
    // Wait (with reads only: an accepted write would wait for the disk too) until the
    // writer has reported the failure.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query(&mut con)
            .unwrap();
        if info.contains("aof_last_write_status:err") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failed write was not reported"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let err = redis::cmd("SET")
        .arg("probe")
        .arg("x")
        .query::<()>(&mut con)
        .unwrap_err();
    assert_eq!(err.code(), Some("MISCONF"), "{err}");
    assert!(
        err.to_string().contains("Errors writing to the AOF file"),
        "{err}"
    );
    // Reads keep working, and INFO says why.
    let v: String = redis::cmd("GET").arg("before").query(&mut con).unwrap();
    assert_eq!(v, "1");
    let refused = stuck_write.join().unwrap().unwrap_err();
    assert_eq!(refused.code(), Some("MISCONF"), "{refused}");

    // Space comes back: the write that was applied in memory is logged (it was not
    // acknowledged, but it is not lost either), and writes resume.
    let lifted = Command::new("prlimit")
        .args(["--fsize=unlimited", "--pid", &pid])
        .status()
        .unwrap();
    assert!(lifted.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::cmd("SET")
        .arg("after")
        .arg("3")
        .query::<()>(&mut con)
        .is_err()
    {
        assert!(Instant::now() < deadline, "writes did not resume");
        thread::sleep(Duration::from_millis(20));
    }
    roost.shutdown();
    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["before", "during", "after"])
        .query(&mut con)
        .unwrap();
    assert_eq!(
        values,
        [Some("1".into()), Some("2".into()), Some("3".into())]
    );
}

#[test]
fn check_aof_reports_and_fixes() {
    let dir = TempDir::new("check");
    let (log, offsets) = prepared_log(&dir.0, 3);
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_roost"))
            .arg("check-aof")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let path = log.to_str().unwrap();
    let (code, text) = run(&[path]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("4 records, LSN 1..4"), "{text}");
    assert!(
        text.contains("SET: 3") && text.contains("The log is valid."),
        "{text}"
    );

    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let (code, text) = run(&[path]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!("incomplete last record at offset {}", offsets[3])),
        "{text}"
    );
    let (code, text) = run(&["--fix", path]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(std::fs::metadata(&log).unwrap().len(), offsets[3] as u64);
    let (code, _) = run(&[path]);
    assert_eq!(code, Some(0));
    let (code, _) = run(&[]);
    assert_eq!(code, Some(2));
}

fn info_field(con: &mut redis::Connection, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .to_string()
}

fn wait_for_rewrites(con: &mut redis::Connection, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(con, "aof_rewrites").parse::<u64>().unwrap() < count
        || info_field(con, "aof_rewrite_in_progress") == "1"
    {
        assert!(Instant::now() < deadline, "the rewrite did not finish");
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(info_field(con, "aof_last_bgrewrite_status"), "ok");
}

fn log_size(dir: &Path) -> u64 {
    let (base, incr) = roost::aof::sizes(dir);
    base + incr
}

#[test]
fn rewrite_during_a_write_load_keeps_everything_and_shrinks_the_log() {
    let dir = TempDir::new("rewrite");
    let roost = Roost::start(&dir.0, &["--appendfsync", "everysec"]);
    let mut con = roost.client();
    // History to compact: every key written several times, some with short TTLs.
    for round in 0..4 {
        let mut pipe = redis::pipe();
        for i in 0..5000 {
            pipe.cmd("SET")
                .arg(format!("k{i}"))
                .arg(format!("v{round}-{i}"))
                .ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("short{i}"))
            .arg("x")
            .arg("PX")
            .arg(1)
            .query(&mut con)
            .unwrap();
    }
    let _: () = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg("s")
        .arg((0..200).map(|i| i.to_string()).collect::<Vec<_>>())
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("EXPIRE")
        .arg("s")
        .arg(5000)
        .query(&mut con)
        .unwrap();
    thread::sleep(Duration::from_millis(1100)); // let everysec write it all out
    let before = log_size(&dir.0);

    // Writers keep going while the rewrite runs; each remembers what was acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut con = roost.client();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut last = std::collections::HashMap::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Each writer owns its keys, so its last acknowledged value is final.
                    let key = format!("w{w}:{}", n % 1000);
                    let value = format!("w{w}-{n}");
                    let _: () = redis::cmd("SET")
                        .arg(&key)
                        .arg(&value)
                        .query(&mut con)
                        .unwrap();
                    last.insert(key, value);
                    n += 1;
                }
                last
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let started: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    assert_eq!(started, "Background append only file rewriting started");
    wait_for_rewrites(&mut con, 1);
    thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let mut expected = std::collections::HashMap::new();
    for w in writers {
        expected.extend(w.join().unwrap());
    }
    // The base holds one record per live key where the log held the whole history.
    // (The segment after it grows with the writers' load, so the total is not compared.)
    let base_size: u64 = info_field(&mut con, "aof_base_size").parse().unwrap();
    assert!(base_size > 0);
    assert!(
        base_size < before / 2,
        "the base ({base_size} bytes) is not smaller than the log ({before} bytes)"
    );
    roost.shutdown();

    // No expired key was carried into the base.
    let (_, base) = roost::aof::newest_base(&dir.0).unwrap().unwrap();
    let data = std::fs::read(&base).unwrap();
    assert!(data.starts_with(&header::encode(header::Kind::KeysBase)));
    for args in roost::aof::base_commands(&data, &base).unwrap() {
        assert!(
            !args.iter().any(|a| a.starts_with(b"short")),
            "expired key in the base"
        );
    }

    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    for (key, value) in &expected {
        let got: Option<String> = redis::cmd("GET").arg(key).query(&mut con).unwrap();
        assert_eq!(got.as_ref(), Some(value), "{key}");
    }
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size as usize, 5002 + expected.len());
    let v: String = redis::cmd("GET").arg("k4999").query(&mut con).unwrap();
    assert_eq!(v, "v3-4999");
    let ttl: i64 = redis::cmd("TTL").arg("s").query(&mut con).unwrap();
    assert!(ttl > 4900, "set TTL carried: {ttl}");
    let members: i64 = redis::cmd("SCARD").arg("s").query(&mut con).unwrap();
    assert_eq!(members, 200);
}

#[test]
fn save_bgsave_lastsave_and_automatic_rewrite() {
    let dir = TempDir::new("save");
    let roost = Roost::start(
        &dir.0,
        &[
            "--auto-aof-rewrite-min-size",
            "1mb",
            "--auto-aof-rewrite-percentage",
            "100",
        ],
    );
    let mut con = roost.client();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let before: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    thread::sleep(Duration::from_millis(1100));
    let ok: String = redis::cmd("SAVE").query(&mut con).unwrap();
    assert_eq!(ok, "OK");
    let after: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    assert!(after > before, "LASTSAVE {before} -> {after}");
    let started: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
    assert_eq!(started, "Background saving started");
    wait_for_rewrites(&mut con, 2);
    // Growing the log past the minimum size and 100% of the base triggers a rewrite.
    let value = "x".repeat(1000);
    for i in 0..1500 {
        let _: () = redis::cmd("SET")
            .arg(format!("big{}", i % 10))
            .arg(&value)
            .query(&mut con)
            .unwrap();
    }
    wait_for_rewrites(&mut con, 3);
    assert!(log_size(&dir.0) < 1 << 20);
    roost.shutdown();
    let roost = Roost::start(&dir.0, &["--appendonly", "no"]);
    let mut con = roost.client();
    let err = redis::cmd("BGREWRITEAOF")
        .query::<String>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("appendonly no"), "{err}");
}

#[test]
fn kill9_during_rewrites_always_leaves_a_loadable_log() {
    let dir = TempDir::new("rewrite-crash");
    let mut written = 0usize;
    for round in 0..6 {
        let roost = Roost::start(&dir.0, &["--appendfsync", "always"]);
        let mut con = roost.client();
        let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(size as usize, written, "round {round}");
        let mut pipe = redis::pipe();
        for i in 0..3000 {
            pipe.cmd("SET")
                .arg(format!("k{}", written + i))
                .arg("v")
                .ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
        written += 3000;
        let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
        thread::sleep(Duration::from_millis(round as u64 * 7));
        roost.kill9();
    }
    let roost = Roost::start(&dir.0, &[]);
    let size: i64 = redis::cmd("DBSIZE").query(&mut roost.client()).unwrap();
    assert_eq!(size as usize, written);
}

/// Every sorted set as a client sees it: members and score texts in order (`%.17g`
/// identifies a double exactly, sign of zero included), encoding and TTL.
fn zset_state(con: &mut redis::Connection) -> Vec<(String, Vec<Vec<u8>>, String, i64)> {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("z*").query(con).unwrap();
    keys.sort();
    keys.into_iter()
        .map(|key| {
            let items: Vec<Vec<u8>> = redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query(con)
                .unwrap();
            let encoding: String = redis::cmd("OBJECT")
                .arg("ENCODING")
                .arg(&key)
                .query(con)
                .unwrap();
            let ttl: i64 = redis::cmd("TTL").arg(&key).query(con).unwrap();
            (key, items, encoding, ttl.min(0))
        })
        .collect()
}

#[test]
fn sorted_sets_survive_restarts_and_rewrites_exactly() {
    let dir = TempDir::new("zsets");
    let roost = Roost::start(&dir.0, &["--appendfsync", "always"]);
    let mut con = roost.client();
    let scores = [
        "0.1",
        "-0",
        "inf",
        "-inf",
        "1e300",
        "4.9e-324",
        "0.30000000000000004",
        "123456789012345678",
        "-2.5",
        "0x10",
        "1.7976931348623157e308",
        "-1e-300",
    ];
    let mut cmds: Vec<Vec<String>> = Vec::new();
    let mut zadd = vec!["ZADD".to_string(), "zsmall".to_string()];
    for (i, s) in scores.iter().enumerate() {
        zadd.push(s.to_string());
        zadd.push(format!("m{i}"));
    }
    cmds.push(zadd);
    // A skiplist with a -0 score, equal scores ordered by member, and removals.
    let mut zadd = vec!["ZADD".to_string(), "zbig".to_string()];
    for i in 0..300 {
        zadd.push(((i % 7) as f64 / 3.0).to_string());
        zadd.push(format!("member:{i}"));
    }
    cmds.push(zadd);
    for c in [
        "ZADD zbig -0 negzero 1e-300 tiny",
        "ZINCRBY zsmall 0.2 m0",
        "ZADD zsmall INCR 1 m8",
        "ZADD zsmall GT CH 5 m8 -1 m10",
        "ZREM zbig member:1 member:2",
        "ZPOPMIN zbig 3",
        "ZPOPMAX zbig",
        "ZREMRANGEBYSCORE zbig (1.5 2",
        "ZREMRANGEBYRANK zbig 0 9",
        "ZADD zlex 0 a 0 b 0 c 0 d",
        "ZREMRANGEBYLEX zlex [b [c",
        "ZADD zgone 1 x",
        "ZREM zgone x",
        "ZADD zttl 1 a 2 b",
        "EXPIRE zttl 5000",
    ] {
        cmds.push(c.split(' ').map(str::to_string).collect());
    }
    let long_member = "x".repeat(100);
    cmds.push(vec!["ZADD".into(), "zlong".into(), "1".into(), long_member]);
    for c in &cmds {
        let _: redis::Value = redis::cmd(&c[0]).arg(&c[1..]).query(&mut con).unwrap();
    }
    let expected = zset_state(&mut con);
    assert_eq!(expected.len(), 5, "{expected:?}");
    let big = expected.iter().find(|(k, ..)| k == "zbig").unwrap();
    assert_eq!(big.2, "skiplist");
    assert!(big.1.contains(&b"-0".to_vec()), "a skiplist keeps -0");
    roost.shutdown();

    // Replaying the log of commands.
    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    assert_eq!(zset_state(&mut con), expected);

    // And a rewritten base.
    let started: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    assert_eq!(started, "Background append only file rewriting started");
    wait_for_rewrites(&mut con, 1);
    roost.shutdown();
    let (_, base) = roost::aof::newest_base(&dir.0).unwrap().unwrap();
    let data = std::fs::read(&base).unwrap();
    assert!(data.starts_with(&header::encode(header::Kind::KeysBase)));
    let mut zadds = 0;
    for args in roost::aof::base_commands(&data, &base).unwrap() {
        if args[0].eq_ignore_ascii_case(b"ZADD") {
            zadds += 1;
        }
        assert!(!args[0].eq_ignore_ascii_case(b"ZREM"));
    }
    assert!(zadds >= 5, "{zadds} ZADD records in the base");
    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    assert_eq!(zset_state(&mut con), expected);
    let ttl: i64 = redis::cmd("TTL").arg("zttl").query(&mut con).unwrap();
    assert!(ttl > 4900, "sorted set TTL carried: {ttl}");
}

/// Lists come back after a restart (each write replayed, a served BLPOP logged as LPOP)
/// and after a rewrite (the base holds RPUSH records, in chunks for a long list).
#[test]
fn lists_survive_a_restart_and_a_rewrite() {
    let dir = TempDir::new("lists");
    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    let cmds: &[&[&str]] = &[
        &["RPUSH", "l", "a", "b", "c", "d", "e"],
        &["LPUSH", "l", "z"],
        &["LPOP", "l"],
        &["RPOP", "l", "1"],
        &["LSET", "l", "0", "A"],
        &["LINSERT", "l", "AFTER", "A", "a2"],
        &["LREM", "l", "0", "b"],
        &["RPUSH", "moved", "m"],
        &["LMOVE", "l", "moved", "RIGHT", "LEFT"],
        &["RPOPLPUSH", "moved", "moved"],
        &["RPUSH", "trimmed", "1", "2", "3", "4"],
        &["LTRIM", "trimmed", "1", "2"],
        &["RPUSH", "mpop", "1", "2", "3"],
        &["LMPOP", "2", "nokey", "mpop", "RIGHT", "COUNT", "2"],
        &["RPUSH", "emptied", "x"],
        &["BLPOP", "emptied", "0"],
        &["RPUSH", "ttl", "x"],
        &["EXPIRE", "ttl", "1000"],
    ];
    for c in cmds {
        let _: redis::Value = redis::cmd(c[0]).arg(&c[1..]).query(&mut con).unwrap();
    }
    let long: Vec<String> = (0..300).map(|i| format!("e{i}")).collect();
    let _: i64 = redis::cmd("RPUSH")
        .arg("long")
        .arg(&long)
        .arg(b"\x00\xff\r\n".as_slice())
        .query(&mut con)
        .unwrap();
    // A client served while blocked: its pop reaches the log too.
    let addr = format!("redis://127.0.0.1:{}/", roost.port);
    let blocked = thread::spawn(move || {
        let mut con = redis::Client::open(addr).unwrap().get_connection().unwrap();
        let got: (String, String) = redis::cmd("BRPOP")
            .arg("served")
            .arg(0)
            .query(&mut con)
            .unwrap();
        got
    });
    thread::sleep(Duration::from_millis(200));
    let _: i64 = redis::cmd("RPUSH")
        .arg("served")
        .arg("1")
        .arg("2")
        .query(&mut con)
        .unwrap();
    assert_eq!(blocked.join().unwrap(), ("served".into(), "2".into()));

    let check = |con: &mut redis::Connection| {
        let range = |con: &mut redis::Connection, k: &str| -> Vec<Vec<u8>> {
            redis::cmd("LRANGE")
                .arg(k)
                .arg(0)
                .arg(-1)
                .query(con)
                .unwrap()
        };
        let strings = |v: Vec<Vec<u8>>| -> Vec<String> {
            v.into_iter()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .collect()
        };
        assert_eq!(strings(range(con, "l")), ["A", "a2", "c"]);
        assert_eq!(strings(range(con, "moved")), ["m", "d"]);
        assert_eq!(strings(range(con, "trimmed")), ["2", "3"]);
        assert_eq!(strings(range(con, "mpop")), ["1"]);
        assert_eq!(strings(range(con, "served")), ["1"]);
        let exists: i64 = redis::cmd("EXISTS").arg("emptied").query(con).unwrap();
        assert_eq!(exists, 0);
        let ttl: i64 = redis::cmd("TTL").arg("ttl").query(con).unwrap();
        assert!((990..=1000).contains(&ttl), "ttl {ttl}");
        let long_now = range(con, "long");
        assert_eq!(long_now.len(), 301);
        assert_eq!(long_now[299], b"e299");
        assert_eq!(long_now[300], b"\x00\xff\r\n");
    };
    check(&mut con);
    roost.shutdown();
    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    check(&mut con);
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    wait_for_rewrites(&mut con, 1);
    roost.shutdown();
    let roost = Roost::start(&dir.0, &[]);
    check(&mut roost.client());
    roost.shutdown();
}
