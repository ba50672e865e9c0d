//! An in-process [`PeerNetwork`] for tests: announces in a shared map, connections over
//! `tokio::io::duplex` pipes secured by a real secret-stream handshake.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex};

use rhizome_secret_stream::{Config, Keypair, SecretStream};
use tokio::sync::mpsc;

use crate::network::{NetworkError, PeerListener, PeerNetwork, PeerRecord, RawConnection};

/// Announces kept per topic at most.
pub const MAX_ANNOUNCES_PER_TOPIC: usize = 64;
/// Inbound connections waiting per listener at most.
const LISTEN_BACKLOG: usize = 16;
/// Bytes buffered per direction of a memory pipe.
const PIPE_BUFFER: usize = 64 * 1024;

#[derive(Default)]
struct State {
    topics: HashMap<[u8; 32], Vec<[u8; 32]>>,
    listeners: HashMap<[u8; 32], (Keypair, mpsc::Sender<RawConnection>)>,
}

/// A shared in-memory "DHT": clone it for every swarm of a test.
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemoryNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryNetwork").finish_non_exhaustive()
    }
}

impl MemoryNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

struct MemoryListener {
    key: [u8; 32],
    rx: mpsc::Receiver<RawConnection>,
    net: MemoryNetwork,
}

#[async_trait::async_trait]
impl PeerListener for MemoryListener {
    async fn accept(&mut self) -> Option<RawConnection> {
        self.rx.recv().await
    }
    fn relay_addresses(&self) -> Vec<SocketAddrV4> {
        Vec::new()
    }
    async fn close(self: Box<Self>) {
        self.net.state().listeners.remove(&self.key);
    }
}

fn connect_error(remote: &[u8; 32], reason: impl std::fmt::Display) -> NetworkError {
    NetworkError::Connect { remote: crate::hex(remote), reason: reason.to_string() }
}

#[async_trait::async_trait]
impl PeerNetwork for MemoryNetwork {
    async fn announce(&self, topic: [u8; 32], keypair: &Keypair, _relays: &[SocketAddrV4]) -> Result<(), NetworkError> {
        let mut state = self.state();
        let peers = state.topics.entry(topic).or_default();
        let key = keypair.public_key();
        if !peers.contains(&key) {
            if peers.len() >= MAX_ANNOUNCES_PER_TOPIC {
                peers.remove(0);
            }
            peers.push(key);
        }
        Ok(())
    }

    async fn unannounce(&self, topic: [u8; 32], keypair: &Keypair) -> Result<(), NetworkError> {
        let key = keypair.public_key();
        if let Some(peers) = self.state().topics.get_mut(&topic) {
            peers.retain(|k| *k != key);
        }
        Ok(())
    }

    async fn lookup(&self, topic: [u8; 32], found: mpsc::Sender<PeerRecord>) -> Result<(), NetworkError> {
        let peers = self.state().topics.get(&topic).cloned().unwrap_or_default();
        for public_key in peers {
            if found.send(PeerRecord { public_key, relay_addresses: Vec::new() }).await.is_err() {
                break;
            }
        }
        Ok(())
    }

    async fn connect(&self, keypair: &Keypair, remote: [u8; 32], _relays: &[SocketAddrV4]) -> Result<RawConnection, NetworkError> {
        let (server_key, tx) = self.state().listeners.get(&remote).cloned().ok_or_else(|| connect_error(&remote, "not listening"))?;
        let (a, b) = tokio::io::duplex(PIPE_BUFFER);
        let server = tokio::spawn(async move {
            let Ok(stream) = SecretStream::handshake(b, false, server_key, &Config::default()).await else { return };
            let conn = RawConnection {
                remote_public_key: *stream.remote_public_key(),
                io: Box::new(stream),
                is_initiator: false,
                local_addr: None,
                remote_addr: None,
            };
            let _ = tx.send(conn).await;
        });
        let config = Config::default().remote_public_key(Some(remote));
        let stream = SecretStream::handshake(a, true, keypair.clone(), &config).await.map_err(|e| connect_error(&remote, e))?;
        let _ = server.await;
        Ok(RawConnection { remote_public_key: remote, io: Box::new(stream), is_initiator: true, local_addr: None, remote_addr: None })
    }

    async fn listen(&self, keypair: &Keypair) -> Result<Box<dyn PeerListener>, NetworkError> {
        let (tx, rx) = mpsc::channel(LISTEN_BACKLOG);
        let key = keypair.public_key();
        self.state().listeners.insert(key, (keypair.clone(), tx));
        Ok(Box::new(MemoryListener { key, rx, net: self.clone() }))
    }
}
