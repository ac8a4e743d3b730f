//! Commands: the table every command is declared in once, and the dispatcher.
//!
//! Each family module (`string`, `keys`, ...) exports `COMMANDS`, a slice of `Spec`s that
//! sit beside their handlers. Everything else is derived from those declarations: arity
//! and unknown-command errors, which lock a command takes, whether it may run before
//! AUTH or inside MULTI, `COMMAND INFO`/`DOCS`, and `INFO commandstats`.
//!
//! Handlers are plain synchronous functions `fn(&mut Ctx, &[Bytes]) -> Outcome`; `args[0]`
//! is the command name as the client sent it, as in Redis's `argv`. An `Outcome` is the
//! reply, or an error reply that `?` carries up from argument parsing and type checks;
//! both go to the client the same way. The error texts are spelled once, in `error`.

pub mod acl;
pub mod apply;
pub mod args;
pub mod bitmap;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod debug;
pub mod diagnose;
pub mod dump;
pub mod error;
pub mod flow;
pub mod functions;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod keys;
pub mod list;
pub mod lolwut;
pub mod memory;
pub mod migrate;
pub mod module;
pub mod pubsub;
pub mod redis_meta;
pub mod repl;
pub mod scan;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sort;
pub mod stream;
pub mod stream_group;
pub mod string;
pub mod table;
pub mod tracking;
pub mod txn;
pub mod zset;
pub mod zset_algebra;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use crate::protocol::Reply;
use crate::session::Client;
use crate::state::scripts::Standing;
use crate::state::{Services, Shared};
pub use table::{table, CommandId, Table, Unresolved};

/// Runs `f`, which holds its thread (a sleep, blocking network calls): on a worker of a
/// multi-threaded runtime, the worker's other tasks first move to another thread.
pub(crate) fn holding_thread<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| {
                // Spawned from outside the core, the task wakes a parked worker.
                drop(handle.spawn(async {}));
                f()
            })
        }
        _ => f(),
    }
}

/// A handler's result: `Err` holds an error reply (see `error`), so helpers that
/// parse arguments or check types can be used with `?`.
pub type Outcome = Result<Reply, Reply>;

pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> Outcome;

