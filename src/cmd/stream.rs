//! Stream commands (Redis 7.2's semantics and error texts).
//!
//! Writes are logged in a canonical form that replays to the same stream: XADD with the
//! id it generated, its trimming as an exact `MAXLEN = <length left>`, XTRIM likewise.

use std::time::Duration;

use bytes::Bytes;

use super::{args, command, error, flags::*, Ctx, Outcome, Spec, ONE_KEY};
use crate::clock;
use crate::notify;
use crate::protocol::decode::parse_i64;
use crate::protocol::Reply;
use crate::store::stream::{StreamEntry, StreamId, StreamObj, Trim, NODE_MAX_ENTRIES};
use crate::store::{own, Db, Value, ValueRef};

pub const COMMANDS: &[Spec] = &[
    command!(
        "stream",
        "xadd",
        -5,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        xadd,
        "5.0.0",
        "Appends a new message to a stream. Creates the key if it doesn't exist."
    )
    .with_key_specs(super::redis_meta::XADD)
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!(
        "stream",
        "xrange",
        -4,
        READONLY,
        ONE_KEY,
        xrange,
        "5.0.0",
        "Returns the messages from a stream within a range of IDs."
    )
    .with_key_specs(super::redis_meta::READS),
    command!(
        "stream",
        "xrevrange",
        -4,
        READONLY,
        ONE_KEY,
        xrevrange,
        "5.0.0",
        "Returns the messages from a stream within a range of IDs in reverse order."
    )
    .with_key_specs(super::redis_meta::READS),
    command!(
        "stream",
        "xlen",
        2,
        READONLY | FAST,
        ONE_KEY,
        xlen,
        "5.0.0",
        "Return the number of messages in a stream."
    )
    .with_key_specs(super::redis_meta::INSPECTS),
    command!(
        "stream",
        "xdel",
        -3,
        WRITE | FAST,
        ONE_KEY,
        xdel,
        "5.0.0",
        "Returns the number of messages after removing them from a stream."
    )
    .with_key_specs(super::redis_meta::REMOVES),
    command!(
        "stream",
        "xtrim",
        -4,
        WRITE,
        ONE_KEY,
        xtrim,
        "5.0.0",
        "Deletes messages from the beginning of a stream."
    )
    .with_key_specs(super::redis_meta::REMOVES)
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!("stream", "xread", -4, READONLY | BLOCKING, super::NO_KEYS, xread, "5.0.0",
        "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.")
    .with_key_specs(super::redis_meta::XREAD)
    .with_find_keys(read_keys),
    command!(
        "stream",
        "xsetid",
        -3,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        xsetid,
        "5.0.0",
        "An internal command for replicating stream values."
    )
    .with_key_specs(super::redis_meta::UPDATES),
];

// ---------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------

/// An unsigned number as Redis's `string2ull` reads it: a strict integer, or what
/// `strtoull` accepts whole (leading space, a sign, leading zeros).
fn parse_u64(arg: &[u8]) -> Option<u64> {
    if let Some(n) = parse_i64(arg) {
        return (n >= 0).then_some(n as u64);
    }
    let mut rest = arg;
    while let [c, tail @ ..] = rest {
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            rest = tail;
        } else {
            break;
        }
    }
    let negative = match rest {
        [b'-', tail @ ..] => {
            rest = tail;
            true
        }
        [b'+', tail @ ..] => {
            rest = tail;
            false
        }
        _ => false,
    };
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for d in rest {
        n = n.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if negative { n.wrapping_neg() } else { n })
}

/// An id argument: `ms-seq`, `ms` (seq `missing_seq`), and unless `strict`, `-` and
/// `+`. With `seq_star`, `ms-*` is accepted and reported as seq not given.
fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_star: bool,
) -> Result<(StreamId, bool), Reply> {
    if arg.len() > 127 {
        return Err(error::STREAM_INVALID_ID);
    }
    match arg {
        b"-" if !strict => return Ok((StreamId::MIN, true)),
        b"+" if !strict => return Ok((StreamId::MAX, true)),
        b"-" | b"+" => return Err(error::STREAM_INVALID_ID),
        _ => {}
    }
    // The text stops at a NUL, as Redis's C string does.
    let arg = arg.split(|&b| b == 0).next().unwrap_or(arg);
    let (ms, seq) = match arg.iter().position(|&b| b == b'-') {
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
        None => (arg, None),
    };
    let ms = parse_u64(ms).ok_or(error::STREAM_INVALID_ID)?;
    match seq {
        None => Ok((StreamId::new(ms, missing_seq), true)),
        Some(b"*") if seq_star => Ok((StreamId::new(ms, 0), false)),
        Some(seq) => {
            let seq = parse_u64(seq).ok_or(error::STREAM_INVALID_ID)?;
            Ok((StreamId::new(ms, seq), true))
        }
    }
}

