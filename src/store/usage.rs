//! What a key costs in memory, for MEMORY USAGE and MEMORY STATS: every heap block the
//! key, its value and its slot in the database's table hold, each counted at what the
//! system allocator takes for it (`alloc::footprint`, the rule the counting allocator
//! counts `used_memory` by), so the estimates of all keys add up to the dataset's
//! share of `used_memory`.
//!
//! Aggregates (hash fields, set and sorted-set members, list elements) are estimated
//! as Redis does: the first `samples` elements are measured and their average is
//! multiplied by the element count; `samples` 0 measures every element. The tables
//! that hold the elements are counted whole, from their capacity.
//!
//! Not seen from here: a string of 32 KB or more, kept as its own `Bytes`, shares the
//! read buffer it arrived in (counted at its own length), and once handed out (a GET
//! reply) has made `Bytes` allocate its 32-byte sharing header, which stays with it.

use std::mem::size_of;

use bytes::Bytes;

use super::list::ListObj;
use super::stream::{Consumer, Group, Pending, StreamId, StreamObj};
use super::zset::{ZSetObj, ORDER_KEY};
use super::{Db, Entry, HashObj, SetObj, Value};
use crate::alloc::footprint;

/// Redis's default for MEMORY USAGE (OBJ_COMPUTE_SIZE_DEF_SAMPLES).
pub const DEFAULT_SAMPLES: usize = 5;

/// One slot of a database's table: a pointer to the entry's block, which holds the
/// key (and a string value).
pub const SLOT: usize = size_of::<Entry>();

/// Heap bytes of the contents of a `Bytes` stored in the keyspace (stored values own
/// their buffer: `store::own`).
fn bytes_heap(b: &Bytes) -> usize {
    if b.is_empty() {
        0
    } else {
        footprint(b.len())
    }
}

/// Buckets of a hashbrown table (std's HashMap and a database's shards) that reports
/// `capacity`: a power of two, at most 7/8 full once past 8 buckets.
fn buckets_for(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        1..=7 => (capacity + 1).next_power_of_two(),
        _ => (capacity * 8 / 7).next_power_of_two(),
    }
}

/// Heap bytes of a hashbrown table of `buckets` buckets of `slot` bytes: one block of
/// the slots (16-byte aligned), a control byte per bucket and a trailing group of 16.
pub fn table_heap(buckets: usize, slot: usize) -> usize {
    if buckets == 0 {
        0
    } else {
        footprint(((buckets * slot + 15) & !15) + buckets + 16)
    }
}

/// Elements measured of `len`: all for `samples` 0.
fn measured(len: usize, samples: usize) -> usize {
    if samples == 0 {
        len
    } else {
        len.min(samples)
    }
}

/// `len` elements estimated from the heap bytes of the first `samples` of `items`.
fn sampled<I: Iterator<Item = usize>>(items: I, len: usize, samples: usize) -> usize {
    let n = measured(len, samples);
    if n == 0 {
        return 0;
    }
    let total: usize = items.take(n).sum();
    if n == len {
        total
    } else {
        (total as f64 / n as f64 * len as f64) as usize
    }
}

/// B-tree nodes hold 5 to 11 keys (std's B = 6): about 8 on average.
const BTREE_KEYS_PER_NODE: usize = 8;

/// Heap bytes of a `BTreeSet` of `len` elements of `key_size` bytes, estimated from the average fill of
/// its nodes (a leaf: parent pointer, 11 keys, index and length; internal nodes, one in
/// eight, add 12 edges).
fn btree_heap_of(key_size: usize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let leaf = footprint(8 + 11 * key_size + 4);
    let internal = footprint(8 + 11 * key_size + 4 + 12 * 8);
    let leaves = len.div_ceil(BTREE_KEYS_PER_NODE);
    leaves * leaf + leaves.div_ceil(BTREE_KEYS_PER_NODE) * internal
}

impl Value {
    /// Heap bytes this value holds (the entry it sits in is counted by its slot),
    /// aggregates estimated from `samples` elements (0: all).
    pub fn heap_usage(&self, samples: usize) -> usize {
        match self {
            Value::Str(s) => bytes_heap(s),
            Value::Hash(h) => hash_heap(h, samples),
            Value::Set(s) => set_heap(s, samples),
            Value::List(l) => list_heap(l, samples),
            Value::ZSet(z) => zset_heap(z, samples),
            Value::Stream(x) => stream_heap(x, samples),
        }
    }
}

fn hash_heap(h: &HashObj, samples: usize) -> usize {
    let table = table_heap(buckets_for(h.map.capacity()), size_of::<(Bytes, Bytes)>());
    let fields = h.map.iter().map(|(k, v)| bytes_heap(k) + bytes_heap(v));
    footprint(size_of::<HashObj>()) + table + sampled(fields, h.map.len(), samples)
}

fn set_heap(s: &SetObj, samples: usize) -> usize {
    let table = table_heap(buckets_for(s.members.capacity()), size_of::<Bytes>());
    let members = s.members.iter().map(bytes_heap);
    footprint(size_of::<SetObj>()) + table + sampled(members, s.members.len(), samples)
}

