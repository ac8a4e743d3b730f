//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT: Lua 5.1 scripts, as Redis runs them.
//!
//! A script runs atomically: EVAL holds the keyspace gate exclusively and its
//! `redis.call`s run the command handlers directly. What the script changes is logged
//! and replicated as its effects (the commands' canonical records, between MULTI and
//! EXEC), never as the script, so a replica or a replayed log needs no script cache.
//!
//! A script that runs past `busy-reply-threshold` makes other clients' commands answer
//! BUSY (see `state::scripts::Running`, which dispatch checks). A hook every
//! `HOOK_INSTRUCTIONS` Lua instructions stops the script when SCRIPT KILL (only before
//! its first write) or SHUTDOWN NOSAVE asked for it.
//!
//! Each worker thread keeps its own Lua state (a Lua state cannot move between
//! threads); the scripts themselves, by SHA-1, are shared, and every thread compiles a
//! script the first time it runs it. SCRIPT FLUSH bumps a generation that makes every
//! thread start a fresh state.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, Variadic, VmState};

use super::flags::*;
use super::{args, conn, error, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;
use crate::state::scripts::{KillRefused, Stop};
use crate::state::Shared;

/// How often (in Lua instructions) a running script checks whether it must stop, as
/// Redis's hook does.
const HOOK_INSTRUCTIONS: u32 = 100_000;

/// How long a script's thread first waits for a new thread to take over its tokio
/// worker; doubled at each later try, up to `HAND_OFF_PAUSE_MAX`.
const HAND_OFF_PAUSE: std::time::Duration = std::time::Duration::from_micros(200);
const HAND_OFF_PAUSE_MAX: std::time::Duration = std::time::Duration::from_millis(5);

pub const COMMANDS: &[Spec] = &[
    super::command!(
        "scripting",
        "eval",
        -3,
        NOSCRIPT | STALE | NO_MANDATORY_KEYS | EXCLUSIVE | SKIP_MONITOR | MAY_REPLICATE,
        NO_KEYS,
        eval,
        "2.6.0",
        "Executes a server-side Lua script."
    )
    .with_find_keys(script_keys),
    super::command!(
        "scripting",
        "evalsha",
        -3,
        NOSCRIPT | STALE | NO_MANDATORY_KEYS | EXCLUSIVE | SKIP_MONITOR | MAY_REPLICATE,
        NO_KEYS,
        evalsha,
        "2.6.0",
        "Executes a server-side Lua script by SHA1 digest."
    )
    .with_find_keys(script_keys),
    super::command!(
        "scripting",
        "eval_ro",
        -3,
        NOSCRIPT | STALE | READONLY | NO_MANDATORY_KEYS | EXCLUSIVE | SKIP_MONITOR,
        NO_KEYS,
        eval_ro,
        "7.0.0",
        "Executes a read-only server-side Lua script."
    )
    .with_find_keys(script_keys),
    super::command!(
        "scripting",
        "evalsha_ro",
        -3,
        NOSCRIPT | STALE | READONLY | NO_MANDATORY_KEYS | EXCLUSIVE | SKIP_MONITOR,
        NO_KEYS,
        evalsha_ro,
        "7.0.0",
        "Executes a read-only server-side Lua script by SHA1 digest."
    )
    .with_find_keys(script_keys),
    super::command!(
        "scripting",
        "script",
        -2,
        0,
        NO_KEYS,
        conn::container,
        "2.6.0",
        "A container for Lua scripts management commands."
    )
    .with_subcommands(SCRIPT_SUBCOMMANDS),
];

/// The keys a script declares (EVAL script numkeys key... arg...): ACL checks them before
/// the script runs, as Redis does (reading and writing them; the read-only variants only
/// reading them), and COMMAND GETKEYS lists them. None when `numkeys` is not a count the
/// request holds (the handler then answers the error).
pub(super) fn script_keys(args: &[Bytes]) -> Option<Vec<usize>> {
    let numkeys = usize::try_from(crate::protocol::decode::parse_i64(args.get(2)?)?).ok()?;
    (numkeys <= args.len() - 3).then(|| (3..3 + numkeys).collect())
}

const SCRIPT_SUBCOMMANDS: &[Spec] = &[
    super::command!(
        "scripting",
        "load",
        3,
        NOSCRIPT | STALE,
        NO_KEYS,
        script_load,
        "2.6.0",
        "Loads a server-side Lua script to the script cache."
    ),
    super::command!(
        "scripting",
        "exists",
        -3,
        NOSCRIPT | STALE,
        NO_KEYS,
        script_exists,
        "2.6.0",
        "Determines whether server-side Lua scripts exist in the script cache."
    ),
    super::command!(
        "scripting",
        "flush",
        -2,
        NOSCRIPT,
        NO_KEYS,
        script_flush,
        "2.6.0",
        "Removes all server-side Lua scripts from the script cache."
    ),
    super::command!(
        "scripting",
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY | UNGATED,
        NO_KEYS,
        script_kill,
        "2.6.0",
        "Terminates a server-side Lua script during execution."
    ),
    conn::help_subcommand("scripting", "5.0.0"),
];

/// One thread's Lua state and the functions compiled in it.
struct State {
    lua: Lua,
    functions: HashMap<String, Function>,
    generation: u64,
    /// What this state last added to `LUA_MEMORY`.
    counted: usize,
}

/// Bytes held by every thread's Lua state (INFO `used_memory_lua`), as last seen after
/// each script; per process, like the states themselves.
static LUA_MEMORY: AtomicUsize = AtomicUsize::new(0);

/// The Lua states' memory (inside `used_memory`: they allocate through the counted
/// allocator, where Redis's Lua allocates beside it).
pub fn lua_memory() -> usize {
    LUA_MEMORY.load(Ordering::Relaxed)
}

impl State {
    /// Brings `LUA_MEMORY` up to date with this state.
    fn recount(&mut self) {
        let now = self.lua.used_memory();
        LUA_MEMORY.fetch_add(now, Ordering::Relaxed);
        LUA_MEMORY.fetch_sub(self.counted, Ordering::Relaxed);
        self.counted = now;
    }
}

impl Drop for State {
    fn drop(&mut self) {
        LUA_MEMORY.fetch_sub(self.counted, Ordering::Relaxed);
    }
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// The `redis` library's parts that need no connection (`redis.call` and `redis.pcall`
/// are bound to the calling client for each run), and `__roost_run`, which runs a
/// script and turns `error({err = ...})` into a value Rust can read.
const PRELUDE: &str = r#"
__roost_run = function(script)
    local ok, result = pcall(script)
    if ok then
        return result
    end
    if type(result) == 'table' and type(result.err) == 'string' then
        return { __roost_error = result.err }
    end
    error(result, 0)
end
redis.error_reply = function(message)
    return { err = message }
end
redis.status_reply = function(message)
    return { ok = message }
end
redis.setresp = function(version) end
redis.set_repl = function(flags) end
redis.replicate_commands = function() return true end
redis.log = function(level, ...) end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
setmetatable(_G, {
    __index = function(_, name)
        error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
    end,
    __newindex = function()
        error("Attempt to modify a readonly table", 2)
    end,
})
"#;

/// A Lua state with the sandbox and the connection-free `redis` library.
pub(super) fn new_lua() -> mlua::Result<Lua> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )?;
    let redis = lua.create_table()?;
    redis.set(
        "sha1hex",
        lua.create_function(|_, text: mlua::String| {
            Ok(crate::state::scripts::sha1_hex(&text.as_bytes()))
        })?,
    )?;
    redis.set("REDIS_VERSION", crate::VERSION_COMPAT)?;
    lua.globals().set("redis", redis)?;
    lua.load(PRELUDE).set_name("@roost_prelude").exec()?;
    Ok(lua)
}

