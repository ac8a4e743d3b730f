//! Redis's own tools against Roost: redis-cli (interactive, --pipe, --scan, -r) and
//! redis-benchmark.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::TestServer;

fn tool(name: &str) -> Command {
    if Command::new(name).arg("--version").output().is_err() {
        panic!("{name} not found: install Debian's redis-tools (apt-get install -y redis-tools); tests/run does");
    }
    Command::new(name)
}

fn cli(server: &TestServer, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = tool("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &server.addr().port().to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn redis_cli_commands_from_stdin() {
    let server = TestServer::start();
    let out = cli(
        &server,
        &[],
        b"SET greeting \"hello world\"\nGET greeting\nINCR visits\nHSET h f v\nHGETALL h\nTTL greeting\nNOSUCH\n",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "OK\nhello world\n1\n1\nf\nv\n-1\nERR unknown command 'NOSUCH', with args beginning with: \n\n"
    );
}

#[test]
fn redis_cli_pipe_mode_loads_ten_thousand_keys() {
    let server = TestServer::start();
    let mut protocol = Vec::new();
    for i in 0..10_000 {
        protocol.extend(common::encode_cmd(&[
            b"SET",
            format!("sess:{i}").as_bytes(),
            b"payload",
        ]));
    }
    let out = cli(&server, &["--pipe"], &protocol);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 10000"), "{text}");
    let mut con = server.client();
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 10_000);
}

#[test]
fn redis_cli_scan_and_repeat() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("SET").arg(format!("sess:{i}")).arg("v").ignore();
        pipe.cmd("SET").arg(format!("other:{i}")).arg("v").ignore();
    }
    let _: () = pipe.query(&mut con).unwrap();
    let out = cli(&server, &["--scan", "--pattern", "sess:*"], b"");
    let mut keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    keys.sort();
    let mut expected: Vec<String> = (0..500).map(|i| format!("sess:{i}")).collect();
    expected.sort();
    assert_eq!(keys, expected);

    cli(&server, &["-r", "5", "INCR", "counter"], b"");
    let counter: i64 = redis::cmd("GET").arg("counter").query(&mut con).unwrap();
    assert_eq!(counter, 5);
}

#[test]
fn redis_cli_bigkeys_finds_the_biggest_key_of_each_type() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 0..200 {
        pipe.cmd("SET")
            .arg(format!("s:{i}"))
            .arg("x".repeat(i))
            .ignore();
        pipe.cmd("HSET")
            .arg("h:big")
            .arg(format!("f{i}"))
            .arg(i)
            .ignore();
        pipe.cmd("SADD").arg("set:big").arg(i).ignore();
    }
    pipe.cmd("HSET").arg("h:small").arg("f").arg(1).ignore();
    let _: () = pipe.query(&mut con).unwrap();
    let out = cli(&server, &["--bigkeys"], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for line in [
        "Sampled 203 keys in the keyspace!",
        "Biggest string found '\"s:199\"' has 199 bytes",
        "Biggest   hash found '\"h:big\"' has 200 fields",
        "Biggest    set found '\"set:big\"' has 200 members",
        "2 hashs with 201 fields",
    ] {
        assert!(stdout.contains(line), "{line} not in {stdout}");
    }
}

#[test]
fn the_full_default_redis_benchmark_runs_without_errors() {
    let server = TestServer::start();
    let port = server.addr().port().to_string();
    let out = tool("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-n",
            "2000",
            "-c",
            "10",
            "--csv",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("ERR") && !stderr.contains("rror"),
        "{stderr}"
    );
    let tests: Vec<&str> = stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .map(|t| t.trim_matches('"'))
        .collect();
    // The full default run: every test redis-benchmark has, lists and sorted sets too.
    for expected in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "LRANGE_100 (first 100 elements)",
        "LRANGE_300 (first 300 elements)",
        "LRANGE_500 (first 500 elements)",
        "LRANGE_600 (first 600 elements)",
        "MSET (10 keys)",
    ] {
        assert!(
            tests.contains(&expected),
            "{expected} missing from {stdout}"
        );
    }
    for line in stdout.lines().skip(1) {
        let rps: f64 = line
            .split(',')
            .nth(1)
            .unwrap()
            .trim_matches('"')
            .parse()
            .unwrap();
        assert!(rps > 0.0, "{line}");
    }
    // The benchmark's keys are really there.
    let mut con = server.client();
    let n: i64 = redis::cmd("EXISTS")
        .arg("key:__rand_int__")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1);
}
