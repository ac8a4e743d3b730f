//! HyperLogLog values move between redis-server and Roost as strings: an HLL written by
//! Redis and SET into Roost counts the same, and the other way round, in the sparse and
//! the dense form. They survive a restart (the log replayed) and reach a replica byte
//! for byte, cached cardinality included. Replies, errors and GET of the same PFADDs
//! are compared byte for byte in tests/differential/hyperloglog.redis.

mod common;

use std::time::Duration;

use common::process::{wait_for, RedisServer, Roost, TempDir};
use common::TestServer;

fn pfadd(con: &mut redis::Connection, key: &str, elements: impl Iterator<Item = String>) {
    let elements: Vec<String> = elements.collect();
    for chunk in elements.chunks(500) {
        let _: i64 = redis::cmd("PFADD").arg(key).arg(chunk).query(con).unwrap();
    }
}

fn get(con: &mut redis::Connection, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query(con).unwrap()
}

fn pfcount(con: &mut redis::Connection, keys: &[&str]) -> i64 {
    redis::cmd("PFCOUNT").arg(keys).query(con).unwrap()
}

fn encoding(con: &mut redis::Connection, key: &str) -> String {
    redis::cmd("PFDEBUG")
        .arg("ENCODING")
        .arg(key)
        .query(con)
        .unwrap()
}

#[test]
fn hlls_written_by_redis_count_the_same_in_roost_and_back() {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    let mut r = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut o = roost.client();
    // Sparse (a few hundred elements) and dense (promoted past 3000 bytes).
    pfadd(&mut r, "sparse", (0..300).map(|i| format!("user:{i}")));
    pfadd(&mut r, "dense", (0..50_000).map(|i| format!("visitor-{i}")));
    assert_eq!(encoding(&mut r, "sparse"), "sparse");
    assert_eq!(encoding(&mut r, "dense"), "dense");
    for key in ["sparse", "dense"] {
        let bytes = get(&mut r, key);
        let () = redis::cmd("SET")
            .arg(key)
            .arg(&bytes)
            .query(&mut o)
            .unwrap();
        assert_eq!(encoding(&mut o, key), encoding(&mut r, key));
        assert_eq!(pfcount(&mut o, &[key]), pfcount(&mut r, &[key]), "{key}");
        // Both cached the count in the header the same way.
        assert_eq!(get(&mut o, key), get(&mut r, key), "{key}");
    }
    assert_eq!(
        pfcount(&mut o, &["sparse", "dense"]),
        pfcount(&mut r, &["sparse", "dense"])
    );

    // Roost's HLLs, after more PFADDs on both sides, read the same in Redis.
    pfadd(&mut o, "sparse", (0..100).map(|i| format!("new:{i}")));
    pfadd(&mut r, "sparse", (0..100).map(|i| format!("new:{i}")));
    pfadd(&mut o, "fresh", (0..5000).map(|i| format!("f{i}")));
    pfadd(&mut r, "fresh", (0..5000).map(|i| format!("f{i}")));
    for key in ["sparse", "fresh"] {
        let bytes = get(&mut o, key);
        assert_eq!(bytes, get(&mut r, key), "{key}");
        let () = redis::cmd("SET")
            .arg("copy")
            .arg(&bytes)
            .query(&mut r)
            .unwrap();
        assert_eq!(pfcount(&mut r, &["copy"]), pfcount(&mut o, &[key]), "{key}");
    }
    let merged: String = redis::cmd("PFMERGE")
        .arg("m")
        .arg("sparse")
        .arg("dense")
        .query(&mut o)
        .unwrap();
    assert_eq!(merged, "OK");
    let _: String = redis::cmd("PFMERGE")
        .arg("m")
        .arg("sparse")
        .arg("dense")
        .query(&mut r)
        .unwrap();
    assert_eq!(get(&mut o, "m"), get(&mut r, "m"));
}

/// The HLLs the writes left (GET bytes); an error while a replica is still loading.
fn hll_state(con: &mut redis::Connection) -> redis::RedisResult<Vec<Option<Vec<u8>>>> {
    ["small", "large", "merged"]
        .iter()
        .map(|key| redis::cmd("GET").arg(key).query(con))
        .collect()
}

#[test]
fn hlls_survive_a_restart_and_reach_a_replica_byte_for_byte() {
    let dir = TempDir::new("hll-restart");
    let primary = Roost::start(&dir.0, &["--appendfsync", "always"]);
    let replica_dir = TempDir::new("hll-replica");
    let replica = Roost::start(&replica_dir.0, &[]);
    let mut r = replica.client();
    let () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port)
        .query(&mut r)
        .unwrap();
    let mut con = primary.client();
    pfadd(&mut con, "small", (0..50).map(|i| format!("s{i}")));
    pfadd(&mut con, "large", (0..20_000).map(|i| format!("l{i}")));
    let _: String = redis::cmd("PFMERGE")
        .arg("merged")
        .arg("small")
        .arg("large")
        .query(&mut con)
        .unwrap();
    // Caches the count in `small`'s header: logged, so the copies keep the same bytes.
    let small = pfcount(&mut con, &["small"]);
    assert!((48..=52).contains(&small), "{small}");
    let expected = hll_state(&mut con).unwrap();
    wait_for(
        "the replica to apply the writes",
        Duration::from_secs(30),
        || hll_state(&mut r).is_ok_and(|state| state == expected),
    );
    // A replica's own client gets the count without changing its copy.
    let on_replica = pfcount(&mut r, &["large"]);
    assert_eq!(hll_state(&mut r).unwrap(), expected);
    assert_eq!(
        get(&mut r, "large")[15] & 0x80,
        0x80,
        "the cache stays stale"
    );
    // The primary's PFCOUNT writes the cache, and the replica gets the same bytes.
    assert_eq!(pfcount(&mut con, &["large"]), on_replica);
    assert_eq!(get(&mut con, "large")[15] & 0x80, 0, "the cache is written");
    let expected = hll_state(&mut con).unwrap();
    wait_for(
        "the replica to cache the count",
        Duration::from_secs(30),
        || hll_state(&mut r).is_ok_and(|state| state == expected),
    );
    drop(con);
    primary.shutdown();
    let primary = Roost::start(&dir.0, &[]);
    let mut con = primary.client();
    assert_eq!(hll_state(&mut con).unwrap(), expected);
    assert_eq!(pfcount(&mut con, &["small"]), small);
}
