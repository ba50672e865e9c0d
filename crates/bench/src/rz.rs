//! The Rhizome side.

use rhizome::{KeypairExt as _, Multiaddr, Node, PeerId, Stream, StreamCtx};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub(crate) const PROTO: &str = "/bench/1.0.0";

pub(crate) async fn server(seed: u8) -> anyhow::Result<(Node, Multiaddr)> {
    let node = Node::builder().keypair(rhizome::Keypair::from_seed([seed; 32])).listen("/ip4/127.0.0.1/tcp/0".parse()?).build().await?;
    node.set_stream_handler(PROTO, |mut s: Stream, _ctx: StreamCtx| async move { crate::sink_then_count(&mut s).await })?;
    let addr = rhizome::identity::with_peer_id(&node.listen_addrs()[0], node.id());
    Ok((node, addr))
}

pub(crate) async fn client(seed: u8) -> anyhow::Result<Node> {
    Ok(Node::builder().keypair(rhizome::Keypair::from_seed([seed; 32])).build().await?)
}

pub(crate) async fn round_trip(node: &Node, peer: PeerId) -> anyhow::Result<()> {
    let mut s = node.open_stream(peer, PROTO).await?;
    s.write_all(&[1]).await?;
    s.shutdown().await?;
    let mut n = [0u8; 8];
    s.read_exact(&mut n).await?;
    Ok(())
}
