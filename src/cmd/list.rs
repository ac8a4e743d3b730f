//! List commands, blocking pops included.
//!
//! A blocking command that finds its keys empty registers its client with
//! `server::blocking` and returns no reply; the connection then awaits `wait_pop`, which
//! retries the pop under the write gate whenever a push lands on one of the keys. What
//! a pop did is logged in its canonical form: a served BLPOP as `LPOP key`, LMPOP as
//! `LPOP key count`, BLMOVE as `LMOVE`, BRPOPLPUSH as `RPOPLPUSH`, as Redis propagates them.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{
    args, command, error, flags::*, Ctx, KeySpec, Outcome, Spec, NO_KEYS, ONE_KEY, TWO_KEYS,
};
use crate::protocol::decode::parse_i64;
use crate::protocol::Reply;
use crate::session::blocking::Awaits;
use crate::session::{Blocked, BlockedPop, Client, Waiter};
use crate::state::Shared;
use crate::store::list::ListObj;
use crate::store::{own, Db, Value, ValueRef};
use crate::{clock, notify};

/// BLPOP/BRPOP: every argument but the first and the last is a key.
const BLOCKING_KEYS: KeySpec = KeySpec {
    first: 1,
    last: -2,
    step: 1,
};

pub const COMMANDS: &[Spec] = &[
    command!("list", "lpush", -3, WRITE | DENYOOM | FAST, ONE_KEY, lpush, "1.0.0",
        "Prepends one or more elements to a list. Creates the key if it doesn't exist.")
.with_key_specs(super::redis_meta::INSERTS),
    command!("list", "rpush", -3, WRITE | DENYOOM | FAST, ONE_KEY, rpush, "1.0.0",
        "Appends one or more elements to a list. Creates the key if it doesn't exist.")
.with_key_specs(super::redis_meta::INSERTS),
    command!("list", "lpushx", -3, WRITE | DENYOOM | FAST, ONE_KEY, lpushx, "2.2.0",
        "Prepends one or more elements to a list only when the list exists.")
.with_key_specs(super::redis_meta::INSERTS),
    command!("list", "rpushx", -3, WRITE | DENYOOM | FAST, ONE_KEY, rpushx, "2.2.0",
        "Appends an element to a list only when the list exists.")
.with_key_specs(super::redis_meta::INSERTS),
    command!("list", "lpop", -2, WRITE | FAST | HANDS_OUT, ONE_KEY, lpop, "1.0.0",
        "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.")
.with_key_specs(super::redis_meta::POPS),
    command!("list", "rpop", -2, WRITE | FAST | HANDS_OUT, ONE_KEY, rpop, "1.0.0",
        "Returns and removes the last elements of a list. Deletes the list if the last element was popped.")
.with_key_specs(super::redis_meta::POPS),
    command!("list", "lrange", 4, READONLY, ONE_KEY, lrange, "1.0.0",
        "Returns a range of elements from a list.")
.with_key_specs(super::redis_meta::READS),
    command!("list", "llen", 2, READONLY | FAST, ONE_KEY, llen, "1.0.0", "Returns the length of a list.")
.with_key_specs(super::redis_meta::INSPECTS),
    command!("list", "lindex", 3, READONLY, ONE_KEY, lindex, "1.0.0",
        "Returns an element from a list by its index.")
.with_key_specs(super::redis_meta::READS),
    command!("list", "lset", 4, WRITE | DENYOOM, ONE_KEY, lset, "1.0.0",
        "Sets the value of an element in a list by its index.")
.with_key_specs(super::redis_meta::UPDATES),
    command!("list", "lrem", 4, WRITE, ONE_KEY, lrem, "1.0.0",
        "Removes elements from a list. Deletes the list if the last element was removed.")
.with_key_specs(super::redis_meta::REMOVES),
    command!("list", "ltrim", 4, WRITE, ONE_KEY, ltrim, "1.0.0",
        "Removes elements from both ends a list. Deletes the list if all elements were trimmed.")
.with_key_specs(super::redis_meta::REMOVES),
    command!("list", "linsert", 5, WRITE | DENYOOM, ONE_KEY, linsert, "2.2.0",
        "Inserts an element before or after another element in a list.")
.with_key_specs(super::redis_meta::INSERTS),
    command!("list", "lpos", -3, READONLY, ONE_KEY, lpos, "6.0.6",
        "Returns the index of matching elements in a list.")
.with_key_specs(super::redis_meta::READS),
    command!("list", "lmove", 5, WRITE | DENYOOM | HANDS_OUT, TWO_KEYS, lmove, "6.2.0",
        "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.")
.with_key_specs(super::redis_meta::MOVES_ELEMENT),
    command!("list", "rpoplpush", 3, WRITE | DENYOOM | HANDS_OUT, TWO_KEYS, rpoplpush, "1.2.0",
        "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.")
.with_key_specs(super::redis_meta::MOVES_ELEMENT),
    command!("list", "lmpop", -4, WRITE | HANDS_OUT, NO_KEYS, lmpop, "7.0.0",
        "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.")
.with_key_specs(super::redis_meta::POPS_COUNTED)
        .with_find_keys(super::counted_keys_at_1),
    command!("list", "blpop", -3, WRITE | NOSCRIPT | BLOCKING | HANDS_OUT, BLOCKING_KEYS, blpop, "2.0.0",
        "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.")
.with_key_specs(super::redis_meta::POPS_ALL_BUT_LAST),
    command!("list", "brpop", -3, WRITE | NOSCRIPT | BLOCKING | HANDS_OUT, BLOCKING_KEYS, brpop, "2.0.0",
        "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.")
.with_key_specs(super::redis_meta::POPS_ALL_BUT_LAST),
    command!("list", "blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING | HANDS_OUT, TWO_KEYS, blmove, "6.2.0",
        "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.")
.with_key_specs(super::redis_meta::MOVES_ELEMENT),
    command!("list", "brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING | HANDS_OUT, TWO_KEYS, brpoplpush, "2.2.0",
        "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.")
.with_key_specs(super::redis_meta::MOVES_ELEMENT),
    command!("list", "blmpop", -5, WRITE | BLOCKING | HANDS_OUT, NO_KEYS, blmpop, "7.0.0",
        "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.")
.with_key_specs(super::redis_meta::POPS_COUNTED_AFTER_TIMEOUT)
        .with_find_keys(super::counted_keys_at_2),
];

