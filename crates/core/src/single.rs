//! A connection that is one stream (e.g. a Hyperswarm secret-stream), seen as a
//! [`MuxedConnection`] so that the swarm treats it like any other.
//!
//! The one stream arrives as an inbound stream named by whoever built the
//! connection; the connection ends when that stream is dropped, or when it is closed
//! (then the stream's reads and writes fail at once, even mid-call). No further
//! streams can be opened ([`MuxError::NotSupported`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::io::BoxIo;
use crate::muxer::{IncomingStream, MuxCommand, MuxDriverEnds, MuxError, MuxedConnection, StreamNaming};
use crate::protocol::ProtocolId;

/// Wraps `io` as a connection carrying one stream of `protocol`.
pub fn single_stream(io: BoxIo, protocol: ProtocolId) -> MuxedConnection {
    let (handles, ends) = MuxedConnection::channel(StreamNaming::Single, 1);
    let cancel = CancellationToken::new();
    let (done_tx, done_rx) = oneshot::channel();
    let stream = SingleStream { io: Some(io), cancelled: Box::pin(cancel.clone().cancelled_owned()), _done: done_tx };
    // The channel has room for exactly this one stream.
    let _ = ends.inbound.try_send(IncomingStream::named(Box::new(stream), protocol));
    handles.with_driver(Box::pin(drive(ends, done_rx, cancel)))
}

async fn drive(mut ends: MuxDriverEnds, mut done: oneshot::Receiver<()>, cancel: CancellationToken) {
    // Dropping the driver (a hard stop) also ends the stream.
    let _guard = cancel.clone().drop_guard();
    let mut closers = Vec::new();
    loop {
        tokio::select! {
            cmd = ends.commands.recv() => match cmd {
                Some(MuxCommand::Open { reply, .. }) => {
                    let _ = reply.send(Err(MuxError::NotSupported));
                }
                Some(MuxCommand::Close(reply)) => {
                    closers.push(reply);
                    break;
                }
                None => break,
            },
            _ = &mut done => break,
        }
    }
    cancel.cancel();
    let _ = ends.closed.send(true);
    drop(ends.inbound);
    for reply in closers {
        let _ = reply.send(());
    }
}

/// The one stream: the connection's pipe, cut off when the connection is closed.
struct SingleStream {
    io: Option<BoxIo>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    /// Dropped with the stream: tells the driver the connection has ended.
    _done: oneshot::Sender<()>,
}

impl SingleStream {
    fn io(&mut self, cx: &mut Context<'_>) -> io::Result<&mut BoxIo> {
        if self.io.is_some() && self.cancelled.as_mut().poll(cx).is_ready() {
            self.io = None;
        }
        self.io.as_mut().ok_or_else(|| io::Error::new(io::ErrorKind::ConnectionAborted, "connection closed"))
    }
}

impl AsyncRead for SingleStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.io(cx) {
            Ok(io) => Pin::new(io).poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for SingleStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.io(cx) {
            Ok(io) => Pin::new(io).poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io(cx) {
            Ok(io) => Pin::new(io).poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io(cx) {
            Ok(io) => Pin::new(io).poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self.io(cx) {
            Ok(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(|io| io.is_write_vectored())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn one_named_stream_then_closed() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut conn = single_stream(Box::new(a), ProtocolId::from_static("/t/1"));
        let control = conn.control.clone();
        let driver = tokio::spawn(conn.driver);
        let mut s = conn.inbound.recv().await.unwrap();
        assert_eq!(s.protocol.as_ref().unwrap().as_str(), "/t/1");
        assert!(matches!(control.open_stream().await, Err(MuxError::NotSupported)));
        s.io.write_all(b"hi").await.unwrap();
        let mut buf = [0; 2];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        // Closing cuts the stream off even while it is held.
        tokio::time::timeout(std::time::Duration::from_secs(5), control.close()).await.unwrap();
        let err = s.io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        assert!(conn.inbound.recv().await.is_none());
        driver.await.unwrap();
    }

    #[tokio::test]
    async fn dropping_the_stream_ends_the_connection() {
        let (a, _b) = tokio::io::duplex(64);
        let mut conn = single_stream(Box::new(a), ProtocolId::from_static("/t/1"));
        let control = conn.control.clone();
        tokio::spawn(conn.driver);
        drop(conn.inbound.recv().await.unwrap());
        tokio::time::timeout(std::time::Duration::from_secs(5), control.closed()).await.unwrap();
        assert!(control.is_closed());
    }
}
