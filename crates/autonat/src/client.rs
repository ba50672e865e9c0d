//! The client role's decisions, sans-IO with an injected clock: when to probe, which
//! server, with which addresses, and what the answers say about our reachability.
//!
//! The confidence rule is rust-libp2p's: an answer that agrees with the current
//! status raises the confidence (up to `confidence_max`); one that disagrees lowers
//! it, and flips the status only once it is 0. From `Unknown` the first decisive
//! answer flips at once. So a confident status takes `confidence_max + 1`
//! contrary answers in a row to flip.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rhizome_core::multiaddr::Protocol;
use rhizome_core::{Multiaddr, PeerId};

/// Servers remembered at most (connected peers and ones added by hand).
pub const MAX_SERVERS: usize = 64;
/// Candidate addresses kept at most (the oldest is dropped).
pub const MAX_CANDIDATES: usize = 16;
/// Addresses put in one DIAL at most (then cut to fit 1 KiB on the wire).
pub const MAX_PROBE_ADDRS: usize = 16;

/// Our reachability as far as AutoNAT knows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NatStatus {
    /// Not determined yet (or the confirmed address went away).
    Unknown,
    /// Peers could dial us back at this address.
    Public(Multiaddr),
    /// Peers could not dial us back.
    Private,
}

impl NatStatus {
    /// Whether it is `Public`.
    pub fn is_public(&self) -> bool {
        matches!(self, Self::Public(_))
    }

    /// `"unknown"`, `"public"` or `"private"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Public(_) => "public",
            Self::Private => "private",
        }
    }
}

/// Client settings (`autonat::ClientConfig`).
///
/// | setting | default |
/// |---|---|
/// | `boot_delay` | 15 s before the first probe |
/// | `retry_interval` | 90 s between probes while not confident |
/// | `refresh_interval` | 15 min between probes once confident |
/// | `min_backoff` | 5 s after a probe that said nothing (no server, refused, failed); doubles up to `retry_interval` |
/// | `throttle_server_period` | 90 s before the same server is asked again |
/// | `confidence_max` | 3 |
/// | `timeout` | 30 s for one probe (stream, request, the server's dial-back, response) |
/// | `use_connected` | true: every connected peer is a possible server |
/// | `probe_listen_addrs` | true: listen addresses go in the DIAL besides the candidates |
///
/// The defaults are rust-libp2p's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Delay before the first probe.
    pub boot_delay: Duration,
    /// Period while the status is not confident.
    pub retry_interval: Duration,
    /// Period once confident.
    pub refresh_interval: Duration,
    /// First delay after an indecisive probe.
    pub min_backoff: Duration,
    /// A server is not asked again before this.
    pub throttle_server_period: Duration,
    /// Consistent answers that make the status confident.
    pub confidence_max: usize,
    /// One probe's deadline.
    pub timeout: Duration,
    /// Connected peers are possible servers.
    pub use_connected: bool,
    /// Listen addresses are probed besides the candidates.
    pub probe_listen_addrs: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            boot_delay: Duration::from_secs(15),
            retry_interval: Duration::from_secs(90),
            refresh_interval: Duration::from_secs(15 * 60),
            min_backoff: Duration::from_secs(5),
            throttle_server_period: Duration::from_secs(90),
            confidence_max: 3,
            timeout: Duration::from_secs(30),
            use_connected: true,
            probe_listen_addrs: true,
        }
    }
}

/// What one probe found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// `OK`: the server dialed us back at this address.
    Reachable(Multiaddr),
    /// `E_DIAL_ERROR`: the server could not dial us back.
    Unreachable,
    /// Nothing about us: refused, bad request, internal error, the stream failed or
    /// timed out.
    Failed,
    /// The server does not speak AutoNAT (it is not asked again for
    /// `refresh_interval`).
    Unsupported,
}

/// A probe to run: send a DIAL with `addrs` to `server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The server.
    pub server: PeerId,
    /// Our addresses to dial back.
    pub addrs: Vec<Multiaddr>,
}

/// A status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// Before.
    pub old: NatStatus,
    /// After.
    pub new: NatStatus,
}

#[derive(Debug, Default, Clone)]
struct Server {
    /// Added by hand (kept when it disconnects).
    manual: bool,
    connected: bool,
    last_probe: Option<Instant>,
    unsupported_until: Option<Instant>,
}

