//! Replication end to end with real binaries: a primary and replicas as separate
//! processes, real clients, `kill -9`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

mod common;
use common::inprocess::InProcess;
use common::process::{wait_for, Roost, TempDir};

fn replica_of(primary: &Roost) -> String {
    format!("127.0.0.1 {}", primary.port)
}

fn info_field(con: &mut redis::Connection, section: &str, name: &str) -> Option<String> {
    let info: String = redis::cmd("INFO").arg(section).query(con).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
}

/// Waits until the replica's link is up and it has applied everything the primary has.
fn wait_in_sync(primary: &Roost, replica: &Roost) {
    let mut p = primary.client();
    let mut r = replica.client();
    wait_for("the replica to catch up", Duration::from_secs(60), || {
        let up = info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up");
        let want = info_field(&mut p, "replication", "master_repl_offset");
        let have = info_field(&mut r, "replication", "slave_repl_offset");
        up && want.is_some() && want == have
    });
}

/// Every key of database 0 with its type, value and absolute expiry time.
fn dump(con: &mut redis::Connection) -> BTreeMap<String, (String, String, i64)> {
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(con).unwrap();
    let mut out = BTreeMap::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query(con).unwrap();
        let value = match kind.as_str() {
            "string" => redis::cmd("GET")
                .arg(&key)
                .query::<Option<String>>(con)
                .unwrap()
                .unwrap_or_default(),
            "hash" => {
                let map: BTreeMap<String, String> =
                    redis::cmd("HGETALL").arg(&key).query(con).unwrap();
                format!("{map:?}")
            }
            "set" => {
                let mut members: Vec<String> = redis::cmd("SMEMBERS").arg(&key).query(con).unwrap();
                members.sort();
                format!("{members:?}")
            }
            "none" => continue,
            other => panic!("unexpected type {other}"),
        };
        let at: i64 = redis::cmd("PEXPIRETIME").arg(&key).query(con).unwrap();
        out.insert(key, (kind, value, at));
    }
    out
}

#[test]
fn a_new_replica_receives_100000_sessions_then_the_live_stream() {
    let (pdir, rdir) = (
        TempDir::new("repl-initial-p"),
        TempDir::new("repl-initial-r"),
    );
    let primary = Roost::start(&pdir.0, &[]);
    let mut p = primary.client();
    for batch in 0..100 {
        let mut pipe = redis::pipe();
        for i in batch * 1000..(batch + 1) * 1000 {
            pipe.cmd("SET")
                .arg(format!("session:{i}"))
                .arg(format!("{{\"user\":{i},\"cart\":[1,2,3]}}"))
                .arg("EX")
                .arg(3600)
                .ignore();
        }
        let () = pipe.query(&mut p).unwrap();
    }
    let () = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut p)
        .unwrap();
    let () = redis::cmd("SADD")
        .arg("s")
        .arg("a")
        .arg("b")
        .query(&mut p)
        .unwrap();

    let replica = Roost::start(&rdir.0, &["--replicaof", &replica_of(&primary)]);
    wait_in_sync(&primary, &replica);
    let mut r = replica.client();
    let size: u64 = redis::cmd("DBSIZE").query(&mut r).unwrap();
    assert_eq!(size, 100_002);
    for i in [0, 4242, 99_999] {
        let key = format!("session:{i}");
        let want: String = redis::cmd("GET").arg(&key).query(&mut p).unwrap();
        let have: String = redis::cmd("GET").arg(&key).query(&mut r).unwrap();
        assert_eq!(have, want);
        let want_at: i64 = redis::cmd("PEXPIRETIME").arg(&key).query(&mut p).unwrap();
        let have_at: i64 = redis::cmd("PEXPIRETIME").arg(&key).query(&mut r).unwrap();
        assert_eq!(have_at, want_at, "TTL of {key}");
    }
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1")
    );

    // The live stream follows, and WAIT counts the replica's acknowledgement.
    let () = redis::cmd("SET")
        .arg("after")
        .arg("sync")
        .query(&mut p)
        .unwrap();
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert_eq!(acked, 1);
    let after: String = redis::cmd("GET").arg("after").query(&mut r).unwrap();
    assert_eq!(after, "sync");
    let role: redis::Value = redis::cmd("ROLE").query(&mut r).unwrap();
    let role = format!("{role:?}");
    assert!(
        role.contains("slave") && role.contains("connected"),
        "{role}"
    );
    let role: redis::Value = redis::cmd("ROLE").query(&mut p).unwrap();
    assert!(format!("{role:?}").contains(&replica.port.to_string()));
}

