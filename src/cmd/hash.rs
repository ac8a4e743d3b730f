//! Hash commands (Spring Session keeps a session as a hash of attributes).

use bytes::Bytes;

use super::keys::{parse_cursor, parse_scan_options};
use super::{args, command, error, flags::*, Ctx, Outcome, Spec, ONE_KEY};
use crate::clock;
use crate::longdouble::{self, FloatAddError};
use crate::notify;
use crate::protocol::decode::parse_i64;
use crate::protocol::Reply;
use crate::rand::Rng;
use crate::store::{own, Db, HashObj, Value, ValueRef};

pub const COMMANDS: &[Spec] = &[
    command!("hash", "hset", -4, WRITE | DENYOOM | FAST, ONE_KEY, hset, "2.0.0",
        "Creates or modifies the value of a field in a hash.")
.with_key_specs(super::redis_meta::UPDATES),
    command!("hash", "hsetnx", 4, WRITE | DENYOOM | FAST, ONE_KEY, hsetnx, "2.0.0",
        "Sets the value of a field in a hash only when the field doesn't exist.")
.with_key_specs(super::redis_meta::INSERTS),
    command!("hash", "hmset", -4, WRITE | DENYOOM | FAST, ONE_KEY, hmset, "2.0.0",
        "Sets the values of multiple fields.")
.with_key_specs(super::redis_meta::UPDATES),
    command!("hash", "hget", 3, READONLY | FAST, ONE_KEY, hget, "2.0.0", "Returns the value of a field in a hash.")
.with_key_specs(super::redis_meta::READS),
    command!("hash", "hmget", -3, READONLY | FAST, ONE_KEY, hmget, "2.0.0",
        "Returns the values of all fields in a hash.")
.with_key_specs(super::redis_meta::READS),
    command!("hash", "hgetall", 2, READONLY, ONE_KEY, hgetall, "2.0.0",
        "Returns all fields and values in a hash.")
.with_key_specs(super::redis_meta::READS)
.with_tips(super::redis_meta::NONDETERMINISTIC_ORDER),
    command!("hash", "hdel", -3, WRITE | FAST, ONE_KEY, hdel, "2.0.0",
        "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.")
.with_key_specs(super::redis_meta::REMOVES),
    command!("hash", "hexists", 3, READONLY | FAST, ONE_KEY, hexists, "2.0.0",
        "Determines whether a field exists in a hash.")
.with_key_specs(super::redis_meta::INSPECTS),
    command!("hash", "hlen", 2, READONLY | FAST, ONE_KEY, hlen, "2.0.0", "Returns the number of fields in a hash.")
.with_key_specs(super::redis_meta::INSPECTS),
    command!("hash", "hkeys", 2, READONLY, ONE_KEY, hkeys, "2.0.0", "Returns all fields in a hash.")
.with_key_specs(super::redis_meta::READS)
.with_tips(super::redis_meta::NONDETERMINISTIC_ORDER),
    command!("hash", "hvals", 2, READONLY, ONE_KEY, hvals, "2.0.0", "Returns all values in a hash.")
.with_key_specs(super::redis_meta::READS)
.with_tips(super::redis_meta::NONDETERMINISTIC_ORDER),
    command!("hash", "hstrlen", 3, READONLY | FAST, ONE_KEY, hstrlen, "3.2.0",
        "Returns the length of the value of a field.")
.with_key_specs(super::redis_meta::INSPECTS),
    command!("hash", "hincrby", 4, WRITE | DENYOOM | FAST, ONE_KEY, hincrby, "2.0.0",
        "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.")
.with_key_specs(super::redis_meta::READS_AND_UPDATES),
    command!("hash", "hincrbyfloat", 4, WRITE | DENYOOM | FAST, ONE_KEY, hincrbyfloat, "2.6.0",
        "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.")
.with_key_specs(super::redis_meta::READS_AND_UPDATES),
    command!("hash", "hscan", -3, READONLY, ONE_KEY, hscan, "2.8.0",
        "Iterates over fields and values of a hash.")
.with_key_specs(super::redis_meta::READS)
.with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!("hash", "hrandfield", -2, READONLY, ONE_KEY, hrandfield, "6.2.0",
        "Returns one or more random fields from a hash.")
.with_key_specs(super::redis_meta::READS)
.with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
];

