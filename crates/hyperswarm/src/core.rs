//! The sans-IO swarm: which peers to connect to, when to retry, which of two
//! connections to the same peer to keep — Node hyperswarm 4.17's `index.js` logic,
//! fed with events and an injected clock, emitting [`Action`]s.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::peer_info::{PeerInfo, Priority};
use crate::retry::{Backoffs, RetryTimer};

/// A connection (or connection attempt) the core tracks.
pub type ConnId = u64;

/// A firewall: `true` refuses (and bans) the peer, as Node's `firewall` option.
pub type Firewall = Arc<dyn Fn(&[u8; 32]) -> bool + Send + Sync>;

/// The swarm's limits. Defaults follow Node hyperswarm where it has one, and bound
/// what it leaves unbounded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Connections (both directions) at most, scaled down by explicit peers as Node
    /// does (default 64).
    pub max_peers: usize,
    /// Outbound connection attempts in flight at most (default 3).
    pub max_parallel: usize,
    /// Outbound connections at most (Node: unlimited; default 64).
    pub max_client_connections: usize,
    /// Inbound connections at most (Node: unlimited, never checked; default 64).
    pub max_server_connections: usize,
    /// Peers remembered at most (discovered, explicit, banned; default 1024). Newly
    /// discovered peers beyond it are ignored.
    pub max_known_peers: usize,
    /// Retry periods and jitter.
    pub backoffs: Backoffs,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_peers: 64,
            max_parallel: 3,
            max_client_connections: 64,
            max_server_connections: 64,
            max_known_peers: 1024,
            backoffs: Backoffs::default(),
        }
    }
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Connect to `public_key` (through `relay_addresses` if known); report the end with
    /// [`SwarmCore::client_opened`] / [`SwarmCore::closed`].
    Connect {
        /// The attempt.
        id: ConnId,
        /// The remote.
        public_key: [u8; 32],
        /// Its relays from the last lookup.
        relay_addresses: Option<Vec<SocketAddrV4>>,
    },
    /// Close this connection (or abort this attempt): a newer duplicate replaced it.
    Close {
        /// The connection.
        id: ConnId,
    },
    /// A peer was banned (by the firewall or [`SwarmCore::ban`]).
    Banned {
        /// The peer.
        public_key: [u8; 32],
    },
}

/// What to do with an inbound connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// Keep it, as `id`.
    Accept(ConnId),
    /// Keep it as `id`; the existing connection `replaced` is closed (an [`Action::Close`]
    /// is queued for it too) and already forgotten.
    Replace {
        /// The new connection.
        id: ConnId,
        /// The one it replaces.
        replaced: ConnId,
    },
    /// Drop it: a duplicate of `existing`, which is kept (Node sends it a keep-alive).
    Duplicate {
        /// The connection kept.
        existing: ConnId,
    },
    /// Drop it: ourselves, banned, firewalled, the inbound limit, or destroyed.
    Refused,
}

/// Which of two connections to the same peer survives, exactly as Node hyperswarm's
/// `_handleServerConnection`: the new one if the existing one has both sent and
/// received data (the remote must have lost it and be reconnecting), else the one
/// whose initiator is the peer with the greater public key.
pub fn keep_new(existing_established: bool, local: &[u8; 32], remote: &[u8; 32], new_is_initiator: bool) -> bool {
    let expected_initiator = local > remote;
    existing_established || expected_initiator == new_is_initiator
}

#[derive(Debug, Clone, Copy)]
struct Conn {
    id: ConnId,
    client: bool,
    opened: bool,
}

/// Counters, as Node's `swarm.stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Outbound attempts.
    pub client_attempted: u64,
    /// Outbound connections opened.
    pub client_opened: u64,
    /// Outbound connections (or attempts) ended.
    pub client_closed: u64,
    /// Inbound connections kept.
    pub server_opened: u64,
    /// Inbound connections ended.
    pub server_closed: u64,
    /// Bans.
    pub banned_peers: u64,
}

/// The swarm's state machine.
pub struct SwarmCore {
    local: [u8; 32],
    limits: Limits,
    firewall: Option<Firewall>,
    peers: HashMap<[u8; 32], PeerInfo>,
    queue: [VecDeque<[u8; 32]>; 5],
    conns: HashMap<[u8; 32], Conn>,
    by_id: HashMap<ConnId, [u8; 32]>,
    explicit: Vec<[u8; 32]>,
    topics: HashSet<[u8; 32]>,
    timer: RetryTimer,
    connecting: usize,
    client_connections: usize,
    server_connections: usize,
    next_id: ConnId,
    destroyed: bool,
    actions: VecDeque<Action>,
    stats: Stats,
    rng: rand::rngs::StdRng,
}

