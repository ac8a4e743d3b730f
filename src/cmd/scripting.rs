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
//! thread start a fresh state. A state's `redis.call`, `redis.pcall` and hook are made
//! with it and reach the running script through a thread-local `Binding`: per run,
//! EVAL only calls the compiled function through the runner, which sets KEYS and ARGV
//! from the binding first.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};

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
    .with_subcommands(SCRIPT_SUBCOMMANDS)
    .with_help(&[
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
    ]),
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
    super::command!(
        "scripting",
        "debug",
        3,
        NOSCRIPT,
        NO_KEYS,
        script_debug,
        "3.2.0",
        "Sets the debug mode of server-side Lua scripts."
    ),
    conn::help_subcommand("scripting", "5.0.0"),
];

/// One thread's Lua state and the functions compiled in it.
struct State {
    lua: Lua,
    /// The prelude's `__roost_run`.
    runner: Function,
    /// By SHA-1 (foldhash, seeded per state, where SipHash cost more per EVALSHA).
    functions: HashMap<String, Function, foldhash::fast::RandomState>,
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
        if now != self.counted {
            // One locked add of the difference (wrapping, as it may be negative).
            LUA_MEMORY.fetch_add(now.wrapping_sub(self.counted), Ordering::Relaxed);
            self.counted = now;
        }
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
/// are bound to the calling client for each run), and `__roost_run`, which sets KEYS
/// and ARGV (through `__roost_args`, kept as its upvalue only), runs a script and turns
/// `error({err = ...})` into a value Rust can read.
const PRELUDE: &str = r#"
local set_args = __roost_args
__roost_args = nil
__roost_run = function(script)
    set_args()
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

/// A Lua state with the sandbox and the `redis` library (`redis.call` finds the
/// running script through its binding).
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
    bind_redis_calls(&lua, &redis)?;
    lua.globals().set("redis", redis)?;
    lua.load(PRELUDE).set_name("@roost_prelude").exec()?;
    Ok(lua)
}

/// The prelude's runner, which calls a script and catches its errors.
pub(super) fn runner_of(lua: &Lua) -> mlua::Result<Function> {
    lua.globals().raw_get("__roost_run")
}

fn new_state(generation: u64) -> mlua::Result<State> {
    let lua = new_lua()?;
    let runner = runner_of(&lua)?;
    Ok(State {
        lua,
        runner,
        functions: HashMap::default(),
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
    run(ctx, &sha_argument(&args[1]), args, false)
}

fn evalsha_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    run(ctx, &sha_argument(&args[1]), args, true)
}

/// EVALSHA's script id in lower case (clients send it so: no copy then).
fn sha_argument(arg: &Bytes) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(arg) {
        Ok(sha) if !sha.bytes().any(|b| b.is_ascii_uppercase()) => sha.into(),
        _ => args::text(arg).to_ascii_lowercase().into(),
    }
}

