//! `NoiseStream`: the secure channel after the handshake, as `AsyncRead + AsyncWrite`.
//!
//! Framing: `u16_be(len) || ciphertext`, ciphertext = plaintext + 16-byte tag, at most
//! 65,535 bytes. We send at most [`MAX_PLAINTEXT_LEN`] plaintext bytes per frame.
//!
//! Writes are staged into full frames (small writes are coalesced until a frame is
//! full or the stream is flushed); a large write is encrypted straight from the
//! caller's buffer. Reads decrypt straight into the caller's buffer when it can hold
//! a whole frame, and otherwise into an internal buffer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::buffer::ReadBuffer;
use crate::{Error, MAX_FRAME_LEN, TAG_LEN};

const _: () = assert!(SMALL_STAGE < MAX_PLAINTEXT_LEN);

/// The largest plaintext per frame we send (65,535 − 16, as go-libp2p).
pub const MAX_PLAINTEXT_LEN: usize = MAX_FRAME_LEN - TAG_LEN;
/// First allocation of the staging buffer for small writes.
const SMALL_STAGE: usize = 4 * 1024;
/// Encrypted bytes we hold before `poll_write` waits for the socket.
const WRITE_HIGH_WATER: usize = 4 * (2 + MAX_FRAME_LEN);

/// An encrypted, authenticated channel (libp2p Noise transport phase).
pub struct NoiseStream<IO> {
    io: IO,
    cipher: snow::TransportState,
    rx: ReadBuffer,
    /// Decrypted bytes not yet delivered: `plain[plain_start..plain_end]`.
    plain: Vec<u8>,
    plain_start: usize,
    plain_end: usize,
    read_eof: bool,
    /// A decryption failure is final.
    broken: bool,
    /// Plaintext staged for the next frame.
    staged: Vec<u8>,
    /// Encrypted frames not yet written.
    out: Frames,
}

/// Encrypted frames waiting for the socket: `buf[start..end]`.
#[derive(Default)]
struct Frames {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Frames {
    fn pending(&self) -> usize {
        self.end - self.start
    }

    /// Encrypts one frame of `plaintext` (≤ MAX_PLAINTEXT_LEN) onto the queue.
    fn seal(&mut self, cipher: &mut snow::TransportState, plaintext: &[u8]) -> io::Result<()> {
        let frame_len = plaintext.len() + TAG_LEN;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() < self.end + 2 + frame_len && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < self.end + 2 + frame_len {
            self.buf.resize(self.end + 2 + frame_len, 0);
        }
        let at = self.end;
        self.buf[at..at + 2].copy_from_slice(&(frame_len as u16).to_be_bytes());
        let n =
            cipher.write_message(plaintext, &mut self.buf[at + 2..at + 2 + frame_len]).map_err(|e| io::Error::other(Error::Noise(e)))?;
        self.end = at + 2 + n;
        Ok(())
    }

    /// Writes queued frames until none are left (Ready) or the socket blocks.
    fn poll_drain<IO: AsyncWrite + Unpin>(&mut self, io: &mut IO, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.start < self.end {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &self.buf[self.start..self.end]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.start += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO> std::fmt::Debug for NoiseStream<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseStream")
            .field("undelivered", &(self.plain_end - self.plain_start))
            .field("staged", &self.staged.len())
            .field("unsent", &self.out.pending())
            .finish_non_exhaustive()
    }
}

impl<IO> NoiseStream<IO> {
    pub(crate) fn new(io: IO, cipher: snow::TransportState, rx: ReadBuffer) -> Self {
        Self {
            io,
            cipher,
            rx,
            plain: Vec::new(),
            plain_start: 0,
            plain_end: 0,
            read_eof: false,
            broken: false,
            staged: Vec::new(),
            out: Frames::default(),
        }
    }

