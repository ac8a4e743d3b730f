//! Redis's error texts, spelled once. Clients match on these (redis-py picks exception
//! classes from them), so they are exactly Redis 7's. A fixed text is a `Reply` constant
//! (`Err(error::WRONGTYPE)`); a text with parts is a function that builds it.

use std::fmt::Display;

use crate::protocol::reply::Str;
use crate::protocol::Reply;

/// An error reply with fixed text, usable in a `const`.
const fn err(text: &'static str) -> Reply {
    Reply::Error(Str::Borrowed(text))
}

pub const SYNTAX: Reply = err("ERR syntax error");
pub const NOT_INTEGER: Reply = err("ERR value is not an integer or out of range");
pub const NOT_FLOAT: Reply = err("ERR value is not a valid float");
pub const WRONGTYPE: Reply =
    err("WRONGTYPE Operation against a key holding the wrong kind of value");
pub const NO_SUCH_KEY: Reply = err("ERR no such key");
pub const DEBUG_RELOAD_OPTIONS: Reply =
    err("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
/// What Redis sends when a save it was asked for fails (its `shared.err`).
pub const BARE_ERR: Reply = err("ERR");
pub const DEBUG_RELOAD_FAILED: Reply = err("ERR Error trying to load the RDB dump");
pub const OVERFLOW: Reply = err("ERR increment or decrement would overflow");
pub const DB_INDEX: Reply = err("ERR DB index is out of range");
pub const NOT_POSITIVE: Reply = err("ERR value is out of range, must be positive");
pub const TIMEOUT_NEGATIVE: Reply = err("ERR timeout is negative");
pub const OUT_OF_RANGE: Reply = err("ERR value is out of range");
pub const INCREMENT_NAN_OR_INFINITY: Reply = err("ERR increment would produce NaN or Infinity");

// Refusals by `dispatch` before a command runs, and by `redis.call` for the same reasons.
pub const AUTH_REQUIRED: Reply = err("NOAUTH Authentication required.");
pub const LOADING: Reply = err("LOADING Redis is loading the dataset in memory");
pub const PRIMARY_LINK_DOWN: Reply =
    err("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
pub const OOM: Reply = err("OOM command not allowed when used memory > 'maxmemory'.");
pub const READONLY_REPLICA: Reply = err("READONLY You can't write against a read only replica.");
pub const NO_GOOD_REPLICAS: Reply = err("NOREPLICAS Not enough good replicas to write.");
/// To clients blocked in WAIT or a blocking pop when the server becomes a replica.
pub const UNBLOCKED_BY_DEMOTION: Reply = err(
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)",
);
pub const NOT_ALLOWED_IN_MULTI: Reply = err("ERR Command not allowed inside a transaction");
pub const SHUTTING_DOWN: Reply = err("ERR Roost is shutting down");

/// Sent, before closing it, to a connection from beyond loopback while protected mode is
/// on and the default user has no password (Redis 7.0's and 7.2's text).
pub const PROTECTED_MODE: Reply = err("DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.");

/// `ERR wrong number of arguments for 'name' command`; `name` is the full lower-case
/// name (`client|setname` for subcommands).
pub fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// `ERR invalid expire time in 'set' command`.
pub fn invalid_expire(command: &str) -> Reply {
    Reply::error(format!("ERR invalid expire time in '{command}' command"))
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

pub const STRING_TOO_LONG: Reply =
    err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
pub const DECREMENT_OVERFLOW: Reply = err("ERR decrement would overflow");
pub const LCS_NOT_STRINGS: Reply = err("ERR The specified keys must contain string values");
pub const LCS_LEN_AND_IDX: Reply =
    err("ERR If you want both the length and indexes, please just use IDX.");
pub const LCS_TOO_LONG: Reply = err("ERR String too long for LCS");
pub const LCS_TOO_BIG: Reply =
    err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
pub const BIT_OFFSET: Reply = err("ERR bit offset is not an integer or out of range");
pub const BIT_VALUE: Reply = err("ERR bit is not an integer or out of range");
pub const BIT_POS_ARGUMENT: Reply = err("ERR The bit argument must be 1 or 0.");
pub const BITOP_NOT_ONE_KEY: Reply = err("ERR BITOP NOT must be called with a single source key.");
pub const BITFIELD_TYPE: Reply = err(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);
pub const BITFIELD_OVERFLOW_TYPE: Reply = err("ERR Invalid OVERFLOW type specified");
pub const BITFIELD_RO_GET_ONLY: Reply = err("ERR BITFIELD_RO only supports the GET subcommand");
pub const NOT_AN_HLL: Reply = err("WRONGTYPE Key is not a valid HyperLogLog string value.");
pub const INVALID_HLL: Reply = err("INVALIDOBJ Corrupted HLL object detected");
pub const PFDEBUG_NO_KEY: Reply = err("ERR The specified key does not exist");
pub const HLL_NOT_SPARSE: Reply = err("ERR HLL encoding is not sparse");
pub const HLL_SELFTEST_FAILED: Reply = err("TESTFAILED HyperLogLog self test failed");

/// PFDEBUG with a subcommand it does not know.
pub fn unknown_pfdebug_subcommand(sub: &str) -> Reply {
    Reply::error(format!("ERR Unknown PFDEBUG subcommand '{sub}'"))
}
pub const SORT_NOT_DOUBLE: Reply = err("ERR One or more scores can't be converted into double");
pub const OFFSET_OUT_OF_RANGE: Reply = err("ERR offset is out of range");

// -- keys and databases (keys.rs, scan.rs) --

pub const EXPIRE_NX_INCOMPATIBLE: Reply =
    err("ERR NX and XX, GT or LT options at the same time are not compatible");
pub const EXPIRE_GT_LT_INCOMPATIBLE: Reply =
    err("ERR GT and LT options at the same time are not compatible");
pub const INVALID_CURSOR: Reply = err("ERR invalid cursor");
pub const SAME_OBJECT: Reply = err("ERR source and destination objects are the same");
pub const INVALID_FIRST_DB: Reply = err("ERR invalid first DB index");
pub const INVALID_SECOND_DB: Reply = err("ERR invalid second DB index");
pub const LFU_NOT_SELECTED: Reply = err(
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
     Please note that when switching between policies at runtime LRU and LFU data \
     will take some time to adjust.",
);
pub const LFU_SELECTED: Reply = err(
    "ERR An LFU maxmemory policy is selected, idle time not tracked. \
     Please note that when switching between policies at runtime LRU and LFU data \
     will take some time to adjust.",
);

/// `ERR Unsupported option x` (EXPIRE's conditions).
pub fn unsupported_option(option: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Unsupported option {}",
        String::from_utf8_lossy(option)
    ))
}

