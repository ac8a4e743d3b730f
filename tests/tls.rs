//! TLS end to end with the real binary and real clients: redis-cli, redis-benchmark and
//! redis-py over `tls-port`, client certificates per `tls-auth-clients`, connections
//! that fail the handshake (plaintext, stalled, untrusted) closed without disturbing
//! others, a replica over TLS, Sentinel failing a TLS pair over, certificate rotation by
//! CONFIG SET, and startup refusals.
//! Certificates are made here with Debian's `openssl` in a temporary directory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::certs::{openssl, Certs};
use common::process::{free_port, wait_for, Roost, TempDir};

/// A Roost with TLS on a free port (plaintext too, on its own port) and `extra` flags.
fn start_tls(dir: &Path, certs: &Certs, extra: &[&str]) -> (Roost, u16) {
    let tls_port = free_port();
    let mut flags = certs.server_flags(tls_port);
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let roost = Roost::start(dir, &flags);
    (roost, tls_port)
}

/// redis-cli over TLS; `client` names the certificate pair to present, if any.
fn cli(certs: &Certs, port: u16, client: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "--tls"])
        .args(["--cacert", &certs.path("ca.crt")]);
    if let Some(name) = client {
        cmd.args(["--cert", &certs.path(&format!("{name}.crt"))])
            .args(["--key", &certs.path(&format!("{name}.key"))]);
    }
    cmd.args(args).stdin(Stdio::null()).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn test_roots(certs: &Certs) -> rustls::RootCertStore {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(certs.path("ca.crt")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

/// A rustls client config trusting the test CA, presenting `client` if given.
fn rustls_client(certs: &Certs, client: Option<&str>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(test_roots(certs));
    Arc::new(match client {
        Some(name) => {
            let chain = CertificateDer::pem_file_iter(certs.path(&format!("{name}.crt")))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(certs.path(&format!("{name}.key"))).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    })
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to 127.0.0.1:`port` with the handshake done.
fn tls_connect(config: Arc<rustls::ClientConfig>, port: u16) -> std::io::Result<TlsStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// Sends PING and reads the answer.
fn ping(stream: &mut TlsStream) -> std::io::Result<String> {
    stream.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The DER of the certificate the server presents on a new connection.
fn served_certificate(certs: &Certs, port: u16) -> Vec<u8> {
    let stream = tls_connect(rustls_client(certs, Some("client")), port).unwrap();
    stream.conn.peer_certificates().unwrap()[0].to_vec()
}

fn der_of(certs: &Certs, name: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(certs.path(name))
        .unwrap()
        .to_vec()
}

#[test]
fn redis_cli_over_tls_with_a_client_certificate() {
    let dir = TempDir::new("tls-cli");
    let certs = Certs::make(&dir.0);
    let (roost, tls_port) = start_tls(&dir.0.join("data"), &certs, &[]);

    let out = cli(&certs, tls_port, Some("client"), &["PING"]);
    assert_eq!(stdout(&out), "PONG", "{}", all_output(&out));
    let out = cli(
        &certs,
        tls_port,
        Some("client"),
        &["SET", "session:1", "alice"],
    );
    assert_eq!(stdout(&out), "OK", "{}", all_output(&out));
    let out = cli(&certs, tls_port, Some("client"), &["GET", "session:1"]);
    assert_eq!(stdout(&out), "alice", "{}", all_output(&out));
    // CLIENT LIST shows the TLS port as the local address, as Redis does.
    let out = cli(&certs, tls_port, Some("client"), &["CLIENT", "LIST"]);
    let laddr = format!("laddr=127.0.0.1:{tls_port} ");
    assert!(stdout(&out).contains(&laddr), "{}", all_output(&out));
    // The same data over the plaintext port: one server, two listeners.
    let value: String = redis::cmd("GET")
        .arg("session:1")
        .query(&mut roost.client())
        .unwrap();
    assert_eq!(value, "alice");

    // tls-auth-clients yes (the default): no certificate, no answer.
    let out = cli(&certs, tls_port, None, &["PING"]);
    assert_ne!(stdout(&out), "PONG", "{}", all_output(&out));
    // A certificate from a CA the server does not trust: closed too.
    let out = cli(&certs, tls_port, Some("untrusted"), &["PING"]);
    assert_ne!(stdout(&out), "PONG", "{}", all_output(&out));
    // And the server still serves everyone else.
    let out = cli(&certs, tls_port, Some("client"), &["GET", "session:1"]);
    assert_eq!(stdout(&out), "alice", "{}", all_output(&out));
}

#[test]
fn tls_auth_clients_optional_and_no() {
    let dir = TempDir::new("tls-auth");
    let certs = Certs::make(&dir.0);

    let (_optional, port) = start_tls(
        &dir.0.join("optional"),
        &certs,
        &["--tls-auth-clients", "optional"],
    );
    let out = cli(&certs, port, None, &["PING"]);
    assert_eq!(stdout(&out), "PONG", "{}", all_output(&out));
    let out = cli(&certs, port, Some("client"), &["PING"]);
    assert_eq!(stdout(&out), "PONG", "{}", all_output(&out));
    // Optional still verifies a certificate that is presented.
    let out = cli(&certs, port, Some("untrusted"), &["PING"]);
    assert_ne!(stdout(&out), "PONG", "{}", all_output(&out));

    // With `no`, the CA is not needed at all.
    let tls_port = free_port();
    let port_text = tls_port.to_string();
    let (cert, key) = (certs.path("server.crt"), certs.path("server.key"));
    let no = Roost::start(
        &dir.0.join("no"),
        &[
            "--tls-port",
            &port_text,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-auth-clients",
            "no",
        ],
    );
    let out = cli(&certs, tls_port, None, &["PING"]);
    assert_eq!(stdout(&out), "PONG", "{}", all_output(&out));
    let auth: String = redis::cmd("CONFIG")
        .arg("GET")
        .arg("tls-auth-clients")
        .query::<Vec<String>>(&mut no.client())
        .unwrap()
        .remove(1);
    assert_eq!(auth, "no");
}

#[test]
fn failed_handshakes_are_closed_and_others_keep_working() {
    let dir = TempDir::new("tls-bad-clients");
    let certs = Certs::make(&dir.0);
    let (_roost, tls_port) = start_tls(&dir.0.join("data"), &certs, &[]);
    let mut good = tls_connect(rustls_client(&certs, Some("client")), tls_port).unwrap();
    assert_eq!(ping(&mut good).unwrap(), "+PONG\r\n");

    // A plaintext client on the TLS port: closed (after a TLS alert, at most).
    let mut plain = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    plain.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut answer = Vec::new();
    let closed = plain.read_to_end(&mut answer);
    assert!(
        closed.is_ok()
            || closed.as_ref().unwrap_err().kind() == std::io::ErrorKind::ConnectionReset,
        "the plaintext client was not closed: {closed:?}"
    );
    assert!(!answer.windows(4).any(|w| w == b"PONG"), "{answer:?}");
    assert_eq!(ping(&mut good).unwrap(), "+PONG\r\n");

    // An untrusted client certificate: the handshake fails, the good client goes on.
    let untrusted = tls_connect(rustls_client(&certs, Some("untrusted")), tls_port)
        .and_then(|mut s| ping(&mut s));
    assert!(
        !matches!(&untrusted, Ok(answer) if answer.contains("PONG")),
        "{untrusted:?}"
    );
    assert_eq!(ping(&mut good).unwrap(), "+PONG\r\n");
}

#[test]
fn a_stalled_handshake_is_closed() {
    let dir = TempDir::new("tls-stall");
    let certs = Certs::make(&dir.0);
    let (_roost, tls_port) = start_tls(&dir.0.join("data"), &certs, &[]);

    // Connects and says nothing: the server must hang up on its own.
    let mut stalled = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let started = Instant::now();
    // Meanwhile another client completes its handshake and is served.
    let mut good = tls_connect(rustls_client(&certs, Some("client")), tls_port).unwrap();
    assert_eq!(ping(&mut good).unwrap(), "+PONG\r\n");
    let mut buf = [0u8; 16];
    let read = stalled.read(&mut buf);
    assert!(
        matches!(read, Ok(0))
            || matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the stalled handshake was not closed by the server: {read:?}"
    );
    // Closed by the handshake bound (10 s), not at once.
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ping(&mut good).unwrap(), "+PONG\r\n");
}

#[test]
fn redis_benchmark_over_tls() {
    let dir = TempDir::new("tls-bench");
    let certs = Certs::make(&dir.0);
    let (_roost, tls_port) = start_tls(&dir.0.join("data"), &certs, &[]);
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &tls_port.to_string(), "--tls"])
        .args(["--cacert", &certs.path("ca.crt")])
        .args(["--cert", &certs.path("client.crt")])
        .args(["--key", &certs.path("client.key")])
        .args(["-t", "set,get", "-n", "2000", "-c", "4", "-q"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.to_lowercase().contains("error"), "{text}");
    for test in ["SET", "GET"] {
        assert!(
            // Progress lines end in carriage returns.
            text.split(['\r', '\n'])
                .any(|l| l.trim_start().starts_with(&format!("{test}: "))
                    && l.contains("requests per second")),
            "{text}"
        );
    }
}

#[test]
fn redis_py_over_rediss() {
    let dir = TempDir::new("tls-py");
    let certs = Certs::make(&dir.0);
    let (_roost, tls_port) = start_tls(&dir.0.join("data"), &certs, &[]);
    let script = r#"
import sys, redis
port, ca, cert, key = sys.argv[1:5]
r = redis.Redis.from_url(f"rediss://127.0.0.1:{port}/0", ssl_ca_certs=ca,
                         ssl_certfile=cert, ssl_keyfile=key)
assert r.ping() is True
r.set("session:py", "bob", ex=60)
assert r.get("session:py") == b"bob", r.get("session:py")
assert 0 < r.ttl("session:py") <= 60
r2 = redis.Redis(host="127.0.0.1", port=int(port), ssl=True, ssl_ca_certs=ca,
                 ssl_certfile=cert, ssl_keyfile=key, protocol=3)
assert r2.get("session:py") == b"bob"
print("ok")
"#;
    let out = Command::new("python3")
        .args(["-c", script, &tls_port.to_string()])
        .args([
            certs.path("ca.crt"),
            certs.path("client.crt"),
            certs.path("client.key"),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "ok", "{}", all_output(&out));
}

#[test]
fn a_replica_syncs_from_its_primary_over_tls() {
    let dir = TempDir::new("tls-repl");
    let certs = Certs::make(&dir.0);
    let (primary, primary_tls) = start_tls(&dir.0.join("primary"), &certs, &[]);
    let mut p = primary.client();
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut p)
        .unwrap();

    // The replica's only way to the primary is its TLS port, which requires a client
    // certificate: the replica presents tls-client-cert-file (its tls-cert-file is
    // for servers only, so presenting that one would be refused).
    let replicaof = format!("127.0.0.1 {primary_tls}");
    let (client_cert, client_key) = (certs.path("client.crt"), certs.path("client.key"));
    let (replica, _) = start_tls(
        &dir.0.join("replica"),
        &certs,
        &[
            "--tls-replication",
            "yes",
            "--replicaof",
            &replicaof,
            "--tls-client-cert-file",
            &client_cert,
            "--tls-client-key-file",
            &client_key,
        ],
    );
    let mut r = replica.client();
    wait_for(
        "the replica to sync over TLS",
        Duration::from_secs(30),
        || {
            // LOADING while the snapshot is applied: not there yet.
            redis::cmd("GET")
                .arg("before")
                .query::<Option<String>>(&mut r)
                .ok()
                .flatten()
                .is_some()
        },
    );
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("2")
        .query(&mut p)
        .unwrap();
    wait_for("the live stream over TLS", Duration::from_secs(30), || {
        redis::cmd("GET")
            .arg("after")
            .query::<Option<String>>(&mut r)
            .unwrap()
            .as_deref()
            == Some("2")
    });
    let info: String = redis::cmd("INFO").arg("replication").query(&mut r).unwrap();
    assert!(info.contains("master_link_status:up"), "{info}");
    assert!(
        info.contains(&format!("master_port:{primary_tls}")),
        "{info}"
    );
}

/// The same link as a restricted replication user, as Redis documents for `masteruser`:
/// the primary lets nobody in without a user, and `repl` may run only PSYNC, REPLCONF and
/// PING. The replica logs in over TLS (AUTH repl ... before REPLCONF/PSYNC), syncs and
/// follows the stream; the link's connection is `repl`'s, which can read nothing.
#[test]
fn a_replica_syncs_over_tls_as_a_restricted_replication_user() {
    let dir = TempDir::new("tls-repl-user");
    let certs = Certs::make(&dir.0);
    let conf = dir.0.join("primary.conf");
    std::fs::write(
        &conf,
        "user default off\n\
         user repl on >repl-secret -@all +psync +replconf +ping\n\
         user admin on >admin-secret ~* &* +@all\n",
    )
    .unwrap();
    let primary_tls = free_port();
    let mut flags = vec![conf.to_str().unwrap().to_string()];
    flags.extend(certs.server_flags(primary_tls));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let primary = Roost::start(&dir.0.join("primary"), &flags);
    primary.wait_until_loaded_as("admin", "admin-secret");
    let url = format!("redis://admin:admin-secret@127.0.0.1:{}/", primary.port);
    let mut admin = redis::Client::open(url).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut admin)
        .unwrap();

    let replicaof = format!("127.0.0.1 {primary_tls}");
    let (client_cert, client_key) = (certs.path("client.crt"), certs.path("client.key"));
    let (replica, _) = start_tls(
        &dir.0.join("replica"),
        &certs,
        &[
            "--tls-replication",
            "yes",
            "--replicaof",
            &replicaof,
            "--tls-client-cert-file",
            &client_cert,
            "--tls-client-key-file",
            &client_key,
            "--masteruser",
            "repl",
            "--masterauth",
            "repl-secret",
        ],
    );
    let mut r = replica.client();
    wait_for(
        "the replica to sync over TLS as repl",
        Duration::from_secs(30),
        || {
            redis::cmd("GET")
                .arg("before")
                .query::<Option<String>>(&mut r)
                .ok()
                .flatten()
                .is_some()
        },
    );
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("2")
        .query(&mut admin)
        .unwrap();
    wait_for(
        "the live stream over TLS as repl",
        Duration::from_secs(30),
        || {
            redis::cmd("GET")
                .arg("after")
                .query::<Option<String>>(&mut r)
                .unwrap()
                .as_deref()
                == Some("2")
        },
    );
    let info: String = redis::cmd("INFO").arg("replication").query(&mut r).unwrap();
    assert!(info.contains("master_link_status:up"), "{info}");
    assert!(
        info.contains(&format!("master_port:{primary_tls}")),
        "{info}"
    );
    // On the primary, the replica's link is logged in as repl.
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    assert!(
        list.lines()
            .any(|l| l.contains(" user=repl ") && l.contains(" flags=S ")),
        "{list}"
    );
    // And repl can do nothing else, over TLS too.
    let out = cli(
        &certs,
        primary_tls,
        Some("client"),
        &[
            "--user",
            "repl",
            "--pass",
            "repl-secret",
            "--no-auth-warning",
            "GET",
            "before",
        ],
    );
    assert_eq!(
        stdout(&out),
        "NOPERM User repl has no permissions to run the 'get' command"
    );
}

#[test]
fn a_replica_without_tls_replication_cannot_use_the_tls_port() {
    let dir = TempDir::new("tls-repl-plain");
    let certs = Certs::make(&dir.0);
    let (primary, primary_tls) = start_tls(&dir.0.join("primary"), &certs, &[]);
    let replicaof = format!("127.0.0.1 {primary_tls}");
    let replica = Roost::start(&dir.0.join("replica"), &["--replicaof", &replicaof]);
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut primary.client())
        .unwrap();
    let mut r = replica.client();
    // Give it time for several connection attempts; it must never get the data.
    std::thread::sleep(Duration::from_secs(3));
    let info: String = redis::cmd("INFO").arg("replication").query(&mut r).unwrap();
    assert!(info.contains("master_link_status:down"), "{info}");
    let got: Option<String> = redis::cmd("GET").arg("k").query(&mut r).unwrap();
    assert_eq!(got, None);
}

#[test]
fn certificate_rotation_by_config_set() {
    let dir = TempDir::new("tls-rotate");
    let certs = Certs::make(&dir.0);
    let (roost, tls_port) = start_tls(&dir.0.join("data"), &certs, &[]);
    let first = der_of(&certs, "server.crt");
    let second = der_of(&certs, "server2.crt");
    assert_eq!(served_certificate(&certs, tls_port), first);
    let mut open = tls_connect(rustls_client(&certs, Some("client")), tls_port).unwrap();

    let mut con = roost.client();
    let set: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("tls-cert-file")
        .arg(certs.path("server2.crt"))
        .arg("tls-key-file")
        .arg(certs.path("server2.key"))
        .query(&mut con)
        .unwrap();
    let () = set;
    // New connections get the new certificate; the open one goes on.
    assert_eq!(served_certificate(&certs, tls_port), second);
    assert_eq!(ping(&mut open).unwrap(), "+PONG\r\n");

    // A certificate with another's key: refused, and the pair in force is kept.
    let refused: redis::RedisResult<()> = redis::cmd("CONFIG")
        .arg("SET")
        .arg("tls-cert-file")
        .arg(certs.path("server.crt"))
        .query(&mut con);
    let error = refused.unwrap_err();
    assert_eq!(
        error.detail(),
        Some(
            "CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to \
             update TLS configuration. Check server logs."
        ),
        "{error:?}"
    );
    let shown: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("tls-cert-file")
        .query(&mut con)
        .unwrap();
    assert_eq!(shown[1], certs.path("server2.crt"));
    assert_eq!(served_certificate(&certs, tls_port), second);

    // A missing file: refused the same way.
    let missing: redis::RedisResult<()> = redis::cmd("CONFIG")
        .arg("SET")
        .arg("tls-key-file")
        .arg(certs.path("nope.key"))
        .query(&mut con);
    assert!(missing.is_err());
    assert_eq!(served_certificate(&certs, tls_port), second);

    // The CA can be rotated too: a CA that does not know the client locks it out.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("tls-ca-cert-file")
        .arg(certs.path("other-ca.crt"))
        .query(&mut con)
        .unwrap();
    let out = cli(&certs, tls_port, Some("client"), &["PING"]);
    assert_ne!(stdout(&out), "PONG", "{}", all_output(&out));
}

/// Runs the binary expecting it to refuse to start; returns what it printed.
fn refused_startup(dir: &Path, flags: &[String]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["--port", &free_port().to_string(), "--dir"])
        .arg(dir)
        .args(flags)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("roost started with {flags:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    assert!(!status.success(), "roost exited 0 with {flags:?}");
    all_output(&out)
}

#[test]
fn bad_certificates_and_keys_stop_startup_naming_the_file() {
    let dir = TempDir::new("tls-refusals");
    let certs = Certs::make(&dir.0);
    let data = dir.0.join("data");
    let port = free_port();
    let with = |name: &str, value: &str| {
        let mut flags = certs.server_flags(port);
        let at = flags.iter().position(|f| f == name).unwrap();
        flags[at + 1] = value.to_string();
        flags
    };

    let missing = certs.path("missing.crt");
    let text = refused_startup(&data, &with("--tls-cert-file", &missing));
    assert!(
        text.contains("tls-cert-file") && text.contains(&missing),
        "{text}"
    );

    let missing_key = certs.path("missing.key");
    let text = refused_startup(&data, &with("--tls-key-file", &missing_key));
    assert!(
        text.contains("tls-key-file") && text.contains(&missing_key),
        "{text}"
    );

    // A certificate with another certificate's key.
    let other_key = certs.path("server2.key");
    let text = refused_startup(&data, &with("--tls-key-file", &other_key));
    assert!(
        text.contains(&certs.path("server.crt")) && text.contains(&other_key),
        "{text}"
    );

    // Not a certificate at all.
    let text = refused_startup(&data, &with("--tls-cert-file", &certs.path("server.ext")));
    assert!(
        text.contains("tls-cert-file") && text.contains("server.ext"),
        "{text}"
    );

    // Unreadable: a directory where a file should be.
    let text = refused_startup(&data, &with("--tls-ca-cert-file", &certs.path("")));
    assert!(text.contains("tls-ca-cert-file"), "{text}");

    // Client certificates required (the default) and no CA to check them against.
    let mut flags = certs.server_flags(port);
    flags.truncate(6);
    let text = refused_startup(&data, &flags);
    assert!(text.contains("tls-ca-cert-file"), "{text}");

    // An encrypted key, and a passphrase: refused, not ignored.
    openssl(
        &dir.0,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "server.key",
            "-out",
            "encrypted.key",
            "-passout",
            "pass:secret",
        ],
    );
    let encrypted = certs.path("encrypted.key");
    let text = refused_startup(&data, &with("--tls-key-file", &encrypted));
    assert!(
        text.contains("tls-key-file") && text.contains(&encrypted),
        "{text}"
    );
    let mut flags = with("--tls-key-file", &encrypted);
    flags.extend(["--tls-key-file-pass".to_string(), "secret".to_string()]);
    let text = refused_startup(&data, &flags);
    assert!(text.contains("tls-key-file-pass"), "{text}");
    assert!(!text.contains("secret\n"), "{text}");

    // Restrictions Roost cannot honour are refused, naming the directive.
    let mut flags = certs.server_flags(port);
    flags.extend(["--tls-protocols".to_string(), "TLSv1.1".to_string()]);
    let text = refused_startup(&data, &flags);
    assert!(text.contains("tls-protocols"), "{text}");
    let mut flags = certs.server_flags(port);
    flags.extend(["--tls-ciphers".to_string(), "DEFAULT:!MEDIUM".to_string()]);
    let text = refused_startup(&data, &flags);
    assert!(text.contains("tls-ciphers"), "{text}");
}

