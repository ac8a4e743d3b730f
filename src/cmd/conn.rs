//! Connection commands: PING ECHO QUIT RESET HELLO AUTH SELECT and the CLIENT family.
//!
//! Client libraries run these on every connect (CLIENTS.md), so their replies and error
//! texts are exactly Redis's: redis-py insists on `+OK` from CLIENT SETNAME and SELECT,
//! Lettuce casts HELLO's `id` to a long, ioredis falls back to RESP2 only on `NOPROTO`.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{args, error, flags::*, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;
use crate::session::ClientInfo;
use crate::sync::Recover;
use crate::{clock, VERSION_COMPAT};

pub const COMMANDS: &[Spec] = &[
    super::command!(
        "connection",
        "ping",
        -1,
        FAST | STALE | LOADING | WHILE_SUBSCRIBED,
        NO_KEYS,
        ping,
        "1.0.0",
        "Returns the server's liveliness response."
    )
    .with_tips(super::redis_meta::ALL_SHARDS_SUCCEED),
    super::command!(
        "connection",
        "echo",
        2,
        FAST | STALE | LOADING,
        NO_KEYS,
        echo,
        "1.0.0",
        "Returns the given string."
    ),
    super::command!(
        "connection",
        "quit",
        -1,
        ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | TXN_CONTROL | WHILE_SUBSCRIBED,
        NO_KEYS,
        quit,
        "1.0.0",
        "Closes the connection."
    ),
    super::command!(
        "connection",
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | TXN_CONTROL | WHILE_SUBSCRIBED,
        NO_KEYS,
        reset,
        "6.2.0",
        "Resets the connection."
    ),
    super::command!(
        "connection",
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        NO_KEYS,
        hello,
        "6.0.0",
        "Handshakes with the Redis server."
    )
    .with_secrets(hello_secrets),
    super::command!(
        "connection",
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        NO_KEYS,
        auth,
        "1.0.0",
        "Authenticates the connection."
    )
    .with_secrets(|args| (1..args.len()).collect()),
    super::command!(
        "connection",
        "select",
        2,
        LOADING | STALE | FAST,
        NO_KEYS,
        select,
        "1.0.0",
        "Changes the selected database."
    ),
    super::command!(
        "connection",
        "client",
        -2,
        0,
        NO_KEYS,
        container,
        "2.4.0",
        "A container for client connection commands."
    )
    .with_subcommands(CLIENT_SUBCOMMANDS),
];

const CLIENT_FLAGS: u32 = NOSCRIPT | LOADING | STALE;

const CLIENT_SUBCOMMANDS: &[Spec] = &[
    super::command!(
        "connection",
        "id",
        2,
        CLIENT_FLAGS,
        NO_KEYS,
        client_id,
        "5.0.0",
        "Returns the unique client ID of the connection."
    ),
    super::command!(
        "connection",
        "setname",
        3,
        CLIENT_FLAGS,
        NO_KEYS,
        client_setname,
        "2.6.9",
        "Sets the connection name."
    ),
    super::command!(
        "connection",
        "getname",
        2,
        CLIENT_FLAGS,
        NO_KEYS,
        client_getname,
        "2.6.9",
        "Returns the name of the connection."
    ),
    super::command!(
        "connection",
        "setinfo",
        4,
        CLIENT_FLAGS,
        NO_KEYS,
        client_setinfo,
        "7.2.0",
        "Sets information specific to the client or connection."
    ),
    super::command!(
        "connection",
        "list",
        -2,
        ADMIN | CLIENT_FLAGS,
        NO_KEYS,
        client_list,
        "2.4.0",
        "Lists open connections."
    )
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    super::command!(
        "connection",
        "info",
        2,
        CLIENT_FLAGS,
        NO_KEYS,
        client_info,
        "6.2.0",
        "Returns information about the connection."
    )
    .with_tips(super::redis_meta::NONDETERMINISTIC_OUTPUT),
    super::command!(
        "connection",
        "kill",
        -3,
        ADMIN | CLIENT_FLAGS,
        NO_KEYS,
        client_kill,
        "2.4.0",
        "Terminates open connections."
    ),
    super::command!(
        "connection",
        "no-evict",
        3,
        ADMIN | CLIENT_FLAGS,
        NO_KEYS,
        client_no_evict,
        "7.0.0",
        "Sets the client eviction mode of the connection."
    ),
    super::command!(
        "connection",
        "no-touch",
        3,
        CLIENT_FLAGS,
        NO_KEYS,
        client_no_touch,
        "7.2.0",
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys."
    ),
    super::flow::REPLY,
    super::flow::PAUSE,
    super::flow::UNPAUSE,
    super::flow::UNBLOCK,
    super::tracking::TRACKING,
    super::tracking::CACHING,
    super::tracking::GETREDIR,
    super::tracking::TRACKINGINFO,
    help_subcommand("connection", "5.0.0"),
];

