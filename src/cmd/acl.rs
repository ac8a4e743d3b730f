//! The ACL command, the users a server starts with, and the catalog of commands the ACL
//! layer checks requests against (built once from the command table).

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::{error, flags::*, table, Ctx, Outcome, Spec, NO_KEYS};
use crate::acl::{category, Acl, Catalog, Entry, KeyRange, Rules, KEY_READ, KEY_WRITE};
use crate::config::{Config, ConfigError};
use crate::protocol::Reply;
use crate::state::Shared;

const ADMIN_FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE | UNGATED;
const USER_FLAGS: u32 = NOSCRIPT | LOADING | STALE | UNGATED;

pub const COMMANDS: &[Spec] = &[super::command!(
    "server",
    "acl",
    -2,
    0,
    NO_KEYS,
    super::conn::container,
    "6.0.0",
    "A container for Access List Control commands."
)
.with_subcommands(ACL_SUBCOMMANDS)
.with_help(&[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
])];

const ACL_SUBCOMMANDS: &[Spec] = &[
    super::command!(
        "server",
        "cat",
        -2,
        USER_FLAGS,
        NO_KEYS,
        cat,
        "6.0.0",
        "Lists the ACL categories, or the commands inside a category."
    ),
    super::command!(
        "server",
        "deluser",
        -3,
        ADMIN_FLAGS,
        NO_KEYS,
        deluser,
        "6.0.0",
        "Deletes ACL users, and terminates their connections."
    ),
    super::command!(
        "server",
        "dryrun",
        -4,
        ADMIN_FLAGS,
        NO_KEYS,
        dryrun,
        "7.0.0",
        "Simulates the execution of a command by a user, without executing the command."
    ),
    super::command!(
        "server",
        "genpass",
        -2,
        USER_FLAGS,
        NO_KEYS,
        genpass,
        "6.0.0",
        "Generates a pseudorandom, secure password that can be used to identify ACL users."
    ),
    super::command!(
        "server",
        "getuser",
        3,
        ADMIN_FLAGS,
        NO_KEYS,
        getuser,
        "6.0.0",
        "Lists the ACL rules of a user."
    ),
    super::command!(
        "server",
        "list",
        2,
        ADMIN_FLAGS,
        NO_KEYS,
        list,
        "6.0.0",
        "Dumps the effective rules in ACL file format."
    ),
    super::command!(
        "server",
        "load",
        2,
        ADMIN_FLAGS,
        NO_KEYS,
        load,
        "6.0.0",
        "Reloads the rules from the configured ACL file."
    ),
    super::command!(
        "server",
        "log",
        -2,
        ADMIN_FLAGS,
        NO_KEYS,
        log,
        "6.0.0",
        "Lists recent security events generated due to ACL rules."
    ),
    super::command!(
        "server",
        "save",
        2,
        ADMIN_FLAGS,
        NO_KEYS,
        save,
        "6.0.0",
        "Saves the effective ACL rules in the configured ACL file."
    ),
    super::command!(
        "server",
        "setuser",
        -3,
        ADMIN_FLAGS,
        NO_KEYS,
        setuser,
        "6.0.0",
        "Creates and modifies an ACL user and its rules."
    ),
    super::command!(
        "server",
        "users",
        2,
        ADMIN_FLAGS,
        NO_KEYS,
        users,
        "6.0.0",
        "Lists all ACL users."
    ),
    super::command!(
        "server",
        "whoami",
        2,
        USER_FLAGS,
        NO_KEYS,
        whoami,
        "6.0.0",
        "Returns the authenticated username of the current connection."
    ),
    super::conn::help_subcommand("server", "6.0.0"),
];

/// What the ACL layer knows of the command table, built once per process.
pub fn catalog() -> Arc<Catalog> {
    static CATALOG: OnceLock<Arc<Catalog>> = OnceLock::new();
    CATALOG
        .get_or_init(|| {
            let table = table();
            let entries = table
                .all()
                .map(|id| {
                    let spec = table.spec(id);
                    Entry {
                        full_name: table.full_name(id).to_string(),
                        parent: table.parent(id),
                        categories: super::acl_categories(spec),
                        exempt: spec.has(NO_AUTH),
                        keys: key_ranges(spec),
                        find_keys: spec.find_keys,
                        channels: spec.channels,
                    }
                })
                .collect();
            Arc::new(Catalog::new(entries))
        })
        .clone()
}

