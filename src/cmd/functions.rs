//! FUNCTION (LOAD, DELETE, FLUSH, LIST, STATS, KILL) and FCALL, FCALL_RO: Lua libraries
//! that register named functions with flags, run by the machinery EVAL uses
//! (`scripting::invoke`: the keyspace gate held, hooks for BUSY and KILL, effects
//! logged between MULTI and EXEC).
//!
//! A library is its code: `#!lua name=<lib>` then Lua that calls
//! `redis.register_function`. FUNCTION LOAD runs the code once in a fresh state to
//! learn its functions and flags (`state::functions` keeps code, names and flags);
//! each worker thread builds its own Lua state from every library's code the first
//! time it runs a function after a change. FUNCTION LOAD, DELETE and FLUSH are logged
//! and replicated as themselves, and a rewrite or a full sync starts with one
//! `FUNCTION LOAD REPLACE` per library.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, Table, Value, Variadic, VmState};

use super::flags::*;
use super::scripting::{invoke, lua_message, new_lua, runner_of, RunAs};
use super::{args, conn, error, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;
use crate::rdb::FunctionPayloadError;
use crate::state::functions::{
    flag, FunctionInfo, Library, Refusal, RestorePolicy, RestoreRefusal,
};
use crate::state::scripts::KillRefused;

pub const COMMANDS: &[Spec] = &[
    super::command!(
        "scripting",
        "fcall",
        -3,
        NOSCRIPT | STALE | NO_MANDATORY_KEYS | EXCLUSIVE | SKIP_MONITOR | MAY_REPLICATE,
        NO_KEYS,
        fcall,
        "7.0.0",
        "Invokes a function."
    )
    .with_key_specs(super::redis_meta::FCALL)
    .with_find_keys(super::scripting::script_keys),
    super::command!(
        "scripting",
        "fcall_ro",
        -3,
        NOSCRIPT | STALE | READONLY | NO_MANDATORY_KEYS | EXCLUSIVE | SKIP_MONITOR,
        NO_KEYS,
        fcall_ro,
        "7.0.0",
        "Invokes a read-only function."
    )
    .with_key_specs(super::redis_meta::FCALL_RO)
    .with_find_keys(super::scripting::script_keys),
    super::command!(
        "scripting",
        "function",
        -2,
        0,
        NO_KEYS,
        conn::container,
        "7.0.0",
        "A container for function commands."
    )
    .with_subcommands(FUNCTION_SUBCOMMANDS)
    .with_help(FUNCTION_HELP),
];

/// FUNCTION HELP in Redis's words (DUMP and RESTORE included: they come with the RDB
/// payload codec).
const FUNCTION_HELP: &[&str] = &[
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
];

const FUNCTION_SUBCOMMANDS: &[Spec] = &[
    super::command!(
        "scripting",
        "load",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        NO_KEYS,
        function_load,
        "7.0.0",
        "Creates a library."
    )
    .with_tips(super::redis_meta::ALL_SHARDS_SUCCEED),
    super::command!(
        "scripting",
        "delete",
        3,
        WRITE | NOSCRIPT,
        NO_KEYS,
        function_delete,
        "7.0.0",
        "Deletes a library and its functions."
    )
    .with_tips(super::redis_meta::ALL_SHARDS_SUCCEED),
    super::command!(
        "scripting",
        "flush",
        -2,
        WRITE | NOSCRIPT,
        NO_KEYS,
        function_flush,
        "7.0.0",
        "Deletes all libraries and functions."
    )
    .with_tips(super::redis_meta::ALL_SHARDS_SUCCEED),
    super::command!(
        "scripting",
        "list",
        -2,
        NOSCRIPT,
        NO_KEYS,
        function_list,
        "7.0.0",
        "Returns information about all libraries."
    )
    .with_tips(super::redis_meta::NONDETERMINISTIC_ORDER),
    super::command!(
        "scripting",
        "stats",
        2,
        NOSCRIPT | ALLOW_BUSY | UNGATED,
        NO_KEYS,
        function_stats,
        "7.0.0",
        "Returns information about a function during execution."
    )
    .with_tips(super::redis_meta::INFO),
    super::command!(
        "scripting",
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY | UNGATED,
        NO_KEYS,
        function_kill,
        "7.0.0",
        "Terminates a function during execution."
    )
    .with_tips(super::redis_meta::ALL_SHARDS_ONE_SUCCEEDED),
    super::command!(
        "scripting",
        "dump",
        2,
        NOSCRIPT,
        NO_KEYS,
        function_dump,
        "7.0.0",
        "Dumps all libraries into a serialized binary payload."
    ),
    super::command!(
        "scripting",
        "restore",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        NO_KEYS,
        function_restore,
        "7.0.0",
        "Restores all libraries from a payload."
    )
    .with_tips(super::redis_meta::ALL_SHARDS_SUCCEED),
    conn::help_subcommand("scripting", "7.0.0"),
];

// ---------------------------------------------------------------------------------------
// Libraries: metadata and registration
// ---------------------------------------------------------------------------------------

/// The shebang line's engine and library name, and where the Lua code starts (at the
/// line's newline, so line numbers stay the file's).
fn metadata(code: &[u8]) -> Result<(String, usize), Reply> {
    if !code.starts_with(b"#!") {
        return Err(error::FUNCTION_MISSING_METADATA);
    }
    let Some(end) = code.iter().position(|&c| c == b'\n') else {
        return Err(error::FUNCTION_INVALID_METADATA);
    };
    let parts = crate::protocol::decode::split_args(&code[..end])
        .filter(|p| !p.is_empty())
        .ok_or(error::FUNCTION_INVALID_METADATA)?;
    let engine = String::from_utf8_lossy(&parts[0][2..]).into_owned();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(error::FUNCTION_NAME_TWICE);
            }
            name = Some(String::from_utf8_lossy(&part[5..]).into_owned());
            continue;
        }
        return Err(error::function_invalid_metadata(&String::from_utf8_lossy(
            part,
        )));
    }
    let name = name.ok_or(error::FUNCTION_NO_LIBRARY_NAME)?;
    if !valid_name(&name) {
        return Err(error::FUNCTION_BAD_NAME);
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(error::function_engine_not_found(&engine));
    }
    Ok((name, end))
}

