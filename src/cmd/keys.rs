//! Generic key commands: existence, deletion, TTLs, iteration, renaming, databases.

use bytes::Bytes;

use super::{
    args, command, conn, error, flags::*, scan, Ctx, KeySpec, Outcome, Spec, ALL_KEYS, NO_KEYS,
    ONE_KEY, TWO_KEYS,
};
use crate::clock;
use crate::notify;
use crate::protocol::decode::parse_i64;
use crate::protocol::reply::Digits;
use crate::protocol::Reply;
use crate::rand::Rng;
use crate::store::{self, Db, ValueRef};

pub const COMMANDS: &[Spec] = &[
    command!("generic", "del", -2, WRITE, ALL_KEYS, del, "1.0.0", "Deletes one or more keys.")
.with_key_specs(super::redis_meta::DELETES_ALL)
.with_tips(super::redis_meta::MULTI_SHARD_SUM),
    command!("generic", "unlink", -2, WRITE | FAST, ALL_KEYS, del, "4.0.0",
        "Asynchronously deletes one or more keys.")
.with_key_specs(super::redis_meta::DELETES_ALL)
.with_tips(super::redis_meta::MULTI_SHARD_SUM),
    command!("generic", "exists", -2, READONLY | FAST, ALL_KEYS, exists, "1.0.0",
        "Determines whether one or more keys exist.")
.with_key_specs(super::redis_meta::INSPECTS_ALL)
.with_tips(super::redis_meta::MULTI_SHARD_SUM),
    command!("generic", "type", 2, READONLY | FAST, ONE_KEY, type_of, "1.0.0",
        "Determines the type of value stored at a key.")
.with_key_specs(super::redis_meta::INSPECTS),
    command!("generic", "expire", -3, WRITE | FAST, ONE_KEY, expire, "1.0.0",
        "Sets the expiration time of a key in seconds.")
.with_key_specs(super::redis_meta::UPDATES),
    command!("generic", "pexpire", -3, WRITE | FAST, ONE_KEY, pexpire, "2.6.0",
        "Sets the expiration time of a key in milliseconds.")
.with_key_specs(super::redis_meta::UPDATES),
    command!("generic", "expireat", -3, WRITE | FAST, ONE_KEY, expireat, "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp.")
.with_key_specs(super::redis_meta::UPDATES),
    command!("generic", "pexpireat", -3, WRITE | FAST, ONE_KEY, pexpireat, "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.")
.with_key_specs(super::redis_meta::UPDATES),
    command!("generic", "ttl", 2, READONLY | FAST, ONE_KEY, ttl, "1.0.0",
        "Returns the expiration time in seconds of a key.")
.with_key_specs(super::redis_meta::READS)
.with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!("generic", "pttl", 2, READONLY | FAST, ONE_KEY, pttl, "2.6.0",
        "Returns the expiration time in milliseconds of a key.")
.with_key_specs(super::redis_meta::READS)
.with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!("generic", "expiretime", 2, READONLY | FAST, ONE_KEY, expiretime, "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp.")
.with_key_specs(super::redis_meta::READS),
    command!("generic", "pexpiretime", 2, READONLY | FAST, ONE_KEY, pexpiretime, "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.")
.with_key_specs(super::redis_meta::READS),
    command!("generic", "persist", 2, WRITE | FAST, ONE_KEY, persist, "2.2.0",
        "Removes the expiration time of a key.")
.with_key_specs(super::redis_meta::UPDATES),
    command!("generic", "touch", -2, READONLY | FAST, ALL_KEYS, touch, "3.2.1",
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.")
.with_key_specs(super::redis_meta::INSPECTS_ALL)
.with_tips(super::redis_meta::MULTI_SHARD_SUM),
    command!("generic", "keys", 2, READONLY, NO_KEYS, keys, "1.0.0",
        "Returns all key names that match a pattern.")
    .with_acl_categories(crate::acl::category::KEYSPACE | crate::acl::category::DANGEROUS)
.with_tips(super::redis_meta::KEYS),
    command!("generic", "scan", -2, READONLY, NO_KEYS, scan_keys, "2.8.0",
        "Iterates over the key names in the database.")
.with_tips(super::redis_meta::SCAN),
    command!("generic", "rename", 3, WRITE, TWO_KEYS, rename, "1.0.0",
        "Renames a key and overwrites the destination.")
.with_key_specs(super::redis_meta::RENAME),
    command!("generic", "renamenx", 3, WRITE | FAST, TWO_KEYS, renamenx, "1.0.0",
        "Renames a key only when the target key name doesn't exist.")
.with_key_specs(super::redis_meta::RENAMENX),
    command!("generic", "copy", -3, WRITE | DENYOOM, TWO_KEYS, copy, "6.2.0",
        "Copies the value of a key to a new key.")
.with_key_specs(super::redis_meta::COPY),
    command!("generic", "move", 3, WRITE | FAST, ONE_KEY, move_key, "1.0.0",
        "Moves a key to another database.")
.with_key_specs(super::redis_meta::READS_AND_UPDATES),
    command!("generic", "randomkey", 1, READONLY, NO_KEYS, randomkey, "1.0.0",
        "Returns a random key name from the database.")
.with_tips(super::redis_meta::RANDOMKEY),
    command!("generic", "dbsize", 1, READONLY | FAST, NO_KEYS, dbsize, "1.0.0",
        "Returns the number of keys in the database.")
.with_tips(super::redis_meta::ALL_SHARDS_SUM),
super::command!(
"server",
"flushdb",
-1,
WRITE,
NO_KEYS,
flushdb,
"1.0.0",
"Remove all keys from the current database."
)
    .with_acl_categories(crate::acl::category::KEYSPACE | crate::acl::category::DANGEROUS)
.with_tips(super::redis_meta::ALL_SHARDS_SUCCEED),
super::command!(
"server",
"flushall",
-1,
WRITE,
NO_KEYS,
flushall,
"1.0.0",
"Removes all keys from all databases."
)
    .with_acl_categories(crate::acl::category::KEYSPACE | crate::acl::category::DANGEROUS)
.with_tips(super::redis_meta::ALL_SHARDS_SUCCEED),
super::command!(
"server",
"swapdb",
3,
WRITE | FAST,
NO_KEYS,
swapdb,
"4.0.0",
"Swaps two Redis databases."
)
    .with_acl_categories(crate::acl::category::KEYSPACE | crate::acl::category::DANGEROUS),
super::command!(
"generic",
"object",
-2,
0,
NO_KEYS,
conn::container,
"2.2.3",
"A container for object introspection commands."
)
.with_help(OBJECT_HELP)
.with_subcommands(OBJECT_SUBCOMMANDS),
];

const KEY_AT_2: KeySpec = KeySpec {
    first: 2,
    last: 2,
    step: 1,
};

const OBJECT_SUBCOMMANDS: &[Spec] = &[
    command!(
        "generic",
        "encoding",
        3,
        READONLY,
        KEY_AT_2,
        object_encoding,
        "2.2.3",
        "Returns the internal encoding of a Redis object."
    )
    .with_key_specs(super::redis_meta::INSPECTS_SECOND)
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!(
        "generic",
        "freq",
        3,
        READONLY,
        KEY_AT_2,
        object_freq,
        "4.0.0",
        "Returns the logarithmic access frequency counter of a Redis object."
    )
    .with_key_specs(super::redis_meta::INSPECTS_SECOND)
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!(
        "generic",
        "idletime",
        3,
        READONLY,
        KEY_AT_2,
        object_idletime,
        "2.2.3",
        "Returns the time since the last access to a Redis object."
    )
    .with_key_specs(super::redis_meta::INSPECTS_SECOND)
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!(
        "generic",
        "refcount",
        3,
        READONLY,
        KEY_AT_2,
        object_refcount,
        "2.2.3",
        "Returns the reference count of a value of a key."
    )
    .with_key_specs(super::redis_meta::INSPECTS_SECOND)
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    conn::help_subcommand("generic", "6.2.0"),
];

fn del(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let db = ctx.db();
    let now = clock::now_ms();
    let removed: Vec<&[u8]> = args[1..]
        .iter()
        .filter(|key| db.remove(key, now).is_some())
        .map(|key| key.as_ref())
        .collect();
    if !removed.is_empty() {
        let mut record: Vec<&[u8]> = vec![b"DEL"];
        record.extend(&removed);
        ctx.propagate(&record);
        for key in &removed {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    Ok(Reply::Integer(removed.len() as i64))
}

fn exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let db = ctx.db();
    let now = clock::now_ms();
    let found = args[1..]
        .iter()
        .filter(|key| db.get(key, now).is_some())
        .count();
    Ok(Reply::Integer(found as i64))
}

fn type_of(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(match ctx.db().peek(&args[1], clock::now_ms()) {
        Some(entry) => Reply::simple(entry.value().type_name()),
        None => Reply::simple("none"),
    })
}

/// Which of EXPIRE's NX / XX / GT / LT was given.
#[derive(Default)]
struct ExpireCondition {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_condition(options: &[Bytes]) -> Result<ExpireCondition, Reply> {
    let mut c = ExpireCondition::default();
    for opt in options {
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" => c.nx = true,
            b"XX" => c.xx = true,
            b"GT" => c.gt = true,
            b"LT" => c.lt = true,
            _ => return Err(error::unsupported_option(opt)),
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        return Err(error::EXPIRE_NX_INCOMPATIBLE);
    }
    if c.gt && c.lt {
        return Err(error::EXPIRE_GT_LT_INCOMPATIBLE);
    }
    Ok(c)
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: `seconds` says the unit, `relative` whether
/// the time counts from now.
fn expire_generic(ctx: &mut Ctx<'_>, args: &[Bytes], seconds: bool, relative: bool) -> Outcome {
    let condition = parse_expire_condition(&args[3..])?;
    let mut when = args::int(&args[2])?;
    let command = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let invalid = || error::invalid_expire(&command);
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(invalid());
        }
        when *= 1000;
    }
    let now = clock::now_ms();
    let base = if relative { now as i64 } else { 0 };
    if when > i64::MAX - base {
        return Err(invalid());
    }
    when += base;

    let db = ctx.db();
    let current = match db.get(&args[1], now) {
        Some(entry) => entry.expire_at(),
        None => return Ok(Reply::Integer(0)),
    };
    let refused = (condition.nx && current.is_some())
        || (condition.xx && current.is_none())
        || (condition.gt && current.is_none_or(|c| when <= c as i64))
        || (condition.lt && current.is_some_and(|c| when >= c as i64));
    if refused {
        return Ok(Reply::Integer(0));
    }
    // As in Redis, a time already past deletes the key, except when applying the log or
    // a primary's stream: the key lived on there until a later DEL says otherwise.
    if when <= now as i64 && !crate::store::is_applying_stream() {
        db.remove(&args[1], now);
        ctx.propagate(&[b"DEL", &args[1]]);
        ctx.notify(notify::GENERIC, "del", &args[1]);
    } else {
        db.set_expire(&args[1], Some(when as u64), now);
        ctx.propagate(&[b"PEXPIREAT", &args[1], Digits::of(when).as_bytes()]);
        ctx.notify(notify::GENERIC, "expire", &args[1]);
    }
    Ok(Reply::Integer(1))
}

fn expire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    expire_generic(ctx, args, true, true)
}

fn pexpire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    expire_generic(ctx, args, false, true)
}

