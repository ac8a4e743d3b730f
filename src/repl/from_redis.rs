//! Following a redis-server (7.x) primary: a migration from Redis without downtime.
//!
//! The handshake is the one `replica` does for a Roost primary, which is already
//! Redis's (it offers `capa eof capa psync2` beside `capa roost`); what differs comes
//! after `+FULLRESYNC`, and the first bytes tell which primary answered
//! (`transfer_is_rdb`): Redis sends keepalive newlines, then `$<len>\r\n` and an RDB
//! file of that length (a transfer from disk) or `$EOF:<40 bytes>` and the file ended
//! by those 40 bytes (diskless, `repl-diskless-sync yes`); a Roost primary's snapshot
//! starts with a record's 4-byte length, which would have to be over 160 MB to read
//! as either. Which history this server follows is kept with Redis's replication id
//! (`state::replication::RedisHistory`), so after a lost link the next `PSYNC` names
//! Redis's id and byte offset and its `+CONTINUE` is read as Redis's stream.
//!
//! The transfer is received into a file beside the data (as Redis's replicas do
//! unless `repl-diskless-load` says otherwise), read with `rdb::load_file` and written
//! out as records (`store::entry_commands`, what a log rewrite writes), which then go
//! the way a Roost primary's snapshot goes (`replica::load_snapshot`): the data set is
//! replaced while clients get `-LOADING`, and under `appendonly yes` that file becomes
//! the log's base. Keys already expired in the file are left out (the primary sends
//! their `DEL` anyway). Function libraries are loaded.
//!
//! Numbering: Redis's offsets count bytes, Roost's LSNs count records, so the two
//! cannot be one number. This server keeps its own history while it follows Redis: a
//! full sync starts a new replication id of its own and continues its own LSNs, and
//! each command applied is journaled under the next LSN, as the handler propagates it
//! (`Client::journals_applied`), so its log and its own Roost replicas work as they do
//! under a Roost primary. Redis's byte offset is counted beside it, exactly as a Redis
//! replica counts it (every command's bytes, a transaction's only at its `EXEC`), and
//! is what `REPLCONF ACK`, INFO (`master_repl_offset`, `slave_repl_offset`,
//! `master_replid`: Redis's id) and ROLE report while this server follows Redis. A
//! promotion forgets Redis's history and goes on with the server's own id and LSNs.
//!
//! The stream is RESP: `MULTI`/`EXEC` blocks (scripts' effects, as Redis 7 replicates
//! them) are held until `EXEC` and applied under one hold of the gate, logged between
//! `MULTI` and `EXEC`; `SELECT` changes the database; `PING` only counts; `REPLCONF
//! GETACK` is answered with `REPLCONF ACK <offset>`, which also goes back every second.
//! Keys do not expire by themselves here, as on any replica: the primary's `DEL`s
//! remove them.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::replica::{current, keep_received, load_snapshot, read_line, send_ack, Link};
use crate::aof::{header, record};
use crate::cmd::apply::{apply_record, stream_client};
use crate::rdb::{self, FileItem};
use crate::session::Client;
use crate::state::replication::{LinkState, RedisHistory};
use crate::state::Shared;
use crate::{clock, log};

/// Redis's diskless transfer ends with the 40 bytes given after `$EOF:`.
const EOF_MARK_LEN: usize = 40;

/// Where to resume a redis-server primary's stream: `PSYNC` with Redis's id and the
/// next byte, if this server follows (or followed) one.
pub(super) fn resume_point(shared: &Shared) -> Option<(String, i64)> {
    shared
        .repl
        .redis_history()
        .map(|h| (h.replid, h.offset as i64 + 1))
}

