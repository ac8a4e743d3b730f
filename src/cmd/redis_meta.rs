//! The vocabulary of what COMMAND INFO reports beyond a command's flags: Redis's command
//! tips and key specifications (flags and notes per key argument), as redis-server
//! 7.0.15 prints them for the commands Roost implements. Each command's declaration
//! names the ones it has (`Spec::with_key_specs`, `Spec::with_tips`); every key
//! specification Roost needs is an index (begin_search) followed by a range (find_keys).

/// One key specification: its flags and notes, the index of its first key, then the
/// range (`lastkey` relative to that index, -1 for the last argument; `keystep`; `limit`),
/// or, for keys counted by an argument, `keynum`.
pub struct KeySpecInfo {
    pub notes: Option<&'static str>,
    pub flags: &'static [&'static str],
    pub index: i64,
    pub lastkey: i64,
    pub keystep: i64,
    pub limit: i64,
    pub keynum: Option<KeyNum>,
    /// Keys Redis cannot locate from the arguments alone (SORT's BY, GET, STORE):
    /// begin_search and find_keys are `unknown`.
    pub unknown: bool,
    /// A keyword begin_search instead of an index: the keyword and the argument the
    /// search starts from (XREAD's STREAMS, GEORADIUS's STORE).
    pub keyword: Option<(&'static str, i64)>,
}

/// Keys counted by an argument (ZUNION's numkeys): where the count is and where the keys
/// start, relative to the index, and the step between keys.
pub struct KeyNum {
    pub keynumidx: i64,
    pub firstkey: i64,
    pub keystep: i64,
}

/// One index-and-range key specification (`lastkey` relative to `index`).
const fn range(flags: &'static [&'static str], index: i64, lastkey: i64) -> KeySpecInfo {
    KeySpecInfo {
        notes: None,
        flags,
        index,
        lastkey,
        keystep: 1,
        limit: 0,
        keynum: None,
        unknown: false,
        keyword: None,
    }
}

/// Keys counted by the argument at `index` (numkeys), starting right after it.
const fn counted(flags: &'static [&'static str], index: i64) -> KeySpecInfo {
    KeySpecInfo {
        keynum: Some(KeyNum {
            keynumidx: 0,
            firstkey: 1,
            keystep: 1,
        }),
        ..range(flags, index, 0)
    }
}

