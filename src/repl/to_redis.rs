//! Serving a replica in Redis's format: a redis-server with `replicaof` pointed here,
//! `redis-cli --rdb` (a backup) and `redis-cli --replica` (a view of the stream).
//!
//! What Redis 7.0's replica and redis-cli send: `REPLCONF capa eof` (the payload may
//! come without a length), `REPLCONF rdb-only 1` (`--rdb`: the payload, then close),
//! `REPLCONF rdb-filter-only ""` (`--replica`: a payload with no data), then `PSYNC ? -1`
//! (a replica) or the old `SYNC` (redis-cli, which gets no `+FULLRESYNC` line and never
//! acknowledges).
//!
//! Every request is a full resync: `+FULLRESYNC <id> <offset>`, an RDB version 10
//! payload of a point-in-time snapshot (the same snapshot a Roost replica gets, taken
//! without stopping writers), then the records written since, each sent as the RESP
//! command it holds (`SELECT`, `MULTI`/`EXEC` and expiry `DEL`s are records already),
//! with `PING` every `repl-ping-replica-period` and `REPLCONF GETACK *` when a WAIT is
//! waiting. The id is a new random one per sync, never this server's own: the replica's
//! offsets count bytes of this stream, not LSNs, so a later `PSYNC` naming it gets a
//! full resync rather than a `+CONTINUE` at the wrong place. The offset starts at the
//! snapshot's LSN; the feed remembers, per batch sent, the stream offset after it and
//! the last LSN in it, so `REPLCONF ACK <offset>` acknowledges LSNs, which WAIT, ROLE
//! and INFO count as for any replica.
//!
//! The payload is streamed as it is made, ended by `$EOF:<40 random chars>` marks, when
//! the replica has `capa eof` and `repl-diskless-sync` is on (Redis's default); else it
//! is written to a temporary file under `dir` first (a newline every second keeps the
//! replica waiting, as Redis does) and sent as `$<length>`. A value the RDB writer cannot
//! encode fails the sync with an error naming the key: with a file, the replica gets it
//! as `-ERR ...` (a redis-server logs "MASTER aborted replication with an error"); while
//! streaming, the connection is closed; both are logged here.

use std::collections::VecDeque;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::primary::{forget, new_replica, overflow, register, write_pending};
use crate::aof::record;
use crate::config::OUTPUT_REPLICA;
use crate::journal::{Mark, ReplicaQueue};
use crate::persist::save::{db_sizes, write_rdb, Contents, KeySource};
use crate::protocol::{Decoder, Limits};
use crate::rdb::FileWriter;
use crate::session::{ClientInfo, Psync};
use crate::state::replication::{AttachedReplica, RedisFeed};
use crate::state::Shared;
use crate::sync::Recover;
use crate::{clock, log};

/// `REPLCONF GETACK *` as a command of the stream.
const GETACK: &[u8] = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";
/// `PING` as a command of the stream.
const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
/// Bytes of payload per chunk handed from the snapshot thread to the socket.
const CHUNK: usize = 64 * 1024;

