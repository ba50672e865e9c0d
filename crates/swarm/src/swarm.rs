//! The `Swarm` handle and its builder.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rhizome_core::{Keypair, Multiaddr, Muxer, PeerId, ProtocolId, SecurityUpgrade, Transport};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::address_book::AddressBook;
use crate::connection::{Connection, ConnectionInfo};
use crate::handlers::{Handler, HandlerEntry, HandlerOpts};
use crate::shared::{Shared, SharedParts};
use crate::upgrade::Upgrader;
use crate::{Config, SwarmEvent};

/// Building a swarm failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No transport was added.
    #[error("no transport configured")]
    NoTransport,
    /// No security upgrade was set.
    #[error("no security upgrade configured")]
    NoSecurity,
    /// No muxer was set.
    #[error("no stream muxer configured")]
    NoMuxer,
}

/// Builds a [`Swarm`]: transports, one security upgrade, one muxer, a config.
pub struct SwarmBuilder {
    keypair: Keypair,
    transports: Vec<Box<dyn Transport>>,
    security: Option<Arc<dyn SecurityUpgrade>>,
    muxer: Option<Arc<dyn Muxer>>,
    config: Config,
}

impl std::fmt::Debug for SwarmBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmBuilder")
            .field("peer", &self.keypair.public().to_peer_id())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SwarmBuilder {
    /// A builder for a swarm with this identity.
    pub fn new(keypair: Keypair) -> Self {
        Self { keypair, transports: Vec::new(), security: None, muxer: None, config: Config::default() }
    }

    /// Adds a transport (the first one supporting an address is used).
    pub fn with_transport(mut self, transport: impl Transport) -> Self {
        self.transports.push(Box::new(transport));
        self
    }

    /// Sets the security upgrade (e.g. `noise::Config`).
    pub fn with_security(mut self, security: impl SecurityUpgrade) -> Self {
        self.security = Some(Arc::new(security));
        self
    }

    /// Sets the stream muxer (e.g. `yamux::Config`).
    pub fn with_muxer(mut self, muxer: impl Muxer) -> Self {
        self.muxer = Some(Arc::new(muxer));
        self
    }

    /// Sets limits and timeouts.
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Builds the swarm. Must be called within a tokio runtime (tasks are spawned as
    /// connections and listeners appear).
    pub fn build(self) -> Result<Swarm, BuildError> {
        if self.transports.is_empty() {
            return Err(BuildError::NoTransport);
        }
        let security = self.security.ok_or(BuildError::NoSecurity)?;
        let muxer = self.muxer.ok_or(BuildError::NoMuxer)?;
        let shared = Arc::new(Shared::new(SharedParts {
            keypair: self.keypair,
            config: self.config,
            transports: self.transports,
            upgrader: Upgrader { security, muxer },
        }));
        let owner = Arc::new(Owner(shared.cancel.clone()));
        Ok(Swarm { shared, _owner: owner })
    }
}

/// Cancels everything when the last user handle is dropped.
struct Owner(CancellationToken);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A libp2p swarm: dials and listens, upgrades connections, keeps the pool, enforces
/// limits and serves inbound streams with registered handlers. Runs its own tasks.
///
/// Cheap to clone; dropping the last clone stops everything abruptly, while
/// [`Swarm::shutdown`] closes gracefully.
#[derive(Clone)]
pub struct Swarm {
    pub(crate) shared: Arc<Shared>,
    _owner: Arc<Owner>,
}

impl std::fmt::Debug for Swarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Swarm").field("peer", &self.shared.local_peer).finish_non_exhaustive()
    }
}

impl Swarm {
    /// A builder.
    pub fn builder(keypair: Keypair) -> SwarmBuilder {
        SwarmBuilder::new(keypair)
    }

