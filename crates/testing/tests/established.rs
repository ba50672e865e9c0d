//! Connections that arrive established (named streams, single stream) are
//! first-class: handlers serve them, limits count them, events report them, the idle
//! policy and shutdown close them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rhizome_node::{AddConnectionError, ConnectionLimits, Event, Node, ProtocolId, Stream, StreamCtx, StreamNaming};
use rhizome_testing::established::{TRANSPORT, connect_named, connect_single};
use rhizome_testing::timeout;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::broadcast;

const ECHO: ProtocolId = ProtocolId::from_static("/test/echo/1.0.0");
const CLIENT: ProtocolId = ProtocolId::from_static("/test/client/1.0.0");

async fn node(idle: Duration, limits: ConnectionLimits) -> Node {
    Node::builder().memory().idle_timeout(idle).limits(limits).build().await.unwrap()
}

fn echo(node: &Node, served: Arc<AtomicUsize>) {
    node.handle(ECHO, move |mut s: Stream, _ctx: StreamCtx| {
        served.fetch_add(1, Ordering::SeqCst);
        async move {
            let (mut r, mut w) = tokio::io::split(&mut s);
            tokio::io::copy(&mut r, &mut w).await?;
            w.shutdown().await
        }
    });
}

/// Writes `payload` and reads the echo at the same time (the link buffers less).
async fn round_trip(s: &mut Stream, payload: &[u8]) {
    let (mut r, mut w) = tokio::io::split(s);
    let write = async {
        w.write_all(payload).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let read = r.read_to_end(&mut back);
    let (_, n) = tokio::join!(write, read);
    n.unwrap();
    assert_eq!(back, payload);
}

/// The next `Connected` / `Disconnected` event, skipping others.
async fn next_conn_event(events: &mut broadcast::Receiver<Event>) -> Event {
    loop {
        let e = events.recv().await.unwrap();
        if matches!(e, Event::Connected { .. } | Event::Disconnected { .. }) {
            return e;
        }
    }
}

#[tokio::test]
async fn named_streams_are_served_reported_and_counted() {
    timeout(async {
        let (a, b) = (node(Duration::from_secs(60), Default::default()).await, node(Duration::from_secs(60), Default::default()).await);
        let served = Arc::new(AtomicUsize::new(0));
        echo(&b, served.clone());
        let (mut ea, mut eb) = (a.events(), b.events());
        connect_named(&a, &b).unwrap();
        for events in [&mut ea, &mut eb] {
            match next_conn_event(events).await {
                Event::Connected { info, .. } => {
                    assert_eq!(info.naming, StreamNaming::Named);
                    assert_eq!(info.transport, TRANSPORT);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // No multistream-select runs on a named stream: the handler gets it directly.
        for _ in 0..3 {
            let mut s = a.open_stream(b.id(), ECHO).await.unwrap();
            assert_eq!(s.protocol(), &ECHO);
            round_trip(&mut s, b"over a named stream").await;
        }
        assert_eq!(served.load(Ordering::SeqCst), 3);
        assert_eq!(a.connections().len(), 1);
        assert_eq!(b.connected_peers(), vec![a.id()]);
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn connection_limits_count_established_connections() {
    timeout(async {
        let limits = ConnectionLimits { max_established_incoming: Some(1), ..Default::default() };
        let b = node(Duration::from_secs(60), limits).await;
        let (a, c) = (node(Duration::from_secs(60), Default::default()).await, node(Duration::from_secs(60), Default::default()).await);
        connect_named(&a, &b).unwrap();
        match connect_named(&c, &b) {
            Err(AddConnectionError::Denied(limit)) => assert_eq!(limit, rhizome_node::LimitKind::EstablishedIncoming),
            other => panic!("expected the limit to refuse the second connection, got {other:?}"),
        }
        // The refused connection is closed on c's side too (the link ended).
        timeout(async {
            while !c.connections().is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert_eq!(b.connections().len(), 1);
    })
    .await
}

#[tokio::test]
async fn admission_hook_refuses_by_peer() {
    timeout(async {
        let (a, b) = (node(Duration::from_secs(60), Default::default()).await, node(Duration::from_secs(60), Default::default()).await);
        let banned = a.id();
        b.set_admission(move |info: &rhizome_node::ConnectionInfo| info.peer != banned);
        assert!(matches!(connect_named(&a, &b), Err(AddConnectionError::Refused)));
        assert!(b.connections().is_empty());
        // Over TCP+Noise+yamux too: the listener refuses after the handshake.
        let b_tcp = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).build().await.unwrap();
        let banned = a.id();
        b_tcp.set_admission(move |info: &rhizome_node::ConnectionInfo| info.peer != banned);
        let mut events = b_tcp.events();
        let a_tcp = Node::builder().keypair(a.keypair().clone()).build().await.unwrap();
        let _ = a_tcp.dial(rhizome_testing::addr_of(&b_tcp)).await;
        loop {
            if let Event::IncomingConnectionError { error, .. } = events.recv().await.unwrap() {
                assert!(matches!(error, rhizome_node::IncomingError::Refused), "{error:?}");
                break;
            }
        }
        assert!(b_tcp.connections().is_empty());
    })
    .await
}

#[tokio::test]
async fn idle_policy_closes_an_established_connection() {
    timeout(async {
        let a = node(Duration::from_millis(200), Default::default()).await;
        let b = node(Duration::from_secs(60), Default::default()).await;
        let mut events = a.events();
        let (_, _, probe) = connect_named(&a, &b).unwrap();
        assert!(matches!(next_conn_event(&mut events).await, Event::Connected { .. }));
        assert!(matches!(next_conn_event(&mut events).await, Event::Disconnected { remaining: 0, .. }));
        // a's graceful close ended the link: both drivers are gone.
        timeout(async {
            while probe.live() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        // b's end saw the link end and closed as well.
        timeout(async {
            while !b.connections().is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    })
    .await
}

#[tokio::test]
async fn shutdown_closes_established_connections_and_ends_their_drivers() {
    timeout(async {
        let (a, b) = (node(Duration::from_secs(60), Default::default()).await, node(Duration::from_secs(60), Default::default()).await);
        echo(&b, Arc::new(AtomicUsize::new(0)));
        let (_, _, probe) = connect_named(&a, &b).unwrap();
        assert_eq!(probe.live(), 2);
        // A stream left open does not keep the connection (or the driver) alive.
        let _held = a.open_stream(b.id(), ECHO).await.unwrap();
        let mut events = b.events();
        b.shutdown_within(Duration::from_secs(2)).await;
        assert!(b.connections().is_empty());
        assert!(matches!(next_conn_event(&mut events).await, Event::Disconnected { .. }));
        assert_eq!(probe.live(), 0, "the link's drivers ended with the node");
    })
    .await
}

#[tokio::test]
async fn single_stream_connection_is_served_then_closes_with_its_stream() {
    timeout(async {
        let (a, b) = (node(Duration::from_secs(60), Default::default()).await, node(Duration::from_secs(60), Default::default()).await);
        let served = Arc::new(AtomicUsize::new(0));
        echo(&b, served.clone());
        // a takes its end pull-style.
        let mut incoming = a.accept(CLIENT);
        let (mut ea, mut eb) = (a.events(), b.events());
        connect_single(&a, CLIENT, &b, ECHO).unwrap();
        let (mut s, ctx) = incoming.next().await.unwrap();
        assert_eq!(ctx.peer, b.id());
        assert_eq!(ctx.protocol, CLIENT);
        round_trip(&mut s, &vec![5u8; 200_000]).await;
        assert_eq!(served.load(Ordering::SeqCst), 1);
        // No stream can be opened on it; with no other way to reach b, a typed error.
        match a.open_stream(b.id(), ECHO).await {
            Err(rhizome_node::OpenStreamError::Dial(rhizome_node::DialError::NoAddresses(p))) => assert_eq!(p, b.id()),
            other => panic!("expected NoAddresses, got {other:?}"),
        }
        drop(s);
        for events in [&mut ea, &mut eb] {
            match next_conn_event(events).await {
                Event::Connected { info, .. } => assert_eq!(info.naming, StreamNaming::Single),
                other => panic!("unexpected {other:?}"),
            }
            assert!(matches!(next_conn_event(events).await, Event::Disconnected { remaining: 0, .. }));
        }
    })
    .await
}

#[tokio::test]
async fn one_handler_serves_tcp_and_single_stream_connections() {
    timeout(async {
        let b = Node::builder().tcp().memory().listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).build().await.unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        echo(&b, served.clone()); // registered once
        // A libp2p peer over TCP + Noise + yamux.
        let over_tcp = Node::builder().build().await.unwrap();
        over_tcp.dial(rhizome_testing::addr_of(&b)).await.unwrap();
        let mut s = over_tcp.open_stream(b.id(), ECHO).await.unwrap();
        round_trip(&mut s, b"over tcp").await;
        assert_eq!(b.connection_to(&over_tcp.id()).unwrap().info().naming, StreamNaming::Negotiated);
        // A peer whose connection is one already-secured stream.
        let single = node(Duration::from_secs(60), Default::default()).await;
        let mut incoming = single.accept(CLIENT);
        connect_single(&single, CLIENT, &b, ECHO).unwrap();
        let (mut s, _) = incoming.next().await.unwrap();
        round_trip(&mut s, b"over a single stream").await;
        assert_eq!(served.load(Ordering::SeqCst), 2, "the same handler served both");
    })
    .await
}

#[tokio::test]
async fn shutdown_cuts_a_single_stream_connection_held_by_its_handler() {
    timeout(async {
        let (a, b) = (node(Duration::from_secs(60), Default::default()).await, node(Duration::from_secs(60), Default::default()).await);
        // b's handler holds the stream and waits for data that never comes.
        b.handle(ECHO, |mut s: Stream, ctx: StreamCtx| async move {
            let mut buf = [0u8; 1];
            tokio::select! {
                r = s.read(&mut buf) => r.map(|_| ()),
                _ = ctx.shutdown.cancelled() => Ok(()),
            }
        });
        let mut incoming = a.accept(CLIENT);
        connect_single(&a, CLIENT, &b, ECHO).unwrap();
        let (mut s, _) = incoming.next().await.unwrap();
        b.shutdown_within(Duration::from_secs(2)).await;
        assert!(b.connections().is_empty());
        // a's end sees the stream end, and a's connection closes with it.
        let mut buf = [0u8; 1];
        assert_eq!(s.read(&mut buf).await.unwrap_or(0), 0);
        drop(s);
        timeout(async {
            while !a.connections().is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    })
    .await
}
