//! The UDX + secret-stream transfer shared by the `hyperswarm` and `compare` binaries:
//! Rhizome ↔ Rhizome in this process, Node ↔ Node (udx-native +
//! @hyperswarm/secret-stream) as two child processes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rhizome_secret_stream::{Config, Keypair, SecretStream};
use rhizome_udx::{Socket, SocketConfig, Stream};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

pub(crate) const MIB: usize = 1024 * 1024;

/// The Node bench directory, if its modules are installed.
pub(crate) fn node_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop-tests/hyperswarm");
    dir.join("node_modules/@hyperswarm/secret-stream").is_dir().then_some(dir)
}

/// One run: (time to the first byte, time for all bytes after it). Both ends run as
/// tasks on the runtime, as an application's would (not the reader on the thread that
/// blocks on `main`, which is not a worker).
pub(crate) async fn rhizome(size: usize) -> anyhow::Result<(Duration, Duration)> {
    tokio::spawn(transfer(size)).await?
}

/// Two UDX sockets on 127.0.0.1 with one stream between them, secret-stream
/// handshaken (initiator first).
pub(crate) async fn pair(config: SocketConfig) -> anyhow::Result<(SecretStream<Stream>, SecretStream<Stream>)> {
    let (a, b) = (Socket::bind_with("127.0.0.1:0", config.clone()).await?, Socket::bind_with("127.0.0.1:0", config).await?);
    let (sa, sb) = (a.stream(1)?, b.stream(2)?);
    sa.connect(2, b.local_addr()?)?;
    sb.connect(1, a.local_addr()?)?;
    let cfg = Config::default();
    let (ka, kb) = (Keypair::generate(), Keypair::generate());
    Ok(tokio::try_join!(SecretStream::handshake(sa, true, ka, &cfg), SecretStream::handshake(sb, false, kb, &cfg))?)
}

async fn transfer(size: usize) -> anyhow::Result<(Duration, Duration)> {
    let start = Instant::now();
    let (mut sa, mut sb) = pair(SocketConfig::default()).await?;
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
pub(crate) async fn node_pair(dir: &Path, size: usize) -> anyhow::Result<Duration> {
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

pub(crate) fn mbps(size: usize, d: Duration) -> f64 {
    size as f64 / MIB as f64 / d.as_secs_f64()
}
