//! CLIENT PAUSE: until a deadline, commands of clients (all of them, or only those that
//! write) are held, as Redis 7 holds them; CLIENT UNPAUSE ends it early. Checking costs
//! the command path one atomic load while no pause was ever set.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// What a pause holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseMode {
    /// Commands that write or may propagate (scripts, PUBLISH, WAIT, EXEC of writes).
    Write,
    /// Every command.
    All,
}

#[derive(Default)]
pub struct Pause {
    /// Unix ms when the pause ends; 0: none.
    until_ms: AtomicU64,
    /// 1 for `Write`, 2 for `All`.
    mode: AtomicU8,
    /// Woken when a pause is lifted or changed.
    changed: tokio::sync::Notify,
}

impl Pause {
    /// Pauses until `until_ms`. As in Redis, a pause already in force is only ever
    /// extended or made stricter, never shortened or relaxed, by another PAUSE.
    pub fn pause(&self, until_ms: u64, mode: PauseMode, now_ms: u64) {
        let wanted = match mode {
            PauseMode::Write => 1,
            PauseMode::All => 2,
        };
        if self.until_ms.load(Ordering::Acquire) > now_ms {
            self.until_ms.fetch_max(until_ms, Ordering::AcqRel);
            self.mode.fetch_max(wanted, Ordering::AcqRel);
        } else {
            self.mode.store(wanted, Ordering::Release);
            self.until_ms.store(until_ms, Ordering::Release);
        }
        self.changed.notify_waiters();
    }

    pub fn unpause(&self) {
        self.until_ms.store(0, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// The pause in force at `now_ms`, if any.
    pub fn current(&self, now_ms: u64) -> Option<(PauseMode, u64)> {
        let until = self.until_ms.load(Ordering::Acquire);
        if until == 0 || until <= now_ms {
            return None;
        }
        let mode = match self.mode.load(Ordering::Acquire) {
            2 => PauseMode::All,
            _ => PauseMode::Write,
        };
        Some((mode, until))
    }

    /// Whether any pause was ever set and may be in force (one load).
    pub fn maybe_paused(&self) -> bool {
        self.until_ms.load(Ordering::Relaxed) != 0
    }

    /// Resolves when the pause is lifted or changed, or at `until_ms`.
    pub async fn changed_or_ended(&self, until_ms: u64) {
        let changed = self.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if self.until_ms.load(Ordering::Acquire) != until_ms {
            return;
        }
        tokio::select! {
            _ = changed => {}
            _ = crate::clock::sleep_until_ms(Some(until_ms)) => {}
        }
    }
}
