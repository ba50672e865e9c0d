//! DHT lookups on a lossy network (`tests/faults.rs`, issue: ≥ 99 % of lookups succeed
//! at 10 % loss in a 50-node network). Every node runs in this process on 127.0.0.1 of
//! the namespace the test made, whose loopback drops packets at random.
//!
//! Each subcommand builds its network without faults, prints `READY` and waits for one
//! line on stdin (the test makes the loopback lossy in between), then runs the lookups
//! and prints one `LOOKUPS {json}` line with the counts and latencies, then the usual
//! result line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rhizome::{Keypair, KeypairExt, Node, kad};
use rhizome_hyperdht::testnet::Testnet;

/// One lookup's limit: a lookup that takes longer counts as failed.
const LOOKUP_LIMIT: Duration = Duration::from_secs(30);
/// Lookups running at once.
const IN_FLIGHT: usize = 16;

/// A small deterministic generator, so a failing run can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// Says the network is built and waits (at most a minute) for the go-ahead on stdin.
async fn ready() {
    use tokio::io::AsyncBufReadExt as _;
    println!("READY");
    let mut line = String::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let _ = tokio::time::timeout(Duration::from_secs(60), stdin.read_line(&mut line)).await;
}

/// Runs the lookups, at most [`IN_FLIGHT`] at once; returns the successes and each
/// lookup's milliseconds.
async fn run_at_most_in_flight<F>(jobs: Vec<F>) -> (usize, Vec<u64>)
where
    F: std::future::Future<Output = (bool, u64)> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    let (mut ok, mut ms) = (0, Vec::new());
    let mut take = |done: Option<Result<(bool, u64), tokio::task::JoinError>>| {
        if let Some(Ok((good, t))) = done {
            ok += usize::from(good);
            ms.push(t);
        }
    };
    for job in jobs {
        if tasks.len() >= IN_FLIGHT {
            take(tasks.join_next().await);
        }
        tasks.spawn(job);
    }
    while let Some(done) = tasks.join_next().await {
        take(Some(done));
    }
    (ok, ms)
}

fn report(lookups: usize, succeeded: usize, mut ms: Vec<u64>) {
    ms.sort_unstable();
    let at = |q: usize| ms.get((ms.len() * q / 100).min(ms.len().saturating_sub(1))).copied().unwrap_or(0);
    let line = serde_json::json!({ "lookups": lookups, "succeeded": succeeded, "p50_ms": at(50), "p99_ms": at(99) });
    println!("LOOKUPS {line}");
}

