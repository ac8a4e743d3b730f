//! Log rewrite: replace the log with one record per live key, from a point-in-time view
//! of the keyspace, while clients keep writing.
//!
//! Under the exclusive gate (an instant) the journal is told to start a new segment at
//! LSN N and a snapshot of the keyspace as of N begins. The base is then written shard
//! by shard, holding the gate shared only per shard. Writes made meanwhile go to the
//! new segment, so base + segments from N is the whole history. The base is fsynced,
//! renamed into place and the directory fsynced before the old segments are removed.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Shared;
use crate::aof::{self, record};
use crate::journal::Mark;
use crate::store::Value;
use crate::{clock, log};

/// Values with more members than this are written as several records.
const MEMBERS_PER_RECORD: usize = 64;

/// Starts a rewrite on its own thread unless one is running; false if one was.
pub fn start_background(shared: &std::sync::Arc<Shared>) -> bool {
    if shared.aof.rewrites.in_progress.swap(true, Ordering::AcqRel) {
        return false;
    }
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("roost-rewrite".into())
        .spawn(move || {
            let _ = run(&shared);
        })
        .is_ok()
}

/// Runs a rewrite now (SAVE); the caller has set `in_progress`.
pub fn run(shared: &Shared) -> Result<(), String> {
    let started = Instant::now();
    let status = &shared.aof.rewrites;
    let result = rewrite(shared);
    status
        .last_seconds
        .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
    match &result {
        Ok(size) => {
            status.count.fetch_add(1, Ordering::Relaxed);
            status.last_failed.store(false, Ordering::Relaxed);
            status
                .last_success
                .store(clock::now_ms() / 1000, Ordering::Relaxed);
            log::notice(&format!(
                "Background AOF rewrite finished successfully: base of {size} bytes in {:.3} seconds",
                started.elapsed().as_secs_f64()
            ));
        }
        Err(e) => {
            status.last_failed.store(true, Ordering::Relaxed);
            log::warning(&format!("Background AOF rewrite failed: {e}"));
        }
    }
    status.in_progress.store(false, Ordering::Release);
    result.map(|_| ())
}

fn rewrite(shared: &Shared) -> Result<u64, String> {
    if !shared.aof.journal.is_logging() {
        return Err("the append-only log is off (appendonly no)".into());
    }
    let dir = shared.config().dir.clone();
    let keyspace = &shared.keyspace;
    let _one_snapshot_at_a_time = shared.lock_snapshot();
    let mark = {
        let _gate = keyspace.write_gate();
        keyspace.begin_snapshot();
        shared.aof.journal.request_rotation()
    };
    let lsn = mark.next_lsn;
    let temp = aof::base_temp_path(&dir, lsn);
    let written = write_base(shared, &temp, mark);
    let consistent = keyspace.end_snapshot();
    let size = match written {
        Ok(size) if consistent => size,
        Ok(_) => {
            let _ = std::fs::remove_file(&temp);
            return Err(
                "FLUSHDB, FLUSHALL or SWAPDB ran during the rewrite; it will be retried".into(),
            );
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(format!("writing {}: {e}", temp.display()));
        }
    };
    if !shared.aof.wait_for_segment(lsn, Duration::from_secs(30)) {
        let _ = std::fs::remove_file(&temp);
        return Err("the log writer did not start the new segment".into());
    }
    aof::install_base(&dir, lsn, &temp).map_err(|e| format!("installing the new base: {e}"))?;
    Ok(size)
}

/// Writes the snapshot begun at `mark` to `path` as a base; returns its size.
fn write_base(shared: &Shared, path: &std::path::Path, mark: Mark) -> std::io::Result<u64> {
    let mut file = File::create(path)?;
    let size = stream_snapshot(shared, mark, |chunk| file.write_all(chunk))?;
    file.sync_all()?;
    Ok(size)
}

/// Emits the snapshot begun at `mark` as records, one database and shard at a time, in
/// chunks of about a megabyte; returns its size. The last record selects the database
/// the stream after `mark` continues in, so base + stream replay as they ran.
pub fn stream_snapshot(
    shared: &Shared,
    mark: Mark,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let keyspace = &shared.keyspace;
    let mut out = Vec::with_capacity(1 << 20);
    let mut lsn = 1u64;
    let mut size = 0u64;
    let mut emit = |out: &mut Vec<u8>, args: &[&[u8]]| {
        record::encode(lsn, args, out);
        lsn += 1;
    };
    for db in 0..keyspace.databases() {
        let mut selected = false;
        let index = db.to_string();
        let mut write_entry =
            |out: &mut Vec<u8>, key: &Bytes, value: &Value, expire_at: Option<u64>| {
                if !selected {
                    selected = true;
                    emit(out, &[b"SELECT", index.as_bytes()]);
                }
                entry_records(key, value, expire_at, |args| emit(out, args));
            };
        let now = clock::now_ms();
        for shard in 0..keyspace.db(db).shard_count() {
            {
                let _gate = keyspace.read_gate();
                keyspace.snapshot_shard(db, shard, now, |k, v, e| write_entry(&mut out, k, v, e));
            }
            if out.len() >= 1 << 20 {
                sink(&out)?;
                size += out.len() as u64;
                out.clear();
            }
        }
        let preimages = {
            let _gate = keyspace.read_gate();
            keyspace.snapshot_preimages(db)
        };
        for (key, image) in preimages {
            if let Some((value, expire_at)) = image {
                if expire_at.is_none_or(|t| t >= now) {
                    write_entry(&mut out, &key, &value, expire_at);
                }
            }
        }
    }
    if let Some(db) = mark.db {
        emit(&mut out, &[b"SELECT", db.to_string().as_bytes()]);
    }
    sink(&out)?;
    size += out.len() as u64;
    Ok(size)
}

/// The records that recreate one key.
fn entry_records(
    key: &[u8],
    value: &Value,
    expire_at: Option<u64>,
    mut emit: impl FnMut(&[&[u8]]),
) {
    let at = expire_at.map(|t| t.to_string());
    match value {
        Value::Str(s) => match &at {
            Some(t) => emit(&[b"SET", key, s, b"PXAT", t.as_bytes()]),
            None => emit(&[b"SET", key, s]),
        },
        Value::Hash(h) => {
            let pairs: Vec<(&Bytes, &Bytes)> = h.map.iter().collect();
            for chunk in pairs.chunks(MEMBERS_PER_RECORD) {
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
            for chunk in members.chunks(MEMBERS_PER_RECORD) {
                let mut args: Vec<&[u8]> = vec![b"SADD", key];
                args.extend(chunk.iter().map(|m| m.as_ref()));
                emit(&args);
            }
        }
        Value::List(l) => l.base_records(key, &mut emit),
        Value::ZSet(z) => z.base_records(key, &mut emit),
    }
    if let (Some(t), Value::Hash(_) | Value::Set(_) | Value::List(_) | Value::ZSet(_)) =
        (&at, value)
    {
        emit(&[b"PEXPIREAT", key, t.as_bytes()]);
    }
}