/// Where a command's keys are and whether each is read or written, from its key specs
/// (Redis's: `access` reads; `insert`, `delete`, `update` write). A command declared
/// without key specs is taken to read its keys, and to write them too if it writes; one
/// whose keys are found by parsing (`find_keys`: LMPOP, EVAL) to read and write them, as
/// Redis's key specs for them say, unless it is read-only (EVAL_RO): its one range only
/// carries that access, the positions come from `find_keys`.
fn key_ranges(spec: &Spec) -> Vec<KeyRange> {
    // A keyword spec (XREAD's STREAMS) says how keys are read; `find_keys` finds them.
    let keyword_spec = spec.key_specs.first().filter(|k| k.keyword.is_some());
    if spec.find_keys.is_some() && (spec.key_specs.is_empty() || keyword_spec.is_some()) {
        let access = match keyword_spec {
            Some(k) if k.flags.contains(&"access") && !k.flags.contains(&"RW") => KEY_READ,
            Some(_) => KEY_READ | KEY_WRITE,
            None if spec.has(READONLY) => KEY_READ,
            None => KEY_READ | KEY_WRITE,
        };
        return vec![KeyRange {
            index: 0,
            lastkey: 0,
            step: 1,
            access,
            read_only_with_get: false,
        }];
    }
    if spec.key_specs.is_empty() {
        let k = spec.keys;
        if k.first <= 0 {
            return Vec::new();
        }
        let access = if spec.has(WRITE) {
            KEY_READ | KEY_WRITE
        } else {
            KEY_READ
        };
        let lastkey = if k.last < 0 {
            k.last as i64
        } else {
            (k.last - k.first) as i64
        };
        return vec![KeyRange {
            index: k.first as usize,
            lastkey,
            step: k.step.max(1) as usize,
            access,
            read_only_with_get: false,
        }];
    }
    spec.key_specs
        .iter()
        // A shard channel (SPUBLISH) is in a key spec for cluster routing, not a key.
        .filter(|k| !k.flags.contains(&"not_key"))
        .map(|k| {
            let mut access = 0;
            for flag in k.flags {
                match *flag {
                    "access" => access |= KEY_READ,
                    "insert" | "delete" | "update" => access |= KEY_WRITE,
                    _ => {}
                }
            }
            KeyRange {
                index: k.index as usize,
                lastkey: k.lastkey,
                step: k.keystep.max(1) as usize,
                access,
                read_only_with_get: k.flags.contains(&"variable_flags"),
            }
        })
        .collect()
}

/// The users a server starts with: the default user, then the configuration's `user`
/// lines or its ACL file (not both, as in Redis). A bad rule names its line.
pub fn users_at_startup(config: &Config) -> Result<Acl, ConfigError> {
    let acl = Acl::new(catalog());
    acl.set_pubsub_all(config.acl_pubsub_default == "allchannels");
    if !config.aclfile.is_empty() && !config.users.is_empty() {
        return Err(ConfigError {
            directive: "aclfile".into(),
            message: "Configuring Redis with users defined in redis.conf and at the same \
                      setting an ACL file path is invalid. This setup is very likely to lead \
                      to configuration errors and security holes, please define either an \
                      ACL file or declare users directly in your redis.conf, but not both."
                .into(),
            location: config.origins.get("aclfile").cloned(),
        });
    }
    // `requirepass` applies first; a `user default` line overrides it, as in Redis.
    if let Some(password) = &config.requirepass {
        acl.set_default_password(Some(password));
    }
    if !config.aclfile.is_empty() {
        load_acl_file(&acl, &config.aclfile).map_err(|message| ConfigError {
            directive: "aclfile".into(),
            message,
            location: config.origins.get("aclfile").cloned(),
        })?;
    }
    if !config.users.is_empty() {
        let lines: Vec<(String, Vec<String>)> = config
            .users
            .iter()
            .map(|u| (u.name.clone(), u.rules.clone()))
            .collect();
        acl.replace_all(&lines)
            .map_err(|(index, why)| ConfigError {
                directive: "user".into(),
                message: why.to_string(),
                location: Some(config.users[index].location.clone()),
            })?;
    }
    Ok(acl)
}

