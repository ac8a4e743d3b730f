//! Sorted-set commands.

use bytes::Bytes;

use super::hash::{parse_random_args, pick_random, scan_collection};
use super::keys::{parse_cursor, parse_scan_options};
use super::{args, command, error, flags::*, Ctx, Outcome, Spec, ONE_KEY, TWO_KEYS};
use crate::clock;
use crate::notify;
use crate::protocol::reply::format_double;
use crate::protocol::Reply;
use crate::store::zset::{
    AddFlags, AddOutcome, LexBound, LexRange, ScoreBound, ScoreRange, ZSetObj,
};
use crate::store::{Db, Value, ValueRef};

pub const COMMANDS: &[Spec] = &[
    command!("sorted-set", "zadd", -4, WRITE | DENYOOM | FAST, ONE_KEY, zadd, "1.2.0",
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.")
.with_key_specs(super::redis_meta::UPDATES),
    command!("sorted-set", "zincrby", 4, WRITE | DENYOOM | FAST, ONE_KEY, zincrby, "1.2.0",
        "Increments the score of a member in a sorted set.")
.with_key_specs(super::redis_meta::READS_AND_UPDATES),
    command!("sorted-set", "zrem", -3, WRITE | FAST, ONE_KEY, zrem, "1.2.0",
        "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.")
.with_key_specs(super::redis_meta::REMOVES),
    command!("sorted-set", "zcard", 2, READONLY | FAST, ONE_KEY, zcard, "1.2.0",
        "Returns the number of members in a sorted set.")
.with_key_specs(super::redis_meta::INSPECTS),
    command!("sorted-set", "zscore", 3, READONLY | FAST, ONE_KEY, zscore, "1.2.0",
        "Returns the score of a member in a sorted set.")
.with_key_specs(super::redis_meta::READS),
    command!("sorted-set", "zmscore", -3, READONLY | FAST, ONE_KEY, zmscore, "6.2.0",
        "Returns the score of one or more members in a sorted set.")
.with_key_specs(super::redis_meta::READS),
    command!("sorted-set", "zcount", 4, READONLY | FAST, ONE_KEY, zcount, "2.0.0",
        "Returns the count of members in a sorted set that have scores within a range.")
.with_key_specs(super::redis_meta::READS),
    command!("sorted-set", "zlexcount", 4, READONLY | FAST, ONE_KEY, zlexcount, "2.8.9",
        "Returns the number of members in a sorted set within a lexicographical range.")
.with_key_specs(super::redis_meta::READS),
    command!("sorted-set", "zrank", -3, READONLY | FAST, ONE_KEY, zrank, "2.0.0",
        "Returns the index of a member in a sorted set ordered by ascending scores.")
.with_key_specs(super::redis_meta::READS),
    command!("sorted-set", "zrevrank", -3, READONLY | FAST, ONE_KEY, zrevrank, "2.0.0",
        "Returns the index of a member in a sorted set ordered by descending scores.")
.with_key_specs(super::redis_meta::READS),
    command!("sorted-set", "zrange", -4, READONLY, ONE_KEY, zrange, "1.2.0",
        "Returns members in a sorted set within a range of indexes.")
.with_key_specs(super::redis_meta::READS),
    command!("sorted-set", "zrevrange", -4, READONLY, ONE_KEY, zrevrange, "1.2.0",
        "Returns members in a sorted set within a range of indexes in reverse order.")
.with_key_specs(super::redis_meta::READS),
    command!("sorted-set", "zrangebyscore", -4, READONLY, ONE_KEY, zrangebyscore, "1.0.5",
        "Returns members in a sorted set within a range of scores.")
.with_key_specs(super::redis_meta::READS),
    command!("sorted-set", "zrevrangebyscore", -4, READONLY, ONE_KEY, zrevrangebyscore, "2.2.0",
        "Returns members in a sorted set within a range of scores in reverse order.")
.with_key_specs(super::redis_meta::READS),
    command!("sorted-set", "zrangebylex", -4, READONLY, ONE_KEY, zrangebylex, "2.8.9",
        "Returns members in a sorted set within a lexicographical range.")
.with_key_specs(super::redis_meta::READS),
    command!("sorted-set", "zrevrangebylex", -4, READONLY, ONE_KEY, zrevrangebylex, "2.8.9",
        "Returns members in a sorted set within a lexicographical range in reverse order.")
.with_key_specs(super::redis_meta::READS),
    command!("sorted-set", "zremrangebyscore", 4, WRITE, ONE_KEY, zremrangebyscore, "1.2.0",
        "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.")
.with_key_specs(super::redis_meta::REMOVES),
    command!("sorted-set", "zremrangebyrank", 4, WRITE, ONE_KEY, zremrangebyrank, "2.0.0",
        "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.")
.with_key_specs(super::redis_meta::REMOVES),
    command!("sorted-set", "zremrangebylex", 4, WRITE, ONE_KEY, zremrangebylex, "2.8.9",
        "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.")
.with_key_specs(super::redis_meta::REMOVES),
    command!("sorted-set", "zpopmin", -2, WRITE | FAST | HANDS_OUT, ONE_KEY, zpopmin, "5.0.0",
        "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.")
.with_key_specs(super::redis_meta::POPS),
    command!("sorted-set", "zpopmax", -2, WRITE | FAST | HANDS_OUT, ONE_KEY, zpopmax, "5.0.0",
        "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.")
.with_key_specs(super::redis_meta::POPS),
    command!("sorted-set", "zrandmember", -2, READONLY, ONE_KEY, zrandmember, "6.2.0",
        "Returns one or more random members from a sorted set.")
.with_key_specs(super::redis_meta::READS)
.with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!("sorted-set", "zrangestore", -5, WRITE | DENYOOM, TWO_KEYS, zrangestore, "6.2.0",
        "Stores a range of members from sorted set in a key.")
.with_key_specs(super::redis_meta::STORES_FROM_SECOND),
    command!("sorted-set", "zscan", -3, READONLY, ONE_KEY, zscan, "2.8.0",
        "Iterates over members and scores of a sorted set.")
.with_key_specs(super::redis_meta::READS)
.with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
];

// ---------------------------------------------------------------------------------------
// Access
// ---------------------------------------------------------------------------------------

/// Runs `f` on the sorted set at `key` (`None` if absent); WRONGTYPE for another type.
pub(super) fn read_zset<R>(
    db: &Db,
    key: &[u8],
    f: impl FnOnce(Option<&ZSetObj>) -> R,
) -> Result<R, Reply> {
    match db.lookup_read(key, clock::now_ms()) {
        None => Ok(f(None)),
        Some(entry) => match entry.value() {
            ValueRef::ZSet(z) => Ok(f(Some(z))),
            _ => Err(error::WRONGTYPE),
        },
    }
}

/// What a write did: its reply, and whether it removed the emptied key.
struct Written<R> {
    reply: R,
    emptied: bool,
}

/// Runs `f` on the sorted set at `key`, creating an empty one first if `create`; `None`
/// when the key is absent and not created. `f` returns its reply and whether it changed
/// the set; an emptied sorted set is deleted.
/// Removes and returns the `n` lowest members (the highest when `max`), in that order.
fn pop_ends(z: &mut ZSetObj, n: usize, max: bool) -> Vec<(Bytes, f64)> {
    let items: Vec<(Bytes, f64)> = if max {
        z.iter()
            .rev()
            .take(n)
            .map(|(m, s)| (m.clone(), s))
            .collect()
    } else {
        z.iter().take(n).map(|(m, s)| (m.clone(), s)).collect()
    };
    for (m, _) in &items {
        z.remove(m);
    }
    items
}

fn write_zset<R>(
    db: &Db,
    key: &Bytes,
    create: bool,
    f: impl FnOnce(Option<&mut ZSetObj>) -> (R, bool),
) -> Result<Written<R>, Reply> {
    let now = clock::now_ms();
    let done = |reply| Written {
        reply,
        emptied: false,
    };
    match db.peek(key, now) {
        None if !create => return Ok(done(f(None).0)),
        None => db.insert(key, Value::ZSet(Box::default()), None),
        Some(entry) if !matches!(entry.value(), ValueRef::ZSet(_)) => return Err(error::WRONGTYPE),
        Some(_) => {}
    }
    let (reply, changed, emptied) = {
        let Some(mut entry) = db.get_mut(key, now) else {
            return Ok(done(f(None).0));
        };
        let Some(Value::ZSet(zset)) = entry.object_mut() else {
            return Err(error::WRONGTYPE);
        };
        let (reply, changed) = f(Some(zset));
        (reply, changed, zset.is_empty())
    };
    if emptied {
        db.remove(key, now);
    } else if changed {
        db.signal_modified(key);
    }
    Ok(Written {
        reply,
        emptied: emptied && changed,
    })
}

/// Logs `args` as they are, under the canonical (upper-case) command name.
fn propagate_as_is(ctx: &mut Ctx<'_>, name: &[u8], args: &[Bytes]) {
    let mut record: Vec<&[u8]> = vec![name];
    record.extend(args[1..].iter().map(|a| a.as_ref()));
    ctx.propagate(&record);
}

/// The keyspace events of a write that removed members: `event`, then `del` if the
/// sorted set was emptied and removed.
fn notify_removal(ctx: &Ctx<'_>, event: &str, key: &[u8], emptied: bool) {
    ctx.notify(notify::ZSET, event, key);
    if emptied {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

extern "C" {
    fn strtod(s: *const std::os::raw::c_char, end: *mut *mut std::os::raw::c_char) -> f64;
}

/// C's `strtod` on the argument as Redis sees it (a NUL-terminated string, so parsing
/// stops at an embedded NUL): the value, and whether it consumed everything up to the
/// terminating NUL. Leading white space, hex and `inf`/`nan` are accepted as `strtod`
/// accepts them.
fn c_strtod(arg: &[u8]) -> (f64, usize, bool) {
    let mut text = Vec::with_capacity(arg.len() + 1);
    text.extend_from_slice(arg);
    text.push(0);
    let mut end: *mut std::os::raw::c_char = std::ptr::null_mut();
    // SAFETY: `text` is NUL-terminated and outlives the call; strtod only reads it and
    // sets `end` to a position inside it.
    let value = unsafe { strtod(text.as_ptr().cast(), &mut end) };
    let consumed = end as usize - text.as_ptr() as usize;
    (value, consumed, text[consumed] == 0)
}

/// A score as Redis's `getDoubleFromObject` reads it (`string2d`): all of the argument,
/// no leading space, not NaN, no overflow to infinity or underflow to zero.
pub fn parse_score(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || arg[0].is_ascii_whitespace() || arg[0] == 0x0b {
        return None;
    }
    let (value, consumed, _) = c_strtod(arg);
    if consumed != arg.len() || value.is_nan() {
        return None;
    }
    let lower = arg.to_ascii_lowercase();
    if value.is_infinite() && !lower.windows(3).any(|w| w == b"inf") {
        return None; // ERANGE: overflow
    }
    if value == 0.0 {
        let body = lower.trim_ascii_start();
        let body = body
            .strip_prefix(b"-")
            .or(body.strip_prefix(b"+"))
            .unwrap_or(body);
        let nonzero = if let Some(hex) = body.strip_prefix(b"0x") {
            hex.iter()
                .take_while(|&&c| c != b'p')
                .any(|c| c.is_ascii_hexdigit() && *c != b'0')
        } else {
            body.iter()
                .take_while(|&&c| c != b'e')
                .any(|c| (b'1'..=b'9').contains(c))
        };
        if nonzero {
            return None; // ERANGE: underflow to zero
        }
    }
    Some(value)
}

fn score_arg(arg: &[u8]) -> Result<f64, Reply> {
    parse_score(arg).ok_or(error::NOT_FLOAT)
}

/// One end of a score range (`zslParseRange`): `1.5`, `(1.5`, `-inf`, `+inf`.
fn parse_score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, text) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    let (value, _, complete) = c_strtod(text);
    (complete && !value.is_nan()).then_some(ScoreBound { value, exclusive })
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
    match (parse_score_bound(min), parse_score_bound(max)) {
        (Some(min), Some(max)) => Ok(ScoreRange { min, max }),
        _ => Err(error::RANGE_NOT_FLOAT),
    }
}

/// One end of a lex range (`zslParseLexRangeItem`): `-`, `+`, `[member`, `(member`.
fn parse_lex_bound(arg: &Bytes) -> Option<LexBound> {
    // Redis looks at the byte after `+`/`-` in a NUL-terminated string.
    let alone = arg.get(1).is_none_or(|&c| c == 0);
    match arg.first()? {
        b'+' if alone => Some(LexBound::PosInf),
        b'-' if alone => Some(LexBound::NegInf),
        b'(' => Some(LexBound::Exclusive(arg.slice(1..))),
        b'[' => Some(LexBound::Inclusive(arg.slice(1..))),
        _ => None,
    }
}

fn parse_lex_range(min: &Bytes, max: &Bytes) -> Result<LexRange, Reply> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(error::RANGE_NOT_LEX),
    }
}

