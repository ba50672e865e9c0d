//! Single-stream UDX throughput on 127.0.0.1: Rhizome ↔ Rhizome next to
//! udx-native ↔ udx-native (two Node processes), with the ratio.
//!
//! `cargo run -p rhizome-udx --release --example bench -- [MiB] [runs]`
//! (needs `npm ci` in interop-tests/hyperswarm for the Node numbers).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rhizome_udx::Socket;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const MIB: usize = 1024 * 1024;

async fn rhizome(size: usize) -> anyhow::Result<Duration> {
    let a = Socket::bind("127.0.0.1:0").await?;
    let b = Socket::bind("127.0.0.1:0").await?;
    let mut sa = a.stream(1)?;
    let mut sb = b.stream(2)?;
    sa.connect(2, b.local_addr()?)?;
    sb.connect(1, a.local_addr()?)?;
    let chunk = vec![7u8; 256 * 1024];
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len());
            sa.write_all(&chunk[..n]).await?;
            left -= n;
        }
        sa.shutdown().await?;
        anyhow::Ok(sa)
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0;
    loop {
        let n = sb.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let elapsed = start.elapsed();
    let sa = writer.await??;
    if got != size {
        bail!("received {got} of {size} bytes");
    }
    eprintln!("  rhizome sender: {:?}, mtu {}", sa.stats(), sa.mtu());
    sb.shutdown().await?;
    Ok(elapsed)
}

fn node(dir: &PathBuf, args: &[String]) -> anyhow::Result<(Child, Lines<BufReader<ChildStdout>>)> {
    let mut child = Command::new("node")
        .arg("udx-bench.mjs")
        .args(args)
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

async fn node_pair(dir: &PathBuf, size: usize) -> anyhow::Result<Duration> {
    let s = |v: &str| v.to_string();
    let (mut recv, mut rl) = node(dir, &[s("--role"), s("recv"), s("--id"), s("2"), s("--peer-id"), s("1")])?;
    let rport = json(&mut rl).await?["port"].to_string();
    let args = [s("--role"), s("send"), s("--id"), s("1"), s("--peer-id"), s("2"), s("--peer-port"), rport, s("--size"), size.to_string()];
    let (mut send, mut sl) = node(dir, &args)?;
    let sport = json(&mut sl).await?["port"].to_string();
    let mut rin = recv.stdin.take().context("stdin")?;
    rin.write_all(format!("{sport}\n").as_bytes()).await?;
    json(&mut rl).await?; // ready
    let mut sin = send.stdin.take().context("stdin")?;
    sin.write_all(b"go\n").await?;
    let done = json(&mut rl).await?;
    let ms = done["ms"].as_f64().context("ms")?;
    if done["bytes"].as_u64() != Some(size as u64) {
        bail!("node received {} of {size}", done["bytes"]);
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = send.wait().await;
        let _ = recv.wait().await;
    })
    .await;
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

/// Rhizome sends to a udx-native receiver.
async fn rhizome_to_node(dir: &PathBuf, size: usize) -> anyhow::Result<Duration> {
    let s = |v: &str| v.to_string();
    let sock = Socket::bind("127.0.0.1:0").await?;
    let mut st = sock.stream(1)?;
    let (mut recv, mut rl) = node(dir, &[s("--role"), s("recv"), s("--id"), s("2"), s("--peer-id"), s("1")])?;
    let port = json(&mut rl).await?["port"].as_u64().context("port")? as u16;
    st.connect(2, ([127, 0, 0, 1], port).into())?;
    let mut rin = recv.stdin.take().context("stdin")?;
    rin.write_all(format!("{}\n", sock.local_addr()?.port()).as_bytes()).await?;
    json(&mut rl).await?; // ready
    let chunk = vec![7u8; 256 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        st.write_all(&chunk[..n]).await?;
        left -= n;
    }
    st.shutdown().await?;
    let done = json(&mut rl).await?;
    let mut sink = Vec::new();
    st.read_to_end(&mut sink).await?;
    let _ = tokio::time::timeout(Duration::from_secs(10), recv.wait()).await;
    Ok(Duration::from_secs_f64(done["ms"].as_f64().context("ms")? / 1000.0))
}

/// A udx-native sender to a Rhizome receiver.
async fn node_to_rhizome(dir: &PathBuf, size: usize) -> anyhow::Result<Duration> {
    let s = |v: &str| v.to_string();
    let sock = Socket::bind("127.0.0.1:0").await?;
    let mut st = sock.stream(2)?;
    let port = sock.local_addr()?.port().to_string();
    let args = [s("--role"), s("send"), s("--id"), s("1"), s("--peer-id"), s("2"), s("--peer-port"), port, s("--size"), size.to_string()];
    let (mut send, mut sl) = node(dir, &args)?;
    let nport = json(&mut sl).await?["port"].as_u64().context("port")? as u16;
    st.connect(1, ([127, 0, 0, 1], nport).into())?;
    let mut sin = send.stdin.take().context("stdin")?;
    sin.write_all(b"go\n").await?;
    let mut buf = vec![0u8; 256 * 1024];
    let (mut got, mut start) = (0, None);
    loop {
        let n = st.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        start.get_or_insert_with(Instant::now);
        got += n;
    }
    let elapsed = start.map_or(Duration::ZERO, |t| t.elapsed());
    st.shutdown().await?;
    let _ = tokio::time::timeout(Duration::from_secs(10), send.wait()).await;
    if got != size {
        bail!("received {got} of {size}");
    }
    Ok(elapsed)
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
    let have_node = dir.join("node_modules/udx-native").is_dir();
    println!("single UDX stream, 127.0.0.1, {} MiB per run, best of {runs}", size / MIB);
    let mut best_r = f64::MIN;
    let mut best_n = f64::MIN;
    for i in 0..runs {
        let r = mbps(size, rhizome(size).await?);
        best_r = best_r.max(r);
        let n = if have_node { mbps(size, node_pair(&dir, size).await?) } else { f64::NAN };
        best_n = best_n.max(n);
        println!("run {i}: rhizome↔rhizome {r:8.1} MiB/s   udx-native↔udx-native {n:8.1} MiB/s");
    }
    if !have_node {
        println!("(udx-native not installed: run `npm ci` in {})", dir.display());
    } else {
        let rn = mbps(size, rhizome_to_node(&dir, size).await?);
        let nr = mbps(size, node_to_rhizome(&dir, size).await?);
        println!("mixed: rhizome→udx-native {rn:8.1} MiB/s   udx-native→rhizome {nr:8.1} MiB/s");
    }
    println!("best:  rhizome↔rhizome {best_r:8.1} MiB/s   udx-native↔udx-native {best_n:8.1} MiB/s   ratio {:.2}×", best_r / best_n);
    Ok(())
}
