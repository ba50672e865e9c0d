//! Counters readable without the swarm task ([`Hyperswarm::counters`]): what the metrics
//! endpoint scrapes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::core::Stats;

/// A snapshot of the swarm's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Topic lookups run (each join's first and each refresh).
    pub lookups: u64,
    /// Lookups that failed.
    pub lookups_failed: u64,
    /// Peer records the lookups returned (before deduplication by the swarm).
    pub peers_found: u64,
    /// Topic announces run.
    pub announces: u64,
    /// Announces that failed.
    pub announces_failed: u64,
    /// The core's connection counters.
    pub stats: Stats,
    /// Connections open now.
    pub connections: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    lookups: AtomicU64,
    lookups_failed: AtomicU64,
    peers_found: AtomicU64,
    announces: AtomicU64,
    announces_failed: AtomicU64,
    core: Mutex<(Stats, usize)>,
}

impl Shared {
    pub(crate) fn lookup(&self, ok: bool) {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.lookups_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn peer_found(&self) {
        self.peers_found.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn announce(&self, ok: bool) {
        self.announces.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.announces_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn set_core(&self, stats: Stats, connections: usize) {
        *self.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = (stats, connections);
    }

    pub(crate) fn snapshot(&self) -> Counters {
        let (stats, connections) = *self.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Counters {
            lookups: self.lookups.load(Ordering::Relaxed),
            lookups_failed: self.lookups_failed.load(Ordering::Relaxed),
            peers_found: self.peers_found.load(Ordering::Relaxed),
            announces: self.announces.load(Ordering::Relaxed),
            announces_failed: self.announces_failed.load(Ordering::Relaxed),
            stats,
            connections,
        }
    }
}

/// Reads a swarm's [`Counters`] without keeping the swarm alive (for a metrics registry).
#[derive(Debug, Clone)]
pub struct CountersHandle(pub(crate) std::sync::Arc<Shared>);

impl CountersHandle {
    /// The counters now.
    pub fn snapshot(&self) -> Counters {
        self.0.snapshot()
    }
}