#[test]
fn tls_protocols_and_ciphersuites_are_enforced() {
    let dir = TempDir::new("tls-protocols");
    let certs = Certs::make(&dir.0);
    let (_roost, tls_port) = start_tls(
        &dir.0.join("data"),
        &certs,
        &[
            "--tls-protocols",
            "TLSv1.3",
            "--tls-ciphersuites",
            "TLS_CHACHA20_POLY1305_SHA256",
        ],
    );
    let mut stream = tls_connect(rustls_client(&certs, Some("client")), tls_port).unwrap();
    assert_eq!(ping(&mut stream).unwrap(), "+PONG\r\n");
    assert_eq!(
        stream.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        stream.conn.negotiated_cipher_suite().unwrap().suite(),
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
    );
    // A client that offers only TLS 1.2, or only other TLS 1.3 suites, is refused.
    let only = |versions: &[&'static rustls::SupportedProtocolVersion],
                suite: Option<rustls::CipherSuite>| {
        let mut provider = rustls::crypto::ring::default_provider();
        provider
            .cipher_suites
            .retain(|s| suite.is_none_or(|wanted| s.suite() == wanted));
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(provider))
                .with_protocol_versions(versions)
                .unwrap()
                .with_root_certificates(test_roots(&certs))
                .with_no_client_auth(),
        )
    };
    let tls12 = tls_connect(only(&[&rustls::version::TLS12], None), tls_port);
    assert!(tls12.is_err(), "a TLS 1.2 client was served");
    let aes = tls_connect(
        only(
            &[&rustls::version::TLS13],
            Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256),
        ),
        tls_port,
    );
    assert!(aes.is_err(), "a suite outside tls-ciphersuites was used");
}