/// Letters, digits and underscores, at least one.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// One function a library's code registered.
struct Registered {
    name: String,
    callback: Function,
    info: FunctionInfo,
}

fn lua_error(text: &str) -> mlua::Error {
    mlua::Error::RuntimeError(format!("ERR {text}"))
}

/// `redis.register_function(name, callback)` or `redis.register_function{...}`.
fn registration(args: &[Value]) -> mlua::Result<Registered> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.to_string_lossy()),
        Value::Integer(n) => Some(n.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let (name, callback, description, flags) = match args {
        [Value::Table(t)] => {
            let (mut name, mut callback, mut description, mut flags) = (None, None, None, 0);
            for pair in t.clone().pairs::<Value, Value>() {
                let (key, value) = pair?;
                let key = text(&key).unwrap_or_default();
                match key.as_str() {
                    "function_name" => match text(&value) {
                        Some(text) => name = Some(text),
                        None => {
                            return Err(lua_error(
                                "function_name argument given to redis.register_function must be a string",
                            ))
                        }
                    },
                    "callback" => match value {
                        Value::Function(f) => callback = Some(f),
                        _ => {
                            return Err(lua_error(
                                "callback argument given to redis.register_function must be a function",
                            ))
                        }
                    },
                    "description" => match text(&value) {
                        Some(text) => description = Some(Bytes::from(text)),
                        None => {
                            return Err(lua_error(
                                "description argument given to redis.register_function must be a string",
                            ))
                        }
                    },
                    "flags" => flags = parse_flags(&value)?,
                    _ => {
                        return Err(lua_error(
                            "unknown argument given to redis.register_function",
                        ))
                    }
                }
            }
            let name = name.ok_or_else(|| {
                lua_error("redis.register_function must get a function name argument")
            })?;
            let callback = callback.ok_or_else(|| {
                lua_error("redis.register_function must get a callback argument")
            })?;
            (name, callback, description, flags)
        }
        [_] => {
            return Err(lua_error(
                "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
            ))
        }
        [name, callback] => {
            let name = text(name).ok_or_else(|| {
                lua_error("first argument to redis.register_function must be a string")
            })?;
            let Value::Function(callback) = callback else {
                return Err(lua_error(
                    "second argument to redis.register_function must be a function",
                ));
            };
            (name, callback.clone(), None, 0)
        }
        _ => {
            return Err(lua_error(
                "wrong number of arguments to redis.register_function",
            ))
        }
    };
    if !valid_name(&name) {
        return Err(lua_error(
            "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ));
    }
    Ok(Registered {
        name,
        callback,
        info: FunctionInfo { description, flags },
    })
}

fn parse_flags(value: &Value) -> mlua::Result<u32> {
    let Value::Table(t) = value else {
        return Err(lua_error(
            "flags argument to redis.register_function must be a table representing function flags",
        ));
    };
    let mut flags = 0;
    for item in t.clone().sequence_values::<Value>() {
        let known = match item? {
            Value::String(s) => flag::NAMES
                .iter()
                .find(|(_, name)| s.as_bytes().as_ref() == name.as_bytes())
                .map(|(f, _)| *f),
            _ => None,
        };
        flags |= known.ok_or_else(|| lua_error("unknown flag given"))?;
    }
    Ok(flags)
}

/// Makes a library's environment: reads go to the load-time API, then (once the
/// returned function is called) to the globals; writes are refused, as in Redis.
const LOAD_ENVIRONMENT: &str = r#"
return function(api)
    local env = {}
    local function readonly()
        error("Attempt to modify a readonly table", 2)
    end
    setmetatable(env, {
        __index = function(_, name)
            local value = api[name]
            if value == nil then
                error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
            end
            return value
        end,
        __newindex = readonly,
    })
    return env, function()
        setmetatable(env, { __index = _G, __newindex = readonly })
    end
end
"#;

/// Runs a library's code in `lua` with the load-time `redis` table (only
/// `register_function`, `log` and constants) and returns what it registered.
/// How long a library's body may run when it is loaded (Redis's `LOAD_TIMEOUT_MS`).
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);
const LOAD_TIMEOUT_MESSAGE: &str = "ERR FUNCTION LOAD timeout";
/// Instructions between two looks at the clock while a library loads.
const LOAD_HOOK_INSTRUCTIONS: u32 = 100_000;

fn register_library(lua: &Lua, code: &[u8], start: usize) -> Result<Vec<Registered>, Reply> {
    let chunk = lua
        .load(&code[start..])
        .set_name("@user_function")
        .into_function()
        .map_err(|e| error::function_compile_failed(&lua_message(&e)))?;
    let registered: RefCell<Vec<Registered>> = RefCell::new(Vec::new());
    let failure: RefCell<Option<Reply>> = RefCell::new(None);
    let result = lua.scope(|scope| {
        let globals = lua.globals();
        let loading = lua.create_table()?;
        loading.raw_set(
            "register_function",
            scope.create_function(|_, args: Variadic<Value>| {
                let r = registration(&args)?;
                let mut all = registered.borrow_mut();
                if all.iter().any(|other| other.name.eq_ignore_ascii_case(&r.name)) {
                    return Err(lua_error("Function already exists in the library"));
                }
                all.push(r);
                Ok(())
            })?,
        )?;
        loading.raw_set("log", lua.create_function(|_, _: Variadic<Value>| Ok(()))?)?;
        for (name, level) in [
            ("LOG_DEBUG", 0),
            ("LOG_VERBOSE", 1),
            ("LOG_NOTICE", 2),
            ("LOG_WARNING", 3),
        ] {
            loading.raw_set(name, level)?;
        }
        loading.raw_set("REDIS_VERSION", crate::VERSION_COMPAT)?;
        let guard = lua
            .load(
                "return {__index = function(_, name) error(\"Script attempted to access nonexistent global variable '\" .. tostring(name) .. \"'\", 2) end}",
            )
            .eval::<Table>()?;
        loading.set_metatable(Some(guard))?;
        // The code runs in an environment of its own that sees only the load-time API
        // (Redis's library globals); once loaded, its functions see the usual globals.
        let api = lua.create_table()?;
        api.raw_set("redis", loading)?;
        for lib in ["string", "math", "table"] {
            api.raw_set(lib, globals.raw_get::<Value>(lib)?)?;
        }
        let (env, to_runtime): (Table, Function) = lua
            .load(LOAD_ENVIRONMENT)
            .set_name("@roost_functions")
            .eval::<Function>()?
            .call(api)?;
        chunk.set_environment(env)?;
        // A library's body runs for at most LOAD_TIMEOUT, as in Redis; past it the hook
        // raises the error again at every check, so a pcall cannot keep the body going.
        let started = Instant::now();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(LOAD_HOOK_INSTRUCTIONS),
            move |_, _| {
                if started.elapsed() >= LOAD_TIMEOUT {
                    Err(mlua::Error::RuntimeError(LOAD_TIMEOUT_MESSAGE.into()))
                } else {
                    Ok(VmState::Continue)
                }
            },
        )?;
        let outcome = chunk.call::<()>(());
        super::scripting::set_script_hook(lua)?;
        to_runtime.call::<()>(())?;
        if let Err(e) = outcome {
            let message = lua_message(&e);
            let message = message.lines().next().unwrap_or_default();
            let message = if message.starts_with(|c: char| c.is_ascii_uppercase()) {
                message.to_string()
            } else {
                format!("ERR {message}")
            };
            *failure.borrow_mut() = Some(error::function_registration_failed(&message));
        }
        Ok(())
    });
    result.map_err(error::failed)?;
    if let Some(reply) = failure.into_inner() {
        return Err(reply);
    }
    let registered = registered.into_inner();
    if registered.is_empty() {
        return Err(error::FUNCTION_NONE_REGISTERED);
    }
    Ok(registered)
}

