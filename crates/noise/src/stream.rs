//! `NoiseStream`: the secure channel after the handshake, as `AsyncRead + AsyncWrite`.
//!
//! Framing: `u16_be(len) || ciphertext`, ciphertext = plaintext + 16-byte tag, at most
//! 65,535 bytes. We send at most [`MAX_PLAINTEXT_LEN`] plaintext bytes per frame.
//!
//! Writing copies the caller's bytes once, into the open frame at the end of the
//! output buffer; a full frame (or the open one at a flush) is encrypted there in
//! place and its tag appended. Sealed frames go out back to back, as many per
//! syscall as the socket takes. Reading takes in up to four frames per syscall,
//! decrypts each in place in the receive buffer and copies the plaintext out; one
//! `poll_read` delivers as many buffered frames as fit in the caller's buffer.
//!
//! Memory: the output buffer holds at most [`WRITE_BUFFER_MAX`] bytes, the receive
//! buffer at most 262,148; both are released when drained (after a flush, or when
//! a read finds nothing), so an idle channel holds neither; released buffers wait
//! in a small per-thread pool (`pool.rs`, at most about 1 MiB per thread) for the
//! next stream. Buffers are never zero-filled.

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::buffer::ReadBuffer;
use crate::cipher::{CipherState, Transport};
use crate::{Error, MAX_FRAME_LEN, TAG_LEN};

/// The largest plaintext per frame we send (65,535 − 16, as go-libp2p).
pub const MAX_PLAINTEXT_LEN: usize = MAX_FRAME_LEN - TAG_LEN;
/// Sealed bytes we hold before `poll_write` waits for the socket.
const WRITE_HIGH_WATER: usize = 3 * (2 + MAX_FRAME_LEN);
/// The most the output buffer ever holds: just under the high-water mark of sealed
/// frames plus one more frame (262,148 bytes).
pub const WRITE_BUFFER_MAX: usize = WRITE_HIGH_WATER + 2 + MAX_FRAME_LEN;

/// An encrypted, authenticated channel (libp2p Noise transport phase).
pub struct NoiseStream<IO> {
    io: IO,
    recv: CipherState,
    rx: ReadBuffer,
    /// Decrypted bytes not yet delivered: a range of `rx`.
    plain: Range<usize>,
    read_eof: bool,
    /// A decryption failure is final.
    broken: bool,
    out: Output,
}

/// Outgoing frames: `buf[sent..sealed]` are sealed frames not yet written,
/// `buf[sealed..]` (when `open`) is the frame being filled, header first.
struct Output {
    send: CipherState,
    buf: Vec<u8>,
    sent: usize,
    /// Where the open frame's header starts (`buf.len()` when none is open).
    sealed: usize,
    open: bool,
    /// The capacity before the last release.
    last_capacity: usize,
}

impl Output {
    fn new(send: CipherState) -> Self {
        Self { send, buf: Vec::new(), sent: 0, sealed: 0, open: false, last_capacity: 0 }
    }

    /// Sealed bytes not yet on the socket.
    fn pending(&self) -> usize {
        self.sealed - self.sent
    }

    fn open_len(&self) -> usize {
        if self.open { self.buf.len() - self.sealed - 2 } else { 0 }
    }

    /// Opens a frame, making room for a whole one first.
    fn open_frame(&mut self) {
        debug_assert!(!self.open);
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
            self.sealed = 0;
        }
        if self.buf.len() + 2 + MAX_FRAME_LEN > self.buf.capacity() {
            if self.sent > 0 {
                // Drop what the socket already took instead of growing.
                self.buf.drain(..self.sent);
                self.sealed -= self.sent;
                self.sent = 0;
            }
            if self.buf.capacity() == 0 {
                self.buf = crate::pool::take(self.last_capacity.max(2 + MAX_FRAME_LEN));
            } else {
                // Exact steps keep the capacity within WRITE_BUFFER_MAX.
                self.buf.reserve_exact(2 + MAX_FRAME_LEN);
            }
        }
        self.sealed = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.open = true;
    }

    /// Copies as much of `data` as fits into the open frame (opening one if needed);
    /// seals the frame when it fills up. Returns the bytes taken.
    fn push(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.open {
            self.open_frame();
        }
        let take = data.len().min(MAX_PLAINTEXT_LEN - self.open_len());
        self.buf.extend_from_slice(&data[..take]);
        if self.open_len() == MAX_PLAINTEXT_LEN {
            self.seal()?;
        }
        Ok(take)
    }

    /// Encrypts the open frame in place (an empty one is dropped).
    fn seal(&mut self) -> io::Result<()> {
        if !self.open {
            return Ok(());
        }
        self.open = false;
        let at = self.sealed;
        if self.buf.len() == at + 2 {
            self.buf.truncate(at);
            return Ok(());
        }
        let tag = self.send.seal(&mut self.buf[at + 2..]).map_err(io::Error::other)?;
        self.buf.extend_from_slice(&tag);
        let frame_len = self.buf.len() - at - 2;
        // At most MAX_PLAINTEXT_LEN + TAG_LEN = 65,535.
        self.buf[at..at + 2].copy_from_slice(&(frame_len as u16).to_be_bytes());
        self.sealed = self.buf.len();
        Ok(())
    }

    /// Writes sealed frames until none are left (Ready) or the socket blocks.
    fn poll_drain<IO: AsyncWrite + Unpin>(&mut self, io: &mut IO, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.sealed {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &self.buf[self.sent..self.sealed]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Frees the buffer once everything is written and no frame is open.
    fn release(&mut self) {
        if !self.open && self.sent == self.buf.len() {
            self.last_capacity = self.last_capacity.max(self.buf.capacity());
            crate::pool::give(std::mem::take(&mut self.buf));
            self.sent = 0;
            self.sealed = 0;
        }
    }
}

impl<IO> std::fmt::Debug for NoiseStream<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseStream")
            .field("undelivered", &self.plain.len())
            .field("staged", &self.out.open_len())
            .field("unsent", &self.out.pending())
            .finish_non_exhaustive()
    }
}