/// Reads the first bytes after `+FULLRESYNC` into `head` and says whether they start
/// Redis's RDB transfer (newlines, then `$<digits>\r` or `$EOF:`). Reads at most four
/// bytes, which a Roost primary's snapshot always has; false leaves them in `head`,
/// the start of its records.
pub(super) async fn transfer_is_rdb(
    shared: &Shared,
    link: &mut Link,
    head: &mut Vec<u8>,
) -> Result<bool, String> {
    while head.len() < 4 {
        head.push(read_byte(shared, link).await?);
        let text: Vec<u8> = head.iter().copied().skip_while(|&b| b == b'\n').collect();
        let fits = match text.split_first() {
            None => true,
            Some((&b'$', rest)) if rest.first() == Some(&b'E') => {
                rest.iter().zip(b"EOF:").all(|(a, b)| a == b)
            }
            Some((&b'$', rest)) => rest
                .iter()
                .enumerate()
                .all(|(i, &b)| b.is_ascii_digit() || (b == b'\r' && i > 0)),
            Some(_) => false,
        };
        if !fits {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn read_byte(shared: &Shared, link: &mut Link) -> Result<u8, String> {
    let timeout = Duration::from_secs(shared.config().repl_timeout);
    let byte = tokio::time::timeout(timeout, link.read_u8())
        .await
        .map_err(|_| "timeout waiting for the primary's transfer".to_string())?
        .map_err(|e| format!("reading from the primary: {e}"))?;
    shared
        .repl
        .link
        .last_io_ms
        .store(clock::now_ms(), Ordering::Relaxed);
    Ok(byte)
}

/// A full sync from Redis, after `transfer_is_rdb` read `head`: receives the RDB file,
/// replaces the data set with it and takes Redis's history at `offset`.
pub(super) async fn full_sync(
    shared: &Arc<Shared>,
    link: &mut Link,
    head: &[u8],
    replid: &str,
    offset: u64,
    generation: u64,
) -> Result<(), String> {
    // The header line's end has not been read yet (nor, after newlines only, its start).
    let started: Vec<u8> = head.iter().copied().filter(|&b| b != b'\n').collect();
    let mut line = String::from_utf8_lossy(&started).trim_end().to_string();
    line.push_str(&read_line(link).await?);
    while line.is_empty() {
        line = read_line(link).await?;
    }
    let dir = shared.config().dir.clone();
    let path = dir.join(format!("roost-redis-sync-{}.rdb", std::process::id()));
    let received = receive_rdb(shared, link, &line, &path).await;
    shared
        .repl
        .link
        .sync_total_bytes
        .store(0, Ordering::Relaxed);
    let Some(size) = keep_received(shared, generation, &path, received)? else {
        return Ok(());
    };
    log::notice(&format!(
        "PRIMARY <-> REPLICA sync: received {size} bytes of RDB from the Redis primary, loading it"
    ));
    let loader = shared.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let result = load_rdb(&loader, &path);
        let _ = std::fs::remove_file(&path);
        result
    })
    .await
    .map_err(|e| e.to_string())?;
    loaded?;
    shared.repl.set_redis_history(
        generation,
        Some(RedisHistory {
            replid: replid.to_string(),
            offset,
            db: 0,
        }),
    );
    Ok(())
}

/// Receives the RDB file announced by `line` (`$<len>` or `$EOF:<mark>`) into `path`;
/// returns its size. A transfer from disk stops at its length, so what follows it
/// stays in `link` for the stream.
async fn receive_rdb(
    shared: &Shared,
    link: &mut Link,
    line: &str,
    path: &std::path::Path,
) -> Result<u64, String> {
    let eof_mark = match line.strip_prefix("$EOF:") {
        Some(mark) if mark.len() == EOF_MARK_LEN => Some(mark.as_bytes().to_vec()),
        Some(_) => {
            return Err(format!(
                "bad diskless transfer header from the primary: {line}"
            ))
        }
        None => None,
    };
    let len = match &eof_mark {
        Some(_) => None,
        None => Some(
            line.strip_prefix('$')
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| format!("bad RDB transfer header from the primary: {line}"))?,
        ),
    };
    let info = &shared.repl.link;
    info.sync_read_bytes.store(0, Ordering::Relaxed);
    info.sync_total_bytes
        .store(len.unwrap_or(0), Ordering::Relaxed);
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let timeout = Duration::from_secs(shared.config().repl_timeout);
    let mut written = 0u64;
    let mut chunk = vec![0u8; 1 << 20];
    // Diskless: the last 40 bytes read are held back until more arrive; the transfer
    // ends when they are the mark.
    let mut held: Vec<u8> = Vec::new();
    loop {
        let want = match len {
            Some(len) if written >= len => break,
            Some(len) => ((len - written) as usize).min(chunk.len()),
            None => chunk.len(),
        };
        let read = tokio::time::timeout(timeout, link.read(&mut chunk[..want]))
            .await
            .map_err(|_| "timeout receiving the RDB transfer".to_string())?
            .map_err(|e| format!("reading from the primary: {e}"))?;
        if read == 0 {
            return Err("the primary closed the connection during the RDB transfer".into());
        }
        info.last_io_ms.store(clock::now_ms(), Ordering::Relaxed);
        info.sync_read_bytes
            .fetch_add(read as u64, Ordering::Relaxed);
        let out: &[u8] = match &eof_mark {
            None => &chunk[..read],
            Some(mark) => {
                held.extend_from_slice(&chunk[..read]);
                let done = held.ends_with(mark);
                let keep = if done {
                    EOF_MARK_LEN
                } else {
                    EOF_MARK_LEN.min(held.len())
                };
                let ready = held.len() - keep;
                file.write_all(&held[..ready])
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                written += ready as u64;
                held.drain(..ready);
                if done {
                    break;
                }
                continue;
            }
        };
        file.write_all(out)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        written += out.len() as u64;
    }
    file.flush().await.map_err(|e| e.to_string())?;
    Ok(written)
}

