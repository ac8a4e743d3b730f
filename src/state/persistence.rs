//! What the server knows about its log while it runs: the fsync policy, how far the log
//! is durable, the error that stops writes (MISCONF), rewrite statistics, and the handle
//! of the writer thread. The writer itself (`persist::writer`) updates these; commands
//! and connections only read them, so they need nothing above this layer.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::AppendFsync;
use crate::log;
use crate::sync::Recover;

pub struct Persistence {
    policy: AtomicU8,
    /// How far replies may go, and whether the log is failing: connections waiting
    /// for their writes watch both.
    durable_tx: watch::Sender<Progress>,
    durable_rx: watch::Receiver<Progress>,
    /// The LSN up to which the log is fsynced (WAITAOF; a replica's `FACK`).
    synced_tx: watch::Sender<u64>,
    /// The last write or fsync error, while writes are failing (MISCONF).
    error: Mutex<Option<String>>,
    /// `error` is set: read on every write command and after every log write, so
    /// the usual case (no error) takes no lock.
    failing: AtomicBool,
    /// Asks the writer thread to drain, fsync and stop.
    pub stop: AtomicBool,
    /// A log writer was started (appendonly yes): replies to writes wait for it.
    pub logging: AtomicBool,
    /// The writer thread; it ends with what it could not write, if anything.
    pub writer: Mutex<Option<JoinHandle<Result<(), String>>>>,
    /// The segment being appended to, while the writer runs. The writer thread and a
    /// connection writing inline (`persist::writer::write_queued`) each take the journal's
    /// records only while holding it, so records reach the file in LSN order.
    pub segment: Mutex<Option<Segment>>,
    /// An `everysec` fsync is running: connections then leave the writing to the writer
    /// thread, since a write() to a file being fsynced may wait for the disk.
    pub fsync_running: Arc<AtomicBool>,
    /// The data directory, once the log is open.
    pub dir: Mutex<PathBuf>,
    /// First LSN of the segment being written.
    pub current_segment: AtomicU64,
    pub rewrites: RewriteStatus,
    pub rdb: RdbStatus,
}

/// What INFO persistence, LASTSAVE and the `save` schedule know about RDB saves.
#[derive(Default)]
pub struct RdbStatus {
    pub in_progress: AtomicBool,
    pub last_failed: AtomicBool,
    pub saves: AtomicU64,
    /// Duration of the last save in seconds, -1 before the first.
    pub last_seconds: AtomicI64,
    /// Unix ms when the running save began.
    pub started_ms: AtomicU64,
    /// Unix seconds of the last successful save (or of the load of the file).
    pub last_success: AtomicU64,
    /// Unix seconds of the last attempt, for the retry delay after a failure.
    pub last_attempt: AtomicU64,
    /// Writes made since startup (each command that changed the keyspace, from a
    /// client or a primary), and their number when the last save's snapshot was taken:
    /// the difference is `rdb_changes_since_last_save`.
    pub changes: AtomicU64,
    pub saved_changes: AtomicU64,
    /// Keys loaded from the file at startup, and keys skipped there as expired.
    pub loaded_keys: AtomicU64,
    pub expired_at_load: AtomicU64,
    /// What SHUTDOWN asked for: 0 the `save` schedule decides, 1 SAVE, 2 NOSAVE.
    pub shutdown_mode: std::sync::atomic::AtomicU8,
}

/// What INFO persistence and LASTSAVE report about rewrites.
#[derive(Default)]
pub struct RewriteStatus {
    pub in_progress: AtomicBool,
    pub last_failed: AtomicBool,
    pub count: AtomicU64,
    /// Rewrites that failed since the last that succeeded.
    pub consecutive_failures: AtomicU64,
    /// Unix ms when the running rewrite began; 0 when none runs.
    pub started_ms: AtomicU64,
    /// Duration of the last rewrite in seconds, -1 before the first.
    pub last_seconds: AtomicI64,
    /// Unix seconds of the last successful rewrite (LASTSAVE), 0 before the first.
    pub last_success: AtomicU64,
}

/// The open segment and how far it is written.
pub struct Segment {
    pub file: File,
    pub path: PathBuf,
    /// Length up to the last whole record written: a failed write is cut back to it.
    pub good_len: u64,
    /// Records taken from the journal but not written yet (a failed write, or records
    /// past a pending rotation).
    pub unwritten: Vec<u8>,
    /// LSN of the last record in `unwritten`.
    pub unwritten_lsn: u64,
    /// (first LSN of the next segment, offset in `unwritten` where it begins).
    pub rotation: Option<(u64, usize)>,
    /// LSN of the last record written to the file (not necessarily fsynced).
    pub written_lsn: u64,
}

/// What the writer publishes to the connections: the LSN up to which replies may
/// leave, and whether the last write, fsync or rotation failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub lsn: u64,
    pub failing: bool,
}

/// A reply to a write that cannot be acknowledged: its record is not in the log (not
/// written, or under `always` not fsynced) and the log is failing. Replies to writes
/// up to `durable_lsn` may still leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotLogged {
    pub durable_lsn: u64,
    pub cause: String,
}

/// The error as C's strerror spells it, as Redis's MISCONF text has it ("No space
/// left on device", without Rust's " (os error 28)").
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .map_or(text.clone(), str::to_string),
        None => text,
    }
}