/// A read command's second handler, for a request from a connection whose replies go
/// out as they are (no CLIENT REPLY OFF/SKIP): it may append its reply's wire form to
/// the connection's output itself, while it still holds the value in the keyspace, and
/// answer `Reply::NoReply`; or answer a reply as the plain handler would. GET uses it so
/// a value is copied once, into the output, instead of out of its entry and then into
/// the output. Scripts, EXEC and replayed records always run the plain handler.
pub type Direct = fn(&mut Ctx<'_>, &[Bytes], &mut bytes::BytesMut) -> Outcome;

/// Flags, as in Redis's command table. Their names follow COMMAND INFO's flag words.
pub mod flags {
    /// Modifies the keyspace; takes the exclusive gate, refused on replicas.
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory; refused when over maxmemory with noeviction.
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    /// Allowed while the dataset is loading.
    pub const LOADING: u32 = 1 << 6;
    /// Allowed on a replica whose link is down.
    pub const STALE: u32 = 1 << 7;
    /// Allowed before AUTH.
    pub const NO_AUTH: u32 = 1 << 8;
    /// O(1) or O(log N).
    pub const FAST: u32 = 1 << 9;
    /// Refused inside MULTI ("... inside MULTI is not allowed").
    pub const NO_MULTI: u32 = 1 << 10;
    /// Executed immediately inside MULTI instead of queued (EXEC, DISCARD, MULTI, ...).
    pub const TXN_CONTROL: u32 = 1 << 11;
    pub const BLOCKING: u32 = 1 << 12;
    /// Runs while another client's script is busy (past `busy-reply-threshold`), beside
    /// it and without the keyspace gate; other commands get BUSY then.
    pub const ALLOW_BUSY: u32 = 1 << 13;
    /// Touches no keys but must run alone, like a write (EXEC, SWAPDB, FLUSHALL).
    pub const EXCLUSIVE: u32 = 1 << 14;
    /// Runs without holding the keyspace gate, because it takes it itself in steps
    /// (SAVE runs a rewrite, which must let writers through between shards) or never
    /// touches the keyspace and must answer while a script holds it (SCRIPT KILL).
    pub const UNGATED: u32 = 1 << 15;
    /// Its keys are found by parsing its arguments (LMPOP's key count): COMMAND INFO
    /// says `movablekeys`.
    pub const MOVABLE_KEYS: u32 = 1 << 16;
    /// Allowed to a RESP2 client with subscriptions ((P)(UN)SUBSCRIBE, PING, QUIT,
    /// RESET).
    pub const WHILE_SUBSCRIBED: u32 = 1 << 17;
    /// CLIENT CACHING: it sets up client-side caching for the next command, so it does
    /// not use up that answer itself.
    pub const TRACKING_SETUP: u32 = 1 << 18;
    /// May be called with no keys at all (EVAL's `numkeys` 0): COMMAND GETKEYS answers
    /// an empty array rather than an error.
    pub const NO_MANDATORY_KEYS: u32 = 1 << 19;
    /// Shown to MONITOR clients before it runs, not after (scripts, whose commands
    /// follow it).
    pub const SKIP_MONITOR: u32 = 1 << 20;
    /// Never in the slow log itself (EXEC: its commands are, each on its own).
    pub const SKIP_SLOWLOG: u32 = 1 << 21;
    /// Does not write but may cause writes or reach replicas (scripts, PUBLISH, WAIT):
    /// held by CLIENT PAUSE WRITE like a write. Not shown by COMMAND INFO, as in Redis.
    pub const MAY_REPLICATE: u32 = 1 << 22;
    /// Its reply hands out data it takes out of the keyspace (pops, GETDEL, GETSET):
    /// when the log fails after it ran, the reply still goes out rather than MISCONF,
    /// or the data would reach no one. Not shown by COMMAND INFO.
    pub const HANDS_OUT: u32 = 1 << 23;
    /// Refused while a replica loads a full sync in the background (Redis's
    /// `repl-diskless-load swapdb`); Roost has no async loading, so only COMMAND INFO
    /// shows it.
    pub const NO_ASYNC_LOADING: u32 = 1 << 24;
    /// Redis's `asking` flag (RESTORE-ASKING): in a cluster it may run on a slot being
    /// imported; shown by COMMAND INFO, nothing else in standalone mode.
    pub const ASKING: u32 = 1 << 25;
}

/// Where a command's keys are in its arguments: Redis's (first, last, step), with
/// `last = -1` meaning the last argument.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub first: i32,
    pub last: i32,
    pub step: i32,
}

pub const NO_KEYS: KeySpec = KeySpec {
    first: 0,
    last: 0,
    step: 0,
};
/// The key is the first argument.
pub const ONE_KEY: KeySpec = KeySpec {
    first: 1,
    last: 1,
    step: 1,
};
/// The first two arguments are keys (RENAME, SMOVE).
pub const TWO_KEYS: KeySpec = KeySpec {
    first: 1,
    last: 2,
    step: 1,
};
/// The key is the second argument (XGROUP and XINFO subcommands).
pub const TWO_KEYS_AT_2: KeySpec = KeySpec {
    first: 2,
    last: 2,
    step: 1,
};
/// Every argument is a key (DEL, MGET).
pub const ALL_KEYS: KeySpec = KeySpec {
    first: 1,
    last: -1,
    step: 1,
};
/// Key, value, key, value... (MSET).
pub const KEY_VALUE_PAIRS: KeySpec = KeySpec {
    first: 1,
    last: -1,
    step: 2,
};

/// Positions of the keys counted by the number at `numkeys_at` in a whole request
/// (COMMAND GETKEYS, ACL); None unless the count is at least 1 and leaves room for the
/// keys.
pub fn counted_keys(args: &[Bytes], numkeys_at: usize) -> Option<Vec<usize>> {
    let numkeys = crate::protocol::decode::parse_i64(args.get(numkeys_at)?)?;
    if numkeys < 1 || numkeys as u64 >= (args.len() - numkeys_at) as u64 {
        return None;
    }
    Some((numkeys_at + 1..=numkeys_at + numkeys as usize).collect())
}

