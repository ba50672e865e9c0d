//! The sans-IO halves of hyperdht's PEER_HANDSHAKE: Noise IK with prologue
//! `NS_PEER_HANDSHAKE`, the Noise payload checks of `connect.js`/`server.js`, and the
//! server's replay cache (a repeated msg1 gets the same msg2 and no second session).
//!
//! Both sides advertise `firewall OPEN`, their socket address and their UDX stream id
//! (digest §4.4, "minimal path"); no holepunching.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhizome_secret_stream::Keypair;
use rhizome_secret_stream::noise::{Handshake, HandshakeResult, Pattern};

use crate::wire::handshake::{HandshakeMessage, Mode};
use crate::wire::ns::NS_PEER_HANDSHAKE;
use crate::wire::payload::{HolepunchInfo, NoisePayload, RelayInfo, VERSION, error as perr};

/// How long the server remembers a msg1 (Node's `HANDSHAKE_CLEAR_WAIT`).
pub const REPLAY_WINDOW: Duration = Duration::from_secs(10);
/// Most handshakes a server remembers at once; further new ones are dropped (the client
/// retries or tries another relay).
pub const MAX_PENDING_HANDSHAKES: usize = 256;

/// Why the client side of a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientHandshakeError {
    /// The relay's reply was not a mode-REPLY handshake with a Noise message.
    #[error("bad handshake reply: {0}")]
    BadReply(String),
    /// Noise failed (wrong server key, corrupted message).
    #[error("noise: {0}")]
    Noise(String),
    /// The server's payload version is not 1.
    #[error("server payload version {0}")]
    Incompatible(u64),
    /// The server answered with an error code (ABORTED, TRY_LATER ...).
    #[error("server aborted the handshake (error {0})")]
    Aborted(u64),
    /// The server sent no UDX stream.
    #[error("server did not send UDX data")]
    NoUdx,
}

/// A finished client handshake.
#[derive(Debug)]
pub struct ClientOutcome {
    /// Keys and hash for the secret stream.
    pub result: HandshakeResult,
    /// The server's payload (its UDX stream id is `udx.id`).
    pub payload: NoisePayload,
    /// The server's UDX stream id.
    pub remote_udx_id: u32,
    /// Where the server's stream lives: the relay's view of the server, or the relay
    /// itself when the server answered directly.
    pub server_address: SocketAddrV4,
    /// Whether a relay forwarded the handshake.
    pub relayed: bool,
}

/// The client (Noise initiator) side.
pub struct ClientHandshake {
    noise: Handshake,
    msg1: Vec<u8>,
}

impl std::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandshake").field("msg1_len", &self.msg1.len()).finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Writes msg1 to `remote_public_key`, announcing our stream `udx_id` at `local`.
    pub fn new(keypair: Keypair, remote_public_key: [u8; 32], local: SocketAddrV4, udx_id: u32) -> Result<Self, ClientHandshakeError> {
        Self::with_payload(keypair, remote_public_key, NoisePayload::open(local, udx_id))
    }

    /// Writes msg1 carrying `payload` (a firewalled client's: see `holepunch`).
    pub fn with_payload(keypair: Keypair, remote_public_key: [u8; 32], payload: NoisePayload) -> Result<Self, ClientHandshakeError> {
        let noise_err = |e: rhizome_secret_stream::NoiseError| ClientHandshakeError::Noise(e.to_string());
        let mut noise = Handshake::new(Pattern::Ik, true, keypair, &NS_PEER_HANDSHAKE, Some(remote_public_key)).map_err(noise_err)?;
        let msg1 = noise.write_message(&payload.encode()).map_err(noise_err)?;
        Ok(Self { noise, msg1 })
    }

    /// The Noise msg1.
    pub fn msg1(&self) -> &[u8] {
        &self.msg1
    }

    /// The PEER_HANDSHAKE request value (mode FROM_CLIENT).
    pub fn request_value(&self) -> Vec<u8> {
        HandshakeMessage { mode: Mode::FromClient, noise: self.msg1.clone(), peer_address: None, relay_address: None }.encode()
    }

    /// Reads the reply value that came back from `relay` (the caller has checked that the
    /// response came from the address it sent to).
    pub fn on_reply(self, value: Option<&[u8]>, relay: SocketAddrV4) -> Result<ClientOutcome, ClientHandshakeError> {
        let reply = parse_reply(value, relay)?;
        self.finish(reply)
    }

    /// Finishes Noise with a reply from [`parse_reply`]. A failure here is final: the
    /// server would send the same msg2 through any relay.
    pub fn finish(mut self, reply: ParsedReply) -> Result<ClientOutcome, ClientHandshakeError> {
        let noise_err = |e: rhizome_secret_stream::NoiseError| ClientHandshakeError::Noise(e.to_string());
        let plain = self.noise.read_message(&reply.msg2).map_err(noise_err)?;
        let payload = NoisePayload::decode(&plain).map_err(|e| ClientHandshakeError::BadReply(e.to_string()))?;
        if payload.version != VERSION {
            return Err(ClientHandshakeError::Incompatible(payload.version));
        }
        if payload.error != perr::NONE {
            return Err(ClientHandshakeError::Aborted(payload.error));
        }
        let udx = payload.udx.ok_or(ClientHandshakeError::NoUdx)?;
        let result = self.noise.finish().map_err(noise_err)?;
        Ok(ClientOutcome { result, remote_udx_id: udx.id, payload, server_address: reply.server_address, relayed: reply.relayed })
    }
}

