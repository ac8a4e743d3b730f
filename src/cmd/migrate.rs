//! MIGRATE: moves keys to another server (Redis or Roost) as DUMP payloads RESTOREd
//! there, then deletes them here unless COPY, as Redis does.
//!
//! Like Redis, MIGRATE is synchronous: it holds the exclusive keyspace gate for the
//! whole round trip, so no other command sees a key both here and there, or neither,
//! and the delete after the transfer is atomic. The network calls are blocking calls
//! (with the given timeout for each step), made after handing the tokio worker's other
//! tasks to another thread (`cmd::holding_thread`), so a dead target costs at most the
//! timeout and stalls no other connection's task.
//!
//! Over one connection (kept open for the next MIGRATE to the same target,
//! `state::migrate`), it pipelines AUTH (when asked), SELECT (when the connection is
//! not on that database already), then `RESTORE key ttl payload [REPLACE]` per key,
//! and reads the replies. Each key the target acknowledges is deleted here and the
//! deletes are logged and replicated as one `DEL` of those keys, as Redis propagates
//! a MIGRATE; the first error the target replied is the reply. A connection that
//! failed before anything was acknowledged is reopened and tried once more unless it
//! timed out (a cached connection the target closed).

use std::io::{BufRead, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{args, command, error, flags::*, Ctx, KeySpec, Outcome, Spec};
use crate::clock;
use crate::notify;
use crate::protocol::Reply;
use crate::rdb;
use crate::state::migrate::Target;

pub const COMMANDS: &[Spec] = &[command!(
    "generic",
    "migrate",
    -6,
    WRITE,
    KeySpec {
        first: 3,
        last: 3,
        step: 1
    },
    migrate,
    "2.6.0",
    "Atomically transfer a key from a Redis instance to another one."
)
.with_acl_categories(crate::acl::category::KEYSPACE | crate::acl::category::DANGEROUS)
.with_key_specs(super::redis_meta::MIGRATE)
.with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT)
.with_find_keys(migrate_keys)
.with_secrets(migrate_secrets)];

/// Writes go to the target in pieces of this size, each within the timeout.
const CHUNK: usize = 64 * 1024;

/// MIGRATE's options (arguments 6 on).
struct Options {
    copy: bool,
    replace: bool,
    username: Option<Bytes>,
    password: Option<Bytes>,
    /// Where the keys are: the key argument, or those after KEYS.
    keys: std::ops::Range<usize>,
}

