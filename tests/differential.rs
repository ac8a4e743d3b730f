//! Differential test: the same command scripts run against a real `redis-server` and
//! against Roost, and every reply must be the same bytes.
//!
//! Scripts live in `tests/differential/*.redis`, one command per line in redis-cli
//! quoting. A line may start with directives that relax the comparison where Redis
//! itself is not deterministic:
//!
//! - `@sort`   compare after sorting every array/set (unordered replies: SMEMBERS, KEYS)
//! - `@ttl N`  integers may differ by up to N (TTL, PTTL)
//! - `@len`    compare only the shape and lengths (random replies: SPOP, RANDOMKEY)
//! - `@ignore` send to both, compare nothing (HELLO, whose reply names the server)
//! - `@2`      send on a second connection (to touch a key another client WATCHes)
//!
//! Replies are parsed with the `redis-protocol` crate, an independent decoder, so a
//! framing bug in Roost cannot hide behind its own parser.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{encode_cmd, TestServer};
use redis_protocol::{resp2, resp3};

/// A redis-server child process on a free port, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server not found: install Debian's redis-server (apt-get install -y redis-server); .ci/run does");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, port }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed reply in a form both RESP versions map onto.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Frame {
    Str(Vec<u8>),
    Err(String),
    Int(i64),
    Null,
    Array(Vec<Frame>),
    Set(Vec<Frame>),
    Map(Vec<(Frame, Frame)>),
    Double(String),
    Bool(bool),
    Other(String),
}

fn from_resp2(f: resp2::types::OwnedFrame) -> Frame {
    use resp2::types::OwnedFrame as F;
    match f {
        F::SimpleString(s) | F::BulkString(s) => Frame::Str(s),
        F::Error(e) => Frame::Err(e),
        F::Integer(n) => Frame::Int(n),
        F::Array(items) => Frame::Array(items.into_iter().map(from_resp2).collect()),
        F::Null => Frame::Null,
    }
}

fn from_resp3(f: resp3::types::OwnedFrame) -> Frame {
    use resp3::types::OwnedFrame as F;
    match f {
        F::SimpleString { data, .. } | F::BlobString { data, .. } => Frame::Str(data),
        F::VerbatimString { data, .. } => Frame::Str(data),
        F::SimpleError { data, .. } => Frame::Err(data),
        F::BlobError { data, .. } => Frame::Err(String::from_utf8_lossy(&data).into_owned()),
        F::Number { data, .. } => Frame::Int(data),
        F::Null => Frame::Null,
        F::Array { data, .. } | F::Push { data, .. } => {
            Frame::Array(data.into_iter().map(from_resp3).collect())
        }
        F::Set { data, .. } => {
            let mut items: Vec<Frame> = data.into_iter().map(from_resp3).collect();
            items.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            Frame::Set(items)
        }
        F::Map { data, .. } => {
            let mut pairs: Vec<(Frame, Frame)> = data
                .into_iter()
                .map(|(k, v)| (from_resp3(k), from_resp3(v)))
                .collect();
            pairs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            Frame::Map(pairs)
        }
        F::Double { data, .. } => Frame::Double(data.to_string()),
        F::Boolean { data, .. } => Frame::Bool(data),
        other => Frame::Other(format!("{other:?}")),
    }
}

