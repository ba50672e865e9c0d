//! Error enums, one per operation family. Sources are kept in `Arc`s so that an
//! error can be shared by every caller waiting on one deduplicated dial.

use std::sync::Arc;

use rhizome_core::{Multiaddr, PeerId, ProtocolId, TransportError};
use rhizome_multistream::NegotiationError;

/// Which limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitKind {
    /// `max_pending_incoming`.
    #[error("too many pending inbound connections")]
    PendingIncoming,
    /// `max_pending_outgoing`.
    #[error("too many pending outbound connections")]
    PendingOutgoing,
    /// `max_established_incoming`.
    #[error("too many established inbound connections")]
    EstablishedIncoming,
    /// `max_established_outgoing`.
    #[error("too many established outbound connections")]
    EstablishedOutgoing,
    /// `max_established_per_peer`.
    #[error("too many connections to this peer")]
    EstablishedPerPeer,
    /// `max_established_total`.
    #[error("too many established connections")]
    EstablishedTotal,
    /// The node-wide memory budget (`Config::memory`) is spent.
    #[error("memory budget spent")]
    MemoryBudget,
}

impl LimitKind {
    /// A short label (`pending_incoming`, `established_total`…), for metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            LimitKind::PendingIncoming => "pending_incoming",
            LimitKind::PendingOutgoing => "pending_outgoing",
            LimitKind::EstablishedIncoming => "established_incoming",
            LimitKind::EstablishedOutgoing => "established_outgoing",
            LimitKind::EstablishedPerPeer => "established_per_peer",
            LimitKind::EstablishedTotal => "established_total",
            LimitKind::MemoryBudget => "memory_budget",
        }
    }
}

impl UpgradeError {
    /// A short label of the cause (`negotiation`, `security`, `wrong_peer`, `timeout`),
    /// for metrics.
    pub fn cause(&self) -> &'static str {
        match self {
            UpgradeError::Negotiation(_) => "negotiation",
            UpgradeError::Security(s) if matches!(**s, rhizome_core::SecurityError::WrongPeer { .. }) => "wrong_peer",
            UpgradeError::Security(_) => "security",
            UpgradeError::Timeout => "timeout",
        }
    }
}

/// A failed connection upgrade (security, then muxer).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeError {
    /// multistream-select for the security or muxer protocol failed.
    #[error("protocol negotiation failed")]
    Negotiation(#[source] Arc<NegotiationError>),
    /// The security handshake failed.
    #[error("security upgrade failed")]
    Security(#[source] Arc<rhizome_core::SecurityError>),
    /// The upgrade did not finish within `upgrade_timeout`.
    #[error("connection upgrade timed out")]
    Timeout,
}

/// A failed dial.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DialError {
    /// No transport supports the address.
    #[error("no transport for {0}")]
    NoTransport(Multiaddr),
    /// We know no address for the peer.
    #[error("no known address for peer {0}")]
    NoAddresses(PeerId),
    /// The address names our own peer id, or the remote turned out to be us.
    #[error("refusing to dial ourselves")]
    SelfDial,
    /// No address is known and the peer routers did not find the peer (the source
    /// is the last router's error).
    #[error("peer {peer} not found by peer routing")]
    NotFound {
        /// The peer.
        peer: PeerId,
        /// Why the last router failed, if one did.
        #[source]
        source: Option<Arc<crate::RoutingError>>,
    },
    /// The admission hook refused the connection.
    #[error("connection refused by the admission hook")]
    Refused,
    /// The transport failed to connect.
    #[error("transport error dialing {addr}")]
    Transport {
        /// The address.
        addr: Multiaddr,
        /// Why.
        #[source]
        source: Arc<TransportError>,
    },
    /// The transport connect did not finish within `dial_timeout`.
    #[error("dial to {0} timed out")]
    Timeout(Multiaddr),
    /// The remote is not the peer we dialed.
    #[error("remote peer is {actual}, expected {expected}")]
    WrongPeer {
        /// The peer we meant to reach.
        expected: PeerId,
        /// The peer that answered.
        actual: PeerId,
    },
    /// The connection upgrade failed.
    #[error("connection upgrade failed")]
    Upgrade(#[source] UpgradeError),
    /// A connection limit refused the dial.
    #[error("dial denied by connection limit")]
    Denied(#[source] LimitKind),
    /// Every address of the peer failed; the last error is the source.
    #[error("all {attempts} addresses failed")]
    AllAddressesFailed {
        /// How many addresses were tried.
        attempts: usize,
        /// The last failure.
        #[source]
        last: Box<DialError>,
    },
    /// The dial task ended abnormally (panicked or was aborted).
    #[error("dial task ended abnormally")]
    Aborted,
    /// The swarm is shutting down.
    #[error("swarm is shut down")]
    Shutdown,
}

/// A failed `add_connection`; the connection was closed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AddConnectionError {
    /// A connection limit refused it.
    #[error("connection denied by connection limit")]
    Denied(#[source] LimitKind),
    /// The admission hook refused it.
    #[error("connection refused by the admission hook")]
    Refused,
    /// The remote is our own peer id.
    #[error("connection to ourselves")]
    SelfConnection,
    /// The swarm is shutting down.
    #[error("swarm is shut down")]
    Shutdown,
}

/// A failed `listen`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// No transport supports the address.
    #[error("no transport for {0}")]
    NoTransport(Multiaddr),
    /// The transport could not listen.
    #[error("cannot listen on {addr}")]
    Transport {
        /// The address.
        addr: Multiaddr,
        /// Why.
        #[source]
        source: TransportError,
    },
    /// `max_listeners` reached.
    #[error("too many listeners")]
    TooManyListeners,
    /// The swarm is shutting down.
    #[error("swarm is shut down")]
    Shutdown,
}

/// A failed `open_stream`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenStreamError {
    /// The protocol id is not valid (must start with `/`, no newline, ≤ 1023 bytes).
    #[error("invalid protocol id")]
    InvalidProtocol(#[from] rhizome_core::InvalidProtocolId),
    /// We are not connected and could not connect.
    #[error("could not connect to the peer")]
    Dial(#[source] DialError),
    /// The remote does not support the protocol (it answered `na`).
    #[error("remote does not support {0}")]
    UnsupportedProtocol(ProtocolId),
    /// Protocol negotiation failed otherwise (malformed answer, timeout…).
    #[error("protocol negotiation failed")]
    Negotiation(#[source] NegotiationError),
    /// Negotiation did not finish within `negotiation_timeout`.
    #[error("protocol negotiation timed out")]
    Timeout,
    /// The peer is our own id.
    #[error("cannot open a stream to ourselves")]
    SelfStream,
    /// The node-wide memory budget is spent (`Config::memory`).
    #[error("memory budget spent: no room for another stream")]
    MemoryBudget,
    /// The only connections to the peer cannot open streams (single-stream
    /// connections) and no other could be made.
    #[error("the connection cannot open streams")]
    NotMultiplexed,
    /// The connection carries its maximum number of streams (it stays up).
    #[error("too many streams on the connection (limit {limit})")]
    TooManyStreams {
        /// The muxer's stream limit.
        limit: usize,
    },
    /// The connection closed (or the muxer failed).
    #[error("connection closed")]
    Closed(#[source] rhizome_core::MuxError),
    /// The swarm is shutting down.
    #[error("swarm is shut down")]
    Shutdown,
}
