//! SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, the sharded SSUBSCRIBE,
//! SUNSUBSCRIBE, SPUBLISH, and PUBSUB.
//!
//! Confirmations are push frames (arrays in RESP2), one per channel, each carrying the
//! client's subscription count after that step: channels and patterns together, shard
//! channels on their own, as Redis counts them. A RESP2 client with subscriptions of
//! any kind may only (un)subscribe, PING, QUIT or RESET; `dispatch` enforces that.
//!
//! A standalone server is a single shard, so shard channels behave as channels in a
//! namespace of their own (`pubsub::Hub`). PUBLISH and SPUBLISH reach a primary's
//! replicas, as Redis propagates them, as control records that are not logged
//! (`Journal::send_to_replicas`); a replica delivers them to its own subscribers.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::flags::*;
use super::redis_meta::{SHARD_CHANNEL, SHARD_CHANNELS};
use super::{conn, error, Ctx, Outcome, Spec, NO_KEYS};
use crate::config::OUTPUT_PUBSUB;
use crate::protocol::Reply;
use crate::pubsub::{Hub, Subscriber};
use crate::session::Client;
use crate::state::Shared;
use crate::store;

pub const COMMANDS: &[Spec] = &[
    super::command!(
        "pubsub",
        "subscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | WHILE_SUBSCRIBED,
        NO_KEYS,
        subscribe,
        "2.0.0",
        "Listens for messages published to channels."
    )
    .with_channels(crate::acl::Channels::All),
    super::command!(
        "pubsub",
        "unsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | WHILE_SUBSCRIBED,
        NO_KEYS,
        unsubscribe,
        "2.0.0",
        "Stops listening to messages posted to channels."
    ),
    super::command!(
        "pubsub",
        "psubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | WHILE_SUBSCRIBED,
        NO_KEYS,
        psubscribe,
        "2.0.0",
        "Listens for messages published to channels that match one or more patterns."
    )
    .with_channels(crate::acl::Channels::Patterns),
    super::command!(
        "pubsub",
        "punsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | WHILE_SUBSCRIBED,
        NO_KEYS,
        punsubscribe,
        "2.0.0",
        "Stops listening to messages published to channels that match one or more patterns."
    ),
    super::command!(
        "pubsub",
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        NO_KEYS,
        publish,
        "2.0.0",
        "Posts a message to a channel."
    )
    .with_channels(crate::acl::Channels::First),
    super::command!(
        "pubsub",
        "ssubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | WHILE_SUBSCRIBED,
        NO_KEYS,
        ssubscribe,
        "7.0.0",
        "Listens for messages published to shard channels."
    )
    .with_key_specs(SHARD_CHANNELS)
    .with_channels(crate::acl::Channels::All),
    super::command!(
        "pubsub",
        "sunsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | WHILE_SUBSCRIBED,
        NO_KEYS,
        sunsubscribe,
        "7.0.0",
        "Stops listening to messages posted to shard channels."
    )
    .with_key_specs(SHARD_CHANNELS),
    super::command!(
        "pubsub",
        "spublish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        NO_KEYS,
        spublish,
        "7.0.0",
        "Post a message to a shard channel"
    )
    .with_key_specs(SHARD_CHANNEL)
    .with_channels(crate::acl::Channels::First),
    super::command!(
        "pubsub",
        "pubsub",
        -2,
        0,
        NO_KEYS,
        conn::container,
        "2.8.0",
        "A container for Pub/Sub commands."
    )
    .with_subcommands(PUBSUB_SUBCOMMANDS)
    .with_help(&[
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
    ]),
];

const PUBSUB_SUBCOMMANDS: &[Spec] = &[
    super::command!(
        "pubsub",
        "channels",
        -2,
        PUBSUB | LOADING | STALE,
        NO_KEYS,
        channels,
        "2.8.0",
        "Returns the active channels."
    ),
    super::command!(
        "pubsub",
        "numsub",
        -2,
        PUBSUB | LOADING | STALE,
        NO_KEYS,
        numsub,
        "2.8.0",
        "Returns a count of subscribers to channels."
    ),
    super::command!(
        "pubsub",
        "numpat",
        2,
        PUBSUB | LOADING | STALE,
        NO_KEYS,
        numpat,
        "2.8.0",
        "Returns a count of unique pattern subscriptions."
    ),
    super::command!(
        "pubsub",
        "shardchannels",
        -2,
        PUBSUB | LOADING | STALE,
        NO_KEYS,
        shard_channels,
        "7.0.0",
        "Returns the active shard channels."
    ),
    super::command!(
        "pubsub",
        "shardnumsub",
        -2,
        PUBSUB | LOADING | STALE,
        NO_KEYS,
        shard_numsub,
        "7.0.0",
        "Returns the count of subscribers of shard channels."
    ),
    conn::help_subcommand("pubsub", "6.2.0"),
];