fn new_state(generation: u64) -> mlua::Result<State> {
    let lua = new_lua()?;
    Ok(State {
        lua,
        functions: HashMap::new(),
        generation,
        counted: 0,
    })
}

fn eval(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let sha = ctx.shared.scripts.load(&args[1]);
    run(ctx, &sha, args, false)
}

fn eval_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let sha = ctx.shared.scripts.load(&args[1]);
    run(ctx, &sha, args, true)
}

fn evalsha(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    run(ctx, &args::text(&args[1]).to_ascii_lowercase(), args, false)
}

fn evalsha_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    run(ctx, &args::text(&args[1]).to_ascii_lowercase(), args, true)
}

/// Runs script `sha` with `args` = [command, script-or-sha, numkeys, keys..., argv...].
fn run(ctx: &mut Ctx<'_>, sha: &str, args: &[Bytes], read_only: bool) -> Outcome {
    let numkeys = match args::int(&args[2])? {
        n if n < 0 => return Err(error::NUMKEYS_NEGATIVE),
        n if n as usize > args.len() - 3 => return Err(error::NUMKEYS_TOO_MANY),
        n => n as usize,
    };
    let Some(body) = ctx.shared.scripts.get(sha) else {
        return Err(error::NO_SUCH_SCRIPT);
    };
    let (keys, argv) = args[3..].split_at(numkeys);
    let generation = ctx.shared.scripts.generation();
    STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|s| s.generation != generation) {
            *slot = Some(new_state(generation).map_err(error::lua_start_failed)?);
        }
        let state = slot.as_mut().expect("just created");
        let function = match state.functions.get(sha) {
            Some(f) => f.clone(),
            None => {
                let f = state
                    .lua
                    .load(body.as_ref())
                    .set_name("@user_script")
                    .into_function()
                    .map_err(|e| error::script_compile_failed(&lua_message(&e)))?;
                state.functions.insert(sha.to_string(), f.clone());
                f
            }
        };
        let run = RunAs {
            name: sha,
            source: "user_script",
            read_only,
            allow_oom: false,
        };
        let reply = invoke(ctx, &state.lua, &function, &run, keys, argv);
        state.recount();
        reply
    })
}

