//! DEBUG's subset (SLEEP, SET-ACTIVE-EXPIRE, DIGEST, DIGEST-VALUE, OBJECT, POPULATE, RELOAD,
//! CHANGE-REPL-ID, HELP) and `enable-debug-command`, which must hold whichever way DEBUG
//! is reached: refused by default, only from 127.0.0.1 and ::1 under `local`, from
//! anywhere under `yes` (Redis 7's texts). Digests and DEBUG OBJECT are compared with a
//! real redis-server holding the same data.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::dataset::{fill, select};
use common::inprocess::InProcess;
use common::process::{wait_for, RedisServer, Roost, TempDir};
use common::{info_field, TestServer};
use redis::Connection;

const REFUSED: &[u8] = b"-ERR DEBUG command not allowed. If the enable-debug-command option is \
set to \"local\", you can run it from a local connection, otherwise you need to set this option \
in the configuration file, and then restart the server.\r\n";

fn from(ip: [u8; 4]) -> SocketAddr {
    SocketAddr::from((ip, 40000))
}

#[test]
fn debug_is_refused_unless_enable_debug_command_allows_the_client() {
    let off = InProcess::start();
    for addr in [from([127, 0, 0, 1]), from([10, 0, 0, 5])] {
        let mut c = off.client_from(addr);
        c.roundtrip(&[b"DEBUG", b"SLEEP", b"0"], REFUSED);
        c.roundtrip(&[b"DEBUG", b"HELP"], REFUSED);
        // Queued in a transaction, it is refused when EXEC runs it.
        c.roundtrip(&[b"MULTI"], b"+OK\r\n");
        c.roundtrip(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"], b"+QUEUED\r\n");
        let mut exec = b"*1\r\n".to_vec();
        exec.extend_from_slice(REFUSED);
        c.roundtrip(&[b"EXEC"], &exec);
    }

    let local = InProcess::with_config(|c| c.enable_debug_command = "local".into());
    local
        .client_from(from([127, 0, 0, 1]))
        .roundtrip(&[b"DEBUG", b"SLEEP", b"0"], b"+OK\r\n");
    local
        .client_from(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 40000)))
        .roundtrip(&[b"DEBUG", b"SLEEP", b"0"], b"+OK\r\n");
    // Loopback, but not Redis's notion of local; and a remote client.
    for addr in [from([127, 0, 0, 2]), from([10, 0, 0, 5])] {
        local
            .client_from(addr)
            .roundtrip(&[b"DEBUG", b"SLEEP", b"0"], REFUSED);
    }

    let on = InProcess::with_config(|c| c.enable_debug_command = "yes".into());
    let mut remote = on.client_from(from([10, 0, 0, 5]));
    remote.roundtrip(&[b"DEBUG", b"SLEEP", b"0"], b"+OK\r\n");
    remote.roundtrip(
        &[b"DEBUG", b"NOSUCH"],
        b"-ERR unknown subcommand or wrong number of arguments for 'NOSUCH'. Try DEBUG HELP.\r\n",
    );
    remote.roundtrip(
        &[b"DEBUG", b"SLEEP"],
        b"-ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP.\r\n",
    );
}

#[test]
fn debug_cannot_be_switched_on_at_run_time() {
    let server = TestServer::start();
    let mut con = server.client();
    let refused: redis::RedisResult<()> = redis::cmd("CONFIG")
        .arg("SET")
        .arg("enable-debug-command")
        .arg("yes")
        .query(&mut con);
    assert!(refused
        .unwrap_err()
        .to_string()
        .contains("can't set immutable config"));
    let value: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("enable-debug-command")
        .query(&mut con)
        .unwrap();
    assert_eq!(value, ["enable-debug-command", "no"]);
}