pub(super) fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, Reply> {
    parse_id_full(arg, missing_seq, false, false).map(|(id, _)| id)
}

pub(super) fn parse_strict_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, Reply> {
    parse_id_full(arg, missing_seq, true, false).map(|(id, _)| id)
}

/// A range bound: an id, `-`/`+`, or `(id` for an exclusive bound; whether exclusive.
fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((parse_strict_id(&arg[1..], missing_seq)?, true))
    } else {
        Ok((parse_id(arg, missing_seq)?, false))
    }
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

/// An entry as XRANGE shows it: `[id, [field, value, ...]]`.
pub(super) fn entry_reply(entry: StreamEntry) -> Reply {
    Reply::Array(vec![
        id_reply(entry.id),
        Reply::Array(entry.fields.into_iter().map(Reply::Bulk).collect()),
    ])
}

pub(super) fn entries_reply(entries: Vec<StreamEntry>) -> Reply {
    Reply::Array(entries.into_iter().map(entry_reply).collect())
}

// ---------------------------------------------------------------------------------------
// Access
// ---------------------------------------------------------------------------------------

/// Runs `f` on the stream at `key` (`None` if absent); WRONGTYPE for another type.
pub(super) fn read_stream<R>(
    db: &Db,
    key: &[u8],
    f: impl FnOnce(Option<&StreamObj>) -> R,
) -> Result<R, Reply> {
    match db.lookup_read(key, clock::now_ms()) {
        None => Ok(f(None)),
        Some(entry) => match entry.value() {
            ValueRef::Stream(s) => Ok(f(Some(s))),
            _ => Err(error::WRONGTYPE),
        },
    }
}

/// Whether `key` holds a stream (None: absent); WRONGTYPE for another type.
pub(super) fn stream_exists(db: &Db, key: &[u8]) -> Result<bool, Reply> {
    match db.peek(key, clock::now_ms()) {
        None => Ok(false),
        Some(entry) if matches!(entry.value(), ValueRef::Stream(_)) => Ok(true),
        Some(_) => Err(error::WRONGTYPE),
    }
}

/// Runs `f` on the stream at `key`, created empty first if `create`; None when absent
/// and not created. `f` says whether it changed the stream (then the key is signalled
/// as modified: WATCH, tracking). Streams stay when emptied, as in Redis.
pub(super) fn write_stream<R>(
    db: &Db,
    key: &Bytes,
    create: bool,
    f: impl FnOnce(&mut StreamObj) -> Result<(R, bool), Reply>,
) -> Result<Option<R>, Reply> {
    let now = clock::now_ms();
    if !stream_exists(db, key)? {
        if !create {
            return Ok(None);
        }
        db.insert(key, Value::Stream(Box::default()), None);
    }
    let (result, changed) = {
        let Some(mut entry) = db.get_mut(key, now) else {
            return Ok(None);
        };
        let Some(Value::Stream(stream)) = entry.object_mut() else {
            return Err(error::WRONGTYPE);
        };
        f(stream)?
    };
    if changed {
        db.signal_modified(key);
    }
    Ok(Some(result))
}

// ---------------------------------------------------------------------------------------
// XADD, XTRIM
// ---------------------------------------------------------------------------------------

/// The trimming and id arguments of XADD (`xadd`) or XTRIM.
#[derive(Default)]
struct AddTrimArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    /// The explicit id and whether its sequence was given (None: `*`).
    id: Option<(StreamId, bool)>,
    /// Where the fields start.
    fields_at: usize,
}

