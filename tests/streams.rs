//! Streams end to end with the real binary: the log replays to the same streams (ids,
//! trimming, deletions, counters), so does a rewritten base, and so does a replica's
//! full sync, and so does an RDB file (SAVE, then a restart). Replies themselves are compared with redis-server in
//! tests/differential/streams.redis.

use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::info_field;
use common::process::{wait_for, Roost, TempDir};

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
        // Consumer groups: deliveries, acknowledgements, claims, NOACK, an idle consumer.
        "XGROUP CREATE small g 0",
        "XREADGROUP GROUP g alice COUNT 1 STREAMS small >",
        "XREADGROUP GROUP g bob STREAMS small >",
        "XACK small g 7-0",
        "XCLAIM small g carol 0 6-0 RETRYCOUNT 5",
        "XGROUP CREATE small g2 $ ENTRIESREAD 3",
        "XGROUP CREATECONSUMER small g2 idle",
        "XGROUP CREATE small g3 0",
        "XREADGROUP GROUP g3 quick NOACK STREAMS small >",
        "XGROUP CREATE fresh g $ MKSTREAM",
        "XGROUP CREATE small gone 0",
        "XGROUP DESTROY small gone",
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
fn try_stream_state(con: &mut redis::Connection) -> redis::RedisResult<Vec<String>> {
    let mut out = Vec::new();
    for key in ["big", "small", "gone", "minid", "ttl", "fresh"] {
        let kind: String = redis::cmd("TYPE").arg(key).query(con)?;
        let entries: redis::Value = redis::cmd("XRANGE")
            .arg(key)
            .arg("-")
            .arg("+")
            .query(con)
            .unwrap();
        let len: i64 = redis::cmd("XLEN").arg(key).query(con)?;
        let ttl: i64 = redis::cmd("PEXPIRETIME").arg(key).query(con)?;
        // Without the node counts: a base or a full sync lays entries out afresh (the
        // log records trimming as an exact MAXLEN, so the layout never decides data).
        let info: Vec<redis::Value> = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(key)
            .query(con)
            .unwrap_or_default();
        let info: Vec<&[redis::Value]> = info
            .chunks(2)
            .filter(|pair| !format!("{:?}", pair[0]).contains("radix-tree"))
            .collect();
        out.push(format!("{key} {kind} {len} {ttl} {entries:?} {info:?}"));
        let groups: Vec<redis::Value> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(key)
            .query(con)
            .unwrap_or_default();
        out.push(format!("{key} groups {groups:?}"));
        for group in ["g", "g2", "g3"] {
            // Each pending entry with its consumer and delivery count (not its idle time).
            let pending: Vec<(String, String, i64, i64)> = redis::cmd("XPENDING")
                .arg(key)
                .arg(group)
                .arg("-")
                .arg("+")
                .arg(1000)
                .query(con)
                .unwrap_or_default();
            let pending: Vec<_> = pending
                .into_iter()
                .map(|(id, c, _, n)| (id, c, n))
                .collect();
            let consumers: Vec<Vec<redis::Value>> = redis::cmd("XINFO")
                .arg("CONSUMERS")
                .arg(key)
                .arg(group)
                .query(con)
                .unwrap_or_default();
            let names: Vec<String> = consumers
                .iter()
                .map(|c| format!("{:?} {:?} {:?} {:?}", c[0], c[1], c[2], c[3]))
                .collect();
            out.push(format!("{key} {group} {pending:?} {names:?}"));
        }
    }
    Ok(out)
}

fn stream_state(con: &mut redis::Connection) -> Vec<String> {
    try_stream_state(con).unwrap()
}

/// The lines of two states that differ.
fn differences(a: &[String], b: &[String]) -> Vec<(String, String)> {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| (x.clone(), y.clone()))
        .collect()
}