/// A library from its code: its name from the shebang line, its functions and flags
/// from running the code once in a fresh state.
fn compile(code: &Bytes) -> Result<Library, Reply> {
    let (name, start) = metadata(code)?;
    let lua = new_lua().map_err(error::lua_start_failed)?;
    let registered = register_library(&lua, code, start)?;
    Ok(Library {
        name,
        // Kept until FUNCTION DELETE or FLUSH: not a slice pinning the read buffer.
        code: crate::store::own(code),
        functions: registered
            .into_iter()
            .map(|r| (r.name, r.info))
            .collect::<BTreeMap<_, _>>(),
    })
}

/// Libraries from their codes (FUNCTION RESTORE's payload, an RDB file's FUNCTION2
/// opcodes): distinct names and functions among themselves, or FUNCTION LOAD's error.
pub fn compile_all(codes: &[Bytes]) -> Result<Vec<Library>, Reply> {
    let mut out: Vec<Library> = Vec::with_capacity(codes.len());
    for code in codes {
        let library = compile(code)?;
        if out.iter().any(|l| l.name == library.name) {
            return Err(error::library_exists(&library.name));
        }
        for f in library.functions.keys() {
            let taken = out
                .iter()
                .any(|l| l.functions.keys().any(|o| o.eq_ignore_ascii_case(f)));
            if taken {
                return Err(error::function_exists(f));
            }
        }
        out.push(library);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// FUNCTION subcommands
// ---------------------------------------------------------------------------------------

/// FUNCTION DUMP: every library's code in Redis's payload (`rdb::function_payload`).
fn function_dump(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let compress = ctx.shared.config().rdbcompression;
    let codes = ctx.shared.functions.codes();
    Ok(Reply::Bulk(crate::rdb::function_payload(&codes, compress)))
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]: all the payload's libraries or
/// none, logged as itself.
fn function_restore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() > 4 {
        return Err(error::subcommand_syntax(&args[1], "FUNCTION"));
    }
    let policy = match args.get(3) {
        None => RestorePolicy::Append,
        Some(p) if args::is(p, "append") => RestorePolicy::Append,
        Some(p) if args::is(p, "replace") => RestorePolicy::Replace,
        Some(p) if args::is(p, "flush") => RestorePolicy::Flush,
        Some(_) => return Err(error::FUNCTION_RESTORE_POLICY),
    };
    let codes = match crate::rdb::parse_function_payload(&args[2]) {
        Ok(codes) => codes,
        Err(FunctionPayloadError::VersionOrChecksum) => return Err(error::DUMP_PAYLOAD),
        Err(FunctionPayloadError::Bad(why)) => return Err(error::function_payload(why)),
    };
    let libraries = compile_all(&codes)?;
    match ctx.shared.functions.restore(libraries, policy) {
        Ok(()) => {}
        Err(RestoreRefusal::LibraryExists(name)) => {
            return Err(error::restore_library_exists(&name))
        }
        Err(RestoreRefusal::FunctionExists(f)) => return Err(error::function_exists(&f)),
    }
    propagate_as_is(ctx, args);
    Ok(Reply::OK)
}

/// Logs a FUNCTION subcommand as itself.
fn propagate_as_is(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let sub = args[1].to_ascii_uppercase();
    let mut record: Vec<&[u8]> = vec![b"FUNCTION", &sub];
    record.extend(args[2..].iter().map(|a| a.as_ref()));
    ctx.propagate(&record);
}

fn function_load(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut replace = false;
    let mut at = 2;
    while at < args.len() - 1 {
        if args::is(&args[at], "replace") {
            replace = true;
            at += 1;
        } else {
            return Err(error::function_unknown_option(&args::text(&args[at])));
        }
    }
    if at != args.len() - 1 {
        return Err(error::FUNCTION_NO_CODE);
    }
    let code = &args[at];
    let (name, _) = metadata(code)?;
    if !replace && ctx.shared.functions.exists(&name) {
        return Err(error::library_exists(&name));
    }
    let library = compile(code)?;
    match ctx.shared.functions.add(library, replace) {
        Ok(()) => {}
        Err(Refusal::LibraryExists) => return Err(error::library_exists(&name)),
        Err(Refusal::FunctionExists(f)) => return Err(error::function_exists(&f)),
    }
    propagate_as_is(ctx, args);
    Ok(Reply::Bulk(Bytes::from(name)))
}

fn function_delete(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if !ctx.shared.functions.delete(&args::text(&args[2])) {
        return Err(error::LIBRARY_NOT_FOUND);
    }
    propagate_as_is(ctx, args);
    Ok(Reply::OK)
}

fn function_flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() > 3 {
        return Err(error::subcommand_syntax(&args[1], "FUNCTION"));
    }
    match &args[2..] {
        [] => {}
        [mode] if args::is(mode, "sync") || args::is(mode, "async") => {}
        _ => return Err(error::FUNCTION_FLUSH_MODE),
    }
    ctx.shared.functions.flush();
    propagate_as_is(ctx, args);
    Ok(Reply::OK)
}

