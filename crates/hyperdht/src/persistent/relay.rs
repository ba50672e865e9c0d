//! The relay half of router.js: PEER_HANDSHAKE / PEER_HOLEPUNCH from a client are forwarded
//! (same tid, mode FROM_RELAY, peerAddress = the client) to the router entry's address only;
//! the server's FROM_SERVER answer becomes a REPLY response to the client.
//!
//! Stricter than Node, so a forged or replayed message cannot steer our datagrams:
//! - a client message is forwarded only to the router entry's relay address (a holepunch may
//!   also go to an address the server already answered a relayed handshake from — its puncher
//!   socket, learnt from its accepted FROM_SERVER answers); a client-chosen
//!   `relayAddress`/`peerAddress` elsewhere is ignored;
//! - a FROM_SERVER is accepted only for a (target, tid, client) we forwarded in the last
//!   [`PENDING_MAX_AGE`], and only from the host we forwarded it to; the response goes to that
//!   client.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use super::Action;
use super::aged::AgedMap;
use super::announces::Announces;
use crate::message::Id;
use crate::wire::handshake::{HandshakeMessage as Handshake, HolepunchMessage as Holepunch, Mode};

/// How long a forwarded request may be answered by the server (dht-rpc's client gives up after
/// 4 sends of 1 s; Node's holepunch rounds reuse a tid for less).
pub const PENDING_MAX_AGE: Duration = Duration::from_secs(30);
/// Forwarded requests remembered at most (the oldest is forgotten first).
pub const MAX_PENDING: usize = 4096;

use crate::wire::ns::command::{PEER_HANDSHAKE, PEER_HOLEPUNCH};

#[derive(Debug)]
struct Pending {
    server_ip: std::net::Ipv4Addr,
}

/// Forwarded requests awaiting the server's answer.
#[derive(Debug)]
pub(crate) struct Relay {
    pending: AgedMap<(u64, Id, u16, SocketAddrV4), Pending>,
    /// Messages forwarded / answers delivered, per command: [handshake, holepunch].
    pub(crate) forwarded: [u64; 2],
    pub(crate) answered: [u64; 2],
}

fn slot(command: u64) -> usize {
    usize::from(command == PEER_HOLEPUNCH)
}

impl Relay {
    pub(crate) fn new() -> Self {
        Self { pending: AgedMap::new(MAX_PENDING, usize::MAX, PENDING_MAX_AGE), forwarded: [0; 2], answered: [0; 2] }
    }

    pub(crate) fn pending_count(&self) -> usize {
        self.pending.len()
    }

    fn remember(&mut self, command: u64, target: Id, tid: u16, client: SocketAddrV4, server: SocketAddrV4, now: Instant) {
        self.forwarded[slot(command)] += 1;
        self.pending.insert((command, target, tid, client), Pending { server_ip: *server.ip() }, 1, now);
    }

    fn accepted(&mut self, command: u64, target: Id, tid: u16, client: SocketAddrV4, from: SocketAddrV4, now: Instant) -> bool {
        let ok = self.pending.get(&(command, target, tid, client), now).is_some_and(|p| p.server_ip == *from.ip());
        if ok {
            self.answered[slot(command)] += 1;
        }
        ok
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        self.pending.expire(now);
    }

    /// PEER_HANDSHAKE that is not for one of our own servers.
    pub(crate) fn handshake(
        &mut self,
        ann: &mut Announces,
        from: SocketAddrV4,
        tid: u16,
        target: Option<Id>,
        value: Option<&[u8]>,
        now: Instant,
    ) -> Action {
        let Some(hs) = value.and_then(|v| Handshake::decode(v).ok()) else {
            return Action::Ignore;
        };
        let Some(target) = target else {
            return Action::Ignore;
        };
        match hs.mode {
            Mode::FromClient => {
                let Some(entry) = ann.router(&target, now) else {
                    // Help the client route (Node: empty reply with closer nodes).
                    return Action::Reply { error: 0, value: None };
                };
                let to = entry.relay;
                self.remember(PEER_HANDSHAKE, target, tid, from, to, now);
                let value = Handshake { mode: Mode::FromRelay, noise: hs.noise, peer_address: Some(from), relay_address: None }.encode();
                Action::Forward { to, tid, command: PEER_HANDSHAKE, target, value }
            }
            Mode::FromServer => {
                let Some(client) = hs.peer_address else {
                    return Action::Ignore;
                };
                if !self.accepted(PEER_HANDSHAKE, target, tid, client, from, now) {
                    return Action::Ignore;
                }
                ann.note_server_addr(&target, from, now);
                let value = Handshake { mode: Mode::Reply, noise: hs.noise, peer_address: Some(from), relay_address: None }.encode();
                Action::Respond { to: client, tid, value }
            }
            // FROM_RELAY (second relay) would need forwarding on a stranger's word: not served.
            _ => Action::Ignore,
        }
    }

    /// PEER_HOLEPUNCH that is not for one of our own servers.
    pub(crate) fn holepunch(
        &mut self,
        ann: &mut Announces,
        from: SocketAddrV4,
        tid: u16,
        target: Option<Id>,
        value: Option<&[u8]>,
        now: Instant,
    ) -> Action {
        let Some(hp) = value.and_then(|v| Holepunch::decode(v).ok()) else {
            return Action::Ignore;
        };
        let Some(target) = target else {
            return Action::Ignore;
        };
        match hp.mode {
            Mode::FromClient => {
                let Some(entry) = ann.router(&target, now) else {
                    return Action::Ignore;
                };
                let to = match hp.peer_address {
                    Some(a) if a == entry.relay || entry.server_addrs.contains(&a) => a,
                    _ => entry.relay,
                };
                self.remember(PEER_HOLEPUNCH, target, tid, from, to, now);
                let value = Holepunch { mode: Mode::FromRelay, id: hp.id, payload: hp.payload, peer_address: Some(from) }.encode();
                Action::Forward { to, tid, command: PEER_HOLEPUNCH, target, value }
            }
            Mode::FromServer => {
                let Some(client) = hp.peer_address else {
                    return Action::Ignore;
                };
                if !self.accepted(PEER_HOLEPUNCH, target, tid, client, from, now) {
                    return Action::Ignore;
                }
                // Node servers answer holepunches from their puncher socket; the client's
                // next round names it as peerAddress and must reach it (NAT sampling).
                ann.note_server_addr(&target, from, now);
                let value = Holepunch { mode: Mode::Reply, id: hp.id, payload: hp.payload, peer_address: Some(from) }.encode();
                Action::Respond { to: client, tid, value }
            }
            _ => Action::Ignore,
        }
    }
}