/// What a key holds, as far as list commands care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Missing,
    List,
    Other,
}

fn kind(db: &Db, key: &[u8]) -> Kind {
    match db.peek(key, clock::now_ms()) {
        None => Kind::Missing,
        Some(entry) if matches!(entry.value(), ValueRef::List(_)) => Kind::List,
        Some(_) => Kind::Other,
    }
}

/// Runs `f` on the list at `key` (`None` if absent); WRONGTYPE for another type.
fn read_list<R>(db: &Db, key: &[u8], f: impl FnOnce(Option<&ListObj>) -> R) -> Result<R, Reply> {
    match db.lookup_read(key, clock::now_ms()) {
        None => Ok(f(None)),
        Some(entry) => match entry.value() {
            ValueRef::List(l) => Ok(f(Some(l))),
            _ => Err(error::WRONGTYPE),
        },
    }
}

/// Runs `f` on the list at `key`, creating an empty one first if `create`. `f` returns
/// its result and whether it changed the list (WATCH is told). An emptied list is
/// deleted; the second value says so. `None` if the key is absent (and not created);
/// WRONGTYPE for another type.
fn modify<R>(
    db: &Db,
    key: &Bytes,
    create: bool,
    f: impl FnOnce(&mut ListObj) -> (R, bool),
) -> Result<Option<(R, bool)>, Reply> {
    let now = clock::now_ms();
    match db.peek(key, now) {
        None if !create => return Ok(None),
        None => db.insert(key, Value::List(Box::default()), None),
        Some(entry) if !matches!(entry.value(), ValueRef::List(_)) => return Err(error::WRONGTYPE),
        Some(_) => {}
    }
    let (result, changed, emptied) = {
        let Some(mut entry) = db.get_mut(key, now) else {
            return Ok(None);
        };
        let Some(Value::List(list)) = entry.object_mut() else {
            return Err(error::WRONGTYPE);
        };
        let (result, changed) = f(list);
        (result, changed, list.items.is_empty())
    };
    if emptied {
        db.remove(key, now);
    } else if changed {
        db.signal_modified(key);
    }
    Ok(Some((result, emptied)))
}

