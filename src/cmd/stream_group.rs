//! Stream consumer groups: XGROUP, XREADGROUP's serving, XACK, XPENDING, XCLAIM,
//! XAUTOCLAIM, XINFO (Redis 7.2's fields: entries-read, lag, active-time, inactive).
//!
//! What a group read or claim changes is logged as Redis propagates it: each delivered
//! or claimed entry as `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID
//! LASTID id`, the group's position as `XGROUP SETID key group id ENTRIESREAD n`, a
//! consumer created on the way as `XGROUP CREATECONSUMER`; XREADGROUP itself is never
//! logged, so replay and replicas do not depend on the clock or on who read first.

use bytes::Bytes;

use super::stream::{entries_reply, entry_reply, parse_id, parse_strict_id, write_stream};
use super::{args, command, error, flags::*, Ctx, Outcome, Spec, ONE_KEY};
use crate::clock;
use crate::notify;
use crate::protocol::Reply;
use crate::store::own;
use crate::store::stream::{Consumer, Group, Pending, StreamId, StreamObj};

pub const COMMANDS: &[Spec] = &[
    command!("stream", "xreadgroup", -7, WRITE | BLOCKING, super::NO_KEYS, xreadgroup, "5.0.0",
        "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.")
    .with_key_specs(super::redis_meta::XREADGROUP)
    .with_find_keys(super::stream::read_keys),
    command!("stream", "xack", -4, WRITE | FAST, ONE_KEY, xack, "5.0.0",
        "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.")
    .with_key_specs(super::redis_meta::UPDATES),
    command!("stream", "xpending", -3, READONLY, ONE_KEY, xpending, "5.0.0",
        "Returns the information and entries from a stream consumer group's pending entries list.")
    .with_key_specs(super::redis_meta::READS)
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!("stream", "xclaim", -6, WRITE | FAST, ONE_KEY, xclaim, "5.0.0",
        "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.")
    .with_key_specs(super::redis_meta::UPDATES)
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!("stream", "xautoclaim", -6, WRITE | FAST, ONE_KEY, xautoclaim, "6.2.0",
        "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.")
    .with_key_specs(super::redis_meta::REMOVES)
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!("stream", "xgroup", -2, 0, super::NO_KEYS, super::conn::container, "5.0.0",
        "A container for consumer groups commands.")
    .with_subcommands(XGROUP_SUBCOMMANDS)
    .with_help(XGROUP_HELP),
    command!("stream", "xinfo", -2, 0, super::NO_KEYS, super::conn::container, "5.0.0",
        "A container for stream introspection commands.")
    .with_subcommands(XINFO_SUBCOMMANDS)
    .with_help(XINFO_HELP),
];

const XGROUP_SUBCOMMANDS: &[Spec] = &[
    command!(
        "stream",
        "create",
        -5,
        WRITE | DENYOOM,
        super::TWO_KEYS_AT_2,
        xgroup_create,
        "5.0.0",
        "Creates a consumer group."
    )
    .with_key_specs(super::redis_meta::XGROUP_INSERTS),
    command!(
        "stream",
        "createconsumer",
        5,
        WRITE | DENYOOM,
        super::TWO_KEYS_AT_2,
        xgroup_createconsumer,
        "6.2.0",
        "Creates a consumer in a consumer group."
    )
    .with_key_specs(super::redis_meta::XGROUP_INSERTS),
    command!(
        "stream",
        "delconsumer",
        5,
        WRITE,
        super::TWO_KEYS_AT_2,
        xgroup_delconsumer,
        "5.0.0",
        "Deletes a consumer from a consumer group."
    )
    .with_key_specs(super::redis_meta::XGROUP_DELETES),
    command!(
        "stream",
        "destroy",
        4,
        WRITE,
        super::TWO_KEYS_AT_2,
        xgroup_destroy,
        "5.0.0",
        "Destroys a consumer group."
    )
    .with_key_specs(super::redis_meta::XGROUP_DELETES),
    command!(
        "stream",
        "setid",
        -5,
        WRITE,
        super::TWO_KEYS_AT_2,
        xgroup_setid,
        "5.0.0",
        "Sets the last-delivered ID of a consumer group."
    )
    .with_key_specs(super::redis_meta::XGROUP_UPDATES),
    super::conn::help_subcommand("stream", "5.0.0"),
];

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

