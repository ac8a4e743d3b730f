//! Shared test support: a real Roost server on 127.0.0.1:0 and clients to talk to it.
#![allow(dead_code)]

pub mod certs;
pub mod dataset;
pub mod inprocess;
pub mod process;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use roost::config::Config;
use roost::server::Background;

/// Field `field` of `INFO section`, trimmed; panics naming it if INFO has no such field.
pub fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {field} in INFO {section}:\n{info}"))
}

/// Runs the command `args` on `con`; panics naming it if it fails.
pub fn query<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")))
}

/// The configuration tests start from (a port the OS picks, no log), after `adjust`; quiets
/// the server log to warnings.
/// What the directories `test_config` makes are named from; a `TestServer` removes its
/// own such directory when dropped (never one a test chose: it may start again on it).
const SERVER_DIR_PREFIX: &str = "roost-testserver-";

pub fn test_config(adjust: impl FnOnce(&mut Config)) -> Config {
    static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    // A directory of its own: a file another test saves (SAVE, DEBUG RELOAD) into a
    // shared `dir` would be loaded at this server's start.
    let dir = std::env::temp_dir().join(format!(
        "{SERVER_DIR_PREFIX}{}-{}",
        std::process::id(),
        SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test server's dir");
    let mut config = Config {
        pick_free_ports: true,
        appendonly: false,
        // Memory only: no RDB file written at shutdown.
        save: String::new(),
        dir,
        ..Config::default()
    };
    adjust(&mut config);
    roost::log::set_level(roost::log::Level::Warning);
    config
}

/// A server running for the duration of a test.
pub struct TestServer {
    pub server: Background,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        remove_test_dir(&self.server.shared.config().dir.clone());
    }
}

/// Removes `dir` if `test_config` made it (never a directory a test chose: it may start
/// again on it).
pub fn remove_test_dir(dir: &std::path::Path) {
    let made_here = dir.parent() == Some(std::env::temp_dir().as_path())
        && dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(SERVER_DIR_PREFIX));
    if made_here {
        let _ = std::fs::remove_dir_all(dir);
    }
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::with_config(|_| {})
    }

    /// Starts a server after `adjust` has changed the default test configuration.
    pub fn with_config(adjust: impl FnOnce(&mut Config)) -> TestServer {
        TestServer {
            server: Background::start(test_config(adjust)).expect("start roost"),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr())
    }

    /// A synchronous `redis` crate connection speaking RESP2.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// A synchronous `redis` crate connection speaking RESP3 (sends HELLO 3).
    pub fn client_resp3(&self) -> redis::Connection {
        redis::Client::open(format!("{}?protocol=resp3", self.url()))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// A raw socket for exact byte-level checks.
    pub fn raw(&self) -> Raw {
        let stream = TcpStream::connect(self.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Raw { stream }
    }
}

/// A raw TCP connection: send bytes, read back exactly what the server wrote.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends one command as a RESP array of bulk strings.
    pub fn send_cmd(&mut self, args: &[&[u8]]) {
        self.send(&encode_cmd(args));
    }

    /// Reads until `n` bytes have arrived.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.stream.read_exact(&mut buf).unwrap();
        buf
    }

    /// Reads until the server's reply equals `expected`, failing on a mismatch.
    pub fn expect(&mut self, expected: &[u8]) {
        let got = self.read_exact(expected.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected)
        );
    }

    /// Sends a command and checks the reply bytes exactly.
    pub fn roundtrip(&mut self, args: &[&[u8]], expected: &[u8]) {
        self.send_cmd(args);
        self.expect(expected);
    }

    /// Switches to RESP3 with HELLO 3 and reads past its reply map.
    pub fn hello3(&mut self) {
        self.send(b"HELLO 3\r\n");
        let mut got = Vec::new();
        while !got.ends_with(b"modules\r\n*0\r\n") {
            got.extend(self.read_exact(1));
        }
        assert!(
            got.starts_with(b"%7\r\n"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    }

    /// Reads until the server closes the connection (EOF or a reset); returns everything
    /// received. Panics if the connection is still open after 10 s.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut out = Vec::new();
        let mut buf = [0; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => match e.kind() {
                    ErrorKind::Interrupted => {}
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => return out,
                    ErrorKind::WouldBlock | ErrorKind::TimedOut => panic!(
                        "the server did not close the connection within 10 s; received {:?}",
                        String::from_utf8_lossy(&out)
                    ),
                    _ => panic!("read failed while waiting for the server to close: {e}"),
                },
            }
        }
    }
}

pub fn encode_cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}
