//! Errors, one enum per operation family.

use rhizome_core::framing::FramingError;
use rhizome_node::OpenStreamError;

use crate::message::WireError;
use crate::server::InboundError;
use crate::store::StoreError;
use crate::validate::ValidationError;

/// One request/response exchange with one peer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No stream: not connected and no known address, or the peer refused the protocol.
    #[error("cannot open a kad stream")]
    Open(#[from] OpenStreamError),
    /// We know no address of the peer (lookups never ask peer routers).
    #[error("no known address")]
    NoAddress,
    /// Reading a message failed (too long, truncated, bad length prefix).
    #[error("kad message framing")]
    Framing(#[from] FramingError),
    /// Writing failed.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
    /// The message is not a valid kad message.
    #[error("invalid kad message")]
    Wire(#[from] WireError),
    /// Our request would be over the maximum message size.
    #[error("message of {0} bytes is over the maximum")]
    TooLarge(usize),
    /// We refused an inbound request.
    #[error("request refused")]
    Refused(#[from] InboundError),
    /// No answer in time.
    #[error("request timed out")]
    Timeout,
    /// The node is gone.
    #[error("node is gone")]
    NodeGone,
}

/// A lookup (find_node, get_closest_peers, get_value, find_providers, bootstrap) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The routing table is empty: bootstrap first.
    #[error("no known kad peers")]
    NoPeers,
    /// The lookup ended without finding what it looked for.
    #[error("not found")]
    NotFound,
    /// The node is gone.
    #[error("node is gone")]
    NodeGone,
}

/// Publishing (put_value, start_providing) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PutError {
    /// The record failed our own validator.
    #[error("invalid record")]
    Invalid(#[from] ValidationError),
    /// Our own store refused it.
    #[error("not stored locally")]
    Store(#[from] StoreError),
    /// Finding the closest peers failed.
    #[error("lookup failed")]
    Query(#[from] QueryError),
    /// Fewer peers than the quorum confirmed.
    #[error("quorum not reached: {got} of {needed}")]
    Quorum {
        /// Confirmations needed.
        needed: usize,
        /// Confirmations received.
        got: usize,
    },
}
