//! HyperDHT rows: connect latency through a 5-node testnet (FIND_PEER, the relayed Noise
//! handshake, the UDX stream, one byte back) and one such connection's throughput —
//! Rhizome peers on a Rhizome testnet against Node peers on a Node `createTestnet(5)`, in
//! the same run (`interop-tests/hyperswarm/hdht-bench.mjs`).

use std::net::SocketAddrV4;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use rhizome_hyperdht::testnet::Testnet;
use rhizome_hyperdht::{Dht, Keypair, rpc::Config};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Connect times (ms) and the bulk transfer's MB/s.
pub(crate) struct Outcome {
    pub(crate) connect_ms: Vec<f64>,
    pub(crate) mbps: f64,
}

fn any() -> SocketAddrV4 {
    SocketAddrV4::new([127, 0, 0, 1].into(), 0)
}

pub(crate) async fn rhizome(dials: usize, mib: u64) -> anyhow::Result<Outcome> {
    let testnet = Testnet::spawn(5).await?;
    let boot = testnet.bootstrap();
    let a = Arc::new(Dht::bind(any(), boot.clone(), Config::default()).await?);
    let b = Dht::bind(any(), boot, Config::default()).await?;
    let (kp, client) = (Keypair::generate(), Keypair::generate());
    let pk = kp.public_key();
    let mut server = a.listen(kp).await?;
    let bulk = Arc::new(AtomicU64::new(0));
    let serving = bulk.clone();
    let accept = tokio::spawn(async move {
        while let Some(mut s) = server.accept().await {
            let bytes = serving.load(Ordering::SeqCst);
            tokio::spawn(async move {
                if bytes == 0 {
                    s.write_all(b"x").await?;
                } else {
                    let chunk = vec![7u8; 256 * 1024];
                    let mut left = bytes;
                    while left > 0 {
                        let n = left.min(chunk.len() as u64) as usize;
                        s.write_all(&chunk[..n]).await?;
                        left -= n as u64;
                    }
                }
                s.shutdown().await?;
                let mut sink = [0u8; 64];
                while s.read(&mut sink).await? > 0 {}
                anyhow::Ok(())
            });
        }
    });
    let mut connect_ms = Vec::with_capacity(dials);
    for _ in 0..dials {
        let t0 = Instant::now();
        let mut s = b.connect(&client, &pk, &[]).await?;
        let mut one = [0u8; 1];
        s.read_exact(&mut one).await?;
        connect_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        let _ = s.shutdown().await;
    }
    bulk.store(mib << 20, Ordering::SeqCst);
    let mut s = b.connect(&client, &pk, &[]).await?;
    let mut buf = vec![0u8; 256 * 1024];
    let (mut got, mut first) = (0u64, None);
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(Instant::now);
        got += n as u64;
    }
    let secs = first.context("no data")?.elapsed().as_secs_f64();
    anyhow::ensure!(got == mib << 20, "received {got} of {} bytes", mib << 20);
    accept.abort();
    Ok(Outcome { connect_ms, mbps: got as f64 / secs / 1e6 })
}

pub(crate) async fn node(dir: &Path, dials: usize, mib: u64) -> anyhow::Result<Outcome> {
    let out = tokio::process::Command::new("node")
        .arg("hdht-bench.mjs")
        .arg(dials.to_string())
        .arg(mib.to_string())
        .current_dir(dir)
        .kill_on_drop(true)
        .output()
        .await
        .context("run node hdht-bench.mjs")?;
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).with_context(|| format!("hdht-bench.mjs printed {line:?}"))?;
    let connect_ms = v["connect_ms"].as_array().context("connect_ms")?.iter().filter_map(serde_json::Value::as_f64).collect();
    Ok(Outcome { connect_ms, mbps: v["mbps"].as_f64().context("mbps")? })
}
