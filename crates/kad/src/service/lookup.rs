//! Drives a sans-IO [`Query`] over the network: α requests in flight, answers fed
//! back, peers learned into the address book and the routing table.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use rhizome_node::PeerId;
use tracing::{Instrument as _, debug, trace};

use super::{Kademlia, now};
use crate::error::{QueryError, RequestError};
use crate::event::{Event, QueryId, QueryKind};
use crate::key::Key;
use crate::message::{Peer, Request, Response};
use crate::query::{Action, Query, QueryStats};

/// How long addresses learned from lookups stay in the address book.
pub(crate) const LEARNED_ADDR_TTL: Duration = Duration::from_secs(30 * 60);
/// Steps (sent requests plus received answers) one lookup takes at most.
const MAX_STEPS: usize = 10_000;

/// Whether the lookup goes on after an answer.
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// What a finished lookup knows.
pub(crate) struct Outcome {
    /// The closest peers that answered, closest first.
    pub(crate) closest: Vec<PeerId>,
    pub(crate) stats: QueryStats,
}

impl Kademlia {
    /// Runs a lookup for `target`, sending `request` to each peer it contacts and
    /// handing every answer to `on_answer`.
    pub(crate) async fn lookup(
        &self,
        kind: QueryKind,
        target: Key,
        request: Request,
        on_answer: impl FnMut(PeerId, &Response) -> Flow,
    ) -> Result<Outcome, QueryError> {
        let id = QueryId(self.inner.next_query.fetch_add(1, Ordering::Relaxed));
        let span = tracing::debug_span!("query", id = id.0, kind = ?kind, target = ?target);
        let started = tokio::time::Instant::now();
        self.inner.emit(Event::QueryStarted { id, kind });
        let result = self.drive(target, request, on_answer).instrument(span).await;
        let (ok, stats) = match &result {
            Ok(o) => (!o.closest.is_empty(), o.stats),
            Err(_) => (false, QueryStats::default()),
        };
        if !ok {
            self.inner.queries_failed.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.queries_finished.fetch_add(1, Ordering::Relaxed);
        self.inner.query_hops.fetch_add(u64::from(stats.hops), Ordering::Relaxed);
        self.inner.query_requests.fetch_add(u64::from(stats.requests), Ordering::Relaxed);
        self.inner.emit(Event::QueryFinished { id, kind, ok, stats, duration: started.elapsed() });
        result
    }

    async fn drive(
        &self,
        target: Key,
        request: Request,
        mut on_answer: impl FnMut(PeerId, &Response) -> Flow,
    ) -> Result<Outcome, QueryError> {
        let k = self.inner.config.query.k;
        let seeds: Vec<PeerId> = self.inner.core().table.closest(&target, k).into_iter().map(|e| e.peer).collect();
        if seeds.is_empty() {
            return Err(QueryError::NoPeers);
        }
        let mut query = Query::new(target, Some(self.inner.local), seeds, self.inner.config.query, now());
        let mut in_flight = FuturesUnordered::new();
        for _ in 0..MAX_STEPS {
            while let Action::Request(peer) = query.poll(now()) {
                let request = request.clone();
                trace!(%peer, "query request");
                in_flight.push(async move { (peer, self.request(peer, &request).await) });
            }
            if query.is_finished() {
                break;
            }
            let deadline = tokio::time::Instant::from_std(query.next_deadline());
            tokio::select! {
                Some((peer, result)) = in_flight.next() => {
                    if let Flow::Stop = self.on_result(&mut query, peer, result, &mut on_answer) {
                        query.finish();
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
        let now = now();
        self.inner.core().table.mark_refreshed(&target, now);
        debug!(stats = ?query.stats(), "query done");
        Ok(Outcome { closest: query.closest_succeeded(), stats: query.stats() })
    }

    fn on_result(
        &self,
        query: &mut Query,
        peer: PeerId,
        result: Result<Option<Response>, RequestError>,
        on_answer: &mut impl FnMut(PeerId, &Response) -> Flow,
    ) -> Flow {
        match result {
            Ok(Some(response)) => {
                let closer = closer_of(&response);
                self.learn(closer);
                let known = self.inner.node().map(|n| n.address_book().get(&peer)).unwrap_or_default();
                self.insert_peer(peer, &known);
                query.on_success(&peer, closer.iter().map(|p| p.id));
                on_answer(peer, &response)
            }
            Ok(None) => {
                query.on_success(&peer, []);
                Flow::Continue
            }
            Err(e) => {
                debug!(%peer, error = %e, "query request failed");
                query.on_failure(&peer);
                if !matches!(e, RequestError::NodeGone) {
                    self.inner.core().table.on_failure(&peer);
                }
                Flow::Continue
            }
        }
    }

    /// Puts the addresses of peers named in an answer into the address book.
    pub(crate) fn learn(&self, peers: &[Peer]) {
        let Some(node) = self.inner.node() else { return };
        for p in peers.iter().filter(|p| p.id != self.inner.local) {
            for a in &p.addrs {
                node.add_address(p.id, a.clone(), LEARNED_ADDR_TTL);
            }
        }
    }
}

/// The closer peers of an answer.
pub(crate) fn closer_of(response: &Response) -> &[Peer] {
    match response {
        Response::FindNode { closer } | Response::GetValue { closer, .. } | Response::GetProviders { closer, .. } => closer,
        _ => &[],
    }
}