#[test]
fn replicas_refuse_writes_and_serve_reads() {
    let (pdir, rdir) = (TempDir::new("repl-ro-p"), TempDir::new("repl-ro-r"));
    let primary = Roost::start(&pdir.0, &[]);
    let replica = Roost::start(&rdir.0, &["--replicaof", &replica_of(&primary)]);
    let () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut primary.client())
        .unwrap();
    wait_in_sync(&primary, &replica);
    let mut r = replica.client();
    let err = redis::cmd("SET")
        .arg("k")
        .arg("x")
        .query::<()>(&mut r)
        .unwrap_err();
    assert_eq!(err.code(), Some("READONLY"));
    assert_eq!(
        err.detail(),
        Some("You can't write against a read only replica.")
    );
    let v: String = redis::cmd("GET").arg("k").query(&mut r).unwrap();
    assert_eq!(v, "v");
    let err = redis::cmd("WAIT")
        .arg(0)
        .arg(0)
        .query::<i64>(&mut r)
        .unwrap_err();
    assert!(err
        .to_string()
        .contains("WAIT cannot be used with replica instances"));
    assert_eq!(
        info_field(&mut r, "replication", "role").as_deref(),
        Some("slave")
    );
    assert_eq!(
        info_field(&mut r, "replication", "slave_read_only").as_deref(),
        Some("1")
    );
}

#[test]
fn the_stream_under_a_concurrent_write_load_converges() {
    let (pdir, rdir) = (TempDir::new("repl-load-p"), TempDir::new("repl-load-r"));
    let primary = Roost::start(&pdir.0, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let mut con = primary.client();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{w}:{}", i % 500);
                    let _: redis::Value = match i % 7 {
                        0 => redis::cmd("DEL").arg(&key).query(&mut con),
                        1 => redis::cmd("HSET")
                            .arg(format!("h{w}:{}", i % 50))
                            .arg(i % 13)
                            .arg(i)
                            .query(&mut con),
                        2 => redis::cmd("SADD")
                            .arg(format!("s{w}:{}", i % 50))
                            .arg(i % 17)
                            .query(&mut con),
                        3 => redis::cmd("EXPIRE")
                            .arg(&key)
                            .arg(1000 + i % 100)
                            .query(&mut con),
                        4 => redis::pipe()
                            .atomic()
                            .cmd("INCR")
                            .arg(format!("c{w}"))
                            .cmd("SET")
                            .arg(&key)
                            .arg(i)
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
        .collect();
    thread::sleep(Duration::from_millis(300));
    // The replica attaches mid-load: its snapshot and the stream after it must meet.
    let replica = Roost::start(&rdir.0, &["--replicaof", &replica_of(&primary)]);
    thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    wait_in_sync(&primary, &replica);
    let want = dump(&mut primary.client());
    assert!(
        want.len() > 100,
        "the load wrote too little: {}",
        want.len()
    );
    assert_eq!(dump(&mut replica.client()), want);
}

#[test]
fn expiry_reaches_the_replica_as_a_del_from_the_primary() {
    let (pdir, rdir) = (TempDir::new("repl-exp-p"), TempDir::new("repl-exp-r"));
    let primary = Roost::start(&pdir.0, &[]);
    let replica = Roost::start(&rdir.0, &["--replicaof", &replica_of(&primary)]);
    let mut p = primary.client();
    let () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(300)
        .query(&mut p)
        .unwrap();
    let () = redis::cmd("SET")
        .arg("long")
        .arg("v")
        .query(&mut p)
        .unwrap();
    wait_in_sync(&primary, &replica);
    let mut r = replica.client();
    let size: u64 = redis::cmd("DBSIZE").query(&mut r).unwrap();
    assert_eq!(size, 2);
    // The primary's active expiry removes the key and streams a DEL, which is what
    // removes it on the replica (replicas never delete expired keys themselves).
    wait_for(
        "the replica to drop the expired key",
        Duration::from_secs(10),
        || redis::cmd("DBSIZE").query::<u64>(&mut r).unwrap() == 1,
    );
    let v: Option<String> = redis::cmd("GET").arg("short").query(&mut r).unwrap();
    assert_eq!(v, None);
}

#[test]
fn a_replica_hides_an_expired_key_until_the_primarys_del_arrives() {
    // In process, on a manual clock: a replica whose primary is unreachable, so no DEL
    // can arrive, and a key the primary sent that expires while the link is down.
    let replica = InProcess::with_config(|c| c.replicaof = Some(("127.0.0.1".into(), 1)));
    let expires_at = (replica.clock.now_ms() + 200).to_string();
    replica.apply_record(1, &[b"SET", b"k", b"v", b"PXAT", expires_at.as_bytes()]);
    replica.advance_ms(400);
    let mut r = replica.client();
    // An expired key reads as absent on a replica...
    r.roundtrip(&[b"GET", b"k"], b"$-1\r\n");
    // ...but stays until the primary deletes it.
    r.roundtrip(&[b"DBSIZE"], b":1\r\n");
    // With replica-serve-stale-data no, a replica without its primary refuses reads.
    r.roundtrip(
        &[b"CONFIG", b"SET", b"replica-serve-stale-data", b"no"],
        b"+OK\r\n",
    );
    let err = String::from_utf8(r.call(&[b"GET", b"k"])).unwrap();
    assert!(err.starts_with("-MASTERDOWN "), "{err}");
    let info = String::from_utf8(r.call(&[b"INFO", b"replication"])).unwrap();
    assert!(info.contains("master_link_status:down"), "{info}");
    assert!(info.contains("master_link_down_since_seconds:"), "{info}");
    // The primary's DEL is what removes it.
    replica.apply_record(2, &[b"DEL", b"k"]);
    r.roundtrip(
        &[b"CONFIG", b"SET", b"replica-serve-stale-data", b"yes"],
        b"+OK\r\n",
    );
    r.roundtrip(&[b"DBSIZE"], b":0\r\n");
}

#[test]
fn a_replica_killed_and_restarted_resumes_with_a_partial_resync() {
    let (pdir, rdir) = (
        TempDir::new("repl-partial-p"),
        TempDir::new("repl-partial-r"),
    );
    let primary = Roost::start(&pdir.0, &[]);
    let replica = Roost::start(
        &rdir.0,
        &[
            "--replicaof",
            &replica_of(&primary),
            "--appendfsync",
            "always",
        ],
    );
    let mut p = primary.client();
    for i in 0..200 {
        let () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut p)
            .unwrap();
    }
    wait_in_sync(&primary, &replica);
    replica.kill9();
    for i in 200..400 {
        let () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut p)
            .unwrap();
    }
    let replica = Roost::start(&rdir.0, &["--replicaof", &replica_of(&primary)]);
    wait_in_sync(&primary, &replica);
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1")
    );
    assert_eq!(
        info_field(&mut p, "stats", "sync_partial_ok").as_deref(),
        Some("1")
    );
    let mut r = replica.client();
    let size: u64 = redis::cmd("DBSIZE").query(&mut r).unwrap();
    assert_eq!(size, 400);
    let v: String = redis::cmd("GET").arg("k399").query(&mut r).unwrap();
    assert_eq!(v, "399");
}

