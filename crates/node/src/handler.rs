//! Stream handlers: async closures or trait objects.

use std::future::Future;

use rhizome_core::{Multiaddr, PeerId, ProtocolId};
use rhizome_swarm::{ConnectionId, Stream};

use tokio_util::sync::CancellationToken;

use crate::{Node, WeakNode};

/// The error a handler may return; it is logged (at debug) and the stream dropped.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// What a handler knows about the stream it serves.
#[derive(Debug, Clone)]
pub struct StreamCtx {
    /// The remote peer (authenticated).
    pub peer: PeerId,
    /// The connection the stream runs on.
    pub connection: ConnectionId,
    /// The connection's remote address.
    pub remote_addr: Multiaddr,
    /// The negotiated protocol.
    pub protocol: ProtocolId,
    /// Cancelled when the node starts shutting down (or is dropped): long-lived
    /// handlers should finish when it fires (see [`Node::shutdown`]).
    pub shutdown: CancellationToken,
    node: WeakNode,
}

impl StreamCtx {
    pub(crate) fn new(stream: &Stream, node: WeakNode, shutdown: CancellationToken) -> Self {
        Self {
            peer: stream.peer(),
            connection: stream.connection_id(),
            remote_addr: stream.remote_addr().clone(),
            protocol: stream.protocol().clone(),
            shutdown,
            node,
        }
    }

    /// The node, to open streams of its own or look things up; `None` once it is gone.
    /// The context holds it weakly, so a running handler never keeps a dropped node alive.
    pub fn node(&self) -> Option<Node> {
        self.node.upgrade()
    }
}

/// Serves inbound streams of one protocol.
///
/// Implemented for every `Fn(Stream, StreamCtx) -> impl Future<Output = Result<(), E>>`
/// (async closures), and implementable by hand for stateful handlers. Each stream
/// runs in a task of its own, under the protocol's concurrency limit.
///
/// ```
/// # use rhizome_node::{StreamHandler, StreamCtx, HandlerError};
/// # use rhizome_swarm::Stream;
/// struct Greeter(&'static str);
///
/// #[async_trait::async_trait]
/// impl StreamHandler for Greeter {
///     async fn handle(&self, mut stream: Stream, _ctx: StreamCtx) -> Result<(), HandlerError> {
///         use tokio::io::AsyncWriteExt as _;
///         stream.write_all(self.0.as_bytes()).await?;
///         stream.shutdown().await?;
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait StreamHandler: Send + Sync + 'static {
    /// Serves one stream.
    async fn handle(&self, stream: Stream, ctx: StreamCtx) -> Result<(), HandlerError>;
}

#[async_trait::async_trait]
impl<F, Fut, E> StreamHandler for F
where
    F: Fn(Stream, StreamCtx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<HandlerError> + 'static,
{
    async fn handle(&self, stream: Stream, ctx: StreamCtx) -> Result<(), HandlerError> {
        (self)(stream, ctx).await.map_err(Into::into)
    }
}