/// Serves one Redis-format replica until it disconnects, is killed or falls behind.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: Arc<Shared>,
    mut stream: S,
    info: Arc<ClientInfo>,
    request: Psync,
    mut input: BytesMut,
) {
    let limit = shared.config().output_limits[OUTPUT_REPLICA].hard;
    let queue = ReplicaQueue::new(limit);
    let replica = new_replica(&info, &request, &queue);
    let name = format!("{}:{}", replica.ip, request.listening_port);
    if !request.old_sync && request.replid != "?" {
        shared.repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
    }
    shared.repl.sync_full.fetch_add(1, Ordering::Relaxed);
    let what = match (&request.capa.rdb_only, &request.capa.rdb_filter) {
        (true, _) => "the RDB only",
        (false, Some(_)) => "a filtered RDB and the stream",
        (false, None) => "a full sync",
    };
    log::notice(&format!(
        "Replica {name} asks for {what} in Redis's format (no partial resync in that format)."
    ));
    register(&shared, &replica);
    let replid = crate::rand::random_hex(40);
    let result = match full_sync(&shared, &mut stream, &queue, &request, &info, &replid).await {
        Ok(_) if request.capa.rdb_only => {
            log::notice(&format!(
                "RDB sent to {name}, which asked for the RDB only; closing its connection"
            ));
            // Whatever it sends now is not read: it is done.
            let _ = stream.shutdown().await;
            Ok(())
        }
        Ok((mark, streamed)) => {
            if !request.old_sync {
                *replica.redis_feed.locked() = Some(RedisFeed {
                    replid,
                    sent: mark.next_lsn - 1,
                    acked: 0,
                });
            }
            replica.online.store(true, Ordering::Release);
            log::notice(&format!("Synchronization with replica {name} succeeded"));
            let feed = Feed {
                shared: &shared,
                replica: &replica,
                info: &info,
                acknowledges: !request.old_sync,
                after_eof_mark: streamed,
            };
            feed.run(&mut stream, mark, &mut input).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        log::warning(&format!("Connection with replica {name} lost: {e}"));
    }
    forget(&shared, &replica, &info);
}

/// Hands the payload to the socket's task in chunks, from the snapshot's thread.
struct ChunkSender(mpsc::Sender<Vec<u8>>);

impl Write for ChunkSender {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(bytes.to_vec())
            .map_err(|_| std::io::Error::other("the replica went away"))?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where the payload goes while it is made.
enum Target {
    Socket(mpsc::Sender<Vec<u8>>),
    File(PathBuf),
}

/// Sends the reply to PSYNC (not to SYNC) and the RDB payload; returns where the
/// stream that follows starts, and whether the payload ended with an EOF mark.
async fn full_sync(
    shared: &Arc<Shared>,
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    queue: &Arc<ReplicaQueue>,
    request: &Psync,
    info: &Arc<ClientInfo>,
    replid: &str,
) -> Result<(Mark, bool), String> {
    let (compress, checksum, diskless, dir) = {
        let c = shared.config();
        let diskless = request.capa.eof && c.repl_diskless_sync;
        (c.rdbcompression, c.rdbchecksum, diskless, c.dir.clone())
    };
    let replid = replid.to_string();
    let (chunks_tx, mut chunks) = mpsc::channel::<Vec<u8>>(4);
    let temp = dir.join(format!("temp-repl-{}-{}.rdb", std::process::id(), info.id));
    let target = if diskless {
        Target::Socket(chunks_tx)
    } else {
        drop(chunks_tx);
        Target::File(temp.clone())
    };
    let (mark_tx, mark_rx) = tokio::sync::oneshot::channel();
    let mut producer = {
        let shared = shared.clone();
        let queue = queue.clone();
        let replid = replid.clone();
        // A replica that wants the RDB only is never fed records.
        let follows = !request.capa.rdb_only;
        let filter = request.capa.rdb_filter;
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            let _one_at_a_time = shared.lock_snapshot();
            let backlog_size = shared.config().repl_backlog_size as usize;
            let (mark, sizes, libraries) = {
                let _gate = shared.keyspace.write_gate();
                shared.keyspace.begin_snapshot();
                let mark = if follows {
                    shared.journal.attach_for_full_sync(queue, backlog_size)
                } else {
                    Mark {
                        next_lsn: shared.journal.next_lsn(),
                        db: shared.journal.current_db(),
                    }
                };
                (mark, db_sizes(&shared), shared.functions.codes())
            };
            let _ = mark_tx.send(mark);
            let aux = [
                ("repl-stream-db", mark.db.unwrap_or(0).to_string()),
                ("repl-id", replid),
                ("repl-offset", (mark.next_lsn - 1).to_string()),
            ];
            let contents = Contents {
                sizes: &sizes,
                aux: &aux,
                libraries: if filter.is_none_or(|f| f.functions) {
                    &libraries
                } else {
                    &[]
                },
                keys: if filter.is_none() {
                    KeySource::Snapshot
                } else {
                    KeySource::None
                },
            };
            let written = match target {
                Target::Socket(chunks) => {
                    let out = BufWriter::with_capacity(CHUNK, ChunkSender(chunks));
                    FileWriter::new(out, compress, checksum)
                        .and_then(|out| write_rdb(&shared, out, &contents))
                        .and_then(|mut out| out.flush())
                }
                Target::File(path) => std::fs::File::create(&path)
                    .and_then(|file| {
                        let out = BufWriter::with_capacity(1 << 20, file);
                        FileWriter::new(out, compress, checksum)
                    })
                    .and_then(|out| write_rdb(&shared, out, &contents))
                    .and_then(|mut out| out.flush()),
            };
            let consistent = shared.keyspace.end_snapshot();
            match written {
                Ok(()) if consistent => Ok(()),
                Ok(()) => Err("FLUSHALL, FLUSHDB or SWAPDB ran during the snapshot".into()),
                Err(e) => Err(e.to_string()),
            }
        })
    };
    let mark = mark_rx
        .await
        .map_err(|_| "the snapshot did not start".to_string())?;
    if !request.old_sync {
        let header = format!("+FULLRESYNC {replid} {}\r\n", mark.next_lsn - 1);
        send(stream, header.as_bytes()).await?;
    }
    if diskless {
        let eof = crate::rand::random_hex(40);
        send(stream, format!("$EOF:{eof}\r\n").as_bytes()).await?;
        loop {
            tokio::select! {
                chunk = chunks.recv() => match chunk {
                    Some(chunk) => tokio::select! {
                        written = stream.write_all(&chunk) => written.map_err(|e| e.to_string())?,
                        _ = overflow(queue) => return Err(overflowed()),
                    },
                    None => break,
                },
                _ = info.kill_switch.notified() => return Err("killed".into()),
            }
        }
        producer
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map_err(|e| format!("the RDB payload could not be made: {e}"))?;
        send(stream, eof.as_bytes()).await?;
        log::notice("Streamed the RDB payload to the replica (diskless)");
        return Ok((mark, true));
    }
    // From a file: a newline every second while it is written, as Redis sends.
    let mut keepalive = tokio::time::interval(Duration::from_secs(1));
    keepalive.tick().await;
    let made = loop {
        tokio::select! {
            made = &mut producer => break made.map_err(|e| e.to_string()).and_then(|r| r),
            _ = keepalive.tick() => send(stream, b"\n").await?,
            _ = info.kill_switch.notified() => {
                discard(producer, temp);
                return Err("killed".into());
            }
            // Writes go on meanwhile: past the limit, the file is of no use.
            _ = overflow(queue) => {
                discard(producer, temp);
                return Err(overflowed());
            }
        }
    };
    if let Err(e) = made {
        let _ = std::fs::remove_file(&temp);
        let line = e.replace(['\r', '\n'], " ");
        let _ = send(stream, format!("-ERR {line}\r\n").as_bytes()).await;
        return Err(format!("the RDB payload could not be made: {e}"));
    }
    let file = std::fs::File::open(&temp);
    // Removed at once: the open file stays readable, and nothing is left behind.
    let _ = std::fs::remove_file(&temp);
    let file = file.map_err(|e| format!("{}: {e}", temp.display()))?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut file = tokio::fs::File::from_std(file);
    send(stream, format!("${len}\r\n").as_bytes()).await?;
    let mut buf = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let n = file.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("{} ended early", temp.display()));
        }
        let n = n.min(left as usize);
        tokio::select! {
            written = stream.write_all(&buf[..n]) => written.map_err(|e| e.to_string())?,
            _ = overflow(queue) => return Err(overflowed()),
            _ = info.kill_switch.notified() => return Err("killed".into()),
        }
        left -= n as u64;
    }
    log::notice(&format!(
        "Sent the RDB payload of {len} bytes to the replica"
    ));
    Ok((mark, false))
}

