//! `unixsocket` and `unixsocketperm`, as in Redis 7.2: the roost binary listening on a
//! Unix domain socket beside TCP (or instead of it, with `port 0`), reached with
//! redis-cli -s and the `redis` crate; its clients are real clients (AUTH, protected
//! mode, CLIENT LIST/KILL, maxclients); the socket file's mode, a stale file at startup,
//! its removal at shutdown, and a bad path that stops startup naming it. The session
//! plugins over the socket (phpredis, redis-py) are in tests/compat.rs.

mod common;

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::process::{free_port, unix_client, wait_for, RedisServer, Roost, TempDir};

fn socket_in(dir: &TempDir) -> PathBuf {
    dir.0.join("roost.sock")
}

fn redis_cli(socket: &Path, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-s")
        .arg(socket)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("redis-cli not found ({e}): apt-get install redis-tools; tests/run does")
        });
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Starts roost with `flags` and waits for it to exit (it must, for the tests that use
/// this: they give it a configuration it refuses).
fn refused(dir: &Path, flags: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["--port", &free_port().to_string(), "--dir"])
        .arg(dir.join("data"))
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut exited = None;
    wait_for(
        "roost to refuse its configuration",
        Duration::from_secs(10),
        || {
            exited = child.try_wait().unwrap();
            exited.is_some()
        },
    );
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success(), "roost started: {output:?}");
    output
}

fn client_info(con: &mut redis::Connection) -> String {
    redis::cmd("CLIENT").arg("INFO").query(con).unwrap()
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name}= in {line}"))
}

#[test]
fn redis_cli_and_the_redis_crate_talk_over_the_socket_with_its_mode() {
    let dir = TempDir::new("unix-basic");
    let socket = socket_in(&dir);
    let path = socket.to_str().unwrap();
    let roost = Roost::start(&dir.0, &["--unixsocket", path, "--unixsocketperm", "710"]);

    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o710);

    assert_eq!(redis_cli(&socket, &["PING"]), "PONG\n");
    assert_eq!(
        redis_cli(&socket, &["SET", "session:a", "v", "EX", "60"]),
        "OK\n"
    );
    // The same keyspace as TCP.
    let mut tcp = roost.client();
    let value: String = redis::cmd("GET").arg("session:a").query(&mut tcp).unwrap();
    assert_eq!(value, "v");

    for url in [
        format!("redis+unix://{path}"),
        format!("unix://{path}?db=2"),
    ] {
        let mut con = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg(&url)
            .query(&mut con)
            .unwrap();
        let got: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
        assert_eq!(got, url);
    }
    let db2: String = redis_cli(&socket, &["-n", "2", "GET", "k"]);
    assert!(db2.starts_with("unix://"), "{db2}");

    let config: std::collections::BTreeMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("unixsocket*")
        .query(&mut tcp)
        .unwrap();
    let expected = [("unixsocket", path), ("unixsocketperm", "710")];
    assert_eq!(
        config,
        expected.map(|(k, v)| (k.to_string(), v.to_string())).into()
    );
    let info: String = redis::cmd("INFO").arg("server").query(&mut tcp).unwrap();
    assert!(
        info.contains(&format!("tcp_port:{}\r\n", roost.port)),
        "{info}"
    );
}

#[test]
fn port_0_with_a_unix_socket_serves_only_the_socket() {
    let dir = TempDir::new("unix-only");
    let socket = socket_in(&dir);
    let roost = Roost::start(
        &dir.0,
        &["--port", "0", "--unixsocket", socket.to_str().unwrap()],
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", roost.port)).is_err(),
        "nothing listens on TCP"
    );
    let mut con = roost.client();
    let info: String = redis::cmd("INFO").arg("server").query(&mut con).unwrap();
    assert!(info.contains("tcp_port:0\r\n"), "{info}");
    let port: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .query(&mut con)
        .unwrap();
    assert_eq!(port, ["port", "0"]);
    roost.shutdown();
    assert!(!socket.exists(), "SHUTDOWN removes the socket file");
}

