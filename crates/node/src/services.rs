//! What the node gives protocol services beyond streams: connections that arrive
//! established, peer routing, the admission hook and our external addresses.

use std::sync::Arc;

use rhizome_core::Multiaddr;
use rhizome_swarm::{
    AddConnectionError, Admission, Connection, ConnectionInfo, Direction, EstablishedConnection, PeerRouter, RouterId, TooManyRouters,
};

use crate::Node;
use rhizome_core::PeerId;

impl Node {
    /// Hands the node a connection that arrived established (secured by its
    /// transport or service; multiplexed, or a single stream). It then gets the same
    /// limits, admission hook, events, handlers, idle policy and shutdown as a TCP
    /// connection. Refused, it is closed.
    pub fn add_connection(&self, conn: EstablishedConnection, direction: Direction) -> Result<Connection, AddConnectionError> {
        self.inner.swarm.add_connection(conn, direction)
    }

    /// Registers a peer router: `open_stream` and `dial_peer` to a peer with no known
    /// address ask the routers, in registration order.
    pub fn add_peer_router(&self, router: Arc<dyn PeerRouter>) -> Result<RouterId, TooManyRouters> {
        self.inner.swarm.add_peer_router(router)
    }

    /// Removes a peer router; returns whether it was registered.
    pub fn remove_peer_router(&self, id: RouterId) -> bool {
        self.inner.swarm.remove_peer_router(id)
    }

    /// Connects to `peer` by id: reuses a connection, dials known addresses, or asks
    /// the peer routers.
    pub async fn dial_peer(&self, peer: PeerId) -> Result<Connection, rhizome_swarm::DialError> {
        self.inner.swarm.dial_peer(peer).await
    }

    /// Sets the admission hook: called with each new connection's facts once the
    /// remote is authenticated, before it is counted or served; `false` refuses it.
    ///
    /// ```
    /// # async fn f(node: rhizome_node::Node, banned: rhizome_node::PeerId) {
    /// node.set_admission(move |info: &rhizome_node::ConnectionInfo| info.peer != banned);
    /// # }
    /// ```
    pub fn set_admission(&self, hook: impl Fn(&ConnectionInfo) -> bool + Send + Sync + 'static) {
        let hook: Admission = Arc::new(hook);
        self.inner.swarm.set_admission(Some(hook));
    }

    /// Removes the admission hook.
    pub fn clear_admission(&self) {
        self.inner.swarm.set_admission(None);
    }

    /// Protects `peer`'s connections from being trimmed when the inbound connection
    /// limit is reached (see `Config::trim_idle_inbound`); false if too many are.
    pub fn protect_peer(&self, peer: PeerId) -> bool {
        self.inner.swarm.protect_peer(peer)
    }

    /// Lifts a protection; returns whether `peer` was protected.
    pub fn unprotect_peer(&self, peer: &PeerId) -> bool {
        self.inner.swarm.unprotect_peer(peer)
    }

    /// The swarm's counters now (connections, streams, bytes, failures, refusals),
    /// as `rhizome-metrics` exports them.
    pub fn stats(&self) -> rhizome_swarm::StatsSnapshot {
        self.inner.swarm.stats()
    }

    /// Our confirmed external addresses.
    pub fn external_addrs(&self) -> Vec<Multiaddr> {
        self.inner.swarm.external_addrs()
    }

    /// Declares `addr` a confirmed external address.
    pub fn add_external_addr(&self, addr: Multiaddr) {
        self.inner.swarm.add_external_addr(addr)
    }

    /// Forgets a confirmed external address.
    pub fn remove_external_addr(&self, addr: &Multiaddr) -> bool {
        self.inner.swarm.remove_external_addr(addr)
    }

    /// Reports that `by` observed us at `addr` (identify does); enough distinct
    /// reports confirm it (`Config::external_addr_confirmations`).
    pub fn report_observed_addr(&self, addr: Multiaddr, by: PeerId) {
        self.inner.swarm.report_observed_addr(addr, by)
    }
}
