//! A point-in-time snapshot of the keyspace as the commands that recreate it: what a
//! log rewrite writes as its base and a full sync sends to a replica.
//!
//! The snapshot must have been begun (`Keyspace::begin_snapshot`) at the point it
//! stands for; it is then walked shard by shard, holding the gate shared only per
//! shard, so writers go on meanwhile (the snapshot's pre-images keep what they change).

use std::io;

use bytes::Bytes;

use super::{Keyspace, Value, View};
use crate::clock;

/// Values with more members than this are written as several commands.
const MEMBERS_PER_COMMAND: usize = 64;

/// Where a snapshot's commands go. A sink with a form of its own for a database switch
/// or a string (a base of key records) overrides `select` and `string`.
pub trait DumpSink {
    fn command(&mut self, args: &[&[u8]]);
    /// The following keys are in database `db`, which held about `keys` keys when the
    /// snapshot began (0 for the final switch).
    fn select(&mut self, db: usize, keys: usize) {
        let _ = keys;
        self.command(&[b"SELECT", db.to_string().as_bytes()]);
    }
    /// A string key.
    fn string(&mut self, key: &[u8], value: &[u8], expire_at: Option<u64>) {
        match expire_at {
            Some(t) => self.command(&[b"SET", key, value, b"PXAT", t.to_string().as_bytes()]),
            None => self.command(&[b"SET", key, value]),
        }
    }
    /// Called between shards, with no gate held: a place to flush what was emitted.
    fn shard_done(&mut self) -> io::Result<()>;
}

impl Keyspace {
    /// Emits the snapshot begun earlier as commands (`SELECT` before each database's
    /// first key, one `SET` or several `HSET`/`SADD`/`RPUSH`/`ZADD`/`XADD` (and a stream's `XSETID`,
    /// `XGROUP`, `XCLAIM`) per key, then its
    /// expiry). The last command selects `final_db`, the database the stream after the
    /// snapshot continues in, so snapshot + stream replay as they ran.
    pub fn dump_snapshot(
        &self,
        final_db: Option<usize>,
        sink: &mut dyn DumpSink,
    ) -> io::Result<()> {
        for db in 0..self.databases() {
            let mut selected = false;
            let keys = self.db(db).len();
            let mut write_entry =
                |sink: &mut dyn DumpSink, key: &[u8], value: View<'_>, at: Option<u64>| {
                    if !selected {
                        selected = true;
                        sink.select(db, keys);
                    }
                    match value {
                        View::Str(s) => sink.string(key, s, at),
                        View::Object(Value::Str(s)) => sink.string(key, s, at),
                        View::Object(value) => {
                            entry_commands(key, value, at, &mut |args| sink.command(args))
                        }
                    }
                };
            let now = clock::now_ms();
            for shard in 0..self.db(db).shard_count() {
                {
                    let _gate = self.read_gate();
                    self.snapshot_shard_view(db, shard, now, |k, v, e| write_entry(sink, k, v, e));
                }
                sink.shard_done()?;
            }
            let preimages = {
                let _gate = self.read_gate();
                self.snapshot_preimages(db)
            };
            for (key, image) in preimages {
                if let Some((value, expire_at)) = image {
                    if expire_at.is_none_or(|t| t >= now) {
                        write_entry(sink, &key, View::Object(&value), expire_at);
                    }
                }
            }
        }
        if let Some(db) = final_db {
            sink.select(db, 0);
        }
        Ok(())
    }
}

/// The commands that recreate one key (also how a redis-server primary's RDB transfer
/// becomes records).
pub fn entry_commands(
    key: &[u8],
    value: &Value,
    expire_at: Option<u64>,
    emit: &mut dyn FnMut(&[&[u8]]),
) {
    let at = expire_at.map(|t| t.to_string());
    match value {
        Value::Str(s) => match &at {
            Some(t) => emit(&[b"SET", key, s, b"PXAT", t.as_bytes()]),
            None => emit(&[b"SET", key, s]),
        },
        Value::Hash(h) => {
            let pairs: Vec<(&Bytes, &Bytes)> = h.map.iter().collect();
            for chunk in pairs.chunks(MEMBERS_PER_COMMAND) {
                let mut args: Vec<&[u8]> = vec![b"HSET", key];
                for (f, v) in chunk {
                    args.push(f);
                    args.push(v);
                }
                emit(&args);
            }
        }
        Value::Set(s) => {
            let members: Vec<&Bytes> = s.members.iter().collect();
            for chunk in members.chunks(MEMBERS_PER_COMMAND) {
                let mut args: Vec<&[u8]> = vec![b"SADD", key];
                args.extend(chunk.iter().map(|m| m.as_ref()));
                emit(&args);
            }
        }
        Value::List(l) => l.base_records(key, emit),
        Value::ZSet(z) => z.base_records(key, emit),
        Value::Stream(x) => x.base_records(key, emit),
    }
    if let (
        Some(t),
        Value::Hash(_) | Value::Set(_) | Value::List(_) | Value::ZSet(_) | Value::Stream(_),
    ) = (&at, value)
    {
        emit(&[b"PEXPIREAT", key, t.as_bytes()]);
    }
}
