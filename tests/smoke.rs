mod common;

use common::TestServer;

#[test]
fn set_then_get_over_resp2_and_raw_bytes() {
    let server = TestServer::start();
    let mut con = server.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");
    let mut raw = server.raw();
    raw.roundtrip(&[b"GET", b"missing"], b"$-1\r\n");
    raw.send(b"PING\r\n*1\r\n$4\r\nPING\r\n");
    raw.expect(b"+PONG\r\n+PONG\r\n");
}
