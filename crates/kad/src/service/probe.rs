//! Learning peers: a connected peer enters the routing table once it answers a
//! FIND_NODE on its existing connection (clients refuse the protocol, so only
//! servers get in). Its addresses come from the address book (identify fills it)
//! and from the connection, when we dialed it.

use rhizome_node::{Direction, Multiaddr, PeerId};
use tracing::{Instrument as _, debug};

use super::Kademlia;

/// New peers that wait for a probe slot when all are taken; beyond this, a peer is
/// checked when it next connects or sends us a request.
pub(crate) const MAX_WAITING_PROBES: usize = 1024;
use super::rpc::exchange;
use crate::PROTOCOL;
use crate::error::RequestError;
use crate::message::Request;

impl Kademlia {
    /// Checks `peer` in the background, unless it is known, already being checked,
    /// or `max_concurrent_probes` checks are running.
    pub(crate) fn probe_later(&self, peer: PeerId) {
        if peer == self.inner.local || self.inner.core().table.contains(&peer) {
            return;
        }
        if !self.claim(peer) {
            // All slots taken (or this peer is being checked): wait for a slot.
            let mut queue = self.inner.probe_queue.lock().unwrap_or_else(|e| e.into_inner());
            let running = self.inner.probing.lock().unwrap_or_else(|e| e.into_inner()).contains(&peer);
            if !running && queue.len() < MAX_WAITING_PROBES && !queue.contains(&peer) {
                queue.push_back(peer);
            }
            return;
        }
        let kad = self.clone();
        let span = tracing::debug_span!("kad_probe", %peer);
        tokio::spawn(
            async move {
                kad.probe(peer).await;
                kad.release(peer);
            }
            .instrument(span),
        );
    }

    /// Frees `peer`'s probe slot and gives it to the oldest waiting peer.
    fn release(&self, peer: PeerId) {
        self.inner.probing.lock().unwrap_or_else(|e| e.into_inner()).remove(&peer);
        let next = self.inner.probe_queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        if let Some(next) = next {
            self.probe_later(next);
        }
    }

    /// Checks in the background that table entry `peer` still answers; removes it
    /// if not (its bucket's most recent replacement takes its place). Shares the
    /// probes' concurrency bound.
    pub(crate) fn check_later(&self, peer: PeerId) {
        if !self.claim(peer) {
            return;
        }
        let kad = self.clone();
        let span = tracing::debug_span!("kad_liveness", %peer);
        tokio::spawn(
            async move {
                let request = Request::FindNode { key: kad.inner.local.to_bytes() };
                if let Err(e) = kad.request(peer, &request).await {
                    debug!(error = %e, "table entry gone");
                    kad.inner.core().table.remove(&peer);
                }
                kad.release(peer);
            }
            .instrument(span),
        );
    }

    /// Takes a probe slot for `peer`; false when one is running for it or all are taken.
    fn claim(&self, peer: PeerId) -> bool {
        let mut probing = self.inner.probing.lock().unwrap_or_else(|e| e.into_inner());
        probing.len() < self.inner.config.max_concurrent_probes && probing.insert(peer)
    }

    /// Asks `peer` (on an open connection) for the peers closest to us; if it
    /// answers, it is a kad server and enters the routing table.
    pub(crate) async fn probe(&self, peer: PeerId) {
        match self.probe_inner(peer).await {
            Ok(addrs) => self.insert_peer(peer, &addrs),
            Err(e) => debug!(%peer, error = %e, "not a kad server"),
        }
    }

    async fn probe_inner(&self, peer: PeerId) -> Result<Vec<Multiaddr>, RequestError> {
        let node = self.inner.node().ok_or(RequestError::NodeGone)?;
        let conn = node.connection_to(&peer).ok_or(RequestError::NoAddress)?;
        let request = Request::FindNode { key: self.inner.local.to_bytes() };
        let max = self.inner.config.max_message_size;
        let run = async {
            let mut stream = node.open_stream_on(&conn, PROTOCOL).await?;
            exchange(&mut stream, &request, max).await
        };
        let answer = tokio::time::timeout(self.inner.config.query.request_timeout, run).await.unwrap_or(Err(RequestError::Timeout))?;
        if let Some(r) = &answer {
            self.learn(super::lookup::closer_of(r));
        }
        let mut addrs = node.address_book().get(&peer);
        for info in node.connections().into_iter().filter(|c| c.peer == peer && c.direction == Direction::Outbound) {
            let (addr, _) = rhizome_identity::split_peer_id(&info.remote_addr);
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        Ok(addrs)
    }
}
