//! Differential test: the same command scripts run against a real `redis-server` (started
//! by the test) and against Roost, and every reply must be equal.
//!
//! Scripts live in `tests/differential/*.redis`: one command per line in redis-cli
//! quoting (split with `roost::protocol::decode::split_args`), `#` starts a comment line.
//! Each script gets a fresh redis-server (`--save '' --appendonly no`, a free port) and a
//! fresh in-process Roost, is sent a `FLUSHALL` first, and starts on fresh connections
//! (RESP2, database 0); so a crash, a hang or a configuration change stays in its script.
//!
//! Every command is sent as a RESP array over a raw socket, and each reply is parsed with
//! the `redis-protocol` crate, an independent decoder, so a framing bug in Roost cannot
//! hide behind Roost's own code. By default two replies must be structurally equal (RESP3
//! types included: a simple string is not a bulk string, a set is not an array) and, when
//! the reply holds no RESP3 map or set (whose order means nothing), byte for byte equal.
//!
//! A line may start with directives, which relax the comparison where Redis itself is
//! not deterministic, or drive the session:
//!
//! - `@sort`       sort the elements of every array and set, at every depth, before
//!   comparing (KEYS, SMEMBERS, RESP2 HGETALL: replies whose order is unspecified).
//! - `@near N`     integers and doubles may differ by up to N (TTL, PTTL, EXPIRETIME).
//! - `@shape`      compare only the types and the lengths of aggregates, not the values
//!   (random replies: SPOP, SRANDMEMBER, RANDOMKEY; TIME).
//! - `@except F.. --`  in a map (or a RESP2 flat field/value array), ignore the values of
//!   the fields F (HELLO's `id` and `version`).
//! - `@errcode`    two errors need only the same code (first word): for the few error
//!   texts Redis 7.2 reworded, which Roost follows.
//! - `@ignore`     send to both servers, compare nothing.
//! - `@2`, `@3`    send on the second (third) client instead of the first, e.g. to touch
//!   a key another client WATCHes. Each client connects on first use.
//! - `@expand`     an argument holding `{N..M}` becomes one copy per number, each split at
//!   spaces: `@expand hset h "f{1..200} v"` sends 200 field/value pairs.
//! - `@scanall`    SCAN/HSCAN/SSCAN/ZSCAN from cursor 0 until the cursor is 0 again, on each
//!   server with its own cursors; compare the sorted distinct elements seen.
//! - `@inline TEXT`   send TEXT as written plus CRLF (an inline command).
//! - `@raw "BYTES"`   send the bytes of one quoted string (escapes decoded) as they are.
//! - `@noreply`    with `@raw`/`@inline`/a command: send and do not read a reply (the
//!   next line's reply then covers both).
//! - `@frames N`   read N frames as the line's reply (compared as one array of them):
//!   SUBSCRIBE to several channels, a push that arrives before a reply, or, with
//!   `@raw ""`, messages waiting for a subscriber that sends nothing.
//! - `@sleep MS`   a line of its own: wait MS milliseconds (let keys expire).
//! - `@resp3`, `@resp2`  a line of its own (after an optional client directive): send
//!   `HELLO 3` / `HELLO 2` and compare the reply except `id` and `version`.
//!
//! Every script runs twice: in RESP2, then with each new connection opened by `HELLO 3`
//! (reported as `name.redis (RESP3)`), so every reply is also checked in its RESP3 type.
//! A script that handles the protocol itself has a line `@resp2-only` and runs once.
//!
//! The harness follows the protocol of each connection: a reply to HELLO that is a map
//! switches it to RESP3, one that is an array to RESP2, a successful RESET back to RESP2.
//! After QUIT and after a protocol error it checks that both servers close the
//! connection, and reconnects the client on its next use. A reply that cannot be decoded
//! or does not arrive is reported and the connection replaced; if Roost stops answering
//! altogether, the rest of the script is skipped (and reported).
//!
//! Every mismatch of the run is collected (script, line, command, both replies) and the
//! test fails at the end listing them all. `DIFFERENTIAL_ONLY=strings cargo test --test
//! differential` runs only the scripts whose name contains `strings`;
//! `DIFFERENTIAL_TRACE=1` (with `--nocapture`) prints every command with Redis's reply.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::process::RedisServer;
use common::{encode_cmd, TestServer};
use redis_protocol::{resp2, resp3};

/// How long to wait for one reply before calling it missing.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Clients a script may use (`@2`, `@3`).
const CLIENTS: usize = 3;

// ---------------------------------------------------------------------------------------
// redis-server
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------

/// A decoded reply in a form that can be normalised and compared. RESP3 maps and sets
/// are kept sorted, since their order carries no meaning.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Frame {
    Simple(Vec<u8>),
    Bulk(Vec<u8>),
    Verbatim(String, Vec<u8>),
    Error(Vec<u8>),
    BlobError(Vec<u8>),
    Int(i64),
    Double(f64),
    BigNumber(Vec<u8>),
    Bool(bool),
    Null,
    Array(Vec<Frame>),
    Set(Vec<Frame>),
    Map(Vec<(Frame, Frame)>),
    Push(Vec<Frame>),
    Other(String),
}

fn sort_frames(v: &mut [Frame]) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
}

fn from_resp2(f: resp2::types::OwnedFrame) -> Frame {
    use resp2::types::OwnedFrame as F;
    match f {
        F::SimpleString(s) => Frame::Simple(s),
        F::BulkString(s) => Frame::Bulk(s),
        F::Error(e) => Frame::Error(e.into_bytes()),
        F::Integer(n) => Frame::Int(n),
        F::Array(items) => Frame::Array(items.into_iter().map(from_resp2).collect()),
        F::Null => Frame::Null,
    }
}

