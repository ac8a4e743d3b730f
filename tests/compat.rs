//! The compatibility suite: real client libraries and session plugins, unchanged, against
//! the roost binary.
//!
//! Each test starts its own Roost (on a free port, with its own data directory) and runs
//! one script from `tests/compat/` with that port as its only argument (the `tls_*` scripts:
//! the TLS port and the directory of test certificates; the `*_unix` scripts: the path of
//! the Unix socket, then the server's only listener). The script asserts
//! what a user of the library sees and what the server stores; a non-zero exit fails the
//! test with the script's output. A missing interpreter or package fails the test with
//! what to install: `tests/run` installs all of it (see `tests/compat/README.md`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::certs::Certs;
use common::process::{free_port, Roost, TempDir};

/// Longest a script may run before it is killed and the test fails.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// Scripts in tests/compat that no test here runs yet, with the reason. Every other
/// script there must be run by a test (checked by `every_script_is_accounted_for`).
const NOT_WIRED: &[(&str, &str)] = &[
    ("sentinel_client.py", "run by tests/sentinel.rs"),
    ("php_common.php", "functions the PHP scripts share"),
];

fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat")
}

/// An interpreter and what the script needs from it.
enum Tool {
    /// python3 with these modules importable.
    Python(&'static [&'static str]),
    /// node with these packages in tests/compat/node_modules.
    Node(&'static [&'static str]),
    /// ruby with the redis gem (Debian's ruby-redis).
    Ruby,
    /// php-cli with the redis extension (Debian's php-redis).
    Php,
}

impl Tool {
    /// The interpreter command, or a panic that says what to install.
    fn check(&self) -> &'static str {
        let (program, probe, install): (&str, Vec<String>, &str) = match self {
            Tool::Python(modules) => (
                "python3",
                vec!["-c".into(), format!("import {}", modules.join(", "))],
                "tests/run (it installs tests/compat/requirements.txt into tests/compat/.venv)",
            ),
            Tool::Node(packages) => {
                let missing: Vec<_> = packages
                    .iter()
                    .filter(|p| !compat_dir().join("node_modules").join(p).is_dir())
                    .collect();
                assert!(
                    missing.is_empty(),
                    "npm packages {missing:?} are missing from tests/compat/node_modules: \
                     install them with `npm ci --prefix tests/compat` (Debian: apt-get install \
                     nodejs npm), or run tests/run"
                );
                (
                    "node",
                    vec!["--version".into()],
                    "apt-get install nodejs npm && npm ci --prefix tests/compat",
                )
            }
            Tool::Ruby => (
                "ruby",
                vec!["-e".into(), "require 'redis'".into()],
                "apt-get install ruby ruby-redis",
            ),
            Tool::Php => (
                "php",
                vec![
                    "-r".into(),
                    "exit(extension_loaded('redis') ? 0 : 1);".into(),
                ],
                "apt-get install php-cli php-redis",
            ),
        };
        let probed = Command::new(program)
            .args(&probe)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match probed {
            Ok(out) if out.status.success() => program,
            Ok(out) => panic!(
                "{program} lacks what this compat test needs ({}): install it with `{install}`, \
                 or run tests/run",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!(
                "{program} is needed by this compat test ({e}): install it with `{install}`, \
                 or run tests/run"
            ),
        }
    }
}

/// Starts Roost, runs `script` against it and fails with the script's output unless it
/// exits 0.
fn run(tool: Tool, script: &str) {
    run_with(tool, script, &[]);
}

/// The password the `auth_*` scripts use.
const PASSWORD: &str = "compat-secret";

/// As `run`, with these extra flags for Roost.
fn run_with(tool: Tool, script: &str, roost_flags: &[&str]) {
    let program = tool.check();
    let dir = TempDir::new(&format!("compat-{}", script.replace('.', "-")));
    let roost = Roost::start(&dir.0, roost_flags);
    run_script(program, script, &[roost.port.to_string()]);
}

/// As `run`, with Roost started from `session_users.conf`: the default user off, `admin`
/// for the scripts' checks, one restricted user per session plugin (the `acl_*` scripts).
fn run_as_session_users(tool: Tool, script: &str) {
    let program = tool.check();
    let dir = TempDir::new(&format!("compat-{}", script.replace('.', "-")));
    let users = compat_dir().join("session_users.conf");
    let roost = Roost::start(&dir.0, &[users.to_str().unwrap()]);
    roost.wait_until_loaded_as("admin", "admin-secret");
    run_script(program, script, &[roost.port.to_string()]);
}

