//! The server's punch behind a randomizing NAT (server.js `_addHandshake` with
//! `replyFromPuncher`, `_onpeerholepunch`; holepuncher.js as the non-initiator).
//!
//! Our DHT socket's mapping differs per destination, so no address the relays saw is one a
//! client can punch to. As Node does, each relayed handshake gets its own puncher socket:
//! - it PINGs the relay the msg1 came through (its `to` is the relay's view of the
//!   puncher: the `peerAddress` of that relay in msg2's holepunch info), carries the
//!   session's UDX stream and sends msg2 (FROM_SERVER, same tid), so the relay's view of
//!   the server is that socket and the PEER_HOLEPUNCH rounds arrive on it;
//! - it samples its own NAT with PINGs and answers each round from itself;
//! - once the client punches: our NAT random and the client's consistent → up to
//!   [`BIRTHDAY_SOCKETS`] more sockets each probe the client's verified address, then in
//!   turn every 20 ms; ours consistent → probes as in [`super::server::probe_client`];
//! - a probe reaching any of our sockets is answered with a probe from that socket and a
//!   stream with the session's id is opened there; the first stream to receive a UDX
//!   packet connects to its sender and is accepted; every other socket is dropped.
//!
//! msg2's `addresses4` holds the puncher's local address, and the puncher answers PINGs,
//! so a client behind the same NAT can take the LAN shortcut to it.
//!
//! The session is one task, ending at the latest after [`RANDOM_SESSION_WAIT`].

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhizome_secret_stream::SecretStream;
use rhizome_secret_stream::noise::HandshakeResult;
use rhizome_udx::Stream;
use tokio::sync::mpsc;

use super::socket::{PROBE_QUEUE, PunchSocket};
use super::{BIRTHDAY_SOCKETS, CONSISTENT_ROUNDS, NatSampler, PROBE_INTERVAL, SecurePayload};
use crate::message::{Id, Request, Response};
use crate::node::Dht;
use crate::wire::handshake::{HolepunchMessage, HolepunchPayload, Mode};
use crate::wire::ns::command;
use crate::wire::payload::{error as perr, firewall};

/// How long a random-NAT session waits for the client's first packet (the client's
/// random probing runs ~35 s).
pub const RANDOM_SESSION_WAIT: Duration = Duration::from_secs(40);
/// Sessions of one server spraying from birthday sockets at once at most (each holds up
/// to [`BIRTHDAY_SOCKETS`] sockets); a client arriving while they run is told TRY_LATER.
pub const MAX_BIRTHDAY_SESSIONS: usize = 2;
/// Streams opened on sockets a probe reached, at most per session.
pub const MAX_CANDIDATES: usize = 8;
/// Birthday sockets opened per tick (the opening burst is spread over a few ticks).
const OPEN_PER_TICK: usize = 32;
/// The session loop's tick: stream polling, probe pacing (Node's 20 ms).
const TICK: Duration = Duration::from_millis(20);

/// What a running session needs.
pub struct Session {
    /// The DHT (for the NAT samples).
    pub dht: Arc<Dht>,
    /// The puncher socket (msg2 was sent from it).
    pub puncher: Arc<PunchSocket>,
    /// Requests the relay forwards to the puncher.
    pub requests: mpsc::Receiver<(SocketAddrV4, Request)>,
    /// The session's stream, on the puncher socket.
    pub stream: Stream,
    /// The client's stream id.
    pub remote_id: u32,
    /// The Noise result.
    pub result: Box<HandshakeResult>,
    /// The client as the relay saw it.
    pub client: SocketAddrV4,
    /// Our punch slot id (msg2's holepunch id).
    pub id: u64,
    /// hash(our pk).
    pub target: Id,
    /// Where accepted connections go.
    pub accepted: mpsc::Sender<SecretStream<Stream>>,
    /// Permits for birthday punching, shared by the server's sessions.
    pub birthdays: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).field("client", &self.client).finish_non_exhaustive()
    }
}

/// Binds a serving puncher on the DHT's host and PINGs `relay` from it; the socket, its
/// request channel and the relay's view of it. None when the relay does not answer.
pub async fn open_puncher(dht: &Dht, relay: SocketAddrV4) -> Option<(PunchSocket, mpsc::Receiver<(SocketAddrV4, Request)>, SocketAddrV4)> {
    let (sock, rx) = PunchSocket::bind_serving(*dht.local_addr().ip()).await.ok()?;
    match sock.ping(relay).await {
        Ok((_, res)) => Some((sock, rx, res.to)),
        Err(e) => {
            tracing::debug!(%relay, error = %e, "hyperdht: relay did not answer the puncher's PING");
            None
        }
    }
}

