// Properties of command execution, shared by the dispatch fuzz target and by
// tests/dispatch_properties.rs (which includes this file). The input bytes choose a
// sequence of commands from every family (strings, keys and expiry, hashes, sets, sorted
// sets, lists, MULTI/EXEC/WATCH, scripts, SELECT) with small keys and values, and moves
// of a manual clock between them (a sixteenth of the choices). Each runs through
// `cmd::dispatch` in process, as two clients take turns. Then:
// - nothing panics;
// - every reply encodes to well-formed RESP2 and RESP3 (one frame per reply, every byte
//   accounted for);
// - the records the journal produced, replayed into a fresh server as a replica or a
//   restart would apply them, give the same dataset (keys, types, values, expiry).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use roost::clock::ManualClock;
use roost::cmd::{self, Ctx};
use roost::config::Config;
use roost::journal::ReplicaQueue;
use roost::protocol::Reply;
use roost::session::{Client, ClientInfo};
use roost::state::Shared;

/// Command templates. `K` a key, `V` a value, `F` a field or member, `N` a small
/// integer, `S` a score, `T` a TTL in milliseconds, `D` a database number.
const TEMPLATES: &[&str] = &[
    "SET K V", "SET K V PX T", "SET K V NX", "SET K V XX GET", "GET K", "GETSET K V",
    "GETDEL K", "GETEX K PX T", "GETEX K PERSIST", "MSET K V K V", "MGET K K", "APPEND K V",
    "STRLEN K", "INCR K", "INCRBY K N", "DECRBY K N", "INCRBYFLOAT K S", "SETRANGE K N V",
    "GETRANGE K N N", "SETNX K V", "PSETEX K T V", "DEL K", "DEL K K", "UNLINK K", "EXISTS K K",
    "TYPE K", "EXPIRE K N", "PEXPIRE K T", "PEXPIRE K T NX", "PERSIST K", "TTL K", "PTTL K",
    "RENAME K K", "RENAMENX K K", "COPY K K", "COPY K K REPLACE", "MOVE K D", "KEYS *",
    "DBSIZE", "RANDOMKEY", "SCAN N", "TOUCH K", "OBJECT ENCODING K", "HSET K F V",
    "HSET K F V F V", "HGET K F", "HDEL K F", "HGETALL K", "HINCRBY K F N", "HINCRBYFLOAT K F S",
    "HSETNX K F V", "HLEN K", "HMGET K F F", "HKEYS K", "HEXISTS K F", "SADD K F", "SADD K F F",
    "SREM K F", "SMEMBERS K", "SISMEMBER K F", "SCARD K", "SPOP K", "SMOVE K K F",
    "SINTER K K", "SUNION K K", "SDIFF K K", "ZADD K S F", "ZADD K NX S F S F", "ZADD K GT S F",
    "ZINCRBY K S F", "ZREM K F", "ZSCORE K F", "ZRANGE K N N", "ZRANGE K N N WITHSCORES",
    "ZRANGEBYSCORE K -inf +inf", "ZRANK K F", "ZCARD K", "ZPOPMIN K", "ZPOPMAX K N",
    "ZREMRANGEBYRANK K N N", "ZCOUNT K -inf +inf", "LPUSH K V", "RPUSH K V V", "LPUSHX K V",
    "LPOP K", "RPOP K N", "LRANGE K N N", "LINDEX K N", "LSET K N V", "LLEN K", "LREM K N V",
    "LTRIM K N N", "LINSERT K BEFORE V V", "LMOVE K K LEFT RIGHT", "RPOPLPUSH K K",
    "LMPOP 2 K K LEFT", "LPOS K V", "MULTI", "EXEC", "DISCARD", "WATCH K", "UNWATCH",
    "SELECT D", "SWAPDB D D", "FLUSHDB",
    "EVAL \"return redis.call('SET', KEYS[1], ARGV[1])\" 1 K V",
    "EVAL \"redis.call('INCR', KEYS[1]) return redis.call('GET', KEYS[1])\" 1 K",
    "EVAL \"return redis.pcall('HSET', KEYS[1], 'f', ARGV[1])\" 1 K V",
    "EVAL \"redis.call('DEL', KEYS[1]) return redis.call('NOSUCH')\" 1 K",
    "EVAL \"return redis.call('PEXPIRE', KEYS[1], ARGV[1])\" 1 K T",
    "EXPIREAT K N", "PEXPIREAT K T", "SET K V PXAT T", "GETEX K PXAT T", "GETEX K EX N",
    "EXPIRE K N GT", "PEXPIRE K T LT", "EXPIRE K N XX", "SETEX K N V", "MSETNX K V K V",
    "HRANDFIELD K N", "SRANDMEMBER K N", "ZADD K INCR S F", "ZADD K XX CH S F",
    "SMISMEMBER K F F", "HSTRLEN K F", "HVALS K", "RPUSHX K V", "LPOP K N", "EXPIRETIME K",
];