/// Runs `f` on the hash at `key` (`None` if absent); WRONGTYPE for another type.
fn read_hash<R>(db: &Db, key: &[u8], f: impl FnOnce(Option<&HashObj>) -> R) -> Result<R, Reply> {
    match db.lookup_read(key, clock::now_ms()) {
        None => Ok(f(None)),
        Some(entry) => match entry.value() {
            ValueRef::Hash(h) => Ok(f(Some(h))),
            _ => Err(error::WRONGTYPE),
        },
    }
}

/// Runs `f` on the hash at `key`, creating an empty one first if `create`. `f` returns
/// its result and whether it changed the hash; an emptied hash is deleted.
fn write_hash<R>(
    db: &Db,
    key: &Bytes,
    create: bool,
    f: impl FnOnce(&mut HashObj) -> (R, bool),
) -> Result<R, Reply> {
    let now = clock::now_ms();
    let exists = match db.peek(key, now) {
        None => false,
        Some(entry) if matches!(entry.value(), ValueRef::Hash(_)) => true,
        Some(_) => return Err(error::WRONGTYPE),
    };
    if !exists {
        if !create {
            return Ok(f(&mut HashObj::new()).0);
        }
        db.insert(key, Value::Hash(Box::new(HashObj::new())), None);
    }
    let (result, changed, emptied) = {
        let Some(mut entry) = db.get_mut(key, now) else {
            return Ok(f(&mut HashObj::new()).0);
        };
        let Some(Value::Hash(hash)) = entry.object_mut() else {
            return Err(error::WRONGTYPE);
        };
        let (result, changed) = f(hash);
        if changed {
            hash.update_encoding();
        }
        (result, changed, hash.map.is_empty())
    };
    if emptied {
        db.remove(key, now);
    } else if changed {
        db.signal_modified(key);
    }
    Ok(result)
}

fn set_pairs(hash: &mut HashObj, pairs: &[Bytes]) -> usize {
    let mut added = 0;
    for pair in pairs.chunks(2) {
        if hash.map.insert(own(&pair[0]), own(&pair[1])).is_none() {
            added += 1;
        }
    }
    added
}

fn hset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() % 2 != 0 {
        return Err(error::wrong_arity("hset"));
    }
    let reply = write_hash(ctx.db(), &args[1], true, |h| {
        (Reply::Integer(set_pairs(h, &args[2..]) as i64), true)
    })?;
    log_hset(ctx, &args[1], &args[2..]);
    Ok(reply)
}

/// Logs `HSET key field value...`.
fn log_hset(ctx: &mut Ctx<'_>, key: &[u8], pairs: &[Bytes]) {
    let mut record: Vec<&[u8]> = vec![b"HSET", key];
    record.extend(pairs.iter().map(|a| a.as_ref()));
    ctx.propagate(&record);
    ctx.notify(notify::HASH, "hset", key);
}

fn hmset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() % 2 != 0 {
        return Err(error::wrong_arity("hmset"));
    }
    let reply = write_hash(ctx.db(), &args[1], true, |h| {
        set_pairs(h, &args[2..]);
        (Reply::OK, true)
    })?;
    log_hset(ctx, &args[1], &args[2..]);
    Ok(reply)
}

fn hsetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let reply = write_hash(ctx.db(), &args[1], true, |h| {
        if h.map.contains_key(&args[2]) {
            (Reply::Integer(0), false)
        } else {
            h.map.insert(own(&args[2]), own(&args[3]));
            (Reply::Integer(1), true)
        }
    })?;
    if reply == Reply::Integer(1) {
        log_hset(ctx, &args[1], &args[2..4]);
    }
    Ok(reply)
}

fn hget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_hash(ctx.db(), &args[1], |h| {
        Reply::opt_bulk(h.and_then(|h| h.map.get(&args[2]).cloned()))
    })
}

fn hmget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_hash(ctx.db(), &args[1], |h| {
        Reply::Array(
            args[2..]
                .iter()
                .map(|f| Reply::opt_bulk(h.and_then(|h| h.map.get(f).cloned())))
                .collect(),
        )
    })
}

fn hgetall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_hash(ctx.db(), &args[1], |h| {
        Reply::Map(h.map_or(Vec::new(), |h| {
            h.map
                .iter()
                .map(|(f, v)| (Reply::Bulk(f.clone()), Reply::Bulk(v.clone())))
                .collect()
        }))
    })
}

