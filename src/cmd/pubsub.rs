//! SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB.
//!
//! Confirmations are push frames (arrays in RESP2), one per channel, each carrying the
//! client's subscription count after that step. A RESP2 client with subscriptions may
//! only (un)subscribe, PING, QUIT or RESET; `dispatch` enforces that.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::flags::*;
use super::{conn, error, Ctx, Outcome, Spec, NO_KEYS};
use crate::config::OUTPUT_PUBSUB;
use crate::protocol::Reply;
use crate::pubsub::Subscriber;
use crate::session::Client;
use crate::state::Shared;

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
        "pubsub",
        -2,
        0,
        NO_KEYS,
        conn::container,
        "2.8.0",
        "A container for Pub/Sub commands."
    )
    .with_subcommands(PUBSUB_SUBCOMMANDS),
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
}

/// Channels (SUBSCRIBE) or patterns (PSUBSCRIBE): the same bookkeeping, other names.
#[derive(Clone, Copy)]
enum Kind {
    Channel,
    Pattern,
}

impl Kind {
    fn subscribed(self, client: &mut Client) -> &mut Vec<Bytes> {
        match self {
            Kind::Channel => &mut client.channels,
            Kind::Pattern => &mut client.patterns,
        }
    }

    fn events(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe"),
            Kind::Pattern => ("psubscribe", "punsubscribe"),
        }
    }
}

fn subscribe_to(ctx: &mut Ctx<'_>, names: &[Bytes], kind: Kind) -> Reply {
    let sub = outbox(ctx.shared, ctx.client);
    let mut replies = Vec::new();
    for name in names {
        if !kind.subscribed(ctx.client).contains(name) {
            match kind {
                Kind::Channel => ctx.shared.pubsub.subscribe(name, &sub),
                Kind::Pattern => ctx.shared.pubsub.psubscribe(name, &sub),
            }
            kind.subscribed(ctx.client).push(name.clone());
        }
        let count = ctx.client.subscription_count();
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
        let count = ctx.client.subscription_count();
        return Reply::Many(vec![confirmation(event, None, count)]);
    }
    let mut replies = Vec::new();
    for name in names {
        match kind {
            Kind::Channel => ctx.shared.pubsub.unsubscribe(&name, ctx.client.id),
            Kind::Pattern => ctx.shared.pubsub.punsubscribe(&name, ctx.client.id),
        }
        kind.subscribed(ctx.client).retain(|n| *n != name);
        let count = ctx.client.subscription_count();
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

/// Drops every subscription of a client (disconnect, RESET).
pub fn unsubscribe_all(shared: &Shared, client: &mut Client) {
    shared.diagnostics.monitors.remove(client.id);
    for channel in client.channels.drain(..) {
        shared.pubsub.unsubscribe(&channel, client.id);
    }
    for pattern in client.patterns.drain(..) {
        shared.pubsub.punsubscribe(&pattern, client.id);
    }
    publish_counts(client);
}

fn publish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    Ok(Reply::Integer(
        ctx.shared.pubsub.publish(&args[1], &args[2]) as i64,
    ))
}

fn channels(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() > 3 {
        // Redis declares CHANNELS with arity -2 and refuses extra arguments itself.
        return Err(error::PUBSUB_CHANNELS_ARITY);
    }
    let pattern = args.get(2).map(|p| p.as_ref());
    Ok(Reply::Array(
        ctx.shared
            .pubsub
            .active_channels(pattern)
            .into_iter()
            .map(Reply::Bulk)
            .collect(),
    ))
}

/// Channel, count, channel, count...: a flat array in RESP3 too, as Redis 7 sends it
/// (redis-py parses it as one).
fn numsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut items = Vec::new();
    for channel in &args[2..] {
        let n = ctx.shared.pubsub.subscribers_of(channel);
        items.push(Reply::Bulk(channel.clone()));
        items.push(Reply::Integer(n as i64));
    }
    Ok(Reply::Array(items))
}

fn numpat(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    Ok(Reply::Integer(ctx.shared.pubsub.pattern_count() as i64))
}