/// The client's outbox for messages it did not ask for in a reply (pub/sub messages,
/// tracking invalidations), created on first use with the pubsub output limit.
pub fn outbox(shared: &Shared, client: &mut Client) -> std::sync::Arc<Subscriber> {
    client
        .subscriber
        .get_or_insert_with(|| {
            let limit = shared.config().output_limits[OUTPUT_PUBSUB].hard;
            Subscriber::new(
                client.id,
                client.info.kill_switch.clone(),
                client.proto,
                limit,
            )
        })
        .clone()
}

fn confirmation(kind: &'static str, name: Option<Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::bulk_str(kind),
        Reply::opt_bulk(name),
        Reply::Integer(count as i64),
    ])
}

fn publish_counts(client: &Client) {
    let info = &client.info;
    info.channels
        .store(client.channels.len(), Ordering::Relaxed);
    info.patterns
        .store(client.patterns.len(), Ordering::Relaxed);
    info.shard_channels
        .store(client.shard_channels.len(), Ordering::Relaxed);
}

/// Channels (SUBSCRIBE), patterns (PSUBSCRIBE) or shard channels (SSUBSCRIBE): the same
/// bookkeeping, other names.
#[derive(Clone, Copy)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn subscribed(self, client: &mut Client) -> &mut Vec<Bytes> {
        match self {
            Kind::Channel => &mut client.channels,
            Kind::Pattern => &mut client.patterns,
            Kind::Shard => &mut client.shard_channels,
        }
    }

    fn events(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe"),
            Kind::Pattern => ("psubscribe", "punsubscribe"),
            Kind::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }

    /// The count a confirmation carries: channels and patterns together, shard
    /// channels apart.
    fn count(self, client: &Client) -> usize {
        match self {
            Kind::Channel | Kind::Pattern => client.channels.len() + client.patterns.len(),
            Kind::Shard => client.shard_channels.len(),
        }
    }

    fn add(self, shared: &Shared, name: &Bytes, subscriber: &std::sync::Arc<Subscriber>) {
        match self {
            Kind::Channel => shared.pubsub.subscribe(name, subscriber),
            Kind::Pattern => shared.pubsub.psubscribe(name, subscriber),
            Kind::Shard => shared.pubsub.ssubscribe(name, subscriber),
        }
    }

    fn remove(self, shared: &Shared, name: &[u8], client_id: u64) {
        match self {
            Kind::Channel => shared.pubsub.unsubscribe(name, client_id),
            Kind::Pattern => shared.pubsub.punsubscribe(name, client_id),
            Kind::Shard => shared.pubsub.sunsubscribe(name, client_id),
        }
    }
}

fn subscribe_to(ctx: &mut Ctx<'_>, names: &[Bytes], kind: Kind) -> Reply {
    let sub = outbox(ctx.shared, ctx.client);
    let mut replies = Vec::new();
    for name in names {
        if !kind.subscribed(ctx.client).contains(name) {
            // Kept while subscribed: not a slice pinning the read buffer.
            let name = store::own(name);
            kind.add(ctx.shared, &name, &sub);
            kind.subscribed(ctx.client).push(name);
        }
        let count = kind.count(ctx.client);
        replies.push(confirmation(kind.events().0, Some(name.clone()), count));
    }
    publish_counts(ctx.client);
    Reply::Many(replies)
}

/// Unsubscribes from `names`, or from all of this kind when none are given.
fn unsubscribe_from(ctx: &mut Ctx<'_>, names: &[Bytes], kind: Kind) -> Reply {
    let event = kind.events().1;
    let names: Vec<Bytes> = if names.is_empty() {
        kind.subscribed(ctx.client).clone()
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        let count = kind.count(ctx.client);
        return Reply::Many(vec![confirmation(event, None, count)]);
    }
    let mut replies = Vec::new();
    for name in names {
        kind.remove(ctx.shared, &name, ctx.client.id);
        kind.subscribed(ctx.client).retain(|n| *n != name);
        let count = kind.count(ctx.client);
        replies.push(confirmation(event, Some(name), count));
    }
    publish_counts(ctx.client);
    Reply::Many(replies)
}