fn hdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let reply = write_hash(ctx.db(), &args[1], false, |h| {
        let removed = args[2..]
            .iter()
            .filter(|f| h.map.remove(*f).is_some())
            .count();
        (Reply::Integer(removed as i64), removed > 0)
    })?;
    if matches!(reply, Reply::Integer(n) if n > 0) {
        let mut record: Vec<&[u8]> = vec![b"HDEL"];
        record.extend(args[1..].iter().map(|a| a.as_ref()));
        ctx.propagate(&record);
        ctx.notify(notify::HASH, "hdel", &args[1]);
        if !ctx.db().exists(&args[1], crate::clock::now_ms()) {
            ctx.notify(notify::GENERIC, "del", &args[1]);
        }
    }
    Ok(reply)
}

fn hexists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_hash(ctx.db(), &args[1], |h| {
        Reply::Integer(h.is_some_and(|h| h.map.contains_key(&args[2])) as i64)
    })
}

fn hlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_hash(ctx.db(), &args[1], |h| {
        Reply::Integer(h.map_or(0, |h| h.map.len()) as i64)
    })
}

fn hkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_hash(ctx.db(), &args[1], |h| {
        Reply::Array(h.map_or(Vec::new(), |h| {
            h.map.keys().cloned().map(Reply::Bulk).collect()
        }))
    })
}

fn hvals(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_hash(ctx.db(), &args[1], |h| {
        Reply::Array(h.map_or(Vec::new(), |h| {
            h.map.values().cloned().map(Reply::Bulk).collect()
        }))
    })
}

fn hstrlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_hash(ctx.db(), &args[1], |h| {
        Reply::Integer(h.and_then(|h| h.map.get(&args[2])).map_or(0, |v| v.len()) as i64)
    })
}

fn hincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let delta = args::int(&args[3])?;
    let n = write_hash(ctx.db(), &args[1], true, |h| {
        let current = match h.map.get(&args[2]) {
            None => 0,
            Some(v) => match parse_i64(v) {
                Some(n) => n,
                None => return (Err(error::HASH_NOT_INTEGER), false),
            },
        };
        match current.checked_add(delta) {
            Some(n) => {
                h.map.insert(own(&args[2]), Bytes::from(n.to_string()));
                (Ok(n), true)
            }
            None => (Err(error::OVERFLOW), false),
        }
    })??;
    ctx.propagate(&[b"HSET", &args[1], &args[2], n.to_string().as_bytes()]);
    ctx.notify(notify::HASH, "hincrby", &args[1]);
    Ok(Reply::Integer(n))
}

fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    // The increment is read as a long double (strtold: hex like 0x10 too), as Redis does.
    match longdouble::add(b"0", &args[3]) {
        Ok(_) => {}
        Err(FloatAddError::NanOrInfinity) => {
            return Err(error::NAN_OR_INFINITY);
        }
        Err(_) => return Err(error::NOT_FLOAT),
    }
    let result = write_hash(ctx.db(), &args[1], true, |h| {
        let current = h
            .map
            .get(&args[2])
            .cloned()
            .unwrap_or_else(|| Bytes::from_static(b"0"));
        match longdouble::add(&current, &args[3]) {
            Ok(result) => {
                h.map.insert(own(&args[2]), result.clone());
                (Ok(result), true)
            }
            Err(FloatAddError::BadValue) => (Err(error::HASH_NOT_FLOAT), false),
            Err(FloatAddError::BadIncrement) => (Err(error::NOT_FLOAT), false),
            Err(FloatAddError::NanOrInfinity) => (Err(error::INCREMENT_NAN_OR_INFINITY), false),
        }
    })??;
    ctx.propagate(&[b"HSET", &args[1], &args[2], &result]);
    ctx.notify(notify::HASH, "hincrbyfloat", &args[1]);
    Ok(Reply::Bulk(result))
}

/// A stable hash of a field or member, the order HSCAN/SSCAN walk a collection in.
pub fn element_hash(element: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    element.hash(&mut hasher);
    hasher.finish()
}

