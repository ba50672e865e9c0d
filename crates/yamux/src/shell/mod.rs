//! The async shell around [`Session`]: one mutex over the session, one over the pipe
//! (see [`Pipe`] for the order they are taken in).
//!
//! Whoever holds both locks writes: a stream's `poll_write` plans a DATA frame and
//! writes its 12-byte header and the caller's bytes straight into the pipe (the
//! `NoiseStream` copies them into its frame buffer and seals them in place), so user
//! bytes are copied once on the way out, with no allocation and no channel per
//! frame. The driver task reads, parses and queues received bytes on their streams
//! (slices of its read buffer), writes the frames without a body and flushes.
//!
//! Flushing: a write that leaves the bytes since the last flush filling whole Noise
//! frames (65,519 bytes: a full-size DATA frame is one) needs none, the frames are
//! sealed and on their way; any other write flushes at once, so applications that
//! never flush are served too. A pipe that cannot take everything wakes the driver
//! (through [`WriteWaiters`]), which finishes the flush.
//!
//! Partial writes: before a frame we make sure the bytes written since the last
//! flush stay under [`FLUSH_BUDGET`], which a `NoiseStream` always takes whole; a
//! pipe that takes part of a frame anyway (an in-memory duplex) gets the rest
//! copied to `tail` (at most one frame), which goes out before anything else.
//!
//! All writers poll the pipe with one waker ([`WriteWaiters`]) that wakes every
//! task that found the pipe full, since a pipe remembers only its last waker.

mod driver;
mod recycle;
mod stream;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use rhizome_core::BoxIo;
use tokio::io::AsyncWrite;

use crate::session::{HEADER_LEN, Header, Session};

pub use driver::CLOSE_DEADLINE;
pub(crate) use driver::drive;

/// Bytes written between flushes; a `NoiseStream` takes this many whole (its
/// high-water mark is three sealed 65,537-byte frames).
const FLUSH_BUDGET: usize = 3 * 65_519 - 64;

/// The tasks waiting for the pipe to take bytes; bounded by the stream count plus
/// the driver (a waker is added once).
/// Only tasks that found the pipe full are listed (a listed waker keeps its task's
/// memory alive), and `fired` counts the wake-ups, so that a task that registers
/// after polling can tell it missed one.
#[derive(Default)]
struct WriteWaiters {
    list: Mutex<Vec<Waker>>,
    fired: AtomicU64,
}

impl WriteWaiters {
    fn add(&self, w: &Waker) {
        let mut list = self.list.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !list.iter().any(|x| x.will_wake(w)) {
            list.push(w.clone());
        }
    }
}

impl Wake for WriteWaiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.fetch_add(1, Ordering::SeqCst);
        let list = std::mem::take(&mut *self.list.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for w in list {
            w.wake();
        }
    }
}

/// The session state behind the first lock.
pub(crate) struct Inner {
    pub(crate) session: Session,
    /// Written bytes wait for a flush; the driver does it when woken.
    flush_requested: bool,
    driver: Option<Waker>,
    split_send_size: usize,
}

/// The pipe behind the second lock: the driver reads (and the `NoiseStream` below
/// decrypts) holding only this one, so stream handles keep reading their queued
/// bytes from the session meanwhile. Lock order: [`Inner`] first, then `Pipe`; the
/// driver never holds the pipe while it waits for the session.
pub(crate) struct Pipe {
    /// `None` once the connection ended.
    io: Option<BoxIo>,
    /// The rest of a frame the pipe took only partly.
    tail: Vec<u8>,
    tail_sent: usize,
    /// Bytes written since the last completed flush.
    unflushed: usize,
}

/// What the stream handles and the driver share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    pipe: Mutex<Pipe>,
    waiters: Arc<WriteWaiters>,
    write_waker: Waker,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "yamux connection closed")
}

/// Both locks, taken in order: everything that writes frames holds this.
pub(crate) struct Out<'a> {
    pub(crate) inner: MutexGuard<'a, Inner>,
    pub(crate) pipe: MutexGuard<'a, Pipe>,
}

