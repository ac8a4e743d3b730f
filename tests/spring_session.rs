//! Spring Session's indexed repository (`RedisIndexedSessionRepository`), replayed
//! command for command as ../shared/CLIENTS.md records it: the hash per session, the
//! "expires" shadow key, the minute buckets, the principal index, and the keyspace
//! events its listener depends on (`del` and `expired` on `__keyevent@0__`, with the key
//! name as payload).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod common;
use common::TestServer;

const PREFIX: &str = "spring:session:";
const INDEX: &str = "spring:session:index:org.springframework.session.FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME:alice";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What the repository sends to save a new session with a `max_inactive` interval.
fn save_new(con: &mut redis::Connection, id: &str, max_inactive_ms: u64) {
    let now = now_ms();
    let session = format!("{PREFIX}sessions:{id}");
    let shadow = format!("{PREFIX}sessions:expires:{id}");
    let expiry_minute = (now + max_inactive_ms) / 60_000 * 60_000 + 60_000;
    let bucket = format!("{PREFIX}expirations:{expiry_minute}");
    let () = redis::cmd("HMSET")
        .arg(&session)
        .arg("creationTime")
        .arg(now)
        .arg("lastAccessedTime")
        .arg(now)
        .arg("maxInactiveInterval")
        .arg(max_inactive_ms / 1000)
        .arg("sessionAttr:SPRING_SECURITY_CONTEXT")
        .arg(b"\xac\xed\x00\x05t\x00\x05alice".as_slice())
        .query(con)
        .unwrap();
    let _: i64 = redis::cmd("SADD").arg(INDEX).arg(id).query(con).unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg(format!("{PREFIX}event:0:created:{id}"))
        .arg(b"\xac\xed\x00\x05sr".as_slice())
        .query(con)
        .unwrap();
    let _: i64 = redis::cmd("APPEND")
        .arg(&shadow)
        .arg("")
        .query(con)
        .unwrap();
    let _: i64 = redis::cmd("PEXPIRE")
        .arg(&shadow)
        .arg(max_inactive_ms)
        .query(con)
        .unwrap();
    let _: i64 = redis::cmd("SADD")
        .arg(&bucket)
        .arg(format!("expires:{id}"))
        .query(con)
        .unwrap();
    let _: i64 = redis::cmd("PEXPIRE")
        .arg(&bucket)
        .arg(max_inactive_ms + 300_000)
        .query(con)
        .unwrap();
    let _: i64 = redis::cmd("PEXPIRE")
        .arg(&session)
        .arg(max_inactive_ms + 300_000)
        .query(con)
        .unwrap();
}