// -- hashes and sets (hash.rs, set.rs) --

pub const HASH_NOT_INTEGER: Reply = err("ERR hash value is not an integer");
pub const HASH_NOT_FLOAT: Reply = err("ERR hash value is not a float");
pub const NAN_OR_INFINITY: Reply = err("ERR value is NaN or Infinity");
pub const COUNT_OUT_OF_RANGE: Reply = err(
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
);

// -- sorted sets (zset.rs) --

pub const RANGE_NOT_FLOAT: Reply = err("ERR min or max is not a float");
pub const RANGE_NOT_LEX: Reply = err("ERR min or max not valid string range item");
pub const ZADD_XX_NX_INCOMPATIBLE: Reply =
    err("ERR XX and NX options at the same time are not compatible");
pub const ZADD_GT_LT_NX_INCOMPATIBLE: Reply =
    err("ERR GT, LT, and/or NX options at the same time are not compatible");
pub const INCR_SINGLE_PAIR: Reply = err("ERR INCR option supports a single increment-element pair");
pub const SCORE_NAN: Reply = err("ERR resulting score is not a number (NaN)");
pub const LIMIT_NEEDS_BY: Reply =
    err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
pub const WITHSCORES_WITH_BYLEX: Reply =
    err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");

// -- geo (geo.rs) --
pub const GEO_UNSUPPORTED_UNIT: Reply =
    err("ERR unsupported unit provided. please use M, KM, FT, MI");
pub const GEO_NEED_NUMERIC_RADIUS: Reply = err("ERR need numeric radius");
pub const GEO_NEED_NUMERIC_WIDTH: Reply = err("ERR need numeric width");
pub const GEO_NEED_NUMERIC_HEIGHT: Reply = err("ERR need numeric height");
pub const GEO_NEGATIVE_RADIUS: Reply = err("ERR radius cannot be negative");
pub const GEO_NEGATIVE_BOX: Reply = err("ERR height or width cannot be negative");
pub const GEO_MEMBER_NOT_FOUND: Reply = err("ERR could not decode requested zset member");
pub const GEO_COUNT_NOT_POSITIVE: Reply = err("ERR COUNT must be > 0");
pub const GEO_ANY_NEEDS_COUNT: Reply = err("ERR the ANY argument requires COUNT argument");
pub const GEOSEARCHSTORE_WITH_OPTIONS: Reply =
    err("ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options");