fn function_list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 2;
    while i < args.len() {
        if !with_code && args::is(&args[i], "withcode") {
            with_code = true;
        } else if pattern.is_none() && args::is(&args[i], "libraryname") {
            if i >= args.len() - 1 {
                return Err(error::FUNCTION_LIST_NO_LIBRARY_NAME);
            }
            i += 1;
            pattern = Some(&args[i]);
        } else {
            return Err(error::unknown_argument(&args::text(&args[i])));
        }
        i += 1;
    }
    let bulk = Reply::bulk_str;
    let libraries = ctx
        .shared
        .functions
        .list()
        .into_iter()
        .filter(|lib| pattern.is_none_or(|p| crate::glob::matches(p, lib.name.as_bytes(), true)))
        .map(|lib| {
            let functions = lib
                .functions
                .iter()
                .map(|(name, info)| {
                    let flags = flag::NAMES
                        .iter()
                        .filter(|(f, _)| info.flags & f != 0)
                        .map(|(_, n)| Reply::simple(n))
                        .collect();
                    Reply::Map(vec![
                        (bulk("name"), bulk(name)),
                        (
                            bulk("description"),
                            Reply::opt_bulk(info.description.clone()),
                        ),
                        (bulk("flags"), Reply::Set(flags)),
                    ])
                })
                .collect();
            let mut fields = vec![
                (bulk("library_name"), bulk(&lib.name)),
                (bulk("engine"), bulk("LUA")),
                (bulk("functions"), Reply::Array(functions)),
            ];
            if with_code {
                fields.push((bulk("library_code"), Reply::Bulk(lib.code.clone())));
            }
            Reply::Map(fields)
        })
        .collect();
    Ok(Reply::Array(libraries))
}

