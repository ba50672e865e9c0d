//! The connection upgrade: raw pipe → multistream `/noise` → Noise → multistream
//! `/yamux/1.0.0` → muxer.

use std::sync::Arc;

use rhizome_core::{BoxIo, MuxedConnection, Muxer, PeerId, Role, SecurityError, SecurityUpgrade};
use rhizome_multistream::{Version, dialer_select, listener_select_deferred};
use tracing::trace;

use crate::UpgradeError;

/// The security and muxer upgrades of a swarm.
#[derive(Clone)]
pub(crate) struct Upgrader {
    pub(crate) security: Arc<dyn SecurityUpgrade>,
    pub(crate) muxer: Arc<dyn Muxer>,
}

fn negotiation(e: rhizome_multistream::NegotiationError) -> UpgradeError {
    UpgradeError::Negotiation(Arc::new(e))
}

fn security(e: SecurityError) -> UpgradeError {
    UpgradeError::Security(Arc::new(e))
}

impl Upgrader {
    /// Dialer side. Both negotiations are lazy (V1Lazy): the `/noise` proposal leaves
    /// with Noise message 1, and `/yamux/1.0.0` with the first yamux frame.
    pub(crate) async fn outbound(&self, raw: BoxIo, expected: Option<PeerId>) -> Result<(PeerId, MuxedConnection), UpgradeError> {
        let (_, io) = dialer_select(raw, vec![self.security.protocol_id()], Version::V1Lazy).await.map_err(negotiation)?;
        let (peer, secure) = self.security.secure_outbound(Box::new(io), expected).await.map_err(security)?;
        trace!(%peer, "secured outbound connection");
        let (_, io) = dialer_select(secure, vec![self.muxer.protocol_id()], Version::V1Lazy).await.map_err(negotiation)?;
        Ok((peer, self.muxer.start(Box::new(io), Role::Initiator)))
    }

    /// Listener side. Both echoes are deferred: `/noise` leaves with Noise message 2,
    /// and `/yamux/1.0.0` with the first yamux frame (or before the muxer waits for
    /// input), one segment each instead of two.
    pub(crate) async fn inbound(&self, raw: BoxIo) -> Result<(PeerId, MuxedConnection), UpgradeError> {
        let (_, io) = listener_select_deferred(raw, &[self.security.protocol_id()][..]).await.map_err(negotiation)?;
        let (peer, secure) = self.security.secure_inbound(Box::new(io)).await.map_err(security)?;
        trace!(%peer, "secured inbound connection");
        let (_, io) = listener_select_deferred(secure, &[self.muxer.protocol_id()][..]).await.map_err(negotiation)?;
        Ok((peer, self.muxer.start(Box::new(io), Role::Responder)))
    }
}