const XINFO_SUBCOMMANDS: &[Spec] = &[
    command!(
        "stream",
        "consumers",
        4,
        READONLY,
        super::TWO_KEYS_AT_2,
        xinfo_consumers,
        "5.0.0",
        "Returns a list of the consumers in a consumer group."
    )
    .with_key_specs(super::redis_meta::XINFO_READS)
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    command!(
        "stream",
        "groups",
        3,
        READONLY,
        super::TWO_KEYS_AT_2,
        xinfo_groups,
        "5.0.0",
        "Returns a list of the consumer groups of a stream."
    )
    .with_key_specs(super::redis_meta::XINFO_READS),
    command!(
        "stream",
        "stream",
        -3,
        READONLY,
        super::TWO_KEYS_AT_2,
        xinfo_stream,
        "5.0.0",
        "Returns information about a stream."
    )
    .with_key_specs(super::redis_meta::XINFO_READS),
    super::conn::help_subcommand("stream", "5.0.0"),
];

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn no_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        text(key),
        text(group)
    ))
}

fn no_group_for_key(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        text(group),
        text(key)
    ))
}

/// The record that restores one pending entry (Redis's XCLAIM propagation).
fn claim_record(
    key: &[u8],
    group_name: &[u8],
    group: &Group,
    id: StreamId,
    p: &Pending,
) -> Vec<Bytes> {
    let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    vec![
        b("XCLAIM"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group_name),
        p.consumer.clone(),
        b("0"),
        id.to_bytes(),
        b("TIME"),
        b(&p.delivery_time.to_string()),
        b("RETRYCOUNT"),
        b(&p.delivery_count.to_string()),
        b("FORCE"),
        b("JUSTID"),
        b("LASTID"),
        group.last_id.to_bytes(),
    ]
}

fn setid_record(key: &[u8], group_name: &[u8], group: &Group) -> Vec<Bytes> {
    let read = group
        .entries_read
        .map_or_else(|| "-1".to_string(), |n| n.to_string());
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"SETID"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group_name),
        group.last_id.to_bytes(),
        Bytes::from_static(b"ENTRIESREAD"),
        Bytes::from(read),
    ]
}

fn propagate_all(ctx: &mut Ctx<'_>, records: &[Vec<Bytes>]) {
    for record in records {
        let args: Vec<&[u8]> = record.iter().map(|a| a.as_ref()).collect();
        ctx.propagate(&args);
    }
}

/// Looks up `name` in the group, creating it (and saying so) if missing.
fn consumer_entry<'g>(group: &'g mut Group, name: &Bytes, now: u64) -> (&'g mut Consumer, bool) {
    let created = !group.consumers.contains_key(name);
    let consumer = group
        .consumers
        .entry(own(name))
        .or_insert_with(|| Consumer {
            seen_time: now,
            active_time: None,
            pending: Default::default(),
        });
    (consumer, created)
}

fn remove_pending(group: &mut Group, id: StreamId) -> Option<Pending> {
    let p = group.pending.remove(&id)?;
    if let Some(c) = group.consumers.get_mut(&p.consumer) {
        c.pending.remove(&id);
    }
    Some(p)
}

// ---------------------------------------------------------------------------------------
// XREADGROUP
// ---------------------------------------------------------------------------------------

fn xreadgroup(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    super::stream::read_command(ctx, args, true)
}

/// Serves one stream of an XREADGROUP: the consumer's history after an id, or entries
/// the group has not been given yet (`>`). None when `>` finds nothing new.
pub(super) fn read_group(
    ctx: &mut Ctx<'_>,
    key: &Bytes,
    group_name: &Bytes,
    consumer_name: &Bytes,
    history_after: Option<StreamId>,
    count: usize,
    noack: bool,
) -> Result<Option<Reply>, Reply> {
    let now = clock::now_ms();
    let mut records: Vec<Vec<Bytes>> = Vec::new();
    let mut created = false;
    let reply = write_stream(ctx.db(), key, false, |stream| {
        let Some(mut group) = stream.groups.remove(group_name.as_ref()) else {
            return Err(error::no_group_in_xreadgroup(key, group_name));
        };
        let (consumer, new) = consumer_entry(&mut group, consumer_name, now);
        consumer.seen_time = now;
        created = new;
        let reply = match history_after {
            Some(after) => Some(history(
                stream,
                &mut group,
                key,
                group_name,
                consumer_name,
                after,
                count,
                now,
                &mut records,
            )),
            None => deliver_new(
                stream,
                &mut group,
                key,
                group_name,
                consumer_name,
                count,
                noack,
                now,
                &mut records,
            ),
        };
        stream.groups.insert(own(group_name), group);
        Ok((reply, true))
    })?
    .ok_or_else(|| error::no_group_in_xreadgroup(key, group_name))?;
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
        ctx.propagate(&[b"XGROUP", b"CREATECONSUMER", key, group_name, consumer_name]);
    }
    propagate_all(ctx, &records);
    Ok(reply)
}