impl std::fmt::Debug for SwarmCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmCore")
            .field("peers", &self.peers.len())
            .field("connections", &self.conns.len())
            .field("connecting", &self.connecting)
            .finish_non_exhaustive()
    }
}

impl SwarmCore {
    /// A core for our public key `local`. `jitter` (each in 0..=1) picks the retry
    /// timers' jitter and seeds the queue's shuffle (random in the shell, fixed in tests).
    pub fn new(local: [u8; 32], limits: Limits, jitter: [f64; 4]) -> Self {
        use rand::SeedableRng as _;
        let seed = jitter.iter().fold(0u64, |acc, j| acc.rotate_left(16) ^ j.to_bits());
        let timer = RetryTimer::new(limits.backoffs, jitter, limits.max_known_peers);
        Self {
            local,
            limits,
            firewall: None,
            peers: HashMap::new(),
            queue: Default::default(),
            conns: HashMap::new(),
            by_id: HashMap::new(),
            explicit: Vec::new(),
            topics: HashSet::new(),
            timer,
            connecting: 0,
            client_connections: 0,
            server_connections: 0,
            next_id: 0,
            destroyed: false,
            actions: VecDeque::new(),
            stats: Stats::default(),
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        }
    }

    /// Sets the firewall.
    pub fn set_firewall(&mut self, firewall: Option<Firewall>) {
        self.firewall = firewall;
    }

    /// The next action, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// A peer, if known.
    pub fn peer(&self, public_key: &[u8; 32]) -> Option<&PeerInfo> {
        self.peers.get(public_key)
    }

    /// Known peers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Connections and attempts.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Whether `public_key` has a connection or an attempt.
    pub fn is_connected(&self, public_key: &[u8; 32]) -> bool {
        self.conns.contains_key(public_key)
    }

    /// Outbound attempts in flight.
    pub fn connecting(&self) -> usize {
        self.connecting
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Nothing is queued and no attempt is in flight (or the limits stop further ones):
    /// Node's `swarm.flush()` condition.
    pub fn is_flushed(&self) -> bool {
        self.connecting == 0 && (self.queue.iter().all(VecDeque::is_empty) || !self.within_limits())
    }

    /// When [`Self::tick`] next has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timer.next_deadline()
    }

    /// A topic was joined (its peers are retried after disconnects).
    pub fn join_topic(&mut self, topic: [u8; 32]) {
        self.topics.insert(topic);
    }

    /// A topic was left.
    pub fn leave_topic(&mut self, topic: &[u8; 32]) {
        self.topics.remove(topic);
    }

    /// The retry timers: requeues the peers that are due and starts attempts.
    pub fn tick(&mut self, now: Instant) {
        for key in self.timer.poll(now) {
            let connected = self.conns.contains_key(&key);
            let Some(peer) = self.peers.get_mut(&key) else { continue };
            peer.waiting = false;
            if !peer.update_priority() || connected || peer.queued {
                self.maybe_delete_peer(&key);
                continue;
            }
            self.push_queue(key);
        }
        self.attempt(now);
    }

    /// A lookup on `topic` found `public_key` (Node's `_handlePeer`).
    pub fn peer_discovered(&mut self, public_key: [u8; 32], relays: Option<Vec<SocketAddrV4>>, topic: [u8; 32], now: Instant) {
        let connected = self.conns.contains_key(&public_key);
        let Some(peer) = self.upsert(public_key, relays) else { return };
        peer.add_topic(topic);
        if connected {
            return;
        }
        if !peer.prioritized() || peer.server() {
            peer.reset();
        }
        if peer.update_priority() {
            self.enqueue(public_key, now);
        }
    }

    /// Keeps connecting to `public_key` regardless of topics (Node's `joinPeer`); false
    /// if it is ourselves or too many peers are known.
    pub fn join_peer(&mut self, public_key: [u8; 32], now: Instant) -> bool {
        let connected = self.conns.contains_key(&public_key);
        let Some(peer) = self.upsert(public_key, None) else { return false };
        peer.explicit = true;
        if !self.explicit.contains(&public_key) {
            self.explicit.push(public_key);
        }
        if connected {
            return true;
        }
        if self.peers.get_mut(&public_key).is_some_and(PeerInfo::update_priority) {
            self.enqueue(public_key, now);
        }
        true
    }

