//! One task per connection: read, decode every complete request, dispatch each, and
//! write all the replies of the batch at once.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::cmd::{self, Ctx};
use crate::protocol::{Decoder, Limits, Reply};
use crate::session::{Blocked, Client};
use crate::state::scripts::Standing;
use crate::state::Shared;
use crate::{clock, log};

const READ_CHUNK: usize = 16 * 1024;

/// Serves one client, over plaintext TCP or TLS alike.
pub(super) async fn serve<S>(
    shared: Arc<Shared>,
    mut stream: S,
    addr: SocketAddr,
    laddr: SocketAddr,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let maxclients = shared.config().maxclients;
    if shared.clients.len() >= maxclients {
        shared
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    }
    if protected_mode_refuses(&shared, addr) {
        shared
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let mut denied = BytesMut::new();
        cmd::error::PROTECTED_MODE.encode(2, &mut denied);
        let _ = stream.write_all(&denied).await;
        // Closed gently: a request the client sent meanwhile, left unread, would turn
        // the close into a reset that can discard the text before the client reads it.
        let _ = stream.shutdown().await;
        let mut discard = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while matches!(stream.read(&mut discard).await, Ok(n) if n > 0) {}
        })
        .await;
        return;
    }
    let info = shared.clients.register(addr, laddr);
    let default_user = shared.acl.default_user().clone();
    let mut client = Client::new(info.clone(), default_user, !shared.requires_auth());
    let mut decoder = Decoder::new();
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::with_capacity(READ_CHUNK);
    // Where the replies to writes lie in `output`, until it is sent.
    let mut writes: Vec<WriteReply> = Vec::new();

    // After a blocked command answers, the requests already read are served before
    // reading again.
    let mut resume = false;
    'connection: loop {
        if input.capacity() - input.len() < READ_CHUNK / 4 {
            input.reserve(READ_CHUNK);
        }
        if !resume {
            let idle_limit = idle_timeout(&shared, &client);
            let subscriber = client.subscriber.clone();
            let read = tokio::select! {
                read = stream.read_buf(&mut input) => read,
                _ = messages(&subscriber) => {
                    if !flush_messages(&shared, &client, &mut stream, &mut output).await {
                        break;
                    }
                    continue;
                }
                _ = info.kill_switch.notified() => break,
                _ = sleep_or_forever(idle_limit) => {
                    log::verbose(&format!("Closing idle client id={}", client.id));
                    break;
                }
            };
            match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    shared
                        .stats
                        .net_input_bytes
                        .fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        }
        resume = false;
        if info.kill_switch.is_killed() {
            break;
        }
        let (max_bulk_len, query_limit) = {
            let config = shared.config();
            (config.proto_max_bulk_len, config.client_query_buffer_limit)
        };
        loop {
            let limits = Limits {
                max_bulk_len: max_bulk_len.min(i64::MAX as u64) as i64,
                authenticated: client.authenticated,
            };
            match decoder.decode(&mut input, limits) {
                Ok(Some(mut args)) => {
                    info.last_interaction_ms
                        .store(clock::now_ms(), Ordering::Relaxed);
                    let earlier_lsn = client.pending_lsn.take();
                    let reply_start = output.len();
                    let reply = loop {
                        // While another client's script runs, and until it passes
                        // busy-reply-threshold, requests wait for it here, holding no
                        // thread (as in Redis, nobody is served during a script).
                        if !wait_for_script(&shared, &client).await {
                            break 'connection;
                        }
                        let reply = cmd::dispatch(
                            &mut Ctx {
                                shared: &shared,
                                client: &mut client,
                            },
                            args,
                        );
                        match client.deferred.take() {
                            // The script took the keyspace first: wait and run it again.
                            Some(request) => args = request,
                            None => break reply,
                        }
                    };
                    shared
                        .stats
                        .total_commands_processed
                        .fetch_add(1, Ordering::Relaxed);
                    reply.encode(client.proto, &mut output);
                    if let Some(lsn) = client.pending_lsn {
                        writes.push(WriteReply {
                            start: reply_start,
                            end: output.len(),
                            lsn,
                        });
                    }
                    client.pending_lsn = client.pending_lsn.max(earlier_lsn);
                    if client.close_after_reply
                        || client.blocked.is_some()
                        || client.handoff.is_some()
                    {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    log::verbose(&format!("Protocol error from client id={}: {e}", client.id));
                    cmd::error::failed(e).encode(client.proto, &mut output);
                    client.close_after_reply = true;
                    break;
                }
            }
        }
        if input.len() as u64 > query_limit {
            log::warning(&format!(
                "Closing client id={} that reached max query buffer length ({} bytes)",
                client.id,
                input.len()
            ));
            break 'connection;
        }
        // No reply to a write leaves before its record is written to the log (under
        // appendfsync always, fsynced); a write not in the log while the log fails is
        // not acknowledged: its reply becomes MISCONF.
        if let Some(lsn) = client.pending_lsn.take() {
            if let Err(failed) = shared.persistence.wait_durable(lsn).await {
                output = unacknowledge(&output, &writes, &failed, client.proto);
            }
        }
        writes.clear();
        // Messages published to this client go after the replies that subscribed it.
        if !flush_messages(&shared, &client, &mut stream, &mut output).await {
            break;
        }
        if client.close_after_reply {
            break;
        }
        if let Some(psync) = client.handoff.take() {
            cmd::txn::discard_state(&shared, &mut client);
            crate::repl::primary::serve(shared, stream, info, psync, input).await;
            return;
        }
        if let Some(blocked) = client.blocked.take() {
            // While blocked the socket is still read: a client that hangs up is gone
            // (and leaves its place in line), and what it pipelines waits in `input`.
            info.blocked.store(true, Ordering::Relaxed);
            let reply = {
                let wait = wait_blocked(&shared, &mut client, blocked);
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        reply = &mut wait => break Some(reply),
                        _ = info.kill_switch.notified() => break None,
                        read = stream.read_buf(&mut input) => match read {
                            Ok(n) if n > 0 && input.len() as u64 <= query_limit => {
                                shared
                                    .stats
                                    .net_input_bytes
                                    .fetch_add(n as u64, Ordering::Relaxed);
                            }
                            _ => break None,
                        },
                    }
                }
            };
            info.blocked.store(false, Ordering::Relaxed);
            let Some(reply) = reply else {
                break;
            };
            reply.encode(client.proto, &mut output);
            // A served pop is a write: it is in the log (under always, fsynced) first.
            if let Some(lsn) = client.pending_lsn.take() {
                if let Err(failed) = shared.persistence.wait_durable(lsn).await {
                    let whole = [WriteReply {
                        start: 0,
                        end: output.len(),
                        lsn,
                    }];
                    output = unacknowledge(&output, &whole, &failed, client.proto);
                }
            }
            if stream.write_all(&output).await.is_err() {
                break;
            }
            output.clear();
            resume = true;
        }
    }
    cmd::txn::discard_state(&shared, &mut client);
    cmd::pubsub::unsubscribe_all(&shared, &mut client);
    shared.tracking.disable(client.id);
    shared.clients.unregister(client.id);
}

