//! What the swarm's tasks share: identity, configuration, the pool and the registries.
//! Each concept lives in its own type; this only holds them together.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use rhizome_core::{Keypair, PeerId, Transport};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::address_book::AddressBook;
use crate::admission::Admission;
use crate::budget::Budget;
use crate::connection::{ConnectionInfo, Direction};
use crate::external::ExternalAddrs;
use crate::handlers::Registry;
use crate::negotiation::NegotiationSlots;
use crate::pending::PendingInbound;
use crate::pool::Pool;
use crate::routing::Routers;
use crate::stats::Stats;
use crate::upgrade::Upgrader;
use crate::{Config, LimitKind, SwarmEvent};

pub(crate) struct Shared {
    pub(crate) keypair: Keypair,
    pub(crate) local_peer: PeerId,
    pub(crate) config: Config,
    pub(crate) transports: Vec<Box<dyn Transport>>,
    pub(crate) upgrader: Upgrader,
    pub(crate) handlers: Registry,
    pub(crate) addresses: AddressBook,
    pub(crate) external: ExternalAddrs,
    pub(crate) routers: Routers,
    pub(crate) admission: RwLock<Option<Admission>>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) budget: Arc<Budget>,
    pub(crate) events: broadcast::Sender<SwarmEvent>,
    /// Hard stop: every task ends when cancelled.
    pub(crate) cancel: CancellationToken,
    /// Graceful shutdown in progress: no new connections, streams or dials.
    pub(crate) closing: AtomicBool,
    /// Connection, muxer driver, dial and listener tasks.
    pub(crate) tasks: TaskTracker,
    /// Inbound stream tasks (negotiation + handler).
    pub(crate) stream_tasks: TaskTracker,
    /// Node-wide bound on inbound streams in negotiation, shared fairly by peers.
    pub(crate) negotiating: Arc<NegotiationSlots>,
    /// Inbound connections being upgraded.
    pub(crate) pending_in: Mutex<PendingInbound>,
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
        self.shared.pool().remove_pending(self.dir);
    }
}

/// Holds a pending inbound slot until dropped.
pub(crate) struct InboundGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for InboundGuard {
    fn drop(&mut self) {
        self.shared.pending_in.lock().unwrap_or_else(|e| e.into_inner()).remove(self.id);
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
        let negotiating = NegotiationSlots::new(p.config.max_negotiating_inbound_streams_total);
        Self {
            local_peer: p.keypair.public().to_peer_id(),
            keypair: p.keypair,
            external: ExternalAddrs::new(p.config.external_addr_confirmations),
            budget: Budget::new(p.config.memory.clone()),
            config: p.config,
            transports: p.transports,
            upgrader: p.upgrader,
            handlers: Registry::default(),
            addresses: AddressBook::default(),
            routers: Routers::default(),
            admission: RwLock::new(None),
            stats: Arc::new(Stats::default()),
            events,
            cancel: CancellationToken::new(),
            closing: AtomicBool::new(false),
            tasks: TaskTracker::new(),
            stream_tasks: TaskTracker::new(),
            negotiating,
            pending_in: Mutex::new(PendingInbound::default()),
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
        self.count(&event);
        // No subscribers is fine.
        let _ = self.events.send(event);
    }

    fn count(&self, event: &SwarmEvent) {
        use crate::events::IncomingError;
        match event {
            SwarmEvent::Connected { info, .. } => self.stats.connection(info.direction, info.transport).open(),
            SwarmEvent::Disconnected { info, .. } => self.stats.connection(info.direction, info.transport).close(),
            SwarmEvent::IncomingConnectionError { error, .. } => match error {
                IncomingError::Upgrade(e) => self.stats.handshake_failure(e.cause()),
                IncomingError::Denied(limit) => self.stats.refusal(limit.as_str()),
                IncomingError::Refused => self.stats.refusal("admission"),
                IncomingError::SelfConnection => self.stats.refusal("self"),
            },
            _ => {}
        }
    }

    /// Whether the admission hook (if any) lets this connection in.
    pub(crate) fn admits(&self, info: &ConnectionInfo) -> bool {
        let hook = self.admission.read().unwrap_or_else(|e| e.into_inner()).clone();
        hook.is_none_or(|admit| admit(info))
    }

    /// Counts an outbound dial in progress, or refuses it by limit.
    pub(crate) fn try_pending(self: &Arc<Self>, dir: Direction) -> Result<PendingGuard, LimitKind> {
        self.pool().add_pending(dir, &self.config)?;
        Ok(PendingGuard { shared: self.clone(), dir })
    }

    /// Takes a pending inbound slot (evicting the least active connection when full).
    pub(crate) fn pending_inbound(self: &Arc<Self>, remote: &rhizome_core::Multiaddr) -> (InboundGuard, crate::pending::Slot, bool) {
        let id = self.next_id();
        let (slot, evicted) =
            self.pending_in.lock().unwrap_or_else(|e| e.into_inner()).admit(id, remote, self.config.limits.max_pending_incoming);
        (InboundGuard { shared: self.clone(), id }, slot, evicted)
    }

    /// Removes a closed connection and reports it.
    pub(crate) fn remove_connection(&self, info: &ConnectionInfo) {
        let Some(remaining) = self.pool().remove(info) else { return };
        self.emit(SwarmEvent::Disconnected { info: info.clone(), remaining });
    }
}
