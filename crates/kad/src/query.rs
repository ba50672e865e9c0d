//! One iterative lookup as a sans-IO state machine.
//!
//! Start from the closest peers we know, keep at most α requests in flight, add the
//! closer peers each answer names, and stop once the `k` closest peers seen (ignoring
//! those that failed) have all answered, or at the query deadline. The caller sends
//! the requests [`Query::poll`] asks for and reports each outcome with
//! [`Query::on_success`] / [`Query::on_failure`]; time is passed in.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rhizome_node::PeerId;

use crate::key::{Distance, Key};

/// Query parameters (`kad::QueryConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryConfig {
    /// Closest peers that must answer before the lookup ends (K = 20).
    pub k: usize,
    /// Requests in flight at once (α = 3).
    pub alpha: usize,
    /// Time allowed for one request before its peer counts as failed (10 s).
    pub request_timeout: Duration,
    /// Time allowed for the whole lookup (60 s).
    pub timeout: Duration,
    /// Peers the lookup remembers at most; the farthest uncontacted ones are
    /// forgotten first (default 8 × k).
    pub max_peers: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self { k: 20, alpha: 3, request_timeout: Duration::from_secs(10), timeout: Duration::from_secs(60), max_peers: 160 }
    }
}

/// Where one peer of the lookup stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Known, not asked yet.
    NotContacted,
    /// Asked; the answer is due before the deadline.
    Waiting(Instant),
    /// Answered.
    Succeeded,
    /// Failed or timed out.
    Failed,
}

#[derive(Debug, Clone)]
struct QueryPeer {
    peer: PeerId,
    distance: Distance,
    state: PeerState,
    /// Responses on the path that led to this peer (a seed is hop 1).
    hop: u32,
}

/// What the caller should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the query's request to this peer.
    Request(PeerId),
    /// Nothing to send now; wait for an answer (or the next timeout).
    Wait,
    /// The lookup is over.
    Finished,
}

/// Counters of a lookup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Requests sent.
    pub requests: u32,
    /// Answers received.
    pub successes: u32,
    /// Failures and timeouts.
    pub failures: u32,
    /// The longest chain of answers that led to one of the `k` closest peers.
    pub hops: u32,
    /// Whether the lookup ended at its deadline.
    pub timed_out: bool,
}

/// An iterative lookup (`kad::Query`).
#[derive(Debug)]
pub struct Query {
    target: Key,
    local: Option<PeerId>,
    config: QueryConfig,
    deadline: Instant,
    /// Sorted by distance to the target, closest first.
    peers: Vec<QueryPeer>,
    seen: HashSet<PeerId>,
    finished: bool,
    stats: QueryStats,
}

impl Query {
    /// A lookup for `target` starting from `seeds`, never contacting `local` (us).
    pub fn new(target: Key, local: Option<PeerId>, seeds: impl IntoIterator<Item = PeerId>, config: QueryConfig, now: Instant) -> Self {
        let mut q = Self {
            target,
            local,
            config,
            deadline: now + config.timeout,
            peers: Vec::new(),
            seen: HashSet::new(),
            finished: false,
            stats: QueryStats::default(),
        };
        for peer in seeds {
            q.add_peer(peer, 1);
        }
        q
    }

    /// The key looked up.
    pub fn target(&self) -> &Key {
        &self.target
    }

    fn add_peer(&mut self, peer: PeerId, hop: u32) {
        if Some(peer) == self.local || self.seen.contains(&peer) {
            return;
        }
        let distance = Key::from_peer(&peer).distance(&self.target);
        let pos = self.peers.partition_point(|p| p.distance < distance);
        if pos >= self.config.max_peers.max(self.config.k) {
            return;
        }
        self.seen.insert(peer);
        self.peers.insert(pos, QueryPeer { peer, distance, state: PeerState::NotContacted, hop });
        if self.peers.len() > self.config.max_peers.max(self.config.k)
            && let Some(i) = self.peers.iter().rposition(|p| p.state == PeerState::NotContacted)
        {
            // Forget it entirely, so a later answer may name it again.
            let gone = self.peers.remove(i);
            self.seen.remove(&gone.peer);
        }
    }

