//! Swarm behaviour over the memory transport and TCP loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt as _;
use rhizome_core::{Keypair, KeypairExt as _, MemoryTransport, Multiaddr, ProtocolId};
use rhizome_swarm::{Config, ConnectionLimits, DialError, HandlerOpts, OpenStreamError, Stream, Swarm, SwarmEvent};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const ECHO: &str = "/test/echo/1.0.0";

async fn timeout<F: std::future::Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f).await.expect("test timed out")
}

fn swarm(seed: u8, config: Config) -> Swarm {
    let kp = Keypair::from_seed([seed; 32]);
    Swarm::builder(kp.clone())
        .with_transport(MemoryTransport)
        .with_transport(rhizome_tcp::TcpTransport::default())
        .with_security(rhizome_noise::Config::new(kp))
        .with_muxer(rhizome_yamux::Config::default())
        .with_config(config)
        .build()
        .unwrap()
}

fn echo_handler(swarm: &Swarm) {
    swarm.set_handler(
        ProtocolId::from_static(ECHO),
        Arc::new(|mut s: Stream| {
            async move {
                let (mut r, mut w) = tokio::io::split(&mut s);
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            }
            .boxed()
        }),
        HandlerOpts::default(),
    );
}

/// A handler that holds its stream for an hour.
fn stall_handler() -> rhizome_swarm::Handler {
    Arc::new(|s: Stream| {
        async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(s);
        }
        .boxed()
    })
}

async fn echo_once(from: &Swarm, to: &Swarm, payload: &[u8]) {
    let mut s = from.open_stream(to.local_peer_id(), &[ProtocolId::from_static(ECHO)]).await.unwrap();
    s.write_all(payload).await.unwrap();
    s.shutdown().await.unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, payload);
}

async fn listen(s: &Swarm, addr: &str) -> Multiaddr {
    let (_, bound) = s.listen(addr.parse().unwrap()).await.unwrap();
    rhizome_identity::with_peer_id(&bound, s.local_peer_id())
}

#[tokio::test]
async fn echo_both_directions_memory_and_tcp() {
    timeout(20, async {
        for addr in ["/memory/0", "/ip4/127.0.0.1/tcp/0"] {
            let (a, b) = (swarm(1, Config::default()), swarm(2, Config::default()));
            echo_handler(&a);
            echo_handler(&b);
            let b_addr = listen(&b, addr).await;
            let conn = a.dial(b_addr).await.unwrap();
            assert_eq!(conn.peer(), b.local_peer_id());
            echo_once(&a, &b, b"hello from a").await;
            // b reuses the inbound connection to open a stream to a.
            echo_once(&b, &a, &vec![9u8; 300_000]).await;
            assert_eq!(a.connections().len(), 1);
            assert_eq!(b.connections().len(), 1);
        }
    })
    .await
}

#[tokio::test]
async fn wrong_peer_id_is_a_typed_error() {
    timeout(10, async {
        let (a, b) = (swarm(1, Config::default()), swarm(2, Config::default()));
        let (_, bound) = b.listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).await.unwrap();
        let wrong = Keypair::from_seed([3; 32]).peer_id();
        let err = a.dial(rhizome_identity::with_peer_id(&bound, wrong)).await.unwrap_err();
        assert!(matches!(err, DialError::WrongPeer { expected, actual } if expected == wrong && actual == b.local_peer_id()), "{err:?}");
        assert!(a.connections().is_empty());
    })
    .await
}

#[tokio::test]
async fn unsupported_protocol_is_reported() {
    timeout(10, async {
        let (a, b) = (swarm(1, Config::default()), swarm(2, Config::default()));
        a.dial(listen(&b, "/memory/0").await).await.unwrap();
        let err = a.open_stream(b.local_peer_id(), &[ProtocolId::from_static("/nope/1")]).await.unwrap_err();
        assert!(matches!(err, OpenStreamError::UnsupportedProtocol(p) if p == "/nope/1"));
    })
    .await
}

#[tokio::test]
async fn inbound_connection_limit_refuses_the_next_and_keeps_serving() {
    timeout(20, async {
        let limits = ConnectionLimits { max_established_incoming: Some(2), ..ConnectionLimits::default() };
        let server = swarm(10, Config { limits, ..Config::default() });
        echo_handler(&server);
        let addr = listen(&server, "/ip4/127.0.0.1/tcp/0").await;
        let clients: Vec<Swarm> = (0..3).map(|i| swarm(20 + i, Config::default())).collect();
        clients[0].dial(addr.clone()).await.unwrap();
        clients[1].dial(addr.clone()).await.unwrap();
        // The third is refused: either the dial fails, or the connection is closed at once.
        let third = clients[2].dial(addr.clone()).await;
        if let Ok(conn) = third {
            timeout(5, conn.closed()).await;
        }
        assert_eq!(server.connections().len(), 2);
        // The first two still work.
        echo_once(&clients[0], &server, b"one").await;
        echo_once(&clients[1], &server, b"two").await;
        assert!(clients[2].open_stream(server.local_peer_id(), &[ProtocolId::from_static(ECHO)]).await.is_err());
    })
    .await
}

