//! Shared swarm state: the connection pool, counters and limits.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::{BoxFuture, Shared as SharedFuture};
use rhizome_core::{Keypair, Multiaddr, MuxControl, MuxedConnection, PeerId, Transport};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::address_book::AddressBook;
use crate::handlers::Registry;
use crate::stream::StreamCounter;
use crate::upgrade::Upgrader;
use crate::{Config, DialError, LimitKind, SwarmEvent};

/// Identifies a connection within one swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub(crate) u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Identifies a listener within one swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub(crate) u64);

impl fmt::Display for ListenerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "l{}", self.0)
    }
}

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// They dialed us.
    Inbound,
    /// We dialed them.
    Outbound,
}

/// Facts about an established connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The connection id.
    pub id: ConnectionId,
    /// The authenticated remote peer.
    pub peer: PeerId,
    /// Our address on the connection.
    pub local_addr: Multiaddr,
    /// The remote address (for inbound connections: where it came from).
    pub remote_addr: Multiaddr,
    /// Who dialed.
    pub direction: Direction,
}

/// An established connection: its facts plus the handle that opens streams on it.
#[derive(Debug, Clone)]
pub struct Connection {
    pub(crate) info: ConnectionInfo,
    pub(crate) control: MuxControl,
    pub(crate) streams: Arc<StreamCounter>,
}

impl Connection {
    /// Facts about the connection.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The remote peer.
    pub fn peer(&self) -> PeerId {
        self.info.peer
    }

    /// The connection id.
    pub fn id(&self) -> ConnectionId {
        self.info.id
    }

    /// Streams currently open on the connection (both directions).
    pub fn open_streams(&self) -> usize {
        self.streams.count()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.control.is_closed()
    }

    /// Waits until the connection has ended (closed by either side).
    pub async fn closed(&self) {
        self.control.closed().await
    }

    /// Closes the connection gracefully (yamux GoAway) and waits for it to end.
    pub async fn close(&self) {
        self.control.close().await
    }
}

pub(crate) type SharedDial = SharedFuture<BoxFuture<'static, Result<Connection, DialError>>>;

pub(crate) struct ListenerEntry {
    pub(crate) addr: Multiaddr,
    pub(crate) cancel: CancellationToken,
}

#[derive(Default)]
pub(crate) struct Pool {
    pub(crate) conns: HashMap<ConnectionId, Connection>,
    pub(crate) by_peer: HashMap<PeerId, Vec<ConnectionId>>,
    established_in: usize,
    established_out: usize,
    pending_in: usize,
    pending_out: usize,
    pub(crate) dials: HashMap<PeerId, (u64, SharedDial)>,
    pub(crate) listeners: HashMap<ListenerId, ListenerEntry>,
}

fn over(limit: Option<usize>, current: usize) -> bool {
    limit.is_some_and(|max| current >= max)
}

impl Pool {
    fn check_established(&self, peer: &PeerId, dir: Direction, cfg: &Config) -> Result<(), LimitKind> {
        let l = &cfg.limits;
        match dir {
            Direction::Inbound if over(l.max_established_incoming, self.established_in) => {
                return Err(LimitKind::EstablishedIncoming);
            }
            Direction::Outbound if over(l.max_established_outgoing, self.established_out) => {
                return Err(LimitKind::EstablishedOutgoing);
            }
            _ => {}
        }
        if over(l.max_established_total, self.established_in + self.established_out) {
            return Err(LimitKind::EstablishedTotal);
        }
        if over(l.max_established_per_peer, self.by_peer.get(peer).map_or(0, Vec::len)) {
            return Err(LimitKind::EstablishedPerPeer);
        }
        Ok(())
    }

    /// Whether one more inbound connection could be established (checked at accept,
    /// before spending an upgrade on it).
    pub(crate) fn inbound_room(&self, cfg: &Config) -> Result<(), LimitKind> {
        let l = &cfg.limits;
        if over(l.max_established_incoming, self.established_in) {
            return Err(LimitKind::EstablishedIncoming);
        }
        if over(l.max_established_total, self.established_in + self.established_out) {
            return Err(LimitKind::EstablishedTotal);
        }
        Ok(())
    }

    /// The most recently established open connection to `peer`.
    pub(crate) fn connection_to(&self, peer: &PeerId) -> Option<Connection> {
        self.by_peer.get(peer)?.iter().rev().filter_map(|id| self.conns.get(id)).find(|c| !c.is_closed()).cloned()
    }
}

/// Everything the swarm's tasks share.
pub(crate) struct Shared {
    pub(crate) keypair: Keypair,
    pub(crate) local_peer: PeerId,
    pub(crate) config: Config,
    pub(crate) transports: Vec<Box<dyn Transport>>,
    pub(crate) upgrader: Upgrader,
    pub(crate) handlers: Registry,
    pub(crate) addresses: AddressBook,
    pub(crate) events: broadcast::Sender<SwarmEvent>,
    /// Hard stop: every task ends when cancelled.
    pub(crate) cancel: CancellationToken,
    /// Graceful shutdown in progress: no new connections, streams or dials.
    pub(crate) closing: AtomicBool,
    /// Connection and listener tasks.
    pub(crate) tasks: TaskTracker,
    /// Inbound stream tasks (negotiation + handler).
    pub(crate) stream_tasks: TaskTracker,
    /// Node-wide bound on inbound streams in negotiation.
    pub(crate) negotiating: Arc<tokio::sync::Semaphore>,
    pool: Mutex<Pool>,
    next_id: AtomicU64,
}

