//! A server-side TLS stream on rustls's unbuffered API.
//!
//! tokio-rustls drives rustls's buffered connection, which reads at most 4 KB per
//! call into a buffer it zero-fills, grows by reallocation and shrinks again whenever
//! it empties, and then copies the plaintext twice more on its way out. Under a
//! pipeline of 1 KB writes that was a fifth of the server's instructions. Here the
//! socket is read straight into one buffer of up to two full records, rustls decrypts
//! from it, and each record's plaintext is copied once, into the connection's own
//! input buffer. Replies are encrypted into one reused buffer and leave in one write.
//!
//! Both buffers are kept while the connection is busy (allocating 34 KB per burst made
//! glibc grow and trim its heap with an `mprotect` each time) and given back by
//! `release_buffers` when it idles, so an idle TLS connection holds no more than a
//! plaintext one does beside rustls's own state.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BufMut, BytesMut};
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, InsufficientSizeError};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How much one read of the socket may take: two full TLS records and their headers.
const READ_AHEAD: usize = 34 * 1024;

/// Plaintext taken per `poll_write`: the caller writes the rest with the next call.
const WRITE_CHUNK: usize = 64 * 1024;

/// Encrypted bytes the stream holds unsent before `poll_write` waits for the socket.
const UNSENT_MAX: usize = 128 * 1024;

/// A TLS record's header: content type, version, length.
const RECORD_HEADER: usize = 5;

pub struct TlsStream<S> {
    socket: S,
    conn: UnbufferedServerConnection,
    /// Read from the socket, not yet decrypted.
    incoming: BytesMut,
    /// Decrypted, not yet taken by the reader (only what did not fit its buffer).
    plaintext: BytesMut,
    outgoing: Outgoing,
    /// The peer sent close_notify or closed the socket: reads give end of stream.
    read_closed: bool,
    close_notify_sent: bool,
}

/// Encrypted bytes on their way out: `buf[sent..filled]` not yet written. The length
/// of `buf` is what has been initialised, kept so that a busy connection zeroes nothing.
#[derive(Default)]
struct Outgoing {
    buf: Vec<u8>,
    sent: usize,
    filled: usize,
}

impl Outgoing {
    fn unsent(&self) -> usize {
        self.filled - self.sent
    }

    /// Room for `size` more bytes after `filled`, unsent bytes moved to the front first.
    fn make_room(&mut self, size: usize) {
        if self.sent > 0 {
            self.buf.copy_within(self.sent..self.filled, 0);
            self.filled -= self.sent;
            self.sent = 0;
        }
        if self.buf.len() < self.filled + size {
            self.buf.resize(self.filled + size, 0);
        }
    }

    /// Calls `write` on the spare room, growing it as rustls asks.
    fn append<E>(
        &mut self,
        mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
        needs: impl Fn(&E) -> Option<usize>,
    ) -> Result<(), E> {
        loop {
            match write(&mut self.buf[self.filled..]) {
                Ok(n) => {
                    self.filled += n;
                    return Ok(());
                }
                Err(e) => match needs(&e) {
                    Some(size) => self.make_room(size),
                    None => return Err(e),
                },
            }
        }
    }
}

fn encode_needs(e: &EncodeError) -> Option<usize> {
    match e {
        EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(*required_size)
        }
        _ => None,
    }
}

fn encrypt_needs(e: &EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(*required_size)
        }
        _ => None,
    }
}