    /// The next step, at `now`. Call until it returns [`Action::Wait`] or
    /// [`Action::Finished`].
    pub fn poll(&mut self, now: Instant) -> Action {
        if self.finished {
            return Action::Finished;
        }
        if now >= self.deadline {
            self.stats.timed_out = true;
            self.finished = true;
            return Action::Finished;
        }
        for p in &mut self.peers {
            if let PeerState::Waiting(deadline) = p.state
                && now >= deadline
            {
                p.state = PeerState::Failed;
                self.stats.failures += 1;
            }
        }
        let in_flight = self.peers.iter().filter(|p| matches!(p.state, PeerState::Waiting(_))).count();
        let mut window = 0;
        let mut all_succeeded = true;
        for p in self.peers.iter_mut().filter(|p| p.state != PeerState::Failed) {
            match p.state {
                PeerState::NotContacted if in_flight < self.config.alpha => {
                    p.state = PeerState::Waiting(now + self.config.request_timeout);
                    self.stats.requests += 1;
                    return Action::Request(p.peer);
                }
                PeerState::Succeeded => {}
                _ => all_succeeded = false,
            }
            window += 1;
            if window >= self.config.k {
                break;
            }
        }
        if all_succeeded || in_flight == 0 {
            self.finished = true;
            self.stats.hops = self.closest_succeeded_peers().map(|p| p.hop).max().unwrap_or(0);
            return Action::Finished;
        }
        Action::Wait
    }

    /// `peer` answered, naming `closer` peers.
    pub fn on_success(&mut self, peer: &PeerId, closer: impl IntoIterator<Item = PeerId>) {
        let Some(p) = self.peers.iter_mut().find(|p| &p.peer == peer) else {
            return;
        };
        if p.state == PeerState::Succeeded {
            return;
        }
        // A late answer from a peer that timed out still counts.
        if p.state == PeerState::Failed {
            self.stats.failures = self.stats.failures.saturating_sub(1);
        }
        p.state = PeerState::Succeeded;
        let hop = p.hop + 1;
        self.stats.successes += 1;
        for c in closer {
            self.add_peer(c, hop);
        }
    }

    /// `peer` failed (error, refused, closed).
    pub fn on_failure(&mut self, peer: &PeerId) {
        if let Some(p) = self.peers.iter_mut().find(|p| &p.peer == peer)
            && matches!(p.state, PeerState::Waiting(_) | PeerState::NotContacted)
        {
            p.state = PeerState::Failed;
            self.stats.failures += 1;
        }
    }

    /// Ends the lookup now (e.g. the value was found).
    pub fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.stats.hops = self.closest_succeeded_peers().map(|p| p.hop).max().unwrap_or(0);
        }
    }

    /// Whether the lookup is over.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The earliest time something may change without an answer (a request's or the
    /// query's deadline).
    pub fn next_deadline(&self) -> Instant {
        self.peers.iter().filter_map(|p| if let PeerState::Waiting(d) = p.state { Some(d) } else { None }).fold(self.deadline, Instant::min)
    }

    fn closest_succeeded_peers(&self) -> impl Iterator<Item = &QueryPeer> {
        self.peers.iter().filter(|p| p.state == PeerState::Succeeded).take(self.config.k)
    }

    /// The (at most `k`) closest peers that answered, closest first.
    pub fn closest_succeeded(&self) -> Vec<PeerId> {
        self.closest_succeeded_peers().map(|p| p.peer).collect()
    }

    /// The state of `peer` in this lookup.
    pub fn state(&self, peer: &PeerId) -> Option<PeerState> {
        self.peers.iter().find(|p| &p.peer == peer).map(|p| p.state)
    }

    /// The counters.
    pub fn stats(&self) -> QueryStats {
        self.stats
    }
}

#[cfg(test)]
mod tests;
