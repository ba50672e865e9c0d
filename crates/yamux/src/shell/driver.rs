//! The connection task: reads and parses, hands out streams, writes control frames,
//! flushes, and closes.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use rhizome_core::{IncomingStream, MuxCommand, MuxDriverEnds, MuxError, OpenReply};
use tokio::io::AsyncWrite;
use tokio::sync::oneshot;
use tracing::{debug, trace};

use super::Shared;
use super::stream::YamuxStream;
use crate::session::{OpenError, State, go_away};

/// Outbound open requests waiting (for the ACK backlog); beyond this, `open_stream`
/// fails at once.
const MAX_PENDING_OPENS: usize = 1024;
/// How long a graceful close (GoAway, flush) may take before the pipe is dropped.
pub const CLOSE_DEADLINE: Duration = Duration::from_secs(5);
/// How long we try to tell a violating remote why we close.
const VIOLATION_DEADLINE: Duration = Duration::from_secs(1);
/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 128 * 1024;
/// Reads per driver turn before it yields to other tasks.
const READS_PER_TURN: usize = 8;

struct Driver {
    shared: Arc<Shared>,
    ends: MuxDriverEnds,
    opens: VecDeque<OpenReply>,
    closers: Vec<oneshot::Sender<()>>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    rbuf: BytesMut,
    wake: Vec<Waker>,
    accepted: Vec<u32>,
}

/// Drives the connection until it ends, then marks it closed.
pub(crate) async fn drive(shared: Arc<Shared>, ends: MuxDriverEnds) {
    let mut d = Driver {
        shared,
        ends,
        opens: VecDeque::new(),
        closers: Vec::new(),
        deadline: None,
        rbuf: BytesMut::new(),
        wake: Vec::new(),
        accepted: Vec::new(),
    };
    poll_fn(|cx| d.poll(cx)).await;
    d.finish();
}