/// Replaces the users with those of an ACL file: one `user <name> <rules...>` per line,
/// in redis-cli quoting; blank lines and `#` comments are skipped. All or nothing, with
/// Redis's texts naming the file and line.
pub fn load_acl_file(acl: &Acl, path: &str) -> Result<(), String> {
    const NO_CHANGE: &str =
        "WARNING: ACL errors detected, no change to the previously active ACL rules was performed";
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{path}': {}",
            crate::log::os_error_text(&e)
        )
    })?;
    let mut users = Vec::new();
    let mut line_numbers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = crate::protocol::decode::split_args(line.as_bytes()).unwrap_or_default();
        let words: Vec<String> = words
            .into_iter()
            .map(|w| String::from_utf8_lossy(&w).into_owned())
            .collect();
        match words.split_first() {
            Some((keyword, rest)) if keyword == "user" && !rest.is_empty() => {
                users.push((rest[0].clone(), rest[1..].to_vec()));
                line_numbers.push(i + 1);
            }
            _ => {
                return Err(format!(
                    "{path}:{} should start with user keyword followed by the username. \
                     {NO_CHANGE}",
                    i + 1
                ))
            }
        }
    }
    acl.replace_all(&users).map_err(|(index, why)| {
        let why = match why {
            crate::acl::SetUserError::Rule(rule, why) => {
                format!("Error in applying operation '{rule}': {}", why.text())
            }
            crate::acl::SetUserError::Other(text) => text,
        };
        format!("{path}:{}: {why}. {NO_CHANGE}", line_numbers[index])
    })
}

/// The users as an ACL file holds them (ACL SAVE), written to a temporary file then
/// renamed over the old one.
pub fn save_acl_file(acl: &Acl, path: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut text = String::new();
    for user in acl.users() {
        text.push_str(&describe_user(&user.name, &user.rules()));
        text.push('\n');
    }
    let temp = format!("{path}.tmp-{}", std::process::id());
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

fn cat(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    match args.get(2) {
        None if args.len() == 2 => Ok(Reply::Array(
            category::NAMES.iter().map(|n| Reply::bulk_str(n)).collect(),
        )),
        Some(name) if args.len() == 3 => {
            let mask = std::str::from_utf8(name)
                .ok()
                .and_then(category::by_name)
                .ok_or_else(|| error::unknown_acl_category(name))?;
            Ok(Reply::Array(
                catalog().in_category(mask).map(Reply::bulk_str).collect(),
            ))
        }
        _ => Err(error::acl_subcommand_syntax(&args[1])),
    }
}

fn setuser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let name = String::from_utf8_lossy(&args[2]).into_owned();
    let rules: Vec<String> = args[3..]
        .iter()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    let (user, credentials_changed) = ctx
        .shared
        .acl
        .set_user(&name, &rules)
        .map_err(|e| error::acl_setuser(&e))?;
    if credentials_changed {
        close_connections_of(ctx, &user);
    } else {
        close_subscribers_losing_channels(ctx, &user);
    }
    Ok(Reply::OK)
}

/// Closes the connections of `user` subscribed to a channel or pattern its rules no
/// longer allow, as Redis does.
fn close_subscribers_losing_channels(ctx: &mut Ctx<'_>, user: &Arc<crate::acl::User>) {
    let rules = user.rules();
    for client in ctx.shared.clients.snapshot() {
        if !client.is_subscribed() || !client.runs_as(user) {
            continue;
        }
        let (channels, patterns) = ctx.shared.pubsub.subscriptions_of(client.id);
        let lost = channels.iter().any(|c| !rules.allows_channel(c, false))
            || patterns.iter().any(|p| !rules.allows_channel(p, true));
        if lost {
            if client.id == ctx.client.id {
                ctx.client.close_after_reply = true;
            } else {
                client.kill();
            }
        }
    }
}

