//! The Rhizome side.

use rhizome::{KeypairExt as _, Multiaddr, Node, PeerId, Stream, StreamCtx};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::Dir;

/// Upload: the dialer sends, the listener counts.
pub(crate) const PROTO: &str = "/bench/1.0.0";
/// Download: the dialer asks for N bytes, the listener sends them.
pub(crate) const PROTO_DOWN: &str = "/bench/down/1.0.0";

pub(crate) fn proto(dir: Dir) -> &'static str {
    match dir {
        Dir::Up => PROTO,
        Dir::Down => PROTO_DOWN,
    }
}

pub(crate) async fn server(seed: u8) -> anyhow::Result<(Node, Multiaddr)> {
    // The defaults cap a node at 1,024 inbound connections and a 512 MiB budget (about
    // 4,000 connections); the benchmark holds more, so it lifts both, and matches
    // rust-libp2p's 300 s idle timeout set in lp2p.rs.
    let defaults = rhizome::node::Config::default();
    let config = rhizome::node::Config {
        limits: rhizome::node::ConnectionLimits {
            max_pending_incoming: Some(1024),
            max_established_incoming: None,
            max_established_total: None,
            ..Default::default()
        },
        memory: rhizome::swarm::MemoryBudget { total: 8 << 30, ..defaults.memory },
        ..defaults
    };
    let node = Node::builder()
        .keypair(rhizome::Keypair::from_seed([seed; 32]))
        .config(config)
        .idle_timeout(std::time::Duration::from_secs(300))
        .listen("/ip4/127.0.0.1/tcp/0".parse()?)
        .build()
        .await?;
    node.set_stream_handler(PROTO, |mut s: Stream, _ctx: StreamCtx| async move { crate::serve(&mut s, Dir::Up).await })?;
    node.set_stream_handler(PROTO_DOWN, |mut s: Stream, _ctx: StreamCtx| async move { crate::serve(&mut s, Dir::Down).await })?;
    let addr = rhizome::identity::with_peer_id(&node.listen_addrs()[0], node.id());
    Ok((node, addr))
}

pub(crate) async fn client(seed: u8) -> anyhow::Result<Node> {
    Ok(Node::builder().keypair(rhizome::Keypair::from_seed([seed; 32])).build().await?)
}

/// A client whose key comes from a wider seed (for many clients).
pub(crate) async fn client_n(i: usize) -> anyhow::Result<Node> {
    let mut s = [0xaa; 32];
    s[..8].copy_from_slice(&(i as u64).to_be_bytes());
    Ok(Node::builder().keypair(rhizome::Keypair::from_seed(s)).build().await?)
}

pub(crate) async fn round_trip(node: &Node, peer: PeerId) -> anyhow::Result<()> {
    let mut s = node.open_stream(peer, PROTO).await?;
    s.write_all(&[1]).await?;
    s.shutdown().await?;
    let mut n = [0u8; 8];
    s.read_exact(&mut n).await?;
    Ok(())
}
