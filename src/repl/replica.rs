//! The replica's side: one task keeps a link to the primary, resynchronises when it
//! breaks, and applies the stream.
//!
//! Handshake as a Redis replica does it: `PING`, `AUTH` (masterauth / masteruser),
//! `REPLCONF listening-port`, `REPLCONF capa eof capa psync2 capa roost`, `PSYNC
//! <replid> <offset>`. A redis-server primary answers `+FULLRESYNC` with an RDB
//! transfer instead of records: `from_redis` tells the two apart and follows Redis (its
//! `PSYNC` then names Redis's id and byte offset, and Redis's `+CONTINUE` goes there
//! too). From a Roost primary, a full
//! sync is received into a file first (as Redis's disk-based load), then the data set
//! is replaced from it while clients get `-LOADING`, and with `appendonly yes` that file
//! becomes the replica's log base. Records are applied whole transactions at a time and
//! passed to the journal unchanged, so the replica's log and its own replicas carry the
//! primary's LSNs. `REPLCONF ACK <offset>` goes back after every batch applied and
//! every second.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{from_redis, CONTROL_GETACK, CONTROL_SNAPSHOT_END};
use crate::aof::record;
use crate::cmd::apply::{apply_record, stream_client};
use crate::session::Client;
use crate::state::replication::{FailoverState, LinkState};
use crate::state::Shared;
use crate::{clock, log};

/// The connection to the primary: plaintext, or TLS under `tls-replication yes`.
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub(super) type Link = BufReader<Box<dyn Stream>>;

/// Starts the link for the primary configured now, on a thread of its own with its own
/// event loop, so applying the stream never waits behind client connections; it ends
/// when the primary changes (its generation is stale) or the server shuts down.
pub fn start(shared: &Arc<Shared>) {
    let generation = shared.repl.ids().generation;
    let shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("roost-replica".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(link(shared, generation)),
                Err(e) => log::warning(&format!("Cannot start the replication link: {e}")),
            }
        });
    if let Err(e) = spawned {
        log::warning(&format!("Cannot start the replication link: {e}"));
    }
}