/// Parses the options as Redis does, left to right: KEYS takes every argument after it.
fn options(args: &[Bytes]) -> Result<Options, Reply> {
    let mut o = Options {
        copy: false,
        replace: false,
        username: None,
        password: None,
        keys: 3..4,
    };
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if args::is(&args[j], "copy") {
            o.copy = true;
        } else if args::is(&args[j], "replace") {
            o.replace = true;
        } else if args::is(&args[j], "auth") && more >= 1 {
            o.password = Some(args[j + 1].clone());
            j += 1;
        } else if args::is(&args[j], "auth2") && more >= 2 {
            o.username = Some(args[j + 1].clone());
            o.password = Some(args[j + 2].clone());
            j += 2;
        } else if args::is(&args[j], "keys") {
            if !args[3].is_empty() {
                return Err(error::MIGRATE_KEYS_WITH_KEY);
            }
            o.keys = j + 1..args.len();
            break;
        } else {
            return Err(error::SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

/// MIGRATE's passwords (and AUTH2's user name), which MONITOR and SLOWLOG redact: those
/// before KEYS or a syntax error, as Redis redacts while it parses.
fn migrate_secrets(args: &[Bytes]) -> Vec<usize> {
    let mut secrets = Vec::new();
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if args::is(&args[j], "auth") && more >= 1 {
            secrets.push(j + 1);
            j += 1;
        } else if args::is(&args[j], "auth2") && more >= 2 {
            secrets.extend([j + 1, j + 2]);
            j += 2;
        } else if !args::is(&args[j], "copy") && !args::is(&args[j], "replace") {
            break;
        }
        j += 1;
    }
    secrets
}

/// MIGRATE's keys as Redis finds them (COMMAND GETKEYS, ACL key rules): the key
/// argument unless a KEYS keyword is found searching back from the second-to-last
/// argument; then the options are parsed, and the keys are those after their KEYS (none
/// if the key argument is not empty).
fn migrate_keys(args: &[Bytes]) -> Option<Vec<usize>> {
    if args.len() < 6 {
        return None;
    }
    if !(1..=args.len() - 2)
        .rev()
        .any(|i| args::is(&args[i], "keys"))
    {
        return Some(vec![3]);
    }
    let mut i = 6;
    while i < args.len() {
        if args::is(&args[i], "keys") {
            if !args[3].is_empty() {
                return None;
            }
            return (i + 1 < args.len()).then(|| (i + 1..args.len()).collect());
        }
        i += if args::is(&args[i], "auth") {
            2
        } else if args::is(&args[i], "auth2") {
            3
        } else {
            1
        };
    }
    Some(vec![3])
}

fn migrate(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let o = options(args)?;
    let timeout = match args::int(&args[5])? {
        t if t <= 0 => 1000,
        t => t,
    };
    let db = args::int(&args[4])?;
    // Capped at a year, so deadlines stay representable.
    let timeout = Duration::from_millis((timeout as u64).min(365 * 86_400_000));

    // The keys that exist, each as the RESTORE that recreates it there.
    let compress = ctx.shared.config().rdbcompression;
    let now = clock::now_ms();
    let mut keys: Vec<&Bytes> = Vec::new();
    let mut restores = Vec::new();
    for key in &args[o.keys.clone()] {
        let Some(entry) = ctx.db().get(key, now) else {
            continue;
        };
        let ttl = entry
            .expire_at()
            .map_or(0, |at| at.saturating_sub(now).max(1));
        let payload = rdb::dump_payload(&entry.to_value(), compress);
        drop(entry);
        let ttl = ttl.to_string();
        let mut restore: Vec<&[u8]> = vec![b"RESTORE", key, ttl.as_bytes(), &payload];
        if o.replace {
            restore.push(b"REPLACE");
        }
        crate::protocol::encode_request(&mut restores, &restore);
        keys.push(key);
    }
    if keys.is_empty() {
        return Ok(Reply::simple("NOKEY"));
    }

    let name = format!(
        "{}:{}",
        String::from_utf8_lossy(&args[1]),
        String::from_utf8_lossy(&args[2])
    );
    let request = Request {
        host: &args[1],
        port: &args[2],
        timeout,
        db,
        username: o.username.as_deref(),
        password: o.password.as_deref(),
        restores: &restores,
        count: keys.len(),
    };
    let shared = ctx.shared;
    let result = super::holding_thread(|| transfer(shared, &name, &request));

    if !o.copy && !result.acknowledged.is_empty() {
        let now = clock::now_ms();
        let mut record: Vec<&[u8]> = vec![b"DEL"];
        for &i in &result.acknowledged {
            let key = keys[i];
            if ctx.db().remove(key, now).is_some() {
                record.push(key);
            }
        }
        if record.len() > 1 {
            ctx.propagate(&record);
            for key in &record[1..] {
                ctx.notify(notify::GENERIC, "del", key);
            }
        }
    }
    result.reply
}

/// What goes to the target.
struct Request<'a> {
    host: &'a [u8],
    port: &'a [u8],
    timeout: Duration,
    db: i64,
    username: Option<&'a [u8]>,
    password: Option<&'a [u8]>,
    /// Every key's RESTORE, encoded.
    restores: &'a [u8],
    count: usize,
}

/// How a MIGRATE ended: the reply, and which keys (by their order in the request) the
/// target acknowledged, to delete here unless COPY.
struct Transferred {
    reply: Outcome,
    acknowledged: Vec<usize>,
}

/// Why a connection failed.
struct Failed {
    writing: bool,
    timed_out: bool,
}

/// Sends the request to the target and reads its replies, reopening the connection
/// once if it failed before any reply and not by timing out.
fn transfer(shared: &crate::state::Shared, name: &str, request: &Request<'_>) -> Transferred {
    let mut may_retry = true;
    loop {
        let mut target = match shared.migrate_sockets.take(name) {
            Some(target) => target,
            None => match connect(request) {
                Ok(target) => target,
                Err(None) => {
                    return Transferred {
                        reply: Err(error::MIGRATE_CONNECT),
                        acknowledged: Vec::new(),
                    }
                }
                Err(Some(failed)) => {
                    if !failed.timed_out && may_retry {
                        may_retry = false;
                        continue;
                    }
                    return Transferred {
                        reply: Err(io_error(&failed)),
                        acknowledged: Vec::new(),
                    };
                }
            },
        };
        match exchange(&mut target, request) {
            Ok(replies) => {
                let (acknowledged, target_error, failed) = replies;
                let retry = target_error.is_none()
                    && acknowledged.is_empty()
                    && failed
                        .as_ref()
                        .is_some_and(|f| f.first_read && !f.timed_out);
                if retry && may_retry {
                    // Nothing was done there: a fresh connection may do it all.
                    may_retry = false;
                    continue;
                }
                let reply = match (target_error, failed) {
                    (Some(text), failed) => {
                        target.db = None;
                        if failed.is_none() {
                            shared.migrate_sockets.put(name.to_owned(), target);
                        }
                        Err(error::migrate_target_error(&text))
                    }
                    (None, Some(_)) => Err(error::MIGRATE_READ),
                    (None, None) => {
                        target.db = Some(request.db);
                        shared.migrate_sockets.put(name.to_owned(), target);
                        Ok(Reply::OK)
                    }
                };
                return Transferred {
                    reply,
                    acknowledged,
                };
            }
            Err(failed) => {
                if !failed.timed_out && may_retry {
                    may_retry = false;
                    continue;
                }
                return Transferred {
                    reply: Err(io_error(&failed)),
                    acknowledged: Vec::new(),
                };
            }
        }
    }
}

fn io_error(failed: &Failed) -> Reply {
    if failed.writing {
        error::MIGRATE_WRITE
    } else {
        error::MIGRATE_READ
    }
}

/// A read of the RESTORE replies that failed: whether on the first, and by timing out.
struct ReadFailed {
    first_read: bool,
    timed_out: bool,
}

/// The RESTOREs acknowledged (read before the connection failed, if it did), the first
/// error the target replied, and a failed read of the RESTORE replies; or the failure
/// that came before them (writing, or reading the AUTH or SELECT reply).
type Replies = (Vec<usize>, Option<String>, Option<ReadFailed>);

fn exchange(target: &mut Target, request: &Request<'_>) -> Result<Replies, Failed> {
    let select = target.db != Some(request.db);
    let mut out = Vec::with_capacity(request.restores.len() + 64);
    if let Some(password) = request.password {
        match request.username {
            Some(user) => crate::protocol::encode_request(&mut out, &[b"AUTH", user, password]),
            None => crate::protocol::encode_request(&mut out, &[b"AUTH", password]),
        }
    }
    if select {
        crate::protocol::encode_request(&mut out, &[b"SELECT", request.db.to_string().as_bytes()]);
    }
    out.extend_from_slice(request.restores);
    let stream = target.conn.get_mut();
    let wrote = stream
        .set_write_timeout(Some(request.timeout))
        .and_then(|()| {
            out.chunks(CHUNK)
                .try_for_each(|chunk| stream.write_all(chunk))
        });
    if let Err(e) = wrote {
        return Err(Failed {
            writing: true,
            timed_out: is_timeout(&e),
        });
    }
    let read_failed = |e: std::io::Error| Failed {
        writing: false,
        timed_out: is_timeout(&e),
    };
    let auth = match request.password {
        Some(_) => Some(read_line(target, request.timeout).map_err(read_failed)?),
        None => None,
    };
    let selected = match select {
        true => Some(read_line(target, request.timeout).map_err(read_failed)?),
        false => None,
    };
    let refused = |line: &Option<Vec<u8>>| {
        line.as_ref()
            .filter(|l| l.first() == Some(&b'-'))
            .map(|l| String::from_utf8_lossy(&l[1..]).into_owned())
    };
    let before = refused(&auth).or_else(|| refused(&selected));
    let mut acknowledged = Vec::new();
    let mut target_error = None;
    for j in 0..request.count {
        let line = match read_line(target, request.timeout) {
            Ok(line) => line,
            Err(e) => {
                let failed = ReadFailed {
                    first_read: j == 0,
                    timed_out: is_timeout(&e),
                };
                return Ok((acknowledged, target_error, Some(failed)));
            }
        };
        // A key refused there stays here; the others go, before or after it.
        match before.clone().or_else(|| refused(&Some(line))) {
            Some(text) => {
                target_error.get_or_insert(text);
            }
            None => acknowledged.push(j),
        }
    }
    Ok((acknowledged, target_error, None))
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Opens a connection to the target: None if its address cannot be resolved, else the
/// failure to connect, which Redis 7 reports as a failure to write.
fn connect(request: &Request<'_>) -> Result<Target, Option<Failed>> {
    let host = std::str::from_utf8(request.host).map_err(|_| None)?;
    let port = u16::try_from(atoi(request.port)).map_err(|_| None)?;
    let addrs: Vec<_> = (host, port).to_socket_addrs().map_err(|_| None)?.collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, request.timeout) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(Target::new(stream));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Some(Failed {
        writing: true,
        timed_out: last.as_ref().is_some_and(is_timeout),
    }))
}

/// C's `atoi`, as Redis reads MIGRATE's port: leading blanks, a sign, digits; 0 for
/// none.
fn atoi(arg: &[u8]) -> i64 {
    let s = arg
        .iter()
        .skip_while(|b| b" \t\n\r\x0b\x0c".contains(b))
        .copied()
        .collect::<Vec<u8>>();
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, &s[..]),
    };
    let mut n: i64 = 0;
    for &d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add((d - b'0') as i64);
    }
    if negative {
        -n
    } else {
        n
    }
}

/// One reply line from the target, without its CRLF, within `timeout`.
fn read_line(target: &mut Target, timeout: Duration) -> std::io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        target.conn.get_ref().set_read_timeout(Some(left))?;
        let buf = match target.conn.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(at) => {
                line.extend_from_slice(&buf[..at]);
                target.conn.consume(at + 1);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            None => {
                let n = buf.len();
                line.extend_from_slice(buf);
                target.conn.consume(n);
            }
        }
    }
}
