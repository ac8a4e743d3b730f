//! CLIENT PAUSE: until a deadline, commands of clients (all of them, or only those that
//! write) are held, as Redis 7 holds them; CLIENT UNPAUSE ends it early. Checking costs
//! the command path one atomic load while no pause was ever set.
//!
//! FAILOVER holds writes too, with no deadline, beside CLIENT PAUSE and not through it:
//! as in Redis (a pause per purpose), CLIENT UNPAUSE does not end it, and it ending
//! does not end a CLIENT PAUSE.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

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
    /// A FAILOVER holds writes until it ends.
    failover: AtomicBool,
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

    /// Holds writes for a FAILOVER (true) or stops holding them for it (false).
    pub fn set_failover(&self, on: bool) {
        self.failover.store(on, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// The pause in force at `now_ms`, if any, and when it may next change (`u64::MAX`:
    /// only when lifted).
    pub fn current(&self, now_ms: u64) -> Option<(PauseMode, u64)> {
        let until = self.until_ms.load(Ordering::Acquire);
        let client = (until != 0 && until > now_ms).then(|| {
            let mode = match self.mode.load(Ordering::Acquire) {
                2 => PauseMode::All,
                _ => PauseMode::Write,
            };
            (mode, until)
        });
        if !self.failover.load(Ordering::Acquire) {
            return client;
        }
        match client {
            // CLIENT PAUSE ALL is stricter until it ends; then writes stay held.
            Some((PauseMode::All, until)) => Some((PauseMode::All, until)),
            _ => Some((PauseMode::Write, u64::MAX)),
        }
    }

    /// Until when expiry is held (unix ms; `u64::MAX` while a FAILOVER holds writes; 0
    /// for no pause): Redis 7 pauses expiry and eviction under either mode.
    pub fn holds_expiry_until(&self) -> u64 {
        if self.failover.load(Ordering::Acquire) {
            u64::MAX
        } else {
            self.until_ms.load(Ordering::Acquire)
        }
    }

    /// Whether any pause was ever set and may be in force (one load, two while a
    /// FAILOVER may hold writes).
    pub fn maybe_paused(&self) -> bool {
        self.until_ms.load(Ordering::Relaxed) != 0 || self.failover.load(Ordering::Relaxed)
    }

    /// Resolves when the pause is lifted or changed, or at `until_ms` (the second half
    /// of what `current` answered).
    pub async fn changed_or_ended(&self, until_ms: u64) {
        let changed = self.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let now = crate::clock::now_ms();
        if self.current(now).map(|(_, until)| until) != Some(until_ms) {
            return;
        }
        let deadline = (until_ms != u64::MAX).then_some(until_ms);
        tokio::select! {
            _ = changed => {}
            _ = crate::clock::sleep_until_ms(deadline) => {}
        }
    }
}
