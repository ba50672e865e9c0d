//! Rhizome ↔ Node `@hyperswarm/secret-stream` 6.9.2 over TCP on 127.0.0.1.
//!
//! Needs `npm ci` in interop-tests/hyperswarm (the tests fail with that instruction otherwise).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node;

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use node::{NodePeer, TEST_TIMEOUT, check, exchange, exchange_chunked, hex};
use rhizome_secret_stream::noise::{Handshake, Pattern};
use rhizome_secret_stream::{Config, HandshakeError, Keypair, NS_PEER_HANDSHAKE, SecretStream, StreamError, encode_frame_header};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MIB16: usize = 16 * 1024 * 1024;
const OUR_SEED: [u8; 32] = [0x11; 32];
const NODE_SEED: [u8; 32] = [0x22; 32];

fn node_pk() -> [u8; 32] {
    Keypair::from_seed(&NODE_SEED).public_key()
}

/// Node listens; returns the peer and its port.
async fn node_listening(opts: Value) -> anyhow::Result<(NodePeer, u16)> {
    let mut peer = NodePeer::spawn(opts)?;
    let hello = peer.next_json().await?;
    let port = hello["port"].as_u64().context("no port from node")? as u16;
    Ok((peer, port))
}

async fn run<F: std::future::Future<Output = anyhow::Result<()>>>(name: &str, f: F) {
    let start = Instant::now();
    match tokio::time::timeout(TEST_TIMEOUT, f).await {
        Ok(Ok(())) => eprintln!("{name}: ok in {:?}", start.elapsed()),
        Ok(Err(e)) => panic!("{name}: {e:#}"),
        Err(_) => panic!("{name}: timed out after {TEST_TIMEOUT:?}"),
    }
}

async fn xx_or_ik(pattern: Pattern, we_initiate: bool, bytes: usize) -> anyhow::Result<()> {
    let mode = if pattern == Pattern::Ik { "ik" } else { "xx" };
    let our_pk = Keypair::from_seed(&OUR_SEED).public_key();
    let node_role = if we_initiate { "responder" } else { "initiator" };
    let mut opts = json!({ "role": node_role, "mode": mode, "seed": hex(&NODE_SEED), "bytes": bytes, "remotePublicKey": hex(&our_pk) });
    let config = Config::default().pattern(pattern).remote_public_key(Some(node_pk()));
    let (peer, tcp) = if we_initiate {
        opts["listen"] = json!(true);
        let (peer, port) = node_listening(opts).await?;
        (peer, TcpStream::connect(("127.0.0.1", port)).await?)
    } else {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        opts["connect"] = json!(listener.local_addr()?.port());
        let peer = NodePeer::spawn(opts)?;
        (peer, listener.accept().await?.0)
    };
    let stream = SecretStream::handshake(tcp, we_initiate, Keypair::from_seed(&OUR_SEED), &config).await?;
    ensure!(stream.remote_public_key() == &node_pk());
    ensure!(stream.is_initiator() == we_initiate);
    let hash = *stream.handshake_hash();
    let ours = exchange(stream, bytes).await?;
    check(peer, ours, bytes, &hash).await
}

#[tokio::test]
async fn xx_we_initiate_16mib() {
    run("xx_we_initiate_16mib", xx_or_ik(Pattern::Xx, true, MIB16)).await;
}

#[tokio::test]
async fn xx_node_initiates_16mib() {
    run("xx_node_initiates_16mib", xx_or_ik(Pattern::Xx, false, MIB16)).await;
}

#[tokio::test]
async fn ik_over_pipe_we_initiate() {
    run("ik_over_pipe_we_initiate", xx_or_ik(Pattern::Ik, true, 1 << 20)).await;
}

#[tokio::test]
async fn ik_over_pipe_node_initiates() {
    run("ik_over_pipe_node_initiates", xx_or_ik(Pattern::Ik, false, 1 << 20)).await;
}