/// Rank indexes as Redis sanitizes them: negative from the end, clamped; `None` when
/// the range is empty.
fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

// ---------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------

/// Members, with their scores if `with_scores`: pairs in RESP3, flat in RESP2.
pub(super) fn elements_reply(items: Vec<(Bytes, f64)>, with_scores: bool, resp3: bool) -> Reply {
    let mut out = Vec::with_capacity(items.len() * if with_scores { 2 } else { 1 });
    for (member, score) in items {
        if !with_scores {
            out.push(Reply::Bulk(member));
        } else if resp3 {
            out.push(Reply::Array(vec![
                Reply::Bulk(member),
                Reply::Double(score),
            ]));
        } else {
            out.push(Reply::Bulk(member));
            out.push(Reply::Double(score));
        }
    }
    Reply::Array(out)
}

// ---------------------------------------------------------------------------------------
// ZADD / ZINCRBY / ZREM
// ---------------------------------------------------------------------------------------

pub(super) fn zadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    zadd_generic(ctx, args, false)
}

fn zincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    zadd_generic(ctx, args, true)
}

/// ZADD and ZINCRBY (Redis's `zaddGenericCommand`; ZINCRBY is ZADD INCR).
fn zadd_generic(ctx: &mut Ctx<'_>, args: &[Bytes], zincrby: bool) -> Outcome {
    let mut flags = AddFlags {
        incr: zincrby,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut i = 2;
    while i < args.len() {
        let word = &args[i];
        if args::is(word, "nx") {
            flags.nx = true;
        } else if args::is(word, "xx") {
            flags.xx = true;
        } else if args::is(word, "ch") {
            ch = true;
        } else if args::is(word, "incr") {
            flags.incr = true;
        } else if args::is(word, "gt") {
            flags.gt = true;
        } else if args::is(word, "lt") {
            flags.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let elements = args.len() - i;
    if elements == 0 || elements % 2 != 0 {
        return Err(error::SYNTAX);
    }
    if flags.nx && flags.xx {
        return Err(error::ZADD_XX_NX_INCOMPATIBLE);
    }
    if ((flags.gt || flags.lt) && flags.nx) || (flags.gt && flags.lt) {
        return Err(error::ZADD_GT_LT_NX_INCOMPATIBLE);
    }
    if flags.incr && elements > 2 {
        return Err(error::INCR_SINGLE_PAIR);
    }
    let mut pairs = Vec::with_capacity(elements / 2);
    for pair in args[i..].chunks(2) {
        pairs.push((score_arg(&pair[0])?, &pair[1]));
    }
    let mut added = 0;
    let mut updated = 0;
    let written = write_zset(ctx.db(), &args[1], !flags.xx, |z| {
        let Some(z) = z else {
            // XX on a missing key: nothing to do.
            return (
                Ok(if flags.incr {
                    Reply::Null
                } else {
                    Reply::Integer(0)
                }),
                false,
            );
        };
        let mut result = None;
        for (score, member) in pairs {
            match z.add(member, score, flags) {
                AddOutcome::Added(s) => {
                    added += 1;
                    result = Some(s);
                }
                AddOutcome::Updated(s) => {
                    updated += 1;
                    result = Some(s);
                }
                AddOutcome::Unchanged(s) => result = Some(s),
                AddOutcome::Skipped => {}
                AddOutcome::NaN => {
                    let changed = added + updated > 0;
                    return (Err(error::SCORE_NAN), changed);
                }
            }
        }
        let reply = if flags.incr {
            result.map_or(Reply::Null, Reply::Double)
        } else {
            Reply::Integer(if ch { added + updated } else { added })
        };
        (Ok(reply), added + updated > 0)
    })?;
    if added + updated > 0 {
        ctx.notify(
            notify::ZSET,
            if flags.incr { "zincr" } else { "zadd" },
            &args[1],
        );
        propagate_as_is(ctx, if zincrby { b"ZINCRBY" } else { b"ZADD" }, args);
    }
    written.reply
}

fn zrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let written = write_zset(ctx.db(), &args[1], false, |z| {
        let Some(z) = z else {
            return (Reply::Integer(0), false);
        };
        let removed = args[2..].iter().filter(|m| z.remove(m).is_some()).count();
        (Reply::Integer(removed as i64), removed > 0)
    })?;
    if matches!(written.reply, Reply::Integer(n) if n > 0) {
        notify_removal(ctx, "zrem", &args[1], written.emptied);
        propagate_as_is(ctx, b"ZREM", args);
    }
    Ok(written.reply)
}

// ---------------------------------------------------------------------------------------
// Reads by member
// ---------------------------------------------------------------------------------------

fn zcard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_zset(ctx.db(), &args[1], |z| {
        Reply::Integer(z.map_or(0, |z| z.len()) as i64)
    })
}

fn zscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_zset(ctx.db(), &args[1], |z| {
        z.and_then(|z| z.score(&args[2]))
            .map_or(Reply::Null, Reply::Double)
    })
}

