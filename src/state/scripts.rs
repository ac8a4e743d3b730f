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
        let sha = sha1_hex(body);
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