#[allow(clippy::too_many_arguments)]
fn history(
    stream: &StreamObj,
    group: &mut Group,
    key: &[u8],
    group_name: &[u8],
    consumer_name: &Bytes,
    after: StreamId,
    count: usize,
    now: u64,
    records: &mut Vec<Vec<Bytes>>,
) -> Reply {
    let Some(start) = after.incr() else {
        return Reply::Array(Vec::new());
    };
    let ids: Vec<StreamId> = group.consumers[consumer_name]
        .pending
        .range(start..)
        .take(if count == 0 { usize::MAX } else { count })
        .copied()
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match stream.get(id) {
            Some(entry) => {
                let p = group
                    .pending
                    .get_mut(&id)
                    .expect("consumer PEL is in the group PEL");
                p.delivery_time = now;
                p.delivery_count += 1;
                let p = p.clone();
                records.push(claim_record(key, group_name, group, id, &p));
                out.push(entry_reply(entry));
            }
            None => out.push(Reply::Array(vec![
                Reply::Bulk(id.to_bytes()),
                Reply::NullArray,
            ])),
        }
    }
    Reply::Array(out)
}

#[allow(clippy::too_many_arguments)]
fn deliver_new(
    stream: &StreamObj,
    group: &mut Group,
    key: &[u8],
    group_name: &[u8],
    consumer_name: &Bytes,
    count: usize,
    noack: bool,
    now: u64,
    records: &mut Vec<Vec<Bytes>>,
) -> Option<Reply> {
    if stream.is_empty() || stream.last_present_id() <= group.last_id {
        return None;
    }
    let start = group.last_id.incr()?;
    let entries = stream.range(start, StreamId::MAX, false, count);
    for entry in &entries {
        let id = entry.id;
        if id > group.last_id {
            stream.advance_group(group, id);
        }
        if noack {
            continue;
        }
        if let Some(old) = group.pending.get(&id).map(|p| p.consumer.clone()) {
            if let Some(c) = group.consumers.get_mut(&old) {
                c.pending.remove(&id);
            }
        }
        let pending = Pending {
            consumer: own(consumer_name),
            delivery_time: now,
            delivery_count: 1,
        };
        group.pending.insert(id, pending.clone());
        let consumer = group
            .consumers
            .get_mut(consumer_name)
            .expect("created above");
        consumer.pending.insert(id);
        consumer.active_time = Some(now);
        records.push(claim_record(key, group_name, group, id, &pending));
    }
    records.push(setid_record(key, group_name, group));
    Some(entries_reply(entries))
}

// ---------------------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------------------

/// XGROUP's ENTRIESREAD: a count, or -1 for unknown.
fn parse_entries_read(arg: &[u8]) -> Result<Option<u64>, Reply> {
    match args::int(arg)? {
        -1 => Ok(None),
        n if n < 0 => Err(error::ENTRIES_READ_NEGATIVE),
        n => Ok(Some(n as u64)),
    }
}

/// The stream at `key` for an XGROUP subcommand: WRONGTYPE, or the error for a missing
/// key (unless MKSTREAM).
fn xgroup_stream_exists(ctx: &Ctx<'_>, key: &[u8], mkstream: bool) -> Result<bool, Reply> {
    let exists = super::stream::stream_exists(ctx.db(), key)?;
    if !exists && !mkstream {
        return Err(error::XGROUP_KEY_MISSING);
    }
    Ok(exists)
}