pub const GEORADIUS_STORE_WITH_OPTIONS: Reply = err(
    "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
);
/// Redis prints the pair with `%f`.
pub fn invalid_lon_lat(lon: f64, lat: f64) -> Reply {
    Reply::error(format!(
        "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
    ))
}
pub fn geo_need_from(command: &str) -> Reply {
    Reply::error(format!(
        "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {command}"
    ))
}
pub fn geo_need_by(command: &str) -> Reply {
    Reply::error(format!(
        "ERR exactly one of BYRADIUS and BYBOX can be specified for {command}"
    ))
}

// -- lists (list.rs) --

pub const INDEX_OUT_OF_RANGE: Reply = err("ERR index out of range");
pub const RANK_ZERO: Reply = err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
pub const COUNT_NEGATIVE: Reply = err("ERR COUNT can't be negative");
pub const MAXLEN_NEGATIVE: Reply = err("ERR MAXLEN can't be negative");
pub const LIMIT_NEGATIVE: Reply = err("ERR LIMIT can't be negative");
pub const WEIGHT_NOT_FLOAT: Reply = err("ERR weight value is not a float");

/// ZUNION and friends given a key count below 1.
pub fn at_least_one_input_key(command: &str) -> Reply {
    Reply::error(format!(
        "ERR at least 1 input key is needed for '{command}' command"
    ))
}
pub const NUMKEYS_NOT_POSITIVE: Reply = err("ERR numkeys should be greater than 0");
pub const COUNT_NOT_POSITIVE: Reply = err("ERR count should be greater than 0");
pub const TIMEOUT_NOT_FLOAT: Reply = err("ERR timeout is not a float or out of range");

// -- connection and clients (conn.rs) --

pub const WRONGPASS: Reply = err("WRONGPASS invalid username-password pair or user is disabled.");
pub const AUTH_WITHOUT_PASSWORD: Reply = err(
    "ERR AUTH <password> called without any password configured for the default user. \
     Are you sure your configuration is correct?",
);
pub const UNSUPPORTED_PROTOCOL: Reply = err("NOPROTO unsupported protocol version");
pub const PROTOCOL_NOT_INTEGER: Reply =
    err("ERR Protocol version is not an integer or out of range");
pub const HELLO_UNAUTHENTICATED: Reply = err(
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
     HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
     select the RESP protocol version at the same time",
);
pub const INVALID_CLIENT_NAME: Reply =
    err("ERR Client names cannot contain spaces, newlines or special characters.");
pub const INVALID_CLIENT_ID: Reply = err("ERR Invalid client ID");
pub const NO_SUCH_CLIENT: Reply = err("ERR No such client");
pub const CLIENT_ID_NOT_POSITIVE: Reply = err("ERR client-id should be greater than 0");

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

pub const LOG_OFF: Reply =
    err("ERR Roost persists only through its append-only log, which is off (appendonly no)");
pub const REWRITE_IN_PROGRESS: Reply =
    err("ERR Background append only file rewriting already in progress");
pub const SAVE_IN_PROGRESS: Reply = err("ERR Background save already in progress");
pub const NO_SHUTDOWN_IN_PROGRESS: Reply = err("ERR No shutdown in progress.");
pub const GETKEYS_WRONG_ARITY: Reply = err("ERR Invalid number of arguments specified for command");
pub const GETKEYS_UNKNOWN_COMMAND: Reply = err("ERR Invalid command specified");
pub const GETKEYS_INVALID_ARGUMENTS: Reply = err("ERR Invalid arguments specified for command");
pub const GETKEYS_NO_KEYS: Reply = err("ERR The command has no key arguments");
pub const NO_CONFIG_FILE: Reply = err("ERR The server is running without a config file");

/// CONFIG SET refused parameter `name`'s value (or the parameter) because of `why`.
pub fn config_set_failed(name: &str, why: &str) -> Reply {
    Reply::error(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
    ))
}

