//! The tokio shell: [`SecretStream`] over any `AsyncRead + AsyncWrite + Unpin` pipe.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::config::Config;
use crate::error::StreamError;
use crate::frame::FRAME_HEADER_LEN;
use crate::noise::HandshakeResult;
use crate::session::{Opened, Session};

/// Bytes read from the pipe per `poll_read`.
pub(crate) const READ_BUF_LEN: usize = 64 * 1024;
/// `poll_write` waits for the pipe once this many encrypted bytes are queued (256 KiB
/// measured slower on the bulk bench than 64 KiB: the buffer falls out of cache).
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// Bytes read from the pipe. Frames are opened where they lie: a message is decrypted in
/// place and its plaintext handed out from here, so a byte is copied once in (from the
/// pipe) and once out (to the reader).
///
/// Memory: `READ_BUF_LEN`, grown (by doubling, as bytes arrive) to hold one whole frame
/// of at most the configured maximum; shrunk back after a frame over 1 MiB.
pub(crate) struct RawBuf {
    pub(crate) buf: Vec<u8>,
    /// Start of the bytes not yet decoded.
    pub(crate) pos: usize,
    /// End of the bytes read.
    pub(crate) len: usize,
}

impl RawBuf {
    pub(crate) fn new() -> Self {
        Self { buf: vec![0u8; READ_BUF_LEN], pos: 0, len: 0 }
    }

    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf[self.pos..self.len]
    }

    /// Reads more bytes when all are used; returns the count (0 = end of stream).
    pub(crate) fn poll_fill<IO: AsyncRead + Unpin>(&mut self, io: &mut IO, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(&mut self.buf);
        ready!(Pin::new(io).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        self.pos = 0;
        self.len = n;
        Poll::Ready(Ok(n))
    }

    /// Reads until `want` bytes from `pos` are buffered, or whatever the pipe has (at
    /// most up to `want`, at least one byte or end of stream); `max` caps the buffer.
    fn poll_more<IO: AsyncRead + Unpin>(&mut self, io: &mut IO, cx: &mut Context<'_>, want: usize, max: usize) -> Poll<io::Result<usize>> {
        if self.pos > 0 && (self.pos == self.len || self.pos + want > self.buf.len()) {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        let target = self.pos + want;
        if target > self.buf.len() && self.len == self.buf.len() {
            // Full of one frame's bytes: grow, at most doubling, never past `max`.
            let grown = target.min(self.buf.len().saturating_mul(2)).min(max.max(self.buf.len()));
            self.buf.resize(grown, 0);
        }
        let end = target.min(self.buf.len());
        if end <= self.len {
            // Not reached: callers want more than is buffered, and the buffer grows.
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "secret-stream read buffer full")));
        }
        let mut rb = ReadBuf::new(&mut self.buf[self.len..end]);
        ready!(Pin::new(io).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        self.len += n;
        Poll::Ready(Ok(n))
    }

    /// After everything is decoded: drops a buffer grown past 1 MiB.
    fn maybe_shrink(&mut self) {
        if self.pos == self.len && self.buf.len() > 1 << 20 {
            self.buf = vec![0u8; READ_BUF_LEN];
            self.pos = 0;
            self.len = 0;
        }
    }
}

/// An encrypted, authenticated byte stream, wire-compatible with Node's
/// `@hyperswarm/secret-stream` 6.9.
///
/// Reads return decrypted plaintext (keep-alives are dropped); writes are cut into
/// frames of at most [`Config::write_chunk`] plaintext bytes. `poll_shutdown` flushes and
/// ends the pipe's write half (Node's `end()`); reading on continues until the remote
/// ends too. A bad frame fails the stream with an `InvalidData` I/O error carrying a
/// [`StreamError`] ([`StreamError::from_io`]); every later call fails with
/// [`StreamError::Closed`].
pub struct SecretStream<IO> {
    io: IO,
    session: Session,
    raw: RawBuf,
    /// The plaintext of the last message, `raw.buf[plain_pos..plain_end]`.
    plain_pos: usize,
    plain_end: usize,
    max_frame_len: usize,
    out: Vec<u8>,
    out_pos: usize,
    write_chunk: usize,
    keep_alive: Option<KeepAlive>,
    read_eof: bool,
    shutdown: bool,
    writer_parked: bool,
    failed: bool,
    /// Plaintext bytes accepted since `poll_write` last yielded.
    since_yield: usize,
    /// When `poll_write` last accepted bytes.
    last_write: Option<std::time::Instant>,
}

