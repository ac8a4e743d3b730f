//! Streams: entries in blocks, as Redis keeps them in a radix tree of listpacks.
//!
//! A block is keyed by its master id (the id of the first entry added to it) and holds
//! its entries in one byte buffer: the master entry's field names first, then each
//! entry as a flags byte, its id as deltas from the master id, and its values (with its
//! own field names only when they differ from the master's). Deleted entries stay in
//! the buffer, flagged, until their whole block is dropped. Blocks split where Redis's
//! listpacks split (`stream-node-max-entries` 100, `stream-node-max-bytes` 4096 as
//! Redis measures them, `lp_bytes`), so `~` trimming removes the same entries as Redis.
//!
//! Consumer groups keep their pending entries (PEL) in B-trees by id, as Redis's rax.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;

/// Redis's `stream-node-max-entries` and `stream-node-max-bytes` defaults.
pub const NODE_MAX_ENTRIES: u64 = 100;
pub const NODE_MAX_BYTES: u64 = 4096;

const DELETED: u8 = 1;
const SAME_FIELDS: u8 = 2;

/// An entry id: milliseconds and sequence number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        *self == StreamId::MIN
    }

    /// The next id, None past the last one.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous id, None before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    pub fn to_bytes(self) -> Bytes {
        Bytes::from(self.to_string())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One entry as read out: its id and its fields and values, alternating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: StreamId,
    pub fields: Vec<Bytes>,
}

/// Which trimming XADD and XTRIM ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// A block of entries (Redis's listpack node).
#[derive(Debug, Clone)]
struct Block {
    /// Entries not deleted.
    live: u32,
    /// Entries flagged deleted, still in `data`.
    deleted: u32,
    /// The size Redis's listpack for this node would have.
    lp_bytes: u32,
    data: Vec<u8>,
}

/// A pending entry: delivered to `consumer`, not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub consumer: Bytes,
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Consumer {
    /// Unix ms of the last interaction (read, claim, creation).
    pub seen_time: u64,
    /// Unix ms of the last successful read or claim; None if never.
    pub active_time: Option<u64>,
    pub pending: BTreeSet<StreamId>,
}

#[derive(Debug, Clone, Default)]
pub struct Group {
    pub last_id: StreamId,
    /// Entries the group has read (Redis's logical counter); None when unknown.
    pub entries_read: Option<u64>,
    pub pending: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

#[derive(Debug, Clone, Default)]
pub struct StreamObj {
    blocks: BTreeMap<StreamId, Block>,
    length: u64,
    pub last_id: StreamId,
    first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Bytes, Group>,
}

// ---------------------------------------------------------------------------------------
// Byte encoding of a block
// ---------------------------------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(data: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = data[*pos];
        *pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn get_bytes<'a>(data: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = get_varint(data, pos) as usize;
    let s = &data[*pos..*pos + len];
    *pos += len;
    s
}

/// Bytes a listpack element takes: its encoding plus its back length.
fn lp_element(payload: usize) -> u64 {
    let back = match payload {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    };
    (payload + back) as u64
}

fn lp_int(v: i64) -> u64 {
    let enc = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8388608..=8388607 => 4,
        -2147483648..=2147483647 => 5,
        _ => 9,
    };
    lp_element(enc)
}

/// A listpack stores a string that reads as an integer as that integer.
fn lp_string(s: &[u8]) -> u64 {
    if s.len() <= 20 {
        if let Some(n) = crate::protocol::decode::parse_i64(s) {
            return lp_int(n);
        }
    }
    let enc = match s.len() {
        0..=63 => 1 + s.len(),
        64..=4095 => 2 + s.len(),
        _ => 5 + s.len(),
    };
    lp_element(enc)
}

/// An entry's place in its block's buffer.
#[derive(Debug, Clone, Copy)]
struct Slot {
    at: usize,
    flags: u8,
    id: StreamId,
    /// Where its values (or field count) start.
    body: usize,
}

