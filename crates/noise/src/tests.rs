//! Handshake and transport tests over in-memory pipes, plus a deterministic transcript.

use std::pin::Pin;
use std::task::{Context, Poll};

use rand::RngCore as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};

use super::*;
use rhizome_identity::KeypairExt as _;

async fn with_timeout<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(20), f).await.expect("test timed out")
}

fn keys() -> (Keypair, Keypair) {
    (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]))
}

/// A secp256k1, an ECDSA (P-256) and an RSA-2048 identity (the committed test key,
/// see interop-tests/fixtures/README.md).
pub(crate) fn other_key_types() -> [Keypair; 3] {
    use rhizome_identity::{ecdsa, rsa, secp256k1};
    let secp = secp256k1::Keypair::from(secp256k1::SecretKey::try_from_bytes([7; 32]).unwrap());
    let ecdsa = ecdsa::Keypair::from(ecdsa::SecretKey::try_from_bytes([8; 32]).unwrap());
    let mut der = include_bytes!("../../../interop-tests/fixtures/rsa-2048.pk8").to_vec();
    let rsa = rsa::Keypair::try_decode_pkcs8(&mut der).unwrap();
    [secp.into(), ecdsa.into(), rsa.into()]
}

#[tokio::test]
async fn handshake_with_every_key_type_on_either_side() {
    with_timeout(async {
        let ed = Keypair::from_seed([1; 32]);
        for other in other_key_types() {
            for (a, b) in [(ed.clone(), other.clone()), (other.clone(), ed.clone()), (other.clone(), other.clone())] {
                let (ia, ib) = tokio::io::duplex(64 * 1024);
                let b2 = b.clone();
                let server = tokio::spawn(async move { handshake_inbound(ib, &b2, &[]).await });
                let (peer, mut client) = handshake_outbound(ia, &a, Some(b.peer_id()), &[]).await.unwrap();
                assert_eq!(peer, b.peer_id(), "{:?} -> {:?}", a.key_type(), b.key_type());
                let (seen, mut server) = server.await.unwrap().unwrap();
                assert_eq!(seen, a.peer_id());
                client.write_all(b"ping").await.unwrap();
                client.flush().await.unwrap();
                let mut got = [0u8; 4];
                server.read_exact(&mut got).await.unwrap();
                assert_eq!(&got, b"ping");
            }
        }
    })
    .await
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

/// Writes of mixed sizes (yamux-style 12-byte headers and 65,507-byte bodies, tiny
/// writes, flushes in between) over a pipe far smaller than a frame, so the socket
/// takes partial frames and the output buffer compacts; the reader uses a buffer
/// large enough for several frames per `poll_read`.
#[tokio::test]
async fn mixed_writes_and_flushes_over_a_tiny_pipe() {
    with_timeout(async {
        let (a, b) = keys();
        let (ia, ib) = tokio::io::duplex(3000);
        let server = tokio::spawn(async move { handshake_inbound(ib, &b, &[]).await.unwrap().1 });
        let (_, mut c) = handshake_outbound(ia, &a, None, &[]).await.unwrap();
        let mut s = server.await.unwrap();
        let mut data = vec![0u8; 3 << 20];
        rand::rng().fill_bytes(&mut data);
        let sizes = [12usize, 65507, 1, 3, 200_000, 12, 65507, 65519, 65520, 7, 131_038];
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            let (mut at, mut i) = (0, 0);
            while at < sent.len() {
                let n = sizes[i % sizes.len()].min(sent.len() - at);
                c.write_all(&sent[at..at + n]).await.unwrap();
                if i % 3 == 0 {
                    c.flush().await.unwrap();
                }
                at += n;
                i += 1;
            }
            c.shutdown().await.unwrap();
        });
        let mut got = Vec::with_capacity(data.len());
        let mut chunk = vec![0u8; 300_000];
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        writer.await.unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data);
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

mod vectors {
    //! A deterministic handshake transcript (fixed static and ephemeral keys, identity
    //! seeds 1 and 2) checked byte for byte. The same vectors are in `specs/noise.md`.
    //! They are computed twice, with ring's and with RustCrypto's ChaCha20-Poly1305, which
    //! must agree.

    use crate::payload;
    use rhizome_identity::{Keypair, KeypairExt as _};

    const I_STATIC: [u8; 32] = [0x11; 32];
    const I_EPHEMERAL: [u8; 32] = [0x12; 32];
    const R_STATIC: [u8; 32] = [0x21; 32];
    const R_EPHEMERAL: [u8; 32] = [0x22; 32];

    fn hex(b: &[u8]) -> String {
        data_encoding::HEXLOWER.encode(b)
    }

    /// The X25519 public key of `private` (message 1 of XX is the bare ephemeral key).
    fn public(private: &[u8; 32]) -> Vec<u8> {
        let mut out = [0u8; 64];
        let mut hs = snow::Builder::new(crate::PROTOCOL_NAME.parse().unwrap())
            .local_private_key(private)
            .unwrap()
            .fixed_ephemeral_key_for_testing_only(private)
            .build_initiator()
            .unwrap();
        let n = hs.write_message(&[], &mut out).unwrap();
        out[..n].to_vec()
    }

    /// Returns (msg1, msg2, msg3, first transport frame "hello" from initiator), without
    /// the 2-byte length prefixes.
    fn transcript(builder: fn(snow::params::NoiseParams) -> snow::Builder<'static>) -> [Vec<u8>; 4] {
        let params = || crate::PROTOCOL_NAME.parse::<snow::params::NoiseParams>().unwrap();
        let mut init = builder(params())
            .local_private_key(&I_STATIC)
            .unwrap()
            .fixed_ephemeral_key_for_testing_only(&I_EPHEMERAL)
            .build_initiator()
            .unwrap();
        let mut resp = builder(params())
            .local_private_key(&R_STATIC)
            .unwrap()
            .fixed_ephemeral_key_for_testing_only(&R_EPHEMERAL)
            .build_responder()
            .unwrap();
        let (ik, rk) = (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]));
        let mut buf = vec![0u8; 65535];
        let mut scratch = vec![0u8; 65535];

        let n = init.write_message(&[], &mut buf).unwrap();
        let m1 = buf[..n].to_vec();
        resp.read_message(&m1, &mut scratch).unwrap();

        let n = resp.write_message(&payload::encode(&rk, &public(&R_STATIC)).unwrap(), &mut buf).unwrap();
        let m2 = buf[..n].to_vec();
        let p = init.read_message(&m2, &mut scratch).unwrap();
        assert_eq!(payload::verify(&scratch[..p], init.get_remote_static().unwrap()).unwrap(), rk.peer_id());

        let n = init.write_message(&payload::encode(&ik, &public(&I_STATIC)).unwrap(), &mut buf).unwrap();
        let m3 = buf[..n].to_vec();
        let p = resp.read_message(&m3, &mut scratch).unwrap();
        assert_eq!(payload::verify(&scratch[..p], resp.get_remote_static().unwrap()).unwrap(), ik.peer_id());

        let mut init = init.into_transport_mode().unwrap();
        let mut resp = resp.into_transport_mode().unwrap();
        let n = init.write_message(b"hello", &mut buf).unwrap();
        let t1 = buf[..n].to_vec();
        let p = resp.read_message(&t1, &mut scratch).unwrap();
        assert_eq!(&scratch[..p], b"hello");
        [m1, m2, m3, t1]
    }

    fn ring_builder(p: snow::params::NoiseParams) -> snow::Builder<'static> {
        snow::Builder::new(p)
    }

    fn rustcrypto_builder(p: snow::params::NoiseParams) -> snow::Builder<'static> {
        snow::Builder::with_resolver(p, Box::new(snow::resolvers::DefaultResolver))
    }

    const MSG1: &str = "052a50773ac8d91773f2dc9662e12f0defe915e415b8a1c8e20a5a3d6ab2b843";
    const MSG2: &str = "0faa684ed28867b97f4a6a2dee5df8ce974e76b7018e3f22a1c4cf2678570f20a7ed3a6a454f03d7bb49831f99155a0f5b30d08f206300ad054574e2c183e32473fc04f9ec728bfb00430cf36aed63af19b2fb5876fa3fa7f11b3434f5ec1061d1bd502b6cb4e76b8e87f263e6be422adc454f0e5f5f661f03c47bc6927b0e483dca94f8b5662eeac6b8f2f991f85dbbb51c16c7bf7da0c7000f86272cac8f93450c408ccfe560c4ba679841d160cff78498b6a4325c840f159336ed229337b67fb3be071b3e1168";
    const MSG3: &str = "e86c81a880398a8d9bc21b322d8f524134ef9c0456a63ec2de76574116541dca41e9ab037523da5a84fbabef8d5aa97d27e4f597132223f511d2f4de776623fb3b3d8aaf51a49c0d4d1f6e23eed4651149fc5b9a6324d7aabc80e2ca20756876b77ac86253ef02b0eae304fa7cfc8078c239f2080babd496eb8f91d96113d3991ae9437a48622ac913e67c392c71efcc20e4e47fd72e012308269fff16260cc61691152cd1e914d3";
    const HELLO: &str = "aa95c32df597c589e3fe61f3cbede5197bb35b7cf3";

    #[test]
    fn transcript_is_deterministic_and_backends_agree() {
        let a = transcript(ring_builder);
        let b = transcript(rustcrypto_builder);
        assert_eq!(a, b, "ring and RustCrypto must produce identical bytes");
        assert_eq!(a[0].len(), 32);
        assert_eq!(a[1].len(), 200);
        assert_eq!(a[2].len(), 168);
        assert_eq!(a[3].len(), 5 + 16);
        assert_eq!(hex(&a[0]), MSG1);
        assert_eq!(hex(&a[1]), MSG2);
        assert_eq!(hex(&a[2]), MSG3);
        assert_eq!(hex(&a[3]), HELLO);
    }
}

