//! The client's punch (connect.js `holepunch`, `probeRound`, `roundPunch`; holepuncher.js
//! `_consistentProbe`, `_randomProbes`).

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use rhizome_udx::Stream;

use super::socket::PunchSocket;
use super::{
    BIRTHDAY_SOCKETS, CONSISTENT_ROUNDS, HolepunchError, NatSampler, PROBE_INTERVAL, RANDOM_INTERVAL, RANDOM_PROBES, SAMPLE_NODES,
    SecurePayload,
};
use crate::message::Id;
use crate::node::Dht;
use crate::wire::handshake::{HolepunchMessage, HolepunchPayload, Mode};
use crate::wire::ns::command;
use crate::wire::payload::{NoisePayload, RelayInfo, error as perr, firewall};

/// Samples the NAT of `socket` with PINGs to up to [`SAMPLE_NODES`] DHT nodes (table first,
/// then bootstrap), concurrently.
pub async fn sample(dht: &Dht, socket: &PunchSocket) -> NatSampler {
    let mut nodes: Vec<SocketAddrV4> = dht.table().await.map(|t| t.into_iter().map(|n| n.addr).collect()).unwrap_or_default();
    for b in dht.bootstrap_nodes() {
        if !nodes.contains(b) {
            nodes.push(*b);
        }
    }
    nodes.truncate(SAMPLE_NODES + 2);
    let mut nat = NatSampler::new(true);
    let pings = nodes.iter().map(|n| socket.ping(*n));
    for r in futures::future::join_all(pings).await.into_iter().flatten() {
        let (from, res) = r;
        nat.add(res.to, from);
    }
    nat
}

/// False when a PING from the DHT's own socket came back with another address than the
/// socket's: we are behind a NAT. With no answer at all we keep the open path (as before
/// holepunching existed). Two nodes are asked at once.
pub async fn dht_is_open(dht: &Dht) -> bool {
    let local = dht.local_addr();
    let mut nodes: Vec<SocketAddrV4> = dht.bootstrap_nodes().iter().take(2).copied().collect();
    if nodes.is_empty() {
        nodes = dht.table().await.map(|t| t.into_iter().take(2).map(|n| n.addr).collect()).unwrap_or_default();
    }
    let replies = futures::future::join_all(nodes.iter().map(|n| dht.ping(*n))).await;
    replies.into_iter().flatten().all(|res| res.to == local)
}

/// What the handshake left for the punch.
#[derive(Debug)]
pub struct Punch<'a> {
    /// The puncher socket (the stream lives on it).
    pub socket: &'a PunchSocket,
    /// Our NAT, sampled on `socket`.
    pub nat: NatSampler,
    /// hash(server pk).
    pub target: Id,
    /// The server's Noise payload.
    pub payload: &'a NoisePayload,
    /// The relay our handshake went through.
    pub relay: SocketAddrV4,
    /// The server's address as that relay saw it (its puncher socket).
    pub server_address: SocketAddrV4,
    /// The holepunch box.
    pub secure: SecurePayload,
}

struct Round {
    payload: HolepunchPayload,
    peer_address: SocketAddrV4,
    to: SocketAddrV4,
    from: SocketAddrV4,
}