fn side(left: bool) -> &'static [u8] {
    if left {
        b"LEFT"
    } else {
        b"RIGHT"
    }
}

fn pop_event(left: bool) -> &'static str {
    if left {
        "lpop"
    } else {
        "rpop"
    }
}

fn push_event(left: bool) -> &'static str {
    if left {
        "lpush"
    } else {
        "rpush"
    }
}

/// `LEFT` or `RIGHT`, case-insensitively; a syntax error otherwise.
fn parse_side(arg: &[u8]) -> Result<bool, Reply> {
    if args::is(arg, "left") {
        Ok(true)
    } else if args::is(arg, "right") {
        Ok(false)
    } else {
        Err(error::SYNTAX)
    }
}

fn push_generic(ctx: &mut Ctx<'_>, args: &[Bytes], left: bool, create: bool) -> Outcome {
    let key = &args[1];
    let pushed = modify(ctx.db(), key, create, |l| {
        for value in &args[2..] {
            if left {
                l.items.push_front(own(value));
            } else {
                l.items.push_back(own(value));
            }
        }
        (l.items.len(), true)
    })?;
    let Some((len, _)) = pushed else {
        return Ok(Reply::Integer(0));
    };
    let mut record: Vec<&[u8]> = vec![if left { b"LPUSH" } else { b"RPUSH" }, key];
    record.extend(args[2..].iter().map(|a| a.as_ref()));
    ctx.propagate(&record);
    ctx.notify(notify::LIST, push_event(left), key);
    ctx.shared.blocking.signal(ctx.client.db, key);
    Ok(Reply::Integer(len as i64))
}

fn lpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    push_generic(ctx, args, true, true)
}

fn rpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    push_generic(ctx, args, false, true)
}

fn lpushx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    push_generic(ctx, args, true, false)
}

fn rpushx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    push_generic(ctx, args, false, false)
}

/// Pops up to `count` elements from one end of the list at `key`, with the events
/// Redis emits; `None` if the key is absent. Logging is the caller's.
fn pop_n(
    ctx: &mut Ctx<'_>,
    key: &Bytes,
    left: bool,
    count: usize,
) -> Result<Option<Vec<Bytes>>, Reply> {
    let popped = modify(ctx.db(), key, false, |l| {
        let n = count.min(l.items.len());
        let items: Vec<Bytes> = if left {
            l.items.drain(..n).collect()
        } else {
            let at = l.items.len() - n;
            l.items.drain(at..).rev().collect()
        };
        (items, n > 0)
    })?;
    match popped {
        None => Ok(None),
        Some((items, deleted)) => {
            ctx.notify(notify::LIST, pop_event(left), key);
            if deleted {
                ctx.notify(notify::GENERIC, "del", key);
            }
            Ok(Some(items))
        }
    }
}

fn pop_generic(ctx: &mut Ctx<'_>, args: &[Bytes], left: bool) -> Outcome {
    let name = if left { "lpop" } else { "rpop" };
    if args.len() > 3 {
        return Err(error::wrong_arity(name));
    }
    let count = match args.get(2) {
        None => None,
        Some(arg) => match parse_i64(arg) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return Err(error::NOT_POSITIVE),
        },
    };
    let key = &args[1];
    if count == Some(0) {
        return match kind(ctx.db(), key) {
            Kind::Missing => Ok(Reply::NullArray),
            Kind::Other => Err(error::WRONGTYPE),
            Kind::List => Ok(Reply::Array(Vec::new())),
        };
    }
    match pop_n(ctx, key, left, count.unwrap_or(1))? {
        None if count.is_some() => Ok(Reply::NullArray),
        None => Ok(Reply::Null),
        Some(items) => {
            let command: &[u8] = if left { b"LPOP" } else { b"RPOP" };
            match &args[2..] {
                [count] => ctx.propagate(&[command, key, count]),
                _ => ctx.propagate(&[command, key]),
            }
            Ok(match count {
                Some(_) => Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
                None => Reply::opt_bulk(items.into_iter().next()),
            })
        }
    }
}