/// INFO replication of the Roost whose plaintext port is `port`, or "".
fn replication_info(port: u16) -> String {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
        .and_then(|mut con| redis::cmd("INFO").arg("replication").query(&mut con))
        .unwrap_or_default()
}

/// Debian's redis-sentinel monitors a TLS primary and two replicas that replicate over
/// TLS (it talks to all three over TLS only, with a client certificate), and fails over
/// when the primary dies: the other replica follows the new primary over TLS.
#[test]
fn sentinel_fails_a_tls_pair_over() {
    let dir = TempDir::new("tls-sentinel");
    let certs = Certs::make(&dir.0);
    let (primary, primary_tls) = start_tls(&dir.0.join("primary"), &certs, &[]);
    let replicaof = format!("127.0.0.1 {primary_tls}");
    let (client_cert, client_key) = (certs.path("client.crt"), certs.path("client.key"));
    let replica_flags = [
        "--tls-replication",
        "yes",
        "--replicaof",
        &replicaof,
        "--tls-client-cert-file",
        &client_cert,
        "--tls-client-key-file",
        &client_key,
    ];
    let replicas = [
        start_tls(&dir.0.join("r1"), &certs, &replica_flags),
        start_tls(&dir.0.join("r2"), &certs, &replica_flags),
    ];
    wait_for("both replicas online", Duration::from_secs(30), || {
        replication_info(primary.port)
            .matches("state=online")
            .count()
            == 2
    });
    // Replicas announce their TLS ports, which is where Sentinel will reach them.
    let info = replication_info(primary.port);
    for (_, tls_port) in &replicas {
        assert!(info.contains(&format!("port={tls_port},")), "{info}");
    }

    let sentinel_port = free_port();
    let sentinel_dir = dir.0.join("sentinel");
    std::fs::create_dir_all(&sentinel_dir).unwrap();
    let conf = sentinel_dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {sentinel_port}\nbind 127.0.0.1\ndir {}\n\
             tls-replication yes\n\
             tls-cert-file {}\ntls-key-file {}\n\
             tls-client-cert-file {client_cert}\ntls-client-key-file {client_key}\n\
             tls-ca-cert-file {}\n\
             sentinel monitor mymaster 127.0.0.1 {primary_tls} 1\n\
             sentinel down-after-milliseconds mymaster 2000\n\
             sentinel failover-timeout mymaster 10000\n",
            sentinel_dir.display(),
            certs.path("server.crt"),
            certs.path("server.key"),
            certs.path("ca.crt"),
        ),
    )
    .unwrap();
    let _sentinel = common::process::Process(
        Command::new("redis-sentinel")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-sentinel is needed (apt-get install redis-sentinel; tests/run does)"),
    );
    let ask = |what: &str| -> Option<redis::Value> {
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{sentinel_port}/"))
            .ok()?
            .get_connection_with_timeout(Duration::from_secs(1))
            .ok()?;
        redis::cmd("SENTINEL")
            .arg(what)
            .arg("mymaster")
            .query(&mut con)
            .ok()
    };
    wait_for(
        "Sentinel to discover the replicas over TLS",
        Duration::from_secs(30),
        || matches!(ask("replicas"), Some(redis::Value::Array(r)) if r.len() == 2),
    );
    let named_primary = || -> Option<u16> {
        let value = ask("get-master-addr-by-name")?;
        let (_, port): (String, u16) = redis::from_redis_value(value).ok()?;
        Some(port)
    };
    assert_eq!(named_primary(), Some(primary_tls));

    primary.kill9();
    let mut promoted = None;
    wait_for("the failover to complete", Duration::from_secs(60), || {
        let Some(port) = named_primary().filter(|p| *p != primary_tls) else {
            return false;
        };
        let Some(new) = replicas.iter().position(|(_, tls)| *tls == port) else {
            return false;
        };
        let (new_primary, other) = (&replicas[new].0, &replicas[1 - new].0);
        let follower = replication_info(other.port);
        let done = replication_info(new_primary.port).contains("role:master")
            && follower.contains(&format!("master_port:{port}"))
            && follower.contains("master_link_status:up");
        if done {
            promoted = Some(new);
        }
        done
    });
    let new = promoted.unwrap();
    let (new_primary, other) = (&replicas[new].0, &replicas[1 - new].0);
    let () = redis::cmd("SET")
        .arg("after-failover")
        .arg("yes")
        .query(&mut new_primary.client())
        .unwrap();
    let mut follower = other.client();
    wait_for(
        "the write to reach the other replica over TLS",
        Duration::from_secs(30),
        || {
            redis::cmd("GET")
                .arg("after-failover")
                .query::<Option<String>>(&mut follower)
                .ok()
                .flatten()
                .as_deref()
                == Some("yes")
        },
    );
}

