//! Keyspace notifications, differentially: the same commands run against a real
//! redis-server and against Roost with `notify-keyspace-events KEA`, and the messages a
//! pattern subscriber receives must be the same, in the same order.

mod common;

use std::time::Duration;

use common::process::RedisServer;
use common::TestServer;

/// The commands, one per line (split at spaces).
const SCRIPT: &str = "
SET s1 v
SET s2 v EX 100
SETEX s3 100 v
SETNX s4 v
SETNX s4 v2
GETSET s4 v3
MSET m1 a m2 b
MSETNX m3 c m4 d
SET s1 w KEEPTTL
APPEND s1 more
SETRANGE s1 0 X
INCR n
INCRBY n 5
DECR n
INCRBYFLOAT f 1.5
GETDEL s4
GETDEL s4
GETEX s1 EX 100
GETEX s1 PERSIST
GETEX s1
EXPIRE s2 200
PEXPIRE s2 200000
EXPIREAT s3 99999999999
PERSIST s2
PERSIST s2
EXPIRE m1 -1
DEL m2 m3 missing
UNLINK m4
RENAME s1 r1
SET m5 x
RENAMENX r1 m5
COPY r1 c1
MOVE c1 1
HSET h a 1 b 2
HSETNX h a 3
HSETNX h c 3
HMSET h d 4
HINCRBY h a 2
HINCRBYFLOAT h a 1.5
HDEL h a b
HDEL h nope
HDEL h c d
SADD st a b c
SADD st a
SREM st a
SREM st zz
SADD x 1
SMOVE x y 1
SADD z 1
SADD w 1
SMOVE z w 1
LPUSH l1 a b c
RPUSH l1 d
LPUSHX nolist x
LINSERT l1 BEFORE a z
LSET l1 0 y
LREM l1 1 y
LTRIM l1 0 2
LPOP l1
RPOP l1
LMOVE l1 l2 LEFT RIGHT
RPOPLPUSH l2 l3
LPOP l3 5
ZADD z1 1 a 2 b 3 c
ZADD z1 INCR 5 a
ZINCRBY z1 1 b
ZADD z1 XX 9 nope
ZREM z1 a
ZREMRANGEBYSCORE z1 0 2.5
ZREMRANGEBYRANK z1 0 0
ZADD z2 0 a 0 b 0 c 0 d
ZREMRANGEBYLEX z2 [a [b
ZPOPMIN z2
ZPOPMAX z2 5
SADD sa a b c
SADD sb b c d
SINTERSTORE sdst sa sb
SUNIONSTORE sdst sa sb
SDIFFSTORE sdst sa sb
SINTERSTORE sdst sa nokey
SINTERSTORE sdst sa nokey
ZADD za 1 a 2 b
ZADD zb 3 b 4 c
ZUNIONSTORE zdst 2 za zb
ZINTERSTORE zdst 2 za zb WEIGHTS 1 2
ZDIFFSTORE zdst 2 za zb
ZDIFFSTORE zdst 2 za za
ZRANGESTORE zdst zb 0 0
ZRANGESTORE zdst nokey 0 -1
ZMPOP 2 nokey za MAX COUNT 5
ZADD za 1 a 2 b
BZPOPMIN za 0
BZPOPMAX za 0
ZADD za 1 a 2 b
BZMPOP 0 1 za MIN COUNT 2
SETBIT bits 10 1
SETBIT bits 10 1
SETBIT bits 10 0
BITFIELD bits SET u8 0 255 GET u8 0
BITFIELD bits SET u8 0 255
BITFIELD bits OVERFLOW FAIL INCRBY u8 0 1
BITFIELD bits GET u8 0
BITOP NOT bnot bits
BITOP AND bnot nokey
BITOP AND bnot nokey
PFADD hll a b c
PFADD hll a
PFCOUNT hll
PFMERGE hll2 hll
PFDEBUG TODENSE hll2
RPUSH tosort 3 1 2
SORT tosort STORE sorted
SORT nokey STORE sorted
SORT nokey STORE sorted
XADD xs 1-1 f v
XADD xs MAXLEN 1 2-1 f v
XADD xs NOMKSTREAM 3-1 f v
XADD nostream NOMKSTREAM 1-1 f v
XDEL xs 3-1
XDEL xs 9-9
XTRIM xs MAXLEN 0
XTRIM xs MAXLEN 0
XSETID xs 5-0
XGROUP CREATE xs g 0
XGROUP CREATE xnew g $ MKSTREAM
XGROUP CREATECONSUMER xs g c1
XGROUP CREATECONSUMER xs g c1
XADD xs 6-0 f v
XREADGROUP GROUP g c2 STREAMS xs >
XACK xs g 6-0
XCLAIM xs g c3 0 6-0 FORCE
XGROUP SETID xs g 0
XGROUP DELCONSUMER xs g c1
XGROUP DESTROY xs g
XGROUP DESTROY xs g
GEOADD geo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
GEOADD geo NX 13.361389 38.115556 Palermo
GEORADIUS geo 15 37 200 km STORE geodst
GEORADIUSBYMEMBER geo Palermo 1 m STOREDIST geodst2
GEOSEARCHSTORE geodst geo FROMLONLAT 15 37 BYRADIUS 1 m
GEOSEARCHSTORE geodst geo FROMLONLAT 15 37 BYRADIUS 1 m
GEOSEARCHSTORE geodst2 geo FROMMEMBER Catania BYBOX 10 10 km STOREDIST
GEORADIUS nogeo 15 37 200 km STORE geodst2
SET e v PX 50
";

/// Runs the script against the server at `url`; returns every notification received.
fn notifications(url: &str) -> Vec<(String, String)> {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_connection().unwrap();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KEA")
        .query(&mut con)
        .unwrap();
    let mut sub_con = client.get_connection().unwrap();
    let mut pubsub = sub_con.as_pubsub();
    pubsub.psubscribe("__key*__:*").unwrap();
    pubsub.subscribe("end-of-script").unwrap();
    for line in SCRIPT.lines().filter(|l| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let _: redis::Value = redis::cmd(words[0])
            .arg(&words[1..])
            .query(&mut con)
            .unwrap();
    }
    // Let `e` expire; a read then removes it if active expiry has not yet (either way
    // one `expired` event, without depending on when the expiry cycle runs).
    std::thread::sleep(Duration::from_millis(200));
    let _: Option<String> = redis::cmd("GET").arg("e").query(&mut con).unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg("end-of-script")
        .arg("done")
        .query(&mut con)
        .unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let message = pubsub.get_message().unwrap();
        let channel = message.get_channel_name().to_string();
        let payload: String = message.get_payload().unwrap();
        if channel == "end-of-script" {
            return seen;
        }
        seen.push((channel, payload));
    }
}

#[test]
fn keyspace_and_keyevent_messages_match_redis() {
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let roost = TestServer::start();
    let expected = notifications(&redis_url);
    let got = notifications(&roost.url());
    assert!(expected.len() > 100, "{expected:?}");
    if got != expected {
        let width = expected.len().max(got.len());
        let mut report = String::new();
        for i in 0..width {
            let e = expected.get(i).map(|(c, p)| format!("{c} {p}"));
            let g = got.get(i).map(|(c, p)| format!("{c} {p}"));
            let mark = if e == g { " " } else { "!" };
            report.push_str(&format!("{mark} redis: {e:?}\n  roost: {g:?}\n"));
        }
        panic!("notifications differ:\n{report}");
    }
}

#[test]
fn notifications_are_off_by_default_and_follow_the_class_letters() {
    let roost = TestServer::start();
    let client = redis::Client::open(roost.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let mut sub_con = client.get_connection().unwrap();
    let mut pubsub = sub_con.as_pubsub();
    pubsub.psubscribe("__key*__:*").unwrap();
    pubsub.subscribe("marker").unwrap();
    let () = redis::cmd("SET")
        .arg("quiet")
        .arg("1")
        .query(&mut con)
        .unwrap();
    // Only keyevent messages for generic commands.
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("Eg")
        .query(&mut con)
        .unwrap();
    let () = redis::cmd("SET").arg("k").arg("1").query(&mut con).unwrap();
    let _: i64 = redis::cmd("DEL").arg("k").query(&mut con).unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg("marker")
        .arg("x")
        .query(&mut con)
        .unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let message = pubsub.get_message().unwrap();
    assert_eq!(message.get_channel_name(), "__keyevent@0__:del");
    assert_eq!(message.get_payload::<String>().unwrap(), "k");
    let message = pubsub.get_message().unwrap();
    assert_eq!(message.get_channel_name(), "marker");
}
