//! The full stacks, TCP + multistream + Noise + yamux: Rhizome nodes and rust-libp2p
//! swarms, each timed the same way.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{Dir, lp2p, rz};

/// One connection, one stream, `bytes` in `dir`; bytes per second.
pub(crate) async fn rhizome_stream(dir: Dir, bytes: u64) -> anyhow::Result<f64> {
    let (server, addr) = rz::server(1).await?;
    let client = rz::client(2).await?;
    let peer = client.dial(addr).await?;
    let s = client.open_stream(peer, rz::proto(dir)).await?;
    let rate = crate::spawned_transfer(s, dir, bytes).await?;
    tokio::join!(client.shutdown(), server.shutdown());
    Ok(rate)
}

/// rust-libp2p: one connection, one stream, `bytes` in `dir`; bytes per second.
pub(crate) async fn libp2p_stream(dir: Dir, bytes: u64) -> anyhow::Result<f64> {
    let server = lp2p::Node::start(1, true).await?;
    server.serve()?;
    let client = lp2p::Node::start(2, false).await?;
    client.dial(server.addr.clone(), server.peer).await?;
    let s = client.open(server.peer, dir).await?;
    crate::spawned_transfer(s, dir, bytes).await
}

/// `n` streams' uploads of `each` bytes at once, each a runtime task; aggregate bytes
/// per second.
async fn spawned_all<S>(streams: Vec<S>, each: u64) -> anyhow::Result<f64>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let n = streams.len() as u64;
    let start = Instant::now();
    // Each future spawns its task when first polled: all start at once.
    futures::future::try_join_all(streams.into_iter().map(|s| crate::spawned_transfer(s, Dir::Up, each))).await?;
    Ok((each * n) as f64 / start.elapsed().as_secs_f64())
}

/// `n` concurrent upload streams on one connection, `bytes` in all; aggregate bytes per second.
pub(crate) async fn rhizome_streams(n: usize, bytes: u64) -> anyhow::Result<f64> {
    let (server, addr) = rz::server(1).await?;
    let client = rz::client(2).await?;
    let peer = client.dial(addr).await?;
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        streams.push(client.open_stream(peer, rz::PROTO).await?);
    }
    let rate = spawned_all(streams, bytes / n as u64).await?;
    tokio::join!(client.shutdown(), server.shutdown());
    Ok(rate)
}

/// rust-libp2p: `n` concurrent upload streams on one connection.
pub(crate) async fn libp2p_streams(n: usize, bytes: u64) -> anyhow::Result<f64> {
    let server = lp2p::Node::start(1, true).await?;
    server.serve()?;
    let client = lp2p::Node::start(2, false).await?;
    client.dial(server.addr.clone(), server.peer).await?;
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        streams.push(client.open(server.peer, Dir::Up).await?);
        // libp2p-stream drops an inbound stream when its accept channel is full (it
        // holds none): give the listener's accept loop time to take each one (untimed).
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    spawned_all(streams, bytes / n as u64).await
}

/// `rounds` sequential dials, each: connect + upgrade + one stream round trip (in a
/// runtime task, as in every row).
pub(crate) async fn rhizome_setup(rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let (server, addr) = rz::server(3).await?;
    let client = rz::client(4).await?;
    let c = client.clone();
    let times = tokio::spawn(async move {
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            let peer = c.dial(addr.clone()).await?;
            rz::round_trip(&c, peer).await?;
            times.push(start.elapsed());
            c.disconnect(&peer).await;
        }
        anyhow::Ok(times)
    })
    .await??;
    tokio::join!(client.shutdown(), server.shutdown());
    Ok(times)
}

/// Streams libp2p-stream dropped at the listener (its accept channel holds none, so a
/// stream that arrives while the accept loop is busy is reset) and that were opened again.
pub(crate) static LIBP2P_RETRIES: AtomicUsize = AtomicUsize::new(0);

async fn libp2p_round_trip(client: &lp2p::Node, server: &lp2p::Node) -> anyhow::Result<()> {
    client.dial(server.addr.clone(), server.peer).await?;
    let mut attempt = 0;
    loop {
        let r = async {
            let mut s = client.open(server.peer, Dir::Up).await?;
            s.write_all(&[1]).await?;
            s.shutdown().await?;
            let mut n = [0u8; 8];
            s.read_exact(&mut n).await?;
            anyhow::Ok(())
        };
        match r.await {
            Ok(()) => break,
            Err(_) if attempt < 10 => {
                attempt += 1;
                LIBP2P_RETRIES.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    client.disconnect(server.peer).await;
    Ok(())
}

/// rust-libp2p: `rounds` sequential dials.
pub(crate) async fn libp2p_setup(rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let server = lp2p::Node::start(3, true).await?;
    server.serve()?;
    let client = lp2p::Node::start(4, false).await?;
    tokio::spawn(async move {
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            libp2p_round_trip(&client, &server).await?;
            times.push(start.elapsed());
            // Lets the swarm close the old connection before the next dial (untimed).
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        anyhow::Ok(times)
    })
    .await?
}

/// `dialers` concurrent clients, each dialing `each` times in a row (connect +
/// upgrade + round trip + disconnect); connections accepted per second.
pub(crate) async fn rhizome_accept(dialers: usize, each: usize) -> anyhow::Result<f64> {
    let (server, addr) = rz::server(5).await?;
    let mut clients = Vec::with_capacity(dialers);
    for i in 0..dialers {
        clients.push(rz::client_n(10_000 + i).await?);
    }
    let start = Instant::now();
    let dialing = clients.iter().map(|c| {
        let (c, addr) = (c.clone(), addr.clone());
        tokio::spawn(async move {
            for _ in 0..each {
                let peer = c.dial(addr.clone()).await?;
                rz::round_trip(&c, peer).await?;
                c.disconnect(&peer).await;
            }
            anyhow::Ok(())
        })
    });
    for t in dialing.collect::<Vec<_>>() {
        t.await??;
    }
    let rate = (dialers * each) as f64 / start.elapsed().as_secs_f64();
    futures::future::join_all(clients.iter().map(rhizome::Node::shutdown)).await;
    server.shutdown().await;
    Ok(rate)
}

/// rust-libp2p: `dialers` concurrent swarms dialing `each` times.
pub(crate) async fn libp2p_accept(dialers: usize, each: usize) -> anyhow::Result<f64> {
    let server = std::sync::Arc::new(lp2p::Node::start(5, true).await?);
    server.serve()?;
    let mut clients = Vec::with_capacity(dialers);
    for i in 0..dialers {
        clients.push(lp2p::Node::start(100 + i as u8, false).await?);
    }
    let start = Instant::now();
    let dialing = clients.into_iter().map(|c| {
        let server = server.clone();
        tokio::spawn(async move {
            for _ in 0..each {
                libp2p_round_trip(&c, &server).await?;
            }
            anyhow::Ok(())
        })
    });
    for t in dialing.collect::<Vec<_>>() {
        t.await??;
    }
    Ok((dialers * each) as f64 / start.elapsed().as_secs_f64())
}
