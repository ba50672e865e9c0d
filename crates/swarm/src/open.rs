//! Opening outbound streams.

use rhizome_core::{PeerId, ProtocolId};
use rhizome_multistream::{NegotiationError, Version, dialer_select};
use tracing::Instrument as _;

use crate::pool::Connection;
use crate::stream::Stream;
use crate::{OpenStreamError, Swarm};

impl Swarm {
    /// Opens a stream to `peer` for the first of `protocols` it supports (in order of
    /// preference), connecting first if needed (see [`Swarm::dial_peer`]).
    pub async fn open_stream(&self, peer: PeerId, protocols: &[ProtocolId]) -> Result<Stream, OpenStreamError> {
        if self.shared.is_closing() {
            return Err(OpenStreamError::Shutdown);
        }
        if let Some(conn) = self.connection_to(&peer) {
            match self.open_stream_on(&conn, protocols).await {
                // The connection was closing under us: try a fresh one below.
                Err(OpenStreamError::Closed(_)) => {}
                other => return other,
            }
        }
        let conn = self.dial_peer(peer).await.map_err(OpenStreamError::Dial)?;
        self.open_stream_on(&conn, protocols).await
    }

    /// Opens a stream on a specific connection.
    pub async fn open_stream_on(&self, conn: &Connection, protocols: &[ProtocolId]) -> Result<Stream, OpenStreamError> {
        let guard = conn.streams.open();
        let timeout = self.shared.config.negotiation_timeout;
        let span = tracing::debug_span!("stream", protocol = tracing::field::Empty, dir = "out");
        // One deadline for both steps: the muxer may hold a new stream back (ACK backlog).
        let open_and_negotiate = async {
            let io = conn.control.open_stream().await.map_err(|e| match e {
                rhizome_core::MuxError::TooManyStreams { limit } => OpenStreamError::TooManyStreams { limit },
                other => OpenStreamError::Closed(other),
            })?;
            Ok::<_, OpenStreamError>(dialer_select(io, protocols.to_vec(), Version::V1).await)
        };
        let negotiated =
            tokio::time::timeout(timeout, open_and_negotiate).instrument(span.clone()).await.map_err(|_| OpenStreamError::Timeout)??;
        let (protocol, io) = negotiated.map_err(|e| match e {
            NegotiationError::Failed => match protocols {
                [only] => OpenStreamError::UnsupportedProtocol(only.clone()),
                _ => OpenStreamError::Negotiation(NegotiationError::Failed),
            },
            other => OpenStreamError::Negotiation(other),
        })?;
        span.record("protocol", tracing::field::display(&protocol));
        Ok(Stream::on(conn, protocol, Box::new(io), guard, None))
    }
}
