//! The multiplexer boundary: a connection that carries streams, whoever built it.
//!
//! A [`MuxedConnection`] is what the swarm keeps for every established connection:
//! a [`MuxControl`] (open streams, close), a bounded receiver of inbound streams and
//! the driver future that does the connection's I/O. The swarm spawns the driver in
//! a task it tracks, so shutdown ends it.
//!
//! Streams are named one of two ways ([`StreamNaming`]): a muxer such as yamux
//! carries anonymous streams whose protocol is chosen by multistream-select on each
//! stream; a muxer that names its streams (protomux, QUIC with ALPN per stream, a
//! single-stream connection) delivers the protocol with each stream.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::oneshot;

use crate::io::BoxIo;
use crate::link::{ClosedSender, CommandReceiver, InboundReceiver, InboundSender, Link};
use crate::protocol::ProtocolId;
use crate::upgrade::Role;

/// Runs many streams over one secured pipe (`/yamux/1.0.0`).
pub trait Muxer: Send + Sync + 'static {
    /// The multistream protocol id, e.g. `/yamux/1.0.0`.
    fn protocol_id(&self) -> ProtocolId;

    /// Sets the multiplexer up over `io`. Its I/O runs in [`MuxedConnection::driver`],
    /// which the caller must spawn (the swarm does, in a task it tracks).
    fn start(&self, io: BoxIo, role: Role) -> MuxedConnection;
}

/// How a connection's streams get their protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamNaming {
    /// Streams are anonymous; multistream-select chooses each stream's protocol.
    Negotiated,
    /// The muxer names its streams: inbound streams arrive with their protocol and
    /// outbound opens say which protocol they are for.
    Named,
    /// The connection is one stream, named by whoever built the connection; no more
    /// streams can be opened on it.
    Single,
}

impl StreamNaming {
    /// Whether streams are anonymous and negotiated with multistream-select (the
    /// libp2p TCP stack).
    pub fn is_negotiated(self) -> bool {
        self == StreamNaming::Negotiated
    }
}

/// Errors on a multiplexed connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MuxError {
    /// The connection is closed (or closing).
    #[error("connection closed")]
    Closed,
    /// The connection already carries its maximum number of streams; it stays up.
    #[error("too many streams on this connection (limit {limit})")]
    TooManyStreams {
        /// The limit.
        limit: usize,
    },
    /// A muxer that names streams was asked for a protocol the remote refused.
    #[error("remote refused a stream for {0}")]
    Refused(ProtocolId),
    /// The connection cannot open streams (a single-stream connection), or not of
    /// this kind (an unnamed open on a muxer that names its streams).
    #[error("this connection cannot open such a stream")]
    NotSupported,
    /// The multiplexer failed.
    #[error("multiplexer error")]
    Muxer(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The reply to an open request.
pub type OpenReply = oneshot::Sender<Result<BoxIo, MuxError>>;

/// A command from a [`MuxControl`] to a muxer's driver.
#[non_exhaustive]
pub enum MuxCommand {
    /// Open an outbound stream; `protocol` is set for muxers that name their streams
    /// ([`StreamNaming::Named`]) and `None` otherwise.
    Open {
        /// The protocol the stream is for, on a naming muxer.
        protocol: Option<ProtocolId>,
        /// Where the stream (or the error) goes.
        reply: OpenReply,
    },
    /// Close the connection gracefully (yamux: GoAway), then report.
    Close(oneshot::Sender<()>),
}

impl std::fmt::Debug for MuxCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MuxCommand::Open { protocol, .. } => f.debug_struct("Open").field("protocol", protocol).finish_non_exhaustive(),
            MuxCommand::Close(_) => f.write_str("Close"),
        }
    }
}

/// A cloneable handle to a multiplexed connection: opens streams and closes it.
pub struct MuxControl {
    link: Arc<Link>,
    naming: StreamNaming,
}

impl std::fmt::Debug for MuxControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MuxControl").field("naming", &self.naming).field("closed", &self.is_closed()).finish()
    }
}

impl Clone for MuxControl {
    fn clone(&self) -> Self {
        self.link.add_control();
        Self { link: self.link.clone(), naming: self.naming }
    }
}

impl Drop for MuxControl {
    fn drop(&mut self) {
        self.link.drop_control();
    }
}

