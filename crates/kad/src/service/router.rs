//! Kademlia as a peer router: `node.open_stream(peer, …)` to a peer with no known
//! address looks it up in the DHT.

use std::sync::Weak;

use rhizome_node::{Multiaddr, PeerId, PeerRouter, RoutingError};

use super::{Inner, Kademlia};
use crate::error::QueryError;

/// Holds the service weakly: the node keeps its routers alive.
pub(crate) struct Router {
    inner: Weak<Inner>,
}

impl Router {
    pub(crate) fn new(kad: &Kademlia) -> Self {
        Self { inner: std::sync::Arc::downgrade(&kad.inner) }
    }
}

#[async_trait::async_trait]
impl PeerRouter for Router {
    fn name(&self) -> &'static str {
        "kad"
    }

    async fn find_peer(&self, peer: PeerId) -> Result<Vec<Multiaddr>, RoutingError> {
        let inner = self.inner.upgrade().ok_or_else(|| RoutingError::Failed(Box::new(QueryError::NodeGone)))?;
        let kad = Kademlia { inner };
        match kad.find_node(peer).await {
            Ok(addrs) => Ok(addrs),
            Err(QueryError::NotFound) => Err(RoutingError::NotFound),
            Err(e) => Err(RoutingError::Failed(Box::new(e))),
        }
    }
}