/// Turns the RDB file at `path` into a snapshot of records (a fresh replication id of
/// this server's own, its LSNs going on) and loads it as a Roost primary's.
fn load_rdb(shared: &Shared, path: &std::path::Path) -> Result<(), String> {
    let (dir, logging) = {
        let c = shared.config();
        (c.dir.clone(), c.appendonly)
    };
    let at = shared.journal.last_lsn();
    let snapshot = if logging {
        crate::aof::base_temp_path(&dir, at + 1)
    } else {
        dir.join(format!("roost-sync-{}.tmp", std::process::id()))
    };
    if let Some(parent) = snapshot.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    if let Err(e) = rdb_to_records(shared, path, &snapshot) {
        let _ = std::fs::remove_file(&snapshot);
        return Err(e);
    }
    let own_id = crate::rand::random_hex(40);
    load_snapshot(shared, &snapshot, &own_id, at, logging)
}

/// Writes the RDB file at `rdb_path` as a base of records (header included) at `out`.
fn rdb_to_records(
    shared: &Shared,
    rdb_path: &std::path::Path,
    out: &std::path::Path,
) -> Result<(), String> {
    let input =
        std::fs::File::open(rdb_path).map_err(|e| format!("{}: {e}", rdb_path.display()))?;
    let len = input.metadata().map(|m| m.len()).unwrap_or(0);
    let mut file = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?,
    );
    let io = |e: std::io::Error| format!("{}: {e}", out.display());
    file.write_all(&header::encode(header::Kind::Base))
        .map_err(io)?;
    let databases = shared.keyspace.databases() as u64;
    let now = clock::now_ms();
    let mut records = Vec::with_capacity(1 << 16);
    let mut lsn = 1u64;
    let mut selected = None;
    let mut emit = |records: &mut Vec<u8>, args: &[&[u8]]| {
        record::encode(lsn, args, records);
        lsn += 1;
    };
    let mut write_error = None;
    rdb::load_file(
        std::io::BufReader::with_capacity(1 << 20, input),
        len,
        true,
        |item, _| {
            match item {
                FileItem::Key(k) => {
                    if k.db >= databases {
                        return Err(format!(
                            "the primary uses database {}, and this server has {databases} (databases)",
                            k.db
                        ));
                    }
                    if k.expire_at.is_some_and(|t| t <= now) {
                        return Ok(());
                    }
                    if selected != Some(k.db) {
                        selected = Some(k.db);
                        emit(&mut records, &[b"SELECT", k.db.to_string().as_bytes()]);
                    }
                    crate::store::entry_commands(&k.key, &k.value, k.expire_at, &mut |args| {
                        emit(&mut records, args)
                    });
                }
                FileItem::Function(code) => {
                    emit(&mut records, &[b"FUNCTION", b"LOAD", b"REPLACE", &code]);
                }
                FileItem::Aux(..) | FileItem::Resize { .. } => {}
            }
            if records.len() >= 1 << 16 {
                if let Err(e) = file.write_all(&records) {
                    write_error = Some(e.to_string());
                    return Err("cannot write the snapshot".into());
                }
                records.clear();
            }
            Ok(())
        },
    )
    .map_err(|e| match &write_error {
        Some(w) => format!("{}: {w}", out.display()),
        None => format!("the primary's RDB transfer: {e}"),
    })?;
    file.write_all(&records).map_err(io)?;
    let file = file.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}