fn function_stats(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let bulk = Reply::bulk_str;
    let (libraries, functions) = ctx.shared.functions.counts();
    let running = match ctx.shared.scripts.running.function() {
        None => Reply::Null,
        Some((name, command, elapsed)) => Reply::Map(vec![
            (bulk("name"), bulk(&name)),
            (
                bulk("command"),
                Reply::Array(command.into_iter().map(Reply::Bulk).collect()),
            ),
            (
                bulk("duration_ms"),
                Reply::Integer(elapsed.as_millis() as i64),
            ),
        ]),
    };
    Ok(Reply::Map(vec![
        (bulk("running_script"), running),
        (
            bulk("engines"),
            Reply::Map(vec![(
                bulk("LUA"),
                Reply::Map(vec![
                    (bulk("libraries_count"), Reply::Integer(libraries as i64)),
                    (bulk("functions_count"), Reply::Integer(functions as i64)),
                ]),
            )]),
        ),
    ]))
}

fn function_kill(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    match ctx.shared.scripts.running.kill(true) {
        Ok(()) => Ok(Reply::OK),
        Err(KillRefused::NotBusy) => Err(error::NO_SCRIPT_RUNNING),
        Err(KillRefused::Unkillable) => Err(error::SCRIPT_UNKILLABLE),
        Err(KillRefused::OtherKind) => Err(error::SCRIPT_BUSY),
    }
}