#[test]
fn a_replica_too_far_behind_for_the_backlog_gets_a_full_sync() {
    let (pdir, rdir) = (TempDir::new("repl-behind-p"), TempDir::new("repl-behind-r"));
    let primary = Roost::start(&pdir.0, &["--repl-backlog-size", "16kb"]);
    let replica = Roost::start(&rdir.0, &["--replicaof", &replica_of(&primary)]);
    let mut p = primary.client();
    let () = redis::cmd("SET")
        .arg("first")
        .arg("1")
        .query(&mut p)
        .unwrap();
    wait_in_sync(&primary, &replica);
    replica.kill9();
    for i in 0..2000 {
        let () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("x".repeat(50))
            .query(&mut p)
            .unwrap();
    }
    let replica = Roost::start(&rdir.0, &["--replicaof", &replica_of(&primary)]);
    wait_in_sync(&primary, &replica);
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("2")
    );
    assert_eq!(
        info_field(&mut p, "stats", "sync_partial_err").as_deref(),
        Some("1")
    );
    let size: u64 = redis::cmd("DBSIZE").query(&mut replica.client()).unwrap();
    assert_eq!(size, 2001);
}

#[test]
fn after_the_primary_dies_a_promoted_replica_has_every_wait_acknowledged_write() {
    let (pdir, rdir) = (
        TempDir::new("repl-promote-p"),
        TempDir::new("repl-promote-r"),
    );
    let primary = Roost::start(&pdir.0, &[]);
    let replica = Roost::start(&rdir.0, &["--replicaof", &replica_of(&primary)]);
    wait_in_sync(&primary, &replica);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let mut con = primary.client();
        let (acked, written) = (acked.clone(), written.clone());
        thread::spawn(move || {
            for i in 0u64.. {
                let key = format!("session:{i}");
                if redis::cmd("SET")
                    .arg(&key)
                    .arg(i)
                    .query::<()>(&mut con)
                    .is_err()
                {
                    return;
                }
                written.store(i + 1, Ordering::Relaxed);
                match redis::cmd("WAIT").arg(1).arg(2000).query::<i64>(&mut con) {
                    Ok(1) => acked.lock().unwrap().push(key),
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        })
    };
    wait_for("some acknowledged writes", Duration::from_secs(20), || {
        acked.lock().unwrap().len() >= 300
    });
    primary.kill9();
    writer.join().unwrap();
    let mut r = replica.client();
    let () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut r)
        .unwrap();
    assert_eq!(
        info_field(&mut r, "replication", "role").as_deref(),
        Some("master")
    );
    let acked = acked.lock().unwrap().clone();
    for key in &acked {
        let v: Option<String> = redis::cmd("GET").arg(key).query(&mut r).unwrap();
        assert!(v.is_some(), "{key} was acknowledged by WAIT but is missing");
    }
    // The promoted replica takes writes, under a new replication id.
    let () = redis::cmd("SET")
        .arg("after")
        .arg("promotion")
        .query(&mut r)
        .unwrap();
    let replid2 = info_field(&mut r, "replication", "master_replid2").unwrap();
    assert_ne!(replid2, "0".repeat(40));
}

