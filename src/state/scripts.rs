//! The script cache: Lua script bodies by SHA-1, shared by every connection. The Lua
//! states that run them are per thread, in `cmd::scripting`; this is only the data
//! SCRIPT LOAD, EVALSHA and SCRIPT FLUSH share; and `Running`, the script in
//! execution, which dispatch checks before taking the keyspace gate (BUSY), SCRIPT KILL
//! and SHUTDOWN NOSAVE flag, and the script's Lua hook reads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::sync::Recover;

#[derive(Default)]
pub struct ScriptCache {
    bodies: Mutex<HashMap<String, Bytes>>,
    /// Bumped by SCRIPT FLUSH: thread-local Lua states older than this are rebuilt.
    generation: AtomicU64,
    /// The script in execution (shared with its Lua hook).
    pub running: std::sync::Arc<Running>,
}

impl ScriptCache {
    /// An empty cache whose scripts make others BUSY after `threshold_ms`.
    pub fn with_threshold(threshold_ms: u64) -> ScriptCache {
        let cache = ScriptCache::default();
        cache.running.set_threshold(threshold_ms);
        cache
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Bytes>> {
        self.bodies.locked()
    }

    /// Caches `body`; returns its id.
    pub fn load(&self, body: &Bytes) -> String {
        let sha = sha1_hex(body);
        self.lock()
            .entry(sha.clone())
            .or_insert_with(|| crate::store::own(body));
        sha
    }

    /// The body cached under `sha` (any case).
    pub fn get(&self, sha: &str) -> Option<Bytes> {
        self.lock().get(&sha.to_ascii_lowercase()).cloned()
    }

    /// How many scripts are cached and the bytes of their bodies (INFO memory).
    pub fn size(&self) -> (usize, usize) {
        let bodies = self.lock();
        (bodies.len(), bodies.values().map(|b| b.len()).sum())
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// SCRIPT FLUSH: forgets every script and retires every thread's Lua state.
    pub fn flush(&self) {
        self.lock().clear();
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// The script in execution, if any (one at a time: a script holds the keyspace gate
/// exclusively). Before `busy-reply-threshold` other clients wait for it without
/// holding a thread; after it they get BUSY, except for the commands flagged
/// `ALLOW_BUSY`.
pub struct Running {
    run: Mutex<Option<Run>>,
    /// Whether `run` is `Some`: every request asks, and almost always no script runs,
    /// so the answer "none" costs one load instead of the lock.
    active: AtomicBool,
    /// The function running (FCALL): its name, the command and when it started, for
    /// FUNCTION STATS.
    function: Mutex<Option<(String, Vec<Bytes>, Instant)>>,
    /// Bumped when a script starts or ends, so waiters cannot miss the end.
    changed: tokio::sync::watch::Sender<u64>,
    /// `busy-reply-threshold` in milliseconds (kept here by its configuration hook, so
    /// a script does not take the configuration's lock).
    threshold_ms: AtomicU64,
}

struct Run {
    client_id: u64,
    /// When other clients start getting BUSY.
    busy_at: Instant,
    /// It ran a write command: SCRIPT KILL refuses (UNKILLABLE).
    wrote: bool,
    stop: Option<Stop>,
    /// The hook stopped the script, at this script line (if it knew it).
    stopped: Option<Option<usize>>,
}

/// Why a running script must stop at its next hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SCRIPT KILL: its caller gets the killed error.
    Killed,
    /// SHUTDOWN NOSAVE: the script is abandoned; its writes never reach the log as a
    /// finished transaction.
    Abandoned,
}

/// Where a client stands with respect to the running script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No script runs (or it is this client's own).
    Free,
    /// A script runs and has not yet passed the threshold: wait for it.
    Wait,
    /// A script has run past the threshold: BUSY, except ALLOW_BUSY commands.
    Busy,
}

/// Why SCRIPT KILL did not kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillRefused {
    NotBusy,
    Unkillable,
    /// SCRIPT KILL of a function, FUNCTION KILL of a script.
    OtherKind,
}

impl Default for Running {
    fn default() -> Running {
        Running {
            run: Mutex::new(None),
            active: AtomicBool::new(false),
            function: Mutex::new(None),
            changed: tokio::sync::watch::channel(0).0,
            threshold_ms: AtomicU64::new(5000),
        }
    }
}

/// Held while a script runs; dropping it (or `finish`) marks the script finished and
/// wakes waiters.
pub struct RunGuard<'a> {
    running: &'a Running,
}

impl RunGuard<'_> {
    /// Ends the run: whether it was stopped, and at which line (`Running::stopped`),
    /// read under the same lock that clears it.
    pub fn finish(self) -> Option<(Stop, Option<usize>)> {
        let run = self.running.run.locked().take();
        self.running.active.store(false, Ordering::Release);
        self.running.announce();
        std::mem::forget(self);
        run.and_then(|run| Some((run.stop?, run.stopped?)))
    }
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        *self.running.run.locked() = None;
        self.running.active.store(false, Ordering::Release);
        self.running.announce();
    }
}

/// Held while a function runs; FUNCTION STATS reports it.
pub struct FunctionGuard<'a> {
    running: &'a Running,
}

impl Drop for FunctionGuard<'_> {
    fn drop(&mut self) {
        *self.running.function.locked() = None;
    }
}

