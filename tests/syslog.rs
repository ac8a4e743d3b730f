//! `syslog-enabled`, `syslog-ident`, `syslog-facility`, as in Redis: the roost binary runs
//! in a private mount namespace (`unshare --mount`) whose /dev is a small tmpfs holding
//! the usual character devices and, as /dev/log, a datagram socket this test owns (bind
//! mounts, seen by that process only: the machine's /dev and /dev/log are not touched).
//! glibc's syslog() writes there, so the test reads exactly what a syslog daemon would
//! get: `<PRI>timestamp ident[pid]: message`, PRI being facility * 8 + severity.
//!
//! Mount namespaces need root (CI runs as root): without it the test fails saying so.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{free_port, wait_for, TempDir};

/// Runs roost with `flags` inside a mount namespace where /dev/log is `log_socket`.
fn spawn_with_dev_log(dir: &Path, log_socket: &Path, port: u16, flags: &[&str]) -> Child {
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "this test needs root: it runs Roost in a mount namespace (unshare --mount) whose \
         /dev/log is a socket the test reads"
    );
    let host_dev = dir.join("host-dev");
    std::fs::create_dir_all(&host_dev).unwrap();
    // $1: where the real /dev stays reachable, $2: the test's socket, then roost's argv.
    const SCRIPT: &str = "mount --bind /dev \"$1\"
        mount -t tmpfs -o size=64k,mode=755 roost-test-dev /dev
        for node in null zero random urandom; do
            touch /dev/$node && mount --bind \"$1/$node\" /dev/$node
        done
        touch /dev/log && mount --bind \"$2\" /dev/log
        shift 2
        exec \"$@\"";
    let stderr = std::fs::File::create(dir.join(format!("roost-{port}.log"))).unwrap();
    Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-ec",
            SCRIPT,
            "sh",
        ])
        .arg(&host_dev)
        .arg(log_socket)
        .arg(env!("CARGO_BIN_EXE_roost"))
        .args(["--port", &port.to_string(), "--appendonly", "no", "--dir"])
        .arg(dir.join("data"))
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run unshare (util-linux): {e}"))
}

/// What a syslog daemon would have received from one run of roost with `flags`: it is
/// started, sent a malformed request (logged at verbose level), then SHUTDOWN.
fn syslog_lines_of_a_run(name: &str, flags: &[&str]) -> (u32, u16, Vec<String>) {
    let dir = TempDir::new(name);
    let socket_path = dir.0.join("dev-log.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let port = free_port();
    let mut child = spawn_with_dev_log(&dir.0, &socket_path, port, flags);
    let pid = child.id();
    let log =
        || std::fs::read_to_string(dir.0.join(format!("roost-{port}.log"))).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut con = loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("roost exited ({status}): {}", log());
        }
        match redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
        {
            Ok(con) => break con,
            Err(e) if Instant::now() > deadline => panic!("roost did not start: {e} {}", log()),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    {
        use std::io::{Read, Write};
        let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        raw.write_all(b"*1\r\n$x\r\n").unwrap();
        let mut reply = Vec::new();
        let _ = raw.read_to_end(&mut reply);
        assert!(reply.starts_with(b"-ERR Protocol error"), "{reply:?}");
    }
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query(&mut con);
    let mut status = None;
    wait_for(
        "roost to exit after SHUTDOWN",
        Duration::from_secs(20),
        || {
            status = child.try_wait().unwrap();
            status.is_some()
        },
    );
    assert!(status.unwrap().success(), "{}", log());
    socket.set_nonblocking(true).unwrap();
    let mut lines = Vec::new();
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = socket.recv(&mut buf) {
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    (pid, port, lines)
}

/// The lines of `lines` with this priority and ident, and their messages.
fn messages<'a>(lines: &'a [String], pri: u32, ident: &str, pid: u32) -> Vec<&'a str> {
    let tag = format!(" {ident}[{pid}]: ");
    lines
        .iter()
        .filter(|l| l.starts_with(&format!("<{pri}>")))
        .filter_map(|l| l.split_once(&tag).map(|(_, message)| message))
        .collect()
}

#[test]
fn the_log_reaches_syslog_with_the_ident_facility_and_redis_severities() {
    // Off by default: nothing is sent.
    let (_, _, lines) = syslog_lines_of_a_run("syslog-off", &["--loglevel", "verbose"]);
    assert!(lines.is_empty(), "syslog-enabled no sent {lines:?}");

    // On, with Roost's defaults: ident "roost", facility local0 (16): notice is
    // 16 * 8 + 5 = 133, warning 132.
    let (pid, port, lines) = syslog_lines_of_a_run("syslog-defaults", &["--syslog-enabled", "yes"]);
    let notices = messages(&lines, 133, "roost", pid);
    let ready = format!("Ready to accept connections tcp on 127.0.0.1:{port}");
    assert!(notices.contains(&ready.as_str()), "{lines:#?}");
    assert!(
        notices.contains(&"Roost is now ready to exit, bye bye..."),
        "{lines:#?}"
    );
    let warnings = messages(&lines, 132, "roost", pid);
    assert!(
        warnings.contains(&"User requested shutdown..."),
        "{lines:#?}"
    );
    // At loglevel notice, a verbose line is not sent.
    assert!(
        !lines.iter().any(|l| l.contains("Protocol error")),
        "{lines:#?}"
    );
    assert_eq!(
        messages(&lines, 133, "roost", pid).len() + warnings.len(),
        lines.len(),
        "every line has the ident, pid and a notice or warning priority: {lines:#?}"
    );

    // Another ident and facility (local3 = 19), at loglevel verbose (LOG_INFO, 6).
    let (pid, port, lines) = syslog_lines_of_a_run(
        "syslog-local3",
        &[
            "--syslog-enabled",
            "yes",
            "--syslog-ident",
            "sessions",
            "--syslog-facility",
            "local3",
            "--loglevel",
            "verbose",
        ],
    );
    let ready = format!("Ready to accept connections tcp on 127.0.0.1:{port}");
    assert!(
        messages(&lines, 157, "sessions", pid).contains(&ready.as_str()),
        "{lines:#?}"
    );
    assert!(
        messages(&lines, 156, "sessions", pid).contains(&"User requested shutdown..."),
        "{lines:#?}"
    );
    let verbose = messages(&lines, 158, "sessions", pid);
    assert!(
        verbose
            .iter()
            .any(|m| m.starts_with("Protocol error from client")),
        "{lines:#?}"
    );
}

#[test]
fn a_bad_facility_stops_startup_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args([
            "--port",
            &free_port().to_string(),
            "--syslog-enabled",
            "yes",
        ])
        .args(["--syslog-facility", "daemon"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'--syslog-facility': argument(s) must be one of the following: user, local0"),
        "{err}"
    );
}
