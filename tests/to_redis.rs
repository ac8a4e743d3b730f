//! Redis following Roost, with real binaries (Debian's redis-server and redis-cli 7.0.15):
//! a redis-server replica of a Roost primary loads every type (small and large
//! encodings, TTLs, several databases) and then follows writes (MULTI/EXEC, EXPIRE,
//! EVAL, another database, DELs of expired keys) to the same data, with WAIT and INFO
//! counting it, over both payload framings (streamed with an EOF mark, and from a file
//! with its length); `redis-cli --rdb` makes a backup that `redis-check-rdb` accepts and
//! redis-server loads; `redis-cli --replica` prints the stream of a write. The data set
//! (`common::dataset`) includes streams with consumer groups.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::dataset::{assert_same_in, fill, select};
use common::process::{wait_for, Process, RedisServer, Roost, TempDir};
use redis::Connection;

fn connect(url: &str) -> Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

fn info(con: &mut Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(con).unwrap()
}

fn field(info: &str, name: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .to_string()
}

/// A redis-server replica of `roost`, its files in `dir`, once its link is up.
fn redis_replica_of(roost: &Roost, dir: &Path) -> RedisServer {
    let port = roost.port.to_string();
    let redis = RedisServer::start_with(&[
        "--dir",
        dir.to_str().unwrap(),
        "--replicaof",
        "127.0.0.1",
        &port,
    ]);
    let mut r = connect(&redis.url());
    wait_for(
        "the redis-server replica to finish its sync",
        Duration::from_secs(30),
        || field(&info(&mut r, "replication"), "master_link_status") == "up",
    );
    redis
}

fn dbsize(con: &mut Connection, db: i64) -> i64 {
    select(con, db);
    let n = redis::cmd("DBSIZE").query(con).unwrap();
    select(con, 0);
    n
}

/// Writes of every kind the stream carries, after the replicas' sync.
fn write_more(o: &mut Connection) {
    let _: () = redis::pipe()
        .cmd("MULTI")
        .ignore()
        .cmd("SET")
        .arg("tx:a")
        .arg("1")
        .ignore()
        .cmd("HSET")
        .arg("h:small")
        .arg("added")
        .arg("in-exec")
        .ignore()
        .cmd("RPUSH")
        .arg("l:large")
        .arg("tail")
        .ignore()
        .cmd("EXEC")
        .ignore()
        .query(o)
        .unwrap();
    let _: i64 = redis::cmd("EXPIRE")
        .arg("s:long")
        .arg(5000)
        .query(o)
        .unwrap();
    let _: i64 = redis::cmd("PERSIST").arg("z:small").query(o).unwrap();
    let _: () = redis::cmd("EVAL")
        .arg("redis.call('SET', KEYS[1], ARGV[1]); redis.call('SADD', KEYS[2], ARGV[1]); return redis.call('INCRBY', KEYS[3], 5)")
        .arg(3)
        .arg("eval:s")
        .arg("eval:set")
        .arg("eval:n")
        .arg("from-lua")
        .query::<i64>(o)
        .map(|_| ())
        .unwrap();
    let _: i64 = redis::cmd("ZADD")
        .arg("z:large")
        .arg(-1)
        .arg("newcomer")
        .query(o)
        .unwrap();
    let _: i64 = redis::cmd("DEL").arg("sw:small").query(o).unwrap();
    // Short-lived keys: the primary's expiry deletes them, and the replicas with it.
    for i in 0..5 {
        let _: () = redis::cmd("SET")
            .arg(format!("brief:{i}"))
            .arg("x")
            .arg("PX")
            .arg(50)
            .query(o)
            .unwrap();
    }
    select(o, 5);
    let _: () = redis::cmd("SET").arg("in-db-5").arg("v").query(o).unwrap();
    let _: i64 = redis::cmd("LPUSH")
        .arg("queue")
        .arg("a")
        .arg("b")
        .query(o)
        .unwrap();
    select(o, 0);
}

#[test]
fn a_redis_replica_loads_every_type_and_follows_writes_with_wait_counting_it() {
    let dir = TempDir::new("to-redis-primary");
    let roost = Roost::start(&dir.0, &["--appendonly", "yes", "--save", ""]);
    let mut o = roost.client();
    let mut keys = fill(&mut o);

    // One replica gets its payload streamed (capa eof, repl-diskless-sync yes), the
    // other from a file, with its length.
    let streamed_dir = TempDir::new("to-redis-streamed");
    let streamed = redis_replica_of(&roost, &streamed_dir.0);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("repl-diskless-sync")
        .arg("no")
        .query(&mut o)
        .unwrap();
    let from_file_dir = TempDir::new("to-redis-from-file");
    let from_file = redis_replica_of(&roost, &from_file_dir.0);
    let mut replicas = [connect(&streamed.url()), connect(&from_file.url())];
    for r in &mut replicas {
        assert_same_in(&mut o, r, &keys, &[0, 3, 9]);
    }

    write_more(&mut o);
    let acked: i64 = redis::cmd("WAIT").arg(2).arg(10_000).query(&mut o).unwrap();
    assert_eq!(acked, 2, "WAIT counts both Redis replicas");
    let primary = info(&mut o, "replication");
    assert_eq!(field(&primary, "connected_slaves"), "2");
    let offset = field(&primary, "master_repl_offset");
    for i in 0..2 {
        let slave = field(&primary, &format!("slave{i}"));
        assert!(slave.contains("state=online"), "{slave}");
        // Acknowledged byte offsets are reported as the LSNs they cover.
        assert!(
            slave.contains(&format!(",offset={offset},")),
            "{slave} vs {offset}"
        );
    }

    // The brief keys are deleted by the primary's expiry and, by its DELs, on the
    // replicas (whose DBSIZE counts the keys they merely hide).
    keys.extend(["tx:a", "eval:s", "eval:set", "eval:n"].map(String::from));
    keys.retain(|k| k != "sw:small");
    keys.sort();
    for r in &mut replicas {
        wait_for("the expired keys' DELs", Duration::from_secs(20), || {
            dbsize(r, 0) == keys.len() as i64
        });
        for db in [0, 3, 5, 9] {
            assert_eq!(dbsize(r, db), dbsize(&mut o, db), "DBSIZE of db {db}");
        }
        assert_same_in(&mut o, r, &keys, &[0, 3, 5, 9]);
    }
}