#[test]
fn unix_clients_are_listed_killed_and_counted_like_any_client() {
    let dir = TempDir::new("unix-clients");
    let socket = socket_in(&dir);
    let path = socket.to_str().unwrap();
    let roost = Roost::start(&dir.0, &["--unixsocket", path, "--maxclients", "3"]);
    let mut tcp = roost.client();
    let mut unix = unix_client(&socket).unwrap();

    let line = client_info(&mut unix);
    let me = format!("{path}:0");
    assert_eq!(field(&line, "addr"), me);
    assert_eq!(field(&line, "laddr"), me);
    assert_eq!(field(&line, "flags"), "U");
    let _: () = redis::cmd("CLIENT")
        .arg("NO-EVICT")
        .arg("on")
        .query(&mut unix)
        .unwrap();
    let _: () = redis::cmd("MULTI").query(&mut unix).unwrap();
    let tcp_line = client_info(&mut tcp);
    assert_eq!(field(&tcp_line, "flags"), "N");
    assert!(field(&tcp_line, "addr").starts_with("127.0.0.1:"));
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut tcp).unwrap();
    let unix_lines: Vec<&str> = list
        .lines()
        .filter(|l| l.contains(&format!(" addr={me} ")))
        .collect();
    assert_eq!(unix_lines.len(), 1, "{list}");
    // Redis's order: x, then U, then e.
    assert_eq!(field(unix_lines[0], "flags"), "xUe");
    let _: () = redis::cmd("DISCARD").query(&mut unix).unwrap();

    let info: String = redis::cmd("INFO").arg("clients").query(&mut tcp).unwrap();
    assert!(info.contains("connected_clients:2\r\n"), "{info}");

    // maxclients counts Unix clients: with three connected, a fourth is refused on
    // either listener.
    let _second = unix_client(&socket).unwrap();
    let mut refused_unix = UnixStream::connect(&socket).unwrap();
    let mut reply = String::new();
    refused_unix.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "-ERR max number of clients reached\r\n");
    let mut refused_tcp = std::net::TcpStream::connect(("127.0.0.1", roost.port)).unwrap();
    reply.clear();
    refused_tcp.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "-ERR max number of clients reached\r\n");

    // CLIENT KILL ADDR with the socket's address closes both Unix clients, not the caller.
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ADDR")
        .arg(&me)
        .query(&mut tcp)
        .unwrap();
    assert_eq!(killed, 2);
    assert!(redis::cmd("PING").query::<String>(&mut unix).is_err());
    let mut again = unix_client(&socket).unwrap();
    let pong: String = redis::cmd("PING").query(&mut again).unwrap();
    assert_eq!(pong, "PONG");
    // The killed clients leave the registry as their tasks end.
    wait_for("the killed clients to go", Duration::from_secs(10), || {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut tcp).unwrap();
        list.lines().count() == 2
    });
    // The old form, CLIENT KILL addr:port.
    let ok: String = redis::cmd("CLIENT")
        .arg("KILL")
        .arg(&me)
        .query(&mut tcp)
        .unwrap();
    assert_eq!(ok, "OK");
    assert!(redis::cmd("PING").query::<String>(&mut again).is_err());
}

#[test]
fn unix_clients_authenticate_and_protected_mode_never_refuses_them() {
    let dir = TempDir::new("unix-auth");
    let socket = socket_in(&dir);
    // Protected mode on, no password, and no loopback address bound: only the socket
    // serves, and its clients are local.
    let roost = Roost::start(
        &dir.0,
        &[
            "--port",
            "0",
            "--unixsocket",
            socket.to_str().unwrap(),
            "--protected-mode",
            "yes",
        ],
    );
    let mut con = roost.client();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    // ACL users and the default user's password apply on the socket as anywhere.
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("app")
        .arg("on")
        .arg(">app-secret")
        .arg("~app:*")
        .arg("+@all")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("pw")
        .query(&mut con)
        .unwrap();
    let mut stranger = unix_client(&socket).unwrap();
    let err = redis::cmd("GET")
        .arg("x")
        .query::<String>(&mut stranger)
        .unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");
    let mut app = redis::Client::open(format!(
        "redis+unix://{}?user=app&pass=app-secret",
        socket.display()
    ))
    .unwrap()
    .get_connection()
    .unwrap();
    let _: () = redis::cmd("SET")
        .arg("app:1")
        .arg("v")
        .query(&mut app)
        .unwrap();
    let err = redis::cmd("SET")
        .arg("other")
        .arg("v")
        .query::<()>(&mut app)
        .unwrap_err();
    assert_eq!(err.code(), Some("NOPERM"), "{err}");
    let user = field(&client_info(&mut app), "user").to_string();
    assert_eq!(user, "app");
}

#[test]
fn a_stale_socket_file_is_replaced_and_a_live_one_or_another_file_is_not() {
    let dir = TempDir::new("unix-stale");
    let socket = socket_in(&dir);
    let path = socket.to_str().unwrap();
    // A socket whose server is gone (as after kill -9): nobody accepts on it.
    // Binding over it would fail (EADDRINUSE): served means it was replaced.
    drop(UnixListener::bind(&socket).unwrap());
    // A child another test forks may hold the listener until it execs.
    wait_for(
        "the stale socket to refuse",
        Duration::from_secs(10),
        || UnixStream::connect(&socket).is_err(),
    );
    let roost = Roost::start(&dir.0, &["--unixsocket", path]);
    assert_eq!(redis_cli(&socket, &["PING"]), "PONG\n");

    // A second server on the same path does not take the socket from the first.
    let out = refused(&dir.0, &["--unixsocket", path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("unixsocket {path}")), "{err}");
    assert!(err.contains("another process"), "{err}");
    assert_eq!(redis_cli(&socket, &["PING"]), "PONG\n");
    roost.shutdown();
    assert!(!socket.exists());

    // A file that is not a socket is never removed.
    std::fs::write(&socket, "precious").unwrap();
    let out = refused(&dir.0, &["--unixsocket", path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("unixsocket {path}")), "{err}");
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "precious");
}

