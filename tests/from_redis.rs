//! Roost as a replica of a live redis-server (Debian's 7.0.15), real binaries on both
//! sides: the RDB transfer from disk and diskless loads every type equal, the command
//! stream under a write load (MULTI/EXEC, scripts' effects, expiry DELs, SELECT)
//! converges with Redis's byte offsets, a killed link resumes with `+CONTINUE`, WAIT on
//! Redis counts the Roost replica, a Roost replica of the Roost replica follows, and
//! `REPLICAOF NO ONE` keeps the data and takes writes (also after a restart), as does
//! a promotion by Debian's redis-sentinel when Redis dies.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::dataset::{assert_same_description, describe_dropping, populate, pttl};
use common::process::{wait_for, RedisServer, Roost, TempDir};
use redis::Connection;

fn connect(url: &str) -> Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

fn info_field(con: &mut Connection, section: &str, name: &str) -> Option<String> {
    let info: String = redis::cmd("INFO").arg(section).query(con).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
}

/// A redis-server with its files in `dir`, transferring to replicas from disk or
/// diskless.
fn redis_primary(dir: &TempDir, diskless: bool) -> RedisServer {
    RedisServer::start_with(&[
        "--dir",
        dir.0.to_str().unwrap(),
        "--repl-diskless-sync",
        if diskless { "yes" } else { "no" },
        "--repl-diskless-sync-delay",
        "0",
        // The writers fill Redis's default 1 MB in less than the second a link is down.
        "--repl-backlog-size",
        "256mb",
        "--logfile",
        dir.0.join("redis.log").to_str().unwrap(),
    ])
}

/// A Roost with its log on, told to follow `redis`.
fn roost_replica_of(dir: &TempDir, redis: &RedisServer) -> Roost {
    let roost = Roost::start(&dir.0, &["--appendonly", "yes"]);
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(redis.port)
        .query(&mut roost.client())
        .unwrap();
    roost
}

/// Waits until the replica's link is up and it has applied everything Redis has sent,
/// by Redis's own byte count.
fn wait_in_sync(redis: &mut Connection, replica: &mut Connection) {
    wait_for("the replica to catch up", Duration::from_secs(60), || {
        let up = info_field(replica, "replication", "master_link_status").as_deref() == Some("up");
        let want = info_field(redis, "replication", "master_repl_offset");
        let have = info_field(replica, "replication", "slave_repl_offset");
        up && want.is_some() && want == have
    });
}

fn select(con: &mut Connection, db: i64) {
    let _: () = redis::cmd("SELECT").arg(db).query(con).unwrap();
}

/// Both servers hold the same keys in every database, with the same types,
/// encodings, values and TTLs (within the time the comparison takes); returns how many.
fn assert_same(a: &mut Connection, b: &mut Connection) -> usize {
    let mut total = 0;
    for db in 0..16 {
        select(a, db);
        select(b, db);
        let mut ka: Vec<String> = redis::cmd("KEYS").arg("*").query(a).unwrap();
        let mut kb: Vec<String> = redis::cmd("KEYS").arg("*").query(b).unwrap();
        ka.sort();
        kb.sort();
        assert_eq!(ka, kb, "keys of db {db}");
        for key in &ka {
            // The transfer is applied as commands, as a log replay is: a consumer's
            // seen-time becomes the time it was recreated.
            assert_same_description(
                &describe_dropping(a, key, &["seen-time"]),
                &describe_dropping(b, key, &["seen-time"]),
                &format!("db {db} key {key}"),
            );
            let (ta, tb) = (pttl(a, key), pttl(b, key));
            assert!(
                (ta - tb).abs() < 10_000 && (ta < 0) == (tb < 0),
                "db {db} {key}: TTL {ta} vs {tb}"
            );
        }
        total += ka.len();
    }
    select(a, 0);
    select(b, 0);
    total
}

/// Every type in small and large encodings with TTLs in db 0, a few keys in dbs 3
/// and 9, and a function library.
fn fill(con: &mut Connection) -> usize {
    let keys = populate(con).len();
    for db in [3, 9] {
        select(con, db);
        let _: () = redis::cmd("SET")
            .arg(format!("in-db-{db}"))
            .arg(db)
            .query(con)
            .unwrap();
        let _: () = redis::cmd("HSET")
            .arg("h")
            .arg("db")
            .arg(db)
            .query(con)
            .unwrap();
        let _: () = redis::cmd("PEXPIRE")
            .arg("h")
            .arg(900_000)
            .query(con)
            .unwrap();
    }
    select(con, 0);
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("#!lua name=migrated\nredis.register_function{function_name='hello', callback=function() return 'from redis' end, flags={'no-writes'}}")
        .query(con)
        .unwrap();
    keys + 4
}