fn lpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    pop_generic(ctx, args, true)
}

fn rpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    pop_generic(ctx, args, false)
}

/// The inclusive index range `start..=end` (negative counts from the end) selects in a
/// list of `len`, as LRANGE and LTRIM clamp it; None if it selects nothing.
fn clamp_range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, end as usize))
}

fn lrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let start = args::int(&args[2])?;
    let end = args::int(&args[3])?;
    read_list(ctx.db(), &args[1], |l| {
        let Some(l) = l else {
            return Reply::Array(Vec::new());
        };
        match clamp_range(l.items.len(), start, end) {
            None => Reply::Array(Vec::new()),
            Some((start, end)) => Reply::Array(
                l.items
                    .range(start..=end)
                    .cloned()
                    .map(Reply::Bulk)
                    .collect(),
            ),
        }
    })
}

fn llen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_list(ctx.db(), &args[1], |l| {
        Reply::Integer(l.map_or(0, |l| l.items.len()) as i64)
    })
}

/// The position of `index` (negative counts from the end) in a list of `len`.
fn position(len: usize, index: i64) -> Option<usize> {
    let index = if index < 0 {
        index.checked_add(len as i64)?
    } else {
        index
    };
    (0..len as i64).contains(&index).then_some(index as usize)
}

fn lindex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_list(ctx.db(), &args[1], |l| -> Outcome {
        let Some(l) = l else {
            return Ok(Reply::Null);
        };
        let index = args::int(&args[2])?;
        Ok(Reply::opt_bulk(
            position(l.items.len(), index).map(|i| l.items[i].clone()),
        ))
    })?
}

fn lset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let key = &args[1];
    match kind(ctx.db(), key) {
        Kind::Missing => return Err(error::NO_SUCH_KEY),
        Kind::Other => return Err(error::WRONGTYPE),
        Kind::List => {}
    }
    let index = args::int(&args[2])?;
    let set = modify(ctx.db(), key, false, |l| {
        match position(l.items.len(), index) {
            Some(i) => {
                l.items[i] = own(&args[3]);
                (true, true)
            }
            None => (false, false),
        }
    })?;
    match set {
        None => Err(error::NO_SUCH_KEY),
        Some((false, _)) => Err(error::INDEX_OUT_OF_RANGE),
        Some((true, _)) => {
            ctx.propagate(&[b"LSET", key, &args[2], &args[3]]);
            ctx.notify(notify::LIST, "lset", key);
            Ok(Reply::OK)
        }
    }
}