/// The streams are as `expected` after a restart, and the last id is remembered: the
/// stream refuses anything at or below it.
fn assert_streams_restored(con: &mut redis::Connection, expected: &[String]) {
    let state = stream_state(con);
    assert_eq!(differences(&state, expected), []);
    assert_eq!(state, expected);
    let err = redis::cmd("XADD")
        .arg("small")
        .arg("100-0")
        .arg("f")
        .arg("v")
        .query::<String>(con);
    assert!(format!("{err:?}").contains("equal or smaller"), "{err:?}");
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
    assert!(
        expected.iter().any(|l| l.starts_with("gone stream 0 ")),
        "{expected:?}"
    );
    let small_g = expected.iter().find(|l| l.starts_with("small g ")).unwrap();
    assert!(small_g.contains(r#"("6-0", "carol", 5)"#), "{small_g}");
    assert!(!small_g.contains("7-0"), "acknowledged: {small_g}");
    roost.shutdown();

    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    assert_streams_restored(&mut con, &expected);

    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    wait_for_rewrites(&mut con, 1);
    roost.shutdown();
    let (_, base) = roost::aof::newest_base(&dir.0).unwrap().unwrap();
    let data = std::fs::read(&base).unwrap();
    let mut xadds = 0;
    for args in roost::aof::base_commands(&data, &base).unwrap() {
        if args[0].eq_ignore_ascii_case(b"XADD") {
            xadds += 1;
        }
        assert!(!args[0].eq_ignore_ascii_case(b"XDEL"));
    }
    assert!(xadds >= 110, "{xadds} XADD records in the base");

    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    assert_streams_restored(&mut con, &expected);
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
        let up = redis::cmd("INFO")
            .arg("replication")
            .query::<String>(&mut r)
            .is_ok_and(|i| i.contains("master_link_status:up"));
        let offset = |con: &mut redis::Connection, field: &str| {
            redis::cmd("INFO")
                .arg("replication")
                .query::<String>(con)
                .ok()
                .and_then(|i| {
                    i.lines()
                        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
                })
        };
        up && offset(&mut p, "master_repl_offset:").is_some()
            && offset(&mut p, "master_repl_offset:") == offset(&mut r, "slave_repl_offset:")
    });
    let state = stream_state(&mut r);
    assert_eq!(differences(&state, &expected), []);
    assert_eq!(state, expected);
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

#[test]
fn xreadgroup_block_is_served_new_entries_once_and_sees_a_destroyed_group() {
    let dir = TempDir::new("streams-group-block");
    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    run(&mut con, "XGROUP CREATE s g $ MKSTREAM");
    let readers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let mut reader = roost.client();
            thread::spawn(move || {
                let got: ReadReply = redis::cmd("XREADGROUP")
                    .arg(&[
                        "GROUP", "g", name, "COUNT", "1", "BLOCK", "10000", "STREAMS", "s", ">",
                    ])
                    .query(&mut reader)
                    .unwrap();
                got
            })
        })
        .collect();
    wait_blocked(&mut con, 2);
    run(&mut con, "XADD s 1-1 f 1");
    run(&mut con, "XADD s 2-1 f 2");
    let mut ids: Vec<String> = readers
        .into_iter()
        .map(|r| r.join().unwrap().expect("served")[0].1[0].0.clone())
        .collect();
    ids.sort();
    // Each entry went to one consumer of the group.
    assert_eq!(ids, ["1-1", "2-1"]);
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg("s")
        .arg("g")
        .query(&mut con)
        .unwrap();
    assert!(format!("{pending:?}").contains("int(2)"), "{pending:?}");

    // A reader blocked on a group that is then destroyed gets NOGROUP.
    let mut reader = roost.client();
    let waiting = thread::spawn(move || {
        redis::cmd("XREADGROUP")
            .arg(&["GROUP", "g", "c", "BLOCK", "10000", "STREAMS", "s", ">"])
            .query::<ReadReply>(&mut reader)
    });
    wait_blocked(&mut con, 1);
    run(&mut con, "XGROUP DESTROY s g");
    let err = waiting.join().unwrap().unwrap_err();
    assert_eq!(err.code(), Some("NOGROUP"), "{err:?}");
}

/// Redis 7.2's consumer fields, which 7.0 (the differential reference) lacks:
/// XINFO CONSUMERS `inactive` and XINFO STREAM FULL `active-time`.
#[test]
fn consumers_report_redis_7_2_activity_fields() {
    let dir = TempDir::new("streams-activity");
    let roost = Roost::start(&dir.0, &[]);
    let mut con = roost.client();
    run(&mut con, "XADD s 1-1 f v");
    run(&mut con, "XGROUP CREATE s g 0");
    run(&mut con, "XGROUP CREATECONSUMER s g lazy");
    run(&mut con, "XREADGROUP GROUP g busy STREAMS s >");
    let consumers: Vec<Vec<redis::Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg("s")
        .arg("g")
        .query(&mut con)
        .unwrap();
    let field = |c: &Vec<redis::Value>, name: &str| -> i64 {
        let at = c
            .iter()
            .position(|v| *v == redis::Value::BulkString(name.as_bytes().to_vec()))
            .unwrap();
        match &c[at + 1] {
            redis::Value::Int(n) => *n,
            other => panic!("{name}: {other:?}"),
        }
    };
    let names: Vec<&redis::Value> = consumers.iter().map(|c| &c[1]).collect();
    assert_eq!(
        names,
        [
            &redis::Value::BulkString(b"busy".to_vec()),
            &redis::Value::BulkString(b"lazy".to_vec())
        ]
    );
    assert!(field(&consumers[0], "inactive") >= 0);
    assert_eq!(field(&consumers[1], "inactive"), -1, "never read");
    assert_eq!(field(&consumers[0], "pending"), 1);

    let full: redis::Value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg("s")
        .arg("FULL")
        .query(&mut con)
        .unwrap();
    let text = format!("{full:?}");
    assert!(text.contains("active-time"), "{text}");
    assert!(text.contains("seen-time"), "{text}");
}