/// What runs (a script or a function) and what it may do.
pub(super) struct RunAs<'a> {
    /// The script's SHA-1 or the function's name, as error replies cite it.
    pub name: &'a str,
    /// The chunk errors cite: `user_script` or `user_function`.
    pub source: &'static str,
    /// Write commands are refused (EVAL_RO, a `no-writes` function).
    pub read_only: bool,
    /// DENYOOM commands run over `maxmemory` (an `allow-oom` function).
    pub allow_oom: bool,
}

/// Calls compiled code with KEYS and ARGV set and `redis.call` bound to `ctx`.
pub(super) fn invoke(
    ctx: &mut Ctx<'_>,
    lua: &Lua,
    function: &Function,
    run: &RunAs<'_>,
    keys: &[Bytes],
    argv: &[Bytes],
) -> Outcome {
    let (sha, read_only, allow_oom) = (run.name, run.read_only, run.allow_oom);
    let set_globals = || -> mlua::Result<()> {
        let globals = lua.globals();
        globals.raw_set("KEYS", string_table(lua, keys)?)?;
        globals.raw_set("ARGV", string_table(lua, argv)?)?;
        Ok(())
    };
    set_globals().map_err(error::failed)?;
    // The script's writes are one transaction in the log, unless it runs inside EXEC,
    // which already is one. Blocking commands do not block inside a script.
    let in_exec = ctx.client.in_exec;
    let journal = &ctx.shared.journal;
    if !in_exec {
        journal.begin_transaction();
    }
    ctx.client.in_exec = true;
    let db = ctx.client.db;
    let running = ctx.shared.scripts.running.clone();
    let threshold = std::time::Duration::from_millis(ctx.shared.config().busy_reply_threshold);
    let run_guard = running.begin(ctx.client.id, threshold);
    let hook_running = running.clone();
    let started = std::time::Instant::now();
    let slow_logged = std::cell::Cell::new(false);
    // When to try handing off the worker next, and for how long.
    let hand_off = std::cell::Cell::new((std::time::Duration::ZERO, HAND_OFF_PAUSE));
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS),
        move |_, debug| {
            let (next, pause) = hand_off.get();
            if started.elapsed() >= next {
                hand_off_worker(pause);
                hand_off.set((started.elapsed() * 2, (pause * 2).min(HAND_OFF_PAUSE_MAX)));
            }
            if !slow_logged.get() && started.elapsed() >= threshold {
                slow_logged.set(true);
                crate::log::warning(&format!(
                    "Slow script detected: still in execution after {} milliseconds. \
                     You can try killing the script using the SCRIPT KILL command.",
                    started.elapsed().as_millis()
                ));
            }
            match hook_running.check(debug.current_line()) {
                None => Ok(VmState::Continue),
                Some(_) => Err(mlua::Error::RuntimeError(
                    error::SCRIPT_KILLED_MESSAGE.to_string(),
                )),
            }
        },
    )
    .map_err(error::failed)?;
    let ctx_cell = RefCell::new(&mut *ctx);
    // The script line of the latest redis.call, for the error Redis reports.
    let call_line = std::cell::Cell::new(None);
    let run_command = |lua: &Lua, args: &[Value]| {
        // Level 1 is the script line that called redis.call.
        call_line.set(lua.inspect_stack(1, |d| d.current_line()).flatten());
        let mut ctx = ctx_cell.borrow_mut();
        call_from_script(&mut ctx, args, read_only, allow_oom).unwrap_or_else(|error| error)
    };
    let result = lua.scope(|scope| {
        let call =
            scope.create_function(|lua, args: Variadic<Value>| match run_command(lua, &args) {
                Reply::Error(e) => Err(mlua::Error::RuntimeError(e.into_owned())),
                reply => reply_to_lua(lua, &reply),
            })?;
        let pcall = scope.create_function(|lua, args: Variadic<Value>| {
            reply_to_lua(lua, &run_command(lua, &args))
        })?;
        let redis: Table = lua.globals().raw_get("redis")?;
        redis.raw_set("call", call)?;
        redis.raw_set("pcall", pcall)?;
        let run: Function = lua.globals().raw_get("__roost_run")?;
        run.call::<Value>(function.clone())
    });
    lua.remove_hook();
    if let Ok(redis) = lua.globals().raw_get::<Table>("redis") {
        let _ = redis.raw_set("call", Value::Nil);
        let _ = redis.raw_set("pcall", Value::Nil);
    }
    let stopped = running.stopped();
    drop(run_guard);
    ctx.client.in_exec = in_exec;
    ctx.client.select(db);
    if let Some((Stop::Abandoned, _)) = stopped {
        // SHUTDOWN NOSAVE: what the script wrote is dropped when the log is loaded, as
        // Redis, which propagates a script's effects only when it finishes, never
        // persists them.
        ctx.shared.journal.abort_transaction();
        return Err(error::SHUTTING_DOWN);
    }
    if !in_exec {
        if let Some(lsn) = ctx.shared.journal.end_transaction() {
            ctx.client.pending_lsn = Some(lsn);
            ctx.client.last_write_lsn = lsn;
        }
    }
    if let Some((Stop::Killed, line)) = stopped {
        crate::log::warning("Lua script killed by user with SCRIPT KILL.");
        return Err(error::script_failed(
            error::SCRIPT_KILLED_MESSAGE,
            sha,
            run.source,
            line.unwrap_or(1),
        ));
    }
    match result {
        Ok(Value::Table(t))
            if t.raw_get::<Value>("__roost_error")
                .is_ok_and(|v| !v.is_nil()) =>
        {
            let message: String = t.raw_get("__roost_error").unwrap_or_default();
            // Redis names the line of the error() call. Without Lua's debug library
            // (unsafe to load) Roost cannot see it, and names line 1.
            Err(error::script_failed(&message, sha, run.source, 1))
        }
        Ok(value) => Ok(lua_to_reply(&value)),
        Err(e) => Err(script_error(&e, run, call_line.get())),
    }
}

