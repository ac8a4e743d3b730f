//! Pub/sub: exact frames in RESP2 and RESP3, patterns, the subscribed-mode rules,
//! PUBSUB introspection, and a slow subscriber cut off at its output limit.

mod common;

use std::io::Read;
use std::time::Duration;

use common::TestServer;

#[test]
fn resp2_subscribe_publish_and_unsubscribe_frames() {
    let server = TestServer::start();
    let mut sub = server.raw();
    sub.roundtrip(
        &[b"SUBSCRIBE", b"news", b"sport"],
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n",
    );
    sub.roundtrip(
        &[b"PSUBSCRIBE", b"n*"],
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n",
    );
    let mut con = server.client();
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg("hello")
        .query(&mut con)
        .unwrap();
    assert_eq!(receivers, 2, "the channel and the pattern");
    sub.expect(b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
    sub.expect(b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg("nobody")
        .arg("x")
        .query(&mut con)
        .unwrap();
    assert_eq!(receivers, 1, "only the pattern matches");
    sub.expect(b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$6\r\nnobody\r\n$1\r\nx\r\n");

    // Subscribed RESP2 clients may only (un)subscribe, PING, QUIT or RESET.
    sub.roundtrip(
        &[b"GET", b"k"],
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    sub.roundtrip(&[b"PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    sub.roundtrip(&[b"PING", b"hi"], b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");

    sub.roundtrip(
        &[b"UNSUBSCRIBE"],
        b"*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:2\r\n*3\r\n$11\r\nunsubscribe\r\n$5\r\nsport\r\n:1\r\n",
    );
    sub.roundtrip(
        &[b"PUNSUBSCRIBE"],
        b"*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n",
    );
    sub.roundtrip(
        &[b"UNSUBSCRIBE"],
        b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
    );
    // Out of subscribed mode, everything works again.
    sub.roundtrip(&[b"PING"], b"+PONG\r\n");
    sub.roundtrip(&[b"GET", b"k"], b"$-1\r\n");
}

#[test]
fn resp3_clients_get_push_frames_and_keep_issuing_commands() {
    let server = TestServer::start();
    let mut sub = server.raw();
    sub.hello3();
    sub.roundtrip(
        &[b"SUBSCRIBE", b"ch"],
        b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    );
    sub.roundtrip(&[b"GET", b"k"], b"_\r\n");
    sub.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut con = server.client();
    let _: i64 = redis::cmd("PUBLISH")
        .arg("ch")
        .arg("m")
        .query(&mut con)
        .unwrap();
    sub.expect(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n");
}

#[test]
fn pubsub_introspection_and_client_list() {
    let server = TestServer::start();
    let mut a = server.raw();
    a.roundtrip(
        &[b"SUBSCRIBE", b"s1"],
        b"*3\r\n$9\r\nsubscribe\r\n$2\r\ns1\r\n:1\r\n",
    );
    let mut b = server.raw();
    b.roundtrip(
        &[b"SUBSCRIBE", b"s1", b"s2"],
        b"*3\r\n$9\r\nsubscribe\r\n$2\r\ns1\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\ns2\r\n:2\r\n",
    );
    b.roundtrip(
        &[b"PSUBSCRIBE", b"x*"],
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\nx*\r\n:3\r\n",
    );
    let mut con = server.client();
    let mut channels: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .query(&mut con)
        .unwrap();
    channels.sort();
    assert_eq!(channels, ["s1", "s2"]);
    let matching: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .arg("*2")
        .query(&mut con)
        .unwrap();
    assert_eq!(matching, ["s2"]);
    let numsub: Vec<redis::Value> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("s1")
        .arg("s2")
        .arg("s3")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        numsub,
        vec![
            redis::Value::BulkString(b"s1".to_vec()),
            redis::Value::Int(2),
            redis::Value::BulkString(b"s2".to_vec()),
            redis::Value::Int(1),
            redis::Value::BulkString(b"s3".to_vec()),
            redis::Value::Int(0),
        ]
    );
    // In RESP3 too it is a flat array (redis-py slices it as one), not a map.
    let mut raw = server.raw();
    raw.hello3();
    raw.roundtrip(
        &[b"PUBSUB", b"NUMSUB", b"s1", b"s3"],
        b"*4\r\n$2\r\ns1\r\n:2\r\n$2\r\ns3\r\n:0\r\n",
    );
    let numpat: i64 = redis::cmd("PUBSUB").arg("NUMPAT").query(&mut con).unwrap();
    assert_eq!(numpat, 1);
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut con)
        .unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.contains("flags=P") && list.contains("sub=2 psub=1"),
        "{list}"
    );
    // A closed subscriber leaves nothing behind.
    drop(a);
    drop(b);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let channels: Vec<String> = redis::cmd("PUBSUB")
            .arg("CHANNELS")
            .query(&mut con)
            .unwrap();
        if channels.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{channels:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_subscriber_that_does_not_read_is_cut_off_at_its_output_limit() {
    let server = TestServer::start();
    let mut con = server.client();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 1mb 0 0")
        .query(&mut con)
        .unwrap();
    let mut slow = server.raw();
    slow.roundtrip(
        &[b"SUBSCRIBE", b"firehose"],
        b"*3\r\n$9\r\nsubscribe\r\n$8\r\nfirehose\r\n:1\r\n",
    );
    // Far more than the socket buffers and the limit can hold, never read.
    let message = "x".repeat(64 * 1024);
    let mut pipe = redis::pipe();
    for _ in 0..400 {
        pipe.cmd("PUBLISH").arg("firehose").arg(&message).ignore();
    }
    let () = pipe.query(&mut con).unwrap();
    // The server closed the subscriber: reading drains what was sent, then EOF.
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut received = Vec::new();
    let result = slow.stream.read_to_end(&mut received);
    assert!(result.is_ok(), "the connection was not closed: {result:?}");
    assert!(received.len() < 400 * message.len());
    let channels: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .query(&mut con)
        .unwrap();
    assert!(channels.is_empty());
}

#[test]
fn sharded_pubsub_frames_counts_and_namespace() {
    let server = TestServer::start();
    let mut sub = server.raw();
    sub.roundtrip(
        &[b"SSUBSCRIBE", b"orders", b"carts"],
        b"*3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n*3\r\n$10\r\nssubscribe\r\n$5\r\ncarts\r\n:2\r\n",
    );
    // Channels and patterns are counted apart from shard channels, as in Redis.
    sub.roundtrip(
        &[b"SUBSCRIBE", b"orders"],
        b"*3\r\n$9\r\nsubscribe\r\n$6\r\norders\r\n:1\r\n",
    );
    let mut con = server.client();
    let spublish = |con: &mut redis::Connection, channel: &str| -> i64 {
        redis::cmd("SPUBLISH")
            .arg(channel)
            .arg("m")
            .query(con)
            .unwrap()
    };
    assert_eq!(spublish(&mut con, "orders"), 1);
    sub.expect(b"*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$1\r\nm\r\n");
    // PUBLISH reaches the channel, not the shard channel of the same name.
    let n: i64 = redis::cmd("PUBLISH")
        .arg("orders")
        .arg("p")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1);
    sub.expect(b"*3\r\n$7\r\nmessage\r\n$6\r\norders\r\n$1\r\np\r\n");
    // CLIENT LIST counts each kind; the client is a pubsub client.
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut con)
        .unwrap();
    assert!(list.contains(" sub=1 psub=0 ssub=2 "), "{list}");
    assert!(list.contains(" flags=P "), "{list}");
    // Subscribed in RESP2: only the pub/sub commands, shard ones included.
    sub.roundtrip(
        &[b"SPUBLISH", b"x", b"y"],
        b"-ERR Can't execute 'spublish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    sub.roundtrip(
        &[b"SUNSUBSCRIBE"],
        b"*3\r\n$12\r\nsunsubscribe\r\n$6\r\norders\r\n:1\r\n*3\r\n$12\r\nsunsubscribe\r\n$5\r\ncarts\r\n:0\r\n",
    );
    assert_eq!(spublish(&mut con, "orders"), 0);
    sub.roundtrip(
        &[b"UNSUBSCRIBE"],
        b"*3\r\n$11\r\nunsubscribe\r\n$6\r\norders\r\n:0\r\n",
    );
    sub.roundtrip(&[b"GET", b"k"], b"$-1\r\n");
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut con)
        .unwrap();
    assert_eq!(list, "");
}

#[test]
fn resp3_spublish_to_itself_answers_before_the_message_as_redis_7_2() {
    // Redis 7.2 holds back pushes to the client running a command until its reply is
    // out (7.0 sent the message first), for SPUBLISH as for PUBLISH.
    let server = TestServer::start();
    let mut c = server.raw();
    c.hello3();
    c.roundtrip(
        &[b"SSUBSCRIBE", b"self"],
        b">3\r\n$10\r\nssubscribe\r\n$4\r\nself\r\n:1\r\n",
    );
    c.roundtrip(
        &[b"SPUBLISH", b"self", b"hi"],
        b":1\r\n>3\r\n$8\r\nsmessage\r\n$4\r\nself\r\n$2\r\nhi\r\n",
    );
    c.roundtrip(&[b"GET", b"k"], b"_\r\n");
    c.roundtrip(
        &[b"SUNSUBSCRIBE"],
        b">3\r\n$12\r\nsunsubscribe\r\n$4\r\nself\r\n:0\r\n",
    );
}

#[test]
fn shard_channels_obey_acl_channel_rules_as_publish_does() {
    let server = TestServer::start();
    let mut admin = server.client();
    let () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("app")
        .arg("on")
        .arg(">pw")
        .arg("resetchannels")
        .arg("&orders.*")
        .arg("+@all")
        .query(&mut admin)
        .unwrap();
    let mut app = server.raw();
    app.roundtrip(&[b"AUTH", b"app", b"pw"], b"+OK\r\n");
    app.roundtrip(&[b"SPUBLISH", b"orders.1", b"m"], b":0\r\n");
    app.roundtrip(
        &[b"SPUBLISH", b"carts.1", b"m"],
        b"-NOPERM No permissions to access a channel\r\n",
    );
    app.roundtrip(
        &[b"SSUBSCRIBE", b"orders.1", b"carts.1"],
        b"-NOPERM No permissions to access a channel\r\n",
    );
    // A shard channel is not a key: no key pattern is needed for it.
    app.roundtrip(
        &[b"SSUBSCRIBE", b"orders.1"],
        b"*3\r\n$10\r\nssubscribe\r\n$8\r\norders.1\r\n:1\r\n",
    );
    // Taking the channel away closes the subscriber, as for SUBSCRIBE.
    let () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("app")
        .arg("resetchannels")
        .query(&mut admin)
        .unwrap();
    assert!(app.read_to_close().is_empty());
}
