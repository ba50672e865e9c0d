//! The Hyperswarm stream benchmark: one stream over UDX + secret-stream (what a
//! Hyperswarm connection carries) on 127.0.0.1, Rhizome ↔ Rhizome next to Node ↔ Node
//! (udx-native + @hyperswarm/secret-stream, two processes), in the same run, with
//! the ratio. Connect time is the UDX connect plus the secret-stream (Noise XX)
//! handshake, until the first byte arrives.
//!
//! `cargo run --release -p rhizome-bench --bin hyperswarm -- [MiB] [runs]`
//! (needs `npm ci` in interop-tests/hyperswarm).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rhizome_secret_stream::{Config, Keypair, SecretStream};
use rhizome_udx::Socket;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const MIB: usize = 1024 * 1024;

/// One run: (time to the first byte, time for all bytes after it).
async fn rhizome(size: usize) -> anyhow::Result<(Duration, Duration)> {
    let start = Instant::now();
    let (a, b) = (Socket::bind("127.0.0.1:0").await?, Socket::bind("127.0.0.1:0").await?);
    let (sa, sb) = (a.stream(1)?, b.stream(2)?);
    sa.connect(2, b.local_addr()?)?;
    sb.connect(1, a.local_addr()?)?;
    let cfg = Config::default();
    let (ka, kb) = (Keypair::generate(), Keypair::generate());
    let (sa, sb) = tokio::try_join!(SecretStream::handshake(sa, true, ka, &cfg), SecretStream::handshake(sb, false, kb, &cfg))?;
    let (mut sa, mut sb) = (sa, sb);
    let writer = tokio::spawn(async move {
        let chunk = vec![7u8; 256 * 1024];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len());
            sa.write_all(&chunk[..n]).await?;
            left -= n;
        }
        sa.shutdown().await?;
        anyhow::Ok(())
    });
    let mut buf = vec![0u8; 256 * 1024];
    let (mut got, mut first) = (0, None);
    loop {
        let n = sb.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(Instant::now);
        got += n;
    }
    writer.await??;
    if got != size {
        bail!("received {got} of {size} bytes");
    }
    let first = first.context("no data")?;
    Ok((first - start, first.elapsed()))
}

fn node(dir: &Path, args: &[String]) -> anyhow::Result<(Child, Lines<BufReader<ChildStdout>>)> {
    let mut child = Command::new("node")
        .arg("udx-bench.mjs")
        .args(args)
        .arg("--secret")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("spawning node")?;
    let lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    Ok((child, lines))
}

async fn json(lines: &mut Lines<BufReader<ChildStdout>>) -> anyhow::Result<serde_json::Value> {
    let l = lines.next_line().await?.context("node exited early")?;
    Ok(serde_json::from_str(&l)?)
}

/// Node ↔ Node: the receiver reports the time from its first byte to the end.
async fn node_pair(dir: &Path, size: usize) -> anyhow::Result<Duration> {
    let s = |v: &str| v.to_string();
    let (mut recv, mut rl) = node(dir, &[s("--role"), s("recv"), s("--id"), s("2"), s("--peer-id"), s("1")])?;
    let rport = json(&mut rl).await?["port"].to_string();
    let args = [s("--role"), s("send"), s("--id"), s("1"), s("--peer-id"), s("2"), s("--peer-port"), rport, s("--size"), size.to_string()];
    let (mut send, mut sl) = node(dir, &args)?;
    let sport = json(&mut sl).await?["port"].to_string();
    recv.stdin.take().context("stdin")?.write_all(format!("{sport}\n").as_bytes()).await?;
    json(&mut rl).await?; // ready
    send.stdin.take().context("stdin")?.write_all(b"go\n").await?;
    let done = json(&mut rl).await?;
    if done["bytes"].as_u64() != Some(size as u64) {
        bail!("node received {} of {size}", done["bytes"]);
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = send.wait().await;
        let _ = recv.wait().await;
    })
    .await;
    Ok(Duration::from_secs_f64(done["ms"].as_f64().context("ms")? / 1000.0))
}

fn mbps(size: usize, d: Duration) -> f64 {
    size as f64 / MIB as f64 / d.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let size = args.next().map(|s| s.parse()).transpose()?.unwrap_or(256usize) * MIB;
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop-tests/hyperswarm");
    if !dir.join("node_modules/@hyperswarm/secret-stream").is_dir() {
        bail!("Node modules missing: run `npm ci` in {}", dir.display());
    }
    println!("one UDX + secret-stream stream, 127.0.0.1, {} MiB per run, best of {runs}", size / MIB);
    let (mut best_r, mut best_n, mut connect) = (f64::MIN, f64::MIN, Duration::MAX);
    for i in 0..runs {
        let (c, d) = rhizome(size).await?;
        let r = mbps(size, d);
        let n = mbps(size, node_pair(&dir, size).await?);
        best_r = best_r.max(r);
        best_n = best_n.max(n);
        connect = connect.min(c);
        println!("run {i}: rhizome↔rhizome {r:8.1} MiB/s (connect + handshake {c:?})   node↔node {n:8.1} MiB/s");
    }
    println!(
        "best:  rhizome↔rhizome {best_r:8.1} MiB/s   node↔node {best_n:8.1} MiB/s   ratio {:.2}×   rhizome connect {connect:?}",
        best_r / best_n
    );
    Ok(())
}
