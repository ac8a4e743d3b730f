//! Connection commands: HELLO, AUTH, SELECT, ECHO, PING, QUIT, RESET and CLIENT.

mod common;

use common::TestServer;

#[test]
fn ping_and_echo() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"PING"], b"+PONG\r\n");
    raw.roundtrip(&[b"PING", b"hi"], b"$2\r\nhi\r\n");
    raw.roundtrip(
        &[b"PING", b"a", b"b"],
        b"-ERR wrong number of arguments for 'ping' command\r\n",
    );
    raw.roundtrip(&[b"ECHO", b""], b"$0\r\n\r\n");
    raw.roundtrip(&[b"ECHO", b"\x00\xff"], b"$2\r\n\x00\xff\r\n");
    raw.roundtrip(
        &[b"ECHO"],
        b"-ERR wrong number of arguments for 'echo' command\r\n",
    );
}

#[test]
fn hello_answers_the_redis_map_in_both_protocols() {
    let server = TestServer::start();
    let mut con = server.client();
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    let map: Vec<redis::Value> = redis::cmd("HELLO").arg("2").query(&mut con).unwrap();
    let text: Vec<String> = map
        .iter()
        .map(|v| match v {
            redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            redis::Value::Int(n) => n.to_string(),
            redis::Value::Array(a) => format!("array{}", a.len()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        text,
        vec![
            "server",
            "redis",
            "version",
            "7.2.4",
            "proto",
            "2",
            "id",
            &id.to_string(),
            "mode",
            "standalone",
            "role",
            "master",
            "modules",
            "array0"
        ]
    );
    // RESP3: a map, proto as an integer 3.
    let mut raw = server.raw();
    raw.send(b"HELLO 3\r\n");
    let mut got = Vec::new();
    while !got.ends_with(b"modules\r\n*0\r\n") {
        got.extend(raw.read_exact(1));
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{text}"
    );
    assert!(
        text.contains("$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:"),
        "{text}"
    );
    // Bare HELLO keeps the current protocol.
    raw.send(b"HELLO\r\n");
    assert_eq!(raw.read_exact(1), b"%");
}

#[test]
fn hello_errors() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(
        &[b"HELLO", b"4"],
        b"-NOPROTO unsupported protocol version\r\n",
    );
    raw.roundtrip(
        &[b"HELLO", b"1"],
        b"-NOPROTO unsupported protocol version\r\n",
    );
    raw.roundtrip(
        &[b"HELLO", b"x"],
        b"-ERR Protocol version is not an integer or out of range\r\n",
    );
    raw.roundtrip(
        &[b"HELLO", b"3", b"foo"],
        b"-ERR Syntax error in HELLO option 'foo'\r\n",
    );
    raw.roundtrip(
        &[b"HELLO", b"3", b"AUTH", b"a"],
        b"-ERR Syntax error in HELLO option 'AUTH'\r\n",
    );
    raw.roundtrip(
        &[b"HELLO", b"3", b"SETNAME", b"a b"],
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
    );
    // Failed HELLO leaves RESP2 in place.
    raw.roundtrip(&[b"GET", b"x"], b"$-1\r\n");
}

#[test]
fn hello_with_auth_and_setname() {
    let server = TestServer::with_config(|c| c.requirepass = Some("pw".into()));
    let mut raw = server.raw();
    raw.roundtrip(&[b"GET", b"k"], b"-NOAUTH Authentication required.\r\n");
    raw.roundtrip(
        &[b"HELLO", b"3"],
        b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n",
    );
    raw.roundtrip(
        &[b"HELLO", b"3", b"AUTH", b"default", b"bad"],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    raw.send_cmd(&[
        b"HELLO", b"3", b"AUTH", b"default", b"pw", b"SETNAME", b"web1",
    ]);
    let mut got = Vec::new();
    while !got.ends_with(b"modules\r\n*0\r\n") {
        got.extend(raw.read_exact(1));
    }
    raw.roundtrip(&[b"CLIENT", b"GETNAME"], b"$4\r\nweb1\r\n");
    raw.roundtrip(&[b"GET", b"k"], b"_\r\n");
    // The redis crate authenticates through HELLO in RESP3 and through AUTH in RESP2.
    let url = format!("redis://:pw@{}/?protocol=resp3", server.addr());
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let url = format!("redis://:pw@{}/", server.addr());
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn auth_rules() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(
        &[b"AUTH", b"x"],
        b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n",
    );
    raw.roundtrip(&[b"AUTH", b"default", b"anything"], b"+OK\r\n");
    raw.roundtrip(
        &[b"AUTH", b"other", b"x"],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    raw.roundtrip(&[b"AUTH", b"a", b"b", b"c"], b"-ERR syntax error\r\n");

    let server = TestServer::with_config(|c| c.requirepass = Some("s3cret".into()));
    let mut raw = server.raw();
    raw.roundtrip(&[b"PING"], b"-NOAUTH Authentication required.\r\n");
    raw.roundtrip(
        &[b"AUTH", b"wrong"],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    raw.roundtrip(&[b"AUTH", b"s3cret"], b"+OK\r\n");
    raw.roundtrip(&[b"PING"], b"+PONG\r\n");
    // RESET de-authenticates when a password is set.
    raw.roundtrip(&[b"RESET"], b"+RESET\r\n");
    raw.roundtrip(&[b"PING"], b"-NOAUTH Authentication required.\r\n");
    raw.roundtrip(&[b"AUTH", b"default", b"s3cret"], b"+OK\r\n");
    raw.roundtrip(&[b"PING"], b"+PONG\r\n");
}

#[test]
fn select_switches_databases() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"SET", b"k", b"zero"], b"+OK\r\n");
    raw.roundtrip(&[b"SELECT", b"15"], b"+OK\r\n");
    raw.roundtrip(&[b"GET", b"k"], b"$-1\r\n");
    raw.roundtrip(&[b"SET", b"k", b"fifteen"], b"+OK\r\n");
    raw.roundtrip(&[b"SELECT", b"0"], b"+OK\r\n");
    raw.roundtrip(&[b"GET", b"k"], b"$4\r\nzero\r\n");
    raw.roundtrip(&[b"SELECT", b"16"], b"-ERR DB index is out of range\r\n");
    raw.roundtrip(&[b"SELECT", b"-1"], b"-ERR DB index is out of range\r\n");
    raw.roundtrip(
        &[b"SELECT", b"x"],
        b"-ERR value is not an integer or out of range\r\n",
    );
    let server = TestServer::with_config(|c| c.databases = 2);
    let mut raw = server.raw();
    raw.roundtrip(&[b"SELECT", b"1"], b"+OK\r\n");
    raw.roundtrip(&[b"SELECT", b"2"], b"-ERR DB index is out of range\r\n");
}

#[test]
fn quit_replies_ok_then_closes() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.send(b"QUIT\r\nPING\r\n");
    assert_eq!(raw.read_to_close(), b"+OK\r\n");
}

