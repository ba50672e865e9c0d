//! Rhizome: a peer-to-peer networking stack in Rust that speaks the libp2p wire
//! protocols byte for byte, behind one small API.
//!
//! Start with [`Node`]: `Node::builder()…build()`, then `set_stream_handler`,
//! `dial`, `open_stream`, `events`, `shutdown`. Protocols are modules of their own
//! (`rhizome::ping`, `rhizome::identify`), written against the same public API.
//!
//! Layers, each a crate re-exported here: [`identity`] → [`core`] → [`tcp`],
//! [`noise`], [`yamux`], [`multistream`] → [`swarm`] → [`node`] → protocols.
#![deny(missing_docs)]

pub use rhizome_core as core;
#[cfg(feature = "identify")]
pub use rhizome_identify as identify;
pub use rhizome_identity as identity;
#[cfg(feature = "kad")]
pub use rhizome_kad as kad;
pub use rhizome_multistream as multistream;
pub use rhizome_node as node;
pub use rhizome_noise as noise;
#[cfg(feature = "ping")]
pub use rhizome_ping as ping;
pub use rhizome_swarm as swarm;
pub use rhizome_tcp as tcp;
pub use rhizome_yamux as yamux;

pub use rhizome_core::ProtocolId;
pub use rhizome_identity::{Keypair, Multiaddr, PeerId, multiaddr};
pub use rhizome_node::{Event, HandlerError, Incoming, Node, NodeBuilder, Stream, StreamCtx, StreamHandler};