impl<IO> NoiseStream<IO> {
    pub(crate) fn new(io: IO, transport: Transport, rx: ReadBuffer) -> Self {
        let Transport { send, recv } = transport;
        Self { io, recv, rx, plain: 0..0, read_eof: false, broken: false, out: Output::new(send) }
    }

    /// Starts with `frame` (a complete frame, already encrypted: the initiator's
    /// handshake message 3) waiting to be sent ahead of everything written. It leaves
    /// with the first flush, or before the first read that waits for input.
    pub(crate) fn with_pending(mut self, frame: &[u8]) -> Self {
        if frame.is_empty() {
            return self;
        }
        let mut buf = crate::pool::take(frame.len());
        buf.extend_from_slice(frame);
        self.out.buf = buf;
        self.out.sent = 0;
        self.out.sealed = frame.len();
        self
    }

    /// Copies buffered plaintext into `buf`, decrypting further buffered frames in
    /// place while `buf` has room. Returns whether anything was delivered.
    fn deliver(&mut self, buf: &mut ReadBuf<'_>) -> io::Result<bool> {
        let mut delivered = false;
        while buf.remaining() > 0 {
            if !self.plain.is_empty() {
                let n = self.plain.len().min(buf.remaining());
                buf.put_slice(&self.rx.bytes()[self.plain.start..self.plain.start + n]);
                self.plain.start += n;
                delivered = true;
                continue;
            }
            let Some(frame) = self.rx.next_frame() else { break };
            match self.recv.open(&mut self.rx.bytes_mut()[frame.clone()]) {
                Ok(n) => self.plain = frame.start..frame.start + n,
                Err(e) => {
                    self.broken = true;
                    return Err(decrypt_error(e));
                }
            }
        }
        Ok(delivered)
    }
}

fn decrypt_error(e: Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for NoiseStream<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.broken {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "noise channel failed earlier")));
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.deliver(buf)? {
                return Poll::Ready(Ok(()));
            }
            if this.read_eof {
                return Poll::Ready(if this.rx.has_partial() {
                    Err(io::Error::new(io::ErrorKind::UnexpectedEof, "noise frame truncated"))
                } else {
                    Ok(())
                });
            }
            // Sealed frames we hold (handshake message 3) leave before we wait for
            // the peer, which may be waiting for them.
            if this.out.pending() > 0
                && let Poll::Ready(Err(e)) = this.out.poll_drain(&mut this.io, cx)
            {
                return Poll::Ready(Err(e));
            }
            // Nothing buffered is deliverable (`plain` is empty): the buffer may move.
            this.plain = 0..0;
            if ready!(this.rx.poll_fill(&mut this.io, cx))? == 0 {
                this.read_eof = true;
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for NoiseStream<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.out.pending() >= WRITE_HIGH_WATER {
            ready!(this.out.poll_drain(&mut this.io, cx))?;
        }
        let mut n = 0;
        while n < buf.len() && this.out.pending() < WRITE_HIGH_WATER {
            n += this.out.push(&buf[n..])?;
        }
        // Keep the socket busy with complete frames (at least one full frame sealed;
        // a smaller pending frame, handshake message 3, waits for the flush to leave
        // with what follows). Bytes taken above are accepted whatever happens here; a
        // write error surfaces on the next call.
        if this.out.pending() >= 2 + MAX_FRAME_LEN {
            let _ = this.out.poll_drain(&mut this.io, cx);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.out.seal()?;
        ready!(this.out.poll_drain(&mut this.io, cx))?;
        // Everything is on the socket: hold no write memory until the next write.
        this.out.release();
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