#[test]
fn the_indexed_repository_sequence_and_its_keyspace_events() {
    let server = TestServer::start();
    let mut con = server.client();
    // Startup: read the setting, add what the listener needs (E, g, x).
    let setting: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query(&mut con)
        .unwrap();
    assert_eq!(setting, ["notify-keyspace-events", ""]);
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("Egx")
        .query(&mut con)
        .unwrap();
    // The listener connection.
    let mut listener_con = server.client();
    let mut listener = listener_con.as_pubsub();
    listener.subscribe("__keyevent@0__:del").unwrap();
    listener.subscribe("__keyevent@0__:expired").unwrap();
    listener
        .psubscribe("spring:session:event:0:created:*")
        .unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();

    save_new(&mut con, "s1", 1_800_000);
    let created = listener.get_message().unwrap();
    assert_eq!(
        created.get_channel_name(),
        "spring:session:event:0:created:s1"
    );

    // What is stored: the hash with its fields, and TTLs 5 minutes apart.
    let fields: std::collections::HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
        .arg("spring:session:sessions:s1")
        .query(&mut con)
        .unwrap();
    assert_eq!(fields["maxInactiveInterval"], b"1800");
    assert!(fields.contains_key("sessionAttr:SPRING_SECURITY_CONTEXT"));
    let hash_ttl: i64 = redis::cmd("PTTL")
        .arg("spring:session:sessions:s1")
        .query(&mut con)
        .unwrap();
    let shadow_ttl: i64 = redis::cmd("PTTL")
        .arg("spring:session:sessions:expires:s1")
        .query(&mut con)
        .unwrap();
    assert!((2_099_000..=2_100_000).contains(&hash_ttl), "{hash_ttl}");
    assert!(
        (1_799_000..=1_800_000).contains(&shadow_ttl),
        "{shadow_ttl}"
    );
    let shadow: Vec<u8> = redis::cmd("GET")
        .arg("spring:session:sessions:expires:s1")
        .query(&mut con)
        .unwrap();
    assert!(shadow.is_empty());
    let members: Vec<String> = redis::cmd("SMEMBERS").arg(INDEX).query(&mut con).unwrap();
    assert_eq!(members, ["s1"]);

    // changeSessionId: RENAME the hash and the shadow key; TTLs move with them.
    let () = redis::cmd("RENAME")
        .arg("spring:session:sessions:s1")
        .arg("spring:session:sessions:s2")
        .query(&mut con)
        .unwrap();
    let () = redis::cmd("RENAME")
        .arg("spring:session:sessions:expires:s1")
        .arg("spring:session:sessions:expires:s2")
        .query(&mut con)
        .unwrap();
    let moved_ttl: i64 = redis::cmd("PTTL")
        .arg("spring:session:sessions:s2")
        .query(&mut con)
        .unwrap();
    assert!(moved_ttl > 2_000_000);
    // Renaming a key that is gone is an error the repository tolerates.
    let err = redis::cmd("RENAME")
        .arg("spring:session:sessions:expires:s1")
        .arg("x")
        .query::<()>(&mut con)
        .unwrap_err();
    assert_eq!(err.detail(), Some("no such key"));

    // deleteById: the shadow key's DEL is what the listener turns into a
    // SessionDeletedEvent, so its `del` event must carry the key name.
    let _: i64 = redis::cmd("SREM")
        .arg(INDEX)
        .arg("s2")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg("spring:session:sessions:expires:s2")
        .query(&mut con)
        .unwrap();
    let deleted = listener.get_message().unwrap();
    assert_eq!(deleted.get_channel_name(), "__keyevent@0__:del");
    assert_eq!(
        deleted.get_payload::<String>().unwrap(),
        "spring:session:sessions:expires:s2"
    );

    // A session whose shadow key expires: the `expired` event (from active expiry, no
    // reader needed) names the shadow key, and the hash is still there to load.
    save_new(&mut con, "s3", 200);
    let _created = listener.get_message().unwrap();
    let expired = listener.get_message().unwrap();
    assert_eq!(expired.get_channel_name(), "__keyevent@0__:expired");
    assert_eq!(
        expired.get_payload::<String>().unwrap(),
        "spring:session:sessions:expires:s3"
    );
    let fields: std::collections::HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
        .arg("spring:session:sessions:s3")
        .query(&mut con)
        .unwrap();
    assert_eq!(fields["maxInactiveInterval"], b"0");

    // The cleanup cron: SMEMBERS a minute bucket, DEL it, EXISTS each shadow key.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("spring:session:expirations:*")
        .query(&mut con)
        .unwrap();
    assert!(!keys.is_empty());
    for bucket in keys {
        let members: Vec<String> = redis::cmd("SMEMBERS").arg(&bucket).query(&mut con).unwrap();
        let _: i64 = redis::cmd("DEL").arg(&bucket).query(&mut con).unwrap();
        for member in members {
            let _: i64 = redis::cmd("EXISTS")
                .arg(format!("{PREFIX}sessions:{member}"))
                .query(&mut con)
                .unwrap();
        }
    }
    let config: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query(&mut con)
        .unwrap();
    assert_eq!(config[1], "gxE");
}