fn parse_add_trim(ctx: &Ctx<'_>, args: &[Bytes], xadd: bool) -> Result<AddTrimArgs, Reply> {
    let mut parsed = AddTrimArgs::default();
    let mut limit_given = false;
    let mut limit: i64 = 0;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if (args::is(opt, "maxlen") || args::is(opt, "minid")) && more > 0 {
            if parsed.trim.is_some() {
                return Err(error::STREAM_MAXLEN_AND_MINID);
            }
            parsed.approx = false;
            let next = args[i + 1].as_ref();
            if more >= 2 && next == b"~" {
                parsed.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let value = &args[i + 1];
            parsed.trim = Some(if args::is(opt, "maxlen") {
                let n = args::int(value)?;
                if n < 0 {
                    return Err(error::STREAM_MAXLEN_NEGATIVE);
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_strict_id(value, 0)?)
            });
            i += 1;
        } else if args::is(opt, "limit") && more > 0 {
            limit = args::int(&args[i + 1])?;
            if limit < 0 {
                return Err(error::STREAM_LIMIT_NEGATIVE);
            }
            limit_given = true;
            i += 1;
        } else if xadd && args::is(opt, "nomkstream") {
            parsed.nomkstream = true;
        } else if xadd {
            parsed.id = Some(parse_id_full(opt, 0, true, true)?);
            break;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    if limit != 0 && parsed.trim.is_none() {
        return Err(error::STREAM_LIMIT_WITHOUT_STRATEGY);
    }
    if !xadd && parsed.trim.is_none() {
        return Err(error::XTRIM_WITHOUT_STRATEGY);
    }
    parsed.limit = if ctx.client.from_primary {
        0
    } else if limit_given {
        if !parsed.approx {
            return Err(error::STREAM_LIMIT_WITHOUT_APPROX);
        }
        limit as u64
    } else if parsed.approx {
        100 * NODE_MAX_ENTRIES
    } else {
        0
    };
    parsed.fields_at = i + 1;
    Ok(parsed)
}

/// The id XADD gives its entry, or its error.
fn next_id(stream: &StreamObj, given: Option<(StreamId, bool)>) -> Result<StreamId, Reply> {
    let last = stream.last_id;
    let id = match given {
        Some((id, true)) => id,
        Some((id, false)) if id.ms == last.ms => {
            if last.seq == u64::MAX {
                return Err(error::XADD_ID_TOO_SMALL);
            }
            StreamId::new(last.ms, last.seq + 1)
        }
        Some((id, false)) => id,
        None => {
            let now = clock::now_ms();
            if now > last.ms {
                StreamId::new(now, 0)
            } else {
                last.incr().ok_or(error::STREAM_EXHAUSTED)?
            }
        }
    };
    if id <= last {
        return Err(error::XADD_ID_TOO_SMALL);
    }
    Ok(id)
}

fn xadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let parsed = parse_add_trim(ctx, args, true)?;
    let fields = args.get(parsed.fields_at..).unwrap_or(&[]);
    if fields.len() < 2 || fields.len() % 2 == 1 {
        return Err(error::wrong_arity("xadd"));
    }
    if parsed.id == Some((StreamId::MIN, true)) {
        return Err(error::XADD_ID_ZERO);
    }
    let key = &args[1];
    let added = write_stream(ctx.db(), key, !parsed.nomkstream, |stream| {
        if stream.last_id == StreamId::MAX {
            return Err(error::STREAM_EXHAUSTED);
        }
        let id = next_id(stream, parsed.id)?;
        let owned: Vec<Bytes> = fields.iter().map(own).collect();
        stream.append(id, &owned);
        let trimmed = match parsed.trim {
            Some(trim) => stream.trim(trim, parsed.approx, parsed.limit),
            None => 0,
        };
        Ok(((id, trimmed, stream.len()), true))
    });
    let (id, trimmed, len) = match added? {
        None => return Ok(Reply::Null),
        Some(done) => done,
    };
    ctx.notify(notify::STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    let id_text = id.to_string();
    let len_text = len.to_string();
    let mut record: Vec<&[u8]> = vec![b"XADD", key];
    if parsed.trim.is_some() {
        record.extend([b"MAXLEN".as_ref(), b"=", len_text.as_bytes()]);
    }
    record.push(id_text.as_bytes());
    record.extend(fields.iter().map(|f| f.as_ref()));
    ctx.propagate(&record);
    ctx.shared.blocking.signal(ctx.client.db, key);
    Ok(id_reply(id))
}

fn xtrim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let parsed = parse_add_trim(ctx, args, false)?;
    let trim = parsed.trim.expect("checked by the parser");
    let key = &args[1];
    let done = write_stream(ctx.db(), key, false, |stream| {
        let removed = stream.trim(trim, parsed.approx, parsed.limit);
        Ok(((removed, stream.len()), removed > 0))
    })?;
    let Some((removed, len)) = done else {
        return Ok(Reply::Integer(0));
    };
    if removed > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
        let len = len.to_string();
        ctx.propagate(&[b"XTRIM", key, b"MAXLEN", b"=", len.as_bytes()]);
    }
    Ok(Reply::Integer(removed as i64))
}

