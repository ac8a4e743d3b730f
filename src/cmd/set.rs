//! Set commands (Spring Session indexes sessions by principal in sets).

use std::collections::HashSet;

use bytes::Bytes;

use super::hash::{parse_signed_count, pick_random, scan_collection};
use super::keys::{parse_cursor, parse_scan_options};
use super::{command, error, flags::*, Ctx, Outcome, Spec, ALL_KEYS, NO_KEYS, ONE_KEY, TWO_KEYS};
use crate::clock;
use crate::notify;
use crate::protocol::Reply;
use crate::store::{own, Db, SetObj, Value, ValueRef};

pub const COMMANDS: &[Spec] = &[
    command!("set", "sadd", -3, WRITE | DENYOOM | FAST, ONE_KEY, sadd, "1.0.0",
        "Adds one or more members to a set. Creates the key if it doesn't exist.")
.with_key_specs(super::redis_meta::INSERTS),
    command!("set", "srem", -3, WRITE | FAST, ONE_KEY, srem, "1.0.0",
        "Removes one or more members from a set. Deletes the set if the last member was removed.")
.with_key_specs(super::redis_meta::REMOVES),
    command!("set", "smembers", 2, READONLY, ONE_KEY, smembers, "1.0.0", "Returns all members of a set.")
.with_key_specs(super::redis_meta::READS)
.with_tips(super::redis_meta::NONDETERMINISTIC_ORDER),
    command!("set", "sismember", 3, READONLY | FAST, ONE_KEY, sismember, "1.0.0",
        "Determines whether a member belongs to a set.")
.with_key_specs(super::redis_meta::INSPECTS),
    command!("set", "smismember", -3, READONLY | FAST, ONE_KEY, smismember, "6.2.0",
        "Determines whether multiple members belong to a set.")
.with_key_specs(super::redis_meta::READS),
    command!("set", "scard", 2, READONLY | FAST, ONE_KEY, scard, "1.0.0",
        "Returns the number of members in a set.")
.with_key_specs(super::redis_meta::INSPECTS),
    command!("set", "sscan", -3, READONLY, ONE_KEY, sscan, "2.8.0", "Iterates over members of a set.")
.with_key_specs(super::redis_meta::READS)
.with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!("set", "spop", -2, WRITE | FAST | HANDS_OUT, ONE_KEY, spop, "1.0.0",
        "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.")
.with_key_specs(super::redis_meta::POPS)
.with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!("set", "srandmember", -2, READONLY, ONE_KEY, srandmember, "1.0.0",
        "Get one or multiple random members from a set")
.with_key_specs(super::redis_meta::READS)
.with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!("set", "sinter", -2, READONLY, ALL_KEYS, sinter, "1.0.0",
        "Returns the intersect of multiple sets.")
.with_key_specs(super::redis_meta::READS_ALL)
.with_tips(super::redis_meta::NONDETERMINISTIC_ORDER),
    command!("set", "sunion", -2, READONLY, ALL_KEYS, sunion, "1.0.0",
        "Returns the union of multiple sets.")
.with_key_specs(super::redis_meta::READS_ALL)
.with_tips(super::redis_meta::NONDETERMINISTIC_ORDER),
    command!("set", "sdiff", -2, READONLY, ALL_KEYS, sdiff, "1.0.0",
        "Returns the difference of multiple sets.")
.with_key_specs(super::redis_meta::READS_ALL)
.with_tips(super::redis_meta::NONDETERMINISTIC_ORDER),
    command!("set", "smove", 4, WRITE | FAST, TWO_KEYS, smove, "1.0.0",
        "Moves a member from one set to another.")
.with_key_specs(super::redis_meta::MOVES_ELEMENT),
    command!("set", "sinterstore", -3, WRITE | DENYOOM, ALL_KEYS, sinterstore, "1.0.0",
        "Stores the intersect of multiple sets in a key.")
.with_key_specs(super::redis_meta::SINTERSTORE),
    command!("set", "sunionstore", -3, WRITE | DENYOOM, ALL_KEYS, sunionstore, "1.0.0",
        "Stores the union of multiple sets in a key.")
.with_key_specs(super::redis_meta::STORES_FROM_ALL),
    command!("set", "sdiffstore", -3, WRITE | DENYOOM, ALL_KEYS, sdiffstore, "1.0.0",
        "Stores the difference of multiple sets in a key.")
.with_key_specs(super::redis_meta::STORES_FROM_ALL),
    command!("set", "sintercard", -3, READONLY, NO_KEYS, sintercard, "7.0.0",
        "Returns the number of members of the intersect of multiple sets.")
.with_key_specs(super::redis_meta::READS_COUNTED)
.with_find_keys(super::counted_keys_at_1),
];