#[tokio::test]
async fn stalled_handler_does_not_block_other_streams() {
    timeout(20, async {
        let (a, b) = (swarm(1, Config::default()), swarm(2, Config::default()));
        echo_handler(&b);
        b.set_handler(ProtocolId::from_static("/stall/1"), stall_handler(), HandlerOpts::default());
        a.dial(listen(&b, "/memory/0").await).await.unwrap();
        let mut stalled = Vec::new();
        for _ in 0..5 {
            let mut s = a.open_stream(b.local_peer_id(), &[ProtocolId::from_static("/stall/1")]).await.unwrap();
            s.write_all(&[0u8; 1000]).await.unwrap();
            stalled.push(s);
        }
        echo_once(&a, &b, b"still served").await;
    })
    .await
}

#[tokio::test]
async fn thousand_concurrent_streams_over_one_connection() {
    timeout(60, async {
        let (a, b) = (swarm(1, Config::default()), swarm(2, Config::default()));
        b.set_handler(
            ProtocolId::from_static(ECHO),
            Arc::new(|mut s: Stream| {
                async move {
                    let mut buf = [0u8; 8];
                    if s.read_exact(&mut buf).await.is_ok() {
                        let _ = s.write_all(&buf).await;
                        let _ = s.shutdown().await;
                    }
                }
                .boxed()
            }),
            HandlerOpts { max_inbound_streams: Some(1000) },
        );
        a.dial(listen(&b, "/ip4/127.0.0.1/tcp/0").await).await.unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0u64..1000 {
            let (a, peer, done) = (a.clone(), b.local_peer_id(), done.clone());
            tasks.push(tokio::spawn(async move {
                let mut s = a.open_stream(peer, &[ProtocolId::from_static(ECHO)]).await.unwrap();
                s.write_all(&i.to_be_bytes()).await.unwrap();
                let mut buf = [0u8; 8];
                s.read_exact(&mut buf).await.unwrap();
                assert_eq!(u64::from_be_bytes(buf), i);
                done.fetch_add(1, Ordering::Relaxed);
                s // keep every stream open until all are done
            }));
        }
        let mut streams = Vec::new();
        for t in tasks {
            streams.push(t.await.unwrap());
        }
        assert_eq!(done.load(Ordering::Relaxed), 1000);
        assert_eq!(a.connections().len(), 1);
    })
    .await
}

#[tokio::test]
async fn per_protocol_inbound_limit_resets_extra_streams() {
    timeout(20, async {
        let (a, b) = (swarm(1, Config::default()), swarm(2, Config::default()));
        b.set_handler(
            ProtocolId::from_static("/hold/1"),
            Arc::new(|mut s: Stream| {
                async move {
                    let mut buf = Vec::new();
                    let _ = s.read_to_end(&mut buf).await;
                }
                .boxed()
            }),
            HandlerOpts { max_inbound_streams: Some(2) },
        );
        a.dial(listen(&b, "/memory/0").await).await.unwrap();
        let proto = [ProtocolId::from_static("/hold/1")];
        let _s1 = a.open_stream(b.local_peer_id(), &proto).await.unwrap();
        let _s2 = a.open_stream(b.local_peer_id(), &proto).await.unwrap();
        // The third negotiates, then is reset: reading gives an error or EOF at once.
        let mut s3 = a.open_stream(b.local_peer_id(), &proto).await.unwrap();
        let mut buf = [0u8; 1];
        let r = timeout(5, s3.read(&mut buf)).await;
        assert!(matches!(r, Err(_) | Ok(0)), "{r:?}");
    })
    .await
}

#[tokio::test]
async fn concurrent_dials_to_one_peer_share_one_connection() {
    timeout(20, async {
        let (a, b) = (swarm(1, Config::default()), swarm(2, Config::default()));
        let addr = listen(&b, "/ip4/127.0.0.1/tcp/0").await;
        let dials: Vec<_> = (0..10).map(|_| a.dial(addr.clone())).collect();
        let conns = futures::future::join_all(dials).await;
        let first = conns[0].as_ref().unwrap().id();
        assert!(conns.iter().all(|c| c.as_ref().unwrap().id() == first));
        assert_eq!(a.connections().len(), 1);
    })
    .await
}

