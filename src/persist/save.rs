//! RDB files, as Redis keeps them: SAVE, BGSAVE, the `save` schedule and SHUTDOWN write
//! `<dir>/<dbfilename>`; at startup, a server without a log of its own loads it.
//!
//! A save walks the same point-in-time snapshot a log rewrite uses (`store::snapshot`):
//! the gate is held exclusively for the instant the snapshot begins, then shared one
//! shard at a time, so writers go on while the file is written. The file is written to
//! a temporary name, fsynced and renamed over the old one, so a crash leaves the old
//! file or the new one, never half of one.
//!
//! `write_rdb`, the walk itself, is generic over the output: `repl::to_redis` uses it
//! for the RDB payload a Redis replica gets.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::rdb::{self, FileItem, FileWriter};
use crate::state::functions::RestorePolicy;
use crate::state::{LoadingProgress, Reload, ReloadFailure, Shared};
use crate::store::Value;
use crate::sync::Recover;
use crate::{clock, log};

/// Seconds a failed scheduled save waits before the schedule tries again (Redis's
/// CONFIG_BGSAVE_RETRY_DELAY).
const RETRY_DELAY_SECONDS: u64 = 5;

pub fn rdb_path(shared: &Shared) -> PathBuf {
    let c = shared.config();
    c.dir.join(&c.dbfilename)
}

/// SAVE: writes the file now, on the caller's thread.
pub fn save_now(shared: &Shared) -> Result<(), String> {
    if shared
        .persistence
        .rdb
        .in_progress
        .swap(true, Ordering::AcqRel)
    {
        return Err("Background save already in progress".into());
    }
    run(shared, "DB saved on disk")
}

/// BGSAVE: writes the file on a thread of its own; false if a save is running.
pub fn start_background(shared: &Arc<Shared>) -> bool {
    if shared
        .persistence
        .rdb
        .in_progress
        .swap(true, Ordering::AcqRel)
    {
        return false;
    }
    log::notice("Background saving started");
    let saver = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("roost-bgsave".into())
        .spawn(move || {
            let _ = run(&saver, "Background saving terminated with success");
        });
    if spawned.is_err() {
        shared
            .persistence
            .rdb
            .in_progress
            .store(false, Ordering::Release);
    }
    spawned.is_ok()
}

/// Runs a save whose `in_progress` the caller has set, and records how it went.
fn run(shared: &Shared, success: &str) -> Result<(), String> {
    let status = &shared.persistence.rdb;
    let started = Instant::now();
    status.started_ms.store(clock::now_ms(), Ordering::Relaxed);
    status
        .last_attempt
        .store(clock::now_ms() / 1000, Ordering::Relaxed);
    let result = write_file(shared);
    status
        .last_seconds
        .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
    match &result {
        Ok(changes) => {
            status.saves.fetch_add(1, Ordering::Relaxed);
            status.saved_changes.store(*changes, Ordering::Relaxed);
            status.last_failed.store(false, Ordering::Relaxed);
            status
                .last_success
                .store(clock::now_ms() / 1000, Ordering::Relaxed);
            log::notice(success);
        }
        Err(e) => {
            status.last_failed.store(true, Ordering::Relaxed);
            log::warning(&format!("Saving the RDB file failed: {e}"));
        }
    }
    status.in_progress.store(false, Ordering::Release);
    result.map(|_| ())
}

/// Writes the snapshot to the file; returns the count of changes it includes.
fn write_file(shared: &Shared) -> Result<u64, String> {
    let path = rdb_path(shared);
    let temp = path.with_file_name(format!("temp-{}.rdb", std::process::id()));
    let keyspace = &shared.keyspace;
    let _one_snapshot_at_a_time = shared.lock_snapshot();
    let (lsn, sizes) = {
        let _gate = keyspace.write_gate();
        keyspace.begin_snapshot();
        let sizes = db_sizes(shared);
        (
            shared.persistence.rdb.changes.load(Ordering::Relaxed),
            sizes,
        )
    };
    let written = write_snapshot(shared, &temp, &sizes, KeySource::Snapshot);
    let consistent = keyspace.end_snapshot();
    let written = written.and_then(|()| {
        consistent
            .then_some(())
            .ok_or_else(|| "FLUSHDB, FLUSHALL or SWAPDB ran during the save".to_string())
    });
    publish(written, &temp, &path)?;
    Ok(lsn)
}

