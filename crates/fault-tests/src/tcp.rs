//! TCP + Noise + yamux through `rhizome::Node`.

use std::time::Duration;

use anyhow::Context;
use rhizome::{Keypair, KeypairExt, Multiaddr, Node, Stream, StreamCtx};

const PROTOCOL: &str = "/rhizome-test/fault-transfer/1.0.0";

/// Longer than any partition the tests make, so only the fault decides the outcome.
const IDLE: Duration = Duration::from_secs(30);

async fn serve(mut stream: Stream, _ctx: StreamCtx) -> std::io::Result<()> {
    crate::payload::answer(&mut stream).await.map(|_| ()).map_err(std::io::Error::other)
}

/// Listens until killed; prints `LISTEN <addr>/p2p/<id>` once bound.
pub(crate) async fn recv(addr: Multiaddr) -> anyhow::Result<usize> {
    let keypair = Keypair::generate().context("generating a key")?;
    let node = Node::builder().keypair(keypair).tcp().idle_timeout(IDLE).listen(addr).build().await.context("starting node")?;
    node.set_stream_handler(PROTOCOL, serve)?;
    let id = node.id();
    for a in node.listen_addrs() {
        println!("LISTEN {a}/p2p/{id}");
    }
    // The test kills this process; an hour bounds it if the test itself died.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(0)
}

/// Dials, sends `len` bytes on one stream, checks the answer.
pub(crate) async fn send(addr: Multiaddr, len: usize) -> anyhow::Result<usize> {
    let keypair = Keypair::generate().context("generating a key")?;
    let node = Node::builder().keypair(keypair).tcp().idle_timeout(IDLE).build().await.context("starting node")?;
    let peer = node.dial(addr).await.context("dialing")?;
    let mut stream = node.open_stream(peer, PROTOCOL).await.context("opening the stream")?;
    let sent = crate::payload::send(&mut stream, len).await?;
    node.shutdown_within(Duration::from_secs(2)).await;
    Ok(sent)
}
