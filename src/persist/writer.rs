//! The log writer: one thread takes what the journal has queued, appends it to the
//! newest segment, fsyncs by the policy and starts a new segment when a rewrite asks.
//!
//! A client's replies to writes wait until the write() covering them is done, and
//! under `appendfsync always` until the fsync is; one write or fsync covers everything
//! queued while the previous one ran (group commit). Under `everysec` and `no` the
//! connection about to reply usually makes the write() itself (`write_queued`), for
//! every connection served in the same pass, and the writer thread only fsyncs; under
//! `everysec` the fsync runs on a thread of its own, so replies never wait for it. A
//! failed write or fsync is retried; meanwhile writes are refused (MISCONF), replies to
//! writes not yet in the log become MISCONF (`Persistence::wait_durable`) and reads go
//! on. At shutdown the writer retries for `STOP_RETRY`, then gives up and logs what was
//! not written, so a full disk cannot keep the server from exiting.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, TryLockError};
use std::thread;
use std::time::{Duration, Instant};

use crate::aof;
use crate::config::AppendFsync;
use crate::state::persistence::Segment;
use crate::state::Shared;
use crate::sync::Recover;
use crate::{aof::record, log};

/// How long a stopping writer keeps retrying a failed write or fsync before it gives
/// up and reports what was not written.
const STOP_RETRY: Duration = Duration::from_secs(2);

/// The longest the writer holds an `always` group open for the clients it just
/// released to send their next writes: one fsync covering all of them costs little
/// more than one covering a few (the disk's cost is mostly per flush), so waiting up
/// to one fsync's duration for them beats fsyncing the first few on their own and
/// leaving the rest to wait for the next.
const MAX_GATHER: Duration = Duration::from_millis(2);

/// Opens the newest segment (creating the first) and starts writing at `next_lsn`.
pub fn start(shared: &Shared, dir: &Path, next_lsn: u64) -> io::Result<()> {
    let writer = shared
        .arc()
        .ok_or_else(|| io::Error::other("the server is shutting down"))?;
    let log = &shared.persistence;
    let (first, path, file) = aof::open_newest_segment(dir, next_lsn)?;
    log.current_segment.store(first, Ordering::Release);
    *log.dir.locked() = dir.to_path_buf();
    let written_lsn = next_lsn.saturating_sub(1);
    log.set_durable_lsn(written_lsn);
    let good_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    *log.segment.locked() = Some(Segment {
        file,
        path,
        good_len,
        unwritten: Vec::new(),
        unwritten_lsn: 0,
        rotation: None,
        written_lsn,
    });
    log.logging.store(true, Ordering::Release);
    shared.journal.enable(next_lsn, true);
    let handle = thread::Builder::new()
        .name("roost-aof".into())
        .spawn(move || write_loop(&writer))?;
    *log.writer.locked() = Some(handle);
    Ok(())
}

/// Writes the records the journal has queued from the calling thread: a connection
/// about to send replies to writes, as Redis writes its log before it replies. That
/// spares waking the writer thread and waiting to be woken by it (two context
/// switches per batch on a busy core). The records are left to the writer thread,
/// which is woken for them, under `always` (its group commit fsyncs them before
/// replies go), while an `everysec` fsync runs (a write() then may wait for the disk,
/// and the caller is an event-loop thread), while the log is failing or stopping, when
/// a new segment is due, or when the writer holds the segment.
pub fn write_queued(shared: &Shared) {
    if shared.persistence.logging.load(Ordering::Acquire) && !write_inline(shared) {
        shared.journal.flush();
    }
}