/// LMPOP, ZUNION, SINTERCARD, ...: the count is the first argument.
pub fn counted_keys_at_1(args: &[Bytes]) -> Option<Vec<usize>> {
    counted_keys(args, 1)
}

/// BLMPOP, BZMPOP: the count follows the timeout.
pub fn counted_keys_at_2(args: &[Bytes]) -> Option<Vec<usize>> {
    counted_keys(args, 2)
}

/// ZUNIONSTORE and friends: the destination, then the keys counted after it.
pub fn destination_and_counted_keys(args: &[Bytes]) -> Option<Vec<usize>> {
    let mut keys = vec![1];
    keys.extend(counted_keys(args, 2)?);
    Some(keys)
}

/// Declares a command: `command!(group, name, arity, flags, keys, handler, since,
/// summary)`, followed by `Spec::with_*` calls for what only some commands have.
macro_rules! command {
    ($group:expr, $name:expr, $arity:expr, $flags:expr, $keys:expr, $handler:expr, $since:expr, $summary:expr) => {
        $crate::cmd::Spec::new(
            $group, $name, $arity, $flags, $keys, $handler, $since, $summary,
        )
    };
}
pub(crate) use command;

/// Finds the keys of a command whose key positions depend on its arguments.
pub type FindKeys = crate::acl::FindKeys;

/// Runs instead of the plain refusal when a command is refused before its handler.
pub type OnRefusal = fn(&mut Ctx<'_>, Reply) -> Reply;

/// One command's declaration: everything about the command that is not in its handler.
pub struct Spec {
    /// Lower case, as COMMAND reports it.
    pub name: &'static str,
    /// N: exactly N arguments (name included); -N: at least N.
    pub arity: i32,
    pub flags: u32,
    pub keys: KeySpec,
    pub handler: Handler,
    /// Writes its reply straight into the connection's output where it can (`Direct`).
    pub direct: Option<Direct>,
    /// Redis's command group for COMMAND DOCS ("string", "generic", "hash", ...).
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    /// Container commands (CLIENT, CONFIG, ...) dispatch on their first argument.
    pub subcommands: &'static [Spec],
    /// Redis's command tips (COMMAND INFO, COMMAND DOCS).
    pub tips: &'static [&'static str],
    /// Redis's key specifications (COMMAND INFO); empty for commands without keys.
    pub key_specs: &'static [redis_meta::KeySpecInfo],
    /// For `MOVABLE_KEYS` commands: where the keys are in a request (COMMAND GETKEYS).
    pub find_keys: Option<FindKeys>,
    /// What a refusal before the handler (NOAUTH, LOADING, arity, ...) also does: a
    /// refused EXEC ends the transaction.
    pub on_refusal: Option<OnRefusal>,
    /// A container's HELP lines in Redis's own words, when they are not the summaries
    /// of its subcommands.
    pub help: &'static [&'static str],
    /// ACL categories Redis declares for the command beyond those its flags imply
    /// (`crate::acl::category`); without them, its group's (see `acl_categories`).
    pub acl_categories: Option<u32>,
    /// Which arguments are pub/sub channels, for ACL channel rules.
    pub channels: crate::acl::Channels,
    /// Which arguments are passwords, shown as `(redacted)` by MONITOR and SLOWLOG.
    pub secrets: Option<Secrets>,
}

/// The positions of the arguments of a request that are secrets (AUTH's).
pub type Secrets = fn(&[Bytes]) -> Vec<usize>;

