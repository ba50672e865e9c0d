//! Test helpers for Rhizome and for applications built on it.
//!
//! - [`pair`] / [`pair_tcp`]: two connected nodes (in-memory, or TCP on 127.0.0.1).
//! - [`network`]: `n` nodes on the in-memory transport, all connected to the first,
//!   and all knowing each other's addresses (so `open_stream` works between any two).
//! - [`timeout`]: run a future under a deadline ([`DEFAULT_TIMEOUT`], 10 s) and panic
//!   with a clear message when it expires.
//! - [`init_tracing`]: a test-writer tracing subscriber (`RUST_LOG`, default `warn`).
//! - [`established`]: a test transport whose connections arrive established, with
//!   named streams or as a single stream ([`established::connect_named`],
//!   [`established::connect_single`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (a, b) = rhizome_testing::pair().await;
//! assert_eq!(a.connected_peers(), vec![b.id()]);
//! # }
//! ```
#![deny(missing_docs)]

pub mod established;

use std::future::Future;
use std::time::Duration;

use rhizome_core::{Keypair, KeypairExt as _, Multiaddr};
use rhizome_node::Node;

/// The deadline [`timeout`] uses.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Installs a tracing subscriber writing through the test harness (idempotent).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// Runs `f` under [`DEFAULT_TIMEOUT`].
///
/// # Panics
/// When the deadline passes (that is the point: a hung test fails instead of hanging).
pub async fn timeout<F: Future>(f: F) -> F::Output {
    timeout_after(DEFAULT_TIMEOUT, f).await
}

/// Runs `f` under `limit`.
///
/// # Panics
/// When the deadline passes.
pub async fn timeout_after<F: Future>(limit: Duration, f: F) -> F::Output {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("test timed out after {limit:?}"),
    }
}

/// The deterministic keypair whose Ed25519 secret is 32 bytes of `n`.
pub fn seeded_keypair(n: u8) -> Keypair {
    Keypair::from_seed([n; 32])
}

/// A node on the in-memory transport, listening on a fresh `/memory/…` address.
///
/// # Panics
/// If the node cannot be built (a test setup failure).
pub async fn memory_node() -> Node {
    node_on("/memory/0").await
}

/// A node with TCP (and memory) listening on `addr`.
///
/// # Panics
/// If the node cannot be built.
pub async fn node_on(addr: &str) -> Node {
    let listen: Multiaddr = addr.parse().unwrap_or_else(|e| panic!("bad address {addr}: {e}"));
    Node::builder().tcp().memory().listen(listen).build().await.unwrap_or_else(|e| panic!("cannot build node: {e}"))
}

/// The first listen address of `node` with `/p2p/<id>`.
///
/// # Panics
/// If the node listens nowhere.
pub fn addr_of(node: &Node) -> Multiaddr {
    let addr = node.listen_addrs().into_iter().next().unwrap_or_else(|| panic!("node listens nowhere"));
    rhizome_identity::with_peer_id(&addr, node.id())
}

async fn connect(a: &Node, b: &Node) {
    a.dial(addr_of(b)).await.unwrap_or_else(|e| panic!("dial failed: {e}"));
}

/// Two nodes on the in-memory transport; the first has dialed the second.
pub async fn pair() -> (Node, Node) {
    let (a, b) = (memory_node().await, memory_node().await);
    connect(&a, &b).await;
    (a, b)
}

/// Two nodes on TCP 127.0.0.1; the first has dialed the second.
pub async fn pair_tcp() -> (Node, Node) {
    let (a, b) = (node_on("/ip4/127.0.0.1/tcp/0").await, node_on("/ip4/127.0.0.1/tcp/0").await);
    connect(&a, &b).await;
    (a, b)
}

/// `n` in-memory nodes; every node has dialed node 0, and every node knows every
/// other's address.
pub async fn network(n: usize) -> Vec<Node> {
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        nodes.push(memory_node().await);
    }
    for node in nodes.iter().skip(1) {
        connect(node, &nodes[0]).await;
    }
    for a in &nodes {
        for b in &nodes {
            if a.id() != b.id() {
                a.add_address(b.id(), addr_of(b), Duration::from_secs(3600));
            }
        }
    }
    nodes
}
