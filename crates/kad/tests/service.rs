//! The service on real nodes (in-memory transport and TCP on 127.0.0.1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rhizome_core::framing;
use rhizome_kad as kad;
use rhizome_node::{Node, PeerId};
use rhizome_testing::{addr_of, memory_node, timeout, timeout_after};
use tokio::io::AsyncWriteExt as _;

/// `n` server nodes with identify, each dialed to node 0, bootstrapped.
async fn dht(n: usize, config: kad::Config) -> Vec<(Node, kad::Kademlia)> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        let node = memory_node().await;
        rhizome_identify::Identify::start(&node, rhizome_identify::Config::default());
        let kad = kad::Kademlia::start(&node, config.clone());
        nodes.push((node, kad));
    }
    let hub = addr_of(&nodes[0].0);
    for (node, _) in nodes.iter().skip(1) {
        node.dial(hub.clone()).await.unwrap();
    }
    // Node 0 learns everyone by checking their connections; the others learn node 0.
    for (i, (_, kad)) in nodes.iter().enumerate() {
        let want = if i == 0 { n - 1 } else { 1 };
        wait_for(|| kad.stats().routing_table_peers >= want).await;
    }
    for (_, kad) in nodes.iter().skip(1) {
        kad.bootstrap().await.unwrap();
    }
    nodes
}