fn lrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let count = args::int(&args[2])?;
    let key = &args[1];
    let element = &args[3];
    let removed = modify(ctx.db(), key, false, |l| {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs().min(usize::MAX as u64) as usize
        };
        let mut removed = 0;
        if count >= 0 {
            let mut i = 0;
            while i < l.items.len() && removed < limit {
                if l.items[i] == element {
                    l.items.remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        } else {
            let mut i = l.items.len();
            while i > 0 && removed < limit {
                i -= 1;
                if l.items[i] == element {
                    l.items.remove(i);
                    removed += 1;
                }
            }
        }
        (removed, removed > 0)
    })?;
    let Some((removed, deleted)) = removed else {
        return Ok(Reply::Integer(0));
    };
    if removed > 0 {
        ctx.propagate(&[b"LREM", key, &args[2], element]);
        ctx.notify(notify::LIST, "lrem", key);
        if deleted {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    Ok(Reply::Integer(removed as i64))
}

fn ltrim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let start = args::int(&args[2])?;
    let end = args::int(&args[3])?;
    let key = &args[1];
    let trimmed = modify(ctx.db(), key, false, |l| {
        let before = l.items.len();
        match clamp_range(before, start, end) {
            None => l.items.clear(),
            Some((start, end)) => {
                l.items.truncate(end + 1);
                l.items.drain(..start);
            }
        }
        // Redis tells WATCH even when nothing was trimmed.
        (before - l.items.len(), true)
    })?;
    let Some((removed, deleted)) = trimmed else {
        return Ok(Reply::OK);
    };
    ctx.notify(notify::LIST, "ltrim", key);
    if deleted {
        ctx.notify(notify::GENERIC, "del", key);
    }
    if removed > 0 {
        ctx.propagate(&[b"LTRIM", key, &args[2], &args[3]]);
    }
    Ok(Reply::OK)
}

fn linsert(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let after = if args::is(&args[2], "after") {
        true
    } else if args::is(&args[2], "before") {
        false
    } else {
        return Err(error::SYNTAX);
    };
    let key = &args[1];
    let (pivot, element) = (&args[3], &args[4]);
    let inserted = modify(ctx.db(), key, false, |l| {
        match l.items.iter().position(|e| e == pivot) {
            None => (-1, false),
            Some(i) => {
                l.items.insert(if after { i + 1 } else { i }, own(element));
                (l.items.len() as i64, true)
            }
        }
    })?;
    match inserted {
        None => Ok(Reply::Integer(0)),
        Some((-1, _)) => Ok(Reply::Integer(-1)),
        Some((len, _)) => {
            let place: &[u8] = if after { b"AFTER" } else { b"BEFORE" };
            ctx.propagate(&[b"LINSERT", key, place, pivot, element]);
            ctx.notify(notify::LIST, "linsert", key);
            Ok(Reply::Integer(len))
        }
    }
}

fn lpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut rank: i64 = 1;
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let opt = &args[j];
        if args::is(opt, "rank") && more {
            j += 1;
            rank = args::int(&args[j])?;
            if rank == 0 {
                return Err(error::RANK_ZERO);
            }
        } else if args::is(opt, "count") && more {
            j += 1;
            count = match parse_i64(&args[j]) {
                Some(n) if n >= 0 => Some(n),
                _ => return Err(error::COUNT_NEGATIVE),
            };
        } else if args::is(opt, "maxlen") && more {
            j += 1;
            maxlen = match parse_i64(&args[j]) {
                Some(n) if n >= 0 => n,
                _ => return Err(error::MAXLEN_NEGATIVE),
            };
        } else {
            return Err(error::SYNTAX);
        }
        j += 1;
    }
    let element = &args[2];
    read_list(ctx.db(), &args[1], |l| {
        let Some(l) = l else {
            return match count {
                Some(_) => Reply::Array(Vec::new()),
                None => Reply::Null,
            };
        };
        let len = l.items.len();
        // As Redis computes it, i64::MIN negated included.
        let from_tail = rank < 0;
        let rank = if from_tail { rank.wrapping_neg() } else { rank };
        let mut found = Vec::new();
        let mut matches: i64 = 0;
        for index in 0..len {
            if maxlen != 0 && index as i64 >= maxlen {
                break;
            }
            let position = if from_tail { len - 1 - index } else { index };
            if l.items[position] != element {
                continue;
            }
            matches += 1;
            if matches >= rank {
                found.push(position as i64);
                match count {
                    None => break,
                    Some(c) if c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c => break,
                    _ => {}
                }
            }
        }
        match count {
            Some(_) => Reply::Array(found.into_iter().map(Reply::Integer).collect()),
            None => found.first().map_or(Reply::Null, |&i| Reply::Integer(i)),
        }
    })
}

/// Moves one element from an end of `src` to an end of `dst`, with Redis's events;
/// `None` if `src` is absent. Logging is the caller's.
fn move_one(
    ctx: &mut Ctx<'_>,
    src: &Bytes,
    dst: &Bytes,
    from_left: bool,
    to_left: bool,
) -> Result<Option<Bytes>, Reply> {
    match kind(ctx.db(), src) {
        Kind::Missing => return Ok(None),
        Kind::Other => return Err(error::WRONGTYPE),
        Kind::List => {}
    }
    let pop = |l: &mut ListObj| {
        if from_left {
            l.items.pop_front()
        } else {
            l.items.pop_back()
        }
    };
    let push = |l: &mut ListObj, value: Bytes| {
        if to_left {
            l.items.push_front(value);
        } else {
            l.items.push_back(value);
        }
    };
    let mut deleted = false;
    let value = if src == dst {
        // One list: rotated in place, so it is never emptied (and keeps its TTL).
        let rotated = modify(ctx.db(), src, false, |l| {
            let value = pop(l);
            if let Some(v) = &value {
                push(l, v.clone());
            }
            (value, true)
        })?;
        match rotated {
            Some((value, _)) => value,
            None => return Err(Reply::Null),
        }
    } else {
        if kind(ctx.db(), dst) == Kind::Other {
            return Err(error::WRONGTYPE);
        }
        let popped = modify(ctx.db(), src, false, |l| {
            let value = pop(l);
            let changed = value.is_some();
            (value, changed)
        })?;
        let value = match popped {
            Some((value, emptied)) => {
                deleted = emptied;
                value
            }
            None => return Err(Reply::Null),
        };
        if let Some(v) = &value {
            let pushed = modify(ctx.db(), dst, true, |l| {
                push(l, v.clone());
                ((), true)
            })?;
            if pushed.is_none() {
                return Err(Reply::Null);
            }
        }
        value
    };
    if value.is_some() {
        ctx.notify(notify::LIST, push_event(to_left), dst);
        ctx.notify(notify::LIST, pop_event(from_left), src);
        if deleted {
            ctx.notify(notify::GENERIC, "del", src);
        }
        ctx.shared.blocking.signal(ctx.client.db, dst);
    }
    Ok(value)
}

