//! [`Stream`]: one UDX stream as tokio `AsyncRead + AsyncWrite`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::proto::{CloseReason, ReadError, Stats, WriteError};
use crate::socket::{Handle, SharedStream, StreamError, close_error, lock};

/// A UDX stream (`udx::Stream`). Reads end at the peer's END; `shutdown` sends
/// END and completes once everything written has been acked. Dropping a stream
/// that has not finished both ways destroys it (the peer sees a reset).
#[derive(Debug)]
pub struct Stream {
    handle: Arc<Handle>,
    state: SharedStream,
    local_id: u32,
}

impl Stream {
    pub(crate) fn new(handle: Arc<Handle>, state: SharedStream, local_id: u32) -> Self {
        Stream { handle, state, local_id }
    }

    fn notify(&self) {
        self.handle.0.mark(self.local_id);
    }

    /// Our stream id.
    pub fn local_id(&self) -> u32 {
        self.local_id
    }

    /// The peer's stream id, once connected.
    pub fn remote_id(&self) -> Option<u32> {
        lock(&self.state).conn.remote_id()
    }

    /// The peer's address, once connected.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        lock(&self.state).remote
    }

    /// The source of the first packet that reached this stream before [`Stream::connect`]
    /// (what udx-native's firewall hook reports): where the peer's stream sends from.
    pub fn first_packet_from(&self) -> Option<SocketAddr> {
        lock(&self.state).first_from
    }

    /// Sends to stream `remote_id` at `addr` from now on (as udx-native's
    /// `stream.connect(socket, remoteId, port, host)`).
    pub fn connect(&self, remote_id: u32, addr: SocketAddr) -> Result<(), StreamError> {
        let mut st = lock(&self.state);
        if st.conn.remote_id().is_some() {
            return Err(StreamError::AlreadyConnected);
        }
        if st.conn.close_reason().is_some() {
            return Err(StreamError::Closed);
        }
        st.conn.connect(remote_id, addr.is_ipv6());
        tracing::debug!(stream = self.local_id, remote_id, %addr, "udx: stream connected");
        st.remote = Some(addr);
        drop(st);
        self.notify();
        Ok(())
    }

    /// Resets the stream now (a DESTROY packet; the peer gets ECONNRESET).
    pub fn destroy(&self) {
        lock(&self.state).conn.destroy();
        self.notify();
    }

    /// Why the stream closed, if it did.
    pub fn close_reason(&self) -> Option<CloseReason> {
        lock(&self.state).conn.close_reason()
    }

    /// Counters of the stream.
    pub fn stats(&self) -> Stats {
        lock(&self.state).conn.stats()
    }

    /// Bytes this stream holds: written and not yet acked, plus received and not yet
    /// read.
    pub fn buffered_bytes(&self) -> usize {
        lock(&self.state).conn.buffered_bytes()
    }

    /// The current MTU estimate.
    pub fn mtu(&self) -> u16 {
        lock(&self.state).conn.mtu()
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut st = lock(&self.state);
        match st.conn.read(buf.initialize_unfilled()) {
            Ok(Some(n)) => {
                buf.advance(n);
                let update = st.conn.ack_pending();
                drop(st);
                if update {
                    self.notify(); // a window update is due
                }
                Poll::Ready(Ok(()))
            }
            Ok(None) => {
                st.read_waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Err(ReadError::Closed(r)) => Poll::Ready(Err(close_error(r))),
        }
    }
}

fn write_error(e: WriteError) -> io::Error {
    match e {
        WriteError::Closed(r) => close_error(r),
        _ => io::Error::new(io::ErrorKind::BrokenPipe, "udx stream finished"),
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut st = lock(&self.state);
        match st.conn.write(data) {
            Ok(0) if !data.is_empty() => {
                st.write_waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Ok(n) => {
                drop(st);
                self.notify();
                Poll::Ready(Ok(n))
            }
            Err(e) => Poll::Ready(Err(write_error(e))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.state).conn.flush();
        self.notify();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = lock(&self.state);
        if let Some(r) = st.conn.close_reason() {
            return match r {
                CloseReason::Finished => Poll::Ready(Ok(())),
                r => Poll::Ready(Err(close_error(r))),
            };
        }
        if let Err(e) = st.conn.finish() {
            return Poll::Ready(Err(write_error(e)));
        }
        if st.conn.is_flushed() {
            return Poll::Ready(Ok(()));
        }
        st.write_waker = Some(cx.waker().clone());
        drop(st);
        self.notify();
        Poll::Pending
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        st.handle_dropped = true;
        if st.conn.close_reason().is_none() {
            st.conn.destroy();
        }
        drop(st);
        self.notify();
    }
}
