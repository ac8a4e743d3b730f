//! String commands: the heart of session storage (`SET k v EX ttl`, `GET k`, `SETEX`).
//!
//! Option parsing follows Redis's `parseExtendedStringArgumentsOrReply`: every option
//! word is validated first (syntax errors win), then the expiry value is parsed.

use bytes::{Bytes, BytesMut};

use super::{
    args, command, error, flags::*, Ctx, Outcome, Spec, ALL_KEYS, KEY_VALUE_PAIRS, ONE_KEY,
    TWO_KEYS,
};
use crate::clock;
use crate::longdouble::{self, FloatAddError};
use crate::notify;
use crate::protocol::decode::parse_i64;
use crate::protocol::reply::Digits;
use crate::protocol::Reply;
use crate::store::{Db, StringEncoding, Value, ValueRef};

pub const COMMANDS: &[Spec] = &[
    command!("string", "get", 2, READONLY | FAST, ONE_KEY, get, "1.0.0", "Returns the string value of a key.")
.with_key_specs(super::redis_meta::READS)
.with_direct(get_into),
    command!("string", "set", -3, WRITE | DENYOOM, ONE_KEY, set, "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.")
.with_key_specs(super::redis_meta::SET),
    command!("string", "setex", 4, WRITE | DENYOOM, ONE_KEY, setex, "2.0.0",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.")
.with_key_specs(super::redis_meta::OVERWRITES),
    command!("string", "psetex", 4, WRITE | DENYOOM, ONE_KEY, psetex, "2.6.0",
        "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.")
.with_key_specs(super::redis_meta::OVERWRITES),
    command!("string", "setnx", 3, WRITE | DENYOOM | FAST, ONE_KEY, setnx, "1.0.0",
        "Set the string value of a key only when the key doesn't exist.")
.with_key_specs(super::redis_meta::CREATES),
    command!("string", "getset", 3, WRITE | DENYOOM | FAST | HANDS_OUT, ONE_KEY, getset, "1.0.0",
        "Returns the previous string value of a key after setting it to a new value.")
.with_key_specs(super::redis_meta::READS_AND_UPDATES),
    command!("string", "getdel", 2, WRITE | FAST | HANDS_OUT, ONE_KEY, getdel, "6.2.0",
        "Returns the string value of a key after deleting the key.")
.with_key_specs(super::redis_meta::POPS),
    command!("string", "getex", -2, WRITE | FAST, ONE_KEY, getex, "6.2.0",
        "Returns the string value of a key after setting its expiration time.")
.with_key_specs(super::redis_meta::GETEX),
    command!("string", "mget", -2, READONLY | FAST, ALL_KEYS, mget, "1.0.0",
        "Atomically returns the string values of one or more keys.")
.with_key_specs(super::redis_meta::READS_ALL)
.with_tips(super::redis_meta::MGET),
    command!("string", "mset", -3, WRITE | DENYOOM, KEY_VALUE_PAIRS, mset, "1.0.1",
        "Atomically creates or modifies the string values of one or more keys.")
.with_key_specs(super::redis_meta::MSET)
.with_tips(super::redis_meta::MSET_TIPS),
    command!("string", "msetnx", -3, WRITE | DENYOOM, KEY_VALUE_PAIRS, msetnx, "1.0.1",
        "Atomically modifies the string values of one or more keys only when all keys don't exist.")
.with_key_specs(super::redis_meta::MSETNX)
.with_tips(super::redis_meta::MSETNX_TIPS),
    command!("string", "append", 3, WRITE | DENYOOM | FAST, ONE_KEY, append, "2.0.0",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.")
.with_key_specs(super::redis_meta::INSERTS),
    command!("string", "strlen", 2, READONLY | FAST, ONE_KEY, strlen, "2.2.0",
        "Returns the length of a string value.")
.with_key_specs(super::redis_meta::INSPECTS),
    command!("string", "incr", 2, WRITE | DENYOOM | FAST, ONE_KEY, incr, "1.0.0",
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.")
.with_key_specs(super::redis_meta::READS_AND_UPDATES),
    command!("string", "decr", 2, WRITE | DENYOOM | FAST, ONE_KEY, decr, "1.0.0",
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.")
.with_key_specs(super::redis_meta::READS_AND_UPDATES),
    command!("string", "incrby", 3, WRITE | DENYOOM | FAST, ONE_KEY, incrby, "1.0.0",
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.")
.with_key_specs(super::redis_meta::READS_AND_UPDATES),
    command!("string", "decrby", 3, WRITE | DENYOOM | FAST, ONE_KEY, decrby, "1.0.0",
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.")
.with_key_specs(super::redis_meta::READS_AND_UPDATES),
    command!("string", "incrbyfloat", 3, WRITE | DENYOOM | FAST, ONE_KEY, incrbyfloat, "2.6.0",
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.")
.with_key_specs(super::redis_meta::READS_AND_UPDATES),
    command!("string", "getrange", 4, READONLY, ONE_KEY, getrange, "2.4.0",
        "Returns a substring of the string stored at a key.")
.with_key_specs(super::redis_meta::READS),
    command!("string", "substr", 4, READONLY, ONE_KEY, getrange, "1.0.0",
        "Returns a substring from a string value.")
.with_key_specs(super::redis_meta::READS),
    command!("string", "lcs", -3, READONLY, TWO_KEYS, lcs, "7.0.0",
        "Finds the longest common substring.")
.with_key_specs(super::redis_meta::READS_TWO),
    command!("string", "setrange", 4, WRITE | DENYOOM, ONE_KEY, setrange, "2.2.0",
        "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.")
.with_key_specs(super::redis_meta::UPDATES),
];

/// The string stored at `key`: `Ok(None)` if absent, WRONGTYPE if not a string.
pub(super) fn read_string(db: &Db, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    match db.lookup_read(key, clock::now_ms()) {
        None => Ok(None),
        Some(entry) => entry.string().map(Some).ok_or(error::WRONGTYPE),
    }
}

fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(Reply::opt_bulk(read_string(ctx.db(), &args[1])?))
}

/// GET from a connection: the value goes from its entry straight into the output.
fn get_into(ctx: &mut Ctx<'_>, args: &[Bytes], out: &mut BytesMut) -> Outcome {
    match ctx.db().lookup_read(&args[1], clock::now_ms()) {
        None => Ok(Reply::Null),
        Some(entry) => match entry.value() {
            ValueRef::Str(s) => {
                crate::protocol::reply::bulk(out, s);
                Ok(Reply::NoReply)
            }
            _ => Err(error::WRONGTYPE),
        },
    }
}

/// What SET, GETEX and friends were asked to do with the TTL.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ttl {
    /// Clear it (SET without options).
    Clear,
    /// Leave it as is (KEEPTTL, GETEX without options).
    Keep,
    /// Remove it (GETEX PERSIST).
    Persist,
    /// Absolute unix ms.
    At(u64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Seconds,
    Milliseconds,
}

/// The expiry options of SET / GETEX, validated as Redis validates them.
#[derive(Default)]
struct Options {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// (value argument, unit, relative?)
    expire: Option<(Bytes, Unit, bool)>,
}

#[derive(PartialEq)]
enum Caller {
    Set,
    GetEx,
}

fn parse_options(args: &[Bytes], caller: Caller) -> Result<Options, Reply> {
    let mut o = Options::default();
    let mut j = 0;
    while j < args.len() {
        let opt = args[j].to_ascii_uppercase();
        let next = args.get(j + 1);
        let has_expire = o.expire.is_some();
        let expire_word = match opt.as_slice() {
            b"EX" => Some((Unit::Seconds, true)),
            b"PX" => Some((Unit::Milliseconds, true)),
            b"EXAT" => Some((Unit::Seconds, false)),
            b"PXAT" => Some((Unit::Milliseconds, false)),
            _ => None,
        };
        match opt.as_slice() {
            b"NX" if caller == Caller::Set && !o.xx => o.nx = true,
            b"XX" if caller == Caller::Set && !o.nx => o.xx = true,
            b"GET" if caller == Caller::Set => o.get = true,
            b"KEEPTTL" if caller == Caller::Set && !o.persist && !has_expire => o.keepttl = true,
            b"PERSIST" if caller == Caller::GetEx && !has_expire && !o.keepttl => o.persist = true,
            _ => match (expire_word, next) {
                (Some((unit, relative)), Some(value))
                    if !o.keepttl
                        && !o.persist
                        && o.expire
                            .as_ref()
                            .is_none_or(|(_, u, r)| (*u, *r) == (unit, relative)) =>
                {
                    o.expire = Some((value.clone(), unit, relative));
                    j += 1;
                }
                _ => return Err(error::SYNTAX),
            },
        }
        j += 1;
    }
    Ok(o)
}

/// Turns an EX/PX/EXAT/PXAT value into absolute unix ms, with Redis's checks.
fn expire_at(
    value: &[u8],
    unit: Unit,
    relative: bool,
    command: &str,
    now: u64,
) -> Result<u64, Reply> {
    let n = args::int(value)?;
    let invalid = || error::invalid_expire(command);
    if n <= 0 || (unit == Unit::Seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let ms = if unit == Unit::Seconds { n * 1000 } else { n };
    let at = if relative {
        ms.checked_add(now as i64).ok_or_else(invalid)?
    } else {
        ms
    };
    if at <= 0 {
        return Err(invalid());
    }
    Ok(at as u64)
}

/// Logs a string write in its canonical form: `SET key value` with the TTL made
/// absolute (`PXAT`), kept (`KEEPTTL`) or cleared; notifies `event` (and `expire` for a
/// SET that gave the key a TTL).
fn log_set(ctx: &mut Ctx<'_>, key: &[u8], value: &[u8], ttl: Ttl, event: &str) {
    match ttl {
        Ttl::At(at) => {
            let at = Digits::of(at as i64);
            ctx.propagate(&[b"SET", key, value, b"PXAT", at.as_bytes()])
        }
        Ttl::Keep => ctx.propagate(&[b"SET", key, value, b"KEEPTTL"]),
        Ttl::Clear | Ttl::Persist => ctx.propagate(&[b"SET", key, value]),
    }
    ctx.notify(notify::STRING, event, key);
    if matches!(ttl, Ttl::At(_)) && event == "set" {
        ctx.notify(notify::GENERIC, "expire", key);
    }
}

/// Stores a string, keeping or replacing the TTL as `ttl` says.
fn store_string(db: &Db, key: &Bytes, value: Bytes, ttl: Ttl, now: u64) {
    let expire = match ttl {
        Ttl::At(at) => Some(at),
        Ttl::Keep => db.peek(key, now).and_then(|e| e.expire_at()),
        Ttl::Clear | Ttl::Persist => None,
    };
    db.insert_at(key, Value::Str(value), expire, Some(now));
}

fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let options = parse_options(&args[3..], Caller::Set)?;
    let now = clock::now_ms();
    let ttl = match &options.expire {
        Some((value, unit, relative)) => Ttl::At(expire_at(value, *unit, *relative, "set", now)?),
        None if options.keepttl => Ttl::Keep,
        None => Ttl::Clear,
    };
    let db = ctx.db();
    let old = if options.get {
        Some(read_string(db, &args[1])?)
    } else {
        None
    };
    // Without NX or XX the insert itself expires an old value past its TTL.
    if options.nx || options.xx {
        let found = db.exists(&args[1], now);
        if (options.nx && found) || (options.xx && !found) {
            return Ok(match old {
                Some(old) => Reply::opt_bulk(old),
                None => Reply::Null,
            });
        }
    }
    store_string(db, &args[1], args[2].clone(), ttl, now);
    log_set(ctx, &args[1], &args[2], ttl, "set");
    Ok(match old {
        Some(old) => Reply::opt_bulk(old),
        None => Reply::OK,
    })
}

fn setex_generic(ctx: &mut Ctx<'_>, args: &[Bytes], unit: Unit, command: &str) -> Outcome {
    let now = clock::now_ms();
    let at = expire_at(&args[2], unit, true, command, now)?;
    ctx.db()
        .insert_at(&args[1], Value::Str(args[3].clone()), Some(at), Some(now));
    log_set(ctx, &args[1], &args[3], Ttl::At(at), "set");
    Ok(Reply::OK)
}

fn setex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    setex_generic(ctx, args, Unit::Seconds, "setex")
}

fn psetex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    setex_generic(ctx, args, Unit::Milliseconds, "psetex")
}

fn setnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let db = ctx.db();
    if db.exists(&args[1], clock::now_ms()) {
        return Ok(Reply::Integer(0));
    }
    db.insert(&args[1], Value::Str(args[2].clone()), None);
    log_set(ctx, &args[1], &args[2], Ttl::Clear, "set");
    Ok(Reply::Integer(1))
}

fn getset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let db = ctx.db();
    let old = read_string(db, &args[1])?;
    db.insert(&args[1], Value::Str(args[2].clone()), None);
    log_set(ctx, &args[1], &args[2], Ttl::Clear, "set");
    Ok(Reply::opt_bulk(old))
}

fn getdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let db = ctx.db();
    let Some(value) = read_string(db, &args[1])? else {
        return Ok(Reply::Null);
    };
    db.remove(&args[1], clock::now_ms());
    ctx.propagate(&[b"DEL", &args[1]]);
    ctx.notify(notify::GENERIC, "del", &args[1]);
    Ok(Reply::Bulk(value))
}

fn getex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let options = parse_options(&args[2..], Caller::GetEx)?;
    let now = clock::now_ms();
    let ttl = match &options.expire {
        Some((value, unit, relative)) => Ttl::At(expire_at(value, *unit, *relative, "getex", now)?),
        None if options.persist => Ttl::Persist,
        None => Ttl::Keep,
    };
    let db = ctx.db();
    let Some(value) = read_string(db, &args[1])? else {
        return Ok(Reply::Null);
    };
    match ttl {
        // An absolute time already past deletes the key, as Redis does (not when applying
        // records: see `store::is_applying_stream`).
        Ttl::At(at) if at <= now && !crate::store::is_applying_stream() => {
            db.remove(&args[1], now);
            ctx.propagate(&[b"DEL", &args[1]]);
            ctx.notify(notify::GENERIC, "del", &args[1]);
        }
        Ttl::At(at) => {
            db.set_expire(&args[1], Some(at), now);
            ctx.propagate(&[b"PEXPIREAT", &args[1], Digits::of(at as i64).as_bytes()]);
            ctx.notify(notify::GENERIC, "expire", &args[1]);
        }
        Ttl::Persist => {
            if db
                .peek(&args[1], now)
                .is_some_and(|e| e.expire_at().is_some())
            {
                db.set_expire(&args[1], None, now);
                ctx.propagate(&[b"PERSIST", &args[1]]);
                ctx.notify(notify::GENERIC, "persist", &args[1]);
            }
        }
        Ttl::Keep | Ttl::Clear => {}
    }
    Ok(Reply::Bulk(value))
}

fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let db = ctx.db();
    Ok(Reply::Array(
        args[1..]
            .iter()
            .map(|key| match read_string(db, key) {
                Ok(Some(value)) => Reply::Bulk(value),
                _ => Reply::Null,
            })
            .collect(),
    ))
}

fn mset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() % 2 == 0 {
        return Err(error::wrong_arity("mset"));
    }
    let db = ctx.db();
    for pair in args[1..].chunks(2) {
        db.insert(&pair[0], Value::Str(pair[1].clone()), None);
    }
    log_mset(ctx, &args[1..]);
    Ok(Reply::OK)
}

/// `MSET k v ...` for the pairs that were stored.
fn log_mset(ctx: &mut Ctx<'_>, pairs: &[Bytes]) {
    let mut record: Vec<&[u8]> = vec![b"MSET"];
    record.extend(pairs.iter().map(|a| a.as_ref()));
    ctx.propagate(&record);
    for pair in pairs.chunks(2) {
        ctx.notify(notify::STRING, "set", &pair[0]);
    }
}

fn msetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() % 2 == 0 {
        return Err(error::wrong_arity("msetnx"));
    }
    let db = ctx.db();
    let now = clock::now_ms();
    if args[1..].chunks(2).any(|pair| db.exists(&pair[0], now)) {
        return Ok(Reply::Integer(0));
    }
    for pair in args[1..].chunks(2) {
        db.insert(&pair[0], Value::Str(pair[1].clone()), None);
    }
    log_mset(ctx, &args[1..]);
    Ok(Reply::Integer(1))
}