/// A PEER_HANDSHAKE reply that has the right shape (mode REPLY, a Noise message).
#[derive(Debug, Clone)]
pub struct ParsedReply {
    /// Noise msg2.
    pub msg2: Vec<u8>,
    /// The relay's view of the server, or the relay itself for a direct answer.
    pub server_address: SocketAddrV4,
    /// Whether a relay forwarded it.
    pub relayed: bool,
}

/// Checks a reply value from `relay` (`router.js peerHandshake`). A failure means this relay
/// could not reach the server; another relay may.
pub fn parse_reply(value: Option<&[u8]>, relay: SocketAddrV4) -> Result<ParsedReply, ClientHandshakeError> {
    let value = value.ok_or_else(|| ClientHandshakeError::BadReply("no value (the node has no route to the peer)".into()))?;
    let hs = HandshakeMessage::decode(value).map_err(|e| ClientHandshakeError::BadReply(e.to_string()))?;
    if hs.mode != Mode::Reply || hs.noise.is_empty() {
        return Err(ClientHandshakeError::BadReply(format!("mode {:?}", hs.mode)));
    }
    Ok(ParsedReply { msg2: hs.noise, server_address: hs.peer_address.unwrap_or(relay), relayed: hs.peer_address.is_some() })
}

/// Decides whether a client may connect, by its authenticated public key: `true` rejects
/// (hyperdht's `firewall(remotePublicKey, payload)`); a rejected handshake gets no reply.
pub type Firewall = Arc<dyn Fn(&[u8; 32]) -> bool + Send + Sync>;

/// What the server does with one PEER_HANDSHAKE.
#[derive(Debug)]
pub enum ServerAction {
    /// A new session: send `msg2`, then connect stream `local_udx_id` to the client's
    /// stream `remote_udx_id` at the client address.
    Accept {
        /// Noise msg2.
        msg2: Vec<u8>,
        /// Keys for the secret stream.
        result: Box<HandshakeResult>,
        /// The stream id we announced.
        local_udx_id: u32,
        /// The client's stream id.
        remote_udx_id: u32,
        /// The client's firewall (OPEN: it can be connected to at once).
        client_firewall: u64,
    },
    /// A repeated msg1: send the same `msg2` again, nothing else.
    Repeat {
        /// The cached msg2.
        msg2: Vec<u8>,
    },
    /// A handshake we answer with an error payload (no session): send `msg2`.
    Refuse {
        /// Noise msg2 carrying the error.
        msg2: Vec<u8>,
    },
    /// Drop without reply (bad Noise, a full cache, rejected by the firewall).
    Drop,
}

struct Entry {
    msg2: Vec<u8>,
    expires: Instant,
}

/// The server (Noise responder) side: one per listening key pair.
pub struct ServerHandshakes {
    keypair: Keypair,
    seen: HashMap<Vec<u8>, Entry>,
    max_pending: usize,
    firewall: Option<Firewall>,
    holepunch: Option<Vec<RelayInfo>>,
}

impl std::fmt::Debug for ServerHandshakes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandshakes").field("remembered", &self.seen.len()).finish_non_exhaustive()
    }
}

impl ServerHandshakes {
    /// A responder for `keypair`, remembering at most `max_pending` handshakes.
    pub fn new(keypair: Keypair, max_pending: usize) -> Self {
        Self { keypair, seen: HashMap::new(), max_pending: max_pending.max(1), firewall: None, holepunch: None }
    }

    /// Consults `firewall` for every new client key.
    pub fn with_firewall(mut self, firewall: Firewall) -> Self {
        self.firewall = Some(firewall);
        self
    }

    /// Behind a NAT (`Some(relays)`): msg2 says firewall UNKNOWN and offers a holepunch
    /// through `relays`, the punch slot id being our stream id (see `holepunch::server`).
    /// Only for clients that are not OPEN themselves.
    pub fn set_holepunch(&mut self, relays: Option<Vec<RelayInfo>>) {
        self.holepunch = relays;
    }

