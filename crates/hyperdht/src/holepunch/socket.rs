//! The puncher socket: a fresh UDX socket per punch (Node's socket pool), carrying the NAT
//! samples (PINGs), the PEER_HOLEPUNCH requests, the 1-byte probes and finally the
//! connection's UDX stream, so the address the other side punches to is this socket's.
//!
//! A small dht-rpc client runs over it: requests are encoded with [`crate::message`], the
//! reader task hands responses to their waiter by tid and probes to a bounded channel.

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhizome_udx::Socket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::message::{Id, Message, Request, Response, command as rpc_command};
use crate::node::DhtError;

/// One datagram, the holepunch probe.
pub const PROBE: [u8; 1] = [0];
/// Probes buffered for the punch loop at most (more are dropped; the peer sends more).
pub const PROBE_QUEUE: usize = 64;
/// Requests in flight on one puncher at most.
pub const MAX_IN_FLIGHT: usize = 32;
/// Per-try wait for a response; a request is sent up to [`TRIES`] times.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(1000);
/// Sends per request.
pub const TRIES: usize = 3;
/// Incoming requests waiting for a serving puncher's owner at most.
pub const REQUEST_QUEUE: usize = 16;

type Waiters = Arc<Mutex<HashMap<u16, oneshot::Sender<(SocketAddrV4, Response)>>>>;

/// A puncher socket with its reader task (aborted on drop).
#[derive(Debug)]
pub struct PunchSocket {
    socket: Arc<Socket>,
    local: SocketAddrV4,
    waiters: Waiters,
    probes: tokio::sync::Mutex<mpsc::Receiver<(usize, SocketAddrV4)>>,
    reader: JoinHandle<()>,
}

impl Drop for PunchSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl PunchSocket {
    /// Binds a fresh socket on `host` (port 0).
    pub async fn bind(host: std::net::Ipv4Addr) -> Result<Self, DhtError> {
        let (tx, rx) = mpsc::channel(PROBE_QUEUE);
        Self::bind_tagged(host, 0, tx, rx, None).await
    }

    /// Binds a fresh socket whose incoming dht-rpc requests (the PEER_HOLEPUNCH rounds a
    /// relay forwards to a server's puncher) go to the returned channel, at most
    /// [`REQUEST_QUEUE`] waiting (more are dropped; relays resend).
    pub async fn bind_serving(host: std::net::Ipv4Addr) -> Result<(Self, mpsc::Receiver<(SocketAddrV4, Request)>), DhtError> {
        let (tx, rx) = mpsc::channel(PROBE_QUEUE);
        let (rtx, rrx) = mpsc::channel(REQUEST_QUEUE);
        Ok((Self::bind_tagged(host, 0, tx, rx, Some(rtx)).await?, rrx))
    }

    /// Binds a socket whose probes go to a shared channel tagged with `tag` (the birthday
    /// sockets); its own [`PunchSocket::next_probe`] then sees nothing.
    pub async fn bind_shared(host: std::net::Ipv4Addr, tag: usize, probes: mpsc::Sender<(usize, SocketAddrV4)>) -> Result<Self, DhtError> {
        let (_unused, rx) = mpsc::channel(1);
        Self::bind_tagged(host, tag, probes, rx, None).await
    }

    async fn bind_tagged(
        host: std::net::Ipv4Addr,
        tag: usize,
        tx: mpsc::Sender<(usize, SocketAddrV4)>,
        rx: mpsc::Receiver<(usize, SocketAddrV4)>,
        requests: Option<mpsc::Sender<(SocketAddrV4, Request)>>,
    ) -> Result<Self, DhtError> {
        let socket = Arc::new(Socket::bind(SocketAddrV4::new(host, 0)).await?);
        let local = match socket.local_addr()? {
            SocketAddr::V4(a) => a,
            other => return Err(DhtError::NotIpv4(other)),
        };
        let waiters: Waiters = Arc::default();
        let reader = tokio::spawn(read(socket.clone(), waiters.clone(), tag, tx, requests));
        Ok(Self { socket, local, waiters, probes: tokio::sync::Mutex::new(rx), reader })
    }

