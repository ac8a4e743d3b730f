//! Failover under fire: a Roost primary and its replica, watched by Debian's
//! redis-sentinel, under a write load where a write counts only once `WAIT 1` says a
//! replica has it. Whichever node is the primary is killed with SIGKILL at a random
//! moment; Sentinel promotes the replica; the killed node comes back on its port and
//! data directory as the primary its config file still names it, possibly with writes
//! of its own that never reached the replica; Sentinel turns it into a replica of the
//! new primary, which must make it drop them. The next round kills the new primary.
//! After every failover each confirmed write is on the new primary with its value; at
//! the end both nodes hold the same data.
//!
//! Every wait is for an event, with a deadline generous enough for a loaded 2-core CI
//! machine; a missed deadline fails the test naming what it waited for, with the tail
//! of every log. Assertions are only on what must hold, never on timing. Sentinel's
//! timers are shortened with `SENTINEL DEBUG` so a round takes seconds rather than a
//! minute; what Sentinel does is unchanged.
//!
//! `ROOST_FAILOVER_SEED=<n>` replays the kill moments of an earlier run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::process::{free_port, Process, Roost, TempDir};

const NAME: &str = "mymaster";
const ROUNDS: usize = 4;
const WRITERS: usize = 3;
/// In even rounds, while the replica is stopped, this many values of this size go to
/// the primary: more than the kernel buffers between them hold.
const LAG_WRITES: usize = 48;
const LAG_VALUE: usize = 512 * 1024;
/// How long a failover, a resync or Sentinel's reconfiguration may take before the test
/// fails. Each takes a few seconds on a quiet machine.
const DEADLINE: Duration = Duration::from_secs(120);

/// A Roost node: its directory, port and config file survive its restarts.
struct Node {
    name: &'static str,
    _dir: TempDir,
    port: u16,
    config_file: PathBuf,
    log: PathBuf,
    process: Option<Roost>,
}

