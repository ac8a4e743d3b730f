//! Function libraries beyond one connection: FCALL and FCALL_RO through the `redis`
//! crate, libraries surviving a restart (loaded from the log, before and after a
//! rewrite), reaching a replica that follows the stream and one that syncs in full (whose
//! own libraries the sync replaces), and FUNCTION KILL stopping a long function. Replies
//! and errors are compared with Redis in tests/differential/functions.redis.

mod common;

use std::time::Duration;

use common::process::{wait_for, Roost, TempDir};
use common::TestServer;

const COUNTER: &str = "#!lua name=counter
redis.register_function('bump', function(keys, args)
    return redis.call('incrby', keys[1], args[1])
end)
redis.register_function{function_name='peek', callback=function(keys)
    return redis.call('get', keys[1])
end, flags={'no-writes'}}";

const COUNTER_V2: &str = "#!lua name=counter
redis.register_function('bump', function(keys, args)
    return redis.call('incrby', keys[1], args[1] * 10)
end)
redis.register_function{function_name='peek', callback=function(keys)
    return 'v2:' .. (redis.call('get', keys[1]) or 'nil')
end, flags={'no-writes'}}";

fn load(con: &mut redis::Connection, code: &str, replace: bool) -> redis::RedisResult<String> {
    let mut cmd = redis::cmd("FUNCTION");
    cmd.arg("LOAD");
    if replace {
        cmd.arg("REPLACE");
    }
    cmd.arg(code).query(con)
}

fn libraries(con: &mut redis::Connection) -> redis::RedisResult<Vec<String>> {
    let list: Vec<redis::Value> = redis::cmd("FUNCTION").arg("LIST").query(con)?;
    let mut names = Vec::new();
    for library in list {
        let fields: Vec<String> = match library {
            redis::Value::Array(items) => items
                .into_iter()
                .map(|v| redis::from_redis_value::<String>(v).unwrap_or_default())
                .collect(),
            other => panic!("a library is not an array: {other:?}"),
        };
        names.push(fields[1].clone());
    }
    names.sort();
    Ok(names)
}

fn peek(con: &mut redis::Connection) -> redis::RedisResult<String> {
    redis::cmd("FCALL_RO")
        .arg("peek")
        .arg(1)
        .arg("n")
        .query(con)
}

#[test]
fn fcall_and_fcall_ro_through_the_redis_crate() {
    let server = TestServer::start();
    let mut con = server.client();
    assert_eq!(load(&mut con, COUNTER, false).unwrap(), "counter");
    let n: i64 = redis::cmd("FCALL")
        .arg("bump")
        .arg(1)
        .arg("n")
        .arg(5)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 5);
    let got: String = redis::cmd("FCALL_RO")
        .arg("peek")
        .arg(1)
        .arg("n")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, "5");
    let refused = redis::cmd("FCALL_RO")
        .arg("bump")
        .arg(1)
        .arg("n")
        .arg(1)
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("Can not execute a script with write flag using *_ro command."),
        "{refused}"
    );
    let exists = load(&mut con, COUNTER, false).unwrap_err();
    assert!(exists
        .to_string()
        .contains("Library 'counter' already exists"));
    load(&mut con, COUNTER_V2, true).unwrap();
    let n: i64 = redis::cmd("FCALL")
        .arg("bump")
        .arg(1)
        .arg("n")
        .arg(1)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 15);
    // Each connection may run on another worker thread, with its own Lua state: every
    // one sees the replacement.
    for _ in 0..8 {
        let mut other = server.client();
        assert_eq!(peek(&mut other).unwrap(), "v2:15");
    }
}

