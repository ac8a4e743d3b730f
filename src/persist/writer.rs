//! The log writer: one thread takes what the journal has queued, appends it to the
//! newest segment, fsyncs by the policy and starts a new segment when a rewrite asks.
//!
//! A client's replies to writes wait until the write() covering them is done, and
//! under `appendfsync always` until the fsync is; one write or fsync covers everything
//! queued while the previous one ran (group commit). Under `everysec` the fsync runs
//! on a thread of its own, so replies never wait for it. A failed write or fsync is retried; meanwhile writes are refused (MISCONF),
//! replies to writes not yet in the log become MISCONF (`Persistence::wait_durable`)
//! and reads go on. At shutdown the writer retries for `STOP_RETRY`, then gives up and
//! logs what was not written, so a full disk cannot keep the server from exiting.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crate::aof;
use crate::config::AppendFsync;
use crate::state::Shared;
use crate::sync::Recover;
use crate::{aof::record, log};

/// How long a stopping writer keeps retrying a failed write or fsync before it gives
/// up and reports what was not written.
const STOP_RETRY: Duration = Duration::from_secs(2);

/// Opens the newest segment (creating the first) and starts writing at `next_lsn`.
pub fn start(shared: &Shared, dir: &Path, next_lsn: u64) -> io::Result<()> {
    let writer = shared
        .arc()
        .ok_or_else(|| io::Error::other("the server is shutting down"))?;
    let log = &shared.persistence;
    let (first, path, file) = aof::open_newest_segment(dir, next_lsn)?;
    log.current_segment.store(first, Ordering::Release);
    *log.dir.locked() = dir.to_path_buf();
    log.set_durable_lsn(next_lsn.saturating_sub(1));
    log.logging.store(true, Ordering::Release);
    shared.journal.enable(next_lsn, true);
    let handle = thread::Builder::new()
        .name("roost-aof".into())
        .spawn(move || write_loop(&writer, file, path))?;
    *log.writer.locked() = Some(handle);
    Ok(())
}

