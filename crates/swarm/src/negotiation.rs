//! The node-wide pool of inbound stream negotiation slots, shared fairly by peers.
//!
//! A stream being negotiated may buffer a muxer window of unread data, so the number
//! negotiating at once is bounded node-wide. A plain semaphore lets a few peers that
//! open streams and never negotiate take every slot. Here, when the pool is full, a
//! peer holding fewer than its fair share (`total / peers holding slots`) takes the
//! slot of the oldest negotiation of the peer holding the most; the evicted stream is
//! reset. Peers within their share wait for a slot to free.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use rhizome_core::PeerId;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Inner {
    used: usize,
    next: u64,
    holders: HashMap<PeerId, VecDeque<(u64, CancellationToken)>>,
}

/// Negotiation slots for the whole node.
pub(crate) struct NegotiationSlots {
    total: usize,
    inner: Mutex<Inner>,
    freed: Notify,
}

/// One negotiation slot; given back when dropped. `evicted` fires when a peer below
/// its fair share took it.
pub(crate) struct NegotiationSlot {
    slots: Arc<NegotiationSlots>,
    peer: PeerId,
    id: u64,
    pub(crate) evicted: CancellationToken,
}

impl Drop for NegotiationSlot {
    fn drop(&mut self) {
        let mut inner = self.slots.lock();
        let Some(list) = inner.holders.get_mut(&self.peer) else { return };
        let before = list.len();
        list.retain(|(id, _)| *id != self.id);
        let removed = before != list.len();
        if list.is_empty() {
            inner.holders.remove(&self.peer);
        }
        // An evicted slot was already handed to someone else.
        if removed {
            inner.used -= 1;
            drop(inner);
            self.slots.freed.notify_one();
        }
    }
}

impl NegotiationSlots {
    pub(crate) fn new(total: usize) -> Arc<Self> {
        Arc::new(Self { total: total.max(1), inner: Mutex::new(Inner::default()), freed: Notify::new() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Slots in use.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.lock().used
    }

    /// Takes a slot for a stream of `peer`: a free one, else one taken from the
    /// peer with the most if `peer` is below its fair share, else waits.
    pub(crate) async fn acquire(self: &Arc<Self>, peer: PeerId) -> NegotiationSlot {
        loop {
            let freed = self.freed.notified();
            if let Some(slot) = self.try_acquire(peer) {
                return slot;
            }
            freed.await;
        }
    }

    fn try_acquire(self: &Arc<Self>, peer: PeerId) -> Option<NegotiationSlot> {
        let mut inner = self.lock();
        if inner.used >= self.total {
            let mine = inner.holders.get(&peer).map_or(0, VecDeque::len);
            let peers = inner.holders.len() + usize::from(mine == 0);
            let fair = (self.total / peers.max(1)).max(1);
            if mine >= fair {
                return None;
            }
            let (&busiest, most) = inner.holders.iter().map(|(p, l)| (p, l.len())).max_by_key(|(_, n)| *n)?;
            if most <= mine + 1 {
                return None;
            }
            let list = inner.holders.get_mut(&busiest)?;
            let (_, victim) = list.pop_front()?;
            if list.is_empty() {
                inner.holders.remove(&busiest);
            }
            victim.cancel();
            // The victim's slot is ours: `used` is unchanged.
        } else {
            inner.used += 1;
        }
        inner.next += 1;
        let id = inner.next;
        let evicted = CancellationToken::new();
        inner.holders.entry(peer).or_default().push_back((id, evicted.clone()));
        Some(NegotiationSlot { slots: self.clone(), peer, id, evicted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> PeerId {
        use rhizome_core::KeypairExt as _;
        rhizome_core::Keypair::from_seed([n; 32]).peer_id()
    }

    #[tokio::test]
    async fn a_peer_below_its_share_takes_a_slot_from_the_greediest() {
        let slots = NegotiationSlots::new(4);
        let mut greedy = Vec::new();
        for _ in 0..4 {
            greedy.push(slots.acquire(peer(1)).await);
        }
        assert_eq!(slots.used(), 4);
        // Full, and peer 1 is at its share (4 of 4 with one peer): it waits.
        assert!(slots.try_acquire(peer(1)).is_none());
        // Peer 2 holds nothing: its share is 2; it takes peer 1's oldest slot.
        let honest = tokio::time::timeout(std::time::Duration::from_secs(1), slots.acquire(peer(2))).await.unwrap();
        assert!(greedy[0].evicted.is_cancelled());
        assert_eq!(slots.used(), 4);
        let second = slots.acquire(peer(2)).await;
        assert!(greedy[1].evicted.is_cancelled());
        // A third peer (share 1) takes one too, from a peer holding two.
        let third = slots.try_acquire(peer(3)).expect("below its share");
        assert_eq!(slots.used(), 4);
        // Peer 3 at its share waits now.
        assert!(slots.try_acquire(peer(3)).is_none());
        drop(greedy);
        drop((honest, second, third));
        assert_eq!(slots.used(), 0);
    }
}
