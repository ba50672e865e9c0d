//! Core types and traits of the Rhizome stack.
//!
//! Every layer is a small trait owned here, so that the swarm can hold heterogeneous
//! implementations:
//!
//! - [`Transport`] / [`Listener`]: turn a multiaddr into a byte pipe ([`RawConn`]).
//!   [`MemoryTransport`] is the in-process transport for tests.
//! - [`SecurityUpgrade`]: authenticate and encrypt a pipe (`/noise`).
//! - [`Muxer`]: run many streams over one secured pipe (`/yamux/1.0.0`), used through
//!   a [`MuxedConnection`] whose driver the swarm runs. Streams are negotiated or
//!   named ([`StreamNaming`]); [`single_stream`] makes a one-stream connection (an
//!   already secured pipe such as a Hyperswarm secret-stream) look like any other.
//! - [`ProtocolId`]: a validated protocol identifier.
//! - [`framing`]: unsigned-varint length-prefixed messages with explicit maxima.
#![deny(missing_docs)]

pub mod framing;
mod io;
mod link;
mod memory;
mod muxer;
mod protocol;
mod single;
mod transport;
mod upgrade;

pub use io::{AsyncIo, BoxIo};
pub use link::{ClosedSender, CommandReceiver, InboundReceiver, InboundSender, TrySendError};
pub use memory::{MEMORY_PIPE_CAPACITY, MemoryTransport};
pub use muxer::{
    IncomingStream, MuxCommand, MuxControl, MuxDriverEnds, MuxError, MuxHandles, MuxedConnection, Muxer, OpenReply, StreamNaming,
};
pub use protocol::{InvalidProtocolId, MAX_PROTOCOL_ID_LEN, ProtocolId};
pub use rhizome_identity::{Keypair, KeypairExt, Multiaddr, PeerId, PeerIdExt, multiaddr};
pub use single::single_stream;
pub use transport::{Listener, RawConn, Transport, TransportError};
pub use upgrade::{Role, SecurityError, SecurityUpgrade};
