//! dht-rpc 6.27, the Kademlia RPC layer under HyperDHT, byte-compatible with the Node
//! `dht-rpc` module.
//!
//! - [`compact`]: compact-encoding (sans-IO encoder/decoder).
//! - [`message`]: request/response datagrams.
//! - [`peer`]: node ids (BLAKE2b-256 of ip:port) and rotating write tokens.
//! - [`routing`]: the k-bucket table; [`query`]: iterative lookups; [`rpc`]: the sans-IO node.
//! - [`node::Dht`]: the tokio shell over a `rhizome_udx::Socket`.
//! - [`persistent`]: the storing node (hyperdht's persistent.js + the relay half of router.js);
//!   [`testnet`]: n of them on 127.0.0.1; [`records`]: client mutable/immutable put/get.
//! - The peer side (hyperdht 6.34): [`wire`] (value encodings, namespaces, announce
//!   signatures), [`announce`] / [`lookup`] (`Dht::announce`, `unannounce`, `lookup`,
//!   `find_peer`), [`connect`] (`Dht::connect`), [`server`] (`Dht::listen`, [`Server`]),
//!   [`peer_handshake`] (the sans-IO Noise IK halves and the server's replay cache).
//!
//! The wire layout is documented in `specs/hyperswarm.md`.
#![deny(missing_docs)]

pub mod announce;
pub mod compact;
pub mod connect;
pub mod holepunch;
pub mod lookup;
pub mod message;
pub mod node;
pub mod peer;
pub mod peer_handshake;
pub mod persistent;
pub mod query;
pub mod records;
pub mod routing;
pub mod rpc;
pub mod server;
pub mod testnet;
pub mod wire;

pub use connect::ConnectError;
pub use lookup::Lookup;
pub use node::{Dht, DhtError};
pub use rhizome_secret_stream::Keypair;
pub use rhizome_secret_stream::SecretStream;
pub use server::Server;
pub use wire::PeerRecord;