fn xgroup_create(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (key, group) = (&args[2], &args[3]);
    let mut mkstream = false;
    let mut entries_read = None;
    let mut i = 5;
    while i < args.len() {
        if args::is(&args[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if args::is(&args[i], "entriesread") && i + 1 < args.len() {
            entries_read = parse_entries_read(&args[i + 1])?;
            i += 2;
        } else {
            return Err(error::xgroup_syntax(&args[1]));
        }
    }
    xgroup_stream_exists(ctx, key, mkstream)?;
    if args.len() > 8 {
        return Err(error::xgroup_syntax(&args[1]));
    }
    let last = super::stream::read_stream(ctx.db(), key, |s| s.map(|s| s.last_id))?;
    let id = if args[4].as_ref() == b"$" {
        last.unwrap_or(StreamId::MIN)
    } else {
        parse_strict_id(&args[4], 0)?
    };
    let created = write_stream(ctx.db(), key, true, |stream| {
        if stream.groups.contains_key(group.as_ref()) {
            return Ok((false, false));
        }
        let g = Group {
            last_id: id,
            entries_read,
            ..Default::default()
        };
        stream.groups.insert(own(group), g);
        Ok((true, true))
    })?
    .unwrap_or(false);
    if !created {
        return Err(error::BUSYGROUP);
    }
    ctx.notify(notify::STREAM, "xgroup-create", key);
    let read = entries_read.map_or_else(|| "-1".to_string(), |n| n.to_string());
    let id = id.to_string();
    // MKSTREAM always: harmless when the stream exists, needed when this created it.
    ctx.propagate(&[
        b"XGROUP",
        b"CREATE",
        key,
        group,
        id.as_bytes(),
        b"MKSTREAM",
        b"ENTRIESREAD",
        read.as_bytes(),
    ]);
    Ok(Reply::OK)
}

/// Runs `f` on the group `args[3]` of the stream `args[2]`, with the NOGROUP error
/// when it is missing.
fn with_group<R>(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    f: impl FnOnce(&mut StreamObj, &mut Group) -> Result<(R, bool), Reply>,
) -> Result<R, Reply> {
    let (key, name) = (&args[2], &args[3]);
    xgroup_stream_exists(ctx, key, false)?;
    write_stream(ctx.db(), key, false, |stream| {
        let Some(mut group) = stream.groups.remove(name.as_ref()) else {
            return Err(no_group_for_key(key, name));
        };
        let result = f(stream, &mut group);
        stream.groups.insert(own(name), group);
        result
    })?
    .ok_or(error::XGROUP_KEY_MISSING)
}

fn xgroup_setid(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut entries_read = None;
    match args.len() {
        5 => {}
        7 if args::is(&args[5], "entriesread") => entries_read = parse_entries_read(&args[6])?,
        _ => return Err(error::xgroup_syntax(&args[1])),
    }
    let dollar = args[4].as_ref() == b"$";
    let given = if dollar {
        None
    } else {
        Some(parse_id(&args[4], 0))
    };
    let group = with_group(ctx, args, |stream, group| {
        group.last_id = match &given {
            None => stream.last_id,
            Some(id) => id.clone()?,
        };
        group.entries_read = entries_read;
        Ok((setid_record(&args[2], &args[3], group), true))
    })?;
    ctx.notify(notify::STREAM, "xgroup-setid", &args[2]);
    propagate_all(ctx, &[group]);
    Ok(Reply::OK)
}

fn xgroup_destroy(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (key, name) = (&args[2], &args[3]);
    xgroup_stream_exists(ctx, key, false)?;
    let destroyed = write_stream(ctx.db(), key, false, |stream| {
        let gone = stream.groups.remove(name.as_ref()).is_some();
        Ok((gone, gone))
    })?
    .unwrap_or(false);
    if !destroyed {
        return Ok(Reply::Integer(0));
    }
    ctx.notify(notify::STREAM, "xgroup-destroy", key);
    ctx.propagate(&[b"XGROUP", b"DESTROY", key, name]);
    // Readers blocked on the group learn that it is gone.
    ctx.shared.blocking.signal(ctx.client.db, key);
    Ok(Reply::Integer(1))
}

fn xgroup_createconsumer(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let now = clock::now_ms();
    let created = with_group(ctx, args, |_, group| {
        let (_, created) = consumer_entry(group, &args[4], now);
        Ok((created, created))
    })?;
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", &args[2]);
        ctx.propagate(&[b"XGROUP", b"CREATECONSUMER", &args[2], &args[3], &args[4]]);
    }
    Ok(Reply::Integer(created as i64))
}

fn xgroup_delconsumer(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let deleted = with_group(ctx, args, |_, group| {
        let Some(consumer) = group.consumers.remove(args[4].as_ref()) else {
            return Ok((None, false));
        };
        for id in &consumer.pending {
            group.pending.remove(id);
        }
        Ok((Some(consumer.pending.len()), true))
    })?;
    let Some(pending) = deleted else {
        return Ok(Reply::Integer(0));
    };
    ctx.notify(notify::STREAM, "xgroup-delconsumer", &args[2]);
    ctx.propagate(&[b"XGROUP", b"DELCONSUMER", &args[2], &args[3], &args[4]]);
    Ok(Reply::Integer(pending as i64))
}

// ---------------------------------------------------------------------------------------
// XACK, XPENDING
// ---------------------------------------------------------------------------------------

fn xack(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let ids = args[3..]
        .iter()
        .map(|a| parse_strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let (key, name) = (&args[1], &args[2]);
    let acked = write_stream(ctx.db(), key, false, |stream| {
        let Some(group) = stream.groups.get_mut(name.as_ref()) else {
            return Ok((Vec::new(), false));
        };
        let acked: Vec<StreamId> = ids
            .iter()
            .copied()
            .filter(|id| remove_pending(group, *id).is_some())
            .collect();
        let changed = !acked.is_empty();
        Ok((acked, changed))
    })?
    .unwrap_or_default();
    if !acked.is_empty() {
        let texts: Vec<String> = acked.iter().map(|id| id.to_string()).collect();
        let mut record: Vec<&[u8]> = vec![b"XACK", key, name];
        record.extend(texts.iter().map(|t| t.as_bytes()));
        ctx.propagate(&record);
    }
    Ok(Reply::Integer(acked.len() as i64))
}

fn interval(arg: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_strict_id(&arg[1..], missing_seq)?;
        if start {
            id.incr().ok_or(error::STREAM_INVALID_START)
        } else {
            id.decr().ok_or(error::STREAM_INVALID_END)
        }
    } else {
        parse_id(arg, missing_seq)
    }
}

fn xpending(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (key, name) = (&args[1], &args[2]);
    if args.len() != 3 && (args.len() < 6 || args.len() > 9) {
        return Err(error::SYNTAX);
    }
    struct Extended {
        min_idle: i64,
        start: StreamId,
        end: StreamId,
        count: usize,
        consumer: Option<Bytes>,
    }
    let mut extended = None;
    if args.len() >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if args::is(&args[3], "idle") {
            min_idle = args::int(&args[4])?;
            if args.len() < 8 {
                return Err(error::SYNTAX);
            }
            at += 2;
        }
        let count = args::int(&args[at + 2])?.max(0) as usize;
        let start = interval(&args[at], 0, true)?;
        let end = interval(&args[at + 1], u64::MAX, false)?;
        extended = Some(Extended {
            min_idle,
            start,
            end,
            count,
            consumer: args.get(at + 3).cloned(),
        });
    }
    let now = clock::now_ms();
    super::stream::read_stream(ctx.db(), key, |stream| {
        let group = stream
            .and_then(|s| s.groups.get(name.as_ref()))
            .ok_or_else(|| no_group(key, name))?;
        let Some(x) = extended else {
            let Some((first, _)) = group.pending.first_key_value() else {
                return Ok(Reply::Array(vec![
                    Reply::Integer(0),
                    Reply::Null,
                    Reply::Null,
                    Reply::NullArray,
                ]));
            };
            let last = group.pending.keys().next_back().expect("not empty");
            let consumers = group
                .consumers
                .iter()
                .filter(|(_, c)| !c.pending.is_empty())
                .map(|(n, c)| {
                    Reply::Array(vec![
                        Reply::Bulk(n.clone()),
                        Reply::Bulk(Bytes::from(c.pending.len().to_string())),
                    ])
                })
                .collect();
            return Ok(Reply::Array(vec![
                Reply::Integer(group.pending.len() as i64),
                Reply::Bulk(first.to_bytes()),
                Reply::Bulk(last.to_bytes()),
                Reply::Array(consumers),
            ]));
        };
        let ids: Box<dyn Iterator<Item = StreamId>> = match &x.consumer {
            Some(c) => match group.consumers.get(c.as_ref()) {
                None => return Ok(Reply::Array(Vec::new())),
                Some(c) => Box::new(c.pending.iter().copied()),
            },
            None => Box::new(group.pending.keys().copied()),
        };
        let mut out = Vec::new();
        if x.start > x.end {
            return Ok(Reply::Array(out));
        }
        for id in ids
            .skip_while(|id| *id < x.start)
            .take_while(|id| *id <= x.end)
        {
            if out.len() >= x.count {
                break;
            }
            let p = &group.pending[&id];
            let idle = now as i64 - p.delivery_time as i64;
            if x.min_idle != 0 && idle < x.min_idle {
                continue;
            }
            out.push(Reply::Array(vec![
                Reply::Bulk(id.to_bytes()),
                Reply::Bulk(p.consumer.clone()),
                Reply::Integer(idle.max(0)),
                Reply::Integer(p.delivery_count as i64),
            ]));
        }
        Ok(Reply::Array(out))
    })?
}