/// Runs `f` on the set at `key` (`None` if absent); WRONGTYPE for another type.
fn read_set<R>(db: &Db, key: &[u8], f: impl FnOnce(Option<&SetObj>) -> R) -> Result<R, Reply> {
    match db.lookup_read(key, clock::now_ms()) {
        None => Ok(f(None)),
        Some(entry) => match entry.value() {
            ValueRef::Set(s) => Ok(f(Some(s))),
            _ => Err(error::WRONGTYPE),
        },
    }
}

/// Runs `f` on the set at `key`, creating it first if `create`. `f` returns its result
/// and whether it changed the set; an emptied set is deleted.
fn write_set<R>(
    db: &Db,
    key: &Bytes,
    create: bool,
    f: impl FnOnce(&mut SetObj) -> (R, bool),
) -> Result<R, Reply> {
    let now = clock::now_ms();
    match db.peek(key, now) {
        None if !create => return Ok(f(&mut SetObj::new()).0),
        None => db.insert(key, Value::Set(Box::new(SetObj::new())), None),
        Some(entry) if !matches!(entry.value(), ValueRef::Set(_)) => return Err(error::WRONGTYPE),
        Some(_) => {}
    }
    let (result, changed, emptied) = {
        let Some(mut entry) = db.get_mut(key, now) else {
            return Ok(f(&mut SetObj::new()).0);
        };
        let Some(Value::Set(set)) = entry.object_mut() else {
            return Err(error::WRONGTYPE);
        };
        let (result, changed) = f(set);
        if changed {
            set.update_encoding();
        }
        (result, changed, set.members.is_empty())
    };
    if emptied {
        db.remove(key, now);
    } else if changed {
        db.signal_modified(key);
    }
    Ok(result)
}

fn members_reply(members: impl Iterator<Item = Bytes>) -> Reply {
    Reply::Set(members.map(Reply::Bulk).collect())
}

fn sadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let reply = write_set(ctx.db(), &args[1], true, |s| {
        let added = args[2..]
            .iter()
            .filter(|m| s.members.insert(own(m)))
            .count();
        (Reply::Integer(added as i64), added > 0)
    })?;
    if matches!(reply, Reply::Integer(n) if n > 0) {
        log_members(ctx, b"SADD", &args[1], &args[2..], "sadd");
    }
    Ok(reply)
}

/// Logs `SADD`/`SREM key member...` and notifies `event` (and `del` if the set is gone).
fn log_members(ctx: &mut Ctx<'_>, command: &[u8], key: &[u8], members: &[Bytes], event: &str) {
    let mut record: Vec<&[u8]> = vec![command, key];
    record.extend(members.iter().map(|m| m.as_ref()));
    ctx.propagate(&record);
    ctx.notify(notify::SET, event, key);
    if !ctx.db().exists(key, clock::now_ms()) {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

fn srem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let reply = write_set(ctx.db(), &args[1], false, |s| {
        let removed = args[2..].iter().filter(|m| s.members.remove(*m)).count();
        (Reply::Integer(removed as i64), removed > 0)
    })?;
    if matches!(reply, Reply::Integer(n) if n > 0) {
        log_members(ctx, b"SREM", &args[1], &args[2..], "srem");
    }
    Ok(reply)
}

fn smembers(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_set(ctx.db(), &args[1], |s| {
        members_reply(s.into_iter().flat_map(|s| s.members.iter().cloned()))
    })
}

fn sismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_set(ctx.db(), &args[1], |s| {
        Reply::Integer(s.is_some_and(|s| s.members.contains(&args[2])) as i64)
    })
}

fn smismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_set(ctx.db(), &args[1], |s| {
        Reply::Array(
            args[2..]
                .iter()
                .map(|m| Reply::Integer(s.is_some_and(|s| s.members.contains(m)) as i64))
                .collect(),
        )
    })
}

fn scard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_set(ctx.db(), &args[1], |s| {
        Reply::Integer(s.map_or(0, |s| s.members.len()) as i64)
    })
}

