//! [`DhtNetwork`]: the [`PeerNetwork`] of the real HyperDHT (`rhizome_hyperdht::Dht`).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use rhizome_hyperdht::Dht;
use rhizome_hyperdht::rpc::Config as RpcConfig;
use rhizome_secret_stream::Keypair;
use tokio::sync::mpsc;

use crate::network::{NetworkError, PeerListener, PeerNetwork, PeerRecord, RawConnection};

/// The HyperDHT as the swarm's network. Cheap to clone (the DHT is shared).
#[derive(Debug, Clone)]
pub struct DhtNetwork {
    dht: Arc<Dht>,
}

impl DhtNetwork {
    /// Wraps a running DHT node.
    pub fn new(dht: Arc<Dht>) -> Self {
        Self { dht }
    }

    /// An ephemeral DHT node bootstrapped from `bootstrap`, bound to a free port on
    /// 127.0.0.1 when every bootstrap node is on loopback, else on 0.0.0.0.
    pub async fn bind(bootstrap: Vec<SocketAddrV4>) -> Result<Self, NetworkError> {
        let loopback = !bootstrap.is_empty() && bootstrap.iter().all(|a| a.ip().is_loopback());
        let ip = if loopback { Ipv4Addr::LOCALHOST } else { Ipv4Addr::UNSPECIFIED };
        let dht = Dht::bind(SocketAddrV4::new(ip, 0), bootstrap, RpcConfig::default()).await.map_err(dht_error)?;
        Ok(Self::new(Arc::new(dht)))
    }

    /// The DHT node (for records: `mutable_put`, `immutable_get`…).
    pub fn dht(&self) -> &Arc<Dht> {
        &self.dht
    }
}

fn dht_error(e: impl std::fmt::Display) -> NetworkError {
    NetworkError::Dht(e.to_string())
}

fn raw(stream: rhizome_secret_stream::SecretStream<rhizome_udx::Stream>, local: SocketAddrV4) -> RawConnection {
    RawConnection {
        remote_public_key: *stream.remote_public_key(),
        is_initiator: stream.is_initiator(),
        remote_addr: stream.get_ref().remote_addr(),
        local_addr: Some(SocketAddr::V4(local)),
        io: Box::new(stream),
    }
}

struct DhtListener {
    server: rhizome_hyperdht::server::Server,
    local: SocketAddrV4,
}

#[async_trait::async_trait]
impl PeerListener for DhtListener {
    async fn accept(&mut self) -> Option<RawConnection> {
        self.server.accept().await.map(|s| raw(s, self.local))
    }
    fn relay_addresses(&self) -> Vec<SocketAddrV4> {
        self.server.relay_addresses()
    }
    async fn close(self: Box<Self>) {
        self.server.close().await
    }
}

#[async_trait::async_trait]
impl PeerNetwork for DhtNetwork {
    async fn announce(&self, topic: [u8; 32], keypair: &Keypair, relay_addresses: &[SocketAddrV4]) -> Result<(), NetworkError> {
        self.dht.announce(&topic, keypair, relay_addresses).await.map_err(dht_error)
    }

    async fn unannounce(&self, topic: [u8; 32], keypair: &Keypair) -> Result<(), NetworkError> {
        self.dht.unannounce(&topic, keypair).await.map_err(dht_error)
    }

    async fn lookup(&self, topic: [u8; 32], found: mpsc::Sender<PeerRecord>) -> Result<(), NetworkError> {
        let mut lookup = self.dht.lookup(&topic).await.map_err(dht_error)?;
        while let Some(r) = lookup.next().await {
            if found.send(PeerRecord { public_key: r.public_key, relay_addresses: r.relay_addresses }).await.is_err() {
                break;
            }
        }
        Ok(())
    }

    async fn connect(&self, keypair: &Keypair, remote: [u8; 32], relay_addresses: &[SocketAddrV4]) -> Result<RawConnection, NetworkError> {
        let stream = self
            .dht
            .connect(keypair, &remote, relay_addresses)
            .await
            .map_err(|e| NetworkError::Connect { remote: crate::hex(&remote), reason: e.to_string() })?;
        Ok(raw(stream, self.dht.local_addr()))
    }

    async fn listen(&self, keypair: &Keypair) -> Result<Box<dyn PeerListener>, NetworkError> {
        let server = self.dht.listen(keypair.clone()).await.map_err(dht_error)?;
        Ok(Box::new(DhtListener { server, local: self.dht.local_addr() }))
    }
}
