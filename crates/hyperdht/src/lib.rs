//! dht-rpc 6.27, the Kademlia RPC layer under HyperDHT, byte-compatible with the Node
//! `dht-rpc` module.
//!
//! - [`compact`]: compact-encoding (sans-IO encoder/decoder).
//! - [`message`]: request/response datagrams.
//! - [`peer`]: node ids (BLAKE2b-256 of ip:port) and rotating write tokens.
//!
//! The wire layout is documented in `specs/hyperswarm.md`.
#![deny(missing_docs)]

pub mod compact;
pub mod message;
pub mod peer;
pub mod query;
pub mod routing;
pub mod rpc;