// ---------------------------------------------------------------------------------------
// FCALL
// ---------------------------------------------------------------------------------------

/// One thread's Lua state holding every library, and its functions by name (each
/// wrapped to be called with KEYS and ARGV).
struct FunctionsState {
    lua: Lua,
    functions: HashMap<String, Function>,
    generation: u64,
}

thread_local! {
    static FUNCTIONS: RefCell<Option<FunctionsState>> = const { RefCell::new(None) };
}

fn build_state(ctx: &Ctx<'_>, generation: u64) -> Result<FunctionsState, Reply> {
    let lua = new_lua().map_err(error::lua_start_failed)?;
    let bind: Function = lua
        .load("return function(callback) return function() return callback(KEYS, ARGV) end end")
        .eval()
        .map_err(error::failed)?;
    let mut functions = HashMap::new();
    for library in ctx.shared.functions.list() {
        let (_, start) = metadata(&library.code)?;
        for r in register_library(&lua, &library.code, start)? {
            let bound: Function = bind.call(r.callback).map_err(error::failed)?;
            functions.insert(r.name.to_ascii_lowercase(), bound);
        }
    }
    Ok(FunctionsState {
        lua,
        functions,
        generation,
    })
}

fn fcall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    fcall_generic(ctx, args, false)
}

fn fcall_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    fcall_generic(ctx, args, true)
}