fn write_loop(shared: &Shared, mut file: File, mut path: PathBuf) -> Result<(), String> {
    let log = &shared.persistence;
    let mut good_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut unwritten: Vec<u8> = Vec::new();
    let mut unwritten_lsn = 0;
    // (first LSN of the next segment, offset in `unwritten` where it begins)
    let mut rotation: Option<(u64, usize)> = None;
    let mut written_lsn = log.durable_lsn();
    let mut synced_lsn = written_lsn;
    let mut last_sync = Instant::now();
    let mut give_up_at: Option<Instant> = None;
    // An `everysec` fsync running beside the writer, so replies (which wait for the
    // write, not the fsync) are not held up by it: the LSN it covers and its thread.
    let mut background: Option<(u64, thread::JoinHandle<io::Result<()>>)> = None;
    // A failed fsync is cleared only by a successful one (as Redis does), not by a
    // write that succeeds meanwhile.
    let mut fsync_failed = false;
    loop {
        let stopping = log.stop.load(Ordering::Acquire);
        if stopping && give_up_at.is_none() {
            give_up_at = Some(Instant::now() + STOP_RETRY);
        }
        let give_up = give_up_at.is_some_and(|at| Instant::now() >= at);
        let taken = shared.journal.take(Duration::from_millis(50));
        if let Some((lsn, offset)) = taken.rotation {
            rotation = Some((lsn, unwritten.len() + offset));
        }
        if !taken.bytes.is_empty() {
            if unwritten.is_empty() {
                // The usual case: nothing left over, so no copy.
                unwritten = taken.bytes;
            } else {
                unwritten.extend_from_slice(&taken.bytes);
            }
            unwritten_lsn = taken.last_lsn;
        }
        // Records for the current segment: up to a pending rotation, or all.
        let upto = rotation.map_or(unwritten.len(), |(_, offset)| offset);
        if upto > 0 {
            if let Err(e) = file.write_all(&unwritten[..upto]) {
                // Cut any partial record so the next attempt appends cleanly.
                let _ = file.set_len(good_len);
                log.report_error(&path, "write", &e);
                if give_up {
                    return Err(abandon(shared, &unwritten, written_lsn, synced_lsn));
                }
                thread::sleep(Duration::from_millis(100));
                continue;
            }
            good_len += upto as u64;
            unwritten.drain(..upto);
            written_lsn = match rotation {
                Some((lsn, _)) => lsn - 1,
                None => unwritten_lsn,
            };
            if !fsync_failed {
                log.clear_error();
            }
        }
        if let Some((lsn, _)) = rotation {
            match rotate(shared, &file, lsn) {
                Ok((next_file, next_path)) => {
                    log.current_segment.store(lsn, Ordering::Release);
                    synced_lsn = written_lsn;
                    good_len = next_file.metadata().map(|m| m.len()).unwrap_or(0);
                    file = next_file;
                    path = next_path;
                    rotation = None;
                    fsync_failed = false;
                    log.clear_error();
                    continue;
                }
                Err(e) => {
                    rotation = Some((lsn, 0));
                    log.report_error(&path, "rotat", &e);
                    if give_up {
                        return Err(abandon(shared, &unwritten, written_lsn, synced_lsn));
                    }
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            }
        }
        let finished = background.as_ref().is_some_and(|(_, h)| h.is_finished());
        if finished || (stopping && background.is_some()) {
            if let Some((lsn, handle)) = background.take() {
                let synced = handle
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("the fsync thread panicked")));
                match synced {
                    Ok(()) => {
                        synced_lsn = synced_lsn.max(lsn);
                        fsync_failed = false;
                        log.clear_error();
                    }
                    Err(e) => {
                        fsync_failed = true;
                        log.report_error(&path, "fsync", &e);
                        if give_up {
                            return Err(abandon(shared, &unwritten, written_lsn, synced_lsn));
                        }
                        thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                }
            }
        }
        let policy = log.policy();
        let due = match policy {
            AppendFsync::Always => written_lsn > synced_lsn,
            AppendFsync::Everysec => {
                background.is_none()
                    && written_lsn > synced_lsn
                    && last_sync.elapsed() >= Duration::from_secs(1)
            }
            AppendFsync::No => false,
        } || (stopping && written_lsn > synced_lsn);
        if due && policy == AppendFsync::Everysec && !stopping {
            let lsn = written_lsn;
            let started = file.try_clone().and_then(|f| {
                thread::Builder::new()
                    .name("roost-fsync".into())
                    .spawn(move || f.sync_data())
            });
            match started {
                Ok(handle) => {
                    background = Some((lsn, handle));
                    last_sync = Instant::now();
                }
                Err(e) => {
                    fsync_failed = true;
                    log.report_error(&path, "fsync", &e);
                }
            }
        } else if due {
            match file.sync_data() {
                Ok(()) => {
                    synced_lsn = written_lsn;
                    last_sync = Instant::now();
                    fsync_failed = false;
                    log.clear_error();
                }
                Err(e) => {
                    fsync_failed = true;
                    log.report_error(&path, "fsync", &e);
                    if give_up {
                        return Err(abandon(shared, &unwritten, written_lsn, synced_lsn));
                    }
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            }
        }
        let visible = if policy == AppendFsync::Always {
            synced_lsn
        } else {
            written_lsn
        };
        log.set_durable_lsn(visible);
        log.set_synced_lsn(synced_lsn);
        if stopping && unwritten.is_empty() && written_lsn == synced_lsn {
            let rest = shared.journal.take(Duration::ZERO);
            if rest.bytes.is_empty() && rest.rotation.is_none() {
                return Ok(());
            }
            if let Some((lsn, offset)) = rest.rotation {
                rotation = Some((lsn, offset));
            }
            unwritten.extend_from_slice(&rest.bytes);
            unwritten_lsn = rest.last_lsn;
        }
    }
}

/// The writer stops without having logged everything: says exactly what is missing, by
/// LSN, records and bytes, in the server log.
fn abandon(shared: &Shared, unwritten: &[u8], written_lsn: u64, synced_lsn: u64) -> String {
    let rest = shared.journal.take(Duration::ZERO);
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
