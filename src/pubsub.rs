//! Pub/sub delivery: who listens to which channel or pattern, and each listener's
//! outbox.
//!
//! PUBLISH runs on the publisher's connection; it encodes the message once per
//! receiving protocol into each subscriber's outbox and wakes that subscriber's
//! connection, which writes the outbox after its own replies. While it writes, the
//! connection drains the outbox into its own output and holds it to the whole
//! `client-output-buffer-limit pubsub` (hard, soft and seconds); an outbox that passes
//! the hard limit by itself (its connection busy elsewhere) marks its client for
//! closing too, so a slow subscriber cannot grow the server's memory without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use crate::kill::KillSwitch;
use crate::protocol::Reply;
use crate::sync::{Recover, RecoverRw};

/// One subscribed connection's end of the hub.
pub struct Subscriber {
    pub client_id: u64,
    /// The connection's, flipped when the outbox passes its limit.
    kill_switch: Arc<KillSwitch>,
    outbox: Mutex<BytesMut>,
    pub ready: Notify,
    /// RESP version the messages are encoded for.
    pub proto: AtomicU8,
    pub overflowed: AtomicBool,
    /// Hard limit in bytes (0 = none).
    pub limit: AtomicU64,
}

impl Subscriber {
    pub fn new(
        client_id: u64,
        kill_switch: Arc<KillSwitch>,
        proto: u8,
        limit: u64,
    ) -> Arc<Subscriber> {
        Arc::new(Subscriber {
            client_id,
            kill_switch,
            outbox: Mutex::new(BytesMut::new()),
            ready: Notify::new(),
            proto: AtomicU8::new(proto),
            overflowed: AtomicBool::new(false),
            limit: AtomicU64::new(limit),
        })
    }

    /// Queues one message for the connection (and wakes it).
    pub fn push(&self, message: &Reply) {
        if self.overflowed.load(Ordering::Relaxed) {
            return;
        }
        let mut outbox = self.outbox.locked();
        message.encode(self.proto.load(Ordering::Relaxed), &mut outbox);
        let limit = self.limit.load(Ordering::Relaxed);
        if limit > 0 && outbox.len() as u64 > limit {
            self.overflowed.store(true, Ordering::Release);
            outbox.clear();
            // Its connection may be stuck writing to a reader that never reads.
            self.kill_switch.kill();
        }
        drop(outbox);
        self.ready.notify_one();
    }

    /// Moves everything waiting into `out`.
    pub fn drain_into(&self, out: &mut BytesMut) {
        let mut outbox = self.outbox.locked();
        out.extend_from_slice(&outbox);
        outbox.clear();
    }
}

/// The first argument of a control record by which a primary passes a published message
/// on to its replicas: the command that published it (PUBLISH or SPUBLISH), as Redis
/// propagates them; channel and message follow.
pub const REPLICATED_PUBLISH: &[u8] = b"PUBLISH";
pub const REPLICATED_SPUBLISH: &[u8] = b"SPUBLISH";

/// Subscribers by channel name.
type ChannelMap = RwLock<HashMap<Bytes, Vec<Arc<Subscriber>>>>;

/// Shard channels (SSUBSCRIBE, SPUBLISH) are a namespace of their own, as in Redis: a
/// shard channel and a channel of the same name do not hear each other, and patterns
/// never match shard channels. A standalone server is one shard holding every slot.
#[derive(Default)]
pub struct Hub {
    channels: ChannelMap,
    patterns: RwLock<Vec<(Bytes, Arc<Subscriber>)>>,
    shard_channels: ChannelMap,
}

fn add_to(map: &ChannelMap, channel: &Bytes, subscriber: &Arc<Subscriber>) {
    let mut channels = map.writing();
    let list = channels.entry(channel.clone()).or_default();
    if !list.iter().any(|s| s.client_id == subscriber.client_id) {
        list.push(subscriber.clone());
    }
}

fn remove_from(map: &ChannelMap, channel: &[u8], client_id: u64) {
    let mut channels = map.writing();
    if let Some(list) = channels.get_mut(channel) {
        list.retain(|s| s.client_id != client_id);
        if list.is_empty() {
            channels.remove(channel);
        }
    }
}

fn names_in(map: &ChannelMap, pattern: Option<&[u8]>) -> Vec<Bytes> {
    map.reading()
        .keys()
        .filter(|c| pattern.is_none_or(|p| crate::glob::matches(p, c, false)))
        .cloned()
        .collect()
}

fn count_in(map: &ChannelMap, channel: &[u8]) -> usize {
    map.reading().get(channel).map_or(0, Vec::len)
}

impl Hub {
    pub fn subscribe(&self, channel: &Bytes, subscriber: &Arc<Subscriber>) {
        add_to(&self.channels, channel, subscriber);
    }

    pub fn unsubscribe(&self, channel: &[u8], client_id: u64) {
        remove_from(&self.channels, channel, client_id);
    }

