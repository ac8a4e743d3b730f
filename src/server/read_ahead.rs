//! A socket wrapper that reads ahead for rustls.
//!
//! rustls asks its transport for at most 4 KB at a time, so a pipeline of requests
//! arriving as 17 KB of TLS records took five `recvfrom` calls where OpenSSL (Redis)
//! takes two. This wrapper answers those small reads from one large read of the socket.
//! The buffer exists only while it holds bytes: an idle TLS connection keeps none.
//! Writes pass straight through.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How much one read of the socket may take: two full TLS records and their headers.
const READ_AHEAD: usize = 34 * 1024;

pub struct ReadAhead<S> {
    inner: S,
    /// Read from the socket, not yet handed on; empty and unallocated when drained.
    ahead: BytesMut,
}

impl<S> ReadAhead<S> {
    pub fn new(inner: S) -> ReadAhead<S> {
        ReadAhead {
            inner,
            ahead: BytesMut::new(),
        }
    }

    /// Whether bytes read from the socket wait here.
    pub fn holds_bytes(&self) -> bool {
        !self.ahead.is_empty()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ahead.is_empty() {
            if out.remaining() >= READ_AHEAD {
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            this.ahead.reserve(READ_AHEAD);
            let spare = this.ahead.spare_capacity_mut();
            let mut read = ReadBuf::uninit(&mut spare[..READ_AHEAD]);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut read);
            let filled = read.filled().len();
            if let Poll::Ready(Ok(())) = polled {
                // SAFETY: the socket initialised the first `filled` bytes of the spare
                // capacity (ReadBuf tracks what was written).
                unsafe { this.ahead.advance_mut(filled) };
            }
            if this.ahead.is_empty() {
                this.ahead = BytesMut::new();
                ready!(polled)?;
                return Poll::Ready(Ok(())); // end of stream
            }
        }
        let n = out.remaining().min(this.ahead.len());
        out.put_slice(&this.ahead[..n]);
        this.ahead.advance(n);
        if this.ahead.is_empty() {
            this.ahead = BytesMut::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_are_served_from_one_large_read_and_nothing_is_lost() {
        let (mut writer, reader) = tokio::io::duplex(256 * 1024);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        writer.write_all(&data).await.unwrap();
        drop(writer);
        let mut ahead = ReadAhead::new(reader);
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = ahead.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
            assert!(ahead.ahead.len() < READ_AHEAD);
        }
        assert_eq!(got, data);
        assert_eq!(ahead.ahead.capacity(), 0, "a drained buffer is given back");
    }
}
