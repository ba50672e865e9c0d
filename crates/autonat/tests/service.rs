//! The service between Rhizome nodes over TCP on 127.0.0.1 (and one in-memory case):
//! verdicts, refusals, limits, bad input, and Kademlia following the status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use prost::Message as _;
use rhizome_autonat as autonat;
use rhizome_autonat::{AutoNat, ClientConfig, Config, DialRequest, DialResponse, Event, NatStatus, ResponseStatus, ServerConfig};
use rhizome_core::framing;
use rhizome_kad as kad;
use rhizome_node::{Multiaddr, Node, PeerId};
use rhizome_testing::{addr_of, memory_node, node_on, timeout_after};
use tokio::io::AsyncWriteExt as _;

const LIMIT: Duration = Duration::from_secs(20);

/// A quick schedule for tests.
fn fast_client() -> ClientConfig {
    ClientConfig {
        boot_delay: Duration::from_millis(20),
        retry_interval: Duration::from_millis(100),
        refresh_interval: Duration::from_millis(300),
        min_backoff: Duration::from_millis(20),
        throttle_server_period: Duration::ZERO,
        timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

async fn server() -> (Node, AutoNat) {
    let node = node_on("/ip4/127.0.0.1/tcp/0").await;
    let nat = AutoNat::start(&node, Config::server_only());
    (node, nat)
}

/// A port on 127.0.0.1 nobody listens on.
fn closed_port() -> Multiaddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
}

async fn next_status(events: &mut tokio::sync::broadcast::Receiver<Event>) -> NatStatus {
    loop {
        if let Event::StatusChanged { new, .. } = events.recv().await.unwrap() {
            return new;
        }
    }
}

#[tokio::test]
async fn reachable_client_becomes_public_and_confirms_its_address() {
    timeout_after(LIMIT, async {
        let s = node_on("/ip4/127.0.0.1/tcp/0").await;
        // Four answers from one server: more than the default 3 per peer per minute.
        let limits = ServerConfig { max_per_peer: 10, ..ServerConfig::default() };
        let s_nat = AutoNat::start(&s, Config { server: Some(limits), ..Config::server_only() });
        let c = node_on("/ip4/127.0.0.1/tcp/0").await;
        let nat = AutoNat::start(&c, Config { client: Some(fast_client()), ..Config::client_only() });
        let mut events = nat.subscribe();
        c.dial(addr_of(&s)).await.unwrap();
        let listen = c.listen_addrs()[0].clone();
        assert_eq!(next_status(&mut events).await, NatStatus::Public(listen.clone()));
        assert!(c.external_addrs().contains(&listen));
        // Consistent answers raise the confidence to 3.
        for _ in 0..200 {
            if nat.confidence() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(nat.confidence(), 3);
        // The dial-back connections were closed: only the one the client made is left.
        for _ in 0..100 {
            if s.connections().iter().filter(|i| i.peer == c.id()).count() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(s.connections().iter().filter(|i| i.peer == c.id()).count(), 1);
        assert!(s_nat.stats().served_ok >= 4, "{:?} {:?}", s_nat.stats(), nat.stats());
        assert_eq!(nat.stats().probes_failed, 0);
        c.shutdown().await;
        s.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn unreachable_client_becomes_private() {
    timeout_after(LIMIT, async {
        let (s, s_nat) = server().await;
        // No listener: the only address is a closed port.
        let c = Node::builder().build().await.unwrap();
        let nat = AutoNat::start(&c, Config { client: Some(fast_client()), ..Config::client_only() });
        let mut events = nat.subscribe();
        nat.add_candidate(closed_port());
        c.dial(addr_of(&s)).await.unwrap();
        assert_eq!(next_status(&mut events).await, NatStatus::Private);
        assert!(c.external_addrs().is_empty());
        assert!(s_nat.stats().served_dial_error >= 1);
        c.shutdown().await;
        s.shutdown().await;
    })
    .await
}

/// Opens an AutoNAT stream from `from` to `to` and sends `bytes` raw; returns the
/// answer, or `None` when the stream ended without one.
async fn raw(from: &Node, to: PeerId, bytes: &[u8]) -> Option<DialResponse> {
    let mut s = from.open_stream(to, autonat::PROTOCOL.as_str()).await.unwrap();
    // The server may reset the stream early (over-size prefix): write errors are fine.
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
    let frame = framing::read_length_prefixed(&mut s, 4096).await.ok()?;
    Some(DialResponse::decode(&frame).unwrap())
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    framing::encode_length_prefixed(msg, &mut out);
    out
}

#[tokio::test]
async fn third_party_ips_wrong_peers_and_garbage_are_refused() {
    timeout_after(LIMIT, async {
        let (s, s_nat) = server().await;
        let c = node_on("/ip4/127.0.0.1/tcp/0").await;
        c.dial(addr_of(&s)).await.unwrap();
        // Only a third party's IP: refused, nothing dialed.
        let third = DialRequest { peer: c.id(), addrs: vec!["/ip4/10.11.12.13/tcp/4001".parse().unwrap()] };
        let r = raw(&c, s.id(), &framed(&third.encode())).await.unwrap();
        assert_eq!(r.status, ResponseStatus::DialRefused);
        assert_eq!(r.addr, None);
        // Mixed: the third party is dropped, our own address is dialed back.
        let mut mixed = third.clone();
        mixed.addrs.push(c.listen_addrs()[0].clone());
        let r = raw(&c, s.id(), &framed(&mixed.encode())).await.unwrap();
        assert_eq!(r.status, ResponseStatus::Ok);
        assert_eq!(r.addr.as_ref(), Some(&c.listen_addrs()[0]));
        // Asking on behalf of another peer.
        let other = DialRequest { peer: rhizome_testing::seeded_keypair(9).public().to_peer_id(), addrs: mixed.addrs.clone() };
        let r = raw(&c, s.id(), &framed(&other.encode())).await.unwrap();
        assert_eq!(r.status, ResponseStatus::BadRequest);
        // A well-formed message of the wrong type.
        let wrong = DialResponse::ok(c.listen_addrs()[0].clone()).encode();
        assert_eq!(raw(&c, s.id(), &framed(&wrong)).await.unwrap().status, ResponseStatus::BadRequest);
        // Over-size frame, garbage protobuf, truncated frame: the stream ends unanswered.
        let before = s_nat.stats().malformed;
        let mut huge = Vec::new();
        framing::encode_length_prefixed(&vec![0u8; 8192], &mut huge);
        assert!(raw(&c, s.id(), &huge).await.is_none());
        assert!(raw(&c, s.id(), &framed(&[0xff, 0xff, 0xff, 0xff])).await.is_none());
        assert!(raw(&c, s.id(), &[0x20, 1, 2]).await.is_none());
        assert!(raw(&c, s.id(), &[0xff; 12]).await.is_none(), "bad varint");
        assert_eq!(s_nat.stats().malformed - before, 4);
        // The server is still fine.
        let r = raw(&c, s.id(), &framed(&mixed.encode())).await;
        assert!(r.is_some(), "still serving");
        let st = s_nat.stats();
        assert_eq!((st.served_ok, st.served_bad), (1 + u64::from(r.unwrap().status == ResponseStatus::Ok), 2));
        c.shutdown().await;
        s.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn rate_limits_refuse() {
    timeout_after(LIMIT, async {
        let s = node_on("/ip4/127.0.0.1/tcp/0").await;
        let config = ServerConfig { max_per_peer: 2, max_global: 3, ..ServerConfig::default() };
        let s_nat = AutoNat::start(&s, Config { server: Some(config), ..Config::server_only() });
        let mut clients = Vec::new();
        for _ in 0..3 {
            let c = node_on("/ip4/127.0.0.1/tcp/0").await;
            c.dial(addr_of(&s)).await.unwrap();
            clients.push(c);
        }
        let ask = |c: &Node| DialRequest { peer: c.id(), addrs: c.listen_addrs() }.encode();
        let a = &clients[0];
        assert_eq!(raw(a, s.id(), &framed(&ask(a))).await.unwrap().status, ResponseStatus::Ok);
        assert_eq!(raw(a, s.id(), &framed(&ask(a))).await.unwrap().status, ResponseStatus::Ok);
        let third = raw(a, s.id(), &framed(&ask(a))).await.unwrap();
        assert_eq!(third.status, ResponseStatus::DialRefused, "per-peer limit");
        assert!(third.text.unwrap().contains("this peer"));
        let b = &clients[1];
        assert_eq!(raw(b, s.id(), &framed(&ask(b))).await.unwrap().status, ResponseStatus::Ok);
        let c = &clients[2];
        let r = raw(c, s.id(), &framed(&ask(c))).await.unwrap();
        assert_eq!((r.status, r.text.as_deref()), (ResponseStatus::DialRefused, Some("too many requests")), "global limit");
        assert_eq!(s_nat.stats().served_refused, 2);
        for c in clients {
            c.shutdown().await;
        }
        s.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn dial_back_timeout_and_no_ip() {
    timeout_after(LIMIT, async {
        // A "client" whose listener accepts TCP but never speaks: the dial-back hangs.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", silent.local_addr().unwrap().port()).parse().unwrap();
        let s = node_on("/ip4/127.0.0.1/tcp/0").await;
        let config = ServerConfig { dial_back_timeout: Duration::from_millis(300), ..ServerConfig::default() };
        AutoNat::start(&s, Config { server: Some(config), ..Config::server_only() });
        let c = node_on("/ip4/127.0.0.1/tcp/0").await;
        c.dial(addr_of(&s)).await.unwrap();
        let start = tokio::time::Instant::now();
        let r = raw(&c, s.id(), &framed(&DialRequest { peer: c.id(), addrs: vec![silent_addr] }.encode())).await.unwrap();
        assert_eq!((r.status, r.text.as_deref()), (ResponseStatus::DialError, Some("dial-back timed out")));
        assert!(start.elapsed() < Duration::from_secs(5));
        drop(silent);
        // In-memory connections carry no IP: refused.
        let m = memory_node().await;
        AutoNat::start(&m, Config::server_only());
        let mc = memory_node().await;
        mc.dial(addr_of(&m)).await.unwrap();
        let r = raw(&mc, m.id(), &framed(&DialRequest { peer: mc.id(), addrs: vec![addr_of(&mc)] }.encode())).await.unwrap();
        assert_eq!(r.status, ResponseStatus::DialRefused);
        for n in [c, s, mc, m] {
            n.shutdown().await;
        }
    })
    .await
}

async fn mode_becomes(dht: &kad::Kademlia, mode: kad::Mode) {
    timeout_after(Duration::from_secs(5), async {
        while dht.mode() != mode {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

#[tokio::test]
async fn kad_follows_the_status() {
    timeout_after(LIMIT, async {
        let (s, _s_nat) = server().await;
        let c = node_on("/ip4/127.0.0.1/tcp/0").await;
        let listen = c.listen_addrs()[0].clone();
        // Probe candidates only: first an unreachable one.
        let client = ClientConfig { probe_listen_addrs: false, confidence_max: 1, ..fast_client() };
        let nat = AutoNat::start(&c, Config { client: Some(client), ..Config::client_only() });
        let dht = kad::Kademlia::start(&c, kad::Config::default());
        nat.drive_kad(&dht);
        let mut events = nat.subscribe();
        let closed = closed_port();
        nat.add_candidate(closed.clone());
        c.dial(addr_of(&s)).await.unwrap();
        assert_eq!(next_status(&mut events).await, NatStatus::Private);
        mode_becomes(&dht, kad::Mode::Client).await;
        assert!(s.open_stream(c.id(), kad::PROTOCOL.as_str()).await.is_err(), "a kad client refuses inbound");
        // Now reachable too: public, kad server.
        nat.add_candidate(listen.clone());
        assert_eq!(next_status(&mut events).await, NatStatus::Public(listen.clone()));
        mode_becomes(&dht, kad::Mode::Server).await;
        assert!(c.external_addrs().contains(&listen));
        // The reachable address goes: unknown, then private, kad client again.
        nat.remove_candidate(&listen);
        assert_eq!(next_status(&mut events).await, NatStatus::Unknown);
        assert!(!c.external_addrs().contains(&listen), "no longer confirmed");
        assert_eq!(next_status(&mut events).await, NatStatus::Private);
        mode_becomes(&dht, kad::Mode::Client).await;
        c.shutdown().await;
        s.shutdown().await;
    })
    .await
}

#[test]
fn wire_message_shape() {
    // The DIAL we send parses as the spec's protobuf.
    let peer = rhizome_testing::seeded_keypair(1).public().to_peer_id();
    let req = DialRequest { peer, addrs: vec!["/ip4/127.0.0.1/tcp/1".parse().unwrap()] };
    let msg = autonat::proto::Message::decode(req.encode().as_slice()).unwrap();
    assert_eq!(msg.r#type, Some(0));
    assert_eq!(msg.dial.unwrap().peer.unwrap().id.unwrap(), peer.to_bytes());
}

#[tokio::test]
async fn a_server_connecting_late_is_asked_at_once() {
    timeout_after(LIMIT, async {
        let (s, _s_nat) = server().await;
        let c = node_on("/ip4/127.0.0.1/tcp/0").await;
        // A long backoff: without a server at the first probe, the next would be 30 s away.
        let client = ClientConfig { min_backoff: Duration::from_secs(30), retry_interval: Duration::from_secs(60), ..fast_client() };
        let nat = AutoNat::start(&c, Config { client: Some(client), ..Config::client_only() });
        let mut events = nat.subscribe();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(nat.stats().probes, 0, "no server yet");
        c.dial(addr_of(&s)).await.unwrap();
        let status = timeout_after(Duration::from_secs(5), next_status(&mut events)).await;
        assert_eq!(status, NatStatus::Public(c.listen_addrs()[0].clone()));
        c.shutdown().await;
        s.shutdown().await;
    })
    .await
}
