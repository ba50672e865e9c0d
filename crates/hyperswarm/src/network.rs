//! What the swarm needs from the DHT: announce, lookup, connect, listen. The HyperDHT
//! ([`rhizome_hyperdht::Dht`]) provides it; [`crate::memory::MemoryNetwork`] is an
//! in-process stand-in for tests.

use std::net::{SocketAddr, SocketAddrV4};

use rhizome_core::BoxIo;
use rhizome_secret_stream::Keypair;
use tokio::sync::mpsc;

/// A DHT operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The remote could not be reached or refused the handshake.
    #[error("connect to {remote} failed: {reason}")]
    Connect {
        /// The remote's public key, hex.
        remote: String,
        /// Why.
        reason: String,
    },
    /// A DHT query or command failed.
    #[error("dht: {0}")]
    Dht(String),
    /// The network is gone.
    #[error("the network is closed")]
    Closed,
}

/// A peer announced on a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// Its public key.
    pub public_key: [u8; 32],
    /// The DHT nodes that relay handshakes to it.
    pub relay_addresses: Vec<SocketAddrV4>,
}

/// An encrypted connection (a secret-stream) with an authenticated remote.
pub struct RawConnection {
    /// The secret-stream, boxed.
    pub io: BoxIo,
    /// The remote's verified Ed25519 public key.
    pub remote_public_key: [u8; 32],
    /// Whether we were the Noise initiator (the client).
    pub is_initiator: bool,
    /// Our address on this connection, if known.
    pub local_addr: Option<SocketAddr>,
    /// The remote's address, if known.
    pub remote_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for RawConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConnection")
            .field("remote_public_key", &crate::hex(&self.remote_public_key))
            .field("is_initiator", &self.is_initiator)
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

/// Accepts inbound connections for our key.
#[async_trait::async_trait]
pub trait PeerListener: Send + 'static {
    /// The next inbound connection; `None` when the listener is closed.
    async fn accept(&mut self) -> Option<RawConnection>;
    /// The DHT nodes relaying handshakes to us (put in our announces).
    fn relay_addresses(&self) -> Vec<SocketAddrV4>;
    /// Stops listening (unannounces our key).
    async fn close(self: Box<Self>);
}

/// The DHT operations the swarm uses.
#[async_trait::async_trait]
pub trait PeerNetwork: Send + Sync + 'static {
    /// Announces `keypair`'s public key on `topic` with our relays; returns when stored.
    async fn announce(&self, topic: [u8; 32], keypair: &Keypair, relay_addresses: &[SocketAddrV4]) -> Result<(), NetworkError>;
    /// Removes our announce from `topic`.
    async fn unannounce(&self, topic: [u8; 32], keypair: &Keypair) -> Result<(), NetworkError>;
    /// Looks `topic` up, sending each peer found (deduplicated) to `found` as replies
    /// arrive; returns when the lookup is done (or `found` is closed).
    async fn lookup(&self, topic: [u8; 32], found: mpsc::Sender<PeerRecord>) -> Result<(), NetworkError>;
    /// Connects to `remote` (through `relay_addresses`, else found on the DHT).
    async fn connect(&self, keypair: &Keypair, remote: [u8; 32], relay_addresses: &[SocketAddrV4]) -> Result<RawConnection, NetworkError>;
    /// Starts accepting connections for `keypair`.
    async fn listen(&self, keypair: &Keypair) -> Result<Box<dyn PeerListener>, NetworkError>;
}
