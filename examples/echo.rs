//! Echo: a custom protocol served by one node and used by another.
//!
//!   cargo run -p rhizome-examples --bin echo -- serve
//!   cargo run -p rhizome-examples --bin echo -- send <address printed by serve> "hello"

use rhizome::{Node, Stream, StreamCtx};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const PROTOCOL: &str = "/rhizome-examples/echo/1.0.0";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve"] => {
            let node = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse()?).build().await?;
            node.set_stream_handler(PROTOCOL, |mut s: Stream, _ctx: StreamCtx| async move {
                let (mut r, mut w) = tokio::io::split(&mut s);
                tokio::io::copy(&mut r, &mut w).await?;
                w.shutdown().await
            })?;
            println!("{}/p2p/{}", node.listen_addrs()[0], node.id());
            tokio::signal::ctrl_c().await?;
            node.shutdown().await;
        }
        ["send", addr, text] => {
            let node = Node::builder().build().await?;
            let peer = node.dial(addr.parse()?).await?;
            let mut s = node.open_stream(peer, PROTOCOL).await?;
            s.write_all(text.as_bytes()).await?;
            s.shutdown().await?;
            let mut reply = String::new();
            s.read_to_string(&mut reply).await?;
            println!("{reply}");
            node.shutdown().await;
        }
        _ => anyhow::bail!("usage: echo serve | echo send <multiaddr> <text>"),
    }
    Ok(())
}
