//! The server's punch (server.js `_onpeerholepunch`, holepuncher.js), over the DHT's own
//! socket: with a consistent NAT its mapping is the same towards every peer, so the
//! address the relays saw is the one clients punch to.
//!
//! - At listen, PINGs from the DHT socket classify the NAT ([`sample_dht`]).
//! - msg2 offers a holepunch (slot id = our stream id); the session's stream then waits
//!   for the client's first UDX packet and connects to where it came from (udx-native's
//!   firewall hook), so whichever probe wins, the stream follows it ([`await_first_packet`]).
//! - Each PEER_HOLEPUNCH (FROM_RELAY) is answered through the relay (FROM_SERVER, same tid)
//!   with our NAT verdict, addresses and a token; a round naming our address gets a probe
//!   at once ("fast open"); a punching client gets probes ([`probe_client`]).

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rhizome_secret_stream::SecretStream;
use rhizome_secret_stream::noise::HandshakeResult;
use rhizome_udx::Stream;
use tokio::sync::mpsc;

use super::socket::{PROBE, PunchSocket};
use super::{CONSISTENT_ROUNDS, NatSampler, PROBE_INTERVAL, RANDOM_INTERVAL, RANDOM_PROBES, SAMPLE_NODES, SecurePayload};
use crate::message::Id;
use crate::node::{Dht, Incoming, OutRequest};
use crate::wire::handshake::{HolepunchMessage, HolepunchPayload, Mode};
use crate::wire::ns::command;
use crate::wire::payload::{RelayInfo, error as perr, firewall};

/// How long a punched session waits for the client's first packet, and how long our
/// probes towards a randomizing client run at most: Node's random probing lasts ~35 s
/// (1750 × 20 ms) once punching starts, and a birthday hit takes ~5 s on average, so a
/// shorter wait fails a few percent of random-NAT punches.
pub const FIRST_PACKET_WAIT: Duration = Duration::from_secs(40);
/// How often the waiting stream is checked.
const FIRST_PACKET_POLL: Duration = Duration::from_millis(5);
/// Sessions with a punch slot at most (more are not offered a punch).
pub const MAX_PUNCH_SESSIONS: usize = 256;

/// Samples the DHT socket's NAT with PINGs to table and bootstrap nodes.
pub async fn sample_dht(dht: &Dht) -> NatSampler {
    let mut nodes: Vec<SocketAddrV4> = dht.table().await.map(|t| t.into_iter().map(|n| n.addr).collect()).unwrap_or_default();
    for b in dht.bootstrap_nodes() {
        if !nodes.contains(b) {
            nodes.push(*b);
        }
    }
    nodes.truncate(SAMPLE_NODES + 2);
    let local = dht.local_addr();
    let replies = futures::future::join_all(nodes.iter().map(|n| async move { dht.ping(*n).await.map(|r| (*n, r)) })).await;
    let replies: Vec<_> = replies.into_iter().flatten().collect();
    let open = !replies.is_empty() && replies.iter().all(|(_, r)| r.to == local);
    let mut nat = NatSampler::new(!open);
    for (from, r) in replies {
        nat.add(r.to, from);
    }
    nat
}

struct Session {
    secure: SecurePayload,
    round: u64,
    expires: Instant,
    /// A probe task was started (at most one per session, so repeated rounds cannot
    /// multiply tasks).
    probing: bool,
}

/// The punch state of one listening server behind a NAT.
pub struct ServerPunch {
    firewall: u64,
    addresses: Vec<SocketAddrV4>,
    sessions: HashMap<u64, Session>,
    /// The DHT socket's NAT is not consistent: every relayed handshake gets its own
    /// puncher socket ([`super::random_server`]).
    random: bool,
    /// hash(msg1) → the puncher its msg2 went from (a resent msg1 gets its msg2 from the
    /// same socket), at most [`MAX_PUNCH_SESSIONS`].
    punchers: HashMap<Id, (Weak<PunchSocket>, Instant)>,
    /// Sessions spraying from birthday sockets at once at most
    /// ([`super::random_server::MAX_BIRTHDAY_SESSIONS`]; Node allows one random punch).
    birthdays: Arc<tokio::sync::Semaphore>,
}