fn expireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    expire_generic(ctx, args, true, false)
}

fn pexpireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    expire_generic(ctx, args, false, false)
}

/// -2 for a missing key, -1 for no TTL, else `f(expire_at, now)`.
fn ttl_reply(ctx: &Ctx<'_>, key: &[u8], f: impl Fn(u64, u64) -> i64) -> Reply {
    let now = clock::now_ms();
    match ctx.db().peek(key, now) {
        None => Reply::Integer(-2),
        Some(entry) => match entry.expire_at() {
            None => Reply::Integer(-1),
            Some(at) => Reply::Integer(f(at, now)),
        },
    }
}

fn ttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(ttl_reply(ctx, &args[1], |at, now| {
        (at.saturating_sub(now) as i64 + 500) / 1000
    }))
}

fn pttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(ttl_reply(ctx, &args[1], |at, now| {
        at.saturating_sub(now) as i64
    }))
}

fn expiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(ttl_reply(ctx, &args[1], |at, _| (at as i64 + 500) / 1000))
}

fn pexpiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(ttl_reply(ctx, &args[1], |at, _| at as i64))
}

fn persist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let db = ctx.db();
    let now = clock::now_ms();
    let has_ttl = db
        .peek(&args[1], now)
        .is_some_and(|e| e.expire_at().is_some());
    if has_ttl {
        db.set_expire(&args[1], None, now);
        ctx.propagate(&[b"PERSIST", &args[1]]);
        ctx.notify(notify::GENERIC, "persist", &args[1]);
    }
    Ok(Reply::Integer(has_ttl as i64))
}

