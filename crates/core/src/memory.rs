//! An in-process transport for tests: `/memory/<port>` addresses, connected by
//! `tokio::io::duplex` pipes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use rhizome_identity::Multiaddr;
use rhizome_identity::multiaddr::Protocol;
use tokio::sync::mpsc;

use crate::io::BoxIo;
use crate::transport::{Listener, RawConn, Transport, TransportError};

/// Bytes buffered in each direction of an in-memory connection.
pub const MEMORY_PIPE_CAPACITY: usize = 256 * 1024;
/// Inbound connections a memory listener holds before refusing new ones.
const ACCEPT_BACKLOG: usize = 128;

type Incoming = (tokio::io::DuplexStream, u64);

fn hub() -> &'static Mutex<HashMap<u64, mpsc::Sender<Incoming>>> {
    static HUB: OnceLock<Mutex<HashMap<u64, mpsc::Sender<Incoming>>>> = OnceLock::new();
    HUB.get_or_init(Default::default)
}

fn lock_hub() -> std::sync::MutexGuard<'static, HashMap<u64, mpsc::Sender<Incoming>>> {
    // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
    hub().lock().unwrap_or_else(|e| e.into_inner())
}

fn memory_port(addr: &Multiaddr) -> Option<u64> {
    let mut iter = addr.iter();
    let port = match iter.next()? {
        Protocol::Memory(port) => port,
        _ => return None,
    };
    match iter.next() {
        None | Some(Protocol::P2p(_)) => Some(port),
        _ => None,
    }
}

fn memory_addr(port: u64) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Memory(port))
}

/// Registers `tx` at `port`, or at a free non-zero port when `port` is 0.
fn register(port: u64, tx: mpsc::Sender<Incoming>) -> Option<u64> {
    let mut hub = lock_hub();
    let port = if port == 0 {
        let mut candidate = next_port();
        while hub.contains_key(&candidate) {
            candidate = next_port();
        }
        candidate
    } else if hub.contains_key(&port) {
        return None;
    } else {
        port
    };
    hub.insert(port, tx);
    Some(port)
}

/// Ports handed out for `/memory/0` listeners and for dialers' own ends.
fn next_port() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1 << 32);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The in-memory transport. Every node in one process shares the same address space.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryTransport;

#[async_trait::async_trait]
impl Transport for MemoryTransport {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn supports(&self, addr: &Multiaddr) -> bool {
        memory_port(addr).is_some()
    }

    async fn dial(&self, addr: &Multiaddr) -> Result<RawConn, TransportError> {
        let port = memory_port(addr).ok_or_else(|| TransportError::Unsupported(addr.clone()))?;
        let tx = lock_hub().get(&port).cloned().ok_or_else(|| TransportError::Refused(addr.clone()))?;
        // The dialer gets an ephemeral port of its own, registered nowhere.
        let local = next_port();
        let (ours, theirs) = tokio::io::duplex(MEMORY_PIPE_CAPACITY);
        tx.try_send((theirs, local)).map_err(|_| TransportError::Refused(addr.clone()))?;
        Ok(RawConn { io: Box::new(ours) as BoxIo, local_addr: memory_addr(local), remote_addr: memory_addr(port) })
    }

    async fn listen(&self, addr: &Multiaddr) -> Result<Box<dyn Listener>, TransportError> {
        let port = memory_port(addr).ok_or_else(|| TransportError::Unsupported(addr.clone()))?;
        let (tx, rx) = mpsc::channel(ACCEPT_BACKLOG);
        let port = register(port, tx).ok_or_else(|| TransportError::AddrInUse(addr.clone()))?;
        Ok(Box::new(MemoryListener { port, rx }))
    }
}

struct MemoryListener {
    port: u64,
    rx: mpsc::Receiver<Incoming>,
}

impl Drop for MemoryListener {
    fn drop(&mut self) {
        lock_hub().remove(&self.port);
    }
}

#[async_trait::async_trait]
impl Listener for MemoryListener {
    fn local_addr(&self) -> Multiaddr {
        memory_addr(self.port)
    }

    async fn accept(&mut self) -> Result<RawConn, TransportError> {
        let (io, from) = self.rx.recv().await.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(RawConn { io: Box::new(io), local_addr: memory_addr(self.port), remote_addr: memory_addr(from) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn dial_listen_and_talk() {
        let t = MemoryTransport;
        let mut l = t.listen(&"/memory/0".parse().unwrap()).await.unwrap();
        let addr = l.local_addr();
        assert!(t.supports(&addr));
        let mut c = t.dial(&addr).await.unwrap();
        let mut s = l.accept().await.unwrap();
        assert_eq!(s.remote_addr, c.local_addr);
        c.io.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        s.io.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[tokio::test]
    async fn refused_after_listener_dropped_and_port_in_use() {
        let t = MemoryTransport;
        let l = t.listen(&"/memory/0".parse().unwrap()).await.unwrap();
        let addr = l.local_addr();
        assert!(matches!(t.listen(&addr).await, Err(TransportError::AddrInUse(_))));
        drop(l);
        assert!(matches!(t.dial(&addr).await, Err(TransportError::Refused(_))));
        assert!(!t.supports(&"/ip4/127.0.0.1/tcp/1".parse().unwrap()));
    }
}
