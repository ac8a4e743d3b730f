//! CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR, CLIENT TRACKINGINFO, and what a
//! tracking client's reads leave in the tracking table (see `crate::tracking`).

use bytes::Bytes;

use super::flags::*;
use super::{args, error, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;
use crate::store;
use crate::tracking::Mode;

const FLAGS: u32 = NOSCRIPT | LOADING | STALE;

pub const TRACKING: Spec = super::command!(
    "connection",
    "tracking",
    -3,
    FLAGS,
    NO_KEYS,
    client_tracking,
    "6.0.0",
    "Controls server-assisted client-side caching for the connection."
);
pub const CACHING: Spec = super::command!(
    "connection",
    "caching",
    3,
    FLAGS | TRACKING_SETUP,
    NO_KEYS,
    client_caching,
    "6.0.0",
    "Instructs the server whether to track the keys in the next request."
);
pub const GETREDIR: Spec = super::command!(
    "connection",
    "getredir",
    2,
    FLAGS,
    NO_KEYS,
    client_getredir,
    "6.0.0",
    "Returns the client ID to which the connection's tracking notifications are redirected."
);
pub const TRACKINGINFO: Spec = super::command!(
    "connection",
    "trackinginfo",
    2,
    FLAGS,
    NO_KEYS,
    client_trackinginfo,
    "6.2.0",
    "Returns information about server-assisted client-side caching for the connection."
);

fn client_tracking(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let on = if args::is(&args[2], "on") {
        true
    } else if args::is(&args[2], "off") {
        false
    } else {
        return Err(error::SYNTAX);
    };
    let mut mode = Mode::default();
    let mut i = 3;
    while i < args.len() {
        let option = args[i].to_ascii_lowercase();
        match option.as_slice() {
            b"bcast" => mode.bcast = true,
            b"optin" => mode.optin = true,
            b"optout" => mode.optout = true,
            b"noloop" => mode.noloop = true,
            b"redirect" if i + 1 < args.len() => {
                i += 1;
                let id = crate::protocol::decode::parse_i64(&args[i]).unwrap_or(-1);
                let exists = id > 0 && ctx.shared.clients.get(id as u64).is_some();
                if id != ctx.client.id as i64 && !exists {
                    return Err(error::NO_REDIRECT_CLIENT);
                }
                mode.redirect = Some(id as u64);
            }
            b"prefix" if i + 1 < args.len() => {
                i += 1;
                mode.prefixes.push(store::own(&args[i]));
            }
            _ => return Err(error::SYNTAX),
        }
        i += 1;
    }
    if !on {
        ctx.shared.tracking.disable(ctx.client.id);
        ctx.client.tracking = None;
        return Ok(Reply::OK);
    }
    if ctx
        .client
        .tracking
        .as_ref()
        .is_some_and(|m| m.bcast != mode.bcast)
    {
        return Err(error::BCAST_SWITCHED);
    }
    if !mode.prefixes.is_empty() && !mode.bcast {
        return Err(error::PREFIX_WITHOUT_BCAST);
    }
    if mode.optin && mode.optout {
        return Err(error::OPTIN_AND_OPTOUT);
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err(error::OPT_MODE_WITH_BCAST);
    }
    for (n, a) in mode.prefixes.iter().enumerate() {
        for b in &mode.prefixes[n + 1..] {
            if a.starts_with(b) || b.starts_with(a) {
                return Err(error::overlapping_prefixes(a, b));
            }
        }
    }
    let outbox = super::pubsub::outbox(ctx.shared, ctx.client);
    ctx.shared
        .tracking
        .enable(ctx.client.id, mode.clone(), outbox);
    ctx.client.tracking = Some(mode);
    Ok(Reply::OK)
}

fn client_caching(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let not_opt_mode = || Err(error::CACHING_WITHOUT_OPT_MODE);
    let Some(mode) = &ctx.client.tracking else {
        return not_opt_mode();
    };
    if !mode.optin && !mode.optout {
        return not_opt_mode();
    }
    if args::is(&args[2], "yes") {
        if !mode.optin {
            return Err(error::CACHING_YES_WITHOUT_OPTIN);
        }
        ctx.client.caching = Some(true);
    } else if args::is(&args[2], "no") {
        if !mode.optout {
            return Err(error::CACHING_NO_WITHOUT_OPTOUT);
        }
        ctx.client.caching = Some(false);
    } else {
        return Err(error::SYNTAX);
    }
    Ok(Reply::OK)
}

fn client_getredir(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(match &ctx.client.tracking {
        None => Reply::Integer(-1),
        Some(mode) => Reply::Integer(mode.redirect.map_or(0, |id| id as i64)),
    })
}

fn client_trackinginfo(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let (flags, redirect, prefixes) = match &ctx.client.tracking {
        None => (vec![Reply::bulk_str("off")], -1, Vec::new()),
        Some(mode) => {
            let mut flags = vec![Reply::bulk_str("on")];
            for (set, name) in [
                (mode.bcast, "bcast"),
                (mode.optin, "optin"),
                (mode.optout, "optout"),
                (mode.noloop, "noloop"),
            ] {
                if set {
                    flags.push(Reply::bulk_str(name));
                }
            }
            if mode.optin && ctx.client.caching == Some(true) {
                flags.push(Reply::bulk_str("caching-yes"));
            }
            if mode.optout && ctx.client.caching == Some(false) {
                flags.push(Reply::bulk_str("caching-no"));
            }
            let redirect = mode.redirect.map_or(0, |id| id as i64);
            let prefixes = mode.prefixes.iter().cloned().map(Reply::Bulk).collect();
            (flags, redirect, prefixes)
        }
    };
    Ok(Reply::Map(vec![
        (Reply::bulk_str("flags"), Reply::Set(flags)),
        (Reply::bulk_str("redirect"), Reply::Integer(redirect)),
        (Reply::bulk_str("prefixes"), Reply::Array(prefixes)),
    ]))
}

/// After a tracking client's command: remember the keys it read (default mode), and
/// use up a CLIENT CACHING answer.
pub fn after_command(ctx: &mut Ctx<'_>, spec: &Spec, args: &[Bytes], reply: &Reply) {
    let Some(mode) = &ctx.client.tracking else {
        return;
    };
    if spec.has(TRACKING_SETUP) {
        return;
    }
    let wanted = if mode.optin {
        ctx.client.caching == Some(true)
    } else if mode.optout {
        ctx.client.caching != Some(false)
    } else {
        true
    };
    // Inside MULTI the answer covers the whole transaction, as in Redis.
    if !ctx.client.in_exec {
        ctx.client.caching = None;
    }
    if mode.bcast || !wanted || !spec.has(READONLY) || reply.is_error() {
        return;
    }
    let positions = match spec.find_keys {
        Some(find_keys) => find_keys(args).unwrap_or_default(),
        None => spec.key_positions(args.len()),
    };
    let keys = positions.into_iter().map(|i| crate::store::own(&args[i]));
    ctx.shared.tracking.remember(ctx.client.id, keys);
}