impl Default for ServerPunch {
    fn default() -> Self {
        Self {
            firewall: firewall::UNKNOWN,
            addresses: Vec::new(),
            sessions: HashMap::new(),
            random: false,
            punchers: HashMap::new(),
            birthdays: Arc::new(tokio::sync::Semaphore::new(super::random_server::MAX_BIRTHDAY_SESSIONS)),
        }
    }
}

impl std::fmt::Debug for ServerPunch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerPunch").field("firewall", &self.firewall).field("sessions", &self.sessions.len()).finish()
    }
}

impl ServerPunch {
    /// From a finished sample; None when the DHT is not firewalled (no punching).
    pub fn new(nat: &NatSampler) -> Option<Self> {
        if nat.firewall() == firewall::OPEN {
            return None;
        }
        if nat.firewall() != firewall::CONSISTENT {
            // a randomizing (or unclassified) NAT in front of the DHT socket: the relays'
            // views of us differ, so each handshake gets its own puncher socket
            tracing::debug!(firewall = nat.firewall(), "hyperdht: server NAT not consistent; a puncher socket per handshake");
            return Some(Self { firewall: nat.firewall(), random: true, ..Default::default() });
        }
        Some(Self { firewall: nat.firewall(), addresses: nat.addresses().unwrap_or_default(), ..Default::default() })
    }

    /// True when each relayed handshake gets its own puncher socket.
    pub fn is_random(&self) -> bool {
        self.random
    }

    /// The permits for birthday punching (shared by the sessions).
    pub fn birthday_permits(&self) -> Arc<tokio::sync::Semaphore> {
        self.birthdays.clone()
    }

    /// The live puncher an earlier copy of this msg1 was answered from.
    pub fn puncher_for(&mut self, msg1_hash: &Id) -> Option<Arc<PunchSocket>> {
        let now = Instant::now();
        self.punchers.retain(|_, (w, exp)| *exp > now && w.strong_count() > 0);
        self.punchers.get(msg1_hash).and_then(|(w, _)| w.upgrade())
    }

    /// Remembers the puncher of a new session; false when [`MAX_PUNCH_SESSIONS`] run.
    pub fn add_puncher(&mut self, msg1_hash: Id, puncher: &Arc<PunchSocket>) -> bool {
        let now = Instant::now();
        self.punchers.retain(|_, (w, exp)| *exp > now && w.strong_count() > 0);
        if self.punchers.len() >= MAX_PUNCH_SESSIONS {
            return false;
        }
        self.punchers.insert(msg1_hash, (Arc::downgrade(puncher), now + super::random_server::RANDOM_SESSION_WAIT));
        true
    }

    /// The relays as advertised in msg2: each with our sampled public address.
    pub fn relay_infos(&self, relays: &[SocketAddrV4], fallback: SocketAddrV4) -> Vec<RelayInfo> {
        let peer = self.addresses.first().copied().unwrap_or(fallback);
        relays.iter().map(|r| RelayInfo { relay_address: *r, peer_address: peer }).collect()
    }

    /// Opens punch slot `id` for a new session.
    pub fn open(&mut self, id: u64, result: &HandshakeResult) -> bool {
        let now = Instant::now();
        self.sessions.retain(|_, s| s.expires > now);
        if self.sessions.len() >= MAX_PUNCH_SESSIONS {
            return false;
        }
        let secure = SecurePayload::new(&super::holepunch_secret(&result.hash));
        self.sessions.insert(id, Session { secure, round: 0, expires: now + FIRST_PACKET_WAIT, probing: false });
        true
    }

