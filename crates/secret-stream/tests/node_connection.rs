//! A secret-stream connection from a Node.js Hyperswarm peer is a Rhizome connection:
//! handed to the node as an established single-stream connection, its remote key is
//! its `PeerId`, and the same handler that serves libp2p peers serves it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use node::{NodePeer, TEST_TIMEOUT, hex};
use rhizome_identity::{KeypairExt as _, PublicKeyExt as _};
use rhizome_node::{Direction, EstablishedConnection, Event, Multiaddr, Node, ProtocolId, PublicKey, Stream, StreamCtx, StreamNaming};
use rhizome_secret_stream::{Config, Keypair, SecretStream};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

const ECHO: ProtocolId = ProtocolId::from_static("/rhizome-test/echo/1.0.0");
const NODE_SEED: [u8; 32] = [0x33; 32];

fn tcp_addr(a: std::net::SocketAddr) -> Multiaddr {
    format!("/ip4/{}/tcp/{}", a.ip(), a.port()).parse().unwrap()
}

#[tokio::test]
async fn one_echo_handler_serves_a_libp2p_peer_and_a_node_secret_stream_peer() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = Node::builder()
            .keypair(rhizome_identity::Keypair::from_seed([0x44; 32]))
            .listen("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .build()
            .await
            .unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        node.handle(ECHO, move |mut s: Stream, _ctx: StreamCtx| {
            count.fetch_add(1, Ordering::SeqCst);
            async move {
                let (mut r, mut w) = tokio::io::split(&mut s);
                tokio::io::copy(&mut r, &mut w).await?;
                w.shutdown().await
            }
        });
        let mut events = node.events();

        // A libp2p peer over TCP + Noise + yamux.
        let libp2p = Node::builder().build().await.unwrap();
        let addr = rhizome_identity::with_peer_id(&node.listen_addrs()[0], node.id());
        libp2p.dial(addr).await.unwrap();
        let mut s = libp2p.open_stream(node.id(), ECHO).await.unwrap();
        s.write_all(b"from libp2p").await.unwrap();
        s.shutdown().await.unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"from libp2p");

        // A Node.js @hyperswarm/secret-stream peer, with our identity key as its Noise key.
        let ours = Keypair::from_seed(&node.keypair().ed25519_seed().unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bytes = 1 << 20;
        let mut peer = NodePeer::spawn(json!({
            "role": "initiator", "mode": "xx", "seed": hex(&NODE_SEED), "bytes": bytes,
            "connect": listener.local_addr().unwrap().port(), "remotePublicKey": hex(&ours.public_key()),
        }))
        .unwrap();
        let (tcp, remote) = listener.accept().await.unwrap();
        let local = tcp.local_addr().unwrap();
        let stream = SecretStream::handshake(tcp, false, ours, &Config::default()).await.unwrap();
        let remote_key = PublicKey::from_ed25519_bytes(stream.remote_public_key()).unwrap();
        let peer_id = remote_key.to_peer_id();
        let conn =
            EstablishedConnection::single_stream(peer_id, tcp_addr(local), tcp_addr(remote), "secret-stream", Box::new(stream), ECHO);
        node.add_connection(conn, Direction::Inbound).unwrap();

        // Node sent 1 MiB and got the same bytes back from our echo handler.
        let report = peer.next_json().await.unwrap();
        assert!(report.get("error").is_none(), "node failed: {report}");
        assert_eq!(report["receivedBytes"], json!(bytes));
        assert_eq!(report["received"], report["sent"], "the echo came back intact");
        assert_eq!(peer.wait().await.unwrap(), Some(0), "node exited cleanly");
        assert_eq!(served.load(Ordering::SeqCst), 2, "one handler served both peers");

        // Both connections were reported; the secret-stream one is single-stream, from the Node key.
        let mut seen = Vec::new();
        while seen.len() < 2 {
            if let Event::Connected { info, .. } = events.recv().await.unwrap() {
                seen.push(info);
            }
        }
        let hs = seen.iter().find(|i| i.naming == StreamNaming::Single).expect("the secret-stream connection");
        assert_eq!(hs.peer, peer_id);
        assert_eq!(hs.transport, "secret-stream");
        assert_eq!(hex(&remote_key.clone().try_into_ed25519().unwrap().to_bytes()), hex(&Keypair::from_seed(&NODE_SEED).public_key()));
        node.shutdown().await;
    })
    .await
    .expect("test timed out");
}
