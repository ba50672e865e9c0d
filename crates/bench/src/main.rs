//! Rhizome against rust-libp2p 0.57, both in this process run, ratios printed.
//!
//! ```text
//! cargo run --release -p rhizome-bench --bin compare               # all scenarios
//! cargo run --release -p rhizome-bench --bin compare -- --quick    # smaller sizes
//! ```
//!
//! Scenarios (TCP + Noise + yamux on 127.0.0.1, same machine, same build):
//! - throughput: one connection, one stream, N bytes one way, then an 8-byte count back;
//! - set-up: dial a fresh connection, open a stream, one-byte round trip (median of M);
//! - memory: listener RSS growth per inbound connection with one stream served, measured
//!   in a child process per stack (K connections from Rhizome clients in this process).

mod lp2p;
mod rz;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio_util::compat::FuturesAsyncReadCompatExt as _;

const CHUNK: usize = 256 * 1024;

/// Server side of every scenario: read to EOF, answer with the byte count.
pub(crate) async fn sink_then_count<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0u64;
    loop {
        let r = s.read(&mut buf).await?;
        if r == 0 {
            break;
        }
        n += r as u64;
    }
    s.write_all(&n.to_be_bytes()).await?;
    s.shutdown().await
}

async fn send_all<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, bytes: u64) -> anyhow::Result<f64> {
    let chunk = vec![0x5a; CHUNK];
    let start = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        s.write_all(&chunk[..n]).await?;
        left -= n as u64;
    }
    s.shutdown().await?;
    let mut count = [0u8; 8];
    s.read_exact(&mut count).await?;
    anyhow::ensure!(u64::from_be_bytes(count) == bytes, "receiver counted {}", u64::from_be_bytes(count));
    Ok(bytes as f64 / start.elapsed().as_secs_f64())
}

async fn throughput_rhizome(bytes: u64) -> anyhow::Result<f64> {
    let (server, addr) = rz::server(1).await?;
    let client = rz::client(2).await?;
    let peer = client.dial(addr).await?;
    let mut s = client.open_stream(peer, rz::PROTO).await?;
    let rate = send_all(&mut s, bytes).await?;
    tokio::join!(client.shutdown(), server.shutdown());
    Ok(rate)
}

async fn throughput_libp2p(bytes: u64) -> anyhow::Result<f64> {
    let server = lp2p::Node::start(1, true).await?;
    serve_libp2p(&server)?;
    let client = lp2p::Node::start(2, false).await?;
    client.dial(server.addr.clone(), server.peer).await?;
    let s = client.control.clone().open_stream(server.peer, lp2p::PROTO).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    send_all(&mut s.compat(), bytes).await
}

fn serve_libp2p(node: &lp2p::Node) -> anyhow::Result<()> {
    let mut incoming = node.control.clone().accept(lp2p::PROTO).map_err(|e| anyhow::anyhow!("{e}"))?;
    tokio::spawn(async move {
        while let Some((_, s)) = incoming.next().await {
            tokio::spawn(async move { sink_then_count(&mut s.compat()).await });
        }
    });
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn setup_rhizome(rounds: usize) -> anyhow::Result<Duration> {
    let (server, addr) = rz::server(3).await?;
    let client = rz::client(4).await?;
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let peer = client.dial(addr.clone()).await?;
        rz::round_trip(&client, peer).await?;
        times.push(start.elapsed());
        client.disconnect(&peer).await;
    }
    tokio::join!(client.shutdown(), server.shutdown());
    Ok(median(times))
}

async fn setup_libp2p(rounds: usize) -> anyhow::Result<Duration> {
    let server = lp2p::Node::start(3, true).await?;
    serve_libp2p(&server)?;
    let client = lp2p::Node::start(4, false).await?;
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        client.dial(server.addr.clone(), server.peer).await?;
        let s = client.control.clone().open_stream(server.peer, lp2p::PROTO).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut s = s.compat();
        s.write_all(&[1]).await?;
        s.shutdown().await?;
        let mut n = [0u8; 8];
        s.read_exact(&mut n).await?;
        times.push(start.elapsed());
        client.disconnect(server.peer).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(median(times))
}

mod memory;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("mem-server") {
        return memory::server(args.get(1).context("stack")?).await;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (bytes, rounds, conns) = if quick { (256u64 << 20, 50, 100) } else { (1u64 << 30, 200, 500) };
    let mut rows = Vec::new();

    let mut best = (0f64, 0f64);
    for _ in 0..3 {
        best.0 = best.0.max(throughput_rhizome(bytes).await?);
        best.1 = best.1.max(throughput_libp2p(bytes).await?);
    }
    rows.push(("throughput, 1 stream (MB/s, best of 3)", best.0 / 1e6, best.1 / 1e6, best.0 / best.1, "higher is better"));

    let (r, l) = (setup_rhizome(rounds).await?, setup_libp2p(rounds).await?);
    rows.push(("set-up: dial + stream + 1 B round trip (ms, median)", ms(r), ms(l), ms(r) / ms(l), "lower is better"));

    let (r, l) = (memory::per_connection("rhizome", conns).await?, memory::per_connection("libp2p", conns).await?);
    rows.push(("listener memory per connection (KiB)", r / 1024.0, l / 1024.0, r / l, "lower is better"));

    println!("\n{:<52} {:>12} {:>12} {:>8}", "scenario", "rhizome", "rust-libp2p", "ratio");
    for (name, a, b, ratio, note) in rows {
        println!("{name:<52} {a:>12.2} {b:>12.2} {ratio:>7.2}x  ({note})");
    }
    println!("\n(bytes per throughput run: {bytes}, set-up rounds: {rounds}, connections for memory: {conns})");
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
