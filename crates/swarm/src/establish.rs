//! Establishing a connection: the one way into the pool for every kind of connection
//! (upgraded raw ones and those that arrive established).

use std::sync::Arc;

use rhizome_core::{Multiaddr, MuxedConnection, PeerId};
use tracing::Instrument as _;

use crate::connection::{Connection, ConnectionId, ConnectionInfo, Direction, StreamCounter};
use crate::shared::Shared;
use crate::{LimitKind, SwarmEvent};

/// A secured, multiplexed (or single-stream) connection about to enter the pool.
pub(crate) struct NewConnection {
    pub(crate) peer: PeerId,
    pub(crate) local_addr: Multiaddr,
    pub(crate) remote_addr: Multiaddr,
    pub(crate) direction: Direction,
    pub(crate) transport: &'static str,
    pub(crate) muxed: MuxedConnection,
}

/// Why a connection was not established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Limit(LimitKind),
    Admission,
    SelfConnection,
    Shutdown,
}

/// Checks, counts and starts a connection: its muxer driver and its serving loop,
/// in one task tracked by the swarm. A refused connection is closed (its driver still runs
/// the graceful close).
pub(crate) fn establish(shared: &Arc<Shared>, new: NewConnection) -> Result<Connection, Refusal> {
    let MuxedConnection { control, inbound, driver } = new.muxed;
    let id = ConnectionId(shared.next_id());
    let info = ConnectionInfo {
        id,
        peer: new.peer,
        local_addr: new.local_addr,
        remote_addr: new.remote_addr,
        direction: new.direction,
        naming: control.naming(),
        transport: new.transport,
    };
    let span = tracing::debug_span!("connection", peer = %info.peer, %id, remote_addr = %info.remote_addr, dir = ?info.direction);
    let cancel = shared.cancel.clone();
    // The muxer's I/O, until it ends or the swarm shuts down.
    let driver = async move {
        tokio::select! {
            _ = driver => {}
            _ = cancel.cancelled() => {}
        }
    };
    // A refused connection is closed: its driver still runs the graceful close.
    let refuse = |driver: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>, refusal: Refusal| {
        shared.tasks.spawn(driver.instrument(span.clone()));
        Err(refusal)
    };
    let refusal = if shared.is_closing() {
        Some(Refusal::Shutdown)
    } else if info.peer == shared.local_peer {
        Some(Refusal::SelfConnection)
    } else if !shared.admits(&info) {
        Some(Refusal::Admission)
    } else {
        None
    };
    if let Some(refusal) = refusal {
        span.in_scope(|| tracing::debug!(?refusal, "connection refused"));
        return refuse(Box::pin(driver), refusal);
    }
    let Some(memory) = shared.budget.connection() else {
        span.in_scope(|| tracing::debug!("memory budget spent: connection refused"));
        return refuse(Box::pin(driver), Refusal::Limit(LimitKind::MemoryBudget));
    };
    let conn =
        Connection { info: Arc::new(info), established: tokio::time::Instant::now(), control, streams: Arc::new(StreamCounter::default()) };
    let inserted = shared.pool().insert(conn.clone(), &shared.config);
    let (num_established, trimmed) = match inserted {
        Ok(inserted) => inserted,
        Err(limit) => {
            drop(conn);
            return refuse(Box::pin(driver), Refusal::Limit(limit));
        }
    };
    if let Some((victim, remaining)) = trimmed {
        tracing::debug!(peer = %victim.info.peer, id = %victim.info.id, "connection limit reached: trimming an idle inbound connection");
        shared.emit(SwarmEvent::Disconnected { info: victim.info.as_ref().clone(), remaining });
        shared.tasks.spawn(async move { victim.close().await });
    }
    span.in_scope(|| tracing::debug!(num_established, transport = conn.info.transport, "connection established"));
    shared.emit(SwarmEvent::Connected { info: conn.info.as_ref().clone(), num_established });
    // One task per connection: the driver and the serving loop together. Inbound
    // streams then reach the serving loop without waking another task (often on
    // another thread), and an idle connection holds one task instead of two. The
    // join is spawned as it is: wrapped in an `async move` block, the task held both
    // futures twice (the block's captures and the join it awaits), 1 KiB more.
    let serve = crate::serve::run(shared.clone(), conn.clone(), inbound, memory);
    shared.tasks.spawn(futures::future::join(driver, serve).instrument(span));
    Ok(conn)
}