/// The RDB encoding does not cover streams yet: DUMP and SAVE say so, naming the key,
/// instead of writing a file or payload that silently lacks the stream.
#[test]
fn streams_survive_save_and_a_restart_from_the_rdb_file() {
    let dir = TempDir::new("streams-rdb");
    let flags = ["--appendonly", "no", "--save", ""];
    let roost = Roost::start(&dir.0, &flags);
    let mut con = roost.client();
    write_streams(&mut con);
    let expected = stream_state(&mut con);
    let layout = radix_tree_keys(&mut con, "big");
    assert!(layout >= 2, "{layout}");
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    roost.shutdown();
    assert!(dir.0.join("dump.rdb").exists());
    let roost = Roost::start(&dir.0, &flags);
    let mut con = roost.client();
    assert_streams_restored(&mut con, &expected);
    // The node layout came back as it was saved.
    assert_eq!(radix_tree_keys(&mut con, "big"), layout);
}

fn radix_tree_keys(con: &mut redis::Connection, key: &str) -> i64 {
    let info: std::collections::HashMap<String, redis::Value> = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(key)
        .query(con)
        .unwrap();
    match info["radix-tree-keys"] {
        redis::Value::Int(n) => n,
        ref other => panic!("{other:?}"),
    }
}

/// XREADGROUP blocked on a stream that is deleted, replaced by another type, or whose
/// group is destroyed, answers as Redis 7.2 does, which runs the command again: NOGROUP
/// (key or group gone) or WRONGTYPE. Redis 7.0 answered `-UNBLOCKED the stream key no
/// longer exists` for the first two and `-NOGROUP the consumer group this client was
/// blocked on no longer exists` for the third. FLUSHDB and FLUSHALL delete it too (7.2
/// looks for such keys in a flushed database). XREAD blocked on a deleted key goes on
/// waiting, in both.
#[test]
fn xreadgroup_blocked_on_a_vanished_stream_or_group_is_answered_as_redis_7_2() {
    let server = common::TestServer::start();
    let mut con = server.client();
    let nogroup: &[u8] =
        b"-NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option\r\n";
    let wrongtype: &[u8] =
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    for (change, expected) in [
        (&["DEL", "s"][..], nogroup),
        (&["UNLINK", "s"][..], nogroup),
        (&["SET", "s", "x"][..], wrongtype),
        (&["XGROUP", "DESTROY", "s", "g"][..], nogroup),
        (&["RENAME", "s", "t"][..], nogroup),
        (&["FLUSHDB"][..], nogroup),
        (&["FLUSHALL"][..], nogroup),
    ] {
        let _: () = redis::cmd("DEL").arg("s").arg("t").query(&mut con).unwrap();
        let _: String = redis::cmd("XADD")
            .arg("s")
            .arg("1-1")
            .arg("f")
            .arg("v")
            .query(&mut con)
            .unwrap();
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg("s")
            .arg("g")
            .arg("$")
            .query(&mut con)
            .unwrap();
        let mut reader = server.raw();
        reader.send_cmd(&[
            b"XREADGROUP",
            b"GROUP",
            b"g",
            b"alice",
            b"BLOCK",
            b"0",
            b"STREAMS",
            b"s",
            b">",
        ]);
        wait_until_blocked(&mut con, 1);
        let mut cmd = redis::cmd(change[0]);
        for arg in &change[1..] {
            cmd.arg(*arg);
        }
        let _: redis::Value = cmd.query(&mut con).unwrap();
        reader.expect(expected);
        wait_until_blocked(&mut con, 0);
    }
    // XREAD waits on through a deletion and is served by the next entry.
    let mut reader = server.raw();
    reader.send_cmd(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"0-0"]);
    wait_until_blocked(&mut con, 1);
    let _: () = redis::cmd("DEL").arg("s").query(&mut con).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    wait_until_blocked(&mut con, 1);
    let _: String = redis::cmd("XADD")
        .arg("s")
        .arg("2-1")
        .arg("a")
        .arg("b")
        .query(&mut con)
        .unwrap();
    reader.expect(b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n");
}

fn wait_until_blocked(con: &mut redis::Connection, n: u64) {
    common::process::wait_for(
        "the blocked client count",
        std::time::Duration::from_secs(10),
        || {
            let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
            info.lines()
                .any(|l| l.trim() == format!("blocked_clients:{n}"))
        },
    );
}
