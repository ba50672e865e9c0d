//! The task of one established connection: inbound stream dispatch and idle policy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhizome_core::{BoxIo, InboundReceiver, IncomingStream, ProtocolId};
use rhizome_multistream::listener_select;
use tokio::sync::Semaphore;
use tracing::{Instrument as _, debug, trace};

use crate::budget::Reservation;
use crate::connection::{Connection, StreamGuard};
use crate::negotiation::NegotiationSlot;
use crate::shared::Shared;
use crate::stream::Stream;

/// How long an idle connection's graceful close may take before we drop it.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Per-connection inbound stream limits.
struct StreamLimits {
    negotiating: Arc<Semaphore>,
    per_protocol: Mutex<HashMap<ProtocolId, Arc<Semaphore>>>,
}

impl StreamLimits {
    fn protocol(&self, protocol: &ProtocolId, max: usize) -> Arc<Semaphore> {
        let mut map = self.per_protocol.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded by the number of registered protocols.
        map.entry(protocol.clone()).or_insert_with(|| Arc::new(Semaphore::new(max))).clone()
    }

    /// After a stream of `protocol` ended: forgets the protocol's semaphore if no stream
    /// holds a permit of it (the map's is the only reference; new ones are taken under
    /// the lock), and the map's table once empty, so an idle connection keeps neither.
    fn release(&self, protocol: &ProtocolId) {
        let mut map = self.per_protocol.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(protocol).is_some_and(|s| Arc::strong_count(s) == 1) {
            map.remove(protocol);
        }
        if map.is_empty() {
            *map = HashMap::new();
        }
    }
}

/// Serves the connection until it ends; `_memory` is its share of the budget.
pub(crate) async fn run(shared: Arc<Shared>, conn: Connection, mut inbound: InboundReceiver, _memory: Reservation) {
    let limits = Arc::new(StreamLimits {
        negotiating: Arc::new(Semaphore::new(shared.config.max_negotiating_inbound_streams)),
        per_protocol: Mutex::new(HashMap::new()),
    });
    let idle = conn.streams.idle_for(shared.config.idle_timeout);
    tokio::pin!(idle);
    let mut close_gracefully = false;
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => break,
            next = inbound.recv() => match next {
                Some(IncomingStream { io, protocol: Some(protocol) }) => serve_named(&shared, &conn, &limits, io, protocol),
                Some(IncomingStream { io, protocol: None }) => {
                    // Backpressure, not resets: wait for a negotiation slot (per connection
                    // and node-wide); meanwhile new streams queue in the muxer's bounded backlog.
                    // Boxed: an idle connection's task does not carry this wait's state.
                    let permits = tokio::select! {
                        _ = shared.cancel.cancelled() => break,
                        p = Box::pin(negotiation_permits(&limits, &shared, conn.info.peer)) => p,
                    };
                    match permits {
                        Some(permits) => negotiate(&shared, &conn, &limits, io, permits),
                        None => break,
                    }
                }
                None => break,
            },
            _ = &mut idle => {
                debug!(idle_timeout = ?shared.config.idle_timeout, "connection idle, closing");
                close_gracefully = true;
                break;
            }
        }
    }
    if close_gracefully {
        // Boxed, as above: only a closing connection needs this state.
        let _ = Box::pin(tokio::time::timeout(CLOSE_GRACE, conn.control.close())).await;
    }
    drop(inbound);
    shared.remove_connection(&conn.info);
    debug!("connection closed");
}

type Permits = (tokio::sync::OwnedSemaphorePermit, NegotiationSlot);

/// A slot of the connection's own bound, then a fair share of the node-wide pool.
async fn negotiation_permits(limits: &StreamLimits, shared: &Shared, peer: rhizome_core::PeerId) -> Option<Permits> {
    let local = limits.negotiating.clone().acquire_owned().await.ok()?;
    let total = shared.negotiating.acquire(peer).await;
    Some((local, total))
}

/// An anonymous stream: negotiate its protocol, then serve it.
fn negotiate(shared: &Arc<Shared>, conn: &Connection, limits: &Arc<StreamLimits>, io: BoxIo, negotiating: Permits) {
    if shared.is_closing() {
        return trace!("shutting down: resetting inbound stream");
    }
    let Some(memory) = stream_memory(shared) else { return };
    let guard = conn.streams.open();
    let (shared2, conn, limits) = (shared.clone(), conn.clone(), limits.clone());
    shared.stream_tasks.spawn(
        async move {
            let shared = shared2;
            let negotiated = tokio::select! {
                r = tokio::time::timeout(shared.config.negotiation_timeout, listener_select(io, &shared.handlers)) => r,
                _ = negotiating.1.evicted.cancelled() => return debug!("negotiation slot taken by a peer below its share: resetting stream"),
            };
            drop(negotiating);
            match negotiated {
                Ok(Ok((protocol, io))) => serve(&shared, &conn, &limits, Box::new(io), protocol, (guard, memory)).await,
                Ok(Err(e)) => debug!(error = %e, "inbound stream negotiation failed"),
                Err(_) => debug!("inbound stream negotiation timed out"),
            }
        }
        .in_current_span(),
    );
}

/// A stream the muxer named: no negotiation, straight to its handler.
fn serve_named(shared: &Arc<Shared>, conn: &Connection, limits: &Arc<StreamLimits>, io: BoxIo, protocol: ProtocolId) {
    if shared.is_closing() {
        return trace!("shutting down: resetting inbound stream");
    }
    let Some(memory) = stream_memory(shared) else { return };
    let guard = conn.streams.open();
    let (shared2, conn, limits) = (shared.clone(), conn.clone(), limits.clone());
    shared.stream_tasks.spawn(async move { serve(&shared2, &conn, &limits, io, protocol, (guard, memory)).await }.in_current_span());
}

/// A stream's share of the memory budget, or `None` (counted, logged) when spent: the
/// stream is then reset.
fn stream_memory(shared: &Shared) -> Option<Reservation> {
    let memory = shared.budget.stream();
    if memory.is_none() {
        shared.stats.refusal("memory_budget");
        debug!("memory budget spent: resetting inbound stream");
    }
    memory
}

/// Runs the protocol's handler on the stream, under its per-connection limit.
async fn serve(
    shared: &Shared,
    conn: &Connection,
    limits: &StreamLimits,
    io: BoxIo,
    protocol: ProtocolId,
    (guard, memory): (StreamGuard, Reservation),
) {
    // The handler may have been removed since negotiation looked it up (or, for a
    // named stream, never registered).
    let Some(entry) = shared.handlers.get(protocol.as_str()) else {
        return debug!(%protocol, "no handler for inbound stream: resetting it");
    };
    let permit = match limits.protocol(&protocol, entry.max_inbound_streams).try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => return debug!(%protocol, max = entry.max_inbound_streams, "inbound stream limit reached: resetting stream"),
    };
    let span = tracing::debug_span!("stream", %protocol, dir = "in");
    let counted = shared.stats.stream(&protocol, crate::StreamDirection::Inbound);
    let stream = Stream::on(conn, protocol.clone(), io, (guard, Some(memory)), Some(permit), counted);
    let handler = (entry.handler)(stream).instrument(span);
    tokio::select! {
        _ = handler => {}
        _ = shared.cancel.cancelled() => {}
    }
    limits.release(&protocol);
}