fn sscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let cursor = parse_cursor(&args[2])?;
    read_set(ctx.db(), &args[1], |s| -> Outcome {
        let empty = Reply::Array(vec![Reply::bulk_str("0"), Reply::Array(Vec::new())]);
        let Some(s) = s else {
            return Ok(empty);
        };
        let options = parse_scan_options(&args[3..], false)?;
        let (next, page) = scan_collection(
            s.members.iter().map(|m| (m.clone(), ())),
            s.compact,
            cursor,
            options.count,
        );
        let items = page
            .into_iter()
            .filter(|(m, _)| {
                options
                    .pattern
                    .as_ref()
                    .is_none_or(|p| crate::glob::matches(p, m, false))
            })
            .map(|(m, _)| Reply::Bulk(m))
            .collect();
        Ok(Reply::Array(vec![
            Reply::bulk_str(&next.to_string()),
            Reply::Array(items),
        ]))
    })?
}

fn spop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let count = match args.len() {
        2 => None,
        3 => match crate::protocol::decode::parse_i64(&args[2]) {
            Some(n) if n >= 0 => Some(n),
            _ => return Err(error::NOT_POSITIVE),
        },
        _ => return Err(error::SYNTAX),
    };
    let reply = write_set(ctx.db(), &args[1], false, |s| {
        let members: Vec<Bytes> = s.members.iter().cloned().collect();
        let picked = pick_random(&members, count.unwrap_or(1));
        for m in &picked {
            s.members.remove(m);
        }
        let changed = !picked.is_empty();
        let reply = match count {
            None => Reply::opt_bulk(picked.into_iter().next()),
            Some(_) => members_reply(picked.into_iter()),
        };
        (reply, changed)
    })?;
    let popped: Vec<Bytes> = match &reply {
        Reply::Bulk(m) => vec![m.clone()],
        Reply::Set(items) => items
            .iter()
            .filter_map(|i| match i {
                Reply::Bulk(m) => Some(m.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if !popped.is_empty() {
        log_members(ctx, b"SREM", &args[1], &popped, "spop");
    }
    Ok(reply)
}

fn srandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let count = match args.len() {
        2 => None,
        3 => Some(parse_signed_count(&args[2])?),
        _ => return Err(error::SYNTAX),
    };
    read_set(ctx.db(), &args[1], |s| {
        let members: Vec<Bytes> = s.map_or(Vec::new(), |s| s.members.iter().cloned().collect());
        match count {
            None => Reply::opt_bulk(pick_random(&members, 1).pop()),
            Some(n) => Reply::Array(
                pick_random(&members, n)
                    .into_iter()
                    .map(Reply::Bulk)
                    .collect(),
            ),
        }
    })
}

/// The sets named by `keys` (empty for a missing key); WRONGTYPE if any is not a set.
fn load_sets(db: &Db, keys: &[Bytes]) -> Result<Vec<HashSet<Bytes>>, Reply> {
    let now = clock::now_ms();
    keys.iter()
        .map(|key| match db.lookup_read(key, now) {
            None => Ok(HashSet::new()),
            Some(entry) => match entry.value() {
                ValueRef::Set(s) => Ok(s.members.clone()),
                _ => Err(error::WRONGTYPE),
            },
        })
        .collect()
}

fn intersection(mut sets: Vec<HashSet<Bytes>>) -> HashSet<Bytes> {
    sets.sort_by_key(|s| s.len());
    let (first, rest) = sets.split_first().expect("arity guarantees one key");
    first
        .iter()
        .filter(|m| rest.iter().all(|s| s.contains(*m)))
        .cloned()
        .collect()
}

fn union(sets: Vec<HashSet<Bytes>>) -> HashSet<Bytes> {
    sets.into_iter().flatten().collect()
}

fn difference(sets: Vec<HashSet<Bytes>>) -> HashSet<Bytes> {
    let (first, rest) = sets.split_first().expect("arity guarantees one key");
    first
        .iter()
        .filter(|m| !rest.iter().any(|s| s.contains(*m)))
        .cloned()
        .collect()
}

fn sinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let sets = load_sets(ctx.db(), &args[1..])?;
    Ok(members_reply(intersection(sets).into_iter()))
}

fn sunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let sets = load_sets(ctx.db(), &args[1..])?;
    Ok(members_reply(union(sets).into_iter()))
}

fn sdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let sets = load_sets(ctx.db(), &args[1..])?;
    Ok(members_reply(difference(sets).into_iter()))
}

