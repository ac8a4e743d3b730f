//! The primary's side: a connection that sent `PSYNC` becomes a replica feed.
//!
//! Partial resync: if the replica's id is this server's (or the previous one, up to
//! where the histories part) and the backlog still holds the records after its offset,
//! it gets `+CONTINUE` and those records. Otherwise `+FULLRESYNC <id> <offset>`: a
//! snapshot taken at that offset without stopping writers (the log rewrite's), then an
//! end marker, then every record written since, which the journal queued for it
//! meanwhile. A replica whose unsent records pass `client-output-buffer-limit replica`
//! (the hard limit, or the soft one for its seconds) is cut off: writers never wait for a
//! replica.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{CONTROL_GETACK, CONTROL_PING, CONTROL_SNAPSHOT_END};
use crate::aof::record;
use crate::config::OUTPUT_REPLICA;
use crate::journal::ReplicaQueue;
use crate::protocol::{Decoder, Limits};
use crate::session::ClientInfo;
use crate::session::Psync;
use crate::state::replication::AttachedReplica;
use crate::state::Shared;
use crate::sync::Recover;
use crate::{clock, log};

/// Serves one replica until it disconnects, is killed or falls too far behind.
/// Generic over the stream: a replica may come over plaintext TCP or TLS.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: Arc<Shared>,
    mut stream: S,
    info: Arc<ClientInfo>,
    request: Psync,
    mut input: BytesMut,
) {
    if !request.capa.roost {
        return super::to_redis::serve(shared, stream, info, request, input).await;
    }
    let limit = shared.config().output_limits[OUTPUT_REPLICA].hard;
    let queue = ReplicaQueue::new(limit);
    let replica = new_replica(&info, &request, &queue);
    let name = format!("{}:{}", replica.ip, request.listening_port);

    let (replid, partial) = try_partial(&shared, &request, &queue);
    let result = if partial {
        shared.repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
        log::notice(&format!(
            "Partial resynchronization request from {name} accepted, sending the records from offset {}.",
            request.offset
        ));
        replica.online.store(true, Ordering::Release);
        register(&shared, &replica);
        stream
            .write_all(format!("+CONTINUE {replid}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())
    } else {
        if request.replid != "?" {
            shared.repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
        }
        shared.repl.sync_full.fetch_add(1, Ordering::Relaxed);
        log::notice(&format!("Starting a full sync for replica {name}."));
        register(&shared, &replica);
        full_sync(&shared, &mut stream, &queue, &replid, &info).await
    };
    let result = match result {
        Ok(()) => {
            replica.online.store(true, Ordering::Release);
            if !partial {
                log::notice(&format!("Synchronization with replica {name} succeeded"));
            }
            stream_records(&shared, &mut stream, &replica, &info, &mut input).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        log::warning(&format!("Connection with replica {name} lost: {e}"));
    }
    forget(&shared, &replica, &info);
}

/// The entry INFO, ROLE and WAIT see for the replica on connection `info`; marks the
/// connection as a replica's.
pub(super) fn new_replica(
    info: &ClientInfo,
    request: &Psync,
    queue: &Arc<ReplicaQueue>,
) -> Arc<AttachedReplica> {
    info.kind
        .store(crate::session::KIND_REPLICA, Ordering::Relaxed);
    Arc::new(AttachedReplica {
        client_id: info.id,
        redis_format: !request.capa.roost,
        redis_feed: std::sync::Mutex::new(None),
        // What Redis reports for a replica on its Unix socket.
        ip: info
            .addr
            .ip()
            .map_or_else(|| "/unixsocket".to_string(), |ip| ip.to_string()),
        listening_port: request.listening_port,
        online: false.into(),
        ack_lsn: 0.into(),
        fsynced_lsn: 0.into(),
        last_ack_ms: clock::now_ms().into(),
        queue: queue.clone(),
    })
}

pub(super) fn register(shared: &Shared, replica: &Arc<AttachedReplica>) {
    shared.repl.replicas.locked().push(replica.clone());
}

/// The replica is gone: no more records for it, no entry, no client.
pub(super) fn forget(shared: &Shared, replica: &Arc<AttachedReplica>, info: &ClientInfo) {
    shared.journal.detach(&replica.queue);
    shared
        .repl
        .replicas
        .locked()
        .retain(|r| !Arc::ptr_eq(r, replica));
    shared.clients.unregister(info.id);
}

/// Attaches `queue` at the replica's offset if this server can continue its history;
/// returns the id to answer with and whether it did.
fn try_partial(shared: &Shared, request: &Psync, queue: &Arc<ReplicaQueue>) -> (String, bool) {
    // The id lock is held across the attach so a promotion cannot slip in between.
    let backlog_size = shared.config().repl_backlog_size as usize;
    let ids = shared.repl.ids();
    let offset = request.offset;
    let same_history = (request.replid == ids.replid)
        || (request.replid == ids.replid2 && offset >= 1 && offset <= ids.second_offset);
    let attached = same_history
        && offset >= 1
        && shared
            .journal
            .attach_partial(queue.clone(), offset as u64, backlog_size);
    (ids.replid.clone(), attached)
}

/// Sends `+FULLRESYNC`, the snapshot and its end marker. The snapshot is produced on a
/// blocking thread in chunks; a bounded channel keeps at most a few in memory.
async fn full_sync(
    shared: &Arc<Shared>,
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    queue: &Arc<ReplicaQueue>,
    replid: &str,
    info: &Arc<ClientInfo>,
) -> Result<(), String> {
    let (chunks_tx, mut chunks) = mpsc::channel::<Vec<u8>>(4);
    let (mark_tx, mark_rx) = tokio::sync::oneshot::channel();
    let producer = {
        let shared = shared.clone();
        let queue = queue.clone();
        tokio::task::spawn_blocking(move || -> Result<u64, String> {
            let _one_at_a_time = shared.lock_snapshot();
            let backlog_size = shared.config().repl_backlog_size as usize;
            let (mark, libraries) = {
                let _gate = shared.keyspace.write_gate();
                shared.keyspace.begin_snapshot();
                let mark = shared.journal.attach_for_full_sync(queue, backlog_size);
                (mark, shared.functions.codes())
            };
            let _ = mark_tx.send(mark);
            let streamed =
                crate::aof::encode_snapshot(&shared.keyspace, &libraries, mark.db, |chunk| {
                    chunks_tx
                        .blocking_send(chunk.to_vec())
                        .map_err(|_| std::io::Error::other("replica went away"))
                });
            let consistent = shared.keyspace.end_snapshot();
            match streamed {
                Ok(size) if consistent => Ok(size),
                Ok(_) => Err("FLUSHALL, FLUSHDB or SWAPDB ran during the snapshot".into()),
                Err(e) => Err(e.to_string()),
            }
        })
    };
    let mark = mark_rx
        .await
        .map_err(|_| "the snapshot did not start".to_string())?;
    let header = format!("+FULLRESYNC {replid} {}\r\n", mark.next_lsn - 1);
    stream
        .write_all(header.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            chunk = chunks.recv() => match chunk {
                Some(chunk) => tokio::select! {
                    written = stream.write_all(&chunk) => written.map_err(|e| e.to_string())?,
                    _ = overflow(queue) => {
                        return Err("its output buffer passed client-output-buffer-limit replica during the snapshot".into())
                    }
                },
                None => break,
            },
            _ = info.kill_switch.notified() => return Err("killed".into()),
        }
    }
    let size = producer.await.map_err(|e| e.to_string()).and_then(|r| r)?;
    let mut end = Vec::new();
    record::encode(0, &[CONTROL_SNAPSHOT_END], &mut end);
    stream.write_all(&end).await.map_err(|e| e.to_string())?;
    log::notice(&format!(
        "Snapshot of {size} bytes sent to the replica; streaming from offset {}",
        mark.next_lsn
    ));
    Ok(())
}

/// The live stream: queued records out, `REPLCONF ACK` in, a heartbeat every second.
async fn stream_records(
    shared: &Shared,
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    replica: &AttachedReplica,
    info: &ClientInfo,
    input: &mut BytesMut,
) -> Result<(), String> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut decoder = Decoder::new();
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    let mut last_write = Instant::now();
    let mut ping = Vec::new();
    record::encode(0, &[CONTROL_PING], &mut ping);
    let mut getack = Vec::new();
    record::encode(0, &[CONTROL_GETACK], &mut getack);
    let mut ack_requests = shared.repl.ack_requests.subscribe();
    // Records taken from the queue and how much of them is written.
    let mut pending: Vec<u8> = Vec::new();
    let mut sent = 0;
    let mut over_soft_since = None;
    loop {
        if sent == pending.len() {
            pending = replica.queue.take();
            sent = 0;
        }
        let written = write_pending(
            shared,
            &mut writer,
            replica,
            info,
            &pending[sent..],
            &mut over_soft_since,
        )
        .await?;
        if sent < pending.len() {
            if written > 0 {
                sent += written;
                last_write = Instant::now();
            }
            continue;
        }
        tokio::select! {
            _ = replica.queue.ready.notified() => {}
            _ = ack_requests.changed() => {
                // After everything queued, so the ACK covers the waiting writes.
                let mut out = replica.queue.take();
                out.extend_from_slice(&getack);
                writer.write_all(&out).await.map_err(|e| e.to_string())?;
                last_write = Instant::now();
            }
            read = reader.read_buf(input) => {
                match read {
                    Ok(0) => return Err("the replica closed the connection".into()),
                    Err(e) => return Err(e.to_string()),
                    Ok(_) => read_acks(shared, replica, &mut decoder, input)?,
                }
            }
            _ = heartbeat.tick() => {
                if last_write.elapsed() >= Duration::from_secs(1) {
                    writer.write_all(&ping).await.map_err(|e| e.to_string())?;
                    last_write = Instant::now();
                }
                let timeout = shared.config().repl_timeout;
                let silent = clock::now_ms().saturating_sub(replica.last_ack_ms.load(Ordering::Relaxed));
                if silent > timeout * 1000 {
                    return Err(format!("no acknowledgement for {timeout} seconds (repl-timeout)"));
                }
            }
            _ = info.kill_switch.notified() => return Err("killed".into()),
        }
    }
}

/// One step of sending a replica its records: checks the output against the replica's
/// limits (its queue's, and `client-output-buffer-limit replica` on what is unsent:
/// `pending`, taken from the queue but not written, plus what is queued), then writes
/// some of `pending`. A replica that stops reading must not hold the task in a write
/// forever: the write gives way when the queue overflows, the client is killed, or the
/// soft limit's seconds run out. Returns how many bytes were written (0: none pending,
/// or the wait ended otherwise; the caller checks again).
pub(super) async fn write_pending(
    shared: &Shared,
    writer: &mut (impl AsyncWrite + Unpin),
    replica: &AttachedReplica,
    info: &ClientInfo,
    pending: &[u8],
    over_soft_since: &mut Option<u64>,
) -> Result<usize, String> {
    if replica.queue.overflowed.load(Ordering::Acquire) {
        return Err(format!(
            "its output buffer passed client-output-buffer-limit replica ({} bytes queued), closing; it will resync",
            replica.queue.len()
        ));
    }
    let unsent = (pending.len() + replica.queue.len()) as u64;
    info.output_pending.store(unsent, Ordering::Relaxed);
    let limit = shared.config().output_limits[OUTPUT_REPLICA];
    if limit.exceeded(unsent, over_soft_since, clock::now_ms()) {
        return Err(format!(
            "its output buffer passed client-output-buffer-limit replica ({unsent} bytes unsent), closing; it will resync"
        ));
    }
    if pending.is_empty() {
        return Ok(0);
    }
    let soft_deadline = limit.soft_deadline(*over_soft_since);
    tokio::select! {
        written = writer.write(pending) => match written {
            Ok(n) if n > 0 => {
                shared
                    .stats
                    .net_repl_output_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Ok(_) => Err("the replica closed the connection".into()),
            Err(e) => Err(e.to_string()),
        },
        _ = overflow(&replica.queue) => Ok(0),
        _ = info.kill_switch.notified() => Err("killed".into()),
        _ = clock::sleep_until_ms(soft_deadline) => Ok(0),
    }
}

/// Resolves once `queue` has passed its limit.
pub(super) async fn overflow(queue: &ReplicaQueue) {
    while !queue.overflowed.load(Ordering::Acquire) {
        queue.ready.notified().await;
    }
}

/// Handles what a replica sends: `REPLCONF ACK <offset> [FACK <fsynced>]` (anything
/// else is ignored).
fn read_acks(
    shared: &Shared,
    replica: &AttachedReplica,
    decoder: &mut Decoder,
    input: &mut BytesMut,
) -> Result<(), String> {
    let limits = Limits {
        max_bulk_len: 1 << 20,
        authenticated: true,
    };
    while let Some(args) = decoder.decode(input, limits).map_err(|e| e.to_string())? {
        replica
            .last_ack_ms
            .store(clock::now_ms(), Ordering::Relaxed);
        if args.len() >= 3
            && args[0].eq_ignore_ascii_case(b"replconf")
            && args[1].eq_ignore_ascii_case(b"ack")
        {
            if let Some(lsn) = crate::protocol::decode::parse_i64(&args[2]) {
                replica
                    .ack_lsn
                    .fetch_max(lsn.max(0) as u64, Ordering::AcqRel);
                // `FACK <lsn>`: how far its own log is fsynced, as Redis 7.2 replicas say.
                let fack = args.get(3).zip(args.get(4));
                if let Some((_, synced)) =
                    fack.filter(|(word, _)| word.eq_ignore_ascii_case(b"fack"))
                {
                    if let Some(synced) = crate::protocol::decode::parse_i64(synced) {
                        replica
                            .fsynced_lsn
                            .fetch_max(synced.max(0) as u64, Ordering::AcqRel);
                    }
                }
                shared.repl.acks.send_modify(|n| *n += 1);
            }
        }
    }
    Ok(())
}