/// Logs a move as `LMOVE src dst LEFT|RIGHT LEFT|RIGHT`, or `RPOPLPUSH src dst`.
fn log_move(
    ctx: &mut Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
    rpoplpush: bool,
) {
    if rpoplpush {
        ctx.propagate(&[b"RPOPLPUSH", src, dst]);
    } else {
        ctx.propagate(&[b"LMOVE", src, dst, side(from_left), side(to_left)]);
    }
}

fn move_reply(
    ctx: &mut Ctx<'_>,
    src: &Bytes,
    dst: &Bytes,
    from_left: bool,
    to_left: bool,
    rpoplpush: bool,
) -> Outcome {
    match move_one(ctx, src, dst, from_left, to_left)? {
        None => Ok(Reply::Null),
        Some(value) => {
            log_move(ctx, src, dst, from_left, to_left, rpoplpush);
            Ok(Reply::Bulk(value))
        }
    }
}

fn lmove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let from_left = parse_side(&args[3])?;
    let to_left = parse_side(&args[4])?;
    move_reply(ctx, &args[1], &args[2], from_left, to_left, false)
}

fn rpoplpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    move_reply(ctx, &args[1], &args[2], false, true, true)
}

/// LMPOP/BLMPOP arguments from `numkeys`: the keys, the side, the count.
fn parse_mpop(args: &[Bytes]) -> Result<(&[Bytes], bool, usize), Reply> {
    let numkeys = match parse_i64(&args[0]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(error::NUMKEYS_NOT_POSITIVE),
    };
    let side_at = match numkeys.checked_add(1) {
        Some(i) if i < args.len() as u64 => i as usize,
        _ => return Err(error::SYNTAX),
    };
    let left = parse_side(&args[side_at])?;
    let count = args::mpop_count(&args[side_at + 1..])?;
    Ok((&args[1..side_at], left, count))
}

/// Pops from the first non-empty list of `keys`: `[key, [elements]]`, logged as
/// `LPOP key n`; None if every key is absent.
fn mpop(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    left: bool,
    count: usize,
) -> Result<Option<Reply>, Reply> {
    for key in keys {
        match kind(ctx.db(), key) {
            Kind::Missing => continue,
            Kind::Other => return Err(error::WRONGTYPE),
            Kind::List => {}
        }
        match pop_n(ctx, key, left, count)? {
            None => continue,
            Some(items) => {
                let command: &[u8] = if left { b"LPOP" } else { b"RPOP" };
                ctx.propagate(&[command, key, items.len().to_string().as_bytes()]);
                return Ok(Some(Reply::Array(vec![
                    Reply::Bulk(key.clone()),
                    Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
                ])));
            }
        }
    }
    Ok(None)
}

fn lmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (keys, left, count) = parse_mpop(&args[1..])?;
    Ok(mpop(ctx, keys, left, count)?.unwrap_or(Reply::NullArray))
}

