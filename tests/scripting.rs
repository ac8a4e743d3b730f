//! Scripts run atomically and are logged and replicated as their effects.

use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::process::{Roost, TempDir};

const LOCK_RELEASE: &str =
    "if redis.call('get',KEYS[1]) == ARGV[1] then return redis.call('del',KEYS[1]) else return 0 end";

#[test]
fn a_scripts_writes_survive_kill_9_and_reach_a_replica() {
    let (pdir, rdir) = (TempDir::new("script-p"), TempDir::new("script-r"));
    let primary = Roost::start(&pdir.0, &["--appendfsync", "always"]);
    let replica = Roost::start(
        &rdir.0,
        &["--replicaof", &format!("127.0.0.1 {}", primary.port)],
    );
    let mut p = primary.client();
    let script = "redis.call('set', KEYS[1], ARGV[1]); redis.call('hset', KEYS[2], 'f', ARGV[1]); \
                  redis.call('expire', KEYS[2], 1000); return redis.call('incr', 'counter')";
    for i in 0..10 {
        let n: i64 = redis::cmd("EVAL")
            .arg(script)
            .arg(2)
            .arg(format!("s{i}"))
            .arg(format!("h{i}"))
            .arg(i)
            .query(&mut p)
            .unwrap();
        assert_eq!(n, i + 1);
    }
    // The replica applies the effects: the keys, not the script.
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert_eq!(acked, 1);
    let mut r = replica.client();
    let v: String = redis::cmd("HGET").arg("h9").arg("f").query(&mut r).unwrap();
    assert_eq!(v, "9");
    let ttl: i64 = redis::cmd("TTL").arg("h9").query(&mut r).unwrap();
    assert!(ttl > 900);
    let counter: i64 = redis::cmd("GET").arg("counter").query(&mut r).unwrap();
    assert_eq!(counter, 10);
    // The log holds them too.
    primary.kill9();
    let primary = Roost::start(&pdir.0, &[]);
    let mut p = primary.client();
    let counter: i64 = redis::cmd("GET").arg("counter").query(&mut p).unwrap();
    assert_eq!(counter, 10);
    let v: String = redis::cmd("GET").arg("s3").query(&mut p).unwrap();
    assert_eq!(v, "3");
}

#[test]
fn the_redis_crates_script_helper_and_a_lock_release() {
    let server = common::TestServer::start();
    let mut con = server.client();
    // redis::Script sends EVALSHA and falls back to EVAL on NOSCRIPT, as phpredis does.
    let release = redis::Script::new(LOCK_RELEASE);
    let () = redis::cmd("SET")
        .arg("lock")
        .arg("me")
        .arg("NX")
        .arg("PX")
        .arg(30000)
        .query(&mut con)
        .unwrap();
    let released: i64 = release
        .key("lock")
        .arg("someone-else")
        .invoke(&mut con)
        .unwrap();
    assert_eq!(released, 0);
    let released: i64 = release.key("lock").arg("me").invoke(&mut con).unwrap();
    assert_eq!(released, 1);
    let exists: i64 = redis::cmd("EXISTS").arg("lock").query(&mut con).unwrap();
    assert_eq!(exists, 0);
    let cached: Vec<i64> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(release.get_hash())
        .query(&mut con)
        .unwrap();
    assert_eq!(cached, vec![1]);
}

#[test]
fn a_script_is_atomic_for_other_clients() {
    let server = common::TestServer::start();
    let mut con = server.client();
    let () = redis::cmd("SET").arg("a").arg(0).query(&mut con).unwrap();
    let () = redis::cmd("SET").arg("b").arg(0).query(&mut con).unwrap();
    // Writers move a unit from a to b in a script; a reader must never see a torn state.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let mut con = server.client();
        let stop = stop.clone();
        thread::spawn(move || {
            let script = redis::Script::new(
                "redis.call('decr', 'a'); for i = 1, 100 do redis.call('set', 'scratch', i) end; return redis.call('incr', 'b')",
            );
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _: i64 = script.invoke(&mut con).unwrap();
            }
        })
    };
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut reads = 0;
    while Instant::now() < deadline {
        let (a, b): (i64, i64) = redis::cmd("MGET")
            .arg("a")
            .arg("b")
            .query(&mut con)
            .unwrap();
        assert_eq!(a + b, 0, "saw a script half done: a={a} b={b}");
        reads += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(reads > 0);
}

// ------------------------------------------------------------------ busy scripts

