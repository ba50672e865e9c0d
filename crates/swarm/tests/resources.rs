//! Floods that must leave the listener serving honest peers, within a stated memory bound,
//! and give back every connection, task and file descriptor afterwards (loopback only,
//! bounded in count and time). Each test runs in its own process under nextest, so the
//! RSS and descriptor counts are this test's own.
//!
//! Bounds asserted (growth of the whole test process, attackers included):
//! - 10,000 connection attempts against 256 pending slots: RSS + 64 MiB;
//! - 1,500 idle + 1,500 slowloris connections held: RSS + 128 MiB;
//! - 5,000 streams opened on one connection and never read: RSS + 128 MiB;
//! - a stream that writes 64 MiB into an echo without reading it: RSS + 32 MiB.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhizome_core::{KeypairExt as _, Multiaddr, ProtocolId};
use rhizome_swarm::{Config, ConnectionLimits, Swarm};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const ECHO: ProtocolId = ProtocolId::from_static("/test/echo/1.0.0");
const MIB: u64 = 1 << 20;

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

async fn listener(config: Config) -> (Swarm, Multiaddr, SocketAddr) {
    let server = common::swarm_with_config(1, rhizome_tcp::TcpTransport::default(), config);
    server.set_handler(
        ECHO,
        Arc::new(|mut s: rhizome_swarm::Stream| {
            Box::pin(async move {
                let (mut r, mut w) = tokio::io::split(&mut s);
                let _ = tokio::io::copy(&mut r, &mut w).await;
            })
        }),
        Default::default(),
    );
    let (_, addr) = server.listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).await.unwrap();
    let port = addr.iter().find_map(|p| if let rhizome_core::multiaddr::Protocol::Tcp(p) = p { Some(p) } else { None }).unwrap();
    let full = rhizome_identity::with_peer_id(&addr, server.local_peer_id());
    (server, full, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// One honest peer: dial, one echo round trip, shut down; all within a second.
async fn honest(addr: &Multiaddr, seed: u8) -> Duration {
    let client = common::swarm_with(seed, rhizome_tcp::TcpTransport::default());
    let start = Instant::now();
    let run = async {
        let conn = client.dial(addr.clone()).await.unwrap();
        let mut s = client.open_stream_on(&conn, std::slice::from_ref(&ECHO)).await.unwrap();
        s.write_all(b"honest").await.unwrap();
        let mut buf = [0u8; 6];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"honest");
    };
    tokio::time::timeout(Duration::from_secs(1), run).await.expect("honest peer not served within 1 s during the flood");
    let took = start.elapsed();
    client.shutdown(Duration::from_millis(200)).await;
    took
}

/// Waits (bounded) until the server holds no connection and no pending upgrade, then
/// checks descriptors and tasks are back near their baseline.
async fn released(server: &Swarm, fds0: usize, tasks0: usize) {
    for _ in 0..100 {
        if server.connections().is_empty() && server.stats().pending_inbound == 0 && fds() <= fds0 + 8 && tasks() <= tasks0 + 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.connections().is_empty(), "connections left: {}", server.connections().len());
    assert_eq!(server.stats().pending_inbound, 0, "pending upgrades left");
    assert!(fds() <= fds0 + 8, "file descriptors leaked: {} now, {fds0} before", fds());
    assert!(tasks() <= tasks0 + 4, "tasks leaked: {} now, {tasks0} before", tasks());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_attempts_against_256_pending_slots() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let limits = ConnectionLimits { max_pending_incoming: Some(256), ..Default::default() };
        let (server, addr, sock) = listener(Config { limits, ..Default::default() }).await;
        let (rss0, fds0, tasks0) = (rss(), fds(), tasks());
        let gate = Arc::new(tokio::sync::Semaphore::new(256));
        let mut attempts = Vec::new();
        for i in 0..10_000u32 {
            let permit = gate.clone().acquire_owned().await.unwrap();
            attempts.push(tokio::spawn(async move {
                let _permit = permit;
                let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(sock)).await else { return false };
                // a third send garbage, a third a multistream header and stop, a third nothing
                match i % 3 {
                    0 => drop(s.write_all(&[0xff; 64]).await),
                    1 => drop(s.write_all(b"\x13/multistream/1.0.0\n").await),
                    _ => {}
                }
                let mut buf = [0u8; 256];
                let _ = tokio::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await;
                true
            }));
            if i % 2000 == 1000 {
                let took = honest(&addr, 100 + (i / 2000) as u8).await;
                println!("attempt {i}: honest peer served in {took:?}");
            }
        }
        let mut connected = 0;
        for a in attempts {
            connected += usize::from(a.await.unwrap());
        }
        let grown = rss().saturating_sub(rss0);
        println!("{connected} of 10000 attempts connected; RSS grew {} KiB", grown / 1024);
        assert!(connected > 9000, "the flood did not happen ({connected} connected)");
        assert!(grown < 64 * MIB, "RSS grew {} MiB", grown / MIB);
        honest(&addr, 120).await;
        released(&server, fds0, tasks0).await;
        server.shutdown(Duration::from_secs(1)).await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slowloris_connections_are_bounded_and_released() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let (server, addr, sock) = listener(Config::default()).await;
        let (rss0, fds0, tasks0) = (rss(), fds(), tasks());
        let mut held = Vec::new();
        for i in 0..3000u32 {
            let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(sock)).await else { continue };
            if i % 2 == 1 {
                // slowloris: multistream header and `/noise`, then 10 bytes of a Noise
                // message whose length prefix promises 32, then nothing more
                let _ = s.write_all(b"\x13/multistream/1.0.0\n\x07/noise\n\x00\x20").await;
                let _ = s.write_all(&[7; 10]).await;
            }
            held.push(s);
        }
        assert!(held.len() > 2500, "only {} connections made", held.len());
        tokio::time::sleep(Duration::from_millis(300)).await;
        for i in 0..5u8 {
            let took = honest(&addr, 130 + i).await;
            println!("honest peer {i} served in {took:?} with {} idle/slowloris sockets held", held.len());
        }
        let grown = rss().saturating_sub(rss0);
        println!("RSS grew {} KiB holding {} sockets", grown / 1024, held.len());
        assert!(grown < 128 * MIB, "RSS grew {} MiB", grown / MIB);
        drop(held);
        released(&server, fds0, tasks0).await;
        server.shutdown(Duration::from_secs(1)).await;
    })
    .await
    .expect("test timed out");
}