/// Renames a fully written temporary file over the file, or removes it after a failure.
fn publish(written: Result<(), String>, temp: &Path, path: &Path) -> Result<(), String> {
    let fail = |e: String| {
        let _ = std::fs::remove_file(temp);
        Err(e)
    };
    if let Err(e) = written {
        return fail(e);
    }
    if let Err(e) = std::fs::rename(temp, path) {
        return fail(format!(
            "renaming {} to {}: {e}",
            temp.display(),
            path.display()
        ));
    }
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Writes the file from `keys` to `path`, fsynced; the error names the file.
fn write_snapshot(
    shared: &Shared,
    path: &Path,
    sizes: &[(usize, usize)],
    keys: KeySource,
) -> Result<(), String> {
    let (compress, checksum) = {
        let c = shared.config();
        (c.rdbcompression, c.rdbchecksum)
    };
    write_to(shared, path, sizes, compress, checksum, keys)
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

fn write_to(
    shared: &Shared,
    path: &Path,
    sizes: &[(usize, usize)],
    compress: bool,
    checksum: bool,
    keys: KeySource,
) -> std::io::Result<()> {
    let file = File::create(path)?;
    let out = FileWriter::new(BufWriter::with_capacity(1 << 20, file), compress, checksum)?;
    let libraries = shared.functions.codes();
    let contents = Contents {
        sizes,
        aux: &[],
        libraries: &libraries,
        keys,
    };
    let mut buffered = write_rdb(shared, out, &contents)?;
    buffered.flush()?;
    buffered.get_ref().sync_all()
}

/// What `write_rdb` puts in a file besides its standard AUX fields.
pub struct Contents<'a> {
    /// Keys and keys with a TTL per database, taken when the snapshot began.
    pub sizes: &'a [(usize, usize)],
    /// More AUX fields (a replication payload's `repl-stream-db`, ...).
    pub aux: &'a [(&'a str, String)],
    /// Function libraries' code, written first, as Redis does.
    pub libraries: &'a [Bytes],
    /// Where the keys come from.
    pub keys: KeySource,
}

/// Where `write_rdb` takes keys from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// No keys at all (`REPLCONF rdb-filter-only`).
    None,
    /// The point-in-time snapshot the caller began, walked one shard at a time under
    /// the shared gate while writers go on.
    Snapshot,
    /// The keyspace as it is: the caller holds the write gate for the whole walk, so
    /// nothing changes meanwhile (DEBUG RELOAD).
    UnderGate,
}

/// Writes the snapshot the caller began (`Keyspace::begin_snapshot`, under the write
/// gate) as an RDB file, and hands back the output. Generic over the output: a file
/// for SAVE, a temporary file or the socket itself for a Redis replica. A value the
/// RDB writer cannot encode fails the whole file with an error naming its key.
pub fn write_rdb<W: Write>(
    shared: &Shared,
    mut out: FileWriter<W>,
    contents: &Contents<'_>,
) -> std::io::Result<W> {
    let now = clock::now_ms();
    out.aux("redis-ver", crate::VERSION_COMPAT.as_bytes())?;
    out.aux("redis-bits", b"64")?;
    out.aux("ctime", (now / 1000).to_string().as_bytes())?;
    let used = crate::alloc::allocated().unwrap_or_else(crate::alloc::resident_bytes);
    out.aux("used-mem", used.to_string().as_bytes())?;
    for (field, value) in contents.aux {
        out.aux(field, value.as_bytes())?;
    }
    out.aux("aof-base", b"0")?;
    for code in contents.libraries {
        out.function(code)?;
    }
    let keyspace = &shared.keyspace;
    match contents.keys {
        KeySource::None => return out.finish(),
        KeySource::UnderGate => {
            for (index, &(keys, expires)) in contents.sizes.iter().enumerate() {
                if keys == 0 {
                    continue;
                }
                out.select_db(index, keys, expires)?;
                let mut failure = None;
                keyspace.db(index).for_each_key(|key, entry| {
                    if failure.is_some() || entry.is_expired(now) {
                        return;
                    }
                    let written = match entry.object_ref() {
                        Some(value) => out.key(key, value, entry.expire_at()),
                        None => out.key(key, &entry.to_value(), entry.expire_at()),
                    };
                    failure = written.err();
                });
                if let Some(e) = failure {
                    return Err(e);
                }
            }
            return out.finish();
        }
        KeySource::Snapshot => {}
    }
    let mut failure: Option<std::io::Error> = None;
    for (db, &(keys, expires)) in contents.sizes.iter().enumerate() {
        let mut selected = false;
        let mut write = |out: &mut FileWriter<_>, key: &[u8], value: &Value, at: Option<u64>| {
            if failure.is_some() {
                return;
            }
            let mut step = || -> std::io::Result<()> {
                if !selected {
                    selected = true;
                    out.select_db(db, keys, expires)?;
                }
                out.key(key, value, at)
            };
            if let Err(e) = step() {
                failure = Some(e);
            }
        };
        for shard in 0..keyspace.db(db).shard_count() {
            let _gate = keyspace.read_gate();
            keyspace.snapshot_shard(db, shard, now, |k, v, e| write(&mut out, k, v, e));
        }
        let preimages = {
            let _gate = keyspace.read_gate();
            keyspace.snapshot_preimages(db)
        };
        for (key, image) in preimages {
            if let Some((value, at)) = image {
                if at.is_none_or(|t| t >= now) {
                    write(&mut out, &key, &value, at);
                }
            }
        }
        if let Some(e) = failure.take() {
            return Err(e);
        }
    }
    out.finish()
}