#[test]
fn libraries_survive_restarts_and_rewrites_and_reach_replicas() {
    let dir = TempDir::new("functions-primary");
    let primary = Roost::start(&dir.0, &["--appendfsync", "always"]);
    let streamed_dir = TempDir::new("functions-streamed");
    let streamed = Roost::start(&streamed_dir.0, &[]);
    let mut s = streamed.client();
    let port = primary.port.to_string();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(&port)
        .query(&mut s)
        .unwrap();
    let mut con = primary.client();
    wait_for("the replica to connect", Duration::from_secs(30), || {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut con)
            .unwrap();
        info.contains("connected_slaves:1")
    });
    load(&mut con, COUNTER, false).unwrap();
    load(
        &mut con,
        "#!lua name=gone\nredis.register_function('g', function() return 1 end)",
        false,
    )
    .unwrap();
    let _: i64 = redis::cmd("FCALL")
        .arg("bump")
        .arg(1)
        .arg("n")
        .arg(2)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("FUNCTION")
        .arg("DELETE")
        .arg("gone")
        .query(&mut con)
        .unwrap();
    wait_for(
        "the streamed replica to get the library",
        Duration::from_secs(30),
        || peek(&mut s).is_ok_and(|v| v == "2") && libraries(&mut s).unwrap() == ["counter"],
    );

    // A full sync carries the libraries and drops the replica's own.
    let synced_dir = TempDir::new("functions-synced");
    let synced = Roost::start(&synced_dir.0, &[]);
    let mut f = synced.client();
    load(
        &mut f,
        "#!lua name=stale\nredis.register_function('stale', function() return 1 end)",
        false,
    )
    .unwrap();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(&port)
        .query(&mut f)
        .unwrap();
    wait_for(
        "the synced replica to get the library",
        Duration::from_secs(30),
        || peek(&mut f).is_ok_and(|v| v == "2"),
    );
    assert_eq!(libraries(&mut f).unwrap(), ["counter"]);

    // A rewrite puts the library in the base; one loaded after it is in the segment.
    let _: String = redis::cmd("SAVE").query(&mut con).unwrap();
    load(&mut con, COUNTER_V2, true).unwrap();
    load(
        &mut con,
        "#!lua name=later\nredis.register_function('later', function() return 'later' end)",
        false,
    )
    .unwrap();
    drop(con);
    primary.shutdown();
    let primary = Roost::start(&dir.0, &[]);
    let mut con = primary.client();
    assert_eq!(libraries(&mut con).unwrap(), ["counter", "later"]);
    assert_eq!(peek(&mut con).unwrap(), "v2:2");
    let later: String = redis::cmd("FCALL")
        .arg("later")
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert_eq!(later, "later");
    // And once more from a base holding both.
    let _: String = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(con);
    primary.shutdown();
    let primary = Roost::start(&dir.0, &[]);
    let mut con = primary.client();
    assert_eq!(libraries(&mut con).unwrap(), ["counter", "later"]);
    assert_eq!(peek(&mut con).unwrap(), "v2:2");
}

#[test]
fn function_kill_stops_a_long_function_and_function_stats_shows_it() {
    let server = TestServer::start();
    let mut con = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("busy-reply-threshold")
        .arg(50)
        .query(&mut con)
        .unwrap();
    load(
        &mut con,
        "#!lua name=slow\nredis.register_function{function_name='spin', callback=function() while true do end end, flags={'no-writes'}}",
        false,
    )
    .unwrap();
    let url = server.url();
    let runner = std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        redis::cmd("FCALL")
            .arg("spin")
            .arg(0)
            .query::<redis::Value>(&mut con)
            .unwrap_err()
            .to_string()
    });
    let mut other = server.client();
    wait_for("the function to be busy", Duration::from_secs(30), || {
        redis::cmd("PING").query::<String>(&mut other).is_err()
    });
    let busy = redis::cmd("PING").query::<String>(&mut other).unwrap_err();
    assert!(
        busy.to_string()
            .contains("You can only call FUNCTION KILL or SHUTDOWN NOSAVE."),
        "{busy}"
    );
    let wrong_kill = redis::cmd("SCRIPT")
        .arg("KILL")
        .query::<()>(&mut other)
        .unwrap_err();
    assert!(
        wrong_kill.to_string().contains("FUNCTION KILL"),
        "{wrong_kill}"
    );
    let stats: Vec<redis::Value> = redis::cmd("FUNCTION")
        .arg("STATS")
        .query(&mut other)
        .unwrap();
    let running = format!("{:?}", stats[1]);
    assert!(running.contains("spin"), "{running}");
    let _: () = redis::cmd("FUNCTION")
        .arg("KILL")
        .query(&mut other)
        .unwrap();
    let error = runner.join().unwrap();
    assert!(error.contains("Script killed by user"), "{error}");
    assert!(error.contains("@user_function"), "{error}");
    let pong: String = redis::cmd("PING").query(&mut other).unwrap();
    assert_eq!(pong, "PONG");
}