/// A script that outlasts its first hook hands the tokio worker it runs on (with the
/// tasks queued there, which no other worker could take while this one is busy) to a
/// new thread, and goes on as a plain blocking thread. The worker goes over only if the
/// new thread starts within `pause` (on a loaded machine it may not), so the hook tries
/// again at twice the script's age, with twice the pause; once it worked a try costs
/// only the pause. Each try also wakes an idle worker: the timers and sockets are polled
/// only by a worker that goes idle, and the busy one will not (other clients' BUSY
/// replies wait on a timer).
fn hand_off_worker(pause: std::time::Duration) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let Ok(handle) = Handle::try_current() else {
        return;
    };
    if handle.runtime_flavor() == RuntimeFlavor::MultiThread {
        // The core goes to the new thread once it starts; a closure that returned at
        // once would take it back first.
        tokio::task::block_in_place(|| {
            // Spawned from outside the core, the task wakes a parked worker.
            drop(handle.spawn(async {}));
            std::thread::sleep(pause);
        });
    }
}

fn string_table(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        table.raw_set(i + 1, lua.create_string(item.as_ref())?)?;
    }
    Ok(table)
}

/// `redis.call` / `redis.pcall`: runs one command for the script; errors come back as
/// error replies (the Lua side raises them for `call`).
fn call_from_script(
    ctx: &mut Ctx<'_>,
    args: &[Value],
    read_only: bool,
    allow_oom: bool,
) -> Outcome {
    if args.is_empty() {
        return Err(error::SCRIPT_CALL_WITHOUT_COMMAND);
    }
    let mut argv = Vec::with_capacity(args.len());
    for value in args {
        match value {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(n) => argv.push(Bytes::from(n.to_string())),
            Value::Number(n) => argv.push(Bytes::from(format_lua_number(*n))),
            _ => return Err(error::SCRIPT_CALL_BAD_ARGUMENT),
        }
    }
    let table = super::table();
    // Scripts call commands by the names clients use (a renamed command only by its new
    // name, as in Redis); a script replayed from a primary by the table's own names.
    let resolved = if ctx.client.from_primary {
        table.resolve(&argv)
    } else {
        table.resolve_named(&ctx.shared.command_names, &argv)
    };
    let id = match resolved {
        Ok(id) => id,
        Err(super::Unresolved { id: Some(_), .. }) => return Err(error::SCRIPT_CALL_WRONG_ARITY),
        Err(_) => return Err(error::SCRIPT_CALL_UNKNOWN_COMMAND),
    };
    let spec = table.spec(id);
    if spec.has(NOSCRIPT) {
        return Err(error::SCRIPT_CALL_NOT_ALLOWED);
    }
    if !ctx.client.from_primary {
        let context = if ctx.client.in_exec { "multi" } else { "lua" };
        super::check_acl(ctx, id, &argv, context)
            .map_err(|(_, reply)| error::noperm_in_script(&reply))?;
    }
    if spec.has(WRITE) {
        if read_only {
            return Err(error::WRITE_IN_READONLY_SCRIPT);
        }
        if ctx.shared.repl.is_replica() && !ctx.client.from_primary {
            return Err(error::READONLY_REPLICA);
        }
        if let Some(e) = ctx.shared.persistence.write_error() {
            return Err(error::log_write_failed(e));
        }
        if !ctx.client.from_primary && !ctx.shared.enough_good_replicas() {
            return Err(error::NO_GOOD_REPLICAS);
        }
        // From here on SCRIPT KILL could leave the dataset half changed: it refuses.
        ctx.shared.scripts.running.mark_wrote();
    }
    // Over maxmemory with nothing to evict, a script may not start growing memory; once
    // it has written it runs to the end (as in Redis: it cannot be stopped halfway).
    if spec.has(DENYOOM)
        && !allow_oom
        && ctx.shared.memory.limited()
        && !ctx.client.from_primary
        && !ctx.shared.journal.transaction_wrote()
        && ctx.shared.make_room() == crate::state::Room::Full
    {
        return Err(error::OOM);
    }
    ctx.client.in_script = true;
    let reply = super::call(ctx, id, &argv);
    ctx.client.in_script = false;
    // A blocking command that found nothing answers as its non-blocking form would.
    if ctx.client.blocked.take().is_some() {
        return Ok(Reply::Null);
    }
    Ok(reply)
}