const fn noted(notes: &'static str, flags: &'static [&'static str]) -> KeySpecInfo {
    KeySpecInfo {
        notes: Some(notes),
        ..range(flags, 1, 0)
    }
}

const RO: &[&str] = &["RO"];
const NOT_KEY: &[&str] = &["not_key"];

/// SPUBLISH: its shard channel, which Redis routes by like a key but is none.
pub const SHARD_CHANNEL: &[KeySpecInfo] = &[range(NOT_KEY, 1, 0)];
/// SSUBSCRIBE, SUNSUBSCRIBE: every argument a shard channel.
pub const SHARD_CHANNELS: &[KeySpecInfo] = &[range(NOT_KEY, 1, -1)];
const RO_ACCESS: &[&str] = &["RO", "access"];
const RW_ACCESS_DELETE: &[&str] = &["RW", "access", "delete"];
const RW_ACCESS_UPDATE: &[&str] = &["RW", "access", "update"];
const RW_INSERT: &[&str] = &["RW", "insert"];
const RW_UPDATE: &[&str] = &["RW", "update"];
const RW_DELETE: &[&str] = &["RW", "delete"];
const OW_UPDATE: &[&str] = &["OW", "update"];
const OW_INSERT: &[&str] = &["OW", "insert"];

// Key specifications, named for what the command does to its key(s).

/// XREAD: the keys after the STREAMS keyword, half of what follows it.
pub const XREAD: &[KeySpecInfo] = &[KeySpecInfo {
    keyword: Some(("STREAMS", 1)),
    lastkey: -1,
    limit: 2,
    ..range(RO_ACCESS, 0, 0)
}];
/// XREADGROUP: as XREAD, its STREAMS keyword searched from the fourth argument.
pub const XREADGROUP: &[KeySpecInfo] = &[KeySpecInfo {
    keyword: Some(("STREAMS", 4)),
    lastkey: -1,
    limit: 2,
    ..range(RO_ACCESS, 0, 0)
}];
/// XGROUP and XINFO subcommands: the key is the second argument.
pub const XGROUP_INSERTS: &[KeySpecInfo] = &[range(RW_INSERT, 2, 0)];
pub const XGROUP_DELETES: &[KeySpecInfo] = &[range(RW_DELETE, 2, 0)];
pub const XGROUP_UPDATES: &[KeySpecInfo] = &[range(RW_UPDATE, 2, 0)];
pub const XINFO_READS: &[KeySpecInfo] = &[range(RO_ACCESS, 2, 0)];
/// XADD: an update, because of its optional trimming.
pub const XADD: &[KeySpecInfo] = &[noted(
    "UPDATE instead of INSERT because of the optional trimming feature",
    RW_UPDATE,
)];
/// Reads the key's value (GET, HGET, ZRANGE, ...).
pub const READS: &[KeySpecInfo] = &[range(RO_ACCESS, 1, 0)];
/// Reads every key argument (MGET, SINTER, ...).
pub const READS_ALL: &[KeySpecInfo] = &[range(RO_ACCESS, 1, -1)];
/// Looks at the key without reading its value (STRLEN, TYPE, HLEN, ...).
pub const INSPECTS: &[KeySpecInfo] = &[range(RO, 1, 0)];
/// Looks at every key argument (EXISTS, TOUCH, WATCH).
pub const INSPECTS_ALL: &[KeySpecInfo] = &[range(RO, 1, -1)];
/// OBJECT's subcommands: the key is the second argument.
pub const INSPECTS_SECOND: &[KeySpecInfo] = &[range(RO, 2, 0)];
/// Adds to the value (APPEND, SADD, LPUSH, ...).
pub const INSERTS: &[KeySpecInfo] = &[range(RW_INSERT, 1, 0)];
/// Changes the value in place (HSET, EXPIRE, ZADD, LSET, ...).
pub const UPDATES: &[KeySpecInfo] = &[range(RW_UPDATE, 1, 0)];
/// Reads then changes the value (INCR, GETSET, MOVE, ...).
pub const READS_AND_UPDATES: &[KeySpecInfo] = &[range(RW_ACCESS_UPDATE, 1, 0)];
/// Removes parts of the value (HDEL, SREM, LREM, ...).
pub const REMOVES: &[KeySpecInfo] = &[range(RW_DELETE, 1, 0)];
/// Returns and removes (GETDEL, SPOP, LPOP, ...).
pub const POPS: &[KeySpecInfo] = &[range(RW_ACCESS_DELETE, 1, 0)];
/// BLPOP, BRPOP: every argument but the timeout.
pub const POPS_ALL_BUT_LAST: &[KeySpecInfo] = &[range(RW_ACCESS_DELETE, 1, -2)];
/// MIGRATE: its key argument, or the keys after KEYS (found backwards from the
/// second-to-last argument; `incomplete`, so COMMAND GETKEYS parses the options).
pub const MIGRATE: &[KeySpecInfo] = &[
    range(RW_ACCESS_DELETE, 3, 0),
    KeySpecInfo {
        keyword: Some(("KEYS", -2)),
        lastkey: -1,
        ..range(&["RW", "access", "delete", "incomplete"], 0, 0)
    },
];
/// Deletes every key argument (DEL, UNLINK).
pub const DELETES_ALL: &[KeySpecInfo] = &[range(&["RM", "delete"], 1, -1)];
/// Replaces the value whatever it was (SETEX, PSETEX).
pub const OVERWRITES: &[KeySpecInfo] = &[range(OW_UPDATE, 1, 0)];
/// Creates the key if absent (SETNX).
pub const CREATES: &[KeySpecInfo] = &[range(OW_INSERT, 1, 0)];
/// Moves an element from the first key to the second (SMOVE, LMOVE, RPOPLPUSH, ...).
pub const MOVES_ELEMENT: &[KeySpecInfo] = &[range(RW_ACCESS_DELETE, 1, 0), range(RW_INSERT, 2, 0)];
pub const COPY: &[KeySpecInfo] = &[range(RO_ACCESS, 1, 0), range(OW_UPDATE, 2, 0)];
pub const RENAME: &[KeySpecInfo] = &[range(RW_ACCESS_DELETE, 1, 0), range(OW_UPDATE, 2, 0)];
pub const RENAMENX: &[KeySpecInfo] = &[range(RW_ACCESS_DELETE, 1, 0), range(OW_INSERT, 2, 0)];
pub const MSET: &[KeySpecInfo] = &[KeySpecInfo {
    keystep: 2,
    ..range(OW_UPDATE, 1, -1)
}];
pub const MSETNX: &[KeySpecInfo] = &[KeySpecInfo {
    keystep: 2,
    ..range(OW_INSERT, 1, -1)
}];
/// SINTERSTORE: the destination is updated from the other keys.
pub const SINTERSTORE: &[KeySpecInfo] = &[range(RW_UPDATE, 1, 0), range(RO_ACCESS, 2, -1)];
/// SUNIONSTORE, SDIFFSTORE: the destination is overwritten from the other keys.
pub const STORES_FROM_ALL: &[KeySpecInfo] = &[range(OW_UPDATE, 1, 0), range(RO_ACCESS, 2, -1)];
/// ZRANGESTORE: the destination is overwritten from the second key.
pub const STORES_FROM_SECOND: &[KeySpecInfo] = &[range(OW_UPDATE, 1, 0), range(RO_ACCESS, 2, 0)];
/// ZUNIONSTORE and friends: the destination, then keys counted by numkeys.
pub const STORES_FROM_COUNTED: &[KeySpecInfo] = &[range(OW_UPDATE, 1, 0), counted(RO_ACCESS, 2)];
/// SINTERCARD, ZUNION, ...: keys counted by the first argument.
pub const READS_COUNTED: &[KeySpecInfo] = &[counted(RO_ACCESS, 1)];
/// LMPOP, ZMPOP: pops from keys counted by the first argument.
pub const POPS_COUNTED: &[KeySpecInfo] = &[counted(RW_ACCESS_DELETE, 1)];
/// BLMPOP, BZMPOP: pops from keys counted by the argument after the timeout.
pub const POPS_COUNTED_AFTER_TIMEOUT: &[KeySpecInfo] = &[counted(RW_ACCESS_DELETE, 2)];
/// LCS: reads its two keys.
pub const READS_TWO: &[KeySpecInfo] = &[range(RO_ACCESS, 1, 1)];
/// BITOP: the destination (second argument) is overwritten from the keys after it.
pub const BITOP: &[KeySpecInfo] = &[range(OW_UPDATE, 2, 0), range(RO_ACCESS, 3, -1)];
pub const BITFIELD: &[KeySpecInfo] = &[noted(
    "This command allows both access and modification of the key",
    &["RW", "access", "update", "variable_flags"],
)];
pub const PFCOUNT: &[KeySpecInfo] = &[KeySpecInfo {
    notes: Some(
        "RW because it may change the internal representation of the key, and propagate to replicas",
    ),
    ..range(&["RW", "access"], 1, -1)
}];
pub const PFMERGE: &[KeySpecInfo] = &[
    range(&["RW", "access", "insert"], 1, 0),
    range(RO_ACCESS, 2, -1),
];
pub const PFDEBUG: &[KeySpecInfo] = &[range(&["RW", "access"], 2, 0)];
/// SORT's optional BY/GET keys and STORE destination, which Redis marks `unknown`.
const fn unknown(notes: &'static str, flags: &'static [&'static str]) -> KeySpecInfo {
    KeySpecInfo {
        notes: Some(notes),
        unknown: true,
        ..range(flags, 0, 0)
    }
}
const SORT_BY_GET: KeySpecInfo = unknown(
    "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort",
    RO_ACCESS,
);
pub const SORT: &[KeySpecInfo] = &[
    range(RO_ACCESS, 1, 0),
    SORT_BY_GET,
    unknown(
        "For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array",
        OW_UPDATE,
    ),
];
pub const SORT_RO: &[KeySpecInfo] = &[range(RO_ACCESS, 1, 0), SORT_BY_GET];
/// A key after `keyword`, searched from argument `startfrom`.
const fn after_keyword(
    flags: &'static [&'static str],
    keyword: &'static str,
    startfrom: i64,
) -> KeySpecInfo {
    KeySpecInfo {
        keyword: Some((keyword, startfrom)),
        ..range(flags, 0, 0)
    }
}
/// FCALL, FCALL_RO: keys counted by the argument after the function's name.
pub const FCALL: &[KeySpecInfo] = &[KeySpecInfo {
    notes: Some("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE"),
    ..counted(RW_ACCESS_UPDATE, 2)
}];
pub const FCALL_RO: &[KeySpecInfo] = &[KeySpecInfo {
    notes: Some("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS"),
    ..counted(RO_ACCESS, 2)
}];
/// GEORADIUS(BYMEMBER): the source, and the STORE or STOREDIST destination.
pub const GEORADIUS: &[KeySpecInfo] = &[
    range(RO_ACCESS, 1, 0),
    after_keyword(OW_UPDATE, "STORE", 6),
    after_keyword(OW_UPDATE, "STOREDIST", 6),
];
pub const GEORADIUSBYMEMBER: &[KeySpecInfo] = &[
    range(RO_ACCESS, 1, 0),
    after_keyword(OW_UPDATE, "STORE", 5),
    after_keyword(OW_UPDATE, "STOREDIST", 5),
];
pub const SET: &[KeySpecInfo] = &[noted(
    "RW and ACCESS due to the optional `GET` argument",
    &["RW", "access", "update", "variable_flags"],
)];
pub const GETEX: &[KeySpecInfo] = &[noted(
    "RW and UPDATE because it changes the TTL",
    RW_ACCESS_UPDATE,
)];

// Command tips.

pub const NONDETERMINISTIC_OUTPUT: &[&str] = &["nondeterministic_output"];
pub const NONDETERMINISTIC_ORDER: &[&str] = &["nondeterministic_output_order"];
/// Runs on every node; succeeds if all do (CONFIG SET).
pub const ALL_NODES_SUCCEED: &[&str] =
    &["request_policy:all_nodes", "response_policy:all_succeeded"];
/// Runs on every shard; succeeds if all do (FLUSHALL, FLUSHDB, PING).
pub const ALL_SHARDS_SUCCEED: &[&str] =
    &["request_policy:all_shards", "response_policy:all_succeeded"];
/// Runs on every shard; the replies add up (DBSIZE).
pub const ALL_SHARDS_SUM: &[&str] = &["request_policy:all_shards", "response_policy:agg_sum"];
/// WAIT and WAITAOF: every shard asked, the smallest count answered.
pub const ALL_SHARDS_MIN: &[&str] = &["request_policy:all_shards", "response_policy:agg_min"];
/// Split by key across shards; the replies add up (DEL, EXISTS, TOUCH, UNLINK).
pub const MULTI_SHARD_SUM: &[&str] = &["request_policy:multi_shard", "response_policy:agg_sum"];
pub const INFO: &[&str] = &[
    "nondeterministic_output",
    "request_policy:all_shards",
    "response_policy:special",
];
pub const ALL_SHARDS_ONE_SUCCEEDED: &[&str] =
    &["request_policy:all_shards", "response_policy:one_succeeded"];
pub const KEYS: &[&str] = &["request_policy:all_shards", "nondeterministic_output_order"];
pub const MGET: &[&str] = &["request_policy:multi_shard"];
pub const MSET_TIPS: &[&str] = &[
    "request_policy:multi_shard",
    "response_policy:all_succeeded",
];
pub const MSETNX_TIPS: &[&str] = &["request_policy:multi_shard", "response_policy:agg_min"];
pub const RANDOMKEY: &[&str] = &["request_policy:all_shards", "nondeterministic_output"];
pub const SCAN: &[&str] = &["nondeterministic_output", "request_policy:special"];