/// Container commands are resolved to a subcommand by the table; this only runs if a
/// container is called directly, which the table's arity check prevents.
pub fn container(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    // Named by its own name even when renamed, as Redis does.
    let table = super::table();
    let name = match table.lookup_named(&ctx.shared.command_names, &args[0]) {
        Some(id) => table.full_name(id).to_string(),
        None => String::from_utf8_lossy(&args[0]).to_ascii_lowercase(),
    };
    Err(error::wrong_arity(&name))
}

/// HELLO's AUTH username and password, found as Redis parses the options.
fn hello_secrets(args: &[Bytes]) -> Vec<usize> {
    let mut secrets = Vec::new();
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i - 1;
        if args::is(&args[i], "auth") && more >= 2 {
            secrets.extend([i + 1, i + 2]);
            i += 3;
        } else if args::is(&args[i], "setname") && more >= 1 {
            i += 2;
        } else {
            break;
        }
    }
    secrets
}

fn ping(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if ctx.client.proto == 2 && ctx.client.subscription_count() > 0 && args.len() <= 2 {
        // A subscribed RESP2 connection can only carry arrays.
        let payload = args.get(1).cloned().unwrap_or_default();
        return Ok(Reply::Array(vec![
            Reply::bulk_str("pong"),
            Reply::Bulk(payload),
        ]));
    }
    match args.len() {
        1 => Ok(Reply::simple("PONG")),
        2 => Ok(Reply::Bulk(args[1].clone())),
        _ => Err(error::wrong_arity("ping")),
    }
}

fn echo(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(Reply::Bulk(args[1].clone()))
}

fn quit(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    ctx.client.close_after_reply = true;
    Ok(Reply::OK)
}

fn reset(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    super::txn::discard_state(ctx.shared, ctx.client);
    super::pubsub::unsubscribe_all(ctx.shared, ctx.client);
    ctx.shared.tracking.disable(ctx.client.id);
    ctx.client.tracking = None;
    ctx.client.select(0);
    ctx.client.set_proto(2);
    let default = ctx.shared.acl.default_user().clone();
    ctx.client.log_in(default);
    ctx.client.authenticated = !ctx.shared.requires_auth();
    let info = &ctx.client.info;
    *info.name.locked() = None;
    info.no_evict.store(false, Ordering::Relaxed);
    info.no_touch.store(false, Ordering::Relaxed);
    Ok(Reply::simple("RESET"))
}

/// Logs the client in as `user` if `password` opens it; WRONGPASS otherwise (counted
/// in INFO stats `acl_access_denied_auth`).
fn log_in(ctx: &mut Ctx<'_>, command: &[u8], user: &[u8], password: &[u8]) -> Result<(), Reply> {
    match ctx.shared.acl.authenticate(user, password) {
        Some(user) => {
            ctx.client.log_in(user);
            Ok(())
        }
        None => {
            ctx.shared.acl.denied.auth.fetch_add(1, Ordering::Relaxed);
            // Logged under the name tried, as Redis does.
            let max_len = ctx.shared.config().acllog_max_len as usize;
            let context = if ctx.client.in_multi() {
                "multi"
            } else {
                "toplevel"
            };
            ctx.shared.acl.log_refusal(
                "auth",
                context,
                &String::from_utf8_lossy(command),
                &String::from_utf8_lossy(user),
                describe(&ctx.client.info),
                clock::now_ms(),
                max_len,
            );
            Err(error::WRONGPASS)
        }
    }
}

fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let (user, password): (&[u8], &[u8]) = match args.len() {
        2 => (b"default", &args[1]),
        3 => (&args[1], &args[2]),
        _ => return Err(error::SYNTAX),
    };
    if args.len() == 2 && ctx.shared.acl.default_is_open() {
        return Err(error::AUTH_WITHOUT_PASSWORD);
    }
    log_in(ctx, &args[0], user, password)?;
    Ok(Reply::OK)
}