impl Block {
    fn new(fields: &[Bytes]) -> Block {
        let mut data = Vec::new();
        let n = fields.len() / 2;
        put_varint(&mut data, n as u64);
        let mut lp_bytes = 7 + lp_int(0) + lp_int(0) + lp_int(n as i64) + lp_int(0);
        for f in fields.iter().step_by(2) {
            put_bytes(&mut data, f);
            lp_bytes += lp_string(f);
        }
        Block {
            live: 0,
            deleted: 0,
            lp_bytes: lp_bytes.min(u32::MAX as u64) as u32,
            data,
        }
    }

    /// The master entry's field names and where the entries start.
    fn master_fields(&self) -> (Vec<&[u8]>, usize) {
        let mut pos = 0;
        let n = get_varint(&self.data, &mut pos) as usize;
        let fields = (0..n).map(|_| get_bytes(&self.data, &mut pos)).collect();
        (fields, pos)
    }

    fn same_fields(&self, fields: &[Bytes]) -> bool {
        let (master, _) = self.master_fields();
        master.len() * 2 == fields.len()
            && master
                .iter()
                .zip(fields.iter().step_by(2))
                .all(|(m, f)| *m == f.as_ref())
    }

    fn append(&mut self, master: StreamId, id: StreamId, fields: &[Bytes]) {
        let same = self.same_fields(fields);
        let flags = if same { SAME_FIELDS } else { 0 };
        let ms_delta = id.ms - master.ms;
        let seq_delta = id.seq.wrapping_sub(master.seq) as i64;
        self.data.push(flags);
        put_varint(&mut self.data, ms_delta);
        put_varint(
            &mut self.data,
            ((seq_delta << 1) ^ (seq_delta >> 63)) as u64,
        );
        let n = fields.len() / 2;
        let mut lp = lp_int(flags as i64) + lp_int(ms_delta as i64) + lp_int(seq_delta);
        let mut lp_count = n as i64 + 3;
        if same {
            for v in fields.iter().skip(1).step_by(2) {
                put_bytes(&mut self.data, v);
                lp += lp_string(v);
            }
        } else {
            put_varint(&mut self.data, n as u64);
            lp += lp_int(n as i64);
            lp_count += n as i64 + 1;
            for f in fields {
                put_bytes(&mut self.data, f);
                lp += lp_string(f);
            }
        }
        lp += lp_int(lp_count);
        self.lp_bytes = (self.lp_bytes as u64 + lp).min(u32::MAX as u64) as u32;
        self.live += 1;
    }

    /// Every entry in the block, deleted ones included, in id order.
    fn slots(&self, master: StreamId) -> Vec<Slot> {
        let (fields, mut pos) = self.master_fields();
        let master_count = fields.len();
        let mut out = Vec::with_capacity((self.live + self.deleted) as usize);
        while pos < self.data.len() {
            let at = pos;
            let flags = self.data[pos];
            pos += 1;
            let ms = master.ms + get_varint(&self.data, &mut pos);
            let z = get_varint(&self.data, &mut pos);
            let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
            let id = StreamId::new(ms, master.seq.wrapping_add(delta as u64));
            let body = pos;
            let items = if flags & SAME_FIELDS != 0 {
                master_count
            } else {
                2 * get_varint(&self.data, &mut pos) as usize
            };
            for _ in 0..items {
                let len = get_varint(&self.data, &mut pos) as usize;
                pos += len;
            }
            out.push(Slot {
                at,
                flags,
                id,
                body,
            });
        }
        out
    }

