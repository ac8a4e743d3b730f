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
    for (k, ms) in [
        ("s:short", 500_000),
        ("h:large", 600_000),
        ("z:small", 700_000),
        ("l:small", 800_000),
    ] {
        go(vec!["PEXPIRE".into(), k.into(), ms.to_string()]);
    }
    keys.sort();
    keys
}

/// A key's type, encoding and content, in a form where order that means nothing is
/// sorted away.
pub fn describe(con: &mut Connection, key: &str) -> String {
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
            assert_eq!(describe(a, key), describe(b, key), "db {db} key {key}");
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