fn write_inline(shared: &Shared) -> bool {
    let log = &shared.persistence;
    if log.policy() == AppendFsync::Always
        || log.is_failing()
        || log.fsync_running.load(Ordering::Acquire)
        || log.stop.load(Ordering::Acquire)
    {
        return false;
    }
    let mut guard = match log.segment.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => return false,
    };
    let Some(segment) = guard.as_mut() else {
        return false;
    };
    if !segment.unwritten.is_empty() || segment.rotation.is_some() {
        return false;
    }
    let Some(taken) = shared.journal.take_unless_rotating() else {
        return false;
    };
    if taken.bytes.is_empty() {
        // Written already, by the writer or another connection, and published.
        return true;
    }
    match segment.file.write_all(&taken.bytes) {
        Ok(()) => {
            segment.good_len += taken.bytes.len() as u64;
            segment.written_lsn = taken.last_lsn;
            log.set_durable_lsn(segment.written_lsn);
            true
        }
        Err(e) => {
            // The writer thread retries them and reports while it cannot.
            let _ = segment.file.set_len(segment.good_len);
            log.report_error(&segment.path, "write", &e);
            segment.unwritten = taken.bytes;
            segment.unwritten_lsn = taken.last_lsn;
            false
        }
    }
}

/// What the writer thread keeps between passes, beside the segment.
struct Syncing {
    synced_lsn: u64,
    last_sync: Instant,
    /// An `everysec` fsync running beside the writer, so replies (which wait for the
    /// write, not the fsync) are not held up by it: the LSN it covers and its thread.
    background: Option<(u64, thread::JoinHandle<io::Result<()>>)>,
    /// A failed fsync is cleared only by a successful one (as Redis does), not by a
    /// write that succeeds meanwhile.
    fsync_failed: bool,
    /// Under `always`, after an fsync released a group of replies: the LSN the next
    /// group waits for (as many records again, the released clients' next requests)
    /// and until when, at most one fsync's duration (`MAX_GATHER`) after the release.
    gather: Option<(u64, Instant)>,
}

impl Syncing {
    /// Takes in how an fsync covering the records up to `lsn` ended; false if it failed
    /// (reported, and writes refused until one succeeds).
    fn record(
        &mut self,
        log: &crate::state::Persistence,
        path: &Path,
        lsn: u64,
        synced: io::Result<()>,
    ) -> bool {
        match synced {
            Ok(()) => {
                self.synced_lsn = self.synced_lsn.max(lsn);
                self.fsync_failed = false;
                log.clear_error();
                true
            }
            Err(e) => {
                self.fsync_failed = true;
                log.report_error(path, "fsync", &e);
                false
            }
        }
    }
}

/// How one pass of the writer ended.
enum Pass {
    /// Wait for more records.
    Idle,
    /// Go again at once (a new segment was started, or records remain).
    Again,
    /// A write, fsync or rotation failed: try again shortly.
    Retry,
    /// Stopped: everything was written and fsynced, or the writer gave up.
    Done(Result<(), String>),
}

fn write_loop(shared: &Shared) -> Result<(), String> {
    let log = &shared.persistence;
    let mut syncing = Syncing {
        synced_lsn: log.durable_lsn(),
        last_sync: Instant::now(),
        background: None,
        fsync_failed: false,
        gather: None,
    };
    let mut give_up_at: Option<Instant> = None;
    let mut idle = false;
    loop {
        let stopping = log.stop.load(Ordering::Acquire);
        if stopping && give_up_at.is_none() {
            give_up_at = Some(Instant::now() + STOP_RETRY);
        }
        let give_up = give_up_at.is_some_and(|at| Instant::now() >= at);
        if idle {
            shared.journal.wait_queued(Duration::from_millis(50));
        }
        if let Some((lsn, until)) = syncing.gather.take() {
            if !stopping {
                shared.journal.wait_for_group(lsn, until);
            }
        }
        let pass = {
            let mut guard = log.segment.locked();
            let pass = match guard.as_mut() {
                Some(segment) => pass(shared, segment, &mut syncing, stopping, give_up),
                None => Pass::Done(Ok(())),
            };
            if matches!(pass, Pass::Done(_)) {
                *guard = None;
            }
            pass
        };
        idle = false;
        match pass {
            Pass::Idle => idle = true,
            Pass::Again => {}
            Pass::Retry => thread::sleep(Duration::from_millis(100)),
            Pass::Done(result) => return result,
        }
    }
}

