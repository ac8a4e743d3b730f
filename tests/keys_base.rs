//! The rewrite's base of key records (format version 2, `aof::keys`), with the real
//! binary: every type, TTL, database and function library comes back after a rewrite
//! and a restart; a damaged base stops startup naming the file and the offset of the
//! damaged record; a base of command records (version 1) still loads, and the next
//! rewrite turns it into a keys base.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use roost::aof::header::{self, Kind};
use roost::aof::{keys, record};

const DEBUG: &[&str] = &["--enable-debug-command", "yes"];

mod common;
use common::process::{free_port, wait_for, Roost, TempDir};

fn cmd(con: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Everything a restart must bring back, in a comparable form.
fn state(con: &mut redis::Connection) -> Vec<String> {
    let mut out = Vec::new();
    out.push(format!("{:?}", cmd(con, &["DEBUG", "DIGEST"])));
    out.push(format!("{:?}", cmd(con, &["FUNCTION", "LIST", "WITHCODE"])));
    for db in ["0", "3"] {
        cmd(con, &["SELECT", db]);
        let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(con).unwrap();
        keys.sort();
        for key in keys {
            let ttl: i64 = redis::cmd("PTTL").arg(&key).query(con).unwrap();
            // TTLs in whole minutes: the clock moves between the two looks.
            let ttl = if ttl > 0 {
                (ttl + 30_000) / 60_000
            } else {
                ttl
            };
            let dump = cmd(con, &["DEBUG", "DIGEST-VALUE", &key]);
            out.push(format!("db{db} {key} ttl={ttl} {dump:?}"));
        }
    }
    cmd(con, &["SELECT", "0"]);
    out.push(format!("{:?}", cmd(con, &["XINFO", "GROUPS", "stream"])));
    out
}

fn assert_same(after: &[String], before: &[String]) {
    for (a, b) in after.iter().zip(before) {
        assert_eq!(a, b);
    }
    assert_eq!(after.len(), before.len());
}

fn fill(con: &mut redis::Connection) {
    cmd(con, &["SET", "plain", "v"]);
    cmd(con, &["SET", "empty", ""]);
    cmd(con, &["SET", "number", "12345"]);
    cmd(con, &["SET", "ttl", "v", "EX", "1800"]);
    let big = "x".repeat(40_000);
    cmd(con, &["SET", "big", &big, "PX", "3600000"]);
    cmd(con, &["SET", "bin\r\n\0key", "bin\r\n\0value"]);
    cmd(con, &["RPUSH", "list", "a", "b", "c"]);
    cmd(con, &["HSET", "hash", "f1", "v1", "f2", "v2"]);
    cmd(con, &["EXPIRE", "hash", "1800"]);
    cmd(con, &["SADD", "set", "m1", "m2", "3"]);
    cmd(con, &["ZADD", "zset", "1.5", "a", "-2", "b"]);
    cmd(con, &["PFADD", "hll", "a", "b", "c"]);
    cmd(con, &["XADD", "stream", "1-1", "f", "v"]);
    cmd(con, &["XGROUP", "CREATE", "stream", "g", "0"]);
    cmd(
        con,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "1",
            "STREAMS",
            "stream",
            ">",
        ],
    );
    cmd(
        con,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=lib\nredis.register_function('f', function() return 1 end)",
        ],
    );
    cmd(con, &["SELECT", "3"]);
    cmd(con, &["SET", "other", "db3", "PX", "7200000"]);
    cmd(con, &["LPUSH", "otherlist", "x"]);
    cmd(con, &["SELECT", "0"]);
    for i in 0..300 {
        cmd(
            con,
            &["SET", &format!("session:{i}"), &format!("value {i}")],
        );
    }
}

fn rewrite(con: &mut redis::Connection) {
    let _: () = redis::cmd("SAVE").query(con).unwrap();
}

#[test]
fn every_type_comes_back_from_a_keys_base() {
    let dir = TempDir::new("keys-base-types");
    let roost = Roost::start(&dir.0, DEBUG);
    let mut con = roost.client();
    fill(&mut con);
    let before = state(&mut con);
    rewrite(&mut con);
    // Writes after the rewrite go to the segment, continuing in database 3.
    cmd(&mut con, &["SELECT", "3"]);
    cmd(&mut con, &["SET", "after", "1"]);
    roost.shutdown();

    let (_, base) = roost::aof::newest_base(&dir.0).unwrap().unwrap();
    let data = std::fs::read(&base).unwrap();
    assert_eq!(&data[..header::LEN], &header::encode(Kind::KeysBase));
    let commands = roost::aof::base_commands(&data, &base).unwrap();
    // Strings are key records; aggregates and libraries stay commands.
    let names: Vec<String> = commands
        .iter()
        .map(|c| String::from_utf8_lossy(&c[0]).to_uppercase())
        .collect();
    assert!(names.iter().filter(|n| *n == "SET").count() >= 300);
    for expected in [
        "RPUSH",
        "HSET",
        "SADD",
        "ZADD",
        "XADD",
        "FUNCTION",
        "PEXPIREAT",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }

    let roost = Roost::start(&dir.0, DEBUG);
    let mut con = roost.client();
    cmd(&mut con, &["SELECT", "3"]);
    let after: String = redis::cmd("GETDEL").arg("after").query(&mut con).unwrap();
    assert_eq!(after, "1");
    assert_same(&state(&mut con), &before);
    let f: i64 = redis::cmd("FCALL").arg("f").arg(0).query(&mut con).unwrap();
    assert_eq!(f, 1);
    // And again after a second rewrite of what was loaded.
    rewrite(&mut con);
    roost.shutdown();
    let roost = Roost::start(&dir.0, DEBUG);
    let mut con = roost.client();
    assert_same(&state(&mut con), &before);
    roost.shutdown();
}

