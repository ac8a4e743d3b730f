//! Loading the log at startup: replay every record through the command handlers, with a
//! client that skips the gates and does not log again, then start the log writer.
//!
//! Clients that connect meanwhile get `-LOADING` for anything but a few commands (PING,
//! INFO, ...), and INFO reports Redis's loading fields.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::{Client, ClientInfo, LoadingProgress, Shared};
use crate::aof::{self, Progress};
use crate::cmd::Ctx;
use crate::protocol::Reply;
use crate::{clock, log};

/// Replays the log into the keyspace; on success the server starts taking writes.
pub(super) fn load_log(shared: &Arc<Shared>) -> Result<(), String> {
    let (dir, repair) = {
        let config = shared.config();
        (config.dir.clone(), config.aof_repair)
    };
    let started = Instant::now();
    *shared
        .loading_progress
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = LoadingProgress {
        start_ms: clock::now_ms(),
        progress: Progress::default(),
    };
    let mut replayer = Replayer::new(shared);
    let loaded = aof::load(
        &dir,
        repair,
        |record| replayer.apply(record.lsn, &record.args),
        |progress| report(shared, progress, started),
    )
    .map_err(|e| e.to_string())?;
    replayer.finish();
    let keys: usize = (0..shared.keyspace.databases())
        .map(|n| shared.keyspace.db(n).len())
        .sum();
    log::notice(&format!(
        "DB loaded from the log: {} records, {keys} keys, {:.3} seconds",
        loaded.records,
        started.elapsed().as_secs_f64()
    ));
    shared
        .aof
        .start(&dir, loaded.next_lsn)
        .map_err(|e| format!("cannot open the log in {}: {e}", dir.display()))?;
    // The log's LSNs continue the history of the id saved beside it. A replica keeps
    // following it; a primary starts a new branch, which replicas that are not ahead
    // of this log may still continue from.
    let saved = crate::repl::load_id(&dir);
    if let Some(id) = &saved {
        shared.repl.adopt_replid(id, None);
    }
    if !shared.repl.is_replica() && saved.is_some() {
        shared.repl.new_branch(loaded.next_lsn);
    }
    crate::repl::save_id(&dir, &shared.repl.ids().replid);
    shared.loading.store(false, Ordering::Release);
    Ok(())
}

fn report(shared: &Shared, progress: Progress, started: Instant) {
    shared
        .loading_progress
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .progress = progress;
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

/// The client that applies a stream of records: authenticated, and not journaling
/// what it applies (the records are already in the log, or come from the primary).
pub(crate) fn stream_client() -> Client {
    let mut client = Client::new(Arc::new(ClientInfo::detached()), true);
    client.from_primary = true;
    client
}

/// Applies one logged or replicated record through its command's handler, with every
/// key live (see `store::applying_stream`). The caller holds the write gate.
pub(crate) fn apply_record(shared: &Shared, client: &mut Client, lsn: u64, args: &[Bytes]) {
    let table = &shared.table;
    let spec = match table.resolve(args) {
        Ok(id) => table.spec(id),
        Err(reply) => {
            log::warning(&format!("Record {lsn} is not a valid command: {reply:?}"));
            return;
        }
    };
    let mut ctx = Ctx { shared, client };
    let reply = crate::store::applying_stream(|| (spec.handler)(&mut ctx, args));
    if let Reply::Error(e) = reply {
        log::warning(&format!("Record {lsn} failed when applied: {e}"));
    }
}

/// Applies records in order; the commands between MULTI and EXEC are held back until
/// the EXEC, so a transaction cut off by a crash is not half applied.
struct Replayer<'a> {
    shared: &'a Shared,
    client: Client,
    transaction: Option<Vec<Vec<Bytes>>>,
}

impl<'a> Replayer<'a> {
    fn new(shared: &'a Shared) -> Replayer<'a> {
        Replayer {
            shared,
            client: stream_client(),
            transaction: None,
        }
    }

    fn apply(&mut self, lsn: u64, args: &[Bytes]) {
        if args[0].eq_ignore_ascii_case(b"multi") {
            self.transaction = Some(Vec::new());
        } else if args[0].eq_ignore_ascii_case(b"exec") {
            for queued in self.transaction.take().unwrap_or_default() {
                self.run(lsn, &queued);
            }
        } else if let Some(queued) = &mut self.transaction {
            queued.push(args.to_vec());
        } else {
            self.run(lsn, args);
        }
    }

    fn run(&mut self, lsn: u64, args: &[Bytes]) {
        let _gate = self.shared.keyspace.write_gate();
        apply_record(self.shared, &mut self.client, lsn, args);
    }

    fn finish(self) {
        if let Some(queued) = self.transaction {
            log::warning(&format!(
                "The log ends inside a transaction; its {} command(s) were not applied",
                queued.len()
            ));
        }
    }
}
