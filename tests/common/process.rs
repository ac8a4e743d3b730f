//! The roost binary as a child process, for tests that restart, kill or pair servers.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

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
}

impl Roost {
    /// Starts the binary and returns at once (it may still be loading its log).
    pub fn spawn(dir: &Path, extra: &[&str]) -> Roost {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_roost"))
            .args(["--port", &port.to_string(), "--dir", dir.to_str().unwrap()])
            .args(["--loglevel", "warning"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Roost { child, port }
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
                let info: redis::RedisResult<String> =
                    redis::cmd("INFO").arg("persistence").query(&mut con);
                match info {
                    Ok(i) if i.contains("\r\nloading:0\r\n") => return,
                    // A server with a password is up; tests that set one check more.
                    Err(e) if e.code() == Some("NOAUTH") => return,
                    _ => {}
                }
            }
            assert!(Instant::now() < deadline, "roost did not become ready");
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn try_client(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?.get_connection()
    }

    pub fn client(&self) -> redis::Connection {
        self.try_client().unwrap()
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn shutdown(mut self) {
        let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query(&mut self.client());
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
