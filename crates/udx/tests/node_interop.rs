//! Interop with npm udx-native 1.21.3 (interop-tests/hyperswarm, `npm ci` first):
//! 64 MiB each way at the same time, sha256-checked on both sides, at 0%, 1%
//! and 5% loss injected on our socket, with either side connecting first.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rhizome_udx::{LossConfig, Socket};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

const MIB: usize = 1024 * 1024;

fn script_dir() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop-tests/hyperswarm");
    if !dir.join("node_modules/udx-native").is_dir() {
        bail!("udx-native is not installed: run `npm ci` in {}", dir.display());
    }
    Ok(dir)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs one exchange; returns (elapsed, our stream's retransmits).
async fn exchange(size: usize, loss: f64, node_waits: bool) -> anyhow::Result<(Duration, u64)> {
    let dir = script_dir()?;
    let sock = Socket::bind("127.0.0.1:0").await?;
    if loss > 0.0 {
        sock.set_loss(Some(LossConfig { seed: 42, outgoing: loss, incoming: loss }));
    }
    let mut s = sock.stream(7777)?;
    let mut args = vec![
        "udx-peer.mjs".to_string(),
        "--rust-port".into(),
        sock.local_addr()?.port().to_string(),
        "--rust-id".into(),
        "7777".into(),
        "--node-id".into(),
        "4242".into(),
        "--size".into(),
        size.to_string(),
    ];
    if node_waits {
        args.push("--wait".into());
    }
    let mut child = Command::new("node")
        .args(&args)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("spawning node (is Node.js installed?)")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let hello: serde_json::Value = serde_json::from_str(&lines.next_line().await?.context("no hello")?)?;
    let port = hello["port"].as_u64().context("port")? as u16;
    let id = hello["id"].as_u64().context("id")? as u32;
    let start = Instant::now();
    s.connect(id, ([127, 0, 0, 1], port).into())?;
    let mut data = vec![0u8; size];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let sent_sha = hex(&Sha256::digest(&data));
    let (mut r, mut w) = tokio::io::split(&mut s);
    let writer = async {
        w.write_all(&data).await?;
        w.shutdown().await?;
        anyhow::Ok(())
    };
    let reader = async {
        let mut h = Sha256::new();
        let mut n = 0usize;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let k = r.read(&mut buf).await?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k;
        }
        anyhow::Ok((n, hex(&h.finalize())))
    };
    let release = async {
        if node_waits {
            // our first packets reach an unconnected stream and are dropped (as
            // libudx's firewall does); they must be retransmitted
            tokio::time::sleep(Duration::from_millis(50)).await;
            stdin.write_all(b"connect\n").await?;
            stdin.flush().await?;
        }
        anyhow::Ok(())
    };
    let (wr, rd, rel) = tokio::join!(writer, reader, release);
    rel?;
    drop((r, w));
    if wr.is_err() || rd.is_err() {
        let _ = child.start_kill();
        let mut rest = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            rest.push(l);
        }
        bail!("exchange failed: write {wr:?}, read {:?}; our stats {:?}; node said {rest:?}", rd.map(|x| x.0), s.stats());
    }
    let (recv, recv_sha) = rd?;
    let elapsed = start.elapsed();
    let report: serde_json::Value = serde_json::from_str(&lines.next_line().await?.context("node exited without a report")?)?;
    let status = child.wait().await?;
    assert!(status.success(), "node: {status}");
    assert_eq!(recv, size, "bytes Rust received");
    assert_eq!(report["recv"].as_u64(), Some(size as u64), "bytes Node received");
    assert_eq!(report["sentSha"].as_str(), Some(recv_sha.as_str()), "Node→Rust sha256");
    assert_eq!(report["recvSha"].as_str(), Some(sent_sha.as_str()), "Rust→Node sha256");
    let retransmits = s.stats().retransmits;
    eprintln!(
        "udx interop: {} MiB each way, loss {:.0}%, node_waits={node_waits}: {:?} (node {} ms), retransmits {retransmits}, mtu {}",
        size / MIB,
        loss * 100.0,
        elapsed,
        report["ms"],
        s.mtu()
    );
    Ok((elapsed, retransmits))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_connects_first_64_mib_each_way() -> anyhow::Result<()> {
    timeout(Duration::from_secs(120), exchange(64 * MIB, 0.0, false)).await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_connects_first_64_mib_each_way() -> anyhow::Result<()> {
    let (_, retransmits) = timeout(Duration::from_secs(120), exchange(64 * MIB, 0.0, true)).await??;
    assert!(retransmits > 0, "the packets sent before Node connected were retransmitted");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_percent_loss_64_mib_each_way() -> anyhow::Result<()> {
    timeout(Duration::from_secs(180), exchange(64 * MIB, 0.01, false)).await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_loss_64_mib_each_way() -> anyhow::Result<()> {
    timeout(Duration::from_secs(240), exchange(64 * MIB, 0.05, false)).await??;
    Ok(())
}