/// Keeps a link to the primary of `generation` up, resynchronising when it breaks.
async fn link(shared: Arc<Shared>, generation: u64) {
    {
        while shared.is_loading() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut attempt_logged = false;
        while current(&shared, generation) && !shared.is_shutting_down() {
            let result = follow(&shared, generation).await;
            shared.repl.link.set_state(LinkState::Connect);
            match result {
                Ok(()) => return,
                Err(e)
                    if current(&shared, generation)
                        && shared.repl.failover_state() == FailoverState::InProgress =>
                {
                    // The hand-over did not happen: this server stays the primary.
                    log::warning(&format!("Replication link to the failover target: {e}"));
                    let reason = "Failover target could not be reached";
                    crate::cmd::repl::abort_failover(&shared, reason, true);
                    return;
                }
                Err(e) => {
                    if !attempt_logged || shared.repl.link.last_io_ms.load(Ordering::Relaxed) > 0 {
                        log::warning(&format!("Replication link: {e}"));
                    }
                    attempt_logged = true;
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

pub(super) fn current(shared: &Shared, generation: u64) -> bool {
    let ids = shared.repl.ids();
    ids.generation == generation && ids.primary.is_some()
}

/// One connection to the primary: handshake, sync, then the stream until it breaks.
/// `Ok` means this link is no longer wanted.
async fn follow(shared: &Arc<Shared>, generation: u64) -> Result<(), String> {
    let Some((host, port)) = shared.repl.ids().primary.clone() else {
        return Ok(());
    };
    shared.repl.link.set_state(LinkState::Connecting);
    log::notice(&format!("Connecting to PRIMARY {host}:{port}"));
    let connect = TcpStream::connect((host.as_str(), port));
    let stream = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| format!("timed out connecting to {host}:{port}"))?
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let stream: Box<dyn Stream> = if shared.config().tls_replication {
        let Some(tls) = shared.tls.client() else {
            return Err("tls-replication is on but TLS is not configured".into());
        };
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("{host} cannot be checked against a certificate: {e}"))?;
        let handshake = tokio_rustls::TlsConnector::from(tls).connect(name, stream);
        Box::new(
            tokio::time::timeout(Duration::from_secs(5), handshake)
                .await
                .map_err(|_| format!("timed out in the TLS handshake with {host}:{port}"))?
                .map_err(|e| format!("TLS handshake with {host}:{port} failed: {e}"))?,
        )
    } else {
        Box::new(stream)
    };
    let mut link = BufReader::with_capacity(64 * 1024, stream);
    handshake(shared, &mut link).await?;

    let redis_resume = from_redis::resume_point(shared);
    let (replid, offset) = if let Some(resume) = redis_resume.clone() {
        resume
    } else if shared.repl.fresh.load(Ordering::Acquire) {
        ("?".to_string(), -1)
    } else {
        let replid = shared.repl.ids().replid.clone();
        (replid, shared.journal.last_lsn() as i64 + 1)
    };
    // A FAILOVER hands over: the target promotes itself on this marker.
    let failing_over = shared.repl.failover_state() == FailoverState::InProgress;
    let offset_text = offset.to_string();
    let mut psync = vec!["PSYNC", replid.as_str(), offset_text.as_str()];
    if failing_over {
        psync.push("FAILOVER");
    }
    send(&mut link, &psync).await?;
    // Bytes already read past the snapshot: the start of the live stream.
    let mut leftover = Vec::new();
    let answer = read_psync_answer(&mut link).await?;
    if failing_over {
        if answer.starts_with("+CONTINUE") || answer.starts_with("+FULLRESYNC") {
            crate::cmd::repl::failover_done(shared);
            log::notice(&format!(
                "FAILOVER to {host}:{port} complete: following it from offset {offset}."
            ));
        } else {
            log::warning(&format!(
                "The failover target answered PSYNC FAILOVER with {answer}"
            ));
            crate::cmd::repl::abort_failover(
                shared,
                "Failover target rejected psync request",
                true,
            );
            return Ok(());
        }
    }
    let mut words = answer.split_whitespace();
    match words.next() {
        Some("+FULLRESYNC") => {
            let id = words.next().ok_or("FULLRESYNC without an id")?.to_string();
            let at: u64 = words
                .next()
                .and_then(|w| w.parse().ok())
                .ok_or("FULLRESYNC without an offset")?;
            log::notice(&format!("Full resync from primary: {id}:{at}"));
            shared.repl.link.set_state(LinkState::Sync);
            if from_redis::transfer_is_rdb(shared, &mut link, &mut leftover).await? {
                from_redis::full_sync(shared, &mut link, &leftover, &id, at, generation).await?;
                if !current(shared, generation) {
                    return Ok(());
                }
                return from_redis::follow_stream(shared, link, generation).await;
            }
            // A Roost primary: the bytes read are the start of its snapshot.
            shared.repl.set_redis_history(generation, None);
            receive_snapshot(shared, &mut link, &id, at, generation, &mut leftover).await?;
        }
        Some("+CONTINUE") if redis_resume.is_some() => {
            from_redis::continued(shared, generation, words.next());
            log::notice(&format!(
                "Successful partial resynchronization with the Redis primary, continuing from offset {offset}."
            ));
            return from_redis::follow_stream(shared, link, generation).await;
        }
        Some("+CONTINUE") => {
            if let Some(id) = words.next() {
                let next = shared.journal.last_lsn() + 1;
                shared.repl.adopt_replid(id, Some(next as i64));
                shared.save_replid_if_logging();
            }
            log::notice(&format!(
                "Successful partial resynchronization with primary, continuing from offset {offset}."
            ));
        }
        _ => return Err(format!("unexpected answer to PSYNC: {answer}")),
    }
    if !current(shared, generation) {
        return Ok(());
    }
    let backlog_size = shared.config().repl_backlog_size as usize;
    shared.journal.ensure_backlog(backlog_size);
    shared.repl.link.set_state(LinkState::Connected);
    log::notice("PRIMARY <-> REPLICA sync: primary accepted, streaming");
    apply_stream(shared, link, leftover, generation).await
}

async fn handshake(shared: &Shared, link: &mut Link) -> Result<(), String> {
    send(link, &["PING"]).await?;
    let pong = read_line(link).await?;
    if !(pong.starts_with("+PONG") || pong.starts_with("-NOAUTH")) {
        return Err(format!("the primary answered PING with {pong}"));
    }
    let (user, password, port) = {
        let c = shared.config();
        // As Redis: a replica reached over TLS announces its TLS port.
        let port = if c.tls_replication && c.tls_port != 0 {
            c.tls_port
        } else {
            shared.listen_addr().port()
        };
        (c.masteruser.clone(), c.masterauth.clone(), port)
    };
    if let Some(password) = password {
        match &user {
            Some(user) => send(link, &["AUTH", user, &password]).await?,
            None => send(link, &["AUTH", &password]).await?,
        }
        let answer = read_line(link).await?;
        if !answer.starts_with("+OK") {
            return Err(format!("authentication with the primary failed: {answer}"));
        }
    }
    send(link, &["REPLCONF", "listening-port", &port.to_string()]).await?;
    expect_ok(link, "REPLCONF listening-port").await?;
    // `roost` asks a Roost primary for its own protocol; `eof` and `psync2` let a
    // redis-server primary send a diskless transfer and a new id with `+CONTINUE`.
    send(
        link,
        &["REPLCONF", "capa", "eof", "capa", "psync2", "capa", "roost"],
    )
    .await?;
    expect_ok(link, "REPLCONF capa").await
}

/// The answer to PSYNC, after the newlines a redis-server primary sends to keep the
/// link alive while it prepares a transfer.
async fn read_psync_answer(link: &mut Link) -> Result<String, String> {
    loop {
        let answer = read_line(link).await?;
        if !answer.is_empty() {
            return Ok(answer);
        }
    }
}

async fn expect_ok(link: &mut Link, what: &str) -> Result<(), String> {
    let answer = read_line(link).await?;
    if answer.starts_with('-') {
        return Err(format!("the primary refused {what}: {answer}"));
    }
    Ok(())
}

async fn send(link: &mut Link, args: &[&str]) -> Result<(), String> {
    let mut out = Vec::new();
    crate::protocol::encode_request(&mut out, args);
    link.get_mut()
        .write_all(&out)
        .await
        .map_err(|e| format!("writing to the primary: {e}"))
}

pub(super) async fn read_line(link: &mut Link) -> Result<String, String> {
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_secs(60), link.read_line(&mut line))
        .await
        .map_err(|_| "the primary did not answer".to_string())?
        .map_err(|e| format!("reading from the primary: {e}"))?;
    if read == 0 {
        return Err("the primary closed the connection".into());
    }
    Ok(line.trim_end().to_string())
}

/// Receives the snapshot into a file, then replaces the data set with it.
async fn receive_snapshot(
    shared: &Arc<Shared>,
    link: &mut Link,
    replid: &str,
    at: u64,
    generation: u64,
    leftover: &mut Vec<u8>,
) -> Result<(), String> {
    let (dir, logging) = {
        let c = shared.config();
        (c.dir.clone(), c.appendonly)
    };
    let temp = if logging {
        crate::aof::base_temp_path(&dir, at + 1)
    } else {
        dir.join(format!("roost-sync-{}.tmp", std::process::id()))
    };
    if let Some(parent) = temp.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let received = receive_into(shared, link, &temp, leftover).await;
    let Some(size) = keep_received(shared, generation, &temp, received)? else {
        return Ok(());
    };
    log::notice(&format!(
        "PRIMARY <-> REPLICA sync: received {size} bytes of snapshot, loading it"
    ));
    let loader = shared.clone();
    let replid = replid.to_string();
    tokio::task::spawn_blocking(move || load_snapshot(&loader, &temp, &replid, at, logging))
        .await
        .map_err(|e| e.to_string())?
}

/// The outcome of a full sync's transfer into `path`: its size, or `None` when the link
/// it came over is no longer the one wanted. The file is removed unless it is to be
/// loaded.
pub(super) fn keep_received(
    shared: &Shared,
    generation: u64,
    path: &std::path::Path,
    received: Result<u64, String>,
) -> Result<Option<u64>, String> {
    let kept = received.map(|size| current(shared, generation).then_some(size));
    if !matches!(kept, Ok(Some(_))) {
        let _ = std::fs::remove_file(path);
    }
    kept
}

/// Reads records up to the end marker into `path`; returns the bytes written.
async fn receive_into(
    shared: &Shared,
    link: &mut Link,
    path: &std::path::Path,
    leftover: &mut Vec<u8>,
) -> Result<u64, String> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // The file becomes the log's base: it starts with a base's header (the stream
    // itself carries records only).
    tokio::io::AsyncWriteExt::write_all(
        &mut file,
        &crate::aof::header::encode(crate::aof::header::Kind::Base),
    )
    .await
    .map_err(|e| format!("{}: {e}", path.display()))?;
    // What was read to tell the primary's kind is the start of the records.
    let mut buffer: Vec<u8> = std::mem::take(leftover);
    buffer.reserve(1 << 20);
    let mut written = 0u64;
    let link_info = &shared.repl.link;
    link_info.sync_read_bytes.store(0, Ordering::Relaxed);
    loop {
        // Write out every complete record, stopping at the end marker.
        let mut consumed = 0;
        let mut finished = false;
        while let Some((lsn, args, len)) = record::parse_stream(&buffer[consumed..])? {
            if lsn == 0 {
                if args[0].as_ref() == CONTROL_SNAPSHOT_END {
                    finished = true;
                    let records = &buffer[..consumed];
                    tokio::io::AsyncWriteExt::write_all(&mut file, records)
                        .await
                        .map_err(|e| e.to_string())?;
                    written += consumed as u64;
                    // Anything after the marker is the live stream: keep it.
                    *leftover = buffer.split_off(consumed + len);
                    break;
                }
                // A heartbeat inside the snapshot is dropped from the file.
                let records = &buffer[..consumed];
                tokio::io::AsyncWriteExt::write_all(&mut file, records)
                    .await
                    .map_err(|e| e.to_string())?;
                written += consumed as u64;
                buffer.drain(..consumed + len);
                consumed = 0;
                continue;
            }
            consumed += len;
        }
        if finished {
            break;
        }
        if consumed > 0 {
            tokio::io::AsyncWriteExt::write_all(&mut file, &buffer[..consumed])
                .await
                .map_err(|e| e.to_string())?;
            written += consumed as u64;
            buffer.drain(..consumed);
        }
        let timeout = Duration::from_secs(shared.config().repl_timeout);
        let read = tokio::time::timeout(timeout, link.read_buf(&mut buffer))
            .await
            .map_err(|_| "timeout receiving the snapshot".to_string())?
            .map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("the primary closed the connection during the snapshot".into());
        }
        link_info
            .last_io_ms
            .store(clock::now_ms(), Ordering::Relaxed);
        link_info
            .sync_read_bytes
            .fetch_add(read as u64, Ordering::Relaxed);
    }
    tokio::io::AsyncWriteExt::flush(&mut file)
        .await
        .map_err(|e| e.to_string())?;
    file.sync_all().await.map_err(|e| e.to_string())?;
    Ok(written)
}

