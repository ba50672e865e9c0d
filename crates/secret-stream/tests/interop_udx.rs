//! Rhizome ↔ Node `@hyperswarm/secret-stream` 6.9.2 over UDX streams (our
//! `rhizome-udx` against npm `udx-native` 1.21.3), on 127.0.0.1: the transport
//! Hyperswarm connections really use.
//!
//! Needs `npm ci` in interop-tests/hyperswarm (the tests fail with that instruction otherwise).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node;

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::{Context, ensure};
use node::{NodePeer, TEST_TIMEOUT, check, exchange, hex};
use rhizome_secret_stream::noise::Pattern;
use rhizome_secret_stream::{Config, HandshakeError, Keypair, SecretStream, StreamError};
use serde_json::json;
use tokio::io::AsyncReadExt as _;

const MIB16: usize = 16 * 1024 * 1024;
const OUR_SEED: [u8; 32] = [0x55; 32];
const NODE_SEED: [u8; 32] = [0x66; 32];
const OUR_ID: u32 = 7;
const NODE_ID: u32 = 9;

/// Our UDX socket and stream, and a Node peer whose udx-native stream is connected to it.
async fn udx_pair(
    node_role: &str,
    bytes: usize,
    remote_key: [u8; 32],
) -> anyhow::Result<(NodePeer, rhizome_udx::Stream, rhizome_udx::Socket)> {
    udx_pair_with(node_role, bytes, remote_key, false, "xx").await
}

async fn udx_pair_with(
    node_role: &str,
    bytes: usize,
    remote_key: [u8; 32],
    tamper: bool,
    mode: &str,
) -> anyhow::Result<(NodePeer, rhizome_udx::Stream, rhizome_udx::Socket)> {
    let socket = rhizome_udx::Socket::bind("127.0.0.1:0").await?;
    let port = socket.local_addr()?.port();
    let stream = socket.stream(OUR_ID)?;
    let opts = json!({
        "role": node_role, "mode": mode, "seed": hex(&NODE_SEED), "bytes": bytes, "remotePublicKey": hex(&remote_key),
        "udx": { "rustPort": port, "rustId": OUR_ID, "nodeId": NODE_ID }, "tamper": tamper, "timeout": 20000,
    });
    let mut peer = NodePeer::spawn(opts)?;
    let hello = peer.next_json().await?;
    let node_port = hello["port"].as_u64().context("no port from node")? as u16;
    stream.connect(NODE_ID, SocketAddr::from(([127, 0, 0, 1], node_port)))?;
    Ok((peer, stream, socket))
}

async fn run<F: std::future::Future<Output = anyhow::Result<()>>>(name: &str, f: F) {
    let start = Instant::now();
    match tokio::time::timeout(TEST_TIMEOUT, f).await {
        Ok(Ok(())) => eprintln!("{name}: ok in {:?}", start.elapsed()),
        Ok(Err(e)) => panic!("{name}: {e:#}"),
        Err(_) => panic!("{name}: timed out after {TEST_TIMEOUT:?}"),
    }
}

async fn exchange_16mib(we_initiate: bool, pattern: Pattern) -> anyhow::Result<()> {
    let ours = Keypair::from_seed(&OUR_SEED);
    let node_key = Keypair::from_seed(&NODE_SEED).public_key();
    let role = if we_initiate { "responder" } else { "initiator" };
    let mode = if pattern == Pattern::Ik { "ik" } else { "xx" };
    let (peer, udx, _socket) = udx_pair_with(role, MIB16, ours.public_key(), false, mode).await?;
    let config = Config::default().pattern(pattern).remote_public_key(Some(node_key));
    let stream = SecretStream::handshake(udx, we_initiate, ours, &config).await?;
    ensure!(stream.remote_public_key() == &node_key);
    let hash = *stream.handshake_hash();
    let result = exchange(stream, MIB16).await?;
    check(peer, result, MIB16, &hash).await
}

#[tokio::test]
async fn xx_over_udx_we_initiate_16mib() {
    run("xx_over_udx_we_initiate_16mib", exchange_16mib(true, Pattern::Xx)).await;
}

#[tokio::test]
async fn xx_over_udx_node_initiates_16mib() {
    run("xx_over_udx_node_initiates_16mib", exchange_16mib(false, Pattern::Xx)).await;
}

#[tokio::test]
async fn ik_over_udx_we_initiate_16mib() {
    run("ik_over_udx_we_initiate_16mib", exchange_16mib(true, Pattern::Ik)).await;
}

#[tokio::test]
async fn ik_over_udx_node_initiates_16mib() {
    run("ik_over_udx_node_initiates_16mib", exchange_16mib(false, Pattern::Ik)).await;
}

#[tokio::test]
async fn over_udx_a_wrong_remote_key_is_a_typed_error() {
    run("over_udx_a_wrong_remote_key_is_a_typed_error", async {
        let ours = Keypair::from_seed(&OUR_SEED);
        let (_peer, udx, _socket) = udx_pair("responder", 0, ours.public_key()).await?;
        let config = Config::default().remote_public_key(Some([0x42; 32]));
        match SecretStream::handshake(udx, true, ours, &config).await {
            Err(HandshakeError::WrongRemoteKey { .. }) => Ok(()),
            Err(other) => anyhow::bail!("expected WrongRemoteKey, got {other}"),
            Ok(_) => anyhow::bail!("the handshake with a wrong remote key succeeded"),
        }
    })
    .await;
}

#[tokio::test]
async fn over_udx_a_tampered_frame_is_bad_mac() {
    run("over_udx_a_tampered_frame_is_bad_mac", async {
        let ours = Keypair::from_seed(&OUR_SEED);
        let (_peer, udx, _socket) = udx_pair_with("responder", 1000, ours.public_key(), true, "xx").await?;
        let mut stream = SecretStream::handshake(udx, true, ours, &Config::default()).await?;
        let mut buf = Vec::new();
        let err = stream.read_to_end(&mut buf).await.expect_err("a tampered frame must fail");
        ensure!(matches!(StreamError::from_io(&err), Some(StreamError::BadMac(_))), "got {err:?}");
        ensure!(buf.is_empty(), "no plaintext from a tampered frame");
        Ok(())
    })
    .await;
}