/// `ERR string exceeds maximum allowed size (proto-max-bulk-len)` if a string would
/// grow past the configured limit.
fn check_length(ctx: &Ctx<'_>, total: u64) -> Result<(), Reply> {
    if total > ctx.shared.config().proto_max_bulk_len {
        return Err(error::STRING_TOO_LONG);
    }
    Ok(())
}

/// Replaces the value of an existing string key, keeping its TTL. `edited` marks an
/// APPEND or SETRANGE, after which Redis reports the "raw" encoding; a computed value
/// (INCR) gets a fresh encoding.
/// Stores a new value for an existing string key, with what decides its encoding.
fn replace_in_place(db: &Db, key: &[u8], value: Bytes, encoding: StringEncoding, now: u64) {
    if let Some(mut entry) = db.get_mut(key, now) {
        entry.set_value(Value::Str(value));
        entry.set_string_encoding(encoding);
    }
    db.signal_modified(key);
}

/// Edits the string at `key` in place (SETBIT, BITFIELD, PFADD), first creating it
/// empty or zero-padding it to `min_len` bytes; `f` gets the bytes and whether the key
/// was created or grown, and says whether it changed them (WATCH is told of any change).
/// The TTL is kept; WRONGTYPE for another type. The caller has checked `min_len`
/// against `proto-max-bulk-len`.
pub(super) fn edit_string<R>(
    db: &Db,
    key: &Bytes,
    min_len: usize,
    f: impl FnOnce(&mut BytesMut, bool) -> (R, bool),
) -> Result<R, Reply> {
    let now = clock::now_ms();
    let created = match db.peek(key, now) {
        None => true,
        Some(entry) if !matches!(entry.value(), ValueRef::Str(_)) => return Err(error::WRONGTYPE),
        Some(_) => false,
    };
    if created {
        db.insert(key, Value::Str(Bytes::new()), None);
    }
    let (result, changed) = {
        let Some(mut entry) = db.get_mut(key, now) else {
            return Err(error::WRONGTYPE);
        };
        // A large string is taken out, so that a buffer nothing else shares is edited
        // without a copy; a short one is copied out of the entry's block.
        let mut buf = match entry.large_string_mut() {
            Some(value) => BytesMut::from(std::mem::take(value)),
            None => match entry.value() {
                ValueRef::Str(s) => BytesMut::from(s),
                _ => return Err(error::WRONGTYPE),
            },
        };
        let grown = buf.len() < min_len;
        if grown {
            buf.resize(min_len, 0);
        }
        let (result, changed) = f(&mut buf, created || grown);
        entry.set_value(Value::Str(buf.freeze()));
        let changed = changed || created || grown;
        if changed {
            entry.set_string_encoding(StringEncoding::Raw);
        }
        (result, changed)
    };
    if changed {
        db.signal_modified(key);
    }
    Ok(result)
}

