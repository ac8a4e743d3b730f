//! SORT and SORT_RO (Redis's `sortCommandGeneric`): the elements of a list, set or
//! sorted set, ordered numerically or bytewise (ALPHA), by themselves or by the keys a
//! BY pattern names (`weight_*`, `h_*->field`), limited, mapped through GET patterns
//! (`#` is the element itself), returned or stored as a list. SORT ... STORE is logged
//! as itself: it replays to the same list from the same keys (a set sorted without BY
//! is sorted bytewise when stored, as in Redis, so its order is deterministic).

use bytes::Bytes;

use super::{args, command, error, flags::*, Ctx, Outcome, Spec, ONE_KEY};
use crate::clock;
use crate::notify;
use crate::protocol::Reply;
use crate::store::list::ListObj;
use crate::store::{Db, Value, ValueRef};

pub const COMMANDS: &[Spec] = &[
    command!(
        "generic",
        "sort",
        -2,
        WRITE | DENYOOM,
        ONE_KEY,
        sort,
        "1.0.0",
        "Sorts the elements in a list, a set, or a sorted set, optionally storing the result."
    )
    .with_key_specs(super::redis_meta::SORT)
    .with_acl_categories(SORT_CATEGORIES)
    .with_find_keys(sort_keys),
    command!(
        "generic",
        "sort_ro",
        -2,
        READONLY,
        ONE_KEY,
        sort_ro,
        "7.0.0",
        "Returns the sorted elements of a list, a set, or a sorted set."
    )
    .with_key_specs(super::redis_meta::SORT_RO)
    .with_acl_categories(SORT_CATEGORIES)
    .with_find_keys(sort_ro_keys),
];

const SORT_CATEGORIES: u32 = {
    use crate::acl::category::*;
    SET | SORTEDSET | LIST | DANGEROUS
};

/// SORT's keys: the key sorted and the STORE destination (Redis's `sortGetKeys`).
fn sort_keys(args: &[Bytes]) -> Option<Vec<usize>> {
    let mut keys = vec![1];
    let mut j = 2;
    while j < args.len() {
        let skip = if args::is(&args[j], "limit") {
            2
        } else if args::is(&args[j], "get") || args::is(&args[j], "by") {
            1
        } else if args::is(&args[j], "store") {
            if j + 1 < args.len() {
                keys.push(j + 1);
            }
            1
        } else {
            0
        };
        j += 1 + skip;
    }
    Some(keys)
}

fn sort_ro_keys(_args: &[Bytes]) -> Option<Vec<usize>> {
    Some(vec![1])
}

fn sort(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    sort_generic(ctx, args, true)
}

