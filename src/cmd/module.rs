//! MODULE in a server without a module API: LIST answers an empty list, HELP Redis's
//! text, and LOAD, LOADEX and UNLOAD answer as redis-server does when it cannot load
//! the library or finds no such module, behind `enable-module-command` as in Redis 7
//! (`no` by default: refused with Redis's text).

use bytes::Bytes;

use super::flags::*;
use super::redis_meta::NONDETERMINISTIC_ORDER;
use super::{conn, error, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;

pub const COMMANDS: &[Spec] = &[super::command!(
    "server",
    "module",
    -2,
    0,
    NO_KEYS,
    conn::container,
    "4.0.0",
    "A container for module commands."
)
.with_subcommands(MODULE_SUBCOMMANDS)
.with_help(&[
    "LIST",
    "    Return a list of loaded modules.",
    "LOAD <path> [<arg> ...]",
    "    Load a module library from <path>, passing to it any optional arguments.",
    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    "    Load a module library from <path>, while passing it module configurations and optional arguments.",
    "UNLOAD <name>",
    "    Unload a module.",
])];

const MODULE_SUBCOMMANDS: &[Spec] = &[
    conn::help_subcommand("server", "5.0.0"),
    super::command!(
        "server",
        "list",
        2,
        ADMIN | NOSCRIPT,
        NO_KEYS,
        list,
        "4.0.0",
        "Returns all loaded modules."
    )
    .with_tips(NONDETERMINISTIC_ORDER),
    super::command!(
        "server",
        "load",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        NO_KEYS,
        load,
        "4.0.0",
        "Loads a module."
    ),
    super::command!(
        "server",
        "loadex",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        NO_KEYS,
        load,
        "7.0.0",
        "Loads a module using extended parameters."
    ),
    super::command!(
        "server",
        "unload",
        3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        NO_KEYS,
        unload,
        "4.0.0",
        "Unloads a module."
    ),
];

fn list(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::Array(Vec::new()))
}

/// Whether `enable-module-command` lets this client load or unload.
fn allowed(ctx: &Ctx<'_>) -> Result<(), Reply> {
    let setting = ctx.shared.config().enable_module_command.clone();
    if super::debug::protected_command_allowed(ctx, &setting) {
        Ok(())
    } else {
        Err(error::MODULE_NOT_ALLOWED)
    }
}

/// LOAD and LOADEX: no library can be loaded (Redis logs why; its reply names no cause).
fn load(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    allowed(ctx)?;
    crate::log::warning(&format!(
        "Module {} failed to load: this server has no module API",
        String::from_utf8_lossy(&args[2])
    ));
    Err(error::MODULE_LOAD_FAILED)
}

/// No module is ever loaded, so none can be unloaded.
fn unload(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    allowed(ctx)?;
    Err(error::MODULE_UNLOAD_NO_SUCH)
}
