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

use std::sync::Arc;

use crate::aof;
use crate::journal::Mark;
use crate::state::Shared;
use crate::{clock, log};

/// Starts a rewrite on its own thread unless one is running; false if one was.
pub fn start_background(shared: &Arc<Shared>) -> bool {
    if shared
        .persistence
        .rewrites
        .in_progress
        .swap(true, Ordering::AcqRel)
    {
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
    let status = &shared.persistence.rewrites;
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
    if !shared.journal.is_logging() {
        return Err("the append-only log is off (appendonly no)".into());
    }
    let dir = shared.config().dir.clone();
    let keyspace = &shared.keyspace;
    let _one_snapshot_at_a_time = shared.lock_snapshot();
    let (mark, libraries) = {
        let _gate = keyspace.write_gate();
        keyspace.begin_snapshot();
        (shared.journal.request_rotation(), shared.functions.codes())
    };
    let lsn = mark.next_lsn;
    let temp = aof::base_temp_path(&dir, lsn);
    let written = write_base(shared, &temp, mark, &libraries);
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
    if !shared
        .persistence
        .wait_for_segment(lsn, Duration::from_secs(30))
    {
        let _ = std::fs::remove_file(&temp);
        return Err("the log writer did not start the new segment".into());
    }
    aof::install_base(&dir, lsn, &temp).map_err(|e| format!("installing the new base: {e}"))?;
    Ok(size)
}

/// Writes the snapshot begun at `mark` to `path` as a base; returns its size.
fn write_base(
    shared: &Shared,
    path: &std::path::Path,
    mark: Mark,
    libraries: &[bytes::Bytes],
) -> std::io::Result<u64> {
    let mut file = File::create(path)?;
    file.write_all(&aof::header::encode(aof::header::Kind::KeysBase))?;
    let mut written = aof::header::LEN as u64;
    let size = aof::encode_keys_base(&shared.keyspace, libraries, mark.db, |chunk| {
        file.write_all(chunk)?;
        // Start writing back what is written, so the final fsync has little left.
        start_writeback(&file, written, chunk.len() as u64);
        written += chunk.len() as u64;
        Ok(())
    })?;
    file.sync_all()?;
    Ok(size)
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to the disk
/// without waiting for it (Linux); durability still comes from the final fsync.
fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open descriptor; failure only loses the hint.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// Starts a rewrite when the log has grown by `auto-aof-rewrite-percentage` over its
/// base and is at least `auto-aof-rewrite-min-size`, as Redis does.
pub async fn auto_rewrite(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if shared.is_shutting_down() {
            return;
        }
        let (enabled, dir, percentage, min_size) = {
            let c = shared.config();
            (
                c.appendonly,
                c.dir.clone(),
                c.auto_aof_rewrite_percentage,
                c.auto_aof_rewrite_min_size,
            )
        };
        if !enabled || percentage == 0 || shared.is_loading() || !shared.journal.is_enabled() {
            continue;
        }
        let (base, incr) = aof::sizes(&dir);
        let total = base + incr;
        if total >= min_size && total.saturating_mul(100) >= base.saturating_mul(100 + percentage) {
            let growth = ((total - base) * 100).checked_div(base).unwrap_or(100);
            log::notice(&format!(
                "Starting automatic rewriting of AOF on {growth}% growth"
            ));
            start_background(&shared);
        }
    }
}
