//! The value types a key can hold, and the encoding names OBJECT ENCODING reports.
//!
//! Roost keeps one in-memory representation per type; the `compact` flags only track
//! which encoding Redis would be using, since clients and tests look at OBJECT ENCODING
//! and Redis never converts back to the compact form once it has grown out of it.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

/// Redis's `hash-max-listpack-entries` / `-value` defaults: redis-server's built-in
/// values (its sample redis.conf lowers the entries to 128).
pub const HASH_MAX_LISTPACK_ENTRIES: usize = 512;
pub const HASH_MAX_LISTPACK_VALUE: usize = 64;
/// Redis's `set-max-intset-entries` default.
pub const SET_MAX_INTSET_ENTRIES: usize = 512;

#[derive(Debug, Clone)]
pub enum Value {
    Str(Bytes),
    Hash(Box<HashObj>),
    Set(Box<SetObj>),
    List(Box<super::list::ListObj>),
    ZSet(Box<super::zset::ZSetObj>),
    Stream(Box<super::stream::StreamObj>),
}

#[derive(Debug, Clone, Default)]
pub struct HashObj {
    pub map: HashMap<Bytes, Bytes>,
    /// Still what Redis would hold as a listpack.
    pub compact: bool,
}

#[derive(Debug, Clone, Default)]
pub struct SetObj {
    pub members: HashSet<Bytes>,
    /// Still what Redis would hold as an intset.
    pub compact: bool,
}

impl HashObj {
    pub fn new() -> HashObj {
        HashObj {
            map: HashMap::new(),
            compact: true,
        }
    }

    /// Call after every change: once too big for a listpack, always a hashtable.
    pub fn update_encoding(&mut self) {
        self.compact = self.compact
            && self.map.len() <= HASH_MAX_LISTPACK_ENTRIES
            && self.map.iter().all(|(k, v)| {
                k.len() <= HASH_MAX_LISTPACK_VALUE && v.len() <= HASH_MAX_LISTPACK_VALUE
            });
    }
}

impl SetObj {
    pub fn new() -> SetObj {
        SetObj {
            members: HashSet::new(),
            compact: true,
        }
    }

    /// Call after every change: an intset holds only integers, at most 512 of them.
    pub fn update_encoding(&mut self) {
        self.compact = self.compact
            && self.members.len() <= SET_MAX_INTSET_ENTRIES
            && self
                .members
                .iter()
                .all(|m| crate::protocol::decode::parse_i64(m).is_some());
    }
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::List(_) => "list",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => string_encoding(s),
            Value::Hash(h) if h.compact => "listpack",
            Value::Hash(_) => "hashtable",
            Value::Set(s) if s.compact => "intset",
            Value::Set(_) => "hashtable",
            Value::List(l) => l.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }
}

/// The encoding Redis reports for a string with these contents.
pub fn string_encoding(s: &[u8]) -> &'static str {
    if s.len() <= 20 && crate::protocol::decode::parse_i64(s).is_some() {
        "int"
    } else if s.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}