/// Runs script `sha` with `args` = [command, script-or-sha, numkeys, keys..., argv...].
fn run(ctx: &mut Ctx<'_>, sha: &str, args: &[Bytes], read_only: bool) -> Outcome {
    let numkeys = match args::int(&args[2])? {
        n if n < 0 => return Err(error::NUMKEYS_NEGATIVE),
        n if n as usize > args.len() - 3 => return Err(error::NUMKEYS_TOO_MANY),
        n => n as usize,
    };
    let (keys, argv) = args[3..].split_at(numkeys);
    let generation = ctx.shared.scripts.generation();
    STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|s| s.generation != generation) {
            *slot = Some(new_state(generation).map_err(error::lua_start_failed)?);
        }
        let state = slot.as_mut().expect("just created");
        // Compiled here, it is in the cache: only SCRIPT FLUSH removes scripts, and it
        // retires this state.
        let function = match state.functions.get(sha) {
            Some(f) => f.clone(),
            None => {
                let Some(body) = ctx.shared.scripts.get(sha) else {
                    return Err(error::NO_SUCH_SCRIPT);
                };
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
        let reply = invoke(ctx, &state.runner, &function, &run, keys, argv);
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

/// Calls compiled code (through `runner`, see `runner_of`) with KEYS and ARGV set and
/// `redis.call` bound to `ctx`.
pub(super) fn invoke(
    ctx: &mut Ctx<'_>,
    runner: &Function,
    function: &Function,
    run: &RunAs<'_>,
    keys: &[Bytes],
    argv: &[Bytes],
) -> Outcome {
    let (sha, read_only, allow_oom) = (run.name, run.read_only, run.allow_oom);
    // The script's writes are one transaction in the log, unless it runs inside EXEC,
    // which already is one. Blocking commands do not block inside a script.
    let in_exec = ctx.client.in_exec;
    let journal = &ctx.shared.journal;
    if !in_exec {
        journal.begin_transaction();
    }
    ctx.client.in_exec = true;
    let db = ctx.client.db;
    let shared = ctx.shared;
    let running = &*shared.scripts.running;
    let threshold = running.threshold();
    let started = std::time::Instant::now();
    let run_guard = running.begin(ctx.client.id, threshold, started);
    let binding = Binding {
        ctx: RefCell::new(&mut *ctx),
        read_only,
        allow_oom,
        call_line: Cell::new(None),
        running,
        keys,
        argv,
        started,
        threshold,
        hooks: Cell::new(0),
        slow_logged: Cell::new(false),
        wrote: Cell::new(false),
        hand_off: Cell::new((std::time::Duration::ZERO, HAND_OFF_PAUSE)),
    };
    let result = binding.bind(|| runner.call::<Value>(function));
    let call_line = binding.call_line.get();
    let stopped = run_guard.finish();
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
        Err(e) => Err(script_error(&e, run, call_line)),
    }
}

/// What `redis.call`, `redis.pcall` and the instruction hook work on while a script runs
/// on this thread. The functions and the hook are made once per Lua state; `bind` shows
/// them the running script's binding through `BOUND`, so a run creates no closures.
struct Binding<'c, 'a> {
    ctx: RefCell<&'c mut Ctx<'a>>,
    read_only: bool,
    allow_oom: bool,
    /// The script line of the latest redis.call, for the error Redis reports.
    call_line: Cell<Option<usize>>,
    running: &'c crate::state::scripts::Running,
    /// The script's KEYS and ARGV, which the runner has `__roost_args` set.
    keys: &'c [Bytes],
    argv: &'c [Bytes],
    started: std::time::Instant,
    threshold: std::time::Duration,
    /// Hooks seen in this run (the instruction count runs on across runs, so the first
    /// hook of a run may come early).
    hooks: Cell<u32>,
    slow_logged: Cell<bool>,
    /// `Running::mark_wrote` was called (once per run is enough).
    wrote: Cell<bool>,
    /// When to try handing off the worker next, and for how long.
    hand_off: Cell<(std::time::Duration, std::time::Duration)>,
}

thread_local! {
    /// The binding of the script running on this thread (a `Binding`), or null.
    static BOUND: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
}

impl Binding<'_, '_> {
    /// Runs `f` with this binding visible to `redis.call` and the hook.
    fn bind<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(*const ());
        impl Drop for Restore {
            fn drop(&mut self) {
                BOUND.with(|b| b.set(self.0));
            }
        }
        let _restore = Restore(BOUND.with(|b| b.replace(self as *const Self as *const ())));
        f()
    }

    /// Calls `f` with the binding of the script running on this thread, if any.
    fn with_current<R>(f: impl FnOnce(&Binding<'_, '_>) -> R) -> Option<R> {
        let bound = BOUND.with(|b| b.get());
        // SAFETY: `bind` publishes a pointer to a live binding only while it runs `f` on
        // this thread, and puts the previous value back before the binding goes away;
        // the reference handed out does not outlive this call.
        (!bound.is_null()).then(|| f(unsafe { &*(bound as *const Binding<'_, '_>) }))
    }

    /// One `redis.call` / `redis.pcall` of the running script.
    fn run_command(&self, call_line: Option<usize>, argv: Vec<Bytes>) -> Reply {
        self.call_line.set(call_line);
        let mut ctx = self.ctx.borrow_mut();
        call_from_script(&mut ctx, argv, self.read_only, self.allow_oom, &self.wrote)
            .unwrap_or_else(|error| error)
    }

    /// The instruction hook: hands the worker off once the script is long, logs a slow
    /// script once, and stops it when SCRIPT KILL or SHUTDOWN NOSAVE asked.
    fn hook(&self, debug: &mlua::Debug) -> mlua::Result<VmState> {
        let hooks = self.hooks.get() + 1;
        self.hooks.set(hooks);
        let (next, pause) = self.hand_off.get();
        if hooks > 1 && self.started.elapsed() >= next {
            hand_off_worker(pause);
            self.hand_off.set((
                self.started.elapsed() * 2,
                (pause * 2).min(HAND_OFF_PAUSE_MAX),
            ));
        }
        if !self.slow_logged.get() && self.started.elapsed() >= self.threshold {
            self.slow_logged.set(true);
            crate::log::warning(&format!(
                "Slow script detected: still in execution after {} milliseconds. \
                 You can try killing the script using the SCRIPT KILL command.",
                self.started.elapsed().as_millis()
            ));
        }
        match self.running.check(debug.current_line()) {
            None => Ok(VmState::Continue),
            Some(_) => Err(mlua::Error::RuntimeError(
                error::SCRIPT_KILLED_MESSAGE.to_string(),
            )),
        }
    }
}

