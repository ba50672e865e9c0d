//! Hyperswarm interop with Node.js hyperswarm 4.17 / hyperdht 6.34 (interop-tests/hyperswarm,
//! `npm ci` first), all on 127.0.0.1, on hyperdht testnets of 5 nodes:
//! (a) a Rhizome client finds a Node server, (b) a Node client finds a Rhizome server —
//! 1 MiB each way, hashes compared; (c) two Node peers connect over a testnet made only of
//! Rhizome DHT nodes; (d) Rhizome ↔ Rhizome on both DHTs; (e) one Rhizome node serves the
//! same echo handler to a libp2p peer over TCP and to a Node peer over a topic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use rhizome_hyperdht::testnet::Testnet;
use rhizome_hyperswarm::{Config, DhtNetwork, Hyperswarm, JoinOpts, Keypair, hex};
use rhizome_node::{Node, ProtocolId, Stream, StreamCtx};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const MIB: usize = 1 << 20;
const T: Duration = Duration::from_secs(90);
const ECHO: ProtocolId = ProtocolId::from_static("/echo/1.0.0");

/// Node peers are heavy on a shared 2-core machine: one test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn script_dir() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop-tests/hyperswarm");
    if !dir.join("node_modules/hyperswarm").is_dir() {
        bail!("hyperswarm is not installed: run `npm ci` in {}", dir.display());
    }
    Ok(dir)
}