/// hyperdht's use: an IK handshake with the DHT prologue done outside the stream, then
/// the stream built from its keys. The test carries the two Noise messages over the same
/// TCP connection, uint24-framed, as the Node script does.
async fn given_handshake(we_initiate: bool, bytes: usize) -> anyhow::Result<()> {
    let ours = Keypair::from_seed(&OUR_SEED);
    let mut opts = json!({ "role": if we_initiate { "responder" } else { "initiator" }, "mode": "given", "seed": hex(&NODE_SEED), "bytes": bytes, "remotePublicKey": hex(&ours.public_key()) });
    let (peer, mut tcp) = if we_initiate {
        opts["listen"] = json!(true);
        let (peer, port) = node_listening(opts).await?;
        (peer, TcpStream::connect(("127.0.0.1", port)).await?)
    } else {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        opts["connect"] = json!(listener.local_addr()?.port());
        let peer = NodePeer::spawn(opts)?;
        (peer, listener.accept().await?.0)
    };
    let remote = if we_initiate { Some(node_pk()) } else { None };
    let mut hs = Handshake::new(Pattern::Ik, we_initiate, ours, &NS_PEER_HANDSHAKE, remote)?;
    while !hs.is_finished() {
        if hs.is_write_turn() {
            let m = hs.write_message(b"payload")?;
            tcp.write_all(&encode_frame_header(m.len())?).await?;
            tcp.write_all(&m).await?;
        } else {
            let mut len = [0u8; 3];
            tcp.read_exact(&mut len).await?;
            let len = usize::from(len[0]) | usize::from(len[1]) << 8 | usize::from(len[2]) << 16;
            ensure!(len <= rhizome_secret_stream::noise::MAX_MESSAGE_LEN);
            let mut m = vec![0u8; len];
            tcp.read_exact(&mut m).await?;
            ensure!(hs.read_message(&m)? == b"payload");
        }
    }
    let result = hs.finish()?;
    ensure!(result.remote_public_key == node_pk());
    let stream = SecretStream::with_handshake(tcp, &result, &Config::default());
    let ours = exchange(stream, bytes).await?;
    check(peer, ours, bytes, &result.hash).await
}

#[tokio::test]
async fn given_handshake_we_initiate_16mib() {
    run("given_handshake_we_initiate_16mib", given_handshake(true, MIB16)).await;
}

#[tokio::test]
async fn given_handshake_node_initiates_16mib() {
    run("given_handshake_node_initiates_16mib", given_handshake(false, MIB16)).await;
}