fn list_heap(l: &ListObj, samples: usize) -> usize {
    let ring = match l.items.capacity() {
        0 => 0,
        capacity => footprint(capacity * size_of::<Bytes>()),
    };
    let items = l.items.iter().map(bytes_heap);
    footprint(size_of::<ListObj>()) + ring + sampled(items, l.items.len(), samples)
}

fn zset_heap(z: &ZSetObj, samples: usize) -> usize {
    let len = z.len();
    let table = table_heap(buckets_for(z.scores_capacity()), size_of::<(Bytes, f64)>());
    // Each member's buffer is shared by the score table and the order, which makes
    // `Bytes` allocate its small shared header.
    let shared_header = footprint(3 * size_of::<usize>());
    let members = z.pairs().map(|(m, _)| bytes_heap(m) + shared_header);
    footprint(size_of::<ZSetObj>())
        + table
        + btree_heap_of(ORDER_KEY, len)
        + sampled(members, len, samples)
}

/// A stream: its blocks' buffers (Redis's listpacks) and their tree, and each
/// group's pending entries and consumers.
fn stream_heap(x: &StreamObj, samples: usize) -> usize {
    let blocks = sampled(x.block_heap().map(footprint), x.block_count(), samples);
    let groups: usize = x
        .groups
        .iter()
        .map(|(name, g)| {
            let pending = size_of::<(StreamId, Pending)>();
            let consumers: usize = g
                .consumers
                .iter()
                .map(|(c, consumer)| {
                    bytes_heap(c) + btree_heap_of(size_of::<StreamId>(), consumer.pending.len())
                })
                .sum();
            bytes_heap(name)
                + btree_heap_of(pending, g.pending.len())
                + btree_heap_of(size_of::<(Bytes, Consumer)>(), g.consumers.len())
                + consumers
        })
        .sum();
    footprint(size_of::<StreamObj>())
        + blocks
        + btree_heap_of(StreamObj::BLOCK_SLOT, x.block_count())
        + btree_heap_of(size_of::<(Bytes, Group)>(), x.groups.len())
        + groups
}

impl Db {
    /// MEMORY USAGE: the bytes `key` costs, estimated from `samples` elements of an
    /// aggregate (0: all): its key, its value, and its share of its shard's table.
    /// Like Redis, it looks at the key as it is stored, without expiring it or counting
    /// an access. None if there is no such key.
    pub fn memory_usage(&self, key: &[u8], samples: usize) -> Option<usize> {
        let slot = {
            let guard = self.map.read(self.shard_of(key));
            let len = guard.len().max(1);
            table_heap(guard.buckets(), SLOT) / len
        };
        let entry = self.map.get(key)?;
        let object = entry.object_ref().map_or(0, |v| v.heap_usage(samples));
        Some(slot + footprint(entry.block_size()) + object)
    }

    /// Heap bytes of the database's tables (MEMORY STATS `overhead.hashtable.main`):
    /// their slots hold each key's entry, expiry time included.
    pub fn table_usage(&self) -> usize {
        (0..self.map.shard_count())
            .map(|shard| {
                let guard = self.map.read(shard);
                // An empty shard's table is a shared singleton: no block of its own.
                if guard.capacity() == 0 {
                    0
                } else {
                    table_heap(guard.buckets(), SLOT)
                }
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_counts_follow_hashbrown() {
        let mut map: std::collections::HashMap<u64, u64> = Default::default();
        for n in [1usize, 3, 4, 7, 8, 14, 15, 28, 29, 100, 1000] {
            map.clear();
            map.shrink_to_fit();
            map.extend((0..n as u64).map(|i| (i, i)));
            let buckets = buckets_for(map.capacity());
            assert!(buckets.is_power_of_two(), "{n}");
            assert!(buckets > n, "{n} items in {buckets} buckets");
            assert!(buckets <= 2 * (n * 8 / 7 + 1).next_power_of_two(), "{n}");
        }
    }

    #[test]
    fn samples_estimate_the_rest_and_zero_measures_all() {
        let sizes = [10usize, 20, 30, 40];
        assert_eq!(sampled(sizes.iter().copied(), 4, 0), 100);
        assert_eq!(sampled(sizes.iter().copied(), 4, 9), 100);
        assert_eq!(sampled(sizes.iter().copied(), 4, 2), 60);
        assert_eq!(sampled(std::iter::empty(), 0, 5), 0);
    }

    #[test]
    fn a_bigger_value_costs_more() {
        let small = Value::Str(Bytes::from(vec![1u8; 10]));
        let big = Value::Str(Bytes::from(vec![1u8; 1000]));
        assert_eq!(small.heap_usage(5), 32);
        assert_eq!(big.heap_usage(5), 1008);
        let mut h = HashObj::new();
        for i in 0..100 {
            h.map
                .insert(Bytes::from(format!("f{i}")), Bytes::from(vec![0u8; 100]));
        }
        let all = Value::Hash(Box::new(h)).heap_usage(0);
        // 100 fields of two blocks each (32 + 112 bytes), a table of 128 slots.
        assert!(all >= 100 * (32 + 112) + 128 * 64, "{all}");
    }

    #[test]
    fn unused_btree_is_free() {
        assert_eq!(btree_heap_of(ORDER_KEY, 0), 0);
        assert!(btree_heap_of(ORDER_KEY, 100) > 100 * ORDER_KEY);
    }
}