/// Closes every connection running as `user` (its password changed, it was turned off
/// or deleted); the caller's own after this reply.
fn close_connections_of(ctx: &mut Ctx<'_>, user: &Arc<crate::acl::User>) {
    for client in ctx.shared.clients.snapshot() {
        if client.runs_as(user) {
            if client.id == ctx.client.id {
                ctx.client.close_after_reply = true;
            } else {
                client.kill();
            }
        }
    }
}

fn deluser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args[2..].iter().any(|name| name.as_ref() == b"default") {
        return Err(error::DEFAULT_USER_UNDELETABLE);
    }
    let mut deleted = 0;
    for name in &args[2..] {
        if let Some(user) = ctx.shared.acl.delete_user(name) {
            close_connections_of(ctx, &user);
            deleted += 1;
        }
    }
    Ok(Reply::Integer(deleted))
}

fn getuser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let Some(user) = ctx.shared.acl.user(&args[2]) else {
        return Ok(Reply::Null);
    };
    let rules = user.rules();
    let mut fields = vec![
        (
            Reply::bulk_str("flags"),
            Reply::Set(rules.flags().into_iter().map(Reply::bulk_str).collect()),
        ),
        (
            Reply::bulk_str("passwords"),
            Reply::Array(
                rules
                    .passwords()
                    .iter()
                    .map(|p| Reply::bulk_str(p))
                    .collect(),
            ),
        ),
    ];
    fields.extend(selector_fields(rules.root()));
    fields.push((
        Reply::bulk_str("selectors"),
        Reply::Array(
            rules
                .selectors()
                .iter()
                .map(|s| Reply::Map(selector_fields(s)))
                .collect(),
        ),
    ));
    Ok(Reply::Map(fields))
}

fn selector_fields(selector: &crate::acl::rules::Selector) -> Vec<(Reply, Reply)> {
    selector
        .fields()
        .into_iter()
        .map(|(name, value)| (Reply::bulk_str(name), Reply::bulk_str(&value)))
        .collect()
}

fn list(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::Array(
        ctx.shared
            .acl
            .users()
            .iter()
            .map(|user| Reply::bulk_str(&describe_user(&user.name, &user.rules())))
            .collect(),
    ))
}

/// A user as ACL LIST shows it and an ACL file holds it.
pub fn describe_user(name: &str, rules: &Rules) -> String {
    format!("user {name} {}", rules.describe())
}

fn users(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::Array(
        ctx.shared
            .acl
            .users()
            .iter()
            .map(|user| Reply::bulk_str(&user.name))
            .collect(),
    ))
}

fn whoami(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::bulk_str(&ctx.client.login.user().name))
}

fn genpass(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let bits = match args.get(2) {
        None => 256,
        Some(arg) if args.len() == 3 => {
            let bits = crate::protocol::decode::parse_i64(arg).ok_or(error::NOT_INTEGER)?;
            if !(1..=4096).contains(&bits) {
                return Err(error::GENPASS_BITS);
            }
            bits as usize
        }
        _ => return Err(error::acl_subcommand_syntax(&args[1])),
    };
    Ok(Reply::bulk_str(&crate::acl::generate_password(bits)))
}

/// The default user's password follows `requirepass` (CONFIG SET).
pub fn requirepass_changed(shared: &Shared, config: &Config) {
    shared
        .acl
        .set_default_password(config.requirepass.as_deref());
}

