//! The Rhizome swarm: the operations of a libp2p swarm behind async methods, with
//! its own tasks (nothing to poll).
//!
//! - Transports ([`SwarmBuilder::with_transport`]), one security upgrade and one
//!   muxer; every raw connection is upgraded raw → multistream `/noise` → Noise →
//!   multistream `/yamux/1.0.0` → yamux, under `upgrade_timeout`.
//! - Connections that arrive established ([`Swarm::add_connection`] with an
//!   [`EstablishedConnection`]: secured by their transport or service, multiplexed
//!   or a single stream) join the same pool: limits, the admission hook
//!   ([`Swarm::set_admission`]), events, handlers, idle policy and shutdown apply.
//!   Streams a muxer names skip multistream-select.
//! - Peer routing ([`Swarm::add_peer_router`]): dialing a peer with no known
//!   address asks the registered [`PeerRouter`]s.
//! - External addresses ([`Swarm::external_addrs`]), confirmed by configuration or
//!   by enough peers observing them.
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

mod add;
mod address_book;
mod admission;
mod budget;
mod config;
mod connection;
mod dial;
mod error;
mod establish;
mod events;
mod external;
mod handlers;
mod listen;
mod negotiation;
mod open;
mod pending;
mod pool;
mod routing;
mod serve;
mod shared;
mod stats;
mod stream;
mod swarm;
mod upgrade;

pub use add::EstablishedConnection;
pub use address_book::{AddressBook, DIALED_TTL, MAX_ADDRS_PER_PEER, MAX_PEERS};
pub use admission::Admission;
pub use budget::MemoryBudget;
pub use config::{Config, ConnectionLimits};
pub use connection::{Connection, ConnectionId, ConnectionInfo, Direction, ListenerId};
pub use dial::ROUTED_TTL;
pub use error::{AddConnectionError, DialError, LimitKind, ListenError, OpenStreamError, UpgradeError};
pub use events::{IncomingError, SwarmEvent};
pub use external::{MAX_CANDIDATES, MAX_EXTERNAL_ADDRS};
pub use handlers::{Handler, HandlerOpts};
pub use pool::MAX_PROTECTED_PEERS;
pub use routing::{MAX_ROUTERS, PeerRouter, RouterId, RoutingError, TooManyRouters};
pub use stats::{ConnectionStat, MAX_PROTOCOL_LABELS, StatsSnapshot, StreamDirection, StreamStat};
pub use stream::Stream;
pub use swarm::{BuildError, Swarm, SwarmBuilder};
