//! Scale-out through an existing proxy: Debian's twemproxy (nutcracker) in front of two
//! Roost instances with consistent hashing. Sessions written through it land on exactly
//! one instance each, and read back through it.

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::process::{free_port, Process, Roost, TempDir};

#[test]
fn ten_thousand_sessions_through_twemproxy_land_on_exactly_one_instance() {
    let dirs = [
        TempDir::new("proxy-a"),
        TempDir::new("proxy-b"),
        TempDir::new("proxy-conf"),
    ];
    let servers = [Roost::start(&dirs[0].0, &[]), Roost::start(&dirs[1].0, &[])];
    let port = free_port();
    let conf = dirs[2].0.join("nutcracker.yml");
    std::fs::write(
        &conf,
        format!(
            "sessions:\n  listen: 127.0.0.1:{port}\n  hash: fnv1a_64\n  distribution: ketama\n  \
             redis: true\n  auto_eject_hosts: false\n  timeout: 2000\n  servers:\n   \
             - 127.0.0.1:{}:1 roost-a\n   - 127.0.0.1:{}:1 roost-b\n",
            servers[0].port, servers[1].port
        ),
    )
    .unwrap();
    let child = Command::new("nutcracker")
        .arg("-c")
        .arg(&conf)
        .arg("-o")
        .arg(dirs[2].0.join("nutcracker.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nutcracker is needed (apt-get install nutcracker; tests/run does)");
    let _proxy = Process(child);
    // twemproxy closes a connection that sends a command it does not forward, such as
    // the CLIENT SETINFO the redis crate sends on connect: a plain RESP2 client.
    let info =
        redis::IntoConnectionInfo::into_connection_info(format!("redis://127.0.0.1:{port}/"))
            .unwrap();
    let settings = info.redis_settings().clone().set_skip_set_lib_name();
    let info = info.set_redis_settings(settings);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut con = loop {
        if let Ok(con) = redis::Client::open(info.clone()).and_then(|c| c.get_connection()) {
            break con;
        }
        assert!(Instant::now() < deadline, "nutcracker did not start");
        thread::sleep(Duration::from_millis(50));
    };

    // A RESP2 client writes sessions through the proxy (twemproxy speaks RESP2 only).
    for batch in 0..100 {
        let mut pipe = redis::pipe();
        for i in batch * 100..(batch + 1) * 100 {
            pipe.cmd("SET")
                .arg(format!("session:{i}"))
                .arg(format!("user-{i}"))
                .arg("EX")
                .arg(1800)
                .ignore();
        }
        let () = pipe.query(&mut con).unwrap();
    }

    // Each session is on exactly one instance, and both instances got a share.
    let mut direct: Vec<redis::Connection> = servers.iter().map(|s| s.client()).collect();
    let mut counts = [0usize; 2];
    for i in 0..10_000 {
        let key = format!("session:{i}");
        let mut holders = 0;
        for (n, con) in direct.iter_mut().enumerate() {
            let v: Option<String> = redis::cmd("GET").arg(&key).query(con).unwrap();
            if let Some(v) = v {
                assert_eq!(v, format!("user-{i}"));
                holders += 1;
                counts[n] += 1;
            }
        }
        assert_eq!(holders, 1, "{key} is on {holders} instances");
    }
    assert!(counts.iter().all(|&c| c > 2000), "uneven split: {counts:?}");
    let sizes: Vec<u64> = direct
        .iter_mut()
        .map(|c| redis::cmd("DBSIZE").query(c).unwrap())
        .collect();
    assert_eq!(sizes.iter().sum::<u64>(), 10_000);

    // Reads, TTLs and deletes go through the proxy too.
    let v: String = redis::cmd("GET")
        .arg("session:4242")
        .query(&mut con)
        .unwrap();
    assert_eq!(v, "user-4242");
    let ttl: i64 = redis::cmd("TTL")
        .arg("session:4242")
        .query(&mut con)
        .unwrap();
    assert!((1700..=1800).contains(&ttl), "{ttl}");
    let values: Vec<String> = redis::cmd("MGET")
        .arg("session:1")
        .arg("session:2")
        .arg("session:3")
        .query(&mut con)
        .unwrap();
    assert_eq!(values, ["user-1", "user-2", "user-3"]);
    let deleted: i64 = redis::cmd("DEL")
        .arg("session:1")
        .arg("session:2")
        .query(&mut con)
        .unwrap();
    assert_eq!(deleted, 2);
}
