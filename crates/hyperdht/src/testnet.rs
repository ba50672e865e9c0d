//! [`Testnet`]: `n` persistent Rhizome DHT nodes on 127.0.0.1 that store and relay, the
//! Rust counterpart of hyperdht's `createTestnet` (except that every node, the first too, is
//! persistent). Real Node hyperswarm/hyperdht peers can use [`Testnet::bootstrap`].

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::persistent::{Limits, PersistentNode, ServeError, StoreStats};
use crate::rpc::Config;

/// Nodes a testnet may have at most.
pub const MAX_TESTNET_NODES: usize = 64;

/// A running testnet. Dropping it stops every node.
#[derive(Debug)]
pub struct Testnet {
    nodes: Vec<PersistentNode>,
}

impl Testnet {
    /// Spawns `n` (1..=[`MAX_TESTNET_NODES`], 5 recommended) persistent nodes on 127.0.0.1
    /// with free ports, each bootstrapped to the first.
    pub async fn spawn(n: usize) -> Result<Self, ServeError> {
        Self::spawn_with(n, Limits::default()).await
    }

    /// Like [`Testnet::spawn`] with explicit store limits.
    pub async fn spawn_with(n: usize, limits: Limits) -> Result<Self, ServeError> {
        Self::spawn_on(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), n, limits).await
    }

    /// `n` nodes, the first (the bootstrap node) bound to `first` (for example
    /// 127.0.0.1:49737), the others to free ports on the same IP.
    pub async fn spawn_on(first: SocketAddrV4, n: usize, limits: Limits) -> Result<Self, ServeError> {
        let n = n.clamp(1, MAX_TESTNET_NODES);
        let any = SocketAddrV4::new(*first.ip(), 0);
        let first = PersistentNode::bind_with(first, vec![], Config::default(), limits).await?;
        let boot = vec![first.local_addr()];
        let mut nodes = vec![first];
        for _ in 1..n {
            nodes.push(PersistentNode::bind_with(any, boot.clone(), Config::default(), limits).await?);
        }
        // The first node learnt everybody; let the others learn each other too.
        for node in &nodes[1..] {
            node.dht().find_node(node.dht().id()).await?;
        }
        Ok(Self { nodes })
    }

    /// The bootstrap list to give peers (the first node).
    pub fn bootstrap(&self) -> Vec<SocketAddrV4> {
        self.nodes.iter().take(1).map(PersistentNode::local_addr).collect()
    }

    /// Every node.
    pub fn nodes(&self) -> &[PersistentNode] {
        &self.nodes
    }

    /// Every node's address.
    pub fn addresses(&self) -> Vec<SocketAddrV4> {
        self.nodes.iter().map(PersistentNode::local_addr).collect()
    }

    /// Store sizes summed over the nodes.
    pub fn stats(&self) -> StoreStats {
        self.nodes.iter().map(PersistentNode::stats).fold(StoreStats::default(), |a, s| StoreStats {
            records: a.records + s.records,
            record_bytes: a.record_bytes + s.record_bytes,
            topics: a.topics + s.topics,
            router_entries: a.router_entries + s.router_entries,
            mutables: a.mutables + s.mutables,
            immutables: a.immutables + s.immutables,
            value_bytes: a.value_bytes + s.value_bytes,
            pending_relays: a.pending_relays + s.pending_relays,
            handshakes_forwarded: a.handshakes_forwarded + s.handshakes_forwarded,
            handshakes_answered: a.handshakes_answered + s.handshakes_answered,
            holepunches_forwarded: a.holepunches_forwarded + s.holepunches_forwarded,
            holepunches_answered: a.holepunches_answered + s.holepunches_answered,
        })
    }
}