/// Takes what the journal queued, writes it, starts a new segment if one is due, and
/// fsyncs by the policy; publishes how far replies may go. Runs under the segment's
/// lock.
fn pass(
    shared: &Shared,
    segment: &mut Segment,
    syncing: &mut Syncing,
    stopping: bool,
    give_up: bool,
) -> Pass {
    let log = &shared.persistence;
    let retry = |segment: &Segment, syncing: &Syncing| {
        if give_up {
            Pass::Done(Err(abandon(
                shared,
                &segment.unwritten,
                segment.written_lsn,
                syncing.synced_lsn,
            )))
        } else {
            Pass::Retry
        }
    };
    let taken = shared.journal.take();
    if let Some((lsn, offset)) = taken.rotation {
        segment.rotation = Some((lsn, segment.unwritten.len() + offset));
    }
    if !taken.bytes.is_empty() {
        if segment.unwritten.is_empty() {
            // The usual case: nothing left over, so no copy.
            segment.unwritten = taken.bytes;
        } else {
            segment.unwritten.extend_from_slice(&taken.bytes);
        }
        segment.unwritten_lsn = taken.last_lsn;
    }
    // Records for the current segment: up to a pending rotation, or all.
    let upto = segment
        .rotation
        .map_or(segment.unwritten.len(), |(_, offset)| offset);
    if upto > 0 {
        if let Err(e) = segment.file.write_all(&segment.unwritten[..upto]) {
            // Cut any partial record so the next attempt appends cleanly.
            let _ = segment.file.set_len(segment.good_len);
            log.report_error(&segment.path, "write", &e);
            return retry(segment, syncing);
        }
        segment.good_len += upto as u64;
        segment.unwritten.drain(..upto);
        segment.written_lsn = match segment.rotation {
            Some((lsn, _)) => lsn - 1,
            None => segment.unwritten_lsn,
        };
        if !syncing.fsync_failed {
            log.clear_error();
        }
    }
    if let Some((lsn, _)) = segment.rotation {
        return match rotate(shared, &segment.file, lsn) {
            Ok((next_file, next_path)) => {
                log.current_segment.store(lsn, Ordering::Release);
                syncing.synced_lsn = segment.written_lsn;
                segment.good_len = next_file.metadata().map(|m| m.len()).unwrap_or(0);
                segment.file = next_file;
                segment.path = next_path;
                segment.rotation = None;
                syncing.fsync_failed = false;
                log.clear_error();
                Pass::Again
            }
            Err(e) => {
                segment.rotation = Some((lsn, 0));
                log.report_error(&segment.path, "rotat", &e);
                retry(segment, syncing)
            }
        };
    }
    let finished = syncing
        .background
        .as_ref()
        .is_some_and(|(_, h)| h.is_finished());
    if finished || (stopping && syncing.background.is_some()) {
        if let Some((lsn, handle)) = syncing.background.take() {
            let synced = handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the fsync thread panicked")));
            if !syncing.record(log, &segment.path, lsn, synced) {
                return retry(segment, syncing);
            }
        }
    }
    let written_lsn = segment.written_lsn;
    let policy = log.policy();
    let due = match policy {
        AppendFsync::Always => written_lsn > syncing.synced_lsn,
        AppendFsync::Everysec => {
            syncing.background.is_none()
                && written_lsn > syncing.synced_lsn
                && syncing.last_sync.elapsed() >= Duration::from_secs(1)
        }
        AppendFsync::No => false,
    } || (stopping && written_lsn > syncing.synced_lsn);
    if due && policy == AppendFsync::Everysec && !stopping {
        let running = Arc::clone(&log.fsync_running);
        running.store(true, Ordering::Release);
        let started = segment.file.try_clone().and_then(|f| {
            let running = Arc::clone(&running);
            thread::Builder::new()
                .name("roost-fsync".into())
                .spawn(move || {
                    let synced = f.sync_data();
                    running.store(false, Ordering::Release);
                    synced
                })
        });
        match started {
            Ok(handle) => {
                syncing.background = Some((written_lsn, handle));
                syncing.last_sync = Instant::now();
            }
            Err(e) => {
                running.store(false, Ordering::Release);
                syncing.fsync_failed = true;
                log.report_error(&segment.path, "fsync", &e);
            }
        }
    } else if due {
        let group = written_lsn - syncing.synced_lsn;
        let started = Instant::now();
        let synced = segment.file.sync_data();
        syncing.last_sync = Instant::now();
        if !syncing.record(log, &segment.path, written_lsn, synced) {
            return retry(segment, syncing);
        }
        if policy == AppendFsync::Always && !stopping {
            let window = (syncing.last_sync - started).min(MAX_GATHER);
            syncing.gather = Some((written_lsn + group, syncing.last_sync + window));
        }
    }
    let visible = if policy == AppendFsync::Always {
        syncing.synced_lsn
    } else {
        written_lsn
    };
    log.set_durable_lsn(visible);
    log.set_synced_lsn(syncing.synced_lsn);
    if stopping && segment.unwritten.is_empty() && written_lsn == syncing.synced_lsn {
        let rest = shared.journal.take();
        if rest.bytes.is_empty() && rest.rotation.is_none() {
            return Pass::Done(Ok(()));
        }
        if let Some((lsn, offset)) = rest.rotation {
            segment.rotation = Some((lsn, offset));
        }
        segment.unwritten.extend_from_slice(&rest.bytes);
        segment.unwritten_lsn = rest.last_lsn;
        return Pass::Again;
    }
    Pass::Idle
}