impl Punch<'_> {
    async fn update(&self, peer: SocketAddrV4, relay: SocketAddrV4, p: HolepunchPayload) -> Result<Round, HolepunchError> {
        let id = self.payload.holepunch.as_ref().map(|h| h.id).unwrap_or(0);
        let round = p.round;
        let value = HolepunchMessage { mode: Mode::FromClient, id, payload: self.secure.encrypt(&p), peer_address: Some(peer) }.encode();
        let (from, res) = self
            .socket
            .request(relay, false, command::PEER_HOLEPUNCH, Some(self.target), Some(value))
            .await
            .map_err(|_| HolepunchError::RelayTimeout { round })?;
        let hp = res.value.as_deref().and_then(|v| HolepunchMessage::decode(v).ok()).ok_or(HolepunchError::BadReply("undecodable"))?;
        if hp.mode != Mode::Reply || from != relay {
            return Err(HolepunchError::BadReply("not a REPLY from the relay"));
        }
        let payload = self.secure.decrypt(&hp.payload).ok_or(HolepunchError::BadReply("payload does not open"))?;
        if payload.error != perr::NONE {
            return Err(HolepunchError::RemoteAborted(payload.error));
        }
        Ok(Round { payload, peer_address: hp.peer_address.unwrap_or(relay), to: res.to, from })
    }

    fn ours(&self, round: u64) -> HolepunchPayload {
        HolepunchPayload { firewall: self.nat.firewall(), round, addresses: self.nat.addresses(), ..Default::default() }
    }

    /// Tells the server we give up (best effort).
    async fn abort(&self, relay: &RelayInfo, round: u64) {
        let p = HolepunchPayload { error: perr::ABORTED, round, ..Default::default() };
        let _ = self.update(relay.peer_address, relay.relay_address, p).await;
    }

    /// Runs the rounds and the probes; where the stream should connect.
    pub async fn run(mut self) -> Result<Punched, HolepunchError> {
        let start = Instant::now();
        let relays = self.payload.holepunch.as_ref().map(|h| h.relays.clone()).unwrap_or_default();
        let Some(server_relay) = relays.iter().find(|r| r.relay_address == self.relay).or(relays.first()).copied() else {
            return Err(HolepunchError::CannotHolepunch);
        };
        let mut server_address = self.server_address;
        // round 0 (probeRound): open our NAT towards the server, tell it our NAT
        let mut round = 0u64;
        let mut reply = None;
        for attempt in 0..2 {
            self.socket.probe(server_address).await;
            let mut p = self.ours(round);
            p.remote_address = Some(server_address);
            let r = self.update(server_relay.peer_address, server_relay.relay_address, p).await?;
            round += 1;
            self.nat.add(r.to, r.from);
            let remote_fw = r.payload.firewall;
            let done = remote_fw != firewall::UNKNOWN && r.payload.token.is_some();
            reply = Some(r);
            if let Some(from) = self.socket.next_probe(Duration::ZERO).await {
                tracing::debug!(%from, ms = start.elapsed().as_millis() as u64, "hyperdht: punched (fast open)");
                return Ok(Punched { to: from, socket: None });
            }
            if done || attempt == 1 {
                break;
            }
            if remote_fw == firewall::UNKNOWN {
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
        }
        let Some(r1) = reply else { return Err(HolepunchError::ProbeTimeout) };
        let remote_fw = r1.payload.firewall;
        let local_fw = self.nat.firewall();
        if remote_fw == firewall::UNKNOWN || local_fw == firewall::UNKNOWN {
            self.abort(&server_relay, round).await;
            return Err(HolepunchError::ProbeTimeout);
        }
        if remote_fw >= firewall::RANDOM && local_fw >= firewall::RANDOM {
            self.abort(&server_relay, round).await;
            return Err(HolepunchError::DoubleRandomized);
        }
        if server_relay.relay_address == self.relay && r1.peer_address != server_address {
            server_address = r1.peer_address;
            self.socket.probe(server_address).await;
        }
        // round 1 (roundPunch): we punch; the server must say it punches too
        self.nat.freeze();
        let mut p = self.ours(round);
        p.punching = true;
        p.token = Some(self.secure.token(server_address.ip()));
        p.remote_token = r1.payload.token;
        let r2 = self.update(server_address, self.relay, p).await?;
        if !r2.payload.punching {
            return Err(HolepunchError::RemoteNotPunching);
        }
        let my_token = self.secure.token(server_address.ip());
        let echoed = r2.payload.remote_token == Some(my_token);
        let remote: Vec<(SocketAddrV4, bool)> =
            r2.payload.addresses.clone().unwrap_or_default().into_iter().map(|a| (a, echoed && a.ip() == server_address.ip())).collect();
        tracing::debug!(remote_fw, local_fw, ?remote, "hyperdht: holepunching");
        let verified = remote.iter().find(|(_, v)| *v).map(|(a, _)| *a);
        let found = if local_fw >= firewall::RANDOM {
            // birthday: many sockets, each opening its own mapping towards the server
            let to = verified.ok_or(HolepunchError::CannotHolepunch)?;
            self.birthday(to).await?
        } else if remote_fw >= firewall::RANDOM {
            let host = verified.map(|a| *a.ip()).ok_or(HolepunchError::CannotHolepunch)?;
            self.random_probes(host).await.map(|to| Punched { to, socket: None })
        } else {
            self.consistent_probes(&remote).await.map(|to| Punched { to, socket: None })
        };
        let punched = found.ok_or(HolepunchError::NoProbe)?;
        tracing::debug!(from = %punched.to, birthday = punched.socket.is_some(), ms = start.elapsed().as_millis() as u64, "hyperdht: punched");
        Ok(punched)
    }

    /// Our NAT randomizes, the server's is consistent (holepuncher.js
    /// `_openBirthdaySockets` + `_keepAliveRandomNat`): up to [`BIRTHDAY_SOCKETS`] sockets
    /// probe the server, then all of them in turn every 20 ms; the server probes random
    /// ports of our host. The socket that receives a probe wins.
    async fn birthday(&self, to: SocketAddrV4) -> Result<Option<Punched>, HolepunchError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(super::socket::PROBE_QUEUE);
        let mut sockets = Vec::with_capacity(BIRTHDAY_SOCKETS);
        let host = *self.socket.local_addr().ip();
        for tag in 0..BIRTHDAY_SOCKETS {
            let Ok(s) = PunchSocket::bind_shared(host, tag, tx.clone()).await else { break };
            s.probe(to).await;
            sockets.push(s);
            if let Ok((tag, from)) = rx.try_recv() {
                return Ok(Some(Punched { to: from, socket: Some(sockets.swap_remove(tag)) }));
            }
        }
        if sockets.is_empty() {
            return Err(HolepunchError::CannotHolepunch);
        }
        for i in 0..RANDOM_PROBES {
            sockets[i % sockets.len()].probe(to).await;
            if let Ok(Some((tag, from))) = tokio::time::timeout(RANDOM_INTERVAL, rx.recv()).await {
                return Ok(Some(Punched { to: from, socket: Some(sockets.swap_remove(tag)) }));
            }
        }
        Ok(None)
    }

    async fn consistent_probes(&self, remote: &[(SocketAddrV4, bool)]) -> Option<SocketAddrV4> {
        for tries in 1..=CONSISTENT_ROUNDS {
            for (addr, verified) in remote {
                // unverified addresses only every 4th round (Node's rule)
                if !verified && tries & 3 != 0 {
                    continue;
                }
                self.socket.probe(*addr).await;
            }
            if let Some(from) = self.socket.next_probe(PROBE_INTERVAL).await {
                return Some(from);
            }
        }
        None
    }

    async fn random_probes(&self, host: std::net::Ipv4Addr) -> Option<SocketAddrV4> {
        for _ in 0..RANDOM_PROBES {
            let mut b = [0u8; 2];
            let _ = getrandom::fill(&mut b);
            let port = 1000 + (u16::from_le_bytes(b) % 64536);
            self.socket.probe(SocketAddrV4::new(host, port)).await;
            if let Some(from) = self.socket.next_probe(RANDOM_INTERVAL).await {
                return Some(from);
            }
        }
        None
    }
}

