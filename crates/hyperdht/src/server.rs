//! [`Dht::listen`] and [`Server`]: the server side of hyperdht connections
//! (`hyperdht/lib/server.js` and `announcer.js`, minimal path of digest §4.4).
//!
//! - Announce-self on `hash(pk)` to the 3 closest nodes (FIND_PEER query first); those nodes
//!   keep our router entry and relay handshakes to us. Repeated every
//!   [`REFRESH_INTERVAL`], or sooner when a relay misses a PING; relays that dropped out
//!   are unannounced.
//! - PEER_HANDSHAKEs for `hash(pk)` arrive through [`Dht::register_target`]. Mode FROM_RELAY
//!   is answered with a FROM_SERVER request to the relay carrying the same tid (for
//!   FROM_SECOND_RELAY to its `relayAddress`); a direct FROM_CLIENT gets a bare REPLY
//!   response. A repeated msg1 within 10 s gets the same msg2 and no second session.
//! - We advertise firewall OPEN and connect our stream to the client at once (the client
//!   connects to us at once too), unless we are behind a NAT: then a firewalled client
//!   gets a holepunch (see [`crate::holepunch`]; behind a randomizing NAT each relayed
//!   handshake is answered from its own puncher socket).
//!
//! ```rust,no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use rhizome_hyperdht::{Dht, Keypair, rpc::Config};
//! let boot = "127.0.0.1:49737".parse()?;
//! let dht = Arc::new(Dht::bind("127.0.0.1:0".parse()?, vec![boot], Config::default()).await?);
//! let topic = [7u8; 32];
//! // server: announce-self to 3 relays, then announce the topic with them
//! let mut server = dht.listen(Keypair::from_seed(&[1; 32])).await?;
//! let me = Keypair::from_seed(&[1; 32]);
//! dht.announce(&topic, &me, &server.relay_addresses()).await?;
//! // client: look the topic up and connect (Noise IK through a relay, UDX, secret-stream)
//! let mut found = dht.lookup(&topic).await?;
//! if let Some(peer) = found.next().await {
//!     let stream = dht.connect(&Keypair::generate(), &peer.public_key, &peer.relay_addresses).await?;
//!     drop(stream); // AsyncRead + AsyncWrite
//! }
//! let incoming = server.accept().await;
//! server.close().await; // unannounces
//! # Ok(()) }
//! ```

use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rhizome_secret_stream::{Keypair, SecretStream};
use rhizome_udx::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::connect::{new_stream, stream_config};
use crate::holepunch;
use crate::message::{Id, error_code};
use crate::node::{Dht, DhtError, Incoming, OutRequest};
use crate::peer::blake2b_256;
use crate::peer_handshake::{Firewall, MAX_PENDING_HANDSHAKES, REPLAY_WINDOW, ServerAction, ServerHandshakes};
use crate::wire::handshake::{HandshakeMessage, Mode};
use crate::wire::ns::command;

/// How often the announce-self runs again (router entries live 20 min on Node nodes).
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// How often the relays are PINGed.
pub const RELAY_PING_INTERVAL: Duration = Duration::from_secs(30);
/// Accepted streams waiting for [`Server::accept`] at most; more are reset.
pub const ACCEPT_QUEUE: usize = 16;

/// A listening server. Dropping it stops answering (its relays forget it within 20 min);
/// [`Server::close`] also unannounces.
#[derive(Debug)]
pub struct Server {
    dht: Arc<Dht>,
    keypair: Keypair,
    target: Id,
    relays: Arc<Mutex<Vec<SocketAddrV4>>>,
    accepted: mpsc::Receiver<SecretStream<Stream>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Server {
    /// The next connection; `None` once the server stopped.
    pub async fn accept(&mut self) -> Option<SecretStream<Stream>> {
        self.accepted.recv().await
    }

    /// The listening public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.keypair.public_key()
    }

    /// The nodes holding our router entry (announce these on topics).
    pub fn relay_addresses(&self) -> Vec<SocketAddrV4> {
        self.relays.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Stops answering and removes our router entry from the relays.
    pub async fn close(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        let relays = self.relay_addresses();
        let unann = relays.iter().map(|r| self.dht.unannounce_self(*r, &self.keypair, &self.target));
        let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(unann)).await;
    }
}

impl Dht {
    /// Listens on `keypair`: registers `hash(pk)`, runs the first announce-self and
    /// returns once it finished (the relays are then in [`Server::relay_addresses`]).
    pub async fn listen(self: &Arc<Self>, keypair: Keypair) -> Result<Server, DhtError> {
        self.listen_inner(keypair, None).await
    }

    /// [`Dht::listen`], asking `firewall` about every new client key (`true` rejects; the
    /// client gets no reply, as with Node's `firewall` option).
    pub async fn listen_with_firewall(self: &Arc<Self>, keypair: Keypair, firewall: Firewall) -> Result<Server, DhtError> {
        self.listen_inner(keypair, Some(firewall)).await
    }