/// How we punch once the client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// Both consistent: probes to the client's addresses once a second.
    Consistent,
    /// Ours random, the client's consistent: birthday sockets towards this address.
    Birthday(SocketAddrV4),
    /// Ours consistent, the client's random: random ports of this host.
    RandomPorts(std::net::Ipv4Addr),
}

struct State {
    nat: NatSampler,
    secure: SecurePayload,
    round: u64,
    strategy: Option<Strategy>,
    remote: Vec<SocketAddrV4>,
    ticks: u64,
    /// `ticks` when the strategy was chosen.
    started: u64,
    birthdays: Arc<tokio::sync::Semaphore>,
    /// Held while our birthday sockets are open.
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

fn random_port() -> u16 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    1000 + (u16::from_le_bytes(b) % 64536)
}

/// Runs one session to its end (accepted, aborted, or timed out).
pub async fn run(s: Session) {
    let Session { dht, puncher, mut requests, stream, remote_id, result, client: _, id, target, accepted, birthdays } = s;
    let start = Instant::now();
    let nat = super::client::sample(&dht, &puncher).await;
    tracing::debug!(firewall = nat.firewall(), addresses = ?nat.addresses(), "hyperdht: random-NAT server session sampled");
    let mut st = State {
        nat,
        secure: SecurePayload::new(&super::holepunch_secret(&result.hash)),
        round: 0,
        strategy: None,
        remote: Vec::new(),
        ticks: 0,
        started: 0,
        birthdays,
        permit: None,
    };
    let (btx, mut brx) = mpsc::channel(PROBE_QUEUE);
    let mut birthday: Vec<PunchSocket> = Vec::new();
    // (socket tag: 0 = puncher, i + 1 = birthday[i], stream)
    let local_id = stream.local_id();
    let mut candidates: Vec<(usize, Stream)> = vec![(0, stream)];
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while start.elapsed() < RANDOM_SESSION_WAIT {
        if let Some(i) = candidates.iter().position(|(_, c)| c.first_packet_from().is_some()) {
            let (tag, stream) = candidates.swap_remove(i);
            let Some(from) = stream.first_packet_from() else { return };
            if let Err(e) = stream.connect(remote_id, from) {
                tracing::debug!(error = %e, "hyperdht: punched stream connect failed");
                return;
            }
            tracing::debug!(%from, tag, ms = start.elapsed().as_millis() as u64, birthday = birthday.len(), "hyperdht: punched (random-NAT server)");
            let conn = SecretStream::with_handshake(stream, &result, &crate::connect::stream_config());
            if accepted.try_send(conn).is_err() {
                tracing::debug!("hyperdht: accept queue full, connection dropped");
            }
            return;
        }
        tokio::select! {
            r = requests.recv() => {
                let Some((from, req)) = r else { return };
                if !on_round(&puncher, id, target, &mut st, from, req).await {
                    return;
                }
            }
            p = puncher.next_probe(RANDOM_SESSION_WAIT) => {
                if let Some(from) = p {
                    // the non-initiator answers every probe (holepuncher.js)
                    puncher.probe(from).await;
                }
            }
            b = brx.recv() => {
                let Some((tag, from)): Option<(usize, SocketAddrV4)> = b else { continue };
                let Some(sock) = birthday.get(tag) else { continue };
                if candidates.len() < MAX_CANDIDATES && !candidates.iter().any(|(t, _)| *t == tag + 1) {
                    match sock.socket().stream(local_id) {
                        Ok(stream) => candidates.push((tag + 1, stream)),
                        Err(e) => tracing::debug!(error = %e, "hyperdht: no stream on the birthday socket"),
                    }
                }
                sock.probe(from).await;
            }
            _ = tick.tick() => {
                st.ticks += 1;
                punch_tick(&puncher, &mut st, &mut birthday, &btx).await;
            }
        }
    }
    tracing::debug!("hyperdht: random-NAT server session ended without a connection");
}