/// The client's state machine. Call [`Client::poll`] whenever [`Client::deadline`]
/// passes or something changed, and report each probe's answer with
/// [`Client::on_result`].
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    status: NatStatus,
    confidence: usize,
    servers: BTreeMap<PeerId, Server>,
    candidates: Vec<Multiaddr>,
    listen: Vec<Multiaddr>,
    next_probe: Instant,
    in_flight: Option<PeerId>,
    backoff: Duration,
    /// Whether a probe was sent yet (before, the boot delay stands).
    started: bool,
    /// The last due probe found no server: a new one is asked at once.
    starved: bool,
}

/// `addr` without a trailing `/p2p/…`.
pub(crate) fn strip_p2p(addr: &Multiaddr) -> Multiaddr {
    rhizome_identity::split_peer_id(addr).0
}

/// Whether an address is worth asking a server to dial: an IP with a port, not
/// unspecified, not relayed.
fn probeable(addr: &Multiaddr) -> bool {
    let mut it = addr.iter();
    let ip_ok = match it.next() {
        Some(Protocol::Ip4(ip)) => !ip.is_unspecified(),
        Some(Protocol::Ip6(ip)) => !ip.is_unspecified(),
        _ => false,
    };
    ip_ok && it.next().is_some() && !addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

impl Client {
    /// A client whose first probe is due at `now + boot_delay`.
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let next_probe = now + config.boot_delay;
        let backoff = config.min_backoff;
        Self {
            config,
            status: NatStatus::Unknown,
            confidence: 0,
            servers: BTreeMap::new(),
            candidates: Vec::new(),
            listen: Vec::new(),
            next_probe,
            in_flight: None,
            backoff,
            started: false,
            starved: false,
        }
    }

    /// The current status.
    pub fn status(&self) -> &NatStatus {
        &self.status
    }

    /// The current confidence (0..=`confidence_max`).
    pub fn confidence(&self) -> usize {
        self.confidence
    }

    /// When [`Client::poll`] next has something to do (`None` while a probe runs).
    pub fn deadline(&self) -> Option<Instant> {
        self.in_flight.is_none().then_some(self.next_probe)
    }

    /// Probes as soon as possible.
    pub fn probe_soon(&mut self, now: Instant) {
        self.next_probe = self.next_probe.min(now);
    }

    /// A peer connected (used as a server when `use_connected`). If the last due
    /// probe found no server, the next one is due at once.
    pub fn on_connected(&mut self, peer: PeerId, now: Instant) {
        if self.config.use_connected
            && let Some(s) = self.server_entry(peer)
        {
            s.connected = true;
            if self.starved {
                self.probe_soon(now);
            }
        }
    }

    /// A peer's last connection closed.
    pub fn on_disconnected(&mut self, peer: &PeerId) {
        if let Some(s) = self.servers.get_mut(peer) {
            s.connected = false;
            if !s.manual {
                self.servers.remove(peer);
            }
        }
    }

    /// Adds a server by hand; false when [`MAX_SERVERS`] are known.
    pub fn add_server(&mut self, peer: PeerId, now: Instant) -> bool {
        match self.server_entry(peer) {
            Some(s) => {
                s.manual = true;
                if self.starved {
                    self.probe_soon(now);
                }
                true
            }
            None => false,
        }
    }

    /// Removes a server added by hand.
    pub fn remove_server(&mut self, peer: &PeerId) {
        self.servers.remove(peer);
    }

    fn server_entry(&mut self, peer: PeerId) -> Option<&mut Server> {
        if !self.servers.contains_key(&peer) && self.servers.len() >= MAX_SERVERS {
            return None;
        }
        Some(self.servers.entry(peer).or_default())
    }

    /// Adds a candidate address (e.g. one a peer observed us at). A new address
    /// while not public lowers the confidence and probes soon (after the boot delay,
    /// as rust-libp2p).
    pub fn add_candidate(&mut self, addr: Multiaddr, now: Instant) {
        let addr = strip_p2p(&addr);
        if !probeable(&addr) || self.candidates.contains(&addr) {
            return;
        }
        if self.candidates.len() >= MAX_CANDIDATES {
            self.candidates.remove(0);
        }
        self.candidates.push(addr);
        self.on_new_address(now);
    }

    /// Removes a candidate address; if it was the confirmed public one, the status
    /// goes back to `Unknown` and a probe is due at once.
    pub fn remove_candidate(&mut self, addr: &Multiaddr, now: Instant) -> Option<StatusChange> {
        let addr = strip_p2p(addr);
        self.candidates.retain(|a| a != &addr);
        self.on_address_gone(&addr, now)
    }

    /// The node's listen addresses now (used when `probe_listen_addrs`).
    pub fn set_listen_addrs(&mut self, addrs: Vec<Multiaddr>, now: Instant) -> Option<StatusChange> {
        if !self.config.probe_listen_addrs {
            return None;
        }
        let addrs: Vec<Multiaddr> = addrs.iter().map(strip_p2p).filter(probeable).collect();
        let gone: Vec<Multiaddr> = self.listen.iter().filter(|a| !addrs.contains(a)).cloned().collect();
        let added = addrs.iter().any(|a| !self.listen.contains(a));
        self.listen = addrs;
        if added {
            self.on_new_address(now);
        }
        gone.iter().find_map(|a| self.on_address_gone(a, now))
    }

    fn on_new_address(&mut self, now: Instant) {
        if !self.status.is_public() {
            self.confidence = self.confidence.saturating_sub(1);
            if self.started {
                self.probe_soon(now);
            }
        }
    }

    fn on_address_gone(&mut self, addr: &Multiaddr, now: Instant) -> Option<StatusChange> {
        if !matches!(&self.status, NatStatus::Public(a) if strip_p2p(a) == *addr) {
            return None;
        }
        self.confidence = 0;
        self.probe_soon(now);
        Some(self.set_status(NatStatus::Unknown))
    }

    fn set_status(&mut self, new: NatStatus) -> StatusChange {
        let old = std::mem::replace(&mut self.status, new.clone());
        StatusChange { old, new }
    }

    /// The addresses a DIAL would carry now: candidates, then listen addresses.
    pub fn probe_addrs(&self) -> Vec<Multiaddr> {
        let mut out: Vec<Multiaddr> = Vec::new();
        for a in self.candidates.iter().chain(&self.listen) {
            if out.len() < MAX_PROBE_ADDRS && !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
    }

    /// The next probe, if one is due at `now` and possible. When due but impossible
    /// (no address, no server that is not throttled), it is tried again after the
    /// backoff.
    pub fn poll(&mut self, now: Instant) -> Option<Probe> {
        if self.in_flight.is_some() || now < self.next_probe {
            return None;
        }
        let addrs = self.probe_addrs();
        let throttle = self.config.throttle_server_period;
        let server = self
            .servers
            .iter()
            .filter(|(_, s)| s.manual || s.connected)
            .filter(|(_, s)| s.unsupported_until.is_none_or(|t| now >= t))
            .filter(|(_, s)| s.last_probe.is_none_or(|t| now.saturating_duration_since(t) >= throttle))
            // Least recently asked first (never asked before all).
            .min_by_key(|(_, s)| s.last_probe)
            .map(|(p, _)| *p);
        self.starved = server.is_none();
        let (Some(server), false) = (server, addrs.is_empty()) else {
            self.back_off(now);
            return None;
        };
        if let Some(s) = self.servers.get_mut(&server) {
            s.last_probe = Some(now);
        }
        self.in_flight = Some(server);
        self.started = true;
        Some(Probe { server, addrs })
    }

    fn back_off(&mut self, now: Instant) {
        self.next_probe = now + self.backoff;
        self.backoff = (self.backoff * 2).min(self.config.retry_interval.max(self.config.min_backoff));
    }

    /// The answer of the probe to `server`; returns the status change it caused.
    pub fn on_result(&mut self, server: PeerId, result: ProbeResult, now: Instant) -> Option<StatusChange> {
        if self.in_flight == Some(server) {
            self.in_flight = None;
        }
        let reported = match result {
            ProbeResult::Reachable(addr) => NatStatus::Public(strip_p2p(&addr)),
            ProbeResult::Unreachable => NatStatus::Private,
            ProbeResult::Failed | ProbeResult::Unsupported => {
                if result == ProbeResult::Unsupported
                    && let Some(s) = self.servers.get_mut(&server)
                {
                    s.unsupported_until = Some(now + self.config.refresh_interval);
                }
                self.back_off(now);
                return None;
            }
        };
        self.backoff = self.config.min_backoff;
        let change = self.apply(reported);
        let period = if self.confidence >= self.config.confidence_max { self.config.refresh_interval } else { self.config.retry_interval };
        self.next_probe = now + period;
        change
    }

    fn apply(&mut self, reported: NatStatus) -> Option<StatusChange> {
        if reported == self.status {
            self.confidence = (self.confidence + 1).min(self.config.confidence_max);
            return None;
        }
        if reported.is_public() && self.status.is_public() {
            // Reachable still, at another address.
            return Some(self.set_status(reported));
        }
        if self.confidence > 0 {
            self.confidence -= 1;
            return None;
        }
        Some(self.set_status(reported))
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

    fn config() -> ClientConfig {
        ClientConfig {
            boot_delay: Duration::from_secs(1),
            retry_interval: Duration::from_secs(10),
            refresh_interval: Duration::from_secs(100),
            min_backoff: Duration::from_secs(1),
            throttle_server_period: Duration::from_secs(5),
            ..ClientConfig::default()
        }
    }

    /// A client with three connected servers and one candidate.
    fn client(t0: Instant) -> Client {
        let mut c = Client::new(config(), t0);
        for n in 1..=3 {
            c.on_connected(peer(n), t0);
        }
        c.add_candidate(a("/ip4/1.2.3.4/tcp/4001"), t0);
        c
    }

    /// Runs the due probe at `*now` and answers it.
    fn answer(c: &mut Client, now: &mut Instant, result: ProbeResult) -> Option<StatusChange> {
        *now = c.deadline().unwrap().max(*now);
        let probe = c.poll(*now).expect("a probe is due");
        assert!(c.poll(*now).is_none(), "one probe at a time");
        assert_eq!(c.deadline(), None);
        c.on_result(probe.server, result, *now)
    }

    #[test]
    fn first_answer_flips_then_confidence_grows() {
        let t0 = Instant::now();
        let mut c = client(t0);
        assert!(c.poll(t0).is_none(), "the boot delay first");
        let mut now = t0;
        let public = a("/ip4/1.2.3.4/tcp/4001");
        let change = answer(&mut c, &mut now, ProbeResult::Reachable(public.clone())).unwrap();
        assert_eq!(change, StatusChange { old: NatStatus::Unknown, new: NatStatus::Public(public.clone()) });
        assert_eq!(now, t0 + Duration::from_secs(1));
        assert_eq!(c.confidence(), 0);
        for want in 1..=3 {
            assert_eq!(answer(&mut c, &mut now, ProbeResult::Reachable(public.clone())), None);
            assert_eq!(c.confidence(), want);
        }
        // Confident: the next probe waits for the refresh interval; still capped.
        assert_eq!(c.deadline(), Some(now + Duration::from_secs(100)));
        assert_eq!(answer(&mut c, &mut now, ProbeResult::Reachable(public)), None);
        assert_eq!(c.confidence(), 3);
    }

    #[test]
    fn a_confident_status_needs_contrary_answers_to_flip() {
        let t0 = Instant::now();
        let mut c = client(t0);
        let mut now = t0;
        let public = a("/ip4/1.2.3.4/tcp/4001");
        for _ in 0..4 {
            answer(&mut c, &mut now, ProbeResult::Reachable(public.clone()));
        }
        assert_eq!(c.confidence(), 3);
        for want in [2, 1, 0] {
            assert_eq!(answer(&mut c, &mut now, ProbeResult::Unreachable), None);
            assert_eq!(c.confidence(), want);
            assert!(c.status().is_public());
        }
        let change = answer(&mut c, &mut now, ProbeResult::Unreachable).unwrap();
        assert_eq!(change.new, NatStatus::Private);
        // Agreeing answers in between restore the confidence.
        answer(&mut c, &mut now, ProbeResult::Unreachable);
        assert_eq!(answer(&mut c, &mut now, ProbeResult::Reachable(public.clone())), None);
        assert_eq!(c.confidence(), 0);
        assert_eq!(answer(&mut c, &mut now, ProbeResult::Reachable(public.clone())).unwrap().new, NatStatus::Public(public));
    }

    #[test]
    fn failures_back_off_and_do_not_change_the_status() {
        let t0 = Instant::now();
        let mut c = client(t0);
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..6 {
            assert_eq!(answer(&mut c, &mut now, ProbeResult::Failed), None);
            delays.push(c.deadline().unwrap() - now);
        }
        let secs: Vec<u64> = delays.iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10], "doubling up to retry_interval");
        assert_eq!(c.status(), &NatStatus::Unknown);
        // A decisive answer resets the backoff.
        answer(&mut c, &mut now, ProbeResult::Unreachable);
        assert_eq!(c.status(), &NatStatus::Private);
        answer(&mut c, &mut now, ProbeResult::Failed);
        assert_eq!(c.deadline().unwrap() - now, Duration::from_secs(1));
    }

    #[test]
    fn servers_are_rotated_throttled_and_dropped() {
        let t0 = Instant::now();
        let mut c = client(t0);
        let now = t0 + Duration::from_secs(1);
        let mut asked = Vec::new();
        for _ in 0..3 {
            c.probe_soon(now);
            let p = c.poll(now).unwrap();
            assert_eq!(p.addrs, vec![a("/ip4/1.2.3.4/tcp/4001")]);
            asked.push(p.server);
            c.on_result(p.server, ProbeResult::Failed, now);
        }
        asked.sort();
        asked.dedup();
        assert_eq!(asked.len(), 3, "three different servers");
        // All three are throttled now: no probe, backoff instead.
        c.probe_soon(now);
        assert!(c.poll(now).is_none());
        // An unsupported server is skipped for a long time; a disconnected one is gone.
        let later = now + Duration::from_secs(5);
        c.probe_soon(later);
        let p = c.poll(later).unwrap();
        c.on_result(p.server, ProbeResult::Unsupported, later);
        c.on_disconnected(&peer(1));
        c.on_disconnected(&peer(2));
        c.on_disconnected(&peer(3));
        c.probe_soon(later);
        assert!(c.poll(later).is_none(), "no server left");
        assert!(c.add_server(peer(9), later));
        assert_eq!(c.deadline(), Some(later), "starved: a new server is asked at once");
        c.on_disconnected(&peer(9));
        assert_eq!(c.poll(later).unwrap().server, peer(9), "manual servers stay");
    }

    #[test]
    fn no_address_no_probe() {
        let t0 = Instant::now();
        let mut c = Client::new(config(), t0);
        c.on_connected(peer(1), t0);
        let now = t0 + Duration::from_secs(1);
        assert!(c.poll(now).is_none());
        assert_eq!(c.deadline(), Some(now + Duration::from_secs(1)));
        // Unprobeable addresses are ignored.
        c.add_candidate(a("/ip4/0.0.0.0/tcp/1"), now);
        c.add_candidate(a("/memory/4"), now);
        assert!(c.set_listen_addrs(vec![a("/ip4/127.0.0.1/tcp/7"), a("/ip4/127.0.0.1/tcp/7")], now).is_none());
        let p = c.poll(now + Duration::from_secs(1)).unwrap();
        assert_eq!(p.addrs, vec![a("/ip4/127.0.0.1/tcp/7")]);
    }

    #[test]
    fn losing_the_public_address_resets_to_unknown() {
        let t0 = Instant::now();
        let mut c = client(t0);
        let mut now = t0;
        let public = a("/ip4/1.2.3.4/tcp/4001");
        answer(&mut c, &mut now, ProbeResult::Reachable(a(&format!("/ip4/1.2.3.4/tcp/4001/p2p/{}", peer(7)))));
        assert_eq!(c.status(), &NatStatus::Public(public.clone()), "stored without /p2p");
        c.add_candidate(a("/ip4/1.2.3.4/tcp/4009"), now);
        assert_eq!(c.deadline(), Some(now + Duration::from_secs(10)), "a new address while public changes nothing");
        let change = c.remove_candidate(&public, now).unwrap();
        assert_eq!(change.new, NatStatus::Unknown);
        assert_eq!(c.deadline(), Some(now), "probe again at once");
        // A new address while private lowers the confidence and probes soon.
        answer(&mut c, &mut now, ProbeResult::Unreachable);
        answer(&mut c, &mut now, ProbeResult::Unreachable);
        assert_eq!(c.confidence(), 1);
        c.add_candidate(a("/ip4/1.2.3.4/tcp/4002"), now);
        assert_eq!(c.confidence(), 0);
        assert_eq!(c.deadline(), Some(now));
        // Bounded candidates.
        for p in 0..40u16 {
            c.add_candidate(a(&format!("/ip4/1.2.3.4/tcp/{}", 5000 + p)), now);
        }
        assert_eq!(c.probe_addrs().len(), MAX_CANDIDATES);
    }
}