fn zmscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_zset(ctx.db(), &args[1], |z| {
        Reply::Array(
            args[2..]
                .iter()
                .map(|m| {
                    z.and_then(|z| z.score(m))
                        .map_or(Reply::Null, Reply::Double)
                })
                .collect(),
        )
    })
}

fn zrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    zrank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    zrank_generic(ctx, args, true)
}

/// ZRANK/ZREVRANK, with Redis 7.2's WITHSCORE.
fn zrank_generic(ctx: &mut Ctx<'_>, args: &[Bytes], rev: bool) -> Outcome {
    if args.len() > 4 {
        return Err(error::wrong_arity(if rev { "zrevrank" } else { "zrank" }));
    }
    let with_score = match args.get(3) {
        None => false,
        Some(word) if args::is(word, "withscore") => true,
        Some(_) => return Err(error::SYNTAX),
    };
    let missing = if with_score {
        Reply::NullArray
    } else {
        Reply::Null
    };
    read_zset(ctx.db(), &args[1], |z| {
        let Some(z) = z else {
            return missing;
        };
        let Some(rank) = z.rank(&args[2]) else {
            return missing;
        };
        let rank = if rev { z.len() - 1 - rank } else { rank };
        if with_score {
            let score = z.score(&args[2]).expect("ranked member has a score");
            Reply::Array(vec![Reply::Integer(rank as i64), Reply::Double(score)])
        } else {
            Reply::Integer(rank as i64)
        }
    })
}

