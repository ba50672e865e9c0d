//! File transfer with progress bars.
//!
//!   cargo run -p rhizome-examples --bin file-transfer -- receive <directory>
//!   cargo run -p rhizome-examples --bin file-transfer -- send <address> <file>
//!
//! Protocol `/rhizome-examples/file/1.0.0`: the sender writes
//! `u16_be(name_len) || name || u64_be(size) || bytes`, the receiver answers with the
//! u64_be count it stored. Names are at most 255 bytes and only the final path
//! component is used, so a sender cannot write outside the directory.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rhizome::{Node, Stream, StreamCtx};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const PROTOCOL: &str = "/rhizome-examples/file/1.0.0";
const MAX_NAME: usize = 255;

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len).with_message(what.to_owned());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}").unwrap_or(ProgressStyle::default_bar()),
    );
    bar
}

async fn receive(dir: PathBuf, mut s: Stream) -> anyhow::Result<()> {
    let name_len = s.read_u16().await? as usize;
    anyhow::ensure!(name_len <= MAX_NAME, "file name too long");
    let mut name = vec![0u8; name_len];
    s.read_exact(&mut name).await?;
    let name = Path::new(std::str::from_utf8(&name)?).file_name().ok_or_else(|| anyhow::anyhow!("bad file name"))?.to_owned();
    let size = s.read_u64().await?;
    let path = dir.join(&name);
    let mut file = tokio::fs::File::create(&path).await?;
    let bar = bar(size, &format!("receiving {}", path.display()));
    let copied = tokio::io::copy(&mut bar.wrap_async_read((&mut s).take(size)), &mut file).await?;
    file.flush().await?;
    bar.finish();
    s.write_u64(copied).await?;
    s.shutdown().await?;
    anyhow::ensure!(copied == size, "sender stopped after {copied} of {size} bytes");
    Ok(())
}

async fn send(node: &Node, addr: &str, path: &Path) -> anyhow::Result<()> {
    let peer = node.dial(addr.parse()?).await?;
    let mut s = node.open_stream(peer, PROTOCOL).await?;
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| anyhow::anyhow!("bad file name"))?;
    anyhow::ensure!(name.len() <= MAX_NAME, "file name too long");
    let mut file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    s.write_u16(name.len() as u16).await?;
    s.write_all(name.as_bytes()).await?;
    s.write_u64(size).await?;
    let bar = bar(size, &format!("sending {name}"));
    tokio::io::copy(&mut bar.wrap_async_read(&mut file), &mut s).await?;
    s.flush().await?;
    bar.finish();
    let stored = s.read_u64().await?;
    anyhow::ensure!(stored == size, "receiver stored {stored} of {size} bytes");
    println!("sent {name}: {size} bytes, confirmed by the receiver");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["receive", dir] => {
            let node = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse()?).build().await?;
            let dir = PathBuf::from(dir);
            node.set_stream_handler(PROTOCOL, move |s: Stream, _ctx: StreamCtx| receive(dir.clone(), s))?;
            println!("{}/p2p/{}", node.listen_addrs()[0], node.id());
            tokio::signal::ctrl_c().await?;
            node.shutdown().await;
        }
        ["send", addr, file] => {
            let node = Node::builder().build().await?;
            send(&node, addr, Path::new(file)).await?;
            node.shutdown().await;
        }
        _ => anyhow::bail!("usage: file-transfer receive <dir> | file-transfer send <multiaddr> <file>"),
    }
    Ok(())
}