    fn read(&self, slot: &Slot) -> StreamEntry {
        let mut pos = slot.body;
        let fields = if slot.flags & SAME_FIELDS != 0 {
            let (master, _) = self.master_fields();
            let mut out = Vec::with_capacity(master.len() * 2);
            for f in master {
                out.push(Bytes::copy_from_slice(f));
                out.push(Bytes::copy_from_slice(get_bytes(&self.data, &mut pos)));
            }
            out
        } else {
            let n = 2 * get_varint(&self.data, &mut pos) as usize;
            (0..n)
                .map(|_| Bytes::copy_from_slice(get_bytes(&self.data, &mut pos)))
                .collect()
        };
        StreamEntry {
            id: slot.id,
            fields,
        }
    }

    fn mark_deleted(&mut self, slot: &Slot) {
        self.data[slot.at] |= DELETED;
        self.live -= 1;
        self.deleted += 1;
    }
}

// ---------------------------------------------------------------------------------------
// Redis's listpack layout of a block (RDB files and DUMP payloads)
// ---------------------------------------------------------------------------------------

/// One element of a block laid out as Redis's listpack node: a master entry (live
/// count, deleted count, field count, the fields, 0), then each entry (flags, ms and
/// seq deltas from the master id, the field count and fields and values, or only the
/// values when flagged as the master's fields, then its element count).
#[derive(Debug, Clone, PartialEq)]
pub enum NodeItem<S> {
    Int(i64),
    Str(S),
}

impl NodeItem<Bytes> {
    fn int(self) -> Result<i64, String> {
        match self {
            NodeItem::Int(n) => Ok(n),
            NodeItem::Str(s) => std::str::from_utf8(&s)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| "a string where a stream node holds a number".to_string()),
        }
    }

    fn bytes(self) -> Bytes {
        match self {
            NodeItem::Int(n) => Bytes::from(n.to_string()),
            NodeItem::Str(s) => s,
        }
    }
}

impl Block {
    /// The block in Redis's listpack layout.
    fn node_items(&self, master: StreamId) -> Vec<NodeItem<&[u8]>> {
        let (fields, _) = self.master_fields();
        let mut out =
            Vec::with_capacity(4 + fields.len() + 6 * (self.live + self.deleted) as usize);
        out.push(NodeItem::Int(self.live as i64));
        out.push(NodeItem::Int(self.deleted as i64));
        out.push(NodeItem::Int(fields.len() as i64));
        out.extend(fields.iter().map(|f| NodeItem::Str(*f)));
        out.push(NodeItem::Int(0));
        for slot in self.slots(master) {
            out.push(NodeItem::Int(slot.flags as i64));
            out.push(NodeItem::Int((slot.id.ms - master.ms) as i64));
            out.push(NodeItem::Int(slot.id.seq.wrapping_sub(master.seq) as i64));
            let mut pos = slot.body;
            let values = if slot.flags & SAME_FIELDS != 0 {
                fields.len()
            } else {
                let n = get_varint(&self.data, &mut pos) as usize;
                out.push(NodeItem::Int(n as i64));
                2 * n
            };
            for _ in 0..values {
                out.push(NodeItem::Str(get_bytes(&self.data, &mut pos)));
            }
            let n = if slot.flags & SAME_FIELDS != 0 {
                values + 3
            } else {
                values + 4
            };
            out.push(NodeItem::Int(n as i64));
        }
        out
    }