// ---------------------------------------------------------------------------------------
// XCLAIM, XAUTOCLAIM
// ---------------------------------------------------------------------------------------

/// The group `name` of the stream at `key` must exist (NOGROUP otherwise).
fn require_group(ctx: &Ctx<'_>, key: &[u8], name: &[u8]) -> Result<(), Reply> {
    let found = super::stream::read_stream(ctx.db(), key, |s| {
        s.is_some_and(|s| s.groups.contains_key(name))
    })?;
    if found {
        Ok(())
    } else {
        Err(no_group(key, name))
    }
}

/// Gives pending entry `id` to `consumer` (creating the consumer on first use);
/// its record.
#[allow(clippy::too_many_arguments)]
fn claim_one(
    group: &mut Group,
    key: &[u8],
    group_name: &[u8],
    consumer_name: &Bytes,
    id: StreamId,
    delivery_time: u64,
    retry_count: Option<u64>,
    justid: bool,
    now: u64,
    created: &mut bool,
) -> Vec<Bytes> {
    let (consumer, new) = consumer_entry(group, consumer_name, now);
    consumer.seen_time = now;
    consumer.active_time = Some(now);
    consumer.pending.insert(id);
    *created |= new;
    let p = group
        .pending
        .get_mut(&id)
        .expect("claimed entries are pending");
    let old = std::mem::replace(&mut p.consumer, own(consumer_name));
    p.delivery_time = delivery_time;
    match retry_count {
        Some(n) => p.delivery_count = n,
        None if !justid => p.delivery_count += 1,
        None => {}
    }
    let p = p.clone();
    if old != *consumer_name {
        if let Some(c) = group.consumers.get_mut(&old) {
            c.pending.remove(&id);
        }
    }
    claim_record(key, group_name, group, id, &p)
}

