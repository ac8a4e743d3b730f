//! Loading the log at startup: replay every record through the command handlers, with a
//! client that skips the gates and does not log again (a keys base's strings go straight
//! into the store instead: parsing and running a `SET` per key was most of a restart),
//! then start the log writer.
//!
//! Clients that connect meanwhile get `-LOADING` for anything but a few commands (PING,
//! INFO, ...), and INFO reports Redis's loading fields.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::aof::{self, Progress};
use crate::cmd::apply::Replayer;
use crate::state::replication::{load_id, save_id};
use crate::state::{LoadingProgress, Shared};
use crate::sync::Recover;
use crate::{clock, log};

/// Loads the data at startup: the log, or the RDB file when there is no log (with
/// `appendonly no`, or with a log that has no files yet, which the file's data then
/// starts, as Redis 7 does when AOF is turned on over an RDB). On success the server
/// starts taking writes.
pub fn load_log(shared: &Arc<Shared>) -> Result<(), String> {
    let (dir, appendonly) = {
        let c = shared.config();
        (c.dir.clone(), c.appendonly)
    };
    let rdb_file = super::save::rdb_path(shared);
    let no_log = || {
        aof::newest_base(&dir).is_ok_and(|b| b.is_none())
            && aof::segments(&dir).is_ok_and(|s| s.is_empty())
    };
    if !appendonly {
        super::save::load(shared, &rdb_file)?;
        shared.journal.enable(1, false);
        shared.set_loading(false);
        return Ok(());
    }
    if rdb_file.exists() && no_log() {
        super::save::load(shared, &rdb_file)?;
        super::writer::start(shared, &dir, 1)
            .map_err(|e| format!("cannot open the log in {}: {e}", dir.display()))?;
        log::notice("Writing the data loaded from the RDB file into the log");
        shared
            .persistence
            .rewrites
            .in_progress
            .store(true, Ordering::Release);
        super::rewrite::run(shared)?;
        save_id(&dir, &shared.repl.ids().replid);
        shared.set_loading(false);
        return Ok(());
    }
    replay_log(shared)
}

/// Replays the log into the keyspace.
fn replay_log(shared: &Arc<Shared>) -> Result<(), String> {
    let (dir, policy) = {
        let config = shared.config();
        let policy = aof::LoadPolicy {
            repair: config.aof_repair,
            truncated_tail_ok: config.aof_load_truncated,
        };
        (config.dir.clone(), policy)
    };
    let started = Instant::now();
    *shared.loading_progress.locked() = LoadingProgress {
        start_ms: clock::now_ms(),
        progress: Progress::default(),
    };
    let mut loader = Loader {
        shared,
        replayer: Replayer::new(shared),
        db: 0,
        now: clock::now_ms(),
        is_replica: shared.repl.is_replica(),
    };
    let loaded = aof::load(&dir, policy, &mut loader, |progress| {
        report(shared, progress, started)
    })
    .map_err(|e| e.to_string())?;
    let torn_transaction = loader.replayer.finish();
    let keys: usize = (0..shared.keyspace.databases())
        .map(|n| shared.keyspace.db(n).len())
        .sum();
    log::notice(&format!(
        "DB loaded from the log in {}: {} records, {keys} keys, {:.3} seconds",
        std::path::absolute(aof::log_dir(&dir))
            .unwrap_or_else(|_| aof::log_dir(&dir))
            .display(),
        loaded.records,
        started.elapsed().as_secs_f64()
    ));
    super::writer::start(shared, &dir, loaded.next_lsn)
        .map_err(|e| format!("cannot open the log in {}: {e}", dir.display()))?;
    if torn_transaction {
        shared.journal.close_torn_transaction();
    }
    // The log's LSNs continue the history of the id saved beside it. A replica keeps
    // following it; a primary starts a new branch, which replicas that are not ahead
    // of this log may still continue from.
    let saved = load_id(&dir);
    if let Some(id) = &saved {
        shared.repl.adopt_replid(id, None);
    }
    if !shared.repl.is_replica() && saved.is_some() {
        shared.repl.new_branch(loaded.next_lsn);
    }
    save_id(&dir, &shared.repl.ids().replid);
    // What was loaded is not a change the `save` schedule counts, as in Redis.
    let rdb = &shared.persistence.rdb;
    rdb.saved_changes
        .store(rdb.changes.load(Ordering::Relaxed), Ordering::Relaxed);
    shared.set_loading(false);
    Ok(())
}

/// Where the log's contents go: command records through the handlers, a keys base's
/// strings straight into the database last selected.
struct Loader<'a> {
    shared: &'a Shared,
    replayer: Replayer<'a>,
    db: usize,
    now: u64,
    is_replica: bool,
}

impl aof::Apply for Loader<'_> {
    fn record(&mut self, record: &aof::record::Record) {
        self.replayer.apply(record.lsn, &record.args);
    }

    fn select(&mut self, db: usize, keys: u64) -> Result<(), String> {
        let databases = self.shared.keyspace.databases();
        if db >= databases {
            return Err(format!(
                "the base uses database {db}, and this server has {databases} (databases)"
            ));
        }
        self.db = db;
        let hint = usize::try_from(keys).unwrap_or(0).min(1 << 30);
        self.shared.keyspace.db(db).reserve(hint);
        // Command records that follow (aggregates) run in the same database.
        let args = [Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())];
        self.replayer.apply(0, &args);
        Ok(())
    }

    fn string(&mut self, key: &[u8], value: &[u8], expire_at: Option<u64>) {
        // A primary drops keys that expired while the base lay on disk, as an RDB load
        // does; a replica keeps them until its primary's DEL.
        if expire_at.is_some_and(|t| t < self.now) && !self.is_replica {
            return;
        }
        let _gate = self.shared.keyspace.write_gate();
        self.shared
            .keyspace
            .db(self.db)
            .insert_string(key, value, expire_at);
    }
}

fn report(shared: &Shared, progress: Progress, started: Instant) {
    shared.loading_progress.locked().progress = progress;
    if progress.total_bytes > 0 && progress.loaded_bytes < progress.total_bytes {
        let seconds = started.elapsed().as_secs_f64().max(0.001);
        let keys: usize = (0..shared.keyspace.databases())
            .map(|n| shared.keyspace.db(n).len())
            .sum();
        log::notice(&format!(
            "Loading the log: {:.1}% ({} records, {keys} keys, {:.0} records/s)",
            100.0 * progress.loaded_bytes as f64 / progress.total_bytes as f64,
            progress.records,
            progress.records as f64 / seconds
        ));
    }
}
