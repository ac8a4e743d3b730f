//! ACL users with real servers and real clients: AUTH and HELLO AUTH as a user, the
//! NOPERM and WRONGPASS texts (Redis 7.2's), connections closed when their user is
//! deleted or its password changes, `user` lines and `aclfile` at startup, and
//! `redis-cli --user --pass`.

mod common;

use std::process::Command;

use common::process::{Roost, TempDir};
use common::TestServer;
use redis::{RedisResult, Value};

fn err_text(result: RedisResult<Value>) -> String {
    let err = result.expect_err("an error reply");
    match (err.code(), err.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => err.to_string(),
    }
}

fn user_client(server: &TestServer, user: &str, pass: &str) -> redis::Connection {
    let url = format!("redis://{user}:{pass}@{}/", server.addr());
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

#[test]
fn a_restricted_user_gets_redis_72_noperm_texts() {
    let server = TestServer::start();
    let mut admin = server.client();
    let ok: String = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "app",
            "on",
            ">s3cret",
            "~app:*",
            "&chan:*",
            "+@all",
            "-flushall",
        ])
        .query(&mut admin)
        .unwrap();
    assert_eq!(ok, "OK");
    let mut app = user_client(&server, "app", "s3cret");
    let whoami: String = redis::cmd("ACL").arg("WHOAMI").query(&mut app).unwrap();
    assert_eq!(whoami, "app");
    let _: () = redis::cmd("SET")
        .arg(&["app:1", "v"])
        .query(&mut app)
        .unwrap();
    // Redis 7.0.15 says "this user has no permissions to run the 'flushall' command",
    // "... to access one of the keys used as arguments" and "... one of the channels
    // used as arguments"; Roost follows 7.2.
    assert_eq!(
        err_text(redis::cmd("FLUSHALL").query(&mut app)),
        "NOPERM User app has no permissions to run the 'flushall' command"
    );
    assert_eq!(
        err_text(redis::cmd("GET").arg("other").query(&mut app)),
        "NOPERM No permissions to access a key"
    );
    assert_eq!(
        err_text(redis::cmd("PUBLISH").arg(&["news", "m"]).query(&mut app)),
        "NOPERM No permissions to access a channel"
    );
    let n: i64 = redis::cmd("PUBLISH")
        .arg(&["chan:1", "m"])
        .query(&mut app)
        .unwrap();
    assert_eq!(n, 0);
    // The default user still may do anything, and nothing was written by the refusals.
    let v: Option<String> = redis::cmd("GET").arg("app:1").query(&mut admin).unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let list: Vec<String> = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut admin)
        .map(|s: String| s.lines().map(String::from).collect())
        .unwrap();
    assert!(list.iter().any(|l| l.contains(" user=app ")), "{list:?}");
}

