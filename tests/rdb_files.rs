//! RDB files with real binaries: a redis-server SAVE of every type (small and large
//! encodings, TTLs, several databases) loads into Roost with the same data, with and
//! without Roost's log; Roost's SAVE loads into redis-server 7.0.15 with the same data
//! and `redis-check-rdb` accepts it; Debian's stock redis.conf (`appendonly no`, the
//! default `save` schedule) keeps the data across a restart; a damaged file stops
//! startup naming the file and the offset.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::dataset::{assert_same, assert_same_dropping, assert_same_stream_nodes, fill};
use common::process::{free_port, wait_for, RedisServer, Roost, TempDir};
use redis::Connection;

fn connect(url: &str) -> Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

fn redis_with_dir(dir: &Path) -> RedisServer {
    RedisServer::start_with(&["--dir", dir.to_str().unwrap(), "--dbfilename", "dump.rdb"])
}

#[test]
fn a_redis_save_of_every_type_loads_into_roost_with_and_without_its_log() {
    let redis_dir = TempDir::new("rdb-from-redis");
    let redis = redis_with_dir(&redis_dir.0);
    let mut r = connect(&redis.url());
    let keys = fill(&mut r);
    let _: () = redis::cmd("SAVE").query(&mut r).unwrap();
    let file = redis_dir.0.join("dump.rdb");

    // Memory and RDB only, as Redis runs with appendonly no.
    let dir = TempDir::new("rdb-into-roost");
    std::fs::copy(&file, dir.0.join("dump.rdb")).unwrap();
    let roost = Roost::start(&dir.0, &["--appendonly", "no", "--save", ""]);
    let mut o = roost.client();
    assert_same(&mut r, &mut o, &keys);
    // Loaded from the file, streams keep Redis's nodes (a log replays them afresh).
    assert_same_stream_nodes(&mut r, &mut o);
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut o).unwrap();
    let loaded = keys.len() + 4;
    assert!(
        info.contains(&format!("rdb_last_load_keys_loaded:{loaded}\r\n")),
        "{info}"
    );
    drop(roost);

    // With the log on and no log yet: the file's data goes into the log, which then
    // has it without the file.
    let dir = TempDir::new("rdb-into-roost-log");
    std::fs::copy(&file, dir.0.join("dump.rdb")).unwrap();
    let roost = Roost::start(&dir.0, &["--appendonly", "yes", "--save", ""]);
    assert_same(&mut r, &mut roost.client(), &keys);
    roost.kill9();
    std::fs::remove_file(dir.0.join("dump.rdb")).unwrap();
    let roost = Roost::start(&dir.0, &["--appendonly", "yes", "--save", ""]);
    // Replayed from the log: consumers were created at the replay's time.
    assert_same_dropping(
        &mut r,
        &mut roost.client(),
        &keys,
        &[0, 3, 9],
        &["seen-time"],
    );
}

#[test]
fn roost_save_loads_into_redis_and_redis_check_rdb_accepts_it() {
    let dir = TempDir::new("rdb-from-roost");
    for compression in ["yes", "no"] {
        let _ = std::fs::remove_file(dir.0.join("dump.rdb"));
        let roost = Roost::start(
            &dir.0,
            &[
                "--appendonly",
                "no",
                "--save",
                "",
                "--rdbcompression",
                compression,
            ],
        );
        let mut o = roost.client();
        let keys = fill(&mut o);
        let _: () = redis::cmd("SAVE").query(&mut o).unwrap();
        let check = Command::new("redis-check-rdb")
            .arg(dir.0.join("dump.rdb"))
            .output()
            .expect("redis-check-rdb (Debian's redis-tools) is installed");
        let text = String::from_utf8_lossy(&check.stdout).into_owned()
            + &String::from_utf8_lossy(&check.stderr);
        assert!(
            check.status.success() && text.contains("RDB looks OK"),
            "{text}"
        );
        let redis = redis_with_dir(&dir.0);
        let mut r = connect(&redis.url());
        assert_same(&mut o, &mut r, &keys);
        assert_same_stream_nodes(&mut o, &mut r);
    }
}

