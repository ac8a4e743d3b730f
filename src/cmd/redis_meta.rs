//! What COMMAND INFO reports beyond a command's flags: Redis's command tips and key
//! specifications (flags and notes per key argument), as redis-server 7.0.15 prints
//! them for the commands Roost implements. Every key specification Roost needs is an
//! index (begin_search) followed by a range (find_keys).

/// One key specification: its flags and notes, the index of its first key, then the
/// range (`lastkey` relative to that index, -1 for the last argument; `keystep`; `limit`).
pub struct KeySpecInfo {
    pub notes: Option<&'static str>,
    pub flags: &'static [&'static str],
    pub index: i64,
    pub lastkey: i64,
    pub keystep: i64,
    pub limit: i64,
}

/// Redis's tips for a command (`container|sub` for subcommands); empty for most.
pub fn tips(full_name: &str) -> &'static [&'static str] {
    match full_name {
        "client|info" | "client|list" | "hrandfield" | "hscan" | "lastsave" | "object|encoding"
        | "object|freq" | "object|idletime" | "object|refcount" | "pttl" | "spop"
        | "srandmember" | "sscan" | "time" | "ttl" | "zrandmember" | "zscan" => {
            &["nondeterministic_output"]
        }
        "command" | "command|docs" | "command|info" | "command|list" | "hgetall" | "hkeys"
        | "hvals" | "sdiff" | "sinter" | "smembers" | "sunion" => {
            &["nondeterministic_output_order"]
        }
        "config|set" => &["request_policy:all_nodes", "response_policy:all_succeeded"],
        "dbsize" => &["request_policy:all_shards", "response_policy:agg_sum"],
        "del" | "exists" | "touch" | "unlink" => {
            &["request_policy:multi_shard", "response_policy:agg_sum"]
        }
        "flushall" | "flushdb" | "ping" => {
            &["request_policy:all_shards", "response_policy:all_succeeded"]
        }
        "info" => &[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ],
        "keys" => &["request_policy:all_shards", "nondeterministic_output_order"],
        "mget" => &["request_policy:multi_shard"],
        "mset" => &[
            "request_policy:multi_shard",
            "response_policy:all_succeeded",
        ],
        "msetnx" => &["request_policy:multi_shard", "response_policy:agg_min"],
        "randomkey" => &["request_policy:all_shards", "nondeterministic_output"],
        "scan" => &["nondeterministic_output", "request_policy:special"],
        _ => &[],
    }
}