// ---------------------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

fn zrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    zrange_generic(ctx, args, RangeType::Auto, Direction::Auto)
}

fn zrevrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    zrange_generic(ctx, args, RangeType::Rank, Direction::Reverse)
}

fn zrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    zrange_generic(ctx, args, RangeType::Score, Direction::Forward)
}

fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    zrange_generic(ctx, args, RangeType::Score, Direction::Reverse)
}

fn zrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    zrange_generic(ctx, args, RangeType::Lex, Direction::Forward)
}

fn zrevrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    zrange_generic(ctx, args, RangeType::Lex, Direction::Reverse)
}

/// A parsed range argument pair.
enum Range {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// ZRANGE and its older forms (Redis's `zrangeGenericCommand`): options, then the range,
/// then the key.
fn zrange_generic(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    range_type: RangeType,
    direction: Direction,
) -> Outcome {
    let resp3 = ctx.client.proto >= 3;
    let (items, with_scores) = zrange_items(ctx, args, 1, range_type, direction)?;
    Ok(elements_reply(items, with_scores, resp3))
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]: the range
/// stored at `dst` (deleted when empty); answers how many members it holds.
fn zrangestore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (items, _) = zrange_items(ctx, args, 2, RangeType::Auto, Direction::Auto)?;
    let len = items.len();
    let value = (len > 0).then(|| {
        let mut z = ZSetObj::new();
        for (member, score) in &items {
            z.add(member, *score, AddFlags::default());
        }
        Value::ZSet(Box::new(z))
    });
    super::set::store_result(ctx, args, value, notify::ZSET, "zrangestore");
    Ok(Reply::Integer(len as i64))
}

