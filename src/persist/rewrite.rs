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
    status.started_ms.store(clock::now_ms(), Ordering::Relaxed);
    let result = rewrite(shared);
    status
        .last_seconds
        .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
    match &result {
        Ok(size) => {
            status.count.fetch_add(1, Ordering::Relaxed);
            status.last_failed.store(false, Ordering::Relaxed);
            status.consecutive_failures.store(0, Ordering::Relaxed);
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
            status.consecutive_failures.fetch_add(1, Ordering::Relaxed);
            log::warning(&format!("Background AOF rewrite failed: {e}"));
        }
    }
    status.started_ms.store(0, Ordering::Relaxed);
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
    let mut out = BaseWriter::create(path)?;
    out.push(&aof::header::encode(aof::header::Kind::KeysBase))?;
    let size = aof::encode_keys_base(&shared.keyspace, libraries, mark.db, |chunk| {
        out.push(chunk)
    })?;
    out.finish()?;
    Ok(size)
}

/// Writes a base in large blocks through the page cache, the kernel starting to write
/// each back to the disk as it comes (`sync_file_range`), so the final fsync has little
/// left. Why not direct I/O: it halved the rewrite's CPU (the kernel's copy into the
/// page cache is most of it), but the next start then read an uncached base and took
/// longer than the rewrite saved; buffered, both stay under half of Redis's time
/// (BENCHMARKS.md, "Restart and rewrite").
struct BaseWriter {
    file: File,
    buffer: Vec<u8>,
    written: u64,
}

const BUFFER: usize = 8 << 20;

impl BaseWriter {
    fn create(path: &std::path::Path) -> std::io::Result<BaseWriter> {
        Ok(BaseWriter {
            file: File::create(path)?,
            buffer: Vec::with_capacity(BUFFER),
            written: 0,
        })
    }

    fn push(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let n = (BUFFER - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buffer.len() == BUFFER {
                self.write_out()?;
            }
        }
        Ok(())
    }

    fn write_out(&mut self) -> std::io::Result<()> {
        (&self.file).write_all(&self.buffer)?;
        start_writeback(&self.file, self.written, self.buffer.len() as u64);
        self.written += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Writes what is left and fsyncs the file.
    fn finish(mut self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            self.write_out()?;
        }
        self.file.sync_all()
    }
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