#[test]
fn a_promoted_replica_feeds_a_replica_of_its_own_and_keeps_its_data_across_restarts() {
    let dirs = [
        TempDir::new("repl-chain-a"),
        TempDir::new("repl-chain-b"),
        TempDir::new("repl-chain-c"),
    ];
    let a = Roost::start(&dirs[0].0, &[]);
    let b = Roost::start(&dirs[1].0, &["--replicaof", &replica_of(&a)]);
    let c = Roost::start(&dirs[2].0, &["--replicaof", &replica_of(&a)]);
    let mut pa = a.client();
    for i in 0..100 {
        let () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut pa)
            .unwrap();
    }
    wait_in_sync(&a, &b);
    wait_in_sync(&a, &c);
    a.kill9();
    // As Sentinel does it: promote b, point c at b. c continues b's history (b kept
    // a's id as its second id), so it needs no full sync.
    let () = redis::cmd("SLAVEOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut b.client())
        .unwrap();
    let () = redis::cmd("SLAVEOF")
        .arg("127.0.0.1")
        .arg(b.port)
        .query(&mut c.client())
        .unwrap();
    let mut pb = b.client();
    let () = redis::cmd("SET")
        .arg("new")
        .arg("primary")
        .query(&mut pb)
        .unwrap();
    wait_in_sync(&b, &c);
    assert_eq!(
        info_field(&mut pb, "stats", "sync_partial_ok").as_deref(),
        Some("1")
    );
    let v: String = redis::cmd("GET").arg("new").query(&mut c.client()).unwrap();
    assert_eq!(v, "primary");
    let size: u64 = redis::cmd("DBSIZE").query(&mut c.client()).unwrap();
    assert_eq!(size, 101);
    // A restarted replica keeps what it had from its log, then resumes.
    c.shutdown();
    let c = Roost::start(&dirs[2].0, &["--replicaof", &replica_of(&b)]);
    let size: u64 = redis::cmd("DBSIZE").query(&mut c.client()).unwrap();
    assert_eq!(size, 101);
    wait_in_sync(&b, &c);
    assert_eq!(
        info_field(&mut pb, "stats", "sync_partial_ok").as_deref(),
        Some("2")
    );
}

#[test]
fn a_replica_authenticates_with_masterauth() {
    let (pdir, rdir) = (TempDir::new("repl-auth-p"), TempDir::new("repl-auth-r"));
    let primary = Roost::start(&pdir.0, &["--requirepass", "s3cret"]);
    let replica = Roost::start(
        &rdir.0,
        &[
            "--replicaof",
            &replica_of(&primary),
            "--masterauth",
            "s3cret",
        ],
    );
    let mut p = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", primary.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let () = redis::cmd("SET").arg("k").arg("v").query(&mut p).unwrap();
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut p).unwrap();
    assert_eq!(acked, 1);
    let v: String = redis::cmd("GET")
        .arg("k")
        .query(&mut replica.client())
        .unwrap();
    assert_eq!(v, "v");
}

/// Reads one replication record from a raw connection.
fn read_record(raw: &mut common::Raw) -> (u64, Vec<Vec<u8>>) {
    let header = raw.read_exact(16);
    let len = u32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
    let mut record = header;
    record.extend(raw.read_exact(len));
    let (lsn, args, total) = roost::aof::record::parse_stream(&record).unwrap().unwrap();
    assert_eq!(total, record.len());
    (lsn, args.into_iter().map(|a| a.to_vec()).collect())
}

