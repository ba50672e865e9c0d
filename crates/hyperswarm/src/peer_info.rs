//! What the swarm knows about one remote peer: its relays, the topics it was found
//! on, its connection attempts and its priority — Node hyperswarm's `lib/peer-info.js`.

use std::time::{Duration, Instant};

/// A connection that lived this long resets the attempt counter when it ends.
pub const MIN_CONNECTION_TIME: Duration = Duration::from_secs(15);

/// Topics remembered per peer at most (Node keeps them all; we bound it).
pub const MAX_TOPICS_PER_PEER: usize = 16;

/// Connection priority: higher is tried first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Stale or failed more than three times.
    VeryLow = 0,
    /// Failed three times.
    Low = 1,
    /// Never tried.
    Normal = 2,
    /// Failed twice.
    High = 3,
    /// Failed once: retried first.
    VeryHigh = 4,
}

impl Priority {
    /// All priorities, lowest first.
    pub const ALL: [Priority; 5] = [Priority::VeryLow, Priority::Low, Priority::Normal, Priority::High, Priority::VeryHigh];
}

/// One remote peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Its Ed25519 public key (its Hyperswarm identity and `PeerId`).
    pub public_key: [u8; 32],
    /// The DHT nodes that relay handshakes to it (from the last lookup that found it).
    pub relay_addresses: Option<Vec<std::net::SocketAddrV4>>,
    /// Whether it is retried after a disconnect (`reconnect(false)` stops that).
    pub reconnecting: bool,
    /// A connection to it opened at least once since the last reset.
    pub proven: bool,
    /// Set when connected (for the fast-retry rule).
    pub connected_time: Option<Instant>,
    /// When the last connection (or attempt) ended.
    pub disconnected_time: Option<Instant>,
    /// Banned peers are never connected to and their connections are refused.
    pub banned: bool,
    /// Node's `tried` (never set by hyperswarm 4.17 itself; kept for the priority rule).
    pub tried: bool,
    /// Joined with `join_peer`: kept and retried regardless of topics.
    pub explicit: bool,
    /// In a retry timer.
    pub waiting: bool,
    /// In the connect queue.
    pub queued: bool,
    /// Our last connection to it was outbound.
    pub client: bool,
    /// The topics it was found on (first [`MAX_TOPICS_PER_PEER`]).
    pub topics: Vec<[u8; 32]>,
    /// Failed or ended connections since the last reset.
    pub attempts: u32,
    /// The current priority.
    pub priority: Priority,
}

impl PeerInfo {
    /// A peer never seen before.
    pub fn new(public_key: [u8; 32], relay_addresses: Option<Vec<std::net::SocketAddrV4>>) -> Self {
        Self {
            public_key,
            relay_addresses,
            reconnecting: true,
            proven: false,
            connected_time: None,
            disconnected_time: None,
            banned: false,
            tried: false,
            explicit: false,
            waiting: false,
            queued: false,
            client: false,
            topics: Vec::new(),
            attempts: 0,
            priority: Priority::Normal,
        }
    }

    /// Our last connection with it was inbound (or there was none).
    pub fn server(&self) -> bool {
        !self.client
    }

    /// Normal priority or better.
    pub fn prioritized(&self) -> bool {
        self.priority >= Priority::Normal
    }

    fn compute_priority(&self) -> Priority {
        let stale = self.tried && !self.proven;
        if stale || self.attempts > 3 {
            return Priority::VeryLow;
        }
        match self.attempts {
            3 => Priority::Low,
            2 => Priority::High,
            1 => Priority::VeryHigh,
            _ => Priority::Normal,
        }
    }

    pub(crate) fn connected(&mut self, now: Instant) {
        self.proven = true;
        self.connected_time = Some(now);
    }

    pub(crate) fn disconnected(&mut self, now: Instant) {
        self.disconnected_time = Some(now);
        if let Some(at) = self.connected_time.take()
            && now.saturating_duration_since(at) >= MIN_CONNECTION_TIME
        {
            self.attempts = 0; // fast retry
        }
        self.attempts = self.attempts.saturating_add(1);
    }

    pub(crate) fn deprioritize(&mut self) {
        self.attempts = 3;
    }

    pub(crate) fn reset(&mut self) {
        self.client = false;
        self.proven = false;
        self.tried = false;
        self.attempts = 0;
    }

    /// Recomputes the priority; false if the peer must not be queued (banned,
    /// already queued, or out of attempts).
    pub(crate) fn update_priority(&mut self) -> bool {
        if self.explicit && self.attempts > 3 {
            self.deprioritize();
        }
        if self.banned || self.queued || self.attempts > 3 {
            return false;
        }
        self.priority = self.compute_priority();
        true
    }

    pub(crate) fn add_topic(&mut self, topic: [u8; 32]) {
        if !self.topics.contains(&topic) && self.topics.len() < MAX_TOPICS_PER_PEER {
            self.topics.push(topic);
        }
    }

    /// May be forgotten (nothing keeps it).
    pub(crate) fn should_gc(&self) -> bool {
        !(self.banned || self.queued || self.explicit || self.waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_follows_attempts() {
        let mut p = PeerInfo::new([1; 32], None);
        let now = Instant::now();
        assert!(p.update_priority());
        assert_eq!(p.priority, Priority::Normal);
        let expect = [Priority::VeryHigh, Priority::High, Priority::Low];
        for want in expect {
            p.disconnected(now);
            assert!(p.update_priority());
            assert_eq!(p.priority, want);
        }
        p.disconnected(now);
        assert!(!p.update_priority(), "out of attempts");
    }

    #[test]
    fn a_long_connection_resets_attempts() {
        let mut p = PeerInfo::new([1; 32], None);
        let t0 = Instant::now();
        p.attempts = 3;
        p.connected(t0);
        p.disconnected(t0 + MIN_CONNECTION_TIME);
        assert_eq!(p.attempts, 1);
        p.connected(t0);
        p.disconnected(t0 + Duration::from_secs(1));
        assert_eq!(p.attempts, 2, "a short connection counts as an attempt");
    }

    #[test]
    fn explicit_peers_are_deprioritized_not_dropped() {
        let mut p = PeerInfo::new([1; 32], None);
        p.explicit = true;
        p.attempts = 7;
        assert!(p.update_priority());
        assert_eq!(p.attempts, 3);
        assert_eq!(p.priority, Priority::Low);
    }
}
