//! The script cache: Lua script bodies by SHA-1, shared by every connection. The Lua
//! states that run them are per thread, in `cmd::scripting`; this is only the data
//! SCRIPT LOAD, EVALSHA and SCRIPT FLUSH share.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;

use crate::sync::Recover;

#[derive(Default)]
pub struct ScriptCache {
    bodies: Mutex<HashMap<String, Bytes>>,
    /// Bumped by SCRIPT FLUSH: thread-local Lua states older than this are rebuilt.
    generation: AtomicU64,
}

impl ScriptCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Bytes>> {
        self.bodies.locked()
    }

    /// Caches `body`; returns its id.
    pub fn load(&self, body: &Bytes) -> String {
        let sha = crate::sha1::hex(body);
        self.lock()
            .entry(sha.clone())
            .or_insert_with(|| body.clone());
        sha
    }

    /// The body cached under `sha` (any case).
    pub fn get(&self, sha: &str) -> Option<Bytes> {
        self.lock().get(&sha.to_ascii_lowercase()).cloned()
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
