//! Connections that arrive established: secured by their transport or service (a
//! Hyperswarm secret-stream, later QUIC), with the remote already authenticated.

use rhizome_core::{BoxIo, Multiaddr, MuxedConnection, PeerId, ProtocolId, single_stream};

use crate::connection::{Connection, Direction};
use crate::establish::{NewConnection, Refusal, establish};
use crate::{AddConnectionError, Swarm};

/// A secured connection handed to the swarm: the authenticated remote, the
/// addresses, and either a multiplexed connection or a single stream.
#[derive(Debug)]
pub struct EstablishedConnection {
    peer: PeerId,
    local_addr: Multiaddr,
    remote_addr: Multiaddr,
    transport: &'static str,
    muxed: MuxedConnection,
}

impl EstablishedConnection {
    /// A multiplexed connection (its streams negotiated or named, as its muxer says).
    /// `transport` names where it came from, for logs and metrics.
    pub fn multiplexed(
        peer: PeerId,
        local_addr: Multiaddr,
        remote_addr: Multiaddr,
        transport: &'static str,
        muxed: MuxedConnection,
    ) -> Self {
        Self { peer, local_addr, remote_addr, transport, muxed }
    }

    /// A connection that is one stream of `protocol`: the handler registered for
    /// `protocol` serves it, and the connection ends with the stream.
    pub fn single_stream(
        peer: PeerId,
        local_addr: Multiaddr,
        remote_addr: Multiaddr,
        transport: &'static str,
        io: BoxIo,
        protocol: ProtocolId,
    ) -> Self {
        Self { peer, local_addr, remote_addr, transport, muxed: single_stream(io, protocol) }
    }

    /// The authenticated remote peer.
    pub fn peer(&self) -> PeerId {
        self.peer
    }
}

impl Swarm {
    /// Adds a connection that arrived established. From here on it is like any other:
    /// the connection limits and the admission hook apply, `Connected` and
    /// `Disconnected` events report it, inbound streams go to the registered
    /// handlers, and the idle policy and shutdown close it. Refused, it is closed.
    pub fn add_connection(&self, conn: EstablishedConnection, direction: Direction) -> Result<Connection, AddConnectionError> {
        let new = NewConnection {
            peer: conn.peer,
            local_addr: conn.local_addr,
            remote_addr: conn.remote_addr,
            direction,
            transport: conn.transport,
            muxed: conn.muxed,
        };
        establish(&self.shared, new).map_err(|refusal| match refusal {
            Refusal::Limit(limit) => AddConnectionError::Denied(limit),
            Refusal::Admission => AddConnectionError::Refused,
            Refusal::SelfConnection => AddConnectionError::SelfConnection,
            Refusal::Shutdown => AddConnectionError::Shutdown,
        })
    }
}
