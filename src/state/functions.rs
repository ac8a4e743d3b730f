//! The function libraries (FUNCTION LOAD, FCALL): each library's code and the functions
//! it registered, with their flags. This is the whole of what persists: the log and a
//! replica's full sync carry each library as its code (`FUNCTION LOAD`), so a dump of
//! the registry is every library's code. The Lua states that run the functions are per
//! thread (`cmd::functions`), rebuilt from the codes when `generation` moves.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::sync::Recover;

/// `redis.register_function` flags.
pub mod flag {
    pub const NO_WRITES: u32 = 1 << 0;
    pub const ALLOW_OOM: u32 = 1 << 1;
    pub const ALLOW_STALE: u32 = 1 << 2;
    pub const NO_CLUSTER: u32 = 1 << 3;
    pub const ALLOW_CROSS_SLOT_KEYS: u32 = 1 << 4;
    /// Each flag's name, in the order FUNCTION LIST prints them.
    pub const NAMES: &[(u32, &str)] = &[
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT_KEYS, "allow-cross-slot-keys"),
    ];
}

/// One registered function.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionInfo {
    pub description: Option<Bytes>,
    pub flags: u32,
}

/// One library: its name, its code as loaded (shebang included) and its functions.
#[derive(Clone, Debug, PartialEq)]
pub struct Library {
    pub name: String,
    pub code: Bytes,
    pub functions: BTreeMap<String, FunctionInfo>,
}

/// Why a library could not be added.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    LibraryExists,
    FunctionExists(String),
}

/// How FUNCTION RESTORE treats the libraries already loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    /// Drop them all first.
    Flush,
    /// Keep them; a library of the same name refuses the restore.
    Append,
    /// Keep them, but a library of the same name is replaced.
    Replace,
}

/// Why FUNCTION RESTORE was refused, naming the library or function.
#[derive(Debug, PartialEq)]
pub enum RestoreRefusal {
    LibraryExists(String),
    FunctionExists(String),
}

#[derive(Default)]
pub struct Libraries {
    libraries: Mutex<BTreeMap<String, Arc<Library>>>,
    /// Bumped by every change: thread-local Lua states older than this are rebuilt.
    generation: AtomicU64,
}

impl Libraries {
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Adds `library`, replacing one of the same name if `replace`; its functions may
    /// not be another library's.
    pub fn add(&self, library: Library, replace: bool) -> Result<(), Refusal> {
        let mut libraries = self.libraries.locked();
        if !replace && libraries.contains_key(&library.name) {
            return Err(Refusal::LibraryExists);
        }
        for (name, other) in libraries.iter() {
            if *name == library.name {
                continue;
            }
            if let Some(f) = library
                .functions
                .keys()
                .find(|f| other.functions.keys().any(|o| o.eq_ignore_ascii_case(f)))
            {
                return Err(Refusal::FunctionExists(f.clone()));
            }
        }
        libraries.insert(library.name.clone(), Arc::new(library));
        drop(libraries);
        self.changed();
        Ok(())
    }

    /// Adds `incoming` (libraries with distinct names and functions) all at once or
    /// not at all, as Redis's FUNCTION RESTORE joins libraries: with `Append` a
    /// library of the same name refuses it; with `Flush` the old ones go first; then
    /// no function may be another library's.
    pub fn restore(
        &self,
        incoming: Vec<Library>,
        policy: RestorePolicy,
    ) -> Result<(), RestoreRefusal> {
        let mut libraries = self.libraries.locked();
        let mut next = match policy {
            RestorePolicy::Flush => BTreeMap::new(),
            _ => libraries.clone(),
        };
        for library in &incoming {
            if next.contains_key(&library.name) {
                if policy == RestorePolicy::Append {
                    return Err(RestoreRefusal::LibraryExists(library.name.clone()));
                }
                next.remove(&library.name);
            }
        }
        for library in &incoming {
            if let Some(f) = library.functions.keys().find(|f| {
                next.values()
                    .any(|other| other.functions.keys().any(|o| o.eq_ignore_ascii_case(f)))
            }) {
                return Err(RestoreRefusal::FunctionExists(f.clone()));
            }
        }
        for library in incoming {
            next.insert(library.name.clone(), Arc::new(library));
        }
        *libraries = next;
        drop(libraries);
        self.changed();
        Ok(())
    }