/// A refused TLS change (a bad certificate or key); the log says what was wrong.
pub fn tls_not_updated(name: &str) -> Reply {
    config_set_failed(
        name,
        "Unable to update TLS configuration. Check server logs.",
    )
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

pub const NESTED_MULTI: Reply = err("ERR MULTI calls can not be nested");
pub const EXEC_WITHOUT_MULTI: Reply = err("ERR EXEC without MULTI");
pub const DISCARD_WITHOUT_MULTI: Reply = err("ERR DISCARD without MULTI");
pub const WATCH_IN_MULTI: Reply = err("ERR WATCH inside MULTI is not allowed");
pub const EXEC_ABORTED: Reply = err("EXECABORT Transaction discarded because of previous errors.");

/// EXEC refused before running, for `reason` (an error text without the `ERR` code).
pub fn exec_aborted_because(reason: &str) -> Reply {
    Reply::error(format!(
        "EXECABORT Transaction discarded because of: {reason}"
    ))
}

// -- pub/sub and tracking (pubsub.rs, tracking.rs) --

pub const NO_REDIRECT_CLIENT: Reply = err("ERR The client ID you want redirect to does not exist");
pub const BCAST_SWITCHED: Reply = err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
pub const PREFIX_WITHOUT_BCAST: Reply = err("ERR PREFIX option requires BCAST mode to be enabled");
pub const OPTIN_AND_OPTOUT: Reply = err("ERR You can't specify both OPTIN mode and OPTOUT mode");
pub const OPT_MODE_WITH_BCAST: Reply = err("ERR OPTIN and OPTOUT are not compatible with BCAST");
pub const CACHING_WITHOUT_OPT_MODE: Reply = err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
pub const CACHING_YES_WITHOUT_OPTIN: Reply =
    err("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
pub const CACHING_NO_WITHOUT_OPTOUT: Reply =
    err("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");

/// CLIENT TRACKING with two prefixes of which one starts the other.
pub fn overlapping_prefixes(a: &[u8], b: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
        String::from_utf8_lossy(a),
        String::from_utf8_lossy(b)
    ))
}

// -- replication (repl.rs) --

pub const INVALID_PRIMARY_PORT: Reply = err("ERR Invalid master port");
pub const WAIT_ON_REPLICA: Reply = err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
pub const TIMEOUT_NOT_INTEGER: Reply = err("ERR timeout is not an integer or out of range");
pub const SYNC_WITHOUT_PRIMARY_LINK: Reply =
    err("NOMASTERLINK Can't SYNC while not connected with my master");
pub const SYNC_WHILE_FAILING_OVER: Reply = err("NOMASTERLINK Can't SYNC while failing over");
pub const PSYNC_FAILOVER_REPLID: Reply = err("ERR PSYNC FAILOVER replid must match my replid.");
pub const REPLICAOF_WHILE_FAILING_OVER: Reply =
    err("ERR REPLICAOF not allowed while failing over.");
pub const NO_FAILOVER: Reply = err("ERR No failover in progress.");
pub const FAILOVER_TIMEOUT: Reply = err("ERR FAILOVER timeout must be greater than 0");
pub const FAILOVER_IN_PROGRESS: Reply = err("ERR FAILOVER already in progress.");
pub const FAILOVER_ON_REPLICA: Reply = err("ERR FAILOVER is not valid when server is a replica.");
pub const FAILOVER_NO_REPLICAS: Reply = err("ERR FAILOVER requires connected replicas.");
pub const FAILOVER_FORCE: Reply =
    err("ERR FAILOVER with force option requires both a timeout and target HOST and IP.");
pub const FAILOVER_NOT_A_REPLICA: Reply =
    err("ERR FAILOVER target HOST and PORT is not a replica.");
pub const FAILOVER_NOT_ONLINE: Reply = err("ERR FAILOVER target replica is not online.");

/// `getRangeLongFromObjectOrReply(.., 0, 1, NULL)`: REPLCONF rdb-only, WAITAOF numlocal.
pub const RANGE_0_TO_1: Reply = err("ERR value is out of range, value must between 0 and 1");
pub const WAITAOF_ON_REPLICA: Reply = err("ERR WAITAOF cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated.");
pub const WAITAOF_WITHOUT_LOG: Reply =
    err("ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.");

pub fn unsupported_rdb_filter(filter: &str) -> Reply {
    Reply::error(format!("ERR Unsupported rdb-filter-only option: {filter}"))
}

pub fn unknown_replconf_option(option: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Unrecognized REPLCONF option: {}",
        truncate_lossy(option, 128)
    ))
}