// ---------------------------------------------------------------------------------------
// XRANGE, XREVRANGE, XLEN
// ---------------------------------------------------------------------------------------

fn range_command(ctx: &mut Ctx<'_>, args: &[Bytes], rev: bool) -> Outcome {
    let (start_arg, end_arg) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let (mut start, start_ex) = parse_interval(start_arg, 0)?;
    if start_ex {
        start = start.incr().ok_or(error::STREAM_INVALID_START)?;
    }
    let (mut end, end_ex) = parse_interval(end_arg, u64::MAX)?;
    if end_ex {
        end = end.decr().ok_or(error::STREAM_INVALID_END)?;
    }
    let mut count: Option<usize> = None;
    let mut j = 4;
    while j < args.len() {
        if args::is(&args[j], "count") && j + 1 < args.len() {
            count = Some(args::int(&args[j + 1])?.max(0) as usize);
            j += 2;
        } else {
            return Err(error::SYNTAX);
        }
    }
    read_stream(ctx.db(), &args[1], |stream| match (stream, count) {
        (None, _) => Reply::Array(Vec::new()),
        (Some(_), Some(0)) => Reply::NullArray,
        (Some(s), count) => entries_reply(s.range(start, end, rev, count.unwrap_or(0))),
    })
}

fn xrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    range_command(ctx, args, false)
}

fn xrevrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    range_command(ctx, args, true)
}

fn xlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_stream(ctx.db(), &args[1], |s| {
        Reply::Integer(s.map_or(0, |s| s.len() as i64))
    })
}

// ---------------------------------------------------------------------------------------
// XDEL, XSETID
// ---------------------------------------------------------------------------------------

fn xdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let ids = args[2..]
        .iter()
        .map(|a| parse_strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let key = &args[1];
    let deleted = write_stream(ctx.db(), key, false, |stream| {
        let deleted: Vec<StreamId> = ids.into_iter().filter(|id| stream.delete(*id)).collect();
        let changed = !deleted.is_empty();
        Ok((deleted, changed))
    })?
    .unwrap_or_default();
    if !deleted.is_empty() {
        ctx.notify(notify::STREAM, "xdel", key);
        let texts: Vec<String> = deleted.iter().map(|id| id.to_string()).collect();
        let mut record: Vec<&[u8]> = vec![b"XDEL", key];
        record.extend(texts.iter().map(|t| t.as_bytes()));
        ctx.propagate(&record);
    }
    Ok(Reply::Integer(deleted.len() as i64))
}

fn xsetid(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let id = parse_strict_id(&args[2], 0)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if args::is(&args[i], "entriesadded") && more > 0 {
            let n = args::int(&args[i + 1])?;
            if n < 0 {
                return Err(error::XSETID_ENTRIES_ADDED_NEGATIVE);
            }
            entries_added = Some(n as u64);
        } else if args::is(&args[i], "maxdeletedid") && more > 0 {
            max_deleted = parse_strict_id(&args[i + 1], 0)?;
            if id < max_deleted {
                return Err(error::XSETID_BELOW_GIVEN_MAX_DELETED);
            }
        } else {
            return Err(error::SYNTAX);
        }
        i += 2;
    }
    let key = &args[1];
    write_stream(ctx.db(), key, false, |stream| {
        if !stream.is_empty() {
            if id < stream.last_present_id() {
                return Err(error::XSETID_BELOW_TOP);
            }
            if entries_added.is_some_and(|n| stream.len() > n) {
                return Err(error::XSETID_ENTRIES_ADDED_TOO_SMALL);
            }
        }
        stream.last_id = id;
        if let Some(n) = entries_added {
            stream.entries_added = n;
        }
        if !max_deleted.is_zero() {
            stream.max_deleted_id = max_deleted;
        }
        Ok(((), true))
    })?
    .ok_or(error::NO_SUCH_KEY)?;
    ctx.notify(notify::STREAM, "xsetid", key);
    let arg_refs: Vec<&[u8]> = args.iter().map(|a| a.as_ref()).collect();
    ctx.propagate(&arg_refs);
    Ok(Reply::OK)
}

// ---------------------------------------------------------------------------------------
// XREAD, XREADGROUP
// ---------------------------------------------------------------------------------------