#[test]
fn reset_clears_connection_state() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"SELECT", b"3"], b"+OK\r\n");
    raw.roundtrip(&[b"CLIENT", b"SETNAME", b"n"], b"+OK\r\n");
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"a", b"1"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"RESET"], b"+RESET\r\n");
    raw.roundtrip(&[b"CLIENT", b"GETNAME"], b"$-1\r\n");
    raw.roundtrip(&[b"EXEC"], b"-ERR EXEC without MULTI\r\n");
    raw.roundtrip(&[b"SET", b"db0", b"x"], b"+OK\r\n");
    raw.roundtrip(&[b"SELECT", b"3"], b"+OK\r\n");
    raw.roundtrip(&[b"GET", b"db0"], b"$-1\r\n");
    raw.roundtrip(&[b"GET", b"a"], b"$-1\r\n");
}

#[test]
fn client_naming_and_info() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.roundtrip(&[b"CLIENT", b"GETNAME"], b"$-1\r\n");
    raw.roundtrip(&[b"client", b"setname", b"sess-worker"], b"+OK\r\n");
    raw.roundtrip(&[b"CLIENT", b"GETNAME"], b"$11\r\nsess-worker\r\n");
    raw.roundtrip(
        &[b"CLIENT", b"SETNAME", b"bad name"],
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
    );
    raw.roundtrip(&[b"CLIENT", b"SETNAME", b""], b"+OK\r\n");
    raw.roundtrip(&[b"CLIENT", b"GETNAME"], b"$-1\r\n");
    raw.roundtrip(
        &[b"CLIENT", b"SETINFO", b"LIB-NAME", b"redis-py(django_v5.2)"],
        b"+OK\r\n",
    );
    raw.roundtrip(&[b"CLIENT", b"SETINFO", b"lib-ver", b"8.1.0"], b"+OK\r\n");
    raw.roundtrip(
        &[b"CLIENT", b"SETINFO", b"other", b"x"],
        b"-ERR Unrecognized option 'other'\r\n",
    );
    raw.roundtrip(
        &[b"CLIENT", b"SETINFO", b"lib-name", b"a b"],
        b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n",
    );
    raw.roundtrip(&[b"CLIENT", b"NO-EVICT", b"on"], b"+OK\r\n");
    raw.roundtrip(&[b"CLIENT", b"NO-TOUCH", b"ON"], b"+OK\r\n");
    raw.roundtrip(
        &[b"CLIENT", b"NO-TOUCH", b"maybe"],
        b"-ERR syntax error\r\n",
    );
    raw.roundtrip(&[b"SELECT", b"2"], b"+OK\r\n");

    let mut con = server.client();
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(
        info.starts_with(&format!("id={id} addr=127.0.0.1:")),
        "{info}"
    );
    assert!(info.contains(" cmd=client|info "), "{info}");
    // The redis crate announces itself with CLIENT SETINFO on connect.
    assert!(
        info.contains(" resp=2 lib-name=redis-rs lib-ver="),
        "{info}"
    );
    assert!(info.ends_with('\n'), "{info}");

    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    let other = lines
        .iter()
        .find(|l| !l.starts_with(&format!("id={id} ")))
        .unwrap();
    assert!(other.contains(" name= "), "{other}");
    assert!(other.contains(" flags=eT "), "{other}");
    assert!(other.contains(" db=2 "), "{other}");
    assert!(other.contains(" cmd=select "), "{other}");
    assert!(
        other.contains("lib-name=redis-py(django_v5.2) lib-ver=8.1.0"),
        "{other}"
    );

    let only_me: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("ID")
        .arg(id)
        .query(&mut con)
        .unwrap();
    assert_eq!(only_me.lines().count(), 1);
    let err = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("bogus")
        .query::<String>(&mut con)
        .unwrap_err();
    assert!(
        err.to_string().contains("Unknown client type 'bogus'"),
        "{err}"
    );
}