// -- scripting (scripting.rs) --

pub const NUMKEYS_NEGATIVE: Reply = err("ERR Number of keys can't be negative");
pub const NUMKEYS_TOO_MANY: Reply = err("ERR Number of keys can't be greater than number of args");
pub const NO_SUCH_SCRIPT: Reply = err("NOSCRIPT No matching script. Please use EVAL.");
pub const SCRIPT_CALL_WITHOUT_COMMAND: Reply =
    err("ERR Please specify at least one argument for this redis lib call");
pub const SCRIPT_CALL_BAD_ARGUMENT: Reply =
    err("ERR Lua redis lib command arguments must be strings or integers");
pub const SCRIPT_CALL_WRONG_ARITY: Reply =
    err("ERR Wrong number of args calling Redis command from script");
pub const SCRIPT_CALL_UNKNOWN_COMMAND: Reply = err("ERR Unknown Redis command called from script");
pub const SCRIPT_CALL_NOT_ALLOWED: Reply = err("ERR This Redis command is not allowed from script");
pub const WRITE_IN_READONLY_SCRIPT: Reply =
    err("ERR Write commands are not allowed from read-only scripts.");
pub const SCRIPT_FLUSH_MODE: Reply = err("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
pub const NO_SCRIPT_RUNNING: Reply = err("NOTBUSY No scripts in execution right now.");
/// Another client's script has run past `busy-reply-threshold`.
pub const SCRIPT_BUSY: Reply =
    err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
/// Another client's function (FCALL) has run past `busy-reply-threshold`.
pub const FUNCTION_BUSY: Reply =
    err("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.");
pub const SCRIPT_UNKILLABLE: Reply = err(
    "UNKILLABLE Sorry the script already executed write commands against the dataset. \
     You can either wait the script termination or kill the server in a hard way using \
     the SHUTDOWN NOSAVE command.",
);
/// The message a script stopped by SCRIPT KILL fails with (before its position).
/// redis.call with no script running on the thread (Lua code runs only inside one).
pub const SCRIPT_CALL_OUTSIDE: &str = "ERR redis.call is only available while a script runs";
/// A command that panicked inside redis.call (a bug): the script gets this error.
pub const SCRIPT_CALL_PANICKED: &str = "ERR redis.call failed inside the server";
/// A reply nested deeper than the Lua stack can hold, handed to a script.
pub const SCRIPT_REPLY_TOO_DEEP: &str = "ERR reached lua stack limit";
pub const SCRIPT_KILLED_MESSAGE: &str = "ERR Script killed by user with SCRIPT KILL...";

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
pub fn script_failed(message: &str, sha: &str, source: &str, line: usize) -> Reply {
    Reply::error(format!("{message} script: {sha}, on @{source}:{line}."))
}

// -- functions (functions.rs), Redis 7.2's texts --
pub const FUNCTION_MISSING_METADATA: Reply = err("ERR Missing library metadata");
pub const FUNCTION_INVALID_METADATA: Reply = err("ERR Invalid library metadata");
pub const FUNCTION_NAME_TWICE: Reply =
    err("ERR Invalid metadata value, name argument was given multiple times");
pub const FUNCTION_NO_LIBRARY_NAME: Reply = err("ERR Library name was not given");
pub const FUNCTION_BAD_NAME: Reply = err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
pub const FUNCTION_NONE_REGISTERED: Reply = err("ERR No functions registered");
pub const FUNCTION_NO_CODE: Reply = err("ERR Function code is missing");
pub const LIBRARY_NOT_FOUND: Reply = err("ERR Library not found");
pub const FUNCTION_FLUSH_MODE: Reply = err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
pub const FUNCTION_LIST_NO_LIBRARY_NAME: Reply = err("ERR library name argument was not given");
pub const FUNCTION_NOT_FOUND: Reply = err("ERR Function not found");
pub const FUNCTION_BAD_NUMKEYS: Reply = err("ERR Bad number of keys provided");
pub const SCRIPT_WRITE_ON_REPLICA: Reply =
    err("READONLY Can not run script with write flag on readonly replica");
pub const WRITE_FLAG_WITH_RO_COMMAND: Reply =
    err("ERR Can not execute a script with write flag using *_ro command.");
pub const SCRIPT_OOM: Reply = err(
    "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'",
);
pub const SCRIPT_PRIMARY_LINK_DOWN: Reply = err("MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and 'allow-stale' flag is not set");
pub fn function_invalid_metadata(part: &str) -> Reply {
    Reply::error(format!("ERR Invalid metadata value given: {part}"))
}
pub fn function_engine_not_found(engine: &str) -> Reply {
    Reply::error(format!("ERR Engine '{engine}' not found"))
}
pub fn function_compile_failed(message: &str) -> Reply {
    Reply::error(format!("ERR Error compiling function: {message}"))
}
pub fn function_registration_failed(message: &str) -> Reply {
    Reply::error(format!("ERR Error registering functions: {message}"))
}
pub fn function_unknown_option(option: &str) -> Reply {
    Reply::error(format!("ERR Unknown option given: {option}"))
}
pub fn library_exists(name: &str) -> Reply {
    Reply::error(format!("ERR Library '{name}' already exists"))
}
/// FUNCTION RESTORE APPEND over a library of the same name (no quotes, unlike LOAD's).
pub fn restore_library_exists(name: &str) -> Reply {
    Reply::error(format!("ERR Library {name} already exists"))
}
pub const FUNCTION_RESTORE_POLICY: Reply =
    err("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.");
/// A FUNCTION RESTORE payload whose footer checks out but whose content is not
/// libraries (`given type is not a function`, ...).
pub fn function_payload(why: &str) -> Reply {
    Reply::error(format!("ERR {why}"))
}
pub fn function_exists(name: &str) -> Reply {
    Reply::error(format!("ERR Function {name} already exists"))
}
pub fn unknown_argument(arg: &str) -> Reply {
    Reply::error(format!("ERR Unknown argument {arg}"))
}

// -- ACL users (acl.rs), Redis 7.2's texts --

pub const DEFAULT_USER_UNDELETABLE: Reply = err("ERR The 'default' user cannot be removed");
pub const GENPASS_BITS: Reply = err(
    "ERR ACL GENPASS argument must be the number of bits for the output password, a \
     positive number up to 4096",
);

/// ACL SETUSER refused a rule (or the rule list).
pub fn acl_setuser(why: &crate::acl::SetUserError) -> Reply {
    Reply::error(format!("ERR {why}"))
}

/// ACL CAT of no such category.
pub fn unknown_acl_category(name: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Unknown category '{}'",
        truncate_lossy(name, 128)
    ))
}