#[test]
fn the_replication_stream_on_the_wire() {
    let server = common::TestServer::start();
    let mut con = server.client();
    let () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut con)
        .unwrap();
    let mut raw = server.raw();
    raw.roundtrip(&[b"REPLCONF", b"listening-port", b"4321"], b"+OK\r\n");
    raw.roundtrip(&[b"REPLCONF", b"capa", b"roost"], b"+OK\r\n");
    raw.roundtrip(
        &[b"REPLCONF", b"no-such-option", b"1"],
        b"-ERR Unrecognized REPLCONF option: no-such-option\r\n",
    );
    raw.send_cmd(&[b"PSYNC", b"?", b"-1"]);
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") {
        line.extend(raw.read_exact(1));
    }
    let line = String::from_utf8(line).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "+FULLRESYNC");
    assert_eq!(words[1].len(), 40);
    assert_eq!(words[2], "2", "SELECT and SET were written before: {line}");
    // The snapshot: records numbered from 1, then the end marker (LSN 0).
    let mut snapshot = Vec::new();
    loop {
        let (lsn, args) = read_record(&mut raw);
        if lsn == 0 {
            assert_eq!(args, vec![b"SNAPSHOT-END".to_vec()]);
            break;
        }
        snapshot.push(args);
    }
    assert!(snapshot.contains(&vec![b"SET".to_vec(), b"before".to_vec(), b"1".to_vec()]));
    // The live stream continues at the offset FULLRESYNC named.
    let () = redis::cmd("SET")
        .arg("after")
        .arg("2")
        .query(&mut con)
        .unwrap();
    let (lsn, args) = loop {
        // Heartbeats (LSN 0) may come first.
        let (lsn, args) = read_record(&mut raw);
        if lsn != 0 {
            break (lsn, args);
        }
        assert_eq!(args, vec![b"PING".to_vec()]);
    };
    assert_eq!(lsn, 3);
    assert_eq!(
        args,
        vec![b"SET".to_vec(), b"after".to_vec(), b"2".to_vec()]
    );
    // The primary lists the replica by the port it announced, and counts its ACK.
    raw.send_cmd(&[b"REPLCONF", b"ACK", b"3"]);
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut con).unwrap();
    assert_eq!(acked, 1);
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut con)
        .unwrap();
    assert!(
        info.contains("slave0:ip=127.0.0.1,port=4321,state=online,offset=3,"),
        "{info}"
    );
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("replica")
        .query(&mut con)
        .unwrap();
    assert_eq!(list.lines().count(), 1, "{list}");
}

#[test]
fn a_replica_that_stops_reading_is_dropped_at_its_output_limit_without_stalling_writers() {
    let server = common::TestServer::start();
    let mut con = server.client();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("replica 1mb 0 0")
        .query(&mut con)
        .unwrap();
    // A replica that asks for the stream and then never reads it: a Roost replica, and
    // a Redis one that takes a streamed payload (and so is fed only after an ACK it
    // never sends).
    for capa in [&b"roost"[..], b"eof"] {
        let mut stuck = server.raw();
        stuck.send_cmd(&[b"REPLCONF", b"capa", capa]);
        stuck.send_cmd(&[b"PSYNC", b"?", b"-1"]);
        wait_for("the replica to attach", Duration::from_secs(5), || {
            info_field(&mut con, "replication", "connected_slaves").as_deref() == Some("1")
        });
        let value = "v".repeat(16 * 1024);
        for i in 0..2000 {
            let () = redis::cmd("SET")
                .arg(format!("k{i}"))
                .arg(&value)
                .query(&mut con)
                .unwrap();
        }
        // 32 MB went through while the replica read nothing (writers never waited for
        // it), and it was dropped once 1 MB was queued for it.
        wait_for("the replica to be dropped", Duration::from_secs(10), || {
            info_field(&mut con, "replication", "connected_slaves").as_deref() == Some("0")
        });
        drop(stuck);
    }
}

