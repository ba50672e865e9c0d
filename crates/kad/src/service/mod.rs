//! The Kademlia service on a node: the async shell around [`Core`] and [`Query`].

mod api;
mod lookup;
mod probe;
mod router;
mod rpc;
mod tasks;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rhizome_node::{Node, PeerId, WeakNode};
use tokio::sync::broadcast;
use tracing::debug;

use crate::config::{Config, Mode};
use crate::event::Event;
use crate::server::{Core, InboundStats};
use crate::store::StoreStats;

pub use api::Quorum;

/// The clock of the service: tokio's (so paused-time tests drive it), as a std `Instant`.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

pub(crate) struct Inner {
    pub(crate) node: WeakNode,
    pub(crate) local: PeerId,
    pub(crate) config: Config,
    pub(crate) core: Mutex<Core>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) server: AtomicBool,
    /// The mode set at run time ([`Kademlia::set_mode`]), over the configured one.
    pub(crate) mode_override: Mutex<Option<Mode>>,
    pub(crate) next_query: AtomicU64,
    pub(crate) queries_failed: AtomicU64,
    /// Finished queries, and the sums of their hops and requests.
    pub(crate) queries_finished: AtomicU64,
    pub(crate) query_hops: AtomicU64,
    pub(crate) query_requests: AtomicU64,
    /// Inbound streams reset for a malformed message (framing, protobuf, type).
    pub(crate) malformed: AtomicU64,
    /// Peers being checked for kad support (bounded by `max_concurrent_probes`).
    pub(crate) probing: Mutex<HashSet<PeerId>>,
    /// New peers waiting for a probe slot, oldest first (at most
    /// [`probe::MAX_WAITING_PROBES`]).
    pub(crate) probe_queue: Mutex<std::collections::VecDeque<PeerId>>,
}

impl Inner {
    pub(crate) fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn node(&self) -> Option<Node> {
        self.node.upgrade()
    }

    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

/// The Kademlia service (`kad::Kademlia`): a cheap handle. Background tasks stop
/// when the node shuts down.
#[derive(Clone)]
pub struct Kademlia {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Kademlia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kademlia").field("local", &self.inner.local).field("mode", &self.mode()).finish_non_exhaustive()
    }
}

/// Counters of the service (`kad::Stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Client or server.
    pub mode: Mode,
    /// Peers in the routing table.
    pub routing_table_peers: usize,
    /// Non-empty buckets.
    pub buckets: usize,
    /// The store.
    pub store: StoreStats,
    /// Inbound requests served and refused.
    pub inbound: InboundStats,
    /// Inbound streams reset for a malformed message (over-size, bad varint,
    /// garbage protobuf, unknown type).
    pub malformed_inbound: u64,
    /// Queries started.
    pub queries: u64,
    /// Queries that failed.
    pub queries_failed: u64,
    /// Queries that finished (successfully or not).
    pub queries_finished: u64,
    /// Hops summed over finished queries (the longest answer chain to the k closest).
    pub query_hops_total: u64,
    /// Requests sent, summed over finished queries.
    pub query_requests_total: u64,
}

impl Kademlia {
    /// Starts Kademlia on `node`: serves `/ipfs/kad/1.0.0` in server mode, learns
    /// peers from connections, registers itself as a peer router, and runs
    /// bootstrap, refresh, expiry and republishing in the background until the node
    /// shuts down.
    pub fn start(node: &Node, config: Config) -> Self {
        let local = node.id();
        let core = Core::new(local, config.query.k, config.store.clone(), config.validator.clone());
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let inner = Arc::new(Inner {
            node: node.downgrade(),
            local,
            config,
            core: Mutex::new(core),
            events,
            server: AtomicBool::new(false),
            mode_override: Mutex::new(None),
            next_query: AtomicU64::new(0),
            queries_failed: AtomicU64::new(0),
            queries_finished: AtomicU64::new(0),
            query_hops: AtomicU64::new(0),
            query_requests: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            probing: Mutex::new(HashSet::new()),
            probe_queue: Mutex::new(std::collections::VecDeque::new()),
        });
        let kad = Self { inner };
        kad.update_mode(node);
        if let Err(e) = node.add_peer_router(Arc::new(router::Router::new(&kad))) {
            debug!(error = %e, "kad not registered as a peer router");
        }
        tasks::spawn(&kad, node);
        kad
    }