/// Counts a pending (upgrading) connection until dropped.
pub(crate) struct PendingGuard {
    shared: Arc<Shared>,
    dir: Direction,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let mut pool = self.shared.pool();
        match self.dir {
            Direction::Inbound => pool.pending_in -= 1,
            Direction::Outbound => pool.pending_out -= 1,
        }
    }
}

pub(crate) struct SharedParts {
    pub(crate) keypair: Keypair,
    pub(crate) config: Config,
    pub(crate) transports: Vec<Box<dyn Transport>>,
    pub(crate) upgrader: Upgrader,
}

impl Shared {
    pub(crate) fn new(p: SharedParts) -> Self {
        let (events, _) = broadcast::channel(p.config.event_capacity.max(1));
        let negotiating = Arc::new(tokio::sync::Semaphore::new(p.config.max_negotiating_inbound_streams_total.max(1)));
        Self {
            local_peer: p.keypair.public().to_peer_id(),
            keypair: p.keypair,
            config: p.config,
            transports: p.transports,
            upgrader: p.upgrader,
            handlers: Registry::default(),
            addresses: AddressBook::default(),
            events,
            cancel: CancellationToken::new(),
            closing: AtomicBool::new(false),
            tasks: TaskTracker::new(),
            stream_tasks: TaskTracker::new(),
            negotiating,
            pool: Mutex::new(Pool::default()),
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn pool(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire) || self.cancel.is_cancelled()
    }

    pub(crate) fn emit(&self, event: SwarmEvent) {
        // No subscribers is fine.
        let _ = self.events.send(event);
    }

    pub(crate) fn try_pending(self: &Arc<Self>, dir: Direction) -> Result<PendingGuard, LimitKind> {
        let mut pool = self.pool();
        let limits = &self.config.limits;
        match dir {
            Direction::Inbound if over(limits.max_pending_incoming, pool.pending_in) => {
                return Err(LimitKind::PendingIncoming);
            }
            Direction::Outbound if over(limits.max_pending_outgoing, pool.pending_out) => {
                return Err(LimitKind::PendingOutgoing);
            }
            Direction::Inbound => pool.pending_in += 1,
            Direction::Outbound => pool.pending_out += 1,
        }
        Ok(PendingGuard { shared: self.clone(), dir })
    }

    /// Registers an upgraded connection (or refuses it by limit, returning it so the
    /// caller can close it) and starts its task.
    pub(crate) fn establish(
        self: &Arc<Self>,
        peer: PeerId,
        muxed: MuxedConnection,
        local_addr: Multiaddr,
        remote_addr: Multiaddr,
        direction: Direction,
    ) -> Result<Connection, (LimitKind, MuxedConnection)> {
        let MuxedConnection { control, inbound } = muxed;
        let (conn, num_established) = {
            let mut pool = self.pool();
            if let Err(limit) = pool.check_established(&peer, direction, &self.config) {
                return Err((limit, MuxedConnection { control, inbound }));
            }
            let id = ConnectionId(self.next_id());
            let info = ConnectionInfo { id, peer, local_addr, remote_addr, direction };
            let conn = Connection { info, control, streams: Arc::new(StreamCounter::default()) };
            pool.conns.insert(id, conn.clone());
            let ids = pool.by_peer.entry(peer).or_default();
            ids.push(id);
            let n = ids.len();
            match direction {
                Direction::Inbound => pool.established_in += 1,
                Direction::Outbound => pool.established_out += 1,
            }
            (conn, n)
        };
        let span =
            tracing::debug_span!("connection", peer = %peer, id = %conn.info.id, remote_addr = %conn.info.remote_addr, dir = ?direction);
        span.in_scope(|| tracing::debug!(num_established, "connection established"));
        self.emit(SwarmEvent::Connected { info: conn.info.clone(), num_established });
        self.tasks.spawn(crate::connection::run(self.clone(), conn.clone(), inbound).instrument(span));
        Ok(conn)
    }

    /// Removes a closed connection and reports it.
    pub(crate) fn remove_connection(&self, info: &ConnectionInfo) {
        let remaining = {
            let mut pool = self.pool();
            if pool.conns.remove(&info.id).is_none() {
                return;
            }
            match info.direction {
                Direction::Inbound => pool.established_in -= 1,
                Direction::Outbound => pool.established_out -= 1,
            }
            let remaining = match pool.by_peer.get_mut(&info.peer) {
                Some(ids) => {
                    ids.retain(|id| *id != info.id);
                    ids.len()
                }
                None => 0,
            };
            if remaining == 0 {
                pool.by_peer.remove(&info.peer);
            }
            remaining
        };
        self.emit(SwarmEvent::Disconnected { info: info.clone(), remaining });
    }
}
