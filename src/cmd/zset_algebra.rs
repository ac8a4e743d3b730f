//! Sorted-set algebra and multi-key pops: ZUNION, ZINTER, ZDIFF and their STORE forms,
//! ZINTERCARD, ZMPOP, and the blocking BZPOPMIN, BZPOPMAX, BZMPOP.
//!
//! The algebra follows Redis's `zunionInterDiffGenericCommand`: plain sets count as
//! sorted sets whose members all score 1; inputs are taken smallest first for union and
//! intersection (a stable order, as glibc's merge sort leaves it), which is the order
//! their scores are added in, so sums round as Redis's do. A STORE is logged as itself:
//! it replays to the same result from the same sources. A pop is logged as the
//! `ZPOPMIN`/`ZPOPMAX` it amounts to, as Redis propagates it.
//!
//! Blocking pops reuse the list machinery (`list::wait_pop`): a client finding every
//! key empty queues on them in `session::blocking`, and a sorted set stored under one of
//! them wakes it.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;

use super::list::{block, can_block, parse_timeout};
use super::zset::{elements_reply, parse_score, pop_extreme};
use super::{args, command, error, flags::*, Ctx, KeySpec, Outcome, Spec, NO_KEYS, ONE_KEY};
use crate::clock;
use crate::notify;
use crate::protocol::decode::parse_i64;
use crate::protocol::Reply;
use crate::session::BlockedPop;
use crate::store::zset::{AddFlags, ZSetObj};
use crate::store::{Value, ValueRef};

/// BZPOPMIN/BZPOPMAX: every argument but the first and the last is a key.
const BLOCKING_KEYS: KeySpec = KeySpec {
    first: 1,
    last: -2,
    step: 1,
};

pub const COMMANDS: &[Spec] = &[
    command!("sorted-set", "zunion", -3, READONLY, NO_KEYS, zunion, "6.2.0",
        "Returns the union of multiple sorted sets.")
.with_key_specs(super::redis_meta::READS_COUNTED)
        .with_find_keys(super::counted_keys_at_1),
    command!("sorted-set", "zinter", -3, READONLY, NO_KEYS, zinter, "6.2.0",
        "Returns the intersect of multiple sorted sets.")
.with_key_specs(super::redis_meta::READS_COUNTED)
        .with_find_keys(super::counted_keys_at_1),
    command!("sorted-set", "zdiff", -3, READONLY, NO_KEYS, zdiff, "6.2.0",
        "Returns the difference between multiple sorted sets.")
.with_key_specs(super::redis_meta::READS_COUNTED)
        .with_find_keys(super::counted_keys_at_1),
    command!("sorted-set", "zunionstore", -4, WRITE | DENYOOM, ONE_KEY, zunionstore, "2.0.0",
        "Stores the union of multiple sorted sets in a key.")
.with_key_specs(super::redis_meta::STORES_FROM_COUNTED)
        .with_find_keys(super::destination_and_counted_keys),
    command!("sorted-set", "zinterstore", -4, WRITE | DENYOOM, ONE_KEY, zinterstore, "2.0.0",
        "Stores the intersect of multiple sorted sets in a key.")
.with_key_specs(super::redis_meta::STORES_FROM_COUNTED)
        .with_find_keys(super::destination_and_counted_keys),
    command!("sorted-set", "zdiffstore", -4, WRITE | DENYOOM, ONE_KEY, zdiffstore, "6.2.0",
        "Stores the difference of multiple sorted sets in a key.")
.with_key_specs(super::redis_meta::STORES_FROM_COUNTED)
        .with_find_keys(super::destination_and_counted_keys),
    command!("sorted-set", "zintercard", -3, READONLY, NO_KEYS, zintercard, "7.0.0",
        "Returns the number of members of the intersect of multiple sorted sets.")
.with_key_specs(super::redis_meta::READS_COUNTED)
        .with_find_keys(super::counted_keys_at_1),
    command!("sorted-set", "zmpop", -4, WRITE | HANDS_OUT, NO_KEYS, zmpop, "7.0.0",
        "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.")
.with_key_specs(super::redis_meta::POPS_COUNTED)
        .with_find_keys(super::counted_keys_at_1),
    command!("sorted-set", "bzmpop", -5, WRITE | BLOCKING | HANDS_OUT, NO_KEYS, bzmpop, "7.0.0",
        "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.")
.with_key_specs(super::redis_meta::POPS_COUNTED_AFTER_TIMEOUT)
        .with_find_keys(super::counted_keys_at_2),
    command!("sorted-set", "bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST | HANDS_OUT, BLOCKING_KEYS, bzpopmin, "5.0.0",
        "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.")
.with_key_specs(super::redis_meta::POPS_ALL_BUT_LAST),
    command!("sorted-set", "bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST | HANDS_OUT, BLOCKING_KEYS, bzpopmax, "5.0.0",
        "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.")
.with_key_specs(super::redis_meta::POPS_ALL_BUT_LAST),
];

