//! Hyperswarm on a Rhizome node: join 32-byte topics, find peers on the HyperDHT and
//! exchange bytes with them — wire-compatible with Node.js `hyperswarm` 4.17.
//!
//! - [`Hyperswarm`]: the service on a [`rhizome_node::Node`]; [`Hyperswarm::join`] →
//!   [`Discovery`] (`flushed()`, `leave()`), `join_peer`, `connections()`.
//! - [`core::SwarmCore`]: the sans-IO logic (peer priorities, retry with backoff,
//!   max-peers, bans, the duplicate-connection rule), with an injected clock.
//! - [`PeerNetwork`]: what the swarm needs from the DHT; [`memory::MemoryNetwork`]
//!   for tests.
//!
//! ```
//! use rhizome_hyperswarm::{Config, Hyperswarm, JoinOpts, memory::MemoryNetwork};
//! use rhizome_node::{Node, ProtocolId, Stream, StreamCtx};
//! use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
//!
//! const ECHO: ProtocolId = ProtocolId::from_static("/echo/1.0.0");
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let net = MemoryNetwork::new();
//! let topic = [7u8; 32];
//! // A server: the node's echo handler serves the topic's connections.
//! let a = Node::builder().build().await?;
//! a.handle(ECHO, |mut s: Stream, _ctx: StreamCtx| async move {
//!     let (mut r, mut w) = tokio::io::split(&mut s);
//!     tokio::io::copy(&mut r, &mut w).await?;
//!     w.shutdown().await
//! });
//! let swarm_a = Hyperswarm::new(&a, net.clone(), Config::default())?;
//! let mut joined = swarm_a.join(topic, JoinOpts::server().protocol(ECHO)).await?;
//! assert!(joined.flushed().await);
//!
//! // A client: takes raw connections.
//! let b = Node::builder().build().await?;
//! let swarm_b = Hyperswarm::new(&b, net, Config::default())?;
//! let mut conns = swarm_b.connections().ok_or(anyhow::anyhow!("taken"))?;
//! let _client = swarm_b.join(topic, JoinOpts::client()).await?;
//! let mut conn = conns.recv().await.ok_or(anyhow::anyhow!("no connection"))?;
//! conn.stream.write_all(b"hello").await?;
//! let mut back = [0u8; 5];
//! conn.stream.read_exact(&mut back).await?;
//! assert_eq!(&back, b"hello");
//! assert_eq!(conn.stream.remote_public_key(), &swarm_a.public_key());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod conn;
pub mod core;
mod counters;
mod dht;
pub mod memory;
mod network;
pub mod peer_info;
pub mod retry;
mod swarm;
mod topics;

pub use conn::{LINGER, PeerConnection};
pub use core::{Firewall, Limits, Stats};
pub use counters::{Counters, CountersHandle};
pub use dht::DhtNetwork;
pub use network::{NetworkError, PeerListener, PeerNetwork, PeerRecord, RawConnection};
pub use peer_info::PeerInfo;
pub use rhizome_secret_stream::Keypair;
pub use swarm::{Config, Hyperswarm, SwarmConnection, SwarmError};
pub use topics::{Discovery, JoinOpts, MAX_SESSIONS_PER_TOPIC, MAX_TOPICS};

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `PeerId` of an Ed25519 public key (`None` if it is not a valid point).
pub fn peer_id(public_key: &[u8; 32]) -> Option<rhizome_node::PeerId> {
    use rhizome_identity::PublicKeyExt as _;
    rhizome_node::PublicKey::from_ed25519_bytes(public_key).ok().map(|k| k.to_peer_id())
}