/// FCALL(_RO) function numkeys key... arg..., with Redis's checks before the run
/// (`scriptPrepareForRun`), in its order.
fn fcall_generic(ctx: &mut Ctx<'_>, args: &[Bytes], read_only_call: bool) -> Outcome {
    let name = args::text(&args[1]);
    let Some((_, info)) = ctx.shared.functions.function(&name) else {
        return Err(error::FUNCTION_NOT_FOUND);
    };
    let numkeys = match crate::protocol::decode::parse_i64(&args[2]) {
        None => return Err(error::FUNCTION_BAD_NUMKEYS),
        Some(n) if n > (args.len() - 3) as i64 => return Err(error::NUMKEYS_TOO_MANY),
        Some(n) if n < 0 => return Err(error::NUMKEYS_NEGATIVE),
        Some(n) => n as usize,
    };
    let from_primary = ctx.client.from_primary;
    let no_writes = info.flags & flag::NO_WRITES != 0;
    if !no_writes && !from_primary {
        if ctx.shared.repl.is_replica() && ctx.shared.config().replica_read_only {
            return Err(error::SCRIPT_WRITE_ON_REPLICA);
        }
        if let Some(e) = ctx.shared.persistence.write_error() {
            return Err(error::log_write_failed(e));
        }
        if read_only_call {
            return Err(error::WRITE_FLAG_WITH_RO_COMMAND);
        }
        if !ctx.shared.enough_good_replicas() {
            return Err(error::NO_GOOD_REPLICAS);
        }
    }
    if info.flags & (flag::ALLOW_OOM | flag::NO_WRITES) == 0
        && !from_primary
        && ctx.shared.memory.limited()
        && ctx.shared.make_room() == crate::state::Room::Full
    {
        return Err(error::SCRIPT_OOM);
    }
    if info.flags & flag::ALLOW_STALE == 0
        && ctx.shared.repl.is_replica()
        && ctx.shared.repl.link.state() != crate::state::replication::LinkState::Connected
        && !ctx.shared.config().replica_serve_stale_data
    {
        return Err(error::SCRIPT_PRIMARY_LINK_DOWN);
    }
    let (keys, argv) = args[3..].split_at(numkeys);
    let generation = ctx.shared.functions.generation();
    FUNCTIONS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|s| s.generation != generation) {
            *slot = Some(build_state(ctx, generation)?);
        }
        let state = slot.as_mut().expect("just built");
        let Some(function) = state.functions.get(&name.to_ascii_lowercase()).cloned() else {
            return Err(error::FUNCTION_NOT_FOUND);
        };
        let run = RunAs {
            name: &name,
            source: "user_function",
            read_only: no_writes,
            allow_oom: info.flags & flag::ALLOW_OOM != 0,
        };
        let _running = ctx.shared.scripts.running.describe(&name, args);
        let runner = runner_of(&state.lua).map_err(error::failed)?;
        invoke(ctx, &runner, &function, &run, keys, argv)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shebang_names_the_engine_and_the_library() {
        assert_eq!(
            metadata(b"#!lua name=lib\nreturn 1").unwrap(),
            ("lib".into(), 14)
        );
        assert_eq!(
            metadata(b"#!LUA NAME=x y\n").unwrap_err(),
            error::function_invalid_metadata("y")
        );
        assert_eq!(
            metadata(b"return 1").unwrap_err(),
            error::FUNCTION_MISSING_METADATA
        );
        assert_eq!(
            metadata(b"#!lua name=a").unwrap_err(),
            error::FUNCTION_INVALID_METADATA
        );
        assert_eq!(
            metadata(b"#!lua\n").unwrap_err(),
            error::FUNCTION_NO_LIBRARY_NAME
        );
        assert_eq!(
            metadata(b"#!js name=a\n").unwrap_err(),
            error::function_engine_not_found("js")
        );
    }

    #[test]
    fn a_library_registers_its_functions_with_their_flags() {
        let lua = new_lua().unwrap();
        let code = b"#!lua name=lib\nredis.register_function('a', function() return 1 end)\n\
            redis.register_function{function_name='b', callback=function() end, flags={'no-writes', 'allow-oom'}}";
        let got = register_library(&lua, code, 14).unwrap();
        let summary: Vec<(String, u32)> =
            got.iter().map(|r| (r.name.clone(), r.info.flags)).collect();
        assert_eq!(
            summary,
            vec![
                ("a".into(), 0),
                ("b".into(), flag::NO_WRITES | flag::ALLOW_OOM)
            ]
        );
    }
}
