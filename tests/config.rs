//! Configuration: CONFIG GET/SET on a running server, and the binary's startup with
//! flags and redis.conf files (good, Redis-only, unknown and invalid directives).

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{query, TestServer};

#[test]
fn config_get_patterns_and_resp3_map() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(
        &[b"CONFIG", b"GET", b"maxmemory"],
        b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n",
    );
    // An exact name comes back as the client spelled it, as in Redis.
    raw.roundtrip(
        &[b"CONFIG", b"GET", b"APPENDFSYNC", b"timeout"],
        b"*4\r\n$11\r\nAPPENDFSYNC\r\n$8\r\neverysec\r\n$7\r\ntimeout\r\n$1\r\n0\r\n",
    );
    raw.roundtrip(&[b"CONFIG", b"GET", b"nosuch*"], b"*0\r\n");
    let mut con = server.client_resp3();
    let map: std::collections::HashMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory*")
        .query(&mut con)
        .unwrap();
    assert_eq!(map["maxmemory"], "0");
    assert_eq!(map["maxmemory-policy"], "noeviction");
}

#[test]
fn config_set_validates_and_is_all_or_nothing() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(
        &[b"CONFIG", b"SET", b"maxmemory", b"1gb", b"timeout", b"30"],
        b"+OK\r\n",
    );
    raw.roundtrip(
        &[b"CONFIG", b"GET", b"maxmemory"],
        b"*2\r\n$9\r\nmaxmemory\r\n$10\r\n1073741824\r\n",
    );
    raw.roundtrip(
        &[b"CONFIG", b"SET", b"timeout", b"5", b"maxmemory", b"lots"],
        b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value\r\n",
    );
    // The failed CONFIG SET changed nothing.
    raw.roundtrip(
        &[b"CONFIG", b"GET", b"timeout"],
        b"*2\r\n$7\r\ntimeout\r\n$2\r\n30\r\n",
    );
    raw.roundtrip(
        &[b"CONFIG", b"SET", b"port", b"1234"],
        b"-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config\r\n",
    );
    raw.roundtrip(
        &[b"CONFIG", b"SET", b"frobnicate", b"yes"],
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'frobnicate'\r\n",
    );
    raw.roundtrip(
        &[b"CONFIG", b"SET", b"notify-keyspace-events", b"Egx"],
        b"+OK\r\n",
    );
    // Read back as Redis prints the flags: classes first, then K and E.
    raw.roundtrip(
        &[b"CONFIG", b"GET", b"notify-keyspace-events"],
        b"*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\ngxE\r\n",
    );
    // requirepass takes effect for new connections.
    raw.roundtrip(&[b"CONFIG", b"SET", b"requirepass", b"pw"], b"+OK\r\n");
    let mut other = server.raw();
    other.roundtrip(&[b"GET", b"k"], b"-NOAUTH Authentication required.\r\n");
    raw.roundtrip(
        &[b"CONFIG", b"REWRITE"],
        b"-ERR The server is running without a config file\r\n",
    );
}