fn touch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let db = ctx.db();
    let now = clock::now_ms();
    let mut found = 0;
    for key in &args[1..] {
        if let Some(entry) = db.peek(key, now) {
            store::force_touch(db, &entry);
            found += 1;
        }
    }
    Ok(Reply::Integer(found))
}

fn keys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let now = clock::now_ms();
    let pattern = &args[1];
    let match_all = pattern.as_ref() == b"*";
    let mut found = Vec::new();
    ctx.db().for_each_key(|key, entry| {
        if !entry.is_expired(now) && (match_all || crate::glob::matches(pattern, key, false)) {
            found.push(Reply::Bulk(Bytes::copy_from_slice(key)));
        }
    });
    Ok(Reply::Array(found))
}

/// Bits of a SCAN cursor that hold the position inside a shard (the rest is the shard).
const SHARD_SHIFT: u32 = 56;
const POSITION_MASK: u64 = (1 << SHARD_SHIFT) - 1;

/// SCAN's options, shared with HSCAN and SSCAN.
pub struct ScanOptions {
    pub pattern: Option<Bytes>,
    pub count: usize,
    pub type_name: Option<String>,
}

/// Parses `[MATCH pattern] [COUNT n] [TYPE t]`; TYPE only where `allow_type`.
pub fn parse_scan_options(options: &[Bytes], allow_type: bool) -> Result<ScanOptions, Reply> {
    let mut parsed = ScanOptions {
        pattern: None,
        count: 10,
        type_name: None,
    };
    let mut i = 0;
    while i < options.len() {
        let Some(value) = options.get(i + 1) else {
            return Err(error::SYNTAX);
        };
        if args::is(&options[i], "match") {
            parsed.pattern = (value.as_ref() != b"*").then(|| value.clone());
        } else if args::is(&options[i], "count") {
            match args::int(value)? {
                n if n < 1 => return Err(error::SYNTAX),
                n => parsed.count = n as usize,
            }
        } else if allow_type && args::is(&options[i], "type") {
            parsed.type_name = Some(String::from_utf8_lossy(value).to_ascii_lowercase());
        } else {
            return Err(error::SYNTAX);
        }
        i += 2;
    }
    Ok(parsed)
}