/// Where the punched stream goes: to `to`, from `socket` when a birthday socket won (the
/// stream is then re-made there with the same id), else from the puncher socket.
#[derive(Debug)]
pub struct Punched {
    /// The server's address that answered.
    pub to: SocketAddrV4,
    /// The winning birthday socket, if not the puncher socket.
    pub socket: Option<PunchSocket>,
}

/// Connects `stream` to the server after a punch.
pub fn connect_stream(stream: &Stream, remote_id: u32, to: SocketAddrV4) -> Result<(), rhizome_udx::StreamError> {
    stream.connect(remote_id, to.into())
}

/// A firewalled client's msg1 payload (connect.js): firewall UNKNOWN, its puncher's local
/// address, its stream, no holepunch slot.
pub fn firewalled_payload(local: SocketAddrV4, udx_id: u32) -> NoisePayload {
    let mut p = NoisePayload::open(local, udx_id);
    p.firewall = firewall::UNKNOWN;
    p
}

/// Connect's decision after msg2 (connect.js `holepunch`): where the stream on the puncher
/// socket connects. A direct handshake, an open server or one without holepunch relays: at
/// once (Node would try the first public addresses4 entry; we use the relay's view);
/// otherwise the punch.
pub async fn after_handshake(
    dht: &Dht,
    socket: &PunchSocket,
    nat: NatSampler,
    target: Id,
    out: &crate::peer_handshake::ClientOutcome,
    relay: SocketAddrV4,
) -> Result<Punched, HolepunchError> {
    let payload = &out.payload;
    let holepunchable = payload.holepunch.as_ref().is_some_and(|h| !h.relays.is_empty());
    if !out.relayed || payload.firewall == firewall::OPEN || !holepunchable {
        if !holepunchable && out.relayed && payload.firewall != firewall::OPEN {
            tracing::debug!("hyperdht: server neither open nor holepunchable; trying its relayed address");
        }
        return Ok(Punched { to: out.server_address, socket: None });
    }
    let secure = SecurePayload::new(&super::holepunch_secret(&out.result.hash));
    let _ = dht;
    let punch = Punch { socket, nat, target, payload, relay, server_address: out.server_address, secure };
    punch.run().await
}