fn subscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(subscribe_to(ctx, &args[1..], Kind::Channel))
}

fn psubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(subscribe_to(ctx, &args[1..], Kind::Pattern))
}

fn unsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(unsubscribe_from(ctx, &args[1..], Kind::Channel))
}

fn punsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(unsubscribe_from(ctx, &args[1..], Kind::Pattern))
}

/// As Redis 7.2, refused from EXEC (a client that expects one reply per command),
/// where SUBSCRIBE is still let through for compatibility.
fn ssubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if ctx.client.in_exec {
        return Err(error::SSUBSCRIBE_DENY_BLOCKING);
    }
    Ok(subscribe_to(ctx, &args[1..], Kind::Shard))
}

fn sunsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(unsubscribe_from(ctx, &args[1..], Kind::Shard))
}

/// Drops every subscription of a client (disconnect, RESET).
pub fn unsubscribe_all(shared: &Shared, client: &mut Client) {
    shared.diagnostics.monitors.remove(client.id);
    for channel in client.channels.drain(..) {
        shared.pubsub.unsubscribe(&channel, client.id);
    }
    for pattern in client.patterns.drain(..) {
        shared.pubsub.punsubscribe(&pattern, client.id);
    }
    for channel in client.shard_channels.drain(..) {
        shared.pubsub.sunsubscribe(&channel, client.id);
    }
    publish_counts(client);
}

fn publish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let receivers = ctx.shared.pubsub.publish(&args[1], &args[2]);
    pass_on_to_replicas(ctx, crate::pubsub::REPLICATED_PUBLISH, args);
    Ok(Reply::Integer(receivers as i64))
}

fn spublish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let receivers = ctx.shared.pubsub.spublish(&args[1], &args[2]);
    pass_on_to_replicas(ctx, crate::pubsub::REPLICATED_SPUBLISH, args);
    Ok(Reply::Integer(receivers as i64))
}

/// A primary passes what its clients publish on to its replicas, as Redis propagates
/// PUBLISH and SPUBLISH (to replicas only, not to the log). A replica's own clients'
/// messages stay on the replica: only its primary's stream reaches its replicas.
fn pass_on_to_replicas(ctx: &Ctx<'_>, kind: &[u8], args: &[Bytes]) {
    if !ctx.shared.repl.is_replica() {
        ctx.shared
            .journal
            .send_to_replicas(&[kind, args[1].as_ref(), args[2].as_ref()]);
    }
}

fn channels(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    list_channels(ctx, args, Hub::active_channels)
}

fn shard_channels(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    list_channels(ctx, args, Hub::active_shard_channels)
}

/// CHANNELS and SHARDCHANNELS: the active channels, matching the pattern if one is given.
fn list_channels(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    active: fn(&Hub, Option<&[u8]>) -> Vec<Bytes>,
) -> Outcome {
    if args.len() > 3 {
        // Redis declares these with arity -2 and refuses extra arguments itself, naming
        // the subcommand as the client spelled it.
        return Err(error::subcommand_syntax(&args[1], "PUBSUB"));
    }
    let pattern = args.get(2).map(|p| p.as_ref());
    Ok(Reply::Array(
        active(&ctx.shared.pubsub, pattern)
            .into_iter()
            .map(Reply::Bulk)
            .collect(),
    ))
}

fn numsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    count_subscribers(ctx, args, Hub::subscribers_of)
}

fn shard_numsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    count_subscribers(ctx, args, Hub::shard_subscribers_of)
}

/// NUMSUB and SHARDNUMSUB: channel, count, channel, count...: a flat array in RESP3 too,
/// as Redis 7 sends it (redis-py parses it as one).
fn count_subscribers(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    subscribers: fn(&Hub, &[u8]) -> usize,
) -> Outcome {
    let mut items = Vec::new();
    for channel in &args[2..] {
        let n = subscribers(&ctx.shared.pubsub, channel);
        items.push(Reply::Bulk(channel.clone()));
        items.push(Reply::Integer(n as i64));
    }
    Ok(Reply::Array(items))
}

fn numpat(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::Integer(ctx.shared.pubsub.pattern_count() as i64))
}
