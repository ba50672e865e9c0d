//! Userspace delay lines, for kernels without `sch_netem` (this one: CONFIG_NET_SCH_NETEM
//! is not set). Every datagram / byte chunk is held for a fixed time, FIFO, in a bounded
//! queue; a full UDP queue drops (like a router buffer), a full TCP queue stops reading.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

const QUEUE: usize = 65_536;
const TCP_QUEUE: usize = 1024;

/// Relays UDP between clients of `front` and `target` (reached from `back`), each way
/// `delay` late. Runs until killed.
pub(crate) async fn udp(front: SocketAddr, back: SocketAddr, target: SocketAddr, delay: Duration) -> anyhow::Result<usize> {
    let front = Arc::new(UdpSocket::bind(front).await.context("binding the front socket")?);
    let back = Arc::new(UdpSocket::bind(back).await.context("binding the back socket")?);
    println!("BOUND {}", front.local_addr()?);
    let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
    let (to_target, mut target_q) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
    let (to_client, mut client_q) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
    let out = back.clone();
    tokio::spawn(async move {
        while let Some((at, bytes)) = target_q.recv().await {
            tokio::time::sleep_until(at).await;
            let _ = out.send_to(&bytes, target).await;
        }
    });
    let (out, who) = (front.clone(), client.clone());
    tokio::spawn(async move {
        while let Some((at, bytes)) = client_q.recv().await {
            tokio::time::sleep_until(at).await;
            if let Some(addr) = *who.lock().await {
                let _ = out.send_to(&bytes, addr).await;
            }
        }
    });
    let mut buf_f = vec![0u8; 65_536];
    let mut buf_b = vec![0u8; 65_536];
    loop {
        tokio::select! {
            r = front.recv_from(&mut buf_f) => {
                let (n, from) = r.context("front recv")?;
                *client.lock().await = Some(from);
                let _ = to_target.try_send((Instant::now() + delay, buf_f[..n].to_vec()));
            }
            r = back.recv_from(&mut buf_b) => {
                let (n, _) = r.context("back recv")?;
                let _ = to_client.try_send((Instant::now() + delay, buf_b[..n].to_vec()));
            }
        }
    }
}

/// Accepts TCP on `front`, connects each to `target`, and delays both directions.
pub(crate) async fn tcp(front: SocketAddr, target: SocketAddr, delay: Duration) -> anyhow::Result<usize> {
    let listener = TcpListener::bind(front).await.context("binding the front listener")?;
    println!("BOUND {}", listener.local_addr()?);
    loop {
        let (inbound, _) = listener.accept().await.context("accepting")?;
        let outbound = TcpStream::connect(target).await.context("connecting to the target")?;
        let (ri, wi) = inbound.into_split();
        let (ro, wo) = outbound.into_split();
        tokio::spawn(pump(ri, wo, delay));
        tokio::spawn(pump(ro, wi, delay));
    }
}

async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(TCP_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 65_536];
    // Ends at EOF or error; the writer then flushes what is queued and half-closes.
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        if tx.send((Instant::now() + delay, buf[..n].to_vec())).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}
