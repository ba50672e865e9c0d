//! [`PeerConnection`]: a secret-stream to a swarm peer, counting its traffic (for the
//! duplicate rule) and cut off when the swarm closes it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use rhizome_core::BoxIo;
use rhizome_node::PeerId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Bytes moved on a connection (plaintext; keep-alives are not seen at this level).
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    read: AtomicU64,
    written: AtomicU64,
}

impl Traffic {
    /// Has sent and received data: Node's `rawBytesRead > 0 && rawBytesWritten > 0`.
    pub(crate) fn established(&self) -> bool {
        self.read.load(Ordering::Relaxed) > 0 && self.written.load(Ordering::Relaxed) > 0
    }
}

/// The swarm's end of a connection: cancel it to close, await the drop of the stream.
#[derive(Debug)]
pub(crate) struct ConnHandle {
    pub(crate) traffic: Arc<Traffic>,
    pub(crate) cancel: CancellationToken,
    pub(crate) dropped: oneshot::Receiver<()>,
}

/// An encrypted, authenticated connection to a swarm peer (Node's `swarm.on('connection')`
/// socket): read and write it like any byte stream. Dropping it closes it.
pub struct PeerConnection {
    io: Option<BoxIo>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    traffic: Arc<Traffic>,
    remote_public_key: [u8; 32],
    is_initiator: bool,
    shut_down: bool,
    dropped: Option<oneshot::Sender<()>>,
}

/// How long a connection dropped after `shutdown` waits for the remote's end.
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

impl Drop for PeerConnection {
    /// After `shutdown`, the stream lingers (reading until the remote ends it, at most
    /// [`LINGER`]) so that our last bytes and our end reach the remote before the UDX
    /// stream goes; dropped without `shutdown`, it is destroyed at once.
    fn drop(&mut self) {
        let (Some(mut io), true) = (self.io.take(), self.shut_down) else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let dropped = self.dropped.take();
        rt.spawn(async move {
            use tokio::io::AsyncReadExt as _;
            let mut buf = [0u8; 1024];
            let _ = tokio::time::timeout(LINGER, async { while matches!(io.read(&mut buf).await, Ok(n) if n > 0) {} }).await;
            drop(io);
            drop(dropped);
        });
    }
}

impl std::fmt::Debug for PeerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConnection")
            .field("remote_public_key", &crate::hex(&self.remote_public_key))
            .field("is_initiator", &self.is_initiator)
            .finish_non_exhaustive()
    }
}

impl PeerConnection {
    pub(crate) fn new(io: BoxIo, remote_public_key: [u8; 32], is_initiator: bool) -> (Self, ConnHandle) {
        let traffic = Arc::new(Traffic::default());
        let cancel = CancellationToken::new();
        let (tx, rx) = oneshot::channel();
        let conn = Self {
            io: Some(io),
            cancelled: Box::pin(cancel.clone().cancelled_owned()),
            traffic: traffic.clone(),
            remote_public_key,
            is_initiator,
            shut_down: false,
            dropped: Some(tx),
        };
        (conn, ConnHandle { traffic, cancel, dropped: rx })
    }

    /// The remote's authenticated Ed25519 public key.
    pub fn remote_public_key(&self) -> &[u8; 32] {
        &self.remote_public_key
    }

    /// The remote's `PeerId` (from its Ed25519 key).
    pub fn peer_id(&self) -> Option<PeerId> {
        crate::peer_id(&self.remote_public_key)
    }

    /// Whether we opened it (we were the Noise initiator, Node's `isInitiator`).
    pub fn is_initiator(&self) -> bool {
        self.is_initiator
    }

    fn io(&mut self, cx: &mut Context<'_>) -> io::Result<&mut BoxIo> {
        if self.io.is_some() && self.cancelled.as_mut().poll(cx).is_ready() {
            self.io = None;
        }
        self.io.as_mut().ok_or_else(|| io::Error::new(io::ErrorKind::ConnectionAborted, "closed by the swarm (duplicate)"))
    }
}

impl AsyncRead for PeerConnection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let io = match self.io(cx) {
            Ok(io) => io,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let r = Pin::new(io).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        self.traffic.read.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for PeerConnection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let io = match self.io(cx) {
            Ok(io) => io,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let r = Pin::new(io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.traffic.written.fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io(cx) {
            Ok(io) => Pin::new(io).poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = match self.io(cx) {
            Ok(io) => Pin::new(io).poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        };
        if matches!(r, Poll::Ready(Ok(()))) {
            self.shut_down = true;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn counts_traffic_and_is_cut_off_by_the_swarm() {
        let (a, mut b) = tokio::io::duplex(64);
        let (mut conn, handle) = PeerConnection::new(Box::new(a), [3; 32], true);
        conn.write_all(b"hi").await.unwrap();
        assert!(!handle.traffic.established());
        b.write_all(b"yo").await.unwrap();
        let mut buf = [0; 2];
        conn.read_exact(&mut buf).await.unwrap();
        assert!(handle.traffic.established());
        handle.cancel.cancel();
        assert_eq!(conn.read(&mut buf).await.unwrap_err().kind(), io::ErrorKind::ConnectionAborted);
        drop(conn);
        handle.dropped.await.unwrap_err();
    }
}
