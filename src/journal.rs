//! The journal: the single place that orders writes and hands them to the log and to
//! replicas.
//!
//! Write handlers call `Ctx::propagate` with the canonical form of what they did
//! (relative TTLs made absolute, `SET .. GET` as a plain SET, ...). The journal gives
//! each record the next LSN, puts a `SELECT` in front when the database changes and
//! wraps the writes of one EXEC in MULTI/EXEC. The encoded record then goes to three
//! places: the queue the log writer takes from (when `appendonly` is on), the
//! replication backlog, and the outgoing queue of every attached replica. Callers hold
//! the keyspace gate (exclusive for writes, shared for expiry deletions, which cannot
//! race a writer), so the order of records is the order in which the keyspace changed.
//!
//! On a replica the records come from the primary already numbered: `append_raw` passes
//! them on unchanged, so a replica's log and its own replicas see the primary's LSNs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::aof::record;
use crate::sync::Recover;

#[derive(Default)]
struct State {
    next_lsn: u64,
    /// Database of the last record, so SELECT is written only on a change.
    db: Option<usize>,
    /// True when the log writer takes `pending` (appendonly yes).
    logging: bool,
    /// Encoded records not yet taken by the log writer.
    pending: Vec<u8>,
    /// LSN of the last record in `pending` (or taken from it).
    last_lsn: u64,
    /// Inside EXEC: `Some(false)` until its first write emits MULTI.
    transaction: Option<bool>,
    /// A new segment starts at this LSN, whose record begins at this offset of `pending`.
    rotation: Option<(u64, usize)>,
    /// Recent records for partial resynchronisation; created when a replica first
    /// attaches, as Redis does.
    backlog: Option<Backlog>,
    /// Outgoing queues of attached replicas.
    replicas: Vec<Arc<ReplicaQueue>>,
    /// The log writer is asleep in `take`: only then does a new record wake it (a
    /// futex call and a context switch), so one wakeup covers every record queued
    /// while it writes.
    writer_waiting: bool,
    /// While the writer gathers a group (`wait_for_group`), a record wakes it only
    /// once the queue reaches this LSN: one wakeup for the group, not one per record.
    wake_at_lsn: u64,
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

/// Where the stream stood when a replica attached or a rewrite began: the LSN of the
/// next record and the database the records before it left selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub next_lsn: u64,
    pub db: Option<usize>,
}

/// The records a replica has yet to be sent. The journal fills it; the replica's
/// connection drains it. Past `limit` bytes the replica is cut off rather than let
/// memory grow (Redis's `client-output-buffer-limit replica`).
pub struct ReplicaQueue {
    bytes: Mutex<Vec<u8>>,
    pub ready: tokio::sync::Notify,
    pub overflowed: AtomicBool,
    limit: u64,
    /// Highest size reached, for INFO.
    pub peak: AtomicU64,
}

impl ReplicaQueue {
    pub fn new(limit: u64) -> Arc<ReplicaQueue> {
        Arc::new(ReplicaQueue {
            bytes: Mutex::new(Vec::new()),
            ready: tokio::sync::Notify::new(),
            overflowed: AtomicBool::new(false),
            limit,
            peak: AtomicU64::new(0),
        })
    }

    /// Everything queued so far.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.bytes.locked())
    }

    pub fn len(&self) -> usize {
        self.bytes.locked().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes the queue holds.
    fn allocated(&self) -> usize {
        self.bytes.locked().capacity()
    }

    /// Queues `bytes`; false once the limit is passed (the replica must be dropped).
    fn push(&self, bytes: &[u8]) -> bool {
        let mut queued = self.bytes.locked();
        queued.extend_from_slice(bytes);
        let len = queued.len() as u64;
        drop(queued);
        self.peak.fetch_max(len, Ordering::Relaxed);
        if self.limit > 0 && len > self.limit {
            self.overflowed.store(true, Ordering::Release);
        }
        self.ready.notify_one();
        !self.overflowed.load(Ordering::Acquire)
    }
}

/// The last `limit` bytes of records, whole records only.
struct Backlog {
    data: VecDeque<u8>,
    /// Length of each record in `data`, oldest first.
    lens: VecDeque<usize>,
    /// LSN the next record will carry; the first held is `next_lsn - lens.len()`.
    next_lsn: u64,
    limit: usize,
}