/// Lua prints integral numbers without a fraction; Redis passes them on that way.
fn format_lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e17 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A command's reply as the script sees it (Redis's RESP2-to-Lua conversion).
fn reply_to_lua(lua: &Lua, reply: &Reply) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Integer(n) => Value::Integer(*n),
        Reply::Bulk(b) | Reply::Verbatim(b) | Reply::DoubleText(b) => {
            Value::String(lua.create_string(b.as_ref())?)
        }
        Reply::Null | Reply::NullArray | Reply::NoReply => Value::Boolean(false),
        Reply::Simple(s) => {
            let t = lua.create_table()?;
            t.set("ok", s.as_ref())?;
            Value::Table(t)
        }
        Reply::Error(e) => {
            let t = lua.create_table()?;
            t.set("err", e.as_ref())?;
            Value::Table(t)
        }
        Reply::Bool(b) => {
            if *b {
                Value::Integer(1)
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Double(_) => {
            // As RESP2 sends it: a bulk string.
            let mut out = BytesMut::new();
            reply.encode(2, &mut out);
            let text = out[..].split(|&b| b == b'\n').nth(1).unwrap_or_default();
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            Value::String(lua.create_string(text)?)
        }
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Many(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, reply_to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        Reply::Map(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                t.raw_set(2 * i + 1, reply_to_lua(lua, k)?)?;
                t.raw_set(2 * i + 2, reply_to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

/// A script's return value as a reply (Redis's Lua-to-RESP conversion).
fn lua_to_reply(value: &Value) -> Reply {
    match value {
        Value::Integer(n) => Reply::Integer(*n),
        Value::Number(n) => Reply::Integer(n.trunc() as i64),
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(true) => Reply::Integer(1),
        Value::Table(t) => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                return Reply::Error(String::from_utf8_lossy(&e.as_bytes()).into_owned().into());
            }
            if let Ok(Value::String(ok)) = t.raw_get::<Value>("ok") {
                return Reply::Simple(String::from_utf8_lossy(&ok.as_bytes()).into_owned().into());
            }
            let mut items = Vec::new();
            for i in 1.. {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(v) => items.push(lua_to_reply(&v)),
                }
            }
            Reply::Array(items)
        }
        _ => Reply::Null,
    }
}

/// The text of a Lua error, without mlua's wrapping.
pub(super) fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        other => other.to_string(),
    }
}

