//! dht-rpc 6.27, the Kademlia RPC layer under HyperDHT, byte-compatible with the Node
//! `dht-rpc` module.
//!
//! - [`compact`]: compact-encoding (sans-IO encoder/decoder).
//! - [`message`]: request/response datagrams.
//! - [`peer`]: node ids (BLAKE2b-256 of ip:port) and rotating write tokens.
//! - [`routing`]: the k-bucket table; [`query`]: iterative lookups; [`rpc`]: the sans-IO node.
//! - [`node::Dht`]: the tokio shell over a `rhizome_udx::Socket`.
//!
//! The wire layout is documented in `specs/hyperswarm.md`.
#![deny(missing_docs)]

pub mod compact;
pub mod message;
pub mod node;
pub mod peer;
pub mod persistent;
pub mod query;
pub mod records;
pub mod routing;
pub mod rpc;
pub mod testnet;
pub mod wire;

pub use node::{Dht, DhtError};