/// Replaces the data set with the snapshot in `path` (clients see `-LOADING`), makes it
/// the log's base when logging, and takes the primary's id and offset.
pub(super) fn load_snapshot(
    shared: &Shared,
    path: &std::path::Path,
    replid: &str,
    at: u64,
    logging: bool,
) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = shared.config().dir.clone();
    // A log rewrite in progress would install a base of the data being replaced.
    let _no_rewrite = shared.lock_snapshot();
    shared.set_loading(true);
    let mut client = stream_client();
    let result = (|| -> Result<(), String> {
        let _gate = shared.keyspace.write_gate();
        for db in 0..shared.keyspace.databases() {
            shared.keyspace.db(db).clear();
        }
        // The snapshot holds the primary's libraries: none of this server's stay.
        shared.functions.flush();
        let format = crate::aof::header::read(&data, crate::aof::header::Kind::Base, None, path)?;
        let mut reader = record::Reader::at(&data, format.records_at, None);
        while let Some(rec) = reader.next_record().map_err(|e| format!("{e:?}"))? {
            apply_record(shared, &mut client, rec.lsn, &rec.args);
        }
        let db = Some(client.db);
        if logging {
            crate::state::replication::forget_id(&dir);
            crate::persist::writer::restart_with_base(shared, &dir, at + 1, path)
                .map_err(|e| format!("installing the snapshot as the log's base: {e}"))?;
        }
        shared.journal.restart_at(at + 1, db);
        Ok(())
    })();
    if !logging {
        let _ = std::fs::remove_file(path);
    }
    shared.set_loading(false);
    result?;
    shared.repl.adopt_replid(replid, None);
    shared.save_replid_if_logging();
    let keys: usize = (0..shared.keyspace.databases())
        .map(|n| shared.keyspace.db(n).len())
        .sum();
    log::notice(&format!(
        "PRIMARY <-> REPLICA sync: finished with success, {keys} keys, offset {at}"
    ));
    Ok(())
}