/// A write after this long without one starts a burst: the next write yields first.
const BURST_GAP: std::time::Duration = std::time::Duration::from_millis(1);

/// A writer yields to the runtime once per this many bytes (see `poll_write`).
const YIELD_EVERY: usize = 256 * 1024;

struct KeepAlive {
    interval: std::time::Duration,
    last_write: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl<IO> std::fmt::Debug for SecretStream<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStream")
            .field("session", &self.session)
            .field("read_eof", &self.read_eof)
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> SecretStream<IO> {
    /// A stream over `io` for a handshake completed elsewhere (hyperdht's relayed IK):
    /// secret-stream's `opts.handshake`. Our header frame is queued at once and goes out
    /// with the first read, write or flush. Needs a tokio runtime when
    /// [`Config::keep_alive`] is set.
    pub fn with_handshake(io: IO, handshake: &HandshakeResult, config: &Config) -> Self {
        Self::from_parts(io, handshake, config, RawBuf::new())
    }

    pub(crate) fn from_parts(io: IO, handshake: &HandshakeResult, config: &Config, raw: RawBuf) -> Self {
        let mut session = Session::new(handshake, config.max_frame_len);
        let out = session.take_header().map(|h| h.to_vec()).unwrap_or_default();
        let keep_alive = config.keep_alive.map(|interval| KeepAlive {
            interval,
            last_write: Instant::now(),
            sleep: Box::pin(tokio::time::sleep(interval)),
        });
        Self {
            io,
            session,
            raw,
            plain_pos: 0,
            plain_end: 0,
            max_frame_len: config.max_frame_len.max(crate::HEADER_FRAME_LEN),
            out,
            out_pos: 0,
            write_chunk: config.write_chunk,
            keep_alive,
            read_eof: false,
            shutdown: false,
            writer_parked: false,
            failed: false,
            since_yield: 0,
            last_write: None,
        }
    }
}

impl<IO> SecretStream<IO> {
    /// The remote's authenticated static public key.
    pub fn remote_public_key(&self) -> &[u8; 32] {
        self.session.remote_public_key()
    }

    /// Our static public key.
    pub fn public_key(&self) -> &[u8; 32] {
        self.session.public_key()
    }

    /// The 64-byte Noise handshake hash.
    pub fn handshake_hash(&self) -> &[u8; 64] {
        self.session.handshake_hash()
    }

    /// Whether we were the Noise initiator.
    pub fn is_initiator(&self) -> bool {
        self.session.is_initiator()
    }

    /// The underlying pipe.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    fn fail(&mut self, e: StreamError) -> io::Error {
        tracing::debug!(error = %e, "secret-stream failed");
        self.failed = true;
        e.into_io()
    }

    fn check_failed(&self) -> io::Result<()> {
        if self.failed { Err(StreamError::Closed.into_io()) } else { Ok(()) }
    }
}

