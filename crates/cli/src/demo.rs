//! `rhizome demo`: a small network on 127.0.0.1, walked through step by step.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use rhizome::identity::with_peer_id;
use rhizome::{KeypairExt as _, Node, Stream, StreamCtx, kad, ping};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::output::Out;
use crate::peer::{self, Peer};

const GREET: &str = "/rhizome/demo/greet/1.0.0";
const BULK: &str = "/rhizome/demo/bulk/1.0.0";
const BULK_BYTES: usize = 64 * 1024 * 1024;
const STEPS: usize = 9;

struct Step<'a> {
    out: &'a Out,
    n: usize,
}

impl Step<'_> {
    fn next(&mut self, title: &str) {
        self.n += 1;
        self.out.say("step", &format!("\n[{}/{STEPS}] {title}", self.n), json!({ "step": self.n, "title": title }));
    }
    fn info(&self, text: &str, fields: serde_json::Value) {
        self.out.say("info", &format!("      {text}"), fields);
    }
}

async fn start(name: &str, seed: u8) -> anyhow::Result<Peer> {
    let peer = peer::start(rhizome::Keypair::from_seed([seed; 32]), &["/ip4/127.0.0.1/tcp/0".parse()?], &[], false).await?;
    peer.node.set_stream_handler(GREET, greet(name.to_owned()))?;
    peer.node.set_stream_handler(BULK, bulk_sink)?;
    Ok(peer)
}

/// A custom protocol handler: answers "hello <peer>, I am <name>".
fn greet(name: String) -> impl Fn(Stream, StreamCtx) -> futures::future::BoxFuture<'static, std::io::Result<()>> + Send + Sync + 'static {
    move |mut s: Stream, ctx: StreamCtx| {
        let name = name.clone();
        Box::pin(async move {
            let reply = format!("hello {}, I am {name}", ctx.peer);
            s.write_all(reply.as_bytes()).await?;
            s.shutdown().await
        })
    }
}

/// Reads everything, then answers with the byte count.
async fn bulk_sink(mut s: Stream, _ctx: StreamCtx) -> std::io::Result<()> {
    let n = tokio::io::copy(&mut s, &mut tokio::io::sink()).await?;
    s.write_all(&n.to_be_bytes()).await?;
    s.shutdown().await
}

fn addr(node: &Node) -> anyhow::Result<rhizome::Multiaddr> {
    let a = node.listen_addrs().into_iter().next().context("no listen address")?;
    Ok(with_peer_id(&a, node.id()))
}

pub async fn run(out: Out) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut step = Step { out: &out, n: 0 };
    step.next("Three nodes start on 127.0.0.1 (TCP, Noise, yamux; identify and ping served)");
    let (alice, bob, carol) = (start("alice", 101).await?, start("bob", 102).await?, start("carol", 103).await?);
    for (name, p) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
        step.info(&format!("{name:<5} {}", addr(&p.node)?), json!({ "node": name, "addr": addr(&p.node)?.to_string() }));
    }

    step.next("alice dials bob: multistream /noise -> Noise XX handshake -> multistream /yamux/1.0.0");
    let t = Instant::now();
    let id = alice.node.dial(addr(&bob.node)?).await.context("alice -> bob")?;
    step.info(&format!("connected to {id} in {:.1} ms (peer id verified by Noise)", ms(t.elapsed())), json!({ "peer_id": id.to_string() }));

    step.next("identify: each side asked the other who it is");
    let mut events = alice.identify.subscribe();
    let info = peer::identified(&alice, bob.node.id(), &mut events).await?;
    step.info(
        &format!("bob runs {} and serves {}", info.agent_version, info.protocols.join(", ")),
        peer::identify_json(bob.node.id(), &info),
    );
    if let Some(o) = &info.observed_addr {
        step.info(&format!("bob sees alice at {o}"), json!({ "observed_addr": o.to_string() }));
    }

    step.next("ping: five round trips over one /ipfs/ping/1.0.0 stream");
    let mut pinger = ping::Pinger::open(&alice.node, bob.node.id(), &ping::Config::default()).await?;
    let mut rtts = Vec::new();
    for _ in 0..5 {
        rtts.push(format!("{:.3}", ms(pinger.ping().await?)));
    }
    pinger.close().await?;
    step.info(&format!("RTT ms: {}", rtts.join(", ")), json!({ "rtt_ms": rtts }));

    step.next(&format!("a custom protocol ({GREET}): carol was never connected to bob, open_stream dials for her"));
    carol.node.add_address(bob.node.id(), addr(&bob.node)?, Duration::from_secs(60));
    for (name, from) in [("alice", &alice), ("carol", &carol)] {
        let mut s = from.node.open_stream(bob.node.id(), GREET).await?;
        let mut reply = String::new();
        s.read_to_string(&mut reply).await?;
        step.info(&format!("{name} <- bob: {reply:?}"), json!({ "from": name, "reply": reply }));
    }

    step.next("64 MiB over one stream (alice -> carol: Noise + yamux, one connection)");
    let (secs, ok) = bulk(&alice.node, &carol).await?;
    step.info(
        &format!("{} MiB in {secs:.2} s = {:.0} MiB/s ({ok})", BULK_BYTES >> 20, (BULK_BYTES >> 20) as f64 / secs),
        json!({ "bytes": BULK_BYTES, "seconds": secs }),
    );

    step.next("Kademlia (/ipfs/kad/1.0.0): alice stores a record, carol reads it and finds alice through the DHT");
    let dhts: Vec<_> = [&alice, &bob, &carol].iter().map(|p| kad::Kademlia::start(&p.node, kad::Config::server())).collect();
    for (dht, p) in dhts.iter().zip([&alice, &bob, &carol]) {
        for other in [&alice, &bob, &carol] {
            if other.node.id() != p.node.id() && p.node.connection_to(&other.node.id()).is_some() {
                dht.add_peer(other.node.id(), other.node.listen_addrs());
            }
        }
    }
    let key = "/rhizome/demo/greeting";
    let stored = dhts[0].put_value(key, "hello from alice", kad::Quorum::One).await.context("kad put")?;
    step.info(&format!("alice put {key:?} on {stored} peer(s)"), json!({ "key": key, "stored_on": stored }));
    let record = dhts[2].get_value(key).await.context("kad get")?;
    let value = String::from_utf8_lossy(&record.value).to_string();
    step.info(&format!("carol got {key:?} = {value:?}"), json!({ "key": key, "value": value }));
    let found = dhts[2].find_node(alice.node.id()).await.context("kad find_node")?;
    step.info(
        &format!("carol found alice at {}", found.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
        json!({ "addrs": found.iter().map(ToString::to_string).collect::<Vec<_>>() }),
    );

    step.next("Hyperswarm: a local DHT of 5 Rhizome nodes; alice announces a topic, carol looks it up and connects (UDX + secret-stream)");
    hyperswarm(&step, &alice.node, &carol.node).await.context("hyperswarm step")?;

    step.next("graceful shutdown (streams drained, yamux GoAway, within 5 s)");
    let t = Instant::now();
    tokio::join!(alice.node.shutdown(), bob.node.shutdown(), carol.node.shutdown());
    step.info(&format!("all three stopped in {:.1} ms; demo took {:.1} s", ms(t.elapsed()), started.elapsed().as_secs_f64()), json!({}));
    Ok(())
}

