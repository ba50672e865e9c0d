//! [`Dht::connect`]: the client side of a hyperdht connection (`hyperdht/lib/connect.js`,
//! minimal path of digest §4.4).
//!
//! 1. A raw UDX stream is created first, so its id goes into msg1 and packets the server
//!    sends before its reply reaches us are buffered.
//! 2. PEER_HANDSHAKE (mode FROM_CLIENT, Noise IK msg1) to each relay in turn; only a
//!    mode-REPLY response from the address we sent to counts. Relays are the ones given,
//!    then the nodes a FIND_PEER query finds holding the server's router entry.
//! 3. The stream connects to the server's stream id where its first packet came from, or,
//!    when nothing arrived yet, at the relay's view of the server (where Node's server sends
//!    from); a secret stream runs over it with the Noise keys.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use rhizome_secret_stream::{Config as StreamConfig, Keypair, SecretStream};
use rhizome_udx::{Socket, Stream};

use crate::holepunch;
use crate::node::{Dht, DhtError, OutRequest};
use crate::peer::blake2b_256;
use crate::peer_handshake::{ClientHandshake, ClientHandshakeError, ParsedReply, parse_reply};
use crate::wire::ns::command;

/// The whole connect gives up after this long: the handshake plus the longest punch
/// (random-port probing or birthday spraying runs ~35 s, as in Node).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);
/// Relays tried per connect at most.
pub const MAX_RELAY_ATTEMPTS: usize = 8;
/// secret-stream keep-alive on hyperdht connections (Node's `connectionKeepAlive`).
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Why [`Dht::connect`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No relay was given and no node holds the server's router entry.
    #[error("peer not found")]
    PeerNotFound,
    /// Every relay timed out or could not reach the server.
    #[error("no relay reached the peer ({attempts} tried)")]
    HandshakeTimeout {
        /// Relays tried.
        attempts: usize,
    },
    /// The connect did not finish within [`CONNECT_TIMEOUT`].
    #[error("connect timed out")]
    Timeout,
    /// The server answered with an error code in its payload.
    #[error("server aborted the handshake (error {0})")]
    Aborted(u64),
    /// The server speaks another payload version.
    #[error("server payload version {0} is not 1")]
    Incompatible(u64),
    /// Noise failed: the server does not hold the key, or the reply was corrupted.
    #[error("bad remote key or handshake: {0}")]
    BadKey(String),
    /// The server's payload had no UDX stream.
    #[error("server sent no UDX stream")]
    NoUdx,
    /// The UDX stream could not be created or connected.
    #[error("udx: {0}")]
    Stream(#[from] rhizome_udx::StreamError),
    /// The DHT failed.
    #[error(transparent)]
    Dht(#[from] DhtError),
    /// Both sides are behind NATs and the holepunch failed.
    #[error("holepunch: {0}")]
    Holepunch(#[from] holepunch::HolepunchError),
}

impl From<ClientHandshakeError> for ConnectError {
    fn from(e: ClientHandshakeError) -> Self {
        match e {
            ClientHandshakeError::Noise(s) | ClientHandshakeError::BadReply(s) => ConnectError::BadKey(s),
            ClientHandshakeError::Incompatible(v) => ConnectError::Incompatible(v),
            ClientHandshakeError::Aborted(c) => ConnectError::Aborted(c),
            ClientHandshakeError::NoUdx => ConnectError::NoUdx,
        }
    }
}

/// A raw UDX stream with a random unused non-zero id on `socket`.
pub(crate) fn new_stream(socket: &Arc<Socket>) -> Result<Stream, rhizome_udx::StreamError> {
    let mut last = None;
    for _ in 0..16 {
        let mut b = [0u8; 4];
        if getrandom::fill(&mut b).is_err() {
            break;
        }
        let id = u32::from_le_bytes(b);
        if id == 0 {
            continue;
        }
        match socket.stream(id) {
            Ok(s) => return Ok(s),
            Err(e @ rhizome_udx::StreamError::IdInUse(_)) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(rhizome_udx::StreamError::TooManyStreams))
}

/// The secret-stream options of hyperdht connections.
pub(crate) fn stream_config() -> StreamConfig {
    StreamConfig::default().keep_alive(Some(KEEP_ALIVE))
}

impl Dht {
    /// Connects to the server holding `remote_public_key` through `relays` (from a lookup
    /// record; when empty or all failing, through the nodes FIND_PEER finds) and returns the
    /// encrypted stream. The remote key is authenticated by Noise IK.
    pub async fn connect(
        &self,
        keypair: &Keypair,
        remote_public_key: &[u8; 32],
        relays: &[SocketAddrV4],
    ) -> Result<SecretStream<Stream>, ConnectError> {
        tokio::time::timeout(CONNECT_TIMEOUT, self.connect_inner(keypair, remote_public_key, relays))
            .await
            .map_err(|_| ConnectError::Timeout)?
    }

    async fn connect_inner(
        &self,
        keypair: &Keypair,
        remote_public_key: &[u8; 32],
        relays: &[SocketAddrV4],
    ) -> Result<SecretStream<Stream>, ConnectError> {
        let target = blake2b_256(remote_public_key);
        // behind a NAT: a fresh puncher socket carries the stream, the samples and the punch
        let puncher = if holepunch::client::dht_is_open(self).await {
            None
        } else {
            Some(holepunch::PunchSocket::bind(*self.local_addr().ip()).await?)
        };
        let stream = new_stream(puncher.as_ref().map_or(self.socket(), |p| p.socket()))?;
        let hs = match &puncher {
            None => ClientHandshake::new(keypair.clone(), *remote_public_key, self.local_addr(), stream.local_id())?,
            Some(p) => ClientHandshake::with_payload(
                keypair.clone(),
                *remote_public_key,
                holepunch::client::firewalled_payload(p.local_addr(), stream.local_id()),
            )?,
        };
        let value = hs.request_value();
        let mut tried: Vec<SocketAddrV4> = Vec::new();
        let handshake = async {
            let mut reply = self.try_relays(&target, &value, relays, &mut tried).await;
            if reply.is_none() {
                if let Some(rec) = self.find_peer(remote_public_key).await? {
                    reply = self.try_relays(&target, &value, &rec.relay_addresses, &mut tried).await;
                } else if tried.is_empty() {
                    return Err(ConnectError::PeerNotFound);
                }
            }
            Ok(reply)
        };
        let sampling = async {
            match &puncher {
                Some(p) => Some(holepunch::client::sample(self, p).await),
                None => None,
            }
        };
        let (reply, nat) = tokio::join!(handshake, sampling);
        let Some((relay, reply)) = reply? else { return Err(ConnectError::HandshakeTimeout { attempts: tried.len() }) };
        let out = hs.finish(reply)?;
        tracing::debug!(server = %out.server_address, early = ?stream.first_packet_from(), relayed = out.relayed, remote_id = out.remote_udx_id, "hyperdht: handshake done");
        // same public host as the server: its LAN address, if a PING from the DHT socket
        // gets there, carries the stream from the DHT socket (connect.js's LAN shortcut)
        if let Some(lan) = nat.as_ref().and_then(|n| holepunch::client::lan_address(n, &out, *self.local_addr().ip()))
            && self.ping(lan).await.is_ok()
        {
            let id = stream.local_id();
            drop(stream);
            let stream = self.socket().stream(id)?;
            tracing::debug!(%lan, "hyperdht: LAN shortcut");
            stream.connect(out.remote_udx_id, lan.into())?;
            return Ok(SecretStream::with_handshake(stream, &out.result, &stream_config()));
        }
        let (stream, to) = match (&puncher, nat) {
            (Some(p), Some(nat)) => {
                let punched = holepunch::client::after_handshake(self, p, nat, target, &out, relay).await?;
                match punched.socket {
                    // a birthday socket won: the same stream id on that socket
                    Some(winner) => {
                        let id = stream.local_id();
                        drop(stream);
                        (winner.socket().stream(id)?, punched.to.into())
                    }
                    None => (stream, punched.to.into()),
                }
            }
            // connect on first packet (the server may have sent before its reply reached us),
            // else to the relay's view of the server
            _ => {
                let to = stream.first_packet_from().unwrap_or(out.server_address.into());
                (stream, to)
            }
        };
        stream.connect(out.remote_udx_id, to)?;
        Ok(SecretStream::with_handshake(stream, &out.result, &stream_config()))
    }

    /// Sends the handshake to each untried relay in turn; the first well-formed reply.
    async fn try_relays(
        &self,
        target: &[u8; 32],
        value: &[u8],
        relays: &[SocketAddrV4],
        tried: &mut Vec<SocketAddrV4>,
    ) -> Option<(SocketAddrV4, ParsedReply)> {
        for &relay in relays {
            if tried.contains(&relay) || tried.len() >= MAX_RELAY_ATTEMPTS {
                continue;
            }
            tried.push(relay);
            let req = OutRequest::new(command::PEER_HANDSHAKE).target(*target).value(value.to_vec());
            match self.request_from(relay, req).await {
                Ok((from, res)) if from == relay => match parse_reply(res.value.as_deref(), relay) {
                    Ok(r) => return Some((relay, r)),
                    Err(e) => tracing::debug!(%relay, error = %e, "hyperdht: relay could not reach the peer"),
                },
                Ok((from, _)) => tracing::debug!(%relay, %from, "hyperdht: handshake reply from another address ignored"),
                Err(e) => tracing::debug!(%relay, error = %e, "hyperdht: handshake request failed"),
            }
        }
        None
    }
}