/// A connection that reads whole replies, keeping their raw bytes too.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    resp3: bool,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Conn {
            stream,
            buf: Vec::new(),
            resp3: false,
        }
    }

    fn request(&mut self, args: &[Vec<u8>]) -> (Vec<u8>, Frame) {
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        self.stream.write_all(&encode_cmd(&refs)).unwrap();
        loop {
            let parsed = if self.resp3 {
                resp3::decode::complete::decode(&self.buf)
                    .map(|o| o.map(|(f, n)| (from_resp3(f), n)))
            } else {
                resp2::decode::decode(&self.buf).map(|o| o.map(|(f, n)| (from_resp2(f), n)))
            };
            match parsed {
                Ok(Some((frame, used))) => {
                    let raw: Vec<u8> = self.buf.drain(..used).collect();
                    return (raw, frame);
                }
                Ok(None) => {}
                Err(e) => panic!(
                    "undecodable reply {:?}: {e:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk).expect("reply before timeout");
            assert!(n > 0, "connection closed while waiting for a reply");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[derive(Default)]
struct Directives {
    sort: bool,
    ttl: Option<i64>,
    len: bool,
    ignore: bool,
    second: bool,
}

fn sorted(f: Frame) -> Frame {
    let sort = |mut v: Vec<Frame>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        v
    };
    match f {
        Frame::Array(items) => Frame::Array(sort(items.into_iter().map(sorted).collect())),
        Frame::Set(items) => Frame::Set(sort(items.into_iter().map(sorted).collect())),
        other => other,
    }
}

fn shape(f: &Frame) -> String {
    match f {
        Frame::Array(items) => format!("array[{}]", items.len()),
        Frame::Set(items) => format!("set[{}]", items.len()),
        Frame::Map(items) => format!("map[{}]", items.len()),
        Frame::Str(_) => "string".into(),
        Frame::Null => "null".into(),
        other => format!("{other:?}"),
    }
}

fn within(a: &Frame, b: &Frame, tolerance: i64) -> bool {
    match (a, b) {
        (Frame::Int(x), Frame::Int(y)) => (x - y).abs() <= tolerance,
        (Frame::Array(xs), Frame::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| within(x, y, tolerance))
        }
        _ => a == b,
    }
}

/// Runs one script; returns a description of every mismatch.
fn run_script(path: &Path) -> Vec<String> {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    let roost_port = roost.addr().port();
    let mut conns = [
        (Conn::open(redis.port), Conn::open(roost_port)),
        (Conn::open(redis.port), Conn::open(roost_port)),
    ];
    let text = std::fs::read_to_string(path).unwrap();
    let mut mismatches = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = roost::protocol::decode::split_args(line.as_bytes())
            .unwrap_or_else(|| panic!("{}:{}: bad quoting", path.display(), lineno + 1));
        let mut d = Directives::default();
        let mut i = 0;
        while i < words.len() && words[i].starts_with(b"@") {
            match &words[i][..] {
                b"@sort" => d.sort = true,
                b"@len" => d.len = true,
                b"@ignore" => d.ignore = true,
                b"@2" => d.second = true,
                b"@ttl" => {
                    i += 1;
                    d.ttl = Some(std::str::from_utf8(&words[i]).unwrap().parse().unwrap());
                }
                other => panic!(
                    "{}:{}: unknown directive {}",
                    path.display(),
                    lineno + 1,
                    String::from_utf8_lossy(other)
                ),
            }
            i += 1;
        }
        let args: Vec<Vec<u8>> = words[i..].iter().map(|w| w.to_vec()).collect();
        let (redis_conn, roost_conn) = &mut conns[d.second as usize];
        // HELLO 2|3 answers in the protocol it switches to; a failed HELLO changes nothing.
        let previous = redis_conn.resp3;
        if args[0].eq_ignore_ascii_case(b"hello") && args.len() > 1 {
            let proto3 = args[1].as_slice() == b"3";
            if proto3 || args[1].as_slice() == b"2" {
                redis_conn.resp3 = proto3;
                roost_conn.resp3 = proto3;
            }
        }
        let (redis_raw, redis_frame) = redis_conn.request(&args);
        let (roost_raw, roost_frame) = roost_conn.request(&args);
        if matches!(redis_frame, Frame::Err(_)) {
            redis_conn.resp3 = previous;
            roost_conn.resp3 = previous;
        }
        let same = if d.ignore {
            true
        } else if d.len {
            shape(&redis_frame) == shape(&roost_frame)
        } else if d.sort {
            sorted(redis_frame.clone()) == sorted(roost_frame.clone())
        } else if let Some(tolerance) = d.ttl {
            within(&redis_frame, &roost_frame, tolerance)
        } else {
            redis_raw == roost_raw
        };
        if !same {
            mismatches.push(format!(
                "{}:{}: {}\n    redis: {:?}\n    roost: {:?}",
                path.display(),
                lineno + 1,
                line,
                String::from_utf8_lossy(&redis_raw),
                String::from_utf8_lossy(&roost_raw)
            ));
        }
    }
    mismatches
}

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "redis"))
        .collect();
    files.sort();
    files
}

#[test]
fn roost_answers_like_redis() {
    let files = scripts();
    assert!(files.len() >= 5, "differential scripts missing");
    let mut mismatches = Vec::new();
    let mut commands = 0;
    for file in &files {
        commands += std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
            .count();
        mismatches.extend(run_script(file));
    }
    println!("{} scripts, {commands} commands compared", files.len());
    assert!(
        mismatches.is_empty(),
        "{} replies differ from redis-server:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