/// A SCAN cursor argument: an unsigned decimal number.
/// A SCAN cursor read as Redis reads it (`strtoul`, base 10): an optional sign, then
/// digits, nothing before or after; the empty string is cursor 0, a negative number
/// wraps around, and a number past 2^64-1 is invalid.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, Reply> {
    if arg.is_empty() {
        return Ok(0);
    }
    let (negative, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(error::INVALID_CURSOR);
    }
    let mut value: u64 = 0;
    for &d in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(error::INVALID_CURSOR)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

fn scan_keys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let cursor = parse_cursor(&args[1])?;
    let options = parse_scan_options(&args[2..], true)?;
    let db = ctx.db();
    let now = clock::now_ms();
    let mut shard = (cursor >> SHARD_SHIFT) as usize;
    let mut from = cursor & POSITION_MASK;
    let mut keys: Vec<Bytes> = Vec::new();
    let mut next_cursor = 0;
    while shard < db.shard_count() {
        let mut candidates = Vec::new();
        db.visit_shard(shard, |key, entry| {
            if !entry.is_expired(now) {
                candidates.push((
                    db.key_hash(key) >> (64 - SHARD_SHIFT),
                    (Bytes::copy_from_slice(key), entry.value().type_name()),
                ));
            }
        });
        // A page never costs more than a sixteenth of a shard's walk per key returned,
        // so a full iteration stays linear however small COUNT is.
        let want = (options.count.saturating_sub(keys.len()))
            .max(candidates.len() / 16)
            .max(1);
        let (page, resume) = scan::page(candidates.into_iter(), from, want);
        keys.extend(
            page.into_iter()
                .filter(|(_, t)| options.type_name.as_deref().is_none_or(|want| want == *t))
                .map(|(k, _)| k),
        );
        match resume {
            Some(position) => {
                next_cursor = (shard as u64) << SHARD_SHIFT | position;
                break;
            }
            None => {
                shard += 1;
                from = 0;
                if keys.len() >= options.count {
                    if shard < db.shard_count() {
                        next_cursor = (shard as u64) << SHARD_SHIFT;
                    }
                    break;
                }
            }
        }
    }
    if let Some(pattern) = &options.pattern {
        keys.retain(|k| crate::glob::matches(pattern, k, false));
    }
    Ok(Reply::Array(vec![
        Reply::bulk_str(&next_cursor.to_string()),
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
    ]))
}