    /// Stops keeping `public_key` (Node's `leavePeer`); its connection stays open.
    pub fn leave_peer(&mut self, public_key: &[u8; 32]) {
        let Some(peer) = self.peers.get_mut(public_key) else { return };
        peer.explicit = false;
        self.explicit.retain(|k| k != public_key);
        self.maybe_delete_peer(public_key);
    }

    /// Bans or unbans `public_key`. A banned peer is not connected to and its inbound
    /// connections are refused; its open connection is not closed (as Node).
    pub fn ban(&mut self, public_key: [u8; 32], banned: bool) {
        if let Some(peer) = self.upsert(public_key, None) {
            peer.banned = banned;
            if banned {
                self.stats.banned_peers += 1;
                self.actions.push_back(Action::Banned { public_key });
            }
        }
    }

    /// Stops all attempts; later inbound connections are refused.
    pub fn destroy(&mut self) {
        self.destroyed = true;
        self.queue = Default::default();
    }

    /// An outbound attempt succeeded. False if the attempt is no longer wanted (it was
    /// replaced meanwhile): close the stream, no [`Self::closed`] needed.
    pub fn client_opened(&mut self, id: ConnId, now: Instant) -> bool {
        let Some(key) = self.by_id.get(&id).copied() else { return false };
        let Some(conn) = self.conns.get_mut(&key).filter(|c| c.id == id) else { return false };
        conn.opened = true;
        self.stats.client_opened += 1;
        self.connecting = self.connecting.saturating_sub(1);
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.connected(now);
            peer.client = true;
        }
        self.attempt(now);
        true
    }

    /// A connection (or an attempt that failed) ended. Unknown ids are ignored.
    pub fn closed(&mut self, id: ConnId, now: Instant) {
        let Some(key) = self.by_id.remove(&id) else { return };
        let Some(conn) = self.conns.get(&key).copied().filter(|c| c.id == id) else { return };
        self.conns.remove(&key);
        if conn.client {
            if !conn.opened {
                self.connecting = self.connecting.saturating_sub(1);
            }
            self.stats.client_closed += 1;
            self.client_connections = self.client_connections.saturating_sub(1);
            let requeue = self.should_requeue(&key);
            if let Some(peer) = self.peers.get_mut(&key) {
                peer.disconnected(now);
                peer.waiting = requeue && self.timer.add(peer, now);
            }
        } else {
            self.server_connections = self.server_connections.saturating_sub(1);
            self.stats.server_closed += 1;
        }
        self.maybe_delete_peer(&key);
        self.attempt(now);
    }

    /// An inbound connection from `remote` arrived (Node's `_handleServerConnection`
    /// and the firewall hyperdht's server runs). `established(id)` tells whether the
    /// existing connection `id` has sent and received data.
    pub fn incoming(&mut self, remote: [u8; 32], is_initiator: bool, established: impl FnOnce(ConnId) -> bool, now: Instant) -> Incoming {
        if self.destroyed || self.firewalled(&remote) {
            return Incoming::Refused;
        }
        if let Some(existing) = self.conns.get(&remote).copied() {
            if !keep_new(established(existing.id), &self.local, &remote, is_initiator) {
                return Incoming::Duplicate { existing: existing.id };
            }
            self.closed(existing.id, now);
            self.actions.push_back(Action::Close { id: existing.id });
            let id = self.accept_server(remote);
            return Incoming::Replace { id, replaced: existing.id };
        }
        if self.server_connections >= self.limits.max_server_connections {
            return Incoming::Refused;
        }
        Incoming::Accept(self.accept_server(remote))
    }

    fn accept_server(&mut self, remote: [u8; 32]) -> ConnId {
        let id = self.new_id();
        self.stats.server_opened += 1;
        // Node's `_upsertPeer(remotePublicKey, null)`: the relays are forgotten.
        if let Some(peer) = self.upsert(remote, None) {
            peer.client = false;
        }
        self.conns.insert(remote, Conn { id, client: false, opened: true });
        self.by_id.insert(id, remote);
        self.server_connections += 1;
        id
    }

    fn new_id(&mut self) -> ConnId {
        self.next_id += 1;
        self.next_id
    }

    fn firewalled(&mut self, remote: &[u8; 32]) -> bool {
        if *remote == self.local {
            return true;
        }
        if self.peers.get(remote).is_some_and(|p| p.banned) {
            return true;
        }
        let firewalled = self.firewall.as_ref().is_some_and(|f| f(remote));
        if firewalled {
            self.ban(*remote, true);
        }
        firewalled
    }

    fn upsert(&mut self, key: [u8; 32], relays: Option<Vec<SocketAddrV4>>) -> Option<&mut PeerInfo> {
        if key == self.local {
            return None;
        }
        if !self.peers.contains_key(&key) && self.peers.len() >= self.limits.max_known_peers {
            return None;
        }
        let peer = self.peers.entry(key).or_insert_with(|| PeerInfo::new(key, None));
        peer.relay_addresses = relays; // newer is always better, as Node
        Some(peer)
    }

    fn maybe_delete_peer(&mut self, key: &[u8; 32]) {
        if self.peers.get(key).is_some_and(PeerInfo::should_gc) && !self.conns.contains_key(key) {
            self.peers.remove(key);
        }
    }

    fn should_requeue(&self, key: &[u8; 32]) -> bool {
        let Some(peer) = self.peers.get(key) else { return false };
        peer.explicit || (!self.destroyed && peer.topics.iter().any(|t| self.topics.contains(t)))
    }

    fn push_queue(&mut self, key: [u8; 32]) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        peer.queued = true;
        self.queue[peer.priority as usize].push_back(key);
    }

    fn enqueue(&mut self, key: [u8; 32], now: Instant) {
        if self.peers.get(&key).is_none_or(|p| p.queued) {
            return;
        }
        self.push_queue(key);
        self.attempt(now);
    }

    /// A random peer of the highest non-empty priority (Node's shuffled-priority-queue).
    fn pop_queue(&mut self) -> Option<[u8; 32]> {
        use rand::Rng as _;
        let bucket = Priority::ALL.iter().rev().map(|p| *p as usize).find(|p| !self.queue[*p].is_empty())?;
        let i = self.rng.random_range(0..self.queue[bucket].len());
        self.queue[bucket].swap_remove_back(i)
    }

    fn within_max_peers(&self) -> bool {
        let e = self.explicit.len();
        let factor = match e {
            0 => 1,
            1 => 2,
            2 | 3 => 3,
            _ => 4,
        };
        factor * self.conns.len() < self.limits.max_peers
    }

    fn within_limits(&self) -> bool {
        self.within_max_peers() && self.client_connections < self.limits.max_client_connections
    }

    fn should_connect(&self) -> bool {
        !self.destroyed && self.connecting < self.limits.max_parallel && self.within_limits()
    }

    /// Node's `_attemptClientConnections`.
    fn attempt(&mut self, now: Instant) {
        if self.destroyed {
            return;
        }
        for key in self.explicit.clone() {
            if self.connecting >= self.limits.max_parallel {
                break;
            }
            let Some(peer) = self.peers.get(&key) else { continue };
            let backoff = Duration::from_secs(u64::from(peer.attempts));
            let recent = peer.disconnected_time.is_some_and(|t| now.saturating_duration_since(t) < backoff);
            if peer.attempts >= 5 || recent {
                continue;
            }
            self.connect(key);
        }
        while self.should_connect() {
            let Some(key) = self.pop_queue() else { break };
            let Some(peer) = self.peers.get_mut(&key) else { continue };
            peer.queued = false;
            self.connect(key);
            self.maybe_delete_peer(&key);
        }
    }

    /// Node's `_connect`.
    fn connect(&mut self, key: [u8; 32]) {
        if self.peers.get(&key).is_none_or(|p| p.banned) || self.conns.contains_key(&key) || self.firewalled(&key) {
            return;
        }
        let relay_addresses = self.peers.get(&key).and_then(|p| p.relay_addresses.clone());
        let id = self.new_id();
        self.conns.insert(key, Conn { id, client: true, opened: false });
        self.by_id.insert(id, key);
        self.stats.client_attempted += 1;
        self.connecting += 1;
        self.client_connections += 1;
        self.actions.push_back(Action::Connect { id, public_key: key, relay_addresses });
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
