//! Every command the table declares is exercised by some test: its name appears as a
//! command in a test source file or a differential script.

mod common;

use std::path::Path;

use common::TestServer;

fn test_sources() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut text = String::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            // Installed packages (node_modules, the virtualenv) are not our tests.
            if path.is_dir() && (name.starts_with('.') || name == "node_modules") {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n != "command_table.rs") {
                text.push_str(
                    &std::fs::read_to_string(&path)
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                );
                text.push('\n');
            }
        }
    }
    text
}

#[test]
fn every_declared_command_and_subcommand_is_tested() {
    let server = TestServer::start();
    let mut con = server.client();
    let commands: Vec<redis::Value> = redis::cmd("COMMAND").query(&mut con).unwrap();
    let sources = test_sources();
    let mentioned = |name: &str| {
        // As a RESP argument in Rust tests (b"get", "GET") or a line of a script.
        let quoted = [
            format!("b\"{name}\""),
            format!("\"{name}\""),
            format!("\"{name}\\r\\n"),
            format!("\n{name} "),
            format!("\n{name}\n"),
        ];
        quoted.iter().any(|q| sources.contains(q.as_str()))
            || sources.lines().any(|l| {
                l.trim_start_matches('@')
                    .split_whitespace()
                    .any(|w| w == name)
                    && l.trim()
                        .starts_with(|c: char| c.is_ascii_alphabetic() || c == '@')
            })
    };
    let mut untested = Vec::new();
    for command in &commands {
        let redis::Value::Array(fields) = command else {
            panic!()
        };
        let redis::Value::BulkString(name) = &fields[0] else {
            panic!()
        };
        let name = String::from_utf8_lossy(name).to_string();
        if !mentioned(&name) {
            untested.push(name.clone());
        }
        let redis::Value::Array(subs) = &fields[9] else {
            panic!()
        };
        for sub in subs {
            let redis::Value::Array(sub_fields) = sub else {
                panic!()
            };
            let redis::Value::BulkString(full) = &sub_fields[0] else {
                panic!()
            };
            let full = String::from_utf8_lossy(full).to_string();
            let sub_name = full.split('|').nth(1).unwrap();
            if !mentioned(sub_name) {
                untested.push(full.clone());
            }
        }
    }
    assert!(
        commands.len() > 90,
        "the table lists {} commands",
        commands.len()
    );
    assert!(untested.is_empty(), "commands without tests: {untested:?}");
}
