//! A dataset of every value type in its small and large encodings, with TTLs, and a
//! way to compare a key between two servers (RDB and DUMP/RESTORE tests).

use redis::{Connection, Value};

/// Fills a server with keys of every type, in small and large encodings, some with TTLs.
pub fn populate(con: &mut Connection) -> Vec<String> {
    let mut keys = Vec::new();
    let mut go = |args: Vec<String>| {
        let _: Value = redis::cmd(&args[0]).arg(&args[1..]).query(con).unwrap();
    };
    let big = |n: usize| -> String { "session-data-".repeat(n) };
    let strings = [
        ("s:int", "12345".to_string()),
        ("s:negint", "-2147483648".to_string()),
        ("s:bigint", "9223372036854775807".to_string()),
        ("s:short", "hello".to_string()),
        ("s:long", big(100)),
        ("s:binary", "\u{0}\u{1}\u{ff}zz".to_string()),
        ("s:leading0", "007".to_string()),
    ];
    for (k, v) in strings {
        go(vec!["SET".into(), k.into(), v]);
        keys.push(k.to_string());
    }
    for (suffix, n) in [("small", 5usize), ("large", 700)] {
        let list = format!("l:{suffix}");
        let hash = format!("h:{suffix}");
        let ints = format!("si:{suffix}");
        let words = format!("sw:{suffix}");
        let zset = format!("z:{suffix}");
        for i in 0..n {
            go(vec![
                "RPUSH".into(),
                list.clone(),
                format!("{i}:{}", big(i % 7)),
            ]);
            go(vec![
                "HSET".into(),
                hash.clone(),
                format!("f{i}"),
                format!("{}", i * 3),
            ]);
            go(vec![
                "SADD".into(),
                ints.clone(),
                format!("{}", i as i64 * 1_000_003 - 7),
            ]);
            go(vec!["SADD".into(), words.clone(), format!("member-{i}")]);
            go(vec![
                "ZADD".into(),
                zset.clone(),
                format!("{}", i as f64 / 7.0),
                format!("m{i}"),
            ]);
        }
        keys.extend([list, hash, ints, words, zset]);
    }
    go(vec![
        "RPUSH".into(),
        "l:bigitems".into(),
        big(2000),
        big(3000),
        "x".into(),
    ]);
    go(vec![
        "HSET".into(),
        "h:longvalue".into(),
        "f".into(),
        big(10),
    ]);
    go(vec![
        "SADD".into(),
        "si:huge".into(),
        "1".into(),
        "99999999999".into(),
    ]);
    go(vec![
        "ZADD".into(),
        "z:special".into(),
        "inf".into(),
        "a".into(),
        "-inf".into(),
        "b".into(),
        "1e300".into(),
        "c".into(),
        "-2.5".into(),
        "d".into(),
    ]);
    go(vec![
        "ZADD".into(),
        "z:longmember".into(),
        "1".into(),
        big(10),
    ]);
    keys.extend(
        [
            "l:bigitems",
            "h:longvalue",
            "si:huge",
            "z:special",
            "z:longmember",
        ]
        .map(String::from),
    );
    keys.extend(populate_streams(&mut go));
    for (k, ms) in [
        ("s:short", 500_000),
        ("h:large", 600_000),
        ("z:small", 700_000),
        ("l:small", 800_000),
        ("x:small", 900_000),
    ] {
        go(vec!["PEXPIRE".into(), k.into(), ms.to_string()]);
    }
    keys.sort();
    keys
}