/// Starts the binary on `dir`, expecting it to refuse the log; returns what it printed.
fn refused_startup(dir: &Path) -> String {
    let log_dir = TempDir::new(&format!("keys-base-log-{}", free_port()));
    let log = log_dir.0.join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["--port", &free_port().to_string(), "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut status = None;
    wait_for("roost to refuse the log", Duration::from_secs(30), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    assert!(!status.unwrap().success());
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn a_damaged_keys_base_stops_startup_naming_the_offset() {
    let dir = TempDir::new("keys-base-damaged");
    let roost = Roost::start(&dir.0, DEBUG);
    let mut con = roost.client();
    for i in 0..50 {
        cmd(&mut con, &["SET", &format!("k{i}"), &format!("value{i}")]);
    }
    rewrite(&mut con);
    roost.shutdown();
    let (_, base) = roost::aof::newest_base(&dir.0).unwrap().unwrap();
    let data = std::fs::read(&base).unwrap();
    let mut reader = keys::Reader::at(&data, header::LEN);
    let mut starts = Vec::new();
    loop {
        starts.push(reader.position());
        if reader.next_item().unwrap().is_none() {
            break;
        }
    }
    assert!(starts.len() > 40, "{} records", starts.len());
    // A flipped byte inside the 20th record's value.
    let record_at = starts[20];
    let mut damaged = data.clone();
    damaged[starts[21] - 2] ^= 0x20;
    std::fs::write(&base, &damaged).unwrap();
    let text = refused_startup(&dir.0);
    assert!(
        text.contains(&format!(
            "the log is corrupt in {} at offset {record_at} (damaged base: checksum mismatch)",
            base.display()
        )),
        "{text}"
    );
    // The checker says the same, and startup did not touch the file.
    let out = Command::new(env!("CARGO_BIN_EXE_roost"))
        .arg("check-aof")
        .arg(&base)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("damage at offset {record_at}: checksum mismatch")),
        "{report}"
    );
    assert_eq!(std::fs::read(&base).unwrap(), damaged);

    // A base cut short (a torn record) is damage too, not a tail to drop.
    std::fs::write(&base, &data[..starts[30] + 5]).unwrap();
    let text = refused_startup(&dir.0);
    assert!(
        text.contains(&format!("at offset {} (damaged base", starts[30])),
        "{text}"
    );
}

#[test]
fn a_base_of_command_records_still_loads_and_becomes_a_keys_base() {
    let dir = TempDir::new("keys-base-v1");
    let seg_dir = dir.0.join("appendonly");
    std::fs::create_dir_all(&seg_dir).unwrap();
    let far = (roost::clock::now_ms() + 3_600_000).to_string();
    let mut base = header::encode(Kind::Base).to_vec();
    assert_eq!(&base[8..12], &1u32.to_le_bytes());
    let records: &[&[&[u8]]] = &[
        &[b"SELECT", b"0"],
        &[b"SET", b"a", b"1"],
        &[b"SET", b"t", b"v", b"PXAT", far.as_bytes()],
        &[b"HSET", b"h", b"f", b"v"],
        &[b"SELECT", b"2"],
        &[b"SET", b"b", b"2"],
    ];
    for (i, args) in records.iter().enumerate() {
        record::encode(i as u64 + 1, args, &mut base);
    }
    std::fs::write(seg_dir.join("00000000000000000009.base"), &base).unwrap();
    let mut segment = header::encode(Kind::Segment).to_vec();
    record::encode(9, &[b"SET", b"c", b"3"], &mut segment);
    std::fs::write(seg_dir.join("00000000000000000009.aof"), &segment).unwrap();

    let check = |con: &mut redis::Connection| {
        cmd(con, &["SELECT", "0"]);
        let a: Option<String> = redis::cmd("GET").arg("a").query(con).unwrap();
        let h: Option<String> = redis::cmd("HGET").arg("h").arg("f").query(con).unwrap();
        let ttl: i64 = redis::cmd("TTL").arg("t").query(con).unwrap();
        cmd(con, &["SELECT", "2"]);
        let b: Option<String> = redis::cmd("GET").arg("b").query(con).unwrap();
        // The segment continues in the database the base ended in.
        let c: Option<String> = redis::cmd("GET").arg("c").query(con).unwrap();
        assert_eq!(
            (a, h, b, c),
            (
                Some("1".into()),
                Some("v".into()),
                Some("2".into()),
                Some("3".into())
            )
        );
        assert!(ttl > 3500, "{ttl}");
        cmd(con, &["SELECT", "0"]);
    };
    let roost = Roost::start(&dir.0, DEBUG);
    let mut con = roost.client();
    check(&mut con);
    rewrite(&mut con);
    roost.shutdown();
    let (_, path) = roost::aof::newest_base(&dir.0).unwrap().unwrap();
    assert!(std::fs::read(&path)
        .unwrap()
        .starts_with(&header::encode(Kind::KeysBase)));
    let roost = Roost::start(&dir.0, DEBUG);
    check(&mut roost.client());
    roost.shutdown();
}
