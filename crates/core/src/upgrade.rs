//! The security and multiplexer boundaries of the connection upgrade.

use rhizome_identity::PeerId;
use tokio::sync::{mpsc, oneshot, watch};

use crate::io::BoxIo;
use crate::protocol::ProtocolId;

/// Which side of a connection (or upgrade) we are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We dialed: Noise initiator, yamux client (odd stream ids).
    Initiator,
    /// We accepted: Noise responder, yamux server (even stream ids).
    Responder,
}

/// A failed security handshake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// The remote authenticated as a different peer than the one we dialed.
    #[error("remote peer is {actual}, expected {expected}")]
    WrongPeer {
        /// The peer we meant to reach.
        expected: PeerId,
        /// The peer that answered.
        actual: PeerId,
    },
    /// The handshake failed (bad message, bad signature, I/O error…).
    #[error("security handshake failed")]
    Handshake(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Authenticates and encrypts a byte pipe (`/noise`).
#[async_trait::async_trait]
pub trait SecurityUpgrade: Send + Sync + 'static {
    /// The multistream protocol id, e.g. `/noise`.
    fn protocol_id(&self) -> ProtocolId;

    /// Runs the handshake as the initiator. Fails with [`SecurityError::WrongPeer`] if
    /// `expected` is set and the remote proves a different identity.
    async fn secure_outbound(&self, io: BoxIo, expected: Option<PeerId>) -> Result<(PeerId, BoxIo), SecurityError>;

    /// Runs the handshake as the responder.
    async fn secure_inbound(&self, io: BoxIo) -> Result<(PeerId, BoxIo), SecurityError>;
}

/// Runs many streams over one secured pipe (`/yamux/1.0.0`).
pub trait Muxer: Send + Sync + 'static {
    /// The multistream protocol id, e.g. `/yamux/1.0.0`.
    fn protocol_id(&self) -> ProtocolId;

    /// Starts the multiplexer over `io`, with its I/O driven by a task of its own.
    /// Must be called within a tokio runtime.
    fn start(&self, io: BoxIo, role: Role) -> MuxedConnection;
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
    /// The multiplexer failed.
    #[error("multiplexer error")]
    Muxer(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A command from a [`MuxControl`] to a muxer's driver task.
#[non_exhaustive]
pub enum MuxCommand {
    /// Open an outbound stream.
    Open(oneshot::Sender<Result<BoxIo, MuxError>>),
    /// Close the connection gracefully (yamux: GoAway), then report.
    Close(oneshot::Sender<()>),
}

impl std::fmt::Debug for MuxCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MuxCommand::Open(_) => "Open",
            MuxCommand::Close(_) => "Close",
        })
    }
}

/// A cloneable handle to a multiplexed connection: opens streams and closes it.
#[derive(Debug, Clone)]
pub struct MuxControl {
    commands: mpsc::Sender<MuxCommand>,
    closed: watch::Receiver<bool>,
}

impl MuxControl {
    /// Opens an outbound stream.
    pub async fn open_stream(&self) -> Result<BoxIo, MuxError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(MuxCommand::Open(tx)).await.map_err(|_| MuxError::Closed)?;
        rx.await.map_err(|_| MuxError::Closed)?
    }

    /// Closes the connection gracefully and waits for the driver to finish.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(MuxCommand::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.closed().await;
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Waits until the connection has ended.
    pub async fn closed(&self) {
        let mut rx = self.closed.clone();
        let _ = rx.wait_for(|closed| *closed).await;
    }
}

/// A started multiplexed connection: the control handle plus the inbound streams.
#[derive(Debug)]
pub struct MuxedConnection {
    /// Opens streams, closes the connection.
    pub control: MuxControl,
    /// Inbound streams, in arrival order; `None` once the connection has ended.
    pub inbound: mpsc::Receiver<BoxIo>,
}

/// The driver's ends of a [`MuxedConnection`], for muxer implementations.
#[derive(Debug)]
pub struct MuxDriverEnds {
    /// Commands from [`MuxControl`] handles.
    pub commands: mpsc::Receiver<MuxCommand>,
    /// Where inbound streams go. Bounded: when full, the driver drops (resets) new
    /// inbound streams rather than stalling the connection.
    pub inbound: mpsc::Sender<BoxIo>,
    /// Set to `true` when the connection has ended.
    pub closed: watch::Sender<bool>,
}

impl MuxedConnection {
    /// Creates the channels between a muxer driver and its users. `inbound_backlog`
    /// bounds inbound streams not yet taken by the swarm.
    pub fn channel(inbound_backlog: usize) -> (Self, MuxDriverEnds) {
        let (cmd_tx, cmd_rx) = mpsc::channel(32);
        let (in_tx, in_rx) = mpsc::channel(inbound_backlog.max(1));
        let (closed_tx, closed_rx) = watch::channel(false);
        (
            Self { control: MuxControl { commands: cmd_tx, closed: closed_rx }, inbound: in_rx },
            MuxDriverEnds { commands: cmd_rx, inbound: in_tx, closed: closed_tx },
        )
    }
}