impl Node {
    fn new(name: &'static str, replica_of: Option<u16>) -> Node {
        let dir = TempDir::new(&format!("failover-{name}"));
        let port = free_port();
        let config_file = dir.0.join("roost.conf");
        let mut text = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nappendonly yes\nappendfsync everysec\nloglevel notice\n",
            dir.0.join("data").display()
        );
        if let Some(primary) = replica_of {
            text.push_str(&format!("replicaof 127.0.0.1 {primary}\n"));
        }
        std::fs::write(&config_file, text).unwrap();
        let log = dir.0.join("roost.log");
        Node {
            name,
            _dir: dir,
            port,
            config_file,
            log,
            process: None,
        }
    }

    /// Starts the node from its config file and waits until it answers with its data
    /// loaded. Another program may briefly hold the port (an outgoing connection that
    /// the OS gave it while the node was down): that is retried, anything else fails.
    fn start(&mut self, logs: &Logs) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let log_before = std::fs::metadata(&self.log).map_or(0, |m| m.len());
            let mut roost = Roost::spawn_with_config_file(&self.config_file, self.port, &self.log);
            loop {
                if let Ok(Some(status)) = roost.child.try_wait() {
                    let text = std::fs::read_to_string(&self.log).unwrap_or_default();
                    let new = text.get(log_before as usize..).unwrap_or_default();
                    if new.contains("in use") && Instant::now() < deadline {
                        thread::sleep(Duration::from_millis(500));
                        break;
                    }
                    logs.fail(&format!("{} exited at startup ({status})", self.name));
                }
                if let Some(mut con) = connect(self.port) {
                    let loaded = redis::cmd("INFO")
                        .arg("persistence")
                        .query::<String>(&mut con)
                        .is_ok_and(|i| i.contains("\r\nloading:0\r\n"));
                    if loaded {
                        self.process = Some(roost);
                        return;
                    }
                }
                if Instant::now() > deadline {
                    logs.fail(&format!("{} did not load its data", self.name));
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Sends the node a signal (`STOP`, `CONT`).
    fn signal(&self, name: &str) {
        let pid = self
            .process
            .as_ref()
            .expect("the node is running")
            .child
            .id();
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {pid}: {status}");
    }

    fn kill9(&mut self) {
        self.process.take().expect("the node is running").kill9();
    }

    fn info(&self) -> String {
        info(self.port)
    }
}

/// Where each program writes its log, so a failure can show what they said.
struct Logs(Vec<(String, PathBuf)>);

impl Logs {
    fn fail(&self, what: &str) -> ! {
        let mut report = format!("{what}\n");
        for (name, path) in &self.0 {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            report.push_str(&format!(
                "--- last lines of {name}'s log:\n{}\n",
                tail.join("\n")
            ));
        }
        panic!("{report}");
    }

    /// Polls `done` every 50 ms until it holds; fails the test after `DEADLINE`.
    fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !done() {
            if Instant::now() > deadline {
                self.fail(&format!("timed out after {DEADLINE:?} waiting for {what}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

struct Sentinel {
    _process: Process,
    port: u16,
}

impl Sentinel {
    fn start(dir: &Path, primary_port: u16, log: &Path, logs: &Logs) -> Sentinel {
        let port = free_port();
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {NAME} 127.0.0.1 {primary_port} 1\n\
                 sentinel down-after-milliseconds {NAME} 2000\n\
                 sentinel failover-timeout {NAME} 6000\n",
                dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-sentinel")
            .arg(&conf)
            .stdout(Stdio::from(std::fs::File::create(log).unwrap()))
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-sentinel is needed (apt-get install redis-sentinel; .ci/run does)");
        let sentinel = Sentinel {
            _process: Process(child),
            port,
        };
        logs.wait_for("Sentinel to answer", || connect(port).is_some());
        // INFO every second rather than 10, and the wait before Sentinel turns a
        // returning primary into a replica (4 publish periods) 4 s rather than 8.
        let mut con = connect(port).unwrap();
        let () = redis::cmd("SENTINEL")
            .arg("DEBUG")
            .arg("info-period")
            .arg(1000)
            .arg("publish-period")
            .arg(1000)
            .query(&mut con)
            .unwrap();
        sentinel
    }

    /// The primary Sentinel names now.
    fn primary(&self) -> Option<u16> {
        primary_named_by(self.port)
    }

    /// Sentinel's record of the replica on `port`, field by field.
    fn replica(&self, port: u16) -> Option<BTreeMap<String, String>> {
        let mut con = connect(self.port)?;
        let replicas: Vec<Vec<String>> = redis::cmd("SENTINEL")
            .arg("replicas")
            .arg(NAME)
            .query(&mut con)
            .ok()?;
        replicas
            .into_iter()
            .map(|fields| {
                fields
                    .chunks(2)
                    .filter(|pair| pair.len() == 2)
                    .map(|pair| (pair[0].clone(), pair[1].clone()))
                    .collect::<BTreeMap<_, _>>()
            })
            .find(|r| r.get("port").map(String::as_str) == Some(&port.to_string()))
    }
}

fn connect(port: u16) -> Option<redis::Connection> {
    let con = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .ok()?
        .get_connection_with_timeout(Duration::from_secs(2))
        .ok()?;
    con.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    Some(con)
}

fn primary_named_by(sentinel_port: u16) -> Option<u16> {
    let mut con = connect(sentinel_port)?;
    let (_, port): (String, u16) = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(NAME)
        .query(&mut con)
        .ok()?;
    Some(port)
}

fn info(port: u16) -> String {
    connect(port)
        .and_then(|mut con| redis::cmd("INFO").arg("replication").query(&mut con).ok())
        .unwrap_or_default()
}

fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// What the writers have had confirmed.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    /// Keys and values whose SET `WAIT 1` confirmed.
    confirmed: Mutex<Vec<(String, String)>>,
    /// The highest counter value whose INCR `WAIT 1` confirmed.
    counter: AtomicI64,
    unconfirmed: AtomicU64,
}

impl Load {
    fn confirmed_count(&self) -> usize {
        self.confirmed.lock().unwrap().len()
    }
}

/// Writes unique keys through whatever primary Sentinel names, each followed by
/// `WAIT 1 1000`; writer 0 also increments a counter. On an error it asks Sentinel
/// again, as Sentinel-aware clients do.
fn writer(id: usize, sentinel_port: u16, load: Arc<Load>) {
    let mut seq = 0u64;
    while !load.stop.load(Ordering::Relaxed) {
        let Some(mut con) = primary_named_by(sentinel_port).and_then(connect) else {
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        while !load.stop.load(Ordering::Relaxed) {
            let key = format!("k:{id}:{seq}");
            let value = format!("{id}-{seq}-{}", seq.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            seq += 1;
            // Writer 1 writes sessions with a TTL; writer 2 writes each key as a pair
            // in one transaction, which no node may ever hold half of.
            let written: redis::RedisResult<()> = match id {
                1 => redis::cmd("SET")
                    .arg(&key)
                    .arg(&value)
                    .arg("EX")
                    .arg(3600)
                    .query(&mut con),
                2 => redis::pipe()
                    .atomic()
                    .set(&key, &value)
                    .set(format!("{key}:pair"), &value)
                    .query(&mut con),
                _ => redis::cmd("SET").arg(&key).arg(&value).query(&mut con),
            };
            if written.is_err() {
                break;
            }
            match redis::cmd("WAIT").arg(1).arg(1000).query::<i64>(&mut con) {
                Ok(n) if n >= 1 => {
                    let mut confirmed = load.confirmed.lock().unwrap();
                    if id == 2 {
                        confirmed.push((format!("{key}:pair"), value.clone()));
                    }
                    confirmed.push((key, value));
                }
                Ok(_) => {
                    load.unconfirmed.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => break,
            }
            if id == 0 {
                let Ok(n) = redis::cmd("INCR").arg("counter").query::<i64>(&mut con) else {
                    break;
                };
                match redis::cmd("WAIT").arg(1).arg(1000).query::<i64>(&mut con) {
                    Ok(acked) if acked >= 1 => {
                        load.counter.fetch_max(n, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Every confirmed write that `port` lacks or holds with another value.
fn missing(port: u16, load: &Load) -> Result<Vec<String>, String> {
    let confirmed = load.confirmed.lock().unwrap().clone();
    let counter = load.counter.load(Ordering::Relaxed);
    let mut con = connect(port).ok_or_else(|| format!("cannot connect to {port}"))?;
    let mut wrong = Vec::new();
    for batch in confirmed.chunks(500) {
        let mut get = redis::cmd("MGET");
        for (key, _) in batch {
            get.arg(key);
        }
        let values: Vec<Option<String>> = get.query(&mut con).map_err(|e| e.to_string())?;
        for ((key, want), have) in batch.iter().zip(values) {
            if have.as_deref() != Some(want.as_str()) {
                wrong.push(format!("{key}: wanted {want}, found {have:?}"));
            }
        }
    }
    let have: i64 = redis::cmd("GET")
        .arg("counter")
        .query::<Option<i64>>(&mut con)
        .map_err(|e| e.to_string())?
        .unwrap_or(0);
    if have < counter {
        wrong.push(format!("counter: confirmed at {counter}, found {have}"));
    }
    Ok(wrong)
}

/// Keys of writer 2's transactions present without their pair.
fn half_transactions(data: &BTreeMap<String, String>) -> Vec<String> {
    data.keys()
        .filter(|k| k.starts_with("k:2:"))
        .filter_map(|k| {
            let other = match k.strip_suffix(":pair") {
                Some(first) => first.to_string(),
                None => format!("{k}:pair"),
            };
            (!data.contains_key(&other)).then(|| k.clone())
        })
        .collect()
}

/// Every key with its value (all are strings).
fn dataset(port: u16) -> Result<BTreeMap<String, String>, String> {
    let mut con = connect(port).ok_or_else(|| format!("cannot connect to {port}"))?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query(&mut con)
        .map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for batch in keys.chunks(500) {
        let mut get = redis::cmd("MGET");
        for key in batch {
            get.arg(key);
        }
        let values: Vec<Option<String>> = get.query(&mut con).map_err(|e| e.to_string())?;
        for (key, value) in batch.iter().zip(values) {
            out.insert(key.clone(), value.unwrap_or_default());
        }
    }
    Ok(out)
}

/// A small xorshift generator: the kill moments, reproducible from the printed seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn confirmed_writes_survive_repeated_kill_9_of_the_primary_under_sentinel() {
    let seed = std::env::var("ROOST_FAILOVER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("ROOST_FAILOVER_SEED={seed}");
    let mut random = Random(seed);

    let a = Node::new("a", None);
    let b = Node::new("b", Some(a.port));
    let mut nodes = [a, b];
    let sentinel_dir = TempDir::new("failover-sentinel");
    let sentinel_log = sentinel_dir.0.join("sentinel.log");
    let logs = Logs(vec![
        ("a".into(), nodes[0].log.clone()),
        ("b".into(), nodes[1].log.clone()),
        ("sentinel".into(), sentinel_log.clone()),
    ]);
    nodes[0].start(&logs);
    nodes[1].start(&logs);
    let (a, b) = (nodes[0].port, nodes[1].port);
    logs.wait_for("b to replicate a", || {
        field(&nodes[1].info(), "master_link_status") == Some("up")
    });
    let sentinel = Sentinel::start(&sentinel_dir.0, a, &sentinel_log, &logs);
    logs.wait_for("Sentinel to find the replica", || {
        sentinel
            .replica(b)
            .is_some_and(|r| r.get("flags").map(String::as_str) == Some("slave"))
    });

    let load = Arc::new(Load::default());
    let writers: Vec<_> = (0..WRITERS)
        .map(|id| {
            let load = load.clone();
            let port = sentinel.port;
            thread::spawn(move || writer(id, port, load))
        })
        .collect();
    logs.wait_for("the first confirmed writes", || {
        load.confirmed_count() >= 100
    });

    let mut primary = 0;
    let mut orphans = Vec::new();
    for round in 1..=ROUNDS {
        // A random moment in the write stream.
        thread::sleep(Duration::from_millis(random.below(1500)));
        let (killed, promoted) = (primary, 1 - primary);
        let before = load.confirmed_count();
        if round % 2 == 0 {
            // The replica stalls (a pause, a slow network) while the primary takes more
            // than the connection between them can hold: when the primary dies, its log
            // has writes the replica never receives.
            nodes[promoted].signal("STOP");
            let mut con = connect(nodes[killed].port).unwrap();
            let big = "x".repeat(LAG_VALUE);
            for i in 0..LAG_WRITES {
                let () = redis::cmd("SET")
                    .arg(format!("lag:{round}:{i}"))
                    .arg(&big)
                    .query(&mut con)
                    .unwrap_or_else(|e| logs.fail(&format!("round {round}: writing: {e}")));
            }
            nodes[killed].kill9();
            nodes[promoted].signal("CONT");
        } else {
            nodes[killed].kill9();
        }
        let promoted_port = nodes[promoted].port;
        logs.wait_for(
            &format!(
                "round {round}: Sentinel to promote {}",
                nodes[promoted].name
            ),
            || {
                sentinel.primary() == Some(promoted_port)
                    && field(&nodes[promoted].info(), "role") == Some("master")
            },
        );
        match dataset(promoted_port).map(|d| half_transactions(&d)) {
            Ok(half) if half.is_empty() => {}
            Ok(half) => logs.fail(&format!(
                "round {round}: the new primary holds half transactions: {:?}",
                &half[..half.len().min(10)]
            )),
            Err(e) => logs.fail(&format!("round {round}: reading the new primary: {e}")),
        }
        match missing(promoted_port, &load) {
            Ok(wrong) if wrong.is_empty() => {}
            Ok(wrong) => logs.fail(&format!(
                "round {round}: {} confirmed writes are not on the new primary {}: {:?}",
                wrong.len(),
                nodes[promoted].name,
                &wrong[..wrong.len().min(10)]
            )),
            Err(e) => logs.fail(&format!("round {round}: reading the new primary: {e}")),
        }

        // The killed node comes back as the primary its config file names it; Sentinel
        // makes it a replica of the new primary, which resyncs it.
        nodes[killed].start(&logs);
        let killed_port = nodes[killed].port;
        // What it returned with: its log's records, possibly some the new primary never
        // received (orphans, which the resync must drop), never half a transaction.
        let returned = dataset(killed_port).unwrap_or_else(|e| {
            logs.fail(&format!(
                "round {round}: reading {}: {e}",
                nodes[killed].name
            ))
        });
        let half = half_transactions(&returned);
        if !half.is_empty() {
            logs.fail(&format!(
                "round {round}: {} returned from its log with half transactions: {:?}",
                nodes[killed].name,
                &half[..half.len().min(10)]
            ));
        }
        if field(&nodes[killed].info(), "role") == Some("master") {
            let on_primary = dataset(promoted_port).unwrap_or_else(|e| {
                logs.fail(&format!(
                    "round {round}: reading {}: {e}",
                    nodes[promoted].name
                ))
            });
            let round_orphans: Vec<String> = returned
                .into_keys()
                .filter(|k| !on_primary.contains_key(k))
                .collect();
            eprintln!(
                "round {round}: {} returned with {} writes the new primary never received",
                nodes[killed].name,
                round_orphans.len()
            );
            if round % 2 == 0 && round_orphans.is_empty() {
                logs.fail(&format!(
                    "round {round}: the replica received everything despite its stall: \
                     write more than {LAG_WRITES} x {LAG_VALUE} bytes so the test drops orphans"
                ));
            }
            orphans.extend(round_orphans);
        }
        logs.wait_for(
            &format!(
                "round {round}: {} to return as a replica of {} (Sentinel reconfigures it)",
                nodes[killed].name, nodes[promoted].name
            ),
            || {
                let info = nodes[killed].info();
                field(&info, "role") == Some("slave")
                    && field(&info, "master_port") == Some(&promoted_port.to_string())
                    && field(&info, "master_link_status") == Some("up")
                    && sentinel.replica(killed_port).is_some_and(|r| {
                        r.get("flags").map(String::as_str) == Some("slave")
                            && r.get("master-link-status").map(String::as_str) == Some("ok")
                            && r.get("master-port").map(String::as_str)
                                == Some(&promoted_port.to_string())
                    })
            },
        );
        // Writes are confirmed again: the new pair replicates.
        let resumed = load.confirmed_count();
        logs.wait_for(
            &format!("round {round}: confirmed writes to resume"),
            || load.confirmed_count() >= resumed + 100,
        );
        eprintln!(
            "round {round}: killed {} with {before} writes confirmed, {} now the primary; {} confirmed so far",
            nodes[killed].name,
            nodes[promoted].name,
            load.confirmed_count()
        );
        primary = promoted;
    }

    load.stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let (primary, replica) = (&nodes[primary], &nodes[1 - primary]);
    logs.wait_for("the replica to apply everything the primary has", || {
        let (p, r) = (primary.info(), replica.info());
        field(&r, "master_link_status") == Some("up")
            && field(&p, "master_repl_offset").is_some()
            && field(&p, "master_repl_offset") == field(&r, "slave_repl_offset")
    });
    for node in [primary, replica] {
        match missing(node.port, &load) {
            Ok(wrong) if wrong.is_empty() => {}
            Ok(wrong) => logs.fail(&format!(
                "at the end, {} confirmed writes are not on {}: {:?}",
                wrong.len(),
                node.name,
                &wrong[..wrong.len().min(10)]
            )),
            Err(e) => logs.fail(&format!("reading {}: {e}", node.name)),
        }
    }
    if let Some(keep) = std::env::var_os("ROOST_FAILOVER_KEEP_LOGS") {
        for (name, path) in &logs.0 {
            let _ = std::fs::copy(path, Path::new(&keep).join(format!("{name}.log")));
        }
    }
    let read = |node: &Node| {
        dataset(node.port).unwrap_or_else(|e| logs.fail(&format!("reading {}: {e}", node.name)))
    };
    let (on_primary, on_replica) = (read(primary), read(replica));
    for (node, data) in [(primary, &on_primary), (replica, &on_replica)] {
        let half = half_transactions(data);
        if !half.is_empty() {
            logs.fail(&format!(
                "at the end {} holds half transactions: {:?}",
                node.name,
                &half[..half.len().min(10)]
            ));
        }
        let kept: Vec<_> = orphans.iter().filter(|k| data.contains_key(*k)).collect();
        if !kept.is_empty() {
            logs.fail(&format!(
                "{} still holds writes a killed primary had that its successor never received: {:?}",
                node.name,
                &kept[..kept.len().min(10)]
            ));
        }
    }
    if on_primary != on_replica {
        let differ: Vec<_> = on_primary
            .keys()
            .chain(on_replica.keys())
            .filter(|k| on_primary.get(*k) != on_replica.get(*k))
            .take(10)
            .collect();
        logs.fail(&format!(
            "the nodes differ: {} keys on the primary, {} on the replica; for example {differ:?}",
            on_primary.len(),
            on_replica.len()
        ));
    }
    eprintln!(
        "{} writes confirmed, {} not confirmed, counter confirmed at {}; {} keys on both nodes; {} orphans dropped",
        load.confirmed_count(),
        load.unconfirmed.load(Ordering::Relaxed),
        load.counter.load(Ordering::Relaxed),
        on_primary.len(),
        orphans.len()
    );
}
