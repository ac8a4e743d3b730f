//! Strings, hashes and sets through the `redis` crate in RESP2 and RESP3: the values a
//! session store reads back, TTLs, and the RESP3 reply types.

mod common;

use std::collections::{HashMap, HashSet};

use common::TestServer;

#[test]
fn session_shaped_string_flow_in_both_protocols() {
    let server = TestServer::start();
    for (n, mut con) in [server.client(), server.client_resp3()]
        .into_iter()
        .enumerate()
    {
        let key = format!("session:{n}");
        let payload: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(&payload)
            .arg("EX")
            .arg(1800)
            .query(&mut con)
            .unwrap();
        let back: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
        assert_eq!(back, payload, "binary-safe values");
        let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut con).unwrap();
        assert!((1799..=1800).contains(&ttl));
        // Django's create: SET .. NX fails on an existing key with a null reply.
        let created: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg("x")
            .arg("NX")
            .arg("EX")
            .arg(5)
            .query(&mut con)
            .unwrap();
        assert_eq!(created, None);
        // phpredis: SETEX then EXPIRE on touch.
        let _: () = redis::cmd("SETEX")
            .arg(&key)
            .arg(60)
            .arg("php")
            .query(&mut con)
            .unwrap();
        let touched: i64 = redis::cmd("EXPIRE")
            .arg(&key)
            .arg(1440)
            .query(&mut con)
            .unwrap();
        assert_eq!(touched, 1);
        let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut con).unwrap();
        assert!((1439..=1440).contains(&ttl));
        // GETEX refreshes; GETDEL ends the session.
        let v: String = redis::cmd("GETEX")
            .arg(&key)
            .arg("PX")
            .arg(5000)
            .query(&mut con)
            .unwrap();
        assert_eq!(v, "php");
        let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut con).unwrap();
        assert!((4900..=5000).contains(&pttl));
        let v: String = redis::cmd("GETDEL").arg(&key).query(&mut con).unwrap();
        assert_eq!(v, "php");
        let gone: Option<String> = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
        assert_eq!(gone, None);
    }
}

#[test]
fn counters_and_floats() {
    let server = TestServer::start();
    let mut con = server.client_resp3();
    let n: i64 = redis::cmd("INCRBY")
        .arg("c")
        .arg(10)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 10);
    let n: i64 = redis::cmd("DECR").arg("c").query(&mut con).unwrap();
    assert_eq!(n, 9);
    let f: String = redis::cmd("INCRBYFLOAT")
        .arg("c")
        .arg("0.1")
        .query(&mut con)
        .unwrap();
    assert_eq!(f, "9.1");
    let _: String = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("0.1")
        .query(&mut con)
        .unwrap();
    let f: String = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("0.2")
        .query(&mut con)
        .unwrap();
    assert_eq!(f, "0.3", "long double arithmetic, as Redis");
    let err = redis::cmd("INCR")
        .arg("f")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert_eq!(
        err.detail(),
        Some("value is not an integer or out of range")
    );
    let _: () = redis::cmd("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query(&mut con)
        .unwrap();
    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg("a")
        .arg("nope")
        .arg("b")
        .query(&mut con)
        .unwrap();
    assert_eq!(values, [Some("1".into()), None, Some("2".into())]);
    let len: i64 = redis::cmd("APPEND")
        .arg("a")
        .arg("23")
        .query(&mut con)
        .unwrap();
    assert_eq!(len, 3);
    let part: String = redis::cmd("GETRANGE")
        .arg("a")
        .arg(1)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(part, "23");
    let len: i64 = redis::cmd("SETRANGE")
        .arg("pad")
        .arg(3)
        .arg("x")
        .query(&mut con)
        .unwrap();
    assert_eq!(len, 4);
    let padded: Vec<u8> = redis::cmd("GET").arg("pad").query(&mut con).unwrap();
    assert_eq!(padded, b"\0\0\0x");
}