/// A blocked pop served on the primary reaches the replica as what it did (LPOP,
/// LMOVE), and WAIT after it counts the replica's acknowledgement of that write.
#[test]
fn served_blocking_pops_replicate() {
    let (pdir, rdir) = (TempDir::new("repl-lists-p"), TempDir::new("repl-lists-r"));
    let primary = Roost::start(&pdir.0, &[]);
    let replica = Roost::start(&rdir.0, &["--replicaof", &replica_of(&primary)]);
    wait_in_sync(&primary, &replica);
    let url = format!("redis://127.0.0.1:{}/", primary.port);
    let (url1, url2) = (url.clone(), url);
    let mover = thread::spawn(move || {
        let mut con = redis::Client::open(url1).unwrap().get_connection().unwrap();
        let moved: String = redis::cmd("BLMOVE")
            .arg("src")
            .arg("dst")
            .arg("RIGHT")
            .arg("LEFT")
            .arg(0)
            .query(&mut con)
            .unwrap();
        let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut con).unwrap();
        (moved, acked)
    });
    let popper = thread::spawn(move || {
        let mut con = redis::Client::open(url2).unwrap().get_connection().unwrap();
        let popped: (String, String) = redis::cmd("BLPOP")
            .arg("other")
            .arg(0)
            .query(&mut con)
            .unwrap();
        popped
    });
    let mut p = primary.client();
    wait_for("two blocked clients", Duration::from_secs(5), || {
        info_field(&mut p, "clients", "blocked_clients").as_deref() == Some("2")
    });
    let _: i64 = redis::cmd("RPUSH")
        .arg("src")
        .arg("a")
        .arg("b")
        .query(&mut p)
        .unwrap();
    let _: i64 = redis::cmd("RPUSH")
        .arg("other")
        .arg("x")
        .arg("y")
        .query(&mut p)
        .unwrap();
    assert_eq!(mover.join().unwrap(), ("b".to_string(), 1));
    assert_eq!(
        popper.join().unwrap(),
        ("other".to_string(), "x".to_string())
    );
    wait_in_sync(&primary, &replica);
    let mut r = replica.client();
    for (key, expected) in [("src", vec!["a"]), ("dst", vec!["b"]), ("other", vec!["y"])] {
        let got: Vec<String> = redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(&mut r)
            .unwrap();
        assert_eq!(got, expected, "{key}");
    }
}

/// Sends `request` on a fresh connection to `port` and reads until `expected` arrived.
fn exchange(con: &mut std::net::TcpStream, request: &str, expected: &str) {
    use std::io::{Read, Write};
    con.write_all(request.as_bytes()).unwrap();
    let mut got = vec![0u8; expected.len()];
    con.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        expected,
        "answer to {request:?}"
    );
}

fn raw_client(server: &Roost) -> std::net::TcpStream {
    let con = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    con.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    con
}