/// SINTERSTORE, SUNIONSTORE, SDIFFSTORE: `combine` the sets of `args[2..]` into
/// `args[1]`, whatever it held.
fn store_combined(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    combine: fn(Vec<HashSet<Bytes>>) -> HashSet<Bytes>,
    event: &str,
) -> Outcome {
    let sets = load_sets(ctx.db(), &args[2..])?;
    let mut result = SetObj {
        members: combine(sets),
        compact: true,
    };
    result.update_encoding();
    let len = result.members.len();
    let value = (len > 0).then(|| Value::Set(Box::new(result)));
    store_result(ctx, args, value, notify::SET, event);
    Ok(Reply::Integer(len as i64))
}

/// Stores what a *STORE command computed at `args[1]`, or deletes the key when the
/// result is empty (`None`), as Redis does: the event `event` (of `class`) for a store,
/// `del` for a deletion, and the command itself logged, since it replays to the same
/// result from the same sources. An empty result where no key was changes nothing.
pub(super) fn store_result(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    value: Option<Value>,
    class: u16,
    event: &str,
) {
    let dst = &args[1];
    match value {
        Some(value) => {
            ctx.db().insert(dst, value, None);
            ctx.notify(class, event, dst);
        }
        None => {
            // As Redis: the destination goes as it is, past its TTL or not.
            if ctx.db().delete(dst).is_none() {
                return;
            }
            ctx.notify(notify::GENERIC, "del", dst);
        }
    }
    let name = args[0].to_ascii_uppercase();
    let mut record: Vec<&[u8]> = vec![&name];
    record.extend(args[1..].iter().map(|a| a.as_ref()));
    ctx.propagate(&record);
}

fn sinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    store_combined(ctx, args, intersection, "sinterstore")
}

fn sunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    store_combined(ctx, args, union, "sunionstore")
}

fn sdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    store_combined(ctx, args, difference, "sdiffstore")
}

/// SINTERCARD numkeys key... [LIMIT limit]: the intersection's size, counted up to
/// `limit` (0: all).
fn sintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let numkeys = match crate::protocol::decode::parse_i64(&args[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(error::NUMKEYS_NOT_POSITIVE),
    };
    if numkeys > (args.len() - 2) as u64 {
        return Err(error::NUMKEYS_TOO_MANY);
    }
    let keys_end = 2 + numkeys as usize;
    let mut limit = 0u64;
    let mut j = keys_end;
    while j < args.len() {
        if super::args::is(&args[j], "limit") && j + 1 < args.len() {
            j += 1;
            limit = match crate::protocol::decode::parse_i64(&args[j]) {
                Some(n) if n >= 0 => n as u64,
                _ => return Err(error::LIMIT_NEGATIVE),
            };
        } else {
            return Err(error::SYNTAX);
        }
        j += 1;
    }
    let mut sets = load_sets(ctx.db(), &args[2..keys_end])?;
    sets.sort_by_key(|s| s.len());
    let (first, rest) = sets.split_first().expect("numkeys is at least 1");
    let mut count = 0u64;
    for m in first {
        if rest.iter().all(|s| s.contains(m)) {
            count += 1;
            if limit > 0 && count >= limit {
                break;
            }
        }
    }
    Ok(Reply::Integer(count as i64))
}

fn smove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let db = ctx.db();
    let now = clock::now_ms();
    let (source, destination, member) = (&args[1], &args[2], &args[3]);
    let is_set = |key: &[u8]| {
        db.peek(key, now)
            .map(|e| matches!(e.value(), ValueRef::Set(_)))
    };
    match (is_set(source), is_set(destination)) {
        (None, _) => return Ok(Reply::Integer(0)),
        (Some(false), _) | (_, Some(false)) => return Err(error::WRONGTYPE),
        _ => {}
    }
    if source == destination {
        return read_set(db, source, |s| {
            Reply::Integer(s.is_some_and(|s| s.members.contains(member)) as i64)
        });
    }
    let removed = write_set(db, source, false, |s| {
        let removed = s.members.remove(member);
        (Reply::Integer(removed as i64), removed)
    })?;
    if removed != Reply::Integer(1) {
        return Ok(removed);
    }
    // A member already in the destination leaves it unmodified: WATCH is not signalled.
    let mut added = false;
    let reply = write_set(db, destination, true, |s| {
        added = s.members.insert(own(member));
        (Reply::Integer(1), added)
    });
    ctx.propagate(&[b"SMOVE", source, destination, member]);
    ctx.notify(notify::SET, "srem", source);
    if !ctx.db().exists(source, now) {
        ctx.notify(notify::GENERIC, "del", source);
    }
    if added {
        ctx.notify(notify::SET, "sadd", destination);
    }
    reply
}