/// The writer stops without having logged everything: says exactly what is missing, by
/// LSN, records and bytes, in the server log.
fn abandon(shared: &Shared, unwritten: &[u8], written_lsn: u64, synced_lsn: u64) -> String {
    let rest = shared.journal.take();
    let mut missing = unwritten.to_vec();
    missing.extend_from_slice(&rest.bytes);
    let (records, first) = record::span(&missing);
    let mut report = Vec::new();
    if let Some(first) = first {
        report.push(format!(
            "{records} records ({} bytes) not written to the log, LSN {first} to {}: \
             those writes are lost",
            missing.len(),
            first + records as u64 - 1
        ));
    }
    if written_lsn > synced_lsn {
        report.push(format!(
            "records LSN {} to {written_lsn} written but not fsynced: they survive unless \
             the machine loses power",
            synced_lsn + 1
        ));
    }
    let report = format!("Shutting down with {}.", report.join("; "));
    log::warning(&report);
    report
}

/// Finishes the current segment (fsync) and creates the next, starting at `lsn`.
fn rotate(shared: &Shared, current: &File, lsn: u64) -> io::Result<(File, PathBuf)> {
    current.sync_data()?;
    let dir = shared.persistence.dir.locked().clone();
    aof::create_segment(&dir, lsn)
}

/// A replica's full sync: the log becomes the snapshot received (fsynced at `temp`) as
/// a base at `lsn`, with an empty segment after it. Called with the keyspace gate held
/// exclusively, so nothing is written meanwhile.
pub fn restart_with_base(shared: &Shared, dir: &Path, lsn: u64, temp: &Path) -> io::Result<()> {
    // What the old writer could not write predates the snapshot that replaces it.
    let _ = shutdown(shared);
    aof::replace_with_base(dir, lsn, temp)?;
    shared.persistence.stop.store(false, Ordering::Release);
    start(shared, dir, lsn)
}

/// Writes and fsyncs everything queued, then stops the writer (clean shutdown). If
/// the log cannot be written within `STOP_RETRY`, says what was not written.
pub fn shutdown(shared: &Shared) -> Result<(), String> {
    shared.persistence.stop.store(true, Ordering::Release);
    shared.journal.wake();
    let handle = shared.persistence.writer.locked().take();
    match handle.map(|h| h.join()) {
        Some(Ok(result)) => result,
        Some(Err(_)) => Err("the log writer panicked".into()),
        None => Ok(()),
    }
}