impl Backlog {
    fn new(next_lsn: u64, limit: usize) -> Backlog {
        Backlog {
            data: VecDeque::new(),
            lens: VecDeque::new(),
            next_lsn,
            limit: limit.max(1),
        }
    }

    fn first_lsn(&self) -> u64 {
        self.next_lsn - self.lens.len() as u64
    }

    fn push(&mut self, lsn: u64, record: &[u8]) {
        if lsn != self.next_lsn {
            // The numbering jumped (a replica's full sync): older records no longer fit.
            self.data.clear();
            self.lens.clear();
        }
        self.data.extend(record);
        self.lens.push_back(record.len());
        self.next_lsn = lsn + 1;
        while self.data.len() > self.limit && self.lens.len() > 1 {
            let n = self.lens.pop_front().unwrap_or(0);
            self.data.drain(..n);
        }
    }

    /// The records from `lsn` on, if the backlog still holds them all.
    fn since(&self, lsn: u64) -> Option<Vec<u8>> {
        if lsn < self.first_lsn() || lsn > self.next_lsn {
            return None;
        }
        let skip: usize = self
            .lens
            .iter()
            .take((lsn - self.first_lsn()) as usize)
            .sum();
        Some(self.data.iter().skip(skip).copied().collect())
    }
}

/// What INFO replication reports about the backlog.
#[derive(Debug, Default, Clone, Copy)]
pub struct BacklogInfo {
    pub active: bool,
    pub size: usize,
    pub first_lsn: u64,
    pub histlen: usize,
}

pub struct Journal {
    enabled: AtomicBool,
    state: Mutex<State>,
    /// Signalled when records are queued for the log writer.
    queued: Condvar,
    /// LSN of the last record, readable without the lock (INFO, WAIT).
    last: AtomicU64,
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
            last: AtomicU64::new(next_lsn.saturating_sub(1)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.locked()
    }