/// The members (with scores) a ZRANGE-like request selects from the key at `args[at]`,
/// the range at `at + 1`, `at + 2` and options after it; whether WITHSCORES was asked
/// (never for ZRANGESTORE, whose `at` is 2).
fn zrange_items(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    at: usize,
    mut range_type: RangeType,
    mut direction: Direction,
) -> Result<(Vec<(Bytes, f64)>, bool), Reply> {
    let store = at == 2;
    let mut with_scores = false;
    let mut offset: i64 = 0;
    let mut limit: i64 = -1;
    let mut j = at + 3;
    while j < args.len() {
        let word = &args[j];
        let left = args.len() - j - 1;
        if !store && args::is(word, "withscores") {
            with_scores = true;
        } else if args::is(word, "limit") && left >= 2 {
            offset = args::int(&args[j + 1])?;
            limit = args::int(&args[j + 2])?;
            j += 2;
        } else if direction == Direction::Auto && args::is(word, "rev") {
            direction = Direction::Reverse;
        } else if range_type == RangeType::Auto && args::is(word, "bylex") {
            range_type = RangeType::Lex;
        } else if range_type == RangeType::Auto && args::is(word, "byscore") {
            range_type = RangeType::Score;
        } else {
            return Err(error::SYNTAX);
        }
        j += 1;
    }
    if direction == Direction::Auto {
        direction = Direction::Forward;
    }
    if range_type == RangeType::Auto {
        range_type = RangeType::Rank;
    }
    if limit != -1 && range_type == RangeType::Rank {
        return Err(error::LIMIT_NEEDS_BY);
    }
    if with_scores && range_type == RangeType::Lex {
        return Err(error::WITHSCORES_WITH_BYLEX);
    }
    let rev = direction == Direction::Reverse;
    // Score and lex ranges are given as max, min in reverse.
    let (min, max) = if rev && range_type != RangeType::Rank {
        (&args[at + 2], &args[at + 1])
    } else {
        (&args[at + 1], &args[at + 2])
    };
    let range = match range_type {
        RangeType::Auto | RangeType::Rank => Range::Rank(args::int(min)?, args::int(max)?),
        RangeType::Score => Range::Score(parse_score_range(min, max)?),
        RangeType::Lex => Range::Lex(parse_lex_range(min, max)?),
    };
    let items = read_zset(ctx.db(), &args[at], |z| {
        let Some(z) = z else {
            return Vec::new();
        };
        match &range {
            Range::Rank(start, end) => match rank_range(*start, *end, z.len()) {
                None => Vec::new(),
                Some((start, end)) => z.range_by_rank(start, end, rev),
            },
            Range::Score(r) => limited(z, offset, limit, || z.range_by_score(r, rev)),
            Range::Lex(r) => limited(z, offset, limit, || z.range_by_lex(r, rev)),
        }
    })?;
    Ok((items, with_scores))
}