fn loads_every_type(name: &str, diskless: bool) {
    let (rdir, odir) = (TempDir::new(&format!("{name}-r")), TempDir::new(name));
    let redis = redis_primary(&rdir, diskless);
    let mut r = connect(&redis.url());
    let keys = fill(&mut r);
    let roost = roost_replica_of(&odir, &redis);
    let mut o = roost.client();
    wait_in_sync(&mut r, &mut o);
    assert_eq!(assert_same(&mut r, &mut o), keys);
    let hello: String = redis::cmd("FCALL")
        .arg("hello")
        .arg(0)
        .query(&mut o)
        .unwrap();
    assert_eq!(hello, "from redis");
    let stats: String = redis::cmd("INFO").arg("stats").query(&mut r).unwrap();
    assert!(stats.contains("sync_full:1\r\n"), "{stats}");
    // Live writes after the transfer arrive too.
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("sync")
        .query(&mut r)
        .unwrap();
    wait_in_sync(&mut r, &mut o);
    assert_eq!(assert_same(&mut r, &mut o), keys + 1);
}

#[test]
fn a_replica_of_redis_loads_every_type_from_a_transfer_from_disk() {
    loads_every_type("from-redis-disk", false);
}

#[test]
fn a_replica_of_redis_loads_every_type_from_a_diskless_transfer() {
    loads_every_type("from-redis-diskless", true);
}

/// Writers on Redis until `stop`: plain writes, MULTI/EXEC, a script that writes,
/// keys that expire, writes in database 5.
fn start_writers(redis: &RedisServer, stop: &Arc<AtomicBool>) -> Vec<thread::JoinHandle<()>> {
    (0..3)
        .map(|w| {
            let mut con = connect(&redis.url());
            let stop = stop.clone();
            thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{w}:{}", i % 300);
                    let _: redis::Value = match i % 9 {
                        0 => redis::cmd("DEL").arg(&key).query(&mut con),
                        1 => redis::cmd("HSET")
                            .arg(format!("h{w}:{}", i % 40))
                            .arg(i % 13)
                            .arg(i)
                            .query(&mut con),
                        2 => redis::cmd("ZADD")
                            .arg(format!("z{w}"))
                            .arg(i % 1000)
                            .arg(format!("m{}", i % 200))
                            .query(&mut con),
                        3 => redis::cmd("SET")
                            .arg(format!("short{w}:{i}"))
                            .arg(i)
                            .arg("PX")
                            .arg(30)
                            .query(&mut con),
                        4 => redis::pipe()
                            .atomic()
                            .cmd("INCR")
                            .arg(format!("c{w}"))
                            .cmd("RPUSH")
                            .arg(format!("l{w}"))
                            .arg(i)
                            .cmd("EXPIRE")
                            .arg(&key)
                            .arg(1000)
                            .query(&mut con),
                        5 => redis::cmd("EVAL")
                            .arg("redis.call('INCRBY', KEYS[1], ARGV[1]); redis.call('SADD', KEYS[2], ARGV[1]); return redis.call('LPOP', KEYS[3])")
                            .arg(3)
                            .arg(format!("e{w}"))
                            .arg(format!("es{w}"))
                            .arg(format!("l{w}"))
                            .arg(i % 50)
                            .query(&mut con),
                        6 => redis::pipe()
                            .cmd("SELECT")
                            .arg(5)
                            .cmd("SET")
                            .arg(&key)
                            .arg(i)
                            .cmd("SELECT")
                            .arg(0)
                            .query(&mut con),
                        _ => redis::cmd("SET")
                            .arg(&key)
                            .arg(format!("value-{i}"))
                            .arg("PX")
                            .arg(500_000 + i)
                            .query(&mut con),
                    }
                    .unwrap();
                    i += 1;
                }
            })
        })
        .collect()
}

/// Stops the writers, lets the short TTLs run out and Redis delete those keys (its
/// DELs go down the stream), then waits until the replica has it all.
fn stop_and_settle(
    stop: &AtomicBool,
    writers: Vec<thread::JoinHandle<()>>,
    r: &mut Connection,
    o: &mut Connection,
) {
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    wait_for(
        "Redis to expire the short keys",
        Duration::from_secs(30),
        || {
            let keys: Vec<String> = redis::cmd("KEYS").arg("short*").query(r).unwrap();
            keys.is_empty()
        },
    );
    wait_in_sync(r, o);
}

