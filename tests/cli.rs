//! The binary's own command line: version, help, and the subcommands' help.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn version_flags_print_roost_and_redis_versions_as_redis_server_does() {
    // `redis-server -v` and `--version` both work; so do Roost's.
    for flag in ["-v", "--version"] {
        let (code, out, err) = run(&[flag]);
        assert_eq!(code, 0, "{flag}: {err}");
        assert_eq!(
            out.trim(),
            format!(
                "roost v={} redis_version={} bits=64",
                roost::VERSION,
                roost::VERSION_COMPAT
            )
        );
    }
}

#[test]
fn help_names_the_subcommands_and_they_have_their_own_help() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("roost check-aof [--fix] FILE"), "{out}");
    assert!(out.contains("--appendfsync"), "{out}");

    let (code, out, _) = run(&["check-aof", "--help"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("usage: roost check-aof [--fix] FILE"),
        "{out}"
    );
    assert!(out.contains("--fix"), "{out}");

    let (code, _, err) = run(&["check-aof"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("usage: roost check-aof"), "{err}");
}

#[test]
fn the_startup_log_names_version_config_and_data_and_says_ready_after_loading() {
    let dir = std::env::temp_dir().join(format!("roost-cli-startup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("roost.conf");
    std::fs::write(&conf, "appendfsync always\n").unwrap();
    let port = free_port();
    let data = dir.join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost"))
        .arg(&conf)
        .args(["--port", &port.to_string(), "--dir", data.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    for line in std::io::BufRead::lines(stderr) {
        let line = line.unwrap();
        let ready = line.contains("Ready to accept connections");
        lines.push(line);
        if ready {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = lines.join("\n");
    let position = |text: &str| {
        lines
            .iter()
            .position(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no line with {text:?} in:\n{log}"))
    };
    let version = position(&format!("Roost version={}", roost::VERSION));
    let config = position(&format!("Configuration loaded from {}", conf.display()));
    let data_line = position(&format!(
        "Data directory {}: append-only log on, appendfsync always",
        data.display()
    ));
    let loaded = position(&format!(
        "DB loaded from the log in {}",
        data.join("appendonly").display()
    ));
    let ready = position(&format!(
        "Ready to accept connections tcp on 127.0.0.1:{port}"
    ));
    assert!(version < config && config < data_line && data_line < loaded && loaded < ready);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unusable_data_directory_stops_startup_before_listening_naming_it() {
    let dir = std::env::temp_dir().join(format!("roost-cli-baddir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    // A regular file where the directory should be, and a directory no one may create.
    for data in [
        file.clone(),
        std::path::PathBuf::from("/proc/self/roost-data"),
    ] {
        let port = free_port().to_string();
        let (code, _, err) = run(&["--port", &port, "--dir", data.to_str().unwrap()]);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(&format!(
                "the data directory {} (dir) is not usable",
                data.display()
            )),
            "{err}"
        );
        assert!(!err.contains("Ready to accept"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
