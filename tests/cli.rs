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