#[test]
fn a_replica_of_redis_converges_under_a_write_load() {
    let (rdir, odir) = (
        TempDir::new("from-redis-load-r"),
        TempDir::new("from-redis-load"),
    );
    let redis = redis_primary(&rdir, true);
    let mut r = connect(&redis.url());
    fill(&mut r);
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&redis, &stop);
    thread::sleep(Duration::from_millis(300));
    // The replica attaches mid-load: the transfer and the stream after it must meet.
    let roost = roost_replica_of(&odir, &redis);
    let mut o = roost.client();
    thread::sleep(Duration::from_millis(2500));
    stop_and_settle(&stop, writers, &mut r, &mut o);
    let keys = assert_same(&mut r, &mut o);
    assert!(keys > 500, "the load wrote too little: {keys}");
    let stats: String = redis::cmd("INFO").arg("stats").query(&mut r).unwrap();
    assert!(stats.contains("expired_keys:"), "{stats}");
    let expired: u64 = info_field(&mut r, "stats", "expired_keys")
        .unwrap()
        .parse()
        .unwrap();
    assert!(expired > 0, "no key expired on Redis during the load");
}

#[test]
fn a_killed_link_resumes_with_a_partial_resync() {
    let (rdir, odir) = (
        TempDir::new("from-redis-psync-r"),
        TempDir::new("from-redis-psync"),
    );
    let redis = redis_primary(&rdir, false);
    let mut r = connect(&redis.url());
    fill(&mut r);
    let roost = roost_replica_of(&odir, &redis);
    let mut o = roost.client();
    wait_in_sync(&mut r, &mut o);
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&redis, &stop);
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(500));
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("replica")
            .query(&mut r)
            .unwrap();
        assert_eq!(
            killed,
            1,
            "{}",
            std::fs::read_to_string(rdir.0.join("redis.log")).unwrap()
        );
        // Redis goes on writing while the link is down (the replica may still be
        // applying what it had received when it notices).
        wait_for(
            "the replica to see the link down",
            Duration::from_secs(30),
            || info_field(&mut o, "replication", "master_link_status").as_deref() == Some("down"),
        );
        wait_for("the link to come back", Duration::from_secs(30), || {
            info_field(&mut o, "replication", "master_link_status").as_deref() == Some("up")
        });
    }
    stop_and_settle(&stop, writers, &mut r, &mut o);
    assert_same(&mut r, &mut o);
    let log = std::fs::read_to_string(rdir.0.join("redis.log")).unwrap();
    assert_eq!(
        info_field(&mut r, "stats", "sync_full").as_deref(),
        Some("1"),
        "{log}"
    );
    assert_eq!(
        info_field(&mut r, "stats", "sync_partial_ok").as_deref(),
        Some("3")
    );
}

#[test]
fn wait_on_redis_counts_the_roost_replica_and_offsets_match() {
    let (rdir, odir) = (
        TempDir::new("from-redis-wait-r"),
        TempDir::new("from-redis-wait"),
    );
    let redis = redis_primary(&rdir, true);
    let mut r = connect(&redis.url());
    let roost = roost_replica_of(&odir, &redis);
    let mut o = roost.client();
    wait_in_sync(&mut r, &mut o);
    for i in 0..20 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut r)
            .unwrap();
        // WAIT sends REPLCONF GETACK; the replica's ACK must cover the write.
        let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut r).unwrap();
        assert_eq!(acked, 1, "write {i}");
    }
    wait_in_sync(&mut r, &mut o);
    let offset = info_field(&mut r, "replication", "master_repl_offset").unwrap();
    // Redis's view of the replica: its acknowledged offset is Redis's own.
    wait_for(
        "Redis to see the replica's offset",
        Duration::from_secs(10),
        || {
            info_field(&mut r, "replication", "slave0").is_some_and(|s| {
                s.contains(&format!("offset={offset},")) && s.contains("state=online")
            })
        },
    );
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut o).unwrap();
    assert_eq!(role[4], redis::Value::Int(offset.parse().unwrap()));
    assert_eq!(
        info_field(&mut o, "replication", "master_replid"),
        info_field(&mut r, "replication", "master_replid")
    );
    assert_eq!(
        info_field(&mut o, "replication", "master_sync_in_progress").as_deref(),
        Some("0")
    );
}

