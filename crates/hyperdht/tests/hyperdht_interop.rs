//! The hyperdht peer side against Node hyperdht 6.34 (interop-tests/hyperswarm, `npm ci`
//! first), all on 127.0.0.1 over a Node `createTestnet(5)`:
//! (a) Rust `connect`s to a Node `createServer()`; (b) a Node `dht.connect` reaches a Rust
//! `listen`er; both exchange 1 MiB each way, checked with SHA-256; (c) announce/lookup both
//! ways; (d) a replayed msg1 gets the identical reply and one session, a forged one nothing;
//! (e) Node Hyperswarm 4.17 peers (client and server) over the same path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use rhizome_hyperdht::node::OutRequest;
use rhizome_hyperdht::peer::blake2b_256;
use rhizome_hyperdht::peer_handshake::ClientHandshake;
use rhizome_hyperdht::rpc::Config;
use rhizome_hyperdht::wire::handshake::{HandshakeMessage, Mode};
use rhizome_hyperdht::wire::ns::command;
use rhizome_hyperdht::{Dht, DhtError, Keypair, SecretStream};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

const MIB: usize = 1 << 20;

fn local(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new([127, 0, 0, 1].into(), port)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex32(s: &str) -> [u8; 32] {
    let v: Vec<u8> = (0..64).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect();
    v.try_into().unwrap()
}

struct NodeNet {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    stash: VecDeque<Value>,
    bootstrap: Vec<SocketAddrV4>,
}

impl NodeNet {
    async fn start() -> anyhow::Result<Self> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop-tests/hyperswarm");
        if !dir.join("node_modules/hyperdht").is_dir() {
            bail!("hyperdht is not installed: run `npm ci` in {}", dir.display());
        }
        let mut child = Command::new("node")
            .arg("hyperdht-peer.mjs")
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("spawning node (is Node.js installed?)")?;
        let stdin = child.stdin.take().context("stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let hello: Value = serde_json::from_str(&lines.next_line().await?.context("no testnet")?)?;
        let bootstrap = hello["bootstrap"].as_array().context("bootstrap")?.iter().map(|p| local(p.as_u64().unwrap() as u16)).collect();
        Ok(Self { _child: child, stdin, lines, stash: VecDeque::new(), bootstrap })
    }

    async fn send(&mut self, v: Value) -> anyhow::Result<()> {
        self.stdin.write_all(format!("{v}\n").as_bytes()).await?;
        Ok(())
    }

    /// The next line matching `pred` (others are kept for later calls).
    async fn expect(&mut self, pred: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        if let Some(i) = self.stash.iter().position(&pred) {
            return Ok(self.stash.remove(i).unwrap());
        }
        loop {
            let line = self.lines.next_line().await?.context("node exited")?;
            let v: Value = serde_json::from_str(&line)?;
            ensure!(v.get("error").is_none(), "node side failed: {v}");
            if pred(&v) {
                return Ok(v);
            }
            self.stash.push_back(v);
        }
    }

    async fn rust_dht(&self) -> anyhow::Result<Arc<Dht>> {
        Ok(Arc::new(Dht::bind(local(0), self.bootstrap.clone(), Config::default()).await?))
    }
}

fn is_ok(what: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["ok"] == what
}

struct Exchanged {
    sent: String,
    received: String,
    received_bytes: usize,
}

/// Writes `bytes` pseudo-random bytes and ends, while reading to the end.
async fn exchange(s: SecretStream<rhizome_udx::Stream>, bytes: usize, seed: u64) -> anyhow::Result<Exchanged> {
    let mut x = seed | 1;
    let data: Vec<u8> = (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let sent = hex(&Sha256::digest(&data));
    let (mut r, mut w) = tokio::io::split(s);
    let writer = async move {
        for c in data.chunks(64 * 1024) {
            w.write_all(c).await?;
        }
        w.shutdown().await?;
        anyhow::Ok(w)
    };
    let reader = async move {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await?;
        anyhow::Ok(got)
    };
    let (w, got) = tokio::try_join!(writer, reader)?;
    drop(w);
    Ok(Exchanged { sent, received: hex(&Sha256::digest(&got)), received_bytes: got.len() })
}

fn check(ours: &Exchanged, theirs: &Value) -> anyhow::Result<()> {
    ensure!(theirs["receivedBytes"] == MIB, "node received {} bytes", theirs["receivedBytes"]);
    ensure!(ours.received_bytes == MIB, "we received {} bytes", ours.received_bytes);
    ensure!(theirs["received"] == ours.sent.as_str(), "node got other bytes than we sent");
    ensure!(theirs["sent"] == ours.received.as_str(), "we got other bytes than node sent");
    Ok(())
}

async fn rust_connects_to_node_server() -> anyhow::Result<()> {
    let mut net = NodeNet::start().await?;
    net.send(json!({"cmd": "server", "seed": hex(&[0x11; 32]), "bytes": MIB})).await?;
    let srv = net.expect(is_ok("server")).await?;
    let pk = unhex32(srv["pk"].as_str().context("pk")?);
    let relays: Vec<SocketAddrV4> = srv["relays"].as_array().context("relays")?.iter().map(|p| local(p.as_u64().unwrap() as u16)).collect();
    ensure!(!relays.is_empty(), "node server has relays");
    let dht = net.rust_dht().await?;
    let me = Keypair::from_seed(&[0x22; 32]);

    // through the relays of the server record, then through FIND_PEER
    for (round, given) in [relays.clone(), vec![]].into_iter().enumerate() {
        let s = dht.connect(&me, &pk, &given).await.with_context(|| format!("connect round {round}"))?;
        ensure!(*s.remote_public_key() == pk && s.is_initiator());
        let ours = exchange(s, MIB, 7 + round as u64).await?;
        let theirs = net.expect(|v| v["event"] == "conn").await?;
        ensure!(theirs["remote"] == hex(&me.public_key()), "node saw our key");
        check(&ours, &theirs)?;
    }
    // find_peer sees the server's relays
    let rec = dht.find_peer(&pk).await?.context("server record")?;
    ensure!(rec.relay_addresses.iter().any(|a| relays.contains(a)), "{rec:?} vs {relays:?}");
    // an unknown key is not found
    let nobody = Keypair::generate().public_key();
    let err = dht.connect(&me, &nobody, &[]).await.unwrap_err();
    ensure!(matches!(err, rhizome_hyperdht::ConnectError::PeerNotFound), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn a_rust_client_node_server_1mib_each_way() -> anyhow::Result<()> {
    timeout(Duration::from_secs(90), rust_connects_to_node_server()).await.context("timed out")?
}

async fn node_connects_to_rust_server() -> anyhow::Result<()> {
    let mut net = NodeNet::start().await?;
    let dht = net.rust_dht().await?;
    let kp = Keypair::from_seed(&[0x33; 32]);
    let mut server = dht.listen(kp.clone()).await?;
    let relays = server.relay_addresses();
    ensure!(relays.len() == 3, "announce-self reached 3 relays: {relays:?}");
    for (round, given) in [relays.iter().map(|a| a.port()).collect::<Vec<_>>(), vec![]].into_iter().enumerate() {
        net.send(json!({"cmd": "connect", "pk": hex(&kp.public_key()), "relays": given, "bytes": MIB})).await?;
        let s = timeout(Duration::from_secs(20), server.accept()).await.context("no connection")?.context("server closed")?;
        ensure!(!s.is_initiator());
        let remote = *s.remote_public_key();
        let ours = exchange(s, MIB, 11 + round as u64).await?;
        let theirs = net.expect(is_ok("connect")).await?;
        ensure!(theirs["remote"] == hex(&kp.public_key()), "node authenticated our key");
        ensure!(remote != kp.public_key());
        check(&ours, &theirs).with_context(|| format!("round {round}"))?;
    }
    server.close().await;
    // close unannounced: no node holds our router entry any more
    ensure!(dht.find_peer(&kp.public_key()).await?.is_none(), "router entry removed by close");
    Ok(())
}

#[tokio::test]
async fn b_node_client_rust_server_1mib_each_way() -> anyhow::Result<()> {
    timeout(Duration::from_secs(90), node_connects_to_rust_server()).await.context("timed out")?
}

async fn announce_lookup_both_ways() -> anyhow::Result<()> {
    let mut net = NodeNet::start().await?;
    let dht = net.rust_dht().await?;
    let topic = blake2b_256(b"rhizome hyperdht interop topic");
    let ours = Keypair::from_seed(&[0x44; 32]);
    let relay = local(40_000);
    dht.announce(&topic, &ours, &[relay]).await?;
    net.send(json!({"cmd": "lookup", "topic": hex(&topic)})).await?;
    let seen = net.expect(is_ok("lookup")).await?;
    let peers = seen["peers"].as_array().context("peers")?;
    let me = peers.iter().find(|p| p["pk"] == hex(&ours.public_key())).context("node lookup sees our record")?;
    ensure!(me["relays"] == json!(["127.0.0.1:40000"]), "{me}");

    net.send(json!({"cmd": "announce", "topic": hex(&topic), "seed": hex(&[0x55; 32])})).await?;
    let theirs = unhex32(net.expect(is_ok("announce")).await?["pk"].as_str().context("pk")?);
    let found = dht.lookup(&topic).await?.collect().await;
    let keys: Vec<[u8; 32]> = found.iter().map(|r| r.public_key).collect();
    ensure!(keys.contains(&theirs) && keys.contains(&ours.public_key()), "rust lookup: {keys:?}");
    ensure!(keys.len() == 2, "deduplicated across nodes: {keys:?}");

    dht.unannounce(&topic, &ours).await?;
    net.send(json!({"cmd": "lookup", "topic": hex(&topic)})).await?;
    let after = net.expect(is_ok("lookup")).await?;
    ensure!(after["peers"].as_array().context("peers")?.iter().all(|p| p["pk"] != hex(&ours.public_key())), "unannounced: {after}");
    Ok(())
}

#[tokio::test]
async fn c_announce_and_lookup_both_ways() -> anyhow::Result<()> {
    timeout(Duration::from_secs(90), announce_lookup_both_ways()).await.context("timed out")?
}

async fn replay_and_forgery() -> anyhow::Result<()> {
    let net = NodeNet::start().await?;
    let server_dht = net.rust_dht().await?;
    let kp = Keypair::from_seed(&[0x66; 32]);
    let mut server = server_dht.listen(kp.clone()).await?;
    let relay = *server.relay_addresses().first().context("a relay")?;
    let client = net.rust_dht().await?;
    let target = blake2b_256(&kp.public_key());
    let stream = client.socket().stream(4242)?;
    let me = Keypair::generate();
    let hs = ClientHandshake::new(me.clone(), kp.public_key(), client.local_addr(), stream.local_id())?;
    let req = || OutRequest::new(command::PEER_HANDSHAKE).target(target).value(hs.request_value());

    // the same msg1 twice through a Node relay: identical replies
    let (from1, r1) = client.request_from(relay, req()).await?;
    let (from2, r2) = client.request_from(relay, req()).await?;
    ensure!(from1 == relay && from2 == relay);
    let v1 = r1.value.context("reply value")?;
    ensure!(Some(&v1) == r2.value.as_ref(), "a replayed msg1 gets the same msg2");
    let reply = HandshakeMessage::decode(&v1)?;
    ensure!(reply.mode == Mode::Reply && reply.peer_address == Some(server_dht.local_addr()));

    // one session only
    let first = timeout(Duration::from_secs(10), server.accept()).await.context("no session")?.context("closed")?;
    ensure!(timeout(Duration::from_secs(2), server.accept()).await.is_err(), "a second session was opened");

    // and it works
    let out = hs.on_reply(Some(&v1), relay)?;
    stream.connect(out.remote_udx_id, out.server_address.into())?;
    let mut c = SecretStream::with_handshake(stream, &out.result, &rhizome_secret_stream::Config::default());
    let mut s = first;
    c.write_all(b"ping").await?;
    c.flush().await?;
    let mut buf = [0u8; 4];
    timeout(Duration::from_secs(10), s.read_exact(&mut buf)).await??;
    ensure!(&buf == b"ping");

    // forged msg1s (random Noise, truncated, garbage value) are dropped: no reply, no panic
    let forged = HandshakeMessage { mode: Mode::FromClient, noise: vec![0x5a; 116], peer_address: None, relay_address: None };
    let r = client.request(relay, OutRequest::new(command::PEER_HANDSHAKE).target(target).value(forged.encode())).await;
    ensure!(matches!(r, Err(DhtError::Timeout)), "forged handshake answered: {r:?}");
    let garbage = OutRequest::new(command::PEER_HANDSHAKE).target(target).value(vec![0xff; 9]);
    // straight to the server, so nothing but our code sees it
    let r = client.request(server_dht.local_addr(), garbage).await;
    ensure!(matches!(r, Err(DhtError::Timeout)), "garbage answered: {r:?}");
    ensure!(timeout(Duration::from_millis(500), server.accept()).await.is_err(), "no session from forgeries");

    // the server still serves, relayed (Rust ↔ Node relay ↔ Rust) and direct (FROM_CLIENT
    // straight to the server, answered with a REPLY response)
    for via in [relay, server_dht.local_addr()] {
        let mut c = client.connect(&Keypair::generate(), &kp.public_key(), &[via]).await.with_context(|| format!("via {via}"))?;
        let mut s = timeout(Duration::from_secs(10), server.accept()).await.context("no session")?.context("closed")?;
        c.write_all(b"hello").await?;
        c.flush().await?;
        s.write_all(b"world").await?;
        s.flush().await?;
        let (mut a, mut b) = ([0u8; 5], [0u8; 5]);
        timeout(Duration::from_secs(10), async { tokio::try_join!(s.read_exact(&mut a), c.read_exact(&mut b)) }).await??;
        ensure!(&a == b"hello" && &b == b"world", "via {via}");
    }
    Ok(())
}

#[tokio::test]
async fn d_replayed_msg1_same_reply_forged_dropped() -> anyhow::Result<()> {
    timeout(Duration::from_secs(90), replay_and_forgery()).await.context("timed out")?
}

async fn hyperswarm_both_ways() -> anyhow::Result<()> {
    let mut net = NodeNet::start().await?;
    let dht = net.rust_dht().await?;
    // Rust server announced on a topic ← a Node Hyperswarm client joins it
    let topic = blake2b_256(b"rhizome hyperswarm interop topic");
    let kp = Keypair::from_seed(&[0x88; 32]);
    let mut server = dht.listen(kp.clone()).await?;
    dht.announce(&topic, &kp, &server.relay_addresses()).await?;
    net.send(json!({"cmd": "swarm", "topic": hex(&topic), "seed": hex(&[0x99; 32]), "client": true, "bytes": MIB})).await?;
    let s = timeout(Duration::from_secs(30), server.accept()).await.context("no hyperswarm connection")?.context("closed")?;
    ensure!(hex(s.remote_public_key()) == hex(&Keypair::from_seed(&[0x99; 32]).public_key()));
    let ours = exchange(s, MIB, 21).await?;
    let theirs = net.expect(|v| v["event"] == "swarm-conn").await?;
    check(&ours, &theirs)?;

    // a Node Hyperswarm server on another topic → Rust lookup + connect through its relays
    let topic2 = blake2b_256(b"rhizome hyperswarm interop topic 2");
    net.send(json!({"cmd": "swarm", "topic": hex(&topic2), "seed": hex(&[0xaa; 32]), "server": true, "bytes": MIB})).await?;
    let pk = unhex32(
        net.expect(|v| v["ok"] == "swarm" && v["pk"] != hex(&Keypair::from_seed(&[0x99; 32]).public_key())).await?["pk"]
            .as_str()
            .context("pk")?,
    );
    let rec = dht.lookup(&topic2).await?.collect().await.into_iter().find(|r| r.public_key == pk).context("swarm server record")?;
    ensure!(!rec.relay_addresses.is_empty(), "hyperswarm announces its relays: {rec:?}");
    let c = dht.connect(&Keypair::from_seed(&[0xbb; 32]), &pk, &rec.relay_addresses).await?;
    let ours = exchange(c, MIB, 23).await?;
    let theirs = net.expect(|v| v["event"] == "swarm-conn").await?;
    check(&ours, &theirs)?;
    server.close().await;
    Ok(())
}

#[tokio::test]
async fn e_node_hyperswarm_both_ways() -> anyhow::Result<()> {
    timeout(Duration::from_secs(90), hyperswarm_both_ways()).await.context("timed out")?
}