/// A plain RESP connection that returns each reply as the text of its first line
/// (`+PONG`, `-BUSY ...`), with a bulk string's value in place of its length line.
struct Line {
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl Line {
    fn connect(port: u16) -> Line {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        // Every request here gets an answer: a minute without one fails the test.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Line {
            reader: std::io::BufReader::new(stream),
        }
    }

    /// Sends a command; `None` if the server closed the connection instead of replying.
    fn try_cmd(&mut self, args: &[&str]) -> Option<String> {
        use std::io::Write;
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.reader
            .get_mut()
            .write_all(&common::encode_cmd(&args))
            .ok()?;
        self.read_reply()
    }

    /// One reply; an array's elements joined by spaces.
    fn read_reply(&mut self) -> Option<String> {
        use std::io::BufRead;
        let mut line = String::new();
        if self.reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_string();
        if line.starts_with('$') && line != "$-1" {
            let mut value = String::new();
            self.reader.read_line(&mut value).unwrap();
            return Some(value.trim_end().to_string());
        }
        if let Some(n) = line.strip_prefix('*').and_then(|n| n.parse::<usize>().ok()) {
            let items: Option<Vec<String>> = (0..n).map(|_| self.read_reply()).collect();
            return Some(items?.join(" "));
        }
        Some(line)
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        self.try_cmd(args)
            .expect("the server closed the connection")
    }
}

const BUSY: &str =
    "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// Pings from a new connection until the answer is BUSY; every ping is answered.