    /// Our peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.shared.local_peer
    }

    /// Our identity key (for protocols that sign, or derive keys from it).
    pub fn keypair(&self) -> &Keypair {
        &self.shared.keypair
    }

    /// The limits and timeouts in force.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Subscribes to events (a bounded broadcast; a slow receiver is told it lagged).
    pub fn subscribe(&self) -> broadcast::Receiver<SwarmEvent> {
        self.shared.events.subscribe()
    }

    /// The address book (used by `dial_peer` and `open_stream`).
    pub fn address_book(&self) -> &AddressBook {
        &self.shared.addresses
    }

    /// Registers (or replaces) the handler for inbound streams of `protocol`.
    pub fn set_handler(&self, protocol: ProtocolId, handler: Handler, opts: HandlerOpts) {
        let max = opts.max_inbound_streams.unwrap_or(self.shared.config.default_max_inbound_streams).max(1);
        self.shared.handlers.set(protocol, HandlerEntry { handler, max_inbound_streams: max });
    }

    /// Removes the handler for `protocol`; returns whether there was one. Streams
    /// already being served continue.
    pub fn remove_handler(&self, protocol: &str) -> bool {
        self.shared.handlers.remove(protocol)
    }

    /// Removes the handler for `protocol` only if it is still `handler`; returns
    /// whether it was.
    pub fn remove_handler_if_same(&self, protocol: &str, handler: &Handler) -> bool {
        self.shared.handlers.remove_if_same(protocol, handler)
    }

    /// The protocols we serve, sorted.
    pub fn protocols(&self) -> Vec<ProtocolId> {
        rhizome_multistream::ProtocolSet::list(&self.shared.handlers)
    }

    /// Established connections.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let mut v: Vec<ConnectionInfo> = self.shared.pool().conns.values().map(|c| c.info.as_ref().clone()).collect();
        v.sort_by_key(|i| i.id);
        v
    }

    /// The most recent open connection to `peer`.
    pub fn connection_to(&self, peer: &PeerId) -> Option<Connection> {
        self.shared.pool().connection_to(peer)
    }

    /// Whether we have an open connection to `peer`.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.connection_to(peer).is_some()
    }

    /// Peers we are connected to.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        self.shared.pool().by_peer.keys().copied().collect()
    }

    /// Addresses we listen on (as bound, e.g. with the real port).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        let pool = self.shared.pool();
        let mut v: Vec<_> = pool.listeners.iter().map(|(id, l)| (*id, l.addr.clone())).collect();
        v.sort_by_key(|(id, _)| *id);
        v.into_iter().map(|(_, a)| a).collect()
    }

    /// Protects `peer`'s connections from trimming (routing-table entries, peers an
    /// application cares about); returns false if [`crate::MAX_PROTECTED_PEERS`] are
    /// protected already.
    pub fn protect_peer(&self, peer: PeerId) -> bool {
        let mut pool = self.shared.pool();
        if pool.protected.len() >= crate::pool::MAX_PROTECTED_PEERS && !pool.protected.contains(&peer) {
            return false;
        }
        pool.protected.insert(peer);
        true
    }

    /// Lifts the protection of `peer`; returns whether it was protected.
    pub fn unprotect_peer(&self, peer: &PeerId) -> bool {
        self.shared.pool().protected.remove(peer)
    }

    /// Closes every connection to `peer` gracefully.
    pub async fn disconnect(&self, peer: &PeerId) {
        let conns: Vec<Connection> = {
            let pool = self.shared.pool();
            pool.by_peer.get(peer).into_iter().flatten().filter_map(|id| pool.conns.get(id).cloned()).collect()
        };
        futures::future::join_all(conns.iter().map(Connection::close)).await;
    }

    /// Graceful shutdown, bounded by `deadline`:
    /// 1. listeners stop and new dials, connections and inbound streams are refused;
    /// 2. running inbound stream handlers get up to half the deadline to finish;
    /// 3. every connection is closed (yamux GoAway) and awaited;
    /// 4. at the deadline, whatever still runs is cancelled.
    pub async fn shutdown(&self, deadline: Duration) {
        let shared = &self.shared;
        let start = tokio::time::Instant::now();
        shared.closing.store(true, Ordering::Release);
        let (listeners, conns): (Vec<CancellationToken>, Vec<Connection>) = {
            let pool = shared.pool();
            (pool.listeners.values().map(|l| l.cancel.clone()).collect(), pool.conns.values().cloned().collect())
        };
        for l in listeners {
            l.cancel();
        }
        shared.stream_tasks.close();
        let _ = tokio::time::timeout(deadline / 2, shared.stream_tasks.wait()).await;
        let remaining = deadline.saturating_sub(start.elapsed());
        let closing = futures::future::join_all(conns.iter().map(Connection::close));
        if tokio::time::timeout(remaining, closing).await.is_err() {
            debug!("shutdown deadline reached with connections still closing");
        }
        shared.cancel.cancel();
        shared.tasks.close();
        // Tasks observe the cancellation at their next poll; give them a moment.
        let ended = async {
            shared.tasks.wait().await;
            shared.stream_tasks.wait().await;
        };
        let _ = tokio::time::timeout(Duration::from_millis(50), ended).await;
    }

    /// The counters (connections, streams, bytes, failures, refusals) now.
    pub fn stats(&self) -> crate::StatsSnapshot {
        let pending = self.shared.pending_in.lock().unwrap_or_else(|e| e.into_inner()).len();
        self.shared.stats.snapshot(pending)
    }

    /// Bytes of the memory budget reserved now (see [`crate::MemoryBudget`]).
    pub fn memory_reserved(&self) -> usize {
        self.shared.budget.used()
    }

    /// Whether `shutdown` has started (or the swarm was dropped).
    pub fn is_shut_down(&self) -> bool {
        self.shared.is_closing()
    }
}
