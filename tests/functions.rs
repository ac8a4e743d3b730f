//! Function libraries beyond one connection: FCALL and FCALL_RO through the `redis`
//! crate, libraries surviving a restart (loaded from the log, before and after a
//! rewrite), reaching a replica that follows the stream and one that syncs in full (whose
//! own libraries the sync replaces), and FUNCTION KILL stopping a long function. With
//! redis-server: libraries move both ways in RDB files (SAVE, then a start on the file)
//! and in FUNCTION DUMP / RESTORE payloads, with RESTORE's policies and errors compared
//! reply for reply. Other replies and errors are compared with Redis in
//! tests/differential/functions.redis.

mod common;

use std::time::Duration;

use common::process::{wait_for, RedisServer, Roost, TempDir};
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
    assert_eq!(
        common::info_field(&mut con, "memory", "number_of_libraries"),
        "0"
    );
    assert_eq!(load(&mut con, COUNTER, false).unwrap(), "counter");
    assert_eq!(
        common::info_field(&mut con, "memory", "number_of_libraries"),
        "1"
    );
    assert_eq!(
        common::info_field(&mut con, "memory", "number_of_functions"),
        "2"
    );
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

const GREETER: &str = "#!lua name=greeter
redis.register_function('hello', function(keys, args) return 'hello ' .. args[1] end)";

fn connect(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

fn hello(con: &mut redis::Connection) -> redis::RedisResult<String> {
    redis::cmd("FCALL")
        .arg("hello")
        .arg(0)
        .arg("rdb")
        .query(con)
}

/// Both servers can call both libraries' functions.
fn assert_callable(con: &mut redis::Connection) {
    assert_eq!(hello(con).unwrap(), "hello rdb");
    let n: i64 = redis::cmd("FCALL")
        .arg("bump")
        .arg(1)
        .arg("n")
        .arg(5)
        .query(con)
        .unwrap();
    assert!(n >= 5, "{n}");
    let mut names = libraries(con).unwrap();
    names.sort();
    assert_eq!(names, ["counter", "greeter"]);
}

#[test]
fn libraries_move_both_ways_in_rdb_files() {
    // Redis's SAVE into Roost.
    let redis_dir = TempDir::new("functions-rdb-redis");
    let redis = RedisServer::start_with(&["--dir", redis_dir.0.to_str().unwrap()]);
    let mut r = connect(&redis.url());
    load(&mut r, COUNTER, false).unwrap();
    load(&mut r, GREETER, false).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut r).unwrap();
    let dir = TempDir::new("functions-rdb-roost");
    std::fs::copy(redis_dir.0.join("dump.rdb"), dir.0.join("dump.rdb")).unwrap();
    let flags = ["--appendonly", "no", "--save", ""];
    let roost = Roost::start(&dir.0, &flags);
    let mut o = roost.client();
    assert_callable(&mut o);

    // Roost's SAVE into Redis (a library loaded in Roost, saved, then read by Redis).
    load(
        &mut o,
        GREETER.replace("'hello '", "'hello from roost '").as_str(),
        true,
    )
    .unwrap();
    let _: () = redis::cmd("SAVE").query(&mut o).unwrap();
    drop(roost);
    let redis = RedisServer::start_with(&["--dir", dir.0.to_str().unwrap()]);
    let mut r = connect(&redis.url());
    assert_eq!(hello(&mut r).unwrap(), "hello from roost rdb");
    let n: i64 = redis::cmd("FCALL")
        .arg("bump")
        .arg(1)
        .arg("n")
        .arg(1)
        .query(&mut r)
        .unwrap();
    assert_eq!(n, 6);
    // And Roost reads its own file back.
    let roost = Roost::start(&dir.0, &flags);
    assert_eq!(hello(&mut roost.client()).unwrap(), "hello from roost rdb");
}

fn run(con: &mut redis::Connection, args: &[&[u8]]) -> redis::Value {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
        .unwrap_or_else(|e| redis::Value::SimpleString(format!("error: {e}")))
}

fn dump(con: &mut redis::Connection) -> Vec<u8> {
    redis::cmd("FUNCTION").arg("DUMP").query(con).unwrap()
}

#[test]
fn function_dump_and_restore_move_both_ways_with_redis_replies() {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    let (mut r, mut o) = (connect(&redis.url()), roost.client());
    for con in [&mut r, &mut o] {
        load(con, COUNTER, false).unwrap();
        load(con, GREETER, false).unwrap();
    }
    // Each server's payload restores into the other.
    let from_redis = dump(&mut r);
    let from_roost = dump(&mut o);
    for (con, payload) in [(&mut o, &from_redis), (&mut r, &from_roost)] {
        let flushed = run(con, &[b"FUNCTION", b"RESTORE", payload, b"FLUSH"]);
        assert_eq!(flushed, redis::Value::Okay);
        assert_callable(con);
    }
    // The same requests to both: every reply must be equal.
    let only_greeter = {
        let _: () = redis::cmd("FUNCTION")
            .arg("DELETE")
            .arg("counter")
            .query(&mut r)
            .unwrap();
        let payload = dump(&mut r);
        load(&mut r, COUNTER, false).unwrap();
        payload
    };
    let clash = "#!lua name=other\nredis.register_function('hello', function() return 1 end)";
    let key_payload = {
        let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut r).unwrap();
        let p: Vec<u8> = redis::cmd("DUMP").arg("k").query(&mut r).unwrap();
        p
    };
    let mut damaged = from_redis.clone();
    damaged[5] ^= 1;
    // Which of several clashing libraries Redis names follows its hash table's order,
    // so the clash is with a payload of one library.
    let requests: Vec<Vec<&[u8]>> = vec![
        vec![b"FUNCTION", b"RESTORE", &only_greeter],
        vec![b"FUNCTION", b"RESTORE", &only_greeter, b"APPEND"],
        vec![b"FUNCTION", b"RESTORE", &from_redis, b"bogus"],
        vec![b"FUNCTION", b"RESTORE", &from_redis, b"APPEND", b"extra"],
        vec![b"FUNCTION", b"RESTORE", &damaged],
        vec![b"FUNCTION", b"RESTORE", b"short"],
        vec![b"FUNCTION", b"RESTORE", &key_payload],
        vec![b"FUNCTION", b"DELETE", b"greeter"],
        vec![b"FUNCTION", b"LOAD", clash.as_bytes()],
        // The payload's greeter clashes with 'other' over 'hello': nothing changes.
        vec![b"FUNCTION", b"RESTORE", &only_greeter, b"REPLACE"],
        vec![b"FCALL", b"hello", b"0", b"x"],
        vec![b"FUNCTION", b"RESTORE", &only_greeter, b"FLUSH"],
        vec![b"FCALL", b"hello", b"0", b"x"],
        vec![b"FUNCTION", b"RESTORE", &from_redis, b"REPLACE"],
        vec![b"FCALL", b"bump", b"1", b"n2", b"3"],
        vec![b"FUNCTION", b"FLUSH"],
        vec![b"FUNCTION", b"DUMP"],
        vec![b"FUNCTION", b"RESTORE", &from_roost, b"replace"],
        vec![b"FCALL", b"hello", b"0", b"y"],
    ];
    for request in &requests {
        let (a, b) = (run(&mut r, request), run(&mut o, request));
        assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&request.concat()));
    }
}