/// Keys and keys with a TTL in each database, for RESIZEDB; taken under the write gate
/// as the snapshot begins.
pub fn db_sizes(shared: &Shared) -> Vec<(usize, usize)> {
    let keyspace = &shared.keyspace;
    (0..keyspace.databases())
        .map(|n| (keyspace.db(n).len(), keyspace.db(n).expires_count()))
        .collect()
}

/// The `save` schedule: once a second, starts a background save when one of its
/// points (seconds, changes) has both passed since the last save, as Redis's cron does.
pub async fn schedule(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if shared.is_shutting_down() {
            return;
        }
        if shared.is_loading() || shared.persistence.rdb.in_progress.load(Ordering::Acquire) {
            continue;
        }
        let points = crate::config::save_points(&shared.config().save);
        let status = &shared.persistence.rdb;
        let now = clock::now_ms() / 1000;
        let since = now.saturating_sub(last_save(&shared));
        let changes = changes_since_save(&shared);
        let retry_ok = !status.last_failed.load(Ordering::Relaxed)
            || now.saturating_sub(status.last_attempt.load(Ordering::Relaxed))
                >= RETRY_DELAY_SECONDS;
        if let Some((seconds, wanted)) = points
            .iter()
            .find(|(seconds, wanted)| changes >= *wanted && since >= *seconds)
        {
            if retry_ok {
                log::notice(&format!("{wanted} changes in {seconds} seconds. Saving..."));
                start_background(&shared);
            }
        }
    }
}

/// Unix seconds of the last successful save, or of startup before the first.
pub fn last_save(shared: &Shared) -> u64 {
    let saved = shared.persistence.rdb.last_success.load(Ordering::Relaxed);
    saved.max(shared.started_ms / 1000)
}

/// Writes since the last save's snapshot (`rdb_changes_since_last_save`).
pub fn changes_since_save(shared: &Shared) -> u64 {
    let rdb = &shared.persistence.rdb;
    rdb.changes
        .load(Ordering::Relaxed)
        .saturating_sub(rdb.saved_changes.load(Ordering::Relaxed))
}

/// SHUTDOWN and SIGTERM: saves when SHUTDOWN SAVE asked for it, or the `save` schedule
/// has points and SHUTDOWN NOSAVE did not say otherwise, as Redis does.
pub fn save_at_shutdown(shared: &Shared) -> Result<(), String> {
    let mode = shared.persistence.rdb.shutdown_mode.load(Ordering::Acquire);
    let scheduled = !crate::config::save_points(&shared.config().save).is_empty();
    if mode == 2 || (mode == 0 && !scheduled) {
        return Ok(());
    }
    log::notice("Saving the final RDB snapshot before exiting.");
    // Wait for a background save to end rather than write the file twice at once.
    while shared
        .persistence
        .rdb
        .in_progress
        .swap(true, Ordering::AcqRel)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    run(shared, "DB saved on disk")
}

/// Loads the RDB file into the empty keyspace at startup; returns how many keys it
/// held. A damaged file is an error naming the file and the offset.
pub fn load(shared: &Shared, path: &Path) -> Result<u64, String> {
    load_with(shared, path, Duplicates::Replace)
}

/// What loading does with a key that is already in the keyspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    /// The file's value replaces it.
    Replace,
    /// The load stops with an error naming the key (what is loaded so far stays).
    Refuse,
}

