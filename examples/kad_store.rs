//! kad-store: a record and a provider record stored in a Kademlia DHT, and read back
//! from another node.
//!
//!   cargo run -p rhizome-examples --bin kad-store -- demo            # 5 nodes in-process
//!   cargo run -p rhizome-examples --bin kad-store -- serve           # a DHT server; prints its address
//!   cargo run -p rhizome-examples --bin kad-store -- put <server address> <key> <value>
//!   cargo run -p rhizome-examples --bin kad-store -- get <server address> <key>

use rhizome::kad::{self, Kademlia, Quorum};
use rhizome::{Multiaddr, Node};

/// A node on 127.0.0.1 with identify and Kademlia (`config`).
async fn start(config: kad::Config) -> anyhow::Result<(Node, Kademlia)> {
    let node = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse()?).build().await?;
    rhizome::identify::Identify::start(&node, rhizome::identify::Config::default());
    let kad = Kademlia::start(&node, config);
    Ok((node, kad))
}

fn address(node: &Node) -> Multiaddr {
    rhizome::identity::with_peer_id(&node.listen_addrs()[0], node.id())
}

/// A client that bootstraps from `server`.
async fn client(server: &str) -> anyhow::Result<(Node, Kademlia)> {
    let config = kad::Config { bootstrap_peers: vec![server.parse()?], ..kad::Config::default() };
    let (node, kad) = start(config).await?;
    kad.bootstrap().await?;
    Ok((node, kad))
}

async fn demo() -> anyhow::Result<()> {
    let mut nodes = Vec::new();
    for _ in 0..5 {
        nodes.push(start(kad::Config::server()).await?);
    }
    let hub = address(&nodes[0].0);
    for (node, _) in &nodes[1..] {
        node.dial(hub.clone()).await?;
    }
    for (_, kad) in &nodes {
        // The hub has to have checked everyone's connection before lookups find them.
        for _ in 0..250 {
            if kad.stats().routing_table_peers > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        kad.bootstrap().await?;
    }
    let (writer, reader) = (&nodes[1].1, &nodes[4].1);
    let stored = writer.put_value(b"greeting".to_vec(), b"hello, DHT".to_vec(), Quorum::Majority).await?;
    println!("put: stored on {stored} peers");
    let record = reader.get_value(b"greeting".to_vec()).await?;
    println!("get: {}", String::from_utf8_lossy(&record.value));
    writer.start_providing(b"some-content".to_vec()).await?;
    for p in reader.find_providers(b"some-content".to_vec()).await? {
        println!("provider: {} at {:?}", p.id, p.addrs);
    }
    println!("stats: {:?}", reader.stats());
    for (node, _) in nodes {
        node.shutdown().await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["demo"] => demo().await?,
        ["serve"] => {
            let (node, _kad) = start(kad::Config::server()).await?;
            println!("{}", address(&node));
            tokio::signal::ctrl_c().await?;
            node.shutdown().await;
        }
        ["put", server, key, value] => {
            let (node, kad) = client(server).await?;
            let stored = kad.put_value(key.as_bytes().to_vec(), value.as_bytes().to_vec(), Quorum::One).await?;
            println!("stored on {stored} peers");
            node.shutdown().await;
        }
        ["get", server, key] => {
            let (node, kad) = client(server).await?;
            let record = kad.get_value(key.as_bytes().to_vec()).await?;
            println!("{}", String::from_utf8_lossy(&record.value));
            node.shutdown().await;
        }
        _ => anyhow::bail!("usage: kad-store demo | serve | put <addr> <key> <value> | get <addr> <key>"),
    }
    Ok(())
}