/// A failed script's error reply, in Redis 7's form: the message, then which script
/// and line. `call_line` is the line of the last redis.call, for errors it raised.
fn script_error(e: &mlua::Error, run: &RunAs<'_>, call_line: Option<usize>) -> Reply {
    let (sha, source) = (run.name, run.source);
    let message = lua_message(e);
    let message = message.lines().next().unwrap_or_default();
    // A Lua error names its position ("user_script:3: ..."); one raised by redis.call
    // or error({err=...}) already has its code ("ERR", "WRONGTYPE", ...) instead.
    let position: Option<usize> = message
        .strip_prefix(source)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok());
    match position {
        Some(line) => error::script_failed(&format!("ERR {message}"), sha, source, line),
        None => {
            let line = call_line.unwrap_or(1);
            let message = if message.starts_with(|c: char| c.is_ascii_uppercase()) {
                message.to_string()
            } else {
                format!("ERR {message}")
            };
            error::script_failed(&message, sha, source, line)
        }
    }
}

fn script_load(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    // Compiled here once so a syntax error is reported at load time, as Redis does.
    if let Err(e) = Lua::new_with(StdLib::NONE, LuaOptions::default()).and_then(|lua| {
        lua.load(args[2].as_ref())
            .set_name("@user_script")
            .into_function()
            .map(|_| ())
    }) {
        return Err(error::script_compile_failed(&lua_message(&e)));
    }
    Ok(Reply::Bulk(Bytes::from(ctx.shared.scripts.load(&args[2]))))
}

fn script_exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|sha| Reply::Integer(ctx.shared.scripts.get(&args::text(sha)).is_some() as i64))
            .collect(),
    ))
}

fn script_flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    match args.get(2) {
        None => {}
        Some(mode) if args.len() == 3 && (args::is(mode, "sync") || args::is(mode, "async")) => {}
        Some(_) => return Err(error::SCRIPT_FLUSH_MODE),
    }
    flush(ctx.shared);
    Ok(Reply::OK)
}

/// Empties the script cache (SCRIPT FLUSH).
pub fn flush(shared: &Shared) {
    shared.scripts.flush();
}

/// SCRIPT KILL: the running script stops at its next hook, and its caller gets the
/// killed error; refused once the script has written.
fn script_kill(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    match ctx.shared.scripts.running.kill(false) {
        Ok(()) => Ok(Reply::OK),
        Err(KillRefused::NotBusy) => Err(error::NO_SCRIPT_RUNNING),
        Err(KillRefused::Unkillable) => Err(error::SCRIPT_UNKILLABLE),
        Err(KillRefused::OtherKind) => Err(error::FUNCTION_BUSY),
    }
}
