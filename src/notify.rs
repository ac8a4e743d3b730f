//! Keyspace notifications: after a command changes a key, a message on
//! `__keyspace@<db>__:<key>` (the event name) and/or `__keyevent@<db>__:<event>` (the key),
//! for the event classes `notify-keyspace-events` enables.

/// Event classes, as the letters of `notify-keyspace-events`.
pub const GENERIC: u16 = 1 << 0; // g
pub const STRING: u16 = 1 << 1; // $
pub const LIST: u16 = 1 << 2; // l
pub const SET: u16 = 1 << 3; // s
pub const HASH: u16 = 1 << 4; // h
pub const ZSET: u16 = 1 << 5; // z
pub const EXPIRED: u16 = 1 << 6; // x
pub const EVICTED: u16 = 1 << 7; // e
pub const STREAM: u16 = 1 << 8; // t
pub const KEY_MISS: u16 = 1 << 9; // m
pub const MODULE: u16 = 1 << 10; // d
pub const NEW: u16 = 1 << 11; // n
/// Deliver on `__keyspace@..`.
pub const KEYSPACE: u16 = 1 << 12; // K
/// Deliver on `__keyevent@..`.
pub const KEYEVENT: u16 = 1 << 13; // E

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::pubsub::Hub;

/// The classes `A` stands for.
const ALL: u16 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The flags of a `notify-keyspace-events` value (validated by the config).
fn parse(text: &str) -> u16 {
    text.chars().fold(0, |flags, c| {
        flags
            | match c {
                'A' => ALL,
                'g' => GENERIC,
                '$' => STRING,
                'l' => LIST,
                's' => SET,
                'h' => HASH,
                'z' => ZSET,
                'x' => EXPIRED,
                'e' => EVICTED,
                't' => STREAM,
                'm' => KEY_MISS,
                'd' => MODULE,
                'n' => NEW,
                'K' => KEYSPACE,
                'E' => KEYEVENT,
                _ => 0,
            }
    })
}

/// Publishes keyspace notifications on the pub/sub hub for the classes enabled.
pub struct Notifier {
    /// `notify-keyspace-events` as flags (0: off, the common case).
    flags: AtomicU16,
    hub: Arc<Hub>,
}

impl Notifier {
    pub fn new(hub: Arc<Hub>, events: &str) -> Notifier {
        Notifier {
            flags: AtomicU16::new(parse(events)),
            hub,
        }
    }

    /// CONFIG SET notify-keyspace-events.
    pub fn set_events(&self, events: &str) {
        self.flags.store(parse(events), Ordering::Relaxed);
    }

    /// Publishes the notifications for one event, if its class is enabled.
    pub fn emit(&self, class: u16, event: &str, db: usize, key: &[u8]) {
        let flags = self.flags.load(Ordering::Relaxed);
        if flags & class == 0 {
            return;
        }
        if flags & KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            self.hub.publish(
                &Bytes::from(channel),
                &Bytes::copy_from_slice(event.as_bytes()),
            );
        }
        if flags & KEYEVENT != 0 {
            let channel = Bytes::from(format!("__keyevent@{db}__:{event}"));
            self.hub.publish(&channel, &Bytes::copy_from_slice(key));
        }
    }
}
