//! Chat: lines typed on stdin go to the other node, lines from it are printed.
//!
//!   cargo run -p rhizome-examples --bin chat              # waits, prints its address
//!   cargo run -p rhizome-examples --bin chat -- <address> # connects to it
//!
//! One stream carries the conversation; each message is one line.

use rhizome::{Node, Stream, StreamCtx};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;

const PROTOCOL: &str = "/rhizome-examples/chat/1.0.0";

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
            let (tx, mut rx) = mpsc::channel::<Stream>(1);
            node.set_stream_handler(PROTOCOL, move |s: Stream, _ctx: StreamCtx| {
                let tx = tx.clone();
                async move { tx.send(s).await.map_err(|_| std::io::Error::other("chat already taken")) }
            })?;
            rx.recv().await.ok_or_else(|| anyhow::anyhow!("node stopped"))?
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
