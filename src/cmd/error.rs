//! Redis's error texts, spelled once. Clients match on these (redis-py picks exception
//! classes from them), so they are exactly Redis 7's.

use std::fmt::Display;

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
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const OUT_OF_RANGE: &str = "ERR value is out of range";
pub const INCREMENT_NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";

// Refusals by `dispatch` before a command runs, and by `redis.call` for the same reasons.
pub const AUTH_REQUIRED: &str = "NOAUTH Authentication required.";
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
pub const PRIMARY_LINK_DOWN: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
pub const READONLY_REPLICA: &str = "READONLY You can't write against a read only replica.";
pub const NOT_ALLOWED_IN_MULTI: &str = "ERR Command not allowed inside a transaction";
pub const SHUTTING_DOWN: &str = "ERR Roost is shutting down";

/// The error reply with one of the fixed texts here.
pub fn reply(text: &'static str) -> Reply {
    Reply::error(text)
}

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

/// A RESP2 client with subscriptions sent `command` (its full name), which is not one
/// of the few allowed then.
pub fn not_allowed_while_subscribed(command: &str) -> Reply {
    Reply::error(format!(
        "ERR Can't execute '{command}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    ))
}

/// A write refused because the log could not be written.
pub fn log_write_failed(cause: impl Display) -> Reply {
    Reply::error(format!("MISCONF Errors writing to the AOF file: {cause}"))
}

/// `ERR <cause>`: something outside the command failed (a rewrite, the Lua state, the
/// request's framing).
pub fn failed(cause: impl Display) -> Reply {
    Reply::error(format!("ERR {cause}"))
}

/// `ERR unknown subcommand 'x'. Try CLIENT HELP.`
pub fn unknown_subcommand(sub: &[u8], container: &str) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        truncate_lossy(sub, 128),
        container.to_ascii_uppercase()
    ))
}

/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' `
pub fn unknown_command(args: &[bytes::Bytes]) -> Reply {
    let mut listed = String::new();
    for arg in &args[1..] {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push('\'');
        listed.push_str(&truncate_lossy(arg, room));
        listed.push_str("' ");
    }
    Reply::error(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        truncate_lossy(&args[0], 128),
        listed
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

pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_WITHOUT_PASSWORD: &str =
    "ERR AUTH <password> called without any password configured for the default user. \
     Are you sure your configuration is correct?";
pub const UNSUPPORTED_PROTOCOL: &str = "NOPROTO unsupported protocol version";
pub const PROTOCOL_NOT_INTEGER: &str = "ERR Protocol version is not an integer or out of range";
pub const HELLO_UNAUTHENTICATED: &str =
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
     HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
     select the RESP protocol version at the same time";
pub const INVALID_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";
pub const INVALID_CLIENT_ID: &str = "ERR Invalid client ID";
pub const NO_SUCH_CLIENT: &str = "ERR No such client";
pub const CLIENT_ID_NOT_POSITIVE: &str = "ERR client-id should be greater than 0";

/// HELLO got an option it does not know, or one without its values.
pub fn hello_syntax(option: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Syntax error in HELLO option '{}'",
        truncate_lossy(option, 128)
    ))
}

/// CLIENT SETINFO of something other than `lib-name` or `lib-ver`.
pub fn unknown_client_info(option: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Unrecognized option '{}'",
        truncate_lossy(option, 128)
    ))
}

/// A CLIENT SETINFO value (`what` is `lib-name` or `lib-ver`) with spaces or the like.
pub fn invalid_client_info(what: &str) -> Reply {
    Reply::error(format!(
        "ERR {what} cannot contain spaces, newlines or special characters."
    ))
}

pub fn unknown_client_type(kind: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Unknown client type '{}'",
        truncate_lossy(kind, 128)
    ))
}

pub fn no_such_user(user: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR No such user '{}'",
        String::from_utf8_lossy(user)
    ))
}

// -- server, config, COMMAND (server.rs, config.rs) --

pub const LOG_OFF: &str =
    "ERR Roost persists only through its append-only log, which is off (appendonly no)";
pub const REWRITE_IN_PROGRESS: &str =
    "ERR Background append only file rewriting already in progress";
pub const SAVE_IN_PROGRESS: &str = "ERR Background save already in progress";
pub const NO_SHUTDOWN_IN_PROGRESS: &str = "ERR No shutdown in progress.";
pub const GETKEYS_WRONG_ARITY: &str = "ERR Invalid number of arguments specified for command";
pub const GETKEYS_UNKNOWN_COMMAND: &str = "ERR Invalid command specified";
pub const GETKEYS_INVALID_ARGUMENTS: &str = "ERR Invalid arguments specified for command";
pub const GETKEYS_NO_KEYS: &str = "ERR The command has no key arguments";
pub const NO_CONFIG_FILE: &str = "ERR The server is running without a config file";

