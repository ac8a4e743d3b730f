//! Scripts run atomically and are logged and replicated as their effects.

use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::process::{Roost, TempDir};

const LOCK_RELEASE: &str =
    "if redis.call('get',KEYS[1]) == ARGV[1] then return redis.call('del',KEYS[1]) else return 0 end";

#[test]
fn a_scripts_writes_survive_kill_9_and_reach_a_replica() {
    let (pdir, rdir) = (TempDir::new("script-p"), TempDir::new("script-r"));
    let primary = Roost::start(&pdir.0, &["--appendfsync", "always"]);
    let replica = Roost::start(
        &rdir.0,
        &["--replicaof", &format!("127.0.0.1 {}", primary.port)],
    );
    let mut p = primary.client();
    let script = "redis.call('set', KEYS[1], ARGV[1]); redis.call('hset', KEYS[2], 'f', ARGV[1]); \
                  redis.call('expire', KEYS[2], 1000); return redis.call('incr', 'counter')";
    for i in 0..10 {
        let n: i64 = redis::cmd("EVAL")
            .arg(script)
            .arg(2)
            .arg(format!("s{i}"))
            .arg(format!("h{i}"))
            .arg(i)
            .query(&mut p)
            .unwrap();
        assert_eq!(n, i + 1);
    }
    // The replica applies the effects: the keys, not the script.
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert_eq!(acked, 1);
    let mut r = replica.client();
    let v: String = redis::cmd("HGET").arg("h9").arg("f").query(&mut r).unwrap();
    assert_eq!(v, "9");
    let ttl: i64 = redis::cmd("TTL").arg("h9").query(&mut r).unwrap();
    assert!(ttl > 900);
    let counter: i64 = redis::cmd("GET").arg("counter").query(&mut r).unwrap();
    assert_eq!(counter, 10);
    // The log holds them too.
    primary.kill9();
    let primary = Roost::start(&pdir.0, &[]);
    let mut p = primary.client();
    let counter: i64 = redis::cmd("GET").arg("counter").query(&mut p).unwrap();
    assert_eq!(counter, 10);
    let v: String = redis::cmd("GET").arg("s3").query(&mut p).unwrap();
    assert_eq!(v, "3");
}

#[test]
fn the_redis_crates_script_helper_and_a_lock_release() {
    let server = common::TestServer::start();
    let mut con = server.client();
    // redis::Script sends EVALSHA and falls back to EVAL on NOSCRIPT, as phpredis does.
    let release = redis::Script::new(LOCK_RELEASE);
    let () = redis::cmd("SET")
        .arg("lock")
        .arg("me")
        .arg("NX")
        .arg("PX")
        .arg(30000)
        .query(&mut con)
        .unwrap();
    let released: i64 = release
        .key("lock")
        .arg("someone-else")
        .invoke(&mut con)
        .unwrap();
    assert_eq!(released, 0);
    let released: i64 = release.key("lock").arg("me").invoke(&mut con).unwrap();
    assert_eq!(released, 1);
    let exists: i64 = redis::cmd("EXISTS").arg("lock").query(&mut con).unwrap();
    assert_eq!(exists, 0);
    let cached: Vec<i64> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(release.get_hash())
        .query(&mut con)
        .unwrap();
    assert_eq!(cached, vec![1]);
}

#[test]
fn a_script_is_atomic_for_other_clients() {
    let server = common::TestServer::start();
    let mut con = server.client();
    let () = redis::cmd("SET").arg("a").arg(0).query(&mut con).unwrap();
    let () = redis::cmd("SET").arg("b").arg(0).query(&mut con).unwrap();
    // Writers move a unit from a to b in a script; a reader must never see a torn state.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let mut con = server.client();
        let stop = stop.clone();
        thread::spawn(move || {
            let script = redis::Script::new(
                "redis.call('decr', 'a'); for i = 1, 100 do redis.call('set', 'scratch', i) end; return redis.call('incr', 'b')",
            );
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _: i64 = script.invoke(&mut con).unwrap();
            }
        })
    };
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut reads = 0;
    while Instant::now() < deadline {
        let (a, b): (i64, i64) = redis::cmd("MGET")
            .arg("a")
            .arg("b")
            .query(&mut con)
            .unwrap();
        assert_eq!(a + b, 0, "saw a script half done: a={a} b={b}");
        reads += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(reads > 0);
}