/// Redis's key specifications for a command, or None where Roost derives one from the
/// command's (first, last, step) with no flags.
pub fn key_specs(full_name: &str) -> Option<&'static [KeySpecInfo]> {
    if let Some(specs) = list_key_specs(full_name) {
        return Some(specs);
    }
    Some(match full_name {
        "append" | "hsetnx" | "sadd" => &[KeySpecInfo {
            notes: None,
            flags: &["RW", "insert"],
            index: 1,
            lastkey: 0,
            keystep: 1,
            limit: 0,
        }],
        "copy" => &[
            KeySpecInfo {
                notes: None,
                flags: &["RO", "access"],
                index: 1,
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
            KeySpecInfo {
                notes: None,
                flags: &["OW", "update"],
                index: 2,
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        ],
        "decr" | "decrby" | "getset" | "hincrby" | "hincrbyfloat" | "incr" | "incrby"
        | "incrbyfloat" | "move" | "zincrby" => &[KeySpecInfo {
            notes: None,
            flags: &["RW", "access", "update"],
            index: 1,
            lastkey: 0,
            keystep: 1,
            limit: 0,
        }],
        "del" | "unlink" => &[KeySpecInfo {
            notes: None,
            flags: &["RM", "delete"],
            index: 1,
            lastkey: -1,
            keystep: 1,
            limit: 0,
        }],
        "exists" | "touch" | "watch" => &[KeySpecInfo {
            notes: None,
            flags: &["RO"],
            index: 1,
            lastkey: -1,
            keystep: 1,
            limit: 0,
        }],
        "expire" | "expireat" | "hmset" | "hset" | "persist" | "pexpire" | "pexpireat"
        | "setrange" | "zadd" => &[KeySpecInfo {
            notes: None,
            flags: &["RW", "update"],
            index: 1,
            lastkey: 0,
            keystep: 1,
            limit: 0,
        }],
        "expiretime" | "get" | "getrange" | "hget" | "hgetall" | "hkeys" | "hmget"
        | "hrandfield" | "hscan" | "hvals" | "pexpiretime" | "pttl" | "smembers" | "smismember"
        | "srandmember" | "sscan" | "ttl" | "zcount" | "zlexcount" | "zmscore" | "zrandmember"
        | "zrange" | "zrangebylex" | "zrangebyscore" | "zrank" | "zrevrange" | "zrevrangebylex"
        | "zrevrangebyscore" | "zrevrank" | "zscan" | "zscore" => &[KeySpecInfo {
            notes: None,
            flags: &["RO", "access"],
            index: 1,
            lastkey: 0,
            keystep: 1,
            limit: 0,
        }],
        "getdel" | "spop" | "zpopmax" | "zpopmin" => &[KeySpecInfo {
            notes: None,
            flags: &["RW", "access", "delete"],
            index: 1,
            lastkey: 0,
            keystep: 1,
            limit: 0,
        }],
        "getex" => &[KeySpecInfo {
            notes: Some("RW and UPDATE because it changes the TTL"),
            flags: &["RW", "access", "update"],
            index: 1,
            lastkey: 0,
            keystep: 1,
            limit: 0,
        }],
        "hdel" | "srem" | "zrem" | "zremrangebylex" | "zremrangebyrank" | "zremrangebyscore" => {
            &[KeySpecInfo {
                notes: None,
                flags: &["RW", "delete"],
                index: 1,
                lastkey: 0,
                keystep: 1,
                limit: 0,
            }]
        }
        "hexists" | "hlen" | "hstrlen" | "scard" | "sismember" | "strlen" | "type" | "zcard" => {
            &[KeySpecInfo {
                notes: None,
                flags: &["RO"],
                index: 1,
                lastkey: 0,
                keystep: 1,
                limit: 0,
            }]
        }
        "mget" | "sdiff" | "sinter" | "sunion" => &[KeySpecInfo {
            notes: None,
            flags: &["RO", "access"],
            index: 1,
            lastkey: -1,
            keystep: 1,
            limit: 0,
        }],
        "mset" => &[KeySpecInfo {
            notes: None,
            flags: &["OW", "update"],
            index: 1,
            lastkey: -1,
            keystep: 2,
            limit: 0,
        }],
        "msetnx" => &[KeySpecInfo {
            notes: None,
            flags: &["OW", "insert"],
            index: 1,
            lastkey: -1,
            keystep: 2,
            limit: 0,
        }],
        "object|encoding" | "object|freq" | "object|idletime" | "object|refcount" => {
            &[KeySpecInfo {
                notes: None,
                flags: &["RO"],
                index: 2,
                lastkey: 0,
                keystep: 1,
                limit: 0,
            }]
        }
        "psetex" | "setex" => &[KeySpecInfo {
            notes: None,
            flags: &["OW", "update"],
            index: 1,
            lastkey: 0,
            keystep: 1,
            limit: 0,
        }],
        "rename" => &[
            KeySpecInfo {
                notes: None,
                flags: &["RW", "access", "delete"],
                index: 1,
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
            KeySpecInfo {
                notes: None,
                flags: &["OW", "update"],
                index: 2,
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        ],
        "renamenx" => &[
            KeySpecInfo {
                notes: None,
                flags: &["RW", "access", "delete"],
                index: 1,
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
            KeySpecInfo {
                notes: None,
                flags: &["OW", "insert"],
                index: 2,
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        ],
        "set" => &[KeySpecInfo {
            notes: Some("RW and ACCESS due to the optional `GET` argument"),
            flags: &["RW", "access", "update", "variable_flags"],
            index: 1,
            lastkey: 0,
            keystep: 1,
            limit: 0,
        }],
        "setnx" => &[KeySpecInfo {
            notes: None,
            flags: &["OW", "insert"],
            index: 1,
            lastkey: 0,
            keystep: 1,
            limit: 0,
        }],
        "smove" => &[
            KeySpecInfo {
                notes: None,
                flags: &["RW", "access", "delete"],
                index: 1,
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
            KeySpecInfo {
                notes: None,
                flags: &["RW", "insert"],
                index: 2,
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        ],
        _ => return None,
    })
}

/// One index-and-range key specification (`lastkey` relative to `index`).
const fn range_spec(flags: &'static [&'static str], index: i64, lastkey: i64) -> KeySpecInfo {
    KeySpecInfo {
        notes: None,
        flags,
        index,
        lastkey,
        keystep: 1,
        limit: 0,
    }
}

/// The key specifications of the list commands (LMPOP and BLMPOP, whose keys Redis
/// finds by a key count, have none here).
fn list_key_specs(full_name: &str) -> Option<&'static [KeySpecInfo]> {
    const RW_ACCESS_DELETE: &[&str] = &["RW", "access", "delete"];
    const RW_INSERT: &[&str] = &["RW", "insert"];
    const PUSH: &[KeySpecInfo] = &[range_spec(RW_INSERT, 1, 0)];
    const POP: &[KeySpecInfo] = &[range_spec(RW_ACCESS_DELETE, 1, 0)];
    const READ: &[KeySpecInfo] = &[range_spec(&["RO", "access"], 1, 0)];
    const LEN: &[KeySpecInfo] = &[range_spec(&["RO"], 1, 0)];
    const SET: &[KeySpecInfo] = &[range_spec(&["RW", "update"], 1, 0)];
    const REMOVE: &[KeySpecInfo] = &[range_spec(&["RW", "delete"], 1, 0)];
    const MOVE: &[KeySpecInfo] = &[
        range_spec(RW_ACCESS_DELETE, 1, 0),
        range_spec(RW_INSERT, 2, 0),
    ];
    const BLOCKING_POP: &[KeySpecInfo] = &[range_spec(RW_ACCESS_DELETE, 1, -2)];
    Some(match full_name {
        "lpush" | "rpush" | "lpushx" | "rpushx" | "linsert" => PUSH,
        "lpop" | "rpop" => POP,
        "lrange" | "lindex" | "lpos" => READ,
        "llen" => LEN,
        "lset" => SET,
        "lrem" | "ltrim" => REMOVE,
        "lmove" | "rpoplpush" | "blmove" | "brpoplpush" => MOVE,
        "blpop" | "brpop" => BLOCKING_POP,
        _ => return None,
    })
}
