//! Kademlia DHT (`/ipfs/kad/1.0.0`) for Rhizome, written only against the
//! [`rhizome_node::Node`] API.
//!
//! Two layers:
//! - a **sans-IO core** — [`Key`] (SHA-256 keyspace, XOR distance), [`Table`]
//!   (256 k-buckets, K = 20, replacement caches), [`Query`] (iterative lookup with α
//!   in flight, ending once the K closest have answered), [`Store`] (bounded records
//!   and providers with TTLs and republishing schedules), [`Core`] (answers every
//!   request) — driven with explicit `Instant`s and tested deterministically;
//! - the **service** [`Kademlia::start`]: handler, lookups, background bootstrap,
//!   refresh, expiry and republishing, client/server mode, and a peer router so
//!   `node.open_stream(peer, …)` finds unknown peers through the DHT.
//!
//! ```
//! use rhizome_kad as kad;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let (a, b) = rhizome_testing::pair().await; // a has dialed b
//! let kad_a = kad::Kademlia::start(&a, kad::Config::server());
//! let kad_b = kad::Kademlia::start(&b, kad::Config::server());
//! // Each checks the other's connection with a FIND_NODE, then knows it.
//! for _ in 0..500 {
//!     if kad_a.stats().routing_table_peers == 1 && kad_b.stats().routing_table_peers == 1 {
//!         break;
//!     }
//!     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
//! }
//! kad_a.put_value(b"key".to_vec(), b"value".to_vec(), kad::Quorum::One).await?;
//! assert_eq!(kad_b.get_value(b"key".to_vec()).await?.value, b"value");
//! # a.shutdown().await;
//! # b.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Wire: each message is `uvarint(len) || protobuf Message` (`proto/kad.proto`,
//! code committed in `proto.rs`). Several requests may share an inbound stream
//! (go-libp2p reuses streams); ADD_PROVIDER has no reply; unknown fields are
//! ignored. We send one request per stream. Messages over
//! [`Config::max_message_size`] (default [`DEFAULT_MAX_MESSAGE_SIZE`], 256 KiB) are
//! refused in both directions.
//!
//! Mode: a client refuses inbound kad streams (`na`). By default the service is a
//! server once the node has a confirmed external address; [`Config::server`]
//! forces server mode. Only peers that answer us (servers) enter the routing table.
//!
//! Not implemented: PING is answered but never sent; no go-style stream reuse on
//! the client side; no IP diversity filter; records are not signed (`/pk/` keys are
//! checked against their peer id).
//!
//! Spec: <https://github.com/libp2p/specs/blob/master/kad-dht/README.md>; our notes,
//! limits and test vectors: `specs/kad.md`.
#![deny(missing_docs)]

mod config;
mod error;
mod event;
mod key;
mod message;
pub mod proto;
mod query;
mod server;
mod service;
pub mod simulation;
mod store;
mod table;
mod validate;

use rhizome_node::ProtocolId;

pub use config::{Config, DEFAULT_MAX_MESSAGE_SIZE, Mode};
pub use error::{PutError, QueryError, RequestError};
pub use event::{Event, QueryId, QueryKind};
pub use key::{Distance, Key, random_key_in_bucket};
pub use message::{MAX_ADDRS_PER_PEER, MAX_PEERS_PER_MESSAGE, Peer, Record, Request, Response, WireError};
pub use query::{Action, PeerState, Query, QueryConfig, QueryStats};
pub use server::{Core, InboundError, InboundStats};
pub use service::{Kademlia, Quorum, Stats};
pub use store::{Source, Store, StoreConfig, StoreError, StoreStats, StoredRecord, cache_ttl};
pub use table::{Entry, InsertOutcome, MAX_ENTRY_ADDRS, MAX_FAILURES, Table};
pub use validate::{AcceptAll, Namespaced, PublicKeyValidator, ValidationError, Validator, peer_id_bytes_of_key};

/// The Kademlia protocol id.
pub const PROTOCOL: ProtocolId = ProtocolId::from_static("/ipfs/kad/1.0.0");
