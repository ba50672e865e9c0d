//! Acceptance 1(e) with the real peers: ONE Rhizome node serves the same echo handler,
//! `set_stream_handler("/rhizome-test/echo/1.0.0")`, to a rust-libp2p 0.57 peer over
//! TCP + Noise + yamux and to a Node.js hyperswarm 4.17 peer over a topic joined for that
//! protocol (hyperdht testnet of 5 nodes, all on 127.0.0.1; `npm ci` in
//! interop-tests/hyperswarm first).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use harness::{Impl, dial, one};
use rhizome::hyperswarm::{Config, DhtNetwork, Hyperswarm, JoinOpts, hex};
use rhizome::{Node, ProtocolId, Stream, StreamCtx};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::Command;

const ECHO: ProtocolId = ProtocolId::from_static("/rhizome-test/echo/1.0.0");

fn node_peer(opts: Value) -> (tokio::process::Child, tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hyperswarm");
    assert!(dir.join("node_modules/hyperswarm").is_dir(), "run `npm ci` in {}", dir.display());
    let mut child = Command::new("node")
        .arg("swarm-peer.mjs")
        .arg(opts.to_string())
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

async fn next(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>, event: &str) -> Value {
    loop {
        let v: Value = serde_json::from_str(&lines.next_line().await.unwrap().expect("node peer exited")).unwrap();
        assert!(v["event"] != "error", "{v}");
        if v["event"] == event {
            return v;
        }
    }
}

#[tokio::test]
async fn one_echo_handler_serves_rust_libp2p_over_tcp_and_node_hyperswarm_over_a_topic() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let (_testnet, mut tn) = node_peer(json!({ "role": "testnet" }));
        let port = next(&mut tn, "testnet").await["bootstrap"][0].as_u64().unwrap() as u16;

        let node = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).build().await.unwrap();
        // The rust-libp2p dialer identifies and pings before its echo step.
        rhizome::ping::serve(&node, &rhizome::ping::Config::default());
        let _identify = rhizome::identify::Identify::start(&node, rhizome::identify::Config::default());
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        node.set_stream_handler(ECHO, move |mut s: Stream, _ctx: StreamCtx| {
            count.fetch_add(1, Ordering::SeqCst);
            async move {
                let (mut r, mut w) = tokio::io::split(&mut s);
                tokio::io::copy(&mut r, &mut w).await?;
                w.shutdown().await
            }
        })
        .unwrap();
        let boot = std::net::SocketAddrV4::new([127, 0, 0, 1].into(), port);
        let swarm = Hyperswarm::new(&node, DhtNetwork::bind(vec![boot]).await.unwrap(), Config::default()).unwrap();
        let topic = [0x5e; 32];
        let mut joined = swarm.join(topic, JoinOpts::server().protocol(ECHO)).await.unwrap();
        assert!(joined.flushed().await, "announced");

        // rust-libp2p over TCP: dial, identify, ping, echo 100,000 bytes.
        let addr = rhizome::identity::with_peer_id(&node.listen_addrs()[0], node.id()).to_string();
        let (code, out) = dial(Impl::RustLibp2p, &addr, 7, 1).await;
        assert_eq!(code, 0, "{out:?}");
        assert_eq!(one(&out, "echo")["ok"], true);

        // Node hyperswarm over the topic: 1 MiB echoed by the same handler.
        let (_client, mut lines) =
            node_peer(json!({ "role": "join", "bootstrap": [port], "topic": hex(&topic), "mode": "echo", "bytes": 1 << 20 }));
        assert_eq!(next(&mut lines, "connected").await["remote_public_key"], hex(&swarm.public_key()));
        let echo = next(&mut lines, "echo").await;
        assert_eq!(echo["ok"], true, "{echo}");
        assert_eq!(echo["bytes"], 1 << 20);
        assert_eq!(served.load(Ordering::SeqCst), 2, "one handler served both peers");
        node.shutdown().await;
    })
    .await
    .expect("timed out");
}