#[test]
fn spring_session_hash_flow() {
    let server = TestServer::start();
    for mut con in [server.client(), server.client_resp3()] {
        let key = "spring:session:sessions:abc";
        let _: () = redis::cmd("DEL").arg(key).query(&mut con).unwrap();
        let _: () = redis::cmd("HMSET")
            .arg(key)
            .arg("creationTime")
            .arg("1700000000000")
            .arg("lastAccessedTime")
            .arg("1700000000000")
            .arg("maxInactiveInterval")
            .arg("1800")
            .arg("sessionAttr:user")
            .arg(b"\xac\xed\x00\x05t\x00\x05alice".as_slice())
            .query(&mut con)
            .unwrap();
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 1_800_000;
        let set: i64 = redis::cmd("PEXPIREAT")
            .arg(key)
            .arg(at)
            .query(&mut con)
            .unwrap();
        assert_eq!(set, 1);
        let all: HashMap<String, Vec<u8>> = redis::cmd("HGETALL").arg(key).query(&mut con).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all["sessionAttr:user"], b"\xac\xed\x00\x05t\x00\x05alice");
        let expiretime: i64 = redis::cmd("PEXPIRETIME").arg(key).query(&mut con).unwrap();
        assert_eq!(expiretime as u64, at);
        let n: i64 = redis::cmd("HINCRBY")
            .arg(key)
            .arg("maxInactiveInterval")
            .arg(60)
            .query(&mut con)
            .unwrap();
        assert_eq!(n, 1860);
        let f: String = redis::cmd("HINCRBYFLOAT")
            .arg(key)
            .arg("score")
            .arg("1.5")
            .query(&mut con)
            .unwrap();
        assert_eq!(f, "1.5");
        let fields: HashSet<String> = redis::cmd("HKEYS").arg(key).query(&mut con).unwrap();
        assert!(fields.contains("creationTime") && fields.contains("score"));
        let deleted: i64 = redis::cmd("HDEL")
            .arg(key)
            .arg("score")
            .arg("nope")
            .query(&mut con)
            .unwrap();
        assert_eq!(deleted, 1);
        let picked: Vec<String> = redis::cmd("HRANDFIELD")
            .arg(key)
            .arg(-10)
            .query(&mut con)
            .unwrap();
        assert_eq!(picked.len(), 10);
        let picked: Vec<String> = redis::cmd("HRANDFIELD")
            .arg(key)
            .arg(10)
            .query(&mut con)
            .unwrap();
        assert_eq!(picked.iter().collect::<HashSet<_>>().len(), 4);
        // A hash emptied by HDEL is gone.
        let _: i64 = redis::cmd("HDEL")
            .arg(key)
            .arg("creationTime")
            .arg("lastAccessedTime")
            .arg("maxInactiveInterval")
            .arg("sessionAttr:user")
            .query(&mut con)
            .unwrap();
        let exists: i64 = redis::cmd("EXISTS").arg(key).query(&mut con).unwrap();
        assert_eq!(exists, 0);
    }
}

#[test]
fn resp3_reply_types() {
    let server = TestServer::start();
    let mut con = server.client_resp3();
    let _: () = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg("s")
        .arg("a")
        .arg("b")
        .query(&mut con)
        .unwrap();
    let map: redis::Value = redis::cmd("HGETALL").arg("h").query(&mut con).unwrap();
    assert!(
        matches!(map, redis::Value::Map(ref m) if m.len() == 1),
        "{map:?}"
    );
    let set: redis::Value = redis::cmd("SMEMBERS").arg("s").query(&mut con).unwrap();
    assert!(
        matches!(set, redis::Value::Set(ref s) if s.len() == 2),
        "{set:?}"
    );
    let null: redis::Value = redis::cmd("GET").arg("missing").query(&mut con).unwrap();
    assert_eq!(null, redis::Value::Nil);
    let pairs: redis::Value = redis::cmd("HRANDFIELD")
        .arg("h")
        .arg(1)
        .arg("WITHVALUES")
        .query(&mut con)
        .unwrap();
    let redis::Value::Array(outer) = pairs else {
        panic!("{pairs:?}")
    };
    assert!(matches!(&outer[0], redis::Value::Array(inner) if inner.len() == 2));
    let popped: redis::Value = redis::cmd("SPOP").arg("s").arg(5).query(&mut con).unwrap();
    assert!(
        matches!(popped, redis::Value::Set(ref s) if s.len() == 2),
        "{popped:?}"
    );
    let exists: i64 = redis::cmd("EXISTS").arg("s").query(&mut con).unwrap();
    assert_eq!(exists, 0, "a set emptied by SPOP is deleted");
}

