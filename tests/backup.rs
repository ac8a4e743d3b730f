//! The backup procedure the README gives ("Where the data lives, and backups"), followed
//! step by step against a running server that keeps taking writes: stop rewrites, copy
//! `<dir>/appendonly`, let rewrites run again; the copy checks out with `roost check-aof`
//! (bar an incomplete last record, which the README says to expect) and a server started
//! on it has every write acknowledged before the copy began.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::process::{Roost, TempDir};

fn info_field(con: &mut redis::Connection, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO: {info}"))
        .to_string()
}

fn wait_for_no_rewrite(con: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(con, "aof_rewrite_in_progress") != "0" {
        assert!(Instant::now() < deadline, "a rewrite never finished");
        thread::sleep(Duration::from_millis(50));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success(), "cp -a {from:?} {to:?} failed");
}

#[test]
fn a_copy_of_the_log_taken_while_writes_go_on_restores_every_acknowledged_write() {
    let dir = TempDir::new("backup-live");
    let server = Roost::start(&dir.0, &["--appendfsync", "everysec"]);
    let mut con = server.client();

    // A base and segments after it, as a server that has run for a while has.
    for i in 0..2_000 {
        let (): () = redis::cmd("SET")
            .arg(format!("before-rewrite:{i}"))
            .arg(i)
            .arg("EX")
            .arg(100_000)
            .query(&mut con)
            .unwrap();
    }
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    wait_for_no_rewrite(&mut con);
    let (): () = redis::cmd("HSET")
        .arg("after-rewrite")
        .arg("field")
        .arg("value")
        .query(&mut con)
        .unwrap();

    // Writes keep coming while the backup is taken; `acknowledged` is how many of them
    // had their reply before the copy started.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written) = (stop.clone(), written.clone());
        let mut con = server.client();
        thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (): () = redis::cmd("SET")
                    .arg(format!("during:{n}"))
                    .arg(n)
                    .query(&mut con)
                    .unwrap();
                n += 1;
                written.store(n, Ordering::Release);
            }
        })
    };
    while written.load(Ordering::Acquire) < 500 {
        thread::sleep(Duration::from_millis(5));
    }

    // The README's procedure.
    let (): () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("auto-aof-rewrite-percentage")
        .arg("0")
        .query(&mut con)
        .unwrap();
    wait_for_no_rewrite(&mut con);
    let acknowledged = written.load(Ordering::Acquire);
    let backup = TempDir::new("backup-copy");
    copy_dir(&dir.0.join("appendonly"), &backup.0.join("appendonly"));
    let (): () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("auto-aof-rewrite-percentage")
        .arg("100")
        .query(&mut con)
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    // Every log file checks out, except possibly a record cut short at the end of the
    // newest segment.
    let mut files: Vec<_> = std::fs::read_dir(backup.0.join("appendonly"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "aof" || e == "base"))
        .collect();
    // Segments (named by their first LSN) sort after the base they follow.
    files.sort_by_key(|f| (f.extension().is_some_and(|e| e == "aof"), f.clone()));
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "base")),
        "{files:?}"
    );
    for (i, file) in files.iter().enumerate() {
        let out = Command::new(env!("CARGO_BIN_EXE_roost"))
            .arg("check-aof")
            .arg(file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let newest = i + 1 == files.len();
        assert!(
            out.status.success() || (newest && text.contains("incomplete last record")),
            "check-aof {file:?}: {text}"
        );
    }

    // Restore: a server started on the copy has everything acknowledged before the copy.
    drop(con);
    server.shutdown();
    let restored = Roost::start(&backup.0, &[]);
    let mut con = restored.client();
    let ttl: i64 = redis::cmd("TTL")
        .arg("before-rewrite:1999")
        .query(&mut con)
        .unwrap();
    assert!(ttl > 99_000, "TTL after restore: {ttl}");
    let count: usize = (0..2_000)
        .map(|i| {
            let exists: bool = redis::cmd("EXISTS")
                .arg(format!("before-rewrite:{i}"))
                .query(&mut con)
                .unwrap();
            exists as usize
        })
        .sum();
    assert_eq!(count, 2_000);
    let field: Option<String> = redis::cmd("HGET")
        .arg("after-rewrite")
        .arg("field")
        .query(&mut con)
        .unwrap();
    assert_eq!(field.as_deref(), Some("value"));
    for n in 0..acknowledged {
        let value: Option<u64> = redis::cmd("GET")
            .arg(format!("during:{n}"))
            .query(&mut con)
            .unwrap();
        assert_eq!(
            value,
            Some(n),
            "during:{n} of {acknowledged} acknowledged before the copy"
        );
    }
}
