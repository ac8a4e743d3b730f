//! Log files say what they are: segments and bases start with `ROOSTLOG`, a format
//! version and their kind (`aof::header`). Checked with the real binary: files get the
//! header, a log written before headers (version 0) still loads and keeps growing, a
//! newer or foreign file stops startup naming it and is left untouched, and Debian's
//! `redis-check-aof` does not take a Roost segment for a valid AOF.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use roost::aof::header::{self, Kind};
use roost::aof::record;

mod common;
use common::process::{free_port, wait_for, Roost, TempDir};

fn only_segment(dir: &Path) -> PathBuf {
    let segments = roost::aof::segments(dir).unwrap();
    assert_eq!(segments.len(), 1, "{segments:?}");
    segments[0].1.clone()
}

fn check_aof(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_roost"))
        .arg("check-aof")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Starts the binary on `dir`, expecting it to refuse the log and exit with a failure;
/// returns what it printed.
fn refused_startup(dir: &Path, extra: &[&str]) -> String {
    let log_dir = TempDir::new(&format!("format-log-{}", free_port()));
    let log = log_dir.0.join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args([
            "--port",
            &free_port().to_string(),
            "--dir",
            dir.to_str().unwrap(),
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut status = None;
    wait_for(
        "roost to refuse the log and exit",
        Duration::from_secs(30),
        || {
            status = child.try_wait().unwrap();
            status.is_some()
        },
    );
    assert!(!status.unwrap().success());
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn segments_and_bases_start_with_the_header() {
    let dir = TempDir::new("format-header");
    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let data = std::fs::read(only_segment(&dir.0)).unwrap();
    assert_eq!(&data[..8], b"ROOSTLOG");
    assert_eq!(&data[..header::LEN], &header::encode(Kind::Segment));
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    roost.shutdown();
    let (_, base) = roost::aof::newest_base(&dir.0).unwrap().unwrap();
    let data = std::fs::read(&base).unwrap();
    assert_eq!(&data[..header::LEN], &header::encode(Kind::KeysBase));
    let (code, text) = check_aof(&[base.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("format version 2"), "{text}");
    assert!(text.contains("(string key): 1"), "{text}");
    let (code, text) = check_aof(&[only_segment(&dir.0).to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("format version 1"), "{text}");
}

#[test]
fn redis_check_aof_does_not_accept_a_roost_segment() {
    let dir = TempDir::new("format-redis-check");
    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    for i in 0..3 {
        let _: () = redis::cmd("SET").arg(i).arg(i).query(&mut con).unwrap();
    }
    roost.shutdown();
    let segment = only_segment(&dir.0);
    let size = std::fs::metadata(&segment).unwrap().len();
    // Without --fix: "format error" at offset 0, not valid, exit status 1.
    let out = Command::new("redis-check-aof")
        .arg(&segment)
        .output()
        .expect("redis-check-aof (Debian's redis-tools) is needed for this test");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("format error") && text.contains("is not valid"),
        "{text}"
    );
    // With --fix it still sees no AOF in it: it offers to cut the whole file (ok_up_to=0)
    // and asks first; answering no leaves it whole. (Answering yes would empty it: a
    // tool that knows nothing of the file cannot be stopped from cutting it; the header
    // makes sure it never reads it as valid.)
    let mut child = Command::new("redis-check-aof")
        .arg("--fix")
        .arg(&segment)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"N\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("ok_up_to=0") && text.contains("Aborting"),
        "{text}"
    );
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), size);
    let (code, text) = check_aof(&[segment.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn a_log_written_before_headers_loads_and_keeps_growing() {
    let dir = TempDir::new("format-v0");
    let seg_dir = dir.0.join("appendonly");
    std::fs::create_dir_all(&seg_dir).unwrap();
    // What Roost wrote before file headers: records from the first byte.
    let mut old = Vec::new();
    record::encode(1, &[b"SELECT", b"0"], &mut old);
    record::encode(2, &[b"SET", b"a", b"1"], &mut old);
    record::encode(3, &[b"SET", b"b", b"2"], &mut old);
    let segment = seg_dir.join("00000000000000000001.aof");
    std::fs::write(&segment, &old).unwrap();
    let (code, text) = check_aof(&[segment.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("3 records") && text.contains("format version 0"),
        "{text}"
    );

    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&["a", "b"]).query(&mut con).unwrap();
    assert_eq!(values, [Some("1".into()), Some("2".into())]);
    let _: () = redis::cmd("SET").arg("c").arg("3").query(&mut con).unwrap();
    roost.shutdown();
    // Appended to as it was: still version 0, one more write.
    let data = std::fs::read(&segment).unwrap();
    assert!(data.starts_with(&old));
    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["a", "b", "c"])
        .query(&mut con)
        .unwrap();
    assert_eq!(
        values,
        [Some("1".into()), Some("2".into()), Some("3".into())]
    );
    // A rewrite turns it into files with headers, keeping everything.
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    roost.shutdown();
    let (_, base) = roost::aof::newest_base(&dir.0).unwrap().unwrap();
    assert!(std::fs::read(&base).unwrap().starts_with(b"ROOSTLOG"));
    let roost = Roost::start(&dir.0, &[]);
    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["a", "b", "c"])
        .query(&mut roost.client())
        .unwrap();
    assert_eq!(
        values,
        [Some("1".into()), Some("2".into()), Some("3".into())]
    );
}

#[test]
fn a_newer_format_stops_startup_naming_the_file() {
    let dir = TempDir::new("format-newer");
    let seg_dir = dir.0.join("appendonly");
    std::fs::create_dir_all(&seg_dir).unwrap();
    let mut newer = header::encode(Kind::Segment).to_vec();
    newer[8..12].copy_from_slice(&3u32.to_le_bytes());
    record::encode(1, &[b"SET", b"a", b"1"], &mut newer);
    let segment = seg_dir.join("00000000000000000001.aof");
    std::fs::write(&segment, &newer).unwrap();
    let text = refused_startup(&dir.0, &[]);
    assert!(
        text.contains(&format!(
            "{} is a Roost log file of format version 3",
            segment.display()
        )),
        "{text}"
    );
    // Neither startup nor the checker changed it, even when asked to fix.
    let (code, text) = check_aof(&["--fix", segment.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("format version 3") && text.contains("left as it is"),
        "{text}"
    );
    assert_eq!(std::fs::read(&segment).unwrap(), newer);
}

#[test]
fn a_foreign_file_stops_startup_naming_it_even_with_repair() {
    let dir = TempDir::new("format-foreign");
    let seg_dir = dir.0.join("appendonly");
    std::fs::create_dir_all(&seg_dir).unwrap();
    // A Redis AOF where a Roost segment should be.
    let aof = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n";
    let segment = seg_dir.join("00000000000000000001.aof");
    std::fs::write(&segment, aof).unwrap();
    let text = refused_startup(&dir.0, &[]);
    assert!(
        text.contains(&format!(
            "{} is not a Roost log: it starts with",
            segment.display()
        )),
        "{text}"
    );
    // --aof-repair cuts damaged Roost logs; it does not touch what is not one.
    let text = refused_startup(&dir.0, &["--aof-repair"]);
    assert!(text.contains("is not a Roost log"), "{text}");
    assert_eq!(std::fs::read(&segment).unwrap(), aof);
    let (code, text) = check_aof(&["--fix", segment.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("is not a Roost log"), "{text}");
    assert_eq!(std::fs::read(&segment).unwrap(), aof);
}

#[test]
fn a_replicas_base_from_a_full_sync_has_the_header() {
    let primary_dir = TempDir::new("format-primary");
    let replica_dir = TempDir::new("format-replica");
    let primary = Roost::start(&primary_dir.0, &[]);
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut primary.client())
        .unwrap();
    let replicaof = format!("127.0.0.1 {}", primary.port);
    let replica = Roost::start(&replica_dir.0, &["--replicaof", &replicaof]);
    let mut con = replica.client();
    wait_for("the full sync", Duration::from_secs(30), || {
        redis::cmd("GET")
            .arg("k")
            .query::<Option<String>>(&mut con)
            .is_ok_and(|v| v.is_some())
    });
    replica.shutdown();
    let (_, base) = roost::aof::newest_base(&replica_dir.0).unwrap().unwrap();
    let data = std::fs::read(&base).unwrap();
    assert_eq!(&data[..header::LEN], &header::encode(Kind::Base));
    let (code, text) = check_aof(&[base.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn writes_after_a_restart_are_not_swallowed_by_a_transaction_the_crash_cut_off() {
    // A crash during EXEC or a script leaves MULTI without EXEC at the end of the log.
    // The next start closes it with DISCARD before its own records; otherwise the load
    // after that would hold every later write back as part of the torn transaction.
    let dir = TempDir::new("format-torn-multi");
    let seg_dir = dir.0.join("appendonly");
    std::fs::create_dir_all(&seg_dir).unwrap();
    let mut log = header::encode(Kind::Segment).to_vec();
    record::encode(1, &[b"SELECT", b"0"], &mut log);
    record::encode(2, &[b"SET", b"before", b"1"], &mut log);
    record::encode(3, &[b"MULTI"], &mut log);
    record::encode(4, &[b"SET", b"torn", b"1"], &mut log);
    std::fs::write(seg_dir.join("00000000000000000001.aof"), &log).unwrap();

    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["before", "torn"])
        .query(&mut con)
        .unwrap();
    assert_eq!(values, [Some("1".into()), None]);
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("1")
        .query(&mut con)
        .unwrap();
    roost.shutdown();

    let roost = Roost::start(&dir.0, &[]);
    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["before", "torn", "after"])
        .query(&mut roost.client())
        .unwrap();
    assert_eq!(values, [Some("1".into()), None, Some("1".into())]);
}