impl Running {
    pub fn set_threshold(&self, ms: u64) {
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    /// `busy-reply-threshold`.
    pub fn threshold(&self) -> Duration {
        Duration::from_millis(self.threshold_ms.load(Ordering::Relaxed))
    }

    /// Names the function about to run (FCALL's `name` and whole command).
    pub fn describe(&self, name: &str, command: &[Bytes]) -> FunctionGuard<'_> {
        *self.function.locked() = Some((name.to_string(), command.to_vec(), Instant::now()));
        FunctionGuard { running: self }
    }

    /// Whether what runs is a function (FCALL), not a script (EVAL).
    pub fn is_function(&self) -> bool {
        self.function.locked().is_some()
    }

    /// The running function, its command and how long it has run.
    pub fn function(&self) -> Option<(String, Vec<Bytes>, Duration)> {
        self.function
            .locked()
            .as_ref()
            .map(|(name, command, started)| (name.clone(), command.clone(), started.elapsed()))
    }

    /// Marks a script of `client_id`, started at `now`, as running; others get BUSY
    /// after `threshold`.
    pub fn begin(&self, client_id: u64, threshold: Duration, now: Instant) -> RunGuard<'_> {
        *self.run.locked() = Some(Run {
            client_id,
            busy_at: now
                .checked_add(threshold)
                .unwrap_or(now + Duration::from_secs(1 << 40)),
            wrote: false,
            stop: None,
            stopped: None,
        });
        self.active.store(true, Ordering::Release);
        self.announce();
        RunGuard { running: self }
    }

    /// Bumps `changed` and wakes its receivers, only if there are any: the channel's
    /// lock and notifiers cost four locked instructions per script otherwise. A waiter
    /// subscribes before it looks at `run` (under its lock, which `run` was changed
    /// under before this), so one that subscribes after this finds the change there.
    fn announce(&self) {
        if self.changed.receiver_count() > 0 {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// True while a script (of any client) runs.
    pub fn is_running(&self) -> bool {
        self.run.locked().is_some()
    }

    /// Where `client_id` stands: its own script never makes it wait.
    pub fn standing(&self, client_id: u64) -> Standing {
        if !self.active.load(Ordering::Acquire) {
            return Standing::Free;
        }
        match &*self.run.locked() {
            None => Standing::Free,
            Some(run) if run.client_id == client_id => Standing::Free,
            Some(run) if Instant::now() >= run.busy_at => Standing::Busy,
            Some(_) => Standing::Wait,
        }
    }

    /// True once the running script has passed the threshold.
    pub fn is_busy(&self) -> bool {
        self.run
            .locked()
            .as_ref()
            .is_some_and(|run| Instant::now() >= run.busy_at)
    }

    /// Resolves when no script runs or the running one has passed the threshold.
    pub async fn busy_or_done(&self) {
        let mut changes = self.changed.subscribe();
        loop {
            let busy_at = match &*self.run.locked() {
                None => return,
                Some(run) => run.busy_at,
            };
            if Instant::now() >= busy_at {
                return;
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(busy_at.into()) => {}
            }
        }
    }

    /// Resolves when no script runs.
    pub async fn done(&self) {
        let mut changes = self.changed.subscribe();
        while self.is_running() {
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// The script ran a write command: from now on SCRIPT KILL refuses.
    pub fn mark_wrote(&self) {
        if let Some(run) = &mut *self.run.locked() {
            run.wrote = true;
        }
    }

    /// SCRIPT KILL (`function` false) or FUNCTION KILL: asks the running script to stop
    /// at its next hook, unless it wrote or is of the other kind.
    pub fn kill(&self, function: bool) -> Result<(), KillRefused> {
        match &mut *self.run.locked() {
            None => Err(KillRefused::NotBusy),
            Some(run) if run.wrote => Err(KillRefused::Unkillable),
            Some(_) if self.is_function() != function => Err(KillRefused::OtherKind),
            Some(run) => {
                run.stop.get_or_insert(Stop::Killed);
                Ok(())
            }
        }
    }

    /// SHUTDOWN NOSAVE: the running script, if any, stops at its next hook whatever it
    /// did, and its unfinished transaction is not closed in the log.
    pub fn abandon(&self) {
        if let Some(run) = &mut *self.run.locked() {
            run.stop = Some(Stop::Abandoned);
        }
    }

    /// For the script's hook: whether it must stop now; `line` is where it is.
    pub fn check(&self, line: Option<usize>) -> Option<Stop> {
        let mut slot = self.run.locked();
        let run = slot.as_mut()?;
        let stop = run.stop?;
        if run.stopped.is_none() {
            run.stopped = Some(line);
        }
        Some(stop)
    }

    /// After the script: whether it was stopped, and at which line.
    pub fn stopped(&self) -> Option<(Stop, Option<usize>)> {
        let slot = self.run.locked();
        let run = slot.as_ref()?;
        Some((run.stop?, run.stopped?))
    }
}

/// A script's id: the SHA-1 of its body as 40 lower-case hex digits. The ids must be
/// the ones Redis computes, since clients hard-code them (phpredis' lock release).
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sha1_hex;

    #[test]
    fn known_digests() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        // Redis's id for `return 1`, as SCRIPT LOAD reports it.
        assert_eq!(
            sha1_hex(b"return 1"),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(sha1_hex(&long), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
    }
}
