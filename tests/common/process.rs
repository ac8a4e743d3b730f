//! The roost binary as a child process, for tests that restart, kill or pair servers.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A process's resident set size in KB (VmRSS).
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("roost-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The roost binary on a free port with its log in `dir`; killed on drop.
pub struct Roost {
    pub child: Child,
    pub port: u16,
    /// The `--requirepass` it was started with, so readiness can be checked past AUTH.
    password: Option<String>,
    /// The `--unixsocket` it was started with when it was also given `--port 0`: then
    /// `client` connects there.
    only_unix: Option<String>,
}

impl Roost {
    /// Starts the binary and returns at once (it may still be loading its log).
    pub fn spawn(dir: &Path, extra: &[&str]) -> Roost {
        Roost::spawn_to(dir, extra, Stdio::null())
    }

    /// Starts the binary with its log (stderr) going to the file `log`, and waits until
    /// it has loaded its log.
    pub fn start_logged(dir: &Path, extra: &[&str], log: &Path) -> Roost {
        let file = std::fs::File::create(log).unwrap();
        let roost = Roost::spawn_to(dir, extra, Stdio::from(file));
        roost.wait_until_ready();
        roost
    }

    fn spawn_to(dir: &Path, extra: &[&str], stderr: Stdio) -> Roost {
        let port = free_port();
        // A config file goes first, as redis-server wants it (the flags that follow
        // override it).
        let (file, flags) = match extra.split_first() {
            Some((file, flags)) if !file.starts_with('-') => (Some(*file), flags),
            _ => (None, extra),
        };
        let child = Command::new(env!("CARGO_BIN_EXE_roost"))
            .args(file)
            .args(["--port", &port.to_string(), "--dir", dir.to_str().unwrap()])
            .args(["--loglevel", "warning"])
            .args(flags)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let flag = |name: &str| {
            extra
                .iter()
                .rposition(|&a| a == name)
                .and_then(|i| extra.get(i + 1))
                .map(|p| p.to_string())
        };
        let only_unix = flag("--unixsocket").filter(|_| flag("--port").as_deref() == Some("0"));
        Roost {
            child,
            port,
            password: flag("--requirepass"),
            only_unix,
        }
    }

    /// Starts the binary with only a config file (which must name the port, `port`, so a
    /// restart comes back on the same one), its log (stderr) appended to `log`; returns at
    /// once. For tests where the file is the server's whole configuration, as in production
    /// where CONFIG REWRITE (Sentinel's) changes it between restarts.
    pub fn spawn_with_config_file(config_file: &Path, port: u16, log: &Path) -> Roost {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_roost"))
            .arg(config_file)
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        Roost {
            child,
            port,
            password: None,
            only_unix: None,
        }
    }

    /// Starts the binary and waits until it has loaded its log.
    pub fn start(dir: &Path, extra: &[&str]) -> Roost {
        let roost = Roost::spawn(dir, extra);
        roost.wait_until_ready();
        roost
    }

    pub fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut con) = self.try_client() {
                if let Some(password) = &self.password {
                    let _: redis::RedisResult<()> =
                        redis::cmd("AUTH").arg(password).query(&mut con);
                }
                let info: redis::RedisResult<String> =
                    redis::cmd("INFO").arg("persistence").query(&mut con);
                match info {
                    Ok(i) if i.contains("\r\nloading:0\r\n") => return,
                    // A password from a config file: the server is up; such tests check more.
                    Err(e) if e.code() == Some("NOAUTH") && self.password.is_none() => return,
                    _ => {}
                }
            }
            assert!(Instant::now() < deadline, "roost did not become ready");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the log is loaded, asking as `user` (a server whose default user is
    /// off, where `wait_until_ready` can only see that it answers).
    pub fn wait_until_loaded_as(&self, user: &str, password: &str) {
        let url = format!("redis://{user}:{password}@127.0.0.1:{}/", self.port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let info = redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut con| {
                    redis::cmd("INFO")
                        .arg("persistence")
                        .query::<String>(&mut con)
                });
            if info.is_ok_and(|i| i.contains("\r\nloading:0\r\n")) {
                return;
            }
            assert!(Instant::now() < deadline, "roost did not finish loading");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A connection on its TCP port, or on its Unix socket if it has no TCP port.
    pub fn try_client(&self) -> redis::RedisResult<redis::Connection> {
        match &self.only_unix {
            Some(path) => unix_client(Path::new(path)),
            None => {
                redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?.get_connection()
            }
        }
    }

    pub fn client(&self) -> redis::Connection {
        self.try_client().unwrap()
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn shutdown(self) {
        self.shutdown_with(&[]);
    }

    /// SHUTDOWN with these arguments (`SAVE`, `NOSAVE`); the process must exit cleanly.
    pub fn shutdown_with(mut self, args: &[&str]) {
        let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg(args).query(&mut self.client());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Roost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis` crate connection on the Unix socket at `path` (`redis+unix://` URL).
pub fn unix_client(path: &Path) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(format!("redis+unix://{}", path.display()))?.get_connection()
}

/// The `redis-server` executable on PATH.
fn find_redis_server() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server is not on PATH. The differential test compares Roost with a real \
                 Redis: install Debian's redis-server (`sudo apt-get install -y redis-server`; \
                 .ci/run does it in CI)"
            )
        })
}

/// A redis-server child process on a free port, killed on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    /// Its `dir`, so what it saves (a replica's full sync, SAVE) stays out of the
    /// checkout, where an in-process server would load it.
    _dir: TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Starts redis-server with `extra` arguments (`--maxclients`, ...) after the usual.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let binary = find_redis_server();
        let port = free_port();
        let dir = TempDir::new(&format!("redis-{port}"));
        let mut child = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir.0)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let mut reply = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut reply).is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    break;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("redis-server exited at startup ({status}); is port {port} free?");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {port} within 10s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedisServer {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

/// Another program a test runs beside Roost (redis-sentinel, nutcracker); killed on drop.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `done` every 20 ms until it holds; fails the test after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}
