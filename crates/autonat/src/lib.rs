//! AutoNAT v1 (`/libp2p/autonat/1.0.0`) for Rhizome, both roles, written only
//! against the [`rhizome_node::Node`] API: a node learns whether peers can dial it
//! back, and serves the same question for others.
//!
//! - **Server** ([`ServerConfig`]): a DIAL is answered by dialing the requester back
//!   on a new connection, only at addresses on the IP the request's connection comes
//!   from (others are dropped: the spec forbids using us against a third party),
//!   under per-peer and global rate limits, a bound on concurrent dial-backs and a
//!   dial-back timeout. Over a limit, or with no address left: `E_DIAL_REFUSED`.
//! - **Client** ([`Client`], sans-IO with an injected clock; [`ClientConfig`]): probes
//!   connected peers (or servers added by hand) in turn with our candidate addresses
//!   ([`AutoNat::add_candidate`], e.g. observed ones from identify) and listen
//!   addresses, and decides [`NatStatus`] `Unknown` / `Public(addr)` / `Private` with
//!   rust-libp2p's confidence rule (3 consistent answers make it confident), probing
//!   again every 90 s, or 15 min once confident, and backing off after probes that
//!   said nothing. `Public(addr)` confirms `addr` as an external address on the
//!   node; leaving `Public` removes it. [`Event::StatusChanged`] reports changes.
//! - With the `kad` feature, [`AutoNat::drive_kad`] makes a Kademlia service a
//!   client behind a NAT and a server when reachable.
//!
//! ```
//! use rhizome_autonat as autonat;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let node = rhizome_node::Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse()?).build().await?;
//! let nat = autonat::AutoNat::start(&node, autonat::Config::default());
//! assert_eq!(nat.status(), autonat::NatStatus::Unknown);
//! # node.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Wire: `uvarint(len) || protobuf Message` (`proto/autonat.proto`, code committed in
//! `proto.rs`), one request and one response per stream, each side half-closing
//! after its message. We read messages of at most [`MAX_MESSAGE_SIZE`] (4 KiB) and
//! send at most [`MAX_SEND_SIZE`] (1 KiB, rust-libp2p's limit). A frame over the
//! limit or garbage protobuf drops the stream unanswered; a well-formed message
//! that is not a valid DIAL is answered `E_BAD_REQUEST`.
//!
//! Spec: <https://github.com/libp2p/specs/blob/master/autonat/autonat-v1.md>.
#![deny(missing_docs)]

mod client;
mod message;
pub mod proto;
mod server;
mod service;

#[cfg(feature = "kad")]
mod kad;

use rhizome_core::{Multiaddr, PeerId, ProtocolId};

pub use client::{Client, ClientConfig, MAX_CANDIDATES, MAX_PROBE_ADDRS, MAX_SERVERS, NatStatus, Probe, ProbeResult, StatusChange};
pub use message::{DialRequest, DialResponse, MAX_MESSAGE_SIZE, MAX_SEND_SIZE, MAX_STATUS_TEXT, ResponseStatus, WireError};
pub use server::{Limiter, Refusal, ServerConfig, dialable_addrs, ip_of};
pub use service::{AutoNat, Config, ServeError, Stats};

/// The AutoNAT v1 protocol id.
pub const PROTOCOL: ProtocolId = ProtocolId::from_static("/libp2p/autonat/1.0.0");

/// What the AutoNAT service did or learned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Our status changed.
    StatusChanged {
        /// Before.
        old: NatStatus,
        /// After.
        new: NatStatus,
    },
    /// A probe we sent was answered (or failed).
    OutboundProbe {
        /// The server asked.
        server: PeerId,
        /// What it said.
        result: ProbeResult,
    },
    /// We answered a peer's DIAL.
    InboundProbe {
        /// The requester.
        peer: PeerId,
        /// Our answer.
        status: ResponseStatus,
        /// The address we reached it at (on `OK`).
        addr: Option<Multiaddr>,
    },
}
