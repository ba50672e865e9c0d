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

/// `hdht-testnet HOST --kill-relay`: as [`testnet`], but the first node whose relay answers
/// a handshake (msg2 on its way to the client) is dropped at once (its socket closes and
/// its tasks end); prints `{"killed":"HOST:PORT"}`. Exits at EOF on stdin.
pub(crate) async fn testnet_killing_relay(host: Ipv4Addr) -> anyhow::Result<usize> {
    use rhizome_hyperdht::persistent::{Limits, PersistentNode};
    use tokio::io::AsyncBufReadExt;
    let first = PersistentNode::bind_with(SocketAddrV4::new(host, 49737), vec![], Config::default(), Limits::default()).await?;
    let boot = vec![first.local_addr()];
    let mut nodes = vec![Some(first)];
    for _ in 1..5 {
        nodes.push(Some(PersistentNode::bind_with(SocketAddrV4::new(host, 0), boot.clone(), Config::default(), Limits::default()).await?));
    }
    for n in nodes.iter().skip(1).flatten() {
        n.dht().find_node(n.dht().id()).await?;
    }
    println!("{}", serde_json::json!({ "bootstrap": boot[0].to_string() }));
    let killer = tokio::spawn(async move {
        // polled every millisecond; bounded by the test's lifetime (the process exits at EOF)
        loop {
            if let Some(i) = nodes.iter().position(|n| n.as_ref().is_some_and(|n| n.stats().handshakes_answered > 0)) {
                let addr = nodes[i].as_ref().map(|n| n.local_addr().to_string());
                nodes[i] = None;
                println!("{}", serde_json::json!({ "killed": addr }));
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        nodes
    });
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while lines.next_line().await?.is_some() {}
    killer.abort();
    Ok(0)
}

/// Open file descriptors and live tokio tasks of this process.
fn resources() -> (usize, usize) {
    let fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    (fds, tokio::runtime::Handle::current().metrics().num_alive_tasks())
}

/// Waits (at most 10 s) until [`resources`] is at most `base`; the last reading.
async fn settle(base: (usize, usize)) -> (usize, usize) {
    let mut now = resources();
    for _ in 0..200 {
        if now.0 <= base.0 && now.1 <= base.1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        now = resources();
    }
    now
}

/// `hdht-retry-client BOOT PK BYTES --host H`: the first connect must fail with a typed
/// holepunch error (the relay was killed mid-punch); tasks and fds must return to the
/// baseline; a fresh connect (through another relay) must succeed and exchange BYTES.
pub(crate) async fn retry_client(boot: SocketAddrV4, pk: &str, bytes: usize, host: Ipv4Addr) -> anyhow::Result<usize> {
    use rhizome_hyperdht::ConnectError;
    use rhizome_hyperdht::holepunch::HolepunchError;
    let dht = dht(boot, host).await?;
    dht.find_node(dht.id()).await.context("bootstrap")?;
    let pk = parse32(pk)?;
    // the baseline after bootstrap, once the bootstrap's stragglers ended
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let base = resources();
    let start = Instant::now();
    let first = dht.connect(&Keypair::generate(), &pk, &[]).await;
    let kind = match &first {
        Ok(_) => anyhow::bail!("the first connect succeeded although its relay was killed"),
        Err(ConnectError::Holepunch(HolepunchError::RelayTimeout { round })) => format!("RelayTimeout{{round:{round}}}"),
        Err(e) => anyhow::bail!("the first connect failed with an unexpected error: {e}"),
    };
    drop(first);
    let after = settle(base).await;
    println!(
        "{}",
        serde_json::json!({ "event": "error", "kind": kind, "ms": start.elapsed().as_millis() as u64,
            "baseline": { "fds": base.0, "tasks": base.1 }, "afterError": { "fds": after.0, "tasks": after.1 } })
    );
    let start = Instant::now();
    let s = dht.connect(&Keypair::generate(), &pk, &[]).await.context("retry connect")?;
    let addr = s.get_ref().remote_addr().map(|a| a.to_string());
    println!("{}", serde_json::json!({ "event": "open", "ms": start.elapsed().as_millis() as u64, "remoteAddress": addr }));
    let mut v = exchange(s, bytes).await?;
    v["ms"] = (start.elapsed().as_millis() as u64).into();
    v["remoteAddress"] = addr.into();
    println!("{v}");
    let closed = settle(base).await;
    println!("{}", serde_json::json!({ "event": "closed", "fds": closed.0, "tasks": closed.1 }));
    Ok(bytes)
}