/// A private (RFC 1918), shared (RFC 6598) or benchmarking (RFC 2544) IPv4 address: one a
/// LAN peer may have.
pub fn is_lan(ip: &std::net::Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64) || (o[0] == 198 && (o[1] & 0xfe) == 18)
}

/// The LAN shortcut (connect.js): the server sits behind the same public host as we do
/// (its relayed address has our NAT's host), so try its own LAN addresses from msg2's
/// `addresses4` — the one sharing most leading octets with `local` first, as
/// holepuncher.js `matchAddress`. None when the shortcut does not apply.
pub fn lan_address(nat: &NatSampler, out: &crate::peer_handshake::ClientOutcome, local: std::net::Ipv4Addr) -> Option<SocketAddrV4> {
    let ours = nat.addresses()?.first().map(|a| *a.ip())?;
    if !out.relayed || ours != *out.server_address.ip() {
        return None;
    }
    let mut lan: Vec<SocketAddrV4> = out.payload.addresses4.iter().filter(|a| is_lan(a.ip()) && a.port() != 0).copied().collect();
    let common = |a: &SocketAddrV4| a.ip().octets().iter().zip(local.octets()).take_while(|(x, y)| *x == y).count();
    lan.sort_by_key(|a| std::cmp::Reverse(common(a)));
    lan.first().copied()
}

#[cfg(test)]
mod tests {
    use super::is_lan;

    #[test]
    fn lan_ranges() {
        for ok in ["10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "198.18.0.1", "198.19.255.2"] {
            assert!(is_lan(&ok.parse().unwrap()), "{ok}");
        }
        for no in ["8.8.8.8", "100.128.0.1", "198.20.0.1", "172.32.0.1", "1.1.1.1"] {
            assert!(!is_lan(&no.parse().unwrap()), "{no}");
        }
    }
}
