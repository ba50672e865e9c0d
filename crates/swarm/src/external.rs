//! Our external addresses: the ones other peers can reach us at, as far as we know.
//!
//! An address becomes *confirmed* when the application says so
//! ([`Swarm::add_external_addr`]) or when enough distinct peers report observing it
//! ([`Swarm::report_observed_addr`], fed by identify). Protocols use confirmed
//! addresses to decide, for example, whether to act as a DHT server.

use std::sync::Mutex;

use rhizome_core::{Multiaddr, PeerId};

use crate::{Swarm, SwarmEvent};

/// Confirmed external addresses kept at most (the oldest is dropped).
pub const MAX_EXTERNAL_ADDRS: usize = 16;
/// Candidate (observed, unconfirmed) addresses kept at most (the oldest is dropped).
pub const MAX_CANDIDATES: usize = 64;

#[derive(Debug, Default)]
struct Inner {
    confirmed: Vec<Multiaddr>,
    /// Observed addresses with the distinct peers that reported them, oldest first.
    candidates: Vec<(Multiaddr, Vec<PeerId>)>,
}

/// Confirmed and candidate external addresses, bounded.
#[derive(Debug)]
pub(crate) struct ExternalAddrs {
    needed: usize,
    inner: Mutex<Inner>,
}

impl ExternalAddrs {
    pub(crate) fn new(needed: usize) -> Self {
        Self { needed: needed.max(1), inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks `addr` confirmed; returns whether it is new.
    pub(crate) fn confirm(&self, addr: Multiaddr) -> bool {
        let mut inner = self.lock();
        inner.candidates.retain(|(a, _)| a != &addr);
        if inner.confirmed.contains(&addr) {
            return false;
        }
        if inner.confirmed.len() >= MAX_EXTERNAL_ADDRS {
            inner.confirmed.remove(0);
        }
        inner.confirmed.push(addr);
        true
    }

    /// Records that `by` observed us at `addr`; returns whether this confirmed it.
    pub(crate) fn observed(&self, addr: Multiaddr, by: PeerId) -> bool {
        let mut inner = self.lock();
        if inner.confirmed.contains(&addr) {
            return false;
        }
        let index = match inner.candidates.iter().position(|(a, _)| a == &addr) {
            Some(i) => i,
            None => {
                if inner.candidates.len() >= MAX_CANDIDATES {
                    inner.candidates.remove(0);
                }
                inner.candidates.push((addr.clone(), Vec::new()));
                inner.candidates.len() - 1
            }
        };
        let needed = self.needed;
        let reporters = &mut inner.candidates[index].1;
        if !reporters.contains(&by) {
            reporters.push(by);
        }
        if reporters.len() < needed {
            return false;
        }
        drop(inner);
        self.confirm(addr)
    }

    pub(crate) fn remove(&self, addr: &Multiaddr) -> bool {
        let mut inner = self.lock();
        let before = inner.confirmed.len();
        inner.confirmed.retain(|a| a != addr);
        inner.confirmed.len() != before
    }

    pub(crate) fn list(&self) -> Vec<Multiaddr> {
        self.lock().confirmed.clone()
    }
}

impl Swarm {
    /// Our confirmed external addresses, oldest first.
    pub fn external_addrs(&self) -> Vec<Multiaddr> {
        self.shared.external.list()
    }

    /// Declares `addr` a confirmed external address (e.g. from configuration).
    pub fn add_external_addr(&self, addr: Multiaddr) {
        if self.shared.external.confirm(addr.clone()) {
            self.shared.emit(SwarmEvent::ExternalAddrConfirmed { addr });
        }
    }

    /// Forgets a confirmed external address; returns whether it was one.
    pub fn remove_external_addr(&self, addr: &Multiaddr) -> bool {
        self.shared.external.remove(addr)
    }

    /// Reports that peer `by` observed us at `addr` (identify's observed address).
    /// Once `Config::external_addr_confirmations` distinct peers have, the address
    /// is confirmed and [`SwarmEvent::ExternalAddrConfirmed`] is emitted.
    pub fn report_observed_addr(&self, addr: Multiaddr, by: PeerId) {
        if by != self.shared.local_peer && self.shared.external.observed(addr.clone(), by) {
            self.shared.emit(SwarmEvent::ExternalAddrConfirmed { addr });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> PeerId {
        use rhizome_core::KeypairExt as _;
        rhizome_core::Keypair::from_seed([n; 32]).peer_id()
    }

    #[test]
    fn confirmed_by_distinct_peers_and_bounded() {
        let ext = ExternalAddrs::new(2);
        let a: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        assert!(!ext.observed(a.clone(), peer(1)));
        assert!(!ext.observed(a.clone(), peer(1)), "the same peer twice is one report");
        assert!(ext.observed(a.clone(), peer(2)));
        assert_eq!(ext.list(), vec![a.clone()]);
        assert!(!ext.observed(a, peer(3)), "already confirmed");
        for port in 0..200u16 {
            let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", 1000 + port).parse().unwrap();
            ext.observed(addr.clone(), peer(1));
            ext.confirm(addr);
        }
        assert_eq!(ext.list().len(), MAX_EXTERNAL_ADDRS);
        assert!(ext.lock().candidates.len() <= MAX_CANDIDATES);
    }
}
