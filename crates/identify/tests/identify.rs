//! identify between two Rhizome nodes (interop with other stacks is in interop-tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rhizome_identify::{AGENT_VERSION, Config, Event, Identify};
use rhizome_testing::{pair_tcp, timeout};

async fn next_received(events: &mut tokio::sync::broadcast::Receiver<Event>) -> rhizome_identify::Info {
    loop {
        if let Event::Received { info, .. } = events.recv().await.expect("events") {
            return info;
        }
    }
}

#[tokio::test]
async fn both_sides_identify_every_new_connection() {
    rhizome_testing::init_tracing();
    timeout(async {
        let a = rhizome_testing::node_on("/ip4/127.0.0.1/tcp/0").await;
        let b = rhizome_testing::node_on("/ip4/127.0.0.1/tcp/0").await;
        let (ia, ib) = (Identify::start(&a, Config::default()), Identify::start(&b, Config::default()));
        rhizome_ping::serve(&b, &rhizome_ping::Config::default());
        let (mut ea, mut eb) = (ia.subscribe(), ib.subscribe());
        a.dial(rhizome_testing::addr_of(&b)).await.expect("dial");

        let about_b = next_received(&mut ea).await;
        assert_eq!(about_b.peer_id(), b.id());
        assert_eq!(about_b.agent_version, AGENT_VERSION);
        assert!(about_b.protocols.iter().any(|p| p == "/ipfs/ping/1.0.0"));
        assert!(about_b.protocols.iter().any(|p| p == "/ipfs/id/push/1.0.0"));
        assert_eq!(about_b.listen_addrs, b.listen_addrs());
        // b saw our connection come from a's ephemeral port: that is our observed address.
        let conn = a.connections().pop().expect("connection");
        assert_eq!(about_b.observed_addr.as_ref(), Some(&conn.local_addr));

        let about_a = next_received(&mut eb).await;
        assert_eq!(about_a.peer_id(), a.id());
        assert_eq!(about_a.observed_addr.as_ref(), Some(&b.connections()[0].local_addr));
        assert_eq!(ia.info(&b.id()), Some(about_b));
    })
    .await
}

#[tokio::test]
async fn push_updates_what_the_peer_knows() {
    timeout(async {
        let (a, b) = pair_tcp().await;
        let (ia, ib) = (Identify::start(&a, Config::default()), Identify::start(&b, Config::default()));
        ia.identify(b.id()).await.expect("identify");
        ib.identify(a.id()).await.expect("identify");
        let mut eb = ib.subscribe();
        a.set_stream_handler("/new/1.0.0", |_s: rhizome_node::Stream, _c: rhizome_node::StreamCtx| async { Ok::<(), std::io::Error>(()) })
            .expect("handler");
        ia.push(b.id()).await.expect("push");
        loop {
            if let Event::Pushed { peer, info } = eb.recv().await.expect("event") {
                assert_eq!(peer, a.id());
                assert!(info.protocols.iter().any(|p| p == "/new/1.0.0"));
                break;
            }
        }
        assert!(ib.info(&a.id()).expect("stored").protocols.iter().any(|p| p == "/new/1.0.0"));
    })
    .await
}

#[tokio::test]
async fn listen_addresses_feed_the_address_book_and_observations_confirm_external_addresses() {
    timeout(async {
        let server = rhizome_testing::node_on("/ip4/127.0.0.1/tcp/0").await;
        let _is = Identify::start(&server, Config::default());
        let mut events = server.events();
        let mut clients = Vec::new();
        for _ in 0..2 {
            let c = rhizome_testing::node_on("/ip4/127.0.0.1/tcp/0").await;
            let ic = Identify::start(&c, Config::default());
            let mut ec = ic.subscribe();
            c.dial(rhizome_testing::addr_of(&server)).await.expect("dial");
            next_received(&mut ec).await;
            clients.push((c, ic));
        }
        // The server learned each client's listen address from identify alone (it was
        // dialed, so its address book had nothing for them before).
        for (c, _) in &clients {
            timeout(async {
                while !server.address_book().get(&c.id()).contains(&c.listen_addrs()[0]) {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            })
            .await;
        }
        // Two distinct peers saw the server at its listen address: confirmed external.
        loop {
            if let rhizome_node::Event::ExternalAddrConfirmed { addr } = events.recv().await.expect("event") {
                assert_eq!(addr, server.listen_addrs()[0]);
                break;
            }
        }
        assert_eq!(server.external_addrs(), server.listen_addrs());
        assert!(clients[0].0.external_addrs().is_empty(), "one observer is not enough");
    })
    .await
}

/// Nodes whose own identity keys are secp256k1 and RSA (the committed test key, see
/// interop-tests/fixtures/README.md) connect and identify each other.
#[tokio::test]
async fn nodes_with_secp256k1_and_rsa_keys() {
    use rhizome_identity::{KeyType, Keypair, secp256k1};
    timeout(async {
        let secp: Keypair = secp256k1::Keypair::from(secp256k1::SecretKey::try_from_bytes([7; 32]).unwrap()).into();
        let rsa = Keypair::rsa_from_pkcs8(&mut include_bytes!("../../../interop-tests/fixtures/rsa-2048.pk8").to_vec()).unwrap();
        let node = |kp: Keypair| rhizome_node::Node::builder().keypair(kp).tcp().listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).build();
        let (a, b) = (node(secp.clone()).await.unwrap(), node(rsa.clone()).await.unwrap());
        assert_eq!(a.id(), secp.public().to_peer_id());
        assert_eq!(b.id(), rsa.public().to_peer_id());
        let (ia, ib) = (Identify::start(&a, Config::default()), Identify::start(&b, Config::default()));
        a.dial(rhizome_testing::addr_of(&b)).await.expect("dial");
        let about_b = ia.identify(b.id()).await.expect("a identifies b");
        assert_eq!(about_b.public_key.key_type(), KeyType::RSA);
        assert_eq!(about_b.peer_id(), b.id());
        let about_a = ib.identify(a.id()).await.expect("b identifies a");
        assert_eq!(about_a.public_key.key_type(), KeyType::Secp256k1);
        assert_eq!(about_a.public_key, secp.public());
    })
    .await
}