fn wait_for_busy(port: u16) -> String {
    let mut other = Line::connect(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = other.cmd(&["PING"]);
        if reply.starts_with("-BUSY") {
            return reply;
        }
        assert_eq!(reply, "+PONG");
        assert!(Instant::now() < deadline, "never BUSY");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `script` on its own connection; the join handle returns its reply.
fn eval_in_background(port: u16, script: &'static str) -> thread::JoinHandle<Option<String>> {
    thread::spawn(move || Line::connect(port).try_cmd(&["EVAL", script, "0"]))
}

fn wait_for_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let mut status = None;
    common::process::wait_for("the server to exit", Duration::from_secs(30), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status.unwrap()
}

const LOOP: &str = "while true do end";
const LOOP_SHA: &str = "694a5fe1ddb97a4c6a1bf299d9537c7d3d0f84e7";

#[test]
fn a_busy_script_gets_busy_replies_script_kill_ends_it_and_sigterm_still_stops_the_server() {
    let dir = TempDir::new("busy-kill");
    let mut roost = Roost::start(&dir.0, &[]);
    let mut c = Line::connect(roost.port);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "busy-reply-threshold"]),
        "busy-reply-threshold 5000"
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "lua-time-limit", "100"]), "+OK");
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "busy-reply-threshold"]),
        "busy-reply-threshold 100"
    );
    assert_eq!(
        c.cmd(&["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now."
    );
    let script = eval_in_background(roost.port, LOOP);
    assert_eq!(wait_for_busy(roost.port), BUSY);
    // Other commands are refused too; a refused EXEC says why.
    assert_eq!(c.cmd(&["GET", "k"]), BUSY);
    assert_eq!(
        c.cmd(&["EXEC"]),
        format!(
            "-EXECABORT Transaction discarded because of: {}",
            &BUSY[1..]
        )
    );
    assert_eq!(c.cmd(&["SCRIPT", "KILL"]), "+OK");
    assert_eq!(
        script.join().unwrap().unwrap(),
        format!(
            "-ERR Script killed by user with SCRIPT KILL... script: {LOOP_SHA}, on @user_script:1."
        )
    );
    // Served normally again.
    assert_eq!(c.cmd(&["PING"]), "+PONG");
    assert_eq!(c.cmd(&["SET", "k", "v"]), "+OK");
    assert_eq!(c.cmd(&["GET", "k"]), "v");
    assert_eq!(
        c.cmd(&["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now."
    );

    // SIGTERM during a script: the server keeps answering (BUSY, SCRIPT KILL) and
    // stops once the script is killed.
    let script = eval_in_background(roost.port, LOOP);
    wait_for_busy(roost.port);
    let term = std::process::Command::new("kill")
        .args(["-TERM", &roost.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    thread::sleep(Duration::from_millis(200));
    assert_eq!(roost.child.try_wait().unwrap(), None, "stopped mid-script");
    let mut c = Line::connect(roost.port);
    assert_eq!(c.cmd(&["PING"]), BUSY);
    assert_eq!(c.cmd(&["SCRIPT", "KILL"]), "+OK");
    let killed = script.join().unwrap();
    assert!(
        killed
            .as_deref()
            .is_none_or(|r| r.contains("Script killed")),
        "{killed:?}"
    );
    let status = wait_for_exit(&mut roost.child);
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_script_that_wrote_is_unkillable_and_shutdown_nosave_ends_the_server_without_its_writes() {
    let dir = TempDir::new("busy-nosave");
    let mut roost = Roost::start(&dir.0, &["--busy-reply-threshold", "100"]);
    let mut c = Line::connect(roost.port);
    assert_eq!(c.cmd(&["SET", "before", "1"]), "+OK");
    let script = eval_in_background(
        roost.port,
        "redis.call('set', 'x', '1') redis.call('incr', 'before') while true do end",
    );
    assert_eq!(wait_for_busy(roost.port), BUSY);
    assert_eq!(
        c.cmd(&["SCRIPT", "KILL"]),
        "-UNKILLABLE Sorry the script already executed write commands against the dataset. \
         You can either wait the script termination or kill the server in a hard way using \
         the SHUTDOWN NOSAVE command."
    );
    // Only SHUTDOWN NOSAVE may stop it.
    assert_eq!(c.cmd(&["SHUTDOWN"]), BUSY);
    assert_eq!(c.try_cmd(&["SHUTDOWN", "NOSAVE"]), None);
    let status = wait_for_exit(&mut roost.child);
    assert!(status.success(), "{status:?}");
    let _ = script.join().unwrap();
    // What was acknowledged before the script is there; nothing the script did is.
    let roost = Roost::start(&dir.0, &[]);
    let mut c = Line::connect(roost.port);
    assert_eq!(c.cmd(&["GET", "before"]), "1");
    assert_eq!(c.cmd(&["GET", "x"]), "$-1");
    assert_eq!(c.cmd(&["SET", "after", "1"]), "+OK");
    // Later writes are not taken for part of the abandoned script.
    let roost = {
        let mut r = roost;
        let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query(&mut r.client());
        wait_for_exit(&mut r.child);
        Roost::start(&dir.0, &[])
    };
    let mut c = Line::connect(roost.port);
    assert_eq!(c.cmd(&["GET", "after"]), "1");
    assert_eq!(c.cmd(&["GET", "x"]), "$-1");
}

#[test]
fn a_script_making_millions_of_calls_leaves_others_with_busy_answers_not_silence() {
    let dir = TempDir::new("busy-calls");
    let roost = Roost::start(&dir.0, &["--busy-reply-threshold", "100"]);
    let mut c = Line::connect(roost.port);
    assert_eq!(c.cmd(&["SET", "k", "v"]), "+OK");
    let script = eval_in_background(
        roost.port,
        "for i = 1, 3000000 do redis.call('get', 'k') end return 'done'",
    );
    // Several clients, each answered (BUSY) while the script runs.
    let pingers: Vec<_> = (0..4)
        .map(|_| {
            let port = roost.port;
            thread::spawn(move || wait_for_busy(port))
        })
        .collect();
    for p in pingers {
        assert_eq!(p.join().unwrap(), BUSY);
    }
    let reply = script.join().unwrap().unwrap();
    assert_eq!(reply, "done");
    assert_eq!(c.cmd(&["PING"]), "+PONG");
}

/// The same busy-script scenario against redis-server and Roost: the replies match.
#[test]
fn busy_script_replies_match_redis() {
    fn scenario(port: u16) -> Vec<String> {
        let mut out = Vec::new();
        let mut c = Line::connect(port);
        out.push(c.cmd(&["SCRIPT", "KILL"]));
        out.push(c.cmd(&["CONFIG", "SET", "busy-reply-threshold", "100"]));
        let script = eval_in_background(port, LOOP);
        out.push(wait_for_busy(port));
        out.push(c.cmd(&["MULTI"]));
        out.push(c.cmd(&["SET", "a", "1"]));
        out.push(c.cmd(&["EXEC"]));
        out.push(c.cmd(&["SHUTDOWN"]));
        out.push(c.cmd(&["SCRIPT", "KILL"]));
        out.push(script.join().unwrap().unwrap());
        out.push(c.cmd(&["SCRIPT", "KILL"]));
        let script = eval_in_background(port, "redis.call('set', 'x', '1') while true do end");
        out.push(wait_for_busy(port));
        out.push(c.cmd(&["SCRIPT", "KILL"]));
        out.push(format!("{:?}", c.try_cmd(&["SHUTDOWN", "NOSAVE"])));
        let _ = script.join();
        out
    }
    let redis = common::process::RedisServer::start();
    let expected = scenario(redis.port);
    let dir = TempDir::new("busy-differential");
    let roost = Roost::start(&dir.0, &[]);
    assert_eq!(scenario(roost.port), expected);
}