/// alice serves GREET on a topic of a fresh Rhizome testnet; carol joins it and is greeted
/// by the same handler that serves libp2p streams.
async fn hyperswarm(step: &Step<'_>, alice: &Node, carol: &Node) -> anyhow::Result<()> {
    use rhizome::hyperdht::testnet::Testnet;
    use rhizome::hyperswarm::{Config, DhtNetwork, Hyperswarm, JoinOpts, hex};
    let net = Testnet::spawn(5).await?;
    let boot = net.bootstrap();
    step.info(
        &format!("DHT nodes on {}", net.addresses().iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
        json!({ "bootstrap": boot.iter().map(ToString::to_string).collect::<Vec<_>>() }),
    );
    let topic: [u8; 32] = demo_topic(b"rhizome demo topic");
    let sa = Hyperswarm::new(alice, DhtNetwork::bind(boot.clone()).await?, Config::default())?;
    let sc = Hyperswarm::new(carol, DhtNetwork::bind(boot).await?, Config::default())?;
    let t = Instant::now();
    let mut joined = sa.join(topic, JoinOpts::server().protocol(rhizome::ProtocolId::new(GREET)?)).await?;
    anyhow::ensure!(joined.flushed().await, "announce failed");
    step.info(&format!("alice announced topic {}… in {:.1} ms", &hex(&topic)[..16], ms(t.elapsed())), json!({ "topic": hex(&topic) }));
    let mut conns = sc.connections().context("connections")?;
    let t = Instant::now();
    let _client = sc.join(topic, JoinOpts::client()).await?;
    let mut c = tokio::time::timeout(Duration::from_secs(20), conns.recv()).await?.context("no connection")?;
    anyhow::ensure!(c.stream.remote_public_key() == &sa.public_key(), "connected to someone else");
    let mut reply = String::new();
    c.stream.read_to_string(&mut reply).await?;
    step.info(
        &format!("carol found alice on the topic and connected in {:.1} ms; alice's {GREET} handler said {reply:?}", ms(t.elapsed())),
        json!({ "remote_public_key": hex(c.stream.remote_public_key()), "reply": reply }),
    );
    joined.leave().await;
    sc.destroy().await;
    sa.destroy().await;
    Ok(())
}

fn demo_topic(name: &[u8]) -> [u8; 32] {
    // A topic is any 32 bytes; apps usually hash a name (here a fixed, readable pattern).
    let mut t = [0u8; 32];
    for (i, b) in name.iter().cycle().take(32).enumerate() {
        t[i] = *b;
    }
    t
}

async fn bulk(from: &Node, to: &Peer) -> anyhow::Result<(f64, &'static str)> {
    from.dial(addr(&to.node)?).await?;
    let mut s = from.open_stream(to.node.id(), BULK).await?;
    let chunk = vec![0x5au8; 256 * 1024];
    let t = Instant::now();
    for _ in 0..BULK_BYTES / chunk.len() {
        s.write_all(&chunk).await?;
    }
    s.shutdown().await?;
    let mut n = [0u8; 8];
    s.read_exact(&mut n).await?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(u64::from_be_bytes(n) == BULK_BYTES as u64, "receiver counted {} bytes", u64::from_be_bytes(n));
    Ok((secs, "all bytes acknowledged by the receiver"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
