//! A connection's kill switch. CLIENT KILL, shutdown and a pub/sub outbox past its limit
//! flip it from other threads; the connection's task sees it at its next await.
//!
//! It lives below pub/sub and the client registry so that both can hold one without
//! knowing about the other.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Waker};

use tokio::sync::Notify;

#[derive(Default)]
pub struct KillSwitch {
    killed: AtomicBool,
    wake: Notify,
    /// The waker of the connection's wait for its next request (`killed`): one slot,
    /// written again only when the task's waker changes, so keeping the wait armed
    /// costs a lock and a compare per request (a `Notify` wait polled again costs
    /// several times that).
    waiting: parking_lot::Mutex<Option<Waker>>,
}

impl KillSwitch {
    /// Marks the connection for closing and wakes its task (now or at its next wait).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        if let Some(waker) = self.waiting.lock().take() {
            waker.wake();
        }
        // Every other wait registered now (blocked, writing, waiting for a script),
        // and the next one if none is.
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

    /// As `notified`, for the connection's own task between requests only (its one
    /// waker slot is not shared).
    pub fn killed(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.is_killed() {
                return Poll::Ready(());
            }
            {
                let mut slot = self.waiting.lock();
                if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *slot = Some(cx.waker().clone());
                }
            }
            // Seen after the slot is written: a kill in between is not missed.
            if self.is_killed() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}