/// A command the user may not run (Redis 7.2's text; 7.0 said "this user has no
/// permissions to run the '...' command").
pub fn noperm_command(user: &str, command: &str) -> Reply {
    Reply::error(format!(
        "NOPERM User {user} has no permissions to run the '{command}' command"
    ))
}

/// A key the user may not touch (7.2; 7.0: "this user has no permissions to access one
/// of the keys used as arguments").
pub const NOPERM_KEY: Reply = err("NOPERM No permissions to access a key");

/// A channel the user may not use (7.2; 7.0: "... one of the channels used as
/// arguments").
pub const NOPERM_CHANNEL: Reply = err("NOPERM No permissions to access a channel");

/// A subcommand of ACL called with arguments it does not take (Redis's
/// `addReplySubcommandSyntaxError`).
pub fn acl_subcommand_syntax(sub: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        truncate_lossy(sub, 128)
    ))
}

/// The NOPERM text without its code.
fn noperm_reason(denied: &Reply) -> &str {
    match denied {
        Reply::Error(text) => text.strip_prefix("NOPERM ").unwrap_or(text),
        _ => "",
    }
}

/// A queued command that the user's rules, changed since MULTI, now refuse at EXEC.
pub fn noperm_at_exec(denied: crate::acl::Denied) -> Reply {
    let reason = match denied {
        crate::acl::Denied::Command => "no permission to execute the command or subcommand",
        crate::acl::Denied::Key(_) => "no permission to touch the specified keys",
        crate::acl::Denied::Channel(_) => {
            "no permission to access one of the channels used as arguments"
        }
    };
    Reply::error(format!(
        "NOPERM ACLs rules changed between the moment the transaction was accumulated and \
         the EXEC call. This command is no longer allowed for the following reason: {reason}"
    ))
}

/// `redis.call` of something the user may not do (Redis 7.2; 7.0 said "The user
/// executing the script can't run this command or subcommand").
pub fn noperm_in_script(denied: &Reply) -> Reply {
    Reply::error(format!(
        "ERR ACL failure in script: {}",
        noperm_reason(denied)
    ))
}