/// A `+CONTINUE` from Redis: the stream goes on from our offset, perhaps under the new
/// id the primary names (it was promoted).
pub(super) fn continued(shared: &Shared, generation: u64, new_id: Option<&str>) {
    if let (Some(id), Some(mut history)) = (new_id, shared.repl.redis_history()) {
        if history.replid != id {
            history.replid = id.to_string();
            shared.repl.set_redis_history(generation, Some(history));
        }
    }
}

/// A transaction being received: its commands, applied at its EXEC, and its bytes.
struct Transaction {
    commands: Vec<Vec<Bytes>>,
    bytes: u64,
}

/// Applies Redis's command stream until the link breaks or is no longer wanted.
pub(super) async fn follow_stream(
    shared: &Arc<Shared>,
    link: Link,
    generation: u64,
) -> Result<(), String> {
    let Some(mut history) = shared.repl.redis_history() else {
        return Err("no Redis history to follow".into());
    };
    let backlog_size = shared.config().repl_backlog_size as usize;
    shared.journal.ensure_backlog(backlog_size);
    shared.repl.link.set_state(LinkState::Connected);
    log::notice(&format!(
        "PRIMARY <-> REPLICA sync: following the Redis primary's stream from offset {}",
        history.offset
    ));
    let mut buffer = link.buffer().to_vec();
    let mut stream = link.into_inner();
    let mut client = stream_client();
    client.journals_applied = true;
    client.db = history.db;
    let mut transaction: Option<Transaction> = None;
    let mut ack_now = true;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let link_info = &shared.repl.link;
    link_info
        .last_io_ms
        .store(clock::now_ms(), Ordering::Relaxed);
    loop {
        let max_bulk = shared.config().proto_max_bulk_len;
        let mut consumed = 0;
        while let Some((args, len)) = parse_command(&buffer[consumed..], max_bulk)? {
            consumed += len;
            let len = len as u64;
            if let Some(t) = &mut transaction {
                t.bytes += len;
                if args[0].eq_ignore_ascii_case(b"exec") {
                    let t = transaction.take().expect("in a transaction");
                    if !apply_transaction(shared, generation, &mut client, &t.commands) {
                        return Ok(());
                    }
                    history.offset += t.bytes;
                } else {
                    t.commands.push(args);
                }
                continue;
            }
            if args[0].eq_ignore_ascii_case(b"multi") {
                transaction = Some(Transaction {
                    commands: Vec::new(),
                    bytes: len,
                });
                continue;
            }
            let getack = args.len() == 3
                && args[0].eq_ignore_ascii_case(b"replconf")
                && args[1].eq_ignore_ascii_case(b"getack");
            ack_now |= getack;
            let control = getack || args[0].eq_ignore_ascii_case(b"ping");
            if !control && !apply_one(shared, generation, &mut client, &args) {
                return Ok(());
            }
            history.offset += len;
        }
        buffer.drain(..consumed);
        if consumed > 0 {
            shared.journal.flush();
            history.db = client.db;
            shared
                .repl
                .set_redis_history(generation, Some(history.clone()));
        }
        if ack_now {
            send_ack(&mut stream, history.offset, None).await?;
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
            _ = tick.tick() => {
                if shared.is_shutting_down() {
                    return Ok(());
                }
                send_ack(&mut stream, history.offset, None).await?;
                let timeout = shared.config().repl_timeout;
                let silent = clock::now_ms().saturating_sub(link_info.last_io_ms.load(Ordering::Relaxed));
                if silent > timeout * 1000 {
                    return Err(format!("no data from the primary for {timeout} seconds (repl-timeout)"));
                }
            }
        }
    }
}

