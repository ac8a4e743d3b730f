//! Locks that survive a panic in another holder.
//!
//! A panic while a lock is held poisons it; the standard library then refuses every
//! later lock. Roost's critical sections leave their data consistent at every step a
//! panic could interrupt (they push, insert or replace whole values), so one failed
//! command must not take every later client down with it: the guard is taken over.

use std::sync::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

pub trait Recover<T: ?Sized> {
    /// The lock, taken over if a holder panicked.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T: ?Sized> Recover<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Shared and exclusive access to an `RwLock`, taken over if a holder panicked.
pub trait RecoverRw<T: ?Sized> {
    fn reading(&self) -> RwLockReadGuard<'_, T>;
    fn writing(&self) -> RwLockWriteGuard<'_, T>;
    /// `reading`, unless that would wait.
    fn try_reading(&self) -> Option<RwLockReadGuard<'_, T>>;
    /// `writing`, unless that would wait.
    fn try_writing(&self) -> Option<RwLockWriteGuard<'_, T>>;
}

impl<T: ?Sized> RecoverRw<T> for RwLock<T> {
    fn reading(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(|e| e.into_inner())
    }
    fn writing(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(|e| e.into_inner())
    }
    fn try_reading(&self) -> Option<RwLockReadGuard<'_, T>> {
        match self.try_read() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
    fn try_writing(&self) -> Option<RwLockWriteGuard<'_, T>> {
        match self.try_write() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// `Condvar::wait_timeout` on a guard taken with `locked`, recovering the same way.
pub fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    condvar
        .wait_timeout(guard, timeout)
        .unwrap_or_else(|e| e.into_inner())
        .0
}