fn signal(server: &Roost, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn set(con: &mut redis::Connection, key: &str) -> redis::RedisResult<()> {
    redis::cmd("SET").arg(key).arg("v").query(con)
}

const NOREPLICAS: &str = "-NOREPLICAS Not enough good replicas to write.\r\n";

/// `min-replicas-to-write` / `min-replicas-max-lag` as in Redis (answers checked against
/// redis-server 7.0.15): while fewer replicas than asked have acknowledged within the
/// lag, a primary refuses writes, transactions and script writes with NOREPLICAS and
/// INFO counts its good replicas; reads go on. Roost used to accept the directives and
/// ignore them, so a primary cut off from its replicas kept taking writes that the
/// failover then lost.
#[test]
fn min_replicas_to_write_refuses_writes_while_too_few_replicas_are_in_touch() {
    let (pdir, rdir) = (
        TempDir::new("repl-min-replicas-p"),
        TempDir::new("repl-min-replicas-r"),
    );
    let primary = Roost::start(&pdir.0, &[]);
    let mut p = primary.client();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("min-replicas-to-write")
        .arg(1)
        .query(&mut p)
        .unwrap();
    let refused = set(&mut p, "k").unwrap_err();
    assert_eq!(refused.code(), Some("NOREPLICAS"), "{refused}");
    assert_eq!(
        info_field(&mut p, "replication", "min_slaves_good_slaves").as_deref(),
        Some("0")
    );
    let v: Option<String> = redis::cmd("GET").arg("k").query(&mut p).unwrap();
    assert_eq!(v, None);
    let mut raw = raw_client(&primary);
    exchange(
        &mut raw,
        "MULTI\r\nSET q 1\r\nEXEC\r\n",
        &format!(
            "+OK\r\n{NOREPLICAS}-EXECABORT Transaction discarded because of previous errors.\r\n"
        ),
    );
    let script: redis::RedisResult<()> = redis::cmd("EVAL")
        .arg("return redis.call('set','x','1')")
        .arg(0)
        .query(&mut p);
    assert_eq!(script.unwrap_err().code(), Some("NOREPLICAS"));

    let replica = Roost::start(&rdir.0, &["--replicaof", &replica_of(&primary)]);
    wait_in_sync(&primary, &replica);
    wait_for("writes to be accepted", Duration::from_secs(30), || {
        set(&mut p, "k").is_ok()
    });
    assert_eq!(
        info_field(&mut p, "replication", "min_slaves_good_slaves").as_deref(),
        Some("1")
    );
    // A transaction queued while the replica is in touch, executed once it is not.
    exchange(&mut raw, "MULTI\r\nSET q 1\r\n", "+OK\r\n+QUEUED\r\n");
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("min-replicas-max-lag")
        .arg(1)
        .query(&mut p)
        .unwrap();
    signal(&replica, "STOP");
    wait_for(
        "writes to be refused once the replica is silent",
        Duration::from_secs(60),
        || set(&mut p, "k").is_err_and(|e| e.code() == Some("NOREPLICAS")),
    );
    exchange(
        &mut raw,
        "EXEC\r\n",
        &format!(
            "-EXECABORT Transaction discarded because of: {}",
            &NOREPLICAS[1..]
        ),
    );
    signal(&replica, "CONT");
    wait_for(
        "writes to be accepted again",
        Duration::from_secs(60),
        || set(&mut p, "k").is_ok(),
    );
    let v: Option<String> = redis::cmd("GET").arg("q").query(&mut p).unwrap();
    assert_eq!(v, None, "no refused transaction ran");
}

/// WAIT counts only replicas that finished their sync, as Redis does: a replica still
/// receiving its snapshot is no copy of anything yet, not even for a client that wrote
/// nothing (it counted, so `WAIT 1` answered 1 before the replica held any data).
#[test]
fn wait_does_not_count_a_replica_that_is_still_receiving_its_snapshot() {
    let dir = TempDir::new("repl-wait-syncing");
    let primary = Roost::start(&dir.0, &["--appendonly", "no"]);
    let mut p = primary.client();
    let big = "x".repeat(1 << 20);
    for i in 0..32 {
        let () = redis::cmd("SET")
            .arg(format!("big{i}"))
            .arg(&big)
            .query(&mut p)
            .unwrap();
    }
    // A replica that asks for a full sync and never reads it: the snapshot stays in
    // flight once the socket buffers are full.
    let mut fake = raw_client(&primary);
    exchange(
        &mut fake,
        "REPLCONF listening-port 9\r\nREPLCONF capa roost\r\nPSYNC ? -1\r\n",
        "+OK\r\n+OK\r\n+FULLRESYNC ",
    );
    wait_for(
        "the sync to be in progress",
        Duration::from_secs(30),
        || {
            info_field(&mut p, "replication", "slave0")
                .is_some_and(|s| s.contains("state=send_bulk"))
        },
    );
    let mut fresh = primary.client();
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(100)
        .query(&mut fresh)
        .unwrap();
    assert_eq!(acked, 0, "a client that wrote nothing");
    let () = redis::cmd("SET").arg("k").arg(1).query(&mut fresh).unwrap();
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(100)
        .query(&mut fresh)
        .unwrap();
    assert_eq!(acked, 0, "a client that wrote");
    drop(fake);
}

/// A primary told to follow another releases the clients blocked in BLPOP and WAIT
/// with Redis's UNBLOCKED error (checked against redis-server 7.0.15). A pop left
/// waiting used to be served by a push arriving in the new primary's stream: the
/// replica popped from its own copy and no longer matched its primary; a WAIT left
/// waiting would count acknowledgements of another history.
#[test]
fn becoming_a_replica_releases_blocked_clients_with_unblocked() {
    let (adir, bdir) = (
        TempDir::new("repl-unblock-a"),
        TempDir::new("repl-unblock-b"),
    );
    let a = Roost::start(&adir.0, &[]);
    let b = Roost::start(&bdir.0, &[]);
    let mut pop = raw_client(&a);
    let mut wait = raw_client(&a);
    exchange(&mut wait, "SET w 1\r\n", "+OK\r\n");
    {
        use std::io::Write;
        pop.write_all(b"BLPOP list 0\r\n").unwrap();
        wait.write_all(b"WAIT 1 0\r\n").unwrap();
    }
    let mut ca = a.client();
    wait_for("both clients to block", Duration::from_secs(30), || {
        let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut ca).unwrap();
        clients.matches(" flags=b ").count() == 2
    });
    // Redis counts a client in WAIT as blocked too.
    assert_eq!(
        info_field(&mut ca, "clients", "blocked_clients").as_deref(),
        Some("2")
    );
    let () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(b.port)
        .query(&mut ca)
        .unwrap();
    let unblocked = "-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n";
    exchange(&mut pop, "", unblocked);
    exchange(&mut wait, "", unblocked);
    let mut cb = b.client();
    let _: i64 = redis::cmd("RPUSH")
        .arg("list")
        .arg(&["x", "y", "z"])
        .query(&mut cb)
        .unwrap();
    wait_in_sync(&b, &a);
    let on_a: Vec<String> = redis::cmd("LRANGE")
        .arg("list")
        .arg(0)
        .arg(-1)
        .query(&mut ca)
        .unwrap();
    assert_eq!(on_a, ["x", "y", "z"]);
}