/// A blocking command's timeout: None to wait forever, with Redis's errors.
pub(super) fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, Reply> {
    match crate::longdouble::timeout_ms(arg) {
        None => Err(error::TIMEOUT_NOT_FLOAT),
        Some(ms) if ms < 0 => Err(error::TIMEOUT_NEGATIVE),
        Some(0) => Ok(None),
        Some(ms) => Ok(Some(Duration::from_millis(ms as u64))),
    }
}

/// Whether this command may block: not inside MULTI/EXEC or a script, nor when applying
/// a log or a primary's stream (there it behaves as its non-blocking form). Also WAIT's
/// and WAITAOF's test.
pub(super) fn can_block(ctx: &Ctx<'_>) -> bool {
    !(ctx.client.in_multi() || ctx.client.in_exec || ctx.client.from_primary)
}

/// Blocks the client on `keys`: registered now, under the gate, so no push is missed.
pub(super) fn block(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    op: BlockedPop,
    timeout: Option<Duration>,
) -> Reply {
    let db = ctx.client.db;
    let keys: Vec<Bytes> = keys.iter().map(own).collect();
    let awaits = match &op {
        BlockedPop::ZPop { .. } => Awaits::SortedSet,
        BlockedPop::Stream { args } => Awaits::Stream {
            group: args
                .first()
                .is_some_and(|name| name.eq_ignore_ascii_case(b"xreadgroup")),
        },
        _ => Awaits::List,
    };
    let waiter = ctx.shared.blocking.register(db, &keys, awaits);
    ctx.client.blocked = Some(Blocked::List {
        db,
        keys,
        op,
        deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
        waiter,
    });
    Reply::NoReply
}

fn blocking_pop(ctx: &mut Ctx<'_>, args: &[Bytes], left: bool) -> Outcome {
    let timeout = parse_timeout(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    if let Some(reply) = serve(ctx, keys, &BlockedPop::One { left }, None)? {
        return Ok(reply);
    }
    if !can_block(ctx) {
        return Ok(Reply::NullArray);
    }
    Ok(block(ctx, keys, BlockedPop::One { left }, timeout))
}

fn blpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    blocking_pop(ctx, args, true)
}

fn brpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    blocking_pop(ctx, args, false)
}

fn blmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (keys, left, count) = parse_mpop(&args[2..])?;
    let timeout = parse_timeout(&args[1])?;
    let op = BlockedPop::Many { left, count };
    if let Some(reply) = serve(ctx, keys, &op, None)? {
        return Ok(reply);
    }
    if !can_block(ctx) {
        return Ok(Reply::NullArray);
    }
    Ok(block(ctx, keys, op, timeout))
}

fn blocking_move(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    from_left: bool,
    to_left: bool,
    rpoplpush: bool,
    timeout: &[u8],
) -> Outcome {
    let timeout = parse_timeout(timeout)?;
    let (src, dst) = (&args[1], &args[2]);
    match kind(ctx.db(), src) {
        Kind::Other => Err(error::WRONGTYPE),
        Kind::List => move_reply(ctx, src, dst, from_left, to_left, rpoplpush),
        Kind::Missing if !can_block(ctx) => Ok(Reply::Null),
        Kind::Missing => {
            let op = BlockedPop::Move {
                dst: own(dst),
                from_left,
                to_left,
                rpoplpush,
            };
            Ok(block(ctx, std::slice::from_ref(src), op, timeout))
        }
    }
}

fn blmove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let from_left = parse_side(&args[3])?;
    let to_left = parse_side(&args[4])?;
    blocking_move(ctx, args, from_left, to_left, false, &args[5])
}

fn brpoplpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    blocking_move(ctx, args, false, true, true, &args[3])
}