/// Lets a payload no one will read be finished, then removes its file.
fn discard(producer: tokio::task::JoinHandle<Result<(), String>>, temp: PathBuf) {
    tokio::spawn(async move {
        let _ = producer.await;
        let _ = std::fs::remove_file(&temp);
    });
}

fn overflowed() -> String {
    "its output buffer passed client-output-buffer-limit replica during the transfer".into()
}

async fn send(stream: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> Result<(), String> {
    stream.write_all(bytes).await.map_err(|e| e.to_string())
}

/// The live stream to one Redis-format replica.
struct Feed<'a> {
    shared: &'a Shared,
    replica: &'a AttachedReplica,
    info: &'a ClientInfo,
    /// False for `SYNC` (redis-cli): it never sends `REPLCONF ACK`, so its silence is
    /// not a timeout, as in Redis.
    acknowledges: bool,
    /// The payload ended with an EOF mark: the stream waits for the replica's first
    /// `REPLCONF ACK`, as Redis's does, since a replica finds the mark only at the end
    /// of what it has read (redis-cli, after `SYNC`, sends `REPLCONF ACK 0` for this).
    after_eof_mark: bool,
}

/// What the feed has put in the stream, for turning acknowledged offsets into LSNs.
struct Offsets {
    /// Offset of the stream's next byte.
    next: u64,
    /// (offset after a batch, the last LSN in it), oldest first, not yet acknowledged.
    batches: VecDeque<(u64, u64)>,
}