/// Reads one line (through CRLF) byte by byte, so nothing after it is consumed.
fn read_line(con: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") {
        let mut byte = [0u8; 1];
        con.read_exact(&mut byte).unwrap();
        line.push(byte[0]);
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).unwrap()
}

/// Reads one subscriber frame (a RESP2 array of bulk strings and integers).
fn read_frame(con: &mut std::net::TcpStream) -> Vec<String> {
    let header = read_line(con);
    let n: usize = header.trim_start_matches('*').parse().unwrap();
    (0..n)
        .map(|_| {
            let item = read_line(con);
            match item.strip_prefix(':') {
                Some(int) => int.to_string(),
                None => read_line(con),
            }
        })
        .collect()
}

#[test]
fn publish_and_spublish_reach_the_replicas_subscribers() {
    // Redis propagates PUBLISH and SPUBLISH to replicas (not to the log): a replica's
    // subscribers hear what is published on the primary, and a replica of the replica
    // too; what the replica's own clients publish stays on the replica.
    let (pdir, rdir, sdir) = (
        TempDir::new("repl-pub-p"),
        TempDir::new("repl-pub-r"),
        TempDir::new("repl-pub-s"),
    );
    let primary = Roost::start(&pdir.0, &[]);
    let replica = Roost::start(&rdir.0, &["--replicaof", &replica_of(&primary)]);
    let sub_replica = Roost::start(&sdir.0, &["--replicaof", &replica_of(&replica)]);
    wait_in_sync(&primary, &replica);
    wait_in_sync(&replica, &sub_replica);
    let mut primary_sub = raw_client(&primary);
    exchange(
        &mut primary_sub,
        "SUBSCRIBE news\r\n",
        "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
    );
    let mut subscribers = Vec::new();
    for server in [&replica, &sub_replica] {
        let mut con = raw_client(server);
        exchange(
            &mut con,
            "SSUBSCRIBE orders\r\n",
            "*3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n",
        );
        exchange(
            &mut con,
            "SUBSCRIBE news\r\n",
            "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
        );
        subscribers.push(con);
    }
    let mut p = primary.client();
    let offset_before = info_field(&mut p, "replication", "master_repl_offset");
    let n: i64 = redis::cmd("SPUBLISH")
        .arg("orders")
        .arg("o1")
        .query(&mut p)
        .unwrap();
    assert_eq!(n, 0, "no shard subscriber on the primary itself");
    let n: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg("n1")
        .query(&mut p)
        .unwrap();
    assert_eq!(n, 1);
    for con in subscribers.iter_mut() {
        con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    // The stream reaches the replica after the primary's reply: the replica's
    // subscriber hears the primary's messages before the replica publishes its own.
    assert_eq!(
        read_frame(&mut subscribers[0]),
        ["smessage", "orders", "o1"]
    );
    assert_eq!(read_frame(&mut subscribers[0]), ["message", "news", "n1"]);
    // Published on the replica: its own subscribers hear it, its replica does not.
    let n: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg("local")
        .query(&mut replica.client())
        .unwrap();
    assert_eq!(n, 1);
    let n: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg("n2")
        .query(&mut p)
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        read_frame(&mut subscribers[0]),
        ["message", "news", "local"]
    );
    assert_eq!(read_frame(&mut subscribers[0]), ["message", "news", "n2"]);
    let sub_replica_subscriber = &mut subscribers[1];
    assert_eq!(
        read_frame(sub_replica_subscriber),
        ["smessage", "orders", "o1"]
    );
    assert_eq!(
        read_frame(sub_replica_subscriber),
        ["message", "news", "n1"]
    );
    assert_eq!(
        read_frame(sub_replica_subscriber),
        ["message", "news", "n2"]
    );
    // Messages are not writes: the offset (records in the log) did not move.
    assert_eq!(
        info_field(&mut p, "replication", "master_repl_offset"),
        offset_before
    );
}