/// An attacker's connection (TCP + Noise + yamux by hand) whose muxer may open up to
/// `max_streams`.
async fn raw_connection(seed: u8, sock: SocketAddr, max_streams: usize) -> rhizome_core::MuxedConnection {
    use rhizome_core::{Muxer as _, SecurityUpgrade as _};
    use rhizome_multistream::{Version, dialer_select};
    let kp = rhizome_core::Keypair::from_seed([seed; 32]);
    let noise = rhizome_noise::Config::new(kp);
    let tcp = TcpStream::connect(sock).await.unwrap();
    let (_, io) = dialer_select(tcp, vec![noise.protocol_id()], Version::V1).await.unwrap();
    let (_, secure) = noise.secure_outbound(Box::new(io), None).await.unwrap();
    let yamux = rhizome_yamux::Config { max_streams, ..Default::default() };
    let (_, io) = dialer_select(secure, vec![yamux.protocol_id()], Version::V1).await.unwrap();
    yamux.start(Box::new(io), rhizome_core::Role::Initiator)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_streams_never_read() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let (server, addr, sock) = listener(Config::default()).await;
        let (rss0, fds0, tasks0) = (rss(), fds(), tasks());
        let conn = raw_connection(200, sock, 6000).await;
        let driver = tokio::spawn(conn.driver);
        // each stream negotiates the echo protocol optimistically and sends 4 KiB that
        // come back and are never read
        let mut request = b"\x13/multistream/1.0.0\n\x11/test/echo/1.0.0\n".to_vec();
        request.extend_from_slice(&[0x42; 4096]);
        let mut streams = Vec::new();
        for _ in 0..5000 {
            match tokio::time::timeout(Duration::from_secs(1), conn.control.open_stream()).await {
                Ok(Ok(mut s)) => {
                    let _ = tokio::time::timeout(Duration::from_millis(100), s.write_all(&request)).await;
                    streams.push(s);
                }
                _ => break,
            }
            if conn.control.is_closed() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let took = honest(&addr, 140).await;
        let grown = rss().saturating_sub(rss0);
        println!(
            "{} streams opened (connection closed by the server: {}); honest peer served in {took:?}; RSS grew {} KiB",
            streams.len(),
            conn.control.is_closed(),
            grown / 1024
        );
        assert!(streams.len() >= 1000, "the flood did not happen");
        assert!(grown < 128 * MIB, "RSS grew {} MiB", grown / MIB);
        assert!(server.memory_reserved() <= Config::default().memory.total);
        drop(streams);
        conn.control.close().await;
        driver.abort();
        released(&server, fds0, tasks0).await;
        assert_eq!(server.memory_reserved(), 0, "budget given back");
        server.shutdown(Duration::from_secs(1)).await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_never_reads_its_echo_is_held_back() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let (server, addr, _) = listener(Config::default()).await;
        let (rss0, fds0, tasks0) = (rss(), fds(), tasks());
        let client = common::swarm_with(150, rhizome_tcp::TcpTransport::default());
        let conn = client.dial(addr.clone()).await.unwrap();
        let mut s = client.open_stream_on(&conn, std::slice::from_ref(&ECHO)).await.unwrap();
        let chunk = vec![0x17u8; 64 * 1024];
        let mut sent = 0u64;
        let start = Instant::now();
        // write 64 MiB without reading: back-pressure must stop us well before
        while sent < 64 * MIB && start.elapsed() < Duration::from_secs(3) {
            match tokio::time::timeout(Duration::from_millis(500), s.write_all(&chunk)).await {
                Ok(Ok(())) => sent += chunk.len() as u64,
                _ => break,
            }
        }
        let grown = rss().saturating_sub(rss0);
        println!("wrote {} KiB before back-pressure held the writer; RSS grew {} KiB", sent / 1024, grown / 1024);
        assert!(sent < 16 * MIB, "{} MiB went into an echo nobody reads", sent / MIB);
        assert!(grown < 32 * MIB, "RSS grew {} MiB", grown / MIB);
        honest(&addr, 151).await;
        drop(s);
        client.shutdown(Duration::from_millis(500)).await;
        released(&server, fds0, tasks0).await;
        server.shutdown(Duration::from_secs(1)).await;
    })
    .await
    .expect("test timed out");
}