/// Applies LIMIT offset count to a range walk as Redis does: a negative offset, or one
/// past the set's size, gives nothing; a negative count means all.
fn limited<'a, I: Iterator<Item = (&'a Bytes, f64)>>(
    z: &ZSetObj,
    offset: i64,
    limit: i64,
    walk: impl FnOnce() -> I,
) -> Vec<(Bytes, f64)> {
    if offset < 0 || (offset > 0 && offset as u64 >= z.len() as u64) {
        return Vec::new();
    }
    let take = if limit < 0 {
        usize::MAX
    } else {
        limit as usize
    };
    walk()
        .skip(offset as usize)
        .take(take)
        .map(|(m, s)| (m.clone(), s))
        .collect()
}

fn zcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let range = parse_score_range(&args[2], &args[3])?;
    read_zset(ctx.db(), &args[1], |z| {
        Reply::Integer(z.map_or(0, |z| z.range_by_score(&range, false).count()) as i64)
    })
}

fn zlexcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let range = parse_lex_range(&args[2], &args[3])?;
    read_zset(ctx.db(), &args[1], |z| {
        Reply::Integer(z.map_or(0, |z| z.range_by_lex(&range, false).count()) as i64)
    })
}

// ---------------------------------------------------------------------------------------
// Removing ranges, popping
// ---------------------------------------------------------------------------------------