#[tokio::test]
async fn tampered_frame_from_node_is_bad_mac() {
    run("tampered_frame_from_node_is_bad_mac", async {
        let opts = json!({ "role": "responder", "mode": "xx", "seed": hex(&NODE_SEED), "bytes": 1000, "tamper": true, "listen": true, "timeout": 5000 });
        let (_peer, port) = node_listening(opts).await?;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        let mut stream = SecretStream::handshake(tcp, true, Keypair::from_seed(&OUR_SEED), &Config::default()).await?;
        let mut buf = Vec::new();
        let err = stream.read_to_end(&mut buf).await.expect_err("tampered frame must fail");
        ensure!(matches!(StreamError::from_io(&err), Some(StreamError::BadMac(_))), "got {err:?}");
        ensure!(buf.is_empty(), "no plaintext from a tampered frame");
        // the stream stays failed
        let again = stream.read(&mut [0u8; 10]).await.expect_err("closed");
        ensure!(matches!(StreamError::from_io(&again), Some(StreamError::Closed)));
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn wrong_remote_key_when_we_initiate_xx() {
    run("wrong_remote_key_when_we_initiate_xx", async {
        let opts = json!({ "role": "responder", "mode": "xx", "seed": hex(&NODE_SEED), "bytes": 0, "listen": true, "timeout": 5000 });
        let (_peer, port) = node_listening(opts).await?;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        let wrong = Keypair::from_seed(&[0x33; 32]).public_key();
        let config = Config::default().remote_public_key(Some(wrong));
        let err = SecretStream::handshake(tcp, true, Keypair::from_seed(&OUR_SEED), &config).await.expect_err("wrong key must fail");
        match err {
            HandshakeError::WrongRemoteKey { expected, actual } => {
                ensure!(expected.0 == wrong && actual.0 == node_pk());
            }
            other => anyhow::bail!("expected WrongRemoteKey, got {other:?}"),
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn wrong_remote_key_when_node_initiates_ik() {
    run("wrong_remote_key_when_node_initiates_ik", async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let our_pk = Keypair::from_seed(&OUR_SEED).public_key();
        let opts = json!({ "role": "initiator", "mode": "ik", "seed": hex(&NODE_SEED), "bytes": 0, "remotePublicKey": hex(&our_pk), "connect": listener.local_addr()?.port(), "timeout": 5000 });
        let _peer = NodePeer::spawn(opts)?;
        let tcp = listener.accept().await?.0;
        let wrong = Keypair::from_seed(&[0x33; 32]).public_key();
        let config = Config::default().pattern(Pattern::Ik).remote_public_key(Some(wrong));
        let err = SecretStream::handshake(tcp, false, Keypair::from_seed(&OUR_SEED), &config).await.expect_err("wrong key must fail");
        ensure!(matches!(err, HandshakeError::WrongRemoteKey { .. }), "got {err:?}");
        Ok(())
    })
    .await;
}

/// Node's IK initiator encrypts to a key we do not hold: our responder cannot decrypt.
#[tokio::test]
async fn ik_to_the_wrong_responder_fails_the_handshake() {
    run("ik_to_the_wrong_responder_fails_the_handshake", async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let someone_else = Keypair::from_seed(&[0x44; 32]).public_key();
        let opts = json!({ "role": "initiator", "mode": "ik", "seed": hex(&NODE_SEED), "bytes": 0, "remotePublicKey": hex(&someone_else), "connect": listener.local_addr()?.port(), "timeout": 5000 });
        let _peer = NodePeer::spawn(opts)?;
        let tcp = listener.accept().await?.0;
        let config = Config::default().pattern(Pattern::Ik);
        let err = SecretStream::handshake(tcp, false, Keypair::from_seed(&OUR_SEED), &config).await.expect_err("must fail");
        ensure!(matches!(err, HandshakeError::Noise(rhizome_secret_stream::NoiseError::Decrypt(_))), "got {err:?}");
        Ok(())
    })
    .await;
}

/// Both sides idle for 600 ms with 100 ms keep-alives before sending: Node counts our
/// keep-alives in `rawBytesRead`, and we drop Node's.
#[tokio::test]
async fn keep_alives_both_ways() {
    run("keep_alives_both_ways", async {
        let opts = json!({ "role": "responder", "mode": "xx", "seed": hex(&NODE_SEED), "bytes": 1000, "keepAlive": 100, "delay": 600, "listen": true });
        let (peer, port) = node_listening(opts).await?;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        let config = Config::default().keep_alive(Some(Duration::from_millis(100)));
        let stream = SecretStream::handshake(tcp, true, Keypair::from_seed(&OUR_SEED), &config).await?;
        let (mut r, mut w) = tokio::io::split(stream);
        let reader = async {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).await?;
            anyhow::Ok(buf.len())
        };
        let writer = async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            w.write_all(&[7u8; 1000]).await?;
            w.shutdown().await?;
            anyhow::Ok(())
        };
        let (got, ()) = tokio::try_join!(reader, writer)?;
        ensure!(got == 1000, "got {got} bytes");
        let mut peer = peer;
        let report = peer.next_json().await?;
        ensure!(report.get("error").is_none(), "node failed: {report}");
        let raw = report["rawBytesRead"].as_u64().context("rawBytesRead")?;
        let keep_alives = (raw - 1017) / 17;
        ensure!((raw - 1017) % 17 == 0 && keep_alives >= 3, "node saw {raw} raw bytes: {keep_alives} keep-alives");
        eprintln!("node received {keep_alives} keep-alives from us");
        Ok(())
    })
    .await;
}

/// Flips the last byte of the first write longer than 200 bytes (a data frame's MAC).
struct Tamper<S> {
    inner: S,
    done: bool,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tamper<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tamper<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if !self.done && buf.len() > 200 {
            self.done = true;
            let mut v = buf.to_vec();
            let last = v.len() - 1;
            v[last] ^= 1;
            // write it all so the flipped byte is on the wire
            return match std::pin::Pin::new(&mut self.inner).poll_write(cx, &v) {
                std::task::Poll::Ready(Ok(n)) if n == v.len() => std::task::Poll::Ready(Ok(n)),
                other => {
                    self.done = false;
                    other
                }
            };
        }
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn node_rejects_our_tampered_frame() {
    run("node_rejects_our_tampered_frame", async {
        let opts = json!({ "role": "responder", "mode": "xx", "seed": hex(&NODE_SEED), "bytes": 0, "listen": true, "timeout": 5000 });
        let (mut peer, port) = node_listening(opts).await?;
        let tcp = Tamper { inner: TcpStream::connect(("127.0.0.1", port)).await?, done: false };
        let mut stream = SecretStream::handshake(tcp, true, Keypair::from_seed(&OUR_SEED), &Config::default()).await?;
        stream.write_all(&[5u8; 1000]).await?;
        stream.flush().await?;
        let report = peer.next_json().await?;
        let error = report["error"].as_str().context("node must fail on a tampered frame")?;
        eprintln!("node: {error}");
        ensure!(peer.wait().await? == Some(1));
        // Node destroyed the connection: we see its end.
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf).await;
        ensure!(buf.is_empty());
        Ok(())
    })
    .await;
}

/// Frames of the largest size the protocol allows (2^24 − 1 − 17 bytes of plaintext),
/// both ways: Node writes them atomically, we send them with `write_chunk` at the maximum.
#[tokio::test]
async fn largest_frames_both_ways() {
    run("largest_frames_both_ways", async {
        let max = rhizome_secret_stream::MAX_PLAINTEXT_LEN;
        let bytes = max + 1000;
        let opts = json!({ "role": "responder", "mode": "xx", "seed": hex(&NODE_SEED), "bytes": bytes, "chunk": max, "listen": true });
        let (peer, port) = node_listening(opts).await?;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        let config = Config::default().write_chunk(max);
        let stream = SecretStream::handshake(tcp, true, Keypair::from_seed(&OUR_SEED), &config).await?;
        let hash = *stream.handshake_hash();
        let ours = exchange_chunked(stream, bytes, max).await?;
        check(peer, ours, bytes, &hash).await
    })
    .await;
}