impl Spec {
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        group: &'static str,
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: KeySpec,
        handler: Handler,
        since: &'static str,
        summary: &'static str,
    ) -> Spec {
        Spec {
            name,
            arity,
            flags,
            keys,
            handler,
            direct: None,
            group,
            summary,
            since,
            subcommands: &[],
            tips: &[],
            key_specs: &[],
            find_keys: None,
            on_refusal: None,
            help: &[],
            acl_categories: None,
            channels: crate::acl::Channels::None,
            secrets: None,
        }
    }

    /// Gives a read command a handler that writes its reply into the output (`Direct`).
    pub const fn with_direct(self, direct: Direct) -> Spec {
        Spec {
            direct: Some(direct),
            ..self
        }
    }

    /// Says which arguments are passwords (MONITOR and SLOWLOG redact them).
    pub const fn with_secrets(self, secrets: Secrets) -> Spec {
        Spec {
            secrets: Some(secrets),
            ..self
        }
    }

    /// The ACL categories Redis declares for this command beyond its flags' (replacing
    /// its group's).
    pub const fn with_acl_categories(self, categories: u32) -> Spec {
        Spec {
            acl_categories: Some(categories),
            ..self
        }
    }

    pub const fn with_channels(self, channels: crate::acl::Channels) -> Spec {
        Spec { channels, ..self }
    }

    pub const fn with_subcommands(self, subcommands: &'static [Spec]) -> Spec {
        Spec {
            subcommands,
            ..self
        }
    }

    pub const fn with_tips(self, tips: &'static [&'static str]) -> Spec {
        Spec { tips, ..self }
    }

    pub const fn with_key_specs(self, key_specs: &'static [redis_meta::KeySpecInfo]) -> Spec {
        Spec { key_specs, ..self }
    }

    /// Marks the command `MOVABLE_KEYS` and says how to find its keys.
    pub const fn with_find_keys(self, find_keys: FindKeys) -> Spec {
        Spec {
            find_keys: Some(find_keys),
            flags: self.flags | flags::MOVABLE_KEYS,
            ..self
        }
    }

    pub const fn with_on_refusal(self, on_refusal: OnRefusal) -> Spec {
        Spec {
            on_refusal: Some(on_refusal),
            ..self
        }
    }

    pub const fn with_help(self, help: &'static [&'static str]) -> Spec {
        Spec { help, ..self }
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Positions of the key arguments in `args`.
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        let k = self.keys;
        if k.first <= 0 || k.first as usize >= argc {
            return Vec::new();
        }
        let last = if k.last < 0 {
            argc as i32 + k.last
        } else {
            k.last.min(argc as i32 - 1)
        };
        (k.first..=last)
            .step_by(k.step.max(1) as usize)
            .map(|i| i as usize)
            .collect()
    }
}

/// A server's state with one statistics slot per command in the table, the names its
/// clients call commands by and its ACL users. `config` has passed `check_config`.
pub fn new_state(config: crate::config::Config, services: Services) -> std::sync::Arc<Shared> {
    let names = table()
        .command_names(&config.renames)
        .unwrap_or_else(|e| panic!("the configuration was not checked: {e}"));
    let acl = acl::users_at_startup(&config)
        .unwrap_or_else(|e| panic!("the configuration was not checked: {e}"));
    Shared::new(config, table().len(), names, acl, services)
}

/// What the configuration layer cannot check without the command table: that each
/// `rename-command` names a command, and that the `user` lines (or the ACL file) are
/// valid rules. A server starts only with a configuration that passes.
pub fn check_config(config: &crate::config::Config) -> Result<(), crate::config::ConfigError> {
    table().command_names(&config.renames)?;
    acl::users_at_startup(config).map(|_| ())
}

/// A command's ACL categories (`crate::acl::category`), as Redis derives them: those
/// declared for it (else its group's; a container has none of its own), plus those its
/// flags imply.
pub fn acl_categories(spec: &Spec) -> u32 {
    use crate::acl::category::*;
    let mut cats = spec.acl_categories.unwrap_or(match spec.group {
        _ if !spec.subcommands.is_empty() => 0,
        "string" => STRING,
        "hash" => HASH,
        "set" => SET,
        "sorted-set" => SORTEDSET,
        "list" => LIST,
        "generic" => KEYSPACE,
        "connection" => CONNECTION,
        "transactions" => TRANSACTION,
        "scripting" => SCRIPTING,
        "bitmap" => BITMAP,
        "hyperloglog" => HYPERLOGLOG,
        "stream" => STREAM,
        "geo" => GEO,
        _ => 0,
    });
    if spec.has(flags::WRITE) {
        cats |= WRITE;
    }
    // Scripting commands are not @read, as in Redis.
    if spec.has(flags::READONLY) && cats & SCRIPTING == 0 {
        cats |= READ;
    }
    if spec.has(flags::ADMIN) {
        cats |= ADMIN | DANGEROUS;
    }
    if spec.has(flags::PUBSUB) {
        cats |= PUBSUB;
    }
    if spec.has(flags::FAST) {
        cats |= FAST;
    }
    if spec.has(flags::BLOCKING) {
        cats |= BLOCKING;
    }
    if cats & FAST == 0 {
        cats |= SLOW;
    }
    cats
}

