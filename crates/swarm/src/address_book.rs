//! A bounded address book: known addresses per peer, each with an expiry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rhizome_core::{Multiaddr, PeerId};
use tokio::time::Instant;

/// Peers the book remembers; adding one more evicts the peer whose newest address
/// expires first.
pub const MAX_PEERS: usize = 4096;
/// Addresses kept per peer; adding one more evicts the one expiring first.
pub const MAX_ADDRS_PER_PEER: usize = 16;
/// How long a successfully dialed address is remembered.
pub const DIALED_TTL: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone)]
struct Entry {
    addr: Multiaddr,
    expires: Instant,
}

/// Known addresses of peers, with TTLs. Bounded in peers and addresses per peer.
#[derive(Debug, Default)]
pub struct AddressBook {
    peers: Mutex<HashMap<PeerId, Vec<Entry>>>,
}

impl AddressBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, Vec<Entry>>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers `addr` for `peer` for `ttl` (a longer TTL extends an existing entry).
    /// A trailing `/p2p/…` is removed.
    pub fn add(&self, peer: PeerId, addr: Multiaddr, ttl: Duration) {
        let (addr, _) = rhizome_identity::split_peer_id(&addr);
        let now = Instant::now();
        let expires = now.checked_add(ttl).unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600));
        let mut peers = self.lock();
        if !peers.contains_key(&peer) && peers.len() >= MAX_PEERS {
            Self::evict_one_peer(&mut peers, now);
        }
        let entries = peers.entry(peer).or_default();
        entries.retain(|e| e.expires > now);
        if let Some(e) = entries.iter_mut().find(|e| e.addr == addr) {
            e.expires = e.expires.max(expires);
            return;
        }
        if entries.len() >= MAX_ADDRS_PER_PEER
            && let Some(i) = entries.iter().enumerate().min_by_key(|(_, e)| e.expires).map(|(i, _)| i)
        {
            entries.swap_remove(i);
        }
        entries.push(Entry { addr, expires });
    }

    fn evict_one_peer(peers: &mut HashMap<PeerId, Vec<Entry>>, now: Instant) {
        peers.retain(|_, v| {
            v.retain(|e| e.expires > now);
            !v.is_empty()
        });
        if peers.len() < MAX_PEERS {
            return;
        }
        let victim = peers.iter().min_by_key(|(_, v)| v.iter().map(|e| e.expires).max()).map(|(p, _)| *p);
        if let Some(p) = victim {
            peers.remove(&p);
        }
    }

    /// The unexpired addresses of `peer`, longest-lived first.
    pub fn get(&self, peer: &PeerId) -> Vec<Multiaddr> {
        let now = Instant::now();
        let mut peers = self.lock();
        let Some(entries) = peers.get_mut(peer) else {
            return Vec::new();
        };
        entries.retain(|e| e.expires > now);
        let mut sorted = entries.clone();
        if entries.is_empty() {
            peers.remove(peer);
        }
        sorted.sort_by_key(|e| std::cmp::Reverse(e.expires));
        sorted.into_iter().map(|e| e.addr).collect()
    }

    /// Forgets one address of `peer`.
    pub fn remove(&self, peer: &PeerId, addr: &Multiaddr) {
        let mut peers = self.lock();
        if let Some(entries) = peers.get_mut(peer) {
            entries.retain(|e| &e.addr != addr);
            if entries.is_empty() {
                peers.remove(peer);
            }
        }
    }

    /// How many peers have entries (expired ones may still be counted).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhizome_core::{Keypair, KeypairExt as _};

    fn peer(n: u32) -> PeerId {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&n.to_be_bytes());
        Keypair::from_seed(seed).peer_id()
    }

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn ttl_expiry_and_refresh() {
        let book = AddressBook::default();
        let p = peer(1);
        book.add(p, addr(1), Duration::from_secs(10));
        book.add(p, addr(2), Duration::from_secs(100));
        assert_eq!(book.get(&p), vec![addr(2), addr(1)]);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(book.get(&p), vec![addr(2)]);
        book.add(p, addr(2), Duration::from_secs(1)); // shorter TTL does not shorten
        tokio::time::advance(Duration::from_secs(50)).await;
        assert_eq!(book.get(&p), vec![addr(2)]);
        tokio::time::advance(Duration::from_secs(50)).await;
        assert!(book.get(&p).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_per_peer_and_in_peers() {
        let book = AddressBook::default();
        let p = peer(1);
        for port in 0..(MAX_ADDRS_PER_PEER as u16 + 10) {
            book.add(p, addr(port), Duration::from_secs(1000 + port as u64));
        }
        let got = book.get(&p);
        assert_eq!(got.len(), MAX_ADDRS_PER_PEER);
        assert_eq!(got[0], addr(MAX_ADDRS_PER_PEER as u16 + 9), "the longest-lived survive");
        for n in 0..(MAX_PEERS as u32 + 5) {
            book.add(peer(n + 10), addr(1), Duration::from_secs(10 + n as u64));
        }
        assert!(book.len() <= MAX_PEERS);
        assert!(book.get(&peer(10)).is_empty(), "the peer expiring first was evicted");
    }

    #[test]
    fn strips_p2p_suffix() {
        let book = AddressBook::default();
        let p = peer(1);
        let with_id = rhizome_identity::with_peer_id(&addr(5), p);
        book.add(p, with_id, Duration::from_secs(10));
        assert_eq!(book.get(&p), vec![addr(5)]);
    }
}
