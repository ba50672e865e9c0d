//! Scrapes a node's metrics over HTTP and watches them move as connections and
//! streams come and go.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rhizome_metrics::Metrics;
use rhizome_node::{Node, ProtocolId, Stream, StreamCtx};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const HOLD: ProtocolId = ProtocolId::from_static("/test/hold/1.0.0");

async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    out
}

/// The value of the sample whose line starts with `prefix` (name and labels).
fn value(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn counters_move_with_connections_and_streams() {
    rhizome_testing::timeout(async {
        let server = rhizome_testing::node_on("/ip4/127.0.0.1/tcp/0").await;
        server.handle(HOLD, |mut s: Stream, _ctx: StreamCtx| async move {
            let mut buf = [0u8; 1];
            s.read(&mut buf).await.map(|_| ())
        });
        let metrics = Metrics::new(&server);
        let endpoint = metrics.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let before = scrape(endpoint.local_addr()).await;
        assert_eq!(value(&before, r#"rhizome_connections_opened_total{direction="inbound",transport="tcp"}"#), None);

        let client = Node::builder().build().await.unwrap();
        client.dial(rhizome_testing::addr_of(&server)).await.unwrap();
        let mut stream = client.open_stream(server.id(), HOLD).await.unwrap();
        stream.write_all(b"x").await.unwrap_or(());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let during = scrape(endpoint.local_addr()).await;
        assert_eq!(value(&during, r#"rhizome_connections_opened_total{direction="inbound",transport="tcp"}"#), Some(1.0), "{during}");
        assert_eq!(value(&during, r#"rhizome_connections{direction="inbound",transport="tcp"}"#), Some(1.0));
        assert_eq!(value(&during, r#"rhizome_streams_opened_total{protocol="/test/hold/1.0.0",direction="inbound"}"#), Some(1.0));
        assert!(value(&during, "rhizome_transport_received_bytes_total").unwrap() > 0.0);

        drop(stream);
        client.shutdown().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let after = scrape(endpoint.local_addr()).await;
        assert_eq!(value(&after, r#"rhizome_connections_closed_total{direction="inbound",transport="tcp"}"#), Some(1.0), "{after}");
        assert_eq!(value(&after, r#"rhizome_connections{direction="inbound",transport="tcp"}"#), Some(0.0));
        assert_eq!(value(&after, r#"rhizome_streams{protocol="/test/hold/1.0.0",direction="inbound"}"#), Some(0.0));

        // Anything but GET /metrics is a 404.
        let mut s = tokio::net::TcpStream::connect(endpoint.local_addr()).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 404"));
    })
    .await
}

#[cfg(feature = "kad")]
#[tokio::test]
async fn kad_counters_move_with_queries_and_records() {
    use rhizome_kad as kad;
    rhizome_testing::timeout(async {
        let a = rhizome_testing::node_on("/ip4/127.0.0.1/tcp/0").await;
        let b = rhizome_testing::node_on("/ip4/127.0.0.1/tcp/0").await;
        let (ka, kb) = (kad::Kademlia::start(&a, kad::Config::server()), kad::Kademlia::start(&b, kad::Config::server()));
        let metrics = Metrics::with(&a, |r| rhizome_metrics::register_kad(r, &ka));
        let before = metrics.encode();
        assert_eq!(value(&before, "rhizome_kad_server_mode"), Some(1.0), "{before}");
        assert_eq!(value(&before, "rhizome_kad_queries_finished_total"), Some(0.0));
        assert_eq!(value(&before, "rhizome_kad_records"), Some(0.0));

        kb.add_peer(a.id(), a.listen_addrs());
        ka.add_peer(b.id(), b.listen_addrs());
        kb.put_value(b"key".to_vec(), b"value".to_vec(), kad::Quorum::One).await.unwrap();
        ka.get_closest_peers(b"anything").await.unwrap();
        let after = metrics.encode();
        assert_eq!(value(&after, "rhizome_kad_records"), Some(1.0), "{after}");
        assert!(value(&after, "rhizome_kad_queries_finished_total").unwrap() >= 1.0);
        assert!(value(&after, "rhizome_kad_query_requests_total").unwrap() >= 1.0);
        assert!(value(&after, r#"rhizome_kad_inbound_requests_total{result="served"}"#).unwrap() >= 1.0);
        assert_eq!(value(&after, "rhizome_kad_routing_table_peers"), Some(1.0));
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
}

#[cfg(feature = "hyperswarm")]
#[tokio::test]
async fn hyperswarm_counters_move_with_lookups_and_connections() {
    use rhizome_hyperswarm::{Config, Hyperswarm, JoinOpts, memory::MemoryNetwork};
    rhizome_testing::timeout(async {
        let net = MemoryNetwork::new();
        let topic = [9u8; 32];
        let a = Node::builder().build().await.unwrap();
        let b = Node::builder().build().await.unwrap();
        let swarm_a = Hyperswarm::new(&a, net.clone(), Config::default()).unwrap();
        let swarm_b = Hyperswarm::new(&b, net, Config::default()).unwrap();
        let metrics = Metrics::with(&b, |r| rhizome_metrics::register_hyperswarm(r, &swarm_b));
        let before = metrics.encode();
        assert_eq!(value(&before, "rhizome_hyperswarm_lookups_total"), Some(0.0), "{before}");
        let mut conns = swarm_b.connections().unwrap();
        let mut server = swarm_a.join(topic, JoinOpts::server()).await.unwrap();
        assert!(server.flushed().await);
        let mut client = swarm_b.join(topic, JoinOpts::client()).await.unwrap();
        assert!(client.flushed().await);
        let conn = conns.recv().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let during = metrics.encode();
        assert_eq!(value(&during, "rhizome_hyperswarm_lookups_total"), Some(1.0), "{during}");
        assert!(value(&during, "rhizome_hyperswarm_peers_found_total").unwrap() >= 1.0);
        assert_eq!(value(&during, r#"rhizome_hyperswarm_connections_opened_total{direction="outbound"}"#), Some(1.0));
        assert_eq!(value(&during, "rhizome_hyperswarm_connections"), Some(1.0));
        drop(conn);
        swarm_b.destroy().await;
        swarm_a.destroy().await;
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
}