impl Driver {
    fn start_close(&mut self, code: u32) {
        let mut inner = self.shared.lock();
        inner.session.go_away(code);
        let limit = if code == go_away::NORMAL { CLOSE_DEADLINE } else { VIOLATION_DEADLINE };
        if self.deadline.is_none() {
            self.deadline = Some(Box::pin(tokio::time::sleep(limit)));
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut inner = self.shared.lock();
            if !inner.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                inner.driver = Some(cx.waker().clone());
            }
        }
        self.commands(cx);
        if let Some(deadline) = self.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                debug!("yamux: close timed out, dropping the connection");
                return Poll::Ready(());
            }
            return self.poll_closing(cx);
        }
        if let Poll::Ready(()) = self.read(cx) {
            return Poll::Ready(());
        }
        if self.deadline.is_some() {
            return self.poll_closing(cx);
        }
        self.hand_out();
        self.serve_opens();
        self.write(cx)
    }

    fn commands(&mut self, cx: &mut Context<'_>) {
        while self.deadline.is_none() {
            match self.ends.commands.poll_recv(cx) {
                Poll::Ready(Some(MuxCommand::Open { protocol: Some(_), reply })) => {
                    // yamux streams are anonymous: their protocol is negotiated on them.
                    let _ = reply.send(Err(MuxError::NotSupported));
                }
                Poll::Ready(Some(MuxCommand::Open { reply, .. })) if self.opens.len() < MAX_PENDING_OPENS => {
                    self.opens.push_back(reply);
                }
                Poll::Ready(Some(MuxCommand::Open { reply, .. })) => {
                    let _ = reply.send(Err(MuxError::Muxer("too many pending stream opens".into())));
                }
                Poll::Ready(Some(MuxCommand::Close(done))) => {
                    self.closers.push(done);
                    self.start_close(go_away::NORMAL);
                }
                Poll::Ready(Some(_)) => {}
                // Every handle is gone: nobody can use this connection any more.
                Poll::Ready(None) => self.start_close(go_away::NORMAL),
                Poll::Pending => break,
            }
        }
    }

    /// Reads and parses; `Ready` when the connection ended.
    fn read(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let shared = self.shared.clone();
        for turn in 0..=READS_PER_TURN {
            if turn == READS_PER_TURN {
                cx.waker().wake_by_ref();
                break;
            }
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                // What is left is at most a partial frame header.
                let mut fresh = super::recycle::take(READ_CHUNK + self.rbuf.len());
                fresh.extend_from_slice(&self.rbuf);
                super::recycle::give(std::mem::replace(&mut self.rbuf, fresh));
            }
            // Only the pipe is locked while reading (and decrypting), so stream
            // handles read their queued bytes meanwhile; the session is locked after.
            let mut pipe = shared.pipe();
            let Some(io) = pipe.io.as_mut() else { return Poll::Ready(()) };
            let polled = tokio_util::io::poll_read_buf(Pin::new(io), cx, &mut self.rbuf);
            drop(pipe);
            let mut inner = shared.lock();
            match polled {
                Poll::Ready(Ok(0)) => {
                    trace!("yamux: remote closed the connection");
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(_)) => match inner.session.receive(&mut self.rbuf) {
                    Ok(r) => {
                        if let Some(code) = r.go_away {
                            trace!(code, "yamux: remote sent GoAway");
                            return Poll::Ready(());
                        }
                    }
                    Err(v) => {
                        debug!(violation = %v, "yamux: remote violated the protocol; closing the connection");

                        drop(inner);
                        self.start_close(go_away::PROTOCOL_ERROR);
                        return Poll::Pending;
                    }
                },
                Poll::Ready(Err(e)) => {
                    debug!(error = %e, "yamux: connection read failed");
                    return Poll::Ready(());
                }
                Poll::Pending => {
                    if self.rbuf.is_empty() {
                        // Idle: hold no read buffer.
                        super::recycle::give(std::mem::take(&mut self.rbuf));
                    }
                    self.take_events(&mut inner);
                    drop(inner);
                    self.wake_all();
                    break;
                }
            }
            self.take_events(&mut inner);
            drop(inner);
            self.wake_all();
        }
        Poll::Pending
    }

    fn take_events(&mut self, inner: &mut super::Inner) {
        while let Some(id) = inner.session.next_accepted() {
            self.accepted.push(id);
        }
        std::mem::swap(&mut self.wake, &mut inner.session.wake);
    }

    fn wake_all(&mut self) {
        for w in self.wake.drain(..) {
            w.wake();
        }
    }

    /// Gives the remote's new streams to the application; a full backlog resets them.
    fn hand_out(&mut self) {
        for id in self.accepted.drain(..) {
            let stream = YamuxStream::new(self.shared.clone(), id);
            if let Err(e) = self.ends.inbound.try_send(IncomingStream::anonymous(Box::new(stream))) {
                // Dropping the stream resets it.
                debug!(reason = %e, "yamux: inbound stream backlog full or closed, resetting stream");
            }
        }
    }

    fn serve_opens(&mut self) {
        while let Some(front) = self.opens.front() {
            if front.is_closed() {
                self.opens.pop_front();
                continue;
            }
            let opened = self.shared.lock().session.open();
            let result = match opened {
                Ok(Some(id)) => Ok(Box::new(YamuxStream::new(self.shared.clone(), id)) as rhizome_core::BoxIo),
                Ok(None) => return, // the ACK backlog is full: wait for ACKs
                Err(OpenError::TooManyStreams) => Err(MuxError::TooManyStreams { limit: self.shared.lock().session.limits().max_streams }),
                Err(_) => Err(MuxError::Closed),
            };
            if let Some(reply) = self.opens.pop_front() {
                let _ = reply.send(result);
            }
        }
    }

    /// Writes control frames and flushes if asked.
    fn write(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let shared = &*self.shared;
        let inner = shared.lock();
        if !inner.session.has_control() && !inner.flush_requested {
            return Poll::Pending;
        }
        // The pipe only when there is something to write (a writer may hold it).
        let mut o = super::Out { inner, pipe: shared.pipe() };
        let epoch = shared.write_epoch();
        let mut wcx = Context::from_waker(&shared.write_waker);
        let polled = match o.poll_control(&mut wcx) {
            Poll::Ready(Ok(())) if o.inner.flush_requested => o.poll_flush_io(&mut wcx),
            other => other,
        };
        match polled {
            Poll::Ready(Ok(())) => Poll::Pending,
            Poll::Ready(Err(e)) => {
                debug!(error = %e, "yamux: connection write failed");
                Poll::Ready(())
            }
            Poll::Pending => {
                shared.wait_writable(epoch, cx.waker());
                Poll::Pending
            }
        }
    }

    /// Sends the GoAway and shuts the pipe down; `Ready` when done.
    fn poll_closing(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let shared = &*self.shared;
        let mut o = shared.lock_both();
        if o.inner.session.state() == State::Open {
            o.inner.session.go_away(go_away::NORMAL);
        }
        let epoch = shared.write_epoch();
        let mut wcx = Context::from_waker(&shared.write_waker);
        let polled = match o.poll_control(&mut wcx) {
            Poll::Ready(Ok(())) => o.poll_flush_io(&mut wcx),
            other => other,
        };
        let polled = match polled {
            Poll::Ready(Ok(())) => match o.pipe.io.as_mut() {
                Some(io) => Pin::new(io).poll_shutdown(&mut wcx),
                None => Poll::Ready(Ok(())),
            },
            other => other,
        };
        match polled {
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending => {
                shared.wait_writable(epoch, cx.waker());
                Poll::Pending
            }
        }
    }

    fn finish(mut self) {
        let io = {
            let mut o = self.shared.lock_both();
            o.inner.session.close_all();
            std::mem::swap(&mut self.wake, &mut o.inner.session.wake);
            o.pipe.io.take()
        };
        drop(io);
        for w in self.wake.drain(..) {
            w.wake();
        }
        trace!("yamux: connection closed");
        for reply in self.opens.drain(..) {
            let _ = reply.send(Err(MuxError::Closed));
        }
        let _ = self.ends.closed.send(true);
        for done in self.closers.drain(..) {
            let _ = done.send(());
        }
    }
}