/// Starts Roost listening only on a Unix socket in its temporary directory (`port 0`, so
/// nothing reaches it over TCP) and runs `script` with the socket's path.
fn run_unix(tool: Tool, script: &str) {
    let program = tool.check();
    let dir = TempDir::new(&format!("compat-{}", script.replace('.', "-")));
    let socket = dir.0.join("roost.sock");
    let socket = socket.to_str().unwrap();
    let _roost = Roost::start(
        &dir.0.join("data"),
        &[
            "--port",
            "0",
            "--unixsocket",
            socket,
            "--unixsocketperm",
            "700",
        ],
    );
    run_script(program, script, &[socket.to_string()]);
}

/// Starts Roost with TLS on a free port (test certificates made in its temporary
/// directory, `extra` flags after them) and runs `script` with the TLS port and the
/// directory holding `ca.crt`, `client.crt` and `client.key`.
fn run_tls(tool: Tool, script: &str, extra: &[&str]) {
    let program = tool.check();
    let dir = TempDir::new(&format!("compat-{}", script.replace('.', "-")));
    let certs = Certs::make(&dir.0);
    let tls_port = free_port();
    let mut flags = certs.server_flags(tls_port);
    flags.extend(extra.iter().map(|f| f.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let _roost = Roost::start(&dir.0.join("data"), &flags);
    run_script(
        program,
        script,
        &[tls_port.to_string(), certs.dir.display().to_string()],
    );
}

/// Runs `script` with `args` and fails with its output unless it exits 0.
fn run_script(program: &str, script: &str, args: &[String]) {
    let mut child = Command::new(program)
        .arg(compat_dir().join(script))
        .args(args)
        .current_dir(compat_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program} {script}: {e}"));
    let readers = [
        drain(child.stdout.take().unwrap()),
        drain(child.stderr.take().unwrap()),
    ];
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let [stdout, stderr] = readers.map(|r| r.join().unwrap());
    match status {
        Some(s) if s.success() => print!("{stdout}"),
        Some(s) => panic!(
            "{script} failed against Roost ({s}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        ),
        None => panic!(
            "{script} did not finish within {SCRIPT_TIMEOUT:?}:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        ),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The scripts the tests below run.
const WIRED: &[&str] = &[
    "redis_py.py",
    "flask_session_app.py",
    "django_sessions.py",
    "express_session.mjs",
    "node_redis.mjs",
    "ioredis.mjs",
    "redis_rb.rb",
    "php_session.php",
    "auth_py.py",
    "acl_session_service.py",
    "acl_node_sessions.mjs",
    "acl_php_sessions.php",
    "acl_rails_sessions.rb",
    "acl_django_sessions.py",
    "auth_node.mjs",
    "auth_rb.rb",
    "auth_php.php",
    "redis_py_scripting.py",
    "php_session_locking.php",
    "tls_node.mjs",
    "tls_rb.rb",
    "tls_php.php",
    "tls_py_sessions.py",
    "php_session_unix.php",
    "redis_py_unix.py",
    "redis_rb_unix.rb",
];

#[test]
fn redis_py_scripts() {
    run(Tool::Python(&["redis"]), "redis_py_scripting.py");
}

#[test]
fn php_sessions_with_locking() {
    run(Tool::Php, "php_session_locking.php");
}

#[test]
fn redis_py_resp2_and_resp3() {
    run(Tool::Python(&["redis"]), "redis_py.py");
}

#[test]
fn flask_session_redis_backend() {
    run(
        Tool::Python(&["redis", "flask", "flask_session", "msgspec"]),
        "flask_session_app.py",
    );
}

#[test]
fn django_cache_sessions_on_redis_cache() {
    run(Tool::Python(&["redis", "django"]), "django_sessions.py");
}

#[test]
fn express_session_with_connect_redis_on_node_redis() {
    run(
        Tool::Node(&["redis", "connect-redis", "express", "express-session"]),
        "express_session.mjs",
    );
}

#[test]
fn node_redis() {
    run(Tool::Node(&["redis"]), "node_redis.mjs");
}

#[test]
fn ioredis() {
    run(Tool::Node(&["ioredis"]), "ioredis.mjs");
}

#[test]
fn redis_rb() {
    run(Tool::Ruby, "redis_rb.rb");
}

#[test]
fn php_native_sessions_with_phpredis() {
    run(Tool::Php, "php_session.php");
}

#[test]
fn redis_py_with_requirepass() {
    run_with(
        Tool::Python(&["redis"]),
        "auth_py.py",
        &["--requirepass", PASSWORD],
    );
}

#[test]
fn a_session_service_user_limited_to_its_prefix_through_flask_session() {
    run(
        Tool::Python(&["redis", "flask", "flask_session", "msgspec"]),
        "acl_session_service.py",
    );
}

/// The same for express-session + connect-redis on node-redis, and ioredis, as the
/// user `express` of session_users.conf (`~sess:*`).
#[test]
fn a_session_service_user_limited_to_its_prefix_through_express_session_and_ioredis() {
    run_as_session_users(
        Tool::Node(&[
            "redis",
            "ioredis",
            "connect-redis",
            "express",
            "express-session",
        ]),
        "acl_node_sessions.mjs",
    );
}

/// PHP native sessions with phpredis, locking included, as `php`
/// (`~PHPREDIS_SESSION:* ... +evalsha +eval`: the lock's release is a Lua script).
#[test]
fn a_session_service_user_limited_to_its_prefix_through_php_sessions_with_locking() {
    run_as_session_users(Tool::Php, "acl_php_sessions.php");
}

/// redis-session-store's and redis-rack's commands on redis-rb as `rails`
/// (`~_session_id:* ~rack:session:* ... +multi +exec`).
#[test]
fn a_session_service_user_limited_to_its_prefix_through_rails_session_stores() {
    run_as_session_users(Tool::Ruby, "acl_rails_sessions.rb");
}

/// Django's cache sessions on RedisCache as `django` (`~:1:django.contrib.sessions.cache*`).
#[test]
fn a_session_service_user_limited_to_its_prefix_through_django_cache_sessions() {
    run_as_session_users(Tool::Python(&["redis", "django"]), "acl_django_sessions.py");
}

#[test]
fn node_redis_and_ioredis_with_requirepass() {
    run_with(
        Tool::Node(&["redis", "ioredis"]),
        "auth_node.mjs",
        &["--requirepass", PASSWORD],
    );
}

#[test]
fn redis_rb_with_requirepass() {
    run_with(Tool::Ruby, "auth_rb.rb", &["--requirepass", PASSWORD]);
}

#[test]
fn php_sessions_with_requirepass() {
    run_with(Tool::Php, "auth_php.php", &["--requirepass", PASSWORD]);
}

#[test]
fn node_redis_and_ioredis_over_tls() {
    run_tls(Tool::Node(&["redis", "ioredis"]), "tls_node.mjs", &[]);
}

#[test]
fn flask_session_and_django_over_rediss() {
    run_tls(
        Tool::Python(&["redis", "flask", "flask_session", "django"]),
        "tls_py_sessions.py",
        &[],
    );
}

#[test]
fn redis_rb_over_tls() {
    run_tls(Tool::Ruby, "tls_rb.rb", &[]);
}

/// phpredis 5.3's session handler cannot present a client certificate.
#[test]
fn php_sessions_over_tls() {
    run_tls(
        Tool::Php,
        "tls_php.php",
        &["--tls-auth-clients", "optional"],
    );
}

#[test]
fn php_sessions_over_a_unix_socket() {
    run_unix(Tool::Php, "php_session_unix.php");
}

#[test]
fn redis_py_and_flask_session_over_a_unix_socket() {
    run_unix(
        Tool::Python(&["redis", "flask", "flask_session", "msgspec"]),
        "redis_py_unix.py",
    );
}

#[test]
fn redis_rb_over_a_unix_socket() {
    run_unix(Tool::Ruby, "redis_rb_unix.rb");
}

/// A script added to tests/compat must either be run above or be listed in NOT_WIRED.
#[test]
fn every_script_is_accounted_for() {
    let mut unaccounted = Vec::new();
    for entry in std::fs::read_dir(compat_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let is_script = [".py", ".mjs", ".rb", ".php"]
            .iter()
            .any(|ext| name.ends_with(ext));
        if is_script
            && !WIRED.contains(&name.as_str())
            && !NOT_WIRED.iter().any(|(n, _)| *n == name)
        {
            unaccounted.push(name);
        }
    }
    assert!(
        unaccounted.is_empty(),
        "scripts in tests/compat neither run by tests/compat.rs nor listed in NOT_WIRED: {unaccounted:?}"
    );
    for name in WIRED.iter().chain(NOT_WIRED.iter().map(|(n, _)| n)) {
        assert!(
            compat_dir().join(name).is_file(),
            "{name} is listed but missing"
        );
    }
}