/// CONFIG SET refused parameter `name`'s value (or the parameter) because of `why`.
pub fn config_set_failed(name: &str, why: &str) -> Reply {
    Reply::error(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
    ))
}

pub fn unknown_config_parameter(name: &str) -> Reply {
    Reply::error(format!(
        "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
    ))
}

pub fn config_rewrite_failed(cause: impl Display) -> Reply {
    Reply::error(format!("ERR Rewriting config file: {cause}"))
}

// -- transactions (txn.rs) --

pub const NESTED_MULTI: &str = "ERR MULTI calls can not be nested";
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
pub const WATCH_IN_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
pub const EXEC_ABORTED: &str = "EXECABORT Transaction discarded because of previous errors.";

/// EXEC refused before running, for `reason` (an error text without the `ERR` code).
pub fn exec_aborted_because(reason: &str) -> Reply {
    Reply::error(format!(
        "EXECABORT Transaction discarded because of: {reason}"
    ))
}

// -- pub/sub and tracking (pubsub.rs, tracking.rs) --

pub const PUBSUB_CHANNELS_ARITY: &str =
    "ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP.";
pub const NO_REDIRECT_CLIENT: &str = "ERR The client ID you want redirect to does not exist";
pub const BCAST_SWITCHED: &str = "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.";
pub const PREFIX_WITHOUT_BCAST: &str = "ERR PREFIX option requires BCAST mode to be enabled";
pub const OPTIN_AND_OPTOUT: &str = "ERR You can't specify both OPTIN mode and OPTOUT mode";
pub const OPT_MODE_WITH_BCAST: &str = "ERR OPTIN and OPTOUT are not compatible with BCAST";
pub const CACHING_WITHOUT_OPT_MODE: &str = "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled";
pub const CACHING_YES_WITHOUT_OPTIN: &str =
    "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.";
pub const CACHING_NO_WITHOUT_OPTOUT: &str =
    "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.";

/// CLIENT TRACKING with two prefixes of which one starts the other.
pub fn overlapping_prefixes(a: &[u8], b: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
        String::from_utf8_lossy(a),
        String::from_utf8_lossy(b)
    ))
}

// -- replication (repl.rs) --

pub const INVALID_PRIMARY_PORT: &str = "ERR Invalid master port";
pub const WAIT_ON_REPLICA: &str = "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.";
pub const TIMEOUT_NOT_INTEGER: &str = "ERR timeout is not an integer or out of range";
pub const SYNC_WITHOUT_PRIMARY_LINK: &str =
    "NOMASTERLINK Can't SYNC while not connected with my master";

pub fn unknown_replconf_option(option: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Unrecognized REPLCONF option: {}",
        truncate_lossy(option, 128)
    ))
}

// -- scripting (scripting.rs) --

pub const NUMKEYS_NEGATIVE: &str = "ERR Number of keys can't be negative";
pub const NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";
pub const NO_SUCH_SCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
pub const SCRIPT_CALL_WITHOUT_COMMAND: &str =
    "ERR Please specify at least one argument for this redis lib call";
pub const SCRIPT_CALL_BAD_ARGUMENT: &str =
    "ERR Lua redis lib command arguments must be strings or integers";
pub const SCRIPT_CALL_WRONG_ARITY: &str =
    "ERR Wrong number of args calling Redis command from script";
pub const SCRIPT_CALL_UNKNOWN_COMMAND: &str = "ERR Unknown Redis command called from script";
pub const SCRIPT_CALL_NOT_ALLOWED: &str = "ERR This Redis command is not allowed from script";
pub const WRITE_IN_READONLY_SCRIPT: &str =
    "ERR Write commands are not allowed from read-only scripts.";
pub const SCRIPT_FLUSH_MODE: &str = "ERR SCRIPT FLUSH only support SYNC|ASYNC option";
pub const NO_SCRIPT_RUNNING: &str = "NOTBUSY No scripts in execution right now.";

pub fn lua_start_failed(cause: impl Display) -> Reply {
    Reply::error(format!("ERR cannot start Lua: {cause}"))
}

/// A script that does not compile; `message` is Lua's.
pub fn script_compile_failed(message: &str) -> Reply {
    Reply::error(format!(
        "ERR Error compiling script (new function): {message}"
    ))
}

/// A script that failed: `message` (with its code), then which script and line.
pub fn script_failed(message: &str, sha: &str, line: usize) -> Reply {
    Reply::error(format!("{message} script: {sha}, on @user_script:{line}."))
}