/// The CA can come from a directory instead of a file; files in it that hold no
/// certificate are passed over, as OpenSSL does.
#[test]
fn clients_are_verified_against_a_ca_directory() {
    let dir = TempDir::new("tls-ca-dir");
    let certs = Certs::make(&dir.0);
    let ca_dir = dir.0.join("cas");
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::copy(certs.path("ca.crt"), ca_dir.join("ca.pem")).unwrap();
    std::fs::write(ca_dir.join("README"), "not a certificate\n").unwrap();
    let tls_port = free_port();
    let (port, cert, key) = (
        tls_port.to_string(),
        certs.path("server.crt"),
        certs.path("server.key"),
    );
    let ca_dir_text = ca_dir.display().to_string();
    let _roost = Roost::start(
        &dir.0.join("data"),
        &[
            "--tls-port",
            &port,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-dir",
            &ca_dir_text,
        ],
    );
    let out = cli(&certs, tls_port, Some("client"), &["PING"]);
    assert_eq!(stdout(&out), "PONG", "{}", all_output(&out));
    let out = cli(&certs, tls_port, Some("untrusted"), &["PING"]);
    assert_ne!(stdout(&out), "PONG", "{}", all_output(&out));

    // A directory with no CA in it is refused at startup.
    let empty = dir.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let flags: Vec<String> = [
        "--tls-port",
        &free_port().to_string(),
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-dir",
        &empty.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let text = refused_startup(&dir.0.join("data2"), &flags);
    assert!(text.contains("tls-ca-cert-dir"), "{text}");
}

/// A pipeline spanning many TLS records (values from a few bytes to 1 MB, sent in one
/// write) is answered completely and in order: the server reads records ahead of
/// rustls and takes in what has arrived before serving.
#[test]
fn a_pipeline_over_many_tls_records_is_answered_in_full() {
    let dir = TempDir::new("tls-pipeline");
    let certs = Certs::make(&dir.0);
    let (_roost, tls_port) = start_tls(&dir.0.join("data"), &certs, &[]);
    let mut stream = tls_connect(rustls_client(&certs, Some("client")), tls_port).unwrap();
    let sizes: Vec<usize> = (0..200)
        .map(|i| match i % 5 {
            0 => 3,
            1 => 1_000,
            2 => 5_000,
            3 => 17_000,
            _ => 40_000,
        })
        .chain([1 << 20])
        .collect();
    let value = |i: usize, len: usize| -> Vec<u8> {
        (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect()
    };
    let mut request = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        request.extend(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\nk{i}\r\n${len}\r\n",
                format!("k{i}").len()
            )
            .into_bytes(),
        );
        request.extend(value(i, len));
        request.extend(b"\r\n");
    }
    for i in 0..sizes.len() {
        request.extend(
            format!("*2\r\n$3\r\nGET\r\n${}\r\nk{i}\r\n", format!("k{i}").len()).into_bytes(),
        );
    }
    stream.write_all(&request).unwrap();
    let mut expected = b"+OK\r\n".repeat(sizes.len());
    for (i, &len) in sizes.iter().enumerate() {
        expected.extend(format!("${len}\r\n").into_bytes());
        expected.extend(value(i, len));
        expected.extend(b"\r\n");
    }
    let mut got = vec![0u8; expected.len()];
    stream.read_exact(&mut got).unwrap();
    assert!(got == expected, "the replies differ from what was stored");
    assert_eq!(ping(&mut stream).unwrap(), "+PONG\r\n");
}