/// A transaction being received: its commands and raw records, applied at EXEC.
struct Transaction {
    first_lsn: u64,
    commands: Vec<(u64, Vec<Bytes>)>,
    raw: Vec<u8>,
}

/// Applies the live stream until the link breaks or is no longer wanted.
async fn apply_stream(
    shared: &Arc<Shared>,
    link: Link,
    mut buffer: Vec<u8>,
    generation: u64,
) -> Result<(), String> {
    buffer.extend_from_slice(link.buffer());
    let mut stream = link.into_inner();
    let mut client = stream_client();
    client.db = shared.journal.current_db().unwrap_or(0);
    let mut transaction: Option<Transaction> = None;
    // Acknowledged every second, and at once when the primary asks (a WAIT).
    let mut ack_now = true;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // A new fsync is acknowledged at once, so a WAITAOF on the primary need not wait
    // for the next tick.
    let mut synced = shared.persistence.watch_synced();
    let link_info = &shared.repl.link;
    link_info
        .last_io_ms
        .store(clock::now_ms(), Ordering::Relaxed);
    loop {
        let mut consumed = 0;
        let mut expected = shared.journal.last_lsn() + 1;
        if let Some(t) = &transaction {
            expected = t.first_lsn + t.commands.len() as u64 + 1;
        }
        while let Some((lsn, args, len)) = record::parse_stream(&buffer[consumed..])? {
            let raw = &buffer[consumed..consumed + len];
            consumed += len;
            if lsn == 0 {
                ack_now |= args[0].as_ref() == CONTROL_GETACK;
                // Not from a former primary now following this server (FAILOVER): its
                // messages would come back to it.
                if !current(shared, generation) {
                    return Ok(());
                }
                super::deliver_published_message(shared, &args);
                continue;
            }
            if lsn != expected {
                return Err(format!(
                    "expected record {expected} from the primary, got {lsn}"
                ));
            }
            expected += 1;
            if !apply(
                shared,
                generation,
                &mut client,
                &mut transaction,
                lsn,
                args,
                raw,
            ) {
                return Ok(());
            }
        }
        buffer.drain(..consumed);
        let offset = shared.journal.last_lsn();
        let fsynced = shared
            .persistence
            .logging
            .load(Ordering::Acquire)
            .then(|| shared.persistence.synced_lsn());
        if ack_now {
            send_ack(&mut stream, offset, fsynced).await?;
            ack_now = false;
        }
        if !current(shared, generation) {
            return Ok(());
        }
        tokio::select! {
            read = stream.read_buf(&mut buffer) => {
                match read {
                    Ok(0) => return Err("the primary closed the connection".into()),
                    Err(e) => return Err(format!("reading from the primary: {e}")),
                    Ok(n) => {
                        link_info.last_io_ms.store(clock::now_ms(), Ordering::Relaxed);
                        shared.stats.net_repl_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
            _ = synced.changed() => ack_now = true,
            _ = tick.tick() => {
                if shared.is_shutting_down() {
                    return Ok(());
                }
                send_ack(&mut stream, offset, fsynced).await?;
                let timeout = shared.config().repl_timeout;
                let silent = clock::now_ms().saturating_sub(link_info.last_io_ms.load(Ordering::Relaxed));
                if silent > timeout * 1000 {
                    return Err(format!("no data from the primary for {timeout} seconds (repl-timeout)"));
                }
            }
        }
    }
}

/// Applies one record; a transaction's records wait for its EXEC and then run under
/// one hold of the gate. False if this link was replaced meanwhile (nothing applied).
fn apply(
    shared: &Shared,
    generation: u64,
    client: &mut Client,
    transaction: &mut Option<Transaction>,
    lsn: u64,
    args: Vec<Bytes>,
    raw: &[u8],
) -> bool {
    if args[0].eq_ignore_ascii_case(b"multi") {
        *transaction = Some(Transaction {
            first_lsn: lsn,
            commands: Vec::new(),
            raw: raw.to_vec(),
        });
        return true;
    }
    if transaction.is_some() && args[0].eq_ignore_ascii_case(b"discard") {
        // A script the primary abandoned (SHUTDOWN NOSAVE): none of it is applied.
        *transaction = None;
        return true;
    }
    if let Some(t) = transaction {
        t.raw.extend_from_slice(raw);
        if !args[0].eq_ignore_ascii_case(b"exec") {
            t.commands.push((lsn, args));
            return true;
        }
        let t = transaction.take().expect("in a transaction");
        let _gate = shared.keyspace.write_gate();
        // Checked under the gate: a promotion takes it too.
        if !current(shared, generation) {
            return false;
        }
        for (lsn, args) in &t.commands {
            apply_record(shared, client, *lsn, args);
        }
        shared
            .journal
            .append_raw(&t.raw, t.first_lsn, lsn, Some(client.db));
        return true;
    }
    let _gate = shared.keyspace.write_gate();
    if !current(shared, generation) {
        return false;
    }
    apply_record(shared, client, lsn, &args);
    shared.journal.append_raw(raw, lsn, lsn, Some(client.db));
    true
}

/// `REPLCONF ACK <offset>`, and `FACK <lsn>` when this server keeps a log: how far it
/// is fsynced (Redis 7.2's form; a 7.0 primary reads the ACK and ignores the rest).
pub(super) async fn send_ack(
    stream: &mut Box<dyn Stream>,
    offset: u64,
    fsynced: Option<u64>,
) -> Result<(), String> {
    let offset = offset.to_string();
    let mut message = Vec::new();
    match fsynced.map(|lsn| lsn.min(offset.parse().unwrap_or(0)).to_string()) {
        Some(fsynced) => crate::protocol::encode_request(
            &mut message,
            &["REPLCONF", "ACK", &offset, "FACK", &fsynced],
        ),
        None => crate::protocol::encode_request(&mut message, &["REPLCONF", "ACK", &offset]),
    }
    stream
        .write_all(&message)
        .await
        .map_err(|e| format!("writing to the primary: {e}"))
}
