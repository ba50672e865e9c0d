//! AutoNAT v1 interop: Rhizome's `rhizome-autonat` against rust-libp2p 0.57
//! (`libp2p-autonat` 0.16) `autonat::Behaviour` in-process, over TCP on 127.0.0.1.
//!
//! 1. A rust-libp2p client probes a Rhizome server: OK, and it becomes Public.
//! 2. A Rhizome client probing three rust-libp2p servers becomes Public (confidence
//!    3) when its listen address is reachable, and Private when its only address is
//!    a closed port.
//! 3. Kademlia on the Rhizome client follows: client while Private, server once
//!    Public, client again when the reachable address goes.
//!
//! rust-libp2p's `only_global_ips` is off (everything here is loopback); its
//! servers replace a requested address's IP with the observed one, ours drop
//! addresses on another IP — on 127.0.0.1 both dial the same thing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rhizome::{Multiaddr, Node};
use rhizome_autonat as autonat;
use rhizome_kad as kad;

/// Every step's deadline.
const STEP: Duration = Duration::from_secs(20);

async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(STEP, f).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A whole test's deadline.
async fn whole(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(90), test).await.expect("test timed out")
}

fn ours(peer: &libp2p::PeerId) -> rhizome::PeerId {
    rhizome::PeerId::from_bytes(&peer.to_bytes()).unwrap()
}

fn theirs(peer: &rhizome::PeerId) -> libp2p::PeerId {
    libp2p::PeerId::from_bytes(&peer.to_bytes()).unwrap()
}

fn to_theirs(addr: &Multiaddr) -> libp2p::Multiaddr {
    libp2p::Multiaddr::try_from(addr.to_vec()).unwrap()
}

fn to_ours(addr: &libp2p::Multiaddr) -> Multiaddr {
    Multiaddr::try_from(addr.to_vec()).unwrap()
}

/// A fast schedule for the Rhizome client.
fn fast_client() -> autonat::ClientConfig {
    autonat::ClientConfig {
        boot_delay: Duration::from_millis(50),
        retry_interval: Duration::from_millis(200),
        refresh_interval: Duration::from_secs(1),
        min_backoff: Duration::from_millis(50),
        throttle_server_period: Duration::ZERO,
        timeout: Duration::from_secs(10),
        ..autonat::ClientConfig::default()
    }
}

async fn next_status(events: &mut tokio::sync::broadcast::Receiver<autonat::Event>) -> autonat::NatStatus {
    loop {
        if let autonat::Event::StatusChanged { new, .. } = events.recv().await.unwrap() {
            return new;
        }
    }
}

/// A port on 127.0.0.1 nobody listens on.
fn closed_port() -> Multiaddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
}

/// A rust-libp2p node with `autonat::Behaviour` (v1), driven by its own task; its
/// AutoNAT events come out of `events`.
mod lp2p {
    use std::time::Duration;

    use futures::StreamExt as _;
    use libp2p::swarm::SwarmEvent;
    use libp2p::{Multiaddr, PeerId, SwarmBuilder, autonat, noise, tcp, yamux};
    use tokio::sync::mpsc;

    pub(crate) enum Cmd {
        Dial(Multiaddr),
        AddServer(PeerId, Multiaddr),
    }

    pub(crate) struct Peer {
        pub(crate) id: PeerId,
        pub(crate) addr: Multiaddr,
        pub(crate) events: mpsc::Receiver<autonat::Event>,
        tx: mpsc::Sender<Cmd>,
    }

    /// As a server only: it never probes by itself within a test's time.
    pub(crate) fn server_config() -> autonat::Config {
        autonat::Config {
            boot_delay: Duration::from_secs(3600),
            only_global_ips: false,
            throttle_clients_peer_max: 100,
            throttle_clients_global_max: 100,
            ..autonat::Config::default()
        }
    }

    /// A client probing quickly.
    pub(crate) fn client_config() -> autonat::Config {
        autonat::Config {
            boot_delay: Duration::from_millis(100),
            retry_interval: Duration::from_millis(300),
            refresh_interval: Duration::from_secs(2),
            throttle_server_period: Duration::ZERO,
            only_global_ips: false,
            timeout: Duration::from_secs(10),
            ..autonat::Config::default()
        }
    }

