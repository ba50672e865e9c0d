//! Rhizome: a peer-to-peer networking stack in Rust that speaks the libp2p wire
//! protocols byte for byte, behind one small API.
//!
//! Start with [`Node`]: `Node::builder()…build()`, then `set_stream_handler`,
//! `dial`, `open_stream`, `events`, `shutdown`. Protocols are modules of their own
//! (`rhizome::ping`, `rhizome::identify`, `rhizome::perf`, `rhizome::kad`, and
//! `rhizome::autonat` with the `autonat` feature), written against the same public API. `rhizome::secret_stream` is the Hyperswarm wire's encrypted stream.
//!
//! Layers, each a crate re-exported here: [`identity`] → [`core`] → [`tcp`],
//! [`noise`], [`yamux`], [`multistream`] → [`swarm`] → [`node`] → protocols.
#![deny(missing_docs)]

#[cfg(feature = "autonat")]
pub use rhizome_autonat as autonat;
pub use rhizome_core as core;
#[cfg(feature = "hyperswarm")]
pub use rhizome_hyperdht as hyperdht;
#[cfg(feature = "hyperswarm")]
pub use rhizome_hyperswarm as hyperswarm;
#[cfg(feature = "identify")]
pub use rhizome_identify as identify;
pub use rhizome_identity as identity;
#[cfg(feature = "kad")]
pub use rhizome_kad as kad;
#[cfg(feature = "metrics")]
pub use rhizome_metrics as metrics;
pub use rhizome_multistream as multistream;
pub use rhizome_node as node;
pub use rhizome_noise as noise;
#[cfg(feature = "perf")]
pub use rhizome_perf as perf;
#[cfg(feature = "ping")]
pub use rhizome_ping as ping;
#[cfg(feature = "secret-stream")]
pub use rhizome_secret_stream as secret_stream;
pub use rhizome_swarm as swarm;
pub use rhizome_tcp as tcp;
#[cfg(feature = "hyperswarm")]
pub use rhizome_udx as udx;
pub use rhizome_yamux as yamux;

pub use rhizome_core::ProtocolId;
pub use rhizome_identity::{Keypair, KeypairExt, Multiaddr, PeerId, PeerIdExt, multiaddr};
pub use rhizome_node::{
    Direction, EstablishedConnection, Event, HandlerError, Incoming, Node, NodeBuilder, PeerRouter, Stream, StreamCtx, StreamHandler,
};