/// The same repository as the restricted user `spring` of tests/compat/session_users.conf
/// (`~spring:session:*`, its "created" channel pattern and the two keyspace-event channels,
/// `+@read +@write +@pubsub -@dangerous`), on the roost binary started from that file.
/// Spring Session's startup CONFIG GET/SET of `notify-keyspace-events` is @dangerous: the
/// application runs with `ConfigureRedisAction.NO_OP` and the server's configuration sets
/// `Egx`. The rest of its job (save, the listener's subscriptions and events,
/// changeSessionId, deleteById, expiry, the cleanup of a minute bucket) needs nothing
/// more; KEYS, FLUSHALL, CONFIG, keys and channels beyond its own are NOPERM.
#[test]
fn the_indexed_repository_as_a_restricted_user() {
    use common::process::{Roost, TempDir};
    let dir = TempDir::new("spring-acl");
    let users = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/compat/session_users.conf"
    );
    let roost = Roost::start(&dir.0, &[users]);
    roost.wait_until_loaded_as("admin", "admin-secret");
    let url = |user: &str| format!("redis://{user}@127.0.0.1:{}/", roost.port);
    let connect = |user: &str| {
        redis::Client::open(url(user))
            .unwrap()
            .get_connection()
            .unwrap()
    };
    let mut admin = connect("admin:admin-secret");
    let mut con = connect("spring:spring-secret");
    let refused = |err: redis::RedisError| {
        format!(
            "{} {}",
            err.code().unwrap_or("?"),
            err.detail().unwrap_or("")
        )
    };

    // Startup: CONFIG is refused; the server was configured with what the listener needs.
    let err = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query::<Vec<String>>(&mut con)
        .unwrap_err();
    assert_eq!(
        refused(err),
        "NOPERM User spring has no permissions to run the 'config|get' command"
    );
    let setting: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query(&mut admin)
        .unwrap();
    assert_eq!(setting[1], "gxE");

    let mut listener_con = connect("spring:spring-secret");
    let mut listener = listener_con.as_pubsub();
    listener.subscribe("__keyevent@0__:del").unwrap();
    listener.subscribe("__keyevent@0__:expired").unwrap();
    listener
        .psubscribe("spring:session:event:0:created:*")
        .unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();

    save_new(&mut con, "s1", 1_800_000);
    let created = listener.get_message().unwrap();
    assert_eq!(
        created.get_channel_name(),
        "spring:session:event:0:created:s1"
    );
    let fields: std::collections::HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
        .arg("spring:session:sessions:s1")
        .query(&mut con)
        .unwrap();
    assert_eq!(fields["maxInactiveInterval"], b"1800");
    // findByPrincipalName: the index set.
    let members: Vec<String> = redis::cmd("SMEMBERS").arg(INDEX).query(&mut con).unwrap();
    assert_eq!(members, ["s1"]);

    // changeSessionId.
    for (from, to) in [
        ("spring:session:sessions:s1", "spring:session:sessions:s2"),
        (
            "spring:session:sessions:expires:s1",
            "spring:session:sessions:expires:s2",
        ),
    ] {
        let () = redis::cmd("RENAME")
            .arg(from)
            .arg(to)
            .query(&mut con)
            .unwrap();
    }
    // deleteById: the shadow key's `del` event.
    let _: i64 = redis::cmd("SREM")
        .arg(INDEX)
        .arg("s2")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg("spring:session:sessions:expires:s2")
        .arg("spring:session:sessions:s2")
        .query(&mut con)
        .unwrap();
    for key in [
        "spring:session:sessions:expires:s2",
        "spring:session:sessions:s2",
    ] {
        let deleted = listener.get_message().unwrap();
        assert_eq!(deleted.get_channel_name(), "__keyevent@0__:del");
        assert_eq!(deleted.get_payload::<String>().unwrap(), key);
    }

    // Expiry: the shadow key's `expired` event.
    save_new(&mut con, "s3", 200);
    let _created = listener.get_message().unwrap();
    let expired = listener.get_message().unwrap();
    assert_eq!(expired.get_channel_name(), "__keyevent@0__:expired");
    assert_eq!(
        expired.get_payload::<String>().unwrap(),
        "spring:session:sessions:expires:s3"
    );

    // The cleanup cron names its minute buckets itself (no KEYS): SMEMBERS, DEL, EXISTS.
    let buckets: Vec<String> = redis::cmd("KEYS")
        .arg("spring:session:expirations:*")
        .query(&mut admin)
        .unwrap();
    assert!(!buckets.is_empty());
    for bucket in buckets {
        let members: Vec<String> = redis::cmd("SMEMBERS").arg(&bucket).query(&mut con).unwrap();
        let _: i64 = redis::cmd("DEL").arg(&bucket).query(&mut con).unwrap();
        for member in members {
            let _: i64 = redis::cmd("EXISTS")
                .arg(format!("{PREFIX}sessions:{member}"))
                .query(&mut con)
                .unwrap();
        }
    }

    // What the user may not do (Redis 7.2's texts).
    let _: () = redis::cmd("SET")
        .arg("other:1")
        .arg("kept")
        .query(&mut admin)
        .unwrap();
    let run = |command: &str| {
        format!("NOPERM User spring has no permissions to run the '{command}' command")
    };
    for (args, text) in [
        (vec!["FLUSHALL"], run("flushall")),
        (vec!["KEYS", "*"], run("keys")),
        (
            vec!["CONFIG", "SET", "notify-keyspace-events", ""],
            run("config|set"),
        ),
        (
            vec!["GET", "other:1"],
            "NOPERM No permissions to access a key".into(),
        ),
        (
            vec!["DEL", "other:1"],
            "NOPERM No permissions to access a key".into(),
        ),
        (
            vec!["PUBLISH", "other", "m"],
            "NOPERM No permissions to access a channel".into(),
        ),
    ] {
        let err = redis::cmd(args[0])
            .arg(&args[1..])
            .query::<redis::Value>(&mut con)
            .unwrap_err();
        assert_eq!(refused(err), text, "{args:?}");
    }
    // A subscription beyond its channels (the redis crate's pub/sub does not surface
    // the refusal, so this one is sent and read as bytes).
    use std::io::{Read, Write};
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", roost.port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"AUTH spring spring-secret\r\nPSUBSCRIBE __keyevent@*__:*\r\n")
        .unwrap();
    let expected: &[u8] = b"+OK\r\n-NOPERM No permissions to access a channel\r\n";
    let mut reply = vec![0; expected.len()];
    raw.read_exact(&mut reply).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&reply),
        String::from_utf8_lossy(expected)
    );
    let kept: String = redis::cmd("GET").arg("other:1").query(&mut admin).unwrap();
    assert_eq!(kept, "kept");
}