#[test]
fn a_roost_replica_of_the_roost_replica_follows_redis() {
    let (rdir, odir, sdir) = (
        TempDir::new("from-redis-chain-r"),
        TempDir::new("from-redis-chain"),
        TempDir::new("from-redis-chain-s"),
    );
    let redis = redis_primary(&rdir, true);
    let mut r = connect(&redis.url());
    fill(&mut r);
    let roost = roost_replica_of(&odir, &redis);
    let mut o = roost.client();
    wait_in_sync(&mut r, &mut o);
    let sub = Roost::start(
        &sdir.0,
        &["--replicaof", &format!("127.0.0.1 {}", roost.port)],
    );
    let mut s = sub.client();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&redis, &stop);
    thread::sleep(Duration::from_millis(1500));
    stop_and_settle(&stop, writers, &mut r, &mut o);
    // The sub-replica follows the Roost replica's own numbering.
    wait_for(
        "the sub-replica to catch up",
        Duration::from_secs(60),
        || {
            let up =
                info_field(&mut s, "replication", "master_link_status").as_deref() == Some("up");
            let lsn = info_field(&mut s, "replication", "slave_repl_offset");
            let slaves = info_field(&mut o, "replication", "slave0");
            up && lsn.is_some_and(|l| slaves.is_some_and(|s| s.contains(&format!("offset={l},"))))
        },
    );
    thread::sleep(Duration::from_millis(200));
    assert_same(&mut r, &mut s);
}

#[test]
fn replicaof_no_one_keeps_the_data_and_takes_writes() {
    let (rdir, odir) = (
        TempDir::new("from-redis-promote-r"),
        TempDir::new("from-redis-promote"),
    );
    let redis = redis_primary(&rdir, false);
    let mut r = connect(&redis.url());
    let keys = fill(&mut r);
    let roost = roost_replica_of(&odir, &redis);
    let mut o = roost.client();
    wait_in_sync(&mut r, &mut o);
    let refused: redis::RedisResult<()> = redis::cmd("SET").arg("x").arg(1).query(&mut o);
    assert_eq!(refused.unwrap_err().code(), Some("READONLY"));
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut o)
        .unwrap();
    assert_eq!(
        info_field(&mut o, "replication", "role").as_deref(),
        Some("master")
    );
    assert_eq!(assert_same(&mut r, &mut o), keys);
    let _: () = redis::cmd("SET")
        .arg("written-on-roost")
        .arg(1)
        .query(&mut o)
        .unwrap();
    // Redis no longer reaches it.
    let _: () = redis::cmd("SET")
        .arg("written-on-redis")
        .arg(1)
        .query(&mut r)
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    let on_roost: Option<String> = redis::cmd("GET")
        .arg("written-on-redis")
        .query(&mut o)
        .unwrap();
    assert_eq!(on_roost, None);
    // The promoted server's log has it all: after a restart, the same data.
    drop(o);
    roost.kill9();
    let roost = Roost::start(&odir.0, &["--appendonly", "yes"]);
    let mut o = roost.client();
    let _: () = redis::cmd("DEL")
        .arg("written-on-redis")
        .query(&mut r)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("written-on-roost")
        .arg(1)
        .query(&mut r)
        .unwrap();
    assert_eq!(assert_same(&mut r, &mut o), keys + 1);
}