    fn seal_staged(&mut self) -> io::Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let res = self.out.seal(&mut self.cipher, &self.staged);
        self.staged.clear();
        res
    }
}

fn decrypt_error(e: snow::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Error::Noise(e))
}

impl<IO: AsyncRead + Unpin> AsyncRead for NoiseStream<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.broken {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "noise channel failed earlier")));
        }
        loop {
            if this.plain_start < this.plain_end {
                let n = (this.plain_end - this.plain_start).min(buf.remaining());
                buf.put_slice(&this.plain[this.plain_start..this.plain_start + n]);
                this.plain_start += n;
                return Poll::Ready(Ok(()));
            }
            if let Some(frame) = this.rx.next_frame() {
                let ciphertext = &this.rx.bytes()[frame];
                let result = if buf.remaining() >= ciphertext.len() {
                    // Decrypt straight into the caller's buffer (it must hold the tag too).
                    let dst = buf.initialize_unfilled_to(ciphertext.len());
                    this.cipher.read_message(ciphertext, dst).inspect(|&n| buf.advance(n))
                } else {
                    if this.plain.len() < ciphertext.len() {
                        this.plain.resize(ciphertext.len(), 0);
                    }
                    this.cipher.read_message(ciphertext, &mut this.plain[..ciphertext.len()]).map(|n| {
                        this.plain_start = 0;
                        this.plain_end = n;
                        0
                    })
                };
                match result {
                    Ok(n) if n > 0 => return Poll::Ready(Ok(())),
                    Ok(_) => continue,
                    Err(e) => {
                        this.broken = true;
                        return Poll::Ready(Err(decrypt_error(e)));
                    }
                }
            }
            if this.read_eof {
                return Poll::Ready(if this.rx.has_partial() {
                    Err(io::Error::new(io::ErrorKind::UnexpectedEof, "noise frame truncated"))
                } else {
                    Ok(())
                });
            }
            match this.rx.poll_fill(&mut this.io, cx)? {
                Poll::Ready(0) => this.read_eof = true,
                Poll::Ready(_) => {}
                Poll::Pending => {
                    // Nothing to deliver and nothing arriving: release the decrypt buffer.
                    this.plain = Vec::new();
                    return Poll::Pending;
                }
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
        // Whole frames straight from the caller's buffer.
        while this.staged.is_empty() && buf.len() - n >= MAX_PLAINTEXT_LEN && this.out.pending() < WRITE_HIGH_WATER {
            this.out.seal(&mut this.cipher, &buf[n..n + MAX_PLAINTEXT_LEN])?;
            n += MAX_PLAINTEXT_LEN;
        }
        // Stage the rest, sealing when a frame fills up.
        if n < buf.len() && this.out.pending() < WRITE_HIGH_WATER {
            let take = (buf.len() - n).min(MAX_PLAINTEXT_LEN - this.staged.len());
            if this.staged.capacity() - this.staged.len() < take {
                // Small writes start small; anything larger goes straight to a full frame.
                let want = if this.staged.capacity() == 0 && take <= SMALL_STAGE { SMALL_STAGE } else { MAX_PLAINTEXT_LEN };
                this.staged.reserve_exact(want - this.staged.len());
            }
            this.staged.extend_from_slice(&buf[n..n + take]);
            n += take;
            if this.staged.len() == MAX_PLAINTEXT_LEN {
                this.seal_staged()?;
            }
        }
        // Keep the socket busy with complete frames. Bytes taken above are accepted
        // whatever happens here; a write error surfaces on the next call.
        if this.out.pending() > 0 {
            let _ = this.out.poll_drain(&mut this.io, cx);
        }
        if n == 0 {
            // Only when the output queue is full and the socket blocked (waker registered).
            return Poll::Pending;
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.seal_staged()?;
        ready!(this.out.poll_drain(&mut this.io, cx))?;
        // Everything is on the socket: hold no write memory until the next write.
        this.staged = Vec::new();
        this.out = Frames::default();
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
