//! What ACL rules need to know about commands, handed down by the command table (which
//! sits above this layer): each command's full name, its container, its ACL categories,
//! where its keys are (with read/write access) and which arguments are channels.

use std::collections::HashMap;

use bytes::Bytes;

/// Redis's ACL categories, in Redis's order (ACL CAT); bit `i` of a mask is `NAMES[i]`.
pub mod category {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const READ: u32 = 1 << 1;
    pub const WRITE: u32 = 1 << 2;
    pub const SET: u32 = 1 << 3;
    pub const SORTEDSET: u32 = 1 << 4;
    pub const LIST: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const STRING: u32 = 1 << 7;
    pub const BITMAP: u32 = 1 << 8;
    pub const HYPERLOGLOG: u32 = 1 << 9;
    pub const GEO: u32 = 1 << 10;
    pub const STREAM: u32 = 1 << 11;
    pub const PUBSUB: u32 = 1 << 12;
    pub const ADMIN: u32 = 1 << 13;
    pub const FAST: u32 = 1 << 14;
    pub const SLOW: u32 = 1 << 15;
    pub const BLOCKING: u32 = 1 << 16;
    pub const DANGEROUS: u32 = 1 << 17;
    pub const CONNECTION: u32 = 1 << 18;
    pub const TRANSACTION: u32 = 1 << 19;
    pub const SCRIPTING: u32 = 1 << 20;

    pub const NAMES: [&str; 21] = [
        "keyspace",
        "read",
        "write",
        "set",
        "sortedset",
        "list",
        "hash",
        "string",
        "bitmap",
        "hyperloglog",
        "geo",
        "stream",
        "pubsub",
        "admin",
        "fast",
        "slow",
        "blocking",
        "dangerous",
        "connection",
        "transaction",
        "scripting",
    ];

    /// The mask of a category name (case-insensitive), as in `+@read`.
    pub fn by_name(name: &str) -> Option<u32> {
        NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| 1 << i)
    }

    /// The category names of a mask, as COMMAND INFO lists them (`@read`, ...).
    pub fn names(mask: u32) -> impl Iterator<Item = &'static str> {
        NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| mask & (1 << i) != 0)
            .map(|(_, n)| *n)
    }
}

/// A key is read (its value is returned or used).
pub const KEY_READ: u8 = 1;
/// A key is written (inserted, updated or deleted).
pub const KEY_WRITE: u8 = 2;

/// A run of key arguments: from `index`, to `lastkey` (relative to `index`; negative
/// counts from the end of the request, -1 being its last argument) by `step`.
#[derive(Debug, Clone, Copy)]
pub struct KeyRange {
    pub index: usize,
    pub lastkey: i64,
    pub step: usize,
    /// `KEY_READ` and/or `KEY_WRITE`; 0 when only the key's existence or metadata is
    /// looked at (any pattern that matches allows it, as in Redis).
    pub access: u8,
    /// Redis's `variable_flags` (SET): the key is read only when a `GET` argument
    /// follows it, and otherwise only written.
    pub read_only_with_get: bool,
}

/// Which arguments of a pub/sub command are channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channels {
    #[default]
    None,
    /// The first argument (PUBLISH).
    First,
    /// Every argument (SUBSCRIBE).
    All,
    /// Every argument, as patterns (PSUBSCRIBE): a pattern must be allowed literally.
    Patterns,
}

/// Finds the keys of a command whose key positions depend on its arguments.
pub type FindKeys = fn(&[Bytes]) -> Option<Vec<usize>>;

/// One command or subcommand, as the table describes it to ACLs.
pub struct Entry {
    /// `get`, or `config|get`.
    pub full_name: String,
    pub parent: Option<u16>,
    pub categories: u32,
    /// AUTH, HELLO, ...: every user may run it, as Redis exempts `no_auth` commands.
    pub exempt: bool,
    pub keys: Vec<KeyRange>,
    /// Where a movable-keys command's keys are; their access is the union of `keys`'.
    pub find_keys: Option<FindKeys>,
    pub channels: Channels,
}

/// What a restricted user's check of a command looks at, decided once per entry and kept
/// apart from the entry so that the check every request pays reads one small record and,
/// for the usual one-key command, compares one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckPlan {
    pub exempt: bool,
    pub has_channels: bool,
    pub keys: KeyShape,
}

