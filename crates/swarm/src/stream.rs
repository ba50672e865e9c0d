//! `Stream`: one stream of one protocol (negotiated or named), with its connection's
//! identity.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use rhizome_core::{BoxIo, Multiaddr, PeerId, ProtocolId};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;

use crate::budget::Reservation;
use crate::connection::{Connection, ConnectionId, StreamGuard};
use crate::stats::OpenClose;

/// A stream of one protocol: bytes in both directions for one protocol with one peer.
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
    _memory: Option<Reservation>,
    _permit: Option<OwnedSemaphorePermit>,
    counted: std::sync::Arc<OpenClose>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.counted.close();
    }
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
        conn: &Connection,
        protocol: ProtocolId,
        io: BoxIo,
        (guard, memory): (StreamGuard, Option<Reservation>),
        permit: Option<OwnedSemaphorePermit>,
        counted: std::sync::Arc<OpenClose>,
    ) -> Self {
        counted.open();
        Self {
            counted,
            io,
            protocol,
            peer: conn.info.peer,
            connection: conn.info.id,
            remote_addr: conn.info.remote_addr.clone(),
            _guard: guard,
            _memory: memory,
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