/// XREAD's and XREADGROUP's options, and where their keys are.
struct ReadArgs {
    /// 0: no limit.
    count: usize,
    /// BLOCK's timeout: None without BLOCK, Some(None) to wait forever.
    block: Option<Option<Duration>>,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
    /// Index of the first key; as many ids follow the keys.
    keys_at: usize,
    streams: usize,
}

fn parse_read(args: &[Bytes], xreadgroup: bool) -> Result<ReadArgs, Reply> {
    let mut parsed = ReadArgs {
        count: 0,
        block: None,
        group: None,
        noack: false,
        keys_at: 0,
        streams: 0,
    };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if args::is(opt, "block") && more > 0 {
            i += 1;
            let ms = parse_i64(&args[i]).ok_or(error::TIMEOUT_NOT_INTEGER)?;
            if ms < 0 {
                return Err(error::TIMEOUT_NEGATIVE);
            }
            parsed.block = Some((ms > 0).then(|| Duration::from_millis(ms as u64)));
        } else if args::is(opt, "count") && more > 0 {
            i += 1;
            parsed.count = args::int(&args[i])?.max(0) as usize;
        } else if args::is(opt, "streams") && more > 0 {
            let rest = args.len() - i - 1;
            if rest % 2 != 0 {
                return Err(error::unbalanced_streams(xreadgroup));
            }
            parsed.keys_at = i + 1;
            parsed.streams = rest / 2;
            break;
        } else if args::is(opt, "group") && more >= 2 {
            if !xreadgroup {
                return Err(error::GROUP_ONLY_IN_XREADGROUP);
            }
            parsed.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 2;
        } else if args::is(opt, "noack") {
            if !xreadgroup {
                return Err(error::NOACK_ONLY_IN_XREADGROUP);
            }
            parsed.noack = true;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    if parsed.keys_at == 0 {
        return Err(error::SYNTAX);
    }
    if xreadgroup && parsed.group.is_none() {
        return Err(error::XREADGROUP_WITHOUT_GROUP);
    }
    Ok(parsed)
}

/// XREAD's and XREADGROUP's keys: the first half of what follows STREAMS.
pub(super) fn read_keys(args: &[Bytes]) -> Option<Vec<usize>> {
    let at = args.iter().position(|a| args::is(a, "streams"))? + 1;
    let rest = args.len().checked_sub(at)?;
    if rest == 0 || rest % 2 != 0 {
        return None;
    }
    Some((at..at + rest / 2).collect())
}

/// Where reading a stream starts: after an id, or (XREADGROUP `>`) at what the group
/// has not been given yet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadFrom {
    After(StreamId),
    New,
}

/// Resolves each stream's id (`$`, `+`, `>`, an id), checking types and groups in
/// Redis's order.
fn read_positions(
    ctx: &Ctx<'_>,
    args: &[Bytes],
    parsed: &ReadArgs,
) -> Result<Vec<ReadFrom>, Reply> {
    let mut out = Vec::with_capacity(parsed.streams);
    for n in 0..parsed.streams {
        let key = &args[parsed.keys_at + n];
        let arg = &args[parsed.keys_at + parsed.streams + n];
        let last = read_stream(ctx.db(), key, |s| {
            s.map(|s| {
                (
                    s.last_id,
                    parsed
                        .group
                        .as_ref()
                        .is_some_and(|(g, _)| s.groups.contains_key(g)),
                )
            })
        })?;
        if let Some((group, _)) = &parsed.group {
            if !last.is_some_and(|(_, has)| has) {
                return Err(error::no_group_in_xreadgroup(key, group));
            }
        }
        let last_id = last.map(|(id, _)| id);
        out.push(match arg.as_ref() {
            b"$" if parsed.group.is_some() => return Err(error::XREADGROUP_DOLLAR),
            b"$" => ReadFrom::After(last_id.unwrap_or(StreamId::MIN)),
            b"+" if parsed.group.is_some() => return Err(error::XREADGROUP_PLUS),
            b"+" => match last_id {
                None => ReadFrom::After(StreamId::MIN),
                Some(id) => ReadFrom::After(id.decr().ok_or(error::STREAM_LAST_ID_ZERO)?),
            },
            b">" if parsed.group.is_none() => return Err(error::GREATER_ONLY_IN_XREADGROUP),
            b">" => ReadFrom::New,
            _ => ReadFrom::After(parse_strict_id(arg, 0)?),
        });
    }
    Ok(out)
}