fn policy_code(p: AppendFsync) -> u8 {
    match p {
        AppendFsync::Always => 0,
        AppendFsync::Everysec => 1,
        AppendFsync::No => 2,
    }
}

impl Persistence {
    pub fn new(policy: AppendFsync) -> Persistence {
        let (durable_tx, durable_rx) = watch::channel(Progress::default());
        Persistence {
            policy: AtomicU8::new(policy_code(policy)),
            durable_tx,
            durable_rx,
            synced_tx: watch::channel(0).0,
            error: Mutex::new(None),
            failing: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            logging: AtomicBool::new(false),
            writer: Mutex::new(None),
            segment: Mutex::new(None),
            fsync_running: Arc::new(AtomicBool::new(false)),
            dir: Mutex::new(PathBuf::new()),
            current_segment: AtomicU64::new(0),
            rewrites: RewriteStatus {
                last_seconds: AtomicI64::new(-1),
                ..RewriteStatus::default()
            },
            rdb: RdbStatus {
                last_seconds: AtomicI64::new(-1),
                ..RdbStatus::default()
            },
        }
    }

    pub fn set_policy(&self, policy: AppendFsync) {
        self.policy.store(policy_code(policy), Ordering::Relaxed);
    }

    pub fn policy(&self) -> AppendFsync {
        match self.policy.load(Ordering::Relaxed) {
            0 => AppendFsync::Always,
            1 => AppendFsync::Everysec,
            _ => AppendFsync::No,
        }
    }

    /// The last write, fsync or rotation failed and has not succeeded since.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    /// The write error that makes Roost refuse writes, if any.
    pub fn write_error(&self) -> Option<String> {
        if !self.failing.load(Ordering::Acquire) {
            return None;
        }
        self.error.locked().clone()
    }

    /// The writer failed to write, rotate or fsync `path`: writes are refused until it
    /// succeeds again.
    /// `what` ("write", "fsync", "rotat") failed on `path`: writes are refused until it
    /// succeeds again, and replies to writes not yet in the log become MISCONF.
    pub fn report_error(&self, path: &std::path::Path, what: &str, e: &std::io::Error) {
        let mut error = self.error.locked();
        if error.is_none() {
            log::warning(&format!(
                "Error {what}ing the log {}: {e}. Refusing writes until it can be written.",
                path.display()
            ));
        }
        *error = Some(strerror(e));
        self.failing.store(true, Ordering::Release);
        // Published while the error is held, so a connection that sees `failing` also
        // finds the cause.
        self.durable_tx
            .send_if_modified(|p| !std::mem::replace(&mut p.failing, true));
    }

    pub fn clear_error(&self) {
        if !self.failing.load(Ordering::Acquire) {
            return;
        }
        let mut error = self.error.locked();
        self.failing.store(false, Ordering::Release);
        if error.take().is_some() {
            log::warning("The log can be written again; accepting writes.");
        }
        self.durable_tx
            .send_if_modified(|p| std::mem::replace(&mut p.failing, false));
    }

    /// The LSN up to which replies may leave (durable under `always`, written otherwise).
    pub fn durable_lsn(&self) -> u64 {
        self.durable_rx.borrow().lsn
    }

    pub fn set_durable_lsn(&self, lsn: u64) {
        self.durable_tx.send_if_modified(|p| {
            let changed = p.lsn != lsn;
            p.lsn = lsn;
            changed
        });
    }

    /// The LSN up to which the log is fsynced: never past what the writer has written,
    /// and under `appendfsync no` only what a segment switch or shutdown fsynced.
    pub fn synced_lsn(&self) -> u64 {
        *self.synced_tx.borrow()
    }

    pub fn set_synced_lsn(&self, lsn: u64) {
        self.synced_tx.send_if_modified(|synced| {
            let changed = *synced != lsn;
            *synced = lsn;
            changed
        });
    }

    /// Follows `synced_lsn` (WAITAOF waits on it; a replica acknowledges it).
    pub fn watch_synced(&self) -> watch::Receiver<u64> {
        self.synced_tx.subscribe()
    }

    /// May the replies to writes up to `lsn` leave? Waits until the record is written
    /// to the log (under `always`: fsynced), so `kill -9` loses nothing acknowledged
    /// under any policy. A record not in the log while the log is failing is not
    /// acknowledged: the caller answers MISCONF instead.
    pub async fn wait_durable(&self, lsn: u64) -> Result<(), NotLogged> {
        if !self.logging.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut rx = self.durable_rx.clone();
        let progress = match rx.wait_for(|p| p.lsn >= lsn || p.failing).await {
            Ok(p) => *p,
            Err(_) => return Ok(()),
        };
        if progress.lsn >= lsn {
            return Ok(());
        }
        let cause = self.write_error();
        Err(NotLogged {
            durable_lsn: progress.lsn,
            cause: cause.unwrap_or_else(|| "the log could not be written".into()),
        })
    }

    /// Waits (up to `timeout`) until the writer has started the segment beginning at
    /// `lsn`; a rewrite may only remove older segments after that.
    pub fn wait_for_segment(&self, lsn: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.current_segment.load(Ordering::Acquire) < lsn {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(2));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_read_as_strerror() {
        let full = std::io::Error::from_raw_os_error(28);
        assert_eq!(super::strerror(&full), "No space left on device");
        let other = std::io::Error::other("the fsync thread panicked");
        assert_eq!(super::strerror(&other), "the fsync thread panicked");
    }
}
