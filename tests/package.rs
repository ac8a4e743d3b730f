//! The Debian package, for real: `cargo deb` builds it from the release binary, dpkg
//! installs it, and the installed binary starts with the installed config as the roost
//! user, keeping its data in /var/lib/roost. The package is purged afterwards.
//!
//! Needs root (dpkg, runuser) and cargo-deb, as CI has (tests/run installs cargo-deb).

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::process::{free_port, wait_for};

fn run(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} could not run: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Purges the package when the test ends, whatever happened.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-u", "roost", "-x", "roost"])
            .status();
        let _ = Command::new("dpkg").args(["--purge", "roost"]).output();
    }
}

#[test]
fn the_debian_package_installs_a_service_that_starts_with_its_config() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "tests/package.rs installs a package: run it as root, as CI does"
    );
    let root = env!("CARGO_MANIFEST_DIR");
    let out_dir = Path::new(root).join("target/debian-test");
    let _ = std::fs::remove_dir_all(&out_dir);
    // The binary cargo test just built (release profile) goes in as it is.
    let built = run(
        "cargo",
        &[
            "deb",
            "--no-build",
            "--manifest-path",
            &format!("{root}/Cargo.toml"),
            "--output",
            out_dir.to_str().unwrap(),
        ],
    );
    let deb = String::from_utf8_lossy(&built.stdout).trim().to_string();
    assert!(deb.ends_with(".deb"), "{deb}");

    let contents =
        String::from_utf8_lossy(&run("dpkg-deb", &["--contents", &deb]).stdout).into_owned();
    for path in [
        "./usr/bin/roost",
        "./etc/roost/roost.conf",
        "roost.service",
        "./usr/share/doc/roost/README.md",
    ] {
        assert!(
            contents.contains(path),
            "{path} not in the package:\n{contents}"
        );
    }

    let _installed = Installed;
    run("dpkg", &["-i", &deb]);
    let version = run("/usr/bin/roost", &["-v"]);
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("roost v="));
    run("getent", &["passwd", "roost"]);
    let data = std::fs::metadata("/var/lib/roost").unwrap();
    assert!(data.is_dir());
    let unit = [
        "/lib/systemd/system/roost.service",
        "/usr/lib/systemd/system/roost.service",
    ]
    .iter()
    .find(|p| Path::new(p).exists())
    .expect("the unit is installed");
    let unit_text = std::fs::read_to_string(unit).unwrap();
    assert!(unit_text.contains("ExecStart=/usr/bin/roost /etc/roost/roost.conf"));

    // Started as the unit starts it (no systemd here), on a free port.
    let port = free_port();
    let mut server = Command::new("runuser")
        .args([
            "-u",
            "roost",
            "--",
            "/usr/bin/roost",
            "/etc/roost/roost.conf",
        ])
        .args(["--port", &port.to_string(), "--daemonize", "no"])
        .spawn()
        .unwrap();
    let url = format!("redis://127.0.0.1:{port}/");
    wait_for("the installed server", Duration::from_secs(30), || {
        redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .is_ok_and(|mut c| {
                redis::cmd("INFO")
                    .arg("persistence")
                    .query::<String>(&mut c)
                    .is_ok_and(|info| info.contains("\r\nloading:0\r\n"))
            })
    });
    let mut con = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let () = redis::cmd("SET")
        .arg("session:1")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let dir: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("dir")
        .query(&mut con)
        .unwrap();
    assert_eq!(dir[1], "/var/lib/roost");
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query(&mut con);
    assert!(server.wait().unwrap().success());
    // The log is in the data directory, written by the roost user.
    let log_dir = Path::new("/var/lib/roost/appendonly");
    assert!(log_dir.is_dir(), "no log in /var/lib/roost");
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(log_dir).unwrap().uid();
    let roost_uid = String::from_utf8_lossy(&run("id", &["-u", "roost"]).stdout)
        .trim()
        .parse::<u32>()
        .unwrap();
    assert_eq!(owner, roost_uid);
}
