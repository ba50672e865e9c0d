//! Attacks on a listener that must not deny service to honest peers (loopback only,
//! bounded in count and time).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use rhizome_core::KeypairExt as _;
use std::time::{Duration, Instant};

use rhizome_core::Multiaddr;
use rhizome_swarm::Swarm;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

async fn listener() -> (Swarm, Multiaddr, std::net::SocketAddr) {
    let server = common::swarm_with(1, rhizome_tcp::TcpTransport::default());
    let (_, addr) = server.listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).await.unwrap();
    let port = addr.iter().find_map(|p| if let rhizome_core::multiaddr::Protocol::Tcp(p) = p { Some(p) } else { None }).unwrap();
    let full = rhizome_identity::with_peer_id(&addr, server.local_peer_id());
    (server, full, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
}

/// `n` honest dials, one after the other, each from a fresh swarm; returns the
/// slowest, and panics if one fails or takes over a second.
async fn honest_dials(addr: &Multiaddr, n: u8) -> Duration {
    let mut slowest = Duration::ZERO;
    for i in 0..n {
        let client = common::swarm_with(100 + i, rhizome_tcp::TcpTransport::default());
        let start = Instant::now();
        let dialed = tokio::time::timeout(Duration::from_secs(1), client.dial(addr.clone())).await;
        assert!(matches!(dialed, Ok(Ok(_))), "honest dial {i} failed during the flood: {dialed:?}");
        slowest = slowest.max(start.elapsed());
        client.shutdown(Duration::from_millis(100)).await;
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_do_not_hold_the_pending_pool() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let (server, addr, sock) = listener().await;
        // 1,500 sockets that connect and never send a byte (12× the pending pool).
        let mut silent = Vec::new();
        for _ in 0..1500 {
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(sock)).await {
                silent.push(s);
            }
        }
        assert!(silent.len() > 1000, "only {} silent sockets connected", silent.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
        let slowest = honest_dials(&addr, 6).await;
        println!("{} silent sockets held; slowest honest dial {slowest:?}", silent.len());
        drop(silent);
        server.shutdown(Duration::from_secs(1)).await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_silent_sockets_do_not_hold_the_pending_pool() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let (server, addr, sock) = listener().await;
        let stop = CancellationToken::new();
        let mut attackers = Vec::new();
        // 130 sockets (just over the pool) that reconnect as soon as they are closed.
        for _ in 0..130 {
            let stop = stop.clone();
            attackers.push(tokio::spawn(async move {
                let mut reconnects = 0u32;
                while !stop.is_cancelled() && reconnects < 100_000 {
                    let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(sock)).await else {
                        continue;
                    };
                    reconnects += 1;
                    let mut buf = [0u8; 64];
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf) => {} // closed (or answered): reconnect
                    }
                }
                reconnects
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let slowest = honest_dials(&addr, 10).await;
        stop.cancel();
        let mut total = 0;
        for a in attackers {
            total += a.await.unwrap();
        }
        println!("attackers reconnected {total} times; slowest honest dial {slowest:?}");
        server.shutdown(Duration::from_secs(1)).await;
    })
    .await
    .expect("test timed out");
}