/// `redis.call` and `redis.pcall` for a new Lua state, and its hook.
fn bind_redis_calls(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    // SAFETY: both functions follow the rules of `call_entry`.
    let (call, pcall) = unsafe {
        (
            lua.create_c_function(lua_redis_call)?,
            lua.create_c_function(lua_redis_pcall)?,
        )
    };
    redis.raw_set("call", call)?;
    redis.raw_set("pcall", pcall)?;
    // SAFETY: `lua_roost_args` follows the rules of `call_entry`.
    let args = unsafe { lua.create_c_function(lua_roost_args)? };
    lua.globals().raw_set("__roost_args", args)?;
    set_script_hook(lua)
}

/// The instruction hook of a running script (see `Binding::hook`); also put back after a
/// function library's load-time hook.
pub(super) fn set_script_hook(lua: &Lua) -> mlua::Result<()> {
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS),
        |_, debug| Binding::with_current(|b| b.hook(debug)).unwrap_or(Ok(VmState::Continue)),
    )
}

unsafe extern "C-unwind" fn lua_redis_call(state: *mut mlua::ffi::lua_State) -> c_int {
    call_entry(state, true)
}

unsafe extern "C-unwind" fn lua_redis_pcall(state: *mut mlua::ffi::lua_State) -> c_int {
    call_entry(state, false)
}

/// What `call_and_push` left on the Lua stack.
enum Pushed {
    /// The reply, as one value.
    Reply,
    /// An error message for `lua_error` (redis.call's error replies, raised).
    Error,
}

/// `redis.call` (`raise`: an error reply is raised as a Lua error) and `redis.pcall`
/// (it is returned as a `{err = ...}` table), as Lua C functions: through the C API
/// they read their arguments and push the reply at a fraction of what mlua's typed
/// callbacks cost per call. Everything with a destructor lives and ends inside
/// `call_and_push`, so `lua_error`'s longjmp crosses no Rust frame that owns anything.
unsafe fn call_entry(state: *mut mlua::ffi::lua_State, raise: bool) -> c_int {
    let pushed =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call_and_push(state, raise)));
    match pushed {
        Ok(Pushed::Reply) => 1,
        Ok(Pushed::Error) => mlua::ffi::lua_error(state),
        Err(panic) => {
            drop(panic);
            let e = error::SCRIPT_CALL_PANICKED;
            mlua::ffi::lua_pushlstring(state, e.as_ptr().cast(), e.len());
            mlua::ffi::lua_error(state)
        }
    }
}

