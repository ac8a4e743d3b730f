//! The crate's top-level modules form layers that only look down (ARCHITECTURE.md):
//! each module may refer (through `crate::`) only to modules listed before it here.
//! Unit tests at the end of a file (`#[cfg(test)]`) are exempt.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom to top.
const LAYERS: &[&str] = &[
    "sync",
    "clock",
    "kill",
    "glob",
    "longdouble",
    "alloc",
    "rand",
    "crc64",
    "log",
    "protocol",
    "store",
    "rdb",
    "aof",
    "config",
    "tls",
    "journal",
    "pubsub",
    "tracking",
    "notify",
    "acl",
    "session",
    "state",
    "cmd",
    "persist",
    "repl",
    "server",
];

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(path).unwrap() {
        files.extend(rust_files(&entry.unwrap().path()));
    }
    files.retain(|f| f.extension().is_some_and(|e| e == "rs"));
    files
}

/// The top-level modules `source` names after `crate::`, including `crate::{a, b}`.
fn referenced_modules(source: &str) -> BTreeSet<String> {
    let code = match source.find("#[cfg(test)]") {
        Some(tests) => &source[..tests],
        None => source,
    };
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            found.extend(group.split(',').map(|item| ident(item.trim())));
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

#[test]
fn top_level_modules_only_use_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules: Vec<String> = fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|m| m != "lib" && m != "main")
        .collect();
    modules.sort();
    modules.dedup();
    let mut listed: Vec<String> = LAYERS.iter().map(|m| m.to_string()).collect();
    listed.sort();
    assert_eq!(
        modules, listed,
        "every top-level module has a place in LAYERS"
    );

    let mut violations = Vec::new();
    for (rank, module) in LAYERS.iter().enumerate() {
        let path = if src.join(module).is_dir() {
            src.join(module)
        } else {
            src.join(format!("{module}.rs"))
        };
        for file in rust_files(&path) {
            let source = fs::read_to_string(&file).unwrap();
            for used in referenced_modules(&source) {
                match LAYERS.iter().position(|m| *m == used) {
                    Some(r) if r < rank || used == *module => {}
                    Some(_) => violations.push(format!("{} uses {used}", file.display())),
                    None => {} // a crate-level item, not a module
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "upward references:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_references() {
    let found =
        referenced_modules("use crate::{store, state::Shared};\nlet x = crate::cmd::table();");
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["cmd", "state", "store"]
    );
}