fn rename_generic(ctx: &mut Ctx<'_>, args: &[Bytes], nx: bool) -> Outcome {
    let db = ctx.db();
    let now = clock::now_ms();
    if !db.exists(&args[1], now) {
        return Err(error::NO_SUCH_KEY);
    }
    if args[1] == args[2] {
        return Ok(if nx { Reply::Integer(0) } else { Reply::OK });
    }
    if nx && db.exists(&args[2], now) {
        return Ok(Reply::Integer(0));
    }
    if let Some(entry) = db.remove(&args[1], now) {
        db.insert_entry(&args[2], entry);
    }
    ctx.propagate(&[b"RENAME", &args[1], &args[2]]);
    ctx.notify(notify::GENERIC, "rename_from", &args[1]);
    ctx.notify(notify::GENERIC, "rename_to", &args[2]);
    Ok(if nx { Reply::Integer(1) } else { Reply::OK })
}

fn rename(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    rename_generic(ctx, args, true)
}

/// A database number argument: not an integer, or out of range, with Redis's errors.
fn parse_db_index(ctx: &Ctx<'_>, arg: &[u8]) -> Result<usize, Reply> {
    let n = args::int(arg)?;
    if n < 0 || n as usize >= ctx.shared.keyspace.databases() || n > i32::MAX as i64 {
        return Err(error::DB_INDEX);
    }
    Ok(n as usize)
}

fn copy(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut target_db = ctx.client.db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if args::is(&args[i], "replace") {
            replace = true;
            i += 1;
        } else if args::is(&args[i], "db") && i + 1 < args.len() {
            target_db = parse_db_index(ctx, &args[i + 1])?;
            i += 2;
        } else {
            return Err(error::SYNTAX);
        }
    }
    if target_db == ctx.client.db && args[1] == args[2] {
        return Err(error::SAME_OBJECT);
    }
    let now = clock::now_ms();
    let (value, expire_at) = match ctx.db().peek(&args[1], now) {
        Some(entry) => (entry.to_value(), entry.expire_at()),
        None => return Ok(Reply::Integer(0)),
    };
    let target = ctx.shared.keyspace.db(target_db);
    if target.exists(&args[2], now) {
        if !replace {
            return Ok(Reply::Integer(0));
        }
        target.remove(&args[2], now);
    }
    target.insert(&args[2], value, expire_at);
    let target_db = target_db.to_string();
    ctx.propagate(&[
        b"COPY",
        &args[1],
        &args[2],
        b"DB",
        target_db.as_bytes(),
        b"REPLACE",
    ]);
    if let Ok(db) = target_db.parse() {
        ctx.shared
            .notify
            .emit(notify::GENERIC, "copy_to", db, &args[2]);
    }
    Ok(Reply::Integer(1))
}

fn move_key(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let target_db = parse_db_index(ctx, &args[2])?;
    if target_db == ctx.client.db {
        return Err(error::SAME_OBJECT);
    }
    let now = clock::now_ms();
    let source = ctx.db();
    let target = ctx.shared.keyspace.db(target_db);
    if !source.exists(&args[1], now) || target.exists(&args[1], now) {
        return Ok(Reply::Integer(0));
    }
    if let Some(entry) = source.remove(&args[1], now) {
        target.insert_entry(&args[1], entry);
    }
    ctx.propagate(&[b"MOVE", &args[1], target_db.to_string().as_bytes()]);
    ctx.notify(notify::GENERIC, "move_from", &args[1]);
    ctx.shared
        .notify
        .emit(notify::GENERIC, "move_to", target_db, &args[1]);
    Ok(Reply::Integer(1))
}

