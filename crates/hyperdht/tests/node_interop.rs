//! Interop with the real Node dht-rpc 6.27 (interop-tests/hyperswarm, `npm ci` first), all on
//! 127.0.0.1: our ephemeral node joins a 5-node dht-rpc testnet, PINGs every node and finds
//! them with FIND_NODE; then a Node client PINGs us, checks our token handling and runs a
//! FIND_NODE query that starts at us. The same against hyperdht 6.34's
//! `createTestnet(5, { host: '127.0.0.1' })`, whose first node stays ephemeral.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use rhizome_hyperdht::Dht;
use rhizome_hyperdht::peer::node_id;
use rhizome_hyperdht::rpc::Config;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

fn script_dir() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop-tests/hyperswarm");
    if !dir.join("node_modules/dht-rpc").is_dir() {
        bail!("dht-rpc is not installed: run `npm ci` in {}", dir.display());
    }
    Ok(dir)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn local(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new([127, 0, 0, 1].into(), port)
}

async fn both_ways(hyperdht: bool) -> anyhow::Result<()> {
    let mut args = vec!["dht-testnet.mjs"];
    if hyperdht {
        args.push("--hyperdht");
    }
    let mut child = Command::new("node")
        .args(&args)
        .current_dir(script_dir()?)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("spawning node (is Node.js installed?)")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let hello: serde_json::Value = serde_json::from_str(&lines.next_line().await?.context("no testnet")?)?;
    let boot = local(hello["bootstrap"].as_u64().context("bootstrap")? as u16);
    let nodes: Vec<(u16, Option<String>)> = hello["nodes"]
        .as_array()
        .context("nodes")?
        .iter()
        .map(|n| (n["port"].as_u64().unwrap_or(0) as u16, n["id"].as_str().map(str::to_string)))
        .collect();
    assert_eq!(nodes.len(), 5);

    // Rust → Node
    let dht = Dht::bind(local(0), vec![boot], Config::default()).await?;
    for (port, id) in &nodes {
        if let Some(id) = id {
            assert_eq!(&hex(&node_id(local(*port))), id, "node id = hash(ip:port)");
        }
        let pong = dht.ping(local(*port)).await?;
        assert_eq!(pong.error, 0);
        assert_eq!(&pong.id.map(|i| hex(&i)), id, "persistent nodes send their id, ephemeral ones none");
        assert_eq!(pong.to, dht.local_addr(), "the responder saw our address");
    }
    let table: HashSet<u16> = dht.table().await?.iter().map(|n| n.addr.port()).collect();
    let ports: HashSet<u16> = nodes.iter().filter(|n| n.1.is_some()).map(|n| n.0).collect();
    assert_eq!(ports.len(), if hyperdht { 4 } else { 5 });
    assert_eq!(table, ports, "bootstrap + pings filled our table with the persistent nodes");
    let target = node_id(local(nodes[2].0));
    let found = dht.find_node(target).await?;
    let found_ports: HashSet<u16> = found.iter().map(|r| r.addr.port()).collect();
    assert_eq!(found_ports, ports, "FIND_NODE returns every persistent testnet node");
    assert_eq!(found[0].addr.port(), nodes[2].0, "nearest first");
    for r in &found {
        assert_eq!(r.id, node_id(r.addr));
    }

    // Node → Rust
    stdin.write_all(format!("{{\"rust\":{}}}\n", dht.local_addr().port()).as_bytes()).await?;
    let res: serde_json::Value = serde_json::from_str(&lines.next_line().await?.context("no result")?)?;
    assert!(res.get("error").is_none(), "node side failed: {res}");
    assert_eq!(res["ping"]["error"], 0);
    assert!(res["ping"]["id"].is_null(), "we are ephemeral: no id");
    assert_eq!(res["badToken"]["error"], 2, "bogus token → INVALID_TOKEN");
    assert!(res["badToken"]["token"].is_string(), "with a fresh token");
    assert_eq!(res["goodToken"]["error"], 1, "our token verifies (then UNKNOWN_COMMAND)");
    let closest: HashSet<u16> =
        res["query"]["closest"].as_array().context("closest")?.iter().map(|p| p.as_u64().unwrap_or(0) as u16).collect();
    assert_eq!(closest, ports, "a Node query through us reaches the whole testnet");
    drop(stdin);
    let _ = timeout(Duration::from_secs(5), child.wait()).await;
    Ok(())
}

#[tokio::test]
async fn rust_and_node_dht_rpc_both_ways() -> anyhow::Result<()> {
    timeout(Duration::from_secs(60), both_ways(false)).await.context("timed out")?
}

#[tokio::test]
async fn rust_and_hyperdht_testnet_both_ways() -> anyhow::Result<()> {
    timeout(Duration::from_secs(60), both_ways(true)).await.context("timed out")?
}