#[test]
fn bgsave_lastsave_info_and_the_save_schedule() {
    let dir = TempDir::new("rdb-bgsave");
    let roost = Roost::start(&dir.0, &["--appendonly", "no", "--save", "1 3"]);
    let mut con = roost.client();
    let info = |con: &mut Connection| -> String {
        redis::cmd("INFO").arg("persistence").query(con).unwrap()
    };
    let before: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let text = info(&mut con);
    assert!(text.contains("rdb_changes_since_last_save:1\r\n"), "{text}");
    std::thread::sleep(Duration::from_millis(1100));
    let started: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
    assert_eq!(started, "Background saving started");
    wait_for("the background save", Duration::from_secs(10), || {
        info(&mut con).contains("rdb_saves:1\r\n")
    });
    let text = info(&mut con);
    assert!(text.contains("rdb_changes_since_last_save:0\r\n"), "{text}");
    assert!(text.contains("rdb_last_bgsave_status:ok\r\n"), "{text}");
    let after: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    assert!(after > before);
    // Three writes with the schedule `1 3`: a save within a couple of seconds.
    for k in ["x", "y", "z"] {
        let _: () = redis::cmd("SET").arg(k).arg(k).query(&mut con).unwrap();
    }
    wait_for("the scheduled save", Duration::from_secs(10), || {
        info(&mut con).contains("rdb_saves:2\r\n")
    });
    // SHUTDOWN NOSAVE leaves the file as the last save made it.
    let _: () = redis::cmd("SET")
        .arg("late")
        .arg("1")
        .query(&mut con)
        .unwrap();
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut con);
    drop(roost);
    let roost = Roost::start(&dir.0, &["--appendonly", "no", "--save", ""]);
    let mut con = roost.client();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, ["a", "x", "y", "z"]);
    // SHUTDOWN SAVE writes it even without a schedule.
    let _: () = redis::cmd("SET")
        .arg("late")
        .arg("1")
        .query(&mut con)
        .unwrap();
    roost.shutdown_with(&["SAVE"]);
    let roost = Roost::start(&dir.0, &["--appendonly", "no", "--save", ""]);
    let n: i64 = redis::cmd("DBSIZE").query(&mut roost.client()).unwrap();
    assert_eq!(n, 5);
}

#[test]
fn debian_stock_redis_conf_keeps_the_data_across_a_restart() {
    let text = std::fs::read_to_string("/etc/redis/redis.conf").unwrap();
    let dir = TempDir::new("rdb-debian-conf");
    let port = free_port();
    let adapted: String = text
        .lines()
        .filter(|l| {
            let word = l.split_whitespace().next().unwrap_or("");
            !matches!(
                word,
                "port" | "dir" | "logfile" | "pidfile" | "daemonize" | "unixsocket" | "include"
            )
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let conf = dir.0.join("redis.conf");
    std::fs::write(
        &conf,
        adapted + &format!("port {port}\ndir {}\n", dir.0.display()),
    )
    .unwrap();
    let log = dir.0.join("roost.log");
    let roost = Roost::spawn_with_config_file(&conf, port, &log);
    roost.wait_until_ready();
    let mut con = roost.client();
    let _: () = redis::cmd("SET")
        .arg("session:1")
        .arg("alice")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("session:2")
        .arg("bob")
        .arg("EX")
        .arg(3600)
        .query(&mut con)
        .unwrap();
    // SIGTERM, as systemd stops it: the default schedule has points, so it saves.
    unsafe { libc::kill(roost.child.id() as i32, libc::SIGTERM) };
    let mut roost = roost;
    let status = roost.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(dir.0.join("dump.rdb").exists());
    let roost = Roost::spawn_with_config_file(&conf, port, &log);
    roost.wait_until_ready();
    let mut con = roost.client();
    let v: Vec<Option<String>> = redis::cmd("MGET")
        .arg("session:1")
        .arg("session:2")
        .query(&mut con)
        .unwrap();
    assert_eq!(v, [Some("alice".into()), Some("bob".into())]);
    let ttl: i64 = redis::cmd("TTL").arg("session:2").query(&mut con).unwrap();
    assert!(ttl > 3500, "{ttl}");
}

#[test]
fn a_damaged_rdb_file_stops_startup_naming_the_file_and_offset() {
    let dir = TempDir::new("rdb-damaged");
    let roost = Roost::start(&dir.0, &["--appendonly", "no", "--save", ""]);
    let mut con = roost.client();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v".repeat(100))
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(roost);
    let file = dir.0.join("dump.rdb");
    let mut data = std::fs::read(&file).unwrap();
    let at = data.len() - 20;
    data[at] ^= 0xff;
    std::fs::write(&file, &data).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args([
            "--port",
            &free_port().to_string(),
            "--dir",
            dir.0.to_str().unwrap(),
        ])
        .args(["--appendonly", "no", "--save", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&file.display().to_string()) && text.contains("at offset"),
        "{text}"
    );
    // The file is left as it was.
    assert_eq!(std::fs::read(&file).unwrap(), data);
}