impl<IO: AsyncWrite + Unpin> SecretStream<IO> {
    /// [`Self::poll_drain`] for the writer's own calls: remembers that the writer is parked
    /// on the pipe so that `poll_read` does not take over the pipe's write wake-up.
    fn poll_drain_writer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = self.poll_drain(cx);
        self.writer_parked = r.is_pending();
        r
    }

    /// Writes queued frames until none are left or the pipe is not ready.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    fn queue(&mut self, plaintext: &[u8]) -> io::Result<()> {
        if self.out_pos > 0 && self.out_pos * 2 >= self.out.len() {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        if let Err(e) = self.session.encrypt(plaintext, &mut self.out) {
            return Err(self.fail(e));
        }
        if let Some(k) = &mut self.keep_alive {
            k.last_write = Instant::now();
        }
        Ok(())
    }

    /// Queues a keep-alive when the interval passed without writes; registers the timer.
    fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.shutdown {
            return Ok(());
        }
        let Some(k) = &mut self.keep_alive else { return Ok(()) };
        let mut due = false;
        while k.sleep.as_mut().poll(cx).is_ready() {
            let next = k.last_write + k.interval;
            if next <= Instant::now() {
                due = true;
                k.sleep.as_mut().reset(Instant::now() + k.interval);
            } else {
                k.sleep.as_mut().reset(next);
            }
        }
        if due {
            tracing::trace!("secret-stream keep-alive");
            self.queue(&[])?;
        }
        Ok(())
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for SecretStream<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_failed()?;
        this.poll_keep_alive(cx)?;
        // Our header and keep-alives go out even when only reading, unless a writer is
        // parked on the pipe (it drains them and we must not steal its wake-up).
        if !this.writer_parked
            && let Poll::Ready(Err(e)) = this.poll_drain(cx)
        {
            return Poll::Ready(Err(e));
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.plain_pos < this.plain_end {
                let n = buf.remaining().min(this.plain_end - this.plain_pos);
                buf.put_slice(&this.raw.buf[this.plain_pos..this.plain_pos + n]);
                this.plain_pos += n;
                return Poll::Ready(Ok(()));
            }
            let want = match this.next_frame() {
                Ok(Some(want)) => want,
                Ok(None) => continue,
                Err(e) => return Poll::Ready(Err(this.fail(e))),
            };
            if this.read_eof {
                if this.raw.pos == this.raw.len {
                    return Poll::Ready(Ok(()));
                }
                return Poll::Ready(Err(this.fail(StreamError::Truncated)));
            }
            this.raw.maybe_shrink();
            let max = this.max_frame_len + 2 * FRAME_HEADER_LEN;
            if ready!(this.raw.poll_more(&mut this.io, cx, want, max))? == 0 {
                this.read_eof = true;
            }
        }
    }
}

impl<IO> SecretStream<IO> {
    /// Opens the next whole frame in `raw` (`Ok(None)`: one was, go on), or says how
    /// many bytes from `raw.pos` to buffer: through the end of this frame and the next
    /// prefix, so that most frames arrive with one read.
    fn next_frame(&mut self) -> Result<Option<usize>, StreamError> {
        let p = &self.raw.buf[self.raw.pos..self.raw.len];
        if p.len() < FRAME_HEADER_LEN {
            return Ok(Some(READ_BUF_LEN));
        }
        let len = usize::from(p[0]) | usize::from(p[1]) << 8 | usize::from(p[2]) << 16;
        if len > self.max_frame_len {
            return Err(StreamError::FrameTooLarge { len, max: self.max_frame_len });
        }
        let whole = FRAME_HEADER_LEN + len;
        if p.len() < whole {
            return Ok(Some(whole + FRAME_HEADER_LEN));
        }
        let start = self.raw.pos + FRAME_HEADER_LEN;
        let body = &mut self.raw.buf[start..start + len];
        if self.session.open_in_place(body)? == Opened::Message {
            // tag byte first, MAC last; empty = keep-alive
            self.plain_pos = start + 1;
            self.plain_end = start + len - 16;
        }
        self.raw.pos += whole;
        Ok(None)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for SecretStream<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.writer_parked = false;
        this.check_failed()?;
        if this.shutdown {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Tokio runs a task woken from a worker (the UDX driver our writes wake) on that
        // worker's LIFO slot, which no other worker may take: a writer that never
        // yields would keep it waiting until the send buffer is full. Yielding moves the
        // writer to the back of the queue, where an idle worker picks it up.
        if this.since_yield >= YIELD_EVERY {
            this.since_yield = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if this.out.len() - this.out_pos >= WRITE_HIGH_WATER {
            ready!(this.poll_drain_writer(cx))?;
        }
        let n = buf.len().min(this.write_chunk);
        this.queue(&buf[..n])?;
        this.since_yield += n;
        let now = std::time::Instant::now();
        if this.last_write.is_none_or(|t| now.duration_since(t) >= BURST_GAP) {
            // The first write of a burst: yield before the next one, so the pipe's
            // driver it woke sends this frame now instead of after 256 KiB more.
            this.since_yield = YIELD_EVERY;
        }
        this.last_write = Some(now);
        // Start sending now; what the pipe does not take waits in `out` (bounded above).
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_failed()?;
        ready!(this.poll_drain_writer(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_failed()?;
        ready!(this.poll_drain_writer(cx))?;
        this.keep_alive = None;
        this.shutdown = true;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