fn from_resp3(f: resp3::types::OwnedFrame) -> Frame {
    use resp3::types::OwnedFrame as F;
    match f {
        F::SimpleString { data, .. } => Frame::Simple(data),
        F::BlobString { data, .. } => Frame::Bulk(data),
        F::VerbatimString { data, format, .. } => Frame::Verbatim(format!("{format:?}"), data),
        F::SimpleError { data, .. } => Frame::Error(data.into_bytes()),
        F::BlobError { data, .. } => Frame::BlobError(data),
        F::Number { data, .. } => Frame::Int(data),
        F::Double { data, .. } => Frame::Double(data),
        F::BigNumber { data, .. } => Frame::BigNumber(data),
        F::Boolean { data, .. } => Frame::Bool(data),
        F::Null => Frame::Null,
        F::Array { data, .. } => Frame::Array(data.into_iter().map(from_resp3).collect()),
        F::Push { data, .. } => Frame::Push(data.into_iter().map(from_resp3).collect()),
        F::Set { data, .. } => {
            let mut items: Vec<Frame> = data.into_iter().map(from_resp3).collect();
            sort_frames(&mut items);
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
        other => Frame::Other(format!("{other:?}")),
    }
}

/// Decodes one complete frame at the start of `buf`: Ok(None) when more bytes are needed.
fn decode(buf: &[u8], resp3: bool) -> Result<Option<(Frame, usize)>, String> {
    if resp3 {
        resp3::decode::complete::decode(buf)
            .map(|o| o.map(|(f, n)| (from_resp3(f), n)))
            .map_err(|e| format!("{e:?}"))
    } else {
        resp2::decode::decode(buf)
            .map(|o| o.map(|(f, n)| (from_resp2(f), n)))
            .map_err(|e| format!("{e:?}"))
    }
}

/// Whether a frame holds a RESP3 map or set anywhere (then byte order means nothing).
fn has_unordered(f: &Frame) -> bool {
    match f {
        Frame::Map(_) | Frame::Set(_) => true,
        Frame::Array(items) | Frame::Push(items) => items.iter().any(has_unordered),
        _ => false,
    }
}

/// Sorts every array and set at every depth.
fn sorted(f: Frame) -> Frame {
    match f {
        Frame::Array(items) => {
            let mut items: Vec<Frame> = items.into_iter().map(sorted).collect();
            sort_frames(&mut items);
            Frame::Array(items)
        }
        Frame::Set(items) => {
            let mut items: Vec<Frame> = items.into_iter().map(sorted).collect();
            sort_frames(&mut items);
            Frame::Set(items)
        }
        Frame::Map(pairs) => {
            let mut pairs: Vec<(Frame, Frame)> =
                pairs.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            pairs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            Frame::Map(pairs)
        }
        other => other,
    }
}

/// Replaces the values of the named fields of a map, or of a flat field/value array,
/// with a placeholder.
fn without_fields(f: Frame, fields: &[Vec<u8>]) -> Frame {
    let named = |k: &Frame| match k {
        Frame::Simple(s) | Frame::Bulk(s) => fields.iter().any(|f| f.eq_ignore_ascii_case(s)),
        _ => false,
    };
    let hidden = Frame::Other("<ignored>".into());
    match f {
        Frame::Map(pairs) => Frame::Map(
            pairs
                .into_iter()
                .map(|(k, v)| {
                    let v = if named(&k) { hidden.clone() } else { v };
                    (k, v)
                })
                .collect(),
        ),
        Frame::Array(mut items) if items.len() % 2 == 0 => {
            for i in (0..items.len()).step_by(2) {
                if named(&items[i]) {
                    items[i + 1] = hidden.clone();
                }
            }
            Frame::Array(items)
        }
        other => other,
    }
}

/// The types and aggregate lengths of a frame, without its values.
fn shape(f: &Frame) -> String {
    let list = |name: &str, items: &[Frame]| {
        let inner: Vec<String> = items.iter().map(shape).collect();
        format!("{name}[{}]", inner.join(","))
    };
    match f {
        Frame::Array(items) => list("array", items),
        Frame::Push(items) => list("push", items),
        // Random members of a set may come in any order: sort their shapes.
        Frame::Set(items) => {
            let mut inner: Vec<String> = items.iter().map(shape).collect();
            inner.sort();
            format!("set[{}]", inner.join(","))
        }
        Frame::Map(pairs) => {
            let mut inner: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}:{}", shape(k), shape(v)))
                .collect();
            inner.sort();
            format!("map[{}]", inner.join(","))
        }
        Frame::Simple(_) => "simple".into(),
        Frame::Bulk(_) => "bulk".into(),
        Frame::Verbatim(..) => "verbatim".into(),
        Frame::Error(_) => "error".into(),
        Frame::BlobError(_) => "bloberror".into(),
        Frame::Int(_) => "int".into(),
        Frame::Double(_) => "double".into(),
        Frame::BigNumber(_) => "bignumber".into(),
        Frame::Bool(_) => "bool".into(),
        Frame::Null => "null".into(),
        Frame::Other(s) => s.clone(),
    }
}