fn hello(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut proto = None;
    if args.len() >= 2 {
        match crate::protocol::decode::parse_i64(&args[1]) {
            Some(v) if (2..=3).contains(&v) => proto = Some(v as u8),
            Some(_) => return Err(error::UNSUPPORTED_PROTOCOL),
            None => return Err(error::PROTOCOL_NOT_INTEGER),
        }
    }
    let mut credentials = None;
    let mut name = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i - 1;
        if args::is(&args[i], "auth") && more >= 2 {
            credentials = Some((&args[i + 1], &args[i + 2]));
            i += 3;
        } else if args::is(&args[i], "setname") && more >= 1 {
            name = Some(&args[i + 1]);
            i += 2;
        } else {
            return Err(error::hello_syntax(&args[i]));
        }
    }
    if let Some((user, password)) = credentials {
        log_in(ctx, &args[0], user, password)?;
    }
    if !ctx.client.authenticated {
        return Err(error::HELLO_UNAUTHENTICATED);
    }
    if let Some(name) = name {
        set_name(&ctx.client.info, name)?;
    }
    if let Some(p) = proto {
        ctx.client.set_proto(p);
    }
    let role = if ctx.shared.config().replicaof.is_some() {
        "replica"
    } else {
        "master"
    };
    let field = |k: &str, v: Reply| (Reply::bulk_str(k), v);
    Ok(Reply::Map(vec![
        field("server", Reply::bulk_str("redis")),
        field("version", Reply::bulk_str(VERSION_COMPAT)),
        field("proto", Reply::Integer(ctx.client.proto as i64)),
        field("id", Reply::Integer(ctx.client.id as i64)),
        field("mode", Reply::bulk_str("standalone")),
        field("role", Reply::bulk_str(role)),
        field("modules", Reply::Array(Vec::new())),
    ]))
}

fn select(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let index = args::int(&args[1])?;
    if index < 0 || index as usize >= ctx.shared.keyspace.databases() {
        return Err(error::DB_INDEX);
    }
    ctx.client.select(index as usize);
    Ok(Reply::OK)
}

fn client_id(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::Integer(ctx.client.id as i64))
}

/// Client names and library names: printable ASCII without spaces.
fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn set_name(info: &ClientInfo, name: &Bytes) -> Result<(), Reply> {
    if !valid_name(name) {
        return Err(error::INVALID_CLIENT_NAME);
    }
    let value = (!name.is_empty()).then(|| Bytes::copy_from_slice(name));
    *info.name.locked() = value;
    Ok(())
}

fn client_setname(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    set_name(&ctx.client.info, &args[2])?;
    Ok(Reply::OK)
}

fn client_getname(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::opt_bulk(ctx.client.info.name()))
}

fn client_setinfo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let info = &ctx.client.info;
    let (slot, what) = if args::is(&args[2], "lib-name") {
        (&info.lib_name, "lib-name")
    } else if args::is(&args[2], "lib-ver") {
        (&info.lib_ver, "lib-ver")
    } else {
        return Err(error::unknown_client_info(&args[2]));
    };
    if !valid_name(&args[3]) {
        return Err(error::invalid_client_info(what));
    }
    let value = (!args[3].is_empty()).then(|| Bytes::copy_from_slice(&args[3]));
    *slot.locked() = value;
    Ok(Reply::OK)
}

/// Redis's reply buffer and reply-list block size, by which `obl` and `oll` count.
const REPLY_CHUNK: u64 = 16 * 1024;

