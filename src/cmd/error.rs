//! Redis's error texts, spelled once. Clients match on these (redis-py picks exception
//! classes from them), so they are exactly Redis 7's.

use crate::protocol::Reply;

pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const DB_INDEX: &str = "ERR DB index is out of range";
pub const INVALID_EXPIRE: &str = "ERR invalid expire time in '{}' command";
pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
pub const OUT_OF_RANGE: &str = "ERR value is out of range";
pub const INCREMENT_NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";

pub fn syntax() -> Reply {
    Reply::error(SYNTAX)
}

pub fn not_integer() -> Reply {
    Reply::error(NOT_INTEGER)
}

pub fn not_float() -> Reply {
    Reply::error(NOT_FLOAT)
}

pub fn wrongtype() -> Reply {
    Reply::error(WRONGTYPE)
}

pub fn no_such_key() -> Reply {
    Reply::error(NO_SUCH_KEY)
}

pub fn overflow() -> Reply {
    Reply::error(OVERFLOW)
}

pub fn db_index() -> Reply {
    Reply::error(DB_INDEX)
}

pub fn not_positive() -> Reply {
    Reply::error(NOT_POSITIVE)
}

pub fn out_of_range() -> Reply {
    Reply::error(OUT_OF_RANGE)
}

pub fn increment_nan_or_infinity() -> Reply {
    Reply::error(INCREMENT_NAN_OR_INFINITY)
}

pub fn timeout_negative() -> Reply {
    Reply::error(TIMEOUT_NEGATIVE)
}

/// `ERR wrong number of arguments for 'name' command`; `name` is the full lower-case
/// name (`client|setname` for subcommands).
pub fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// `ERR invalid expire time in 'set' command`.
pub fn invalid_expire(command: &str) -> Reply {
    Reply::error(INVALID_EXPIRE.replace("{}", command))
}

/// `ERR unknown subcommand 'x'. Try CLIENT HELP.`
pub fn unknown_subcommand(sub: &[u8], container: &str) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        truncate_lossy(sub, 128),
        container.to_ascii_uppercase()
    ))
}

/// Text of a client-supplied argument for an error message, cut at `max` bytes and, as
/// Redis's `%.128s` formatting does, at the first NUL byte.
pub fn truncate_lossy(arg: &[u8], max: usize) -> String {
    let end = arg
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(arg.len())
        .min(max);
    String::from_utf8_lossy(&arg[..end]).into_owned()
}

// Texts used by one family of commands, each under its family's heading. Keep a text
// here once: a text two families use moves up to the shared ones above.

// -- strings (string.rs) --

pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";

pub fn string_too_long() -> Reply {
    Reply::error(STRING_TOO_LONG)
}

pub fn decrement_overflow() -> Reply {
    Reply::error(DECREMENT_OVERFLOW)
}

pub fn offset_out_of_range() -> Reply {
    Reply::error(OFFSET_OUT_OF_RANGE)
}

// -- keys and databases (keys.rs, scan.rs) --

pub const EXPIRE_NX_INCOMPATIBLE: &str =
    "ERR NX and XX, GT or LT options at the same time are not compatible";
pub const EXPIRE_GT_LT_INCOMPATIBLE: &str =
    "ERR GT and LT options at the same time are not compatible";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const INVALID_FIRST_DB: &str = "ERR invalid first DB index";
pub const INVALID_SECOND_DB: &str = "ERR invalid second DB index";
pub const LFU_NOT_SELECTED: &str =
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
     Please note that when switching between policies at runtime LRU and LFU data \
     will take some time to adjust.";
pub const LFU_SELECTED: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. \
     Please note that when switching between policies at runtime LRU and LFU data \
     will take some time to adjust.";

/// `ERR Unsupported option x` (EXPIRE's conditions).
pub fn unsupported_option(option: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Unsupported option {}",
        String::from_utf8_lossy(option)
    ))
}

pub fn expire_nx_incompatible() -> Reply {
    Reply::error(EXPIRE_NX_INCOMPATIBLE)
}

pub fn expire_gt_lt_incompatible() -> Reply {
    Reply::error(EXPIRE_GT_LT_INCOMPATIBLE)
}

pub fn invalid_cursor() -> Reply {
    Reply::error(INVALID_CURSOR)
}