fn log(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let count = match args.get(2) {
        None => usize::MAX,
        Some(arg) if args.len() == 3 && super::args::is(arg, "reset") => {
            ctx.shared.acl.reset_log();
            return Ok(Reply::OK);
        }
        Some(arg) if args.len() == 3 => {
            let n = crate::protocol::decode::parse_i64(arg).ok_or(error::NOT_INTEGER)?;
            usize::try_from(n).unwrap_or(0)
        }
        _ => return Err(error::acl_subcommand_syntax(&args[1])),
    };
    let now = crate::clock::now_ms();
    let field = |name: &str, value: Reply| (Reply::bulk_str(name), value);
    Ok(Reply::Array(
        ctx.shared
            .acl
            .log_entries(count)
            .into_iter()
            .map(|e| {
                Reply::Map(vec![
                    field("count", Reply::Integer(e.count as i64)),
                    field("reason", Reply::bulk_str(e.reason)),
                    field("context", Reply::bulk_str(e.context)),
                    field("object", Reply::bulk_str(&e.object)),
                    field("username", Reply::bulk_str(&e.username)),
                    field(
                        "age-seconds",
                        Reply::Double(now.saturating_sub(e.updated_ms) as f64 / 1000.0),
                    ),
                    field("client-info", Reply::bulk_str(&e.client_info)),
                    field("entry-id", Reply::Integer(e.entry_id as i64)),
                    field("timestamp-created", Reply::Integer(e.created_ms as i64)),
                    field(
                        "timestamp-last-updated",
                        Reply::Integer(e.updated_ms as i64),
                    ),
                ])
            })
            .collect(),
    ))
}

/// The configured ACL file, or Redis's error when there is none.
fn acl_file(ctx: &Ctx<'_>) -> Result<String, Reply> {
    let path = ctx.shared.config().aclfile.clone();
    if path.is_empty() {
        return Err(error::NO_ACL_FILE);
    }
    Ok(path)
}

fn save(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let path = acl_file(ctx)?;
    save_acl_file(&ctx.shared.acl, &path).map_err(|e| {
        crate::log::warning(&format!("Writing ACL file for ACL SAVE: {path}: {e}"));
        error::ACL_SAVE_FAILED
    })?;
    Ok(Reply::OK)
}

fn load(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let path = acl_file(ctx)?;
    load_acl_file(&ctx.shared.acl, &path).map_err(|e| Reply::error(format!("ERR {e}")))?;
    // Every user was replaced: connections of users other than the default one close,
    // as in Redis.
    for client in ctx.shared.clients.snapshot() {
        let default = client.runs_as(ctx.shared.acl.default_user());
        if !default {
            if client.id == ctx.client.id {
                ctx.client.close_after_reply = true;
            } else {
                client.kill();
            }
        }
    }
    Ok(Reply::OK)
}

fn dryrun(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let user = ctx
        .shared
        .acl
        .user(&args[2])
        .ok_or_else(|| error::acl_no_such_user(&args[2]))?;
    let request = &args[3..];
    let table = super::table();
    // A subcommand is named as a client sends it (`config get`), not `config|get`.
    if request[0].contains(&b'|') {
        return Err(error::acl_no_such_command(&request[0]));
    }
    let id = match table.resolve_named(&ctx.shared.command_names, request) {
        Ok(id) => id,
        Err(super::Unresolved { id: Some(id), .. }) => {
            return Err(error::wrong_arity(table.full_name(id)))
        }
        Err(_) => return Err(error::acl_no_such_command(&request[0])),
    };
    let rules = user.rules();
    Ok(match ctx.shared.acl.check(&rules, id, request) {
        Ok(()) => Reply::OK,
        // Redis 7.2's words (7.0: "This user has no permissions to ...").
        Err(crate::acl::Denied::Command) => Reply::bulk_str(&format!(
            "User {} has no permissions to run the '{}' command",
            user.name,
            table.full_name(id)
        )),
        Err(crate::acl::Denied::Key(pos)) => Reply::bulk_str(&format!(
            "User {} has no permissions to access the '{}' key",
            user.name,
            String::from_utf8_lossy(&request[pos])
        )),
        Err(crate::acl::Denied::Channel(pos)) => Reply::bulk_str(&format!(
            "User {} has no permissions to access the '{}' channel",
            user.name,
            String::from_utf8_lossy(&request[pos])
        )),
    })
}
