//! Pull-style inbound streams: `node.accept(protocol)` instead of a handler.

use std::pin::Pin;
use std::task::{Context, Poll};

use rhizome_core::ProtocolId;
use rhizome_swarm::{Handler, HandlerOpts, Stream};
use tokio::sync::mpsc;

use crate::{Node, StreamCtx, WeakNode};

/// Inbound streams waiting in an [`Incoming`] by default.
pub const DEFAULT_ACCEPT_BACKLOG: usize = 16;

/// The inbound streams of one protocol, to take one at a time
/// (`while let Some((stream, ctx)) = incoming.next().await`).
///
/// Bounded: when `backlog` streams wait, the next ones wait in their connection's
/// per-protocol limit, and beyond that are reset. Dropping it stops serving the
/// protocol (unless another handler replaced it meanwhile).
pub struct Incoming {
    protocol: ProtocolId,
    rx: mpsc::Receiver<(Stream, StreamCtx)>,
    node: WeakNode,
    handler: Handler,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming").field("protocol", &self.protocol).finish_non_exhaustive()
    }
}

impl Incoming {
    /// The next inbound stream; `None` once the node is shut down.
    pub async fn next(&mut self) -> Option<(Stream, StreamCtx)> {
        self.rx.recv().await
    }

    /// The protocol.
    pub fn protocol(&self) -> &ProtocolId {
        &self.protocol
    }
}

impl futures::Stream for Incoming {
    type Item = (Stream, StreamCtx);
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Some(node) = self.node.upgrade() {
            node.inner.swarm.remove_handler_if_same(self.protocol.as_str(), &self.handler);
        }
    }
}

impl Node {
    /// Takes the inbound streams of `protocol` as a stream of `(Stream, StreamCtx)`
    /// (replacing any handler), with [`DEFAULT_ACCEPT_BACKLOG`].
    pub fn accept(&self, protocol: ProtocolId) -> Incoming {
        self.accept_with(protocol, DEFAULT_ACCEPT_BACKLOG, HandlerOpts::default())
    }

    /// Like [`Node::accept`], with a backlog and handler options.
    pub fn accept_with(&self, protocol: ProtocolId, backlog: usize, opts: HandlerOpts) -> Incoming {
        let (tx, rx) = mpsc::channel(backlog.max(1));
        let stop = self.shutdown_token();
        let handler = self.adapt(move |stream: Stream, ctx: StreamCtx| {
            let (tx, stop) = (tx.clone(), stop.clone());
            async move {
                // Waits for room: the stream keeps its per-protocol permit meanwhile.
                tokio::select! {
                    _ = tx.send((stream, ctx)) => {}
                    _ = stop.cancelled() => {}
                }
                Ok::<_, std::convert::Infallible>(())
            }
        });
        self.inner.swarm.set_handler(protocol.clone(), handler.clone(), opts);
        Incoming { protocol, rx, node: self.downgrade(), handler }
    }
}