fn zremrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let range = parse_score_range(&args[2], &args[3])?;
    zremrange(ctx, args, "zremrangebyscore", |z| {
        z.range_by_score(&range, false)
            .map(|(m, _)| m.clone())
            .collect()
    })
}

fn zremrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let range = parse_lex_range(&args[2], &args[3])?;
    zremrange(ctx, args, "zremrangebylex", |z| {
        z.range_by_lex(&range, false)
            .map(|(m, _)| m.clone())
            .collect()
    })
}

fn zremrangebyrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let start = args::int(&args[2])?;
    let end = args::int(&args[3])?;
    zremrange(ctx, args, "zremrangebyrank", |z| {
        match rank_range(start, end, z.len()) {
            None => Vec::new(),
            Some((start, end)) => z
                .range_by_rank(start, end, false)
                .into_iter()
                .map(|(m, _)| m)
                .collect(),
        }
    })
}

/// The ZREMRANGEBY* commands once their range is parsed: `select` names the members
/// to remove.
fn zremrange(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    event: &str,
    select: impl FnOnce(&ZSetObj) -> Vec<Bytes>,
) -> Outcome {
    let written = write_zset(ctx.db(), &args[1], false, |z| {
        let Some(z) = z else {
            return (Reply::Integer(0), false);
        };
        let members = select(z);
        for m in &members {
            z.remove(m);
        }
        (Reply::Integer(members.len() as i64), !members.is_empty())
    })?;
    if matches!(written.reply, Reply::Integer(n) if n > 0) {
        notify_removal(ctx, event, &args[1], written.emptied);
        let name = event.to_ascii_uppercase();
        propagate_as_is(ctx, name.as_bytes(), args);
    }
    Ok(written.reply)
}

/// Pops up to `count` of the lowest (highest if `max`) members of the sorted set at
/// `key`, with the keyspace events; None if the key is absent. The caller logs it.
pub(super) fn pop_extreme(
    ctx: &mut Ctx<'_>,
    key: &Bytes,
    max: bool,
    count: usize,
) -> Result<Option<Vec<(Bytes, f64)>>, Reply> {
    let written = write_zset(ctx.db(), key, false, |z| {
        let Some(z) = z else {
            return (None, false);
        };
        let items = pop_ends(z, count.min(z.len()), max);
        let changed = !items.is_empty();
        (Some(items), changed)
    })?;
    if written
        .reply
        .as_ref()
        .is_some_and(|items| !items.is_empty())
    {
        let event = if max { "zpopmax" } else { "zpopmin" };
        notify_removal(ctx, event, key, written.emptied);
    }
    Ok(written.reply)
}

fn zpopmin(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    zpop(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    zpop(ctx, args, true)
}

/// ZPOPMIN/ZPOPMAX: without a count one flat member/score pair, with one a list of them
/// (pairs in RESP3).
fn zpop(ctx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> Outcome {
    if args.len() > 3 {
        return Err(error::SYNTAX);
    }
    let count = match args.get(2) {
        None => None,
        Some(arg) => match crate::protocol::decode::parse_i64(arg) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return Err(error::NOT_POSITIVE),
        },
    };
    let resp3 = ctx.client.proto >= 3;
    let mut popped = 0;
    let written = write_zset(ctx.db(), &args[1], false, |z| {
        let Some(z) = z else {
            return (Reply::Array(Vec::new()), false);
        };
        let items = pop_ends(z, count.unwrap_or(1).min(z.len() as u64) as usize, max);
        popped = items.len();
        let reply = if count.is_some() {
            elements_reply(items, true, resp3)
        } else {
            elements_reply(items, true, false)
        };
        (reply, popped > 0)
    })?;
    if popped > 0 {
        let event = if max { "zpopmax" } else { "zpopmin" };
        notify_removal(ctx, event, &args[1], written.emptied);
        propagate_as_is(ctx, if max { b"ZPOPMAX" } else { b"ZPOPMIN" }, args);
    }
    Ok(written.reply)
}

// ---------------------------------------------------------------------------------------
// Random members, scanning
// ---------------------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let resp3 = ctx.client.proto >= 3;
    let (count, with_scores) = parse_random_args(args, "withscores")?;
    if with_scores {
        let n = count.unwrap_or(0);
        if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
            return Err(error::OUT_OF_RANGE);
        }
    }
    read_zset(ctx.db(), &args[1], |z| {
        let pairs: Vec<(Bytes, f64)> = z.map_or(Vec::new(), |z| {
            z.pairs().map(|(m, s)| (m.clone(), s)).collect()
        });
        let Some(count) = count else {
            return Reply::opt_bulk(pick_random(&pairs, 1).pop().map(|(m, _)| m));
        };
        elements_reply(pick_random(&pairs, count), with_scores, resp3)
    })
}