/// What the state machine needs next, once what has arrived is processed.
enum Next {
    /// More bytes from the socket.
    Read,
    /// The peer is done sending.
    End,
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream<S> {
    /// Runs the server's side of the handshake to completion.
    pub async fn accept(socket: S, config: Arc<ServerConfig>) -> io::Result<TlsStream<S>> {
        let conn = UnbufferedServerConnection::new(config).map_err(invalid)?;
        let mut stream = TlsStream {
            socket,
            conn,
            incoming: BytesMut::new(),
            plaintext: BytesMut::new(),
            outgoing: Outgoing::default(),
            read_closed: false,
            close_notify_sent: false,
        };
        match stream.handshake().await {
            Ok(()) => {
                stream.release_buffers();
                Ok(stream)
            }
            Err(e) => {
                // The alert rustls queued on failing (bad certificate, say), best effort.
                stream.encode_alerts();
                let _ = poll_fn(|cx| stream.poll_send_all(cx)).await;
                Err(e)
            }
        }
    }

    async fn handshake(&mut self) -> io::Result<()> {
        loop {
            let next = self.process(None)?;
            poll_fn(|cx| self.poll_send_all(cx)).await?;
            if !self.conn.is_handshaking() {
                // Session tickets, and requests that came with the client's Finished.
                self.process(None)?;
                return poll_fn(|cx| self.poll_send_all(cx)).await;
            }
            let read = match next {
                Next::Read => poll_fn(|cx| self.poll_fill(cx)).await?,
                Next::End => 0,
            };
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the TLS handshake",
                ));
            }
        }
    }

    /// Whether bytes already off the socket can be read now: plaintext waiting, or a
    /// whole record to decrypt.
    pub fn holds_read_ahead(&self) -> bool {
        !self.plaintext.is_empty() || whole_record(&self.incoming)
    }

    /// Gives back the buffers that hold nothing (the connection idles).
    pub fn release_buffers(&mut self) {
        if self.outgoing.unsent() == 0 {
            self.outgoing = Outgoing::default();
        }
        if self.incoming.is_empty() {
            self.incoming = BytesMut::new();
        }
    }

    /// The socket, for waiting on readiness.
    pub fn socket(&self) -> &S {
        &self.socket
    }

    /// Processes the records in `incoming` until rustls needs more bytes or the peer is
    /// done: application data goes to `reader` as far as it fits and the rest to
    /// `plaintext`; handshake and alert records rustls emits go to `outgoing`.
    fn process(&mut self, mut reader: Option<&mut ReadBuf<'_>>) -> io::Result<Next> {
        loop {
            let status = self.conn.process_tls_records(&mut self.incoming[..]);
            let mut discard = status.discard;
            match status.state.map_err(invalid)? {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        let record = record.map_err(invalid)?;
                        discard += record.discard;
                        let mut payload = record.payload;
                        if let Some(out) = reader.as_deref_mut() {
                            if self.plaintext.is_empty() {
                                let n = out.remaining().min(payload.len());
                                out.put_slice(&payload[..n]);
                                payload = &payload[n..];
                            }
                        }
                        self.plaintext.extend_from_slice(payload);
                    }
                }
                ConnectionState::EncodeTlsData(mut encode) => self
                    .outgoing
                    .append(|room| encode.encode(room), encode_needs)
                    .map_err(invalid)?,
                // Sent in order with whatever is encrypted after it.
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::BlockedHandshake | ConnectionState::WriteTraffic(_) => {
                    self.incoming.advance(discard);
                    return Ok(if self.read_closed {
                        Next::End
                    } else {
                        Next::Read
                    });
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    self.incoming.advance(discard);
                    self.read_closed = true;
                    return Ok(Next::End);
                }
                _ => return Err(invalid("unexpected TLS state (early data is not accepted)")),
            }
            self.incoming.advance(discard);
        }
    }

    /// After a failure, rustls still hands out the alert it queued; then it errs again.
    fn encode_alerts(&mut self) {
        for _ in 0..4 {
            let status = self.conn.process_tls_records(&mut self.incoming[..]);
            match status.state {
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    if self
                        .outgoing
                        .append(|room| encode.encode(room), encode_needs)
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => transmit.done(),
                _ => return,
            }
        }
    }

    /// Reads the socket into `incoming`; 0 at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.incoming.capacity() - self.incoming.len() < READ_AHEAD / 2 {
            self.incoming.reserve(READ_AHEAD);
        }
        let spare = self.incoming.spare_capacity_mut();
        let mut read = ReadBuf::uninit(spare);
        ready!(Pin::new(&mut self.socket).poll_read(cx, &mut read))?;
        let n = read.filled().len();
        // SAFETY: the socket initialised the first `n` bytes of the spare capacity
        // (ReadBuf tracks what was written).
        unsafe { self.incoming.advance_mut(n) };
        if n == 0 {
            self.read_closed = true;
        }
        Poll::Ready(Ok(n))
    }

    /// Writes what `outgoing` holds, as far as the socket takes it now.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let out = &mut self.outgoing;
        while out.sent < out.filled {
            let n =
                ready!(Pin::new(&mut self.socket).poll_write(cx, &out.buf[out.sent..out.filled]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            out.sent += n;
        }
        out.sent = 0;
        out.filled = 0;
        Poll::Ready(Ok(()))
    }

    fn poll_send_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send(cx))?;
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    /// Encrypts `plaintext` into `outgoing`, or close_notify when it is `None`; records
    /// rustls must send first go before it.
    fn encrypt(&mut self, plaintext: Option<&[u8]>) -> io::Result<()> {
        loop {
            let status = self.conn.process_tls_records(&mut self.incoming[..]);
            let mut discard = status.discard;
            match status.state.map_err(invalid)? {
                ConnectionState::WriteTraffic(mut traffic) => {
                    let written = match plaintext {
                        Some(data) => self
                            .outgoing
                            .append(|room| traffic.encrypt(data, room), encrypt_needs),
                        None => self
                            .outgoing
                            .append(|room| traffic.queue_close_notify(room), encrypt_needs),
                    };
                    self.incoming.advance(discard);
                    return written.map_err(invalid);
                }
                // Records already read are decrypted before anything is written.
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        let record = record.map_err(invalid)?;
                        discard += record.discard;
                        self.plaintext.extend_from_slice(record.payload);
                    }
                }
                ConnectionState::EncodeTlsData(mut encode) => self
                    .outgoing
                    .append(|room| encode.encode(room), encode_needs)
                    .map_err(invalid)?,
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::PeerClosed => self.read_closed = true,
                _ => return Err(io::ErrorKind::BrokenPipe.into()),
            }
            self.incoming.advance(discard);
        }
    }
}

