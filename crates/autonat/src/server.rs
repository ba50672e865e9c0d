//! The server role's decisions, sans-IO: which requested addresses may be dialed
//! back ([`dialable_addrs`]) and whether a request is within the rate limits
//! ([`Limiter`], with an injected clock).

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rhizome_core::multiaddr::Protocol;
use rhizome_core::{Multiaddr, PeerId};

/// Server settings (`autonat::ServerConfig`).
///
/// | setting | default |
/// |---|---|
/// | `max_per_peer` | 3 dial-back requests per peer per `period` (go-libp2p's) |
/// | `max_global` | 30 requests from all peers per `period` (go-libp2p's) |
/// | `period` | 60 s |
/// | `max_concurrent` | 8 dial-backs at once (one per peer) |
/// | `dial_back_timeout` | 15 s for all dial-backs of one request |
/// | `request_timeout` | 10 s to receive the DIAL once the stream is open |
/// | `max_addrs` | 16 addresses dialed per request |
/// | `dial_concurrency` | 4 addresses dialed at once |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Requests admitted per peer per `period`.
    pub max_per_peer: usize,
    /// Requests admitted in all per `period`.
    pub max_global: usize,
    /// The rate-limit window.
    pub period: Duration,
    /// Dial-backs running at once.
    pub max_concurrent: usize,
    /// Deadline of one request's dial-backs.
    pub dial_back_timeout: Duration,
    /// Deadline to receive the request.
    pub request_timeout: Duration,
    /// Addresses dialed per request at most.
    pub max_addrs: usize,
    /// Addresses dialed at once.
    pub dial_concurrency: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_per_peer: 3,
            max_global: 30,
            period: Duration::from_secs(60),
            max_concurrent: 8,
            dial_back_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(10),
            max_addrs: 16,
            dial_concurrency: 4,
        }
    }
}

/// Why a request is refused (`E_DIAL_REFUSED`, with [`Refusal::text`] as statusText).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The request came over a connection without an IP (relayed, in-memory…).
    #[error("no observed IP address for the connection")]
    NoObservedIp,
    /// No requested address is on the observed IP (or every one was invalid).
    #[error("no dialable address on the observed IP")]
    NoAddresses,
    /// A dial-back to this peer is already running.
    #[error("dial-back already in progress")]
    Ongoing,
    /// The peer asked too often.
    #[error("too many requests from this peer")]
    PeerLimit,
    /// Everyone together asked too often.
    #[error("too many requests")]
    GlobalLimit,
    /// `max_concurrent` dial-backs are running.
    #[error("too many dial-backs in progress")]
    Busy,
}

impl Refusal {
    /// The statusText we send.
    pub fn text(self) -> String {
        self.to_string()
    }
}

/// The IP an address starts with (IPv4-mapped IPv6 as IPv4).
pub fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(ip.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(ip))),
        _ => None,
    }
}

/// The requested addresses we may dial back, in order, deduplicated, at most `max`,
/// each without its `/p2p/` suffix: only those whose IP is the connection's observed
/// IP (the spec's rule against using us to attack a third party; the others are
/// dropped, not rewritten), none relayed, none naming another peer.
pub fn dialable_addrs(peer: PeerId, observed: &Multiaddr, requested: &[Multiaddr], max: usize) -> Result<Vec<Multiaddr>, Refusal> {
    let relayed = |a: &Multiaddr| a.iter().any(|p| matches!(p, Protocol::P2pCircuit));
    let ip = ip_of(observed).filter(|_| !relayed(observed)).ok_or(Refusal::NoObservedIp)?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for addr in requested {
        if out.len() >= max {
            break;
        }
        if ip_of(addr) != Some(ip) || relayed(addr) {
            continue;
        }
        let mut base = Multiaddr::empty();
        let mut valid = true;
        for p in addr.iter() {
            match p {
                Protocol::P2p(id) if id == peer => {}
                Protocol::P2p(_) => valid = false,
                other => base.push(other),
            }
        }
        // An address of the IP alone (no port) cannot be dialed.
        if valid && base.iter().count() > 1 && seen.insert(base.clone()) {
            out.push(base);
        }
    }
    if out.is_empty() { Err(Refusal::NoAddresses) } else { Ok(out) }
}

/// The rate limits and the concurrency bound, with an injected clock. Bounded: it
/// remembers at most `max_global` admissions and `max_concurrent` running dial-backs.
#[derive(Debug)]
pub struct Limiter {
    config: ServerConfig,
    /// Admissions within the window, oldest first.
    recent: VecDeque<(PeerId, Instant)>,
    running: HashSet<PeerId>,
}