/// What a handler sees: the server's shared state and the calling client.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub client: &'a mut Client,
}

impl Ctx<'_> {
    /// The database the client has selected.
    pub fn db(&self) -> &crate::store::Db {
        self.shared.keyspace.db(self.client.db)
    }

    /// Tells keyspace-notification subscribers that `event` (of `class`, a
    /// `crate::notify` constant) happened to `key` in the selected database.
    pub fn notify(&self, class: u16, event: &str, key: &[u8]) {
        self.shared.notify.emit(class, event, self.client.db, key);
    }

    /// Logs the canonical form of a write this command made to the selected database.
    pub fn propagate(&mut self, args: &[&[u8]]) {
        self.shared
            .persistence
            .rdb
            .changes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.client.from_primary && !self.client.journals_applied {
            return;
        }
        // The connection wakes the log writer once for its batch (`Journal::flush`).
        if let Some(lsn) = self.shared.journal.append_deferred(self.client.db, args) {
            self.client.pending_lsn = Some(lsn);
            self.client.last_write_lsn = lsn;
        }
    }
}

/// Runs one request from a client: lookup, arity, the gates the flags drive, MULTI
/// queueing, then the handler; the reply is dropped if CLIENT REPLY says so. Never
/// panics on client input.
pub fn dispatch(ctx: &mut Ctx<'_>, args: Vec<Bytes>) -> Reply {
    dispatch_into(ctx, args, None)
}

/// `dispatch` for a connection: a command with a `Direct` handler may append its reply
/// to `out` itself (and answer `Reply::NoReply`), unless the client's replies are
/// filtered (CLIENT REPLY OFF/SKIP).
pub fn dispatch_into(
    ctx: &mut Ctx<'_>,
    args: Vec<Bytes>,
    out: Option<&mut bytes::BytesMut>,
) -> Reply {
    let unfiltered = ctx.client.reply == Default::default();
    let reply = run_request(ctx, args, out.filter(|_| unfiltered));
    // CLIENT REPLY itself changes the mode: it is looked at again.
    if ctx.client.deferred.is_some() || ctx.client.reply == Default::default() {
        return reply;
    }
    flow::filter_reply(ctx.client, reply)
}