/// One tick of our side of the punch.
async fn punch_tick(puncher: &PunchSocket, st: &mut State, birthday: &mut Vec<PunchSocket>, btx: &mpsc::Sender<(usize, SocketAddrV4)>) {
    match st.strategy {
        None => {}
        Some(Strategy::Birthday(to)) => {
            if birthday.len() < BIRTHDAY_SOCKETS {
                let host = *puncher.local_addr().ip();
                for _ in 0..OPEN_PER_TICK.min(BIRTHDAY_SOCKETS - birthday.len()) {
                    let Ok(b) = PunchSocket::bind_shared(host, birthday.len(), btx.clone()).await else { break };
                    b.probe(to).await;
                    birthday.push(b);
                }
            } else if let Some(b) = birthday.get((st.ticks as usize) % birthday.len()) {
                b.probe(to).await;
            }
        }
        Some(Strategy::RandomPorts(host)) => puncher.probe(SocketAddrV4::new(host, random_port())).await,
        Some(Strategy::Consistent) => {
            let per_second = (PROBE_INTERVAL.as_millis() / TICK.as_millis()).max(1) as u64;
            let t = st.ticks.saturating_sub(st.started);
            if t.is_multiple_of(per_second) && t / per_second <= CONSISTENT_ROUNDS as u64 {
                for a in &st.remote {
                    puncher.probe(*a).await;
                }
            }
        }
    }
}

/// Answers one PEER_HOLEPUNCH round; false ends the session (aborted).
async fn on_round(puncher: &PunchSocket, id: u64, target: Id, st: &mut State, relay: SocketAddrV4, req: Request) -> bool {
    if req.internal && req.command == crate::message::command::PING {
        // a LAN peer checking our advertised (puncher) address, as the LAN shortcut does
        let res = Response { tid: req.tid, to: relay, id: None, token: None, closer_nodes: Vec::new(), error: 0, value: None };
        puncher.send_response(relay, &res).await;
        return true;
    }
    if req.command != command::PEER_HOLEPUNCH || req.internal {
        return true;
    }
    let Some(hp) = req.value.as_deref().and_then(|v| HolepunchMessage::decode(v).ok()) else { return true };
    let (Mode::FromRelay, Some(client)) = (hp.mode, hp.peer_address) else { return true };
    if hp.id != id {
        return true;
    }
    // forged or stale payloads get no answer
    let Some(p) = st.secure.decrypt(&hp.payload) else { return true };
    st.nat.add(req.to, relay);
    let my_token = st.secure.token(client.ip());
    let mut keep = true;
    let out = if p.error != perr::NONE {
        keep = false;
        abort_payload(st.round.max(p.round))
    } else {
        let echoed = p.remote_token == Some(my_token);
        if p.round >= st.round {
            st.round = p.round;
        }
        let local = st.nat.firewall();
        let consistent = matches!(local, firewall::CONSISTENT | firewall::OPEN);
        // fast open: the client already sent to our address
        if consistent && p.remote_address.is_some_and(|a| st.nat.addresses().unwrap_or_default().contains(&a)) {
            puncher.probe(client).await;
        }
        let verified = if echoed { p.addresses.iter().flatten().find(|a| a.ip() == client.ip()).copied().or(Some(client)) } else { None };
        let mut aborted = false;
        let mut try_later = false;
        if p.punching && st.strategy.is_none() {
            st.remote = p.addresses.clone().unwrap_or_default();
            if !st.remote.contains(&client) {
                st.remote.push(client);
            }
            st.strategy = match (consistent, p.firewall >= firewall::RANDOM, verified) {
                (true, false, _) => Some(Strategy::Consistent),
                (false, false, Some(v)) if local >= firewall::RANDOM => Some(Strategy::Birthday(v)),
                (true, true, Some(v)) => Some(Strategy::RandomPorts(*v.ip())),
                _ => None,
            };
            if let Some(Strategy::Birthday(_)) = st.strategy {
                st.permit = st.birthdays.clone().try_acquire_owned().ok();
                if st.permit.is_none() {
                    tracing::debug!("hyperdht: birthday punches busy; TRY_LATER");
                    st.strategy = None;
                    try_later = true;
                }
            }
            aborted = st.strategy.is_none();
            st.started = st.ticks;
            tracing::debug!(local, remote = p.firewall, strategy = ?st.strategy, "hyperdht: random-NAT server punching");
        }
        if aborted {
            keep = false;
            let mut out = abort_payload(st.round);
            if try_later {
                out.error = perr::TRY_LATER;
            }
            out
        } else {
            if local != firewall::UNKNOWN {
                st.nat.freeze();
            }
            HolepunchPayload {
                firewall: local,
                round: st.round,
                punching: st.strategy.is_some(),
                addresses: st.nat.addresses(),
                token: Some(my_token),
                remote_token: p.token,
                ..Default::default()
            }
        }
    };
    let value = HolepunchMessage { mode: Mode::FromServer, id: 0, payload: st.secure.encrypt(&out), peer_address: Some(client) }.encode();
    puncher.send_request(relay, req.tid, command::PEER_HOLEPUNCH, Some(target), Some(value)).await;
    keep
}

fn abort_payload(round: u64) -> HolepunchPayload {
    HolepunchPayload { error: perr::ABORTED, round, ..Default::default() }
}
