//! Many idle connections: what each costs the server in memory, Roost against
//! redis-server measured the same way in the same test. Each server gets the same number
//! of connections that each ran one PING and then stay idle, and the growth of its
//! resident set is divided by their number. (The latency of working clients beside
//! 10,000 idle ones is a timing goal: benches/idle_p99.sh.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

mod common;
use common::process::{rss_kb, wait_for, RedisServer, Roost, TempDir};

const IDLE: usize = 3000;

/// The test opens `IDLE` sockets to one server at a time, plus its own; it raises its
/// soft limit on open files to the hard one if it is lower.
fn raise_open_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a valid struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    assert!(
        limit.rlim_cur as usize > IDLE + 100,
        "RLIMIT_NOFILE is {} (hard); the test needs {}",
        limit.rlim_max,
        IDLE + 100
    );
}

/// Opens `IDLE` connections to `port`, each sending one PING, and returns the server's
/// resident set growth per connection in bytes, with the connections still open.
fn bytes_per_idle_connection(port: u16, pid: u32) -> (f64, Vec<TcpStream>) {
    // A few connections first, so that what every server sets up on its first clients
    // (threads' buffers, tables) is not counted.
    let warm: Vec<TcpStream> = (0..50).map(|_| ping(port)).collect();
    drop(warm);
    thread::sleep(Duration::from_millis(300));
    let before = rss_kb(pid);
    let conns: Vec<TcpStream> = (0..IDLE).map(|_| ping(port)).collect();
    // Idle: past the second after which Roost gives back a connection's buffers.
    thread::sleep(Duration::from_millis(2000));
    let after = rss_kb(pid);
    let per = (after.saturating_sub(before) * 1024) as f64 / IDLE as f64;
    (per, conns)
}

fn ping(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"PING\r\n").unwrap();
    let mut reply = [0u8; 7];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+PONG\r\n");
    s
}

#[test]
fn an_idle_connection_costs_roost_no_more_memory_than_redis() {
    raise_open_files();
    let maxclients = (IDLE + 200).to_string();

    let dir = TempDir::new("idle-connections");
    let roost = Roost::start(&dir.0, &["--appendonly", "no", "--maxclients", &maxclients]);
    let (roost_per, conns) = bytes_per_idle_connection(roost.port, roost.child.id());
    let mut con = roost.client();
    let connected: String = redis::cmd("INFO").arg("clients").query(&mut con).unwrap();
    assert!(
        connected.contains(&format!("connected_clients:{}\r\n", IDLE + 1)),
        "{connected}"
    );
    drop(conns);
    drop(con);
    drop(roost);

    let redis = RedisServer::start_with(&["--maxclients", &maxclients]);
    let (redis_per, conns) = bytes_per_idle_connection(redis.port, redis.pid());
    let mut con = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    wait_for("redis to count its clients", Duration::from_secs(5), || {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut con).unwrap();
        info.contains(&format!("connected_clients:{}\r\n", IDLE + 1))
    });
    drop(conns);

    eprintln!(
        "RSS per idle connection: roost {:.0} B, redis-server {:.0} B",
        roost_per, redis_per
    );
    assert!(
        redis_per > 1000.0,
        "redis-server grew by {redis_per:.0} B per connection"
    );
    assert!(
        roost_per <= redis_per,
        "roost {roost_per:.0} B per idle connection, redis-server {redis_per:.0} B"
    );
}

/// Started with fewer open files than `maxclients` needs, Roost raises its limit as
/// Redis does (root may raise the hard limit too) or, when the system refuses, lowers
/// `maxclients` to fit and logs it in Redis's words.
#[test]
fn the_open_files_limit_is_raised_for_maxclients_or_maxclients_lowered() {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    let dir = TempDir::new("open-files");
    let log = dir.0.join("roost.log");
    let port = common::process::free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_roost"));
    command
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            dir.0.to_str().unwrap(),
        ])
        .args(["--appendonly", "no", "--maxclients", "10000"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    // SAFETY: only setrlimit between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = common::process::Process(command.spawn().unwrap());
    let mut con = None;
    wait_for("roost to answer", Duration::from_secs(10), || {
        con = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
            .ok();
        con.is_some()
    });
    let mut con = con.unwrap();
    let maxclients: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut con)
        .unwrap();
    let maxclients: u64 = maxclients[1].parse().unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.0.id())).unwrap();
    let open_files: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap();
    if open_files >= 10032 {
        assert_eq!(maxclients, 10000);
    } else {
        assert_eq!(open_files, 256, "{limits}");
        assert_eq!(maxclients, 256 - 32);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains("maxclients has been reduced to 224 to compensate for low ulimit"),
            "{text}"
        );
    }
}