fn run_request(ctx: &mut Ctx<'_>, args: Vec<Bytes>, out: Option<&mut bytes::BytesMut>) -> Reply {
    let table = table();
    let names = &ctx.shared.command_names;
    let id = match table.resolve_named(names, &args) {
        Ok(id) => id,
        Err(Unresolved { id, reply }) => {
            if let Some(id) = id {
                ctx.shared.command_stats[id as usize]
                    .rejected_calls
                    .fetch_add(1, Ordering::Relaxed);
            }
            // EXEC's own arity error ends the transaction as any refused EXEC does.
            let on_refusal = table
                .lookup_named(names, &args[0])
                .and_then(|id| table.spec(id).on_refusal);
            let reply = match on_refusal {
                Some(on_refusal) => on_refusal(ctx, reply),
                None => reply,
            };
            return reject(ctx, None, reply);
        }
    };
    let spec = table.spec(id);

    if !ctx.client.authenticated && !spec.has(flags::NO_AUTH) && ctx.shared.requires_auth() {
        return reject(ctx, Some(id), error::AUTH_REQUIRED);
    }

    let context = if ctx.client.in_multi() {
        "multi"
    } else {
        "toplevel"
    };
    if let Err((_, reply)) = check_acl(ctx, id, &args, context) {
        return reject(ctx, Some(id), reply);
    }

    if ctx.shared.is_loading() && !spec.has(flags::LOADING) {
        return reject(ctx, Some(id), error::LOADING);
    }

    if ctx.client.proto == 2
        && ctx.client.subscription_count() > 0
        && !spec.has(flags::WHILE_SUBSCRIBED)
    {
        let reply = error::not_allowed_while_subscribed(table.full_name(id));
        return reject(ctx, Some(id), reply);
    }

    if !spec.has(flags::STALE)
        && ctx.shared.repl.is_replica()
        && ctx.shared.repl.link.state() != crate::state::replication::LinkState::Connected
        && !ctx.shared.config().replica_serve_stale_data
    {
        let reply = error::PRIMARY_LINK_DOWN;
        return reject(ctx, Some(id), reply);
    }

    if spec.has(flags::WRITE)
        && ctx.shared.repl.is_replica()
        && ctx.shared.config().replica_read_only
    {
        let reply = error::READONLY_REPLICA;
        return reject(ctx, Some(id), reply);
    }

    if spec.has(flags::WRITE) {
        if let Some(cause) = ctx.shared.persistence.write_error() {
            let reply = error::log_write_failed(cause);
            return reject(ctx, Some(id), reply);
        }
        if !ctx.shared.enough_good_replicas() {
            return reject(ctx, Some(id), error::NO_GOOD_REPLICAS);
        }
    }

    // Another client's script that has run past busy-reply-threshold: as in Redis, only
    // ALLOW_BUSY commands run (they run beside it, without the keyspace gate).
    if !spec.has(flags::ALLOW_BUSY)
        && ctx.shared.scripts.running.standing(ctx.client.id) == Standing::Busy
    {
        let busy = if ctx.shared.scripts.running.is_function() {
            error::FUNCTION_BUSY
        } else {
            error::SCRIPT_BUSY
        };
        return reject(ctx, Some(id), busy);
    }

    // CLIENT PAUSE holds the request (a replica's stream never).
    if ctx.shared.pause.maybe_paused() && !ctx.client.from_primary && flow::paused(ctx, spec) {
        ctx.client.blocked = Some(crate::session::Blocked::Paused { args });
        return Reply::NoReply;
    }

    // Queueing can grow memory without limit, so over `maxmemory` nothing is queued
    // (Redis refuses every command but EXEC, DISCARD, QUIT and RESET in MULTI).
    if ctx.shared.memory.limited()
        && ctx.client.in_multi()
        && !spec.has(flags::TXN_CONTROL)
        && !ctx.client.from_primary
    {
        let keyspace = &ctx.shared.keyspace;
        let Some(gate) = gate(ctx, &args, || keyspace.try_write_gate()) else {
            return Reply::NoReply;
        };
        let room = ctx.shared.make_room();
        drop(gate);
        if room == crate::state::Room::Full {
            return reject(ctx, Some(id), error::OOM);
        }
    }

    if ctx.client.in_multi() && !spec.has(flags::TXN_CONTROL) {
        if spec.has(flags::NO_MULTI) {
            let reply = error::NOT_ALLOWED_IN_MULTI;
            return reject(ctx, Some(id), reply);
        }
        ctx.client.queue(id, args);
        return Reply::simple("QUEUED");
    }

    ctx.client.hands_out = spec.has(flags::HANDS_OUT);
    execute_into(ctx, id, &args, out)
}

/// Whether the client's user may run this request (command, keys, channels), with
/// Redis's NOPERM reply if not; a refusal is counted and logged (ACL LOG) in `context`
/// (`toplevel`, `multi`, `lua`). A user with every permission pays one atomic load.
#[inline(always)]
pub fn check_acl(
    ctx: &mut Ctx<'_>,
    id: CommandId,
    args: &[Bytes],
    context: &'static str,
) -> Result<(), (crate::acl::Denied, Reply)> {
    let rules = ctx.client.login.rules();
    if rules.unrestricted() {
        return Ok(());
    }
    match ctx.shared.acl.check(rules, id, args) {
        Ok(()) => Ok(()),
        Err(denied) => Err((denied, refuse(ctx, denied, id, args, context))),
    }
}

