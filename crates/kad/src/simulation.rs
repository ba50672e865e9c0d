//! A deterministic in-memory network of sans-IO Kademlia cores, for tests and the
//! benchmark suite (`kad::simulation::Network`).
//!
//! Every node is a [`Core`] with its routing table; lookups are [`Query`] state
//! machines driven on a virtual clock. Each pair of nodes has a fixed round-trip
//! time drawn from `[rtt_min, rtt_max]` (a hash of the pair and the seed), so a
//! lookup's latency is what α requests in flight over those links would take, with
//! no real sockets and no wall-clock waiting. Both ends of every answered request
//! learn each other, as the service's check of new connections does.
//!
//! Nodes join one by one through node 0 (a lookup of their own id), then every node
//! looks itself up `rounds` more times, as the service's periodic bootstrap does.
//! Everything is bounded: one lookup sends at most [`MAX_REQUESTS_PER_LOOKUP`]
//! requests.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng as _};
use rhizome_identity::KeypairExt as _;
use rhizome_node::{Keypair, PeerId};

use crate::key::{Distance, Key};
use crate::message::{Request, Response};
use crate::query::{Action, Query, QueryConfig, QueryStats};
use crate::server::Core;
use crate::store::StoreConfig;
use crate::validate::{AcceptAll, Validator};

/// The most requests one simulated lookup sends before it is abandoned.
pub const MAX_REQUESTS_PER_LOOKUP: u32 = 10_000;

/// How the simulated network is built (`kad::simulation::Config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Nodes in the network.
    pub nodes: usize,
    /// Seeds the node keys and the link round-trip times.
    pub seed: u64,
    /// Bucket size and lookup width (K).
    pub k: usize,
    /// Extra self-lookup rounds of every node after all have joined.
    pub rounds: usize,
    /// The fastest link's round-trip time.
    pub rtt_min: Duration,
    /// The slowest link's round-trip time.
    pub rtt_max: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self { nodes: 1000, seed: 7, k: 20, rounds: 1, rtt_min: Duration::from_millis(10), rtt_max: Duration::from_millis(100) }
    }
}

/// One lookup's result.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The closest peers that answered, closest first.
    pub closest: Vec<PeerId>,
    /// The query's counters (requests are the messages sent).
    pub stats: QueryStats,
    /// Virtual time from the first request to the end of the lookup.
    pub latency: Duration,
}

/// Medians and tails over a batch of random lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Lookups run.
    pub lookups: usize,
    /// Lookups that returned exactly the true K closest nodes.
    pub exact: usize,
    /// Median hops.
    pub hops_p50: u32,
    /// Most hops of any lookup.
    pub hops_max: u32,
    /// Median requests (messages sent) per lookup.
    pub requests_p50: u32,
    /// Median virtual latency.
    pub latency_p50: Duration,
    /// 99th-percentile virtual latency.
    pub latency_p99: Duration,
}

