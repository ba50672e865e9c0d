//! Listener memory per connection, measured in a child process per stack.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// Resident set size of this process, in bytes.
fn rss() -> anyhow::Result<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: f64 = statm.split_whitespace().nth(1).context("statm")?.parse()?;
    Ok(pages * 4096.0)
}

/// Child: start a listener of `stack`, print its address, print RSS on each stdin line.
pub(crate) async fn server(stack: &str) -> anyhow::Result<()> {
    let (addr, _keep): (String, Box<dyn std::any::Any>) = match stack {
        "rhizome" => {
            let (node, addr) = crate::rz::server(9).await?;
            (addr.to_string(), Box::new(node))
        }
        _ => {
            let node = crate::lp2p::Node::start(9, true).await?;
            node.serve()?;
            (format!("{}/p2p/{}", node.addr, node.peer), Box::new(node))
        }
    };
    println!("{addr}");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while lines.next_line().await?.is_some() {
        println!("{}", rss()?);
    }
    Ok(())
}

/// The number of connections the fd limit allows, at most `wanted` (each connection
/// costs one descriptor in this process and one in the child).
pub(crate) fn fit_fd_limit(wanted: usize) -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| l.lines().find(|l| l.starts_with("Max open files"))?.split_whitespace().nth(3)?.parse::<usize>().ok())
        .unwrap_or(1024);
    wanted.min(limit.saturating_sub(256))
}

/// Parent: K Rhizome clients connect to a `stack` listener child and run one stream
/// each; returns the child's RSS growth per connection, in bytes.
pub(crate) async fn per_connection(stack: &str, conns: usize) -> anyhow::Result<f64> {
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .args(["mem-server", stack])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let mut out = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let addr: rhizome::Multiaddr = out.next_line().await?.context("child address")?.parse()?;
    let mut measure = async || -> anyhow::Result<f64> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stdin.write_all(b"m\n").await?;
        Ok(out.next_line().await?.context("rss")?.parse()?)
    };
    let before = measure().await?;
    let mut clients = Vec::with_capacity(conns);
    for i in 0..conns {
        let client = crate::rz::client_n(i).await?;
        let peer = client.dial(addr.clone()).await?;
        crate::rz::round_trip(&client, peer).await?;
        clients.push(client);
    }
    let after = measure().await?;
    drop(clients);
    Ok((after - before) / conns as f64)
}
