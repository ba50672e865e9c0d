//! Spawning the Node peer (interop-tests/hyperswarm/secret-peer.mjs) for interop tests,
//! and the exchange both sides check.
#![allow(dead_code)] // each test binary uses a part

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Per-test budget.
pub(crate) const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `interop-tests/hyperswarm`, after checking that `npm ci` ran there and `node` exists.
pub(crate) fn script_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop-tests/hyperswarm");
    let marker = dir.join("node_modules/@hyperswarm/secret-stream/package.json");
    assert!(marker.exists(), "Node dependencies missing: run `npm ci` in {} (needs node and npm; scripts/test does this)", dir.display());
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(node.is_ok_and(|o| o.status.success()), "`node` not found on PATH: the secret-stream interop tests need Node.js 18+");
    dir
}

/// A running Node peer.
pub(crate) struct NodePeer {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodePeer {
    /// Starts `secret-peer.mjs` with `opts` (see the script's header).
    pub(crate) fn spawn(opts: Value) -> anyhow::Result<Self> {
        let dir = script_dir();
        let mut child = Command::new("node")
            .arg(dir.join("secret-peer.mjs"))
            .arg(opts.to_string())
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("spawn node")?;
        let stdout = child.stdout.take().context("node stdout")?;
        Ok(Self { child, lines: BufReader::new(stdout).lines() })
    }

    /// The next JSON line the peer prints.
    pub(crate) async fn next_json(&mut self) -> anyhow::Result<Value> {
        let Some(line) = self.lines.next_line().await? else { bail!("node peer exited without output") };
        serde_json::from_str(&line).with_context(|| format!("bad JSON from node: {line}"))
    }

    /// Waits for the peer to exit; returns its exit code.
    pub(crate) async fn wait(mut self) -> anyhow::Result<Option<i32>> {
        Ok(self.child.wait().await?.code())
    }
}

/// Lowercase hex.
pub(crate) fn hex(b: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(b)
}

/// Sends `bytes` pseudo-random bytes and reads to EOF at the same time; returns
/// (sha256 sent, sha256 received, bytes received).
pub(crate) async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: S, bytes: usize) -> anyhow::Result<(String, String, usize)> {
    exchange_chunked(stream, bytes, 100_000).await
}

/// [`exchange`] writing `chunk` bytes per `write_all`.
pub(crate) async fn exchange_chunked<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    bytes: usize,
    chunk: usize,
) -> anyhow::Result<(String, String, usize)> {
    let (mut r, mut w) = tokio::io::split(stream);
    let writer = async {
        let mut h = Sha256::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut left = bytes;
        let mut chunk = vec![0u8; chunk];
        while left > 0 {
            let n = left.min(chunk.len());
            for b in &mut chunk[..n] {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            h.update(&chunk[..n]);
            w.write_all(&chunk[..n]).await?;
            left -= n;
        }
        w.shutdown().await?;
        anyhow::Ok(hex(&h.finalize()))
    };
    let reader = async {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 65536];
        let mut total = 0;
        loop {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            total += n;
        }
        anyhow::Ok((hex(&h.finalize()), total))
    };
    let (sent, (received, total)) = tokio::try_join!(writer, reader)?;
    Ok((sent, received, total))
}

/// Checks the Node peer's report against ours.
pub(crate) async fn check(mut peer: NodePeer, ours: (String, String, usize), bytes: usize, hash: &[u8; 64]) -> anyhow::Result<()> {
    let report = peer.next_json().await?;
    ensure!(report.get("error").is_none(), "node failed: {report}");
    ensure!(ours.2 == bytes, "we received {} bytes, wanted {bytes}", ours.2);
    ensure!(report["receivedBytes"] == json!(bytes), "node received {}", report["receivedBytes"]);
    ensure!(report["received"] == json!(ours.0), "node's hash of our data differs");
    ensure!(report["sent"] == json!(ours.1), "our hash of node's data differs");
    ensure!(report["handshakeHash"] == json!(hex(hash)), "handshake hashes differ");
    ensure!(peer.wait().await? == Some(0), "node exited non-zero");
    Ok(())
}