unsafe fn call_and_push(state: *mut mlua::ffi::lua_State, raise: bool) -> Pushed {
    use mlua::ffi;
    let argv = match script_call_args(state) {
        Ok(argv) => argv,
        Err(reply) => return push_call_reply(state, &reply, raise),
    };
    // Level 1 is the script line that called redis.call.
    let mut debug: ffi::lua_Debug = std::mem::zeroed();
    let call_line = (ffi::lua_getstack(state, 1, &mut debug) != 0
        && ffi::lua_getinfo(state, c"l".as_ptr(), &mut debug) != 0)
        .then(|| usize::try_from(debug.currentline).ok())
        .flatten();
    let reply = Binding::with_current(|b| b.run_command(call_line, argv))
        .unwrap_or_else(|| Reply::Error(error::SCRIPT_CALL_OUTSIDE.into()));
    push_call_reply(state, &reply, raise)
}

/// The arguments of a redis.call: strings as they are, numbers as Lua prints integral
/// ones (without a fraction).
unsafe fn script_call_args(state: *mut mlua::ffi::lua_State) -> Result<Vec<Bytes>, Reply> {
    use mlua::ffi;
    let count = ffi::lua_gettop(state);
    if count == 0 {
        return Err(error::SCRIPT_CALL_WITHOUT_COMMAND);
    }
    let mut argv = Vec::with_capacity(count as usize);
    for i in 1..=count {
        match ffi::lua_type(state, i) {
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let text = ffi::lua_tolstring(state, i, &mut len);
                argv.push(Bytes::copy_from_slice(std::slice::from_raw_parts(
                    text.cast(),
                    len,
                )));
            }
            ffi::LUA_TNUMBER => {
                let n = ffi::lua_tonumber(state, i);
                let text = if n == (n as i64) as f64 {
                    (n as i64).to_string()
                } else {
                    format_lua_number(n)
                };
                argv.push(Bytes::from(text));
            }
            _ => return Err(error::SCRIPT_CALL_BAD_ARGUMENT),
        }
    }
    Ok(argv)
}

/// Pushes a redis.call reply, or for `raise` and an error reply, the message to raise.
unsafe fn push_call_reply(state: *mut mlua::ffi::lua_State, reply: &Reply, raise: bool) -> Pushed {
    match reply {
        Reply::Error(e) if raise => {
            mlua::ffi::lua_pushlstring(state, e.as_ptr().cast(), e.len());
            Pushed::Error
        }
        reply => {
            if push_reply(state, reply) {
                Pushed::Reply
            } else {
                let e = error::SCRIPT_REPLY_TOO_DEEP;
                mlua::ffi::lua_pushlstring(state, e.as_ptr().cast(), e.len());
                Pushed::Error
            }
        }
    }
}

/// A command's reply as the script sees it (Redis's RESP2-to-Lua conversion), pushed
/// on the Lua stack; false (with nothing pushed) if it nests deeper than the stack allows.
unsafe fn push_reply(state: *mut mlua::ffi::lua_State, reply: &Reply) -> bool {
    use mlua::ffi;
    if ffi::lua_checkstack(state, 3) == 0 {
        return false;
    }
    let push_bytes = |b: &[u8]| ffi::lua_pushlstring(state, b.as_ptr().cast(), b.len());
    let push_field = |name: &std::ffi::CStr, text: &[u8]| {
        ffi::lua_createtable(state, 0, 1);
        ffi::lua_pushstring(state, name.as_ptr());
        push_bytes(text);
        ffi::lua_rawset(state, -3);
    };
    match reply {
        Reply::Integer(n) => ffi::lua_pushinteger(state, *n as ffi::lua_Integer),
        Reply::Bulk(b) | Reply::Verbatim(b) | Reply::DoubleText(b) => {
            push_bytes(b);
        }
        Reply::Null | Reply::NullArray | Reply::NoReply => ffi::lua_pushboolean(state, 0),
        Reply::Simple(s) => push_field(c"ok", s.as_bytes()),
        Reply::Error(e) => push_field(c"err", e.as_bytes()),
        Reply::Bool(true) => ffi::lua_pushinteger(state, 1),
        Reply::Bool(false) => ffi::lua_pushboolean(state, 0),
        Reply::Double(_) => {
            // As RESP2 sends it: a bulk string.
            let mut out = BytesMut::new();
            reply.encode(2, &mut out);
            let text = out[..].split(|&b| b == b'\n').nth(1).unwrap_or_default();
            push_bytes(text.strip_suffix(b"\r").unwrap_or(text));
        }
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Many(items) => {
            ffi::lua_createtable(state, items.len().try_into().unwrap_or(0), 0);
            for (i, item) in items.iter().enumerate() {
                if !push_reply(state, item) {
                    ffi::lua_pop(state, 1);
                    return false;
                }
                ffi::lua_rawseti(state, -2, i as ffi::lua_Integer + 1);
            }
        }
        Reply::Map(pairs) => {
            ffi::lua_createtable(state, (pairs.len() * 2).try_into().unwrap_or(0), 0);
            for (i, (k, v)) in pairs.iter().enumerate() {
                for (j, item) in [k, v].into_iter().enumerate() {
                    if !push_reply(state, item) {
                        ffi::lua_pop(state, 1);
                        return false;
                    }
                    ffi::lua_rawseti(state, -2, (2 * i + j) as ffi::lua_Integer + 1);
                }
            }
        }
    }
    true
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
    let multi_thread =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi_thread {
        // The core goes to the new thread once it starts; a closure that returned at
        // once would take it back first.
        super::holding_thread(|| std::thread::sleep(pause));
    }
}

