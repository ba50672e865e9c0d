//! Rust hyperdht peers for the NAT lab (`tests/nat.rs`): the same exchange and JSON lines
//! as `interop-tests/hyperswarm/nat-peer.mjs` (send BYTES, end, read to the end, SHA-256
//! of both directions; the stream's remote address shows whether the path is direct).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rhizome_hyperdht::rpc::Config;
use rhizome_hyperdht::{Dht, Keypair, SecretStream};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn parse32(s: &str) -> anyhow::Result<[u8; 32]> {
    let v: Vec<u8> = (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16)).collect::<Result<_, _>>()?;
    v.try_into().map_err(|_| anyhow::anyhow!("need 32 hex bytes"))
}

async fn exchange(s: SecretStream<rhizome_udx::Stream>, bytes: usize) -> anyhow::Result<serde_json::Value> {
    let remote = hex(s.remote_public_key());
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ bytes as u64;
    let data: Vec<u8> = (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let sent = hex(&Sha256::digest(&data));
    let (mut r, mut w) = tokio::io::split(s);
    let writer = async move {
        for c in data.chunks(64 * 1024) {
            w.write_all(c).await?;
        }
        w.shutdown().await?;
        anyhow::Ok(w)
    };
    let reader = async move {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await?;
        anyhow::Ok(got)
    };
    let (_w, got) = tokio::try_join!(writer, reader)?;
    Ok(serde_json::json!({
        "event": "conn", "remote": remote, "sent": sent, "received": hex(&Sha256::digest(&got)), "receivedBytes": got.len(),
    }))
}

async fn dht(boot: SocketAddrV4, host: Ipv4Addr) -> anyhow::Result<Arc<Dht>> {
    Ok(Arc::new(Dht::bind(SocketAddrV4::new(host, 0), vec![boot], Config::default()).await?))
}

/// `hdht-client BOOT PK BYTES --host H`.
pub(crate) async fn client(boot: SocketAddrV4, pk: &str, bytes: usize, host: Ipv4Addr) -> anyhow::Result<usize> {
    let dht = dht(boot, host).await?;
    dht.find_node(dht.id()).await.context("bootstrap")?;
    let start = Instant::now();
    let s = dht.connect(&Keypair::generate(), &parse32(pk)?, &[]).await.context("connect")?;
    let addr = s.get_ref().remote_addr().map(|a| a.to_string());
    println!("{}", serde_json::json!({ "event": "open", "ms": start.elapsed().as_millis() as u64, "remoteAddress": addr }));
    let mut v = exchange(s, bytes).await?;
    v["ms"] = (start.elapsed().as_millis() as u64).into();
    v["remoteAddress"] = addr.into();
    println!("{v}");
    Ok(bytes)
}

/// `hdht-server BOOT SEED BYTES --host H`: one connection.
pub(crate) async fn server(boot: SocketAddrV4, seed: &str, bytes: usize, host: Ipv4Addr) -> anyhow::Result<usize> {
    let dht = dht(boot, host).await?;
    dht.find_node(dht.id()).await.context("bootstrap")?;
    let kp = Keypair::from_seed(&parse32(seed)?);
    let mut server = dht.listen(kp.clone()).await?;
    let relays: Vec<String> = server.relay_addresses().iter().map(|a| a.to_string()).collect();
    println!("{}", serde_json::json!({ "listening": hex(&kp.public_key()), "relays": relays }));
    let s = server.accept().await.context("server stopped")?;
    let addr = s.get_ref().remote_addr().map(|a| a.to_string());
    let mut v = exchange(s, bytes).await?;
    v["remoteAddress"] = addr.into();
    println!("{v}");
    Ok(bytes)
}

/// `hdht-testnet HOST`: five Rust storing nodes on HOST (the first on 49737); prints
/// `{"bootstrap":"HOST:PORT"}`, then one stats line per `stats` line on stdin; exits at EOF.
pub(crate) async fn testnet(host: Ipv4Addr) -> anyhow::Result<usize> {
    use rhizome_hyperdht::testnet::Testnet;
    use tokio::io::AsyncBufReadExt;
    let tn = Testnet::spawn_on(SocketAddrV4::new(host, 49737), 5, Default::default()).await?;
    let boot = tn.bootstrap().first().map(|a| a.to_string());
    println!("{}", serde_json::json!({ "bootstrap": boot }));
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "stats" {
            let s = tn.stats();
            println!(
                "{}",
                serde_json::json!({
                    "handshakesForwarded": s.handshakes_forwarded, "handshakesAnswered": s.handshakes_answered,
                    "holepunchesForwarded": s.holepunches_forwarded, "holepunchesAnswered": s.holepunches_answered,
                })
            );
        }
    }
    Ok(0)
}