#[test]
fn config_resetstat_clears_counters() {
    let server = TestServer::start();
    let mut con = server.client();
    let _: Option<String> = redis::cmd("GET").arg("x").query(&mut con).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut con)
        .unwrap();
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut con)
        .unwrap();
    assert!(!stats.contains("cmdstat_get"), "{stats}");
    let info: String = redis::cmd("INFO").arg("stats").query(&mut con).unwrap();
    assert!(info.contains("keyspace_misses:0"), "{info}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the roost binary and returns (exit code, stderr) if it exits within 10 s.
fn run_expecting_exit(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(args)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_and_directives_stop_startup_naming_them() {
    let (code, err) = run_expecting_exit(&["--appendfsync", "sometimes"]);
    assert_ne!(code, 0);
    assert!(err.contains("--appendfsync"), "{err}");
    let (code, err) = run_expecting_exit(&["--no-such-flag"]);
    assert_ne!(code, 0);
    assert!(err.contains("--no-such-flag"), "{err}");

    let dir = std::env::temp_dir().join(format!("roost-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("bad.conf");
    std::fs::write(&conf, "port 7000\nfrobnicate yes\n").unwrap();
    let (code, err) = run_expecting_exit(&[conf.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("bad.conf:2") && err.contains("frobnicate"),
        "{err}"
    );
    std::fs::write(&conf, "maxmemory lots\n").unwrap();
    let (code, err) = run_expecting_exit(&[conf.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("bad.conf:1") && err.contains("maxmemory"),
        "{err}"
    );
    let (code, err) = run_expecting_exit(&["/no/such/file.conf"]);
    assert_ne!(code, 0);
    assert!(err.contains("/no/such/file.conf"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_debian_redis_conf_starts_roost_with_warnings_and_flags_override_it() {
    let text = std::fs::read_to_string("/etc/redis/redis.conf").expect(
        "Debian's redis-server package provides /etc/redis/redis.conf; tests/run installs it",
    );
    let dir = std::env::temp_dir().join(format!("roost-debian-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Keep the user's settings but not paths that need root or a daemon supervisor.
    let adapted: String = text
        .lines()
        .filter(|l| {
            let word = l.split_whitespace().next().unwrap_or("");
            !matches!(
                word,
                "dir" | "logfile" | "pidfile" | "daemonize" | "unixsocket" | "include"
            )
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let conf = dir.join("redis.conf");
    // `io-threads` twice: a directive repeated in a file is still warned about once.
    let extra = format!(
        "save 900 1\nsave 300 10\nio-threads 1\nio-threads 1\ndir {}\n",
        dir.display()
    );
    std::fs::write(&conf, adapted + &extra).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost"))
        .arg(&conf)
        .args(["--port", &port.to_string(), "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut warnings = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        if line.contains("Ready to accept connections") {
            break;
        }
        warnings.push(line);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut con = loop {
        match redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
        {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("roost did not start: {e} {warnings:?}"),
        }
    };
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let repeated = warnings
        .iter()
        .filter(|w| w.contains("'io-threads'"))
        .count();
    assert_eq!(repeated, 1, "one warning per directive: {warnings:?}");
    // `save` is implemented now (RDB files): no warning.
    assert!(
        !warnings.iter().any(|w| w.contains("'save'")),
        "{warnings:?}"
    );
    // Implemented now: the slow log's settings and the RDB file's are parameters.
    assert!(
        !warnings.iter().any(|w| w.contains("'dbfilename'")),
        "{warnings:?}"
    );
    assert!(
        !warnings.iter().any(|w| w.contains("'slowlog-max-len'")),
        "{warnings:?}"
    );
    // Tuning of Redis's internals that changes nothing here is accepted quietly.
    assert!(
        !warnings.iter().any(|w| w.contains("'tcp-backlog'")),
        "{warnings:?}"
    );
    let file: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        file[1],
        port.to_string(),
        "the flag overrides the file's port 6379"
    );
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query(&mut con);
    let status = child.wait().unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("roost-sigterm-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            dir.to_str().unwrap(),
            "--loglevel",
            "warning",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(dir.is_dir(), "--dir is created at startup");
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `redis-cli -p PORT ARGS...`: its stdout (raw replies, one per line).
fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli is installed (Debian's redis-tools)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_requirepass_in_an_included_file_is_in_force() {
    let dir = common::process::TempDir::new("include-requirepass");
    let d = dir.0.display();
    std::fs::write(dir.0.join("secret.conf"), "requirepass s3cret\n").unwrap();
    std::fs::write(
        dir.0.join("nested.conf"),
        format!("maxclients 77\ninclude {d}/secret.conf\n"),
    )
    .unwrap();
    let conf = dir.0.join("main.conf");
    std::fs::write(&conf, format!("include {d}/nested.conf\n")).unwrap();
    let data = dir.0.join("data");
    let roost = common::process::Roost::start(&data, &[conf.to_str().unwrap()]);
    assert_eq!(
        redis_cli(roost.port, &["get", "k"]),
        "NOAUTH Authentication required.\n\n"
    );
    let mut con = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", roost.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let shown: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("*")
        .query(&mut con)
        .unwrap();
    let pairs: std::collections::HashMap<&str, &str> = shown
        .chunks(2)
        .map(|p| (p[0].as_str(), p[1].as_str()))
        .collect();
    assert_eq!(pairs["maxclients"], "77");
    // Never the password itself (Redis 7 would show it).
    assert_eq!(pairs["requirepass"], "(hidden)");
    assert!(!shown.iter().any(|v| v.contains("s3cret")), "{shown:?}");
}

#[test]
fn access_rules_roost_cannot_enforce_stop_the_binary_naming_them() {
    let dir = common::process::TempDir::new("refused-directives");
    let conf = dir.0.join("hardened.conf");
    for (lines, directive, line) in [
        // ACL users are enforced; a rule Roost cannot apply, or an ACL file it cannot
        // read, stops startup.
        ("port 7000\nuser default off +nosuchcommand\n", "user", 2),
        ("user app on >s3cret ~* +@nosuchcategory\n", "user", 1),
        ("\naclfile /no/such/dir/users.acl\n", "aclfile", 2),
        (
            "loadmodule /usr/lib/redis/modules/auth.so\n",
            "loadmodule",
            1,
        ),
        ("port 0\n", "port", 1),
        ("rename-command nosuch foo\n", "rename-command", 1),
        ("include /no/such/dir/users.conf\n", "include", 1),
    ] {
        std::fs::write(&conf, lines).unwrap();
        let (code, err) = run_expecting_exit(&[conf.to_str().unwrap()]);
        assert_eq!(code, 1, "{lines:?}: {err}");
        let at = format!("{}:{line}: '{directive}': ", conf.display());
        assert!(err.contains(&at), "{lines:?}: expected {at:?} in {err}");
    }
    let (code, err) = run_expecting_exit(&["--port", "0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("'--port': port 0"), "{err}");
}

/// A redis-server child on a free port with a config file; killed on drop.
struct RedisWithConf(std::process::Child, u16);

impl RedisWithConf {
    fn start(conf: &std::path::Path) -> RedisWithConf {
        let port = free_port();
        let child = Command::new("redis-server")
            .arg(conf)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis_cli(port, &["ping"]) != "PONG\n" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisWithConf(child, port)
    }
}

impl Drop for RedisWithConf {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn rename_command_answers_as_redis_does() {
    let dir = common::process::TempDir::new("rename-command");
    let conf = dir.0.join("renames.conf");
    std::fs::write(
        &conf,
        "rename-command FLUSHALL \"\"\nrename-command config MYCONFIG\nrename-command get fetch\n",
    )
    .unwrap();
    let redis = RedisWithConf::start(&conf);
    let roost = common::process::Roost::start(&dir.0.join("data"), &[conf.to_str().unwrap()]);
    let script = "return redis.call('get', 'k')";
    let renamed_script = "return redis.call('fetch', 'k')";
    let requests: &[&[&str]] = &[
        &["set", "k", "v"],
        &["flushall"],
        &["config", "get", "maxclients"],
        &["myconfig", "get", "maxclients"],
        &["MyConfig", "nosuch"],
        &["myconfig"],
        &["fetch", "k"],
        &["fetch"],
        &["get", "k"],
        &["command", "getkeys", "fetch", "k"],
        &["command", "getkeys", "get", "k"],
        &["command", "docs", "get"],
        &["command", "info", "get", "flushall"],
        &["command", "list", "filterby", "pattern", "flushal*"],
        &["eval", script, "0"],
        &["eval", renamed_script, "0"],
        &["multi"],
    ];
    for request in requests {
        assert_eq!(
            redis_cli(roost.port, request),
            redis_cli(redis.1, request),
            "{request:?}"
        );
    }
    // Renamed commands keep their own name in COMMAND INFO and COMMAND LIST; HELP's
    // first line names the container as called. (Redis's lists hold commands Roost
    // does not have, so only those lines are compared.)
    let list = ["command", "list", "filterby", "pattern", "*config"];
    for port in [roost.port, redis.1] {
        let listed = redis_cli(port, &list);
        assert!(listed.lines().any(|l| l == "config"), "{listed}");
        assert!(!listed.lines().any(|l| l == "myconfig"), "{listed}");
    }
    for (request, line) in [
        (&["command", "info", "fetch"][..], 0),
        (&["myconfig", "help"][..], 0),
    ] {
        let (ours, theirs) = (redis_cli(roost.port, request), redis_cli(redis.1, request));
        assert_eq!(
            ours.lines().nth(line),
            theirs.lines().nth(line),
            "{request:?}: {ours} / {theirs}"
        );
    }
    // One command fewer than without renames, in both.
    let count = |port| {
        redis_cli(port, &["command", "count"])
            .trim()
            .parse::<i64>()
            .unwrap()
    };
    let plain = common::TestServer::start();
    let mut con = plain.client();
    let all: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
    assert_eq!(count(roost.port), all - 1);

    // redis-py sees the same: FLUSHALL is an unknown command, FETCH reads.
    let py = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, redis\n\
             r = redis.Redis(port=int(sys.argv[1]), protocol=2)\n\
             assert r.execute_command('FETCH', 'k') == b'v'\n\
             try:\n    r.flushall()\n    sys.exit('FLUSHALL answered')\n\
             except redis.ResponseError as e:\n    assert str(e).startswith(\"unknown command 'FLUSHALL'\"), e\n\
             assert r.execute_command('MYCONFIG', 'GET', 'maxclients') == [b'maxclients', b'10000']\n\
             print('ok')\n",
        )
        .arg(roost.port.to_string())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&py.stdout),
        "ok\n",
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    // The keys survive a restart: the log holds the table's names, not the new ones.
    let mut con = roost.client();
    let _: () = redis::cmd("SET")
        .arg("kept")
        .arg("1")
        .query(&mut con)
        .unwrap();
    drop(con);
    roost.shutdown();
    let roost = common::process::Roost::start(&dir.0.join("data"), &[conf.to_str().unwrap()]);
    assert_eq!(redis_cli(roost.port, &["fetch", "kept"]), "1\n");
}

/// CONFIG REWRITE keeps the file as its owner wrote it, as Redis does: comments and
/// `include` lines stay, a directive changes in place (its alias too), a replica
/// promoted to primary loses its `replicaof`, and new settings go under one
/// `# Generated by CONFIG REWRITE`; the file then brings the same settings back.
#[test]
fn config_rewrite_keeps_the_files_own_lines_and_changes_values_in_place() {
    use common::process::{Roost, TempDir};
    let dir = TempDir::new("config-rewrite");
    let port = free_port();
    let extra = dir.0.join("extra.conf");
    std::fs::write(
        &extra,
        "maxmemory-policy allkeys-lru\nuser app on >app-secret ~app:* +get\n",
    )
    .unwrap();
    let conf = dir.0.join("roost.conf");
    let include = format!("include {}", extra.display());
    std::fs::write(
        &conf,
        format!(
            "# sessions for the shop\n{include}\nport {port}\ndir {}\n\n# old name, still read\nslaveof 127.0.0.1 1\nsave 900 1\nsave 300 10\ntimeout 0\n",
            dir.0.display()
        ),
    )
    .unwrap();
    let log = dir.0.join("roost.log");
    let roost = Roost::spawn_with_config_file(&conf, port, &log);
    roost.wait_until_ready();
    let mut con = roost.client();
    let _: () = query(&mut con, &["CONFIG", "SET", "maxmemory", "10mb"]);
    let _: () = query(&mut con, &["REPLICAOF", "NO", "ONE"]);
    let _: () = query(&mut con, &["CONFIG", "REWRITE"]);
    let text = std::fs::read_to_string(&conf).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "# sessions for the shop",
            include.as_str(),
            &format!("port {port}")
        ],
        "{text}"
    );
    assert!(lines.contains(&"# old name, still read"), "{text}");
    assert!(
        !text.contains("slaveof") && !text.contains("replicaof"),
        "{text}"
    );
    // Both save lines were one directive: the first takes the value, the second goes.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("save ")).count(),
        1,
        "{text}"
    );
    assert!(lines.contains(&"save 900 1 300 10"), "{text}");
    // A default that was in the file stays; defaults that were not are not added.
    assert!(lines.contains(&"timeout 0"), "{text}");
    assert!(!text.contains("hz "), "{text}");
    let signature = lines
        .iter()
        .position(|l| *l == "# Generated by CONFIG REWRITE");
    let signature = signature.unwrap_or_else(|| panic!("no signature: {text}"));
    assert!(lines[signature..].contains(&"maxmemory 10485760"), "{text}");
    // A user may be defined once only: the included file keeps defining it.
    assert!(!text.contains("app"), "{text}");
    // Rewriting again changes the value where it now stands, under the same signature.
    let _: () = query(&mut con, &["CONFIG", "SET", "maxmemory", "20mb"]);
    let _: () = query(&mut con, &["CONFIG", "REWRITE"]);
    let again = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(
        again,
        text.replace("maxmemory 10485760", "maxmemory 20971520")
    );
    drop(con);
    drop(roost);
    let roost = Roost::spawn_with_config_file(&conf, port, &log);
    roost.wait_until_ready();
    let mut con = roost.client();
    let got: Vec<String> = query(&mut con, &["CONFIG", "GET", "maxmemory"]);
    assert_eq!(got, ["maxmemory", "20971520"]);
    let role: Vec<redis::Value> = query(&mut con, &["ROLE"]);
    assert_eq!(role[0], redis::Value::BulkString(b"master".to_vec()));
    let policy: Vec<String> = query(&mut con, &["CONFIG", "GET", "maxmemory-policy"]);
    assert_eq!(policy, ["maxmemory-policy", "allkeys-lru"]);
    let users: Vec<String> = query(&mut con, &["ACL", "USERS"]);
    assert_eq!(users, ["app", "default"]);
}

/// A connection open before CONFIG SET holds to the new limits from its next request on
/// (it keeps the settings it reads per request until the configuration changes).
#[test]
fn a_connection_opened_earlier_takes_a_changed_limit_at_its_next_request() {
    let server = TestServer::start();
    let mut early = server.raw();
    early.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut admin = server.raw();
    admin.roundtrip(
        &[b"CONFIG", b"SET", b"proto-max-bulk-len", b"1mb"],
        b"+OK\r\n",
    );
    early.send(b"*2\r\n$4\r\nECHO\r\n$2000000\r\n");
    early.expect(b"-ERR Protocol error: invalid bulk length\r\n");
    assert!(early.read_to_close().is_empty());
}