/// Counts and logs a refusal; Redis's NOPERM reply for it.
#[cold]
#[inline(never)]
fn refuse(
    ctx: &mut Ctx<'_>,
    denied: crate::acl::Denied,
    id: CommandId,
    args: &[Bytes],
    context: &'static str,
) -> Reply {
    let (reason, object) = match denied {
        crate::acl::Denied::Command => ("command", table().full_name(id).to_string()),
        crate::acl::Denied::Key(pos) => ("key", String::from_utf8_lossy(&args[pos]).into()),
        crate::acl::Denied::Channel(pos) => ("channel", String::from_utf8_lossy(&args[pos]).into()),
    };
    log_refusal(ctx, reason, context, &object);
    let stats = &ctx.shared.acl.denied;
    match denied {
        crate::acl::Denied::Command => {
            stats.command.fetch_add(1, Ordering::Relaxed);
            error::noperm_command(&ctx.client.login.user().name, table().full_name(id))
        }
        crate::acl::Denied::Key(_) => {
            stats.key.fetch_add(1, Ordering::Relaxed);
            error::NOPERM_KEY
        }
        crate::acl::Denied::Channel(_) => {
            stats.channel.fetch_add(1, Ordering::Relaxed);
            error::NOPERM_CHANNEL
        }
    }
}

/// Adds a refusal to ACL LOG, with the client as CLIENT LIST shows it.
pub fn log_refusal(ctx: &Ctx<'_>, reason: &'static str, context: &'static str, object: &str) {
    let max_len = ctx.shared.config().acllog_max_len as usize;
    ctx.shared.acl.log_refusal(
        reason,
        context,
        object,
        &ctx.client.login.user().name,
        conn::describe(&ctx.client.info),
        crate::clock::now_ms(),
        max_len,
    );
}

/// A command refused before running: counted, and it dooms an open transaction.
/// A refused EXEC (NOAUTH, LOADING, ...) discards the transaction with EXECABORT.
fn reject(ctx: &mut Ctx<'_>, id: Option<CommandId>, reply: Reply) -> Reply {
    ctx.client.flag_multi_error();
    let on_refusal = id.and_then(|id| table().spec(id).on_refusal);
    let reply = match on_refusal {
        Some(on_refusal) => on_refusal(ctx, reply),
        None => reply,
    };
    if let Some(id) = id {
        ctx.shared.command_stats[id as usize]
            .rejected_calls
            .fetch_add(1, Ordering::Relaxed);
    }
    if let Reply::Error(message) = &reply {
        ctx.shared.stats.record_error(message);
    }
    reply
}

/// Runs a resolved command under the gate its flags ask for.
///
/// A command that finds the gate held by another client's script does not wait for it
/// on this thread: it leaves its request in `client.deferred` and answers nothing; the
/// connection waits for the script asynchronously and dispatches the request again.
pub fn execute(ctx: &mut Ctx<'_>, id: CommandId, args: &[Bytes]) -> Reply {
    execute_into(ctx, id, args, None)
}

/// `execute`, with the connection's output for a `Direct` handler.
fn execute_into(
    ctx: &mut Ctx<'_>,
    id: CommandId,
    args: &[Bytes],
    out: Option<&mut bytes::BytesMut>,
) -> Reply {
    let spec = table().spec(id);
    let keyspace = &ctx.shared.keyspace;
    let running = &ctx.shared.scripts.running;
    // Readers hold the gate shared so that a key they expire lazily is not recreated by
    // a writer in between (the log must see the deletion before the new value).
    if spec.has(flags::UNGATED)
        || (spec.has(flags::ALLOW_BUSY) && running.standing(ctx.client.id) == Standing::Busy)
    {
        call_into(ctx, id, args, out)
    } else if spec.has(flags::WRITE) || spec.has(flags::EXCLUSIVE) {
        let Some(_gate) = gate(ctx, args, || keyspace.try_write_gate()) else {
            return Reply::NoReply;
        };
        // Checked under the gate: shutdown takes it before the log's final fsync.
        if ctx.shared.is_shutting_down() {
            return error::SHUTTING_DOWN;
        }
        // EXEC of writes queued while there were replicas enough, which have gone since.
        if spec.has(flags::TXN_CONTROL)
            && !ctx.shared.enough_good_replicas()
            && queued_any(ctx, flags::WRITE)
        {
            return reject(ctx, Some(id), error::NO_GOOD_REPLICAS);
        }
        // Over `maxmemory`, keys are evicted first, as a write would delete them; when
        // nothing may be evicted, commands that grow memory are refused.
        if ctx.shared.memory.limited()
            && !ctx.client.from_primary
            && ctx.shared.make_room() == crate::state::Room::Full
            && grows_memory(ctx, spec)
        {
            return reject(ctx, Some(id), error::OOM);
        }
        let reply = call_into(ctx, id, args, out);
        // Writes are what grow the dataset: the peak is checked after each.
        ctx.shared.memory.sample();
        reply
    } else {
        let Some(_gate) = gate(ctx, args, || keyspace.try_read_gate()) else {
            return Reply::NoReply;
        };
        // Over `maxmemory`, reads hand eviction to the background and go on.
        if ctx.shared.memory.limited() && !ctx.client.from_primary {
            ctx.shared.make_room_in_background();
        }
        call_into(ctx, id, args, out)
    }
}