impl Limiter {
    /// A limiter with these limits.
    pub fn new(config: ServerConfig) -> Self {
        Self { config, recent: VecDeque::new(), running: HashSet::new() }
    }

    /// Admits a dial-back to `peer` at `now`, or says why not. An admitted peer counts
    /// as running until [`Limiter::finish`].
    pub fn admit(&mut self, peer: PeerId, now: Instant) -> Result<(), Refusal> {
        while self.recent.front().is_some_and(|(_, t)| now.saturating_duration_since(*t) >= self.config.period) {
            self.recent.pop_front();
        }
        if self.running.contains(&peer) {
            return Err(Refusal::Ongoing);
        }
        if self.running.len() >= self.config.max_concurrent {
            return Err(Refusal::Busy);
        }
        if self.recent.len() >= self.config.max_global {
            return Err(Refusal::GlobalLimit);
        }
        if self.recent.iter().filter(|(p, _)| *p == peer).count() >= self.config.max_per_peer {
            return Err(Refusal::PeerLimit);
        }
        self.recent.push_back((peer, now));
        self.running.insert(peer);
        Ok(())
    }

    /// The dial-back to `peer` is over.
    pub fn finish(&mut self, peer: &PeerId) {
        self.running.remove(peer);
    }

    /// Dial-backs running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhizome_core::KeypairExt as _;

    fn peer(n: u8) -> PeerId {
        rhizome_core::Keypair::from_seed([n; 32]).peer_id()
    }

    fn a(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_the_observed_ip_is_dialed() {
        let me = peer(1);
        let observed = a("/ip4/127.0.0.1/tcp/50000");
        let requested = vec![
            a("/ip4/127.0.0.1/tcp/4001"),
            a("/ip4/10.0.0.7/tcp/4001"), // a third party: dropped
            a(&format!("/ip4/127.0.0.1/tcp/4002/p2p/{me}")),
            a(&format!("/ip4/127.0.0.1/tcp/4003/p2p/{}", peer(2))), // another peer
            a("/ip4/127.0.0.1/tcp/4001"),                           // duplicate
            a(&format!("/ip4/127.0.0.1/tcp/4004/p2p/{}/p2p-circuit", peer(2))),
            a("/ip4/127.0.0.1"),
            a("/ip6/::ffff:127.0.0.1/tcp/4005"), // IPv4-mapped: the same IP
            a("/dns4/localhost/tcp/4006"),
        ];
        let got = dialable_addrs(me, &observed, &requested, 16).unwrap();
        assert_eq!(got, vec![a("/ip4/127.0.0.1/tcp/4001"), a("/ip4/127.0.0.1/tcp/4002"), a("/ip6/::ffff:127.0.0.1/tcp/4005")]);
        assert_eq!(dialable_addrs(me, &observed, &requested, 1).unwrap().len(), 1);
        assert_eq!(dialable_addrs(me, &observed, &[a("/ip4/10.0.0.7/tcp/1")], 16), Err(Refusal::NoAddresses));
        assert_eq!(dialable_addrs(me, &a("/memory/5"), &requested, 16), Err(Refusal::NoObservedIp));
        let relayed = a(&format!("/ip4/127.0.0.1/tcp/1/p2p/{}/p2p-circuit", peer(2)));
        assert_eq!(dialable_addrs(me, &relayed, &requested, 16), Err(Refusal::NoObservedIp));
    }

    #[test]
    fn limits() {
        let config = ServerConfig { max_per_peer: 2, max_global: 3, max_concurrent: 2, ..ServerConfig::default() };
        let period = config.period;
        let mut l = Limiter::new(config);
        let t0 = Instant::now();
        l.admit(peer(1), t0).unwrap();
        assert_eq!(l.admit(peer(1), t0), Err(Refusal::Ongoing));
        l.admit(peer(2), t0).unwrap();
        assert_eq!(l.admit(peer(3), t0), Err(Refusal::Busy));
        l.finish(&peer(1));
        l.admit(peer(1), t0).unwrap();
        l.finish(&peer(1));
        assert_eq!(l.admit(peer(1), t0), Err(Refusal::GlobalLimit));
        l.finish(&peer(2));
        // The window slides: the first admissions are forgotten after `period`.
        let later = t0 + period;
        l.admit(peer(1), later).unwrap();
        l.finish(&peer(1));
        l.admit(peer(1), later).unwrap();
        l.finish(&peer(1));
        assert_eq!(l.admit(peer(1), later), Err(Refusal::PeerLimit));
        l.admit(peer(4), later).unwrap();
        assert_eq!(l.running(), 1);
    }
}
