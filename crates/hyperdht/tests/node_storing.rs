//! Rhizome storing/relaying DHT nodes serving real Node peers (hyperswarm 4.17.2, hyperdht
//! 6.34.0 from interop-tests/hyperswarm, `npm ci` first), all on 127.0.0.1:
//! - a testnet of 5 Rhizome persistent nodes and nothing else: two Node Hyperswarm peers
//!   find each other on a topic and exchange data; Node `createServer().listen()` +
//!   `connect(pk)` goes through our relays; Node's mutable/immutable records are stored and
//!   read back, and a forged put is not answered;
//! - a Node announce flood from one socket leaves our node's store bounded;
//! - on a Node `createTestnet(5)`: records written by Node are read by our client and the
//!   reverse.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use rhizome_hyperdht::Dht;
use rhizome_hyperdht::persistent::{Limits, PersistentNode};
use rhizome_hyperdht::rpc::Config;
use rhizome_hyperdht::testnet::Testnet;
use rhizome_secret_stream::Keypair;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

fn script_dir() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop-tests/hyperswarm");
    if !dir.join("node_modules/hyperswarm").is_dir() {
        bail!("hyperswarm is not installed: run `npm ci` in {}", dir.display());
    }
    Ok(dir)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Runs `node hdht-node-peers.mjs args…` to completion; its one JSON line.
async fn node(args: &[String]) -> anyhow::Result<Value> {
    let out = Command::new("node")
        .arg("hdht-node-peers.mjs")
        .args(args)
        .current_dir(script_dir()?)
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .context("spawning node (is Node.js installed?)")?;
    let text = String::from_utf8(out.stdout)?;
    let line = text.lines().last().context("no output from node")?;
    let v: Value = serde_json::from_str(line)?;
    if let Some(e) = v.get("error") {
        bail!("node side failed: {e}");
    }
    Ok(v)
}

fn port_arg(tn: &Testnet) -> String {
    tn.bootstrap()[0].port().to_string()
}