    /// The UDX socket (streams of the punched connection live here).
    pub fn socket(&self) -> &Arc<Socket> {
        &self.socket
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// Sends one probe to `to` (errors such as ICMP unreachable are ignored, as in Node).
    pub async fn probe(&self, to: SocketAddrV4) {
        let _ = self.socket.send_raw(&PROBE, SocketAddr::V4(to)).await;
    }

    /// The next probe that reached us within `wait`; its source address.
    pub async fn next_probe(&self, wait: Duration) -> Option<SocketAddrV4> {
        let mut rx = self.probes.lock().await;
        tokio::time::timeout(wait, rx.recv()).await.ok().flatten().map(|(_, a)| a)
    }

    /// Sends a dht-rpc request with transaction id `tid` once, with no waiting for an
    /// answer (a server's FROM_SERVER answer to a relay, which reuses the relay's tid).
    pub async fn send_request(&self, to: SocketAddrV4, tid: u16, command: u64, target: Option<Id>, value: Option<Vec<u8>>) {
        let bytes = Request { tid, to, id: None, token: None, internal: false, command, target, value }.encode();
        let _ = self.socket.send_raw(&bytes, SocketAddr::V4(to)).await;
    }

    /// Sends a dht-rpc response once (a serving puncher answering a PING).
    pub async fn send_response(&self, to: SocketAddrV4, res: &Response) {
        let _ = self.socket.send_raw(&res.encode(), SocketAddr::V4(to)).await;
    }

    /// A dht-rpc PING (our address as `to` sees it is the reply's `to`).
    pub async fn ping(&self, to: SocketAddrV4) -> Result<(SocketAddrV4, Response), DhtError> {
        self.request(to, true, rpc_command::PING, None, None).await
    }

    /// One dht-rpc request from this socket, resent up to [`TRIES`] times; the responder's
    /// address and its response.
    pub async fn request(
        &self,
        to: SocketAddrV4,
        internal: bool,
        command: u64,
        target: Option<Id>,
        value: Option<Vec<u8>>,
    ) -> Result<(SocketAddrV4, Response), DhtError> {
        let (tid, rx) = self.register()?;
        let bytes = Request { tid, to, id: None, token: None, internal, command, target, value }.encode();
        let mut rx = rx;
        for _ in 0..TRIES {
            let _ = self.socket.send_raw(&bytes, SocketAddr::V4(to)).await;
            match tokio::time::timeout(REQUEST_TIMEOUT, &mut rx).await {
                Ok(Ok(r)) => return Ok(r),
                Ok(Err(_)) => return Err(DhtError::Closed),
                Err(_) => continue,
            }
        }
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(&tid);
        }
        Err(DhtError::Timeout)
    }

    fn register(&self) -> Result<(u16, oneshot::Receiver<(SocketAddrV4, Response)>), DhtError> {
        let mut w = self.waiters.lock().map_err(|_| DhtError::Closed)?;
        w.retain(|_, tx| !tx.is_closed());
        if w.len() >= MAX_IN_FLIGHT {
            return Err(DhtError::Timeout);
        }
        for _ in 0..64 {
            let mut b = [0u8; 2];
            getrandom::fill(&mut b).map_err(|e| DhtError::Random(e.to_string()))?;
            let tid = u16::from_le_bytes(b);
            if let std::collections::hash_map::Entry::Vacant(e) = w.entry(tid) {
                let (tx, rx) = oneshot::channel();
                e.insert(tx);
                return Ok((tid, rx));
            }
        }
        Err(DhtError::Timeout)
    }
}

async fn read(
    socket: Arc<Socket>,
    waiters: Waiters,
    tag: usize,
    probes: mpsc::Sender<(usize, SocketAddrV4)>,
    requests: Option<mpsc::Sender<(SocketAddrV4, Request)>>,
) {
    while let Some(d) = socket.recv_raw().await {
        let SocketAddr::V4(from) = d.from else { continue };
        if d.data.len() == 1 {
            // full: dropped, the peer keeps probing
            let _ = probes.try_send((tag, from));
            continue;
        }
        // requests go to the serving channel if any (full: dropped); bad datagrams are dropped
        match Message::decode(&d.data) {
            Ok(Message::Response(res)) => {
                let tx = waiters.lock().ok().and_then(|mut w| w.remove(&res.tid));
                if let Some(tx) = tx {
                    let _ = tx.send((from, res));
                }
            }
            Ok(Message::Request(req)) => {
                if let Some(r) = &requests {
                    let _ = r.try_send((from, req));
                }
            }
            _ => {}
        }
    }
}