fn claim_error(option: &str) -> Reply {
    Reply::error(format!("ERR Invalid {option} argument for XCLAIM"))
}

fn xclaim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (key, name, consumer_name) = (&args[1], &args[2], &args[3]);
    require_group(ctx, key, name)?;
    let min_idle = crate::protocol::decode::parse_i64(&args[4])
        .ok_or_else(|| claim_error("min-idle-time"))?
        .max(0) as u64;
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_strict_id(&args[j], 0) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = clock::now_ms();
    let (mut force, mut justid) = (false, false);
    let mut delivery: Option<i64> = None;
    let mut retry_count: Option<u64> = None;
    let mut last_id: Option<StreamId> = None;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        let int = |arg: &[u8], what: &str| {
            crate::protocol::decode::parse_i64(arg).ok_or_else(|| claim_error(what))
        };
        if args::is(opt, "force") {
            force = true;
        } else if args::is(opt, "justid") {
            justid = true;
        } else if args::is(opt, "idle") && more > 0 {
            j += 1;
            delivery = Some(now as i64 - int(&args[j], "IDLE option")?);
        } else if args::is(opt, "time") && more > 0 {
            j += 1;
            delivery = Some(int(&args[j], "TIME option")?);
        } else if args::is(opt, "retrycount") && more > 0 {
            j += 1;
            retry_count = Some(int(&args[j], "RETRYCOUNT option")?.max(0) as u64);
        } else if args::is(opt, "lastid") && more > 0 {
            j += 1;
            last_id = Some(parse_strict_id(&args[j], 0)?);
        } else {
            return Err(Reply::error(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                text(opt)
            )));
        }
        j += 1;
    }
    let delivery_time = match delivery {
        Some(t) if t >= 0 && t as u64 <= now => t as u64,
        _ => now,
    };
    let mut records = Vec::new();
    let mut created = false;
    let reply = write_stream(ctx.db(), key, false, |stream| {
        let mut group = stream.groups.remove(name.as_ref()).expect("checked above");
        let mut moved_last = false;
        if let Some(id) = last_id {
            if id > group.last_id {
                group.last_id = id;
                moved_last = true;
            }
        }
        let mut out = Vec::new();
        for id in &ids {
            let id = *id;
            if !stream.contains(id) {
                if let Some(p) = group.pending.get(&id).cloned() {
                    records.push(claim_record(key, name, &group, id, &p));
                    remove_pending(&mut group, id);
                    moved_last = false;
                }
                continue;
            }
            if force && !group.pending.contains_key(&id) {
                group.pending.insert(
                    id,
                    Pending {
                        consumer: Bytes::new(),
                        delivery_time: now,
                        delivery_count: 0,
                    },
                );
            }
            let Some(p) = group.pending.get(&id) else {
                continue;
            };
            let unowned = p.consumer.is_empty() && !group.consumers.contains_key(&p.consumer);
            if !unowned && min_idle > 0 && now.saturating_sub(p.delivery_time) < min_idle {
                continue;
            }
            records.push(claim_one(
                &mut group,
                key,
                name,
                consumer_name,
                id,
                delivery_time,
                retry_count,
                justid,
                now,
                &mut created,
            ));
            moved_last = false;
            out.push(if justid {
                Reply::Bulk(id.to_bytes())
            } else {
                entry_reply(stream.get(id).expect("checked above"))
            });
        }
        if moved_last {
            records.push(setid_record(key, name, &group));
        }
        stream.groups.insert(own(name), group);
        Ok((Reply::Array(out), true))
    })?
    .expect("checked above");
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    propagate_all(ctx, &records);
    Ok(reply)
}