pub fn same_object() -> Reply {
    Reply::error(SAME_OBJECT)
}

pub fn invalid_first_db() -> Reply {
    Reply::error(INVALID_FIRST_DB)
}

pub fn invalid_second_db() -> Reply {
    Reply::error(INVALID_SECOND_DB)
}

pub fn lfu_not_selected() -> Reply {
    Reply::error(LFU_NOT_SELECTED)
}

pub fn lfu_selected() -> Reply {
    Reply::error(LFU_SELECTED)
}

// -- hashes and sets (hash.rs, set.rs) --

pub const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
pub const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
pub const NAN_OR_INFINITY: &str = "ERR value is NaN or Infinity";
pub const COUNT_OUT_OF_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

pub fn hash_not_integer() -> Reply {
    Reply::error(HASH_NOT_INTEGER)
}

pub fn hash_not_float() -> Reply {
    Reply::error(HASH_NOT_FLOAT)
}

pub fn nan_or_infinity() -> Reply {
    Reply::error(NAN_OR_INFINITY)
}

pub fn count_out_of_range() -> Reply {
    Reply::error(COUNT_OUT_OF_RANGE)
}

// -- sorted sets (zset.rs) --

pub const RANGE_NOT_FLOAT: &str = "ERR min or max is not a float";
pub const RANGE_NOT_LEX: &str = "ERR min or max not valid string range item";
pub const ZADD_XX_NX_INCOMPATIBLE: &str =
    "ERR XX and NX options at the same time are not compatible";
pub const ZADD_GT_LT_NX_INCOMPATIBLE: &str =
    "ERR GT, LT, and/or NX options at the same time are not compatible";
pub const INCR_SINGLE_PAIR: &str = "ERR INCR option supports a single increment-element pair";
pub const SCORE_NAN: &str = "ERR resulting score is not a number (NaN)";
pub const LIMIT_NEEDS_BY: &str =
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
pub const WITHSCORES_WITH_BYLEX: &str =
    "ERR syntax error, WITHSCORES not supported in combination with BYLEX";

pub fn range_not_float() -> Reply {
    Reply::error(RANGE_NOT_FLOAT)
}

pub fn range_not_lex() -> Reply {
    Reply::error(RANGE_NOT_LEX)
}

pub fn zadd_xx_nx_incompatible() -> Reply {
    Reply::error(ZADD_XX_NX_INCOMPATIBLE)
}

pub fn zadd_gt_lt_nx_incompatible() -> Reply {
    Reply::error(ZADD_GT_LT_NX_INCOMPATIBLE)
}

pub fn incr_single_pair() -> Reply {
    Reply::error(INCR_SINGLE_PAIR)
}

pub fn score_nan() -> Reply {
    Reply::error(SCORE_NAN)
}

pub fn limit_needs_by() -> Reply {
    Reply::error(LIMIT_NEEDS_BY)
}

pub fn withscores_with_bylex() -> Reply {
    Reply::error(WITHSCORES_WITH_BYLEX)
}

// -- lists (list.rs) --

pub const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
pub const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
pub const COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
pub const MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
pub const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
pub const COUNT_NOT_POSITIVE: &str = "ERR count should be greater than 0";
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";

pub fn index_out_of_range() -> Reply {
    Reply::error(INDEX_OUT_OF_RANGE)
}

pub fn rank_zero() -> Reply {
    Reply::error(RANK_ZERO)
}

pub fn count_negative() -> Reply {
    Reply::error(COUNT_NEGATIVE)
}

pub fn maxlen_negative() -> Reply {
    Reply::error(MAXLEN_NEGATIVE)
}

pub fn numkeys_not_positive() -> Reply {
    Reply::error(NUMKEYS_NOT_POSITIVE)
}

pub fn count_not_positive() -> Reply {
    Reply::error(COUNT_NOT_POSITIVE)
}

pub fn timeout_not_float() -> Reply {
    Reply::error(TIMEOUT_NOT_FLOAT)
}

// -- connection and clients (conn.rs) --

// -- server, config, COMMAND (server.rs, config.rs) --

// -- transactions (txn.rs) --

// -- pub/sub and tracking (pubsub.rs, tracking.rs) --

// -- replication (repl.rs) --

// -- scripting (scripting.rs) --