/// Roost reads TLS with rustls's unbuffered API, so it answers post-handshake messages
/// itself: a client's key update (which asks for the server's in return) and its
/// close_notify, which ends the connection on the server's side.
#[test]
fn key_updates_and_close_notify_from_the_client() {
    let dir = TempDir::new("tls-key-update");
    let certs = Certs::make(&dir.0);
    let (roost, tls_port) = start_tls(&dir.0.join("data"), &certs, &[]);
    let mut stream = tls_connect(rustls_client(&certs, Some("client")), tls_port).unwrap();
    assert_eq!(ping(&mut stream).unwrap(), "+PONG\r\n");
    let value = "v".repeat(100_000);
    for round in 0..3 {
        stream.conn.refresh_traffic_keys().unwrap();
        let set = format!(
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n{value}\r\n",
            value.len()
        );
        stream.write_all(set.as_bytes()).unwrap();
        stream.write_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").unwrap();
        let expected = format!("+OK\r\n${}\r\n{value}\r\n", value.len());
        let mut got = vec![0u8; expected.len()];
        stream.read_exact(&mut got).unwrap();
        assert!(
            got == expected.as_bytes(),
            "round {round}: the replies differ"
        );
    }
    let mut con = roost.client();
    let clients = |con: &mut redis::Connection| -> i64 {
        let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
        info.lines()
            .find_map(|line| line.strip_prefix("connected_clients:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(clients(&mut con), 2);
    stream.conn.send_close_notify();
    stream.conn.complete_io(&mut stream.sock).unwrap();
    wait_for(
        "the server to close the connection",
        Duration::from_secs(10),
        || clients(&mut con) == 1,
    );
    // The socket is still open on the client's side: the server ended it.
    let mut rest = Vec::new();
    stream.sock.read_to_end(&mut rest).unwrap();
}
