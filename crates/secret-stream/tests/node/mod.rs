//! Spawning the Node peer (interop-tests/hyperswarm/secret-peer.mjs) for interop tests.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
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
