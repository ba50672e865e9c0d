//! Handshake and transport tests over in-memory pipes, plus a deterministic transcript.

use std::pin::Pin;
use std::task::{Context, Poll};

use rand::RngCore as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};

use super::*;

async fn with_timeout<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(20), f).await.expect("test timed out")
}

fn keys() -> (Keypair, Keypair) {
    (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]))
}

#[tokio::test]
async fn handshake_authenticates_both_sides() {
    with_timeout(async {
        let (a, b) = keys();
        let (ia, ib) = tokio::io::duplex(64 * 1024);
        let b2 = b.clone();
        let server = tokio::spawn(async move { handshake_inbound(ib, &b2, &[]).await.map(|(p, _)| p) });
        let (peer, _) = handshake_outbound(ia, &a, Some(b.peer_id()), &[]).await.unwrap();
        assert_eq!(peer, b.peer_id());
        assert_eq!(server.await.unwrap().unwrap(), a.peer_id());
    })
    .await
}

#[tokio::test]
async fn wrong_expected_peer_is_refused() {
    with_timeout(async {
        let (a, b) = keys();
        let (ia, ib) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move { handshake_inbound(ib, &b, &[]).await.map(|(p, _)| p) });
        let someone_else = Keypair::from_seed([3; 32]).peer_id();
        let err = handshake_outbound(ia, &a, Some(someone_else), &[]).await.unwrap_err();
        assert!(matches!(err, Error::WrongPeer { expected, .. } if expected == someone_else));
        // The responder never learns who we are: message 3 was not sent.
        assert!(server.await.unwrap().is_err());
    })
    .await
}

async fn connected_pair() -> (NoiseStream<tokio::io::DuplexStream>, NoiseStream<tokio::io::DuplexStream>) {
    let (a, b) = keys();
    let (ia, ib) = tokio::io::duplex(256 * 1024);
    let server = tokio::spawn(async move { handshake_inbound(ib, &b, &[]).await.unwrap().1 });
    let (_, client) = handshake_outbound(ia, &a, None, &[]).await.unwrap();
    (client, server.await.unwrap())
}

#[tokio::test]
async fn transfers_many_sizes_both_ways() {
    with_timeout(async {
        let (mut c, mut s) = connected_pair().await;
        for size in [1usize, 15, 16, 17, 65518, 65519, 65520, 200_000, 1 << 20] {
            let mut data = vec![0u8; size];
            rand::rng().fill_bytes(&mut data);
            let sent = data.clone();
            let writer = tokio::spawn(async move {
                c.write_all(&sent).await.unwrap();
                c.flush().await.unwrap();
                c
            });
            // Read with an awkward buffer size to exercise partial delivery.
            let mut got = Vec::with_capacity(size);
            let mut chunk = [0u8; 7000];
            while got.len() < size {
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&chunk[..n]);
            }
            assert_eq!(got, data);
            c = writer.await.unwrap();
            std::mem::swap(&mut c, &mut s);
        }
    })
    .await
}

#[tokio::test]
async fn shutdown_is_clean_eof() {
    with_timeout(async {
        let (mut c, mut s) = connected_pair().await;
        c.write_all(b"bye").await.unwrap();
        c.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
    })
    .await
}

/// A pipe that flips one byte of everything it forwards after `skip` bytes.
struct Tamper<IO> {
    inner: IO,
    seen: usize,
    flip_at: usize,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tamper<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        let after = buf.filled().len();
        let (start, flip) = (self.seen, self.flip_at);
        if (start..start + (after - before)).contains(&flip) {
            buf.filled_mut()[before + flip - start] ^= 0x01;
        }
        self.seen += after - before;
        res
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tamper<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn tampered_transport_frame_fails_the_channel() {
    with_timeout(async {
        let (a, b) = keys();
        let (ia, ib) = tokio::io::duplex(64 * 1024);
        // The responder reads: msg1 (2 + 32 bytes), msg3 (2 + 168), then a frame; flip a
        // byte inside the first transport frame's ciphertext.
        let tampered = Tamper { inner: ib, seen: 0, flip_at: 34 + 170 + 5 };
        let server = tokio::spawn(async move {
            let (_, mut s) = handshake_inbound(tampered, &b, &[]).await.unwrap();
            let mut buf = [0u8; 64];
            let first = s.read(&mut buf).await;
            let second = s.read(&mut buf).await;
            (first.map_err(|e| e.kind()), second.map_err(|e| e.kind()))
        });
        let (_, mut c) = handshake_outbound(ia, &a, None, &[]).await.unwrap();
        c.write_all(b"attack at dawn").await.unwrap();
        c.flush().await.unwrap();
        let (first, second) = server.await.unwrap();
        assert_eq!(first, Err(std::io::ErrorKind::InvalidData));
        assert_eq!(second, Err(std::io::ErrorKind::InvalidData), "the channel stays failed");
    })
    .await
}

#[tokio::test]
async fn tampered_handshake_fails() {
    with_timeout(async {
        let (a, b) = keys();
        let (ia, ib) = tokio::io::duplex(64 * 1024);
        // Flip a byte inside message 2's encrypted payload as the initiator reads it.
        let tampered = Tamper { inner: ia, seen: 0, flip_at: 2 + 32 + 60 };
        let server = tokio::spawn(async move { handshake_inbound(ib, &b, &[]).await.map(|_| ()) });
        let err = handshake_outbound(tampered, &a, None, &[]).await.unwrap_err();
        assert!(matches!(err, Error::Noise(_)), "{err:?}");
        assert!(server.await.unwrap().is_err());
    })
    .await
}

#[tokio::test]
async fn garbage_instead_of_a_handshake_is_an_error() {
    with_timeout(async {
        let (_, b) = keys();
        let (mut ia, ib) = tokio::io::duplex(64 * 1024);
        ia.write_all(&[0x00, 0x05, 1, 2, 3, 4, 5]).await.unwrap();
        assert!(handshake_inbound(ib, &b, &[]).await.is_err());
    })
    .await
}

mod vectors;