#[tokio::test]
async fn node_hyperswarm_peers_meet_through_rhizome_nodes() {
    timeout(Duration::from_secs(90), async {
        let tn = Testnet::spawn(5).await.unwrap();
        let mut child = Command::new("node")
            .args(["hdht-node-peers.mjs", "swarm", &port_arg(&tn)])
            .current_dir(script_dir().unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let out: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(out["server_got"], "hello from client", "{out}");
        assert_eq!(out["client_got"], "hello from server", "{out}");
        // While joined: the topic record and the server's announce-self live in our stores,
        // and the handshake went through our relays.
        let st = tn.stats();
        eprintln!("swarm joined: {st:?}");
        assert!(st.records >= 1 && st.topics >= 1, "topic announce stored: {st:?}");
        assert!(st.router_entries >= 1, "announce-self made router entries: {st:?}");
        assert!(st.handshakes_forwarded >= 1 && st.handshakes_answered >= 1, "relayed through our nodes: {st:?}");
        stdin.write_all(b"leave\n").await.unwrap();
        let bye: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(bye["left"], true, "{bye}");
        // Leaving unannounced the topic record; closing the server removed its router entries.
        let st = tn.stats();
        assert_eq!((st.records, st.router_entries), (0, 0), "unannounced on leave: {st:?}");
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn node_connect_through_rhizome_relays() {
    timeout(Duration::from_secs(90), async {
        let tn = Testnet::spawn(5).await.unwrap();
        let ours: Vec<u16> = tn.addresses().iter().map(|a| a.port()).collect();
        let out = node(&["connect".into(), port_arg(&tn)]).await.unwrap();
        assert_eq!(out["got"], "echo:ping", "{out}");
        assert_eq!(out["remote"], hex(&Keypair::from_seed(&[0xee; 32]).public_key()));
        let relays: Vec<u16> = out["relays"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap() as u16).collect();
        assert!(!relays.is_empty() && relays.iter().all(|p| ours.contains(p)), "relays {relays:?} are our nodes {ours:?}");
        let st = tn.stats();
        eprintln!("connect: {st:?}");
        assert!(st.handshakes_forwarded >= 1 && st.handshakes_answered >= 1, "relayed through our nodes: {st:?}");
        let from = out["find_peer_from"].as_u64().map(|p| p as u16);
        assert!(from.is_some_and(|p| ours.contains(&p)), "FIND_PEER answered by our node: {out}");
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn node_records_on_rhizome_nodes() {
    timeout(Duration::from_secs(90), async {
        let tn = Testnet::spawn(5).await.unwrap();
        let out = node(&["records".into(), port_arg(&tn)]).await.unwrap();
        assert!(out["mutable_put_nodes"].as_u64().unwrap() >= 4, "{out}");
        assert_eq!(out["mutable_get"]["seq"], 3, "{out}");
        assert_eq!(out["mutable_get"]["value"], "node mutable");
        assert_eq!(out["immutable_get"], true, "{out}");
        assert!(out["forged_tried"].as_u64().unwrap() >= 4, "{out}");
        assert_eq!(out["forged_answered"], 0, "a forged put gets no reply: {out}");
        assert_eq!(out["after_forged"]["value"], "node mutable", "{out}");
        // and our own client reads what Node wrote to our nodes
        let c = Dht::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), tn.bootstrap(), Config::default()).await.unwrap();
        let pk = Keypair::from_seed(&[0xcc; 32]).public_key();
        let got = c.mutable_get(&pk, 0).await.unwrap().unwrap();
        assert_eq!((got.seq, &got.value[..]), (3, &b"node mutable"[..]));
        assert!(tn.stats().mutables >= 4 && tn.stats().immutables >= 4, "{:?}", tn.stats());
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn node_announce_flood_leaves_the_store_bounded() {
    timeout(Duration::from_secs(90), async {
        let limits = Limits { max_per_source: 400, ..Limits::default() };
        let tn = Testnet::spawn_with(5, limits).await.unwrap();
        let victim = tn.addresses()[2];
        let out = node(&["flood".into(), port_arg(&tn), victim.port().to_string(), "3000".into()]).await.unwrap();
        assert_eq!(out["sent"], 3000, "{out}");
        let acked = out["acked"].as_u64().unwrap();
        let st = tn.nodes()[2].stats();
        eprintln!("flood: {out} → store {st:?}");
        assert!(acked > 0, "some announces were accepted (the flood is real): {out}");
        assert!(acked <= 400, "at most the per-source quota is acknowledged: {out}");
        assert!(st.records <= 400 && st.topics <= 400, "{st:?}");
        assert!(st.record_bytes <= 400 * 256, "{st:?}");
        assert_eq!(st.records as u64, acked, "every acknowledged announce is stored, nothing else");
    })
    .await
    .expect("timed out");
}

/// On a Node testnet (plus one of our storing nodes): Node writes, our client reads; our
/// client writes, Node reads.
#[tokio::test]
async fn our_client_records_interoperate_on_a_node_testnet() {
    timeout(Duration::from_secs(90), async {
        let mut child = Command::new("node")
            .args(["hdht-node-peers.mjs", "testnet"])
            .current_dir(script_dir().unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let hello: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        let boot = SocketAddrV4::new(Ipv4Addr::LOCALHOST, hello["bootstrap"].as_u64().unwrap() as u16);
        let mut ask = async |cmd: Value| -> Value {
            stdin.write_all(format!("{cmd}\n").as_bytes()).await.unwrap();
            let v: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
            assert!(v.get("error").is_none(), "node: {v}");
            v
        };
        let c = Dht::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), vec![boot], Config::default()).await.unwrap();
        // One of our storing nodes joins the Node network too.
        let ours = PersistentNode::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), vec![boot]).await.unwrap();

        // Node → Rust
        let seed = [0x11u8; 32];
        let r = ask(serde_json::json!({"op": "put-mutable", "seed": hex(&seed), "value": hex(b"from node"), "seq": 7})).await;
        assert!(r["nodes"].as_u64().unwrap() >= 1, "{r}");
        let got = c.mutable_get(&Keypair::from_seed(&seed).public_key(), 0).await.unwrap().unwrap();
        assert_eq!((got.seq, &got.value[..]), (7, &b"from node"[..]));
        let r = ask(serde_json::json!({"op": "put-immutable", "value": hex(b"node immutable")})).await;
        let h: [u8; 32] = unhex(r["hash"].as_str().unwrap()).try_into().unwrap();
        assert_eq!(c.immutable_get(&h).await.unwrap().unwrap(), b"node immutable");
        let st = ours.stats();
        assert!(st.mutables == 1 && st.immutables == 1, "Node's puts reached our node in a Node network: {st:?}");

        // Rust → Node
        let kp = Keypair::from_seed(&[0x22; 32]);
        let put = c.mutable_put(&kp, b"from rust", 9).await.unwrap();
        assert!(put.stored >= 3, "the testnet's 4 persistent nodes store it: {put:?}");
        let r = ask(serde_json::json!({"op": "get-mutable", "pk": hex(&kp.public_key())})).await;
        assert_eq!(r["seq"], 9, "{r}");
        assert_eq!(r["value"], hex(b"from rust"));
        let put = c.immutable_put(b"rust immutable").await.unwrap();
        let r = ask(serde_json::json!({"op": "get-immutable", "hash": hex(&put.target)})).await;
        assert_eq!(r["value"], hex(b"rust immutable"), "{r}");
        // Node's storing nodes refuse a stale seq from us too
        assert!(matches!(c.mutable_put(&kp, b"stale", 8).await, Err(rhizome_hyperdht::records::RecordError::SeqTooLow)));
        drop(stdin);
    })
    .await
    .expect("timed out");
}