const KEYS: &[&str] = &["a", "b", "c", "s:1", "{s}2"];
const VALUES: &[&str] = &["", "x", "12", "-3", "3.5", "hello world", "\u{e9}t\u{e9}"];
const FIELDS: &[&str] = &["f", "g", "1", "h"];
const SCORES: &[&str] = &["0", "1.5", "-2", "inf", "1e3"];

struct Input<'a> {
    data: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn pick<'t>(&mut self, items: &[&'t str]) -> Option<&'t str> {
        Some(items[self.byte()? as usize % items.len()])
    }
}

/// The words of one command from `template`, its placeholders filled from `input`.
fn fill(template: &str, input: &mut Input) -> Option<Vec<Bytes>> {
    let words = roost::protocol::decode::split_args(template.as_bytes())?;
    let mut args = Vec::with_capacity(words.len());
    for word in words {
        let filled = match word.as_ref() {
            b"K" => input.pick(KEYS)?.to_string(),
            b"V" => input.pick(VALUES)?.to_string(),
            b"F" => input.pick(FIELDS)?.to_string(),
            b"S" => input.pick(SCORES)?.to_string(),
            b"N" => (input.byte()? as i8 / 16).to_string(),
            b"T" => (1 + input.byte()? as u64 * 4).to_string(),
            b"D" => (input.byte()? % 3).to_string(),
            _ => {
                args.push(word);
                continue;
            }
        };
        args.push(Bytes::from(filled));
    }
    Some(args)
}

/// `DISPATCH_TRACE=1` prints each command, its reply and each replayed record, to
/// shrink a failing case by hand.
fn trace_on() -> bool {
    std::env::var_os("DISPATCH_TRACE").is_some()
}

fn words(args: &[Bytes]) -> String {
    let words: Vec<_> = args.iter().map(|a| String::from_utf8_lossy(a)).collect();
    format!("{words:?}")
}

fn new_client() -> Client {
    let user = roost::acl::Acl::new(roost::cmd::acl::catalog())
        .default_user()
        .clone();
    Client::new(Arc::new(ClientInfo::detached()), user, true)
}

fn run(shared: &Shared, client: &mut Client, args: Vec<Bytes>) -> Reply {
    cmd::dispatch(&mut Ctx { shared, client }, args)
}

/// Every reply is one well-formed frame (several for `Reply::Many`) in both protocols.
fn check_encoding(reply: &Reply) {
    let frames = match reply {
        Reply::NoReply => return,
        Reply::Many(replies) => replies.len(),
        _ => 1,
    };
    for proto in [2u8, 3] {
        let mut out = BytesMut::new();
        reply.encode(proto, &mut out);
        let mut rest = &out[..];
        for _ in 0..frames {
            let parsed = if proto == 2 {
                redis_protocol::resp2::decode::decode(rest).map(|f| f.map(|(_, n)| n))
            } else {
                redis_protocol::resp3::decode::complete::decode(rest).map(|f| f.map(|(_, n)| n))
            };
            match parsed {
                Ok(Some(used)) => rest = &rest[used..],
                other => panic!("reply {reply:?} in RESP{proto} is not a frame: {other:?}"),
            }
        }
        assert!(rest.is_empty(), "reply {reply:?} in RESP{proto} has trailing bytes");
    }
}