async fn wait_for(mut f: impl FnMut() -> bool) {
    timeout(async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

async fn shutdown(nodes: Vec<(Node, kad::Kademlia)>) {
    for (node, _) in nodes {
        node.shutdown().await;
    }
}

#[tokio::test]
async fn find_node_put_get_and_providers() {
    timeout_after(Duration::from_secs(30), async {
        let nodes = dht(6, kad::Config::server()).await;
        let (first, last) = (&nodes[1].1, &nodes[5].1);
        // Everyone found everyone through the hub.
        for (_, kad) in &nodes {
            assert_eq!(kad.stats().routing_table_peers, 5, "{:?}", kad.stats());
        }
        let target = nodes[4].0.id();
        let addrs = first.find_node(target).await.unwrap();
        assert_eq!(addrs, nodes[4].0.listen_addrs());
        let closest = first.get_closest_peers(b"some key").await.unwrap();
        assert_eq!(closest.len(), 5);

        let stored = first.put_value(b"greeting".to_vec(), b"hello".to_vec(), kad::Quorum::All).await.unwrap();
        assert_eq!(stored, 5);
        let record = last.get_value(b"greeting".to_vec()).await.unwrap();
        assert_eq!(record.value, b"hello");
        assert_eq!(record.publisher, Some(nodes[1].0.id()));
        assert!(matches!(last.get_value(b"missing".to_vec()).await, Err(kad::QueryError::NotFound)));

        let announced = first.start_providing(b"content".to_vec()).await.unwrap();
        assert_eq!(announced, 5);
        let providers = last.find_providers(b"content".to_vec()).await.unwrap();
        assert_eq!(providers.iter().map(|p| p.id).collect::<Vec<_>>(), vec![nodes[1].0.id()]);
        assert_eq!(providers[0].addrs, nodes[1].0.listen_addrs());
        let stats = last.stats();
        assert!(stats.queries >= 3 && stats.store.records == 1, "{stats:?}");
        shutdown(nodes).await;
    })
    .await
}

#[tokio::test]
async fn open_stream_finds_unknown_peers_through_the_dht() {
    timeout_after(Duration::from_secs(30), async {
        let nodes = dht(3, kad::Config::server()).await;
        let (b, c) = (&nodes[1].0, &nodes[2].0);
        b.set_stream_handler("/echo/1.0.0", |mut s: rhizome_node::Stream, _ctx: rhizome_node::StreamCtx| async move {
            s.write_all(b"hi").await?;
            s.shutdown().await
        })
        .unwrap();
        // c knows b only through the DHT: the swarm asks its peer routers.
        c.disconnect(&b.id()).await;
        for a in c.address_book().get(&b.id()) {
            c.address_book().remove(&b.id(), &a);
        }
        assert!(c.address_book().get(&b.id()).is_empty());
        let mut s = c.open_stream(b.id(), "/echo/1.0.0").await.unwrap();
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut got).await.unwrap();
        assert_eq!(got, b"hi");
        shutdown(nodes).await;
    })
    .await
}

#[tokio::test]
async fn clients_refuse_inbound_and_stay_out_of_tables() {
    timeout(async {
        let server = memory_node().await;
        let server_kad = kad::Kademlia::start(&server, kad::Config::server());
        let client = memory_node().await;
        let client_kad = kad::Kademlia::start(&client, kad::Config::default());
        assert_eq!(client_kad.mode(), kad::Mode::Client);
        client.dial(addr_of(&server)).await.unwrap();
        // The client learns the server; the server's check of the client is refused.
        wait_for(|| client_kad.stats().routing_table_peers == 1).await;
        assert!(server.open_stream(client.id(), kad::PROTOCOL.as_str()).await.is_err());
        assert_eq!(server_kad.stats().routing_table_peers, 0);
        // A confirmed external address turns the automatic mode to server.
        let mut events = client_kad.subscribe();
        client.add_external_addr("/ip4/127.0.0.1/tcp/4001".parse().unwrap());
        loop {
            if let kad::Event::ModeChanged { mode } = events.recv().await.unwrap() {
                assert_eq!(mode, kad::Mode::Server);
                break;
            }
        }
        assert!(server.open_stream(client.id(), kad::PROTOCOL.as_str()).await.is_ok());
        client.shutdown().await;
        server.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn set_mode_overrides_at_run_time() {
    timeout(async {
        let server = memory_node().await;
        let _server_kad = kad::Kademlia::start(&server, kad::Config::server());
        let client = memory_node().await;
        // Automatic mode with a confirmed external address: server.
        client.add_external_addr("/ip4/127.0.0.1/tcp/4001".parse().unwrap());
        let kad = kad::Kademlia::start(&client, kad::Config::default());
        assert_eq!(kad.mode(), kad::Mode::Server);
        client.dial(addr_of(&server)).await.unwrap();
        let mut events = kad.subscribe();
        // Forced client (as AutoNAT does behind a NAT): the handler goes at once.
        kad.set_mode(Some(kad::Mode::Client));
        assert_eq!(kad.mode(), kad::Mode::Client);
        assert_eq!(next_mode(&mut events).await, kad::Mode::Client);
        assert!(server.open_stream(client.id(), kad::PROTOCOL.as_str()).await.is_err());
        // Setting the same mode again emits nothing; back to automatic: server again.
        kad.set_mode(Some(kad::Mode::Client));
        kad.set_mode(None);
        assert_eq!(next_mode(&mut events).await, kad::Mode::Server, "the repeated Client emitted nothing");
        assert!(server.open_stream(client.id(), kad::PROTOCOL.as_str()).await.is_ok());
        // The override also beats a configured mode.
        kad.set_mode(Some(kad::Mode::Client));
        client.add_external_addr("/ip4/127.0.0.1/tcp/4002".parse().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(kad.mode(), kad::Mode::Client, "a new external address does not undo the override");
        client.shutdown().await;
        server.shutdown().await;
    })
    .await
}

async fn next_mode(events: &mut tokio::sync::broadcast::Receiver<kad::Event>) -> kad::Mode {
    loop {
        if let kad::Event::ModeChanged { mode } = events.recv().await.unwrap() {
            return mode;
        }
    }
}

/// Raw request on a new stream; returns the raw reply (None: the stream ended).
async fn raw(node: &Node, peer: PeerId, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut s = node.open_stream(peer, kad::PROTOCOL.as_str()).await.unwrap();
    s.write_all(bytes).await.ok()?;
    framing::read_length_prefixed(&mut s, 1 << 20).await.ok()
}

#[tokio::test]
async fn bad_input_is_refused_without_harm() {
    timeout(async {
        let server = memory_node().await;
        let store = kad::StoreConfig { max_value_size: 1000, ..Default::default() };
        let config = kad::Config { max_message_size: 4096, store, ..kad::Config::server() };
        let server_kad = kad::Kademlia::start(&server, config);
        let client = memory_node().await;
        client.dial(addr_of(&server)).await.unwrap();
        let peer = server.id();
        let framed = |body: &[u8]| {
            let mut out = Vec::new();
            framing::encode_length_prefixed(body, &mut out);
            out
        };
        // Over-size length prefix, garbage protobuf, unknown message type, bad varint.
        assert!(raw(&client, peer, &framed(&vec![0u8; 5000])).await.is_none());
        assert!(raw(&client, peer, &framed(&[0xff, 0xff, 0xff, 0xff])).await.is_none());
        assert!(raw(&client, peer, &framed(&[0x08, 0x2a])).await.is_none());
        assert!(raw(&client, peer, &[0xff; 12]).await.is_none());
        // A record over the value limit is refused; one under it is stored.
        let big = kad::Request::PutValue { record: kad::Record::new(b"k".to_vec(), vec![1u8; 3000]) }.encode();
        assert!(raw(&client, peer, &framed(&big)).await.is_none(), "over max_value_size: refused");
        let ok = kad::Request::PutValue { record: kad::Record::new(b"k".to_vec(), vec![1u8; 900]) }.encode();
        assert!(raw(&client, peer, &framed(&ok)).await.is_some(), "under both limits: stored");
        // Still serving, and several requests work on one stream.
        let mut s = client.open_stream(peer, kad::PROTOCOL.as_str()).await.unwrap();
        for _ in 0..3 {
            let req = kad::Request::GetValue { key: b"k".to_vec() }.encode();
            framing::write_length_prefixed(&mut s, &req).await.unwrap();
            let reply = framing::read_length_prefixed(&mut s, 1 << 20).await.unwrap();
            let kad::Response::GetValue { record, .. } = kad::Response::decode(&reply, kad::proto::message::MessageType::GetValue).unwrap()
            else {
                panic!("GET_VALUE reply")
            };
            assert_eq!(record.unwrap().value.len(), 900);
        }
        let stats = server_kad.stats();
        assert_eq!(stats.inbound.refused, 1, "{stats:?}");
        assert_eq!(stats.malformed_inbound, 4, "{stats:?}");
        assert_eq!(stats.store.records, 1);
        client.shutdown().await;
        server.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn a_flood_of_puts_and_providers_from_one_peer_is_bounded() {
    timeout_after(Duration::from_secs(30), async {
        let server = memory_node().await;
        let store = kad::StoreConfig { max_records_per_peer: 50, max_provided_per_peer: 30, ..Default::default() };
        let server_kad = kad::Kademlia::start(&server, kad::Config { store, ..kad::Config::server() });
        let client = memory_node().await;
        client.dial(addr_of(&server)).await.unwrap();
        let me = kad::Peer { id: client.id(), addrs: vec!["/ip4/127.0.0.1/tcp/1".parse().unwrap()] };
        let mut accepted = 0;
        // 10 streams of 40 PUT_VALUE requests, then 10 streams of 40 ADD_PROVIDER; a
        // refused request resets its stream, and the flood goes on with the next.
        for batch in 0..10u32 {
            let mut s = client.open_stream(server.id(), kad::PROTOCOL.as_str()).await.unwrap();
            for i in 0..40u32 {
                let key = (batch * 1000 + i).to_be_bytes().to_vec();
                let put = kad::Request::PutValue { record: kad::Record::new(key, vec![7u8; 512]) }.encode();
                if framing::write_length_prefixed(&mut s, &put).await.is_err() {
                    break;
                }
                match framing::read_length_prefixed(&mut s, 1 << 20).await {
                    Ok(_) => accepted += 1,
                    Err(_) => break,
                }
            }
        }
        for batch in 0..10u32 {
            let mut s = client.open_stream(server.id(), kad::PROTOCOL.as_str()).await.unwrap();
            for i in 0..40u32 {
                let key = (batch * 1000 + i).to_be_bytes().to_vec();
                let add = kad::Request::AddProvider { key, providers: vec![me.clone()] }.encode();
                if framing::write_length_prefixed(&mut s, &add).await.is_err() {
                    break;
                }
            }
            let _ = s.shutdown().await;
            // No replies to wait for: give the server a moment to read.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        wait_for(|| server_kad.stats().store.provider_keys == 30).await;
        let stats = server_kad.stats();
        println!("flood: {accepted} puts accepted, store {:?}", stats.store);
        assert_eq!(stats.store.records, 50, "capped per peer");
        assert_eq!(stats.store.provider_keys, 30, "capped per peer");
        assert!(stats.store.record_bytes <= 50 * (512 + 4));
        assert_eq!(accepted, 50);
        client.shutdown().await;
        server.shutdown().await;
    })
    .await
}

/// Short lifetimes and intervals, so maintenance runs within the test.
fn fast() -> kad::Config {
    let store = kad::StoreConfig {
        record_ttl: Duration::from_millis(1500),
        publication_interval: Duration::from_millis(300),
        replication_interval: Duration::from_millis(300),
        provider_publication_interval: Duration::from_millis(300),
        ..Default::default()
    };
    kad::Config {
        store,
        maintenance_interval: Duration::from_millis(100),
        refresh_interval: Duration::from_millis(200),
        ..kad::Config::server()
    }
}

#[tokio::test]
async fn maintenance_republishes_expires_and_refreshes() {
    timeout_after(Duration::from_secs(30), async {
        let nodes = dht(2, fast()).await;
        let (a, b) = (&nodes[0], &nodes[1]);
        a.1.put_value(b"k".to_vec(), b"v".to_vec(), kad::Quorum::One).await.unwrap();
        a.1.start_providing(b"p".to_vec()).await.unwrap();
        // A node that joins later (through b only) gets the record and the provider
        // record by republishing, without asking.
        let late = memory_node().await;
        rhizome_identify::Identify::start(&late, rhizome_identify::Config::default());
        let late_kad = kad::Kademlia::start(&late, fast());
        late.dial(addr_of(&b.0)).await.unwrap();
        wait_for(|| late_kad.stats().store.records == 1 && late_kad.stats().store.provider_keys == 1).await;
        // Buckets are refreshed on their own: queries keep being started.
        let before = late_kad.stats().queries;
        wait_for(|| late_kad.stats().queries > before + 2).await;
        // Records held for others expire once nobody republishes them.
        a.0.shutdown().await;
        b.0.shutdown().await;
        wait_for(|| late_kad.stats().store.records == 0).await;
        late.shutdown().await;
    })
    .await
}

/// Picks the longest value (a stand-in for "newest").
struct Longest;

impl kad::Validator for Longest {
    fn validate(&self, _key: &[u8], _value: &[u8]) -> Result<(), kad::ValidationError> {
        Ok(())
    }

    fn select(&self, _key: &[u8], values: &[&[u8]]) -> usize {
        (0..values.len()).max_by_key(|i| values[*i].len()).unwrap_or(0)
    }
}

#[tokio::test]
async fn get_value_with_a_quorum_selects_and_corrects() {
    timeout_after(Duration::from_secs(30), async {
        let config = kad::Config { validator: std::sync::Arc::new(Longest), cache_on_lookup: false, ..kad::Config::server() };
        let nodes = dht(4, config).await;
        // Two holders disagree: node 1 has the old value, node 2 the new one.
        let put = |value: &'static [u8]| kad::Request::PutValue { record: kad::Record::new(b"k".to_vec(), value.to_vec()) }.encode();
        for (holder, value) in [(1usize, &b"old"[..]), (2, &b"newer"[..])] {
            let mut s = nodes[3].0.open_stream(nodes[holder].0.id(), kad::PROTOCOL.as_str()).await.unwrap();
            framing::write_length_prefixed(&mut s, &put(value)).await.unwrap();
            framing::read_length_prefixed(&mut s, 1 << 20).await.unwrap();
        }
        let reader = &nodes[3].1;
        let record = reader.get_value_quorum(b"k".to_vec(), 2).await.unwrap();
        assert_eq!(record.value, b"newer");
        // The holder of the old value was corrected.
        timeout(async {
            while !nodes[1].1.get_value(b"k".to_vec()).await.is_ok_and(|r| r.value == b"newer") {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        shutdown(nodes).await;
    })
    .await
}

/// More peers connect at once than there are probe slots: the others wait their turn
/// instead of being forgotten, and all enter the hub's table.
#[tokio::test]
async fn new_peers_beyond_the_probe_slots_wait_their_turn() {
    timeout_after(Duration::from_secs(60), async {
        let mut config = kad::Config::server();
        config.max_concurrent_probes = 2;
        // `dht` waits until node 0 has all 23 others in its table.
        let nodes = dht(24, config).await;
        assert_eq!(nodes[0].1.stats().routing_table_peers, 23);
        shutdown(nodes).await;
    })
    .await
}
