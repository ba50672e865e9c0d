//! Peer routing, and dialing ourselves on every path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rhizome_identity::KeypairExt as _;
use rhizome_node::{DialError, Multiaddr, Node, OpenStreamError, PeerId, PeerRouter, ProtocolId, RoutingError, Stream, StreamCtx};
use rhizome_testing::timeout;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const HELLO: ProtocolId = ProtocolId::from_static("/test/hello/1.0.0");

/// Knows one peer's addresses; counts lookups.
struct StaticRouter {
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    asked: AtomicUsize,
}

#[async_trait::async_trait]
impl PeerRouter for StaticRouter {
    fn name(&self) -> &'static str {
        "static"
    }

    async fn find_peer(&self, peer: PeerId) -> Result<Vec<Multiaddr>, RoutingError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if peer == self.peer { Ok(self.addrs.clone()) } else { Err(RoutingError::NotFound) }
    }
}

async fn tcp_node() -> Node {
    Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).build().await.unwrap()
}

#[tokio::test]
async fn open_stream_to_a_peer_only_a_router_knows() {
    timeout(async {
        let (a, b) = (tcp_node().await, tcp_node().await);
        b.handle(HELLO, |mut s: Stream, _ctx: StreamCtx| async move { s.write_all(b"hello").await });
        // Without a router: a typed error, no dial attempted.
        match a.open_stream(b.id(), HELLO).await {
            Err(OpenStreamError::Dial(DialError::NoAddresses(p))) => assert_eq!(p, b.id()),
            other => panic!("expected NoAddresses, got {other:?}"),
        }
        let router = Arc::new(StaticRouter { peer: b.id(), addrs: b.listen_addrs(), asked: AtomicUsize::new(0) });
        a.add_peer_router(router.clone()).unwrap();
        let mut s = a.open_stream(b.id(), HELLO).await.unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "hello");
        assert_eq!(router.asked.load(Ordering::SeqCst), 1);
        assert_eq!(a.address_book().get(&b.id()), b.listen_addrs(), "routed addresses are remembered");
        // A peer no router knows: NotFound, with the router's reason.
        let stranger = rhizome_testing::seeded_keypair(77).peer_id();
        match a.dial_peer(stranger).await {
            Err(DialError::NotFound { peer, source: Some(_) }) => assert_eq!(peer, stranger),
            other => panic!("expected NotFound, got {other:?}"),
        }
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn dialing_ourselves_fails_typed_on_every_path() {
    timeout(async {
        let a = tcp_node().await;
        let bare = a.listen_addrs()[0].clone();
        assert!(matches!(a.dial(bare).await, Err(DialError::SelfDial)), "by bare address");
        assert!(matches!(a.dial(rhizome_testing::addr_of(&a)).await, Err(DialError::SelfDial)), "by /p2p address");
        assert!(matches!(a.dial_peer(a.id()).await, Err(DialError::SelfDial)), "by peer id");
        assert!(matches!(a.open_stream(a.id(), HELLO).await, Err(OpenStreamError::SelfStream)), "by open_stream");
        assert!(a.connections().is_empty());
    })
    .await
}
