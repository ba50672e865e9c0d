//! The Rhizome node: the API peer-to-peer applications are built on.
//!
//! A [`Node`] has an identity, listens and dials over TCP (or the in-memory
//! transport), secures connections with Noise and multiplexes them with yamux, and
//! serves streams with handlers you register per protocol. It runs its own tasks:
//! there is no event loop to drive.
//!
//! ```
//! use rhizome_node::{Node, StreamCtx};
//! use rhizome_swarm::Stream;
//! use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let server = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse()?).build().await?;
//! server.set_stream_handler("/echo/1.0.0", |mut s: Stream, _ctx: StreamCtx| async move {
//!     let (mut r, mut w) = tokio::io::split(&mut s);
//!     tokio::io::copy(&mut r, &mut w).await?;
//!     w.shutdown().await
//! })?;
//!
//! let client = Node::builder().build().await?;
//! let addr = rhizome_identity::with_peer_id(&server.listen_addrs()[0], server.id());
//! let peer = client.dial(addr).await?;
//! let mut s = client.open_stream(peer, "/echo/1.0.0").await?;
//! s.write_all(b"hello").await?;
//! s.shutdown().await?;
//! let mut back = String::new();
//! s.read_to_string(&mut back).await?;
//! assert_eq!(back, "hello");
//!
//! client.shutdown().await;
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Protocol services need nothing below the node: our key ([`Node::keypair`],
//! [`Node::public_key`]), listen and confirmed external addresses, the address book,
//! events, connections that arrive established ([`Node::add_connection`]), peer
//! routers ([`Node::add_peer_router`]), an admission hook ([`Node::set_admission`])
//! and pull-style streams ([`Node::accept`]).
//!
//! Limits, timeouts and their defaults are on [`rhizome_swarm::Config`] and
//! [`rhizome_swarm::ConnectionLimits`]; yamux limits on [`rhizome_yamux::Config`].
#![deny(missing_docs)]

mod accept;
mod builder;
mod handler;
mod node;
mod services;

pub use accept::{DEFAULT_ACCEPT_BACKLOG, Incoming};
pub use builder::{BuildError, NodeBuilder};
pub use handler::{HandlerError, StreamCtx, StreamHandler};
pub use node::{DEFAULT_SHUTDOWN_DEADLINE, Node, WeakNode};
pub use rhizome_core::{BoxIo, IncomingStream, Keypair, Multiaddr, MuxedConnection, PeerId, ProtocolId, StreamNaming};
pub use rhizome_identity::PublicKey;
pub use rhizome_swarm::{
    AddConnectionError, Config, Connection, ConnectionId, ConnectionInfo, ConnectionLimits, ConnectionStat, DialError, Direction,
    EstablishedConnection, HandlerOpts, IncomingError, LimitKind, ListenError, MAX_ADDRS_PER_PEER, OpenStreamError, PeerRouter, RouterId,
    RoutingError, StatsSnapshot, Stream, StreamDirection, StreamStat, SwarmEvent as Event, TooManyRouters,
};