    impl Peer {
        pub(crate) async fn start(config: autonat::Config) -> Peer {
            let key = libp2p::identity::Keypair::generate_ed25519();
            let id = key.public().to_peer_id();
            let mut swarm = SwarmBuilder::with_existing_identity(key)
                .with_tokio()
                .with_tcp(tcp::Config::new().nodelay(true), noise::Config::new, yamux::Config::default)
                .unwrap()
                .with_behaviour(|key| autonat::Behaviour::new(key.public().to_peer_id(), config))
                .unwrap()
                .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
                .build();
            swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
            let addr = loop {
                if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                    break address;
                }
            };
            let (tx, rx) = mpsc::channel(16);
            let (etx, events) = mpsc::channel(256);
            tokio::spawn(run(swarm, rx, etx));
            Peer { id, addr, events, tx }
        }

        pub(crate) async fn send(&self, cmd: Cmd) {
            assert!(self.tx.send(cmd).await.is_ok(), "libp2p node running");
        }
    }

    async fn run(mut swarm: libp2p::Swarm<autonat::Behaviour>, mut rx: mpsc::Receiver<Cmd>, events: mpsc::Sender<autonat::Event>) {
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => return,
                    Some(Cmd::Dial(addr)) => { let _ = swarm.dial(addr); }
                    Some(Cmd::AddServer(peer, addr)) => swarm.behaviour_mut().add_server(peer, Some(addr)),
                },
                ev = swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(e) = ev {
                        // Best effort: a test that stopped reading does not block the node.
                        let _ = events.try_send(e);
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn rust_client_probes_rhizome_server() {
    whole(async {
        let server = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).build().await.unwrap();
        let nat = autonat::AutoNat::start(&server, autonat::Config::server_only());
        let mut served = nat.subscribe();
        let mut client = lp2p::Peer::start(lp2p::client_config()).await;
        let server_addr = to_theirs(&server.listen_addrs()[0]);
        client.send(lp2p::Cmd::AddServer(theirs(&server.id()), server_addr.clone())).await;
        client.send(lp2p::Cmd::Dial(server_addr.with(libp2p::multiaddr::Protocol::P2p(theirs(&server.id()))))).await;
        // The rust client sees OK and flips to Public at its listen address.
        let (mut ok, mut public) = (None, None);
        within("rust client Public", async {
            while ok.is_none() || public.is_none() {
                match client.events.recv().await.unwrap() {
                    libp2p::autonat::Event::OutboundProbe(libp2p::autonat::OutboundProbeEvent::Response { peer, address, .. }) => {
                        assert_eq!(ours(&peer), server.id());
                        ok = Some(address);
                    }
                    libp2p::autonat::Event::StatusChanged { new: libp2p::autonat::NatStatus::Public(addr), .. } => public = Some(addr),
                    libp2p::autonat::Event::StatusChanged { new, .. } => panic!("unexpected status {new:?}"),
                    libp2p::autonat::Event::OutboundProbe(libp2p::autonat::OutboundProbeEvent::Error { error, .. }) => {
                        panic!("probe failed: {error:?}")
                    }
                    _ => {}
                }
            }
        })
        .await;
        let ok = ok.unwrap();
        assert_eq!(ok, client.addr, "we dialed back its listen address");
        assert_eq!(public.unwrap(), client.addr);
        // Our side: an InboundProbe OK to that peer at that address.
        let event = within("rhizome served", async {
            loop {
                if let autonat::Event::InboundProbe { peer, status, addr } = served.recv().await.unwrap() {
                    break (peer, status, addr);
                }
            }
        })
        .await;
        assert_eq!(event, (ours(&client.id), autonat::ResponseStatus::Ok, Some(to_ours(&client.addr))));
        assert!(nat.stats().served_ok >= 1);
        server.shutdown().await;
    })
    .await
}

/// Three rust-libp2p AutoNAT servers.
async fn rust_servers() -> Vec<lp2p::Peer> {
    let mut v = Vec::new();
    for _ in 0..3 {
        v.push(lp2p::Peer::start(lp2p::server_config()).await);
    }
    v
}

async fn dial_all(node: &Node, servers: &[lp2p::Peer]) {
    for s in servers {
        let addr = to_ours(&s.addr);
        node.dial(rhizome::identity::with_peer_id(&addr, ours(&s.id))).await.unwrap();
    }
}