/// One CLIENT LIST line, in Redis 7.2's field order (also what the log names a client
/// by, as Redis does, and ACL LOG's `client-info`). `omem` is the output not yet written;
/// `obl` and `oll` split it as Redis would hold it: the first 16 KB in the reply buffer,
/// the rest in 16 KB blocks.
pub fn describe(c: &ClientInfo) -> String {
    let now = clock::now_ms();
    let text = |m: &std::sync::Mutex<Option<Bytes>>| {
        m.locked()
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    // In Redis's order (`getClientInfoString`).
    let mut flags = String::new();
    match client_type(c) {
        "replica" => flags.push('S'),
        "pubsub" => flags.push('P'),
        _ => {}
    }
    let in_multi = c.in_multi.load(Ordering::Relaxed);
    if in_multi {
        flags.push('x');
    }
    if c.blocked.load(Ordering::Relaxed) {
        flags.push('b');
    }
    if c.addr.is_unix() {
        flags.push('U');
    }
    if c.no_evict.load(Ordering::Relaxed) {
        flags.push('e');
    }
    if c.no_touch.load(Ordering::Relaxed) {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let cmd = match c.last_command.load(Ordering::Relaxed) {
        0 => "NULL".to_string(),
        id => super::table().full_name((id - 1) as u16).to_string(),
    };
    let multi = if in_multi {
        c.multi_len.load(Ordering::Relaxed) as i64
    } else {
        -1
    };
    let omem = c.output_pending.load(Ordering::Relaxed);
    let obl = omem.min(REPLY_CHUNK);
    let oll = (omem - obl).div_ceil(REPLY_CHUNK);
    format!(
        "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} \
         multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl={} oll={} omem={} \
         tot-mem=0 events={} cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        text(&c.name),
        now.saturating_sub(c.created_ms) / 1000,
        now.saturating_sub(c.last_interaction_ms.load(Ordering::Relaxed)) / 1000,
        flags,
        c.db.load(Ordering::Relaxed),
        c.channels.load(Ordering::Relaxed),
        c.patterns.load(Ordering::Relaxed),
        c.shard_channels.load(Ordering::Relaxed),
        multi,
        obl,
        oll,
        omem,
        if omem > 0 { "rw" } else { "r" },
        cmd,
        c.user_name(),
        c.proto.load(Ordering::Relaxed),
        text(&c.lib_name),
        text(&c.lib_ver),
    )
}

fn client_info(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let mut line = describe(&ctx.client.info);
    line.push('\n');
    Ok(Reply::Verbatim(Bytes::from(line)))
}

/// Client types for CLIENT LIST / KILL TYPE. Roost has no replicas or pub/sub yet, so
/// every connection is `normal`.
fn parse_client_type(arg: &[u8]) -> Result<&'static str, Reply> {
    let lower = arg.to_ascii_lowercase();
    match lower.as_slice() {
        b"normal" => Ok("normal"),
        b"master" => Ok("master"),
        b"replica" | b"slave" => Ok("replica"),
        b"pubsub" => Ok("pubsub"),
        _ => Err(error::unknown_client_type(arg)),
    }
}

fn client_type(c: &ClientInfo) -> &'static str {
    if c.kind.load(Ordering::Relaxed) == crate::session::KIND_REPLICA {
        "replica"
    } else if c.is_subscribed() {
        "pubsub"
    } else {
        "normal"
    }
}

fn client_list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut wanted_type = None;
    let mut wanted_ids: Option<Vec<u64>> = None;
    let mut i = 2;
    while i < args.len() {
        if args::is(&args[i], "type") && i + 1 < args.len() {
            wanted_type = Some(parse_client_type(&args[i + 1])?);
            i += 2;
        } else if args::is(&args[i], "id") && i + 1 < args.len() {
            let mut ids = Vec::new();
            for arg in &args[i + 1..] {
                match crate::protocol::decode::parse_i64(arg) {
                    Some(id) if id > 0 => ids.push(id as u64),
                    _ => return Err(error::INVALID_CLIENT_ID),
                }
            }
            wanted_ids = Some(ids);
            i = args.len();
        } else {
            return Err(error::SYNTAX);
        }
    }
    let mut out = String::new();
    for c in ctx.shared.clients.snapshot() {
        if wanted_type.is_some_and(|t| t != client_type(&c)) {
            continue;
        }
        if wanted_ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
            continue;
        }
        out.push_str(&describe(&c));
        out.push('\n');
    }
    Ok(Reply::Verbatim(Bytes::from(out)))
}

#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    kind: Option<&'static str>,
    addr: Option<String>,
    laddr: Option<String>,
    user: Option<Vec<u8>>,
    max_age: Option<u64>,
    skip_me: bool,
}