/// Structural equality where numbers may differ by up to `tolerance`.
fn near(a: &Frame, b: &Frame, tolerance: f64) -> bool {
    let all = |xs: &[Frame], ys: &[Frame]| {
        xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| near(x, y, tolerance))
    };
    match (a, b) {
        (Frame::Int(x), Frame::Int(y)) => (*x as f64 - *y as f64).abs() <= tolerance,
        (Frame::Double(x), Frame::Double(y)) => (x - y).abs() <= tolerance,
        (Frame::Array(xs), Frame::Array(ys)) => all(xs, ys),
        (Frame::Set(xs), Frame::Set(ys)) => all(xs, ys),
        (Frame::Push(xs), Frame::Push(ys)) => all(xs, ys),
        (Frame::Map(xs), Frame::Map(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .zip(ys)
                    .all(|((kx, vx), (ky, vy))| kx == ky && near(vx, vy, tolerance))
        }
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------------
// Replies and the comparison
// ---------------------------------------------------------------------------------------

/// What a server answered to one command.
#[derive(Debug, Clone)]
struct Reply {
    /// The bytes of the reply (for an undecodable reply, whatever arrived).
    raw: Vec<u8>,
    /// The decoded frame, or why there is none.
    frame: Result<Frame, String>,
}

impl Reply {
    fn describe(&self) -> String {
        let text = printable(&self.raw);
        match &self.frame {
            Ok(_) => text,
            Err(why) => format!("<{why}> {text}"),
        }
    }

    fn is_error(&self) -> bool {
        matches!(self.frame, Ok(Frame::Error(_)) | Ok(Frame::BlobError(_)))
    }
}

/// Bytes as a one-line string, escaping CR, LF and non-printable bytes.
fn printable(raw: &[u8]) -> String {
    let mut out = String::new();
    for &b in raw {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// How one line's replies are compared.
#[derive(Debug, Default, Clone)]
struct Compare {
    sort: bool,
    near: Option<f64>,
    shape: bool,
    except: Vec<Vec<u8>>,
    ignore: bool,
    errcode: bool,
}

impl Compare {
    fn is_strict(&self) -> bool {
        !self.sort && self.near.is_none() && !self.shape && self.except.is_empty()
    }

    /// Whether the two replies count as equal under these rules.
    fn equal(&self, redis: &Reply, roost: &Reply) -> bool {
        if self.ignore {
            return true;
        }
        let (a, b) = match (&redis.frame, &roost.frame) {
            (Ok(a), Ok(b)) => (a.clone(), b.clone()),
            // The decoder cannot hold every valid RESP3 reply (a map inside a set, as in
            // Redis's RESP3 COMMAND INFO): the same bytes from both are still equal.
            (Err(x), Err(y)) if x.starts_with("undecodable") && y.starts_with("undecodable") => {
                return redis.raw == roost.raw;
            }
            // Otherwise a reply that did not decode (or arrive) never matches.
            _ => return false,
        };
        if self.shape {
            return shape(&a) == shape(&b);
        }
        if self.errcode {
            let code = |f: &Frame| match f {
                Frame::Error(e) | Frame::BlobError(e) => {
                    Some(e.split(|&c| c == b' ').next().unwrap_or_default().to_vec())
                }
                _ => None,
            };
            if let (Some(x), Some(y)) = (code(&a), code(&b)) {
                return x == y;
            }
        }
        let (mut a, mut b) = (a, b);
        if !self.except.is_empty() {
            a = without_fields(a, &self.except);
            b = without_fields(b, &self.except);
        }
        if self.sort {
            a = sorted(a);
            b = sorted(b);
        }
        if let Some(tolerance) = self.near {
            return near(&a, &b, tolerance);
        }
        if a != b {
            return false;
        }
        // Structurally equal: in strict mode the bytes must be too (doubles written the
        // same way, $-1 versus *-1), unless a map or set makes the order free.
        !self.is_strict() || has_unordered(&a) || redis.raw == roost.raw
    }
}

// ---------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------

/// What one line sends to each server.
#[derive(Debug, Clone, PartialEq)]
struct Request {
    /// The command name, lower case (drives QUIT, HELLO and RESET handling).
    name: Vec<u8>,
    /// The bytes to write: a RESP array of bulk strings, or the line's own bytes for
    /// `@inline` and `@raw`.
    bytes: Vec<u8>,
    /// Frames to read: 1, none for `@noreply`, N for `@frames N`.
    frames: usize,
}

impl Request {
    fn command(args: &[Vec<u8>]) -> Request {
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        Request {
            name: args
                .first()
                .map(|a| a.to_ascii_lowercase())
                .unwrap_or_default(),
            bytes: encode_cmd(&refs),
            frames: 1,
        }
    }
}

/// One client connection to one server.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    resp3: bool,
}

impl Conn {
    fn open(port: u16) -> Result<Conn, String> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| format!("cannot connect to 127.0.0.1:{port}: {e}"))?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Ok(Conn {
            stream,
            buf: Vec::new(),
            resp3: false,
        })
    }

    /// Sends one request and reads its reply; returns the reply and whether the
    /// connection is still usable.
    fn request(&mut self, request: &Request) -> (Reply, bool) {
        if let Err(e) = self.stream.write_all(&request.bytes) {
            let reply = Reply {
                raw: Vec::new(),
                frame: Err(format!("write failed: {e}")),
            };
            return (reply, false);
        }
        if request.frames == 0 {
            let reply = Reply {
                raw: Vec::new(),
                frame: Ok(Frame::Other("<no reply expected>".into())),
            };
            return (reply, true);
        }
        let mut raw = Vec::new();
        let mut frames = Vec::new();
        while frames.len() < request.frames {
            match self.read_frame(request) {
                Ok((frame, bytes)) => {
                    raw.extend(bytes);
                    frames.push(frame);
                }
                Err(why) => {
                    let mut reply = self.broken(why);
                    raw.extend(reply.raw);
                    reply.raw = raw;
                    return (reply, false);
                }
            }
        }
        let frame = if frames.len() == 1 {
            frames.pop().unwrap()
        } else {
            Frame::Array(frames)
        };
        let reply = Reply {
            raw,
            frame: Ok(frame),
        };
        (reply, true)
    }

    /// Reads the next frame and its bytes, or why none came.
    fn read_frame(&mut self, request: &Request) -> Result<(Frame, Vec<u8>), String> {
        // HELLO answers in the protocol it switches to: a map means RESP3.
        let hello = request.name == b"hello";
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let resp3 = self.resp3 || (hello && self.buf.first() == Some(&b'%'));
            match decode(&self.buf, resp3) {
                Ok(Some((frame, used))) => return Ok((frame, self.buf.drain(..used).collect())),
                Ok(None) => {}
                Err(e) => return Err(format!("undecodable reply: {e}")),
            }
            if Instant::now() >= deadline {
                return Err("no complete reply within 5s".into());
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("connection closed".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
    }

    fn broken(&mut self, why: String) -> Reply {
        Reply {
            raw: std::mem::take(&mut self.buf),
            frame: Err(why),
        }
    }

    /// Whether the server closes the connection within a second (after QUIT or a
    /// protocol error), sending nothing more.
    fn closes(&mut self) -> bool {
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut chunk = [0u8; 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}

/// The two servers being compared.
#[derive(Clone, Copy)]
struct Ports {
    redis: u16,
    roost: u16,
}

/// A script's clients: for each, a connection to each server, opened on first use.
struct Clients {
    ports: Ports,
    conns: Vec<Option<(Conn, Conn)>>,
    /// Every new connection starts with HELLO 3 (the script's RESP3 run).
    resp3: bool,
    /// HELLO 3 handshakes whose replies differed, to report with the next line.
    handshake_mismatches: Vec<String>,
}

impl Clients {
    fn new(ports: Ports, resp3: bool) -> Clients {
        Clients {
            ports,
            conns: (0..CLIENTS).map(|_| None).collect(),
            resp3,
            handshake_mismatches: Vec::new(),
        }
    }

    /// The client's connections, opened on first use.
    fn get(&mut self, client: usize) -> Result<&mut (Conn, Conn), String> {
        if self.conns[client].is_none() {
            let mut redis = Conn::open(self.ports.redis).map_err(|e| format!("redis: {e}"))?;
            let mut roost = Conn::open(self.ports.roost).map_err(|e| format!("roost: {e}"))?;
            if self.resp3 {
                let hello = Request::command(&[b"HELLO".to_vec(), b"3".to_vec()]);
                let (redis_reply, _) = redis.request(&hello);
                let (roost_reply, _) = roost.request(&hello);
                follow_protocol(&mut redis, &hello, &redis_reply);
                follow_protocol(&mut roost, &hello, &roost_reply);
                let compare = Compare {
                    except: vec![b"id".to_vec(), b"version".to_vec()],
                    ..Compare::default()
                };
                if !compare.equal(&redis_reply, &roost_reply) {
                    self.handshake_mismatches.push(format!(
                        "HELLO 3 on a new connection\n    redis: {}\n    roost: {}",
                        redis_reply.describe(),
                        roost_reply.describe()
                    ));
                }
            }
            self.conns[client] = Some((redis, roost));
        }
        Ok(self.conns[client].as_mut().unwrap())
    }

    /// Sends a request to both servers on one client; returns (redis, roost) replies and
    /// a note when the two servers treated the connection differently afterwards.
    fn send(
        &mut self,
        client: usize,
        request: &Request,
    ) -> Result<(Reply, Reply, Option<String>), String> {
        let (redis, roost) = self.get(client)?;
        let (redis_reply, redis_ok) = redis.request(request);
        let (roost_reply, roost_ok) = roost.request(request);
        follow_protocol(redis, request, &redis_reply);
        follow_protocol(roost, request, &roost_reply);
        let mut note = None;
        let mut reconnect = !redis_ok || !roost_ok;
        // Both servers close the connection after QUIT and after a protocol error.
        let closing = request.name == b"quit"
            || matches!(&redis_reply.frame, Ok(Frame::Error(e)) if e.starts_with(b"ERR Protocol error"));
        if closing && redis_ok && roost_ok {
            let (redis_closed, roost_closed) = (redis.closes(), roost.closes());
            if redis_closed != roost_closed {
                note = Some(format!(
                    "afterwards redis {} the connection, roost {} it",
                    if redis_closed { "closed" } else { "kept" },
                    if roost_closed { "closed" } else { "kept" },
                ));
            }
            reconnect = true;
        }
        if reconnect {
            // A fresh connection (RESP2, database 0) on next use, for both servers, so
            // the two sides stay comparable.
            self.conns[client] = None;
        }
        Ok((redis_reply, roost_reply, note))
    }

    /// `@scanall`: runs a SCAN-like command from cursor 0 until the cursor comes back to
    /// 0 on each server, and returns for each the elements seen (duplicates removed;
    /// HSCAN's field/value and ZSCAN's member/score pairs kept together), or the first
    /// error reply.
    fn scan_all(&mut self, client: usize, args: &[Vec<u8>]) -> Result<(Reply, Reply), String> {
        let name = args[0].to_ascii_lowercase();
        let at = if name == b"scan" { 1 } else { 2 };
        let pairs = name == b"hscan" || name == b"zscan";
        let (redis, roost) = self.get(client)?;
        Ok((
            scan_one(redis, args, at, pairs),
            scan_one(roost, args, at, pairs),
        ))
    }
}

/// Iterates one server's SCAN to the end (see `Clients::scan_all`).
fn scan_one(conn: &mut Conn, args: &[Vec<u8>], at: usize, pairs: bool) -> Reply {
    let mut args = args.to_vec();
    args[at] = b"0".to_vec();
    let mut seen = Vec::new();
    for _ in 0..100_000 {
        let (reply, _) = conn.request(&Request::command(&args));
        let (cursor, items) = match &reply.frame {
            Ok(Frame::Array(parts)) => match &parts[..] {
                [Frame::Bulk(cursor), Frame::Array(items)] => (cursor.clone(), items.clone()),
                _ => return reply,
            },
            _ => return reply,
        };
        if pairs {
            for pair in items.chunks(2) {
                seen.push(Frame::Array(pair.to_vec()));
            }
        } else {
            seen.extend(items);
        }
        if cursor == b"0" {
            sort_frames(&mut seen);
            seen.dedup();
            return Reply {
                raw: Vec::new(),
                frame: Ok(Frame::Array(seen)),
            };
        }
        args[at] = cursor;
    }
    Reply {
        raw: Vec::new(),
        frame: Err("the cursor did not come back to 0 in 100000 calls".into()),
    }
}

/// Whether a server still answers PING on a new connection.
fn answers(port: u16) -> bool {
    match Conn::open(port) {
        Ok(mut conn) => {
            let (reply, _) = conn.request(&Request::command(&[b"PING".to_vec()]));
            reply.raw == b"+PONG\r\n"
        }
        Err(_) => false,
    }
}

/// Tracks the protocol a connection speaks after HELLO and RESET.
fn follow_protocol(conn: &mut Conn, request: &Request, reply: &Reply) {
    if reply.frame.is_err() || reply.is_error() {
        return;
    }
    if request.name == b"hello" {
        match reply.raw.first() {
            Some(b'%') => conn.resp3 = true,
            Some(b'*') => conn.resp3 = false,
            _ => {}
        }
    } else if request.name == b"reset" {
        conn.resp3 = false;
    }
}

// ---------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------

/// One line of a script, parsed.
#[derive(Debug)]
enum Step {
    Command {
        client: usize,
        compare: Compare,
        request: Request,
        /// `@scanall`: the command's arguments, iterated to the end.
        scan_all: Option<Vec<Vec<u8>>>,
    },
    Sleep(Duration),
}

/// `@expand`: an argument holding `{N..M}` becomes one copy per number from N to M (every
/// occurrence of that same `{N..M}` replaced), each copy split at spaces, so
/// `"f{1..3} v{1..3}"` gives `f1 v1 f2 v2 f3 v3`.
fn expand(arg: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let text = String::from_utf8_lossy(arg).into_owned();
    let Some(open) = text.find('{') else {
        return Ok(vec![arg.to_vec()]);
    };
    let close = text[open..]
        .find('}')
        .map(|c| open + c)
        .ok_or("@expand: `{` without `}`")?;
    let token = &text[open..=close];
    let (from, to) = token[1..token.len() - 1]
        .split_once("..")
        .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
        .ok_or_else(|| format!("@expand: {token} is not {{N..M}}"))?;
    let mut out = Vec::new();
    for n in from..=to {
        let copy = text.replace(token, &n.to_string());
        out.extend(copy.split(' ').map(|w| w.as_bytes().to_vec()));
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<Option<Step>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line == "@resp2-only" {
        return Ok(None);
    }
    // `@inline TEXT`: TEXT is sent as written, so it is cut off before any unquoting.
    let mut inline_text = None;
    let mut head = line;
    let mut rest = line;
    while let Some(token) = rest
        .split_whitespace()
        .next()
        .filter(|t| t.starts_with('@'))
    {
        let at = rest.find(token).unwrap() + token.len();
        if token.eq_ignore_ascii_case("@inline") {
            head = &line[..line.len() - rest.len() + at];
            inline_text = Some(rest[at..].trim_start());
            break;
        }
        rest = &rest[at..];
    }
    let words = roost::protocol::decode::split_args(head.as_bytes())
        .ok_or_else(|| "unbalanced quotes".to_string())?;
    let words: Vec<Vec<u8>> = words.iter().map(|w| w.to_vec()).collect();
    let mut compare = Compare::default();
    let mut client = 0;
    let mut scan_all = false;
    let mut expand_args = false;
    let mut frames = 1;
    let mut i = 0;
    let number = |w: Option<&Vec<u8>>, what: &str| -> Result<f64, String> {
        w.and_then(|w| std::str::from_utf8(w).ok()?.parse::<f64>().ok())
            .ok_or_else(|| format!("{what} needs a number"))
    };
    while i < words.len() && words[i].first() == Some(&b'@') {
        let directive = String::from_utf8_lossy(&words[i]).to_ascii_lowercase();
        match directive.as_str() {
            "@sort" => compare.sort = true,
            "@shape" => compare.shape = true,
            "@ignore" => compare.ignore = true,
            "@noreply" => frames = 0,
            "@frames" => {
                i += 1;
                let n = number(words.get(i), "@frames")?;
                if n < 1.0 || n.fract() != 0.0 {
                    return Err("@frames takes a whole number of frames, 1 or more".into());
                }
                frames = n as usize;
            }
            "@errcode" => compare.errcode = true,
            "@expand" => expand_args = true,
            "@scanall" => {
                scan_all = true;
                compare.sort = true;
            }
            "@near" => {
                i += 1;
                compare.near = Some(number(words.get(i), "@near")?);
            }
            "@except" => {
                // The field names run up to `--`, then comes the command.
                i += 1;
                let rest = &words[i..];
                let split = rest
                    .iter()
                    .position(|w| w.as_slice() == b"--")
                    .ok_or("@except F.. needs `--` before the command")?;
                compare.except = rest[..split].to_vec();
                i += split;
            }
            "@sleep" => {
                let ms = number(words.get(i + 1), "@sleep")?;
                if words.len() != i + 2 || i != 0 {
                    return Err("@sleep MS stands on a line of its own".into());
                }
                return Ok(Some(Step::Sleep(Duration::from_millis(ms as u64))));
            }
            "@resp2" | "@resp3" => {
                if words.len() != i + 1 {
                    return Err(format!("{directive} ends its line"));
                }
                compare.except = vec![b"id".to_vec(), b"version".to_vec()];
                let proto = if directive == "@resp3" { "3" } else { "2" };
                return Ok(Some(Step::Command {
                    client,
                    compare,
                    request: Request::command(&[b"HELLO".to_vec(), proto.as_bytes().to_vec()]),
                    scan_all: None,
                }));
            }
            "@inline" => {
                // The rest of the line, exactly as written, ended by CRLF.
                let text = inline_text.unwrap_or_default();
                return Ok(Some(Step::Command {
                    client,
                    compare,
                    request: Request {
                        name: text
                            .split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_ascii_lowercase()
                            .into_bytes(),
                        bytes: format!("{text}\r\n").into_bytes(),
                        frames,
                    },
                    scan_all: None,
                }));
            }
            "@raw" => {
                // One quoted word: its bytes, escapes decoded, sent as they are.
                let [bytes] = &words[i + 1..] else {
                    return Err("@raw takes one quoted string".into());
                };
                return Ok(Some(Step::Command {
                    client,
                    compare,
                    request: Request {
                        name: Vec::new(),
                        bytes: bytes.clone(),
                        frames,
                    },
                    scan_all: None,
                }));
            }
            d => match d[1..].parse::<usize>() {
                Ok(n) if (1..=CLIENTS).contains(&n) => client = n - 1,
                _ => return Err(format!("unknown directive {d}")),
            },
        }
        i += 1;
    }
    if let Some(w) = words[i..].first() {
        if w.as_slice() == b"--" {
            i += 1;
        }
    }
    let mut args = words[i..].to_vec();
    if args.is_empty() {
        return Err("directives without a command".into());
    }
    if expand_args {
        let mut expanded = Vec::new();
        for arg in &args {
            expanded.extend(expand(arg)?);
        }
        args = expanded;
    }
    let scan_all = if scan_all {
        let name = args[0].to_ascii_lowercase();
        let cursor_at = if name == b"scan" { 1 } else { 2 };
        if !matches!(&name[..], b"scan" | b"hscan" | b"sscan" | b"zscan") || args.len() <= cursor_at
        {
            return Err("@scanall takes SCAN, HSCAN, SSCAN or ZSCAN with a cursor".into());
        }
        Some(args.clone())
    } else {
        None
    };
    let mut request = Request::command(&args);
    request.frames = frames;
    Ok(Some(Step::Command {
        client,
        compare,
        request,
        scan_all,
    }))
}

/// What running one script found.
struct Outcome {
    mismatches: Vec<String>,
    /// False when Roost stopped answering (crashed or hung): the rest of the script was
    /// skipped and that server must not be reused (nor joined on drop).
    roost_alive: bool,
}

/// Runs one script against both servers, collecting every mismatch as a report entry.
/// `roost_setup` runs on Roost only, after the FLUSHALL (the harness's self-test uses it
/// to plant a difference).
fn run_script(
    name: &str,
    text: &str,
    ports: Ports,
    resp3: bool,
    roost_setup: &[&[&str]],
) -> Outcome {
    let mut mismatches = Vec::new();
    let trace = std::env::var_os("DIFFERENTIAL_TRACE").is_some();
    let mut clients = Clients::new(ports, resp3);
    let lost = |mismatches: &mut Vec<String>, why: String| {
        mismatches.push(format!("{name}: {why}; the rest of the script is skipped"));
        Outcome {
            mismatches: std::mem::take(mismatches),
            roost_alive: answers(ports.roost),
        }
    };
    let flushall = Request::command(&[b"FLUSHALL".to_vec()]);
    let (redis, roost, _) = match clients.send(0, &flushall) {
        Ok(replies) => replies,
        Err(why) => return lost(&mut mismatches, why),
    };
    if !Compare::default().equal(&redis, &roost) || redis.is_error() {
        mismatches.push(format!(
            "{name}: FLUSHALL before the script\n    redis: {}\n    roost: {}",
            redis.describe(),
            roost.describe()
        ));
    }
    for args in roost_setup {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        match clients.get(0) {
            Ok((_, roost)) => {
                roost.request(&Request::command(&args));
            }
            Err(why) => return lost(&mut mismatches, why),
        }
    }
    for (index, line) in text.lines().enumerate() {
        let lineno = index + 1;
        let step = match parse_line(line) {
            Ok(Some(step)) => step,
            Ok(None) => continue,
            Err(why) => panic!("{name}:{lineno}: {why}: {line}"),
        };
        let (client, compare, request, scan_all) = match step {
            Step::Sleep(d) => {
                std::thread::sleep(d);
                continue;
            }
            Step::Command {
                client,
                compare,
                request,
                scan_all,
            } => (client, compare, request, scan_all),
        };
        let sent = match &scan_all {
            Some(args) => clients.scan_all(client, args).map(|(a, b)| (a, b, None)),
            None => clients.send(client, &request),
        };
        let (redis, roost, note) = match sent {
            Ok(replies) => replies,
            Err(why) => return lost(&mut mismatches, format!("line {lineno}: {why}")),
        };
        for handshake in clients.handshake_mismatches.drain(..) {
            mismatches.push(format!("{name}:{lineno}: {handshake}"));
        }
        if trace {
            println!(
                "{name}:{lineno}: {}\n    redis: {}",
                line.trim(),
                redis.describe()
            );
        }
        if !compare.equal(&redis, &roost) || note.is_some() {
            let mut entry = format!(
                "{name}:{lineno}: {}\n    redis: {}\n    roost: {}",
                line.trim(),
                redis.describe(),
                roost.describe()
            );
            if let Some(note) = note {
                entry.push_str(&format!("\n    {note}"));
            }
            mismatches.push(entry);
        }
        // Redis is the reference: if it stops answering, the script asked it for
        // something it cannot do (SRANDMEMBER k -4611686018427387904 hangs Redis 7.0).
        if redis.frame.is_err() && !answers(ports.redis) {
            return lost(
                &mut mismatches,
                format!(
                    "redis-server stopped answering after line {lineno}: fix the script, \
                     Redis cannot serve that command"
                ),
            );
        }
        // A missing or broken reply from Roost: go on only if it still answers.
        if roost.frame.is_err() && redis.frame.is_ok() && !answers(ports.roost) {
            return lost(
                &mut mismatches,
                format!("roost stopped answering after line {lineno}"),
            );
        }
    }
    Outcome {
        mismatches,
        roost_alive: true,
    }
}

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "redis"))
        .collect();
    // DIFFERENTIAL_ONLY=name runs only the scripts whose file name contains `name`.
    if let Ok(only) = std::env::var("DIFFERENTIAL_ONLY") {
        files.retain(|p| p.file_name().unwrap().to_string_lossy().contains(&only));
    }
    files.sort();
    files
}

#[test]
fn roost_answers_like_redis() {
    let files = scripts();
    assert!(!files.is_empty(), "no tests/differential/*.redis scripts");
    let mut mismatches = Vec::new();
    let mut commands = 0;
    let mut runs = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let count = text
            .lines()
            .filter(|l| matches!(parse_line(l), Ok(Some(Step::Command { .. }))))
            .count();
        // Every script runs in RESP2 and, unless it handles the protocol itself
        // (`@resp2-only`), again with every connection switched to RESP3 by HELLO 3.
        let resp2_only = text.lines().any(|l| l.trim() == "@resp2-only");
        for resp3 in [false, true] {
            if resp3 && resp2_only {
                continue;
            }
            runs += 1;
            commands += count;
            let label = if resp3 {
                format!("{name} (RESP3)")
            } else {
                name.clone()
            };
            // Fresh servers per run, so a crash or a hang in one script does not hide
            // the others, and configuration changes cannot leak.
            // DEBUG is allowed from the harness's local connections, so scripts can
            // turn active expiry off (DEBUG SET-ACTIVE-EXPIRE) where keys must wait
            // for a command to find them expired.
            let redis = RedisServer::start_with(&["--enable-debug-command", "local"]);
            let roost = TestServer::with_config(|c| c.enable_debug_command = "local".into());
            let ports = Ports {
                redis: redis.port,
                roost: roost.addr().port(),
            };
            let outcome = run_script(&label, &text, ports, resp3, &[]);
            mismatches.extend(outcome.mismatches);
            if !outcome.roost_alive {
                // Joining a wedged server could hang the test: leave it to process exit.
                std::mem::forget(roost);
            }
        }
    }
    println!(
        "{} scripts, {runs} runs (RESP2 and RESP3), {commands} commands compared",
        files.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {commands} replies differ from redis-server:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// The harness itself: a difference planted in Roost's data must be reported, with the
/// script, line, command and both replies, and the directives must relax only what they
/// say.
#[test]
fn harness_reports_every_mismatch() {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    let ports = Ports {
        redis: redis.port,
        roost: roost.addr().port(),
    };
    let script = "\
# planted: roost has planted=x and n=3 before the script
ping
get planted
set k v
get k
@near 2 strlen planted
@near 0 strlen planted
@shape get planted
@ignore get planted
@sort keys *
@near 2 incrby n 1
@near 3 incrby n 1
@2 get k
@resp3
get planted
get k
";
    let setup: &[&[&str]] = &[&["SET", "planted", "x"], &["SET", "n", "3"]];
    let outcome = run_script("self.redis", script, ports, false, setup);
    assert!(outcome.roost_alive);
    let found = outcome.mismatches;
    let expected = [
        "self.redis:3: get planted\n    redis: $-1\\r\\n\n    roost: $1\\r\\nx\\r\\n",
        "self.redis:7: @near 0 strlen planted\n    redis: :0\\r\\n\n    roost: :1\\r\\n",
        "self.redis:8: @shape get planted\n    redis: $-1\\r\\n\n    roost: $1\\r\\nx\\r\\n",
        // Roost's KEYS order is its own: only the start of this entry is fixed.
        "self.redis:10: @sort keys *\n    redis: *1\\r\\n$1\\r\\nk\\r\\n\n    roost: *3\\r\\n",
        "self.redis:11: @near 2 incrby n 1\n    redis: :1\\r\\n\n    roost: :4\\r\\n",
        "self.redis:15: get planted\n    redis: _\\r\\n\n    roost: $1\\r\\nx\\r\\n",
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (got, want) in found.iter().zip(expected) {
        if want.starts_with("self.redis:10:") {
            assert!(got.starts_with(want), "{got}");
        } else {
            assert_eq!(got, want);
        }
    }
}

/// A Roost that does not answer is reported once and the script stops there, instead of
/// every later line timing out.
#[test]
fn harness_stops_a_script_when_roost_is_gone() {
    let redis = RedisServer::start();
    // A port nothing listens on any more.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ports = Ports {
        redis: redis.port,
        roost: closed,
    };
    let started = Instant::now();
    let outcome = run_script("gone.redis", "ping\nget k\n", ports, false, &[]);
    assert!(!outcome.roost_alive);
    assert_eq!(outcome.mismatches.len(), 1, "{:#?}", outcome.mismatches);
    assert!(
        outcome.mismatches[0].starts_with("gone.redis: roost: cannot connect to 127.0.0.1:"),
        "{}",
        outcome.mismatches[0]
    );
    assert!(outcome.mismatches[0].ends_with("the rest of the script is skipped"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn comparison_rules() {
    let reply = |raw: &[u8], resp3: bool| Reply {
        raw: raw.to_vec(),
        frame: decode(raw, resp3).map(|o| o.unwrap().0),
    };
    let strict = Compare::default();
    // Types matter: a simple string is not a bulk string, $-1 is not *-1.
    assert!(!strict.equal(&reply(b"+OK\r\n", false), &reply(b"$2\r\nOK\r\n", false)));
    assert!(!strict.equal(&reply(b"$-1\r\n", false), &reply(b"*-1\r\n", false)));
    assert!(!strict.equal(&reply(b"*0\r\n", true), &reply(b"~0\r\n", true)));
    assert!(!strict.equal(&reply(b",1.5\r\n", true), &reply(b",1.50\r\n", true)));
    assert!(strict.equal(&reply(b":1\r\n", false), &reply(b":1\r\n", false)));
    // Map and set order is free even in strict mode; array order is not.
    let m1 = reply(b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n", true);
    let m2 = reply(b"%2\r\n+b\r\n:2\r\n+a\r\n:1\r\n", true);
    assert!(strict.equal(&m1, &m2));
    let a1 = reply(b"*2\r\n+a\r\n+b\r\n", false);
    let a2 = reply(b"*2\r\n+b\r\n+a\r\n", false);
    assert!(!strict.equal(&a1, &a2));
    let sort = Compare {
        sort: true,
        ..Compare::default()
    };
    assert!(sort.equal(&a1, &a2));
    assert!(!sort.equal(&a1, &reply(b"*2\r\n+a\r\n+c\r\n", false)));
    // Tolerance for numbers, exact elsewhere.
    let near = Compare {
        near: Some(2.0),
        ..Compare::default()
    };
    assert!(near.equal(&reply(b":100\r\n", false), &reply(b":98\r\n", false)));
    assert!(!near.equal(&reply(b":100\r\n", false), &reply(b":97\r\n", false)));
    assert!(!near.equal(&reply(b":100\r\n", false), &reply(b"$3\r\n100\r\n", false)));
    // Shape: types and lengths only.
    let shape = Compare {
        shape: true,
        ..Compare::default()
    };
    assert!(shape.equal(
        &reply(b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n", false),
        &reply(b"*2\r\n$3\r\nxyz\r\n$1\r\nq\r\n", false)
    ));
    assert!(!shape.equal(
        &reply(b"*1\r\n$1\r\na\r\n", false),
        &reply(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", false)
    ));
    assert!(!shape.equal(&reply(b"$1\r\na\r\n", false), &reply(b"+a\r\n", false)));
    // @except hides the values of the named fields, not the fields themselves.
    let except = Compare {
        except: vec![b"id".to_vec()],
        ..Compare::default()
    };
    let h1 = reply(b"%2\r\n$2\r\nid\r\n:5\r\n$5\r\nproto\r\n:3\r\n", true);
    let h2 = reply(b"%2\r\n$2\r\nid\r\n:9\r\n$5\r\nproto\r\n:3\r\n", true);
    let h3 = reply(b"%2\r\n$2\r\nid\r\n:9\r\n$5\r\nproto\r\n:2\r\n", true);
    assert!(except.equal(&h1, &h2));
    assert!(!except.equal(&h1, &h3));
    assert!(!strict.equal(&h1, &h2));
    let flat1 = reply(b"*4\r\n$2\r\nid\r\n:5\r\n$1\r\nx\r\n:1\r\n", false);
    let flat2 = reply(b"*4\r\n$2\r\nid\r\n:6\r\n$1\r\nx\r\n:1\r\n", false);
    assert!(except.equal(&flat1, &flat2));
    // A reply that did not arrive never matches.
    let broken = Reply {
        raw: b"?".to_vec(),
        frame: Err("connection closed".into()),
    };
    assert!(!strict.equal(&broken, &broken.clone()));
    // @errcode: errors match on their code; anything else as usual.
    let errcode = Compare {
        errcode: true,
        ..Compare::default()
    };
    let noauth1 = reply(b"-NOAUTH one text\r\n", false);
    let noauth2 = reply(b"-NOAUTH another\r\n", false);
    assert!(errcode.equal(&noauth1, &noauth2));
    assert!(!strict.equal(&noauth1, &noauth2));
    assert!(!errcode.equal(&noauth1, &reply(b"-ERR one text\r\n", false)));
    assert!(!errcode.equal(&noauth1, &reply(b"+OK\r\n", false)));
    assert!(!errcode.equal(&a1, &a2));
    // Replies the decoder cannot read are equal only when they are the same bytes.
    let undecodable = |raw: &[u8]| Reply {
        raw: raw.to_vec(),
        frame: Err("undecodable reply: map in a set".into()),
    };
    assert!(strict.equal(&undecodable(b"~1\r\n%0\r\n"), &undecodable(b"~1\r\n%0\r\n")));
    assert!(!strict.equal(&undecodable(b"~1\r\n%0\r\n"), &undecodable(b"*1\r\n%0\r\n")));
}

#[test]
fn script_lines_parse() {
    let cmd = |line: &str| match parse_line(line).unwrap() {
        Some(Step::Command {
            client,
            compare,
            request,
            scan_all,
        }) => (client, compare, request, scan_all),
        other => panic!("{other:?}"),
    };
    let resp = |args: &[&str]| {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        Request::command(&args)
    };
    assert!(parse_line("  # comment").unwrap().is_none());
    assert!(parse_line("").unwrap().is_none());
    let (client, compare, request, _) = cmd(r#"@2 @sort sadd s "a b" '\x' "\x41""#);
    assert_eq!(client, 1);
    assert!(compare.sort);
    assert_eq!(request, resp(&["sadd", "s", "a b", "\\x", "A"]));
    assert_eq!(request.name, b"sadd");
    let (_, compare, request, _) = cmd("@near 1500 PTTL k");
    assert_eq!(compare.near, Some(1500.0));
    assert_eq!(request, resp(&["PTTL", "k"]));
    assert_eq!(request.name, b"pttl");
    let (_, compare, request, _) = cmd("@except id version -- hello 3");
    assert_eq!(compare.except, vec![b"id".to_vec(), b"version".to_vec()]);
    assert_eq!(request, resp(&["hello", "3"]));
    let (client, compare, request, _) = cmd("@3 @resp3");
    assert_eq!(client, 2);
    assert_eq!(compare.except.len(), 2);
    assert_eq!(request, resp(&["HELLO", "3"]));
    assert!(matches!(
        parse_line("@sleep 20").unwrap(),
        Some(Step::Sleep(d)) if d == Duration::from_millis(20)
    ));
    // @expand: one copy per number, split at spaces.
    let (_, _, request, _) = cmd(r#"@expand hset h "f{1..3} v{1..3}" x{0..1}"#);
    assert_eq!(
        request,
        resp(&["hset", "h", "f1", "v1", "f2", "v2", "f3", "v3", "x0", "x1"])
    );
    let (_, _, request, _) = cmd("sadd s {1..3}");
    assert_eq!(request, resp(&["sadd", "s", "{1..3}"]));
    // @inline sends the text as written; @raw sends decoded bytes; @noreply waits for none.
    let (_, _, request, _) = cmd(r#"@2 @inline  SET k "a b""#);
    assert_eq!(request.bytes, b"SET k \"a b\"\r\n");
    assert_eq!(request.name, b"set");
    let (_, _, request, _) = cmd(r#"@noreply @raw "*1\r\n$4\r\nPI""#);
    assert_eq!(request.bytes, b"*1\r\n$4\r\nPI");
    assert_eq!(request.frames, 0);
    let (_, _, request, _) = cmd("@frames 3 subscribe a b c");
    assert_eq!(request.frames, 3);
    assert_eq!(
        request,
        Request {
            frames: 3,
            ..resp(&["subscribe", "a", "b", "c"])
        }
    );
    assert!(parse_line("@frames 0 ping").is_err());
    assert!(parse_line("@frames ping").is_err());
    // @scanall keeps the arguments and compares sorted.
    let (_, compare, _, scan_all) = cmd("@scanall hscan h 0 count 2");
    assert!(compare.sort);
    assert_eq!(scan_all.unwrap().len(), 5);
    assert!(parse_line("@scanall get k").is_err());
    assert!(parse_line("@scanall hscan h").is_err());
    assert!(parse_line("@bogus get k").is_err());
    assert!(parse_line("@9 get k").is_err());
    assert!(parse_line("@sort").is_err());
    assert!(parse_line("get \"open").is_err());
    assert!(parse_line("@near x ttl k").is_err());
    assert!(parse_line("@2 @sleep 5").is_err());
    assert!(parse_line("@raw a b").is_err());
    assert!(parse_line("@expand sadd s {1..x}").is_err());
}
