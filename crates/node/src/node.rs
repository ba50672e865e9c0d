//! `Node`: the handle applications and protocol services use.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::FutureExt as _;
use rhizome_core::{InvalidProtocolId, Keypair, Multiaddr, PeerId, ProtocolId};
use rhizome_identity::PublicKey;
use rhizome_swarm::{
    AddressBook, Connection, ConnectionInfo, DialError, HandlerOpts, ListenError, OpenStreamError, Stream, Swarm, SwarmEvent,
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::handler::{StreamCtx, StreamHandler};

/// Default deadline of [`Node::shutdown`].
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

pub(crate) struct NodeInner {
    pub(crate) swarm: Swarm,
    pub(crate) cancel: CancellationToken,
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A Rhizome node: an identity, transports, and protocol handlers, running its own
/// tasks. Cheap to clone. Dropping the last clone stops it abruptly; call
/// [`Node::shutdown`] to close gracefully.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

/// A handle that does not keep the node alive (for protocol services' background
/// tasks).
#[derive(Clone, Debug)]
pub struct WeakNode {
    inner: Weak<NodeInner>,
}

impl WeakNode {
    /// The node, if it still exists.
    pub fn upgrade(&self) -> Option<Node> {
        self.inner.upgrade().map(|inner| Node { inner })
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("id", &self.id()).finish_non_exhaustive()
    }
}

impl Node {
    /// A builder (TCP, Noise, yamux by default).
    pub fn builder() -> crate::NodeBuilder {
        crate::NodeBuilder::default()
    }

    /// Our peer id.
    pub fn id(&self) -> PeerId {
        self.inner.swarm.local_peer_id()
    }

    /// Our identity key pair: protocols sign with it (or, for Hyperswarm, derive
    /// their Noise keys from its Ed25519 secret).
    pub fn keypair(&self) -> &Keypair {
        self.inner.swarm.keypair()
    }

    /// Our public identity key.
    pub fn public_key(&self) -> PublicKey {
        self.inner.swarm.keypair().public()
    }

    /// A handle that does not keep the node alive.
    pub fn downgrade(&self) -> WeakNode {
        WeakNode { inner: Arc::downgrade(&self.inner) }
    }

    /// A token cancelled when the node shuts down or is dropped; background tasks of
    /// protocol services stop on it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    /// Starts listening on `addr`; returns the bound address.
    pub async fn listen(&self, addr: Multiaddr) -> Result<Multiaddr, ListenError> {
        self.inner.swarm.listen(addr).await.map(|(_, bound)| bound)
    }

    /// The addresses we listen on.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.inner.swarm.listen_addrs()
    }

    /// Connects to `addr` (a trailing `/p2p/<id>` is verified) and returns the
    /// remote's peer id. An open connection to that peer is reused.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, DialError> {
        self.inner.swarm.dial(addr).await.map(|c| c.peer())
    }

    /// Remembers an address of `peer` (used by `open_stream` when not connected).
    pub fn add_address(&self, peer: PeerId, addr: Multiaddr, ttl: Duration) {
        self.inner.swarm.address_book().add(peer, addr, ttl)
    }

    /// The address book.
    pub fn address_book(&self) -> &AddressBook {
        self.inner.swarm.address_book()
    }

    /// Opens a stream to `peer` for `protocol`, dialing a known address first if we
    /// are not connected.
    pub async fn open_stream(&self, peer: PeerId, protocol: impl AsRef<str>) -> Result<Stream, OpenStreamError> {
        let protocol = ProtocolId::new(protocol)?;
        self.inner.swarm.open_stream(peer, &[protocol]).await
    }

    /// Opens a stream on one specific connection (never dials).
    pub async fn open_stream_on(&self, conn: &Connection, protocol: impl AsRef<str>) -> Result<Stream, OpenStreamError> {
        let protocol = ProtocolId::new(protocol)?;
        self.inner.swarm.open_stream_on(conn, &[protocol]).await
    }

    /// Opens a stream for the first of `protocols` the peer supports.
    pub async fn open_stream_any(&self, peer: PeerId, protocols: &[ProtocolId]) -> Result<Stream, OpenStreamError> {
        self.inner.swarm.open_stream(peer, protocols).await
    }

    /// Serves inbound streams of `protocol` with `handler` (replacing any previous
    /// handler), with the default per-connection concurrency limit. For a constant
    /// [`ProtocolId`], [`Node::handle`] cannot fail.
    pub fn set_stream_handler(&self, protocol: impl AsRef<str>, handler: impl StreamHandler) -> Result<(), InvalidProtocolId> {
        self.set_stream_handler_with(protocol, handler, HandlerOpts::default())
    }

    /// Like [`Node::set_stream_handler`], with options (e.g. the concurrency limit).
    pub fn set_stream_handler_with(
        &self,
        protocol: impl AsRef<str>,
        handler: impl StreamHandler,
        opts: HandlerOpts,
    ) -> Result<(), InvalidProtocolId> {
        self.handle_with(ProtocolId::new(protocol)?, handler, opts);
        Ok(())
    }

    /// Serves inbound streams of `protocol` with `handler` (replacing any previous
    /// handler). Infallible: the protocol id is already valid.
    ///
    /// ```
    /// # use rhizome_node::{Node, ProtocolId, Stream, StreamCtx};
    /// const HELLO: ProtocolId = ProtocolId::from_static("/hello/1.0.0");
    /// # async fn f(node: Node) {
    /// node.handle(HELLO, |_s: Stream, _ctx: StreamCtx| async { Ok::<_, std::io::Error>(()) });
    /// # }
    /// ```
    pub fn handle(&self, protocol: ProtocolId, handler: impl StreamHandler) {
        self.handle_with(protocol, handler, HandlerOpts::default());
    }

    /// Like [`Node::handle`], with options.
    pub fn handle_with(&self, protocol: ProtocolId, handler: impl StreamHandler, opts: HandlerOpts) {
        self.inner.swarm.set_handler(protocol, self.adapt(handler), opts);
    }

    /// Wraps a [`StreamHandler`] as the swarm's handler type.
    pub(crate) fn adapt(&self, handler: impl StreamHandler) -> rhizome_swarm::Handler {
        let handler: Arc<dyn StreamHandler> = Arc::new(handler);
        let weak = self.downgrade();
        let shutdown = self.shutdown_token();
        Arc::new(move |stream: Stream| {
            let (handler, weak, shutdown) = (handler.clone(), weak.clone(), shutdown.clone());
            async move {
                let ctx = StreamCtx::new(&stream, weak, shutdown);
                if let Err(e) = handler.handle(stream, ctx).await {
                    debug!(error = %e, "stream handler failed");
                }
            }
            .boxed()
        })
    }

    /// Stops serving `protocol`; returns whether a handler was registered.
    pub fn remove_stream_handler(&self, protocol: impl AsRef<str>) -> bool {
        self.inner.swarm.remove_handler(protocol.as_ref())
    }

    /// The protocols we serve.
    pub fn protocols(&self) -> Vec<ProtocolId> {
        self.inner.swarm.protocols()
    }

    /// Events: connected, disconnected, listening, listen errors… A bounded
    /// broadcast: a receiver that falls behind is told how many events it missed.
    pub fn events(&self) -> broadcast::Receiver<SwarmEvent> {
        self.inner.swarm.subscribe()
    }

    /// Established connections.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.inner.swarm.connections()
    }

    /// Peers we are connected to.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        self.inner.swarm.connected_peers()
    }

    /// The open connection to `peer`, if any.
    pub fn connection_to(&self, peer: &PeerId) -> Option<Connection> {
        self.inner.swarm.connection_to(peer)
    }

    /// Closes every connection to `peer`.
    pub async fn disconnect(&self, peer: &PeerId) {
        self.inner.swarm.disconnect(peer).await
    }

    /// Graceful shutdown within [`DEFAULT_SHUTDOWN_DEADLINE`].
    pub async fn shutdown(&self) {
        self.shutdown_within(DEFAULT_SHUTDOWN_DEADLINE).await
    }

    /// Graceful shutdown within `deadline` (see [`Swarm::shutdown`]). Handlers see
    /// [`StreamCtx::shutdown`] fire first.
    pub async fn shutdown_within(&self, deadline: Duration) {
        self.inner.cancel.cancel();
        self.inner.swarm.shutdown(deadline).await
    }
}