#[test]
fn auth_and_hello_auth_log_in_as_a_user() {
    let server = TestServer::with_config(|c| c.requirepass = Some("adminpw".into()));
    let mut raw = server.raw();
    raw.roundtrip(&[b"GET", b"k"], b"-NOAUTH Authentication required.\r\n");
    raw.roundtrip(&[b"AUTH", b"adminpw"], b"+OK\r\n");
    raw.roundtrip(
        &[
            b"ACL",
            b"SETUSER",
            b"reader",
            b"on",
            b">rpw",
            b"~*",
            b"+get",
            b"+acl|whoami",
        ],
        b"+OK\r\n",
    );
    let mut other = server.raw();
    other.roundtrip(
        &[b"AUTH", b"reader", b"wrong"],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    other.roundtrip(
        &[b"AUTH", b"nobody", b"rpw"],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    other.roundtrip(&[b"AUTH", b"reader", b"rpw"], b"+OK\r\n");
    other.roundtrip(&[b"GET", b"k"], b"$-1\r\n");
    other.roundtrip(
        &[b"SET", b"k", b"v"],
        b"-NOPERM User reader has no permissions to run the 'set' command\r\n",
    );
    // HELLO 3 AUTH as another user switches both protocol and user.
    let mut third = server.raw();
    third.send_cmd(&[b"HELLO", b"3", b"AUTH", b"reader", b"rpw"]);
    let mut got = Vec::new();
    while !got.ends_with(b"modules\r\n*0\r\n") {
        got.extend(third.read_exact(1));
    }
    assert!(got.starts_with(b"%7\r\n"));
    third.roundtrip(&[b"ACL", b"WHOAMI"], b"$6\r\nreader\r\n");
    third.roundtrip(
        &[b"HELLO", b"3", b"AUTH", b"reader", b"bad"],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    // A user that is off cannot log in, even with its password.
    raw.roundtrip(&[b"ACL", b"SETUSER", b"sleeper", b">zz"], b"+OK\r\n");
    let mut fourth = server.raw();
    fourth.roundtrip(
        &[b"AUTH", b"sleeper", b"zz"],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    // requirepass is the default user's password: CONFIG SET changes it.
    raw.roundtrip(&[b"CONFIG", b"SET", b"requirepass", b"newpw"], b"+OK\r\n");
    fourth.roundtrip(
        &[b"AUTH", b"adminpw"],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    fourth.roundtrip(&[b"AUTH", b"default", b"newpw"], b"+OK\r\n");
    // RESET logs out to the default user (which needs AUTH again).
    third.roundtrip(&[b"RESET"], b"+RESET\r\n");
    third.roundtrip(&[b"GET", b"k"], b"-NOAUTH Authentication required.\r\n");
}

#[test]
fn deleting_a_user_or_changing_its_password_closes_its_connections() {
    // Redis 7.0.15 closes them on ACL DELUSER only; Roost also on a password change or
    // `off` (issue 10), so a revoked credential stops working at once.
    let server = TestServer::start();
    let mut admin = server.raw();
    admin.roundtrip(
        &[b"ACL", b"SETUSER", b"a", b"on", b">pw", b"~*", b"+@all"],
        b"+OK\r\n",
    );
    let open = |server: &TestServer| {
        let mut c = server.raw();
        c.roundtrip(&[b"AUTH", b"a", b"pw"], b"+OK\r\n");
        c
    };
    let mut first = open(&server);
    let mut second = open(&server);
    // A change of commands leaves them connected.
    admin.roundtrip(&[b"ACL", b"SETUSER", b"a", b"-debug|x"], b"-ERR Error in ACL SETUSER modifier '-debug|x': Unknown command or category name in ACL\r\n");
    admin.roundtrip(&[b"ACL", b"SETUSER", b"a", b"-keys"], b"+OK\r\n");
    first.roundtrip(&[b"PING"], b"+PONG\r\n");
    admin.roundtrip(&[b"ACL", b"SETUSER", b"a", b">pw2"], b"+OK\r\n");
    assert_eq!(first.read_to_close(), b"");
    assert_eq!(second.read_to_close(), b"");
    let mut third = open(&server);
    admin.roundtrip(&[b"ACL", b"SETUSER", b"a", b"off"], b"+OK\r\n");
    assert_eq!(third.read_to_close(), b"");
    admin.roundtrip(&[b"ACL", b"SETUSER", b"a", b"on"], b"+OK\r\n");
    let mut fourth = open(&server);
    admin.roundtrip(&[b"ACL", b"DELUSER", b"a", b"nosuch"], b":1\r\n");
    assert_eq!(fourth.read_to_close(), b"");
    admin.roundtrip(
        &[b"ACL", b"DELUSER", b"default"],
        b"-ERR The 'default' user cannot be removed\r\n",
    );
    admin.roundtrip(&[b"PING"], b"+PONG\r\n");
}

#[test]
fn user_lines_and_acl_files_at_startup() {
    let dir = TempDir::new("acl-startup");
    let conf = dir.0.join("roost.conf");
    std::fs::write(
        &conf,
        "user default off\nuser app on >s3cret ~app:* +@all \"(~other:* +get)\"\n",
    )
    .unwrap();
    let roost = Roost::start(&dir.0, &[conf.to_str().unwrap(), "--appendonly", "no"]);
    roost.wait_until_loaded_as("app", "s3cret");
    let port = roost.port.to_string();
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &port, "--no-auth-warning"])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // The default user is off: nobody gets in without a user.
    assert_eq!(cli(&["GET", "k"]), "NOAUTH Authentication required.");
    let app = ["--user", "app", "--pass", "s3cret"];
    assert_eq!(cli(&[&app[..], &["SET", "app:1", "v"]].concat()), "OK");
    assert_eq!(cli(&[&app[..], &["GET", "other:1"]].concat()), "");
    assert_eq!(
        cli(&[&app[..], &["SET", "other:1", "v"]].concat()),
        "NOPERM No permissions to access a key"
    );
    assert_eq!(
        cli(&[&app[..], &["ACL", "LIST"]].concat()),
        format!(
            "user app on #{} ~app:* resetchannels +@all (~other:* resetchannels -@all +get)\n\
             user default off resetchannels -@all",
            roost::acl::hash_password(b"s3cret")
        )
    );
    drop(roost);

    // An ACL file, and a bad line in one, which stops startup naming it.
    let acl = dir.0.join("users.acl");
    std::fs::write(
        &acl,
        "# users\nuser default on nopass ~* &* +@all\nuser ro on >r ~* -@all +get\n",
    )
    .unwrap();
    let acl_conf = dir.0.join("acl.conf");
    std::fs::write(&acl_conf, format!("aclfile {}\n", acl.display())).unwrap();
    let acl_conf = acl_conf.to_str().unwrap();
    let roost = Roost::start(&dir.0, &[acl_conf, "--appendonly", "no"]);
    let port = roost.port.to_string();
    let out = Command::new("redis-cli")
        .args([
            "-p",
            &port,
            "--no-auth-warning",
            "--user",
            "ro",
            "--pass",
            "r",
            "SET",
            "k",
            "v",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "NOPERM User ro has no permissions to run the 'set' command"
    );
    drop(roost);

    for (text, expected) in [
        (
            "user ro on +nosuch\n",
            "users.acl:1: Error in applying operation '+nosuch': Unknown command or category \
             name in ACL",
        ),
        ("nonsense\n", "should start with user keyword"),
    ] {
        std::fs::write(&acl, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_roost"))
            .args([acl_conf, "--port", "1", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir.0)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("'aclfile'") && stderr.contains(expected),
            "{stderr}"
        );
    }

    // `user` lines and an aclfile together: Redis refuses, and so does Roost.
    std::fs::write(
        &conf,
        format!("user app on >x\naclfile {}\n", acl.display()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args([conf.to_str().unwrap(), "--port", "1", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("users defined in redis.conf and at the same setting an ACL file"),
        "{stderr}"
    );
    // A bad `user` line names its file and line.
    std::fs::write(&conf, "port 1\nuser app on ~* +bogus\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args([conf.to_str().unwrap(), "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("roost.conf:2: 'user': Error in ACL SETUSER modifier '+bogus'"),
        "{stderr}"
    );
}

#[test]
fn acl_users_cat_genpass_and_getuser() {
    let server = TestServer::start();
    let mut con = server.client();
    let cats: Vec<String> = redis::cmd("ACL").arg("CAT").query(&mut con).unwrap();
    assert_eq!(cats.len(), 21);
    assert_eq!(cats[0], "keyspace");
    let read: Vec<String> = redis::cmd("ACL")
        .arg(&["CAT", "read"])
        .query(&mut con)
        .unwrap();
    assert!(read.contains(&"get".to_string()) && !read.contains(&"set".to_string()));
    let dangerous: Vec<String> = redis::cmd("ACL")
        .arg(&["CAT", "dangerous"])
        .query(&mut con)
        .unwrap();
    for name in ["flushall", "keys", "config|set", "acl|setuser", "info"] {
        assert!(
            dangerous.contains(&name.to_string()),
            "{name}: {dangerous:?}"
        );
    }
    let pass: String = redis::cmd("ACL").arg("GENPASS").query(&mut con).unwrap();
    assert_eq!(pass.len(), 64);
    let _: () = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "s",
            "on",
            "nopass",
            "%R~r:*",
            "+@read",
            "-@dangerous",
            "(&c +publish)",
        ])
        .query(&mut con)
        .unwrap();
    let users: Vec<String> = redis::cmd("ACL").arg("USERS").query(&mut con).unwrap();
    assert_eq!(users, ["default", "s"]);
    let user: Value = redis::cmd("ACL")
        .arg(&["GETUSER", "s"])
        .query(&mut con)
        .unwrap();
    let text = format!("{user:?}");
    for part in [
        "on",
        "nopass",
        "-@all +@read -@dangerous",
        "%R~r:*",
        "+publish",
        "&c",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
}

#[test]
fn checks_at_multi_queue_time_at_exec_and_inside_scripts() {
    let server = TestServer::start();
    let mut admin = server.raw();
    admin.roundtrip(
        &[
            b"ACL",
            b"SETUSER",
            b"t",
            b"on",
            b"nopass",
            b"~*",
            b"&*",
            b"+@all",
            b"-flushall",
        ],
        b"+OK\r\n",
    );
    let mut t = server.raw();
    t.roundtrip(&[b"AUTH", b"t", b"x"], b"+OK\r\n");
    // Refused while queueing: the transaction is doomed, as any refused command dooms it.
    t.roundtrip(&[b"MULTI"], b"+OK\r\n");
    t.roundtrip(
        &[b"FLUSHALL"],
        b"-NOPERM User t has no permissions to run the 'flushall' command\r\n",
    );
    t.roundtrip(
        &[b"EXEC"],
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    // Rules changed between queueing and EXEC: that command alone is refused.
    t.roundtrip(&[b"MULTI"], b"+OK\r\n");
    t.roundtrip(&[b"SET", b"k", b"v"], b"+QUEUED\r\n");
    t.roundtrip(&[b"GET", b"k"], b"+QUEUED\r\n");
    t.roundtrip(&[b"PUBLISH", b"c", b"m"], b"+QUEUED\r\n");
    admin.roundtrip(
        &[
            b"ACL",
            b"SETUSER",
            b"t",
            b"resetkeys",
            b"%R~*",
            b"resetchannels",
        ],
        b"+OK\r\n",
    );
    t.roundtrip(
        &[b"EXEC"],
        b"*3\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated \
          and the EXEC call. This command is no longer allowed for the following reason: no \
          permission to touch the specified keys\r\n$-1\r\n-NOPERM ACLs rules changed between \
          the moment the transaction was accumulated and the EXEC call. This command is no \
          longer allowed for the following reason: no permission to access one of the \
          channels used as arguments\r\n",
    );
    // A script's declared keys are checked before it runs: EVAL reads and writes them.
    t.roundtrip(
        &[b"EVAL", b"return 1", b"1", b"k"],
        b"-NOPERM No permissions to access a key\r\n",
    );
    t.roundtrip(&[b"EVAL_RO", b"return 1", b"1", b"k"], b":1\r\n");
    // Inside a script (Redis 7.2's text; 7.0: "The user executing the script can't run
    // this command or subcommand" / "... can't access at least one of the keys ...").
    let script = "return redis.call('set', ARGV[1], 'v')";
    let sha = roost_sha1(script);
    t.roundtrip(
        &[b"EVAL", script.as_bytes(), b"0", b"k"],
        format!(
            "-ERR ACL failure in script: No permissions to access a key script: {sha}, on \
             @user_script:1.\r\n"
        )
        .as_bytes(),
    );
    admin.roundtrip(&[b"ACL", b"SETUSER", b"t", b"-set"], b"+OK\r\n");
    let pcall = "return redis.pcall('set', ARGV[1], 'v')";
    t.roundtrip(
        &[b"EVAL", pcall.as_bytes(), b"0", b"k"],
        b"-ERR ACL failure in script: User t has no permissions to run the 'set' command\r\n",
    );
    // Refusals are counted in INFO stats.
    t.roundtrip(
        &[b"AUTH", b"nosuch", b"x"],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    let mut admin = server.client();
    let info: String = redis::cmd("INFO").arg("stats").query(&mut admin).unwrap();
    for line in [
        "acl_access_denied_auth:1",
        "acl_access_denied_cmd:2",
        "acl_access_denied_key:3",
        "acl_access_denied_channel:1",
    ] {
        assert!(info.contains(line), "{line} in {info}");
    }
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut admin)
        .unwrap();
    let info: String = redis::cmd("INFO").arg("stats").query(&mut admin).unwrap();
    assert!(info.contains("acl_access_denied_cmd:0"), "{info}");
}

/// What SCRIPT LOAD answers for `script`, from the server itself.
fn roost_sha1(script: &str) -> String {
    let server = TestServer::start();
    let mut con = server.client();
    redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(script)
        .query(&mut con)
        .unwrap()
}

#[test]
fn read_and_write_key_patterns() {
    let server = TestServer::start();
    let mut admin = server.client();
    let _: () = redis::cmd("ACL")
        .arg(&[
            "SETUSER", "rw", "on", ">p", "+@all", "%R~ro:*", "%W~wo:*", "~both:*",
        ])
        .query(&mut admin)
        .unwrap();
    let mut c = user_client(&server, "rw", "p");
    let _: Option<String> = redis::cmd("GET").arg("ro:1").query(&mut c).unwrap();
    assert_eq!(
        err_text(redis::cmd("SET").arg(&["ro:1", "v"]).query(&mut c)),
        "NOPERM No permissions to access a key"
    );
    let _: () = redis::cmd("SET").arg(&["wo:1", "v"]).query(&mut c).unwrap();
    // SET ... GET reads the key too (Redis's variable flags).
    assert_eq!(
        err_text(redis::cmd("SET").arg(&["wo:1", "v", "GET"]).query(&mut c)),
        "NOPERM No permissions to access a key"
    );
    assert_eq!(
        err_text(redis::cmd("GET").arg("wo:1").query(&mut c)),
        "NOPERM No permissions to access a key"
    );
    // COPY reads its source and writes its destination.
    let _: () = redis::cmd("SET")
        .arg(&["both:1", "v"])
        .query(&mut c)
        .unwrap();
    let n: i64 = redis::cmd("COPY")
        .arg(&["both:1", "wo:2"])
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        err_text(redis::cmd("COPY").arg(&["wo:1", "both:2"]).query(&mut c)),
        "NOPERM No permissions to access a key"
    );
    // Every key of a multi-key command is checked.
    assert_eq!(
        err_text(redis::cmd("MGET").arg(&["both:1", "other"]).query(&mut c)),
        "NOPERM No permissions to access a key"
    );
}

#[test]
fn a_subscriber_losing_its_channel_is_disconnected() {
    let server = TestServer::start();
    let mut admin = server.raw();
    admin.roundtrip(
        &[
            b"ACL", b"SETUSER", b"sub", b"on", b"nopass", b"+@all", b"&news.*", b"&alerts",
        ],
        b"+OK\r\n",
    );
    let mut news = server.raw();
    news.roundtrip(&[b"AUTH", b"sub", b"x"], b"+OK\r\n");
    news.roundtrip(
        &[b"SUBSCRIBE", b"news.a"],
        b"*3\r\n$9\r\nsubscribe\r\n$6\r\nnews.a\r\n:1\r\n",
    );
    let mut alerts = server.raw();
    alerts.roundtrip(&[b"AUTH", b"sub", b"x"], b"+OK\r\n");
    alerts.roundtrip(
        &[b"SUBSCRIBE", b"alerts"],
        b"*3\r\n$9\r\nsubscribe\r\n$6\r\nalerts\r\n:1\r\n",
    );
    alerts.roundtrip(
        &[b"SUBSCRIBE", b"other"],
        b"-NOPERM No permissions to access a channel\r\n",
    );
    // A pattern must be allowed as written, not merely match an allowed pattern.
    let mut pat = server.raw();
    pat.roundtrip(&[b"AUTH", b"sub", b"x"], b"+OK\r\n");
    pat.roundtrip(
        &[b"PSUBSCRIBE", b"news.a*"],
        b"-NOPERM No permissions to access a channel\r\n",
    );
    pat.roundtrip(
        &[b"PSUBSCRIBE", b"news.*"],
        b"*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n",
    );
    admin.roundtrip(
        &[b"ACL", b"SETUSER", b"sub", b"resetchannels", b"&alerts"],
        b"+OK\r\n",
    );
    assert_eq!(news.read_to_close(), b"");
    assert_eq!(pat.read_to_close(), b"");
    admin.roundtrip(&[b"PUBLISH", b"alerts", b"m"], b":1\r\n");
    alerts.expect(b"*3\r\n$7\r\nmessage\r\n$6\r\nalerts\r\n$1\r\nm\r\n");
}

#[test]
fn acl_pubsub_default_gives_new_users_every_channel() {
    let server = TestServer::start();
    let mut admin = server.raw();
    admin.roundtrip(&[b"ACL", b"SETUSER", b"before", b"on"], b"+OK\r\n");
    admin.roundtrip(
        &[b"CONFIG", b"SET", b"acl-pubsub-default", b"allchannels"],
        b"+OK\r\n",
    );
    admin.roundtrip(&[b"ACL", b"SETUSER", b"after", b"on"], b"+OK\r\n");
    admin.roundtrip(
        &[b"ACL", b"LIST"],
        b"*3\r\n$22\r\nuser after on &* -@all\r\n$34\r\nuser before on resetchannels -@all\r\n\
          $34\r\nuser default on nopass ~* &* +@all\r\n",
    );
}

#[test]
fn acl_log_records_refusals_with_redis_72_fields() {
    let server = TestServer::start();
    let mut admin = server.client();
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "app", "on", ">p", "~app:*", "+@all", "-flushall"])
        .query(&mut admin)
        .unwrap();
    let mut app = user_client(&server, "app", "p");
    let _: RedisResult<()> = redis::cmd("FLUSHALL").query(&mut app);
    let _: RedisResult<()> = redis::cmd("FLUSHALL").query(&mut app);
    let _: RedisResult<()> = redis::cmd("GET").arg("secret").query(&mut app);
    let mut raw = server.raw();
    raw.roundtrip(
        &[b"AUTH", b"app", b"bad"],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    let mut resp3 = server.client_resp3();
    let entries: Vec<std::collections::HashMap<String, Value>> =
        redis::cmd("ACL").arg("LOG").query(&mut resp3).unwrap();
    assert_eq!(entries.len(), 3, "{entries:?}");
    let text = |e: &std::collections::HashMap<String, Value>, f: &str| match &e[f] {
        Value::BulkString(b) => String::from_utf8_lossy(b).to_string(),
        Value::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    };
    // Newest first; the two FLUSHALLs are one entry counted twice.
    let fields: Vec<(String, String, String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                text(e, "count"),
                text(e, "reason"),
                text(e, "context"),
                text(e, "object"),
                text(e, "username"),
            )
        })
        .collect();
    let row = |c: &str, r: &str, x: &str, o: &str, u: &str| {
        (c.into(), r.into(), x.into(), o.into(), u.into())
    };
    assert_eq!(
        fields,
        [
            row("1", "auth", "toplevel", "AUTH", "app"),
            row("1", "key", "toplevel", "secret", "app"),
            row("2", "command", "toplevel", "flushall", "app"),
        ]
    );
    let mut keys: Vec<&String> = entries[0].keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "age-seconds",
            "client-info",
            "context",
            "count",
            "entry-id",
            "object",
            "reason",
            "timestamp-created",
            "timestamp-last-updated",
            "username"
        ]
    );
    assert!(matches!(entries[0]["age-seconds"], Value::Double(_)));
    assert!(text(&entries[1], "client-info").contains(" user=app "));
    assert_eq!(text(&entries[2], "entry-id"), "0");
    let one: Vec<Value> = redis::cmd("ACL")
        .arg(&["LOG", "1"])
        .query(&mut admin)
        .unwrap();
    assert_eq!(one.len(), 1);
    let ok: String = redis::cmd("ACL")
        .arg(&["LOG", "RESET"])
        .query(&mut admin)
        .unwrap();
    assert_eq!(ok, "OK");
    let none: Vec<Value> = redis::cmd("ACL").arg("LOG").query(&mut admin).unwrap();
    assert!(none.is_empty());
}

#[test]
fn acl_dryrun_save_and_load() {
    let dir = TempDir::new("acl-save-load");
    let file = dir.0.join("users.acl");
    std::fs::write(&file, "user default on nopass ~* &* +@all\n").unwrap();
    let path = file.to_str().unwrap().to_string();
    let server = TestServer::with_config(|c| c.aclfile = path.clone());
    let mut admin = server.raw();
    admin.roundtrip(
        &[
            b"ACL",
            b"SETUSER",
            b"app",
            b"on",
            b">p",
            b"~app:*",
            b"&c",
            b"+get",
            b"+publish",
        ],
        b"+OK\r\n",
    );
    // Redis 7.2's words (7.0: "This user has no permissions to ...").
    for (request, expected) in [
        (&[&b"get"[..], b"app:1"][..], "+OK\r\n".to_string()),
        (
            &[b"get", b"x"],
            bulk("User app has no permissions to access the 'x' key"),
        ),
        (
            &[b"set", b"app:1", b"v"],
            bulk("User app has no permissions to run the 'set' command"),
        ),
        (
            &[b"publish", b"d", b"m"],
            bulk("User app has no permissions to access the 'd' channel"),
        ),
    ] {
        let mut args: Vec<&[u8]> = vec![b"ACL", b"DRYRUN", b"app"];
        args.extend_from_slice(request);
        admin.roundtrip(&args, expected.as_bytes());
    }
    admin.roundtrip(&[b"ACL", b"SAVE"], b"+OK\r\n");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        saved,
        format!(
            "user app on #{} ~app:* resetchannels &c -@all +get +publish\n\
             user default on nopass ~* &* +@all\n",
            roost::acl::hash_password(b"p")
        )
    );
    let mut app = server.raw();
    app.roundtrip(&[b"AUTH", b"app", b"p"], b"+OK\r\n");
    // A bad file changes nothing.
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser app on +nosuch\n",
    )
    .unwrap();
    admin.roundtrip(
        &[b"ACL", b"LOAD"],
        format!(
            "-ERR {path}:2: Error in applying operation '+nosuch': Unknown command or category \
             name in ACL. WARNING: ACL errors detected, no change to the previously active ACL \
             rules was performed\r\n"
        )
        .as_bytes(),
    );
    app.roundtrip(&[b"GET", b"app:1"], b"$-1\r\n");
    // A good one replaces the users; connections of the replaced users close.
    std::fs::write(&file, saved.replace("+get +publish", "+set")).unwrap();
    admin.roundtrip(&[b"ACL", b"LOAD"], b"+OK\r\n");
    assert_eq!(app.read_to_close(), b"");
    admin.roundtrip(
        &[b"ACL", b"DRYRUN", b"app", b"get", b"app:1"],
        bulk("User app has no permissions to run the 'get' command").as_bytes(),
    );
    std::fs::remove_file(&file).unwrap();
    admin.roundtrip(
        &[b"ACL", b"LOAD"],
        format!("-ERR Error loading ACLs, opening file '{path}': No such file or directory\r\n")
            .as_bytes(),
    );
}

