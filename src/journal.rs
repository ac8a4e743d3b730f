//! The journal: the single place that orders writes and hands them to the log.
//!
//! Write handlers call `Ctx::propagate` with the canonical form of what they did
//! (relative TTLs made absolute, `SET .. GET` as a plain SET, ...). The journal gives
//! each record the next LSN, puts a `SELECT` in front when the database changes and
//! wraps the writes of one EXEC in MULTI/EXEC, then queues the encoded bytes for the log
//! writer. Callers hold the keyspace gate (exclusive for writes, shared for expiry
//! deletions, which cannot race a writer), so the order of records is the order in
//! which the keyspace changed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::aof::record;

#[derive(Default)]
struct State {
    next_lsn: u64,
    /// Database of the last record, so SELECT is written only on a change.
    db: Option<usize>,
    /// Encoded records not yet taken by the writer.
    pending: Vec<u8>,
    /// LSN of the last record in `pending` (or taken from it).
    last_lsn: u64,
    /// Inside EXEC: `Some(false)` until its first write emits MULTI.
    transaction: Option<bool>,
    /// A new segment starts at this LSN, whose record begins at this offset of `pending`.
    rotation: Option<(u64, usize)>,
}

/// What the writer takes from the journal in one go.
#[derive(Debug, Default)]
pub struct Taken {
    pub bytes: Vec<u8>,
    /// LSN of the last record in `bytes`.
    pub last_lsn: u64,
    /// (first LSN of a new segment, offset in `bytes` where its records begin).
    pub rotation: Option<(u64, usize)>,
}

pub struct Journal {
    enabled: AtomicBool,
    state: Mutex<State>,
    /// Signalled when records are queued.
    queued: Condvar,
}

impl Journal {
    /// A journal whose first record will carry `next_lsn`; disabled until `enable`.
    pub fn new(next_lsn: u64) -> Journal {
        Journal {
            enabled: AtomicBool::new(false),
            state: Mutex::new(State {
                next_lsn,
                last_lsn: next_lsn.saturating_sub(1),
                ..State::default()
            }),
            queued: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts recording (after the log has been loaded), continuing at `next_lsn`.
    pub fn enable(&self, next_lsn: u64) {
        let mut state = self.lock();
        state.next_lsn = next_lsn;
        state.last_lsn = next_lsn.saturating_sub(1);
        state.db = None;
        self.enabled.store(true, Ordering::Release);
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Records `args` as a write to database `db`; returns its LSN, or `None` when the
    /// journal is off (no log, or the log is being replayed).
    pub fn append(&self, db: usize, args: &[&[u8]]) -> Option<u64> {
        if !self.is_enabled() {
            return None;
        }
        let mut state = self.lock();
        if state.transaction == Some(false) {
            state.transaction = Some(true);
            push(&mut state, &[b"MULTI"]);
        }
        if state.db != Some(db) {
            state.db = Some(db);
            let index = db.to_string();
            push(&mut state, &[b"SELECT", index.as_bytes()]);
        }
        let lsn = push(&mut state, args);
        drop(state);
        self.queued.notify_one();
        Some(lsn)
    }

    /// EXEC begins: its writes, if any, are logged between MULTI and EXEC.
    pub fn begin_transaction(&self) {
        self.lock().transaction = Some(false);
    }

    /// EXEC ends; returns the LSN of the closing EXEC record if anything was written.
    pub fn end_transaction(&self) -> Option<u64> {
        let mut state = self.lock();
        let wrote = state.transaction.take() == Some(true);
        if !wrote || !self.is_enabled() {
            return None;
        }
        let lsn = push(&mut state, &[b"EXEC"]);
        drop(state);
        self.queued.notify_one();
        Some(lsn)
    }

    /// Takes everything queued, waiting up to `timeout` for something to arrive.
    pub fn take(&self, timeout: std::time::Duration) -> Taken {
        let mut state = self.lock();
        if state.pending.is_empty() && state.rotation.is_none() {
            state = self
                .queued
                .wait_timeout(state, timeout)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Taken {
            bytes: std::mem::take(&mut state.pending),
            last_lsn: state.last_lsn,
            rotation: state.rotation.take(),
        }
    }

    /// Asks the writer to start a new segment with the next record; returns that
    /// record's LSN. The caller holds the keyspace gate exclusively, so the segment
    /// boundary falls exactly between two writes.
    pub fn request_rotation(&self) -> u64 {
        let mut state = self.lock();
        let lsn = state.next_lsn;
        let offset = state.pending.len();
        state.rotation = Some((lsn, offset));
        // A segment must not depend on the SELECT of the one before it.
        state.db = None;
        drop(state);
        self.queued.notify_one();
        lsn
    }

    /// Wakes a writer blocked in `take` (shutdown).
    pub fn wake(&self) {
        self.queued.notify_all();
    }

    /// The LSN the next record will get.
    pub fn next_lsn(&self) -> u64 {
        self.lock().next_lsn
    }
}

fn push(state: &mut State, args: &[&[u8]]) -> u64 {
    let lsn = state.next_lsn;
    state.next_lsn += 1;
    state.last_lsn = lsn;
    record::encode(lsn, args, &mut state.pending);
    lsn
}