/// The simulated network (`kad::simulation::Network`).
pub struct Network {
    config: Config,
    ids: Vec<PeerId>,
    cores: HashMap<PeerId, Core>,
    /// Each node's hash of its id bytes and the seed, made once: link RTTs mix two.
    link_hash: HashMap<PeerId, u64>,
    now: Instant,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Network {
    /// Creates the nodes and lets them join (see the module docs).
    pub fn build(config: Config) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
        let ids: Vec<PeerId> = (0..config.nodes).map(|_| Keypair::from_seed(rng.random()).peer_id()).collect();
        let validator: Arc<dyn Validator> = Arc::new(AcceptAll);
        let cores = ids.iter().map(|id| (*id, Core::new(*id, config.k, StoreConfig::default(), validator.clone()))).collect();
        let link_hash = ids
            .iter()
            .map(|id| {
                let h = id
                    .to_bytes()
                    .iter()
                    .fold(config.seed ^ 0x9e37_79b9_7f4a_7c15, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
                (*id, h)
            })
            .collect();
        let mut net = Self { config, ids, cores, link_hash, now: Instant::now() };
        let Some(&first) = net.ids.first() else { return net };
        for i in 1..net.ids.len() {
            let id = net.ids[i];
            let now = net.now;
            if let Some(core) = net.cores.get_mut(&id) {
                core.table.insert(first, &[], now);
            }
            net.lookup(id, id.to_bytes());
        }
        for _ in 0..config.rounds {
            for i in 0..net.ids.len() {
                let id = net.ids[i];
                net.lookup(id, id.to_bytes());
            }
        }
        net
    }

    /// The nodes' ids, in creation order.
    pub fn ids(&self) -> &[PeerId] {
        &self.ids
    }

    /// The round-trip time of the link between `a` and `b` (symmetric, fixed).
    pub fn rtt(&self, a: &PeerId, b: &PeerId) -> Duration {
        let (ha, hb) = (self.link_hash.get(a).copied().unwrap_or(0), self.link_hash.get(b).copied().unwrap_or(0));
        // Symmetric in a and b; the multiply-xorshift spreads the XOR over all bits.
        let mut h = (ha ^ hb).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
        let span = self.config.rtt_max.saturating_sub(self.config.rtt_min);
        let span_us = u64::try_from(span.as_micros()).unwrap_or(u64::MAX);
        self.config.rtt_min + Duration::from_micros(if span_us == 0 { 0 } else { h % (span_us + 1) })
    }

    /// Runs one FIND_NODE lookup for `key` from `from` on the virtual clock.
    pub fn lookup(&mut self, from: PeerId, key: Vec<u8>) -> Lookup {
        let target = Key::from_bytes(&key);
        let start = self.now;
        let seeds: Vec<PeerId> =
            self.cores.get(&from).map(|c| c.table.closest(&target, self.config.k).iter().map(|e| e.peer).collect()).unwrap_or_default();
        let config = QueryConfig { k: self.config.k, ..QueryConfig::default() };
        let mut query = Query::new(target, Some(from), seeds, config, self.now);
        // Answers in flight, by arrival time (then send order, for determinism).
        let mut in_flight: BinaryHeap<Reverse<(Instant, u32, PeerId)>> = BinaryHeap::new();
        let mut sent = 0u32;
        while !query.is_finished() && sent < MAX_REQUESTS_PER_LOOKUP {
            while let Action::Request(peer) = query.poll(self.now) {
                sent += 1;
                in_flight.push(Reverse((self.now + self.rtt(&from, &peer), sent, peer)));
            }
            if query.is_finished() {
                break;
            }
            let Some(Reverse((at, _, peer))) = in_flight.pop() else {
                // Nothing in flight and nothing to send: the query is over.
                query.finish();
                break;
            };
            let deadline = query.next_deadline();
            if deadline < at && deadline > self.now {
                // A timeout comes first: let the query see it, answer still in flight.
                self.now = deadline;
                in_flight.push(Reverse((at, sent, peer)));
                continue;
            }
            self.now = self.now.max(at);
            let request = Request::FindNode { key: key.clone() };
            let now = self.now;
            let answer = self.cores.get_mut(&peer).map(|responder| {
                let answer = responder.handle_request(&from, request, &[], now);
                responder.table.insert(from, &[], now);
                answer
            });
            match answer {
                Some(Ok(Some(Response::FindNode { closer }))) => {
                    if let Some(core) = self.cores.get_mut(&from) {
                        core.table.insert(peer, &[], now);
                    }
                    query.on_success(&peer, closer.iter().map(|p| p.id));
                }
                _ => query.on_failure(&peer),
            }
        }
        query.finish();
        Lookup { closest: query.closest_succeeded(), stats: query.stats(), latency: self.now.saturating_duration_since(start) }
    }

    /// The true `k` closest nodes to `key`, leaving `exclude` out.
    pub fn true_closest(&self, key: &[u8], exclude: &PeerId) -> Vec<PeerId> {
        let target = Key::from_bytes(key);
        let mut all: Vec<(Distance, PeerId)> =
            self.ids.iter().filter(|p| *p != exclude).map(|p| (Key::from_peer(p).distance(&target), *p)).collect();
        all.sort();
        all.into_iter().take(self.config.k).map(|(_, p)| p).collect()
    }

    /// `lookups` lookups of random keys from random nodes, summarised.
    pub fn random_lookups(&mut self, lookups: usize, seed: u64) -> Summary {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let (mut exact, mut hops, mut requests, mut latency) = (0, Vec::new(), Vec::new(), Vec::new());
        for _ in 0..lookups {
            let Some(&from) = self.ids.get(rng.random_range(0..self.ids.len().max(1))) else { break };
            let key: [u8; 32] = rng.random();
            let found = self.lookup(from, key.to_vec());
            if found.closest == self.true_closest(&key, &from) {
                exact += 1;
            }
            hops.push(found.stats.hops);
            requests.push(found.stats.requests);
            latency.push(found.latency);
        }
        hops.sort_unstable();
        requests.sort_unstable();
        latency.sort_unstable();
        let at = |len: usize, q: usize| (len * q / 100).min(len.saturating_sub(1));
        Summary {
            lookups: hops.len(),
            exact,
            hops_p50: hops.get(at(hops.len(), 50)).copied().unwrap_or(0),
            hops_max: hops.last().copied().unwrap_or(0),
            requests_p50: requests.get(at(requests.len(), 50)).copied().unwrap_or(0),
            latency_p50: latency.get(at(latency.len(), 50)).copied().unwrap_or_default(),
            latency_p99: latency.get(at(latency.len(), 99)).copied().unwrap_or_default(),
        }
    }

    /// The routing tables' estimated heap, per node.
    pub fn heap_per_node(&self) -> usize {
        self.cores.values().map(|c| c.table.heap_estimate()).sum::<usize>() / self.cores.len().max(1)
    }
}