#[test]
fn debug_sleep_stops_the_server_and_set_active_expire_stops_expiry() {
    let server = TestServer::with_config(|c| c.enable_debug_command = "yes".into());
    let mut sleeper = server.raw();
    let mut con = server.client();
    let started = Instant::now();
    sleeper.send(b"DEBUG SLEEP 0.3\r\n");
    std::thread::sleep(Duration::from_millis(50));
    // Another client's command waits for the sleep to end.
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    sleeper.expect(b"+OK\r\n");

    sleeper.send(b"DEBUG SET-ACTIVE-EXPIRE 0\r\n");
    sleeper.expect(b"+OK\r\n");
    let _: () = redis::cmd("SET")
        .arg("gone")
        .arg("v")
        .arg("PX")
        .arg(1)
        .query(&mut con)
        .unwrap();
    // Without active expiry the expired key stays counted (nothing reads it)...
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(100));
        let expired: i64 = info_field(&mut con, "stats", "expired_keys")
            .parse::<i64>()
            .unwrap();
        assert_eq!(expired, 0);
    }
    // ...and with it, it goes.
    sleeper.send(b"DEBUG SET-ACTIVE-EXPIRE 1\r\n");
    sleeper.expect(b"+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut con, "stats", "expired_keys")
        .parse::<i64>()
        .unwrap()
        == 0
    {
        assert!(Instant::now() < deadline, "the key never expired");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn debug_line(con: &mut Connection, args: &[&str]) -> redis::RedisResult<String> {
    redis::cmd("DEBUG").arg(args).query(con)
}

/// An error reply as it came: its code and its text.
fn error_text(e: &redis::RedisError) -> String {
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn digest(con: &mut Connection) -> String {
    debug_line(con, &["DIGEST"]).unwrap()
}

fn digest_values(con: &mut Connection, keys: &[String]) -> Vec<String> {
    redis::cmd("DEBUG")
        .arg("DIGEST-VALUE")
        .arg(keys)
        .query(con)
        .unwrap()
}

#[test]
fn digests_equal_redis_servers_for_the_same_data() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let roost = TestServer::with_config(|c| c.enable_debug_command = "yes".into());
    let mut r = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut o = roost.client();
    let zeros = "0".repeat(40);
    // An empty dataset digests to zeros on both.
    assert_eq!(digest(&mut r), zeros);
    assert_eq!(digest(&mut o), zeros);

    let mut keys = fill(&mut r);
    assert_eq!(fill(&mut o), keys);
    keys.push("no-such-key".into());
    let redis_values = digest_values(&mut r, &keys);
    let roost_values = digest_values(&mut o, &keys);
    for ((key, a), b) in keys.iter().zip(&redis_values).zip(&roost_values) {
        assert_eq!(a, b, "DEBUG DIGEST-VALUE {key}");
    }
    assert_eq!(redis_values.last().unwrap(), &zeros);
    let whole = digest(&mut r);
    assert_ne!(whole, zeros);
    assert_eq!(digest(&mut o), whole);
    let empty: Vec<String> = redis::cmd("DEBUG")
        .arg("DIGEST-VALUE")
        .query(&mut o)
        .unwrap();
    assert!(empty.is_empty());

    // The digest sees a value, its place in a list, an expiry and the database.
    let changes: &[&[&str]] = &[
        &["SETRANGE", "s:short", "0", "j"],
        &["LMOVE", "l:small", "l:small", "LEFT", "RIGHT"],
        &["PERSIST", "h:large"],
        &["EXPIRE", "s:int", "1000"],
        &["MOVE", "s:leading0", "5"],
    ];
    for change in changes {
        let before = digest(&mut o);
        let _: redis::Value = redis::cmd(change[0])
            .arg(&change[1..])
            .query(&mut o)
            .unwrap();
        let _: redis::Value = redis::cmd(change[0])
            .arg(&change[1..])
            .query(&mut r)
            .unwrap();
        let after = digest(&mut o);
        assert_ne!(after, before, "{change:?}");
        assert_eq!(after, digest(&mut r), "{change:?}");
    }
}

/// The fields of a DEBUG OBJECT line, without the ones that differ by nature (the
/// address, the access stamp).
fn object_fields(con: &mut Connection, key: &str) -> Vec<(String, String)> {
    let line = debug_line(con, &["OBJECT", key]).unwrap();
    let line = line.strip_prefix("Value at:").expect(&line);
    line.split(' ')
        .skip(1)
        .map(|field| {
            let (name, value) = field.split_once(':').expect(field);
            (name.to_string(), value.to_string())
        })
        .filter(|(name, _)| name != "lru" && name != "lru_seconds_idle")
        .collect()
}

#[test]
fn debug_object_describes_values_as_redis_does() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let roost = TestServer::with_config(|c| c.enable_debug_command = "yes".into());
    let mut r = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut o = roost.client();
    fill(&mut r);
    fill(&mut o);
    // Keys whose serialization is the same on both: no LZF (each implementation finds
    // its own matches) and no non-integer sorted-set scores (7.0 prints them with 17
    // digits inside a listpack, 7.2 and Roost in the shortest form).
    for key in [
        "s:int", "s:short", "s:binary", "l:small", "h:small", "si:small",
    ] {
        assert_eq!(
            object_fields(&mut o, key),
            object_fields(&mut r, key),
            "{key}"
        );
    }
    // A large list's nodes are compressed; its quicklist is the same.
    let without_length = |fields: Vec<(String, String)>| -> Vec<(String, String)> {
        fields
            .into_iter()
            .filter(|(name, _)| name != "serializedlength")
            .collect()
    };
    let list = without_length(object_fields(&mut o, "l:large"));
    assert_eq!(list, without_length(object_fields(&mut r, "l:large")));
    assert!(
        list.iter().any(|(n, v)| n == "ql_nodes" && v != "1"),
        "{list:?}"
    );
    for con in [&mut r, &mut o] {
        let missing = debug_line(con, &["OBJECT", "no-such-key"]).unwrap_err();
        assert_eq!(error_text(&missing), "ERR no such key");
    }
}

/// A primary and its replica, both with DEBUG allowed, in directories of their own.
struct Pair {
    // Declared before the directories: the servers stop before their files go.
    primary: Roost,
    replica: Roost,
    primary_dir: TempDir,
    replica_dir: TempDir,
}

impl Pair {
    fn start(name: &str) -> Pair {
        let primary_dir = TempDir::new(&format!("{name}-primary"));
        let replica_dir = TempDir::new(&format!("{name}-replica"));
        let primary = Roost::start(&primary_dir.0, &["--enable-debug-command", "yes"]);
        let port = primary.port.to_string();
        let replica = Roost::start(
            &replica_dir.0,
            &[
                "--enable-debug-command",
                "yes",
                "--replicaof",
                "127.0.0.1",
                &port,
            ],
        );
        Pair {
            primary,
            replica,
            primary_dir,
            replica_dir,
        }
    }
}

#[test]
fn debug_reload_round_trips_through_the_file_and_keeps_log_and_replica_in_step() {
    // Directories bound first, so they are dropped after the servers.
    let Pair {
        primary_dir,
        replica_dir: _replica_dir,
        primary,
        replica,
    } = Pair::start("debug-reload");
    let mut p = primary.client();
    let mut r = replica.client();
    fill(&mut p);
    let filled = digest(&mut p);

    // Save, flush and load: the same data.
    assert_eq!(debug_line(&mut p, &["RELOAD"]).unwrap(), "OK");
    assert_eq!(digest(&mut p), filled);
    assert!(primary_dir.0.join("dump.rdb").exists());

    // NOSAVE loads the file as it was: a later write is undone, on the replica too.
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("1")
        .query(&mut p)
        .unwrap();
    assert_ne!(digest(&mut p), filled);
    assert_eq!(debug_line(&mut p, &["RELOAD", "NOSAVE"]).unwrap(), "OK");
    assert_eq!(digest(&mut p), filled);
    wait_for(
        "the replica to follow the reload",
        Duration::from_secs(30),
        || digest(&mut r) == filled,
    );

    // Without MERGE a key in both the file and memory stops the load; with it, the
    // file's value wins and keys only in memory stay.
    select(&mut p, 0);
    let _: () = redis::cmd("SET")
        .arg("s:short")
        .arg("changed")
        .query(&mut p)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("only-here")
        .arg("1")
        .query(&mut p)
        .unwrap();
    let refused = debug_line(&mut p, &["RELOAD", "NOSAVE", "NOFLUSH"]).unwrap_err();
    assert_eq!(
        error_text(&refused),
        "ERR Error trying to load the RDB dump"
    );
    assert_eq!(
        debug_line(&mut p, &["RELOAD", "NOSAVE", "NOFLUSH", "MERGE"]).unwrap(),
        "OK"
    );
    let short: String = redis::cmd("GET").arg("s:short").query(&mut p).unwrap();
    assert_eq!(short, "hello");
    let here: i64 = redis::cmd("EXISTS").arg("only-here").query(&mut p).unwrap();
    assert_eq!(here, 1);
    let merged = digest(&mut p);
    let bad = debug_line(&mut p, &["RELOAD", "NOW"]).unwrap_err();
    assert_eq!(
        error_text(&bad),
        "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."
    );

    // The log holds what the reloads made: a restart comes back with it.
    wait_for(
        "the replica to follow the merge",
        Duration::from_secs(30),
        || digest(&mut r) == merged,
    );
    drop(r);
    drop(replica);
    primary.shutdown();
    let again = Roost::start(&primary_dir.0, &["--enable-debug-command", "yes"]);
    assert_eq!(digest(&mut again.client()), merged);
}

#[test]
fn debug_change_repl_id_starts_a_new_history() {
    let server = TestServer::with_config(|c| c.enable_debug_command = "yes".into());
    let mut con = server.client();
    let before = info_field(&mut con, "replication", "master_replid");
    assert_eq!(debug_line(&mut con, &["CHANGE-REPL-ID"]).unwrap(), "OK");
    let after = info_field(&mut con, "replication", "master_replid");
    assert_ne!(after, before);
    assert_eq!(after.len(), 40);
    assert_eq!(
        info_field(&mut con, "replication", "master_replid2"),
        "0".repeat(40)
    );
}

#[test]
fn debug_populate_writes_its_keys_to_the_log_and_to_replicas() {
    // Redis leaves what DEBUG POPULATE creates out of its AOF and its replicas' streams;
    // Roost logs each key as a SET, so a restart and a replica hold what memory held.
    let Pair {
        primary_dir,
        replica_dir: _replica_dir,
        primary,
        replica,
    } = Pair::start("debug-populate");
    let mut p = primary.client();
    let _: () = redis::cmd("SET")
        .arg("key:1")
        .arg("kept")
        .query(&mut p)
        .unwrap();
    assert_eq!(
        debug_line(&mut p, &["POPULATE", "1000", "key", "20"]).unwrap(),
        "OK"
    );
    let populated = digest(&mut p);
    let dbsize: i64 = redis::cmd("DBSIZE").query(&mut p).unwrap();
    assert_eq!(dbsize, 1000);
    let mut r = replica.client();
    wait_for(
        "the replica to hold the keys",
        Duration::from_secs(10),
        || digest(&mut r) == populated,
    );
    let kept: String = redis::cmd("GET").arg("key:1").query(&mut r).unwrap();
    assert_eq!(kept, "kept");
    drop(replica);
    primary.shutdown();
    let primary = Roost::start(&primary_dir.0, &["--enable-debug-command", "yes"]);
    assert_eq!(digest(&mut primary.client()), populated);
}
