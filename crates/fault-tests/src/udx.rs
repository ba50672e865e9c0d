//! UDX streams + secret-stream (Noise XX), the Hyperswarm pipe.

use std::net::SocketAddr;

use anyhow::Context;
use rhizome::secret_stream::{Config, Keypair, SecretStream};
use rhizome_udx::{Socket, SocketConfig};

const SENDER_ID: u32 = 1;
const RECEIVER_ID: u32 = 2;

async fn open(
    bind: SocketAddr,
    remote: SocketAddr,
    local: u32,
    peer: u32,
    config: SocketConfig,
) -> anyhow::Result<(Socket, rhizome_udx::Stream)> {
    let socket = Socket::bind_with(bind, config).await.context("binding the UDX socket")?;
    let stream = socket.stream(local).context("creating the UDX stream")?;
    stream.connect(peer, remote).context("connecting the UDX stream")?;
    Ok((socket, stream))
}

fn close_reason(stream: &SecretStream<rhizome_udx::Stream>) -> String {
    format!("{:?}", stream.get_ref().close_reason())
}

/// Answers one transfer as the Noise responder.
pub(crate) async fn recv(bind: SocketAddr, remote: SocketAddr) -> anyhow::Result<usize> {
    let (_socket, stream) = open(bind, remote, RECEIVER_ID, SENDER_ID, SocketConfig::default()).await?;
    println!("BOUND {bind}");
    let mut secure =
        SecretStream::handshake(stream, false, Keypair::generate(), &Config::default()).await.context("secret-stream handshake")?;
    crate::payload::answer(&mut secure).await.with_context(|| format!("UDX close reason {}", close_reason(&secure)))
}

/// Sends `len` bytes as the Noise initiator and checks the answer.
pub(crate) async fn send(bind: SocketAddr, remote: SocketAddr, len: usize, max_rto_timeouts: u32) -> anyhow::Result<usize> {
    let mut config = SocketConfig::default();
    config.stream.max_rto_timeouts = max_rto_timeouts;
    let (_socket, stream) = open(bind, remote, SENDER_ID, RECEIVER_ID, config).await?;
    let mut secure =
        SecretStream::handshake(stream, true, Keypair::generate(), &Config::default()).await.context("secret-stream handshake")?;
    crate::payload::send(&mut secure, len).await.with_context(|| format!("UDX close reason {}", close_reason(&secure)))
}