/// What a client can observe of the dataset: per database, each live key with its
/// type, value (members sorted) and absolute expiry.
fn dataset(shared: &Shared) -> Vec<String> {
    let mut client = new_client();
    let mut seen = Vec::new();
    let text = |r: &Reply| format!("{r:?}");
    for db in 0..3 {
        run(shared, &mut client, vec![Bytes::from("SELECT"), Bytes::from(db.to_string())]);
        let Reply::Array(keys) = run(shared, &mut client, vec![Bytes::from("KEYS"), Bytes::from("*")]) else {
            panic!("KEYS answers an array");
        };
        for key in keys {
            let Reply::Bulk(key) = key else { panic!("KEYS lists bulk strings") };
            let call = |client: &mut Client, words: &[&[u8]]| {
                let mut args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w)).collect();
                args.insert(1, key.clone());
                run(shared, client, args)
            };
            let kind = text(&call(&mut client, &[b"TYPE"]));
            let mut value = match kind.as_str() {
                k if k.contains("string") => vec![text(&call(&mut client, &[b"GET"]))],
                k if k.contains("hash") => flatten(call(&mut client, &[b"HGETALL"])),
                k if k.contains("set") && !k.contains("zset") => flatten(call(&mut client, &[b"SMEMBERS"])),
                k if k.contains("zset") => {
                    vec![text(&call(&mut client, &[b"ZRANGE", b"0", b"-1", b"WITHSCORES"]))]
                }
                _ => vec![text(&call(&mut client, &[b"LRANGE", b"0", b"-1"]))],
            };
            value.sort();
            let expiry = text(&call(&mut client, &[b"PEXPIRETIME"]));
            seen.push(format!("{db} {key:?} {kind} {value:?} {expiry}"));
        }
    }
    seen.sort();
    seen
}

fn flatten(reply: Reply) -> Vec<String> {
    match reply {
        Reply::Map(pairs) => pairs.iter().map(|(k, v)| format!("{k:?}={v:?}")).collect(),
        Reply::Array(items) | Reply::Set(items) => items.iter().map(|i| format!("{i:?}")).collect(),
        other => vec![format!("{other:?}")],
    }
}

fn test_config() -> Config {
    Config {
        port: 0,
        appendonly: false,
        // Not the working directory: a dump.rdb there would make the server wait to
        // load it (LOADING), and this server loads nothing.
        dir: "/nonexistent/roost-check-dispatch".into(),
        ..Config::default()
    }
}

pub fn check_dispatch(data: &[u8]) {
    let clock = ManualClock::start();
    let shared = roost::server::build_state(test_config());
    let records = ReplicaQueue::new(0);
    shared.journal.attach_for_full_sync(records.clone(), 1 << 20);
    let mut clients = [new_client(), new_client()];
    let mut input = Input { data, at: 0 };
    while let Some(choice) = input.byte() {
        if choice >= 0xf0 {
            let ms = input.byte().unwrap_or(0) as u64 * 8;
            if trace_on() {
                eprintln!("clock +{ms} ms");
            }
            clock.advance_ms(ms);
            continue;
        }
        let template = TEMPLATES[choice as usize % TEMPLATES.len()];
        let Some(args) = fill(template, &mut input) else {
            break;
        };
        let client = &mut clients[(choice as usize / TEMPLATES.len()) % 2];
        let shown = trace_on().then(|| words(&args));
        let reply = run(&shared, client, args);
        if let Some(shown) = shown {
            eprintln!("client {}: {shown} -> {reply:?}", (choice as usize / TEMPLATES.len()) % 2);
        }
        check_encoding(&reply);
    }
    // A transaction left open is abandoned, as when its client disconnects.
    let before = dataset(&shared);

    let replayed = roost::server::build_state(test_config());
    let stream = records.take();
    let mut rest = &stream[..];
    let mut replayer = cmd::apply::Replayer::new(&replayed);
    while !rest.is_empty() {
        let (lsn, args, len) = roost::aof::record::parse_stream(rest)
            .expect("the journal writes valid records")
            .expect("and whole ones");
        if trace_on() {
            eprintln!("record {lsn}: {}", words(&args));
        }
        replayer.apply(lsn, &args);
        rest = &rest[len..];
    }
    replayer.finish();
    assert_eq!(before, dataset(&replayed), "replaying the journal gives the same dataset");
}