    pub fn ssubscribe(&self, channel: &Bytes, subscriber: &Arc<Subscriber>) {
        add_to(&self.shard_channels, channel, subscriber);
    }

    pub fn sunsubscribe(&self, channel: &[u8], client_id: u64) {
        remove_from(&self.shard_channels, channel, client_id);
    }

    /// Delivers `message` on shard channel `channel` as `smessage`; returns how many
    /// subscribers received it.
    pub fn spublish(&self, channel: &Bytes, message: &Bytes) -> usize {
        let channels = self.shard_channels.reading();
        let Some(list) = channels.get(channel) else {
            return 0;
        };
        let push = Reply::Push(vec![
            Reply::bulk_str("smessage"),
            Reply::Bulk(channel.clone()),
            Reply::Bulk(message.clone()),
        ]);
        for subscriber in list {
            subscriber.push(&push);
        }
        list.len()
    }

    /// Shard channels with at least one subscriber, optionally matching a glob pattern.
    pub fn active_shard_channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        names_in(&self.shard_channels, pattern)
    }

    pub fn shard_subscribers_of(&self, channel: &[u8]) -> usize {
        count_in(&self.shard_channels, channel)
    }

    pub fn psubscribe(&self, pattern: &Bytes, subscriber: &Arc<Subscriber>) {
        let mut patterns = self.patterns.writing();
        if !patterns
            .iter()
            .any(|(p, s)| p == pattern && s.client_id == subscriber.client_id)
        {
            patterns.push((pattern.clone(), subscriber.clone()));
        }
    }

    pub fn punsubscribe(&self, pattern: &[u8], client_id: u64) {
        self.patterns
            .writing()
            .retain(|(p, s)| !(p == pattern && s.client_id == client_id));
    }

    /// Delivers `message` on `channel`; returns how many subscriptions received it.
    pub fn publish(&self, channel: &Bytes, message: &Bytes) -> usize {
        let mut receivers = 0;
        {
            let channels = self.channels.reading();
            if let Some(list) = channels.get(channel) {
                let push = Reply::Push(vec![
                    Reply::bulk_str("message"),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ]);
                for subscriber in list {
                    subscriber.push(&push);
                    receivers += 1;
                }
            }
        }
        let patterns = self.patterns.reading();
        for (pattern, subscriber) in patterns.iter() {
            if crate::glob::matches(pattern, channel, false) {
                subscriber.push(&Reply::Push(vec![
                    Reply::bulk_str("pmessage"),
                    Reply::Bulk(pattern.clone()),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ]));
                receivers += 1;
            }
        }
        receivers
    }

    /// Delivers a message a primary passed on (`REPLICATED_PUBLISH` or
    /// `REPLICATED_SPUBLISH`, channel, message); false if `args` is no such message.
    pub fn deliver_replicated(&self, args: &[Bytes]) -> bool {
        let [kind, channel, message] = args else {
            return false;
        };
        if kind.as_ref() == REPLICATED_PUBLISH {
            self.publish(channel, message);
        } else if kind.as_ref() == REPLICATED_SPUBLISH {
            self.spublish(channel, message);
        } else {
            return false;
        }
        true
    }

    /// Sends `message` to client `client_id` if it is subscribed to `channel` (client
    /// tracking's REDIRECT to a `__redis__:invalidate` subscriber).
    pub fn deliver_to(&self, channel: &[u8], client_id: u64, message: &Reply) {
        let channels = self.channels.reading();
        if let Some(subscriber) = channels
            .get(channel)
            .and_then(|list| list.iter().find(|s| s.client_id == client_id))
        {
            subscriber.push(message);
        }
    }

    /// Channels with at least one subscriber, optionally matching a glob pattern.
    pub fn active_channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        names_in(&self.channels, pattern)
    }

    /// The channels (shard channels included) and the patterns one client is
    /// subscribed to.
    pub fn subscriptions_of(&self, client_id: u64) -> (Vec<Bytes>, Vec<Bytes>) {
        let mut channels = Vec::new();
        for map in [&self.channels, &self.shard_channels] {
            channels.extend(
                map.reading()
                    .iter()
                    .filter(|(_, subs)| subs.iter().any(|s| s.client_id == client_id))
                    .map(|(channel, _)| channel.clone()),
            );
        }
        let patterns = self
            .patterns
            .reading()
            .iter()
            .filter(|(_, s)| s.client_id == client_id)
            .map(|(pattern, _)| pattern.clone())
            .collect();
        (channels, patterns)
    }

    pub fn subscribers_of(&self, channel: &[u8]) -> usize {
        count_in(&self.channels, channel)
    }

    /// Pattern subscriptions across all clients (PUBSUB NUMPAT counts unique patterns).
    pub fn pattern_count(&self) -> usize {
        let patterns = self.patterns.reading();
        let mut unique: Vec<&Bytes> = patterns.iter().map(|(p, _)| p).collect();
        unique.sort();
        unique.dedup();
        unique.len()
    }
}