/// Whether `bytes` begins with a whole TLS record.
fn whole_record(bytes: &[u8]) -> bool {
    bytes.len() >= RECORD_HEADER
        && bytes.len() >= RECORD_HEADER + u16::from_be_bytes([bytes[3], bytes[4]]) as usize
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.plaintext.is_empty() {
                let n = out.remaining().min(this.plaintext.len());
                out.put_slice(&this.plaintext[..n]);
                this.plaintext.advance(n);
                return Poll::Ready(Ok(()));
            }
            let before = out.filled().len();
            let next = this.process(Some(out))?;
            // What rustls answered (a key update, an alert) leaves now if it can.
            if this.outgoing.unsent() > 0 {
                if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                    return Poll::Ready(Err(e));
                }
            }
            if out.filled().len() > before || !this.plaintext.is_empty() {
                return Poll::Ready(Ok(()));
            }
            match next {
                Next::End => return Poll::Ready(Ok(())),
                Next::Read => {
                    ready!(this.poll_fill(cx))?;
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.outgoing.unsent() >= UNSENT_MAX {
            ready!(this.poll_send(cx))?;
        }
        let taken = buf.len().min(WRITE_CHUNK);
        this.encrypt(Some(&buf[..taken]))?;
        // Sent now if the socket takes it; otherwise by the next write or flush.
        if let Poll::Ready(Err(e)) = this.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(taken))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send_all(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_notify_sent {
            this.close_notify_sent = true;
            this.encrypt(None)?;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.socket).poll_shutdown(cx)
    }
}