struct NodePeer {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodePeer {
    fn spawn(opts: Value) -> anyhow::Result<Self> {
        let mut child = Command::new("node")
            .arg("swarm-peer.mjs")
            .arg(opts.to_string())
            .current_dir(script_dir()?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("spawning node (is Node.js installed?)")?;
        let lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        Ok(Self { child, lines })
    }

    /// The next line whose event is `event`.
    async fn next(&mut self, event: &str) -> anyhow::Result<Value> {
        loop {
            let line = self.lines.next_line().await?.with_context(|| format!("node exited before {event:?}"))?;
            let v: Value = serde_json::from_str(&line).with_context(|| format!("bad line {line}"))?;
            assert_eq!(v["impl"], "node");
            if v["event"] == "error" {
                bail!("node peer failed: {v}");
            }
            if v["event"] == event {
                return Ok(v);
            }
        }
    }
}

/// A hyperdht testnet of 5 Node nodes; its bootstrap address.
async fn node_testnet() -> anyhow::Result<(NodePeer, SocketAddrV4)> {
    let mut tn = NodePeer::spawn(json!({ "role": "testnet" }))?;
    let hello = tn.next("testnet").await?;
    let port = hello["bootstrap"][0].as_u64().context("port")? as u16;
    Ok((tn, SocketAddrV4::new([127, 0, 0, 1].into(), port)))
}

async fn rhizome_swarm(boot: SocketAddrV4, seed: u8) -> Hyperswarm {
    let net = DhtNetwork::bind(vec![boot]).await.unwrap();
    Hyperswarm::standalone(Keypair::from_seed(&[seed; 32]), net, Config::default())
}

fn sha(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

/// Node's `exchange`: send `out`, end, read to the end; (sha sent, sha received, received bytes).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, out: &[u8]) -> anyhow::Result<(String, String, usize)> {
    let (mut r, mut w) = tokio::io::split(&mut s);
    let send = async {
        w.write_all(out).await?;
        w.shutdown().await
    };
    let mut back = Vec::new();
    let (a, b) = tokio::join!(send, r.read_to_end(&mut back));
    a?;
    b?;
    Ok((sha(out), sha(&back), back.len()))
}

fn random(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

#[tokio::test]
async fn a_rhizome_client_finds_a_node_server_and_exchanges_a_mib_each_way() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(T, async {
        let (_tn, boot) = node_testnet().await.unwrap();
        let topic = [0xa1; 32];
        let mut server =
            NodePeer::spawn(json!({ "role": "serve", "bootstrap": [boot.port()], "topic": hex(&topic), "mode": "exchange", "bytes": MIB }))
                .unwrap();
        let node_pk = server.next("listening").await.unwrap()["public_key"].as_str().unwrap().to_string();

        let swarm = rhizome_swarm(boot, 0xa2).await;
        let mut conns = swarm.connections().unwrap();
        let mut d = swarm.join(topic, JoinOpts::client()).await.unwrap();
        assert!(d.flushed().await, "lookup finished");
        let c = conns.recv().await.unwrap();
        assert_eq!(hex(c.stream.remote_public_key()), node_pk);
        assert!(c.stream.is_initiator());
        let out = random(MIB);
        let (sent, received, n) = exchange(c.stream, &out).await.unwrap();
        assert_eq!(n, MIB);
        let report = server.next("exchange").await.unwrap();
        assert_eq!(report["remote"], hex(&swarm.public_key()));
        assert_eq!(report["receivedBytes"], MIB);
        assert_eq!(report["received"], sent, "Node got our bytes");
        assert_eq!(report["sent"], received, "we got Node's bytes");
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn a_node_client_finds_a_rhizome_server_and_exchanges_a_mib_each_way() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(T, async {
        let (_tn, boot) = node_testnet().await.unwrap();
        let topic = [0xb1; 32];
        let swarm = rhizome_swarm(boot, 0xb2).await;
        let mut conns = swarm.connections().unwrap();
        let mut d = swarm.join(topic, JoinOpts::server()).await.unwrap();
        assert!(d.flushed().await, "announced");

        let mut client =
            NodePeer::spawn(json!({ "role": "join", "bootstrap": [boot.port()], "topic": hex(&topic), "mode": "exchange", "bytes": MIB }))
                .unwrap();
        let c = conns.recv().await.unwrap();
        assert!(!c.stream.is_initiator());
        let out = random(MIB);
        let (sent, received, n) = exchange(c.stream, &out).await.unwrap();
        assert_eq!(n, MIB);
        let connected = client.next("connected").await.unwrap();
        assert_eq!(connected["remote_public_key"], hex(&swarm.public_key()));
        let report = client.next("exchange").await.unwrap();
        assert_eq!(report["receivedBytes"], MIB);
        assert_eq!(report["received"], sent);
        assert_eq!(report["sent"], received);
        assert_eq!(client.next("done").await.unwrap()["ok"], true);
        assert_eq!(client.child.wait().await.unwrap().code(), Some(0));
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn two_node_peers_connect_over_a_testnet_of_rhizome_dht_nodes() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(T, async {
        let tn = Testnet::spawn(5).await.unwrap();
        let port = tn.bootstrap()[0].port();
        let topic = [0xc1; 32];
        let mut server = NodePeer::spawn(json!({ "role": "serve", "bootstrap": [port], "topic": hex(&topic), "mode": "echo" })).unwrap();
        let pk = server.next("listening").await.unwrap()["public_key"].clone();
        let mut client =
            NodePeer::spawn(json!({ "role": "join", "bootstrap": [port], "topic": hex(&topic), "mode": "echo", "bytes": MIB })).unwrap();
        assert_eq!(client.next("connected").await.unwrap()["remote_public_key"], pk);
        let echo = client.next("echo").await.unwrap();
        assert_eq!(echo["ok"], true, "{echo}");
        assert_eq!(echo["bytes"], MIB);
        assert!(tn.stats().records > 0, "the Rhizome nodes stored the announce: {:?}", tn.stats());
    })
    .await
    .expect("timed out");
}

/// Rhizome server (a node serving ECHO on the topic) and Rhizome client, 1 MiB echoed.
async fn rhizome_pair(boot: SocketAddrV4, topic: [u8; 32]) {
    let server = Node::builder().keypair(rhizome_identity_seed(0xd1)).build().await.unwrap();
    server.handle(ECHO, echo);
    let ss = Hyperswarm::new(&server, DhtNetwork::bind(vec![boot]).await.unwrap(), Config::default()).unwrap();
    let mut d = ss.join(topic, JoinOpts::server().protocol(ECHO)).await.unwrap();
    assert!(d.flushed().await);
    let client = rhizome_swarm(boot, 0xd2).await;
    let mut conns = client.connections().unwrap();
    let _j = client.join(topic, JoinOpts::client()).await.unwrap();
    let mut c = conns.recv().await.unwrap();
    assert_eq!(c.stream.peer_id(), Some(server.id()));
    let out = random(MIB);
    let (mut r, mut w) = tokio::io::split(&mut c.stream);
    let mut back = vec![0u8; MIB];
    let (a, b) = tokio::join!(w.write_all(&out), r.read_exact(&mut back));
    a.unwrap();
    b.unwrap();
    assert_eq!(sha(&back), sha(&out));
    client.destroy().await;
    server.shutdown().await;
}

fn rhizome_identity_seed(n: u8) -> rhizome_node::Keypair {
    <rhizome_node::Keypair as rhizome_identity::KeypairExt>::from_seed([n; 32])
}

async fn echo(mut s: Stream, _ctx: StreamCtx) -> std::io::Result<()> {
    let (mut r, mut w) = tokio::io::split(&mut s);
    tokio::io::copy(&mut r, &mut w).await?;
    w.shutdown().await
}

#[tokio::test]
async fn rhizome_to_rhizome_on_a_node_testnet_and_on_a_rhizome_testnet() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(T, async {
        let (_tn, boot) = node_testnet().await.unwrap();
        rhizome_pair(boot, [0xd3; 32]).await;
        let ours = Testnet::spawn(5).await.unwrap();
        rhizome_pair(ours.bootstrap()[0], [0xd4; 32]).await;
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn one_echo_handler_serves_a_libp2p_peer_and_a_node_hyperswarm_peer() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(T, async {
        let (_tn, boot) = node_testnet().await.unwrap();
        let node = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).build().await.unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        node.set_stream_handler("/echo/1.0.0", move |s: Stream, ctx: StreamCtx| {
            count.fetch_add(1, Ordering::SeqCst);
            echo(s, ctx)
        })
        .unwrap();
        let topic = [0xe1; 32];
        let swarm = Hyperswarm::new(&node, DhtNetwork::bind(vec![boot]).await.unwrap(), Config::default()).unwrap();
        let mut d = swarm.join(topic, JoinOpts::server().protocol(ECHO)).await.unwrap();
        assert!(d.flushed().await);

        // A libp2p peer over TCP + Noise + yamux.
        let libp2p = Node::builder().build().await.unwrap();
        libp2p.dial(rhizome_identity::with_peer_id(&node.listen_addrs()[0], node.id())).await.unwrap();
        let mut s = libp2p.open_stream(node.id(), "/echo/1.0.0").await.unwrap();
        s.write_all(b"from libp2p").await.unwrap();
        s.shutdown().await.unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"from libp2p");

        // A Node hyperswarm peer on the topic: 1 MiB echoed by the same handler.
        let mut client =
            NodePeer::spawn(json!({ "role": "join", "bootstrap": [boot.port()], "topic": hex(&topic), "mode": "echo", "bytes": MIB }))
                .unwrap();
        assert_eq!(client.next("connected").await.unwrap()["remote_public_key"], hex(&swarm.public_key()));
        let r = client.next("echo").await.unwrap();
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["bytes"], MIB);
        assert_eq!(served.load(Ordering::SeqCst), 2, "one handler served both peers");
        let hs = node.connections().into_iter().filter(|c| c.transport == "hyperswarm").count();
        assert!(hs <= 1);
        node.shutdown().await;
    })
    .await
    .expect("timed out");
}
