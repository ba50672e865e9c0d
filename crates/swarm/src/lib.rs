//! The Rhizome swarm: the operations of a libp2p swarm behind async methods, with
//! its own tasks (nothing to poll).
//!
//! - Transports ([`SwarmBuilder::with_transport`]), one security upgrade and one
//!   muxer; every connection is upgraded raw → multistream `/noise` → Noise →
//!   multistream `/yamux/1.0.0` → yamux, under `upgrade_timeout`.
//! - [`Swarm::dial`], [`Swarm::dial_peer`] (address book, deduplicated concurrent
//!   dials), [`Swarm::listen`].
//! - [`Swarm::set_handler`]: inbound streams are negotiated with multistream-select
//!   and served in a task per stream, under a per-protocol, per-connection
//!   concurrency limit; [`Swarm::open_stream`] negotiates outbound streams.
//! - A connection pool per peer with [`ConnectionLimits`] (pending and established,
//!   inbound and outbound, per peer, total), an idle timeout (connections with open
//!   streams stay up), and [`Swarm::shutdown`] that drains within a deadline.
//! - [`SwarmEvent`]s through a bounded broadcast.
//!
//! Every limit and default is listed on [`Config`] and [`ConnectionLimits`].
#![deny(missing_docs)]

mod address_book;
mod config;
mod connection;
mod dial;
mod error;
mod events;
mod handlers;
mod listen;
mod open;
mod pool;
mod stream;
mod swarm;
mod upgrade;

pub use address_book::{AddressBook, DIALED_TTL, MAX_ADDRS_PER_PEER, MAX_PEERS};
pub use config::{Config, ConnectionLimits};
pub use error::{DialError, LimitKind, ListenError, OpenStreamError, UpgradeError};
pub use events::{IncomingError, SwarmEvent};
pub use handlers::{Handler, HandlerOpts};
pub use pool::{Connection, ConnectionId, ConnectionInfo, Direction, ListenerId};
pub use stream::Stream;
pub use swarm::{BuildError, Swarm, SwarmBuilder};
