//! A man in the middle flips one byte of an encrypted frame: the connection closes,
//! on both sides, and nothing panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rhizome_core::{Listener, MemoryTransport, Multiaddr, ProtocolId, RawConn, Transport, TransportError};
use rhizome_swarm::SwarmEvent;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};

/// Flips the byte at `at` of everything written through it.
struct FlipOnWrite {
    inner: rhizome_core::BoxIo,
    written: usize,
    at: usize,
}

impl AsyncRead for FlipOnWrite {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FlipOnWrite {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let (start, at) = (self.written, self.at);
        let res = if (start..start + buf.len()).contains(&at) {
            let mut copy = buf.to_vec();
            copy[at - start] ^= 0x80;
            Pin::new(&mut self.inner).poll_write(cx, &copy)
        } else {
            Pin::new(&mut self.inner).poll_write(cx, buf)
        };
        if let Poll::Ready(Ok(n)) = &res {
            self.written += n;
        }
        res
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The memory transport, with dialed connections tampered after the handshake.
struct Tampering {
    at: usize,
}

#[async_trait::async_trait]
impl Transport for Tampering {
    fn name(&self) -> &'static str {
        "tampering-memory"
    }
    fn supports(&self, addr: &Multiaddr) -> bool {
        MemoryTransport.supports(addr)
    }
    async fn dial(&self, addr: &Multiaddr) -> Result<RawConn, TransportError> {
        let raw = MemoryTransport.dial(addr).await?;
        Ok(RawConn { io: Box::new(FlipOnWrite { inner: raw.io, written: 0, at: self.at }), ..raw })
    }
    async fn listen(&self, addr: &Multiaddr) -> Result<Box<dyn Listener>, TransportError> {
        MemoryTransport.listen(addr).await
    }
}

use common::swarm_with as swarm;

#[tokio::test]
async fn tampered_noise_frame_closes_the_connection() {
    tokio::time::timeout(Duration::from_secs(10), async {
        // The dialer writes 28 (multistream) + 34 (msg 1) + 170 (msg 3) handshake bytes;
        // byte 2000 lies in the ciphertext of the data written below.
        let a = swarm(1, Tampering { at: 2000 });
        let b = swarm(2, MemoryTransport);
        b.set_handler(
            ProtocolId::from_static("/sink/1"),
            std::sync::Arc::new(|mut s: rhizome_swarm::Stream| {
                Box::pin(async move {
                    let _ = tokio::io::copy(&mut s, &mut tokio::io::sink()).await;
                }) as futures::future::BoxFuture<'static, ()>
            }),
            Default::default(),
        );
        let (_, addr) = b.listen("/memory/0".parse().unwrap()).await.unwrap();
        let (mut ea, mut eb) = (a.subscribe(), b.subscribe());
        a.dial(rhizome_identity::with_peer_id(&addr, b.local_peer_id())).await.unwrap();
        let mut s = a.open_stream(b.local_peer_id(), &[ProtocolId::from_static("/sink/1")]).await.unwrap();
        let _ = s.write_all(&[7u8; 4096]).await;
        let _ = s.flush().await;
        for events in [&mut eb, &mut ea] {
            loop {
                if let SwarmEvent::Disconnected { .. } = events.recv().await.unwrap() {
                    break;
                }
            }
        }
        assert!(a.connections().is_empty() && b.connections().is_empty());
    })
    .await
    .expect("the tampered connection was not closed");
}