#[test]
fn a_bad_socket_path_stops_startup_naming_it() {
    let dir = TempDir::new("unix-bad");
    let missing = dir.0.join("no-such-dir").join("roost.sock");
    let out = refused(&dir.0, &["--unixsocket", missing.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("unixsocket {}", missing.display()))
            && err.contains("No such file or directory"),
        "{err}"
    );
    // Longer than a socket address holds (108 bytes).
    let long = dir.0.join("x".repeat(120));
    let out = refused(&dir.0, &["--unixsocket", long.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("unixsocket {}", long.display())),
        "{err}"
    );
    // Redis's own checks of unixsocketperm.
    let out = refused(
        &dir.0,
        &["--unixsocket", "x.sock", "--unixsocketperm", "999"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--unixsocketperm")
            && err.contains("argument couldn't be parsed as an octal number"),
        "{err}"
    );
}

/// What CLIENT INFO shows for a Unix client, as `field=value` pairs with the socket's
/// path written `SOCK`, without the fields whose values are counters and sizes.
fn unix_line_shape(line: &str, path: &str) -> Vec<(String, String)> {
    const SHAPE: &[&str] = &[
        "addr", "laddr", "name", "flags", "db", "sub", "psub", "multi", "user", "resp",
    ];
    line.trim()
        .split(' ')
        .filter_map(|f| f.split_once('='))
        .filter(|(k, _)| SHAPE.contains(k))
        .map(|(k, v)| (k.to_string(), v.replace(path, "SOCK")))
        .collect()
}

/// The same checks against redis-server (Debian's 7.0.15) started with `--unixsocket`
/// and against Roost: CLIENT INFO's line for a Unix client, CONFIG GET and the CONFIG
/// SET refusals of both directives.
#[test]
fn unix_clients_look_as_they_do_in_redis() {
    let dir = TempDir::new("unix-differential");
    let (redis_sock, roost_sock) = (dir.0.join("redis.sock"), dir.0.join("roost.sock"));
    let _redis = RedisServer::start_with(&[
        "--unixsocket",
        redis_sock.to_str().unwrap(),
        "--unixsocketperm",
        "700",
    ]);
    let _roost = Roost::start(
        &dir.0.join("data"),
        &[
            "--unixsocket",
            roost_sock.to_str().unwrap(),
            "--unixsocketperm",
            "700",
        ],
    );
    let mut answers = Vec::new();
    for socket in [&redis_sock, &roost_sock] {
        let path = socket.to_str().unwrap();
        let mut con = unix_client(socket).unwrap();
        let _: () = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg("web")
            .query(&mut con)
            .unwrap();
        let _: () = redis::cmd("CLIENT")
            .arg("NO-EVICT")
            .arg("on")
            .query(&mut con)
            .unwrap();
        let line = client_info(&mut con);
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        // In a map: Redis lists matches in its hash table's order.
        let config: std::collections::BTreeMap<String, String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("unixsocket*")
            .query(&mut con)
            .unwrap();
        let config: Vec<(String, String)> = config
            .into_iter()
            .map(|(k, v)| (k, v.replace(path, "SOCK")))
            .collect();
        let mut refusals = Vec::new();
        for (name, value) in [
            ("unixsocket", "/tmp/elsewhere.sock"),
            ("unixsocketperm", "777"),
        ] {
            let err = redis::cmd("CONFIG")
                .arg("SET")
                .arg(name)
                .arg(value)
                .query::<()>(&mut con)
                .unwrap_err();
            refusals.push(err.to_string());
        }
        let mode = std::fs::symlink_metadata(socket)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        answers.push((
            unix_line_shape(&line, path),
            unix_line_shape(list.lines().next().unwrap(), path),
            config,
            refusals,
            mode,
        ));
    }
    assert_eq!(
        answers[0], answers[1],
        "redis-server (left) and Roost (right)"
    );
    let (shape, ..) = &answers[1];
    assert!(
        shape.contains(&("addr".into(), "SOCK:0".into())),
        "{shape:?}"
    );
    assert!(shape.contains(&("flags".into(), "Ue".into())), "{shape:?}");
}