#[test]
fn redis_cli_rdb_makes_a_backup_that_redis_check_rdb_accepts_and_redis_server_loads() {
    let dir = TempDir::new("to-redis-backup");
    let roost = Roost::start(&dir.0, &["--appendonly", "no", "--save", ""]);
    let mut o = roost.client();
    let keys = fill(&mut o);
    for diskless in ["yes", "no"] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("repl-diskless-sync")
            .arg(diskless)
            .query(&mut o)
            .unwrap();
        let backup_dir = TempDir::new(&format!("to-redis-backup-{diskless}"));
        let file = backup_dir.0.join("backup.rdb");
        let cli = Command::new("redis-cli")
            .args(["-p", &roost.port.to_string(), "--rdb"])
            .arg(&file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&cli.stderr).into_owned();
        assert!(cli.status.success(), "redis-cli --rdb: {text}");
        assert!(text.contains("Transfer finished with success"), "{text}");
        let check = Command::new("redis-check-rdb").arg(&file).output().unwrap();
        let text = String::from_utf8_lossy(&check.stdout).into_owned()
            + &String::from_utf8_lossy(&check.stderr);
        assert!(
            check.status.success() && text.contains("RDB looks OK"),
            "{text}"
        );
        let redis = RedisServer::start_with(&[
            "--dir",
            backup_dir.0.to_str().unwrap(),
            "--dbfilename",
            "backup.rdb",
        ]);
        assert_same_in(&mut o, &mut connect(&redis.url()), &keys, &[0, 3, 9]);
        // It asked for the RDB only: it is not left attached.
        let primary = info(&mut o, "replication");
        assert_eq!(field(&primary, "connected_slaves"), "0", "{primary}");
    }
}

#[test]
fn redis_cli_replica_prints_the_stream_of_a_write() {
    let dir = TempDir::new("to-redis-cli-replica");
    let roost = Roost::start(&dir.0, &["--appendonly", "no", "--save", ""]);
    let mut o = roost.client();
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut o)
        .unwrap();
    let mut child = Command::new("redis-cli")
        .args(["-p", &roost.port.to_string(), "--replica"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    for reader in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let lines_tx = lines_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
    }
    let _cli = Process(child);
    let mut seen = Vec::new();
    let wait_line = |wanted: &str, seen: &mut Vec<String>| {
        while !seen.iter().any(|l| l == wanted) {
            match lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => seen.push(line),
                Err(_) => {
                    panic!("redis-cli --replica did not print {wanted:?}; it printed {seen:?}")
                }
            }
        }
    };
    wait_for("redis-cli to be online", Duration::from_secs(20), || {
        field(&info(&mut o, "replication"), "connected_slaves") == "1"
            && info(&mut o, "replication").contains("state=online")
    });
    // redis-cli waits a second after the payload before it acknowledges; the stream
    // starts after that, and holds every write from the snapshot on.
    let _: () = redis::cmd("SET")
        .arg("greeting")
        .arg("hello")
        .query(&mut o)
        .unwrap();
    wait_line(r#""SET","greeting","hello""#, &mut seen);
    // The payload of `rdb-filter-only ""` holds no data: the key written before is not
    // in the stream.
    assert!(!seen.iter().any(|l| l.contains("before")), "{seen:?}");
    assert!(seen.iter().any(|l| l.starts_with("SYNC done")), "{seen:?}");
}

/// REPLCONF's answers to what redis-cli and Redis replicas announce, as Redis 7.0 gives
/// them.
#[test]
fn replconf_takes_redis_capabilities_with_redis_answers() {
    let dir = TempDir::new("to-redis-replconf");
    let roost = Roost::start(&dir.0, &["--appendonly", "no", "--save", ""]);
    let mut o = roost.client();
    let replconf = |o: &mut Connection, args: &[&str]| -> Result<String, String> {
        redis::cmd("REPLCONF")
            .arg(args)
            .query::<String>(o)
            .map_err(|e| e.to_string())
    };
    for args in [
        &["capa", "eof", "capa", "psync2"][..],
        &["capa", "something-new"],
        &["rdb-only", "1"],
        &["rdb-only", "0"],
        &["rdb-filter-only", ""],
        &["rdb-filter-only", "functions"],
    ] {
        assert_eq!(replconf(&mut o, args), Ok("OK".into()), "{args:?}");
    }
    let refused = |o: &mut Connection, args: &[&str], text: &str| {
        let err = replconf(o, args).unwrap_err();
        assert!(err.contains(text), "{args:?}: {err}");
    };
    refused(
        &mut o,
        &["rdb-only", "2"],
        "value is out of range, value must between 0 and 1",
    );
    refused(
        &mut o,
        &["rdb-only", "x"],
        "value is not an integer or out of range",
    );
    refused(
        &mut o,
        &["rdb-filter-only", "functions bogus"],
        "Unsupported rdb-filter-only option: bogus",
    );
}