    pub fn exists(&self, name: &str) -> bool {
        self.libraries.locked().contains_key(name)
    }

    /// Removes a library; false if there was none of that name.
    pub fn delete(&self, name: &str) -> bool {
        let removed = self.libraries.locked().remove(name).is_some();
        if removed {
            self.changed();
        }
        removed
    }

    pub fn flush(&self) {
        let had = !std::mem::take(&mut *self.libraries.locked()).is_empty();
        if had {
            self.changed();
        }
    }

    /// Every library, by name.
    pub fn list(&self) -> Vec<Arc<Library>> {
        self.libraries.locked().values().cloned().collect()
    }

    /// The library that registered function `name` (any case), and the function.
    pub fn function(&self, name: &str) -> Option<(Arc<Library>, FunctionInfo)> {
        let libraries = self.libraries.locked();
        libraries.values().find_map(|lib| {
            lib.functions
                .iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(name))
                .map(|(_, info)| (lib.clone(), info.clone()))
        })
    }

    /// Every library's code, in name order: what a dump of the registry holds.
    pub fn codes(&self) -> Vec<Bytes> {
        self.libraries
            .locked()
            .values()
            .map(|l| l.code.clone())
            .collect()
    }

    /// How many libraries and functions are loaded (FUNCTION STATS).
    pub fn counts(&self) -> (usize, usize) {
        let libraries = self.libraries.locked();
        let functions = libraries.values().map(|l| l.functions.len()).sum();
        (libraries.len(), functions)
    }

    /// Bytes of the libraries' code (INFO memory's `used_memory_vm_functions` estimate).
    pub fn code_bytes(&self) -> usize {
        self.libraries.locked().values().map(|l| l.code.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(name: &str, functions: &[&str]) -> Library {
        Library {
            name: name.into(),
            code: Bytes::from(format!("#!lua name={name}\n")),
            functions: functions
                .iter()
                .map(|f| {
                    (
                        f.to_string(),
                        FunctionInfo {
                            description: None,
                            flags: 0,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_function_belongs_to_one_library_and_replace_swaps_a_whole_library() {
        let libs = Libraries::default();
        libs.add(library("a", &["f", "g"]), false).unwrap();
        assert_eq!(
            libs.add(library("a", &["h"]), false),
            Err(Refusal::LibraryExists)
        );
        assert_eq!(
            libs.add(library("b", &["g"]), false),
            Err(Refusal::FunctionExists("g".into()))
        );
        let before = libs.generation();
        libs.add(library("a", &["h"]), true).unwrap();
        assert!(libs.generation() > before);
        assert!(libs.function("f").is_none());
        assert_eq!(libs.function("h").unwrap().0.name, "a");
        assert_eq!(libs.codes(), vec![Bytes::from("#!lua name=a\n")]);
        assert!(libs.delete("a"));
        assert!(!libs.delete("a"));
        assert_eq!(libs.counts(), (0, 0));
    }

    #[test]
    fn restore_joins_all_or_nothing_by_its_policy() {
        let libs = Libraries::default();
        libs.add(library("a", &["f"]), false).unwrap();
        libs.add(library("b", &["g"]), false).unwrap();
        let incoming = || vec![library("a", &["h"]), library("c", &["k"])];
        assert_eq!(
            libs.restore(incoming(), RestorePolicy::Append),
            Err(RestoreRefusal::LibraryExists("a".into()))
        );
        assert_eq!(
            libs.restore(vec![library("c", &["G"])], RestorePolicy::Replace),
            Err(RestoreRefusal::FunctionExists("G".into()))
        );
        assert_eq!(libs.counts(), (2, 2));
        libs.restore(incoming(), RestorePolicy::Replace).unwrap();
        assert_eq!(libs.function("h").unwrap().0.name, "a");
        assert!(libs.function("f").is_none());
        assert_eq!(libs.counts(), (3, 3));
        libs.restore(vec![library("z", &["f"])], RestorePolicy::Flush)
            .unwrap();
        assert_eq!(libs.counts(), (1, 1));
    }
}
