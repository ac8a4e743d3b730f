//! Streams end to end with the real binary: the log replays to the same streams (ids,
//! trimming, deletions, counters), so does a rewritten base, and so does a replica's
//! full sync. Replies themselves are compared with redis-server in
//! tests/differential/streams.redis.

use std::thread;
use std::time::{Duration, Instant};

use roost::aof::record::Reader;

mod common;
use common::process::{wait_for, Roost, TempDir};

fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .to_string()
}

fn wait_for_rewrites(con: &mut redis::Connection, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(con, "persistence", "aof_rewrites")
        .parse::<u64>()
        .unwrap()
        < count
        || info_field(con, "persistence", "aof_rewrite_in_progress") == "1"
    {
        assert!(Instant::now() < deadline, "the rewrite did not finish");
        thread::sleep(Duration::from_millis(20));
    }
}

fn run(con: &mut redis::Connection, line: &str) -> redis::Value {
    let args: Vec<&str> = line.split(' ').collect();
    redis::cmd(args[0]).arg(&args[1..]).query(con).unwrap()
}

/// Writes streams exercising every kind of write: automatic, explicit and partial ids,
/// approximate and exact trimming (several nodes), deletions, XSETID.
fn write_streams(con: &mut redis::Connection) {
    for i in 0..250 {
        let fields = if i % 3 == 0 { "a 1 b 2" } else { "c x" };
        run(con, &format!("XADD big * {fields} n {i}"));
    }
    for line in [
        "XADD big MAXLEN ~ 120 * last 1",
        "XTRIM big MAXLEN 110",
        "XDEL big 0-1",
        "XADD small 5-1 f v",
        "XADD small 5-* f v",
        "XADD small 6 f v",
        "XADD small 7 f v",
        "XDEL small 5-2",
        "XSETID small 100-0 ENTRIESADDED 50 MAXDELETEDID 9-0",
        "XADD gone 1-1 f v",
        "XDEL gone 1-1",
        "XADD minid 1 f v",
        "XADD minid 2 f v",
        "XADD minid MINID 2 3 f v",
        "XADD ttl 1 f v",
        "PEXPIRE ttl 500000",
    ] {
        run(con, line);
    }
    let first: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("big")
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query(con)
        .unwrap();
    run(con, &format!("XDEL big {}", first[0].0));
}

/// What a stream holds and remembers: its entries, its length, and the ids it refuses
/// next (last id) as the error of an XADD at its last id plus one check of XLEN.
fn stream_state(con: &mut redis::Connection) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["big", "small", "gone", "minid", "ttl"] {
        let kind: String = redis::cmd("TYPE").arg(key).query(con).unwrap();
        let entries: redis::Value = redis::cmd("XRANGE")
            .arg(key)
            .arg("-")
            .arg("+")
            .query(con)
            .unwrap();
        let len: i64 = redis::cmd("XLEN").arg(key).query(con).unwrap();
        let ttl: i64 = redis::cmd("PEXPIRETIME").arg(key).query(con).unwrap();
        let info: redis::Value = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(key)
            .query(con)
            .unwrap_or(redis::Value::Nil);
        out.push(format!("{key} {kind} {len} {ttl} {entries:?} {info:?}"));
    }
    out
}

#[test]
fn streams_survive_a_restart_and_a_rewrite() {
    let dir = TempDir::new("streams");
    let roost = Roost::start(&dir.0, &["--appendfsync", "always"]);
    let mut con = roost.client();
    write_streams(&mut con);
    let expected = stream_state(&mut con);
    assert!(
        expected[0].starts_with("big stream 109 "),
        "{}",
        expected[0]
    );
    assert!(expected[2].starts_with("gone stream 0 "), "{}", expected[2]);
    roost.shutdown();

    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    assert_eq!(stream_state(&mut con), expected);
    // The last id is remembered: the stream refuses anything at or below it.
    let err = redis::cmd("XADD")
        .arg("small")
        .arg("100-0")
        .arg("f")
        .arg("v")
        .query::<String>(&mut con);
    assert!(format!("{err:?}").contains("equal or smaller"), "{err:?}");

    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    wait_for_rewrites(&mut con, 1);
    roost.shutdown();
    let (_, base) = roost::aof::newest_base(&dir.0).unwrap().unwrap();
    let data = std::fs::read(&base).unwrap();
    let mut reader = Reader::at(&data, roost::aof::header::LEN, Some(1));
    let mut xadds = 0;
    while let Some(record) = reader.next_record().unwrap() {
        if record.args[0].eq_ignore_ascii_case(b"XADD") {
            xadds += 1;
        }
        assert!(!record.args[0].eq_ignore_ascii_case(b"XDEL"));
    }
    assert!(xadds >= 110, "{xadds} XADD records in the base");

    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    assert_eq!(stream_state(&mut con), expected);
    let err = redis::cmd("XADD")
        .arg("small")
        .arg("100-0")
        .arg("f")
        .arg("v")
        .query::<String>(&mut con);
    assert!(format!("{err:?}").contains("equal or smaller"), "{err:?}");
    let added: String = redis::cmd("XADD")
        .arg("gone")
        .arg("*")
        .arg("f")
        .arg("v")
        .query(&mut con)
        .unwrap();
    assert_ne!(added, "1-1");
}