/// Streams: small, large over many nodes (entries with the master's fields and with
/// others, long values), with deletions (first, middle, last), trimming, groups with
/// pending entries over several consumers, an idle consumer, a group of unknown
/// entries-read, and an empty stream that remembers its last id.
fn populate_streams(go: &mut dyn FnMut(Vec<String>)) -> Vec<String> {
    let line = |text: &str| -> Vec<String> { text.split(' ').map(String::from).collect() };
    for text in [
        "XADD x:small 1-1 name alice n 1",
        "XADD x:small 1-2 name bob n 2",
        "XADD x:small 2-0 other field",
        "XGROUP CREATE x:small g 0",
        "XREADGROUP GROUP g c1 COUNT 2 STREAMS x:small >",
        "XADD x:empty 5-5 f v",
        "XDEL x:empty 5-5",
        "XGROUP CREATE x:empty g $",
    ] {
        go(line(text));
    }
    for i in 1..=1500u64 {
        let mut args = line(&format!("XADD x:large {}-{}", 1_000 + i / 4, i % 4));
        if i % 9 == 0 {
            args.extend(line(&format!("kind other len {} blob", i % 50)));
            args.push("session-data-".repeat((i % 40) as usize));
        } else {
            args.extend(line(&format!("user u{i} n {}", i as i64 - 700)));
        }
        go(args);
    }
    for text in [
        "XDEL x:large 1000-1 1100-2 1200-0 1375-0",
        "XTRIM x:large MINID 1010-0",
        "XGROUP CREATE x:large readers 0",
        "XREADGROUP GROUP readers alice COUNT 30 STREAMS x:large >",
        "XREADGROUP GROUP readers bob COUNT 120 STREAMS x:large >",
        "XREADGROUP GROUP readers carol COUNT 7 STREAMS x:large >",
        "XACK x:large readers 1020-0 1020-1 1060-3",
        "XCLAIM x:large readers dave 0 1030-2 RETRYCOUNT 4",
        "XGROUP CREATECONSUMER x:large readers idle",
        "XGROUP CREATE x:large later 1300-0",
        "XGROUP CREATE x:large noack 1350-0",
        "XREADGROUP GROUP noack quick NOACK COUNT 10 STREAMS x:large >",
        "XGROUP CREATE x:large setid 0",
        "XGROUP SETID x:large setid 1200-1 ENTRIESREAD 5",
    ] {
        go(line(text));
    }
    ["x:empty", "x:large", "x:small"].map(String::from).to_vec()
}

/// A stream as XINFO STREAM FULL shows it, without the fields Redis 7.0 and 7.2 (or
/// Redis and Roost) may give differently for the same data: `radix-tree-nodes` (the
/// shape of Redis's radix tree), 7.2's `active-time`, and `radix-tree-keys`, which
/// RDB files and DUMP keep but a replayed log lays out afresh
/// (`assert_same_stream_nodes` checks it where it must hold).
fn describe_stream(con: &mut Connection, key: &str, also_drop: &[&str]) -> Vec<String> {
    let full: Value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(key)
        .arg("FULL")
        .arg("COUNT")
        .arg(0)
        .query(con)
        .unwrap();
    let mut dropped = vec!["radix-tree-nodes", "radix-tree-keys", "active-time"];
    dropped.extend(also_drop);
    fn render(v: &Value, out: &mut String, dropped: &[&str]) {
        match v {
            Value::Array(items) => {
                out.push('[');
                let mut i = 0;
                while i < items.len() {
                    let skip = matches!(&items[i], Value::BulkString(b)
                        if dropped.iter().any(|d| d.as_bytes() == b.as_slice()));
                    if skip && i % 2 == 0 {
                        i += 2;
                        continue;
                    }
                    render(&items[i], out, dropped);
                    out.push(' ');
                    i += 1;
                }
                out.push(']');
            }
            Value::BulkString(b) => out.push_str(&format!("{:?}", String::from_utf8_lossy(b))),
            other => out.push_str(&format!("{other:?}")),
        }
    }
    let mut text = String::new();
    render(&full, &mut text, &dropped);
    vec![text]
}

/// The dataset's streams have as many nodes (`radix-tree-keys`) on both servers.
pub fn assert_same_stream_nodes(a: &mut Connection, b: &mut Connection) {
    let nodes = |con: &mut Connection, key: &str| -> i64 {
        let info: std::collections::HashMap<String, Value> = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(key)
            .query(con)
            .unwrap();
        match info["radix-tree-keys"] {
            Value::Int(n) => n,
            ref other => panic!("{other:?}"),
        }
    };
    for key in ["x:small", "x:large"] {
        let (na, nb) = (nodes(a, key), nodes(b, key));
        assert_eq!(na, nb, "nodes of {key}");
    }
    assert!(nodes(a, "x:large") > 10);
}