    /// A block from Redis's listpack layout of `lp_bytes` bytes; its last entry's id.
    fn from_node(
        master: StreamId,
        items: Vec<NodeItem<Bytes>>,
        lp_bytes: usize,
        after: Option<StreamId>,
    ) -> Result<(Block, StreamId), String> {
        let mut it = items.into_iter();
        let mut next = || {
            it.next()
                .ok_or_else(|| "a stream node ends early".to_string())
        };
        let count =
            |n: i64| u32::try_from(n).map_err(|_| format!("a count of {n} in a stream node"));
        let live = count(next()?.int()?)?;
        let deleted = count(next()?.int()?)?;
        let nfields = count(next()?.int()?)? as usize;
        let mut data = Vec::new();
        put_varint(&mut data, nfields as u64);
        for _ in 0..nfields {
            put_bytes(&mut data, &next()?.bytes());
        }
        if next()?.int()? != 0 {
            return Err("a stream node's master entry does not end in 0".into());
        }
        let mut block = Block {
            live: 0,
            deleted: 0,
            lp_bytes: lp_bytes.min(u32::MAX as usize) as u32,
            data,
        };
        let mut previous = after;
        let mut next = || it.next();
        while let Some(flags) = next() {
            let flags = flags.int()?;
            let number = |item: Option<NodeItem<Bytes>>| {
                item.ok_or_else(|| "a stream entry ends early".to_string())?
                    .int()
            };
            let ms_delta = number(next())?;
            let seq_delta = number(next())?;
            if !(0..=3).contains(&flags) || ms_delta < 0 {
                return Err("a damaged stream entry".into());
            }
            let id = StreamId::new(
                master
                    .ms
                    .checked_add(ms_delta as u64)
                    .ok_or("an entry id past the last")?,
                master.seq.wrapping_add(seq_delta as u64),
            );
            if id < master || previous.is_some_and(|p| id <= p) {
                return Err(format!("stream entry {id} out of order"));
            }
            previous = Some(id);
            block.data.push(flags as u8);
            put_varint(&mut block.data, ms_delta as u64);
            put_varint(
                &mut block.data,
                ((seq_delta << 1) ^ (seq_delta >> 63)) as u64,
            );
            let values = if flags as u8 & SAME_FIELDS != 0 {
                nfields
            } else {
                let n = number(next())?;
                let n = usize::try_from(n).map_err(|_| "a negative field count")?;
                put_varint(&mut block.data, n as u64);
                2 * n
            };
            for _ in 0..values {
                let value = next().ok_or("a stream entry ends early")?.bytes();
                put_bytes(&mut block.data, &value);
            }
            let extra = if flags as u8 & SAME_FIELDS != 0 { 3 } else { 4 };
            if number(next())? != (values + extra) as i64 {
                return Err(format!("stream entry {id} has a wrong element count"));
            }
            if flags as u8 & DELETED != 0 {
                block.deleted += 1;
            } else {
                block.live += 1;
            }
        }
        if block.live != live || block.deleted != deleted {
            return Err("a stream node's counts do not match its entries".into());
        }
        let last = previous.filter(|p| Some(*p) != after);
        Ok((block, last.ok_or("an empty stream node")?))
    }
}

/// What an RDB file records about a stream besides its nodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamCounters {
    pub length: u64,
    pub last_id: StreamId,
    /// None in files before Redis 7 (type 15): then found from the entries.
    pub first_id: Option<StreamId>,
    pub max_deleted_id: StreamId,
    /// None before Redis 7: then the length, as Redis assumes.
    pub entries_added: Option<u64>,
}