#[tokio::test]
async fn rhizome_client_public_with_rust_servers() {
    whole(async {
        let mut servers = rust_servers().await;
        let node = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).build().await.unwrap();
        let listen = node.listen_addrs()[0].clone();
        let nat = autonat::AutoNat::start(&node, autonat::Config { client: Some(fast_client()), ..autonat::Config::client_only() });
        let mut events = nat.subscribe();
        dial_all(&node, &servers).await;
        assert_eq!(within("Public", next_status(&mut events)).await, autonat::NatStatus::Public(listen.clone()));
        assert!(node.external_addrs().contains(&listen), "confirmed on the node");
        within("confidence 3", async {
            while nat.confidence() < 3 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        // Every server was asked in turn, and each dialed us back.
        let mut answered = 0;
        for s in servers.iter_mut() {
            while let Ok(e) = s.events.try_recv() {
                if let libp2p::autonat::Event::InboundProbe(libp2p::autonat::InboundProbeEvent::Response { peer, address, .. }) = e {
                    assert_eq!(ours(&peer), node.id());
                    assert_eq!(rhizome::identity::split_peer_id(&to_ours(&address)).0, listen);
                    answered += 1;
                    break;
                }
            }
        }
        assert_eq!(answered, 3, "all three rust servers dialed back");
        assert_eq!(nat.stats().probes_failed, 0);
        node.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn rhizome_client_private_with_rust_servers() {
    whole(async {
        let mut servers = rust_servers().await;
        // No listener; the only address it advertises is a closed port.
        let node = Node::builder().build().await.unwrap();
        let nat = autonat::AutoNat::start(&node, autonat::Config { client: Some(fast_client()), ..autonat::Config::client_only() });
        let mut events = nat.subscribe();
        nat.add_candidate(closed_port());
        dial_all(&node, &servers).await;
        assert_eq!(within("Private", next_status(&mut events)).await, autonat::NatStatus::Private);
        assert!(node.external_addrs().is_empty());
        within("confidence 3", async {
            while nat.confidence() < 3 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert_eq!(nat.status(), autonat::NatStatus::Private);
        // A rust server reports its dial-back failing.
        let mut dial_errors = 0;
        for s in servers.iter_mut() {
            while let Ok(e) = s.events.try_recv() {
                if let libp2p::autonat::Event::InboundProbe(libp2p::autonat::InboundProbeEvent::Error {
                    error: libp2p::autonat::InboundProbeError::Response(libp2p::autonat::ResponseError::DialError),
                    ..
                }) = e
                {
                    dial_errors += 1;
                }
            }
        }
        assert!(dial_errors >= 4, "{dial_errors} E_DIAL_ERROR answers from rust servers");
        node.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn kad_mode_follows_autonat_with_rust_servers() {
    whole(async {
        let servers = rust_servers().await;
        let node = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).build().await.unwrap();
        let listen = node.listen_addrs()[0].clone();
        // Candidates only (not the listen address): the test decides what is reachable.
        let client = autonat::ClientConfig { probe_listen_addrs: false, ..fast_client() };
        let nat = autonat::AutoNat::start(&node, autonat::Config { client: Some(client), ..autonat::Config::client_only() });
        let dht = kad::Kademlia::start(&node, kad::Config::default());
        nat.drive_kad(&dht);
        let mut modes = dht.subscribe();
        let mut events = nat.subscribe();
        nat.add_candidate(closed_port());
        dial_all(&node, &servers).await;
        assert_eq!(within("Private", next_status(&mut events)).await, autonat::NatStatus::Private);
        within("kad client", async {
            while dht.mode() != kad::Mode::Client {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        // The listen address becomes a candidate: a rust server reaches it.
        nat.add_candidate(listen.clone());
        assert_eq!(within("Public", next_status(&mut events)).await, autonat::NatStatus::Public(listen.clone()));
        within("kad server", async {
            loop {
                if let kad::Event::ModeChanged { mode: kad::Mode::Server } = modes.recv().await.unwrap() {
                    break;
                }
            }
        })
        .await;
        assert_eq!(dht.mode(), kad::Mode::Server);
        assert!(node.protocols().iter().any(|p| p.as_str() == kad::PROTOCOL.as_str()), "serving kad");
        // It goes away again: Unknown (address unconfirmed), then Private, kad client.
        nat.remove_candidate(&listen);
        assert_eq!(within("Unknown", next_status(&mut events)).await, autonat::NatStatus::Unknown);
        assert!(!node.external_addrs().contains(&listen));
        assert_eq!(within("Private again", next_status(&mut events)).await, autonat::NatStatus::Private);
        within("kad client again", async {
            loop {
                if let kad::Event::ModeChanged { mode: kad::Mode::Client } = modes.recv().await.unwrap() {
                    break;
                }
            }
        })
        .await;
        assert!(!node.protocols().iter().any(|p| p.as_str() == kad::PROTOCOL.as_str()), "kad handler removed");
        node.shutdown().await;
    })
    .await
}