fn append(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let now = clock::now_ms();
    let current = read_string(ctx.db(), &args[1])?;
    let db = ctx.db();
    match current {
        None => {
            db.insert(&args[1], Value::Str(args[2].clone()), None);
            ctx.propagate(&[b"APPEND", &args[1], &args[2]]);
            ctx.notify(notify::STRING, "append", &args[1]);
            Ok(Reply::Integer(args[2].len() as i64))
        }
        Some(current) => {
            check_length(ctx, (current.len() + args[2].len()) as u64)?;
            let mut joined = BytesMut::with_capacity(current.len() + args[2].len());
            joined.extend_from_slice(&current);
            joined.extend_from_slice(&args[2]);
            let len = joined.len();
            replace_in_place(db, &args[1], joined.freeze(), StringEncoding::Raw, now);
            ctx.propagate(&[b"APPEND", &args[1], &args[2]]);
            ctx.notify(notify::STRING, "append", &args[1]);
            Ok(Reply::Integer(len as i64))
        }
    }
}

fn strlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let value = read_string(ctx.db(), &args[1])?;
    Ok(Reply::Integer(value.map_or(0, |v| v.len()) as i64))
}

/// Adds `delta` to the integer at `key`, keeping its TTL.
fn incr_by(ctx: &mut Ctx<'_>, key: &Bytes, delta: i64) -> Outcome {
    let db = ctx.db();
    let now = clock::now_ms();
    let current = match read_string(db, key)? {
        Some(value) => Some(parse_i64(&value).ok_or(error::NOT_INTEGER)?),
        None => None,
    };
    let Some(result) = current.unwrap_or(0).checked_add(delta) else {
        return Err(error::OVERFLOW);
    };
    let text = Bytes::from(result.to_string());
    if current.is_some() {
        replace_in_place(db, key, text.clone(), StringEncoding::ByContent, now);
    } else {
        db.insert(key, Value::Str(text.clone()), None);
    }
    log_set(ctx, key, &text, Ttl::Keep, "incrby");
    Ok(Reply::Integer(result))
}