/// An attacker's connection: TCP + Noise + yamux by hand, so that it can open
/// streams and leave them unnegotiated.
async fn raw_connection(seed: u8, sock: std::net::SocketAddr) -> rhizome_core::MuxedConnection {
    use rhizome_core::{Muxer as _, SecurityUpgrade as _};
    use rhizome_multistream::{Version, dialer_select};
    let kp = rhizome_core::Keypair::from_seed([seed; 32]);
    let noise = rhizome_noise::Config::new(kp);
    let tcp = TcpStream::connect(sock).await.unwrap();
    let (_, io) = dialer_select(tcp, vec![noise.protocol_id()], Version::V1).await.unwrap();
    let (_, secure) = noise.secure_outbound(Box::new(io), None).await.unwrap();
    let yamux = rhizome_yamux::Config::default();
    let (_, io) = dialer_select(secure, vec![yamux.protocol_id()], Version::V1).await.unwrap();
    yamux.start(Box::new(io), rhizome_core::Role::Initiator)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_that_never_negotiate_do_not_starve_other_peers() {
    use tokio::io::AsyncWriteExt as _;
    tokio::time::timeout(Duration::from_secs(60), async {
        let (server, addr, sock) = listener().await;
        let echo = rhizome_core::ProtocolId::from_static("/test/echo/1.0.0");
        server.set_handler(
            echo.clone(),
            std::sync::Arc::new(|mut s: rhizome_swarm::Stream| {
                Box::pin(async move {
                    let (mut r, mut w) = tokio::io::split(&mut s);
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                })
            }),
            Default::default(),
        );
        // 36 identities × 120 streams that send one byte of the multistream header
        // and stop: more than the node-wide 1,024 negotiation slots.
        let mut held = Vec::new();
        let (mut drivers, mut controls) = (Vec::new(), Vec::new());
        for seed in 0..36u8 {
            let conn = raw_connection(200u8.wrapping_add(seed), sock).await;
            drivers.push(tokio::spawn(conn.driver));
            for _ in 0..120 {
                let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(2), conn.control.open_stream()).await else { break };
                let _ = s.write_all(&[0x13]).await;
                let _ = s.flush().await;
                held.push(s);
            }
            controls.push(conn.control); // keeps the connection up
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Honest peers connect and run a stream each, within a second.
        for i in 0..5u8 {
            let client = common::swarm_with(150 + i, rhizome_tcp::TcpTransport::default());
            let start = Instant::now();
            let run = async {
                let conn = client.dial(addr.clone()).await.unwrap();
                let mut s = client.open_stream_on(&conn, std::slice::from_ref(&echo)).await.unwrap();
                s.write_all(b"ping").await.unwrap();
                let mut buf = [0u8; 4];
                tokio::io::AsyncReadExt::read_exact(&mut s, &mut buf).await.unwrap();
            };
            tokio::time::timeout(Duration::from_secs(1), run).await.expect("honest stream starved by the negotiation flood");
            println!("honest stream {i} served in {:?} during the flood", start.elapsed());
            client.shutdown(Duration::from_millis(100)).await;
        }
        drop((held, controls));
        for d in drivers {
            d.abort();
        }
        server.shutdown(Duration::from_secs(1)).await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_holding_every_slot_are_trimmed_for_a_new_peer() {
    tokio::time::timeout(Duration::from_secs(60), async {
        // The attack at a smaller scale (the same mechanism as 256 identities × 4 on
        // the default 1,024): 16 identities × 4 connections fill 64 inbound slots.
        let limits = rhizome_swarm::ConnectionLimits { max_established_incoming: Some(64), ..Default::default() };
        let config = rhizome_swarm::Config { limits, trim_grace: Duration::from_millis(300), ..Default::default() };
        let server = common::swarm_with_config(1, rhizome_tcp::TcpTransport::default(), config);
        let (_, addr) = server.listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).await.unwrap();
        let addr = rhizome_identity::with_peer_id(&addr, server.local_peer_id());
        let mut attackers = Vec::new();
        for id in 0..16u8 {
            for _ in 0..4 {
                // A swarm dials a peer once; a fresh swarm per connection gets 4 per identity.
                let a = common::swarm_with(60 + id, rhizome_tcp::TcpTransport::default());
                a.dial(addr.clone()).await.unwrap();
                attackers.push(a);
            }
        }
        // The server registers a connection just after the dialer does.
        while server.connections().len() < 64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Protected peers' connections are never trimmed: protect all identities but the last.
        for a in attackers.iter().step_by(4).take(15) {
            assert!(server.protect_peer(a.local_peer_id()));
        }
        let unprotected = attackers[60].local_peer_id();
        tokio::time::sleep(Duration::from_millis(400)).await; // past the grace period
        let honest = common::swarm_with(58, rhizome_tcp::TcpTransport::default());
        let start = Instant::now();
        let conn = tokio::time::timeout(Duration::from_secs(1), honest.dial(addr.clone())).await.expect("honest dial timed out").unwrap();
        println!("honest peer got in after {:?}", start.elapsed());
        assert!(!conn.is_closed());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(server.is_connected(&honest.local_peer_id()));
        assert_eq!(server.connections().len(), 64, "one idle attacker connection made room");
        let per_peer = |p| server.connections().iter().filter(|c| c.peer == p).count();
        assert_eq!(per_peer(unprotected), 3, "the room came from the one unprotected identity");
        for a in attackers.iter().step_by(4).take(15) {
            assert_eq!(per_peer(a.local_peer_id()), 4);
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yamux_protocol_violation_closes_the_connection() {
    use rhizome_core::SecurityUpgrade as _;
    use rhizome_multistream::{Version, dialer_select};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    tokio::time::timeout(Duration::from_secs(30), async {
        let (server, addr, sock) = listener().await;
        let kp = rhizome_core::Keypair::from_seed([77; 32]);
        let noise = rhizome_noise::Config::new(kp);
        let tcp = TcpStream::connect(sock).await.unwrap();
        let (_, io) = dialer_select(tcp, vec![noise.protocol_id()], Version::V1).await.unwrap();
        let (_, secure) = noise.secure_outbound(Box::new(io), None).await.unwrap();
        let (_, mut io) = dialer_select(secure, vec![rhizome_core::ProtocolId::from_static("/yamux/1.0.0")], Version::V1).await.unwrap();
        // A window update opening stream 2: a client must use odd ids. 20,000 of them.
        let frame = [0u8, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0];
        let start = Instant::now();
        let mut sent = 0;
        for _ in 0..20_000 {
            if io.write_all(&frame).await.is_err() || io.flush().await.is_err() {
                break;
            }
            sent += 1;
        }
        // The server answers with a GoAway and closes: our reads end.
        let mut buf = vec![0u8; 4096];
        let closed = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the violating connection was still open 3 s later ({sent} frames sent)");
        println!("violating connection closed after {:?} ({sent} frames written)", start.elapsed());
        // And the server still serves honest peers.
        let slowest = honest_dials(&addr, 2).await;
        assert!(slowest < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(server.connections().iter().all(|c| c.peer != rhizome_core::Keypair::from_seed([77; 32]).peer_id()));
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_budget_bounds_streams_and_connections() {
    use tokio::io::AsyncWriteExt as _;
    tokio::time::timeout(Duration::from_secs(30), async {
        // Room for 2 connections and 4 streams.
        let memory = rhizome_swarm::MemoryBudget { total: 2 * 1000 + 4 * 10_000, per_connection: 1000, per_stream: 10_000 };
        let server = common::swarm_with_config(
            1,
            rhizome_tcp::TcpTransport::default(),
            rhizome_swarm::Config { memory: memory.clone(), ..Default::default() },
        );
        let hold = rhizome_core::ProtocolId::from_static("/test/hold/1.0.0");
        let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = served.clone();
        server.set_handler(
            hold.clone(),
            std::sync::Arc::new(move |s: rhizome_swarm::Stream| {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    drop(s);
                })
            }),
            Default::default(),
        );
        let (_, addr) = server.listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).await.unwrap();
        let addr = rhizome_identity::with_peer_id(&addr, server.local_peer_id());
        let client = common::swarm_with(2, rhizome_tcp::TcpTransport::default());
        let conn = client.dial(addr.clone()).await.unwrap();
        // 20 streams: the server serves what its budget holds and resets the rest.
        let mut streams = Vec::new();
        for _ in 0..20 {
            if let Ok(mut s) = client.open_stream_on(&conn, std::slice::from_ref(&hold)).await {
                let _ = s.write_all(b"x").await;
                streams.push(s);
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 4, "only the budgeted streams were served");
        assert!(server.memory_reserved() <= memory.total);
        assert!(!conn.is_closed(), "the connection stays up");
        // A second connection fits; a third does not.
        let second = common::swarm_with(3, rhizome_tcp::TcpTransport::default());
        second.dial(addr.clone()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(server.connections().len(), 2);
        let third = common::swarm_with(4, rhizome_tcp::TcpTransport::default());
        let _ = third.dial(addr.clone()).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.connections().len(), 2, "the budget refused the third connection");
        assert!(server.stats().refusals.iter().any(|(r, n)| *r == "memory_budget" && *n > 0));
        // Everything given back once the streams and connections are gone.
        drop(streams);
        client.shutdown(Duration::from_secs(1)).await;
        second.shutdown(Duration::from_secs(1)).await;
        server.shutdown(Duration::from_secs(1)).await;
        assert_eq!(server.memory_reserved(), 0);
    })
    .await
    .expect("test timed out");
}