impl StreamObj {
    /// Each block as Redis's listpack node, with its master id, in id order.
    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, Vec<NodeItem<&[u8]>>)> + '_ {
        self.blocks
            .iter()
            .map(|(master, block)| (*master, block.node_items(*master)))
    }

    /// Adds a node read from an RDB file, after the ones before it. A node whose
    /// entries are all deleted is dropped, as Redis drops such a node at once.
    pub fn load_node(
        &mut self,
        master: StreamId,
        items: Vec<NodeItem<Bytes>>,
        lp_bytes: usize,
    ) -> Result<(), String> {
        let after = self
            .blocks
            .iter()
            .next_back()
            .and_then(|(m, b)| b.slots(*m).last().map(|s| s.id));
        let (block, _) = Block::from_node(master, items, lp_bytes, after)?;
        self.length += block.live as u64;
        if block.live > 0 {
            self.blocks.insert(master, block);
        }
        Ok(())
    }

    /// Ends loading: the file's counters, checked against the nodes.
    pub fn finish_load(&mut self, counters: StreamCounters) -> Result<(), String> {
        if counters.length != self.length {
            return Err(format!(
                "a stream of length {} holds {} entries",
                counters.length, self.length
            ));
        }
        let last_present = self.last_present_id();
        if last_present > counters.last_id {
            return Err(format!(
                "stream entry {last_present} is past the last id {}",
                counters.last_id
            ));
        }
        self.last_id = counters.last_id;
        self.max_deleted_id = counters.max_deleted_id;
        self.entries_added = counters.entries_added.unwrap_or(self.length);
        match counters.first_id {
            Some(id) => self.first_id = id,
            None => self.refresh_first_id(),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------------

impl StreamObj {
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The id of the first entry (0-0 when empty).
    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    /// Blocks in the tree (XINFO STREAM `radix-tree-keys`).
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// Bytes of one slot of the block tree, for MEMORY USAGE.
    pub(crate) const BLOCK_SLOT: usize = std::mem::size_of::<(StreamId, Block)>();

    /// Bytes held by the blocks' buffers, for MEMORY USAGE.
    pub(crate) fn block_heap(&self) -> impl Iterator<Item = usize> + '_ {
        self.blocks.values().map(|b| b.data.capacity())
    }

    /// Appends an entry with `id`, which the caller checked is above `last_id`.
    pub fn append(&mut self, id: StreamId, fields: &[Bytes]) {
        let element_bytes: u64 = fields.iter().map(|f| f.len() as u64).sum();
        let tail = self.blocks.iter_mut().next_back().filter(|(_, b)| {
            b.lp_bytes as u64 + element_bytes < NODE_MAX_BYTES
                && ((b.live + b.deleted) as u64) < NODE_MAX_ENTRIES
        });
        match tail {
            Some((master, block)) => block.append(*master, id, fields),
            None => {
                let mut block = Block::new(fields);
                block.append(id, id, fields);
                self.blocks.insert(id, block);
            }
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// The block holding `id`, if any: the last one whose master id is not above it.
    fn block_of(&self, id: StreamId) -> Option<(StreamId, &Block)> {
        self.blocks
            .range(..=id)
            .next_back()
            .map(|(master, block)| (*master, block))
    }

    /// Entries from `start` to `end` (inclusive), backwards if `rev`, at most `count`
    /// (0: all).
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
    ) -> Vec<StreamEntry> {
        let mut out = Vec::new();
        if start > end {
            return out;
        }
        let first_block = self.block_of(start).map_or(start, |(m, _)| m);
        let blocks = self.blocks.range(first_block..=end);
        let mut visit = |master: StreamId, block: &Block| -> bool {
            let mut slots = block.slots(master);
            if rev {
                slots.reverse();
            }
            for slot in slots {
                if slot.flags & DELETED != 0 || slot.id < start || slot.id > end {
                    continue;
                }
                out.push(block.read(&slot));
                if count != 0 && out.len() >= count {
                    return false;
                }
            }
            true
        };
        if rev {
            for (master, block) in blocks.rev() {
                if !visit(*master, block) {
                    break;
                }
            }
        } else {
            for (master, block) in blocks {
                if !visit(*master, block) {
                    break;
                }
            }
        }
        out
    }

    /// The entry with `id`, if present.
    pub fn get(&self, id: StreamId) -> Option<StreamEntry> {
        self.range(id, id, false, 1).pop()
    }

    pub fn contains(&self, id: StreamId) -> bool {
        let Some((master, block)) = self.block_of(id) else {
            return false;
        };
        block
            .slots(master)
            .iter()
            .any(|s| s.id == id && s.flags & DELETED == 0)
    }

    pub fn first_entry(&self) -> Option<StreamEntry> {
        self.range(StreamId::MIN, StreamId::MAX, false, 1).pop()
    }

    pub fn last_entry(&self) -> Option<StreamEntry> {
        self.range(StreamId::MIN, StreamId::MAX, true, 1).pop()
    }

    /// Every entry from the first, for a log base.
    pub fn entries(&self) -> Vec<StreamEntry> {
        self.range(StreamId::MIN, StreamId::MAX, false, 0)
    }

    /// The id of the last entry present (0-0 when empty).
    pub fn last_present_id(&self) -> StreamId {
        self.last_entry().map_or(StreamId::MIN, |e| e.id)
    }

    fn refresh_first_id(&mut self) {
        self.first_id = if self.length == 0 {
            StreamId::MIN
        } else {
            self.first_entry().map_or(StreamId::MIN, |e| e.id)
        };
    }

    /// XDEL of one id: whether it was there. Keeps the first id and the largest deleted
    /// id up to date.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((master, _)) = self.block_of(id) else {
            return false;
        };
        let block = self.blocks.get_mut(&master).expect("block of the id");
        let Some(slot) = block
            .slots(master)
            .into_iter()
            .find(|s| s.id == id && s.flags & DELETED == 0)
        else {
            return false;
        };
        block.mark_deleted(&slot);
        if block.live == 0 {
            self.blocks.remove(&master);
        }
        self.length -= 1;
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        if self.length == 0 || id == self.first_id {
            self.refresh_first_id();
        }
        true
    }

    /// Trims from the oldest entries as Redis's `streamTrim`: whole blocks first; with
    /// `approx`, only whole blocks; `limit` (0: none) bounds the entries removed.
    /// Returns how many were removed.
    pub fn trim(&mut self, trim: Trim, approx: bool, limit: u64) -> u64 {
        let mut removed = 0u64;
        loop {
            if let Trim::MaxLen(max) = trim {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, block)) = self.blocks.iter().next() else {
                break;
            };
            let entries = block.live as u64;
            if limit != 0 && removed + entries > limit {
                break;
            }
            let whole = match trim {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => block.slots(master).last().is_some_and(|s| s.id < min),
            };
            if whole {
                self.blocks.remove(&master);
                self.length -= entries;
                removed += entries;
                continue;
            }
            if approx {
                break;
            }
            let block = self.blocks.get_mut(&master).expect("first block");
            for slot in block.slots(master) {
                let stop = match trim {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => slot.id >= min,
                };
                if stop {
                    break;
                }
                if slot.flags & DELETED == 0 {
                    block.mark_deleted(&slot);
                    self.length -= 1;
                    removed += 1;
                }
            }
            break;
        }
        if removed > 0 {
            self.refresh_first_id();
        }
        removed
    }

    // -----------------------------------------------------------------------------------
    // Consumer groups' counters (Redis 7's entries-read and lag)
    // -----------------------------------------------------------------------------------

    /// Whether a deleted entry may lie between `start` and `end`.
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// The logical position of `id` counted from the first entry ever added, when it
    /// can be known (Redis's `streamEstimateDistanceFromFirstEverEntry`).
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        } else if id > self.last_id {
            return None;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.length);
            } else if id == self.first_id {
                return Some(self.entries_added - self.length + 1);
            }
        }
        None
    }

    /// How many entries the group has yet to read, when it can be known (negative when
    /// its counter was set past what was added, as Redis reports it).
    pub fn lag(&self, group: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let lag = |read: u64| self.entries_added as i64 - read as i64;
        if let Some(read) = group.entries_read {
            if !self.range_has_tombstones(group.last_id, StreamId::MAX) {
                return Some(lag(read));
            }
        }
        self.estimate_distance(group.last_id).map(lag)
    }

    /// The group's counter after it was given entry `id` (above its last id).
    pub fn advance_group(&self, group: &mut Group, id: StreamId) {
        match group.entries_read {
            Some(read) if !self.range_has_tombstones(id, StreamId::MAX) => {
                group.entries_read = Some(read + 1)
            }
            _ if self.entries_added > 0 => group.entries_read = self.estimate_distance(id),
            _ => {}
        }
        group.last_id = id;
    }

    // -----------------------------------------------------------------------------------
    // Log base
    // -----------------------------------------------------------------------------------

    /// The records that recreate this stream in a log base: its entries (`XADD` with
    /// their ids), its counters (`XSETID`), then each group, its consumers and its
    /// pending entries (`XGROUP CREATE`, `XGROUP CREATECONSUMER`, `XCLAIM ... FORCE`).
    pub fn base_records(&self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        let entries = self.entries();
        if entries.is_empty() {
            // An empty stream still exists: an entry trimmed away at once creates it.
            emit(&[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
        }
        for entry in &entries {
            let id = entry.id.to_string();
            let mut args: Vec<&[u8]> = vec![b"XADD", key, id.as_bytes()];
            args.extend(entry.fields.iter().map(|f| f.as_ref()));
            emit(&args);
        }
        let last = self.last_id.to_string();
        let added = self.entries_added.to_string();
        let max_deleted = self.max_deleted_id.to_string();
        emit(&[
            b"XSETID",
            key,
            last.as_bytes(),
            b"ENTRIESADDED",
            added.as_bytes(),
            b"MAXDELETEDID",
            max_deleted.as_bytes(),
        ]);
        for (name, group) in &self.groups {
            let last = group.last_id.to_string();
            let read = group
                .entries_read
                .map_or_else(|| "-1".to_string(), |n| n.to_string());
            emit(&[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                last.as_bytes(),
                b"ENTRIESREAD",
                read.as_bytes(),
            ]);
            for consumer in group.consumers.keys() {
                emit(&[b"XGROUP", b"CREATECONSUMER", key, name, consumer]);
            }
            for (id, pending) in &group.pending {
                let id = id.to_string();
                let time = pending.delivery_time.to_string();
                let count = pending.delivery_count.to_string();
                emit(&[
                    b"XCLAIM",
                    key,
                    name,
                    &pending.consumer,
                    b"0",
                    id.as_bytes(),
                    b"TIME",
                    time.as_bytes(),
                    b"RETRYCOUNT",
                    count.as_bytes(),
                    b"FORCE",
                    b"JUSTID",
                    b"LASTID",
                    last.as_bytes(),
                ]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[&str]) -> Vec<Bytes> {
        pairs.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    #[test]
    fn entries_read_back_with_their_fields_and_ids() {
        let mut s = StreamObj::default();
        s.append(StreamId::new(5, 0), &fields(&["a", "1", "b", "2"]));
        s.append(StreamId::new(5, 1), &fields(&["a", "3", "b", "4"]));
        s.append(StreamId::new(7, 0), &fields(&["c", "5"]));
        s.append(StreamId::new(7, u64::MAX), &fields(&["a", "6", "b", "7"]));
        let all = s.entries();
        assert_eq!(all.len(), 4);
        assert_eq!(all[1].fields, fields(&["a", "3", "b", "4"]));
        assert_eq!(all[2].fields, fields(&["c", "5"]));
        assert_eq!(all[3].id, StreamId::new(7, u64::MAX));
        let rev = s.range(StreamId::MIN, StreamId::MAX, true, 2);
        assert_eq!(rev[0].id, StreamId::new(7, u64::MAX));
        assert_eq!(rev[1].id, StreamId::new(7, 0));
    }

    #[test]
    fn blocks_split_at_one_hundred_entries() {
        let mut s = StreamObj::default();
        for i in 1..=250 {
            s.append(StreamId::new(i, 0), &fields(&["f", "v"]));
        }
        assert_eq!(s.block_count(), 3);
        assert_eq!(s.trim(Trim::MaxLen(120), true, 0), 100);
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!(s.first_id(), StreamId::new(131, 0));
        assert!(s.delete(StreamId::new(131, 0)));
        assert!(!s.delete(StreamId::new(131, 0)));
        assert_eq!(s.first_id(), StreamId::new(132, 0));
        assert_eq!(s.len(), 119);
    }
}