fn incr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    incr_by(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    incr_by(ctx, &args[1], args::int(&args[2])?)
}

fn decrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    match args::int(&args[2])? {
        i64::MIN => Err(error::DECREMENT_OVERFLOW),
        delta => incr_by(ctx, &args[1], -delta),
    }
}

fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let db = ctx.db();
    let now = clock::now_ms();
    let current = read_string(db, &args[1])?;
    let base = current.clone().unwrap_or_else(|| Bytes::from_static(b"0"));
    let result = match longdouble::add(&base, &args[2]) {
        Ok(result) => result,
        Err(FloatAddError::BadValue | FloatAddError::BadIncrement) => return Err(error::NOT_FLOAT),
        Err(FloatAddError::NanOrInfinity) => return Err(error::INCREMENT_NAN_OR_INFINITY),
    };
    // Redis stores the printed result as a string object, never int-encoded.
    if current.is_none() {
        db.insert(&args[1], Value::Str(result.clone()), None);
    }
    replace_in_place(db, &args[1], result.clone(), StringEncoding::NotInt, now);
    log_set(ctx, &args[1], &result, Ttl::Keep, "incrbyfloat");
    Ok(Reply::Bulk(result))
}

fn getrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let start = args::int(&args[2])?;
    let end = args::int(&args[3])?;
    let Some(value) = read_string(ctx.db(), &args[1])? else {
        return Ok(Reply::Bulk(Bytes::new()));
    };
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::Bulk(Bytes::new()));
    }
    let len = value.len() as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let mut end = if end < 0 { (len + end).max(0) } else { end };
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Ok(Reply::Bulk(Bytes::new()));
    }
    Ok(Reply::Bulk(value.slice(start as usize..=end as usize)))
}