/// The value a BY or GET pattern names for `element` (Redis's `lookupKeyByPattern`):
/// `#` is the element; the first `*` is replaced by it; `->field` reads a hash field.
fn by_pattern(db: &Db, pattern: &[u8], element: &Bytes) -> Option<Bytes> {
    if pattern == b"#" {
        return Some(element.clone());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let after = &pattern[star + 1..];
    let field = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&at| at + 2 < after.len());
    let (suffix, field) = match field {
        Some(at) => (&after[..at], Some(&after[at + 2..])),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(suffix);
    let entry = db.lookup_read(&key, clock::now_ms())?;
    match (entry.value(), field) {
        (ValueRef::Str(_), None) => entry.string(),
        (ValueRef::Hash(h), Some(field)) => h.map.get(field).cloned(),
        _ => None,
    }
}

/// A score as SORT reads one (`strtod`: leading space allowed, then all of it, no
/// overflow, not NaN; the empty string is 0).
fn sort_score(text: &[u8]) -> Option<f64> {
    let text = text.trim_ascii_start();
    if text.is_empty() {
        return Some(0.0);
    }
    super::zset::parse_score(text)
}

fn sort_generic(ctx: &mut Ctx<'_>, args: &[Bytes], read_only: bool) -> Outcome {
    let db = ctx.db();
    let elements: Option<Vec<Bytes>> = match db.lookup_read(&args[1], clock::now_ms()) {
        None => None,
        Some(entry) => match entry.value() {
            ValueRef::List(l) => Some(l.items.iter().cloned().collect()),
            ValueRef::Set(s) => Some(s.members.iter().cloned().collect()),
            ValueRef::ZSet(z) => Some(z.iter().map(|(m, _)| m.clone()).collect()),
            _ => return Err(error::WRONGTYPE),
        },
    };
    let is_set = matches!(
        db.peek(&args[1], clock::now_ms())
            .map(|e| matches!(e.value(), ValueRef::Set(_))),
        Some(true)
    );
    let is_zset = matches!(
        db.peek(&args[1], clock::now_ms())
            .map(|e| matches!(e.value(), ValueRef::ZSet(_))),
        Some(true)
    );
    let (mut desc, mut alpha) = (false, false);
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut store: Option<&Bytes> = None;
    let mut by: Option<&Bytes> = None;
    let mut dont_sort = false;
    let mut gets: Vec<&Bytes> = Vec::new();
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let word = &args[j];
        if args::is(word, "asc") {
            desc = false;
        } else if args::is(word, "desc") {
            desc = true;
        } else if args::is(word, "alpha") {
            alpha = true;
        } else if args::is(word, "limit") && left >= 2 {
            limit_start = args::int(&args[j + 1])?;
            limit_count = args::int(&args[j + 2])?;
            j += 2;
        } else if !read_only && args::is(word, "store") && left >= 1 {
            store = Some(&args[j + 1]);
            j += 1;
        } else if args::is(word, "by") && left >= 1 {
            by = Some(&args[j + 1]);
            dont_sort = !args[j + 1].contains(&b'*');
            j += 1;
        } else if args::is(word, "get") && left >= 1 {
            gets.push(&args[j + 1]);
            j += 1;
        } else {
            return Err(error::SYNTAX);
        }
        j += 1;
    }
    let mut elements = elements.unwrap_or_default();
    // A set has no order of its own: when stored, it is sorted so the result is
    // deterministic.
    if dont_sort && is_set && store.is_some() {
        dont_sort = false;
        alpha = true;
        by = None;
    }
    let len = elements.len() as i64;
    let mut start = limit_start.max(0);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(limit_count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    if dont_sort && is_zset && desc {
        elements.reverse();
    }
    if !dont_sort {
        enum Key {
            Score(f64),
            Text(Option<Bytes>),
        }
        let mut keyed = Vec::with_capacity(elements.len());
        for element in elements {
            let by_value = match by {
                Some(pattern) => by_pattern(ctx.db(), pattern, &element),
                None => Some(element.clone()),
            };
            let key = if alpha {
                Key::Text(if by.is_some() { by_value } else { None })
            } else {
                match by_value {
                    None => Key::Score(0.0),
                    Some(text) => Key::Score(sort_score(&text).ok_or(error::SORT_NOT_DOUBLE)?),
                }
            };
            keyed.push((key, element));
        }
        keyed.sort_by(|(ka, a), (kb, b)| {
            let ordering = match (ka, kb) {
                (Key::Score(x), Key::Score(y)) => x
                    .partial_cmp(y)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.cmp(b)),
                (Key::Text(x), Key::Text(y)) if by.is_some() => x.cmp(y),
                _ => a.cmp(b),
            };
            if desc {
                ordering.reverse()
            } else {
                ordering
            }
        });
        elements = keyed.into_iter().map(|(_, e)| e).collect();
    }
    let selected: &[Bytes] = if start > end || end < 0 {
        &[]
    } else {
        &elements[start as usize..=end as usize]
    };
    let mut output: Vec<Option<Bytes>> = Vec::new();
    for element in selected {
        if gets.is_empty() {
            output.push(Some(element.clone()));
        }
        for pattern in &gets {
            output.push(by_pattern(ctx.db(), pattern, element));
        }
    }
    let Some(dst) = store else {
        return Ok(Reply::Array(
            output.into_iter().map(Reply::opt_bulk).collect(),
        ));
    };
    let stored = output.len();
    let now = clock::now_ms();
    if stored > 0 {
        let list = ListObj {
            items: output.into_iter().map(Option::unwrap_or_default).collect(),
        };
        ctx.db().insert(dst, Value::List(Box::new(list)), None);
        ctx.notify(notify::LIST, "sortstore", dst);
    } else if ctx.db().remove(dst, now).is_some() {
        ctx.notify(notify::GENERIC, "del", dst);
    } else {
        return Ok(Reply::Integer(0));
    }
    let mut record: Vec<&[u8]> = vec![b"SORT"];
    record.extend(args[1..].iter().map(|a| a.as_ref()));
    ctx.propagate(&record);
    Ok(Reply::Integer(stored as i64))
}