impl Offsets {
    /// The LSN a replica at `offset` has applied, if it passed a batch since the last.
    fn acknowledge(&mut self, offset: u64) -> Option<u64> {
        let mut lsn = None;
        while let Some(&(end, last)) = self.batches.front() {
            if end > offset {
                break;
            }
            lsn = Some(last);
            self.batches.pop_front();
        }
        lsn
    }
}

/// Appends the commands of the encoded `records` to `out`; returns the last LSN.
/// Control records (LSN 0) are Roost's own and are left out.
fn commands(records: &[u8], out: &mut Vec<u8>) -> Option<u64> {
    let mut rest = records;
    let mut last = None;
    while rest.len() >= record::HEADER_LEN {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let mut lsn = [0u8; 8];
        lsn.copy_from_slice(&rest[8..16]);
        let lsn = u64::from_le_bytes(lsn);
        let end = (record::HEADER_LEN + len).min(rest.len());
        if lsn != 0 {
            out.extend_from_slice(&rest[record::HEADER_LEN..end]);
            last = Some(lsn);
        }
        rest = &rest[end..];
    }
    last
}

impl Feed<'_> {
    async fn run(
        &self,
        stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
        mark: Mark,
        input: &mut BytesMut,
    ) -> Result<(), String> {
        let (shared, replica, info) = (self.shared, self.replica, self.info);
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut decoder = Decoder::new();
        let mut offsets = Offsets {
            next: mark.next_lsn - 1,
            batches: VecDeque::new(),
        };
        // The replica's link starts in the database its payload names; say it anyway.
        let mut out: Vec<u8> = Vec::new();
        if let Some(db) = mark.db {
            let db = db.to_string();
            out.extend_from_slice(
                format!("*2\r\n$6\r\nSELECT\r\n${}\r\n{db}\r\n", db.len()).as_bytes(),
            );
        }
        offsets.next += out.len() as u64;
        let mut sent = 0;
        let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
        let mut last_ping = Instant::now();
        let mut ack_requests = shared.repl.ack_requests.subscribe();
        let mut over_soft_since = None;
        if self.after_eof_mark {
            let timeout = Duration::from_secs(shared.config().repl_timeout);
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                tokio::select! {
                    read = reader.read_buf(input) => match read {
                        Ok(0) => return Err("the replica closed the connection".into()),
                        Err(e) => return Err(e.to_string()),
                        Ok(_) => if self.read_acks(&mut offsets, &mut decoder, input)? {
                            break;
                        },
                    },
                    _ = tokio::time::sleep_until(deadline) => {
                        return Err(format!("no REPLCONF ACK after the RDB payload in {} seconds (repl-timeout)", timeout.as_secs()));
                    }
                    // Writes go on meanwhile: the limit holds here too.
                    _ = overflow(&replica.queue) => {
                        return Err(format!(
                            "its output buffer passed client-output-buffer-limit replica ({} bytes queued) before it acknowledged the RDB payload",
                            replica.queue.len()
                        ));
                    }
                    _ = info.kill_switch.notified() => return Err("killed".into()),
                }
            }
        }
        // Moves what is queued into `out` (whose bytes have all been written), then `extra`.
        let refill = |out: &mut Vec<u8>, offsets: &mut Offsets, extra: &[u8]| {
            out.clear();
            if let Some(lsn) = commands(&replica.queue.take(), out) {
                offsets
                    .batches
                    .push_back((offsets.next + out.len() as u64, lsn));
            }
            out.extend_from_slice(extra);
            offsets.next += out.len() as u64;
            if let Some(feed) = replica.redis_feed.locked().as_mut() {
                feed.sent = offsets.next;
            }
        };
        loop {
            if sent == out.len() {
                refill(&mut out, &mut offsets, &[]);
                sent = 0;
            }
            let written = write_pending(
                shared,
                &mut writer,
                replica,
                info,
                &out[sent..],
                &mut over_soft_since,
            )
            .await?;
            if sent < out.len() {
                sent += written;
                continue;
            }
            tokio::select! {
                _ = replica.queue.ready.notified() => {}
                // After everything queued, so the ACK covers the waiting writes.
                _ = ack_requests.changed() => {
                    refill(&mut out, &mut offsets, GETACK);
                    sent = 0;
                }
                read = reader.read_buf(input) => match read {
                    Ok(0) => return Err("the replica closed the connection".into()),
                    Err(e) => return Err(e.to_string()),
                    Ok(_) => {
                        self.read_acks(&mut offsets, &mut decoder, input)?;
                    }
                },
                _ = heartbeat.tick() => {
                    let period = shared.config().repl_ping_replica_period;
                    if last_ping.elapsed() >= Duration::from_secs(period) {
                        refill(&mut out, &mut offsets, PING);
                        sent = 0;
                        last_ping = Instant::now();
                    }
                    let timeout = shared.config().repl_timeout;
                    let silent = clock::now_ms().saturating_sub(replica.last_ack_ms.load(Ordering::Relaxed));
                    if self.acknowledges && silent > timeout * 1000 {
                        return Err(format!("no acknowledgement for {timeout} seconds (repl-timeout)"));
                    }
                }
                _ = info.kill_switch.notified() => return Err("killed".into()),
            }
        }
    }

    /// Handles what the replica sends: `REPLCONF ACK <offset>` (anything else is
    /// ignored); true if a whole command arrived.
    fn read_acks(
        &self,
        offsets: &mut Offsets,
        decoder: &mut Decoder,
        input: &mut BytesMut,
    ) -> Result<bool, String> {
        let mut any = false;
        let limits = Limits {
            max_bulk_len: 1 << 20,
            authenticated: true,
        };
        while let Some(args) = decoder.decode(input, limits).map_err(|e| e.to_string())? {
            any = true;
            let replica = self.replica;
            replica
                .last_ack_ms
                .store(clock::now_ms(), Ordering::Relaxed);
            if args.len() >= 3
                && args[0].eq_ignore_ascii_case(b"replconf")
                && args[1].eq_ignore_ascii_case(b"ack")
            {
                let offset = crate::protocol::decode::parse_i64(&args[2]);
                // Before the LSN: a FAILOVER that sees the LSN finds the offset.
                if let (Some(feed), Some(o)) = (replica.redis_feed.locked().as_mut(), offset) {
                    feed.acked = feed.acked.max(o.max(0) as u64);
                }
                if let Some(lsn) = offset.and_then(|o| offsets.acknowledge(o.max(0) as u64)) {
                    replica.ack_lsn.fetch_max(lsn, Ordering::AcqRel);
                }
                self.shared.repl.acks.send_modify(|n| *n += 1);
            }
        }
        Ok(any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_their_commands_and_acks_become_lsns() {
        let mut records = Vec::new();
        record::encode(7, &[b"SET", b"k", b"v"], &mut records);
        record::encode(0, &[b"PING"], &mut records);
        record::encode(8, &[b"DEL", b"k"], &mut records);
        let mut out = Vec::new();
        assert_eq!(commands(&records, &mut out), Some(8));
        assert_eq!(
            out,
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n"
        );
        let mut offsets = Offsets {
            next: 100,
            batches: VecDeque::from([(120, 7), (150, 9)]),
        };
        assert_eq!(offsets.acknowledge(119), None);
        assert_eq!(offsets.acknowledge(130), Some(7));
        assert_eq!(offsets.acknowledge(130), None);
        assert_eq!(offsets.acknowledge(1000), Some(9));
        assert!(offsets.batches.is_empty());
    }
}
