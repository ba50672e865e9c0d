//! Chat: lines typed on stdin go to the other node, lines from it are printed.
//!
//!   cargo run -p rhizome-examples --bin chat              # waits, prints its address
//!   cargo run -p rhizome-examples --bin chat -- <address> # connects to it
//!
//! One stream carries the conversation; each message is one line.

use rhizome::{Node, ProtocolId};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

const PROTOCOL: ProtocolId = ProtocolId::from_static("/rhizome-examples/chat/1.0.0");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let node = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse()?).build().await?;
    let stream = match std::env::args().nth(1) {
        Some(addr) => {
            let peer = node.dial(addr.parse()?).await?;
            node.open_stream(peer, PROTOCOL).await?
        }
        None => {
            println!("chat: listening on {}/p2p/{}", node.listen_addrs()[0], node.id());
            // The first peer to open a chat stream gets the conversation.
            let mut incoming = node.accept(PROTOCOL);
            incoming.next().await.ok_or_else(|| anyhow::anyhow!("node stopped"))?.0
        }
    };
    println!("chat: connected to {} (type lines; Ctrl-D to leave)", stream.peer());
    let (r, mut w) = tokio::io::split(stream);
    let incoming = tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            println!("peer> {line}");
        }
        println!("chat: peer left");
    });
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = stdin.next_line().await? {
        w.write_all(format!("{line}\n").as_bytes()).await?;
        w.flush().await?;
    }
    w.shutdown().await?;
    let _ = incoming.await;
    node.shutdown().await;
    Ok(())
}