/// Applies one command and journals it under this server's next LSN. False if this
/// link was replaced meanwhile (nothing applied).
fn apply_one(shared: &Shared, generation: u64, client: &mut Client, args: &[Bytes]) -> bool {
    let _gate = shared.keyspace.write_gate();
    // Checked under the gate: a promotion takes it too.
    if !current(shared, generation) {
        return false;
    }
    apply_record(shared, client, 0, args);
    true
}

/// Applies a transaction's commands under one hold of the gate, journaled between
/// `MULTI` and `EXEC`.
fn apply_transaction(
    shared: &Shared,
    generation: u64,
    client: &mut Client,
    commands: &[Vec<Bytes>],
) -> bool {
    let _gate = shared.keyspace.write_gate();
    if !current(shared, generation) {
        return false;
    }
    shared.journal.begin_transaction();
    for args in commands {
        apply_record(shared, client, 0, args);
    }
    shared.journal.end_transaction();
    true
}

/// One command of Redis's stream (an array of bulk strings) and its length in bytes,
/// or `None` until it has wholly arrived.
fn parse_command(buf: &[u8], max_bulk: u64) -> Result<Option<(Vec<Bytes>, usize)>, String> {
    let Some((count, mut pos)) = parse_header(buf, 0, b'*', max_bulk)? else {
        return Ok(None);
    };
    if count == 0 {
        return Err("an empty command in the primary's stream".into());
    }
    let mut args = Vec::with_capacity(count.min(1024) as usize);
    for _ in 0..count {
        let Some((len, start)) = parse_header(buf, pos, b'$', max_bulk)? else {
            return Ok(None);
        };
        let end = start + len as usize;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err("a bulk string without its CRLF in the primary's stream".into());
        }
        args.push(Bytes::copy_from_slice(&buf[start..end]));
        pos = end + 2;
    }
    Ok(Some((args, pos)))
}

/// `<kind><number>\r\n` at `pos`: the number and where the line ends.
fn parse_header(
    buf: &[u8],
    pos: usize,
    kind: u8,
    max: u64,
) -> Result<Option<(u64, usize)>, String> {
    let Some(&first) = buf.get(pos) else {
        return Ok(None);
    };
    if first != kind {
        return Err(format!(
            "expected '{}' in the primary's stream, got {:?}",
            kind as char, first as char
        ));
    }
    let Some(cr) = buf[pos..].iter().position(|&b| b == b'\r') else {
        return if buf.len() - pos > 24 {
            Err("a line too long in the primary's stream".into())
        } else {
            Ok(None)
        };
    };
    let end = pos + cr;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    let number = std::str::from_utf8(&buf[pos + 1..end])
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|&n| n <= max && buf[end + 1] == b'\n')
        .ok_or("a bad length in the primary's stream")?;
    Ok(Some((number, end + 2)))
}

#[cfg(test)]
mod tests {
    use super::parse_command;

    #[test]
    fn commands_are_parsed_with_their_byte_length() {
        let stream = b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n*2";
        let (args, len) = parse_command(stream, 1 << 20).unwrap().unwrap();
        assert_eq!((args.len(), len), (1, 14));
        let (args, len) = parse_command(&stream[14..], 1 << 20).unwrap().unwrap();
        assert_eq!(args[2].as_ref(), b"vv");
        assert_eq!(len, 28);
        assert!(parse_command(&stream[42..], 1 << 20).unwrap().is_none());
        assert!(parse_command(b"*1\r\n$4\r\nPI", 1 << 20).unwrap().is_none());
        assert!(parse_command(b"+OK\r\n", 1 << 20).is_err());
        assert!(parse_command(b"*1\r\n$9\r\nPING\r\n", 8).is_err());
    }
}