pub const NO_ACL_FILE: Reply = err(
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify \
     users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a \
     Redis configuration file set) in order to store users in the Redis configuration.",
);
pub const ACL_SAVE_FAILED: Reply = err(
    "ERR There was an error trying to save the ACLs. Please check the server logs for more \
     information",
);

/// ACL DRYRUN of a user that does not exist.
pub fn acl_no_such_user(name: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR User '{}' not found",
        String::from_utf8_lossy(name)
    ))
}

/// ACL DRYRUN of a command that does not exist.
pub fn acl_no_such_command(name: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Command '{}' not found",
        String::from_utf8_lossy(name)
    ))
}

/// `ERR unknown subcommand or wrong number of arguments for 'get'. Try SLOWLOG HELP.`
pub fn subcommand_syntax(sub: &[u8], container: &str) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {container} HELP.",
        String::from_utf8_lossy(sub)
    ))
}

pub const SLOWLOG_COUNT: Reply = err("ERR count should be greater than or equal to -1");

pub fn no_latency_samples(event: &str) -> Reply {
    Reply::error(format!("ERR No samples available for event '{event}'"))
}

pub const MONITOR_DENY_BLOCKING: Reply = err("ERR MONITOR isn't allowed for DENY BLOCKING client");

pub const PAUSE_TIMEOUT_NOT_INTEGER: Reply = err("ERR timeout is not an integer or out of range");
pub const PAUSE_TIMEOUT_NEGATIVE: Reply = err("ERR timeout is negative");
pub const PAUSE_MODE: Reply = err("ERR CLIENT PAUSE mode must be WRITE or ALL");
pub const UNBLOCK_REASON: Reply = err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
pub const UNBLOCKED_BY_CLIENT: Reply = err("UNBLOCKED client unblocked via CLIENT UNBLOCK");

pub const DEBUG_NOT_ALLOWED: Reply = err(
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", \
     you can run it from a local connection, otherwise you need to set this option in the \
     configuration file, and then restart the server.",
);

// Standalone mode: cluster commands, modules, the Lua debugger, sharded pub/sub.
pub const CLUSTER_DISABLED: Reply = err("ERR This instance has cluster support disabled");
pub const MODULE_NOT_ALLOWED: Reply = err(
    "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", \
     you can run it from a local connection, otherwise you need to set this option in the \
     configuration file, and then restart the server.",
);
/// MODULE LOAD/LOADEX once allowed: Roost has no module API, so every load fails as a
/// library Redis cannot load does.
pub const MODULE_LOAD_FAILED: Reply =
    err("ERR Error loading the extension. Please check the server logs.");
pub const MODULE_UNLOAD_NO_SUCH: Reply =
    err("ERR Error unloading module: no such module with that name");
pub const SCRIPT_DEBUG_MODE: Reply = err("ERR Use SCRIPT DEBUG YES/SYNC/NO");
/// SCRIPT DEBUG from EXEC, whose earlier replies are still pending (Redis checks for
/// pending replies).
pub const SCRIPT_DEBUG_PIPELINE: Reply = err("ERR SCRIPT DEBUG must be called outside a pipeline");
/// Roost's own: SCRIPT DEBUG YES and SYNC start Redis's Lua debugger (LDB), which Roost
/// does not have.
pub const SCRIPT_DEBUGGER_MISSING: Reply =
    err("ERR SCRIPT DEBUG YES and SYNC are not supported: this server has no Lua debugger");
pub const SSUBSCRIBE_DENY_BLOCKING: Reply =
    err("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");

// Streams.
pub const STREAM_INVALID_ID: Reply =
    err("ERR Invalid stream ID specified as stream command argument");
pub const XADD_ID_ZERO: Reply = err("ERR The ID specified in XADD must be greater than 0-0");
pub const XADD_ID_TOO_SMALL: Reply =
    err("ERR The ID specified in XADD is equal or smaller than the target stream top item");
pub const STREAM_EXHAUSTED: Reply =
    err("ERR The stream has exhausted the last possible ID, unable to add more items");
pub const STREAM_MAXLEN_NEGATIVE: Reply = err("ERR The MAXLEN argument must be >= 0.");
pub const STREAM_LIMIT_NEGATIVE: Reply = err("ERR The LIMIT argument must be >= 0.");
pub const STREAM_MAXLEN_AND_MINID: Reply =
    err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
