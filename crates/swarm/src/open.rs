//! Opening outbound streams.

use futures::FutureExt as _;
use rhizome_core::{BoxIo, MuxError, PeerId, ProtocolId, StreamNaming};
use rhizome_multistream::{NegotiationError, Version, dialer_select};
use tracing::Instrument as _;

use crate::connection::Connection;
use crate::stream::Stream;
use crate::{OpenStreamError, Swarm};

impl Swarm {
    /// Opens a stream to `peer` for the first of `protocols` it supports (in order of
    /// preference), connecting first if needed (see [`Swarm::dial_peer`]).
    pub async fn open_stream(&self, peer: PeerId, protocols: &[ProtocolId]) -> Result<Stream, OpenStreamError> {
        if self.shared.is_closing() {
            return Err(OpenStreamError::Shutdown);
        }
        if peer == self.shared.local_peer {
            return Err(OpenStreamError::SelfStream);
        }
        let existing = self.shared.pool().stream_connection_to(&peer);
        if let Some(conn) = existing {
            match self.open_stream_on(&conn, protocols).await {
                // The connection was closing under us: try a fresh one below.
                Err(OpenStreamError::Closed(_)) => {}
                other => return other,
            }
        }
        let conn = self.connect_peer(peer, |pool| pool.stream_connection_to(&peer)).await.map_err(OpenStreamError::Dial)?;
        self.open_stream_on(&conn, protocols).await
    }

    /// Opens a stream on a specific connection.
    pub async fn open_stream_on(&self, conn: &Connection, protocols: &[ProtocolId]) -> Result<Stream, OpenStreamError> {
        let memory = self.shared.budget.stream().ok_or(OpenStreamError::MemoryBudget)?;
        let guard = conn.streams.open();
        let timeout = self.shared.config.negotiation_timeout;
        let span = tracing::debug_span!("stream", protocol = tracing::field::Empty, dir = "out");
        // One deadline for both steps: the muxer may hold a new stream back (ACK backlog).
        let open = match conn.control.naming() {
            StreamNaming::Negotiated => open_negotiated(conn, protocols).boxed(),
            StreamNaming::Named => open_named(conn, protocols).boxed(),
            _ => return Err(OpenStreamError::NotMultiplexed),
        };
        let (protocol, io) = tokio::time::timeout(timeout, open).instrument(span.clone()).await.map_err(|_| OpenStreamError::Timeout)??;
        span.record("protocol", tracing::field::display(&protocol));
        let counted = self.shared.stats.stream(&protocol, crate::StreamDirection::Outbound);
        Ok(Stream::on(conn, protocol, io, (guard, Some(memory)), None, counted))
    }
}

fn mux_error(e: MuxError) -> OpenStreamError {
    match e {
        MuxError::TooManyStreams { limit } => OpenStreamError::TooManyStreams { limit },
        MuxError::NotSupported => OpenStreamError::NotMultiplexed,
        other => OpenStreamError::Closed(other),
    }
}

/// An anonymous stream, its protocol chosen by multistream-select.
async fn open_negotiated(conn: &Connection, protocols: &[ProtocolId]) -> Result<(ProtocolId, BoxIo), OpenStreamError> {
    let io = conn.control.open_stream().await.map_err(mux_error)?;
    let (protocol, io) = dialer_select(io, protocols.to_vec(), Version::V1).await.map_err(|e| match e {
        NegotiationError::Failed => match protocols {
            [only] => OpenStreamError::UnsupportedProtocol(only.clone()),
            _ => OpenStreamError::Negotiation(NegotiationError::Failed),
        },
        other => OpenStreamError::Negotiation(other),
    })?;
    Ok((protocol, Box::new(io)))
}

/// A stream the muxer names: the first protocol the remote accepts.
async fn open_named(conn: &Connection, protocols: &[ProtocolId]) -> Result<(ProtocolId, BoxIo), OpenStreamError> {
    let mut last = OpenStreamError::Negotiation(NegotiationError::Failed);
    for protocol in protocols {
        match conn.control.open_named_stream(protocol.clone()).await {
            Ok(io) => return Ok((protocol.clone(), io)),
            Err(MuxError::Refused(p)) => last = OpenStreamError::UnsupportedProtocol(p),
            Err(other) => return Err(mux_error(other)),
        }
    }
    Err(last)
}
