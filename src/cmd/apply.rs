//! The one entry that applies records from the log and the replication stream: each
//! record runs through its command's handler as a client that skips the gates and does
//! not journal again (the records are in the log already, or come from the primary,
//! numbered).

use std::sync::Arc;

use bytes::Bytes;

use super::Ctx;
use crate::log;
use crate::protocol::Reply;
use crate::session::{Client, ClientInfo};
use crate::state::Shared;

/// The client that applies a stream of records: authenticated, and not journaling
/// what it applies (the records are already in the log, or come from the primary).
pub fn stream_client() -> Client {
    // A user with every permission: records are not checked against ACLs.
    let user = crate::acl::Acl::new(super::acl::catalog())
        .default_user()
        .clone();
    let mut client = Client::new(Arc::new(ClientInfo::detached()), user, true);
    client.from_primary = true;
    client
}

/// Applies one logged or replicated record through its command's handler, with every
/// key live (see `store::applying_stream`). The caller holds the write gate.
pub fn apply_record(shared: &Shared, client: &mut Client, lsn: u64, args: &[Bytes]) {
    let table = super::table();
    let spec = match table.resolve(args) {
        Ok(id) => table.spec(id),
        Err(reply) => {
            log::warning(&format!("Record {lsn} is not a valid command: {reply:?}"));
            return;
        }
    };
    let mut ctx = Ctx { shared, client };
    let reply = crate::store::applying_stream(|| (spec.handler)(&mut ctx, args))
        .unwrap_or_else(|error| error);
    if let Reply::Error(e) = reply {
        log::warning(&format!("Record {lsn} failed when applied: {e}"));
    }
}

/// Applies records in order; the commands between MULTI and EXEC are held back until
/// the EXEC, so a transaction cut off by a crash is not half applied. A transaction
/// closed by DISCARD (a script abandoned by SHUTDOWN NOSAVE) is dropped.
pub struct Replayer<'a> {
    shared: &'a Shared,
    client: Client,
    transaction: Option<Vec<Vec<Bytes>>>,
}

impl<'a> Replayer<'a> {
    pub fn new(shared: &'a Shared) -> Replayer<'a> {
        Replayer {
            shared,
            client: stream_client(),
            transaction: None,
        }
    }

    pub fn apply(&mut self, lsn: u64, args: &[Bytes]) {
        if args[0].eq_ignore_ascii_case(b"multi") {
            self.transaction = Some(Vec::new());
        } else if args[0].eq_ignore_ascii_case(b"exec") {
            for queued in self.transaction.take().unwrap_or_default() {
                self.run(lsn, &queued);
            }
        } else if args[0].eq_ignore_ascii_case(b"discard") {
            if let Some(queued) = self.transaction.take() {
                log::warning(&format!(
                    "Record {lsn} discards an unfinished transaction; its {} command(s) were not applied",
                    queued.len()
                ));
            }
        } else if let Some(queued) = &mut self.transaction {
            queued.push(args.to_vec());
        } else {
            self.run(lsn, args);
        }
    }

    fn run(&mut self, lsn: u64, args: &[Bytes]) {
        let _gate = self.shared.keyspace.write_gate();
        apply_record(self.shared, &mut self.client, lsn, args);
    }

    /// Ends the replay; true if the records ended inside a transaction (a crash during
    /// EXEC or a script), whose commands were not applied.
    pub fn finish(self) -> bool {
        let Some(queued) = self.transaction else {
            return false;
        };
        log::warning(&format!(
            "The log ends inside a transaction; its {} command(s) were not applied",
            queued.len()
        ));
        true
    }
}
