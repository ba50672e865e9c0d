//! Peer routing: who to ask for the addresses of a peer the address book does not
//! know (Kademlia, Hyperswarm's `join_peer`, a static table in tests).

use std::sync::{Arc, RwLock};

use rhizome_core::{Multiaddr, PeerId};
use tracing::debug;

use crate::Swarm;

/// Peer routers registered at most.
pub const MAX_ROUTERS: usize = 16;

/// A peer routing failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoutingError {
    /// The router looked and did not find the peer.
    #[error("peer not found")]
    NotFound,
    /// The router could not look (not bootstrapped, its service is gone…).
    #[error("peer routing failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Finds a way to reach a peer.
///
/// A router either returns addresses (the swarm dials them and remembers them in
/// the address book), or connects the peer itself and hands the connection in
/// (e.g. through [`Swarm::add_connection`]) before returning; the swarm checks for a
/// connection first. A router kept by a service should hold the node weakly, since
/// the swarm keeps the router alive.
#[async_trait::async_trait]
pub trait PeerRouter: Send + Sync + 'static {
    /// A short name for logs (`"kad"`, `"hyperswarm"`).
    fn name(&self) -> &'static str;

    /// Looks `peer` up.
    async fn find_peer(&self, peer: PeerId) -> Result<Vec<Multiaddr>, RoutingError>;
}

/// Identifies a registered router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouterId(u64);

/// `add_peer_router` was refused: [`MAX_ROUTERS`] are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many peer routers (at most {MAX_ROUTERS})")]
pub struct TooManyRouters;

#[derive(Default)]
pub(crate) struct Routers {
    list: RwLock<Vec<(RouterId, Arc<dyn PeerRouter>)>>,
}

impl Routers {
    pub(crate) fn snapshot(&self) -> Vec<Arc<dyn PeerRouter>> {
        self.list.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(_, r)| r.clone()).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.read().unwrap_or_else(|e| e.into_inner()).is_empty()
    }
}

impl Swarm {
    /// Registers a peer router, asked (in registration order) when we must reach a
    /// peer whose address we do not know.
    pub fn add_peer_router(&self, router: Arc<dyn PeerRouter>) -> Result<RouterId, TooManyRouters> {
        let mut list = self.shared.routers.list.write().unwrap_or_else(|e| e.into_inner());
        if list.len() >= MAX_ROUTERS {
            return Err(TooManyRouters);
        }
        let id = RouterId(self.shared.next_id());
        list.push((id, router));
        Ok(id)
    }

    /// Removes a router; returns whether it was registered.
    pub fn remove_peer_router(&self, id: RouterId) -> bool {
        let mut list = self.shared.routers.list.write().unwrap_or_else(|e| e.into_inner());
        let before = list.len();
        list.retain(|(i, _)| *i != id);
        list.len() != before
    }
}

/// The outcome of asking the routers.
pub(crate) enum Routed {
    /// A router handed in a connection.
    Connected,
    /// Addresses to dial.
    Addresses(Vec<Multiaddr>),
    /// Nobody found the peer; the last router's error, if any failed.
    NotFound(Option<RoutingError>),
}

/// Asks each router in turn until one connects the peer or finds addresses, each
/// under `timeout`. `connected` tells whether a connection to the peer exists.
pub(crate) async fn route(
    routers: Vec<Arc<dyn PeerRouter>>,
    peer: PeerId,
    timeout: std::time::Duration,
    connected: impl Fn() -> bool,
) -> Routed {
    let mut last = None;
    for router in routers {
        let found = tokio::time::timeout(timeout, router.find_peer(peer)).await;
        if connected() {
            return Routed::Connected;
        }
        match found {
            Ok(Ok(addrs)) if !addrs.is_empty() => return Routed::Addresses(addrs),
            Ok(Ok(_)) => last = Some(RoutingError::NotFound),
            Ok(Err(e)) => {
                debug!(router = router.name(), %peer, error = %e, "peer routing failed");
                last = Some(e);
            }
            Err(_) => {
                debug!(router = router.name(), %peer, "peer routing timed out");
                last = Some(RoutingError::Failed("timed out".into()));
            }
        }
    }
    Routed::NotFound(last)
}