/// `__roost_args`, which the runner calls first: sets the globals KEYS and ARGV to fresh
/// tables of the running script's keys and arguments, through the C API. Done from
/// inside the run, this costs no protected call of its own (`Lua::exec_raw` makes two
/// C closures and a `pcall` each time, and leaves them to the collector).
unsafe extern "C-unwind" fn lua_roost_args(state: *mut mlua::ffi::lua_State) -> c_int {
    use mlua::ffi;
    // A Lua error (out of memory) unwinds from here: nothing below owns anything.
    Binding::with_current(|b| {
        for (name, items) in [(c"KEYS", b.keys), (c"ARGV", b.argv)] {
            ffi::lua_pushstring(state, name.as_ptr());
            ffi::lua_createtable(state, items.len().try_into().unwrap_or(0), 0);
            for (i, item) in items.iter().enumerate() {
                ffi::lua_pushlstring(state, item.as_ptr().cast(), item.len());
                ffi::lua_rawseti(state, -2, i as ffi::lua_Integer + 1);
            }
            ffi::lua_rawset(state, ffi::LUA_GLOBALSINDEX);
        }
    });
    0
}

/// `redis.call` / `redis.pcall`: runs one command for the script; errors come back as
/// error replies (the Lua side raises them for `call`).
fn call_from_script(
    ctx: &mut Ctx<'_>,
    argv: Vec<Bytes>,
    read_only: bool,
    allow_oom: bool,
    wrote: &Cell<bool>,
) -> Outcome {
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
        if !wrote.replace(true) {
            ctx.shared.scripts.running.mark_wrote();
        }
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
/// SCRIPT DEBUG: NO is what every script runs under already; YES and SYNC would start
/// Redis's Lua debugger for the next EVAL, which Roost does not have, so they are
/// refused rather than accepted and ignored. From EXEC, Redis's refusal (it checks for
/// replies still pending) comes before the mode is read.
fn script_debug(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if ctx.client.in_exec {
        return Err(error::SCRIPT_DEBUG_PIPELINE);
    }
    let mode = &args[2];
    if args::is(mode, "no") {
        Ok(Reply::OK)
    } else if args::is(mode, "yes") || args::is(mode, "sync") {
        Err(error::SCRIPT_DEBUGGER_MISSING)
    } else {
        Err(error::SCRIPT_DEBUG_MODE)
    }
}

fn script_kill(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    match ctx.shared.scripts.running.kill(false) {
        Ok(()) => Ok(Reply::OK),
        Err(KillRefused::NotBusy) => Err(error::NO_SCRIPT_RUNNING),
        Err(KillRefused::Unkillable) => Err(error::SCRIPT_UNKILLABLE),
        Err(KillRefused::OtherKind) => Err(error::FUNCTION_BUSY),
    }
}