fn bulk(text: &str) -> String {
    format!("${}\r\n{text}\r\n", text.len())
}

#[test]
fn a_replica_authenticates_to_its_primary_as_a_user() {
    // The primary lets nobody in without a user; the replica's user may run only what
    // replication needs.
    let pdir = TempDir::new("acl-primary");
    let conf = pdir.0.join("primary.conf");
    std::fs::write(
        &conf,
        "user default off\n\
         user repl on >rp -@all +psync +replconf +ping\n\
         user admin on >ap ~* &* +@all\n",
    )
    .unwrap();
    let primary = Roost::start(&pdir.0, &[conf.to_str().unwrap()]);
    // With the default user off, `start` sees only that it answers, not that its log
    // is loaded (a write meanwhile is refused as LOADING).
    primary.wait_until_loaded_as("admin", "ap");
    let rdir = TempDir::new("acl-replica");
    let replica = Roost::start(
        &rdir.0,
        &[
            "--replicaof",
            &format!("127.0.0.1 {}", primary.port),
            "--masteruser",
            "repl",
            "--masterauth",
            "rp",
        ],
    );
    let url = format!("redis://admin:ap@127.0.0.1:{}/", primary.port);
    let mut admin = redis::Client::open(url).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("SET")
        .arg(&["session:1", "alice"])
        .query(&mut admin)
        .unwrap();
    let mut r = replica.client();
    common::process::wait_for(
        "the write to reach the replica",
        std::time::Duration::from_secs(30),
        || {
            redis::cmd("GET")
                .arg("session:1")
                .query::<Option<String>>(&mut r)
                .ok()
                .flatten()
                .as_deref()
                == Some("alice")
        },
    );
    // The link runs as `repl`, which can do nothing else.
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    assert!(list.lines().any(|l| l.contains(" user=repl ")), "{list}");
    let url = format!("redis://repl:rp@127.0.0.1:{}/", primary.port);
    let mut repl = redis::Client::open(url).unwrap().get_connection().unwrap();
    assert_eq!(
        err_text(redis::cmd("GET").arg("session:1").query(&mut repl)),
        "NOPERM User repl has no permissions to run the 'get' command"
    );
}
