//! One task per connection: read, decode every complete request, dispatch each, and
//! write all the replies of the batch at once.
//!
//! Output is bounded two ways. Backpressure: decoding pauses once `run_ahead` bytes of
//! replies are unsent (64 KB, less under a small limit), and resumes only when the
//! client has read them down below that, so a client that pipelines without reading
//! holds at most that plus one reply, and one that reads slowly is served at its pace.
//! Limits: while output is pending, `client-output-buffer-limit` for the client's class
//! is checked at every step (new replies or messages, each write, the soft limit's
//! deadline); a client past it is closed and logged as Redis logs it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::tls_stream::TlsStream;
use crate::cmd::{self, Ctx};
use crate::config::OutputLimit;
use crate::protocol::{Decoder, Limits, Reply};
use crate::session::{Blocked, Client, PeerAddr};
use crate::state::persistence::NotLogged;
use crate::state::scripts::Standing;
use crate::state::Shared;
use crate::{clock, log, persist};

const READ_CHUNK: usize = 16 * 1024;
/// How much input TLS records already read may add before the requests are served.
const COALESCE_MAX: usize = 4 * READ_CHUNK;

/// The read buffer of a connection that had none (new, or idle a while).
const FIRST_READ: usize = 1024;

/// How many bytes of unsent replies a connection runs ahead of its client at most
/// before it stops decoding the client's pipelined requests (see `run_ahead`).
const RUN_AHEAD: u64 = 64 * 1024;

/// How long a connection keeps its read and write buffers without traffic.
const BUFFERS_KEPT_IDLE: Duration = Duration::from_secs(1);

/// An output buffer left bigger than this by a large reply is given back once sent.
const OUTPUT_KEEP: usize = 2 * RUN_AHEAD as usize;

/// Where decoding pauses for a class with `limit`: `RUN_AHEAD`, or the soft limit, or
/// half the hard limit if smaller, so that a client that keeps reading never reaches a
/// limit through pipelining alone, and one that stops reading with requests still
/// pipelined sits at or over the soft limit (and is closed after its seconds).
fn run_ahead(limit: &OutputLimit) -> usize {
    let mut bytes = RUN_AHEAD;
    if limit.soft > 0 {
        bytes = bytes.min(limit.soft);
    }
    if limit.hard > 0 {
        bytes = bytes.min(limit.hard / 2);
    }
    bytes.max(1) as usize
}

/// A stream a connection can wait on before it has a buffer to read into, so that an
/// idle connection holds none: the socket's readiness, or for TLS bytes it already
/// holds.
pub(super) trait Readable {
    fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
    /// Whether bytes already taken from the socket wait to be decoded (TLS plaintext
    /// not yet handed over, records read ahead): reading again now costs no system call.
    fn holds_read_ahead(&mut self) -> bool {
        false
    }
    /// Gives back the stream's own buffers when the connection idles.
    fn release_buffers(&mut self) {}
}

impl Readable for tokio::net::TcpStream {
    fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        tokio::net::TcpStream::readable(self)
    }
}

impl Readable for TlsStream<tokio::net::TcpStream> {
    async fn readable(&self) -> std::io::Result<()> {
        if self.holds_read_ahead() {
            return Ok(());
        }
        self.socket().readable().await
    }
    fn holds_read_ahead(&mut self) -> bool {
        TlsStream::holds_read_ahead(self)
    }
    fn release_buffers(&mut self) {
        TlsStream::release_buffers(self)
    }
}

