//! Client-side caching: CLIENT TRACKING's invalidation messages, exact bytes.

mod common;

use common::TestServer;

fn set(server: &TestServer, key: &str, value: &str) {
    let mut con = server.client();
    let () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query(&mut con)
        .unwrap();
}

#[test]
fn resp3_default_mode_invalidates_each_key_read_once() {
    let server = TestServer::start();
    let mut c = server.raw();
    c.hello3();
    c.roundtrip(&[b"CLIENT", b"TRACKING", b"on"], b"+OK\r\n");
    c.roundtrip(&[b"CLIENT", b"GETREDIR"], b":0\r\n");
    c.roundtrip(&[b"GET", b"session:1"], b"_\r\n");
    c.roundtrip(&[b"GET", b"untouched"], b"_\r\n");
    set(&server, "session:1", "v1");
    c.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$9\r\nsession:1\r\n");
    // The key is forgotten until read again: a second change sends nothing...
    set(&server, "session:1", "v2");
    c.roundtrip(&[b"GET", b"session:1"], b"$2\r\nv2\r\n");
    // ...and after the read, the next change is announced again.
    set(&server, "session:1", "v3");
    c.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$9\r\nsession:1\r\n");
    // Own writes are announced too, unless NOLOOP.
    c.roundtrip(&[b"GET", b"k"], b"_\r\n");
    c.roundtrip(
        &[b"SET", b"k", b"1"],
        b"+OK\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n",
    );
    c.roundtrip(&[b"CLIENT", b"TRACKING", b"on", b"NOLOOP"], b"+OK\r\n");
    c.roundtrip(&[b"GET", b"k"], b"$1\r\n1\r\n");
    c.roundtrip(&[b"SET", b"k", b"2"], b"+OK\r\n");
    // FLUSHALL invalidates everything with a null key list.
    c.roundtrip(&[b"FLUSHALL"], b"+OK\r\n>2\r\n$10\r\ninvalidate\r\n_\r\n");
    c.roundtrip(&[b"CLIENT", b"TRACKING", b"off"], b"+OK\r\n");
    c.roundtrip(&[b"CLIENT", b"GETREDIR"], b":-1\r\n");
}

#[test]
fn bcast_announces_every_change_under_a_prefix() {
    let server = TestServer::start();
    let mut c = server.raw();
    c.hello3();
    c.roundtrip(
        &[
            b"CLIENT",
            b"TRACKING",
            b"on",
            b"BCAST",
            b"PREFIX",
            b"session:",
        ],
        b"+OK\r\n",
    );
    set(&server, "other", "x");
    set(&server, "session:9", "x");
    c.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$9\r\nsession:9\r\n");
    c.roundtrip(
        &[b"CLIENT", b"TRACKING", b"on"],
        b"-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.\r\n",
    );
}

#[test]
fn optin_tracks_only_after_caching_yes() {
    let server = TestServer::start();
    let mut c = server.raw();
    c.hello3();
    c.roundtrip(&[b"CLIENT", b"TRACKING", b"on", b"OPTIN"], b"+OK\r\n");
    c.roundtrip(&[b"GET", b"a"], b"_\r\n");
    c.roundtrip(&[b"CLIENT", b"CACHING", b"yes"], b"+OK\r\n");
    c.roundtrip(&[b"GET", b"b"], b"_\r\n");
    set(&server, "a", "1");
    set(&server, "b", "1");
    c.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nb\r\n");
    c.roundtrip(
        &[b"CLIENT", b"CACHING", b"no"],
        b"-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.\r\n",
    );
}

#[test]
fn resp2_clients_redirect_to_a_subscriber_of_redis_invalidate() {
    let server = TestServer::start();
    let mut listener = server.raw();
    listener.roundtrip(&[b"CLIENT", b"ID"], b":1\r\n");
    listener.roundtrip(
        &[b"SUBSCRIBE", b"__redis__:invalidate"],
        b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n",
    );
    let mut c = server.raw();
    c.roundtrip(
        &[b"CLIENT", b"TRACKING", b"on", b"REDIRECT", b"1"],
        b"+OK\r\n",
    );
    c.roundtrip(&[b"CLIENT", b"GETREDIR"], b":1\r\n");
    c.roundtrip(&[b"GET", b"sess"], b"$-1\r\n");
    set(&server, "sess", "v");
    listener.expect(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$4\r\nsess\r\n");
    c.roundtrip(
        &[b"CLIENT", b"TRACKING", b"on", b"REDIRECT", b"999"],
        b"-ERR The client ID you want redirect to does not exist\r\n",
    );
}

#[test]
fn tracking_option_errors() {
    let server = TestServer::start();
    let mut c = server.raw();
    c.roundtrip(
        &[b"CLIENT", b"TRACKING", b"on", b"PREFIX", b"a"],
        b"-ERR PREFIX option requires BCAST mode to be enabled\r\n",
    );
    c.roundtrip(
        &[b"CLIENT", b"TRACKING", b"on", b"OPTIN", b"OPTOUT"],
        b"-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n",
    );
    c.roundtrip(
        &[b"CLIENT", b"TRACKING", b"on", b"BCAST", b"OPTIN"],
        b"-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n",
    );
    c.roundtrip(
        &[b"CLIENT", b"TRACKING", b"on", b"BCAST", b"PREFIX", b"a", b"PREFIX", b"ab"],
        b"-ERR Prefix 'a' overlaps with another provided prefix 'ab'. Prefixes for a single client must not overlap.\r\n",
    );
    c.roundtrip(
        &[b"CLIENT", b"TRACKING", b"maybe"],
        b"-ERR syntax error\r\n",
    );
    c.roundtrip(
        &[b"CLIENT", b"CACHING", b"yes"],
        b"-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled\r\n",
    );
    c.roundtrip(
        &[b"CLIENT", b"TRACKINGINFO"],
        b"*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n",
    );
}
