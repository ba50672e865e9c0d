//! `Negotiated`: the byte pipe after negotiation, with leftover input and (for a lazy
//! dialer or a listener's echo) output not yet sent.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::NegotiationError;
use crate::machine::{Dialer, Progress};

/// The most application bytes a lazy dialer buffers behind its unsent proposal.
const MAX_LAZY_BUFFER: usize = 64 * 1024;

/// A negotiated byte pipe.
///
/// - Bytes received after the last negotiation message are returned first.
/// - A lazy dialer's header and proposal (or a listener's deferred echo, see
///   [`listener_select_deferred`](crate::listener_select_deferred)) are sent together
///   with its first write (or on flush, or before a read that waits for input).
/// - A lazy dialer checks the listener's header and echo before delivering any data;
///   a refusal (`na`) makes reads fail with [`NegotiationError::Failed`].
#[derive(Debug)]
pub struct Negotiated<IO> {
    io: IO,
    read_buf: BytesMut,
    pending_write: Vec<u8>,
    /// Output of ours that was taken, holding application bytes the caller was told
    /// are written.
    pending_holds_app_data: bool,
    /// Pending output was written on the read path and must still be flushed (the
    /// layer below may buffer, as Noise does).
    needs_flush: bool,
    expecting: Option<Dialer>,
}

impl<IO> Negotiated<IO> {
    pub(crate) fn completed(io: IO, read_buf: BytesMut, pending_write: Vec<u8>) -> Self {
        // No leftover input: hold no buffer for the life of the pipe.
        let read_buf = if read_buf.is_empty() { BytesMut::new() } else { read_buf };
        Self { io, read_buf, pending_write, pending_holds_app_data: false, needs_flush: false, expecting: None }
    }

    pub(crate) fn expecting(io: IO, dialer: Dialer, pending_write: Vec<u8>) -> Self {
        Self { io, read_buf: BytesMut::new(), pending_write, pending_holds_app_data: false, needs_flush: false, expecting: Some(dialer) }
    }

    /// Whether negotiation is still unconfirmed (lazy dialer waiting for the echo).
    pub fn is_pending(&self) -> bool {
        self.expecting.is_some()
    }
}

impl<IO: AsyncWrite + Unpin> Negotiated<IO> {
    /// Writes out `pending_write`. Ready(Ok) once it is empty.
    fn poll_write_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending_write.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending_write))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending_write.drain(..n);
        }
        if self.pending_write.capacity() > 0 {
            // Sent: an idle pipe holds no buffer (a lazy dialer's may hold app data).
            self.pending_write = Vec::new();
        }
        self.pending_holds_app_data = false;
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Negotiated<IO> {
    /// On the read path: sends unsent output and flushes it, so that a reader never
    /// waits for an answer to bytes still sitting in a buffer. Errors surface; a
    /// blocked socket does not (its waker is registered).
    fn push_output_for_read(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if !self.pending_write.is_empty() {
            match self.poll_write_pending(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = true,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(()),
            }
        }
        if self.needs_flush {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {}
            }
        }
        Ok(())
    }

    /// For a lazy dialer: reads until the listener's header and echo arrived.
    fn poll_confirm(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let Some(dialer) = self.expecting.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match dialer.handle(&mut self.read_buf) {
                Ok(Progress::Done(_)) => {
                    self.expecting = None;
                    if self.read_buf.is_empty() {
                        self.read_buf = BytesMut::new();
                    }
                    return Poll::Ready(Ok(()));
                }
                Ok(Progress::NeedInput) => {}
                // With one lazy proposal, `na` means failure.
                Err(e) => return Poll::Ready(Err(e.into())),
            }
            // A lazy dialer that reads before writing must still send its proposal.
            self.push_output_for_read(cx)?;
            self.read_buf.reserve(256);
            let n = ready!(tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read_buf))?;
            if n == 0 {
                // Not a refusal (that is `na`): the remote went away before answering.
                return Poll::Ready(Err(NegotiationError::Closed.into()));
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Negotiated<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_confirm(cx))?;
        if !this.read_buf.is_empty() {
            // Buffered input needs no answer from the remote first: unsent output
            // (a listener's deferred echo) may still leave with the next write.
            let n = this.read_buf.len().min(buf.remaining());
            buf.put_slice(&this.read_buf[..n]);
            this.read_buf.advance(n);
            if this.read_buf.is_empty() {
                // Leftover input delivered: free the buffer for the life of the pipe.
                this.read_buf = BytesMut::new();
            }
            return Poll::Ready(Ok(()));
        }
        // Unsent output must not wait for the next write when we wait for input.
        this.push_output_for_read(cx)?;
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Negotiated<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if !this.pending_write.is_empty() {
            if !this.pending_holds_app_data {
                // Send the proposal/echo together with the first application bytes.
                let n = buf.len().min(MAX_LAZY_BUFFER);
                this.pending_write.extend_from_slice(&buf[..n]);
                this.pending_holds_app_data = true;
                // Accepted: a write error now surfaces on the next call.
                let _ = this.poll_write_pending(cx);
                return Poll::Ready(Ok(n));
            }
            ready!(this.poll_write_pending(cx))?;
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_pending(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
