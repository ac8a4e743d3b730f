//! DEBUG's subset (SLEEP, SET-ACTIVE-EXPIRE, HELP) and `enable-debug-command`, which
//! must hold whichever way DEBUG is reached: refused by default, only from 127.0.0.1 and
//! ::1 under `local`, from anywhere under `yes` (Redis 7's texts).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::inprocess::InProcess;
use common::TestServer;

const REFUSED: &[u8] = b"-ERR DEBUG command not allowed. If the enable-debug-command option is \
set to \"local\", you can run it from a local connection, otherwise you need to set this option \
in the configuration file, and then restart the server.\r\n";

fn from(ip: [u8; 4]) -> SocketAddr {
    SocketAddr::from((ip, 40000))
}

#[test]
fn debug_is_refused_unless_enable_debug_command_allows_the_client() {
    let off = InProcess::start();
    for addr in [from([127, 0, 0, 1]), from([10, 0, 0, 5])] {
        let mut c = off.client_from(addr);
        c.roundtrip(&[b"DEBUG", b"SLEEP", b"0"], REFUSED);
        c.roundtrip(&[b"DEBUG", b"HELP"], REFUSED);
        // Queued in a transaction, it is refused when EXEC runs it.
        c.roundtrip(&[b"MULTI"], b"+OK\r\n");
        c.roundtrip(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"], b"+QUEUED\r\n");
        let mut exec = b"*1\r\n".to_vec();
        exec.extend_from_slice(REFUSED);
        c.roundtrip(&[b"EXEC"], &exec);
    }

    let local = InProcess::with_config(|c| c.enable_debug_command = "local".into());
    local
        .client_from(from([127, 0, 0, 1]))
        .roundtrip(&[b"DEBUG", b"SLEEP", b"0"], b"+OK\r\n");
    local
        .client_from(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 40000)))
        .roundtrip(&[b"DEBUG", b"SLEEP", b"0"], b"+OK\r\n");
    // Loopback, but not Redis's notion of local; and a remote client.
    for addr in [from([127, 0, 0, 2]), from([10, 0, 0, 5])] {
        local
            .client_from(addr)
            .roundtrip(&[b"DEBUG", b"SLEEP", b"0"], REFUSED);
    }

    let on = InProcess::with_config(|c| c.enable_debug_command = "yes".into());
    let mut remote = on.client_from(from([10, 0, 0, 5]));
    remote.roundtrip(&[b"DEBUG", b"SLEEP", b"0"], b"+OK\r\n");
    remote.roundtrip(
        &[b"DEBUG", b"NOSUCH"],
        b"-ERR unknown subcommand or wrong number of arguments for 'NOSUCH'. Try DEBUG HELP.\r\n",
    );
    remote.roundtrip(
        &[b"DEBUG", b"SLEEP"],
        b"-ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP.\r\n",
    );
}

#[test]
fn debug_cannot_be_switched_on_at_run_time() {
    let server = TestServer::start();
    let mut con = server.client();
    let refused: redis::RedisResult<()> = redis::cmd("CONFIG")
        .arg("SET")
        .arg("enable-debug-command")
        .arg("yes")
        .query(&mut con);
    assert!(refused
        .unwrap_err()
        .to_string()
        .contains("can't set immutable config"));
    let value: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("enable-debug-command")
        .query(&mut con)
        .unwrap();
    assert_eq!(value, ["enable-debug-command", "no"]);
}

#[test]
fn debug_sleep_stops_the_server_and_set_active_expire_stops_expiry() {
    let server = TestServer::with_config(|c| c.enable_debug_command = "yes".into());
    let mut sleeper = server.raw();
    let mut con = server.client();
    let started = Instant::now();
    sleeper.send(b"DEBUG SLEEP 0.3\r\n");
    std::thread::sleep(Duration::from_millis(50));
    // Another client's command waits for the sleep to end.
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    sleeper.expect(b"+OK\r\n");

    sleeper.send(b"DEBUG SET-ACTIVE-EXPIRE 0\r\n");
    sleeper.expect(b"+OK\r\n");
    let _: () = redis::cmd("SET")
        .arg("gone")
        .arg("v")
        .arg("PX")
        .arg(1)
        .query(&mut con)
        .unwrap();
    // Without active expiry the expired key stays counted (nothing reads it)...
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(100));
        let expired: i64 = info_expired_keys(&mut con);
        assert_eq!(expired, 0);
    }
    // ...and with it, it goes.
    sleeper.send(b"DEBUG SET-ACTIVE-EXPIRE 1\r\n");
    sleeper.expect(b"+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_expired_keys(&mut con) == 0 {
        assert!(Instant::now() < deadline, "the key never expired");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn info_expired_keys(con: &mut redis::Connection) -> i64 {
    let info: String = redis::cmd("INFO").arg("stats").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("expired_keys:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
