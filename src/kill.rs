//! A connection's kill switch. CLIENT KILL, shutdown and a pub/sub outbox past its limit
//! flip it from other threads; the connection's task sees it at its next await.
//!
//! It lives below pub/sub and the client registry so that both can hold one without
//! knowing about the other.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Default)]
pub struct KillSwitch {
    killed: AtomicBool,
    wake: Notify,
}

impl KillSwitch {
    /// Marks the connection for closing and wakes its task (now or at its next wait).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        // Every wait registered now (a connection keeps one armed across requests
        // beside the one of whatever it awaits), and the next one if none is.
        self.wake.notify_waiters();
        self.wake.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Resolves once `kill` has been called (also for a call made before the wait).
    pub async fn notified(&self) {
        self.wake.notified().await
    }
}
