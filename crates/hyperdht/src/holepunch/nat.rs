//! NAT classification from the `to` fields of PING replies (`hyperdht/lib/nat.js`), sans-IO.
//!
//! Each reply from a distinct DHT node is one sample: the address our socket had as that node
//! saw it. Samples are counted per host and per host:port, most hit first. With at least 3
//! samples: one host:port seen 3 times is CONSISTENT, every sample different is RANDOM, two
//! hits decide by the other samples (see [`NatSampler::firewall`]).

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::wire::payload::firewall;

/// Samples wanted before a decision is final (Node's `_minSamples`).
pub const MIN_SAMPLES: usize = 4;
/// Distinct responders remembered at most (bounds the sampler).
pub const MAX_SAMPLES: usize = 16;

/// The sampler of one socket.
#[derive(Debug, Clone)]
pub struct NatSampler {
    hosts: Vec<(Ipv4Addr, u32)>,
    full: Vec<(SocketAddrV4, u32)>,
    visited: HashSet<SocketAddrV4>,
    sampled: usize,
    firewalled: bool,
    frozen: bool,
    firewall: u64,
    addresses: Option<Vec<SocketAddrV4>>,
}

fn bump<T: PartialEq + Copy>(v: &mut Vec<(T, u32)>, key: T) {
    if let Some(mut i) = v.iter().position(|(k, _)| *k == key) {
        v[i].1 += 1;
        // keep sorted by hits, most first (stable for ties)
        while i > 0 && v[i - 1].1 < v[i].1 {
            v.swap(i - 1, i);
            i -= 1;
        }
    } else {
        v.push((key, 1));
    }
}

impl NatSampler {
    /// A sampler; `firewalled` false means the node is reachable (always OPEN).
    pub fn new(firewalled: bool) -> Self {
        Self {
            hosts: Vec::new(),
            full: Vec::new(),
            visited: HashSet::new(),
            sampled: 0,
            firewalled,
            frozen: false,
            firewall: if firewalled { firewall::UNKNOWN } else { firewall::OPEN },
            addresses: None,
        }
    }

    /// One PING reply from `from` said our address is `to`. A second sample from the same
    /// responder is ignored.
    pub fn add(&mut self, to: SocketAddrV4, from: SocketAddrV4) {
        if self.visited.len() >= MAX_SAMPLES || !self.visited.insert(from) {
            return;
        }
        bump(&mut self.hosts, *to.ip());
        bump(&mut self.full, to);
        self.sampled += 1;
        if (self.sampled >= 3 || !self.firewalled) && !self.frozen {
            self.update();
        }
    }

    /// Samples taken.
    pub fn sampled(&self) -> usize {
        self.sampled
    }

    /// True once the sampling can stop (a consistent/open verdict, or enough samples).
    pub fn settled(&self) -> bool {
        matches!(self.firewall, firewall::CONSISTENT | firewall::OPEN) || self.sampled >= MIN_SAMPLES
    }

    /// Stops updating the verdict (it was told to the other peer).
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// The verdict: `firewall::{UNKNOWN, OPEN, CONSISTENT, RANDOM}`.
    pub fn firewall(&self) -> u64 {
        self.firewall
    }

    /// The addresses to advertise: the top host:ports (CONSISTENT), the top host with the
    /// port of its first sample (RANDOM), None while UNKNOWN.
    pub fn addresses(&self) -> Option<Vec<SocketAddrV4>> {
        self.addresses.clone()
    }

    fn update(&mut self) {
        self.update_firewall();
        self.update_addresses();
    }

    fn update_firewall(&mut self) {
        if !self.firewalled {
            self.firewall = firewall::OPEN;
            return;
        }
        if self.sampled < 3 {
            return;
        }
        let max = self.full[0].1;
        self.firewall = if max >= 3 {
            firewall::CONSISTENT
        } else if max == 1 {
            firewall::RANDOM
        } else if self.hosts.len() == 1 && self.sampled > 3 {
            // two hits of one host:port, other ports for the same host: random
            firewall::RANDOM
        } else if self.hosts.len() > 1 && self.full.get(1).is_some_and(|s| s.1 > 1) {
            // double hits on two hosts (multi-homed): consistent
            firewall::CONSISTENT
        } else if self.sampled > 4 {
            firewall::RANDOM
        } else {
            self.firewall
        };
    }

    fn update_addresses(&mut self) {
        self.addresses = match self.firewall {
            firewall::RANDOM => {
                self.full.iter().find(|(a, _)| *a.ip() == self.hosts[0].0).map(|(a, _)| vec![SocketAddrV4::new(*a.ip(), 0)])
            }
            firewall::CONSISTENT | firewall::OPEN => {
                let mut out = Vec::new();
                for (a, hits) in &self.full {
                    if *hits >= 2 || out.len() < 2 {
                        out.push(*a);
                    }
                }
                Some(out)
            }
            _ => None,
        };
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn a(host: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, host), port)
    }

    #[test]
    fn consistent_after_three_equal_samples() {
        let mut n = NatSampler::new(true);
        n.add(a(11, 4000), a(1, 1));
        n.add(a(11, 4000), a(1, 2));
        assert_eq!(n.firewall(), firewall::UNKNOWN, "two samples decide nothing");
        assert!(!n.settled());
        n.add(a(11, 4000), a(1, 2)); // same responder again: ignored
        assert_eq!(n.sampled(), 2);
        n.add(a(11, 4000), a(1, 3));
        assert_eq!(n.firewall(), firewall::CONSISTENT);
        assert_eq!(n.addresses(), Some(vec![a(11, 4000)]));
        assert!(n.settled());
    }

    #[test]
    fn random_when_every_port_differs() {
        let mut n = NatSampler::new(true);
        for (i, port) in [5001, 6002, 7003].into_iter().enumerate() {
            n.add(a(12, port), a(1, i as u16));
        }
        assert_eq!(n.firewall(), firewall::RANDOM);
        // the host only; Node advertises it with the first sample's port, we say 0
        assert_eq!(n.addresses(), Some(vec![a(12, 0)]));
        // two hits among four samples of one host: still random
        let mut n = NatSampler::new(true);
        for (i, port) in [5001, 5001, 7003, 8004].into_iter().enumerate() {
            n.add(a(12, port), a(1, i as u16));
        }
        assert_eq!(n.firewall(), firewall::RANDOM);
    }

    #[test]
    fn open_node_and_freeze() {
        let mut n = NatSampler::new(false);
        assert_eq!(n.firewall(), firewall::OPEN);
        n.add(a(1, 9), a(1, 1));
        assert_eq!(n.addresses(), Some(vec![a(1, 9)]));
        let mut n = NatSampler::new(true);
        n.freeze();
        for i in 0..5 {
            n.add(a(11, 4000), a(1, i));
        }
        assert_eq!(n.firewall(), firewall::UNKNOWN, "frozen verdicts do not move");
        // bounded
        let mut n = NatSampler::new(true);
        for i in 0..100 {
            n.add(a(11, 4000 + i), a(2, i));
        }
        assert_eq!(n.sampled(), MAX_SAMPLES);
    }
}
