//! What the server knows about its log while it runs: the fsync policy, how far the log
//! is durable, the error that stops writes (MISCONF), rewrite statistics, and the handle
//! of the writer thread. The writer itself (`persist::writer`) updates these; commands
//! and connections only read them, so they need nothing above this layer.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::AppendFsync;
use crate::log;
use crate::sync::Recover;

pub struct Persistence {
    policy: AtomicU8,
    durable_tx: watch::Sender<u64>,
    durable_rx: watch::Receiver<u64>,
    /// The last write or fsync error, while writes are failing (MISCONF).
    error: Mutex<Option<String>>,
    /// Asks the writer thread to drain, fsync and stop.
    pub stop: AtomicBool,
    pub writer: Mutex<Option<JoinHandle<()>>>,
    /// The data directory, once the log is open.
    pub dir: Mutex<PathBuf>,
    /// First LSN of the segment being written.
    pub current_segment: AtomicU64,
    pub rewrites: RewriteStatus,
}

/// What INFO persistence and LASTSAVE report about rewrites.
#[derive(Default)]
pub struct RewriteStatus {
    pub in_progress: AtomicBool,
    pub last_failed: AtomicBool,
    pub count: AtomicU64,
    /// Duration of the last rewrite in seconds, -1 before the first.
    pub last_seconds: AtomicI64,
    /// Unix seconds of the last successful rewrite (LASTSAVE), 0 before the first.
    pub last_success: AtomicU64,
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
        let (durable_tx, durable_rx) = watch::channel(0);
        Persistence {
            policy: AtomicU8::new(policy_code(policy)),
            durable_tx,
            durable_rx,
            error: Mutex::new(None),
            stop: AtomicBool::new(false),
            writer: Mutex::new(None),
            dir: Mutex::new(PathBuf::new()),
            current_segment: AtomicU64::new(0),
            rewrites: RewriteStatus {
                last_seconds: AtomicI64::new(-1),
                ..RewriteStatus::default()
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

    /// The write error that makes Roost refuse writes, if any.
    pub fn write_error(&self) -> Option<String> {
        self.error.locked().clone()
    }

    /// The writer failed to write, rotate or fsync `path`: writes are refused until it
    /// succeeds again.
    pub fn report_error(&self, path: &std::path::Path, what: &str, e: &std::io::Error) {
        let mut error = self.error.locked();
        if error.is_none() {
            log::warning(&format!(
                "Error {what}ing the log {}: {e}. Refusing writes until it can be written.",
                path.display()
            ));
        }
        *error = Some(e.to_string());
    }

    pub fn clear_error(&self) {
        if self.error.locked().take().is_some() {
            log::warning("The log can be written again; accepting writes.");
        }
    }

    /// The LSN up to which replies may leave (durable under `always`, written otherwise).
    pub fn durable_lsn(&self) -> u64 {
        *self.durable_rx.borrow()
    }

    pub fn set_durable_lsn(&self, lsn: u64) {
        if *self.durable_rx.borrow() != lsn {
            let _ = self.durable_tx.send(lsn);
        }
    }

    /// Waits until the record `lsn` is durable, when the policy asks replies to wait.
    pub async fn wait_durable(&self, lsn: u64) {
        if self.policy() != AppendFsync::Always {
            return;
        }
        let mut rx = self.durable_rx.clone();
        let _ = rx.wait_for(|durable| *durable >= lsn).await;
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