impl Shared {
    pub(crate) fn new(session: Session, io: BoxIo, split_send_size: usize) -> Arc<Self> {
        let waiters = Arc::new(WriteWaiters::default());
        let inner = Inner { session, flush_requested: false, driver: None, split_send_size };
        let pipe = Pipe { io: Some(io), tail: Vec::new(), tail_sent: 0, unflushed: 0 };
        Arc::new(Self { inner: Mutex::new(inner), pipe: Mutex::new(pipe), write_waker: Waker::from(waiters.clone()), waiters })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pipe alone (the driver's reads; never while waiting for [`Shared::lock`]).
    pub(crate) fn pipe(&self) -> MutexGuard<'_, Pipe> {
        self.pipe.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session, then the pipe.
    pub(crate) fn lock_both(&self) -> Out<'_> {
        let inner = self.lock();
        Out { inner, pipe: self.pipe() }
    }

    /// The wake-up count of the pipe's write side; read before polling it.
    fn write_epoch(&self) -> u64 {
        self.waiters.fired.load(Ordering::SeqCst)
    }

    /// Registers `w` to run when the pipe takes bytes again, after a poll that began
    /// at `epoch` found it full; wakes `w` at once if the pipe woke in between.
    fn wait_writable(&self, epoch: u64, w: &Waker) {
        self.waiters.add(w);
        if self.write_epoch() != epoch {
            w.wake_by_ref();
        }
    }
}

impl Inner {
    /// Asks the driver to flush (once until it did).
    fn request_flush(&mut self) {
        if !self.flush_requested {
            self.flush_requested = true;
            if let Some(d) = &self.driver {
                d.wake_by_ref();
            }
        }
    }

    fn wake_driver(&self) {
        if let Some(d) = &self.driver {
            d.wake_by_ref();
        }
    }
}

impl Pipe {
    fn io(&mut self) -> io::Result<&mut BoxIo> {
        self.io.as_mut().ok_or_else(closed)
    }

    /// Writes what is left of a partly written frame.
    fn poll_tail(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.tail_sent < self.tail.len() {
            let io = self.io.as_mut().ok_or_else(closed)?;
            match Pin::new(io).poll_write(cx, &self.tail[self.tail_sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.tail_sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if !self.tail.is_empty() {
            // Hold no memory for the rare partial write.
            self.tail = Vec::new();
            self.tail_sent = 0;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes one frame; `Ready(Ok(false))` if the pipe took nothing (retry later),
    /// `Ready(Ok(true))` once the frame is committed (all written, or the rest in
    /// `tail`). The tail must be empty.
    fn write_frame(&mut self, cx: &mut Context<'_>, header: &Header, body: &[u8]) -> Poll<io::Result<bool>> {
        let raw = header.encode();
        let io = Pin::new(self.io.as_mut().ok_or_else(closed)?);
        let n = match io.poll_write(cx, &raw) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Ready(Ok(false)),
        };
        self.unflushed += HEADER_LEN + body.len();
        if n < HEADER_LEN {
            self.tail.extend_from_slice(&raw[n..]);
            self.tail.extend_from_slice(body);
            return Poll::Ready(Ok(true));
        }
        let mut sent = 0;
        while sent < body.len() {
            let io = Pin::new(self.io.as_mut().ok_or_else(closed)?);
            match io.poll_write(cx, &body[sent..]) {
                Poll::Ready(Ok(n)) if n > 0 => sent += n,
                // A write error surfaces on the next write.
                _ => break,
            }
        }
        if sent < body.len() {
            self.tail.extend_from_slice(&body[sent..]);
        }
        Poll::Ready(Ok(true))
    }

    fn poll_flush_io(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_tail(cx))?;
        std::task::ready!(Pin::new(self.io()?).poll_flush(cx))?;
        self.unflushed = 0;
        Poll::Ready(Ok(()))
    }
}

impl Out<'_> {
    /// Flushes the pipe; a completed flush answers every flush request.
    fn poll_flush_io(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.pipe.poll_flush_io(cx))?;
        self.inner.flush_requested = false;
        Poll::Ready(Ok(()))
    }

    /// Flushes first if `len` more bytes would exceed [`FLUSH_BUDGET`].
    fn poll_budget(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<()>> {
        if self.pipe.unflushed + len > FLUSH_BUDGET {
            return self.poll_flush_io(cx);
        }
        Poll::Ready(Ok(()))
    }

    /// Writes the tail and every queued frame without a body.
    fn poll_control(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.pipe.poll_tail(cx))?;
        while self.inner.session.has_control() {
            std::task::ready!(self.poll_budget(cx, HEADER_LEN))?;
            let Some(h) = self.inner.session.next_control() else { break };
            match self.pipe.write_frame(cx, &h, &[]) {
                Poll::Ready(Ok(true)) => self.inner.request_flush(),
                Poll::Ready(Ok(false)) => {
                    self.inner.session.requeue_control(h);
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}