fn setrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let offset = match args::int(&args[2])? {
        n if n < 0 => return Err(error::OFFSET_OUT_OF_RANGE),
        n => n as u64,
    };
    let patch = &args[3];
    let now = clock::now_ms();
    let current = read_string(ctx.db(), &args[1])?;
    if patch.is_empty() {
        return Ok(Reply::Integer(current.map_or(0, |c| c.len()) as i64));
    }
    check_length(ctx, offset + patch.len() as u64)?;
    let offset = offset as usize;
    let old = current.clone().unwrap_or_default();
    let mut buf = BytesMut::from(&old[..]);
    if buf.len() < offset + patch.len() {
        buf.resize(offset + patch.len(), 0);
    }
    buf[offset..offset + patch.len()].copy_from_slice(patch);
    let len = buf.len();
    let db = ctx.db();
    if current.is_some() {
        replace_in_place(db, &args[1], buf.freeze(), StringEncoding::Raw, now);
    } else {
        db.insert(&args[1], Value::Str(buf.freeze()), None);
    }
    ctx.propagate(&[b"SETRANGE", &args[1], &args[2], patch]);
    ctx.notify(notify::STRING, "setrange", &args[1]);
    Ok(Reply::Integer(len as i64))
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN] (Redis's `lcsCommand`): the
/// longest common subsequence of two strings by the classic table, its length, or the
/// matching ranges walked back from the ends of both strings.
fn lcs(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (a, b) = match (
        read_string(ctx.db(), &args[1]),
        read_string(ctx.db(), &args[2]),
    ) {
        (Ok(a), Ok(b)) => (a.unwrap_or_default(), b.unwrap_or_default()),
        _ => return Err(error::LCS_NOT_STRINGS),
    };
    let (mut get_len, mut get_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: u64 = 0;
    let mut j = 3;
    while j < args.len() {
        let word = &args[j];
        if args::is(word, "idx") {
            get_idx = true;
        } else if args::is(word, "len") {
            get_len = true;
        } else if args::is(word, "withmatchlen") {
            with_match_len = true;
        } else if args::is(word, "minmatchlen") && j + 1 < args.len() {
            min_match_len = args::int(&args[j + 1])?.max(0) as u64;
            j += 1;
        } else {
            return Err(error::SYNTAX);
        }
        j += 1;
    }
    if get_idx && get_len {
        return Err(error::LCS_LEN_AND_IDX);
    }
    if a.len() as u64 >= u32::MAX as u64 - 1 || b.len() as u64 >= u32::MAX as u64 - 1 {
        return Err(error::LCS_TOO_LONG);
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > ctx.shared.config().proto_max_bulk_len {
        return Err(error::LCS_TOO_BIG);
    }
    // table[i * (blen + 1) + j]: the LCS length of a[..i] and b[..j].
    let width = blen + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[alen * width + blen];
    if get_len {
        return Ok(Reply::Integer(total as i64));
    }
    let mut result = vec![0u8; total as usize];
    let mut matches = Vec::new();
    // The range being extended backwards: (a start, a end, b start, b end).
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j, mut left) = (alen, blen, total as usize);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[left - 1] = a[i - 1];
            range = Some(match range {
                None => (i - 1, i - 1, j - 1, j - 1),
                Some((_, a_end, _, b_end)) => (i - 1, a_end, j - 1, b_end),
            });
            if let Some((a_start, _, b_start, _)) = range {
                emit = a_start == 0 || b_start == 0;
            }
            left -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            let (a_start, a_end, b_start, b_end) = range.take().expect("a range to emit");
            let len = (a_end - a_start + 1) as u64;
            if min_match_len == 0 || len >= min_match_len {
                let pair = |s: usize, e: usize| {
                    Reply::Array(vec![Reply::Integer(s as i64), Reply::Integer(e as i64)])
                };
                let mut entry = vec![pair(a_start, a_end), pair(b_start, b_end)];
                if with_match_len {
                    entry.push(Reply::Integer(len as i64));
                }
                matches.push(Reply::Array(entry));
            }
        }
    }
    if get_idx {
        return Ok(Reply::Map(vec![
            (Reply::bulk_str("matches"), Reply::Array(matches)),
            (Reply::bulk_str("len"), Reply::Integer(total as i64)),
        ]));
    }
    Ok(Reply::Bulk(Bytes::from(result)))
}