fn xautoclaim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (key, name, consumer_name) = (&args[1], &args[2], &args[3]);
    let min_idle = crate::protocol::decode::parse_i64(&args[4])
        .ok_or_else(|| Reply::error("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0) as u64;
    let start = interval(&args[5], 0, true)?;
    let mut count: usize = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if args::is(&args[j], "count") && more > 0 {
            count = match crate::protocol::decode::parse_i64(&args[j + 1]) {
                Some(n) if (1..=i64::MAX / 16).contains(&n) => n as usize,
                _ => return Err(error::XAUTOCLAIM_COUNT),
            };
            j += 1;
        } else if args::is(&args[j], "justid") {
            justid = true;
        } else {
            return Err(error::SYNTAX);
        }
        j += 1;
    }
    require_group(ctx, key, name)?;
    let now = clock::now_ms();
    let mut records = Vec::new();
    let mut created = false;
    let reply = write_stream(ctx.db(), key, false, |stream| {
        let mut group = stream.groups.remove(name.as_ref()).expect("checked above");
        let mut attempts = count * 10;
        let mut left = count;
        let mut claimed = Vec::new();
        let mut deleted = Vec::new();
        let candidates: Vec<StreamId> = group.pending.range(start..).map(|(id, _)| *id).collect();
        let mut next = StreamId::MIN;
        let mut iter = candidates.into_iter();
        for id in iter.by_ref() {
            if attempts == 0 || left == 0 {
                next = id;
                break;
            }
            attempts -= 1;
            if !stream.contains(id) {
                let p = group.pending[&id].clone();
                records.push(claim_record(key, name, &group, id, &p));
                remove_pending(&mut group, id);
                deleted.push(Reply::Bulk(id.to_bytes()));
                left -= 1;
                continue;
            }
            let p = &group.pending[&id];
            if min_idle > 0 && now.saturating_sub(p.delivery_time) < min_idle {
                continue;
            }
            records.push(claim_one(
                &mut group,
                key,
                name,
                consumer_name,
                id,
                now,
                None,
                justid,
                now,
                &mut created,
            ));
            claimed.push(if justid {
                Reply::Bulk(id.to_bytes())
            } else {
                entry_reply(stream.get(id).expect("checked above"))
            });
            left -= 1;
        }
        stream.groups.insert(own(name), group);
        let reply = Reply::Array(vec![
            Reply::Bulk(next.to_bytes()),
            Reply::Array(claimed),
            Reply::Array(deleted),
        ]);
        Ok((reply, true))
    })?
    .expect("checked above");
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    propagate_all(ctx, &records);
    Ok(reply)
}

// ---------------------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------------------

fn field(name: &'static str, value: Reply) -> (Reply, Reply) {
    (Reply::bulk_str(name), value)
}

fn count_or_null(n: Option<u64>) -> Reply {
    n.map_or(Reply::Null, |n| Reply::Integer(n as i64))
}

/// A map in RESP3, a flat field/value array in RESP2.
fn map_reply(ctx: &Ctx<'_>, fields: Vec<(Reply, Reply)>) -> Reply {
    if ctx.client.proto >= 3 {
        Reply::Map(fields)
    } else {
        Reply::Array(fields.into_iter().flat_map(|(k, v)| [k, v]).collect())
    }
}

/// The stream at `key` for XINFO: `ERR no such key` when missing.
fn xinfo_read<R>(ctx: &Ctx<'_>, key: &[u8], f: impl FnOnce(&StreamObj) -> R) -> Result<R, Reply> {
    super::stream::read_stream(ctx.db(), key, |s| s.map(f))?.ok_or(error::NO_SUCH_KEY)
}

fn xinfo_consumers(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (key, name) = (&args[2], &args[3]);
    let now = clock::now_ms() as i64;
    let consumers = xinfo_read(ctx, key, |s| {
        s.groups.get(name.as_ref()).map(|g| {
            g.consumers
                .iter()
                .map(|(n, c)| {
                    (
                        n.clone(),
                        c.pending.len(),
                        (now - c.seen_time as i64).max(0),
                        c.active_time.map_or(-1, |t| (now - t as i64).max(0)),
                    )
                })
                .collect::<Vec<_>>()
        })
    })?
    .ok_or_else(|| no_group_for_key(key, name))?;
    let replies = consumers
        .into_iter()
        .map(|(n, pending, idle, inactive)| {
            map_reply(
                ctx,
                vec![
                    field("name", Reply::Bulk(n)),
                    field("pending", Reply::Integer(pending as i64)),
                    field("idle", Reply::Integer(idle)),
                    field("inactive", Reply::Integer(inactive)),
                ],
            )
        })
        .collect();
    Ok(Reply::Array(replies))
}

fn group_summary(ctx: &Ctx<'_>, s: &StreamObj, name: &Bytes, g: &Group) -> Reply {
    map_reply(
        ctx,
        vec![
            field("name", Reply::Bulk(name.clone())),
            field("consumers", Reply::Integer(g.consumers.len() as i64)),
            field("pending", Reply::Integer(g.pending.len() as i64)),
            field("last-delivered-id", Reply::Bulk(g.last_id.to_bytes())),
            field("entries-read", count_or_null(g.entries_read)),
            field("lag", s.lag(g).map_or(Reply::Null, Reply::Integer)),
        ],
    )
}