    /// Handshakes remembered now.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }

    /// Forgets handshakes older than [`REPLAY_WINDOW`].
    pub fn expire(&mut self, now: Instant) {
        self.seen.retain(|_, e| e.expires > now);
    }

    /// Answers msg1. `local` is the address we advertise, `alloc_udx_id` is called once for a
    /// new session and returns the stream id we will use (None: no stream free → drop).
    pub fn on_msg1(&mut self, now: Instant, msg1: &[u8], local: SocketAddrV4, alloc_udx_id: impl FnOnce() -> Option<u32>) -> ServerAction {
        self.expire(now);
        if let Some(e) = self.seen.get(msg1) {
            return ServerAction::Repeat { msg2: e.msg2.clone() };
        }
        if self.seen.len() >= self.max_pending {
            return ServerAction::Drop;
        }
        let (action, msg2) = self.respond(msg1, local, alloc_udx_id);
        // Failed handshakes are not remembered, so forged msg1s cannot fill the cache.
        if let Some(msg2) = msg2 {
            self.seen.insert(msg1.to_vec(), Entry { msg2, expires: now + REPLAY_WINDOW });
        }
        action
    }

    fn respond(&self, msg1: &[u8], local: SocketAddrV4, alloc_udx_id: impl FnOnce() -> Option<u32>) -> (ServerAction, Option<Vec<u8>>) {
        let Ok(mut noise) = Handshake::new(Pattern::Ik, false, self.keypair.clone(), &NS_PEER_HANDSHAKE, None) else {
            return (ServerAction::Drop, None);
        };
        let Ok(plain) = noise.read_message(msg1) else {
            tracing::debug!("hyperdht server: bad noise msg1 dropped");
            return (ServerAction::Drop, None);
        };
        if let (Some(fw), Some(remote)) = (&self.firewall, noise.remote_static())
            && fw(&remote)
        {
            tracing::debug!("hyperdht server: handshake rejected by the firewall");
            return (ServerAction::Drop, None);
        }
        // Node treats an undecodable payload as a failed handshake (no reply).
        let Ok(client) = NoisePayload::decode(&plain) else { return (ServerAction::Drop, None) };
        let error = match (client.version, &client.udx) {
            (VERSION, Some(_)) => perr::NONE,
            (VERSION, None) => perr::ABORTED,
            _ => perr::VERSION_MISMATCH,
        };
        let local_udx_id = if error == perr::NONE { alloc_udx_id() } else { None };
        let error = if error == perr::NONE && local_udx_id.is_none() { perr::TRY_LATER } else { error };
        let mut payload = NoisePayload::open(local, local_udx_id.unwrap_or(0));
        payload.error = error;
        if let (Some(relays), Some(id)) = (&self.holepunch, local_udx_id)
            && client.firewall != crate::wire::payload::firewall::OPEN
        {
            payload.firewall = crate::wire::payload::firewall::UNKNOWN;
            payload.holepunch = Some(HolepunchInfo { id: u64::from(id), relays: relays.clone() });
        }
        let Ok(msg2) = noise.write_message(&payload.encode()) else { return (ServerAction::Drop, None) };
        let Ok(result) = noise.finish() else { return (ServerAction::Drop, None) };
        match (local_udx_id, client.udx) {
            (Some(local_udx_id), Some(udx)) => (
                ServerAction::Accept {
                    msg2: msg2.clone(),
                    result: Box::new(result),
                    local_udx_id,
                    remote_udx_id: udx.id,
                    client_firewall: client.firewall,
                },
                Some(msg2),
            ),
            _ => (ServerAction::Refuse { msg2: msg2.clone() }, Some(msg2)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn local(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new([127, 0, 0, 1].into(), port)
    }

    fn reply(msg2: &[u8], peer: Option<SocketAddrV4>) -> Vec<u8> {
        HandshakeMessage { mode: Mode::Reply, noise: msg2.to_vec(), peer_address: peer, relay_address: None }.encode()
    }

    #[test]
    fn client_and_server_agree_and_replays_repeat() {
        let (c, s) = (Keypair::from_seed(&[0xbb; 32]), Keypair::from_seed(&[0xaa; 32]));
        let client = ClientHandshake::new(c.clone(), s.public_key(), local(40000), 1).unwrap();
        let req = HandshakeMessage::decode(&client.request_value()).unwrap();
        assert_eq!(req.mode, Mode::FromClient);
        let mut server = ServerHandshakes::new(s.clone(), 4);
        let now = Instant::now();
        let ServerAction::Accept { msg2, result, local_udx_id, remote_udx_id, .. } =
            server.on_msg1(now, &req.noise, local(50000), || Some(2))
        else {
            panic!("not accepted")
        };
        assert_eq!((local_udx_id, remote_udx_id), (2, 1));
        assert_eq!(result.remote_public_key, c.public_key());
        // a replay (dht-rpc resend, second relay) gets the identical msg2 and no new session
        let again = server.on_msg1(now + Duration::from_secs(1), &req.noise, local(50000), || panic!("no second stream"));
        assert!(matches!(&again, ServerAction::Repeat { msg2: m } if *m == msg2));
        let out = client.on_reply(Some(&reply(&msg2, Some(local(50000)))), local(49738)).unwrap();
        assert_eq!(out.remote_udx_id, 2);
        assert_eq!(out.server_address, local(50000));
        assert!(out.relayed);
        assert_eq!(out.result.tx, result.rx);
        assert_eq!(out.result.hash, result.hash);
        assert_eq!(out.result.remote_public_key, s.public_key());
        // after the window the entry is gone
        server.expire(now + REPLAY_WINDOW + Duration::from_millis(1));
        assert_eq!(server.remembered(), 0);
    }

    #[test]
    fn forged_and_wrong_key_handshakes_are_dropped() {
        let s = Keypair::from_seed(&[0xaa; 32]);
        let mut server = ServerHandshakes::new(s.clone(), 2);
        let now = Instant::now();
        assert!(matches!(server.on_msg1(now, &[0u8; 116], local(1), || Some(1)), ServerAction::Drop));
        assert!(matches!(server.on_msg1(now, &[], local(1), || Some(1)), ServerAction::Drop));
        // msg1 for another key
        let other = Keypair::generate();
        let client = ClientHandshake::new(Keypair::generate(), other.public_key(), local(2), 3).unwrap();
        assert!(matches!(server.on_msg1(now, client.msg1(), local(1), || Some(1)), ServerAction::Drop));
        assert_eq!(server.remembered(), 0, "failures are not remembered");
        // the cache is bounded: with two live sessions a third distinct msg1 is dropped
        for expect_accept in [true, true, false] {
            let client = ClientHandshake::new(Keypair::generate(), s.public_key(), local(2), 3).unwrap();
            let action = server.on_msg1(now, client.msg1(), local(1), || Some(1));
            assert_eq!(matches!(action, ServerAction::Accept { .. }), expect_accept);
        }
    }

    #[test]
    fn firewall_rejects_by_client_key() {
        let s = Keypair::generate();
        let banned = Keypair::generate();
        let bk = banned.public_key();
        let mut server = ServerHandshakes::new(s.clone(), 4).with_firewall(Arc::new(move |k| *k == bk));
        let now = Instant::now();
        let c = ClientHandshake::new(banned, s.public_key(), local(2), 3).unwrap();
        assert!(matches!(server.on_msg1(now, c.msg1(), local(1), || Some(1)), ServerAction::Drop));
        let c = ClientHandshake::new(Keypair::generate(), s.public_key(), local(2), 3).unwrap();
        assert!(matches!(server.on_msg1(now, c.msg1(), local(1), || Some(1)), ServerAction::Accept { .. }));
    }

    #[test]
    fn client_rejects_bad_replies() {
        let s = Keypair::generate();
        let mk = || ClientHandshake::new(Keypair::generate(), s.public_key(), local(2), 3).unwrap();
        assert!(matches!(mk().on_reply(None, local(1)), Err(ClientHandshakeError::BadReply(_))));
        let not_reply = HandshakeMessage { mode: Mode::FromServer, noise: vec![1; 64], peer_address: None, relay_address: None }.encode();
        assert!(matches!(mk().on_reply(Some(&not_reply), local(1)), Err(ClientHandshakeError::BadReply(_))));
        assert!(matches!(mk().on_reply(Some(&reply(&[7; 64], None)), local(1)), Err(ClientHandshakeError::Noise(_))));
        // a server refusing (no udx from the client) → Aborted
        let mut server = ServerHandshakes::new(s.clone(), 4);
        let mut noise = Handshake::new(Pattern::Ik, true, Keypair::generate(), &NS_PEER_HANDSHAKE, Some(s.public_key())).unwrap();
        let msg1 = noise.write_message(&NoisePayload { firewall: 1, ..NoisePayload::default() }.encode()).unwrap();
        let ServerAction::Refuse { msg2 } = server.on_msg1(Instant::now(), &msg1, local(1), || Some(1)) else { panic!() };
        let plain = noise.read_message(&msg2).unwrap();
        assert_eq!(NoisePayload::decode(&plain).unwrap().error, perr::ABORTED);
    }
}