    /// Answers one PEER_HOLEPUNCH request for `target`.
    pub async fn on_request(&mut self, dht: &Arc<Dht>, target: &Id, inc: Incoming) {
        let Some(hp) = inc.request.value.as_deref().and_then(|v| HolepunchMessage::decode(v).ok()) else { return inc.ignore() };
        let (Mode::FromRelay, Some(client)) = (hp.mode, hp.peer_address) else { return inc.ignore() };
        let Some(session) = self.sessions.get_mut(&hp.id) else { return inc.ignore() };
        // forged or stale payloads get no answer (Node returns null)
        let Some(p) = session.secure.decrypt(&hp.payload) else { return inc.ignore() };
        let (relay, tid) = (inc.from, inc.request.tid);
        inc.ignore();
        let reply = if p.error != perr::NONE {
            let out = HolepunchPayload { error: perr::ABORTED, round: session.round, ..Default::default() };
            let sealed = session.secure.encrypt(&out);
            self.sessions.remove(&hp.id);
            sealed
        } else {
            session.round = session.round.max(p.round);
            // fast open: the client already sent towards our address; answer with a probe
            let consistent = matches!(self.firewall, firewall::CONSISTENT | firewall::OPEN);
            if consistent && p.remote_address.is_some_and(|a| self.addresses.contains(&a)) {
                let _ = dht.socket().send_raw(&PROBE, SocketAddr::V4(client)).await;
            }
            if p.punching && consistent && !session.probing {
                session.probing = true;
                tokio::spawn(probe_client(dht.clone(), client, p.firewall, Instant::now() + FIRST_PACKET_WAIT));
            }
            let out = HolepunchPayload {
                firewall: self.firewall,
                round: session.round,
                punching: p.punching && consistent,
                addresses: Some(self.addresses.clone()),
                token: Some(session.secure.token(client.ip())),
                remote_token: p.token,
                ..Default::default()
            };
            session.secure.encrypt(&out)
        };
        let value = HolepunchMessage { mode: Mode::FromServer, id: 0, payload: reply, peer_address: Some(client) }.encode();
        let req = OutRequest::new(command::PEER_HOLEPUNCH).target(*target).value(value);
        if let Err(e) = dht.send_request_raw(relay, tid, req).await {
            tracing::debug!(error = %e, "hyperdht: holepunch answer not sent");
        }
    }
}

/// The responder's probes (holepuncher.js): consistent clients get one per second after a
/// second's pause (the fast-open probe went first), randomizing clients probes to random
/// ports of their host every 20 ms. Ends by `deadline` at the latest.
pub async fn probe_client(dht: Arc<Dht>, client: SocketAddrV4, client_firewall: u64, deadline: Instant) {
    if client_firewall >= firewall::RANDOM {
        for _ in 0..RANDOM_PROBES {
            if Instant::now() > deadline {
                return;
            }
            let mut b = [0u8; 2];
            let _ = getrandom::fill(&mut b);
            let port = 1000 + (u16::from_le_bytes(b) % 64536);
            let _ = dht.socket().send_raw(&PROBE, SocketAddr::V4(SocketAddrV4::new(*client.ip(), port))).await;
            tokio::time::sleep(RANDOM_INTERVAL).await;
        }
        return;
    }
    for _ in 0..CONSISTENT_ROUNDS {
        tokio::time::sleep(PROBE_INTERVAL).await;
        if Instant::now() > deadline {
            return;
        }
        let _ = dht.socket().send_raw(&PROBE, SocketAddr::V4(client)).await;
    }
}

/// Waits for the client's first packet on `stream`, connects it there and hands the
/// secure stream to `accepted`; gives up after [`FIRST_PACKET_WAIT`] (the stream drops).
pub async fn await_first_packet(
    stream: Stream,
    remote_id: u32,
    result: Box<HandshakeResult>,
    accepted: mpsc::Sender<SecretStream<Stream>>,
) {
    let start = Instant::now();
    while start.elapsed() < FIRST_PACKET_WAIT {
        if let Some(from) = stream.first_packet_from() {
            if let Err(e) = stream.connect(remote_id, from) {
                tracing::debug!(error = %e, "hyperdht: punched stream connect failed");
                return;
            }
            tracing::debug!(%from, ms = start.elapsed().as_millis() as u64, "hyperdht: punched (server)");
            let conn = SecretStream::with_handshake(stream, &result, &crate::connect::stream_config());
            if accepted.try_send(conn).is_err() {
                tracing::debug!("hyperdht: accept queue full, connection dropped");
            }
            return;
        }
        tokio::time::sleep(FIRST_PACKET_POLL).await;
    }
    tracing::debug!("hyperdht: no packet from the client after the punch; session dropped");
}
