//! Retry with backoff — Node hyperswarm's `lib/retry-timer.js` and `bulk-timer.js`,
//! driven by an injected clock.
//!
//! Four bulk timers (short, medium, long, extra-long). A timer ticks every 0.66 × its
//! period; a peer added to it fires on the second tick after (between 0.66 and 1.32
//! periods later), together with every other peer added in the same window.

use std::time::{Duration, Instant};

use crate::peer_info::PeerInfo;

/// The retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoffs {
    /// Short, medium, long and extra-long periods (Node: 1 s, 5 s, 15 s, 10 min, each
    /// plus a random share of the jitter).
    pub periods: [Duration; 4],
    /// Random extra added to each period once, at construction.
    pub jitter: Duration,
}

impl Default for Backoffs {
    fn default() -> Self {
        Self {
            periods: [Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(15), Duration::from_secs(600)],
            jitter: Duration::from_millis(500),
        }
    }
}

#[derive(Debug)]
struct BulkTimer {
    tick: Duration,
    next_tick: Option<Instant>,
    next: Vec<[u8; 32]>,
    pending: Vec<[u8; 32]>,
}

impl BulkTimer {
    fn new(period: Duration) -> Self {
        let tick = period.mul_f64(0.66).max(Duration::from_millis(1));
        Self { tick, next_tick: None, next: Vec::new(), pending: Vec::new() }
    }

    fn add(&mut self, key: [u8; 32], now: Instant) {
        if self.next_tick.is_none() {
            self.next_tick = Some(now + self.tick);
        }
        self.pending.push(key);
    }

    fn poll(&mut self, now: Instant, out: &mut Vec<[u8; 32]>) {
        while let Some(at) = self.next_tick {
            if at > now {
                break;
            }
            if self.next.is_empty() && self.pending.is_empty() {
                // Node's interval keeps running idle; ours sleeps until the next add.
                self.next_tick = None;
                break;
            }
            out.append(&mut self.next);
            self.next = std::mem::take(&mut self.pending);
            self.next_tick = Some(at + self.tick);
        }
    }

    fn len(&self) -> usize {
        self.next.len() + self.pending.len()
    }
}

/// The four retry timers.
#[derive(Debug)]
pub struct RetryTimer {
    timers: [BulkTimer; 4],
    capacity: usize,
}

impl RetryTimer {
    /// Timers with `backoffs`; `jitter_draws` (each in 0..=1) pick each timer's share
    /// of the jitter. At most `capacity` peers wait in all timers together.
    pub fn new(backoffs: Backoffs, jitter_draws: [f64; 4], capacity: usize) -> Self {
        let timers =
            std::array::from_fn(|i| BulkTimer::new(backoffs.periods[i] + backoffs.jitter.mul_f64(jitter_draws[i].clamp(0.0, 1.0))));
        Self { timers, capacity }
    }

    fn select(peer: &PeerInfo) -> Option<usize> {
        if peer.banned || !peer.reconnecting {
            return None;
        }
        if peer.attempts > 3 {
            return peer.explicit.then_some(3);
        }
        if peer.attempts == 0 {
            return Some(0);
        }
        match (peer.proven, peer.attempts) {
            (true, 1) => Some(0),
            (true, 2) | (false, 1) => Some(1),
            (true, 3) | (false, 2) | (false, 3) => Some(2),
            _ => None,
        }
    }

    /// Schedules a retry of `peer`; false if it is not retried (banned, not
    /// reconnecting, out of attempts, or the timers are full).
    pub fn add(&mut self, peer: &PeerInfo, now: Instant) -> bool {
        let Some(i) = Self::select(peer) else { return false };
        if self.len() >= self.capacity {
            return false;
        }
        self.timers[i].add(peer.public_key, now);
        true
    }

    /// The peers due at `now`.
    pub fn poll(&mut self, now: Instant) -> Vec<[u8; 32]> {
        let mut out = Vec::new();
        for t in &mut self.timers {
            t.poll(now, &mut out);
        }
        out
    }

    /// When [`Self::poll`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.iter().filter_map(|t| t.next_tick).min()
    }

    /// Peers waiting.
    pub fn len(&self) -> usize {
        self.timers.iter().map(BulkTimer::len).sum()
    }

    /// No peer waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer() -> RetryTimer {
        RetryTimer::new(Backoffs { jitter: Duration::ZERO, ..Backoffs::default() }, [0.0; 4], 100)
    }

    #[test]
    fn unproven_peers_back_off_medium_then_long() {
        let mut t = timer();
        let t0 = Instant::now();
        let mut p = PeerInfo::new([7; 32], None);
        p.attempts = 1;
        assert!(t.add(&p, t0));
        // The medium timer ticks every 3.3 s: the peer fires on the second tick.
        assert!(t.poll(t0 + Duration::from_millis(3300)).is_empty());
        assert_eq!(t.poll(t0 + Duration::from_millis(6600)), vec![[7; 32]]);
        assert!(t.is_empty());
        p.attempts = 2;
        let t1 = t0 + Duration::from_secs(100);
        assert!(t.add(&p, t1));
        assert!(t.poll(t1 + Duration::from_secs(19)).is_empty());
        assert_eq!(t.poll(t1 + Duration::from_millis(19_800)).len(), 1);
    }

    #[test]
    fn proven_peers_retry_fast_and_explicit_peers_forever() {
        let mut t = timer();
        let t0 = Instant::now();
        let mut p = PeerInfo::new([1; 32], None);
        p.proven = true;
        p.attempts = 1;
        assert!(t.add(&p, t0));
        assert_eq!(t.poll(t0 + Duration::from_millis(1320)).len(), 1);
        p.attempts = 4;
        assert!(!t.add(&p, t0), "out of attempts");
        p.explicit = true;
        assert!(t.add(&p, t0), "explicit peers wait the extra-long timer");
        assert!(t.poll(t0 + Duration::from_secs(600)).is_empty());
        assert_eq!(t.poll(t0 + Duration::from_secs(793)).len(), 1);
        p.banned = true;
        assert!(!t.add(&p, t0));
    }

    #[test]
    fn bounded() {
        let mut t = RetryTimer::new(Backoffs::default(), [0.5; 4], 2);
        let p = PeerInfo::new([1; 32], None);
        let now = Instant::now();
        assert!(t.add(&p, now) && t.add(&p, now));
        assert!(!t.add(&p, now));
        assert!(t.next_deadline().is_some());
    }
}
