//! A full disk, for real: each test mounts a 2 MB tmpfs, runs the roost binary with its
//! log on it and writes through raw sockets (pipelined batches, as a busy web tier does)
//! until the disk fills. The tests need root to mount; CI runs as root.
//!
//! What is asserted is what holds exactly, whatever the timing: no client is told OK
//! after its first MISCONF while the disk is full; what survives a `kill -9` is, for
//! each client, a prefix of what it wrote (the log is never holed) that holds every
//! write it was told OK for, under every fsync policy (a reply waits for the write()
//! of its record; only a power loss can take what `everysec` has not fsynced); SIGTERM
//! and SHUTDOWN end the server and its log says what was not written; freeing space
//! lets writes resume with nothing lost.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::process::{wait_for, Roost, TempDir};

/// A tmpfs of `size` mounted at a fresh directory; unmounted on drop, also when the
/// test fails.
struct Tmpfs {
    path: PathBuf,
    _parent: TempDir,
}

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Tmpfs {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let root = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0");
        assert!(
            root,
            "tests/full_disk.rs needs root: it mounts a small tmpfs to fill a real disk \
             (run it as root, as CI does: `sudo cargo test --release --test full_disk`)"
        );
        let parent = TempDir::new(&format!("full-disk-{name}"));
        let path = parent.0.join("mnt");
        std::fs::create_dir_all(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("cannot run mount");
        assert!(mounted.success(), "mount -t tmpfs failed: {mounted}");
        Tmpfs {
            path,
            _parent: parent,
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

const BATCH: usize = 50;
const VALUE: usize = 200;

fn key(client: usize, n: usize) -> String {
    format!("c{client}:{n}")
}

/// What one client saw: for each write it sent, in order, whether it was acknowledged
/// (or refused with MISCONF; any other answer fails the test), and its first MISCONF.
#[derive(Default)]
struct Seen {
    acked: Vec<bool>,
    first_misconf: Option<usize>,
}

/// Sends pipelined batches of SET until `extra` whole batches after the first MISCONF
/// (or the deadline), recording every reply.
fn write_until_full(port: u16, client: usize, extra: usize) -> Seen {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A reply that never comes (a client left waiting on a full disk) fails the test.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let value = "v".repeat(VALUE);
    let mut seen = Seen::default();
    let mut after = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while after < extra {
        assert!(Instant::now() < deadline, "the 2 MB disk never filled");
        let start = seen.acked.len();
        let mut batch = Vec::new();
        for n in start..start + BATCH {
            let k = key(client, n);
            batch.extend_from_slice(
                format!(
                    "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{value}\r\n",
                    k.len(),
                    value.len()
                )
                .as_bytes(),
            );
        }
        writer.write_all(&batch).unwrap();
        for n in start..start + BATCH {
            let mut line = String::new();
            reader
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("client {client}, write {n}: no reply: {e}"));
            if line == "+OK\r\n" {
                seen.acked.push(true);
            } else if line == "-MISCONF Errors writing to the AOF file: No space left on device\r\n"
            {
                // Redis's text, byte for byte.
                seen.acked.push(false);
                seen.first_misconf.get_or_insert(n);
            } else {
                panic!("client {client}, write {n}: unexpected reply {line:?}");
            }
        }
        if seen.first_misconf.is_some() {
            after += 1;
        }
    }
    seen
}

/// Four clients write at once until the disk is full.
fn fill(port: u16, extra: usize) -> Vec<Seen> {
    let clients: Vec<_> = (0..4)
        .map(|c| thread::spawn(move || write_until_full(port, c, extra)))
        .collect();
    clients.into_iter().map(|t| t.join().unwrap()).collect()
}

/// No OK after a client's first MISCONF while the disk stays full.
fn assert_no_ack_after_misconf(seen: &[Seen]) {
    for (c, s) in seen.iter().enumerate() {
        let first = s.first_misconf.unwrap();
        let late: Vec<usize> = (first..s.acked.len()).filter(|&n| s.acked[n]).collect();
        assert!(
            late.is_empty(),
            "client {c}: writes {late:?} were acknowledged after its first MISCONF (write {first})"
        );
    }
}

/// For each client, how many of its writes survive: they must be a prefix of what it
/// sent (the log has no holes).
fn surviving_prefixes(port: u16, seen: &[Seen]) -> Vec<usize> {
    let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    seen.iter()
        .enumerate()
        .map(|(c, s)| {
            let keys: Vec<String> = (0..s.acked.len()).map(|n| key(c, n)).collect();
            let values: Vec<Option<String>> =
                redis::cmd("MGET").arg(&keys).query(&mut con).unwrap();
            let prefix = values.iter().take_while(|v| v.is_some()).count();
            assert!(
                values[prefix..].iter().all(|v| v.is_none()),
                "client {c}: the writes that survived are not a prefix of its writes"
            );
            prefix
        })
        .collect()
}

/// Loads a copy of the log (the tmpfs is full) in a fresh server.
fn restart_from_copy(from: &Path, to: &Path) -> Roost {
    let source = from.join("appendonly");
    let target = to.join("appendonly");
    std::fs::create_dir_all(&target).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
    }
    Roost::start(to, &[])
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Fills the disk under `policy`, kills the server with `kill -9` and checks that every
/// write acknowledged survives (replies wait for the write() that puts a record in the
/// log, under every policy; `kill -9` does not lose the page cache).
fn kill9_on_a_full_disk_loses_nothing_acknowledged(policy: &str) {
    let disk = Tmpfs::mount(policy, "2m");
    let roost = Roost::start(&disk.path, &["--appendfsync", policy]);
    // Clients whose writes were waiting when the disk filled got an answer (MISCONF):
    // `fill` returning at all shows nobody was left waiting.
    let seen = fill(roost.port, 5);
    assert_no_ack_after_misconf(&seen);
    // Reads go on while writes are refused.
    let mut con = roost.client();
    let v: Option<String> = redis::cmd("GET").arg(key(0, 0)).query(&mut con).unwrap();
    assert_eq!(v.map(|v| v.len()), Some(VALUE));
    roost.kill9();

    let copy = TempDir::new(&format!("full-disk-{policy}-copy"));
    let restarted = restart_from_copy(&disk.path, &copy.0);
    let prefixes = surviving_prefixes(restarted.port, &seen);
    let mut acked = 0;
    for (c, (s, &prefix)) in seen.iter().zip(&prefixes).enumerate() {
        acked += s.acked.iter().filter(|&&a| a).count();
        let lost: Vec<usize> = (prefix..s.acked.len()).filter(|&n| s.acked[n]).collect();
        assert!(
            lost.is_empty(),
            "client {c}: acknowledged writes {lost:?} were lost (appendfsync {policy})"
        );
        // What a full disk refused was not logged either.
        let first = s.first_misconf.unwrap();
        assert!(prefix <= first, "client {c}: a refused write was logged");
    }
    eprintln!("appendfsync {policy}, full disk, kill -9: 0 of {acked} acknowledged writes lost");
}

#[test]
fn everysec_refuses_from_the_first_failed_write_and_kill9_loses_nothing_acknowledged() {
    kill9_on_a_full_disk_loses_nothing_acknowledged("everysec");
}

#[test]
fn no_fsync_policy_refuses_from_the_first_failed_write_too() {
    kill9_on_a_full_disk_loses_nothing_acknowledged("no");
}

#[test]
fn always_loses_nothing_acknowledged_and_answers_waiting_clients() {
    kill9_on_a_full_disk_loses_nothing_acknowledged("always");
}

/// Fills the disk, then stops the server with `stop` and checks that it exits and says
/// in its log what it could not write.
fn stops_on_a_full_disk(name: &str, stop: impl FnOnce(&Roost)) {
    let disk = Tmpfs::mount(name, "2m");
    let logs = TempDir::new(&format!("full-disk-{name}-log"));
    let log = logs.0.join("roost.log");
    let mut roost = Roost::start_logged(&disk.path, &["--appendfsync", "everysec"], &log);
    fill(roost.port, 1);
    stop(&roost);
    // Generous: the writer gives up after two seconds of retries.
    wait_for("the server to exit", Duration::from_secs(30), || {
        roost.child.try_wait().unwrap().is_some()
    });
    let text = read_log(&log);
    let said = text
        .lines()
        .find(|l| l.contains("Shutting down with") && l.contains("not written to the log"));
    assert!(
        said.is_some_and(|l| l.contains(" records (") && l.contains("bytes) not written")),
        "the log does not say what was not written:\n{text}"
    );
    // It exits with a failure: data was lost.
    assert!(!roost.child.try_wait().unwrap().unwrap().success());
}

#[test]
fn sigterm_ends_the_server_on_a_full_disk_and_says_what_was_not_written() {
    stops_on_a_full_disk("sigterm", |roost| {
        let sent = Command::new("kill")
            .args(["-TERM", &roost.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    });
}

#[test]
fn shutdown_nosave_ends_the_server_on_a_full_disk() {
    stops_on_a_full_disk("shutdown", |roost| {
        let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN")
            .arg("NOSAVE")
            .query(&mut roost.client());
    });
}

#[test]
fn writes_resume_once_there_is_room_and_nothing_is_lost() {
    let disk = Tmpfs::mount("resume", "2m");
    // Most of the disk is taken by another file, freed later.
    std::fs::write(disk.path.join("filler"), vec![0u8; 1024 * 1024]).unwrap();
    let roost = Roost::start(&disk.path, &["--appendfsync", "everysec"]);
    let seen = fill(roost.port, 2);
    assert_no_ack_after_misconf(&seen);
    std::fs::remove_file(disk.path.join("filler")).unwrap();
    let mut con = roost.client();
    wait_for("writes to resume", Duration::from_secs(30), || {
        redis::cmd("SET")
            .arg("after")
            .arg("1")
            .query::<()>(&mut con)
            .is_ok()
    });
    roost.shutdown();

    // Every write that was applied, acknowledged or not, reached the log once there was
    // room: writes refused at the door are absent, nothing else is.
    let restarted = Roost::start(&disk.path, &[]);
    let prefixes = surviving_prefixes(restarted.port, &seen);
    for (c, (s, &prefix)) in seen.iter().zip(&prefixes).enumerate() {
        let acked = s.acked.iter().filter(|&&a| a).count();
        assert!(
            prefix >= acked,
            "client {c}: {acked} writes acknowledged, only {prefix} survived"
        );
    }
    let mut con = restarted.client();
    let v: String = redis::cmd("GET").arg("after").query(&mut con).unwrap();
    assert_eq!(v, "1");
}

/// Sends pipelined batches of a 64 KB SET followed by 16 LPOPs of `list`, so that the
/// disk fills up in the middle of batches of pops, until `extra` batches after its first
/// MISCONF; returns the elements it was handed and how many pops were refused.
fn pop_until_refused(port: u16, client: usize, extra: usize) -> (Vec<String>, usize) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let value = "v".repeat(64 * 1024);
    let (mut popped, mut refused, mut after) = (Vec::new(), 0, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    for batch in 0.. {
        if after >= extra {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the disk never filled while popping"
        );
        let k = format!("big:{client}:{batch}");
        let mut request = format!(
            "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{value}\r\n",
            k.len(),
            value.len()
        )
        .into_bytes();
        request.extend_from_slice(&b"*2\r\n$4\r\nLPOP\r\n$4\r\nlist\r\n".repeat(16));
        writer.write_all(&request).unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let set_refused = line.starts_with("-MISCONF");
        assert!(set_refused || line == "+OK\r\n", "SET answered {line:?}");
        for _ in 0..16 {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.starts_with('$') && line != "$-1\r\n" {
                let mut element = String::new();
                reader.read_line(&mut element).unwrap();
                popped.push(element.trim_end().to_string());
            } else if line.starts_with("-MISCONF") {
                refused += 1;
            } else {
                panic!("LPOP answered {line:?} (did the list run out before the disk filled?)");
            }
        }
        if set_refused || refused > 0 {
            after += 1;
        }
    }
    (popped, refused)
}

#[test]
fn popped_elements_reach_a_client_or_stay_in_the_list_when_the_disk_fills() {
    let disk = Tmpfs::mount("pops", "4m");
    std::fs::write(disk.path.join("filler"), vec![0u8; 2 * 1024 * 1024]).unwrap();
    let roost = Roost::start(&disk.path, &["--appendfsync", "everysec"]);
    let all: Vec<String> = (0..20_000).map(|n| format!("e{n:05}")).collect();
    let mut con = roost.client();
    for chunk in all.chunks(1_000) {
        let _: i64 = redis::cmd("RPUSH")
            .arg("list")
            .arg(chunk)
            .query(&mut con)
            .unwrap();
    }
    let poppers: Vec<_> = (0..3)
        .map(|client| {
            let port = roost.port;
            thread::spawn(move || pop_until_refused(port, client, 3))
        })
        .collect();
    let results: Vec<(Vec<String>, usize)> =
        poppers.into_iter().map(|p| p.join().unwrap()).collect();
    std::fs::remove_file(disk.path.join("filler")).unwrap();
    wait_for("writes to resume", Duration::from_secs(30), || {
        redis::cmd("SET")
            .arg("after")
            .arg("1")
            .query::<()>(&mut con)
            .is_ok()
    });

    // Every element was handed to exactly one popper or is still in the list, and so
    // after a restart (the pops that ran while the log failed were logged later).
    let mut handed: Vec<String> = results.iter().flat_map(|(p, _)| p.clone()).collect();
    let handed_count = handed.len();
    handed.sort();
    handed.dedup();
    assert_eq!(
        handed.len(),
        handed_count,
        "an element was handed out twice"
    );
    let check = |con: &mut redis::Connection, when: &str| {
        let left: Vec<String> = redis::cmd("LRANGE")
            .arg("list")
            .arg(0)
            .arg(-1)
            .query(con)
            .unwrap();
        let mut accounted: Vec<String> =
            handed.iter().cloned().chain(left.iter().cloned()).collect();
        accounted.sort();
        let lost: Vec<&String> = all
            .iter()
            .filter(|e| accounted.binary_search(e).is_err())
            .collect();
        assert!(
            lost.is_empty(),
            "{when}: {} elements neither handed out nor in the list, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        assert_eq!(
            accounted.len(),
            all.len(),
            "{when}: an element is both handed out and in the list"
        );
    };
    check(&mut con, "running");
    roost.shutdown();
    let restarted = Roost::start(&disk.path, &[]);
    check(&mut restarted.client(), "after a restart");
}