/// Serves one client, over plaintext TCP, TLS or the Unix socket alike.
pub(super) async fn serve<S>(shared: Arc<Shared>, mut stream: S, addr: PeerAddr, laddr: PeerAddr)
where
    S: AsyncRead + AsyncWrite + Readable + Unpin + Send + 'static,
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
    if protected_mode_refuses(&shared, &addr) {
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
    // Allocated when the client sends something, given back when it falls idle.
    let mut input = BytesMut::new();
    let mut output = BytesMut::new();
    let mut limits = Watch::default();
    // Where the replies to writes lie in `output`, until it is sent.
    let mut writes: Vec<WriteReply> = Vec::new();
    // The read buffer's size as `ClientInfo::input_buffer` last showed it.
    let mut input_reported = 0;

    // Requests already read wait to be served before reading again: after a blocked
    // command answers, and while decoding is paused for unread replies.
    let mut resume = false;
    // When the connection began waiting for its next request (`timeout` counts from it).
    let mut waiting_since: Option<tokio::time::Instant> = None;
    // Armed once, and moved only when it fires before the connection has idled for
    // `BUFFERS_KEPT_IDLE`: a timer registered afresh for every request cost more than
    // a GET (the kill-switch wait keeps its waker in one slot: `KillSwitch::killed`).
    let idle_buffers = tokio::time::sleep(BUFFERS_KEPT_IDLE);
    tokio::pin!(idle_buffers);
    'connection: loop {
        if !resume {
            let since = *waiting_since.get_or_insert_with(tokio::time::Instant::now);
            let idle_limit =
                idle_timeout(&client, &mut limits.settings, &shared).map(|limit| since + limit);
            let subscriber = client.subscriber.clone();
            // Biased, the request first: once woken by it, the other waits are not
            // polled again (messages are drained and the kill switch checked after
            // every read anyway).
            let read = tokio::select! {
                biased;
                read = async {
                    stream.readable().await?;
                    if input.capacity() == 0 {
                        // After idling, most often one small request: a small buffer,
                        // which the next read grows if the client turns out busy.
                        input.reserve(FIRST_READ);
                    } else if input.capacity() - input.len() < READ_CHUNK / 4 {
                        input.reserve(READ_CHUNK);
                    }
                    stream.read_buf(&mut input).await
                } => read,
                _ = messages(&subscriber) => {
                    let limit = current_limit(&shared, &info, &mut limits.settings);
                    let sent = send(&shared, &client, &mut stream, &mut output, (limit, &mut limits), 0);
                    if !sent.await {
                        break;
                    }
                    waiting_since = None;
                    continue;
                }
                _ = info.kill_switch.killed() => break,
                // An idle connection gives its buffers back (a busy one keeps them, so
                // serving a request allocates nothing).
                _ = &mut idle_buffers,
                    if (input.is_empty() && input.capacity() > 0) || output.capacity() > 0 => {
                    if since.elapsed() < BUFFERS_KEPT_IDLE {
                        idle_buffers.as_mut().reset(since + BUFFERS_KEPT_IDLE);
                        continue;
                    }
                    if input.is_empty() {
                        input = BytesMut::new();
                    }
                    output = BytesMut::new();
                    stream.release_buffers();
                    report_input_buffer(&info, &input, &mut input_reported);
                    continue;
                }
                _ = sleep_or_forever(idle_limit) => {
                    log::verbose(&format!("Closing idle client id={}", client.id));
                    break;
                }
            };
            waiting_since = None;
            match read {
                Ok(0) | Err(_) => break,
                Ok(n) => shared.stats.count_read(n),
            }
            // A pipeline can span several TLS records, and a read returns at most one
            // (or what fits): what has already come off the socket is taken now, so
            // that the pipeline is served, and answered, in one round.
            while stream.holds_read_ahead() && input.len() < COALESCE_MAX {
                input.reserve(READ_CHUNK);
                match read_now(&mut stream, &mut input).await {
                    Some(n) => shared.stats.count_read(n),
                    None => break,
                }
            }
        }
        report_input_buffer(&info, &input, &mut input_reported);
        if !resume {
            // Messages published before these requests arrived go before their replies,
            // as Redis writes a message into the subscriber's buffer as it publishes.
            if let Some(subscriber) = &client.subscriber {
                subscriber.drain_into(&mut output);
            }
        }
        resume = false;
        if info.kill_switch.is_killed() {
            break;
        }
        let (max_bulk_len, query_limit, output_limit) = {
            let settings = limits.settings.current(&shared);
            (
                settings.proto_max_bulk_len,
                settings.client_query_buffer_limit,
                settings.output_limits[info.output_class()],
            )
        };
        let pause_at = run_ahead(&output_limit);
        loop {
            if output.len() >= pause_at {
                // Backpressure: the rest of the pipeline waits until the client has
                // read these replies down below `pause_at`.
                resume = true;
                break;
            }
            let limits = Limits {
                max_bulk_len: max_bulk_len.min(i64::MAX as u64) as i64,
                authenticated: client.authenticated,
            };
            match decoder.decode(&mut input, limits) {
                Ok(Some(mut args)) => {
                    info.last_interaction_ms
                        .store(clock::coarse_ms(), Ordering::Relaxed);
                    let earlier_lsn = client.pending_lsn.take();
                    let reply_start = output.len();
                    let reply = loop {
                        // While another client's script runs, and until it passes
                        // busy-reply-threshold, requests wait for it here, holding no
                        // thread (as in Redis, nobody is served during a script).
                        if !wait_for_script(&shared, &client).await {
                            break 'connection;
                        }
                        // GET and the like may write their reply into `output`
                        // themselves (`cmd::Direct`), answering NoReply.
                        let reply = cmd::dispatch_into(
                            &mut Ctx {
                                shared: &shared,
                                client: &mut client,
                            },
                            args,
                            Some(&mut output),
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
                            hands_out: client.hands_out,
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
        // Let the other connections with requests waiting be served first, so the
        // replies of one pass over the ready connections leave together: the first
        // write wakes a client process, the rest find it awake (as Redis writes every
        // reply of an event-loop pass before it sleeps). Their writes are in the
        // journal by then, so one write() to the log covers them all.
        if !output.is_empty() {
            ToBackOfQueue::default().await;
        }
        // No reply to a write leaves before its record is written to the log (under
        // appendfsync always, fsynced); a write not in the log while the log fails is
        // not acknowledged: its reply becomes MISCONF.
        if let Some(lsn) = client.pending_lsn.take() {
            if let Err(failed) = wait_logged(&shared, lsn).await {
                output = unacknowledge(&output, &writes, &failed, client.proto);
            }
        }
        writes.clear();
        // Messages published to this client go after the replies that subscribed it.
        // Paused, only down below the pause point; otherwise all of it.
        let keep = if resume { pause_at } else { 0 };
        let sent = send(
            &shared,
            &client,
            &mut stream,
            &mut output,
            (output_limit, &mut limits),
            keep,
        );
        if !sent.await {
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
        // A request run after CLIENT PAUSE may block again (another pause, BLPOP).
        while let Some(blocked) = client.blocked.take() {
            // While blocked the socket is still read: a client that hangs up is gone
            // (and leaves its place in line), and what it pipelines waits in `input`.
            info.blocked.store(true, Ordering::Relaxed);
            info.blocked_with_timeout
                .store(blocked.has_timeout(), Ordering::Relaxed);
            let mut demotions = shared.repl.demotions.subscribe();
            let paused = matches!(blocked, Blocked::Paused { .. });
            let reply = {
                let wait = wait_blocked(&shared, &mut client, blocked);
                tokio::pin!(wait);
                loop {
                    // Nothing blocks on a read-only replica (pops are writes, WAIT is
                    // refused): this one blocked before the server began following a
                    // primary. A writable replica's own pops are released by the signal.
                    // (A request held by CLIENT PAUSE is not blocking yet.)
                    if !paused && shared.repl.is_replica() && shared.config().replica_read_only {
                        break Some(cmd::error::UNBLOCKED_BY_DEMOTION);
                    }
                    if input.capacity() - input.len() < READ_CHUNK / 4 {
                        input.reserve(READ_CHUNK);
                    }
                    tokio::select! {
                        reply = &mut wait => break Some(reply),
                        _ = demotions.changed() => {}
                        _ = info.kill_switch.notified() => break None,
                        read = stream.read_buf(&mut input) => match read {
                            Ok(n) if n > 0 && input.len() as u64 <= query_limit => {
                                shared.stats.count_read(n);
                            }
                            _ => break None,
                        },
                    }
                }
            };
            info.blocked.store(false, Ordering::Relaxed);
            info.blocked_with_timeout.store(false, Ordering::Relaxed);
            let Some(reply) = reply else {
                break 'connection;
            };
            reply.encode(client.proto, &mut output);
            // A served pop is a write: it is in the log (under always, fsynced) first. If
            // the log fails, the popped data still goes to the client (see
            // `unacknowledge`).
            if let Some(lsn) = client.pending_lsn.take() {
                let _ = wait_logged(&shared, lsn).await;
            }
            let limit = current_limit(&shared, &info, &mut limits.settings);
            let sent = send(
                &shared,
                &client,
                &mut stream,
                &mut output,
                (limit, &mut limits),
                0,
            );
            if !sent.await {
                break 'connection;
            }
            resume = true;
        }
    }
    cmd::txn::discard_state(&shared, &mut client);
    cmd::pubsub::unsubscribe_all(&shared, &mut client);
    shared.tracking.disable(client.id);
    shared.clients.unregister(client.id);
}

/// Shows the read buffer's size in `ClientInfo::input_buffer` when it changed.
fn report_input_buffer(info: &crate::session::ClientInfo, input: &BytesMut, reported: &mut u64) {
    let held = input.capacity() as u64;
    if held != *reported {
        info.input_buffer.store(held, Ordering::Relaxed);
        *reported = held;
    }
}

/// Writes the records queued so far to the log, or wakes the log writer for them
/// (`Ctx::propagate` leaves that to the end of the batch), then waits until the
/// writes up to `lsn` are in the log.
async fn wait_logged(shared: &Shared, lsn: u64) -> Result<(), NotLogged> {
    if shared.persistence.durable_lsn() < lsn {
        persist::writer::write_queued(shared);
    }
    shared.persistence.wait_durable(lsn).await
}

/// The reply to a write, at `start..end` of the batch's output; `lsn` is the last
/// record the command wrote.
struct WriteReply {
    start: usize,
    end: usize,
    lsn: u64,
    /// The reply carries data the write took out of the keyspace (a pop).
    hands_out: bool,
}

/// The batch's output with every reply to a write that is not in the log replaced by
/// MISCONF (the write happened in memory and will be logged once the disk allows, but
/// it is not acknowledged). Other replies stay as they were, and so do replies that hand
/// out data a write took out of the keyspace (a pop): refusing those would leave the
/// data with no one. Should the server then crash before the disk recovers, the pop is
/// not in the log and the element comes back: delivered twice rather than lost.
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
    for write in writes
        .iter()
        .filter(|w| w.lsn > failed.durable_lsn && !w.hands_out)
    {
        rewritten.extend_from_slice(&output[copied..write.start]);
        rewritten.extend_from_slice(&refusal);
        copied = write.end;
    }
    rewritten.extend_from_slice(&output[copied..]);
    rewritten
}

/// Protected mode, as in Redis: while it is on and the default user has no password,
/// only local clients (loopback, the Unix socket) are served (checked when each
/// connection is accepted, with the configuration of that moment, so CONFIG SET of
/// either applies to the next one).
fn protected_mode_refuses(shared: &Shared, peer: &PeerAddr) -> bool {
    shared.config().protected_mode && shared.acl.default_is_open() && !peer.is_local()
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

/// The connection's side of `client-output-buffer-limit`: when its output reached the
/// soft limit (unix ms), until it is seen below it again.
#[derive(Default)]
struct Watch {
    over_soft_since: Option<u64>,
    settings: Settings,
}

/// The settings a connection reads for every request, kept until the configuration
/// changes (`Shared::config_version`): reading them under the configuration's lock
/// cost four locked instructions per request.
struct Settings {
    version: u64,
    timeout: u64,
    proto_max_bulk_len: u64,
    client_query_buffer_limit: u64,
    output_limits: [OutputLimit; 3],
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            // No configuration has this version: the first use reads it.
            version: u64::MAX,
            timeout: 0,
            proto_max_bulk_len: 0,
            client_query_buffer_limit: 0,
            output_limits: [OutputLimit::default(); 3],
        }
    }
}

impl Settings {
    fn current(&mut self, shared: &Shared) -> &Settings {
        let version = shared.config_version();
        if version != self.version {
            let config = shared.config();
            *self = Settings {
                version,
                timeout: config.timeout,
                proto_max_bulk_len: config.proto_max_bulk_len,
                client_query_buffer_limit: config.client_query_buffer_limit,
                output_limits: config.output_limits,
            };
        }
        self
    }
}

fn current_limit(
    shared: &Shared,
    info: &crate::session::ClientInfo,
    settings: &mut Settings,
) -> OutputLimit {
    settings.current(shared).output_limits[info.output_class()]
}

/// Output smaller than this Redis keeps in its reply buffer and does not count in INFO
/// `client_recent_max_output_buffer`; neither does Roost (nor does it read the clock).
const REPLY_BUFFER: u64 = 16 * 1024;

/// Writes `output`, and the pub/sub messages that arrive meanwhile, until fewer than
/// `keep` bytes are left (all of it for 0), holding the client to its output limit (as
/// the batch found it, then as configured now, after each write) at every step; false
/// if the connection must close (a write error, CLIENT KILL, or the limit, which is
/// logged as Redis logs it).
/// Reads what `stream` can give without waiting; `None` when that is nothing (the
/// connection loop's next read sees an end or an error again).
async fn read_now(stream: &mut (impl AsyncRead + Unpin), input: &mut BytesMut) -> Option<usize> {
    let mut read = std::pin::pin!(stream.read_buf(input));
    use std::future::Future;
    match std::future::poll_fn(|cx| std::task::Poll::Ready(read.as_mut().poll(cx))).await {
        std::task::Poll::Ready(Ok(n)) if n > 0 => Some(n),
        _ => None,
    }
}

async fn send(
    shared: &Shared,
    client: &Client,
    stream: &mut (impl AsyncWrite + Unpin),
    output: &mut BytesMut,
    (mut limit, watch): (OutputLimit, &mut Watch),
    keep: usize,
) -> bool {
    let info = &client.info;
    let mut first = true;
    let open = loop {
        if let Some(subscriber) = &client.subscriber {
            if subscriber.overflowed.load(Ordering::Acquire) {
                close_for_limit(info);
                break false;
            }
            subscriber.drain_into(output);
        }
        let pending = output.len() as u64;
        info.output_pending.store(pending, Ordering::Relaxed);
        if !first {
            limit = current_limit(shared, info, &mut watch.settings);
        }
        first = false;
        if pending > REPLY_BUFFER {
            shared.stats.recent_max_output.record(pending);
        }
        // The clock only matters at the soft limit.
        let now = if limit.soft > 0 && pending >= limit.soft {
            clock::now_ms()
        } else {
            0
        };
        if limit.exceeded(pending, &mut watch.over_soft_since, now) {
            close_for_limit(info);
            break false;
        }
        if output.is_empty() || output.len() < keep {
            break true;
        }
        if info.kill_switch.is_killed() {
            break false;
        }
        let soft_deadline = limit.soft_deadline(watch.over_soft_since);
        // Biased, the write first: a socket that takes it at once (the usual case) ends
        // the select before the other waits are registered (the kill switch is
        // checked above at every turn).
        tokio::select! {
            biased;
            written = stream.write(output) => match written {
                Ok(n) if n > 0 => {
                    output.advance(n);
                    shared.stats.count_write(n);
                }
                _ => break false,
            },
            // Drained at the top of the loop, and counted against the limit.
            _ = messages(&client.subscriber) => {}
            _ = info.kill_switch.notified() => break false,
            _ = clock::sleep_until_ms(soft_deadline) => {}
        }
    };
    info.output_pending
        .store(output.len() as u64, Ordering::Relaxed);
    if !open {
        return false;
    }
    if output.is_empty() {
        if output.capacity() > OUTPUT_KEEP {
            *output = BytesMut::new();
        }
        // A TLS stream may still hold the end of what was written.
        return tokio::select! {
            flushed = stream.flush() => flushed.is_ok(),
            _ = info.kill_switch.notified() => false,
        };
    }
    true
}

/// Logs a client closed by `client-output-buffer-limit`, in Redis's words.
fn close_for_limit(info: &crate::session::ClientInfo) {
    log::warning(&format!(
        "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
        cmd::conn::describe(info)
    ));
}

async fn wait_blocked(shared: &Shared, client: &mut Client, blocked: Blocked) -> Reply {
    match blocked {
        Blocked::Wait {
            replicas,
            lsn,
            deadline,
        } => cmd::repl::wait_until(shared, &client.info, replicas, lsn, deadline).await,
        Blocked::WaitAof {
            local,
            replicas,
            lsn,
            deadline,
        } => cmd::repl::waitaof_until(shared, &client.info, (local, replicas), lsn, deadline).await,
        Blocked::List {
            db,
            keys,
            op,
            deadline,
            waiter,
        } => cmd::list::wait_pop(shared, client, db, keys, op, deadline, waiter).await,
        Blocked::Paused { args } => cmd::flow::run_after_pause(shared, client, args).await,
    }
}

/// How long this client may stay idle: `timeout` seconds, but never for a client in
/// the middle of a transaction.
fn idle_timeout(client: &Client, settings: &mut Settings, shared: &Shared) -> Option<Duration> {
    let seconds = settings.current(shared).timeout;
    (seconds > 0 && !client.in_multi()).then(|| Duration::from_secs(seconds))
}

async fn sleep_or_forever(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Puts the task at the back of its worker's run queue, behind the connections that
/// the same poll of the I/O driver woke. (`tokio::task::yield_now` instead defers the
/// task until the driver has been polled once more: one more `epoll_wait` per pass.)
#[derive(Default)]
struct ToBackOfQueue {
    yielded: bool,
}

impl std::future::Future for ToBackOfQueue {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.yielded {
            return std::task::Poll::Ready(());
        }
        self.yielded = true;
        // Woken while running, a task is rescheduled as a yield: to the queue's back.
        context.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}