    async fn listen_inner(self: &Arc<Self>, keypair: Keypair, firewall: Option<Firewall>) -> Result<Server, DhtError> {
        let target = blake2b_256(&keypair.public_key());
        let requests = self.register_target(target)?;
        let first = self.announce_self(&keypair, &target).await?;
        if first.is_empty() {
            tracing::warn!("hyperdht: no node stored our announce-self; only direct handshakes reach us");
        }
        let relays = Arc::new(Mutex::new(first));
        let (tx, accepted) = mpsc::channel(ACCEPT_QUEUE);
        let mut responder = ServerHandshakes::new(keypair.clone(), MAX_PENDING_HANDSHAKES);
        if let Some(fw) = firewall {
            responder = responder.with_firewall(fw);
        }
        // behind a NAT: offer holepunches (the DHT socket's NAT, sampled once)
        let punch = holepunch::server::ServerPunch::new(&holepunch::server::sample_dht(self).await);
        if let Some(p) = &punch {
            tracing::debug!(?p, "hyperdht: listening behind a NAT, offering holepunches");
        }
        let serve = tokio::spawn(serve(self.clone(), target, responder, requests, tx, punch, relays.clone()));
        let refresh = tokio::spawn(refresh(self.clone(), keypair.clone(), target, relays.clone()));
        Ok(Server { dht: self.clone(), keypair, target, relays, accepted, tasks: vec![serve, refresh] })
    }
}

async fn refresh(dht: Arc<Dht>, keypair: Keypair, target: Id, relays: Arc<Mutex<Vec<SocketAddrV4>>>) {
    loop {
        wait_for_refresh(&dht, &relays).await;
        let new = match dht.announce_self(&keypair, &target).await {
            Ok(n) if !n.is_empty() => n,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "hyperdht: announce-self refresh failed");
                continue;
            }
        };
        let old = match relays.lock() {
            Ok(mut r) => std::mem::replace(&mut *r, new.clone()),
            Err(_) => return,
        };
        for gone in old.into_iter().filter(|a| !new.contains(a)) {
            let _ = dht.unannounce_self(gone, &keypair, &target).await;
        }
    }
}

/// Returns after [`REFRESH_INTERVAL`], or earlier when a relay stops answering PINGs (sent
/// every [`RELAY_PING_INTERVAL`]) or we have fewer than 3 relays, as Node's Announcer.
async fn wait_for_refresh(dht: &Dht, relays: &Mutex<Vec<SocketAddrV4>>) {
    let start = tokio::time::Instant::now();
    while start.elapsed() < REFRESH_INTERVAL {
        tokio::time::sleep(RELAY_PING_INTERVAL).await;
        let current = relays.lock().map(|r| r.clone()).unwrap_or_default();
        if current.len() < crate::announce::SERVER_RELAYS {
            return;
        }
        let pings = futures::future::join_all(current.iter().map(|r| dht.ping(*r))).await;
        if pings.iter().any(Result::is_err) {
            tracing::debug!("hyperdht: a relay stopped answering, refreshing");
            return;
        }
    }
}

async fn serve(
    dht: Arc<Dht>,
    target: Id,
    mut responder: ServerHandshakes,
    mut requests: mpsc::Receiver<Incoming>,
    accepted: mpsc::Sender<SecretStream<Stream>>,
    mut punch: Option<holepunch::server::ServerPunch>,
    relays: Arc<Mutex<Vec<SocketAddrV4>>>,
) {
    let mut expiry = tokio::time::interval(REPLAY_WINDOW);
    loop {
        tokio::select! {
            inc = requests.recv() => {
                let Some(inc) = inc else { return };
                if inc.request.command == command::PEER_HOLEPUNCH {
                    match &mut punch {
                        Some(p) => p.on_request(&dht, &target, inc).await,
                        None => inc.ignore(),
                    }
                    continue;
                }
                if let Some(p) = punch.as_ref().filter(|p| !p.is_random()) {
                    let current = relays.lock().map(|r| r.clone()).unwrap_or_default();
                    responder.set_holepunch(Some(p.relay_infos(&current, dht.local_addr())));
                }
                on_request(&dht, &target, &mut responder, inc, &accepted, punch.as_mut()).await;
            }
            _ = expiry.tick() => responder.expire(Instant::now()),
        }
    }
}

/// Requests a relay forwards to a server's puncher socket.
type PuncherRx = mpsc::Receiver<(SocketAddrV4, crate::message::Request)>;

/// Where the answer to a handshake goes.
enum Route {
    /// Reply to the request itself (direct).
    Direct,
    /// A FROM_SERVER request with the request's tid to this relay.
    Relay(SocketAddrV4),
}