// ---------------------------------------------------------------------------------------
// Union, intersection, difference
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate`: a NaN sum (inf + -inf) becomes 0.
    fn apply(self, target: &mut f64, value: f64) {
        match self {
            Aggregate::Sum => {
                *target += value;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if value < *target {
                    *target = value;
                }
            }
            Aggregate::Max => {
                if value > *target {
                    *target = value;
                }
            }
        }
    }
}

/// One input: its members and scores (a plain set's score 1), and its weight.
struct Input {
    members: Vec<(Bytes, f64)>,
    index: HashMap<Bytes, f64>,
    weight: f64,
}

/// What was asked beyond the keys.
struct Request {
    inputs: Vec<Input>,
    aggregate: Aggregate,
    with_scores: bool,
    limit: u64,
}

/// Parses `numkeys key... options` (from `args[at]`) as Redis does: the count, the keys
/// looked up and type-checked, then the options this command takes.
fn parse_request(
    ctx: &Ctx<'_>,
    args: &[Bytes],
    at: usize,
    op: Op,
    store: bool,
    cardinality: bool,
) -> Result<Request, Reply> {
    let numkeys = args::int(&args[at])?;
    if numkeys < 1 {
        return Err(error::at_least_one_input_key(
            &args::text(&args[0]).to_ascii_lowercase(),
        ));
    }
    if numkeys as u64 > (args.len() - at - 1) as u64 {
        return Err(error::SYNTAX);
    }
    let keys = &args[at + 1..at + 1 + numkeys as usize];
    let db = ctx.db();
    let now = clock::now_ms();
    let mut inputs = Vec::with_capacity(keys.len());
    for key in keys {
        let members: Vec<(Bytes, f64)> = match db.lookup_read(key, now) {
            None => Vec::new(),
            Some(entry) => match entry.value() {
                ValueRef::ZSet(z) => z.iter().map(|(m, s)| (m.clone(), s)).collect(),
                ValueRef::Set(s) => s.members.iter().map(|m| (m.clone(), 1.0)).collect(),
                _ => return Err(error::WRONGTYPE),
            },
        };
        let index = if op == Op::Union {
            HashMap::new()
        } else {
            members.iter().cloned().collect()
        };
        inputs.push(Input {
            members,
            index,
            weight: 1.0,
        });
    }
    let mut request = Request {
        inputs,
        aggregate: Aggregate::Sum,
        with_scores: false,
        limit: 0,
    };
    let mut j = at + 1 + keys.len();
    while j < args.len() {
        let remaining = args.len() - j;
        let word = &args[j];
        if op != Op::Diff && !cardinality && remaining > keys.len() && args::is(word, "weights") {
            for input in request.inputs.iter_mut() {
                j += 1;
                input.weight = parse_score(&args[j]).ok_or(error::WEIGHT_NOT_FLOAT)?;
            }
        } else if op != Op::Diff && !cardinality && remaining >= 2 && args::is(word, "aggregate") {
            j += 1;
            request.aggregate = if args::is(&args[j], "sum") {
                Aggregate::Sum
            } else if args::is(&args[j], "min") {
                Aggregate::Min
            } else if args::is(&args[j], "max") {
                Aggregate::Max
            } else {
                return Err(error::SYNTAX);
            };
        } else if !store && !cardinality && args::is(word, "withscores") {
            request.with_scores = true;
        } else if cardinality && remaining >= 2 && args::is(word, "limit") {
            j += 1;
            request.limit = match parse_i64(&args[j]) {
                Some(n) if n >= 0 => n as u64,
                _ => return Err(error::LIMIT_NEGATIVE),
            };
        } else {
            return Err(error::SYNTAX);
        }
        j += 1;
    }
    if op != Op::Diff {
        request.inputs.sort_by_key(|input| input.members.len());
    }
    Ok(request)
}

/// The members of the result and their scores, unordered.
fn combine(request: &Request, op: Op) -> Vec<(Bytes, f64)> {
    let inputs = &request.inputs;
    match op {
        Op::Inter => intersect(request, None).1,
        Op::Union => {
            let mut scores: HashMap<Bytes, f64> = HashMap::new();
            for input in inputs {
                for (member, score) in &input.members {
                    let mut value = input.weight * score;
                    if value.is_nan() {
                        value = 0.0;
                    }
                    match scores.get_mut(member) {
                        Some(total) => request.aggregate.apply(total, value),
                        None => {
                            scores.insert(member.clone(), value);
                        }
                    }
                }
            }
            scores.into_iter().collect()
        }
        Op::Diff => {
            let (first, rest) = inputs.split_first().expect("numkeys is at least 1");
            first
                .members
                .iter()
                .filter(|(m, _)| !rest.iter().any(|input| input.index.contains_key(m)))
                .cloned()
                .collect()
        }
    }
}

/// The intersection (inputs smallest first): how many members it has, counting up to
/// `limit` if given (then the members are not collected), and its members.
fn intersect(request: &Request, limit: Option<u64>) -> (u64, Vec<(Bytes, f64)>) {
    let (first, rest) = request.inputs.split_first().expect("numkeys is at least 1");
    let mut count = 0;
    let mut out = Vec::new();
    'members: for (member, score) in &first.members {
        let mut total = first.weight * score;
        if total.is_nan() {
            total = 0.0;
        }
        for input in rest {
            let Some(other) = input.index.get(member) else {
                continue 'members;
            };
            request.aggregate.apply(&mut total, other * input.weight);
        }
        count += 1;
        match limit {
            Some(limit) => {
                if limit > 0 && count >= limit {
                    break;
                }
            }
            None => out.push((member.clone(), total)),
        }
    }
    (count, out)
}

/// Orders members as a sorted set does: by score, then bytewise.
fn sorted(mut items: Vec<(Bytes, f64)>) -> Vec<(Bytes, f64)> {
    // Scores are never NaN here; -0 and 0 are equal, as in a sorted set.
    items.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    items
}

fn read_op(ctx: &mut Ctx<'_>, args: &[Bytes], op: Op) -> Outcome {
    let request = parse_request(ctx, args, 1, op, false, false)?;
    let items = sorted(combine(&request, op));
    Ok(elements_reply(
        items,
        request.with_scores,
        ctx.client.proto >= 3,
    ))
}

fn store_op(ctx: &mut Ctx<'_>, args: &[Bytes], op: Op, event: &str) -> Outcome {
    let request = parse_request(ctx, args, 2, op, true, false)?;
    let items = combine(&request, op);
    let len = items.len();
    let value = (len > 0).then(|| {
        let mut z = ZSetObj::new();
        for (member, score) in &items {
            z.add(member, *score, AddFlags::default());
        }
        Value::ZSet(Box::new(z))
    });
    super::set::store_result(ctx, args, value, notify::ZSET, event);
    Ok(Reply::Integer(len as i64))
}

fn zunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_op(ctx, args, Op::Union)
}

fn zinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_op(ctx, args, Op::Inter)
}

fn zdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_op(ctx, args, Op::Diff)
}

fn zunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    store_op(ctx, args, Op::Union, "zunionstore")
}

fn zinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    store_op(ctx, args, Op::Inter, "zinterstore")
}

fn zdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    store_op(ctx, args, Op::Diff, "zdiffstore")
}

fn zintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let request = parse_request(ctx, args, 1, Op::Inter, false, true)?;
    let (count, _) = intersect(&request, Some(request.limit));
    Ok(Reply::Integer(count as i64))
}

// ---------------------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------------------

/// ZMPOP/BZMPOP arguments from `numkeys`: the keys, MAX or MIN, the count.
fn parse_mpop(args: &[Bytes]) -> Result<(&[Bytes], bool, usize), Reply> {
    let numkeys = match parse_i64(&args[0]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(error::NUMKEYS_NOT_POSITIVE),
    };
    let where_at = match numkeys.checked_add(1) {
        Some(i) if i < args.len() as u64 => i as usize,
        _ => return Err(error::SYNTAX),
    };
    let max = if args::is(&args[where_at], "min") {
        false
    } else if args::is(&args[where_at], "max") {
        true
    } else {
        return Err(error::SYNTAX);
    };
    let count = args::mpop_count(&args[where_at + 1..])?;
    Ok((&args[1..where_at], max, count))
}

/// Pops from the first of `keys` holding a sorted set: `count` members answered as
/// ZMPOP does (`[key, [[member, score], ...]]`), or with `count` None one member as
/// BZPOPMIN does (`[key, member, score]`); logged as `ZPOPMIN key [n]`. A blocked
/// client (`waiter`) takes only from keys whose queue it heads and skips keys of other
/// types. None when nothing could be popped.
pub fn serve(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    max: bool,
    count: Option<usize>,
    waiter: Option<u64>,
) -> Result<Option<Reply>, Reply> {
    for key in keys {
        let is_zset = match ctx.db().peek(key, clock::now_ms()) {
            None => continue,
            Some(entry) => matches!(entry.value(), ValueRef::ZSet(_)),
        };
        if !is_zset {
            if waiter.is_some() {
                continue;
            }
            return Err(error::WRONGTYPE);
        }
        if let Some(id) = waiter {
            if !ctx.shared.blocking.is_first(ctx.client.db, key, id) {
                continue;
            }
        }
        let Some(items) = pop_extreme(ctx, key, max, count.unwrap_or(1))? else {
            continue;
        };
        if items.is_empty() {
            continue;
        }
        let command: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        let reply = match count {
            None => {
                ctx.propagate(&[command, key]);
                let (member, score) = items.into_iter().next().expect("one member popped");
                Reply::Array(vec![
                    Reply::Bulk(key.clone()),
                    Reply::Bulk(member),
                    Reply::Double(score),
                ])
            }
            Some(_) => {
                ctx.propagate(&[command, key, items.len().to_string().as_bytes()]);
                let pairs = items
                    .into_iter()
                    .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                    .collect();
                Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(pairs)])
            }
        };
        return Ok(Some(reply));
    }
    Ok(None)
}

fn zmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (keys, max, count) = parse_mpop(&args[1..])?;
    Ok(serve(ctx, keys, max, Some(count), None)?.unwrap_or(Reply::NullArray))
}

/// Serves a blocking pop now if it can, else blocks the client on `keys` (registered
/// under the gate, so no write is missed); inside MULTI or a script it answers null.
fn pop_or_block(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    max: bool,
    count: Option<usize>,
    timeout: Option<Duration>,
) -> Outcome {
    if let Some(reply) = serve(ctx, keys, max, count, None)? {
        return Ok(reply);
    }
    if !can_block(ctx) {
        return Ok(Reply::NullArray);
    }
    Ok(block(ctx, keys, BlockedPop::ZPop { max, count }, timeout))
}

fn bzpop(ctx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> Outcome {
    let timeout = parse_timeout(&args[args.len() - 1])?;
    pop_or_block(ctx, &args[1..args.len() - 1], max, None, timeout)
}

fn bzpopmin(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    bzpop(ctx, args, false)
}

fn bzpopmax(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    bzpop(ctx, args, true)
}

fn bzmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (keys, max, count) = parse_mpop(&args[2..])?;
    let timeout = parse_timeout(&args[1])?;
    pop_or_block(ctx, keys, max, Some(count), timeout)
}
