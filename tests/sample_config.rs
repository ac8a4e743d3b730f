//! The sample configuration in the repository (`roost.conf`): it names every directive
//! Roost honours, and starting from it gives the defaults (but for where data lives).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::process::{Roost, TempDir};

fn sample() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("roost.conf")).unwrap()
}

#[test]
fn the_sample_config_documents_every_directive() {
    let text = sample();
    let documented = |name: &str| {
        text.lines().any(|line| {
            let line = line.strip_prefix("# ").unwrap_or(line);
            line.split_whitespace().next() == Some(name)
        })
    };
    let missing: Vec<&str> = roost::config::PARAMS
        .iter()
        .map(|p| p.name)
        .filter(|name| !documented(name))
        .collect();
    assert!(missing.is_empty(), "roost.conf does not show {missing:?}");
    assert!(documented("rename-command"));
}

fn config_get_all(roost: &Roost) -> BTreeMap<String, String> {
    let mut con = roost.client();
    let pairs: Vec<(String, String)> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("*")
        .query(&mut con)
        .unwrap();
    pairs.into_iter().collect()
}

#[test]
fn the_sample_config_starts_roost_with_the_defaults_but_its_data_directory() {
    let (a, b) = (TempDir::new("sample-conf"), TempDir::new("default-conf"));
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("roost.conf");
    // The flags after the file override its dir and port, as a test must.
    let from_sample = Roost::start(&a.0, &[conf.to_str().unwrap()]);
    let from_defaults = Roost::start(&b.0, &[]);
    let (mut sample, mut defaults) = (config_get_all(&from_sample), config_get_all(&from_defaults));
    for differs in ["dir", "port"] {
        sample.remove(differs);
        defaults.remove(differs);
    }
    // The harness runs both with --loglevel warning.
    assert_eq!(sample, defaults);
    // A service keeps its data in a directory of its own, not under the working one.
    assert!(sample_text_sets_dir(), "roost.conf sets dir /var/lib/roost");
}

fn sample_text_sets_dir() -> bool {
    sample().lines().any(|l| l == "dir /var/lib/roost")
}
