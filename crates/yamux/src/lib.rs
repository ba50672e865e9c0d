//! yamux (`/yamux/1.0.0`) for Rhizome: a muxer of our own.
//!
//! [`Config::start`] (the [`Muxer`] implementation) returns a [`MuxedConnection`]: a
//! cloneable `MuxControl` to open streams and close, a bounded receiver of inbound
//! streams, and the driver future (the swarm spawns it in a task it tracks).
//!
//! The protocol logic is a sans-IO [`session::Session`]; a thin shell
//! (`shell/`) shares it with the stream handles under one short lock, so a
//! stream's write goes straight into the connection's pipe: no channel and no
//! allocation per frame. The adapter over the `yamux` crate (what rust-libp2p uses)
//! stays available with [`Config::with_crate_impl`].
//!
//! The limits are documented on [`Config`]. Spec:
//! <https://github.com/hashicorp/yamux/blob/master/spec.md> and
//! <https://github.com/libp2p/specs/tree/master/yamux>; our notes: `specs/yamux.md`.
#![deny(missing_docs)]

mod compat;
mod config;
pub mod session;
mod shell;

use rhizome_core::{BoxIo, MuxedConnection, Muxer, ProtocolId, Role, StreamNaming};
use tracing::Instrument as _;

pub use config::{
    Config, DEFAULT_STREAM_WINDOW, DEFAULT_WINDOW_POOL, INITIAL_WINDOW, Implementation, MAX_FRAME_BODY, MAX_STREAM_WINDOW, STREAM_SLACK,
};
pub use session::WindowPool;
pub use shell::CLOSE_DEADLINE;

/// The multistream protocol id.
pub const PROTOCOL_ID: &str = "/yamux/1.0.0";

impl Muxer for Config {
    fn protocol_id(&self) -> ProtocolId {
        ProtocolId::from_static(PROTOCOL_ID)
    }

    fn start(&self, io: BoxIo, role: Role) -> MuxedConnection {
        if self.implementation == Implementation::Crate {
            return compat::start(self, io, role);
        }
        let limits = session::Limits { max_streams: self.max_streams, max_stream_window: self.max_stream_window };
        let session = session::Session::new(role == Role::Initiator, limits).with_pool(self.window_pool.clone());
        let split = self.split_send_size.clamp(1024, MAX_FRAME_BODY);
        let shared = shell::Shared::new(session, io, split);
        let (handles, ends) = MuxedConnection::channel(StreamNaming::Negotiated, self.inbound_backlog);
        handles.with_driver(Box::pin(shell::drive(shared, ends).in_current_span()))
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_crate;