#[test]
fn client_kill_forms() {
    let server = TestServer::start();
    let mut victim = server.raw();
    victim.roundtrip(&[b"CLIENT", b"SETNAME", b"victim"], b"+OK\r\n");
    let mut con = server.client();
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
    let victim_line = list.lines().find(|l| l.contains("name=victim")).unwrap();
    let addr = victim_line
        .split(' ')
        .nth(1)
        .unwrap()
        .trim_start_matches("addr=")
        .to_string();
    let id: u64 = victim_line.split(' ').next().unwrap()[3..].parse().unwrap();

    let mut raw = server.raw();
    raw.roundtrip(
        &[b"CLIENT", b"KILL", b"1.2.3.4:5"],
        b"-ERR No such client\r\n",
    );
    raw.roundtrip(
        &[b"CLIENT", b"KILL", b"ID", b"0"],
        b"-ERR client-id should be greater than 0\r\n",
    );
    raw.roundtrip(
        &[b"CLIENT", b"KILL", b"TYPE", b"x"],
        b"-ERR Unknown client type 'x'\r\n",
    );
    raw.roundtrip(
        &[b"CLIENT", b"KILL", b"foo", b"bar"],
        b"-ERR syntax error\r\n",
    );
    raw.roundtrip(&[b"CLIENT", b"KILL", b"ID", b"99999"], b":0\r\n");
    raw.roundtrip(&[b"CLIENT", b"KILL", addr.as_bytes()], b"+OK\r\n");
    assert!(victim.read_to_close().is_empty());

    let mut second = server.raw();
    second.roundtrip(&[b"PING"], b"+PONG\r\n");
    let _ = id;
    // TYPE normal skips the caller (Sentinel depends on it) and kills the others.
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .query(&mut con)
        .unwrap();
    assert_eq!(killed, 2);
    assert!(second.read_to_close().is_empty());
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    // SKIPME no kills the caller after its reply.
    let mut me = server.raw();
    me.send_cmd(&[b"CLIENT", b"KILL", b"SKIPME", b"no", b"ADDR", b"1.1.1.1:1"]);
    me.expect(b":0\r\n");
}

#[test]
fn client_kill_in_multi_like_sentinel() {
    let server = TestServer::start();
    let mut other = server.raw();
    other.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut raw = server.raw();
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"CLIENT", b"KILL", b"TYPE", b"normal"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"CLIENT", b"KILL", b"TYPE", b"pubsub"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"EXEC"], b"*2\r\n:1\r\n:0\r\n");
    assert!(other.read_to_close().is_empty());
    raw.roundtrip(&[b"PING"], b"+PONG\r\n");
}

#[test]
fn client_help_lists_subcommands() {
    let server = TestServer::start();
    let mut con = server.client();
    let help: Vec<String> = redis::cmd("CLIENT").arg("HELP").query(&mut con).unwrap();
    assert!(help[0].starts_with("CLIENT <subcommand>"));
    for sub in [
        "ID", "SETNAME", "GETNAME", "SETINFO", "LIST", "INFO", "KILL", "NO-EVICT", "NO-TOUCH",
    ] {
        assert!(help.iter().any(|l| l == sub), "{sub} missing from {help:?}");
    }
}

#[test]
fn maxclients_rejects_extra_connections() {
    let server = TestServer::with_config(|c| c.maxclients = 2);
    let mut a = server.raw();
    a.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut b = server.raw();
    b.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut c = server.raw();
    assert_eq!(c.read_to_close(), b"-ERR max number of clients reached\r\n");
}

#[test]
fn idle_clients_time_out() {
    let server = TestServer::with_config(|c| c.timeout = 1);
    let mut raw = server.raw();
    raw.roundtrip(&[b"PING"], b"+PONG\r\n");
    raw.stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    assert!(raw.read_to_close().is_empty());
}

#[test]
fn listens_on_every_bind_address_and_skips_optional_ones() {
    let server = TestServer::with_config(|c| {
        c.bind = vec!["127.0.0.1".into(), "127.0.0.2".into(), "-192.0.2.1".into()];
    });
    let port = server.addr().port();
    for host in ["127.0.0.1", "127.0.0.2"] {
        let mut con = redis::Client::open(format!("redis://{host}:{port}/"))
            .unwrap()
            .get_connection()
            .unwrap();
        let pong: String = redis::cmd("PING").query(&mut con).unwrap();
        assert_eq!(pong, "PONG");
    }
}
