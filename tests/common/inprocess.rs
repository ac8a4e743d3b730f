//! A server without a socket: its shared state built as the real server builds it,
//! commands run through `cmd::dispatch` on the test's own thread, replies read as the
//! bytes a client would receive. The test's thread holds a manual clock, so tests of
//! expiry and idle time advance time instead of sleeping, and nothing runs behind the
//! test's back (no active expiry, no replication link, no log writer).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use roost::clock::ManualClock;
use roost::cmd::{self, Ctx};
use roost::config::Config;
use roost::session::Client;
use roost::state::Shared;

pub struct InProcess {
    pub shared: Arc<Shared>,
    pub clock: ManualClock,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        super::remove_test_dir(&self.shared.config().dir.clone());
    }
}

impl InProcess {
    pub fn start() -> InProcess {
        Self::with_config(|_| {})
    }

    /// Builds a server's state after `adjust` has changed the default test configuration
    /// (no log, as `TestServer` starts).
    pub fn with_config(adjust: impl FnOnce(&mut Config)) -> InProcess {
        let clock = ManualClock::start();
        InProcess {
            shared: roost::server::build_state(super::test_config(adjust)),
            clock,
        }
    }

    /// A new client, listed in CLIENT LIST as a connection from 127.0.0.1.
    pub fn client(&self) -> Session<'_> {
        self.client_from(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// A new client connected from `addr`.
    #[allow(dead_code)]
    pub fn client_from(&self, addr: SocketAddr) -> Session<'_> {
        let addr = roost::session::PeerAddr::from(addr);
        let info = self.shared.clients.register(addr.clone(), addr);
        Session {
            shared: &self.shared,
            client: Client::new(
                info,
                self.shared.acl.default_user().clone(),
                !self.shared.requires_auth(),
            ),
        }
    }

    pub fn advance_ms(&self, ms: u64) {
        self.clock.advance_ms(ms);
    }

    /// Applies `args` as a record of the log or the primary's stream would be applied.
    pub fn apply_record(&self, lsn: u64, args: &[&[u8]]) {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut client = cmd::apply::stream_client();
        let _gate = self.shared.keyspace.write_gate();
        cmd::apply::apply_record(&self.shared, &mut client, lsn, &args);
    }
}

/// One client of an `InProcess` server.
pub struct Session<'a> {
    shared: &'a Shared,
    pub client: Client,
}

impl Session<'_> {
    /// Runs one command; returns the reply as encoded for this client's protocol.
    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let reply = cmd::dispatch(
            &mut Ctx {
                shared: self.shared,
                client: &mut self.client,
            },
            args,
        );
        let mut out = BytesMut::new();
        reply.encode(self.client.proto, &mut out);
        out.to_vec()
    }

    /// Runs one command and checks its reply byte for byte (as `Raw::roundtrip`).
    pub fn roundtrip(&mut self, args: &[&[u8]], expected: &[u8]) {
        let got = self.call(args);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "reply to {:?}",
            args.iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>()
        );
    }
}