impl MuxControl {
    /// How the connection's streams are named.
    pub fn naming(&self) -> StreamNaming {
        self.naming
    }

    /// Opens an anonymous outbound stream (for [`StreamNaming::Negotiated`] muxers).
    pub async fn open_stream(&self) -> Result<BoxIo, MuxError> {
        self.open(None).await
    }

    /// Opens an outbound stream for `protocol` (for [`StreamNaming::Named`] muxers).
    pub async fn open_named_stream(&self, protocol: ProtocolId) -> Result<BoxIo, MuxError> {
        self.open(Some(protocol)).await
    }

    async fn open(&self, protocol: Option<ProtocolId>) -> Result<BoxIo, MuxError> {
        let (reply, rx) = oneshot::channel();
        self.link.send_command(MuxCommand::Open { protocol, reply }).await.map_err(|_| MuxError::Closed)?;
        rx.await.map_err(|_| MuxError::Closed)?
    }

    /// Closes the connection gracefully and waits for the driver to finish.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.link.send_command(MuxCommand::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.closed().await;
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.link.is_closed()
    }

    /// Waits until the connection has ended.
    pub async fn closed(&self) {
        self.link.closed().await
    }
}

/// An inbound stream, with its protocol when the muxer names streams.
pub struct IncomingStream {
    /// The stream.
    pub io: BoxIo,
    /// Its protocol, on a muxer that names streams; `None` when multistream-select
    /// must negotiate it.
    pub protocol: Option<ProtocolId>,
}

impl std::fmt::Debug for IncomingStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingStream").field("protocol", &self.protocol).finish_non_exhaustive()
    }
}

impl IncomingStream {
    /// An anonymous stream (its protocol is negotiated).
    pub fn anonymous(io: BoxIo) -> Self {
        Self { io, protocol: None }
    }

    /// A stream named `protocol` by its muxer.
    pub fn named(io: BoxIo, protocol: ProtocolId) -> Self {
        Self { io, protocol: Some(protocol) }
    }
}

/// A multiplexed connection: the control handle, the inbound streams and the driver.
pub struct MuxedConnection {
    /// Opens streams, closes the connection.
    pub control: MuxControl,
    /// Inbound streams, in arrival order; `None` once the connection has ended.
    pub inbound: InboundReceiver,
    /// The connection's I/O: must be spawned (or polled) for anything to happen, and
    /// ends when the connection has ended.
    pub driver: BoxFuture<'static, ()>,
}

impl std::fmt::Debug for MuxedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MuxedConnection").field("control", &self.control).finish_non_exhaustive()
    }
}

/// The driver's ends of a [`MuxedConnection`], for muxer implementations.
#[derive(Debug)]
pub struct MuxDriverEnds {
    /// Commands from [`MuxControl`] handles.
    pub commands: CommandReceiver,
    /// Where inbound streams go. Bounded: when full, the driver drops (resets) new
    /// inbound streams rather than stalling the connection.
    pub inbound: InboundSender,
    /// Set to `true` when the connection has ended (dropping it does the same).
    pub closed: ClosedSender,
}

/// The user's ends of a [`MuxedConnection`] before its driver exists.
#[derive(Debug)]
pub struct MuxHandles {
    /// Opens streams, closes the connection.
    pub control: MuxControl,
    /// Inbound streams.
    pub inbound: InboundReceiver,
}

impl MuxHandles {
    /// Completes the connection with its driver.
    pub fn with_driver(self, driver: BoxFuture<'static, ()>) -> MuxedConnection {
        MuxedConnection { control: self.control, inbound: self.inbound, driver }
    }
}

impl MuxedConnection {
    /// Creates the channels between a muxer driver and its users (one small shared
    /// allocation, see `link.rs`). `inbound_backlog` bounds inbound streams not yet
    /// taken by the swarm; at most 32 commands wait, `open_stream` waits for room.
    pub fn channel(naming: StreamNaming, inbound_backlog: usize) -> (MuxHandles, MuxDriverEnds) {
        let link = Link::new(inbound_backlog);
        (
            MuxHandles { control: MuxControl { link: link.clone(), naming }, inbound: InboundReceiver::new(link.clone()) },
            MuxDriverEnds {
                commands: CommandReceiver::new(link.clone()),
                inbound: InboundSender::new(link.clone()),
                closed: ClosedSender::new(link),
            },
        )
    }
}