fn zscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let cursor = parse_cursor(&args[2])?;
    read_zset(ctx.db(), &args[1], |z| -> Outcome {
        let Some(z) = z else {
            return Ok(Reply::Array(vec![
                Reply::bulk_str("0"),
                Reply::Array(Vec::new()),
            ]));
        };
        let options = parse_scan_options(&args[3..], false)?;
        // A listpack is returned whole, in its (sorted) order.
        let (next, page) = if z.is_compact() {
            let all = z.iter().map(|(m, s)| (m.clone(), s));
            scan_collection(all, true, cursor, options.count)
        } else {
            let all = z.pairs().map(|(m, s)| (m.clone(), s));
            scan_collection(all, false, cursor, options.count)
        };
        let mut items = Vec::new();
        for (member, score) in page {
            if options
                .pattern
                .as_ref()
                .is_none_or(|p| crate::glob::matches(p, &member, false))
            {
                items.push(Reply::Bulk(member));
                items.push(Reply::bulk_str(&scan_score_text(score, z.is_compact())));
            }
        }
        Ok(Reply::Array(vec![
            Reply::bulk_str(&next.to_string()),
            Reply::Array(items),
        ]))
    })?
}

/// A score as ZSCAN shows it: a listpack holds the text Redis's `d2string` made (whole
/// numbers up to 2^62 as integers, so `-0` is `0`); a skiplist's is printed with `%.17g`.
fn scan_score_text(score: f64, compact: bool) -> String {
    const LIMIT: f64 = 4611686018427387904.0; // (double)(LLONG_MAX / 2)
    if compact && (-LIMIT..=LIMIT).contains(&score) && score.trunc() == score {
        (score as i64).to_string()
    } else {
        format_double(score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_scores_follow_the_encoding() {
        assert_eq!(scan_score_text(-0.0, true), "0");
        assert_eq!(scan_score_text(-0.0, false), "-0");
        assert_eq!(
            scan_score_text(123456789012345678.0, true),
            "123456789012345680"
        );
        assert_eq!(
            scan_score_text(123456789012345678.0, false),
            "1.2345678901234568e+17"
        );
        assert_eq!(
            scan_score_text(4611686018427387904.0, true),
            "4611686018427387904"
        );
        assert_eq!(scan_score_text(1e19, true), "1e+19");
        assert_eq!(scan_score_text(0.1, true), "0.10000000000000001");
    }

    #[test]
    fn scores_parse_as_redis_reads_them() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"4.9e-324"), Some(5e-324));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e400",
            b"1e-400",
            b"x",
            b"1\x002",
        ] {
            assert_eq!(parse_score(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_score(b"0e500"), Some(0.0));
    }

    #[test]
    fn range_bounds_parse_as_strtod_does() {
        let b = parse_score_bound(b"(1.5").unwrap();
        assert!(b.exclusive && b.value == 1.5);
        assert_eq!(parse_score_bound(b"").map(|b| b.value), Some(0.0));
        assert_eq!(parse_score_bound(b" 2").map(|b| b.value), Some(2.0));
        assert!(parse_score_bound(b"2 ").is_none());
        assert!(parse_score_bound(b"nan").is_none());
        assert_eq!(
            parse_score_bound(b"1e400").map(|b| b.value),
            Some(f64::INFINITY)
        );
    }
}
