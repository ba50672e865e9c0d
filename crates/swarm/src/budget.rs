//! The node-wide memory budget: one bound on what every connection and stream may
//! buffer, however many there are.
//!
//! Each connection reserves [`MemoryBudget::per_connection`] bytes (its Noise and muxer
//! buffers) and each stream [`MemoryBudget::per_stream`] (the receive window its muxer
//! grants: yamux's 256 KiB), for as long as it lives. When the budget is spent, new
//! connections are refused (`LimitKind::MemoryBudget`), inbound streams are reset and
//! `open_stream` fails — the process is never the one that gives.
//!
//! A stream whose application keeps reading may grow its yamux window beyond the
//! initial 256 KiB (up to `yamux::Config::max_stream_window`, 4 MiB by default); that
//! growth comes from the muxer's own pool (`yamux::Config::window_pool`, 64 MiB per
//! node by default), so the node's worst case is this budget plus that pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The budget's settings (`Config::memory`).
///
/// | setting | default |
/// |---|---|
/// | `total` | 512 MiB |
/// | `per_connection` | 128 KiB (two 64 KiB Noise buffers at most, yamux frame buffers) |
/// | `per_stream` | 272 KiB (yamux's 256 KiB window plus a frame) |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Bytes that all connections and streams together may reserve.
    pub total: usize,
    /// Reserved by each established connection.
    pub per_connection: usize,
    /// Reserved by each open (or negotiating) stream.
    pub per_stream: usize,
}

impl Default for MemoryBudget {
    fn default() -> Self {
        Self { total: 512 << 20, per_connection: 128 << 10, per_stream: 272 << 10 }
    }
}

/// What is reserved now.
#[derive(Debug)]
pub(crate) struct Budget {
    limits: MemoryBudget,
    used: AtomicUsize,
}

/// Bytes reserved until dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl Budget {
    pub(crate) fn new(limits: MemoryBudget) -> Arc<Self> {
        Arc::new(Self { limits, used: AtomicUsize::new(0) })
    }

    fn reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        let total = self.limits.total;
        self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| used.checked_add(bytes).filter(|n| *n <= total)).ok()?;
        Some(Reservation { budget: self.clone(), bytes })
    }

    pub(crate) fn connection(self: &Arc<Self>) -> Option<Reservation> {
        self.reserve(self.limits.per_connection)
    }

    pub(crate) fn stream(self: &Arc<Self>) -> Option<Reservation> {
        self.reserve(self.limits.per_stream)
    }

    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_given_back() {
        let b = Budget::new(MemoryBudget { total: 1000, per_connection: 300, per_stream: 200 });
        let c = b.connection().unwrap();
        let streams: Vec<_> = std::iter::from_fn(|| b.stream()).take(10).collect();
        assert_eq!(streams.len(), 3);
        assert_eq!(b.used(), 900);
        assert!(b.connection().is_none());
        drop(streams);
        drop(c);
        assert_eq!(b.used(), 0);
    }
}