/// DEBUG RELOAD, with the caller holding the write gate, so no other command runs
/// between the save, the flush and the load: writes the file from the keyspace as it
/// stands (unless `NOSAVE`), empties every database (unless `NOFLUSH`), then loads the
/// file, a key already present replacing its value only under `MERGE`.
pub fn reload(shared: &Shared, how: Reload) -> Result<u64, ReloadFailure> {
    let path = rdb_path(shared);
    if how.save {
        let temp = path.with_file_name(format!("temp-reload-{}.rdb", std::process::id()));
        let written = write_snapshot(shared, &temp, &db_sizes(shared), KeySource::UnderGate);
        publish(written, &temp, &path).map_err(ReloadFailure::Save)?;
        log::notice("DB saved on disk");
    }
    if how.flush {
        for index in 0..shared.keyspace.databases() {
            shared.keyspace.db(index).clear();
        }
    }
    let duplicates = if how.merge {
        Duplicates::Replace
    } else {
        Duplicates::Refuse
    };
    let loaded = load_with(shared, &path, duplicates).map_err(ReloadFailure::Load)?;
    log::warning("DB reloaded by DEBUG RELOAD");
    Ok(loaded)
}

fn load_with(shared: &Shared, path: &Path, duplicates: Duplicates) -> Result<u64, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let check = shared.config().rdbchecksum;
    let started = Instant::now();
    *shared.loading_progress.locked() = LoadingProgress {
        start_ms: clock::now_ms(),
        progress: crate::aof::Progress {
            total_bytes: len,
            ..Default::default()
        },
    };
    let now = clock::now_ms();
    let databases = shared.keyspace.databases() as u64;
    let is_replica = shared.repl.is_replica();
    let (mut loaded, mut expired) = (0u64, 0u64);
    let mut functions: Vec<Bytes> = Vec::new();
    let mut last_report = Instant::now();
    let version = rdb::load_file(
        std::io::BufReader::with_capacity(1 << 20, file),
        len,
        check,
        |item, offset| {
            match item {
                FileItem::Key(k) => {
                    if k.db >= databases {
                        return Err(format!(
                            "the file uses database {}, and this server has {databases} (databases)",
                            k.db
                        ));
                    }
                    // A primary drops keys that expired while the file lay on disk.
                    if !is_replica && k.expire_at.is_some_and(|t| t < now) {
                        expired += 1;
                        return Ok(());
                    }
                    let db = shared.keyspace.db(k.db as usize);
                    if duplicates == Duplicates::Refuse && db.peek_raw(&k.key).is_some() {
                        return Err(format!(
                            "duplicate key '{}' in database {}",
                            String::from_utf8_lossy(&k.key),
                            k.db
                        ));
                    }
                    db.insert(&k.key, k.value, k.expire_at);
                    db.set_access(&k.key, k.idle, k.freq);
                    loaded += 1;
                }
                FileItem::Function(code) => functions.push(code),
                FileItem::Aux(..) | FileItem::Resize { .. } => {}
            }
            if last_report.elapsed() >= Duration::from_millis(100) {
                last_report = Instant::now();
                let mut state = shared.loading_progress.locked();
                state.progress.loaded_bytes = offset;
                state.progress.records = loaded;
            }
            Ok(())
        },
    )
    .map_err(|e| {
        format!(
            "Bad RDB file {}: {} (at offset {})",
            path.display(),
            e.message,
            e.offset
        )
    })?;
    // The file's libraries replace any there were, as Redis's load does.
    let libraries = crate::cmd::functions::compile_all(&functions).map_err(|reply| {
        let text = match reply {
            crate::protocol::Reply::Error(text) => text.into_owned(),
            other => format!("{other:?}"),
        };
        format!(
            "Bad RDB file {}: a function library does not load: {text}",
            path.display()
        )
    })?;
    if !libraries.is_empty() || !shared.functions.list().is_empty() {
        let restored = shared.functions.restore(libraries, RestorePolicy::Flush);
        restored.map_err(|e| format!("Bad RDB file {}: {e:?}", path.display()))?;
    }
    let status = &shared.persistence.rdb;
    status.loaded_keys.store(loaded, Ordering::Relaxed);
    status.expired_at_load.store(expired, Ordering::Relaxed);
    status
        .last_success
        .store(clock::now_ms() / 1000, Ordering::Relaxed);
    log::notice(&format!(
        "DB loaded from {} (RDB version {version}): {loaded} keys, {expired} expired keys skipped, {:.3} seconds",
        path.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(loaded)
}