/// A random live key, removing expired keys it meets; `None` for an empty database.
fn random_key(db: &Db, now: u64) -> Option<Bytes> {
    let mut rng = Rng::from_entropy();
    for _ in 0..100 {
        if db.is_empty() {
            return None;
        }
        let start = rng.below(db.shard_count());
        let mut picked = None;
        for offset in 0..db.shard_count() {
            let shard = (start + offset) % db.shard_count();
            // One of the shard's keys, each as likely (reservoir sampling), copied
            // out only when chosen.
            let mut seen = 0;
            db.visit_shard(shard, |key, entry| {
                seen += 1;
                if rng.below(seen) == 0 {
                    picked = Some((Bytes::copy_from_slice(key), entry.is_expired(now)));
                }
            });
            if picked.is_some() {
                break;
            }
        }
        match picked {
            None => return None,
            Some((key, false)) => return Some(key),
            Some((key, true)) => {
                db.purge_expired(std::slice::from_ref(&key), now);
            }
        }
    }
    None
}

fn randomkey(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::opt_bulk(random_key(ctx.db(), clock::now_ms())))
}

fn dbsize(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::Integer(ctx.db().len() as i64))
}

/// FLUSHDB / FLUSHALL accept ASYNC or SYNC; both free memory before replying here.
fn flush_mode_ok(args: &[Bytes]) -> bool {
    match args.len() {
        1 => true,
        2 => args::is(&args[1], "async") || args::is(&args[1], "sync"),
        _ => false,
    }
}

fn flushdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if !flush_mode_ok(args) {
        return Err(error::SYNTAX);
    }
    ctx.db().clear();
    ctx.propagate(&[b"FLUSHDB"]);
    ctx.shared.tracking.invalidate_all(&ctx.shared.pubsub);
    Ok(Reply::OK)
}

fn flushall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if !flush_mode_ok(args) {
        return Err(error::SYNTAX);
    }
    for n in 0..ctx.shared.keyspace.databases() {
        ctx.shared.keyspace.db(n).clear();
    }
    ctx.propagate(&[b"FLUSHALL"]);
    ctx.shared.tracking.invalidate_all(&ctx.shared.pubsub);
    Ok(Reply::OK)
}

fn swapdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let Some(a) = parse_i64(&args[1]).filter(|n| (0..=i32::MAX as i64).contains(n) || *n < 0)
    else {
        return Err(error::INVALID_FIRST_DB);
    };
    let Some(b) = parse_i64(&args[2]).filter(|n| (0..=i32::MAX as i64).contains(n) || *n < 0)
    else {
        return Err(error::INVALID_SECOND_DB);
    };
    let databases = ctx.shared.keyspace.databases() as i64;
    if !(0..databases).contains(&a) || !(0..databases).contains(&b) {
        return Err(error::DB_INDEX);
    }
    if a != b {
        ctx.shared.keyspace.swap(a as usize, b as usize);
        ctx.propagate(&[b"SWAPDB", &args[1], &args[2]]);
    }
    Ok(Reply::OK)
}

fn object_encoding(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(match ctx.db().peek(&args[2], clock::now_ms()) {
        Some(entry) => Reply::bulk_str(entry.encoding()),
        None => Reply::Null,
    })
}

fn is_lfu(ctx: &Ctx<'_>) -> bool {
    ctx.shared.config().maxmemory_policy.contains("lfu")
}

fn object_freq(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let Some(entry) = ctx.db().peek(&args[2], clock::now_ms()) else {
        return Ok(Reply::Null);
    };
    if !is_lfu(ctx) {
        return Err(error::LFU_NOT_SELECTED);
    }
    Ok(Reply::Integer(entry.frequency(ctx.db()) as i64))
}

fn object_idletime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let Some(entry) = ctx.db().peek(&args[2], clock::now_ms()) else {
        return Ok(Reply::Null);
    };
    if is_lfu(ctx) {
        return Err(error::LFU_SELECTED);
    }
    Ok(Reply::Integer(entry.idle_seconds() as i64))
}

fn object_refcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(match ctx.db().peek(&args[2], clock::now_ms()) {
        None => Reply::Null,
        Some(entry) => Reply::Integer(refcount(entry.value())),
    })
}

/// What Redis reports as a value's reference count: it shares the objects of small
/// integers and reports them as immortal.
pub fn refcount(value: ValueRef<'_>) -> i64 {
    match value {
        ValueRef::Str(s) if parse_i64(s).is_some_and(|n| (0..10000).contains(&n)) => {
            i32::MAX as i64
        }
        _ => 1,
    }
}

/// OBJECT HELP in Redis's words (between its first line and the closing HELP entry).
const OBJECT_HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];
