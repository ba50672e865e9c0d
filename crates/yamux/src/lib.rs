//! yamux (`/yamux/1.0.0`) for Rhizome, built on the [`yamux`] crate.
//!
//! [`Config::start`] (the [`Muxer`] implementation) returns a [`MuxedConnection`]: a
//! cloneable `MuxControl` to open streams and close, a bounded receiver of inbound
//! streams, and the driver future that owns the `yamux::Connection` (the swarm spawns
//! it in a task it tracks). Nobody else ever polls the connection.
//!
//! The limits are documented on [`Config`]. Spec:
//! <https://github.com/hashicorp/yamux/blob/master/spec.md> and
//! <https://github.com/libp2p/specs/tree/master/yamux>; our notes: `specs/yamux.md`.
#![deny(missing_docs)]

mod config;
mod counted;
mod driver;
mod violation;

use rhizome_core::{BoxIo, MuxedConnection, Muxer, ProtocolId, Role, StreamNaming};
use tokio_util::compat::TokioAsyncReadCompatExt as _;

pub use driver::CLOSE_DEADLINE;
use tracing::Instrument as _;

pub use config::{Config, INITIAL_WINDOW, MAX_FRAME_BODY, STREAM_SLACK};

/// The multistream protocol id.
pub const PROTOCOL_ID: &str = "/yamux/1.0.0";

impl Muxer for Config {
    fn protocol_id(&self) -> ProtocolId {
        ProtocolId::from_static(PROTOCOL_ID)
    }

    fn start(&self, io: BoxIo, role: Role) -> MuxedConnection {
        let mode = match role {
            Role::Initiator => yamux::Mode::Client,
            Role::Responder => yamux::Mode::Server,
        };
        let violation = std::sync::Arc::new(violation::Violation::default());
        let conn = yamux::Connection::new(violation::Watched::new(io, violation.clone()).compat(), self.to_yamux(), mode);
        let (handles, ends) = MuxedConnection::channel(StreamNaming::Negotiated, self.inbound_backlog);
        handles.with_driver(Box::pin(driver::drive(conn, ends, self.max_streams.max(1), violation).in_current_span()))
    }
}

#[cfg(test)]
mod tests;
