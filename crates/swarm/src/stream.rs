//! `Stream`: one negotiated stream of one protocol, with its connection's identity.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rhizome_core::{BoxIo, Multiaddr, PeerId, ProtocolId};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, watch};

use crate::ConnectionId;

/// Tracks the open streams of one connection for the idle policy.
#[derive(Debug)]
pub(crate) struct StreamCounter {
    open: watch::Sender<usize>,
}

impl Default for StreamCounter {
    fn default() -> Self {
        Self { open: watch::channel(0).0 }
    }
}

impl StreamCounter {
    pub(crate) fn open(self: &Arc<Self>) -> StreamGuard {
        self.open.send_modify(|n| *n += 1);
        StreamGuard { counter: self.clone() }
    }

    pub(crate) fn count(&self) -> usize {
        *self.open.borrow()
    }

    /// Resolves once the connection has had no open stream for `idle` without a break.
    pub(crate) async fn idle_for(&self, idle: std::time::Duration) {
        let mut rx = self.open.subscribe();
        loop {
            if rx.wait_for(|n| *n == 0).await.is_err() {
                return std::future::pending().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(idle) => return,
                _ = rx.wait_for(|n| *n > 0) => {}
            }
        }
    }
}

/// Counts one open stream until dropped.
#[derive(Debug)]
pub(crate) struct StreamGuard {
    counter: Arc<StreamCounter>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.counter.open.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A negotiated stream: bytes in both directions for one protocol with one peer.
///
/// `AsyncRead + AsyncWrite` (tokio). Shut down the write side to half-close; drop
/// the stream to reset it.
pub struct Stream {
    io: BoxIo,
    protocol: ProtocolId,
    peer: PeerId,
    connection: ConnectionId,
    remote_addr: Multiaddr,
    _guard: StreamGuard,
    _permit: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("protocol", &self.protocol)
            .field("peer", &self.peer)
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

impl Stream {
    /// A negotiated stream on `conn`, counted open by `guard` (and holding the
    /// inbound `permit` of its protocol, if any) until dropped.
    pub(crate) fn on(
        conn: &crate::Connection,
        protocol: ProtocolId,
        io: BoxIo,
        guard: StreamGuard,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        Self {
            io,
            protocol,
            peer: conn.info.peer,
            connection: conn.info.id,
            remote_addr: conn.info.remote_addr.clone(),
            _guard: guard,
            _permit: permit,
        }
    }

    /// The negotiated protocol.
    pub fn protocol(&self) -> &ProtocolId {
        &self.protocol
    }

    /// The remote peer.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// The connection this stream runs on.
    pub fn connection_id(&self) -> ConnectionId {
        self.connection
    }

    /// The remote address of the connection.
    pub fn remote_addr(&self) -> &Multiaddr {
        &self.remote_addr
    }
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