/// `nodes` Kademlia servers over TCP, each dialed to node 0 and bootstrapped, then
/// `lookups` FIND_NODE lookups of one random node from another. A lookup succeeds when
/// it returns the target's addresses.
pub(crate) async fn kad_lookups(nodes: usize, lookups: usize) -> anyhow::Result<usize> {
    let t0 = Instant::now();
    let mut net: Vec<(Node, kad::Kademlia)> = Vec::new();
    for _ in 0..nodes.clamp(2, 64) {
        let keypair = Keypair::generate().context("generating a key")?;
        let node = Node::builder().keypair(keypair).tcp().listen("/ip4/127.0.0.1/tcp/0".parse()?).build().await?;
        rhizome::identify::Identify::start(&node, rhizome::identify::Config::default());
        let kad = kad::Kademlia::start(&node, kad::Config::server());
        net.push((node, kad));
    }
    eprintln!("kad: {} nodes up after {:?}", net.len(), t0.elapsed());
    let hub = net[0].0.listen_addrs().into_iter().next().context("node 0 has no address")?;
    let hub = hub.with(rhizome::multiaddr::Protocol::P2p(net[0].0.id()));
    for (node, _) in net.iter().skip(1) {
        tokio::time::timeout(LOOKUP_LIMIT, node.dial(hub.clone())).await.context("dialing node 0 timed out")??;
    }
    // Node 0 learns the others from their connections (as many as its K-buckets
    // hold): wait until its table stops growing for a second; then everyone bootstraps.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut known, mut since) = (0, Instant::now());
    while Instant::now() < deadline && (known == 0 || since.elapsed() < Duration::from_secs(1)) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now_known = net[0].1.stats().routing_table_peers;
        if now_known != known {
            (known, since) = (now_known, Instant::now());
        }
    }
    eprintln!("kad: node 0 knows {} after {:?}", net[0].1.stats().routing_table_peers, t0.elapsed());
    let mut boots = tokio::task::JoinSet::new();
    for (_, kad) in net.iter().skip(1) {
        let kad = kad.clone();
        boots.spawn(async move { tokio::time::timeout(LOOKUP_LIMIT, kad.bootstrap()).await });
    }
    while boots.join_next().await.is_some() {}
    eprintln!("kad: bootstrapped after {:?}", t0.elapsed());
    ready().await;
    let ids: Vec<_> = net.iter().map(|(n, _)| n.id()).collect();
    let mut rng = Lcg(7);
    let mut jobs = Vec::new();
    for _ in 0..lookups {
        let from = rng.below(net.len());
        let kad = net[from].1.clone();
        // A random key; the lookup must find the node closest to it (other than us).
        let key: Vec<u8> = (0..32).map(|_| rng.below(256) as u8).collect();
        let target = kad::Key::from_bytes(&key);
        let closest = ids.iter().filter(|p| **p != ids[from]).min_by_key(|p| kad::Key::from_peer(p).distance(&target)).copied();
        jobs.push(Box::pin(async move {
            let started = Instant::now();
            let found = tokio::time::timeout(LOOKUP_LIMIT, kad.get_closest_peers(&key)).await;
            let good = matches!(&found, Ok(Ok(peers)) if closest.is_some_and(|c| peers.contains(&c)));
            if !good {
                eprintln!("kad lookup from {from} failed: {found:?}");
            }
            (good, started.elapsed().as_millis() as u64)
        }));
    }
    let (ok, ms) = run_at_most_in_flight(jobs).await;
    report(lookups, ok, ms);
    eprintln!("kad: lookups done after {:?}", t0.elapsed());
    for (node, _) in net {
        node.shutdown_within(Duration::from_secs(2)).await;
    }
    Ok(ok)
}

/// A `nodes`-node Rust HyperDHT testnet (persistent, storing nodes); `announcers` of
/// them announce a topic each, then `lookups` LOOKUPs of a random topic from a random
/// node. A lookup succeeds when it returns the announcer's record.
pub(crate) async fn hdht_lookups(nodes: usize, lookups: usize) -> anyhow::Result<usize> {
    let net = Testnet::spawn(nodes.clamp(5, 64)).await.context("spawning the testnet")?;
    let dhts: Vec<Arc<rhizome_hyperdht::Dht>> = net.nodes().iter().map(|n| n.dht().clone()).collect();
    ready().await;
    // Ten nodes announce a topic each, under the loss, at once.
    let mut announces = tokio::task::JoinSet::new();
    for (i, dht) in dhts.iter().take(10).enumerate() {
        let (dht, keypair, topic) = (dht.clone(), rhizome_hyperdht::Keypair::from_seed(&[i as u8 + 1; 32]), [0x40 + i as u8; 32]);
        announces.spawn(async move {
            tokio::time::timeout(LOOKUP_LIMIT, dht.announce(&topic, &keypair, &[])).await.context("announce timed out")??;
            anyhow::Ok((topic, keypair.public_key()))
        });
    }
    let mut topics = Vec::new();
    while let Some(done) = announces.join_next().await {
        topics.push(done.context("announce task")??);
    }
    let mut rng = Lcg(11);
    let mut jobs = Vec::new();
    for _ in 0..lookups {
        let from = rng.below(dhts.len());
        let (topic, announcer) = topics[rng.below(topics.len())];
        let dht = dhts[from].clone();
        jobs.push(Box::pin(async move {
            let started = Instant::now();
            let found = tokio::time::timeout(LOOKUP_LIMIT, async {
                let records = dht.lookup(&topic).await?.collect().await;
                anyhow::Ok(records.iter().any(|r| r.public_key == announcer))
            })
            .await;
            let good = matches!(found, Ok(Ok(true)));
            if !good {
                eprintln!("hyperdht lookup from node {from} failed: {found:?}");
            }
            (good, started.elapsed().as_millis() as u64)
        }));
    }
    let (ok, ms) = run_at_most_in_flight(jobs).await;
    report(lookups, ok, ms);
    Ok(ok)
}