fn xinfo_groups(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let key = &args[2];
    let ctx: &Ctx<'_> = ctx;
    xinfo_read(ctx, key, |s| {
        Reply::Array(
            s.groups
                .iter()
                .map(|(name, g)| group_summary(ctx, s, name, g))
                .collect(),
        )
    })
}

/// Rax nodes Redis would report for this many keys: an estimate (Redis's count depends
/// on how the 128-bit keys share prefixes).
fn radix_nodes(blocks: usize) -> i64 {
    blocks as i64 + 1
}

fn xinfo_stream(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let key = &args[2];
    let syntax = || error::xinfo_syntax(&args[1]);
    let full = match args.len() {
        3 => None,
        4 if args::is(&args[3], "full") => Some(10),
        6 if args::is(&args[3], "full") && args::is(&args[4], "count") => {
            Some(args::int(&args[5])?.max(0) as usize)
        }
        _ => return Err(syntax()),
    };
    let ctx: &Ctx<'_> = ctx;
    xinfo_read(ctx, key, |s| {
        let mut fields = vec![
            field("length", Reply::Integer(s.len() as i64)),
            field("radix-tree-keys", Reply::Integer(s.block_count() as i64)),
            field(
                "radix-tree-nodes",
                Reply::Integer(radix_nodes(s.block_count())),
            ),
            field("last-generated-id", Reply::Bulk(s.last_id.to_bytes())),
            field(
                "max-deleted-entry-id",
                Reply::Bulk(s.max_deleted_id.to_bytes()),
            ),
            field("entries-added", Reply::Integer(s.entries_added as i64)),
            field(
                "recorded-first-entry-id",
                Reply::Bulk(s.first_id().to_bytes()),
            ),
        ];
        let Some(count) = full else {
            fields.push(field("groups", Reply::Integer(s.groups.len() as i64)));
            fields.push(field(
                "first-entry",
                s.first_entry().map_or(Reply::Null, entry_reply),
            ));
            fields.push(field(
                "last-entry",
                s.last_entry().map_or(Reply::Null, entry_reply),
            ));
            return map_reply(ctx, fields);
        };
        fields.push(field(
            "entries",
            entries_reply(s.range(StreamId::MIN, StreamId::MAX, false, count)),
        ));
        let limit = if count == 0 { usize::MAX } else { count };
        let groups = s
            .groups
            .iter()
            .map(|(name, g)| {
                let pel = g
                    .pending
                    .iter()
                    .take(limit)
                    .map(|(id, p)| {
                        Reply::Array(vec![
                            Reply::Bulk(id.to_bytes()),
                            Reply::Bulk(p.consumer.clone()),
                            Reply::Integer(p.delivery_time as i64),
                            Reply::Integer(p.delivery_count as i64),
                        ])
                    })
                    .collect();
                let consumers = g
                    .consumers
                    .iter()
                    .map(|(cname, c)| {
                        let pending = c
                            .pending
                            .iter()
                            .take(limit)
                            .map(|id| {
                                let p = &g.pending[id];
                                Reply::Array(vec![
                                    Reply::Bulk(id.to_bytes()),
                                    Reply::Integer(p.delivery_time as i64),
                                    Reply::Integer(p.delivery_count as i64),
                                ])
                            })
                            .collect();
                        map_reply(
                            ctx,
                            vec![
                                field("name", Reply::Bulk(cname.clone())),
                                field("seen-time", Reply::Integer(c.seen_time as i64)),
                                field(
                                    "active-time",
                                    Reply::Integer(c.active_time.map_or(-1, |t| t as i64)),
                                ),
                                field("pel-count", Reply::Integer(c.pending.len() as i64)),
                                field("pending", Reply::Array(pending)),
                            ],
                        )
                    })
                    .collect();
                map_reply(
                    ctx,
                    vec![
                        field("name", Reply::Bulk(name.clone())),
                        field("last-delivered-id", Reply::Bulk(g.last_id.to_bytes())),
                        field("entries-read", count_or_null(g.entries_read)),
                        field("lag", s.lag(g).map_or(Reply::Null, Reply::Integer)),
                        field("pel-count", Reply::Integer(g.pending.len() as i64)),
                        field("pending", Reply::Array(pel)),
                        field("consumers", Reply::Array(consumers)),
                    ],
                )
            })
            .collect();
        fields.push(field("groups", Reply::Array(groups)));
        map_reply(ctx, fields)
    })
}
