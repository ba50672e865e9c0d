//! The security boundary of the connection upgrade.

use rhizome_identity::PeerId;

use crate::io::BoxIo;
use crate::protocol::ProtocolId;

/// Which side of a connection (or upgrade) we are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We dialed: Noise initiator, yamux client (odd stream ids).
    Initiator,
    /// We accepted: Noise responder, yamux server (even stream ids).
    Responder,
}

/// A failed security handshake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// The remote authenticated as a different peer than the one we dialed.
    #[error("remote peer is {actual}, expected {expected}")]
    WrongPeer {
        /// The peer we meant to reach.
        expected: PeerId,
        /// The peer that answered.
        actual: PeerId,
    },
    /// The handshake failed (bad message, bad signature, I/O error…).
    #[error("handshake failed")]
    Handshake(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Authenticates and encrypts a byte pipe (`/noise`).
#[async_trait::async_trait]
pub trait SecurityUpgrade: Send + Sync + 'static {
    /// The multistream protocol id, e.g. `/noise`.
    fn protocol_id(&self) -> ProtocolId;

    /// Runs the handshake as the initiator. Fails with [`SecurityError::WrongPeer`] if
    /// `expected` is set and the remote proves a different identity.
    async fn secure_outbound(&self, io: BoxIo, expected: Option<PeerId>) -> Result<(PeerId, BoxIo), SecurityError>;

    /// Runs the handshake as the responder.
    async fn secure_inbound(&self, io: BoxIo) -> Result<(PeerId, BoxIo), SecurityError>;
}
