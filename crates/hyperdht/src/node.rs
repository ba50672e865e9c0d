//! [`Dht`]: the thin tokio shell around [`Rpc`] over one [`rhizome_udx::Socket`] (the
//! socket's non-UDX datagrams carry dht-rpc, as in hyperdht). IPv4 only, like dht-rpc.

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use rhizome_udx::Socket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::message::{Id, Response};
use crate::peer::TokenSecrets;
use crate::query::Reply;
use crate::routing::Node;
use crate::rpc::{Config, Event, QueryId, RequestId, Rpc, RpcError};

/// Commands queued to the DHT task at most.
const COMMAND_QUEUE: usize = 64;

/// Why a [`Dht`] operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DhtError {
    /// Binding or reading the socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// Binding the UDX socket failed.
    #[error("bind: {0}")]
    Bind(#[from] rhizome_udx::BindError),
    /// dht-rpc speaks IPv4 only.
    #[error("dht-rpc needs an IPv4 address, got {0}")]
    NotIpv4(SocketAddr),
    /// No randomness for ids and token secrets.
    #[error("no randomness: {0}")]
    Random(String),
    /// The core refused the request (limits).
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The request got no reply after its retries.
    #[error("request timed out")]
    Timeout,
    /// The DHT task has stopped.
    #[error("the DHT task has stopped")]
    Closed,
}

enum Cmd {
    Ping(SocketAddrV4, oneshot::Sender<Result<Response, DhtError>>),
    FindNode(Id, oneshot::Sender<Result<Vec<Reply>, DhtError>>),
    Table(oneshot::Sender<Vec<Node>>),
}

/// A dht-rpc node on a tokio runtime. Ephemeral by default. Dropping it stops its task.
#[derive(Debug)]
pub struct Dht {
    cmds: mpsc::Sender<Cmd>,
    local: SocketAddrV4,
    id: Id,
    task: JoinHandle<()>,
}

impl Drop for Dht {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn random<const N: usize>() -> Result<[u8; N], DhtError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| DhtError::Random(e.to_string()))?;
    Ok(b)
}

fn v4(a: SocketAddr) -> Result<SocketAddrV4, DhtError> {
    match a {
        SocketAddr::V4(v) => Ok(v),
        other => Err(DhtError::NotIpv4(other)),
    }
}

impl Dht {
    /// Binds `addr` and, if `bootstrap` is not empty, runs the bootstrap query (FIND_NODE
    /// towards our own table id) before returning.
    pub async fn bind(addr: SocketAddrV4, bootstrap: Vec<SocketAddrV4>, config: Config) -> Result<Self, DhtError> {
        let socket = Arc::new(Socket::bind(addr).await?);
        Self::with_socket(socket, bootstrap, config).await
    }

    /// Runs over an existing UDX socket (shared with UDX streams).
    pub async fn with_socket(socket: Arc<Socket>, bootstrap: Vec<SocketAddrV4>, config: Config) -> Result<Self, DhtError> {
        let local = v4(socket.local_addr()?)?;
        let tid = u16::from_le_bytes(random()?);
        let secrets = TokenSecrets::new(random()?, random()?);
        let rpc = Rpc::new(config, local, random()?, secrets, tid, Instant::now());
        let id = *rpc.id();
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let task = tokio::spawn(run(rpc, socket, rx, bootstrap.clone()));
        let dht = Self { cmds: tx, local, id, task };
        if !bootstrap.is_empty() {
            dht.find_node(id).await?;
        }
        Ok(dht)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// Our table id (random for an ephemeral node).
    pub fn id(&self) -> Id {
        self.id
    }

    /// PINGs `to`; the reply (with the responder's id if it is persistent).
    pub async fn ping(&self, to: SocketAddrV4) -> Result<Response, DhtError> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Ping(to, tx)).await.map_err(|_| DhtError::Closed)?;
        rx.await.map_err(|_| DhtError::Closed)?
    }

    /// Runs a FIND_NODE query; the closest persistent nodes that replied, nearest first.
    pub async fn find_node(&self, target: Id) -> Result<Vec<Reply>, DhtError> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::FindNode(target, tx)).await.map_err(|_| DhtError::Closed)?;
        rx.await.map_err(|_| DhtError::Closed)?
    }

    /// A snapshot of the routing table.
    pub async fn table(&self) -> Result<Vec<Node>, DhtError> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Table(tx)).await.map_err(|_| DhtError::Closed)?;
        rx.await.map_err(|_| DhtError::Closed)
    }
}

async fn run(mut rpc: Rpc, socket: Arc<Socket>, mut cmds: mpsc::Receiver<Cmd>, bootstrap: Vec<SocketAddrV4>) {
    // bounded by the core's max_in_flight / max_queries
    let mut pings: HashMap<RequestId, oneshot::Sender<Result<Response, DhtError>>> = HashMap::new();
    let mut queries: HashMap<QueryId, oneshot::Sender<Result<Vec<Reply>, DhtError>>> = HashMap::new();
    loop {
        let deadline = tokio::time::Instant::from_std(rpc.poll_timeout());
        tokio::select! {
            d = socket.recv_raw() => {
                let Some(d) = d else { return };
                if let SocketAddr::V4(from) = d.from {
                    // not dht-rpc (e.g. a holepunch probe): ignored
                    let _ = rpc.handle_datagram(Instant::now(), from, &d.data);
                }
            }
            c = cmds.recv() => {
                let now = Instant::now();
                match c {
                    None => return,
                    Some(Cmd::Ping(to, tx)) => match rpc.ping(now, to) {
                        Ok(id) => { pings.insert(id, tx); }
                        Err(e) => { let _ = tx.send(Err(e.into())); }
                    },
                    Some(Cmd::FindNode(target, tx)) => match rpc.find_node(now, target, &bootstrap) {
                        Ok(id) => { queries.insert(id, tx); }
                        Err(e) => { let _ = tx.send(Err(e.into())); }
                    },
                    Some(Cmd::Table(tx)) => { let _ = tx.send(rpc.table().nodes().cloned().collect()); }
                }
            }
            _ = tokio::time::sleep_until(deadline) => rpc.handle_timeout(Instant::now()),
        }
        while let Some(t) = rpc.poll_transmit() {
            // UDP send errors (e.g. ICMP unreachable) surface as timeouts
            let _ = socket.send_raw(&t.bytes, SocketAddr::V4(t.to)).await;
        }
        while let Some(e) = rpc.poll_event() {
            match e {
                Event::Response { id, response, .. } => {
                    if let Some(tx) = pings.remove(&id) {
                        let _ = tx.send(Ok(response));
                    }
                }
                Event::Timeout { id, .. } => {
                    if let Some(tx) = pings.remove(&id) {
                        let _ = tx.send(Err(DhtError::Timeout));
                    }
                }
                Event::QueryFinished { id, closest } => {
                    if let Some(tx) = queries.remove(&id) {
                        let _ = tx.send(Ok(closest));
                    }
                }
            }
        }
    }
}
