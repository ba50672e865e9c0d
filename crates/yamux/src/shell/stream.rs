//! A stream handle: `AsyncRead + AsyncWrite` over the shared session.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Inner, Out, Shared};
use crate::session::{HEADER_LEN, ReadOutcome, SendError};

/// The plaintext of one full `NoiseStream` frame: a yamux frame with a full
/// 65,507-byte body fills exactly one.
const NOISE_FRAME: usize = 65_519;

/// One yamux stream. Dropping it before both sides closed resets it.
pub(crate) struct YamuxStream {
    shared: Arc<Shared>,
    id: u32,
}

impl YamuxStream {
    pub(crate) fn new(shared: Arc<Shared>, id: u32) -> Self {
        Self { shared, id }
    }
}

fn send_error(e: SendError) -> io::Error {
    match e {
        SendError::Reset => io::Error::new(io::ErrorKind::ConnectionReset, "yamux stream reset"),
        SendError::WriteClosed => io::Error::new(io::ErrorKind::BrokenPipe, "yamux stream closed for writing"),
        _ => super::closed(),
    }
}

impl Shared {
    /// Sends queued frames without a body and flushes; if the pipe is busy (the
    /// driver is reading) or full, the driver finishes the job when it can.
    fn push_control(&self, mut inner: std::sync::MutexGuard<'_, Inner>) {
        if !inner.session.has_control() {
            return;
        }
        let pipe = match self.pipe.try_lock() {
            Ok(p) => p,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                inner.flush_requested = true;
                inner.wake_driver();
                return;
            }
        };
        let mut o = Out { inner, pipe };
        let epoch = self.write_epoch();
        let mut cx = Context::from_waker(&self.write_waker);
        let done = match o.poll_control(&mut cx) {
            Poll::Ready(Ok(())) => o.poll_flush_io(&mut cx).is_ready(),
            Poll::Ready(Err(_)) => true,
            Poll::Pending => false,
        };
        if !done {
            o.inner.flush_requested = true;
            if let Some(d) = o.inner.driver.clone() {
                self.wait_writable(epoch, &d);
            }
        }
    }
}

impl AsyncRead for YamuxStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut inner = this.shared.lock();
        let got = inner.session.read(this.id, buf, cx.waker());
        this.shared.push_control(inner);
        match got {
            // A reset stream reads as ended once its buffered bytes are read, as with the
            // yamux crate 0.14 (rust-libp2p): a handler that writes its answer and drops
            // the stream without closing it is read to the end by the other side. Writes
            // to a reset stream fail with `ConnectionReset`.
            ReadOutcome::Data(_) | ReadOutcome::Eof | ReadOutcome::Closed | ReadOutcome::Reset => Poll::Ready(Ok(())),
            ReadOutcome::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for YamuxStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let shared = &*this.shared;
        let mut o = shared.lock_both();
        let epoch = shared.write_epoch();
        let mut wcx = Context::from_waker(&shared.write_waker);
        // Frames queued before this one (SYN, ACK, window updates) go first.
        match o.poll_control(&mut wcx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {
                shared.wait_writable(epoch, cx.waker());
                return Poll::Pending;
            }
        }
        let max = buf.len().min(o.inner.split_send_size);
        match o.poll_budget(&mut wcx, HEADER_LEN + max) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {
                shared.wait_writable(epoch, cx.waker());
                return Poll::Pending;
            }
        }
        let header = match o.inner.session.plan_send(this.id, max, cx.waker()) {
            Ok(Some(h)) => h,
            Ok(None) => return Poll::Pending,
            Err(e) => return Poll::Ready(Err(send_error(e))),
        };
        let n = header.length as usize;
        match o.pipe.write_frame(&mut wcx, &header, &buf[..n]) {
            Poll::Ready(Ok(true)) => {
                // Bytes written since the last flush that fill whole Noise frames are
                // sealed and on their way (the socket wakes the driver if it was full);
                // anything else is flushed now. If the socket is full the driver
                // finishes when it can.
                o.inner.flush_requested = true;
                let aligned = o.pipe.unflushed.is_multiple_of(NOISE_FRAME);
                if (aligned || o.poll_flush_io(&mut wcx).is_pending())
                    && let Some(d) = o.inner.driver.clone()
                {
                    shared.wait_writable(epoch, &d);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Ok(false)) | Poll::Pending => {
                o.inner.session.unplan_send(this.id, &header);
                shared.wait_writable(epoch, cx.waker());
                Poll::Pending
            }
            Poll::Ready(Err(e)) => {
                o.inner.session.unplan_send(this.id, &header);
                Poll::Ready(Err(e))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let shared = &*self.shared;
        let mut o = shared.lock_both();
        let epoch = shared.write_epoch();
        let mut wcx = Context::from_waker(&shared.write_waker);
        let polled = match o.poll_control(&mut wcx) {
            Poll::Ready(Ok(())) => o.poll_flush_io(&mut wcx),
            other => other,
        };
        if polled.is_pending() {
            shared.wait_writable(epoch, cx.waker());
        }
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        {
            let mut o = self.shared.lock_both();
            match o.inner.session.close(self.id) {
                Ok(()) => {}
                Err(SendError::Closed) if o.pipe.io.is_none() => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(send_error(e))),
            }
        }
        self.poll_flush(cx)
    }
}

impl Drop for YamuxStream {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.session.drop_stream(self.id);
        if inner.session.has_control() {
            inner.wake_driver();
        }
        // A dropped stream may let a waiting open go ahead.
        inner.wake_driver();
    }
}