async fn on_request(
    dht: &Arc<Dht>,
    target: &Id,
    responder: &mut ServerHandshakes,
    inc: Incoming,
    accepted: &mpsc::Sender<SecretStream<Stream>>,
    punch: Option<&mut holepunch::server::ServerPunch>,
) {
    match inc.request.command {
        command::PEER_HANDSHAKE => {}
        // no holepunching: a client that wants to punch gets no answer and times out
        command::PEER_HOLEPUNCH => return inc.ignore(),
        _ => return inc.reply(error_code::UNKNOWN_COMMAND, None),
    }
    let Some(hs) = inc.request.value.as_deref().and_then(|v| HandshakeMessage::decode(v).ok()) else { return inc.ignore() };
    let (route, client) = match (hs.mode, hs.peer_address, hs.relay_address) {
        (Mode::FromClient, _, _) => (Route::Direct, inc.from),
        (Mode::FromRelay, Some(peer), _) => (Route::Relay(inc.from), peer),
        (Mode::FromSecondRelay, Some(peer), Some(relay)) => (Route::Relay(relay), peer),
        _ => return inc.ignore(),
    };
    // behind a randomizing NAT: a puncher socket per relayed handshake (msg2 goes from it)
    let mut puncher: Option<(Arc<holepunch::PunchSocket>, Option<PuncherRx>, Id)> = None;
    let mut punch = punch;
    if let (Some(p), Route::Relay(relay)) = (punch.as_deref_mut().filter(|p| p.is_random()), &route) {
        let key = blake2b_256(&hs.noise);
        if let Some(existing) = p.puncher_for(&key) {
            puncher = Some((existing, None, key));
        } else {
            match holepunch::random_server::open_puncher(dht, *relay).await {
                Some((sock, rx, seen)) => {
                    responder.set_holepunch(Some(vec![crate::wire::payload::RelayInfo { relay_address: *relay, peer_address: seen }]));
                    puncher = Some((Arc::new(sock), Some(rx), key));
                }
                None => responder.set_holepunch(None),
            }
        }
    }
    let stream_socket = puncher.as_ref().map_or(dht.socket(), |(p, _, _)| p.socket()).clone();
    let mut stream = None;
    let advertised = puncher.as_ref().map_or(dht.local_addr(), |(p, _, _)| p.local_addr());
    let action = responder.on_msg1(Instant::now(), &hs.noise, advertised, || {
        let s = new_stream(&stream_socket).ok()?;
        let id = s.local_id();
        stream = Some(s);
        Some(id)
    });
    let (msg2, session) = match action {
        ServerAction::Accept { msg2, result, remote_udx_id, client_firewall, local_udx_id } => {
            (msg2, Some((result, remote_udx_id, client_firewall, local_udx_id)))
        }
        ServerAction::Repeat { msg2 } | ServerAction::Refuse { msg2 } => (msg2, None),
        ServerAction::Drop => return inc.ignore(),
    };
    let tid = inc.request.tid;
    match route {
        Route::Direct => {
            inc.reply_bare(0, Some(HandshakeMessage { mode: Mode::Reply, noise: msg2, peer_address: None, relay_address: None }.encode()))
        }
        Route::Relay(relay) => {
            inc.ignore();
            let value = HandshakeMessage { mode: Mode::FromServer, noise: msg2, peer_address: Some(client), relay_address: None }.encode();
            if let Some((p, _, _)) = &puncher {
                p.send_request(relay, tid, command::PEER_HANDSHAKE, Some(*target), Some(value)).await;
            } else {
                let req = OutRequest::new(command::PEER_HANDSHAKE).target(*target).value(value);
                if let Err(e) = dht.send_request_raw(relay, tid, req).await {
                    tracing::debug!(error = %e, "hyperdht: handshake answer not sent");
                }
            }
        }
    }
    let (Some((result, remote_id, client_firewall, local_id)), Some(stream)) = (session, stream) else { return };
    if let (Some((sock, Some(requests), key)), Some(p)) = (puncher, punch.as_deref_mut())
        && client_firewall != crate::wire::payload::firewall::OPEN
    {
        if !p.add_puncher(key, &sock) {
            tracing::debug!("hyperdht: too many punch sessions; handshake dropped");
            return;
        }
        let session = holepunch::random_server::Session {
            dht: dht.clone(),
            puncher: sock,
            requests,
            stream,
            remote_id,
            result,
            client,
            id: u64::from(local_id),
            target: *target,
            accepted: accepted.clone(),
            birthdays: p.birthday_permits(),
        };
        tokio::spawn(holepunch::random_server::run(session));
        return;
    }
    // a firewalled client through a relay: punch; the stream follows the client's first packet
    if let (Some(p), Route::Relay(_)) = (punch.filter(|p| !p.is_random()), &route)
        && client_firewall != crate::wire::payload::firewall::OPEN
        && p.open(u64::from(local_id), &result)
    {
        tokio::spawn(holepunch::server::await_first_packet(stream, remote_id, result, accepted.clone()));
        return;
    }
    if let Err(e) = stream.connect(remote_id, client.into()) {
        tracing::debug!(error = %e, "hyperdht: stream connect failed");
        return;
    }
    tracing::debug!(%client, remote_id, local_id = stream.local_id(), "hyperdht: session accepted");
    let conn = SecretStream::with_handshake(stream, &result, &stream_config());
    if accepted.try_send(conn).is_err() {
        tracing::debug!("hyperdht: accept queue full, connection dropped");
    }
}