/// One HSCAN/SSCAN page over `elements`: everything at once for a compact collection
/// (as Redis does for listpacks and intsets), else a page in element-hash order.
pub fn scan_collection<T: Clone>(
    elements: impl Iterator<Item = (Bytes, T)>,
    compact: bool,
    cursor: u64,
    count: usize,
) -> (u64, Vec<(Bytes, T)>) {
    let all: Vec<(Bytes, T)> = elements.collect();
    if compact {
        return (0, all);
    }
    let want = count.max(all.len() / 16).max(1);
    let hashed = all.into_iter().map(|(k, v)| (element_hash(&k), (k, v)));
    let (page, resume) = super::scan::page(hashed, cursor, want);
    (resume.unwrap_or(0), page)
}

fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::bulk_str(&cursor.to_string()),
        Reply::Array(items),
    ])
}

fn hscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let cursor = parse_cursor(&args[2])?;
    read_hash(ctx.db(), &args[1], |h| -> Outcome {
        let Some(h) = h else {
            return Ok(scan_reply(0, Vec::new()));
        };
        let options = parse_scan_options(&args[3..], false)?;
        let (next, page) = scan_collection(
            h.map.iter().map(|(k, v)| (k.clone(), v.clone())),
            h.compact,
            cursor,
            options.count,
        );
        let mut items = Vec::new();
        for (field, value) in page {
            if options
                .pattern
                .as_ref()
                .is_none_or(|p| crate::glob::matches(p, &field, false))
            {
                items.push(Reply::Bulk(field));
                items.push(Reply::Bulk(value));
            }
        }
        Ok(scan_reply(next, items))
    })?
}

/// The count argument of HRANDFIELD and SRANDMEMBER: any i64 but i64::MIN.
pub fn parse_signed_count(arg: &[u8]) -> Result<i64, Reply> {
    match args::int(arg)? {
        i64::MIN => Err(error::COUNT_OUT_OF_RANGE),
        // A negative count asks for that many replies, repeats allowed. Redis tries and
        // exhausts memory; Roost refuses counts no reply could hold.
        n if n < -MAX_RANDOM_REPLIES => Err(error::OUT_OF_RANGE),
        n => Ok(n),
    }
}

/// The arguments of HRANDFIELD / ZRANDMEMBER after the key: an optional count, then
/// `flag` (WITHVALUES, WITHSCORES) allowed only after a count. Returns (count, flag).
pub fn parse_random_args(args: &[Bytes], flag: &str) -> Result<(Option<i64>, bool), Reply> {
    let count = args.get(2).map(|arg| parse_signed_count(arg)).transpose()?;
    let with = match args.len() {
        2 | 3 => false,
        4 if args::is(&args[3], flag) => true,
        _ => return Err(error::SYNTAX),
    };
    Ok((count, with))
}

/// The most elements a random-member reply with repeats may carry.
const MAX_RANDOM_REPLIES: i64 = 1 << 27;

/// Picks `count` random items as Redis's random-member commands do: a negative count
/// allows repeats and returns exactly |count| items; a positive one returns distinct
/// items, at most all of them.
pub fn pick_random<T: Clone>(items: &[T], count: i64) -> Vec<T> {
    let mut rng = Rng::from_entropy();
    if items.is_empty() || count == 0 {
        return Vec::new();
    }
    if count < 0 {
        return (0..count.unsigned_abs())
            .map(|_| items[rng.below(items.len())].clone())
            .collect();
    }
    let count = (count as usize).min(items.len());
    let mut pool: Vec<T> = items.to_vec();
    for i in 0..count {
        let j = i + rng.below(pool.len() - i);
        pool.swap(i, j);
    }
    pool.truncate(count);
    pool
}

fn hrandfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let resp3 = ctx.client.proto >= 3;
    let (count, with_values) = parse_random_args(args, "withvalues")?;
    read_hash(ctx.db(), &args[1], |h| {
        let pairs: Vec<(Bytes, Bytes)> = h.map_or(Vec::new(), |h| {
            h.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        });
        let Some(count) = count else {
            return Reply::opt_bulk(pick_random(&pairs, 1).pop().map(|(k, _)| k));
        };
        let picked = pick_random(&pairs, count);
        let items = picked
            .into_iter()
            .flat_map(|(k, v)| {
                if !with_values {
                    vec![Reply::Bulk(k)]
                } else if resp3 {
                    vec![Reply::Array(vec![Reply::Bulk(k), Reply::Bulk(v)])]
                } else {
                    vec![Reply::Bulk(k), Reply::Bulk(v)]
                }
            })
            .collect();
        Reply::Array(items)
    })
}