/// The reply to a write, at `start..end` of the batch's output; `lsn` is the last
/// record the command wrote.
struct WriteReply {
    start: usize,
    end: usize,
    lsn: u64,
}

/// The batch's output with every reply to a write that is not in the log replaced by
/// MISCONF (the write happened in memory and will be logged once the disk allows, but
/// it is not acknowledged). Other replies stay as they were.
fn unacknowledge(
    output: &[u8],
    writes: &[WriteReply],
    failed: &crate::state::NotLogged,
    proto: u8,
) -> BytesMut {
    let mut refusal = BytesMut::new();
    cmd::error::log_write_failed(&failed.cause).encode(proto, &mut refusal);
    let mut rewritten = BytesMut::with_capacity(output.len());
    let mut copied = 0;
    for write in writes.iter().filter(|w| w.lsn > failed.durable_lsn) {
        rewritten.extend_from_slice(&output[copied..write.start]);
        rewritten.extend_from_slice(&refusal);
        copied = write.end;
    }
    rewritten.extend_from_slice(&output[copied..]);
    rewritten
}

/// Protected mode, as in Redis: while it is on and the default user has no password,
/// only loopback clients are served (checked when each connection is accepted, with the
/// configuration of that moment, so CONFIG SET of either applies to the next one).
fn protected_mode_refuses(shared: &Shared, peer: SocketAddr) -> bool {
    shared.config().protected_mode
        && shared.acl.default_is_open()
        && !peer.ip().to_canonical().is_loopback()
}

/// Waits while another client's script runs and has not passed busy-reply-threshold;
/// false if this connection was killed meanwhile.
async fn wait_for_script(shared: &Shared, client: &Client) -> bool {
    let running = &shared.scripts.running;
    if running.standing(client.id) != Standing::Wait {
        return true;
    }
    tokio::select! {
        _ = running.busy_or_done() => !client.info.kill_switch.is_killed(),
        _ = client.info.kill_switch.notified() => false,
    }
}

/// Resolves when messages wait in the subscriber's outbox; never without one.
async fn messages(subscriber: &Option<Arc<crate::pubsub::Subscriber>>) {
    match subscriber {
        Some(s) => s.ready.notified().await,
        None => std::future::pending().await,
    }
}

/// Appends waiting pub/sub messages to `output` and writes it all out; false if the
/// connection must close (write error, or the subscriber passed its output limit).
async fn flush_messages(
    shared: &Shared,
    client: &Client,
    stream: &mut (impl AsyncWrite + Unpin),
    output: &mut BytesMut,
) -> bool {
    if let Some(subscriber) = &client.subscriber {
        if subscriber.overflowed.load(Ordering::Acquire) {
            log::warning(&format!(
                "Client id={} closed for overcoming of output buffer limits (pubsub).",
                client.id
            ));
            return false;
        }
        subscriber.drain_into(output);
    }
    if output.is_empty() {
        return true;
    }
    shared
        .stats
        .net_output_bytes
        .fetch_add(output.len() as u64, Ordering::Relaxed);
    let written = tokio::select! {
        written = stream.write_all(output) => written.is_ok(),
        _ = client.info.kill_switch.notified() => false,
    };
    output.clear();
    written
}

async fn wait_blocked(shared: &Shared, client: &mut Client, blocked: Blocked) -> Reply {
    match blocked {
        Blocked::Wait {
            replicas,
            lsn,
            deadline,
        } => cmd::repl::wait_until(shared, replicas, lsn, deadline).await,
        Blocked::List {
            db,
            keys,
            op,
            deadline,
            waiter,
        } => cmd::list::wait_pop(shared, client, db, keys, op, deadline, waiter).await,
    }
}

/// How long this client may stay idle: `timeout` seconds, but never for a client in
/// the middle of a transaction.
fn idle_timeout(shared: &Shared, client: &Client) -> Option<Duration> {
    let seconds = shared.config().timeout;
    (seconds > 0 && !client.in_multi()).then(|| Duration::from_secs(seconds))
}

async fn sleep_or_forever(limit: Option<Duration>) {
    match limit {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