#[test]
fn set_algebra_and_moves() {
    let server = TestServer::start();
    let mut con = server.client();
    let _: () = redis::cmd("SADD")
        .arg("a")
        .arg(&["1", "2", "3"])
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg("b")
        .arg(&["2", "3", "4"])
        .query(&mut con)
        .unwrap();
    let inter: HashSet<String> = redis::cmd("SINTER")
        .arg("a")
        .arg("b")
        .query(&mut con)
        .unwrap();
    assert_eq!(inter, HashSet::from(["2".into(), "3".into()]));
    let union: HashSet<String> = redis::cmd("SUNION")
        .arg("a")
        .arg("b")
        .query(&mut con)
        .unwrap();
    assert_eq!(union.len(), 4);
    let diff: HashSet<String> = redis::cmd("SDIFF")
        .arg("a")
        .arg("b")
        .query(&mut con)
        .unwrap();
    assert_eq!(diff, HashSet::from(["1".into()]));
    let moved: i64 = redis::cmd("SMOVE")
        .arg("a")
        .arg("c")
        .arg("1")
        .query(&mut con)
        .unwrap();
    assert_eq!(moved, 1);
    let flags: Vec<i64> = redis::cmd("SMISMEMBER")
        .arg("c")
        .arg("1")
        .arg("2")
        .query(&mut con)
        .unwrap();
    assert_eq!(flags, [1, 0]);
    let mut seen = HashSet::new();
    let mut cursor = 0u64;
    let _: () = redis::cmd("SADD")
        .arg("big")
        .arg((0..2000).map(|i| format!("m{i}")).collect::<Vec<_>>())
        .query(&mut con)
        .unwrap();
    loop {
        let (next, page): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg("big")
            .arg(cursor)
            .arg("COUNT")
            .arg(50)
            .query(&mut con)
            .unwrap();
        seen.extend(page);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 2000);
    let sampled: Vec<String> = redis::cmd("SRANDMEMBER")
        .arg("big")
        .arg(-3000)
        .query(&mut con)
        .unwrap();
    assert_eq!(sampled.len(), 3000);
    let card: i64 = redis::cmd("SCARD").arg("big").query(&mut con).unwrap();
    assert_eq!(card, 2000);
}

#[test]
fn huge_negative_random_counts_are_refused_not_fatal() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"HSET", b"h", b"f", b"v"], b":1\r\n");
    raw.roundtrip(&[b"SADD", b"s", b"m"], b":1\r\n");
    raw.roundtrip(
        &[b"HRANDFIELD", b"h", b"-4611686018427387904", b"WITHVALUES"],
        b"-ERR value is out of range\r\n",
    );
    raw.roundtrip(
        &[b"SRANDMEMBER", b"s", b"-4611686018427387904"],
        b"-ERR value is out of range\r\n",
    );
    raw.roundtrip(&[b"PING"], b"+PONG\r\n");
}