#[tokio::test]
async fn idle_connections_close_and_busy_ones_stay() {
    timeout(20, async {
        let cfg = Config { idle_timeout: Duration::from_millis(300), ..Config::default() };
        let (a, b) = (swarm(1, cfg.clone()), swarm(2, cfg));
        echo_handler(&b);
        let mut events = a.subscribe();
        a.dial(listen(&b, "/memory/0").await).await.unwrap();
        // An open stream keeps the connection up well past the idle timeout.
        let mut s = a.open_stream(b.local_peer_id(), &[ProtocolId::from_static(ECHO)]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(a.is_connected(&b.local_peer_id()));
        s.write_all(b"x").await.unwrap();
        drop(s);
        // Once idle, it closes.
        loop {
            match events.recv().await.unwrap() {
                SwarmEvent::Disconnected { info, .. } if info.peer == b.local_peer_id() => break,
                _ => {}
            }
        }
        assert!(!a.is_connected(&b.local_peer_id()));
    })
    .await
}

#[tokio::test]
async fn shutdown_closes_everything_within_its_deadline() {
    timeout(20, async {
        let (a, b) = (swarm(1, Config::default()), swarm(2, Config::default()));
        echo_handler(&a);
        b.set_handler(ProtocolId::from_static("/forever/1"), stall_handler(), HandlerOpts::default());
        let b_addr = listen(&b, "/ip4/127.0.0.1/tcp/0").await;
        a.dial(b_addr.clone()).await.unwrap();
        let _held = a.open_stream(b.local_peer_id(), &[ProtocolId::from_static("/forever/1")]).await.unwrap();
        let started = std::time::Instant::now();
        b.shutdown(Duration::from_millis(500)).await;
        let took = started.elapsed();
        assert!(took < Duration::from_millis(900), "shutdown took {took:?}");
        assert!(b.connections().is_empty() || b.is_shut_down());
        assert!(b.listen_addrs().is_empty());
        // a notices the connection is gone, and cannot reach b any more.
        timeout(5, async {
            while a.is_connected(&b.local_peer_id()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(a.dial(b_addr).await.is_err());
    })
    .await
}

#[tokio::test]
async fn dial_peer_tries_every_known_address_and_the_good_one_wins() {
    timeout(20, async {
        let (a, b) = (swarm(1, Config::default()), swarm(2, Config::default()));
        let good = listen(&b, "/ip4/127.0.0.1/tcp/0").await;
        // Dead addresses: ports bound then released, so nobody listens there.
        for _ in 0..6 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            a.address_book().add(b.local_peer_id(), format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap(), Duration::from_secs(60));
        }
        a.address_book().add(b.local_peer_id(), good, Duration::from_secs(1));
        let conn = a.dial_peer(b.local_peer_id()).await.unwrap();
        assert_eq!(conn.peer(), b.local_peer_id());
        // Refused addresses were forgotten.
        assert!(a.address_book().get(&b.local_peer_id()).len() < 7);

        // With no good address at all, the error says how many were tried.
        let c = swarm(3, Config::default());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        for p in [port, port] {
            c.address_book().add(b.local_peer_id(), format!("/ip4/127.0.0.1/tcp/{p}").parse().unwrap(), Duration::from_secs(60));
        }
        c.address_book().add(b.local_peer_id(), "/memory/1".parse().unwrap(), Duration::from_secs(60));
        let err = c.dial_peer(b.local_peer_id()).await.unwrap_err();
        assert!(matches!(err, DialError::AllAddressesFailed { attempts: 2, .. }), "{err:?}");
    })
    .await
}

/// yamux, with a count of its driver futures still alive.
struct TrackedYamux(Arc<AtomicUsize>);

struct LiveDriver(Arc<AtomicUsize>);

impl Drop for LiveDriver {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl rhizome_core::Muxer for TrackedYamux {
    fn protocol_id(&self) -> ProtocolId {
        rhizome_yamux::Config::default().protocol_id()
    }

    fn start(&self, io: rhizome_core::BoxIo, role: rhizome_core::Role) -> rhizome_core::MuxedConnection {
        let muxed = rhizome_yamux::Config::default().start(io, role);
        self.0.fetch_add(1, Ordering::SeqCst);
        let live = LiveDriver(self.0.clone());
        let driver = muxed.driver;
        rhizome_core::MuxedConnection {
            driver: Box::pin(async move {
                let _live = live;
                driver.await
            }),
            ..muxed
        }
    }
}

fn tracked_swarm(seed: u8) -> (Swarm, Arc<AtomicUsize>) {
    let kp = Keypair::from_seed([seed; 32]);
    let live = Arc::new(AtomicUsize::new(0));
    let swarm = Swarm::builder(kp.clone())
        .with_transport(MemoryTransport)
        .with_security(rhizome_noise::Config::new(kp))
        .with_muxer(TrackedYamux(live.clone()))
        .build()
        .unwrap();
    (swarm, live)
}

#[tokio::test]
async fn muxer_drivers_end_when_the_swarm_shuts_down() {
    timeout(10, async {
        let (a, a_live) = tracked_swarm(41);
        let (b, b_live) = tracked_swarm(42);
        b.set_handler(ProtocolId::from_static(ECHO), stall_handler(), HandlerOpts::default());
        let (_, addr) = b.listen("/memory/0".parse().unwrap()).await.unwrap();
        a.dial(rhizome_identity::with_peer_id(&addr, b.local_peer_id())).await.unwrap();
        // A stream held open on both sides does not keep the drivers alive.
        let _held = a.open_stream(b.local_peer_id(), &[ProtocolId::from_static(ECHO)]).await.unwrap();
        assert_eq!(a_live.load(Ordering::SeqCst), 1);
        a.shutdown(Duration::from_secs(1)).await;
        assert_eq!(a_live.load(Ordering::SeqCst), 0, "a's muxer driver ended with its swarm");
        b.shutdown(Duration::from_secs(1)).await;
        assert_eq!(b_live.load(Ordering::SeqCst), 0, "b's muxer driver ended with its swarm");
    })
    .await
}