/// Where a command's keys are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyShape {
    None,
    /// The key is the argument at `pos` (when the request is that long).
    One {
        pos: usize,
        access: u8,
        read_only_with_get: bool,
    },
    /// Several ranges, a step, or positions that depend on the arguments.
    General,
}

/// Every command and subcommand, by the command table's ids.
pub struct Catalog {
    entries: Vec<Entry>,
    plans: Vec<CheckPlan>,
    by_name: HashMap<String, u16>,
    children: Vec<Vec<u16>>,
}

impl Catalog {
    pub fn new(entries: Vec<Entry>) -> Catalog {
        let mut by_name = HashMap::new();
        let mut children = vec![Vec::new(); entries.len()];
        for (id, entry) in entries.iter().enumerate() {
            by_name.insert(entry.full_name.clone(), id as u16);
            if let Some(parent) = entry.parent {
                children[parent as usize].push(id as u16);
            }
        }
        let plans = entries
            .iter()
            .map(|entry| CheckPlan {
                exempt: entry.exempt,
                has_channels: entry.channels != Channels::None,
                keys: key_shape(entry),
            })
            .collect();
        Catalog {
            entries,
            plans,
            by_name,
            children,
        }
    }

    #[inline]
    pub fn plan(&self, id: u16) -> CheckPlan {
        self.plans[id as usize]
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    pub fn entry(&self, id: u16) -> &Entry {
        &self.entries[id as usize]
    }

    /// A command or `container|sub` by name, case-insensitively.
    pub fn lookup(&self, name: &str) -> Option<u16> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    pub fn children(&self, id: u16) -> &[u16] {
        &self.children[id as usize]
    }

    /// Every command and subcommand in `category`, in table order (ACL CAT).
    pub fn in_category(&self, mask: u32) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(move |e| e.categories & mask != 0)
            .map(|e| e.full_name.as_str())
    }

    /// Calls `f` with the position of each of a request's keys and the access it needs.
    /// Stops at `f`'s first error; allocates nothing, as it runs for every request of a
    /// restricted user.
    pub fn try_each_key<E>(
        &self,
        id: u16,
        args: &[Bytes],
        mut f: impl FnMut(usize, u8) -> Result<(), E>,
    ) -> Result<(), E> {
        let entry = self.entry(id);
        let argc = args.len();
        if let Some(find_keys) = entry.find_keys {
            let access = entry.keys.iter().fold(0, |a, k| a | k.access);
            for pos in find_keys(args).unwrap_or_default() {
                f(pos, access)?;
            }
            return Ok(());
        }
        for range in &entry.keys {
            if range.index >= argc {
                continue;
            }
            let last = if range.lastkey < 0 {
                argc as i64 + range.lastkey
            } else {
                (range.index as i64 + range.lastkey).min(argc as i64 - 1)
            };
            let access = access_of(range.access, range.read_only_with_get, range.index, args);
            let mut pos = range.index as i64;
            while pos <= last {
                f(pos as usize, access)?;
                pos += range.step.max(1) as i64;
            }
        }
        Ok(())
    }

    /// The positions of a request's channels, and whether they are patterns.
    pub fn channels_of(&self, id: u16, args: &[Bytes]) -> Vec<(usize, bool)> {
        match self.entry(id).channels {
            Channels::None => Vec::new(),
            Channels::First => (args.len() > 1).then_some((1, false)).into_iter().collect(),
            Channels::All => (1..args.len()).map(|i| (i, false)).collect(),
            Channels::Patterns => (1..args.len()).map(|i| (i, true)).collect(),
        }
    }
}

fn key_shape(entry: &Entry) -> KeyShape {
    match (entry.find_keys, entry.keys.as_slice()) {
        (None, []) => KeyShape::None,
        (None, [range]) if range.lastkey == 0 => KeyShape::One {
            pos: range.index,
            access: range.access,
            read_only_with_get: range.read_only_with_get,
        },
        _ => KeyShape::General,
    }
}

/// The access a key at `pos` needs: SET's key is read only when a `GET` argument follows.
#[inline(always)]
pub fn access_of(access: u8, read_only_with_get: bool, pos: usize, args: &[Bytes]) -> u8 {
    if read_only_with_get
        && !args[pos + 1..]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(b"get"))
    {
        access & !KEY_READ
    } else {
        access
    }
}