/// A key's type, encoding and content, in a form where order that means nothing is
/// sorted away.
pub fn describe(con: &mut Connection, key: &str) -> String {
    describe_dropping(con, key, &[])
}

/// `describe`, without the stream fields named (a replayed log sets consumers'
/// `seen-time` to the replay's time, as Redis's AOF does).
pub fn describe_dropping(con: &mut Connection, key: &str, also_drop: &[&str]) -> String {
    let ty: String = redis::cmd("TYPE").arg(key).query(con).unwrap();
    let encoding: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key)
        .query(con)
        .unwrap();
    let content = match ty.as_str() {
        "string" => {
            let v: Vec<u8> = redis::cmd("GET").arg(key).query(con).unwrap();
            vec![format!("{v:?}")]
        }
        "list" => redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(con)
            .unwrap(),
        "hash" => {
            let mut v: Vec<String> = redis::cmd("HGETALL").arg(key).query(con).unwrap();
            let mut pairs: Vec<String> = v.chunks(2).map(|p| p.join("=")).collect();
            pairs.sort();
            v = pairs;
            v
        }
        "set" => {
            let mut v: Vec<String> = redis::cmd("SMEMBERS").arg(key).query(con).unwrap();
            v.sort();
            v
        }
        "zset" => redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(con)
            .unwrap(),
        "stream" => describe_stream(con, key, also_drop),
        other => panic!("unexpected type {other}"),
    };
    format!("{ty} {encoding} {content:?}")
}

pub fn pttl(con: &mut Connection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query(con).unwrap()
}

pub fn select(con: &mut Connection, db: i64) {
    let _: () = redis::cmd("SELECT").arg(db).query(con).unwrap();
}

/// The dataset in database 0, and a few keys in databases 3 and 9.
pub fn fill(con: &mut Connection) -> Vec<String> {
    let keys = populate(con);
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
    keys
}

/// Both servers hold the same keys (in databases 0, 3 and 9, where `fill` puts them),
/// values, encodings and TTLs; database 0 holds exactly `keys`.
pub fn assert_same(a: &mut Connection, b: &mut Connection, keys: &[String]) {
    assert_same_in(a, b, keys, &[0, 3, 9]);
}

/// `assert_same` over the databases `dbs` (the first must be 0).
pub fn assert_same_in(a: &mut Connection, b: &mut Connection, keys: &[String], dbs: &[i64]) {
    assert_same_dropping(a, b, keys, dbs, &[]);
}

/// `assert_same_in` without the stream fields named in `also_drop`.
pub fn assert_same_dropping(
    a: &mut Connection,
    b: &mut Connection,
    keys: &[String],
    dbs: &[i64],
    also_drop: &[&str],
) {
    for &db in dbs {
        select(a, db);
        select(b, db);
        let mut ka: Vec<String> = redis::cmd("KEYS").arg("*").query(a).unwrap();
        let mut kb: Vec<String> = redis::cmd("KEYS").arg("*").query(b).unwrap();
        ka.sort();
        kb.sort();
        assert_eq!(ka, kb, "keys of db {db}");
        if db == 0 {
            assert_eq!(&ka, keys);
        }
        for key in &ka {
            assert_same_description(
                &describe_dropping(a, key, also_drop),
                &describe_dropping(b, key, also_drop),
                &format!("db {db} key {key}"),
            );
            let (ta, tb) = (pttl(a, key), pttl(b, key));
            assert!(
                (ta - tb).abs() < 10_000 && (ta < 0) == (tb < 0),
                "{key}: TTL {ta} vs {tb}"
            );
        }
    }
    select(a, 0);
    select(b, 0);
}

/// Two descriptions must be equal; the message shows where they first differ.
pub fn assert_same_description(a: &str, b: &str, context: &str) {
    if a == b {
        return;
    }
    let at = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let window = |s: &str| {
        let bytes = &s.as_bytes()[at.saturating_sub(300)..(at + 200).min(s.len())];
        String::from_utf8_lossy(bytes).into_owned()
    };
    panic!(
        "{context}: differs at byte {at}\n left: ...{}\n right: ...{}",
        window(a),
        window(b)
    );
}