pub const STREAM_LIMIT_WITHOUT_STRATEGY: Reply =
    err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
pub const STREAM_LIMIT_WITHOUT_APPROX: Reply =
    err("ERR syntax error, LIMIT cannot be used without the special ~ option");
pub const XTRIM_WITHOUT_STRATEGY: Reply =
    err("ERR syntax error, XTRIM must be called with a trimming strategy");
pub const STREAM_INVALID_START: Reply = err("ERR invalid start ID for the interval");
pub const STREAM_INVALID_END: Reply = err("ERR invalid end ID for the interval");
pub const XSETID_ENTRIES_ADDED_NEGATIVE: Reply = err("ERR entries_added must be positive");
pub const XSETID_BELOW_GIVEN_MAX_DELETED: Reply =
    err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
pub const XSETID_BELOW_TOP: Reply =
    err("ERR The ID specified in XSETID is smaller than the target stream top item");
pub const XSETID_ENTRIES_ADDED_TOO_SMALL: Reply =
    err("ERR The entries_added specified in XSETID is smaller than the target stream length");
pub const GROUP_ONLY_IN_XREADGROUP: Reply =
    err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
pub const NOACK_ONLY_IN_XREADGROUP: Reply =
    err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
pub const XREADGROUP_WITHOUT_GROUP: Reply = err("ERR Missing GROUP option for XREADGROUP");
pub const XREADGROUP_DOLLAR: Reply = err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
pub const XREADGROUP_PLUS: Reply = err("ERR The + ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The + ID would just return an empty result set.");
pub const GREATER_ONLY_IN_XREADGROUP: Reply = err(
    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
);
pub const STREAM_LAST_ID_ZERO: Reply = err("ERR the stream last element ID is 0-0");

/// XREAD or XREADGROUP with an odd number of arguments after STREAMS (Redis 7.2's text,
/// which names the command and its special id; 7.0 said "XREAD" and '$' for both).
pub fn unbalanced_streams(xreadgroup: bool) -> Reply {
    let (name, symbol) = if xreadgroup {
        ("xreadgroup", '>')
    } else {
        ("xread", '$')
    };
    Reply::error(format!(
        "ERR Unbalanced '{name}' list of streams: for each stream key an ID or '{symbol}' must be specified."
    ))
}

/// XREADGROUP on a missing key or group.
pub fn no_group_in_xreadgroup(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}
pub const ENTRIES_READ_NEGATIVE: Reply = err("ERR value for ENTRIESREAD must be positive or -1");
pub const XGROUP_KEY_MISSING: Reply = err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
pub const BUSYGROUP: Reply = err("BUSYGROUP Consumer Group name already exists");
pub const XAUTOCLAIM_COUNT: Reply = err("ERR COUNT must be > 0");

pub fn xgroup_syntax(sub: &[u8]) -> Reply {
    subcommand_syntax(sub, "XGROUP")
}

pub fn xinfo_syntax(sub: &[u8]) -> Reply {
    subcommand_syntax(sub, "XINFO")
}

pub const BUSY_KEY: Reply = err("BUSYKEY Target key name already exists.");
pub const DUMP_PAYLOAD: Reply = err("ERR DUMP payload version or checksum are wrong");
pub const BAD_DATA_FORMAT: Reply = err("ERR Bad data format");
pub const RESTORE_TTL_NEGATIVE: Reply = err("ERR Invalid TTL value, must be >= 0");
pub const RESTORE_IDLETIME: Reply = err("ERR Invalid IDLETIME value, must be >= 0");
pub const RESTORE_FREQ: Reply = err("ERR Invalid FREQ value, must be >= 0 and <= 255");

// MIGRATE.
pub const MIGRATE_KEYS_WITH_KEY: Reply =
    err("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string");
/// The target's address could not be resolved (a refused or timed-out connection is
/// reported as a write error, as Redis 7 reports it).
pub const MIGRATE_CONNECT: Reply = err("IOERR error or timeout connecting to the client");
pub const MIGRATE_WRITE: Reply = err("IOERR error or timeout writing to target instance");
pub const MIGRATE_READ: Reply = err("IOERR error or timeout reading to target instance");

/// The first error a MIGRATE's target replied (to AUTH, SELECT or a RESTORE), without
/// its `-`.
pub fn migrate_target_error(text: &str) -> Reply {
    Reply::error(format!("ERR Target instance replied with error: {text}"))
}