#[test]
fn a_replica_receives_streams_in_a_full_sync_and_the_live_stream() {
    let (pdir, rdir) = (
        TempDir::new("streams-primary"),
        TempDir::new("streams-replica"),
    );
    let primary = Roost::start(&pdir.0, &[]);
    let mut p = primary.client();
    write_streams(&mut p);
    let replica = Roost::start(
        &rdir.0,
        &["--replicaof", &format!("127.0.0.1 {}", primary.port)],
    );
    let mut r = replica.client();
    // Written after the sync began: reaches the replica through the live stream.
    run(&mut p, "XADD small 200-0 live yes");
    run(&mut p, "XTRIM big MAXLEN ~ 5");
    let expected = stream_state(&mut p);
    wait_for("the replica to catch up", Duration::from_secs(60), || {
        redis::cmd("XLEN").arg("small").query::<i64>(&mut r).is_ok()
            && stream_state(&mut r) == expected
    });
}

type ReadReply = Option<Vec<(String, Vec<(String, Vec<String>)>)>>;

fn xread(con: &mut redis::Connection, args: &str) -> ReadReply {
    let args: Vec<&str> = args.split(' ').collect();
    redis::cmd("XREAD").arg(&args).query(con).unwrap()
}

/// Waits until `n` clients are blocked.
fn wait_blocked(con: &mut redis::Connection, n: usize) {
    wait_for("clients to block", Duration::from_secs(10), || {
        info_field(con, "clients", "blocked_clients") == n.to_string()
    });
}

#[test]
fn xread_block_is_woken_by_xadd_for_every_reader() {
    let dir = TempDir::new("streams-block");
    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    run(&mut con, "XADD s 1-1 old 1");
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let mut reader = roost.client();
            thread::spawn(move || xread(&mut reader, "BLOCK 10000 STREAMS other s 0 $"))
        })
        .collect();
    wait_blocked(&mut con, 3);
    // A write to another key wakes nobody; an entry in `s` wakes all three.
    run(&mut con, "SET unrelated 1");
    run(&mut con, "XADD s 2-1 new 2");
    for reader in readers {
        let got = reader.join().unwrap().expect("served, not timed out");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "s");
        assert_eq!(
            got[0].1,
            vec![("2-1".to_string(), vec!["new".to_string(), "2".to_string()])]
        );
    }
    wait_blocked(&mut con, 0);

    // A reader of a missing key is woken when XADD creates it.
    let mut reader = roost.client();
    let waiting =
        thread::spawn(move || xread(&mut reader, "COUNT 5 BLOCK 10000 STREAMS fresh 0-0"));
    wait_blocked(&mut con, 1);
    run(&mut con, "XADD fresh 7-7 f v");
    let got = waiting.join().unwrap().unwrap();
    assert_eq!(got[0].1[0].0, "7-7");

    // A timeout answers nil.
    assert_eq!(xread(&mut con, "BLOCK 50 STREAMS s $"), None);
    // Redis 7.2's `+`: the last entry (7.0 refused it as an invalid id).
    let last = xread(&mut con, "STREAMS s +").unwrap();
    assert_eq!(last[0].1[0].0, "2-1");
    assert_eq!(xread(&mut con, "STREAMS nokey +"), None);
    wait_blocked(&mut con, 0);
}
