//! The swarm over the in-memory network: node integration, the duplicate rule with
//! real simultaneous connects, leave, join_peer, the admission hook as firewall.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rhizome_hyperswarm::memory::MemoryNetwork;
use std::net::SocketAddrV4;

use rhizome_hyperswarm::{
    Config, Hyperswarm, JoinOpts, Keypair, NetworkError, PeerListener, PeerNetwork, PeerRecord, RawConnection, SwarmConnection,
};
use rhizome_node::{Event, Node, ProtocolId, Stream, StreamCtx, StreamNaming};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

const ECHO: ProtocolId = ProtocolId::from_static("/echo/1.0.0");
const TOPIC: [u8; 32] = [0x42; 32];
const T: Duration = Duration::from_secs(20);

async fn node() -> Node {
    Node::builder().build().await.unwrap()
}

async fn echo_node() -> Node {
    let n = node().await;
    n.handle(ECHO, |mut s: Stream, _ctx: StreamCtx| async move {
        let (mut r, mut w) = tokio::io::split(&mut s);
        tokio::io::copy(&mut r, &mut w).await?;
        w.shutdown().await
    });
    n
}

async fn roundtrip(c: &mut SwarmConnection, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    c.stream.write_all(msg).await?;
    let mut back = vec![0u8; msg.len()];
    c.stream.read_exact(&mut back).await?;
    Ok(back)
}

#[tokio::test]
async fn a_topic_joined_for_a_protocol_is_served_by_the_nodes_handler() {
    tokio::time::timeout(T, async {
        let net = MemoryNetwork::new();
        let a = echo_node().await;
        let mut events = a.events();
        let sa = Hyperswarm::new(&a, net.clone(), Config::default()).unwrap();
        let mut d = sa.join(TOPIC, JoinOpts::server().protocol(ECHO)).await.unwrap();
        assert!(d.flushed().await);

        let b = node().await;
        let sb = Hyperswarm::new(&b, net.clone(), Config::default()).unwrap();
        let mut conns = sb.connections().unwrap();
        let _j = sb.join(TOPIC, JoinOpts::client()).await.unwrap();
        let mut c = conns.recv().await.unwrap();
        assert!(c.stream.is_initiator());
        assert_eq!(c.stream.peer_id(), Some(a.id()), "the remote's key is its PeerId");
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        assert_eq!(roundtrip(&mut c, &data).await.unwrap(), data);

        let info = loop {
            if let Event::Connected { info, .. } = events.recv().await.unwrap() {
                break info;
            }
        };
        assert_eq!(info.peer, b.id());
        assert_eq!(info.transport, "hyperswarm");
        assert_eq!(info.naming, StreamNaming::Single);
        assert_eq!(sa.stats().await.unwrap().1, 1);
    })
    .await
    .unwrap();
}

/// Connects start only after 200 ms, so that both sides' attempts overlap.
struct Slow(MemoryNetwork);

#[async_trait::async_trait]
impl PeerNetwork for Slow {
    async fn announce(&self, t: [u8; 32], k: &Keypair, r: &[SocketAddrV4]) -> Result<(), NetworkError> {
        self.0.announce(t, k, r).await
    }
    async fn unannounce(&self, t: [u8; 32], k: &Keypair) -> Result<(), NetworkError> {
        self.0.unannounce(t, k).await
    }
    async fn lookup(&self, t: [u8; 32], found: mpsc::Sender<PeerRecord>) -> Result<(), NetworkError> {
        self.0.lookup(t, found).await
    }
    async fn connect(&self, k: &Keypair, remote: [u8; 32], r: &[SocketAddrV4]) -> Result<RawConnection, NetworkError> {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.0.connect(k, remote, r).await
    }
    async fn listen(&self, k: &Keypair) -> Result<Box<dyn PeerListener>, NetworkError> {
        self.0.listen(k).await
    }
}