/// Serves what can be served now: None if no stream had anything.
fn serve_read(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    parsed: &ReadArgs,
    from: &[ReadFrom],
) -> Result<Option<Reply>, Reply> {
    let mut served: Vec<(Bytes, Reply)> = Vec::new();
    for (n, from) in from.iter().enumerate() {
        let key = &args[parsed.keys_at + n];
        let entries = match (&parsed.group, *from) {
            (None, ReadFrom::After(after)) => read_stream(ctx.db(), key, |s| {
                let s = s?;
                if s.is_empty() || s.last_present_id() <= after {
                    return None;
                }
                let start = after.incr()?;
                Some(entries_reply(s.range(
                    start,
                    StreamId::MAX,
                    false,
                    parsed.count,
                )))
            })?,
            (Some((group, consumer)), from) => {
                let history = match from {
                    ReadFrom::After(id) => Some(id),
                    ReadFrom::New => None,
                };
                super::stream_group::read_group(
                    ctx,
                    key,
                    group,
                    consumer,
                    history,
                    parsed.count,
                    parsed.noack,
                )?
            }
            (None, ReadFrom::New) => None,
        };
        if let Some(entries) = entries {
            served.push((key.clone(), entries));
        }
    }
    if served.is_empty() {
        return Ok(None);
    }
    Ok(Some(if ctx.client.proto >= 3 {
        Reply::Map(
            served
                .into_iter()
                .map(|(k, e)| (Reply::Bulk(k), e))
                .collect(),
        )
    } else {
        Reply::Array(
            served
                .into_iter()
                .map(|(k, e)| Reply::Array(vec![Reply::Bulk(k), e]))
                .collect(),
        )
    }))
}

pub(super) fn read_command(ctx: &mut Ctx<'_>, args: &[Bytes], xreadgroup: bool) -> Outcome {
    let parsed = parse_read(args, xreadgroup)?;
    let from = read_positions(ctx, args, &parsed)?;
    if let Some(reply) = serve_read(ctx, args, &parsed, &from)? {
        return Ok(reply);
    }
    let Some(timeout) = parsed.block else {
        return Ok(Reply::NullArray);
    };
    if !super::list::can_block(ctx) || ctx.client.in_script {
        return Ok(Reply::NullArray);
    }
    // Run again when woken, `$` standing for the last id it stands for now.
    let mut again = args.to_vec();
    for (n, from) in from.iter().enumerate() {
        let at = parsed.keys_at + parsed.streams + n;
        if let (b"$", ReadFrom::After(id)) = (again[at].as_ref(), from) {
            again[at] = id.to_bytes();
        }
    }
    let keys = &args[parsed.keys_at..parsed.keys_at + parsed.streams];
    let op = crate::session::BlockedPop::Stream { args: again };
    Ok(super::list::block(ctx, keys, op, timeout))
}

/// A blocked XREAD or XREADGROUP woken by new entries: its reply if it can be served
/// now, None to keep waiting.
pub(super) fn serve_blocked(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Option<Reply>, Reply> {
    let xreadgroup = args::is(&args[0], "xreadgroup");
    let parsed = parse_read(args, xreadgroup)?;
    let from = match read_positions(ctx, args, &parsed) {
        Ok(from) => from,
        // Another type stored at the key: XREAD keeps waiting for a stream there.
        Err(e) if !xreadgroup && e == error::WRONGTYPE => return Ok(None),
        Err(e) => return Err(e),
    };
    serve_read(ctx, args, &parsed, &from)
}

fn xread(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_command(ctx, args, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_reads_them() {
        assert_eq!(parse_id(b"5", 7).unwrap(), StreamId::new(5, 7));
        assert_eq!(parse_id(b"+5-00", 0).unwrap(), StreamId::new(5, 0));
        assert_eq!(parse_id(b" 7", 0).unwrap(), StreamId::new(7, 0));
        assert!(parse_id(b"-1", 0).is_err());
        assert!(parse_id(b"18446744073709551616", 0).is_err());
        assert_eq!(parse_id(b"+", 0).unwrap(), StreamId::MAX);
        assert!(parse_strict_id(b"+", 0).is_err());
        assert_eq!(
            parse_id_full(b"3-*", 0, true, true).unwrap(),
            (StreamId::new(3, 0), false)
        );
        assert!(parse_id(b"3-*", 0).is_err());
    }
}