/// Debian's redis-sentinel, monitoring the Redis primary, finds the Roost replica in
/// Redis's INFO; when Redis dies it promotes Roost, which keeps every key.
#[test]
fn sentinel_promotes_the_roost_replica_when_redis_dies() {
    let (rdir, odir, sdir) = (
        TempDir::new("from-redis-sentinel-r"),
        TempDir::new("from-redis-sentinel"),
        TempDir::new("from-redis-sentinel-s"),
    );
    let redis = redis_primary(&rdir, true);
    let mut r = connect(&redis.url());
    let keys = fill(&mut r);
    let roost = roost_replica_of(&odir, &redis);
    let mut o = roost.client();
    wait_in_sync(&mut r, &mut o);
    let expected: Vec<(String, String)> = {
        let mut names: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut r).unwrap();
        names.sort();
        names
            .into_iter()
            .map(|k| {
                let d = describe_dropping(&mut r, &k, &["seen-time"]);
                (k, d)
            })
            .collect()
    };
    let sentinel_port = common::process::free_port();
    let conf = sdir.0.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {sentinel_port}\nbind 127.0.0.1\ndir {}\n\
             sentinel monitor mymaster 127.0.0.1 {} 1\n\
             sentinel down-after-milliseconds mymaster 2000\n\
             sentinel failover-timeout mymaster 10000\nlogfile {}\n",
            sdir.0.display(),
            redis.port,
            sdir.0.join("sentinel.log").display(),
        ),
    )
    .unwrap();
    let _sentinel = common::process::Process(
        std::process::Command::new("redis-sentinel")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-sentinel is needed (apt-get install redis-sentinel)"),
    );
    let sentinel_says = |what: &str| -> Option<redis::Value> {
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{sentinel_port}/"))
            .ok()?
            .get_connection()
            .ok()?;
        redis::cmd("SENTINEL")
            .arg(what)
            .arg("mymaster")
            .query(&mut con)
            .ok()
    };
    let _explain = Explain(sdir.0.join("sentinel.log"));
    wait_for(
        "Sentinel to find the Roost replica",
        Duration::from_secs(30),
        || matches!(sentinel_says("replicas"), Some(redis::Value::Array(v)) if v.len() == 1),
    );
    drop(r);
    drop(redis);
    wait_for("Sentinel to promote Roost", Duration::from_secs(60), || {
        let addr = sentinel_says("get-master-addr-by-name");
        let promoted = matches!(&addr, Some(redis::Value::Array(v))
            if v.get(1) == Some(&redis::Value::BulkString(roost.port.to_string().into_bytes())));
        // Sentinel closes the clients of the promoted server (CLIENT KILL TYPE normal).
        let role = roost
            .try_client()
            .ok()
            .and_then(|mut c| info_field(&mut c, "replication", "role"));
        promoted && role.as_deref() == Some("master")
    });
    let mut o = roost.client();
    let mut names: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut o).unwrap();
    names.sort();
    let kept: Vec<(String, String)> = names
        .into_iter()
        .map(|k| {
            let d = describe_dropping(&mut o, &k, &["seen-time"]);
            (k, d)
        })
        .collect();
    assert_eq!(kept, expected);
    assert_eq!(
        kept.len() + 4,
        keys,
        "db 0 holds all but the four keys in dbs 3 and 9"
    );
    let _: () = redis::cmd("SET")
        .arg("after-failover")
        .arg(1)
        .query(&mut o)
        .unwrap();
}

/// Prints a file if the test fails after it was made.
struct Explain(std::path::PathBuf);

impl Drop for Explain {
    fn drop(&mut self) {
        if thread::panicking() {
            let dir = self.0.parent().unwrap();
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                eprintln!("== {}", entry.path().display());
                eprintln!(
                    "{}",
                    std::fs::read_to_string(entry.path()).unwrap_or_default()
                );
            }
        }
    }
}

#[test]
fn a_replica_of_redis_authenticates_with_masteruser_and_masterauth() {
    let (rdir, odir) = (
        TempDir::new("from-redis-auth-r"),
        TempDir::new("from-redis-auth"),
    );
    let redis = RedisServer::start_with(&["--dir", rdir.0.to_str().unwrap()]);
    let mut r = connect(&redis.url());
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("s3cret")
        .query(&mut r)
        .unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut r).unwrap();
    let roost = Roost::start(
        &odir.0,
        &[
            "--masteruser",
            "default",
            "--masterauth",
            "s3cret",
            "--replicaof",
            &format!("127.0.0.1 {}", redis.port),
        ],
    );
    let mut o = roost.client();
    wait_in_sync(&mut r, &mut o);
    let v: String = redis::cmd("GET").arg("k").query(&mut o).unwrap();
    assert_eq!(v, "v");
    // A wrong password never gets the data.
    let odir2 = TempDir::new("from-redis-auth-wrong");
    let wrong = Roost::start(
        &odir2.0,
        &[
            "--masteruser",
            "default",
            "--masterauth",
            "nope",
            "--replicaof",
            &format!("127.0.0.1 {}", redis.port),
        ],
    );
    thread::sleep(Duration::from_millis(1500));
    let mut w = wrong.client();
    assert_eq!(
        info_field(&mut w, "replication", "master_link_status").as_deref(),
        Some("down")
    );
    let nothing: Option<String> = redis::cmd("GET").arg("k").query(&mut w).unwrap();
    assert_eq!(nothing, None);
}