    /// Starts numbering records at `next_lsn` (after the log has been loaded); `logging`
    /// when the log writer will take them.
    pub fn enable(&self, next_lsn: u64, logging: bool) {
        let mut state = self.lock();
        state.next_lsn = next_lsn;
        state.last_lsn = next_lsn.saturating_sub(1);
        state.db = None;
        state.logging = logging;
        self.last.store(state.last_lsn, Ordering::Release);
        self.enabled.store(true, Ordering::Release);
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// True when records go to the append-only log.
    pub fn is_logging(&self) -> bool {
        self.is_enabled() && self.lock().logging
    }

    /// Records `args` as a write to database `db`; returns its LSN, or `None` when the
    /// journal is off (the log is being replayed).
    pub fn append(&self, db: usize, args: &[&[u8]]) -> Option<u64> {
        let (lsn, state) = self.record(db, args)?;
        self.wake_writer(state);
        Some(lsn)
    }

    /// `append` without waking the log writer: a connection records every write of a
    /// batch of requests this way, then writes them itself or wakes the writer once
    /// with `flush` before it waits for them, so a pipeline costs one wakeup at most
    /// instead of one per write. (A record nobody flushes is still taken within the
    /// writer's 50 ms poll.)
    pub fn append_deferred(&self, db: usize, args: &[&[u8]]) -> Option<u64> {
        self.record(db, args).map(|(lsn, _)| lsn)
    }

    /// Wakes the log writer for the records `append_deferred` queued, if it sleeps.
    pub fn flush(&self) {
        let state = self.lock();
        if !state.pending.is_empty() {
            self.wake_writer(state);
        }
    }

    fn record(&self, db: usize, args: &[&[u8]]) -> Option<(u64, MutexGuard<'_, State>)> {
        if !self.is_enabled() {
            return None;
        }
        let mut state = self.lock();
        if state.transaction == Some(false) {
            state.transaction = Some(true);
            self.push(&mut state, &[b"MULTI"]);
        }
        if state.db != Some(db) {
            state.db = Some(db);
            let index = db.to_string();
            self.push(&mut state, &[b"SELECT", index.as_bytes()]);
        }
        let lsn = self.push(&mut state, args);
        Some((lsn, state))
    }

    /// Passes on records received from a primary, already encoded and numbered up to
    /// `last_lsn`; `db` is the database they leave selected.
    pub fn append_raw(&self, records: &[u8], first_lsn: u64, last_lsn: u64, db: Option<usize>) {
        if !self.is_enabled() || records.is_empty() {
            return;
        }
        let mut state = self.lock();
        if state.logging {
            state.pending.extend_from_slice(records);
        }
        state.next_lsn = last_lsn + 1;
        state.last_lsn = last_lsn;
        state.db = db;
        self.last.store(last_lsn, Ordering::Release);
        if let Some(backlog) = &mut state.backlog {
            // Split per record so the backlog can resume at any of them.
            let mut rest = records;
            let mut lsn = first_lsn;
            while rest.len() >= record::HEADER_LEN {
                let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                let total = (record::HEADER_LEN + len).min(rest.len());
                backlog.push(lsn, &rest[..total]);
                rest = &rest[total..];
                lsn += 1;
            }
        }
        state.replicas.retain(|replica| replica.push(records));
        self.wake_writer(state);
    }

    /// EXEC begins: its writes, if any, are logged between MULTI and EXEC.
    pub fn begin_transaction(&self) {
        self.lock().transaction = Some(false);
    }

    /// True inside EXEC (or a script) once it has written something.
    pub fn transaction_wrote(&self) -> bool {
        self.lock().transaction == Some(true)
    }

    /// EXEC ends; returns the LSN of the closing EXEC record if anything was written.
    pub fn end_transaction(&self) -> Option<u64> {
        let mut state = self.lock();
        let wrote = state.transaction.take() == Some(true);
        if !wrote || !self.is_enabled() {
            return None;
        }
        let lsn = self.push(&mut state, &[b"EXEC"]);
        self.wake_writer(state);
        Some(lsn)
    }

    /// A script abandoned by SHUTDOWN NOSAVE: its writes so far are closed with
    /// `DISCARD`, so loading the log (or a replica) drops them instead of holding
    /// later records back as part of the transaction.
    pub fn abort_transaction(&self) {
        let mut state = self.lock();
        let wrote = state.transaction.take() == Some(true);
        if !wrote || !self.is_enabled() {
            return;
        }
        self.push(&mut state, &[b"DISCARD"]);
        self.wake_writer(state);
    }

    /// The log just loaded ends inside a transaction cut off by a crash: closes it with
    /// `DISCARD` before any new record, or the next load would hold the new records
    /// back as part of it.
    pub fn close_torn_transaction(&self) {
        let mut state = self.lock();
        if !self.is_enabled() {
            return;
        }
        self.push(&mut state, &[b"DISCARD"]);
        self.wake_writer(state);
    }

    /// Waits up to `timeout` for records or a rotation to be queued for the log. The
    /// writer waits here, then takes them with `take` under the segment's lock.
    pub fn wait_queued(&self, timeout: std::time::Duration) {
        let mut state = self.lock();
        if state.pending.is_empty() && state.rotation.is_none() {
            state.writer_waiting = true;
            state = crate::sync::wait_timeout(&self.queued, state, timeout);
            state.writer_waiting = false;
        }
    }

    /// Waits until records up to `lsn` are queued (or a rotation is), but not past
    /// `until`: the writer gathering a group for one fsync under `always`.
    pub fn wait_for_group(&self, lsn: u64, until: Instant) {
        let mut state = self.lock();
        while state.last_lsn < lsn && state.rotation.is_none() {
            let now = Instant::now();
            if now >= until {
                break;
            }
            state.writer_waiting = true;
            state.wake_at_lsn = lsn;
            state = crate::sync::wait_timeout(&self.queued, state, until - now);
            state.writer_waiting = false;
            state.wake_at_lsn = 0;
        }
    }

    /// Takes everything queued for the log.
    pub fn take(&self) -> Taken {
        let mut state = self.lock();
        Taken {
            bytes: std::mem::take(&mut state.pending),
            last_lsn: state.last_lsn,
            rotation: state.rotation.take(),
        }
    }

    /// Takes the queued records unless a rotation is pending (which only the writer
    /// thread carries out): a connection writing them inline.
    pub fn take_unless_rotating(&self) -> Option<Taken> {
        let mut state = self.lock();
        if state.rotation.is_some() {
            return None;
        }
        Some(Taken {
            bytes: std::mem::take(&mut state.pending),
            last_lsn: state.last_lsn,
            rotation: None,
        })
    }

    /// Asks the writer to start a new segment with the next record; returns where the
    /// stream stands. The caller holds the keyspace gate exclusively, so the segment
    /// boundary falls exactly between two writes.
    pub fn request_rotation(&self) -> Mark {
        let mut state = self.lock();
        let mark = Mark {
            next_lsn: state.next_lsn,
            db: state.db,
        };
        let offset = state.pending.len();
        state.rotation = Some((mark.next_lsn, offset));
        if state.logging {
            // A primary's segment does not depend on the SELECT of the one before it.
            // (A replica's records come numbered; its base ends with the SELECT instead.)
            state.db = None;
        }
        self.wake_writer(state);
        mark
    }

    /// A replica's full sync replaced the data set: numbering continues at `next_lsn`
    /// with `db` selected, the backlog restarts and replicas of this one must resync.
    pub fn restart_at(&self, next_lsn: u64, db: Option<usize>) {
        let mut state = self.lock();
        state.next_lsn = next_lsn;
        state.last_lsn = next_lsn.saturating_sub(1);
        state.db = db;
        state.pending.clear();
        state.rotation = None;
        if let Some(backlog) = &mut state.backlog {
            *backlog = Backlog::new(next_lsn, backlog.limit);
        }
        for replica in state.replicas.drain(..) {
            replica.overflowed.store(true, Ordering::Release);
            replica.ready.notify_one();
        }
        self.last.store(state.last_lsn, Ordering::Release);
    }

    /// Attaches a replica that will first receive a snapshot taken now: it gets every
    /// record from the returned mark on. The caller holds the keyspace gate exclusively.
    pub fn attach_for_full_sync(&self, replica: Arc<ReplicaQueue>, backlog_size: usize) -> Mark {
        let mut state = self.lock();
        let next_lsn = state.next_lsn;
        state
            .backlog
            .get_or_insert_with(|| Backlog::new(next_lsn, backlog_size));
        state.replicas.push(replica);
        Mark {
            next_lsn,
            db: state.db,
        }
    }

    /// Attaches a replica that has every record before `from_lsn`, if the backlog
    /// still holds the rest; false means it needs a full sync.
    pub fn attach_partial(
        &self,
        replica: Arc<ReplicaQueue>,
        from_lsn: u64,
        backlog_size: usize,
    ) -> bool {
        let mut state = self.lock();
        let tail = if from_lsn == state.next_lsn {
            Some(Vec::new())
        } else {
            state.backlog.as_ref().and_then(|b| b.since(from_lsn))
        };
        let Some(tail) = tail else {
            return false;
        };
        replica.push(&tail);
        let next_lsn = state.next_lsn;
        state
            .backlog
            .get_or_insert_with(|| Backlog::new(next_lsn, backlog_size));
        state.replicas.push(replica);
        true
    }

    /// Stops feeding a replica.
    pub fn detach(&self, replica: &Arc<ReplicaQueue>) {
        self.lock().replicas.retain(|r| !Arc::ptr_eq(r, replica));
    }

    /// Sends `args` to every attached replica as a control record (LSN 0), in order
    /// with the records around it; it is neither logged nor kept in the backlog, so it
    /// reaches the replicas connected now only (PUBLISH and SPUBLISH: a message is for
    /// whoever listens at the time).
    pub fn send_to_replicas(&self, args: &[&[u8]]) {
        let mut state = self.lock();
        if state.replicas.is_empty() {
            return;
        }
        let mut encoded = Vec::new();
        record::encode(0, args, &mut encoded);
        state.replicas.retain(|replica| replica.push(&encoded));
    }

    /// Creates the backlog if there is none. A replica keeps one too, so that after a
    /// promotion its former siblings can continue from it.
    pub fn ensure_backlog(&self, size: usize) {
        let mut state = self.lock();
        let next_lsn = state.next_lsn;
        state
            .backlog
            .get_or_insert_with(|| Backlog::new(next_lsn, size));
    }

    pub fn resize_backlog(&self, size: usize) {
        if let Some(backlog) = &mut self.lock().backlog {
            backlog.limit = size.max(1);
        }
    }

    pub fn backlog_info(&self) -> BacklogInfo {
        let state = self.lock();
        match &state.backlog {
            Some(b) => BacklogInfo {
                active: true,
                size: b.limit,
                first_lsn: b.first_lsn(),
                histlen: b.data.len(),
            },
            None => BacklogInfo::default(),
        }
    }

    /// Wakes the log writer if it sleeps in `take` (records or a rotation were queued).
    fn wake_writer(&self, state: MutexGuard<'_, State>) {
        let waiting = state.writer_waiting
            && (state.last_lsn >= state.wake_at_lsn || state.rotation.is_some());
        drop(state);
        if waiting {
            self.queued.notify_one();
        }
    }

    /// Wakes a writer blocked in `take` (shutdown).
    pub fn wake(&self) {
        self.queued.notify_all();
    }

    /// The database the stream has selected, if a record selected one.
    pub fn current_db(&self) -> Option<usize> {
        self.lock().db
    }

    /// The LSN the next record will get.
    pub fn next_lsn(&self) -> u64 {
        self.lock().next_lsn
    }

    /// Heap bytes held by records on their way out: to the log writer and in replicas'
    /// queues. The memory limit leaves them out, as Redis leaves out the AOF buffer and
    /// replica output buffers: evicting keys queues DELs, which must not count as more
    /// memory to evict for.
    pub fn unsent_bytes(&self) -> usize {
        let state = self.lock();
        state.pending.capacity() + state.replicas.iter().map(|r| r.allocated()).sum::<usize>()
    }

    /// Heap bytes of (records queued for the log writer, replicas' queues, the
    /// backlog), for INFO memory and MEMORY STATS.
    pub fn buffer_bytes(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (
            state.pending.capacity(),
            state.replicas.iter().map(|r| r.allocated()).sum(),
            state.backlog.as_ref().map_or(0, |b| b.data.capacity()),
        )
    }

    /// The LSN of the last record (0 before the first): the replication offset.
    pub fn last_lsn(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    fn push(&self, state: &mut State, args: &[&[u8]]) -> u64 {
        let lsn = state.next_lsn;
        state.next_lsn += 1;
        state.last_lsn = lsn;
        self.last.store(lsn, Ordering::Release);
        if !state.logging && state.backlog.is_none() && state.replicas.is_empty() {
            // Nobody reads the record (no log, no replica yet): only its number counts.
            return lsn;
        }
        let start = state.pending.len();
        record::encode(lsn, args, &mut state.pending);
        let State {
            pending,
            backlog,
            replicas,
            logging,
            ..
        } = state;
        let encoded = &pending[start..];
        if let Some(backlog) = backlog {
            backlog.push(lsn, encoded);
        }
        // A replica whose queue overflowed is no longer fed.
        replicas.retain(|replica| replica.push(encoded));
        if !*logging {
            pending.truncate(start);
        }
        lsn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_gathering_writer_is_woken_by_the_record_that_completes_its_group() {
        let journal = Arc::new(Journal::new(1));
        journal.enable(1, true);
        let appender = {
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                for i in 0..3 {
                    std::thread::sleep(Duration::from_millis(20));
                    journal.append(0, &[b"SET", b"k", i.to_string().as_bytes()]);
                }
            })
        };
        // SELECT 0 is record 1; the three SETs are 2, 3 and 4.
        let started = Instant::now();
        journal.wait_for_group(4, started + Duration::from_secs(60));
        assert!(journal.take().last_lsn >= 4);
        assert!(started.elapsed() < Duration::from_secs(60));
        appender.join().unwrap();
    }

    #[test]
    fn a_gathering_writer_stops_waiting_at_its_deadline() {
        let journal = Journal::new(1);
        journal.enable(1, true);
        journal.append(0, &[b"SET", b"k", b"v"]);
        let until = Instant::now() + Duration::from_millis(30);
        journal.wait_for_group(10, until);
        assert!(Instant::now() >= until);
        assert_eq!(journal.take().last_lsn, 2);
    }
}
