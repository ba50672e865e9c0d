//! The adapter over the `yamux` crate 0.14 (the muxer rust-libp2p 0.57 uses), kept
//! for comparison and tests: [`Config::with_crate_impl`](crate::Config::with_crate_impl).

mod counted;
mod driver;
mod violation;

use rhizome_core::{BoxIo, MuxedConnection, Role, StreamNaming};
use tokio_util::compat::TokioAsyncReadCompatExt as _;
use tracing::Instrument as _;

use crate::Config;

pub(crate) fn start(cfg: &Config, io: BoxIo, role: Role) -> MuxedConnection {
    let mode = match role {
        Role::Initiator => yamux::Mode::Client,
        Role::Responder => yamux::Mode::Server,
    };
    let violation = std::sync::Arc::new(violation::Violation::default());
    let conn = yamux::Connection::new(violation::Watched::new(io, violation.clone()).compat(), cfg.to_yamux(), mode);
    let (handles, ends) = MuxedConnection::channel(StreamNaming::Negotiated, cfg.inbound_backlog);
    handles.with_driver(Box::pin(driver::drive(conn, ends, cfg.max_streams.max(1), violation).in_current_span()))
}