#[tokio::test]
async fn two_peers_joining_both_ways_keep_one_connection() {
    tokio::time::timeout(T, async {
        let net = MemoryNetwork::new();
        let (a, b) = (node().await, node().await);
        let sa = Hyperswarm::new(&a, Slow(net.clone()), Config::default()).unwrap();
        let sb = Hyperswarm::new(&b, Slow(net.clone()), Config::default()).unwrap();
        let (mut ca, mut cb) = (sa.connections().unwrap(), sb.connections().unwrap());
        // Announce both first so that both lookups find the other: simultaneous connects.
        let (mut da, mut db) = (sa.join(TOPIC, JoinOpts::server()).await.unwrap(), sb.join(TOPIC, JoinOpts::server()).await.unwrap());
        assert!(da.flushed().await && db.flushed().await);
        let (_ja, _jb) = (sa.join(TOPIC, JoinOpts::client()).await.unwrap(), sb.join(TOPIC, JoinOpts::client()).await.unwrap());
        // Settle: each side ends with exactly one connection, and it works.
        let mut settled = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let (x, y) = (sa.stats().await.unwrap(), sb.stats().await.unwrap());
            if x.1 == 1 && y.1 == 1 && x.0.client_attempted + y.0.client_attempted >= 1 {
                settled = true;
                break;
            }
        }
        assert!(settled, "one connection per side");
        let both_attempted = sa.stats().await.unwrap().0.client_attempted > 0 && sb.stats().await.unwrap().0.client_attempted > 0;
        assert!(both_attempted, "the slowed connects overlapped");
        // Of the connections delivered, exactly one pair still carries data.
        let mut live = 0;
        let (mut all_a, mut all_b) = (Vec::new(), Vec::new());
        while let Ok(c) = ca.try_recv() {
            all_a.push(c);
        }
        while let Ok(c) = cb.try_recv() {
            all_b.push(c);
        }
        for c in &mut all_a {
            if c.stream.write_all(b"ping").await.is_ok() {
                for d in &mut all_b {
                    let mut buf = [0u8; 4];
                    if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(300), d.stream.read_exact(&mut buf)).await {
                        assert_eq!(&buf, b"ping");
                        assert_eq!(c.stream.is_initiator(), !d.stream.is_initiator());
                        // When both sides attempted, the duplicate rule kept the connection
                        // the greater key initiated (no data had flowed yet).
                        assert_eq!(c.stream.is_initiator(), sa.public_key() > sb.public_key());
                        live += 1;
                    }
                }
            }
        }
        assert_eq!(live, 1, "a: {} delivered, b: {} delivered", all_a.len(), all_b.len());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn leave_unannounces_the_topic() {
    tokio::time::timeout(T, async {
        let net = MemoryNetwork::new();
        let a = node().await;
        let sa = Hyperswarm::new(&a, net.clone(), Config::default()).unwrap();
        let mut d = sa.join(TOPIC, JoinOpts::server()).await.unwrap();
        assert!(d.flushed().await);
        let found = |net: MemoryNetwork| async move {
            let (tx, mut rx) = mpsc::channel(8);
            net.lookup(TOPIC, tx).await.unwrap();
            let mut n = 0;
            while rx.recv().await.is_some() {
                n += 1;
            }
            n
        };
        assert_eq!(found(net.clone()).await, 1);
        d.leave().await;
        assert_eq!(found(net.clone()).await, 0);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn join_peer_connects_without_a_topic_and_the_admission_hook_bans() {
    tokio::time::timeout(T, async {
        let net = MemoryNetwork::new();
        let a = echo_node().await;
        let sa = Hyperswarm::new(&a, net.clone(), Config::default()).unwrap();
        let mut d = sa.join([9; 32], JoinOpts::server().protocol(ECHO)).await.unwrap();
        assert!(d.flushed().await);

        let b = node().await;
        let sb = Hyperswarm::new(&b, net.clone(), Config::default()).unwrap();
        let mut conns = sb.connections().unwrap();
        sb.join_peer(sa.public_key()).await.unwrap();
        let mut c = conns.recv().await.unwrap();
        assert_eq!(roundtrip(&mut c, b"explicit").await.unwrap(), b"explicit");
        drop(c);

        // A refuses everybody now: its admission hook is the swarm's firewall.
        let c_node = node().await;
        a.set_admission(|_| false);
        let sc = Hyperswarm::new(&c_node, net.clone(), Config::default()).unwrap();
        let mut cc = sc.connections().unwrap();
        sc.join_peer(sa.public_key()).await.unwrap();
        let mut c = cc.recv().await.unwrap();
        assert!(roundtrip(&mut c, b"x").await.is_err(), "the refused connection is closed");
        let mut banned = false;
        for _ in 0..50 {
            if sa.stats().await.unwrap().0.banned_peers == 1 {
                banned = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(banned);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn flush_waits_for_discovery_and_attempts_and_bans_refuse() {
    tokio::time::timeout(T, async {
        let net = MemoryNetwork::new();
        let a = node().await;
        let sa = Hyperswarm::new(&a, net.clone(), Config::default()).unwrap();
        let (tx, mut got) = mpsc::channel(4);
        assert!(sa.on_connection(move |c| {
            let _ = tx.try_send(c);
        }));
        assert!(sa.connections().is_none(), "taken by on_connection");
        let mut d = sa.join(TOPIC, JoinOpts::server()).await.unwrap();
        assert!(d.flushed().await);

        let b = node().await;
        let sb = Hyperswarm::new(&b, net.clone(), Config::default()).unwrap();
        let mut conns = sb.connections().unwrap();
        let _j = sb.join(TOPIC, JoinOpts::client()).await.unwrap();
        sb.flush().await.unwrap();
        // Flushed: the lookup ran and the one peer found was tried (and connected).
        let (stats, open) = sb.stats().await.unwrap();
        assert_eq!((stats.client_attempted, stats.client_opened, open), (1, 1, 1));
        assert!(conns.recv().await.is_some());
        assert!(got.recv().await.is_some(), "the callback saw the inbound side");

        // A banned peer's new connections are refused.
        sa.ban(sb.public_key(), true).await.unwrap();
        let c = node().await;
        let sc = Hyperswarm::new(&c, net.clone(), Config::default()).unwrap();
        sc.ban(sa.public_key(), true).await.unwrap();
        let _jc = sc.join(TOPIC, JoinOpts::client()).await.unwrap();
        sc.flush().await.unwrap();
        assert_eq!(sc.stats().await.unwrap().0.client_attempted, 0, "banned peers are not dialed");
        assert!(sa.join(TOPIC, JoinOpts { server: false, client: false, protocol: None }).await.is_err());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_node_without_an_ed25519_key_is_refused() {
    use rhizome_identity::secp256k1;
    let key: rhizome_node::Keypair = secp256k1::Keypair::from(secp256k1::SecretKey::try_from_bytes([7; 32]).unwrap()).into();
    let n = Node::builder().keypair(key).build().await.unwrap();
    assert!(matches!(Hyperswarm::new(&n, MemoryNetwork::new(), Config::default()), Err(rhizome_hyperswarm::SwarmError::NotEd25519)));
}

#[tokio::test]
async fn a_dropped_connection_is_retried_after_the_backoff() {
    tokio::time::timeout(T, async {
        let net = MemoryNetwork::new();
        let (a, b) = (node().await, node().await);
        let sa = Hyperswarm::new(&a, net.clone(), Config::default()).unwrap();
        let mut ca = sa.connections().unwrap();
        let mut d = sa.join(TOPIC, JoinOpts::server()).await.unwrap();
        assert!(d.flushed().await);
        let sb = Hyperswarm::new(&b, net.clone(), Config::default()).unwrap();
        let mut cb = sb.connections().unwrap();
        let _j = sb.join(TOPIC, JoinOpts::client()).await.unwrap();
        // The server drops the first connection at once.
        drop(ca.recv().await.unwrap());
        let mut first = cb.recv().await.unwrap();
        let mut buf = [0u8; 1];
        assert!(matches!(first.stream.read(&mut buf).await, Ok(0) | Err(_)), "the first connection ended");
        drop(first);
        // Proven peer, one attempt: the short timer (1 s period + jitter) brings it back.
        let t = std::time::Instant::now();
        let mut again = cb.recv().await.unwrap();
        let mut served = ca.recv().await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(500), "waited for the backoff: {:?}", t.elapsed());
        again.stream.write_all(b"back").await.unwrap();
        let mut got = [0u8; 4];
        served.stream.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"back");
        assert_eq!(sb.stats().await.unwrap().0.client_attempted, 2);
    })
    .await
    .unwrap();
}
