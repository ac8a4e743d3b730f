//! Running as a service, as redis-server does: `logfile`, `pidfile`, `daemonize` and
//! `supervised systemd` (the notify protocol), with the real binary.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{free_port, wait_for, TempDir};

fn roost(dir: &Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_roost"));
    command.args(["--port", &port.to_string(), "--dir", dir.to_str().unwrap()]);
    command
}

fn client(port: u16) -> redis::Connection {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connected = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection();
        match connected {
            Ok(con) => return con,
            Err(e) if Instant::now() > deadline => panic!("roost never answered: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn shutdown(port: u16) {
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query(&mut client(port));
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn logfile_takes_the_log_and_pidfile_holds_the_pid_until_exit() {
    let dir = TempDir::new("service-files");
    let (log, pidfile) = (dir.0.join("roost.log"), dir.0.join("roost.pid"));
    let port = free_port();
    let child = roost(&dir.0.join("data"), port)
        .args(["--logfile", log.to_str().unwrap()])
        .args(["--pidfile", pidfile.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _con = client(port);
    wait_for(
        "the Ready line in the logfile",
        Duration::from_secs(30),
        || std::fs::read_to_string(&log).is_ok_and(|t| t.contains("Ready to accept connections")),
    );
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(pid, format!("{}\n", child.id()));
    shutdown(port);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(output.stderr.is_empty(), "the log went to the file only");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Roost is now ready to exit"), "{text}");
    assert!(!pidfile.exists(), "the pid file is removed at exit");

    // A logfile that cannot be opened stops startup naming it.
    let bad = dir.0.join("no-such-dir/roost.log");
    let output = roost(&dir.0.join("data"), free_port())
        .args(["--logfile", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(&format!("Can't open the log file {}", bad.display())),
        "{err}"
    );
}

#[test]
fn daemonize_returns_at_once_and_leaves_the_server_running_in_the_background() {
    let dir = TempDir::new("service-daemon");
    let (log, pidfile) = (dir.0.join("roost.log"), dir.0.join("roost.pid"));
    let port = free_port();
    let launcher = roost(&dir.0.join("data"), port)
        .args(["--daemonize", "yes"])
        .args(["--logfile", log.to_str().unwrap()])
        .args(["--pidfile", pidfile.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let launcher_pid = launcher.id() as i32;
    let status = launcher.wait_with_output().unwrap().status;
    assert!(status.success(), "{status:?}");
    wait_for("the pid file", Duration::from_secs(30), || pidfile.exists());
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(pid, launcher_pid);
    let mut con = client(port);
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    assert!(alive(pid));
    drop(con);
    shutdown(port);
    wait_for("the daemon to exit", Duration::from_secs(30), || {
        !alive(pid)
    });
    assert!(!pidfile.exists());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!("Running in the background, pid={pid}")),
        "{text}"
    );
}

/// A notify socket like systemd's: a bound datagram socket, by path or abstract name.
fn notify_socket(dir: &Path, abstract_name: bool) -> (UnixDatagram, String) {
    if abstract_name {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("roost-test-notify-{}-{}", std::process::id(), free_port());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        (
            UnixDatagram::bind_addr(&address).unwrap(),
            format!("@{name}"),
        )
    } else {
        let path: PathBuf = dir.join("notify.sock");
        (
            UnixDatagram::bind(&path).unwrap(),
            path.display().to_string(),
        )
    }
}

fn receive(socket: &UnixDatagram) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("a notification within 30 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn supervised_systemd_says_ready_after_loading_and_stopping_at_shutdown() {
    for (abstract_name, setting) in [(false, "systemd"), (true, "auto")] {
        let dir = TempDir::new("service-notify");
        let (socket, address) = notify_socket(&dir.0, abstract_name);
        let port = free_port();
        let mut child = roost(&dir.0.join("data"), port)
            .args(["--supervised", setting, "--loglevel", "warning"])
            .env("NOTIFY_SOCKET", &address)
            .spawn()
            .unwrap();
        let ready = receive(&socket);
        assert!(ready.starts_with("READY=1\n"), "{ready:?}");
        // Ready means loaded: no LOADING answer after it.
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query(&mut client(port))
            .unwrap();
        assert!(info.contains("\r\nloading:0\r\n"), "{info}");
        shutdown(port);
        assert_eq!(receive(&socket), "STOPPING=1\n");
        assert!(child.wait().unwrap().success());
    }
}

/// The server side of connections to `port`, as `ss` shows them with their timers.
fn server_sockets(port: u16) -> String {
    let out = Command::new("ss")
        .args([
            "-tnoH",
            "state",
            "established",
            &format!("( sport = :{port} )"),
        ])
        .output()
        .expect("ss (Debian's iproute2) is needed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tcp_keepalive_probes_silent_clients_unless_set_to_0() {
    let dir = TempDir::new("service-keepalive");
    let port = free_port();
    let mut child = roost(&dir.0.join("data"), port)
        .args(["--tcp-keepalive", "60"])
        .spawn()
        .unwrap();
    let mut con = client(port);
    let sockets = server_sockets(port);
    assert!(sockets.contains("timer:(keepalive,"), "{sockets}");
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("tcp-keepalive")
        .arg("0")
        .query(&mut con)
        .unwrap();
    drop(con);
    wait_for(
        "the first connection to close",
        Duration::from_secs(10),
        || server_sockets(port).is_empty(),
    );
    // Applies to connections accepted from now on.
    let _con = client(port);
    let sockets = server_sockets(port);
    assert_eq!(sockets.lines().count(), 1, "{sockets}");
    assert!(!sockets.contains("keepalive"), "{sockets}");
    shutdown(port);
    assert!(child.wait().unwrap().success());
}
