//! libp2p identify (`/ipfs/id/1.0.0`) and identify push (`/ipfs/id/push/1.0.0`),
//! written only against the [`rhizome_node::Node`] API.
//!
//! [`Identify::start`] registers both handlers and then:
//! - answers every identify request at once (go-libp2p waits for identify before
//!   opening streams) with our public key, listen addresses, served protocols,
//!   protocol and agent versions (`rhizome/<version>`), and the address we see the
//!   requester at (`observedAddr`), then half-closes;
//! - identifies every new connection, in both directions, and keeps the result while
//!   the peer stays connected ([`Identify::info`], [`Event::Received`]);
//! - applies pushes to what it knows ([`Event::Pushed`]); [`Identify::push`] sends ours.
//!
//! Wire format: each message is `uvarint(len) || Identify protobuf`. We send one
//! message of at most 4 KiB (rust-libp2p reads only one of at most 4096 bytes) and
//! read up to [`Config::max_messages`] messages of at most
//! [`Config::max_message_size`] bytes until EOF, merging them (go splits its signed
//! peer record into a second message). A response whose key does not match the
//! connection's peer id is refused. Signed peer records are neither sent nor checked.
//!
//! Spec: <https://github.com/libp2p/specs/blob/master/identify/README.md>.
#![deny(missing_docs)]

mod message;
mod service;

use std::sync::Arc;
use std::time::Duration;

use rhizome_identity::PeerId;
use rhizome_node::ProtocolId;

pub use message::Info;
pub use service::{IDENTIFY_ADDR_TTL, Identify};

/// The identify protocol id.
pub const PROTOCOL: ProtocolId = ProtocolId::from_static("/ipfs/id/1.0.0");
/// The identify push protocol id.
pub const PUSH_PROTOCOL: ProtocolId = ProtocolId::from_static("/ipfs/id/push/1.0.0");
/// The largest identify message we send: rust-libp2p reads one message of at most
/// 4096 bytes. Listen addresses, then protocols, are left out to fit.
pub const MAX_SEND_SIZE: usize = 4096;
/// Our agent version: `rhizome/<crate version>`.
pub const AGENT_VERSION: &str = concat!("rhizome/", env!("CARGO_PKG_VERSION"));

/// Identify settings (`identify::Config`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Sent as `protocolVersion` (default `ipfs/0.1.0`, as js-libp2p and py-libp2p).
    pub protocol_version: String,
    /// Sent as `agentVersion` (default [`AGENT_VERSION`]).
    pub agent_version: String,
    /// Largest message read (default 8 KiB, as go and js).
    pub max_message_size: usize,
    /// Messages read and merged per response (default 10, as go and js).
    pub max_messages: usize,
    /// Whole exchange timeout (default 10 s).
    pub timeout: Duration,
    /// Events buffered per subscriber (default 256).
    pub event_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            protocol_version: "ipfs/0.1.0".to_owned(),
            agent_version: AGENT_VERSION.to_owned(),
            max_message_size: 8 * 1024,
            max_messages: 10,
            timeout: Duration::from_secs(10),
            event_capacity: 256,
        }
    }
}

/// What the identify service learned.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A peer answered our identify request.
    Received {
        /// The peer.
        peer: PeerId,
        /// What it said.
        info: Info,
    },
    /// A peer pushed an update.
    Pushed {
        /// The peer.
        peer: PeerId,
        /// The info after applying the push.
        info: Info,
    },
    /// Identifying a peer failed.
    Error {
        /// The peer.
        peer: PeerId,
        /// What went wrong.
        error: Arc<String>,
    },
}

/// A failed identify exchange.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream could not be opened.
    #[error("cannot open identify stream")]
    Open(#[from] rhizome_node::OpenStreamError),
    /// Reading a message failed (too long, truncated, I/O).
    #[error("identify message framing")]
    Framing(#[from] rhizome_core::framing::FramingError),
    /// Writing failed.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
    /// The message is not a valid protobuf.
    #[error("invalid identify protobuf")]
    Decode(#[from] prost::DecodeError),
    /// The response has no public key.
    #[error("identify response without public key")]
    MissingPublicKey,
    /// The public key is not one we support.
    #[error("invalid public key")]
    InvalidPublicKey(#[source] rhizome_identity::DecodingError),
    /// The key does not belong to the connection's peer.
    #[error("identify key is for {actual}, connection is with {expected}")]
    WrongPeer {
        /// The connection's peer.
        expected: PeerId,
        /// Whose key it sent.
        actual: PeerId,
    },
    /// No answer in time.
    #[error("identify timed out")]
    Timeout,
    /// The peer is no longer connected.
    #[error("peer not connected")]
    NotConnected,
    /// The node was dropped.
    #[error("node is gone")]
    NodeGone,
}
