//! Protected mode for real: Roost (and redis-server, for its exact bytes) run in a network
//! namespace this test creates, clients in a second one, joined by a veth pair with
//! addresses from TEST-NET-1 (192.0.2.0/24) that exist only inside the two namespaces;
//! both are removed at the end. No traffic leaves them.
//!
//! Creating namespaces needs root (CI runs as root): without it the test fails saying so.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::process::TempDir;

const SERVER_IP: &str = "192.0.2.1";
const CLIENT_IP: &str = "192.0.2.2";
const ROOST_PORT: &str = "6379";
const REDIS_PORT: &str = "6380";

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn ip(args: &[&str]) {
    let out = run("ip", args);
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces joined by a veth pair; removed (with the pair) on drop.
struct Namespaces {
    server: String,
    client: String,
}

impl Namespaces {
    fn create() -> Namespaces {
        let uid = run("id", &["-u"]);
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "this test needs root: it creates network namespaces (ip netns add) and a veth \
             pair to connect to Roost from a non-loopback address"
        );
        let pid = std::process::id();
        let ns = Namespaces {
            server: format!("roost-pm-s-{pid}"),
            client: format!("roost-pm-c-{pid}"),
        };
        ip(&["netns", "add", &ns.server]);
        ip(&["netns", "add", &ns.client]);
        // Both ends are created inside the namespaces; the host's never sees them.
        let (s_if, c_if) = (
            format!("rpms{}", pid % 100000),
            format!("rpmc{}", pid % 100000),
        );
        ip(&[
            "link", "add", &s_if, "netns", &ns.server, "type", "veth", "peer", "name", &c_if,
            "netns", &ns.client,
        ]);
        for (name, dev, addr) in [
            (&ns.server, &s_if, SERVER_IP),
            (&ns.client, &c_if, CLIENT_IP),
        ] {
            ip(&["-n", name, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", name, "link", "set", dev, "up"]);
            ip(&["-n", name, "link", "set", "lo", "up"]);
        }
        ns
    }

    fn spawn_in(&self, ns: &str, program: &str, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn run_in(&self, ns: &str, program: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        let out = run("ip", &all);
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// redis-cli on the server's loopback.
    fn local_cli(&self, port: &str, args: &[&str]) -> String {
        let mut all = vec!["-h", "127.0.0.1", "-p", port];
        all.extend_from_slice(args);
        self.run_in(&self.server, "redis-cli", &all)
    }

    /// Connects from the client namespace, sends nothing, and returns everything the
    /// server wrote until it closed the connection (or "OPEN:" and what came, if it did
    /// not close within 5 s), as hex.
    fn remote_connect_raw(&self, port: &str) -> String {
        let script = "import socket, sys\n\
            s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)\n\
            got = b''\n\
            try:\n\
            \x20   while True:\n\
            \x20       chunk = s.recv(65536)\n\
            \x20       if not chunk:\n\
            \x20           break\n\
            \x20       got += chunk\n\
            \x20   print(got.hex())\n\
            except socket.timeout:\n\
            \x20   print('OPEN:' + got.hex())\n";
        self.run_in(&self.client, "python3", &["-c", script, SERVER_IP, port])
            .trim()
            .to_string()
    }

    /// redis-py from the client namespace: PING, with a password if given; prints the
    /// reply or the exception.
    fn remote_redis_py(&self, port: &str, password: &str) -> String {
        let script = "import sys, redis\n\
            r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), password=sys.argv[3] or None, socket_timeout=5)\n\
            try:\n\
            \x20   print('reply', r.ping())\n\
            except Exception as e:\n\
            \x20   print(type(e).__name__, e)\n";
        self.run_in(
            &self.client,
            "python3",
            &["-c", script, SERVER_IP, port, password],
        )
        .trim()
        .to_string()
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.server]);
        let _ = run("ip", &["netns", "del", &self.client]);
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_pong(ns: &Namespaces, port: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while ns.local_cli(port, &["ping"]).trim() != "PONG" {
        assert!(Instant::now() < deadline, "no server on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn protected_mode_refuses_remote_clients_until_a_password_or_protected_mode_no() {
    let ns = Namespaces::create();
    let dir = TempDir::new("protected-mode");
    let bind = format!("{SERVER_IP} 127.0.0.1");
    // Roost with its defaults (protected mode on, no password), listening beyond loopback.
    let _roost = Killed(
        ns.spawn_in(
            &ns.server,
            env!("CARGO_BIN_EXE_roost"),
            &["--port", ROOST_PORT, "--bind", &bind, "--appendonly", "no"]
                .into_iter()
                .chain(["--dir", dir.0.to_str().unwrap(), "--loglevel", "warning"])
                .collect::<Vec<_>>(),
        ),
    );
    let _redis = Killed(ns.spawn_in(
        &ns.server,
        "redis-server",
        &[
            "--port",
            REDIS_PORT,
            "--bind",
            &bind,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    ));
    wait_for_pong(&ns, ROOST_PORT);
    wait_for_pong(&ns, REDIS_PORT);

    // From beyond loopback: Redis's DENIED text, byte for byte, then the close.
    let denied = ns.remote_connect_raw(ROOST_PORT);
    let stats = ns.local_cli(ROOST_PORT, &["info", "stats"]);
    assert!(stats.contains("rejected_connections:1\r\n"), "{stats}");
    assert_eq!(denied, ns.remote_connect_raw(REDIS_PORT));
    let text = String::from_utf8(
        (0..denied.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&denied[i..i + 2], 16).unwrap())
            .collect(),
    )
    .unwrap();
    assert!(
        text.starts_with("-DENIED Redis is running in protected mode") && text.ends_with("\r\n"),
        "{text}"
    );
    let py = ns.remote_redis_py(ROOST_PORT, "");
    assert!(
        py.contains("DENIED Redis is running in protected mode"),
        "{py}"
    );
    let cli = ns.run_in(
        &ns.client,
        "redis-cli",
        &["-h", SERVER_IP, "-p", ROOST_PORT, "ping"],
    );
    assert!(
        cli.contains("DENIED Redis is running in protected mode"),
        "{cli}"
    );

    // Loopback clients are served, and see the setting in force.
    assert_eq!(ns.local_cli(ROOST_PORT, &["set", "k", "v"]).trim(), "OK");
    assert_eq!(
        ns.local_cli(ROOST_PORT, &["config", "get", "protected-mode"]),
        "protected-mode\nyes\n"
    );

    // A password lifts it (as in Redis): remote clients are served once they AUTH.
    assert_eq!(
        ns.local_cli(ROOST_PORT, &["config", "set", "requirepass", "s3cret"])
            .trim(),
        "OK"
    );
    assert_eq!(
        ns.remote_redis_py(ROOST_PORT, "s3cret"),
        "reply True",
        "with a password"
    );
    let noauth = ns.remote_connect_raw(ROOST_PORT);
    assert!(noauth.starts_with("OPEN:"), "served, not closed: {noauth}");
    let noauth = ns.remote_redis_py(ROOST_PORT, "");
    // Served: redis-py's HELLO is refused for want of AUTH, not DENIED.
    assert!(noauth.starts_with("AuthenticationError"), "{noauth}");

    // protected-mode no, with no password: served too.
    let cli = ["-a", "s3cret", "--no-auth-warning"];
    let set = |args: &[&str]| {
        let all: Vec<&str> = cli.iter().chain(args).copied().collect();
        ns.local_cli(ROOST_PORT, &all)
    };
    assert_eq!(set(&["config", "set", "protected-mode", "no"]).trim(), "OK");
    assert_eq!(set(&["config", "set", "requirepass", ""]).trim(), "OK");
    assert_eq!(ns.remote_redis_py(ROOST_PORT, ""), "reply True");
    // And back on: refused again, for the next connection.
    assert_eq!(
        ns.local_cli(ROOST_PORT, &["config", "set", "protected-mode", "yes"])
            .trim(),
        "OK"
    );
    assert_eq!(ns.remote_connect_raw(ROOST_PORT), denied);
}