/// Serves `op` from the first of `keys` holding a list, logging what it did. A blocked
/// client (`waiter`) takes only from keys whose queue it heads. None when nothing could
/// be popped; WRONGTYPE when a key holds another type (for a blocked client, only a
/// BLMOVE destination: its source keys are skipped unless they hold lists).
fn serve(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    op: &BlockedPop,
    waiter: Option<u64>,
) -> Result<Option<Reply>, Reply> {
    if let BlockedPop::ZPop { max, count } = op {
        return super::zset_algebra::serve(ctx, keys, *max, *count, waiter);
    }
    if let BlockedPop::Stream { args } = op {
        return super::stream::serve_blocked(ctx, args);
    }
    for key in keys {
        match kind(ctx.db(), key) {
            Kind::Missing => continue,
            Kind::Other if waiter.is_some() => continue,
            Kind::Other => return Err(error::WRONGTYPE),
            Kind::List => {}
        }
        if let Some(id) = waiter {
            if !ctx.shared.blocking.is_first(ctx.client.db, key, id) {
                continue;
            }
        }
        match op {
            BlockedPop::One { left } => match pop_n(ctx, key, *left, 1)? {
                None => continue,
                Some(items) => {
                    let command: &[u8] = if *left { b"LPOP" } else { b"RPOP" };
                    ctx.propagate(&[command, key]);
                    let mut reply = vec![Reply::Bulk(key.clone())];
                    reply.extend(items.into_iter().map(Reply::Bulk));
                    return Ok(Some(Reply::Array(reply)));
                }
            },
            BlockedPop::Many { left, count } => {
                if let Some(reply) = mpop(ctx, std::slice::from_ref(key), *left, *count)? {
                    return Ok(Some(reply));
                }
            }
            BlockedPop::ZPop { .. } | BlockedPop::Stream { .. } => unreachable!("served above"),
            BlockedPop::Move {
                dst,
                from_left,
                to_left,
                rpoplpush,
            } => match move_one(ctx, key, dst, *from_left, *to_left)? {
                None => continue,
                Some(value) => {
                    log_move(ctx, key, dst, *from_left, *to_left, *rpoplpush);
                    return Ok(Some(Reply::Bulk(value)));
                }
            },
        }
    }
    Ok(None)
}

/// Leaves the queues of a blocked client's keys however its wait ends (served, timed
/// out, or dropped when the client is killed).
struct Leave<'a> {
    shared: &'a Shared,
    db: usize,
    keys: &'a [Bytes],
    id: u64,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.shared.blocking.unregister(self.db, self.keys, self.id);
    }
}

/// Waits until a blocked list command can answer; called by the connection. Each time
/// a push wakes it, the pop is retried under the write gate.
pub async fn wait_pop(
    shared: &Shared,
    client: &mut Client,
    db: usize,
    keys: Vec<Bytes>,
    op: BlockedPop,
    deadline: Option<Instant>,
    waiter: Waiter,
) -> Reply {
    let leave = Leave {
        shared,
        db,
        keys: &keys,
        id: waiter.id,
    };
    let info = client.info.clone();
    let _unblock = super::flow::UnblockGuard(&info);
    loop {
        let data = async {
            match deadline {
                Some(deadline) => {
                    let deadline = tokio::time::Instant::from_std(deadline);
                    tokio::time::timeout_at(deadline, waiter.notify.notified())
                        .await
                        .is_ok()
                }
                None => {
                    waiter.notify.notified().await;
                    true
                }
            }
        };
        let woken = tokio::select! {
            woken = data => woken,
            // CLIENT UNBLOCK: as if the timeout had passed, or the UNBLOCKED error.
            _ = info.unblocked.notified() => {
                match super::flow::unblocked_reply(&info, || Reply::NullArray) {
                    Some(reply) => return reply,
                    None => continue,
                }
            }
        };
        if !woken {
            return Reply::NullArray;
        }
        // A push made by a script wakes this client while the script still holds the
        // gate: wait for the script here, not on the gate (which would hold a thread).
        let _gate = loop {
            shared.scripts.running.done().await;
            if let Some(gate) = shared.keyspace.try_write_gate() {
                break gate;
            }
            if !shared.scripts.running.is_running() {
                std::thread::yield_now();
            }
        };
        if shared.is_shutting_down() {
            return Reply::NullArray;
        }
        // Checked under the gate, which applying the primary's stream takes too: on a
        // read-only replica a pop would change data behind the stream's back.
        if shared.repl.is_replica() && shared.config().replica_read_only {
            return error::UNBLOCKED_BY_DEMOTION;
        }
        let mut ctx = Ctx {
            shared,
            client: &mut *client,
        };
        if let Some(reply) = serve(&mut ctx, &keys, &op, Some(waiter.id)).unwrap_or_else(Some) {
            // Out of the queues before the gate opens: the next client may go.
            drop(leave);
            return reply;
        }
    }
}