fn client_kill(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    // Old form: CLIENT KILL addr:port, answering OK or an error.
    if args.len() == 3 {
        let addr = String::from_utf8_lossy(&args[2]);
        let Some(target) = ctx
            .shared
            .clients
            .snapshot()
            .into_iter()
            .find(|c| c.addr.to_string() == addr)
        else {
            return Err(error::NO_SUCH_CLIENT);
        };
        kill(ctx, &target);
        return Ok(Reply::OK);
    }
    let mut filter = KillFilter {
        skip_me: true,
        ..KillFilter::default()
    };
    let mut i = 2;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(error::SYNTAX);
        }
        let value = &args[i + 1];
        let option = args[i].to_ascii_lowercase();
        match option.as_slice() {
            b"id" => match crate::protocol::decode::parse_i64(value) {
                Some(id) if id > 0 => filter.id = Some(id as u64),
                _ => return Err(error::CLIENT_ID_NOT_POSITIVE),
            },
            b"type" => filter.kind = Some(parse_client_type(value)?),
            b"addr" => filter.addr = Some(String::from_utf8_lossy(value).into_owned()),
            b"laddr" => filter.laddr = Some(String::from_utf8_lossy(value).into_owned()),
            b"user" => filter.user = Some(value.to_vec()),
            b"skipme" => {
                if args::is(value, "yes") {
                    filter.skip_me = true;
                } else if args::is(value, "no") {
                    filter.skip_me = false;
                } else {
                    return Err(error::SYNTAX);
                }
            }
            b"maxage" => match crate::protocol::decode::parse_i64(value) {
                Some(age) if age >= 0 => filter.max_age = Some(age as u64),
                _ => return Err(error::SYNTAX),
            },
            _ => return Err(error::SYNTAX),
        }
        i += 2;
    }
    let user = match filter.user.as_deref() {
        Some(name) => Some(
            ctx.shared
                .acl
                .user(name)
                .ok_or_else(|| error::no_such_user(name))?,
        ),
        None => None,
    };
    let now = clock::now_ms();
    let mut killed = 0;
    for c in ctx.shared.clients.snapshot() {
        let matches = filter.id.is_none_or(|id| id == c.id)
            && filter.kind.is_none_or(|t| t == client_type(&c))
            && filter
                .addr
                .as_ref()
                .is_none_or(|a| *a == c.addr.to_string())
            && filter
                .laddr
                .as_ref()
                .is_none_or(|a| *a == c.laddr.to_string())
            && filter
                .max_age
                .is_none_or(|age| now.saturating_sub(c.created_ms) / 1000 >= age)
            && user.as_ref().is_none_or(|u| c.runs_as(u))
            && !(filter.skip_me && c.id == ctx.client.id);
        if matches {
            kill(ctx, &c);
            killed += 1;
        }
    }
    Ok(Reply::Integer(killed))
}

/// Closes `target`; if it is the caller, after this reply is written.
fn kill(ctx: &mut Ctx<'_>, target: &ClientInfo) {
    if target.id == ctx.client.id {
        ctx.client.close_after_reply = true;
    } else {
        target.kill();
    }
}

fn on_off(arg: &[u8]) -> Option<bool> {
    if args::is(arg, "on") {
        Some(true)
    } else if args::is(arg, "off") {
        Some(false)
    } else {
        None
    }
}

fn client_no_evict(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let v = on_off(&args[2]).ok_or(error::SYNTAX)?;
    ctx.client.info.no_evict.store(v, Ordering::Relaxed);
    Ok(Reply::OK)
}

fn client_no_touch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let v = on_off(&args[2]).ok_or(error::SYNTAX)?;
    ctx.client.info.no_touch.store(v, Ordering::Relaxed);
    Ok(Reply::OK)
}

/// The `HELP` subcommand every container declares.
pub const fn help_subcommand(group: &'static str, since: &'static str) -> Spec {
    super::command!(
        group,
        "help",
        2,
        LOADING | STALE,
        NO_KEYS,
        help,
        since,
        "Returns helpful text about the different subcommands."
    )
}

fn help(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let Some(id) = super::table().lookup_named(&ctx.shared.command_names, &args[0]) else {
        return Ok(Reply::Array(Vec::new()));
    };
    // The first line names the container as the client called it, as Redis does.
    Ok(help_reply(
        id,
        &String::from_utf8_lossy(&args[0]).to_ascii_uppercase(),
    ))
}

/// The `<CONTAINER> HELP` reply for the container `id`: one line per subcommand with its
/// summary.
pub fn help_reply(id: super::CommandId, container: &str) -> Reply {
    let spec = super::table().spec(id);
    let mut lines = vec![Reply::Simple(
        format!("{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into(),
    )];
    if !spec.help.is_empty() {
        lines.extend(spec.help.iter().map(|&line| Reply::simple(line)));
        lines.push(Reply::simple("HELP"));
        lines.push(Reply::simple("    Prints this help."));
        return Reply::Array(lines);
    }
    for sub in spec.subcommands {
        lines.push(Reply::Simple(sub.name.to_ascii_uppercase().into()));
        lines.push(Reply::Simple(format!("    {}", sub.summary).into()));
    }
    Reply::Array(lines)
}