    /// Client or server.
    pub fn mode(&self) -> Mode {
        if self.inner.server.load(Ordering::Relaxed) { Mode::Server } else { Mode::Client }
    }

    /// Subscribes to events (bounded; a slow receiver is told it lagged).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let core = self.inner.core();
        Stats {
            mode: self.mode(),
            routing_table_peers: core.table.len(),
            buckets: core.table.bucket_sizes().len(),
            store: core.store.stats(),
            inbound: core.inbound_stats(),
            malformed_inbound: self.inner.malformed.load(Ordering::Relaxed),
            queries: self.inner.next_query.load(Ordering::Relaxed),
            queries_failed: self.inner.queries_failed.load(Ordering::Relaxed),
            queries_finished: self.inner.queries_finished.load(Ordering::Relaxed),
            query_hops_total: self.inner.query_hops.load(Ordering::Relaxed),
            query_requests_total: self.inner.query_requests.load(Ordering::Relaxed),
        }
    }

    /// The peers in the routing table.
    pub fn routing_table(&self) -> Vec<PeerId> {
        self.inner.core().table.iter().map(|e| e.peer).collect()
    }

    /// Adds `peer` at `addrs` to the routing table as a known server, without checking
    /// (`bootstrap` checks the configured peers itself).
    pub fn add_peer(&self, peer: PeerId, addrs: Vec<rhizome_node::Multiaddr>) {
        if let Some(node) = self.inner.node() {
            for a in &addrs {
                node.add_address(peer, a.clone(), tasks::ADDR_TTL);
            }
        }
        self.insert_peer(peer, &addrs);
    }

    pub(crate) fn insert_peer(&self, peer: PeerId, addrs: &[rhizome_node::Multiaddr]) {
        let outcome = self.inner.core().table.insert(peer, addrs, now());
        match outcome {
            crate::table::InsertOutcome::Inserted => self.inner.emit(Event::RoutingUpdated { peer }),
            // The bucket is full: check its oldest entry; if it is gone, the newcomer
            // (waiting in the replacement cache) takes its place.
            crate::table::InsertOutcome::Pending { oldest } => self.check_later(oldest),
            _ => {}
        }
    }

    /// Sets the mode at run time, over [`Config::mode`]: `Some` forces it (e.g. from
    /// AutoNAT's verdict: client behind a NAT, server when reachable), `None` returns
    /// to the configured or automatic mode. Takes effect at once (the inbound handler
    /// is registered or removed, [`Event::ModeChanged`] is emitted on a change).
    pub fn set_mode(&self, mode: Option<Mode>) {
        *self.inner.mode_override.lock().unwrap_or_else(|e| e.into_inner()) = mode;
        if let Some(node) = self.inner.node() {
            self.update_mode(&node);
        }
    }

    /// Switches to the run-time, configured or automatic mode, (un)registering the
    /// handler.
    pub(crate) fn update_mode(&self, node: &Node) {
        let forced = *self.inner.mode_override.lock().unwrap_or_else(|e| e.into_inner());
        let want = forced.or(self.inner.config.mode).unwrap_or(if node.external_addrs().is_empty() { Mode::Client } else { Mode::Server });
        let server = want == Mode::Server;
        if self.inner.server.swap(server, Ordering::Relaxed) == server {
            return;
        }
        if server {
            rpc::register(self, node);
        } else {
            node.remove_stream_handler(crate::PROTOCOL.as_str());
        }
        debug!(mode = ?want, "kad mode");
        self.inner.emit(Event::ModeChanged { mode: want });
    }
}