/// Takes the gate with `try_take`, retrying while it is busy, unless it is held by
/// another client's script: then the request is deferred (`None`).
fn gate<G>(ctx: &mut Ctx<'_>, args: &[Bytes], try_take: impl Fn() -> Option<G>) -> Option<G> {
    let running = &ctx.shared.scripts.running;
    loop {
        if let Some(guard) = try_take() {
            return Some(guard);
        }
        // Other holders (writers, EXEC, a rewrite's instant) are short.
        if running.is_running() && running.standing(ctx.client.id) != Standing::Free {
            ctx.client.deferred = Some(args.to_vec());
            return None;
        }
        std::thread::yield_now();
    }
}

/// A DENYOOM command, or EXEC of a transaction holding one.
fn grows_memory(ctx: &Ctx<'_>, spec: &Spec) -> bool {
    spec.has(flags::DENYOOM) || (spec.has(flags::TXN_CONTROL) && queued_any(ctx, flags::DENYOOM))
}

/// Whether the open transaction queued a command with `flag`.
fn queued_any(ctx: &Ctx<'_>, flag: u32) -> bool {
    ctx.client
        .multi
        .as_ref()
        .is_some_and(|m| m.queued.iter().any(|(id, _)| table().spec(*id).has(flag)))
}

/// Runs the handler and records its statistics; the caller holds whatever gate is due.
/// EXEC calls this for each queued command under its own exclusive gate, and scripts
/// for each `redis.call`.
pub fn call(ctx: &mut Ctx<'_>, id: CommandId, args: &[Bytes]) -> Reply {
    call_into(ctx, id, args, None)
}

/// `call`, running the command's `Direct` handler into `out` if it has one.
fn call_into(
    ctx: &mut Ctx<'_>,
    id: CommandId,
    args: &[Bytes],
    out: Option<&mut bytes::BytesMut>,
) -> Reply {
    let spec = table().spec(id);
    let run = |ctx: &mut Ctx<'_>| match (spec.direct, out) {
        (Some(direct), Some(out)) => direct(ctx, args, out),
        _ => (spec.handler)(ctx, args),
    };
    if spec.has(flags::SKIP_MONITOR) && ctx.shared.diagnostics.monitors.any() {
        diagnose::feed_monitors(ctx, spec, args);
    }
    let started = crate::clock::monotonic_ns();
    ctx.client
        .info
        .last_command
        .store(id as u32 + 1, Ordering::Relaxed);
    let client_id = ctx.client.id;
    let shared = ctx.shared;
    let reply = crate::clock::frozen(|| {
        shared.tracking.as_client(&shared.pubsub, client_id, || {
            if ctx.client.info.no_touch.load(Ordering::Relaxed) {
                crate::store::with_touch(false, || run(ctx))
            } else {
                run(ctx)
            }
            .unwrap_or_else(|error| error)
        })
    });
    let elapsed = Duration::from_nanos(crate::clock::monotonic_ns().saturating_sub(started));
    if ctx.client.tracking.is_some() {
        tracking::after_command(ctx, spec, args, &reply);
    }
    let stats = &ctx.shared.command_stats[id as usize];
    stats.calls.fetch_add(1, Ordering::Relaxed);
    stats
        .usec
        .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    if let Reply::Error(message) = &reply {
        stats.failed_calls.fetch_add(1, Ordering::Relaxed);
        ctx.shared.stats.record_error(message);
    }
    diagnose::after_call(ctx, id, spec, args, elapsed);
    reply
}
