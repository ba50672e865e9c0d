//! `NodeBuilder`.

use std::sync::Arc;
use std::time::Duration;

use rhizome_core::{Keypair, MemoryTransport, Multiaddr, Transport};
use rhizome_swarm::{Config, ConnectionLimits, ListenError, Swarm};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, info, warn};

use crate::node::{Node, NodeInner};

/// Building a node failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No key was given and the OS has no randomness.
    #[error("cannot generate a key")]
    Key(#[source] rhizome_identity::RandomnessError),
    /// The swarm could not be built.
    #[error("swarm configuration")]
    Swarm(#[source] rhizome_swarm::BuildError),
    /// Listening on a configured address failed.
    #[error("cannot listen")]
    Listen(#[source] ListenError),
}

/// Builds a [`Node`]: identity, transports, limits, timeouts, listen addresses and
/// bootstrap peers. Noise and yamux are always the security and muxer.
///
/// Defaults: a fresh random key, the TCP transport, [`rhizome_swarm::Config`]'s
/// limits and timeouts, yamux's [`rhizome_yamux::Config`], no listen address.
#[derive(Default)]
pub struct NodeBuilder {
    keypair: Option<Keypair>,
    tcp: Option<rhizome_tcp::Config>,
    memory: bool,
    extra: Vec<Box<dyn Transport>>,
    yamux: rhizome_yamux::Config,
    config: Config,
    listen: Vec<Multiaddr>,
    bootstrap: Vec<Multiaddr>,
}

impl std::fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeBuilder").field("listen", &self.listen).field("config", &self.config).finish_non_exhaustive()
    }
}

impl NodeBuilder {
    /// Uses this identity (default: a fresh random key).
    pub fn keypair(mut self, keypair: Keypair) -> Self {
        self.keypair = Some(keypair);
        self
    }

    /// Adds the TCP transport with default settings (on by default unless another
    /// transport is chosen).
    pub fn tcp(self) -> Self {
        self.tcp_with(rhizome_tcp::Config::default())
    }

    /// Adds the TCP transport with these settings.
    pub fn tcp_with(mut self, config: rhizome_tcp::Config) -> Self {
        self.tcp = Some(config);
        self
    }

    /// Adds the in-memory transport (`/memory/<n>`), for tests.
    pub fn memory(mut self) -> Self {
        self.memory = true;
        self
    }

    /// Adds any other transport.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.extra.push(Box::new(transport));
        self
    }

    /// yamux settings.
    pub fn yamux(mut self, config: rhizome_yamux::Config) -> Self {
        self.yamux = config;
        self
    }

    /// All swarm limits and timeouts at once.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Connection limits.
    pub fn limits(mut self, limits: ConnectionLimits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Idle timeout for connections without open streams.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Listens on `addr` when built (repeatable).
    pub fn listen(mut self, addr: Multiaddr) -> Self {
        self.listen.push(addr);
        self
    }

    /// Dials these peers in the background once built (best effort; failures are
    /// logged at warn).
    pub fn bootstrap(mut self, addrs: impl IntoIterator<Item = Multiaddr>) -> Self {
        self.bootstrap.extend(addrs);
        self
    }

    /// Builds and starts the node: binds the listen addresses, starts the bootstrap
    /// dials. Must run within a tokio runtime.
    pub async fn build(self) -> Result<Node, BuildError> {
        let keypair = match self.keypair {
            Some(k) => k,
            None => <Keypair as rhizome_identity::KeypairExt>::generate().map_err(BuildError::Key)?,
        };
        let mut builder = Swarm::builder(keypair.clone())
            .with_security(rhizome_noise::Config::new(keypair))
            .with_muxer(self.yamux)
            .with_config(self.config);
        let tcp = self.tcp.or((!self.memory && self.extra.is_empty()).then(rhizome_tcp::Config::default));
        if let Some(tcp) = tcp {
            builder = builder.with_transport(rhizome_tcp::TcpTransport::new(tcp));
        }
        if self.memory {
            builder = builder.with_transport(MemoryTransport);
        }
        for t in self.extra {
            builder = builder.with_transport(BoxedTransport(t));
        }
        let swarm = builder.build().map_err(BuildError::Swarm)?;
        let node = Node { inner: Arc::new(NodeInner { swarm, cancel: CancellationToken::new() }) };
        info!(peer_id = %node.id(), "local peer id");
        for addr in self.listen {
            node.listen(addr).await.map_err(BuildError::Listen)?;
        }
        for addr in self.bootstrap {
            let weak = node.downgrade();
            let span = tracing::debug_span!("bootstrap", %addr);
            tokio::spawn(
                async move {
                    let Some(node) = weak.upgrade() else { return };
                    if let Err(e) = node.dial(addr.clone()).await {
                        warn!(%addr, error = %e, "bootstrap peer unreachable");
                    }
                }
                .instrument(span),
            );
        }
        Ok(node)
    }
}

/// Lets a boxed transport be added like any other.
struct BoxedTransport(Box<dyn Transport>);

#[async_trait::async_trait]
impl Transport for BoxedTransport {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn supports(&self, addr: &Multiaddr) -> bool {
        self.0.supports(addr)
    }
    async fn dial(&self, addr: &Multiaddr) -> Result<rhizome_core::RawConn, rhizome_core::TransportError> {
        self.0.dial(addr).await
    }
    async fn listen(&self, addr: &Multiaddr) -> Result<Box<dyn rhizome_core::Listener>, rhizome_core::TransportError> {
        self.0.listen(addr).await
    }
}