/// ZRANK/ZREVRANK WITHSCORE is Redis 7.2's (the differential reference is 7.0, where
/// ZRANK takes exactly two arguments), so its replies are checked here, byte for byte.
#[test]
fn zrank_withscore_as_redis_7_2() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(
        &[b"ZADD", b"z", b"1.5", b"a", b"2", b"b", b"2", b"c"],
        b":3\r\n",
    );
    raw.roundtrip(&[b"ZRANK", b"z", b"a"], b":0\r\n");
    raw.roundtrip(
        &[b"ZRANK", b"z", b"a", b"WITHSCORE"],
        b"*2\r\n:0\r\n$3\r\n1.5\r\n",
    );
    raw.roundtrip(
        &[b"zrevrank", b"z", b"a", b"withscore"],
        b"*2\r\n:2\r\n$3\r\n1.5\r\n",
    );
    raw.roundtrip(
        &[b"ZREVRANK", b"z", b"c", b"withscore"],
        b"*2\r\n:0\r\n$1\r\n2\r\n",
    );
    raw.roundtrip(&[b"ZRANK", b"z", b"nope", b"WITHSCORE"], b"*-1\r\n");
    raw.roundtrip(&[b"ZRANK", b"nokey", b"a", b"WITHSCORE"], b"*-1\r\n");
    raw.roundtrip(&[b"ZRANK", b"nokey", b"a"], b"$-1\r\n");
    raw.roundtrip(&[b"ZRANK", b"z", b"a", b"foo"], b"-ERR syntax error\r\n");
    raw.roundtrip(
        &[b"ZRANK", b"z", b"a", b"withscore", b"x"],
        b"-ERR wrong number of arguments for 'zrank' command\r\n",
    );
    raw.roundtrip(
        &[b"ZREVRANK", b"z", b"a", b"withscore", b"x"],
        b"-ERR wrong number of arguments for 'zrevrank' command\r\n",
    );
    raw.roundtrip(&[b"SET", b"s", b"v"], b"+OK\r\n");
    raw.roundtrip(
        &[b"ZRANK", b"s", b"a", b"withscore"],
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    raw.hello3();
    raw.roundtrip(&[b"ZRANK", b"z", b"b", b"WITHSCORE"], b"*2\r\n:1\r\n,2\r\n");
    raw.roundtrip(&[b"ZRANK", b"z", b"nope", b"WITHSCORE"], b"_\r\n");
    raw.roundtrip(&[b"ZREVRANK", b"z", b"nope"], b"_\r\n");
}

/// GET from a connection writes the value straight into the output buffer: the bytes,
/// misses, WRONGTYPE, a large string, RESP3's null, GET inside MULTI and a script
/// (which take the plain path), CLIENT REPLY SKIP, and the stats GET keeps.
#[test]
fn get_reply_bytes_on_every_path() {
    let server = TestServer::start();
    let mut raw = server.raw();
    let large = vec![b'x'; 40_000];
    raw.send_cmd(&[b"SET", b"big", &large]);
    raw.expect(b"+OK\r\n");
    raw.send(b"SET k v1\r\nLPUSH l a\r\nGET k\r\nGET nosuch\r\nGET l\r\nGET k\r\n");
    raw.expect(
        b"+OK\r\n:1\r\n$2\r\nv1\r\n$-1\r\n-WRONGTYPE Operation against a key holding \
          the wrong kind of value\r\n$2\r\nv1\r\n",
    );
    raw.send(b"GET big\r\n");
    let mut want = b"$40000\r\n".to_vec();
    want.extend_from_slice(&large);
    want.extend_from_slice(b"\r\n");
    raw.expect(&want);
    raw.send(b"MULTI\r\nGET k\r\nGET nosuch\r\nEXEC\r\n");
    raw.expect(b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n$2\r\nv1\r\n$-1\r\n");
    raw.send(b"EVAL \"return redis.call('GET', KEYS[1])\" 1 k\r\n");
    raw.expect(b"$2\r\nv1\r\n");
    raw.send(b"CLIENT REPLY SKIP\r\nGET k\r\nGET k\r\n");
    raw.expect(b"$2\r\nv1\r\n");
    raw.send(b"CLIENT REPLY OFF\r\nGET k\r\nCLIENT REPLY ON\r\nGET k\r\n");
    raw.expect(b"+OK\r\n$2\r\nv1\r\n");
    raw.hello3();
    raw.send(b"GET nosuch\r\nGET k\r\n");
    raw.expect(b"_\r\n$2\r\nv1\r\n");

    let mut con = server.client();
    let info: String = redis::cmd("INFO").arg("stats").query(&mut con).unwrap();
    // Hits: k nine times, l (WRONGTYPE finds the key), big; misses: nosuch x3.
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(field("keyspace_hits:"), 11);
    assert_eq!(field("keyspace_misses:"), 3);
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut con)
        .unwrap();
    let get = stats
        .lines()
        .find(|l| l.starts_with("cmdstat_get:"))
        .unwrap();
    assert!(get.starts_with("cmdstat_get:calls=14,"), "{get}");
    assert!(get.contains(",failed_calls=1"), "{get}");
}
