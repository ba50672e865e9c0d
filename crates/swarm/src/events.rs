//! Swarm events, broadcast to every subscriber.

use std::sync::Arc;

use rhizome_core::{Multiaddr, PeerId};

use crate::{ConnectionId, ConnectionInfo, ListenerId, UpgradeError};

/// Something that happened in the swarm.
///
/// Delivered through a bounded broadcast channel: a subscriber that falls behind by
/// more than `event_capacity` events is told how many it missed
/// (`RecvError::Lagged`) instead of the channel growing.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SwarmEvent {
    /// A connection was established (after the upgrade).
    Connected {
        /// The connection.
        info: ConnectionInfo,
        /// Established connections to this peer, this one included.
        num_established: usize,
    },
    /// A connection closed.
    Disconnected {
        /// The connection.
        info: ConnectionInfo,
        /// Connections to this peer that remain.
        remaining: usize,
    },
    /// A listener is bound to an address.
    Listening {
        /// The listener.
        listener: ListenerId,
        /// The bound address.
        addr: Multiaddr,
    },
    /// A listener stopped (closed by us, or after repeated accept errors).
    ListenerClosed {
        /// The listener.
        listener: ListenerId,
        /// The address it was bound to.
        addr: Multiaddr,
        /// The error that stopped it, if any.
        error: Option<Arc<rhizome_core::TransportError>>,
    },
    /// Accepting on a listener failed; the listener waits (backing off up to 1 s) and
    /// keeps going.
    ListenError {
        /// The listener.
        listener: ListenerId,
        /// The error.
        error: Arc<rhizome_core::TransportError>,
    },
    /// An address was confirmed as one of our external addresses.
    ExternalAddrConfirmed {
        /// The address.
        addr: Multiaddr,
    },
    /// An inbound connection failed before it was established.
    IncomingConnectionError {
        /// Where it came from.
        remote_addr: Multiaddr,
        /// Why.
        error: IncomingError,
    },
}

/// Why an inbound connection was not established.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum IncomingError {
    /// The upgrade failed.
    #[error("upgrade failed")]
    Upgrade(#[source] UpgradeError),
    /// A connection limit refused it.
    #[error("refused by connection limit")]
    Denied(#[source] crate::LimitKind),
    /// The admission hook refused it.
    #[error("refused by the admission hook")]
    Refused,
    /// The remote is ourselves (we dialed our own address).
    #[error("connection from ourselves")]
    SelfConnection,
}

impl SwarmEvent {
    /// The peer the event is about, if any.
    pub fn peer(&self) -> Option<PeerId> {
        match self {
            SwarmEvent::Connected { info, .. } | SwarmEvent::Disconnected { info, .. } => Some(info.peer),
            _ => None,
        }
    }

    /// The connection the event is about, if any.
    pub fn connection_id(&self) -> Option<ConnectionId> {
        match self {
            SwarmEvent::Connected { info, .. } | SwarmEvent::Disconnected { info, .. } => Some(info.id),
            _ => None,
        }
    }
}