#[tokio::test]
async fn a_payload_in_message_1_is_refused() {
    with_timeout(async {
        let (_, responder) = keys();
        let (mut a, b) = tokio::io::duplex(1 << 20);
        let server = tokio::spawn(async move { handshake_inbound(b, &responder, b"").await.map(|_| ()) });
        // A well-formed message 1 (e) with a 65,000-byte payload after it.
        let params: snow::params::NoiseParams = PROTOCOL_NAME.parse().unwrap();
        let static_key = snow::Builder::new(params.clone()).generate_keypair().unwrap();
        let mut hs = snow::Builder::new(params).local_private_key(&static_key.private).unwrap().build_initiator().unwrap();
        let mut msg = vec![0u8; MAX_FRAME_LEN];
        let n = hs.write_message(&vec![7u8; 65_000], &mut msg).unwrap();
        a.write_all(&(n as u16).to_be_bytes()).await.unwrap();
        a.write_all(&msg[..n]).await.unwrap();
        match server.await.unwrap() {
            Err(Error::UnexpectedPayload(len)) => assert_eq!(len, 65_000),
            other => panic!("expected UnexpectedPayload, got {other:?}"),
        }
    })
    .await
}

/// Counts the writes that reach the pipe.
struct CountWrites<IO> {
    inner: IO,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for CountWrites<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for CountWrites<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(_))) {
            self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Through `Config` (as the swarm dials), message 3 waits for the first flush and
/// leaves in the same write as the first transport frame.
#[tokio::test]
async fn config_sends_message_3_with_the_first_frame() {
    with_timeout(async {
        let (a, b) = keys();
        let (ia, ib) = tokio::io::duplex(64 * 1024);
        let writes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted: rhizome_core::BoxIo = Box::new(CountWrites { inner: ia, writes: writes.clone() });
        let server = tokio::spawn(async move {
            let (peer, mut s) = handshake_inbound(ib, &b, &[]).await.unwrap();
            let mut got = [0u8; 5];
            s.read_exact(&mut got).await.unwrap();
            (peer, got)
        });
        let (peer, mut c) = Config::new(a.clone()).secure_outbound(counted, None).await.unwrap();
        // Message 1 only so far.
        assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 1);
        c.write_all(b"hello").await.unwrap();
        c.flush().await.unwrap();
        assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 2, "message 3 and the frame in one write");
        let (server_saw, got) = server.await.unwrap();
        assert_eq!((server_saw, &got), (a.peer_id(), b"hello"));
        let _ = peer;
    })
    .await
}

/// A deferred message 3 leaves before a read that waits (the responder speaks first).
#[tokio::test]
async fn deferred_message_3_leaves_before_a_read() {
    with_timeout(async {
        let (a, b) = keys();
        let (ia, ib) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let (_, mut s) = handshake_inbound(ib, &b, &[]).await.unwrap();
            s.write_all(b"first").await.unwrap();
            s.flush().await.unwrap();
            s
        });
        let (_, mut c) = Config::new(a).secure_outbound(Box::new(ia), None).await.unwrap();
        let mut got = [0u8; 5];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"first");
        drop(server.await.unwrap());
    })
    .await
}
